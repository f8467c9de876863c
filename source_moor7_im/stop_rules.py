"""The stop rules (README, "Stop rules"): a read that cannot succeed stops early, says why
once, and saves no state past a window it did not read.

Ours because the CDK's concurrent read submits every window at once, reads on after a
failure, sends a stack trace per failed window and a final message holding every
exception's repr, with no hook for any of it: `ConcurrentSource.read` builds its reader and
processor inline. `ContainedConcurrentSource` repeats that short method with
`GuardedPartitionReader` (asks `READ_STOP` before each window) and `ContainedReadProcessor`
(one trace per failed stream, one summary, each STATE held at its earliest unread window).
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import requests

from airbyte_cdk.models import AirbyteMessage, AirbyteStateBlob, AirbyteStateType, FailureType, Type
from airbyte_cdk.sources.concurrent_source.concurrent_read_processor import ConcurrentReadProcessor
from airbyte_cdk.sources.concurrent_source.concurrent_source import ConcurrentSource
from airbyte_cdk.sources.concurrent_source.partition_generation_completed_sentinel import PartitionGenerationCompletedSentinel
from airbyte_cdk.sources.concurrent_source.stream_thread_exception import StreamThreadException
from airbyte_cdk.sources.streams.concurrent.abstract_stream import AbstractStream
from airbyte_cdk.sources.streams.concurrent.cursor import Cursor
from airbyte_cdk.sources.streams.concurrent.partition_enqueuer import PartitionEnqueuer
from airbyte_cdk.sources.streams.concurrent.partition_reader import PartitionLogger, PartitionReader
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.streams.concurrent.partitions.types import PartitionCompleteSentinel
from airbyte_cdk.sources.streams.http.exceptions import BaseBackoffException
from airbyte_cdk.sources.types import Record
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .messages import (
    MAX_MESSAGE_BYTES,
    ReadStopped,
    ReportRefused,
    RetriesSpent,
    bounded_text,
    every_report_refused,
    user_message,
)
from .progress import ReadProgress
from .settings import report_table
from .windows import CURSOR_FIELD, CURSOR_FORMAT, parse_cursor


def retries_ran_out(exception: BaseException) -> bool:
    """The window failed because its retries ran out (count, budget or a refused wait), as
    opposed to a refusal or a reply that is never retried."""
    cause = getattr(exception, "_exception", None)
    return isinstance(exception, RetriesSpent) or isinstance(cause, BaseBackoffException)


def is_expected_failure(error: BaseException | None) -> bool:
    """A failure the connector explains in its own words (a refused or failed request, a
    stopped read, a config error); anything else is a bug, whose traceback Airbyte needs."""
    return isinstance(error, (AirbyteTracedException, requests.RequestException, ReadStopped))


def concerns_one_window(stream: str, exception: BaseException) -> bool:
    """A refusal of a report other than the stream's own: the stream reads several reports
    (report_columns, a window each), and only that window is lost."""
    return isinstance(exception, ReportRefused) and bool(exception.report) and exception.report != stream


def stops_the_read(exception: BaseException) -> bool:
    """A config error of the whole connection (credentials, base_url, the clock), not of one report."""
    return (
        isinstance(exception, AirbyteTracedException)
        and exception.failure_type == FailureType.config_error
        and not isinstance(exception, ReportRefused)
    )


@dataclass
class StopSignal:
    """Which streams may still start or retry a window: set from worker threads the moment a
    window fails, read before every window and every retry. The public fields are written
    under the lock and read as they stand."""

    clock: Callable[[], float] = time.monotonic
    read_stop: BaseException | None = None  # the failure that stopped the whole read
    outage_seconds: float | None = None  # how long nothing had answered, if an outage stopped it
    last_answer: float | None = None
    _interrupted: str | None = None
    _outage_suspected: tuple[BaseException, float] | None = None  # the failure, and since when
    _failed_streams: dict[str, BaseException] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reset(self) -> None:
        with self._lock:
            self.read_stop = self.outage_seconds = self.last_answer = None
            self._interrupted = self._outage_suspected = None
            self._failed_streams = {}

    def interrupt(self, reason: str) -> None:
        """The command was told to stop (a signal, a closed stdout): nothing starts or retries."""
        with self._lock:
            self._interrupted = self._interrupted or reason

    def answered(self) -> None:
        """A request of this read got a report: the API is up."""
        now = self.clock()
        with self._lock:
            self.last_answer = now
            self._outage_suspected = None

    def attempt_failed(self) -> None:
        """An attempt failed and would be retried: it confirms a suspected outage."""
        with self._lock:
            if self._outage_suspected is not None and self.read_stop is None:
                # outage_seconds first: a reader that sees read_stop sees its kind too
                failure, since = self._outage_suspected
                self.outage_seconds = self.clock() - since
                self.read_stop = failure

    def window_failed(self, stream: str, exception: BaseException, started_at: float | None = None) -> None:
        """`started_at`: when the window's first attempt was sent (this signal's clock)."""
        with self._lock:
            self._failed_streams.setdefault(stream, exception)
            if self.read_stop is not None:
                return
            if stops_the_read(exception):
                self.read_stop = exception
            elif (
                started_at is not None
                and retries_ran_out(exception)
                and (self.last_answer is None or self.last_answer < started_at)
                and self._outage_suspected is None
            ):
                self._outage_suspected = (exception, started_at)

    def reason_to_stop(self, stream: str) -> str | None:
        """None while `stream` may go on; otherwise why not."""
        with self._lock:
            read_stop, outage, interrupted = self.read_stop, self.outage_seconds, self._interrupted
            failure = self._failed_streams.get(stream)
        if interrupted is not None:
            return f"the command was stopped ({interrupted})"
        if read_stop is not None:
            what = "an outage" if outage is not None else "a configuration error"
            return f"the read stopped at {what}: {user_message(read_stop)}"
        if failure is not None:
            return f"stream {stream} stopped at a window that failed for good: {user_message(failure)}"
        return None


# One per process: the error handlers that consult it are built by the CDK's component
# factory, which cannot hand them an object; the source resets it at the start of a read.
READ_STOP = StopSignal()


class WindowRead(PartitionCompleteSentinel):
    """A window read to its end: complete and successful."""

    def __init__(self, partition: Partition):
        super().__init__(partition, is_successful=True)


class WindowNotRead(PartitionCompleteSentinel):
    """A window skipped because its stream (or the read) had stopped: complete, not successful.
    `requested`: it had sent attempts before its retries were cut short."""

    def __init__(self, partition: Partition, requested: bool = False):
        super().__init__(partition, is_successful=False)
        self.requested = requested


class WindowSkipped(PartitionCompleteSentinel):
    """A window that failed in a way that concerns it alone (`concerns_one_window`): its stream
    goes on; not successful, so no state passes it."""

    def __init__(self, partition: Partition, error: Exception):
        super().__init__(partition, is_successful=False)
        self.error = error


class GuardedPartitionReader(PartitionReader):
    """The CDK's `PartitionReader`, which first asks `READ_STOP` whether the window may
    start, and tells it at once when a window fails."""

    def __init__(self, reader: PartitionReader, stop: StopSignal):
        super().__init__(reader._queue, reader._partition_logger)
        self._stop = stop

    def process_partition(self, partition: Partition, cursor: Cursor) -> None:
        stream = partition.stream_name()
        if self._stop.reason_to_stop(stream) is not None:
            self._queue.put(WindowNotRead(partition))
            return
        started_at = self._stop.clock()
        try:
            if self._partition_logger:
                self._partition_logger.log(partition)
            for record in partition.read():
                self._queue.put(record)
                cursor.observe(record)
            cursor.close_partition(partition)
            self._queue.put(WindowRead(partition))
        except ReadStopped:
            self._queue.put(WindowNotRead(partition, requested=True))
        except Exception as error:
            if concerns_one_window(stream, error):
                self._queue.put(WindowSkipped(partition, error))
                return
            self._stop.window_failed(stream, error, started_at)
            self._queue.put(StreamThreadException(error, stream))
            self._queue.put(PartitionCompleteSentinel(partition, not self._IS_SUCCESSFUL))


def _window_bound(partition: Partition, bound: str) -> dt.datetime | None:
    value = (partition.to_slice() or {}).get(bound)
    return parse_cursor(value) if isinstance(value, str) else None


def _window_start(partition: Partition) -> dt.datetime | None:
    return _window_bound(partition, "start_time")


class ContainedReadProcessor(ConcurrentReadProcessor):
    """One trace per failed stream, a line for each later failure, one summary at the end;
    no STATE past a window not yet read successfully; the read's progress (progress.py)."""

    def __init__(self, *args, stop: StopSignal, progress: ReadProgress, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._stop = stop
        self._progress = progress
        self._windows_not_read: dict[str, int] = {}
        # Per stream, the start of each window generated and not (yet) read successfully.
        self._unread: dict[str, dict[Partition, dt.datetime]] = {}
        # Per stream, the end of the latest window planned: no state passes it.
        self._planned_up_to: dict[str, dt.datetime] = {}
        self._saved_cursor: dict[str, str] = {}
        self._planned: dict[str, int] = {}
        self._skipped: dict[str, list[Exception]] = {}

    def on_partition(self, partition: Partition) -> None:
        stream = partition.stream_name()
        self._planned[stream] = self._planned.get(stream, 0) + 1
        end = _window_bound(partition, "end_time")
        if end is not None and (stream not in self._planned_up_to or end > self._planned_up_to[stream]):
            self._planned_up_to[stream] = end
        start = _window_start(partition)
        if start is not None:
            self._unread.setdefault(partition.stream_name(), {})[partition] = start
        self._progress.window_planned(partition.stream_name(), dict(partition.to_slice() or {}))
        super().on_partition(partition)

    def on_partition_generation_completed(self, sentinel: PartitionGenerationCompletedSentinel) -> Iterable[AirbyteMessage]:
        self._progress.plan_complete(sentinel.stream.name)
        yield from super().on_partition_generation_completed(sentinel)
        yield from self._progress.messages()

    def on_partition_complete_sentinel(self, sentinel: PartitionCompleteSentinel) -> Iterable[AirbyteMessage]:
        stream = sentinel.partition.stream_name()
        if isinstance(sentinel, WindowRead):
            self._progress.window_read(stream, sentinel.partition.to_slice() or {})
        if sentinel.is_successful:
            self._unread.get(stream, {}).pop(sentinel.partition, None)
        if isinstance(sentinel, WindowSkipped):
            yield from self._window_skipped(sentinel)
        if isinstance(sentinel, WindowNotRead):
            if not sentinel.requested:
                self._windows_not_read[stream] = self._windows_not_read.get(stream, 0) + 1
            if stream not in self._exceptions_per_stream_name:
                # Stopped by the read's stop: the stream did not finish.
                self._flag_exception(stream, ReadStopped(self._stop.reason_to_stop(stream) or "stopped"))
        yield from super().on_partition_complete_sentinel(sentinel)
        yield from self._progress.messages()

    def _window_skipped(self, sentinel: WindowSkipped) -> Iterable[AirbyteMessage]:
        """A WARN for the window; when it was the stream's last and every window was skipped,
        the stream fails with the first cause (nothing of it could be read)."""
        stream = sentinel.partition.stream_name()
        skipped = self._skipped.setdefault(stream, [])
        skipped.append(sentinel.error)
        self._logger.warning(f"{stream}: a window was left out, the others are read: {user_message(sentinel.error)}")
        last = stream not in self._streams_currently_generating_partitions and self._streams_to_running_partitions.get(
            stream
        ) == {sentinel.partition}
        if last and len(skipped) == self._planned.get(stream) and stream not in self._exceptions_per_stream_name:
            yield from self.on_exception(StreamThreadException(skipped[0], stream))

    def on_record(self, record: Record) -> Iterable[AirbyteMessage]:
        # the stream's first estimate goes out before its first record
        yield from self._progress.record_seen(record.stream_name, record.associated_slice, record.data)
        yield from super().on_record(record)

    def held_back(self, messages: Iterable[AirbyteMessage]) -> Iterator[AirbyteMessage]:
        """`messages`, with each stream STATE held at the start of the stream's earliest window
        not read successfully (pending, failed or skipped), when the cursor's value is past it."""
        for message in messages:
            if message.type == Type.STATE and message.state and message.state.type == AirbyteStateType.STREAM:
                message = self._hold_back(message)
            yield message

    def _hold_back(self, message: AirbyteMessage) -> AirbyteMessage:
        stream_state = message.state.stream if message.state else None
        if stream_state is None:
            return message
        name = stream_state.stream_descriptor.name
        cursor = getattr(stream_state.stream_state, CURSOR_FIELD, None)
        unread = self._unread.get(name)
        # The earliest window not read successfully, and the end of the windows planned: the
        # cursor never passes either (a row dated past its window must not move it there).
        ceilings = [min(unread.values())] if unread else []
        if name in self._planned_up_to:
            ceilings.append(self._planned_up_to[name])
        if isinstance(cursor, str) and ceilings:
            ceiling = min(ceilings)
            if parse_cursor(cursor) > ceiling:
                cursor = ceiling.strftime(CURSOR_FORMAT)
                message = copy.deepcopy(message)
                blob = message.state.stream.stream_state  # type: ignore[union-attr]
                message.state.stream.stream_state = AirbyteStateBlob({**vars(blob), CURSOR_FIELD: cursor})  # type: ignore[union-attr]
        if isinstance(cursor, str):
            self._saved_cursor[name] = cursor
        return message

    def on_exception(self, exception: StreamThreadException) -> Iterable[AirbyteMessage]:
        stream = exception.stream_name
        first_of_stream = not any(not isinstance(e, ReadStopped) for e in self._exceptions_per_stream_name.get(stream, []))
        read_stop = self._stop.read_stop
        if first_of_stream and (read_stop is None or read_stop is exception.exception):
            self._exceptions_per_stream_name.pop(stream, None)  # a ReadStopped placeholder gives way to the real cause
            for message in super().on_exception(exception):
                if (
                    message.type == Type.TRACE
                    and message.trace
                    and message.trace.error
                    and is_expected_failure(exception.exception)
                ):
                    message.trace.error.stack_trace = None
                yield message
            return
        # A window that was already on the wire when its stream (or the read) stopped.
        if stream not in self._exceptions_per_stream_name:
            self._flag_exception(stream, exception.exception)
        self._logger.error(f"Another window of stream {stream} failed too: {user_message(exception.exception)}")

    def is_done(self) -> bool:
        if self._exceptions_per_stream_name and all(self._is_stream_done(name) for name in self._stream_name_to_instance):
            raise self._final_error()
        return super().is_done()

    def _resumes_at(self, stream: str) -> str:
        cursor = self._saved_cursor.get(stream)
        if cursor is None:
            return ""
        return f" Its state holds {CURSOR_FIELD} {cursor}, so the next sync reads from there (less the lookback) again."

    def _final_error(self) -> AirbyteTracedException:
        not_read = sum(self._windows_not_read.values())
        read_stop, outage_seconds = self._stop.read_stop, self._stop.outage_seconds
        if read_stop is not None and outage_seconds is None:
            message = (
                f"{user_message(read_stop)} The read stopped at this first refused request: "
                f"{not_read} more window(s) were not requested. Fix the setting named above and run the sync again."
            )
            return _read_error(message, "read stopped at a configuration error", FailureType.config_error)
        if read_stop is not None:
            saved = ", ".join(f"{stream} at {cursor}" for stream, cursor in sorted(self._saved_cursor.items()))
            message = (
                f"7moor answered no request of this read for {outage_seconds:.0f} s, so the read stopped as for an outage: "
                f"{user_message(read_stop)} {not_read} more window(s) were not requested. Run the sync again when 7moor "
                f"answers: each stream resumes from its saved state ({saved or 'none saved'}), the failed windows included."
            )
            return _read_error(message, "read stopped at an outage", FailureType.transient_error)
        failed = {
            stream: next((e for e in errors if not isinstance(e, ReadStopped)), errors[0])
            for stream, errors in self._exceptions_per_stream_name.items()
        }
        finished = [name for name in self._stream_name_to_instance if name not in failed]
        skipped = [error for errors in self._skipped.values() for error in errors]
        refused = {e.report for e in [*failed.values(), *skipped] if isinstance(e, ReportRefused)}
        # Only a refusal of every report says the account is refused: one report may be withheld.
        if (
            not finished
            and self._stop.last_answer is None
            and all(isinstance(e, ReportRefused) for e in failed.values())
            and refused >= set(report_table())
        ):
            return _read_error(
                every_report_refused(next(iter(failed.values()))), "every report refused", FailureType.config_error
            )
        causes = " ".join(
            f"({index}) {stream}: {user_message(error)}"
            + (
                f" ({self._windows_not_read[stream]} later window(s) of {stream} were not requested.)"
                if self._windows_not_read.get(stream)
                else ""
            )
            + self._resumes_at(stream)
            for index, (stream, error) in enumerate(sorted(failed.items()), start=1)
        )
        finished_text = f" {', '.join(finished)} finished and saved their state." if finished else ""
        message = (
            f"{len(failed)} of {len(self._stream_name_to_instance)} streams stopped at a window that failed for good: "
            f"{causes}{finished_text}"
        )
        types = {e.failure_type for e in failed.values() if isinstance(e, AirbyteTracedException)}
        failure_type = (
            FailureType.config_error
            if FailureType.config_error in types
            else (FailureType.transient_error if types == {FailureType.transient_error} else FailureType.system_error)
        )
        return _read_error(message, "streams stopped at failed windows", failure_type)


def _read_error(message: str, internal_message: str, failure_type: FailureType) -> AirbyteTracedException:
    return AirbyteTracedException(
        message=bounded_text(message, MAX_MESSAGE_BYTES), internal_message=internal_message, failure_type=failure_type
    )


class ContainedConcurrentSource(ConcurrentSource):
    """The CDK's `ConcurrentSource`, reading with `GuardedPartitionReader` and `ContainedReadProcessor`."""

    _stop: StopSignal
    _progress: ReadProgress

    @classmethod
    def replacing(cls, source: ConcurrentSource, stop: StopSignal, progress: ReadProgress) -> ContainedConcurrentSource:
        contained = cls(
            threadpool=source._threadpool,
            logger=source._logger,
            slice_logger=source._slice_logger,
            queue=source._queue,
            message_repository=source._message_repository,
            initial_number_partitions_to_generate=source._initial_number_partitions_to_generate,
        )
        contained._stop = stop
        contained._progress = progress
        return contained

    def read(self, streams: list[AbstractStream]) -> Iterator[AirbyteMessage]:
        # ConcurrentSource.read, with the two classes above: the CDK builds its own inline.
        self._logger.info("Starting syncing")
        reader = GuardedPartitionReader(
            PartitionReader(self._queue, PartitionLogger(self._slice_logger, self._logger, self._message_repository)), self._stop
        )
        processor = ContainedReadProcessor(
            streams,
            PartitionEnqueuer(self._queue, self._threadpool),
            self._threadpool,
            self._logger,
            self._slice_logger,
            self._message_repository,
            reader,
            max_concurrent_partition_generators=self._initial_number_partitions_to_generate,
            stop=self._stop,
            progress=self._progress,
        )
        yield from processor.held_back(self._submit_initial_partition_generators(processor))
        yield from processor.held_back(self._consume_from_queue(self._queue, processor))
        self._threadpool.check_for_errors_and_shutdown()
        self._logger.info("Finished syncing")
