"""A connection whose settings change between syncs, through the command against the emulator.

Each setting change is two syncs: the first with the old setting, the second with the new
one and the first one's final state. The union of their rows, merged by primary key as an
append-dedup destination merges them, must equal the emulator's ground truth row for row:
the first sync's range under the old setting, plus the second sync's range (its cursor's
bucket minus the lookback, to the end) under the new one. A partial bucket would differ from
its ground-truth row; a row off by an offset would have a key the truth lacks.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest

from moor7_emulator import Emulator, ground_truth

from .conftest import Cli, committed_catalog, emulator_config
from .reliability_checks import STREAMS, assert_is_the_apis_row, assert_the_apis_keys, primary_key, union_of_records

UTC = dt.UTC
Truth = dict[str, dict[tuple, Mapping[str, Any]]]


def _read(cli: Cli, config: dict, catalog: dict | None = None, state: list | None = None):
    result = cli.run("read", config, catalog or committed_catalog(), state)
    assert result.exit_code == 0, result.errors()
    assert not result.errors(), result.errors()
    for stream in STREAMS:
        keys = [primary_key(stream, r) for r in result.records(stream)]
        duplicates = [k for k, n in collections.Counter(keys).items() if n > 1]
        assert not duplicates, f"{stream}: one read emitted a key twice: {duplicates[:3]}"
    return result


def _merge(*truths: Truth) -> Truth:
    merged: Truth = {stream: {} for stream in STREAMS}
    for truth in truths:
        for stream in STREAMS:
            merged[stream].update(truth[stream])
    return merged


def _from(truth: Truth, stream: str, first_period: str) -> Truth:
    """`truth` with the rows of `stream` before `first_period` left out."""
    cut = dt.datetime.fromisoformat(first_period)
    return {
        s: ({k: v for k, v in rows.items() if dt.datetime.fromisoformat(k[1]) >= cut} if s == stream else rows)
        for s, rows in truth.items()
    }


def assert_union_is_the_ground_truth(runs: list[Any], truth: Truth) -> None:
    union = union_of_records([run.messages for run in runs])
    for stream in STREAMS:
        got = set(union[stream])
        assert_the_apis_keys(stream, got, truth[stream])
        for key, record in union[stream].items():
            assert_is_the_apis_row(stream, record, truth[stream][key])  # a partial bucket would differ


def _final_cursors(result) -> dict[str, str]:
    return {s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"]["period_start"] for s in result.final_states()}


@pytest.mark.parametrize(
    ("old", "new", "first_start", "session_from"),
    [
        # the old cursor (2024-01-19 23:00) floored to its day, minus one lookback day
        ("hour", "day", "2024-01-15", "2024-01-18T00:00:00+08:00"),
        # 23:30 floored to 23:00, minus one day
        ("half_hour", "hour", "2024-01-17", "2024-01-18T23:00:00+08:00"),
        # 2024-01-19 floored to January, minus one lookback month (whole buckets): December
        ("day", "month", "2023-12-10", "2023-12-01T00:00:00+08:00"),
    ],
    ids=["hour->day", "half_hour->hour", "day->month"],
)
def test_a_dimension_change_rereads_whole_buckets_and_the_union_is_the_apis_rows(
    cli: Cli, emulator: Emulator, old: str, new: str, first_start: str, session_from: str
) -> None:
    account = emulator.account
    first_config = emulator_config(emulator, start_date=first_start, end_date="2024-01-19", dimension=old, lookback_days=1)
    first = _read(cli, first_config)
    emulator.clear_log()
    second = _read(cli, {**first_config, "dimension": new, "end_date": "2024-01-31"}, state=first.final_states())

    windows = sorted(r.window for r in emulator.requests_for("session_time"))
    assert windows[0][0] == session_from[:19].replace("T", " "), (
        "the first window starts on a bucket boundary of the new dimension"
    )
    assert {r["dimension"] for r in second.records("session_time")} == {new}
    # The agent streams keep their day cursor: 2024-01-19 minus the lookback day.
    resumed = ground_truth(account, "2023-12-01", "2024-01-31", new)
    resumed = _from(_from(resumed, "session_time", session_from), "agent_workload", "2024-01-18T00:00:00+08:00")
    resumed = _from(resumed, "agent_quality", "2024-01-18T00:00:00+08:00")
    truth = _merge(ground_truth(account, first_start, "2024-01-19", old), resumed)
    assert_union_is_the_ground_truth([first, second], truth)
    # The old dimension's rows keep their own keys (dimension is in the key); the log says
    # that the cursor was moved back to a bucket start of the new dimension.
    assert any("session_time: the saved cursor" in m["log"]["message"] for m in second.of_type("LOG"))


def test_a_time_zone_change_converts_the_state_and_the_next_rows_carry_the_new_offset(cli: Cli, emulator: Emulator) -> None:
    account = emulator.account
    first_config = emulator_config(emulator, start_date="2024-01-10", end_date="2024-01-20", timezone="UTC")
    first = _read(cli, first_config)
    assert set(_final_cursors(first).values()) == {"2024-01-20T00:00:00+0000"}
    emulator.clear_log()
    second = _read(cli, {**first_config, "timezone": "Asia/Shanghai", "end_date": "2024-01-31"}, state=first.final_states())

    # 2024-01-20 00:00 UTC is 08:00 in Shanghai: floored to that day, minus one lookback day.
    assert min(r.window[0] for r in emulator.requests_for("agent_workload")) == "2024-01-19 00:00:00"
    assert all(r["period_start"].endswith("+08:00") for s in STREAMS for r in second.records(s))
    assert set(_final_cursors(second).values()) == {"2024-01-31T00:00:00+0800"}
    truth = _merge(
        ground_truth(account, "2024-01-10", "2024-01-20", "day", zone=UTC),
        ground_truth(account, "2024-01-19", "2024-01-31", "day"),
    )
    assert_union_is_the_ground_truth([first, second], truth)


def test_a_full_refresh_with_a_state_reads_from_start_date_and_emits_its_final_state(cli: Cli, emulator: Emulator) -> None:
    config = emulator_config(emulator, start_date="2024-01-01", end_date="2024-01-31")
    catalog = committed_catalog()
    for stream in catalog["streams"]:
        stream.update(sync_mode="full_refresh", destination_sync_mode="overwrite")
    state = [
        {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": s}, "stream_state": {"period_start": "2024-01-20T00:00:00+0800"}},
        }
        for s in STREAMS
    ]
    result = _read(cli, config, catalog, state)
    assert_union_is_the_ground_truth([result], ground_truth(emulator.account, "2024-01-01", "2024-01-31", "day"))
    assert _final_cursors(result) == dict.fromkeys(STREAMS, "2024-01-31T00:00:00+0800")


@pytest.mark.parametrize(
    "saved",
    ["2024-01-20", "2024-01-20T00:00:00.000+08:00", "2024-01-19T16:00:00Z", 1705680000, "2024-01-20T10:15:00+0800"],
    ids=["date alone", "milliseconds", "Z", "epoch seconds", "inside the day"],
)
def test_a_state_in_any_accepted_form_resumes_at_its_local_day(cli: Cli, emulator: Emulator, saved: Any) -> None:
    config = emulator_config(emulator, start_date="2024-01-01", end_date="2024-01-25", lookback_days=1)
    state = [
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": s}, "stream_state": {"period_start": saved}}} for s in STREAMS
    ]
    result = _read(cli, config, state=state)
    assert min(r.window[0] for r in emulator.requests_for("agent_quality")) == "2024-01-19 00:00:00"
    assert_union_is_the_ground_truth([result], ground_truth(emulator.account, "2024-01-19", "2024-01-25", "day"))
    assert set(_final_cursors(result).values()) == {"2024-01-25T00:00:00+0800"}


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (
            [
                {
                    "type": "STREAM",
                    "stream": {"stream_descriptor": {"name": "agent_quality"}, "stream_state": {"period_start": "yesterday"}},
                }
            ],
            ["stream agent_quality", "'yesterday'", "2024-01-20T00:00:00+08:00"],
        ),
        ({"agent_quality": {"period_start": "2024-01-20"}}, ["legacy state object", '"type": "STREAM"']),
    ],
    ids=["unreadable cursor", "legacy dict state"],
)
def test_an_unreadable_state_is_a_config_error_before_any_report_request(
    cli: Cli, emulator: Emulator, state: Any, expected: list[str]
) -> None:
    result = cli.run("read", emulator_config(emulator), committed_catalog(), state)
    assert result.exit_code != 0
    assert result.records() == []
    (error, *_) = result.errors()
    assert error["failure_type"] == "config_error"
    for part in expected:
        assert part in error["message"], error["message"]
    assert [r for r in emulator.log if r.stream] == []


def test_report_date_is_the_local_day_of_every_row_and_typed_as_a_date(cli: Cli, emulator: Emulator) -> None:
    config = emulator_config(emulator, start_date="2024-05-20", end_date="2024-07-02", dimension="month")
    (catalog,) = cli.run("discover", config).of_type("CATALOG")
    schemas = {s["name"]: s["json_schema"] for s in catalog["catalog"]["streams"]}
    for stream in STREAMS:
        assert schemas[stream]["properties"]["report_date"]["format"] == "date"
        assert "null" not in schemas[stream]["properties"]["report_date"]["type"]
    assert schemas["agent_workload"]["properties"]["agentId"]["type"] == "string"
    result = _read(cli, config)
    truth = ground_truth(emulator.account, "2024-05-20", "2024-07-02", "month")
    assert_union_is_the_ground_truth([result], truth)
    assert sorted({r["report_date"] for r in result.records("session_time")}) == ["2024-05-01", "2024-06-01", "2024-07-01"]
    assert {r["report_date"] for r in result.records("agent_quality")} == {
        (dt.date(2024, 5, 20) + dt.timedelta(days=n)).isoformat() for n in range(44)
    }
