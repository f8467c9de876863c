"""Progress of a read: ESTIMATE traces for Airbyte's progress bar, and a log line on long reads.

CDK gap: no ESTIMATE for a declarative source (how these are worked out: docs/design/progress.md). The smallest
CDK change: a concurrent read processor that counts records and bytes per partition and calls an estimator it is given."""

import contextlib
import datetime as dt
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from airbyte_cdk.models import AirbyteMessage, AirbyteMessageSerializer

PROGRESS_LOG_SECONDS = 10.0  # a progress line at most this often; shorter reads print none
RECORDS_BETWEEN_ESTIMATES = 50  # a stream's estimate is worked out again after this many records, and after every window
ESTIMATE_CHANGE = 0.02  # it is sent when it differs from the last one sent by more than this fraction


@dataclass
class _Window:
    start: dt.datetime
    end: dt.datetime
    units: int  # rows the plan expects: its buckets, or 1 for a window of a daily report
    latest: dt.datetime | None = None  # how far its read has come: its rows' latest cursor value, its end once read
    share: tuple[float, float] = (0.0, 0.0)  # seconds of report time read and still to read, from the stream's first row


@dataclass
class StreamProgress:
    """Running totals, each window's share moved in as it changes: an estimate costs the same at any number of windows."""

    windows: dict[str, _Window] = field(default_factory=dict)  # by their start_time
    windows_done: int = 0  # every window read, those of a stream not read in windows of report time too
    rows: int = 0
    bytes: int = 0
    units: int = 0  # of the windows planned
    covered: float = 0.0  # the windows' shares, summed
    remaining: float = 0.0
    first: dt.datetime | None = None  # the earliest cursor value of any row
    generated: bool = False  # its plan is cut
    estimated_at: int = 0  # the rows seen at the last estimate
    changed: bool = False  # a window was planned or read since the last estimate
    sent: tuple[int, int] | None = None

    def plan(self, start: str, window: _Window) -> None:
        """`start`: the window's own, as the CDK's cursor cuts one window per start."""
        self.windows[start], self.units, self.changed = window, self.units + window.units, True
        self.measure(window)

    def reach(self, window: _Window, moment: dt.datetime) -> None:
        """`window` read up to `moment` in report time; a row before every other moves where the stream starts."""
        if self.first is None or moment < self.first:
            self.first = moment
            for each in self.windows.values():
                self.measure(each)
        window.latest = max(window.latest or moment, moment)
        self.measure(window)

    def measure(self, window: _Window) -> None:
        """Moves `window`'s share into the totals (none before the stream's first row)."""
        since, reached = max(window.start, self.first or window.end), max(window.latest or window.start, window.start)
        share = (max((reached - since).total_seconds(), 0.0), max((window.end - max(reached, since)).total_seconds(), 0.0))
        self.covered += share[0] - window.share[0]
        self.remaining += share[1] - window.share[1]
        window.share = share

    def estimate(self, name: str) -> Iterator[AirbyteMessage]:
        self.estimated_at, self.changed = self.rows, False
        rows = max(self.units, self.rows)
        if self.covered > 0:
            rows = round(self.rows + self.rows / self.covered * self.remaining)
        size = round(self.bytes / self.rows * rows) if self.rows else 0
        if self.sent is None or any(abs(new - old) > ESTIMATE_CHANGE * old for new, old in zip((rows, size), self.sent)):
            self.sent = (rows, size)
            estimate = {"name": name, "type": "STREAM", "row_estimate": rows, "byte_estimate": size}
            trace = {"type": "ESTIMATE", "emitted_at": time.time() * 1000, "estimate": estimate}
            yield AirbyteMessageSerializer.load({"type": "TRACE", "trace": trace})


@dataclass
class ReadProgress:
    rows_in_window: Callable[[str, Mapping[str, Any]], int | None]  # the rows the plan expects of a window; None: one
    cursor_field: str  # the field whose value places a record in report time
    parse_cursor: Callable[[str], dt.datetime]
    clock: Callable[[], float] = time.monotonic
    streams: dict[str, StreamProgress] = field(default_factory=lambda: defaultdict(StreamProgress))
    _last_log: float | None = None

    def window_planned(self, stream: str, window: Mapping[str, Any]) -> None:
        start, end = window.get("start_time"), window.get("end_time")
        if isinstance(start, str) and isinstance(end, str):
            units = self.rows_in_window(stream, window)
            self.streams[stream].plan(
                start, _Window(self.parse_cursor(start), self.parse_cursor(end), 1 if units is None else units)
            )

    def record_seen(self, stream: str, window: Mapping[str, Any] | None, data: Mapping[str, Any]) -> Iterator[AirbyteMessage]:
        """Counts a record before it is written: the stream's first estimate goes out with it."""
        progress = self.streams[stream]
        progress.rows += 1
        try:  # the data as compact UTF-8 JSON
            progress.bytes += len(orjson.dumps(data, default=str))
        except TypeError:  # what orjson refuses (an integer beyond 64 bits) the standard library writes
            progress.bytes += len(json.dumps(data, default=str, ensure_ascii=False, separators=(",", ":")).encode())
        entry = progress.windows.get(str((window or {}).get("start_time")))
        with contextlib.suppress(TypeError, ValueError):  # the record's place in report time: its cursor value, with its offset
            moment = dt.datetime.fromisoformat(data.get(self.cursor_field, ""))
            if entry is not None and moment.tzinfo is not None:  # a stream read in windows of report time
                progress.reach(entry, moment)
        if progress.sent is None or progress.rows - progress.estimated_at >= RECORDS_BETWEEN_ESTIMATES:
            yield from progress.estimate(stream)

    def window_read(self, stream: str, window: Mapping[str, Any]) -> None:
        progress = self.streams[stream]
        progress.windows_done += 1
        progress.changed = True
        if (entry := progress.windows.get(str(window.get("start_time")))) is not None:
            entry.latest = entry.end
            progress.measure(entry)

    def messages(self) -> Iterator[AirbyteMessage]:
        for name, progress in self.streams.items():
            if progress.changed and (progress.generated or progress.sent is not None):
                yield from progress.estimate(name)
        now = self.clock()
        if self._last_log is None:
            self._last_log = now
        elif now - self._last_log >= PROGRESS_LOG_SECONDS:
            self._last_log = now
            line = "; ".join(f"{n} {p.windows_done}/{len(p.windows)} windows, {p.rows:,} rows" for n, p in self.streams.items())
            yield AirbyteMessageSerializer.load({"type": "LOG", "log": {"level": "INFO", "message": f"Progress: {line}."}})
