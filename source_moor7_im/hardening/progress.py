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
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from airbyte_cdk.models import AirbyteMessage, AirbyteMessageSerializer

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
    latest: dt.datetime | None = None  # the latest cursor value among its rows so far
    done: bool = False


@dataclass
class StreamProgress:
    windows: dict[str, _Window] = field(default_factory=dict)  # by their start_time
    windows_done: int = 0  # every window read, those of a stream not read in windows of report time too
    rows: int = 0
    bytes: int = 0
    first: dt.datetime | None = None  # the earliest cursor value of any row
    generated: bool = False
    estimated_at: int = 0  # the rows seen at the last estimate
    changed: bool = False  # a window was planned or read since the last estimate
    sent: tuple[int, int] | None = None

    def estimate(self, name: str) -> Iterator[AirbyteMessage]:
        """The ESTIMATE of the rows and bytes the stream is expected to hold, when it differs
        from the last one sent by more than `ESTIMATE_CHANGE`."""
        self.estimated_at, self.changed = self.rows, False
        rows = max(sum(window.units for window in self.windows.values()), self.rows)
        if self.first is not None:
            covered = remaining = 0.0
            for window in self.windows.values():
                # from the stream's first row, or the window's start, to how far its read has come
                since = max(window.start, self.first)
                reached = window.end if window.done else max(window.latest or window.start, window.start)
                covered += max((reached - since).total_seconds(), 0.0)
                remaining += max((window.end - max(reached, since)).total_seconds(), 0.0)
            if covered > 0:
                rows = round(self.rows + self.rows / covered * remaining)
        size = round(self.bytes / self.rows * rows) if self.rows else 0
        if self.sent is None or any(abs(new - old) > ESTIMATE_CHANGE * old for new, old in zip((rows, size), self.sent)):
            self.sent = (rows, size)
            estimate = {"name": name, "type": "STREAM", "row_estimate": rows, "byte_estimate": size}
            trace = {"type": "ESTIMATE", "emitted_at": time.time() * 1000, "estimate": estimate}
            yield AirbyteMessageSerializer.load({"type": "TRACE", "trace": trace})


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
    streams: dict[str, StreamProgress] = field(default_factory=lambda: defaultdict(StreamProgress))
    _last_log: float | None = None

    def window_planned(self, stream: str, window: Mapping[str, Any]) -> None:
        start, end = window.get("start_time"), window.get("end_time")
        if isinstance(start, str) and isinstance(end, str):
            units = self.rows_in_window(stream, window)
            progress = self.streams[stream]
            progress.windows[start] = _Window(self.parse_cursor(start), self.parse_cursor(end), 1 if units is None else units)
            progress.changed = True

    def plan_complete(self, stream: str) -> None:
        self.streams[stream].generated = True

    def record_seen(self, stream: str, window: Mapping[str, Any] | None, data: Mapping[str, Any]) -> Iterator[AirbyteMessage]:
        """Counts a record (before it is written) and yields the stream's first estimate with
        its first record, and a new one every `RECORDS_BETWEEN_ESTIMATES` when it changed."""
        progress = self.streams[stream]
        progress.rows += 1
        try:  # the data as compact UTF-8 JSON
            progress.bytes += len(orjson.dumps(data, default=str))
        except TypeError:  # what orjson refuses (an integer beyond 64 bits) the standard library writes
            progress.bytes += len(json.dumps(data, default=str, ensure_ascii=False, separators=(",", ":")).encode())
        try:  # the record's place in report time: its cursor value, with its offset
            moment = dt.datetime.fromisoformat(data.get(self.cursor_field, ""))
        except (TypeError, ValueError):
            moment = None
        entry = progress.windows.get(str((window or {}).get("start_time")))
        if entry is not None and moment is not None and moment.tzinfo is not None:  # a stream read in windows of report time
            progress.first = min(progress.first or moment, moment)
            entry.latest = max(entry.latest or moment, moment)
        if progress.sent is None or progress.rows - progress.estimated_at >= RECORDS_BETWEEN_ESTIMATES:
            yield from progress.estimate(stream)

    def window_read(self, stream: str, window: Mapping[str, Any]) -> None:
        progress = self.streams[stream]
        progress.windows_done += 1
        progress.changed = True
        if (entry := progress.windows.get(str(window.get("start_time")))) is not None:
            entry.done = True

    def messages(self) -> Iterator[AirbyteMessage]:
        """The ESTIMATE traces that changed (once a stream's plan is cut), and a progress
        line when due."""
        for name, progress in self.streams.items():
            if progress.changed and (progress.generated or progress.sent is not None):
                yield from progress.estimate(name)
        now = self.clock()
        if self._last_log is None:
            self._last_log = now
        if now - self._last_log < PROGRESS_LOG_SECONDS:
            return
        self._last_log = now
        line = "; ".join(f"{name} {p.windows_done}/{len(p.windows)} windows, {p.rows:,} rows" for name, p in self.streams.items())
        yield AirbyteMessageSerializer.load({"type": "LOG", "log": {"level": "INFO", "message": f"Progress: {line}."}})
