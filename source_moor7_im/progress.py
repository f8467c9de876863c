"""Progress of a read: ESTIMATE traces for Airbyte's progress bar, and a log line on long reads.

Ours because the CDK sends no ESTIMATE for a declarative source. The session report's rows
are its planned buckets; an agent report's are its planned days times the rows of the first
window that answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

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


@dataclass
class StreamProgress:
    planned: int = 0
    done: int = 0
    rows: int = 0
    planned_rows: int | None = None  # known from the plan (session report), else learned
    rows_per_window: float | None = None
    generated: bool = False
    sent_estimate: int | None = None


@dataclass
class ReadProgress:
    """Counts windows planned and read per stream; says the expected rows once it can, and
    how far the read is every `PROGRESS_LOG_SECONDS`."""

    # The rows a window holds when the plan says it (the session report's buckets), else None.
    rows_in_window: Callable[[str, dict[str, str]], int | None]
    clock: Callable[[], float] = time.monotonic
    streams: dict[str, StreamProgress] = field(default_factory=dict)
    _last_log: float | None = None

    def window_planned(self, stream: str, window: dict[str, str]) -> None:
        progress = self.streams.setdefault(stream, StreamProgress())
        progress.planned += 1
        rows = self.rows_in_window(stream, window)
        if rows is not None:
            progress.planned_rows = (progress.planned_rows or 0) + rows

    def plan_complete(self, stream: str) -> None:
        self.streams.setdefault(stream, StreamProgress()).generated = True

    def window_read(self, stream: str, rows: int) -> None:
        progress = self.streams.setdefault(stream, StreamProgress())
        progress.done += 1
        progress.rows += rows
        if progress.rows_per_window is None and rows:
            progress.rows_per_window = float(rows)

    def messages(self) -> Iterator[AirbyteMessage]:
        """The ESTIMATE traces that became known or changed, and a progress line when due."""
        for name, progress in self.streams.items():
            estimate = self._estimate(progress)
            if estimate is not None and estimate != progress.sent_estimate:
                progress.sent_estimate = estimate
                yield _estimate_message(name, estimate)
        now = self.clock()
        if self._last_log is None:
            self._last_log = now
        elif now - self._last_log >= PROGRESS_LOG_SECONDS:
            self._last_log = now
            yield _log_message(self._summary())

    @staticmethod
    def _estimate(progress: StreamProgress) -> int | None:
        if not progress.generated:
            return None
        if progress.planned_rows is not None:
            return progress.planned_rows
        if progress.rows_per_window is None:
            return None
        return round(progress.planned * progress.rows_per_window)

    def _summary(self) -> str:
        parts = [f"{name} {p.done}/{p.planned} windows, {p.rows:,} rows" for name, p in self.streams.items()]
        return "Progress: " + "; ".join(parts) + "."


def _estimate_message(stream: str, rows: int) -> AirbyteMessage:
    return AirbyteMessage(
        type=Type.TRACE,
        trace=AirbyteTraceMessage(
            type=TraceType.ESTIMATE,
            emitted_at=time.time() * 1000,
            estimate=AirbyteEstimateTraceMessage(name=stream, type=EstimateType.STREAM, row_estimate=rows),
        ),
    )


def _log_message(text: str) -> AirbyteMessage:
    return AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=Level.INFO, message=text))
