"""What every reliability test checks of a read's output, whatever the faults."""

from __future__ import annotations

import collections
import datetime as dt
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from source_moor7_im.settings import report_table

REPORTS = report_table()
STREAMS = tuple(REPORTS)
STATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


def primary_key(stream: str, record: Mapping[str, Any]) -> Tuple[str, str]:
    (first,), (second,) = REPORTS[stream]["primary_key"]
    return (record[first], record[second])


def cursor_of(state: Mapping[str, Any]) -> dt.datetime:
    return dt.datetime.strptime(state["stream"]["stream_state"]["period_start"], STATE_FORMAT)


def assert_state_never_passes_unemitted_records(
    messages: Iterable[Mapping[str, Any]],
    truth: Mapping[str, Mapping[Tuple[str, str], Any]],
    delivered_before: Optional[Mapping[str, Iterable[Tuple[str, str]]]] = None,
) -> int:
    """Walk the output in order: when a state says `period_start = C` for a stream, every
    row the API holds at or before C for that stream must already have been delivered, by
    this read or by the earlier reads whose state it resumed from (`delivered_before`).
    Also: no primary key is emitted twice in one read. Returns how many states were checked."""
    emitted: Dict[str, set] = collections.defaultdict(set)
    delivered: Dict[str, set] = collections.defaultdict(set)
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


def union_of_records(runs: List[List[Mapping[str, Any]]]) -> Dict[str, Dict[Tuple[str, str], Mapping[str, Any]]]:
    """The records of several reads merged by primary key, as an append-dedup destination would."""
    merged: Dict[str, Dict[Tuple[str, str], Mapping[str, Any]]] = {stream: {} for stream in STREAMS}
    for messages in runs:
        for message in messages:
            if message["type"] == "RECORD" and _report_stream(message) in STREAMS:
                stream = message["record"]["stream"]
                merged[stream][primary_key(stream, message["record"]["data"])] = message["record"]["data"]
    return merged


def _report_stream(message: Mapping[str, Any]) -> Optional[str]:
    """The stream of a RECORD or STATE message (None for other messages)."""
    if message["type"] == "RECORD":
        return message["record"]["stream"]
    if message["type"] == "STATE":
        return message["state"]["stream"]["stream_descriptor"]["name"]
    return None
