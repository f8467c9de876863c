"""A local stand-in for 7moor's IM report API (not part of the connector's runtime).

    python -m moor7_emulator --port 8765          # from integration_tests/

or in-process: `with Emulator(faults=Faults(...)) as api: api.url`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from . import account as model
from .account import Account
from .server import FAULT_KINDS, Emulator, Faults, LoggedRequest, sign

__all__ = ["FAULT_KINDS", "Account", "Emulator", "Faults", "LoggedRequest", "ground_truth", "sign"]

SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")


def ground_truth(
    account: Account,
    start_date: str,
    end_date: str,
    dimension: str = "day",
    access_ids: list | None = None,
    agent_ids: list | None = None,
    zone: dt.tzinfo = SHANGHAI,
) -> dict[str, dict[tuple[str, str], Mapping[str, Any]]]:
    """What a full sync of [start_date, end_date] must return, keyed by primary key, with the
    API's row as value. Computed one bucket (session) or one day (agents) at a time, which
    the account's window-independent figures make equal to any correct windowing. `zone` is
    the connector's configured time zone: the API answers in wall-clock time whatever it is,
    so only the offset in `period_start` changes."""
    first = dt.datetime.fromisoformat(start_date)
    last = dt.datetime.fromisoformat(end_date).replace(hour=23, minute=59, second=59)
    truth: dict[str, dict[tuple[str, str], Mapping[str, Any]]] = {"session_time": {}, "agent_workload": {}, "agent_quality": {}}

    bucket = model.bucket_start(first, dimension)
    range_end = last
    if dimension in ("month", "year"):
        range_end = model._next_bucket(model.bucket_start(last, dimension), dimension) - dt.timedelta(seconds=1)
    while bucket <= range_end:
        bucket_end = min(model._next_bucket(bucket, dimension) - dt.timedelta(seconds=1), range_end)
        for row in model.session_rows(account, bucket, bucket_end, dimension, access_ids):  # none for a bucket left out
            truth["session_time"][(dimension, bucket.replace(tzinfo=zone).isoformat())] = row
        bucket = model._next_bucket(bucket, dimension)

    day = first
    while day <= last:
        day_end = day.replace(hour=23, minute=59, second=59)
        period = day.replace(tzinfo=zone).isoformat()
        for row in model.workload_rows(account, day, day_end, agent_ids):
            truth["agent_workload"][(row["agentId"], period)] = row
        for row in model.quality_rows(account, day, day_end, agent_ids):
            truth["agent_quality"][(row["agentId"], period)] = row
        day += dt.timedelta(days=1)
    return truth
