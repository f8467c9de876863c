"""Progress of a read: ESTIMATE traces for Airbyte's progress bar, and a log line on long reads.

CDK gap: the CDK sends no ESTIMATE for a declarative source. A stream's expected rows start
from its plan (the rows the connector expects of each window) and then follow what the read
has seen: the rows per second of cursor time covered since the first row, so that gaps in the
data and the time before the first data count as they come. Bytes are the records' data as
compact UTF-8 JSON, at the average seen so far. Airbyte's platform stores both numbers of
every estimate, so both are always sent. The smallest CDK change: a concurrent read processor
that counts records and bytes per partition and calls an estimator it is given.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from airbyte_cdk.models import (
    AirbyteEstimateTraceMessage,
    AirbyteLogMessage,
    AirbyteMessage,
    AirbyteTraceMessage,
    EstimateType,
    Level,
    TraceType,
    Type,
)

# A progress line at most this often; reads shorter than that print none.
PROGRESS_LOG_SECONDS = 10.0
# A stream's estimate is worked out again after this many records (and after every window);
# it is sent when it differs from the last one sent by more than ESTIMATE_CHANGE.
RECORDS_BETWEEN_ESTIMATES = 50
ESTIMATE_CHANGE = 0.02


@dataclass
class _Window:
    start: dt.datetime
    end: dt.datetime
    units: int  # rows the plan expects: its buckets, or 1 for a window of a daily report
    rows: int = 0
    latest: dt.datetime | None = None  # the latest cursor value among its rows so far
    done: bool = False

    def reached(self) -> dt.datetime:
        """How far the read of this window has come in report time."""
        if self.done:
            return self.end
        return max(self.latest, self.start) if self.latest is not None else self.start


@dataclass
class StreamProgress:
    windows: dict[str, _Window] = field(default_factory=dict)
    windows_done: int = 0
    rows: int = 0
    bytes: int = 0
    first: dt.datetime | None = None  # the earliest cursor value of any row
    generated: bool = False
    since_estimate: int = 0
    changed: bool = False  # a window was planned or read since the last estimate
    sent: tuple[int, int] | None = None

    def estimate(self) -> tuple[int, int]:
        """(rows, bytes) the stream is expected to hold."""
        planned = sum(window.units for window in self.windows.values())
        rows = max(planned, self.rows)
        if self.first is not None:
            covered = remaining = 0.0
            for window in self.windows.values():
                since = max(window.start, self.first)
                reached = window.reached()
                covered += max((reached - since).total_seconds(), 0.0)
                remaining += max((window.end - max(reached, since)).total_seconds(), 0.0)
            if covered > 0:
                rows = round(self.rows + self.rows / covered * remaining)
        size = round(self.bytes / self.rows * rows) if self.rows else 0
        return rows, size


@dataclass
class ReadProgress:
    """Windows planned and read, and records seen, per stream: the ESTIMATE traces as the
    expectation changes, and how far the read is every `PROGRESS_LOG_SECONDS`."""

    # The rows the plan expects of a window (the session report's buckets); None: one.
    rows_in_window: Callable[[str, Mapping[str, Any]], int | None]
    # The field whose value places a record in report time, and its reading.
    cursor_field: str
    parse_cursor: Callable[[str], dt.datetime]
    clock: Callable[[], float] = time.monotonic
    streams: dict[str, StreamProgress] = field(default_factory=dict)
    _last_log: float | None = None

    def window_planned(self, stream: str, window: Mapping[str, Any]) -> None:
        start, end = window.get("start_time"), window.get("end_time")
        if not isinstance(start, str) or not isinstance(end, str):
            return
        units = self.rows_in_window(stream, window)
        progress = self._of(stream)
        progress.windows[start] = _Window(self.parse_cursor(start), self.parse_cursor(end), 1 if units is None else units)
        progress.changed = True

    def plan_complete(self, stream: str) -> None:
        self._of(stream).generated = True

    def record_seen(self, stream: str, window: Mapping[str, Any] | None, data: Mapping[str, Any]) -> Iterator[AirbyteMessage]:
        """Counts a record (before it is written) and yields the stream's first estimate with
        its first record, and a new one every `RECORDS_BETWEEN_ESTIMATES` when it changed."""
        progress = self._of(stream)
        progress.rows += 1
        progress.bytes += _json_size(data)
        progress.since_estimate += 1
        entry = progress.windows.get(str((window or {}).get("start_time")))
        if entry is not None:  # a stream read in windows of report time: the record's place in it
            entry.rows += 1
            moment = _moment(data.get(self.cursor_field))
            if moment is not None:
                if progress.first is None or moment < progress.first:
                    progress.first = moment
                if entry.latest is None or moment > entry.latest:
                    entry.latest = moment
        if progress.sent is None or progress.since_estimate >= RECORDS_BETWEEN_ESTIMATES:
            yield from self._estimate(stream, progress)

    def window_read(self, stream: str, window: Mapping[str, Any]) -> None:
        progress = self._of(stream)
        progress.windows_done += 1
        progress.changed = True
        entry = progress.windows.get(str(window.get("start_time")))
        if entry is not None:
            entry.done = True

    def messages(self) -> Iterator[AirbyteMessage]:
        """The ESTIMATE traces that changed (once a stream's plan is cut), and a progress
        line when due."""
        for name, progress in self.streams.items():
            if progress.changed and (progress.generated or progress.sent is not None):
                yield from self._estimate(name, progress)
        now = self.clock()
        if self._last_log is None:
            self._last_log = now
        elif now - self._last_log >= PROGRESS_LOG_SECONDS:
            self._last_log = now
            yield _log_message(self._summary())

    def _of(self, stream: str) -> StreamProgress:
        return self.streams.setdefault(stream, StreamProgress())

    @staticmethod
    def _estimate(stream: str, progress: StreamProgress) -> Iterator[AirbyteMessage]:
        progress.since_estimate, progress.changed = 0, False
        rows, size = progress.estimate()
        if progress.sent is not None:
            last_rows, last_size = progress.sent
            if abs(rows - last_rows) <= ESTIMATE_CHANGE * last_rows and abs(size - last_size) <= ESTIMATE_CHANGE * last_size:
                return
        progress.sent = (rows, size)
        yield _estimate_message(stream, rows, size)

    def _summary(self) -> str:
        parts = [f"{name} {p.windows_done}/{len(p.windows)} windows, {p.rows:,} rows" for name, p in self.streams.items()]
        return "Progress: " + "; ".join(parts) + "."


def _json_size(data: Mapping[str, Any]) -> int:
    """The record's data as compact UTF-8 JSON, in bytes."""
    try:
        return len(orjson.dumps(data, default=str))
    except TypeError:  # what orjson refuses (an integer beyond 64 bits) the standard library writes
        return len(json.dumps(data, default=str, ensure_ascii=False, separators=(",", ":")).encode())


def _moment(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _estimate_message(stream: str, rows: int, size: int) -> AirbyteMessage:
    return AirbyteMessage(
        type=Type.TRACE,
        trace=AirbyteTraceMessage(
            type=TraceType.ESTIMATE,
            emitted_at=time.time() * 1000,
            estimate=AirbyteEstimateTraceMessage(name=stream, type=EstimateType.STREAM, row_estimate=rows, byte_estimate=size),
        ),
    )


def _log_message(text: str) -> AirbyteMessage:
    return AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=Level.INFO, message=text))
