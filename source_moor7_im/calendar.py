"""The account's calendar: report buckets, the cursor, and the `createTime` windows.

The manifest's cursor steps by a fixed ISO 8601 duration and cannot align its windows to the
buckets (account-local wall-clock time), so `ValidateConfigAndPlanWindows` plans their bounds
once per run: each window is `[start, start + step - 1 s]` from a bucket boundary and the next
starts 1 s later: no bucket split, overlap or gap, under the API's one-year limit.
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
FIXED_BUCKETS = {"half_hour": dt.timedelta(minutes=30), "hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}
# The session report's window by dimension: at most 1,488 sub-day buckets (about 0.7 MB from
# the emulator), so that a reply arrives within its attempt's deadline over a slow link.
SESSION_WINDOW_STEPS = {"half_hour": "P1M", "hour": "P2M", "day": "P1Y", "month": "P1Y", "year": "P1Y"}
# The config key the manifest reads the planned bounds from.
SYNC_WINDOWS_KEY = "_sync_windows"


def bucket_start(moment: dt.datetime, dimension: str) -> dt.datetime:
    """The start of the bucket that holds `moment` (naive, account-local), with its `fold`."""
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if dimension in FIXED_BUCKETS:
        return (midnight + (moment - midnight) // FIXED_BUCKETS[dimension] * FIXED_BUCKETS[dimension]).replace(fold=moment.fold)
    return midnight.replace(day=1, month=1 if dimension == "year" else midnight.month)


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
    """How many `dimension` buckets start in [start, end] (cursor-format), in local wall-clock time."""
    first = bucket_start(parse_cursor(start).replace(tzinfo=None), dimension)
    last = parse_cursor(end).replace(tzinfo=None)
    if dimension in FIXED_BUCKETS:
        return (last - first) // FIXED_BUCKETS[dimension] + 1
    months = (last.year - first.year) * 12 + last.month - first.month
    return max(0, months // (12 if dimension == "year" else 1) + 1)


def lookback_duration(lookback_days: int, dimension: str) -> str:
    """The ISO 8601 lookback of at least `lookback_days` in whole buckets (a month as 28 days, a year as 365)."""
    days, unit = {"month": (28, "M"), "year": (365, "Y")}.get(dimension, (1, "D"))
    return f"P{math.ceil(lookback_days / days)}{unit}" if lookback_days > 0 else ""


def plan_windows(sync: settings.SyncSettings, now: dt.datetime) -> Mapping[str, Mapping[str, str]]:
    """The window plans (start, end inclusive, step, lookback) by the stream table's `bucket` (docs/design/windows.md)."""
    now_local = now.astimezone(sync.timezone).replace(microsecond=0, tzinfo=None)
    first_day = dt.datetime.combine(sync.start_date, dt.time())
    range_end = now_local if sync.end_date is None else min(dt.datetime.combine(sync.end_date, dt.time(23, 59, 59)), now_local)
    # The last session bucket is read whole, up to now: a month or year cut at a fixed end date
    # would stay partial forever (no later sync re-reads it); a finer one ends at range_end.
    session_end = min(next_bucket_start(range_end, sync.dimension) - ONE_SECOND, now_local)

    def plan(start: dt.datetime, end: dt.datetime, step: str, lookback: str) -> Mapping[str, str]:
        start_text, end_text = (moment.replace(tzinfo=sync.timezone).strftime(cursor_format()) for moment in (start, end))
        return {"start": start_text, "end": end_text, "step": step, "lookback": lookback}

    lookback = lookback_duration(sync.lookback_days, sync.dimension)
    return {
        "dimension": plan(bucket_start(first_day, sync.dimension), session_end, SESSION_WINDOW_STEPS[sync.dimension], lookback),
        "day": plan(first_day, range_end, "P1D", lookback_duration(sync.lookback_days, "day")),
        "header_day": plan(bucket_start(range_end, "day"), range_end, "P1D", ""),
    }


@dataclass
class ValidateConfigAndPlanWindows(ConfigTransformation):
    """Checks the config (settings.py), fills in the spec's defaults (the manifest has no fallbacks),
    drops base_url's trailing slash (as url_base wants) and adds the window bounds, in memory."""

    parameters: InitVar[Mapping[str, Any] | None] = None

    def transform(self, config: MutableMapping[str, Any], now: dt.datetime | None = None) -> None:
        now = now or dt.datetime.now(dt.UTC)
        sync = settings.SyncSettings.from_config(config, now)
        config.update({**settings.with_defaults(config), "base_url": sync.base_url, SYNC_WINDOWS_KEY: plan_windows(sync, now)})
