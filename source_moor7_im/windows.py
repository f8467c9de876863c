"""Where the `createTime` windows start and end, in the account's calendar.

The manifest's `DatetimeBasedCursor` (the CDK's concurrent cursor) cuts the windows, keeps
the state and applies the lookback; it steps by a fixed ISO 8601 duration from a start
datetime. What it cannot work out is the calendar around that: a `month` or `year` report
must start on a bucket boundary so that no bucket is split between two requests, and a
lookback must go back whole buckets. This module computes those bounds once per run and
`ValidateConfigAndPlanWindows` puts them in the config, where the manifest reads them.

Why the steps are safe:
- Every window starts on a bucket boundary: the range start is floored to one, the state
  cursor is a record's `period_start` (a bucket start), the lookback is a whole number of
  buckets (days for day-or-finer reports), and a boundary plus whole days, months or years
  is a boundary again.
- A window is `[start, start + step - 1 s]`, so with step P1Y it ends before start plus one
  calendar year: under the API's one-year limit.
- The CDK starts each window one `cursor_granularity` (1 s) after the previous end: no
  overlap, no gap.
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

from .settings import SyncSettings, account_today, manifest, with_defaults

ONE_SECOND = dt.timedelta(seconds=1)
# The cursor's field and format, as the manifest's cursor keeps them in the state.
CURSOR_FIELD: str = manifest()["definitions"]["cursor_base"]["cursor_field"]
CURSOR_FORMAT: str = manifest()["definitions"]["cursor_base"]["datetime_format"]


def parse_cursor(text: str) -> dt.datetime:
    """A cursor-format value (a state's cursor, a slice bound) as an aware datetime."""
    return dt.datetime.strptime(text, CURSOR_FORMAT)  # noqa: DTZ007 - the format ends in %z


# The derived bounds live under this config key; the manifest reads them from there.
SYNC_WINDOWS_KEY = "_sync_windows"


def bucket_start(moment: dt.datetime, dimension: str) -> dt.datetime:
    """The start of the report bucket that contains `moment` (naive, account-local)."""
    moment = moment.replace(second=0, microsecond=0)
    if dimension == "half_hour":
        return moment.replace(minute=0 if moment.minute < 30 else 30)
    moment = moment.replace(minute=0)
    if dimension == "hour":
        return moment
    moment = moment.replace(hour=0)
    if dimension == "day":
        return moment
    moment = moment.replace(day=1)
    if dimension == "month":
        return moment
    if dimension == "year":
        return moment.replace(month=1)
    raise ValueError(f"unknown dimension {dimension!r}")


def next_bucket_start(moment: dt.datetime, dimension: str) -> dt.datetime:
    """The start of the bucket after the one that contains `moment`."""
    start = bucket_start(moment, dimension)
    if dimension == "half_hour":
        return start + dt.timedelta(minutes=30)
    if dimension == "hour":
        return start + dt.timedelta(hours=1)
    if dimension == "day":
        return start + dt.timedelta(days=1)
    if dimension == "month":
        return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start.replace(year=start.year + 1)


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


@dataclass(frozen=True)
class WindowPlan:
    """The bounds one stream's cursor works within (aware datetimes, end inclusive)."""

    start: dt.datetime
    end: dt.datetime
    step: str
    lookback: str

    def as_config(self) -> Mapping[str, str]:
        return {
            "start": self.start.strftime(CURSOR_FORMAT),
            "end": self.end.strftime(CURSOR_FORMAT),
            "step": self.step,
            "lookback": self.lookback,
        }


def plan_windows(settings: SyncSettings, now: dt.datetime) -> Mapping[str, WindowPlan]:
    """The window plans by report bucket (the stream table's `bucket`): `dimension` for a
    report of the session dimension's buckets, `day` for one that sums over its whole window,
    so one account-local day per request."""
    zone = settings.timezone
    now_local = now.astimezone(zone).replace(microsecond=0, tzinfo=None)
    first_day = dt.datetime.combine(settings.start_date, dt.time())
    if settings.end_date is None:
        range_end = now_local
    else:
        range_end = min(dt.datetime.combine(settings.end_date, dt.time(23, 59, 59)), now_local)

    session_start = bucket_start(first_day, settings.dimension)
    session_end = range_end
    if settings.end_date is not None and settings.dimension in ("month", "year"):
        # A fixed end date inside a month or year bucket would leave that bucket partial
        # forever (no later sync re-reads it); read the whole bucket, up to now at most.
        session_end = min(next_bucket_start(range_end, settings.dimension) - ONE_SECOND, now_local)

    def aware(moment: dt.datetime) -> dt.datetime:
        return moment.replace(tzinfo=zone)

    return {
        "dimension": WindowPlan(
            start=aware(session_start),
            end=aware(session_end),
            step="P1Y",
            lookback=lookback_duration(settings.lookback_days, settings.dimension),
        ),
        "day": WindowPlan(
            start=aware(first_day),
            end=aware(range_end),
            step="P1D",
            lookback=lookback_duration(settings.lookback_days, "day"),
        ),
        # report_columns: one request per report for the last day of the range; the header
        # comes back even when that day has no rows.
        "header_day": WindowPlan(
            start=aware(bucket_start(range_end, "day")),
            end=aware(range_end),
            step="P1D",
            lookback="",
        ),
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
        config[SYNC_WINDOWS_KEY] = {name: plan.as_config() for name, plan in plan_windows(settings, now).items()}
