"""A state round trip: the second sync, from the state the first emitted, asks only for the tail."""

from __future__ import annotations

import logging

from freezegun import freeze_time

from airbyte_cdk.models import AirbyteStateMessage, AirbyteStateType, AirbyteStreamState, StreamDescriptor
from airbyte_cdk.test.mock_http import HttpMocker

from .builders import ConfigBuilder, ReportRequestBuilder, ReportResponseBuilder, catalog
from .conftest import read


def _workload_day(http_mocker: HttpMocker, day: str, agents: int) -> None:
    http_mocker.post(
        ReportRequestBuilder.for_stream("agent_workload").with_day(day).build(),
        ReportResponseBuilder.report().with_rows([{"agentId": f"agent{n}[{n}]", "initCount": n} for n in range(agents)]).build(),
    )


def test_second_sync_from_the_emitted_state_requests_only_the_tail() -> None:
    config = ConfigBuilder().with_start_date("2024-08-01").with_end_date(None).with_values(lookback_days=1).build()

    with freeze_time("2024-08-03 04:00:00"), HttpMocker() as http_mocker:  # 12:00 in Shanghai
        for day in ("2024-08-01", "2024-08-02"):
            _workload_day(http_mocker, day, 2)
        http_mocker.post(
            ReportRequestBuilder.for_stream("agent_workload")
            .with_create_time("2024-08-03 00:00:00", "2024-08-03 12:00:00")
            .build(),
            ReportResponseBuilder.report().with_rows([{"agentId": "agent0[0]", "initCount": 1}]).build(),
        )
        first = read(config, catalog("agent_workload"))
    assert len(first.records) == 5
    state = first.most_recent_state
    assert state.stream_descriptor.name == "agent_workload"
    assert state.stream_state.__dict__ == {"period_start": "2024-08-03T00:00:00+0800"}

    # Two days later: the tail is the cursor's day minus one lookback day, up to now.
    with freeze_time("2024-08-05 04:00:00"), HttpMocker() as http_mocker:
        for day in ("2024-08-02", "2024-08-03", "2024-08-04"):
            _workload_day(http_mocker, day, 1)
        http_mocker.post(
            ReportRequestBuilder.for_stream("agent_workload")
            .with_create_time("2024-08-05 00:00:00", "2024-08-05 12:00:00")
            .build(),
            ReportResponseBuilder.report().with_rows([]).build(),
        )
        second = read(
            config,
            catalog("agent_workload"),
            [
                AirbyteStateMessage(
                    type=AirbyteStateType.STREAM,
                    stream=AirbyteStreamState(
                        stream_descriptor=StreamDescriptor(name="agent_workload"), stream_state=state.stream_state
                    ),
                )
            ],
        )
    # HttpMocker fails the test if a window before 2024-08-02 is asked for, or one above is not.
    assert sorted(m.record.data["period_start"] for m in second.records) == [
        "2024-08-02T00:00:00+08:00",
        "2024-08-03T00:00:00+08:00",
        "2024-08-04T00:00:00+08:00",
    ]
    assert second.most_recent_state.stream_state.__dict__ == {"period_start": "2024-08-04T00:00:00+0800"}


def test_state_is_checkpointed_after_every_window() -> None:
    config = (
        ConfigBuilder().with_start_date("2024-08-01").with_end_date("2024-08-04").with_values(max_concurrent_requests=1).build()
    )
    with freeze_time("2024-09-01"), HttpMocker() as http_mocker:
        for day in ("2024-08-01", "2024-08-02", "2024-08-03", "2024-08-04"):
            _workload_day(http_mocker, day, 1)
        output = read(config, catalog("agent_workload"))
    cursors = [m.state.stream.stream_state.__dict__.get("period_start") for m in output.state_messages]
    for day in ("2024-08-01", "2024-08-02", "2024-08-03", "2024-08-04"):
        assert f"{day}T00:00:00+0800" in cursors, f"no checkpoint after the window of {day}: {cursors}"


# --- a saved cursor under changed settings, in the forms a person or an older state holds ---

import datetime as dt  # noqa: E402
import json  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

import pytest  # noqa: E402

from airbyte_cdk.models import AirbyteStateBlob, SyncMode  # noqa: E402

from source_moor7_im import SourceMoor7Im  # noqa: E402
from source_moor7_im.hardening.declarative import without_full_refresh_states  # noqa: E402
from source_moor7_im.hardening.messages import MAX_QUOTE_BYTES, ConfigError  # noqa: E402
from source_moor7_im.settings import with_defaults  # noqa: E402
from source_moor7_im.state import NormaliseCursorState, normalised_cursor, parse_cursor_value  # noqa: E402

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _stream_state(stream: str, value) -> AirbyteStateMessage:
    return AirbyteStateMessage(
        type=AirbyteStateType.STREAM,
        stream=AirbyteStreamState(
            stream_descriptor=StreamDescriptor(name=stream), stream_state=AirbyteStateBlob(period_start=value)
        ),
    )


