"""What every reliability test checks of a read's output, whatever the faults."""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from source_moor7_im.calendar import parse_cursor
from source_moor7_im.settings import report_table

REPORTS = report_table()
STREAMS = tuple(REPORTS)


def primary_key(stream: str, record: Mapping[str, Any]) -> tuple[str, str]:
    (first,), (second,) = REPORTS[stream]["primary_key"]
    return (record[first], record[second])


def cursor_of(state: Mapping[str, Any]) -> dt.datetime:
    return parse_cursor(state["stream"]["stream_state"]["period_start"])


def assert_the_apis_keys(stream: str, got: Iterable[tuple[str, str]], truth: Iterable[tuple[str, str]]) -> None:
    """The primary keys read are exactly the API's: none missing, none extra."""
    got, truth = set(got), set(truth)
    assert got == truth, f"{stream}: missing {sorted(truth - got)[:3]}, extra {sorted(got - truth)[:3]}"


def assert_is_the_apis_row(stream: str, record: Mapping[str, Any], row: Mapping[str, Any]) -> None:
    """`record` is the API's `row` under its ground-truth key, as docs/design/records.md
    promises it: the keys of its nested dicts lifted to the top (the row's own keys win),
    `period_start` and its local day `report_date`; a session row adds its `dimension`, an
    agent row the name and number its `agentId` label ("在线客服[8029]") carries, or None
    for both when it carries no number."""
    first, period = primary_key(stream, record)
    lifted = {key: value for nested in REPORTS[stream]["nested_fields"] for key, value in (row.get(nested) or {}).items()}
    added: dict[str, Any] = {"period_start": period, "report_date": period[:10]}
    if REPORTS[stream]["bucket"] == "dimension":
        added["dimension"] = first
    else:
        label = row["agentId"].strip()
        name, bracket, number = label.removesuffix("]").rpartition("[")
        labelled = bracket and label.endswith("]")  # a robot's label ("机器人助手") has no number
        added.update(agent_name=name.strip() if labelled else None, agent_number=number.strip() if labelled else None)
    # The CDK's serializer omits null values from a record's data: a None is an absent key.
    expected = {key: value for key, value in {**lifted, **row, **added}.items() if value is not None}
    assert dict(record) == expected, f"{stream} {(first, period)}: the record differs from the API's row"


def assert_state_never_passes_unemitted_records(
    messages: Iterable[Mapping[str, Any]],
    truth: Mapping[str, Mapping[tuple[str, str], Any]],
    delivered_before: Mapping[str, Iterable[tuple[str, str]]] | None = None,
) -> int:
    """Walk the output in order: when a state says `period_start = C` for a stream, every
    row the API holds at or before C for that stream must already have been delivered, by
    this read or by the earlier reads whose state it resumed from (`delivered_before`).
    Also: no primary key is emitted twice in one read. Returns how many states were checked."""
    emitted: dict[str, set] = collections.defaultdict(set)
    delivered: dict[str, set] = collections.defaultdict(set)
    for stream, keys in (delivered_before or {}).items():
        delivered[stream].update(keys)
    truth_periods = {
        stream: sorted((dt.datetime.fromisoformat(period), key) for key in rows for period in (key[1],))
        for stream, rows in truth.items()
    }
    checked = 0
    for message in messages:
        if _report_stream(message) not in STREAMS:
            continue  # report_columns has no cursor and its own test
        if message["type"] == "RECORD":
            stream = message["record"]["stream"]
            key = primary_key(stream, message["record"]["data"])
            assert key not in emitted[stream], f"{stream}: {key} emitted twice in one read"
            emitted[stream].add(key)
            delivered[stream].add(key)
        elif message["type"] == "STATE":
            stream = message["state"]["stream"]["stream_descriptor"]["name"]
            cursor = cursor_of(message["state"])
            owed = [key for period, key in truth_periods[stream] if period < cursor]
            missing = [key for key in owed if key not in delivered[stream]]
            assert not missing, f"{stream}: state moved to {cursor} before {missing[:3]} were emitted"
            checked += 1
    return checked


def union_of_records(runs: list[list[Mapping[str, Any]]]) -> dict[str, dict[tuple[str, str], Mapping[str, Any]]]:
    """The records of several reads merged by primary key, as an append-dedup destination would."""
    merged: dict[str, dict[tuple[str, str], Mapping[str, Any]]] = {stream: {} for stream in STREAMS}
    for messages in runs:
        for message in messages:
            if message["type"] == "RECORD" and _report_stream(message) in STREAMS:
                stream = message["record"]["stream"]
                merged[stream][primary_key(stream, message["record"]["data"])] = message["record"]["data"]
    return merged


def _report_stream(message: Mapping[str, Any]) -> str | None:
    """The stream of a RECORD or STATE message (None for other messages)."""
    if message["type"] == "RECORD":
        return message["record"]["stream"]
    if message["type"] == "STATE":
        return message["state"]["stream"]["stream_descriptor"]["name"]
    return None
