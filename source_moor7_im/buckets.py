"""Report buckets in account-local wall-clock time: where one starts and where the next does.
The window plan, the state migration, the bucket count and the config's daylight-saving
check all read them from here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

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


def bucket_start(moment: dt.datetime, dimension: str) -> dt.datetime:
    """The start of the report bucket that contains `moment` (naive, account-local)."""
    if dimension not in _BUCKET_FLOOR:
        raise ValueError(f"unknown dimension {dimension!r}")
    start = moment.replace(second=0, microsecond=0, **_BUCKET_FLOOR[dimension])
    return start.replace(minute=start.minute // 30 * 30) if dimension == "half_hour" else start


def next_bucket_start(moment: dt.datetime, dimension: str) -> dt.datetime:
    """The start of the bucket after the one that contains `moment`."""
    start = bucket_start(moment, dimension)
    if dimension in FIXED_BUCKETS:
        return start + FIXED_BUCKETS[dimension]
    month = start.year * 12 + start.month - 1 + (12 if dimension == "year" else 1)
    return start.replace(year=month // 12, month=month % 12 + 1)