@pytest.mark.parametrize(
    ("value", "instant_utc"),
    [
        ("2024-01-20T00:00:00+0800", "2024-01-19T16:00:00"),
        ("2024-01-20T00:00:00+08:00", "2024-01-19T16:00:00"),
        ("2024-01-20T00:00:00Z", "2024-01-20T00:00:00"),
        ("2024-01-20T00:00:00.000Z", "2024-01-20T00:00:00"),
        ("2024-01-20T00:00:00.123+08:00", "2024-01-19T16:00:00.123000"),
        ("2024-01-20", "2024-01-19T16:00:00"),  # a date alone: local midnight
        ("2024-01-20 00:00:00", "2024-01-19T16:00:00"),  # no offset: local wall-clock time
        (1705680000, "2024-01-19T16:00:00"),  # epoch seconds
        ("1705680000", "2024-01-19T16:00:00"),
        ("1705680000000", "2024-01-19T16:00:00"),  # epoch milliseconds
    ],
)
def test_every_accepted_form_of_the_cursor_reads_as_one_instant(value, instant_utc: str) -> None:
    moment = parse_cursor_value(value, SHANGHAI)
    assert moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat() == instant_utc


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2024-13-01",
        "2024-01-20T25:00",
        "20240120T1",  # a date with trailing characters is no date
        "2024W031T1",
        "170568000",
        "١٧٠٥٦٨٠٠٠٠",  # epoch seconds in Arabic-Indic digits: no number of 7moor's
        "",
        None,
        True,
        {"a": 1},
        1.5,
        "0001-01-01T00:00:00+08:00",  # the ends of the calendar, which no zone can shift
        "9999-12-31T23:00:00-08:00",
    ],
)
def test_a_cursor_in_no_accepted_form_is_a_config_error_naming_stream_value_and_format(value) -> None:
    with pytest.raises(ConfigError) as raised:
        normalised_cursor("agent_quality", value, SHANGHAI, "day")
    message = raised.value.message
    assert "stream agent_quality" in message
    assert repr(value) in message
    assert "2024-01-20T00:00:00+08:00" in message
    assert "epoch seconds" in message


@pytest.mark.parametrize(
    ("saved", "dimension", "expected"),
    [
        ("2024-01-19T21:00:00+0800", "day", "2024-01-19T00:00:00+0800"),  # hour -> day
        ("2024-01-19T21:30:00+0800", "hour", "2024-01-19T21:00:00+0800"),  # half_hour -> hour
        ("2024-01-20T00:00:00+0800", "month", "2024-01-01T00:00:00+0800"),  # day -> month
        ("2024-03-20T00:00:00+0800", "year", "2024-01-01T00:00:00+0800"),  # day -> year
        ("2024-01-19T21:00:00+0800", "hour", "2024-01-19T21:00:00+0800"),  # unchanged: kept
        ("2024-01-31T00:00:00+0000", "day", "2024-01-31T00:00:00+0800"),  # UTC state: 08:00 local, that day
        ("2024-01-30T20:00:00+0000", "day", "2024-01-31T00:00:00+0800"),  # 04:00 local the next day
    ],
)
def test_the_cursor_is_converted_to_the_configured_zone_and_floored_to_its_bucket(
    saved: str, dimension: str, expected: str
) -> None:
    assert normalised_cursor("session_time", saved, SHANGHAI, dimension) == expected


def test_a_cursor_after_today_reads_nothing_and_says_so(caplog) -> None:
    now = dt.datetime(2024, 9, 10, 12, tzinfo=dt.UTC)
    with caplog.at_level(logging.WARNING):
        assert normalised_cursor("agent_quality", "2099-01-01", SHANGHAI, "day", now=now) == "2099-01-01T00:00:00+0800"
    assert "agent_quality: the saved cursor 2099-01-01 is after today (2024-09-10 in Asia/Shanghai)" in caplog.text


def test_the_migration_logs_when_it_moves_the_cursor_and_keeps_a_boundary_silently(caplog) -> None:
    migration = NormaliseCursorState(
        config=with_defaults({"dimension": "day"}), parameters={"name": "session_time", "bucket": "dimension"}
    )
    with caplog.at_level(logging.WARNING):
        assert migration.migrate({"period_start": "2024-01-20T00:00:00+08:00"}) == {"period_start": "2024-01-20T00:00:00+0800"}
    assert caplog.text == ""
    with caplog.at_level(logging.WARNING):
        assert migration.migrate({"period_start": "2024-01-19T21:00:00+0800"}) == {"period_start": "2024-01-19T00:00:00+0800"}
    assert "session_time" in caplog.text
    assert "2024-01-19T21:00:00+0800" in caplog.text
    assert "keep their own keys" in caplog.text


