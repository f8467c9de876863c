"""Stop rules of a concurrent read (docs/design/stop-rules.md): one that cannot succeed stops early, says why once, and
saves no state past a window it did not read.

CDK gap: `ConcurrentSource.read` builds its reader and processor inline, with no hook for stop rules or held-back state.
The smallest CDK change: a `ConcurrentSource.read` that takes reader and processor factories, and a processor hook for
each state message and each failed partition."""

import contextlib
import contextvars
import copy
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from airbyte_cdk.models import AirbyteMessage, AirbyteStateType, FailureType
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

from .messages import ReadStopped, Refused, RetriesSpent, cause, is_expected, rendered, traced
from .progress import ReadProgress

T = TypeVar("T")


@dataclass(frozen=True)
class ReadRules:
    api: str  # whose answers these are, in messages
    cursor_field: str
    parse_cursor: Callable[[str], dt.datetime]  # a cursor value, or a window's bound, as a time
    resources: frozenset[str]  # every resource the API may refuse (`Refused.resource`)
    account_refused: Callable[[BaseException], str]  # the text when every resource was refused


@dataclass
class StopSignal:
    """Which streams may still start or retry a window: set from worker threads the moment a window fails, read before
    every window and every retry. The public fields are written under the lock and read as they stand."""

    clock: Callable[[], float] = time.monotonic
    read_stop: BaseException | None = None  # the failure that stopped the whole read
    outage_seconds: float | None = None  # how long nothing had answered, if an outage stopped it
    last_answer: float | None = None
    _interrupted: str | None = None
    _outage_suspected: tuple[BaseException, float] | None = None  # the failure, and since when
    _failed_streams: dict[str, BaseException] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def interrupt(self, reason: str) -> None:
        """The command was told to stop (a signal, a closed stdout): nothing starts or retries."""
        with self._lock:
            self._interrupted = self._interrupted or reason

    def answered(self) -> None:
        with self._lock:
            self.last_answer, self._outage_suspected = self.clock(), None

    def attempt_failed(self) -> None:
        """An attempt failed and would be retried: it confirms a suspected outage."""
        with self._lock:
            if self._outage_suspected is not None and self.read_stop is None:
                self.outage_seconds = self.clock() - self._outage_suspected[1]  # first: whoever sees read_stop sees its kind
                self.read_stop = self._outage_suspected[0]

    def window_failed(self, stream: str, error: BaseException, started_at: float) -> None:
        """`started_at`: when the window's first attempt was sent (this signal's clock)."""
        ran_out = isinstance(error, RetriesSpent) or isinstance(getattr(error, "_exception", None), BaseBackoffException)
        config_error = isinstance(error, AirbyteTracedException) and error.failure_type == FailureType.config_error
        with self._lock:
            self._failed_streams.setdefault(stream, error)
            # a config error of the whole connection (credentials, address, clock), not of one resource
            if self.read_stop is None and config_error and not isinstance(error, Refused):
                self.read_stop = error
            elif self.read_stop is None and ran_out and (self.last_answer or 0) < started_at and self._outage_suspected is None:
                self._outage_suspected = (error, started_at)

    def reason_to_stop(self, stream: str) -> str | None:
        with self._lock:
            read_stop, interrupted, failure = self.read_stop, self._interrupted, self._failed_streams.get(stream)
            kind = "an outage" if self.outage_seconds is not None else "a configuration error"
        if interrupted is not None:
            return f"the command was stopped ({interrupted})"
        if read_stop is not None:
            return f"the read stopped at {kind}: {cause(read_stop)}"
        return None if failure is None else f"stream {stream} stopped at a window that failed for good: {cause(failure)}"


