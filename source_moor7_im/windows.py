"""Where the `createTime` windows start and end, in the account's calendar.

The manifest's `DatetimeBasedCursor` cuts the windows, keeps the state and applies the
lookback, stepping by a fixed ISO 8601 duration; it cannot align them to the calendar: a
`month` or `year` report must start on a bucket boundary and a lookback must go back whole
buckets. `ValidateConfigAndPlanWindows` computes those bounds once per run into the config.
Each window is `[start, start + step - 1 s]` from a bucket boundary (the range start is
floored to one, a state cursor is one, the lookback is whole buckets), and the CDK starts
the next one second later: no bucket split, no overlap, no gap, and no step is longer than
P1Y, so every window stays under the API's one-year limit. A step in months keeps the time
of day and moves the day of the month back where the month is shorter (isodate: 31 January
+ P1M = 29 February), so a window still starts on a day and ends where the next starts.
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

from .buckets import FIXED_BUCKETS, ONE_SECOND, bucket_start, next_bucket_start
from .settings import SyncSettings, account_today, manifest, with_defaults

# The cursor's field and format, as the manifest's cursor keeps them in the state.
CURSOR_FIELD: str = manifest()["definitions"]["cursor_base"]["cursor_field"]
CURSOR_FORMAT: str = manifest()["definitions"]["cursor_base"]["datetime_format"]


def parse_cursor(text: str) -> dt.datetime:
    """A cursor-format value (a state's cursor, a slice bound) as an aware datetime."""
    return dt.datetime.strptime(text, CURSOR_FORMAT)  # noqa: DTZ007 - the format ends in %z


# The derived bounds live under this config key; the manifest reads them from there.
SYNC_WINDOWS_KEY = "_sync_windows"

# The session report's window by dimension: sub-day buckets are read in windows of at most
# 1,488 buckets (a month of half hours, two months of hours; about 0.7 MB from the emulator),
# so that a reply is read within its attempt's deadline over a slow link; a year of days,
# months or years is at most 366 rows.
SESSION_WINDOW_STEPS = {"half_hour": "P1M", "hour": "P2M", "day": "P1Y", "month": "P1Y", "year": "P1Y"}


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
    """The ISO 8601 lookback that re-reads at least `lookback_days` in whole buckets.

    The cursor is a bucket start, so for day-or-finer buckets `lookback_days` days lands on
    a boundary. A month or year bucket is re-read whole; the count assumes the shortest
    month (28 days) and year (365 days), so it never re-reads less than asked.
    """
    if lookback_days <= 0:
        return ""
    if dimension == "month":
        return f"P{math.ceil(lookback_days / 28)}M"
    if dimension == "year":
        return f"P{math.ceil(lookback_days / 365)}Y"
    return f"P{lookback_days}D"


def plan_windows(settings: SyncSettings, now: dt.datetime) -> Mapping[str, Mapping[str, str]]:
    """The window plans (start, end inclusive, step, lookback) by the stream table's `bucket`:
    `dimension` for a report of the session dimension's buckets, `day` for one that sums
    over its window (one local day per request), and `header_day` for report_columns (the
    last day of the range: the header comes back even when that day has no rows)."""
    zone = settings.timezone
    now_local = now.astimezone(zone).replace(microsecond=0, tzinfo=None)
    first_day = dt.datetime.combine(settings.start_date, dt.time())
    range_end = now_local
    if settings.end_date is not None:
        range_end = min(dt.datetime.combine(settings.end_date, dt.time(23, 59, 59)), now_local)
    session_end = range_end
    if settings.end_date is not None and settings.dimension in ("month", "year"):
        # A fixed end date inside a month or year bucket would leave that bucket partial
        # forever (no later sync re-reads it); read the whole bucket, up to now at most.
        session_end = min(next_bucket_start(range_end, settings.dimension) - ONE_SECOND, now_local)

    def plan(start: dt.datetime, end: dt.datetime, step: str, lookback: str) -> Mapping[str, str]:
        bounds = {
            "start": start.replace(tzinfo=zone).strftime(CURSOR_FORMAT),
            "end": end.replace(tzinfo=zone).strftime(CURSOR_FORMAT),
        }
        return {**bounds, "step": step, "lookback": lookback}

    return {
        "dimension": plan(
            bucket_start(first_day, settings.dimension),
            session_end,
            SESSION_WINDOW_STEPS[settings.dimension],
            lookback_duration(settings.lookback_days, settings.dimension),
        ),
        "day": plan(first_day, range_end, "P1D", lookback_duration(settings.lookback_days, "day")),
        "header_day": plan(bucket_start(range_end, "day"), range_end, "P1D", ""),
    }


@dataclass
class ValidateConfigAndPlanWindows(ConfigTransformation):
    """Validates the config, fills in the spec's defaults (the manifest reads every setting
    without a fallback of its own) and adds the window bounds under `_sync_windows` (not
    persisted: the CDK applies config transformations in memory at the start of every run)."""

    parameters: InitVar[Mapping[str, Any] | None] = None

    def __post_init__(self, parameters: Mapping[str, Any] | None) -> None:
        pass

    def transform(self, config: MutableMapping[str, Any], now: dt.datetime | None = None) -> None:
        now = now or dt.datetime.now(dt.UTC)
        settings = SyncSettings.from_config(config, today=account_today(config, now))
        config.update(with_defaults(config))
        config["base_url"] = settings.base_url  # without a trailing slash, as url_base wants
        config[SYNC_WINDOWS_KEY] = plan_windows(settings, now)