@pytest.mark.parametrize("saved", ["2018-02-17T23:30:00-0300", "2018-02-17T23:30:00-0200"])
def test_a_bucket_start_in_an_hour_the_zone_repeats_is_kept_silently(caplog, saved: str) -> None:
    # Sao Paulo left daylight saving time in 2019, so a 2020 start passes the one-offset check; its
    # 2018-02-17 23:00-23:59 came twice (-0200, then -0300). A saved bucket start in that hour is kept
    # as it is, so no WARN says it moved: an aware datetime in a repeated hour never equals one in
    # another zone, so the comparison must be of instants.
    config = with_defaults({"dimension": "half_hour", "timezone": "America/Sao_Paulo"})
    migration = NormaliseCursorState(config=config, parameters={"name": "session_time", "bucket": "dimension"})
    with caplog.at_level(logging.WARNING):
        assert migration.migrate({"period_start": saved}) == {"period_start": saved}
    assert caplog.text == ""


def test_a_stream_state_without_period_start_is_a_config_error() -> None:
    migration = NormaliseCursorState(config=with_defaults({}), parameters={"name": "agent_workload", "bucket": "day"})
    assert migration.should_migrate({}) is False
    with pytest.raises(ConfigError, match=r"stream agent_workload.*without a period_start"):
        migration.migrate({"start_time": "2024-01-20"})


def test_an_hour_cursor_under_day_rereads_whole_days_from_the_lookback() -> None:
    config = (
        ConfigBuilder()
        .with_start_date("2024-08-01")
        .with_end_date("2024-08-04")
        .with_values(dimension="day", lookback_days=1)
        .build()
    )
    with freeze_time("2024-09-01"), HttpMocker() as http_mocker:
        # HttpMocker fails the test unless exactly this window (whole days) is asked for.
        http_mocker.post(
            ReportRequestBuilder.for_stream("session_time")
            .with_create_time("2024-08-02 00:00:00", "2024-08-04 23:59:59")
            .with_dimension("day")
            .build(),
            ReportResponseBuilder.report()
            .with_row(time="2024-08-02", initCount=1)
            .with_row(time="2024-08-03", initCount=2)
            .with_row(time="2024-08-04", initCount=3)
            .build(),
        )
        output = read(config, catalog("session_time"), [_stream_state("session_time", "2024-08-03T21:00:00+0800")])
    assert [m.record.data["period_start"] for m in output.records] == [
        "2024-08-02T00:00:00+08:00",
        "2024-08-03T00:00:00+08:00",
        "2024-08-04T00:00:00+08:00",
    ]


def test_an_unreadable_state_stops_the_read_with_a_config_error() -> None:
    config = ConfigBuilder().build()
    with freeze_time("2024-09-01"), HttpMocker():
        output = read(
            config, catalog("agent_workload"), [_stream_state("agent_workload", "last tuesday")], expecting_exception=True
        )
    assert output.records == []
    (error, *_) = [e.trace.error for e in output.errors]
    assert error.failure_type.value == "config_error"
    assert "stream agent_workload" in error.message
    assert "'last tuesday'" in error.message


def test_full_refresh_streams_lose_their_incoming_state_and_incremental_ones_keep_it() -> None:
    state = [_stream_state("agent_workload", "2024-08-02"), _stream_state("session_time", "2024-08-02")]
    configured = catalog("agent_workload")
    configured.streams += catalog("session_time", sync_mode=SyncMode.full_refresh).streams
    kept = without_full_refresh_states(state, configured)
    assert [m.stream.stream_descriptor.name for m in kept] == ["agent_workload"]


def test_a_full_refresh_read_with_a_state_reads_from_start_date_and_emits_its_final_state() -> None:
    config = ConfigBuilder().with_start_date("2024-08-01").with_end_date("2024-08-03").build()
    with freeze_time("2024-09-01"), HttpMocker() as http_mocker:
        for day in ("2024-08-01", "2024-08-02", "2024-08-03"):
            _workload_day(http_mocker, day, 2)
        output = read(
            config,
            catalog("agent_workload", sync_mode=SyncMode.full_refresh),
            [_stream_state("agent_workload", "2024-08-03T00:00:00+0800")],
        )
    assert len(output.records) == 6
    assert output.most_recent_state.stream_state.__dict__ == {"period_start": "2024-08-03T00:00:00+0800"}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"agent_workload": {"period_start": "2024-01-20"}}, "legacy state object"),
        (["2024-01-20"], "not an Airbyte state message"),
    ],
)
def test_a_state_file_in_another_shape_is_a_config_error_showing_the_expected_shape(tmp_path, document, expected: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigError) as raised:
        SourceMoor7Im.read_state(str(path))
    assert expected in raised.value.message
    assert '"type": "STREAM"' in raised.value.message


def test_a_state_file_is_quoted_in_at_most_the_bytes_of_any_quote(tmp_path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"agent_workload": {"period_start": "错" * 5000}}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        SourceMoor7Im.read_state(str(path))
    quoted = raised.value.message.split("legacy state object ", 1)[1].split(". --state takes", 1)[0]
    assert quoted.endswith("…")
    assert len(quoted.encode()) <= MAX_QUOTE_BYTES
