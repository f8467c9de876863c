"""The account's calendar: report buckets, the cursor, and where the `createTime` windows start
and end.

Buckets are account-local wall-clock time. The manifest's `DatetimeBasedCursor` cuts the
windows, keeps the state and applies the lookback, stepping by a fixed ISO 8601 duration; it
cannot align them to the calendar: a `month` or `year` report must start on a bucket boundary
and a lookback must go back whole buckets. `ValidateConfigAndPlanWindows` computes those
bounds once per run into the config. Each window is `[start, start + step - 1 s]` from a
bucket boundary, and the CDK starts the next one second later: no bucket split, no overlap,
no gap, and every window stays under the API's one-year limit.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, MutableMapping
from dataclasses import InitVar, dataclass
from typing import Any

from airbyte_cdk.sources.declarative.transformations.config_transformations.config_transformation import (
    ConfigTransformation,
)

from . import settings

ONE_SECOND = dt.timedelta(seconds=1)
# The buckets of a fixed length; a month or year bucket follows the calendar.
FIXED_BUCKETS = {"half_hour": dt.timedelta(minutes=30), "hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}
# What a bucket's start resets, by dimension (seconds always).
_BUCKET_FLOOR: Mapping[str, Mapping[str, Any]] = {
    "half_hour": {},
    "hour": {"minute": 0},
    "day": {"minute": 0, "hour": 0},
    "month": {"minute": 0, "hour": 0, "day": 1},
    "year": {"minute": 0, "hour": 0, "day": 1, "month": 1},
}
# The session report's window by dimension: sub-day buckets are read in windows of at most
# 1,488 buckets (a month of half hours, two months of hours; about 0.7 MB from the emulator),
# so that a reply is read within its attempt's deadline over a slow link; a year of days,
# months or years is at most 366 rows.
SESSION_WINDOW_STEPS = {"half_hour": "P1M", "hour": "P2M", "day": "P1Y", "month": "P1Y", "year": "P1Y"}
# The derived bounds live under this config key; the manifest reads them from there.
SYNC_WINDOWS_KEY = "_sync_windows"


def bucket_start(moment: dt.datetime, dimension: str) -> dt.datetime:
    """The start of the report bucket that contains `moment` (naive, account-local)."""
    start = moment.replace(second=0, microsecond=0, **_BUCKET_FLOOR[dimension])
    return start.replace(minute=start.minute // 30 * 30) if dimension == "half_hour" else start


def next_bucket_start(moment: dt.datetime, dimension: str) -> dt.datetime:
    """The start of the bucket after the one that contains `moment`."""
    start = bucket_start(moment, dimension)
    if dimension in FIXED_BUCKETS:
        return start + FIXED_BUCKETS[dimension]
    month = start.year * 12 + start.month - 1 + (12 if dimension == "year" else 1)
    return start.replace(year=month // 12, month=month % 12 + 1)


def cursor_field() -> str:
    """The cursor's field, as the manifest's cursor keeps it in the state."""
    return str(settings.manifest()["definitions"]["cursor_base"]["cursor_field"])


def cursor_format() -> str:
    return str(settings.manifest()["definitions"]["cursor_base"]["datetime_format"])


def parse_cursor(text: str) -> dt.datetime:
    """A cursor-format value (a state's cursor, a slice bound) as an aware datetime."""
    return dt.datetime.strptime(text, cursor_format())  # noqa: DTZ007 - the format ends in %z


def buckets_in(start: str, end: str, dimension: str) -> int:
    """How many `dimension` buckets start in the window [start, end] (cursor-format bounds),
    counted in account-local wall-clock time, where the buckets are."""
    first = bucket_start(parse_cursor(start).replace(tzinfo=None), dimension)
    last = parse_cursor(end).replace(tzinfo=None)
    if dimension in FIXED_BUCKETS:
        return (last - first) // FIXED_BUCKETS[dimension] + 1
    count, moment = 0, first
    while moment <= last:
        count, moment = count + 1, next_bucket_start(moment, dimension)
    return count


def lookback_duration(lookback_days: int, dimension: str) -> str:
    """The ISO 8601 lookback that re-reads at least `lookback_days` in whole buckets: for
    day-or-finer buckets, days (the cursor is a bucket start); a month or year bucket whole,
    counted as the shortest month (28 days) and year (365 days), so never less than asked."""
    if lookback_days <= 0:
        return ""
    days_per = {"month": (28, "M"), "year": (365, "Y")}.get(dimension, (1, "D"))
    return f"P{math.ceil(lookback_days / days_per[0])}{days_per[1]}"


def plan_windows(sync: settings.SyncSettings, now: dt.datetime) -> Mapping[str, Mapping[str, str]]:
    """The window plans (start, end inclusive, step, lookback) by the stream table's `bucket`:
    `dimension` for a report of the session dimension's buckets, `day` for one that sums
    over its window (one local day per request), and `header_day` for report_columns (the
    last day of the range: the header comes back even when that day has no rows)."""
    zone = sync.timezone
    now_local = now.astimezone(zone).replace(microsecond=0, tzinfo=None)
    first_day = dt.datetime.combine(sync.start_date, dt.time())
    range_end = now_local
    if sync.end_date is not None:
        range_end = min(dt.datetime.combine(sync.end_date, dt.time(23, 59, 59)), now_local)
    session_end = range_end
    if sync.end_date is not None and sync.dimension in ("month", "year"):
        # A fixed end date inside a month or year bucket would leave that bucket partial
        # forever (no later sync re-reads it); read the whole bucket, up to now at most.
        session_end = min(next_bucket_start(range_end, sync.dimension) - ONE_SECOND, now_local)

    def plan(start: dt.datetime, end: dt.datetime, step: str, lookback: str) -> Mapping[str, str]:
        bounds = {
            bound: moment.replace(tzinfo=zone).strftime(cursor_format()) for bound, moment in (("start", start), ("end", end))
        }
        return {**bounds, "step": step, "lookback": lookback}

    return {
        "dimension": plan(
            bucket_start(first_day, sync.dimension),
            session_end,
            SESSION_WINDOW_STEPS[sync.dimension],
            lookback_duration(sync.lookback_days, sync.dimension),
        ),
        "day": plan(first_day, range_end, "P1D", lookback_duration(sync.lookback_days, "day")),
        "header_day": plan(bucket_start(range_end, "day"), range_end, "P1D", ""),
    }


@dataclass
class ValidateConfigAndPlanWindows(ConfigTransformation):
    """Checks the config (settings.py), fills in the spec's defaults (the manifest reads every
    setting without a fallback of its own) and adds the window bounds under `_sync_windows`
    (not persisted: the CDK applies config transformations in memory at the start of every run)."""

    parameters: InitVar[Mapping[str, Any] | None] = None

    def __post_init__(self, parameters: Mapping[str, Any] | None) -> None:
        pass

    def transform(self, config: MutableMapping[str, Any], now: dt.datetime | None = None) -> None:
        now = now or dt.datetime.now(dt.UTC)
        sync = settings.SyncSettings.from_config(config, now)
        config.update(settings.with_defaults(config))
        config["base_url"] = sync.base_url  # without a trailing slash, as url_base wants
        config[SYNC_WINDOWS_KEY] = plan_windows(sync, now)