@dataclass
class ReadScope:
    """What one read owns: its stop signal and one of each part its components share (`part`). They take it while the
    source builds them (`building`): the CDK's component factory cannot hand them an object."""

    stop: StopSignal = field(default_factory=StopSignal)
    _parts: dict[type, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _current: ClassVar[contextvars.ContextVar["ReadScope | None"]] = contextvars.ContextVar("read_scope", default=None)

    def part(self, kind: type[T]) -> T:
        with self._lock:
            if kind not in self._parts:
                self._parts[kind] = kind()
            return self._parts[kind]  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def building(self) -> Iterator[None]:
        token = self._current.set(self)
        try:
            yield
        finally:
            self._current.reset(token)

    @staticmethod
    def current() -> "ReadScope":
        """The scope of the source building components now (a new one outside any build)."""
        return ReadScope._current.get() or ReadScope()


class WindowNotRead(PartitionCompleteSentinel):
    """A window skipped (its stream or the read had stopped; `requested`: its retries were cut short) or lost on its own
    (`error`: another resource than the stream's was refused): complete, not successful, so no state passes it."""

    def __init__(self, partition: Partition, requested: bool = False, error: Refused | None = None):
        super().__init__(partition, is_successful=False)
        self.requested, self.error = requested, error


class GuardedPartitionReader(PartitionReader):
    """The CDK's `PartitionReader`, which asks the stop signal whether a window may start and tells it when one fails."""

    def __init__(self, source: ConcurrentSource, stop: StopSignal):
        super().__init__(source._queue)
        self._slice_log, self._stop = PartitionLogger(source._slice_logger, source._logger, source._message_repository), stop

    def process_partition(self, partition: Partition, cursor: Cursor) -> None:
        stream = partition.stream_name()
        if self._stop.reason_to_stop(stream) is not None:
            self._queue.put(WindowNotRead(partition))
            return
        started_at = self._stop.clock()
        try:
            self._slice_log.log(partition)
            for record in partition.read():
                self._queue.put(record)
                cursor.observe(record)
            cursor.close_partition(partition)
            self._queue.put(PartitionCompleteSentinel(partition, is_successful=True))
        except ReadStopped:
            self._queue.put(WindowNotRead(partition, requested=True))
        except Exception as error:
            if isinstance(error, Refused) and error.resource != stream:
                self._queue.put(WindowNotRead(partition, error=error))
            else:
                self._stop.window_failed(stream, error, started_at)
                self._queue.put(StreamThreadException(error, stream))
                self._queue.put(PartitionCompleteSentinel(partition, is_successful=False))


class ContainedReadProcessor(ConcurrentReadProcessor):
    """One trace per failed stream, a line for each later failure, one final error; no STATE past a window not yet read
    successfully; the read's progress. A failed stream holds one exception: its cause, or a `ReadStopped` until it comes."""

    def __init__(self, source: "ContainedConcurrentSource", streams: list[AbstractStream]):
        self._stop, self._progress, self._rules = source.scope.stop, source.progress, source.rules
        super().__init__(
            streams,
            PartitionEnqueuer(source._queue, source._threadpool),
            source._threadpool,
            source._logger,
            source._slice_logger,
            source._message_repository,
            GuardedPartitionReader(source, self._stop),
            max_concurrent_partition_generators=source._initial_number_partitions_to_generate,
        )
        self._not_requested: dict[str, int] = {}
        # per stream: the start of each window not (yet) read successfully, the end of the latest planned, as times and as written
        self._unread: dict[str, dict[Partition, tuple[dt.datetime, str]]] = {}
        self._planned_up_to: dict[str, tuple[dt.datetime, str]] = {}
        self._planned: dict[str, int] = {}
        self._lost: dict[str, list[Refused]] = {}
        self._saved_cursor: dict[str, str] = {}

    def on_partition(self, partition: Partition) -> None:
        stream, window = partition.stream_name(), partition.to_slice() or {}
        self._planned[stream] = self._planned.get(stream, 0) + 1
        start, end = window.get("start_time"), window.get("end_time")
        if isinstance(start, str) and isinstance(end, str):
            self._unread.setdefault(stream, {})[partition] = (self._rules.parse_cursor(start), start)
            bound = (self._rules.parse_cursor(end), end)
            self._planned_up_to[stream] = max(self._planned_up_to.get(stream, bound), bound, key=lambda b: b[0])
        self._progress.window_planned(stream, window)
        super().on_partition(partition)

    def on_partition_generation_completed(self, sentinel: PartitionGenerationCompletedSentinel) -> Iterable[AirbyteMessage]:
        self._progress.streams[sentinel.stream.name].generated = True
        yield from super().on_partition_generation_completed(sentinel)
        yield from self._progress.messages()

    def on_partition_complete_sentinel(self, sentinel: PartitionCompleteSentinel) -> Iterable[AirbyteMessage]:
        partition, stream = sentinel.partition, sentinel.partition.stream_name()
        if sentinel.is_successful:
            self._progress.window_read(stream, partition.to_slice() or {})
            self._unread.get(stream, {}).pop(partition, None)
        elif isinstance(sentinel, WindowNotRead) and sentinel.error is not None:
            lost = self._lost.setdefault(stream, [])
            lost.append(sentinel.error)
            self._logger.warning(f"{stream}: a window was left out, the others are read: {cause(sentinel.error)}")
            # every window of the stream lost: it fails with the first cause
            last = stream not in self._streams_currently_generating_partitions and len(lost) == self._planned[stream]
            if last and stream not in self._exceptions_per_stream_name:
                yield from self.on_exception(StreamThreadException(lost[0], stream))
        elif isinstance(sentinel, WindowNotRead):
            if not sentinel.requested:
                self._not_requested[stream] = self._not_requested.get(stream, 0) + 1
            # the stream is not finished
            self._exceptions_per_stream_name.setdefault(stream, [ReadStopped(self._stop.reason_to_stop(stream) or "stopped")])
        yield from super().on_partition_complete_sentinel(sentinel)
        yield from self._progress.messages()

    def on_record(self, record: Record) -> Iterable[AirbyteMessage]:
        yield from self._progress.record_seen(record.stream_name, record.associated_slice, record.data)
        yield from super().on_record(record)

    def held_back(self, messages: Iterable[AirbyteMessage]) -> Iterator[AirbyteMessage]:
        """`messages`, each stream STATE held at its earliest window not read successfully and at the end of those planned."""
        for message in messages:
            stream = message.state.stream if message.state and message.state.type == AirbyteStateType.STREAM else None
            if stream is not None and isinstance(cursor := getattr(stream.stream_state, self._rules.cursor_field, None), str):
                name = stream.stream_descriptor.name
                bounds = [*self._unread.get(name, {}).values(), self._planned_up_to.get(name)]
                ceiling = min((b for b in bounds if b), default=None)
                if ceiling is not None and self._rules.parse_cursor(cursor) > ceiling[0]:
                    cursor, message = ceiling[1], copy.deepcopy(message)  # the CDK keeps the state it sent
                    setattr(message.state.stream.stream_state, self._rules.cursor_field, cursor)  # type: ignore[union-attr]
                self._saved_cursor[name] = cursor
            yield message

    def on_exception(self, exception: StreamThreadException) -> Iterable[AirbyteMessage]:
        stream, error = exception.stream_name, exception.exception
        earlier = [e for e in self._exceptions_per_stream_name.get(stream, []) if not isinstance(e, ReadStopped)]
        if not earlier and self._stop.read_stop in (None, error):
            self._exceptions_per_stream_name.pop(stream, None)  # a ReadStopped gives way to the real cause
            yield from (traced(message, expected=is_expected(error)) for message in super().on_exception(exception))
        else:  # a window that was already on the wire when its stream (or the read) stopped
            self._exceptions_per_stream_name.setdefault(stream, [error])
            self._logger.error(f"Another window of stream {stream} failed too: {cause(error)}")

    def is_done(self) -> bool:
        if self._exceptions_per_stream_name and all(self._is_stream_done(name) for name in self._stream_name_to_instance):
            text, internal, kind = self._final_error()
            raise AirbyteTracedException(message=rendered(text), internal_message=internal, failure_type=kind)
        return super().is_done()

    def _final_error(self) -> tuple[str, str, FailureType]:
        stop, api, field_name = self._stop, self._rules.api, self._rules.cursor_field
        more = f"{sum(self._not_requested.values())} more window(s) were not requested."
        if stop.read_stop is not None and stop.outage_seconds is None:
            fix = f"The read stopped at this first refused request: {more} Fix the setting named above and run the sync again."
            return f"{cause(stop.read_stop)} {fix}", "read stopped at a configuration error", FailureType.config_error
        if stop.read_stop is not None:
            saved = ", ".join(f"{stream} at {cursor}" for stream, cursor in sorted(self._saved_cursor.items())) or "none saved"
            text = f"{api} answered no request of this read for {stop.outage_seconds:.0f} s, so the read stopped as for an outage: {cause(stop.read_stop)} {more} Run the sync again when {api} answers: each stream resumes from its saved state ({saved}), the failed windows included."
            return text, "read stopped at an outage", FailureType.transient_error
        failed = {stream: errors[0] for stream, errors in self._exceptions_per_stream_name.items()}
        finished = [name for name in self._stream_name_to_instance if name not in failed]
        refused = {e.resource for errors in [*self._lost.values(), failed.values()] for e in errors if isinstance(e, Refused)}
        if not finished and stop.last_answer is None and refused >= self._rules.resources:
            return self._rules.account_refused(next(iter(failed.values()))), "every resource refused", FailureType.config_error
        texts = [f"{len(failed)} of {len(self._stream_name_to_instance)} streams stopped at a window that failed for good:"]
        for index, (stream, error) in enumerate(sorted(failed.items()), start=1):
            texts.append(f"({index}) {stream}: {cause(error)}")
            if n := self._not_requested.get(stream):
                texts.append(f"({n} later window(s) of {stream} were not requested.)")
            if (held := self._saved_cursor.get(stream)) is not None:
                texts.append(f"Its state holds {field_name} {held}, so the next sync reads from there (less the lookback) again.")
        if finished:
            texts.append(f"{', '.join(finished)} finished and saved their state.")
        kinds = {e.failure_type for e in failed.values() if isinstance(e, AirbyteTracedException)}
        first_kinds = (FailureType.config_error, FailureType.system_error, FailureType.transient_error)
        kind = min(kinds, key=first_kinds.index, default=FailureType.system_error)
        return " ".join(texts), "streams stopped at failed windows", kind


class ContainedConcurrentSource(ConcurrentSource):
    """The CDK's `ConcurrentSource` given, as it was built, reading with `GuardedPartitionReader` and `ContainedReadProcessor`."""

    def __init__(self, source: ConcurrentSource, scope: ReadScope, progress: ReadProgress, rules: ReadRules):
        vars(self).update(vars(source))
        self.scope, self.progress, self.rules = scope, progress, rules

    def read(self, streams: list[AbstractStream]) -> Iterator[AirbyteMessage]:
        self._logger.info("Starting syncing")
        processor = ContainedReadProcessor(self, streams)
        yield from processor.held_back(self._submit_initial_partition_generators(processor))
        yield from processor.held_back(self._consume_from_queue(self._queue, processor))
        self._threadpool.check_for_errors_and_shutdown()
        self._logger.info("Finished syncing")
