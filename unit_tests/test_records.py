"""Record shaping: time labels, period_start, agentId, and lifted nested columns."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from freezegun import freeze_time

from airbyte_cdk.models import FailureType
from airbyte_cdk.test.mock_http import HttpMocker

from source_moor7_im.records import (
    NumberedDpathExtractor,
    NumbersAsTheSchemaTypesThem,
    ReportRowFields,
    ReportRowsExtractor,
    parse_time_label,
    split_agent_label,
)
from source_moor7_im.settings import with_defaults

from .builders import ConfigBuilder, ReportRequestBuilder, ReportResponseBuilder, catalog
from .conftest import read


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("2024", dt.datetime(2024, 1, 1)),
        ("2024-08", dt.datetime(2024, 8, 1)),
        ("2024-08-05", dt.datetime(2024, 8, 5)),
        ("2024-08-05 13", dt.datetime(2024, 8, 5, 13)),
        ("2024-08-05 13:30", dt.datetime(2024, 8, 5, 13, 30)),
        ("2024-08-05 13:30:00", dt.datetime(2024, 8, 5, 13, 30)),
        ("2024-08-05T09:30", dt.datetime(2024, 8, 5, 9, 30)),
        (" 2024-08-05 ", dt.datetime(2024, 8, 5)),
    ],
)
def test_time_labels_of_every_dimension_parse(label: str, expected: dt.datetime) -> None:
    assert parse_time_label(label) == expected


@pytest.mark.parametrize("label", ["13:30-14:00", "2024-13", "2024-02-30", "2024/08/05", "", None, 20240805, "2024-08-05 25"])
def test_labels_that_are_not_dates_are_not_parsed(label) -> None:
    assert parse_time_label(label) is None


@pytest.mark.parametrize(
    ("agent_id", "name", "number"),
    [
        ("在线客服[8029]", "在线客服", "8029"),
        ("6014[6014]", "6014", "6014"),
        ("夜班 客服[8031]", "夜班 客服", "8031"),
        ("a[b][7]", "a[b]", "7"),
        ("机器人助手", None, None),
        ("bracket[open", None, None),
        (None, None, None),
        ("李四[8029] ", "李四", "8029"),
        (" 李四 [ 8029 ]\n", "李四", "8029"),
    ],
)
def test_agent_id_splits_into_name_and_number(agent_id, name, number) -> None:
    assert split_agent_label(agent_id) == (name, number)


def test_nested_columns_are_lifted_and_the_nested_dict_kept() -> None:
    record = {"agentId": "x[1]", "initCount": 3, "everyTimeLength": {"loginTotalTimeLength": 10, "uuid-a": 4, "initCount": 99}}
    fields = ReportRowFields(
        config=with_defaults({}),
        parameters={"name": "a_report", "bucket": "day", "nested_fields": ["everyTimeLength"], "primary_key": [["agentId"]]},
    )
    fields.transform(record, stream_slice={"start_time": "2024-08-05T00:00:00+0800"})  # type: ignore[arg-type]
    assert record["loginTotalTimeLength"] == 10
    assert record["uuid-a"] == 4
    assert record["initCount"] == 3, "a top-level column is never overwritten by a nested key"
    assert record["everyTimeLength"] == {"loginTotalTimeLength": 10, "uuid-a": 4, "initCount": 99}


def test_a_lifted_column_that_is_no_number_is_converted_in_both_places_and_said_once(caplog: pytest.LogCaptureFixture) -> None:
    parameters = {"name": "a_report", "bucket": "day", "nested_fields": ["everyTimeLength"], "primary_key": [["agentId"]]}
    record = {"agentId": "x[1]", "everyTimeLength": {"loginTotalTimeLength": "12", "uuid-a": "n/a"}}
    ReportRowFields(config=with_defaults({}), parameters=parameters).transform(
        record,
        stream_slice={"start_time": "2024-08-05T00:00:00+0800"},  # type: ignore[arg-type]
    )
    nested = {"type": ["null", "object"], "additionalProperties": {"type": ["null", "integer"]}}
    NumbersAsTheSchemaTypesThem(parameters=parameters).transform(record, {"properties": {"everyTimeLength": nested}})
    assert record["everyTimeLength"] == {"loginTotalTimeLength": 12, "uuid-a": "n/a"}
    assert (record["loginTotalTimeLength"], record["uuid-a"]) == (12, "n/a")
    said = [r.getMessage() for r in caplog.records if "which is no number" in r.getMessage()]
    assert len(said) == 1, said
    assert "column everyTimeLength.uuid-a holds n/a, which is no number" in said[0]


@freeze_time("2024-09-10 12:00:00")
def test_session_rows_get_dimension_and_period_start_with_the_utc_offset() -> None:
    with HttpMocker() as http_mocker:
        config = ConfigBuilder().with_values(dimension="hour").build()
        http_mocker.post(
            ReportRequestBuilder.for_stream("session_time")
            .with_create_time("2024-08-01 00:00:00", "2024-08-03 23:59:59")
            .with_dimension("hour")
            .build(),
            ReportResponseBuilder.report()
            .with_row(time="2024-08-01 13", initCount=4)
            .with_row(time="2024-08-01 14", initCount=2)
            .build(),
        )
        records = [m.record.data for m in read(config, catalog("session_time")).records]
        assert [(r["time"], r["dimension"], r["period_start"]) for r in records] == [
            ("2024-08-01 13", "hour", "2024-08-01T13:00:00+08:00"),
            ("2024-08-01 14", "hour", "2024-08-01T14:00:00+08:00"),
        ]


@freeze_time("2024-09-10 12:00:00")
def test_a_reply_with_an_unreadable_label_is_refused_whole_and_fails_its_window_quoting_the_label() -> None:
    """Never two rows under one made-up key, nor the rows before the bad one: the reply is
    not a report; the same reply on the retry fails the window."""
    with HttpMocker() as http_mocker:
        config = ConfigBuilder().build()
        http_mocker.post(
            ReportRequestBuilder.for_stream("session_time")
            .with_create_time("2024-08-01 00:00:00", "2024-08-03 23:59:59")
            .with_dimension("day")
            .build(),
            ReportResponseBuilder.report()
            .with_row(time="2024-08-01", initCount=3)
            .with_row(time="合计", initCount=9)
            .with_row(time="第2天", initCount=4)
            .build(),
        )
        output = read(config, catalog("session_time"), expecting_exception=True)
    # the stream's own error (the CDK adds a summary of failed streams after it)
    error = output.errors[0].trace.error
    assert "a row labelled time=合计 names no time the connector can read" in error.message
    assert "came back the same" in error.message
    assert "[stream session_time, createTime 2024-08-01 00:00:00 to 2024-08-03 23:59:59]" in error.message
    assert error.failure_type == FailureType.system_error
    assert output.records == []
    cursors = [m.state.stream.stream_state.__dict__.get("period_start") for m in output.state_messages]
    assert all(c is None or c <= "2024-08-01T00:00:00+0800" for c in cursors), cursors


@freeze_time("2024-09-10 12:00:00")
def test_session_rows_carry_the_local_date_of_their_bucket() -> None:
    with HttpMocker() as http_mocker:
        config = ConfigBuilder().with_start_date("2024-07-10").with_end_date("2024-08-03").with_values(dimension="month").build()
        http_mocker.post(
            ReportRequestBuilder.for_stream("session_time")
            .with_create_time("2024-07-01 00:00:00", "2024-08-31 23:59:59")
            .with_dimension("month")
            .build(),
            ReportResponseBuilder.report().with_row(time="2024-07", initCount=4).with_row(time="2024-08", initCount=2).build(),
        )
        records = [m.record.data for m in read(config, catalog("session_time")).records]
    assert [(r["period_start"], r["report_date"]) for r in records] == [
        ("2024-07-01T00:00:00+08:00", "2024-07-01"),
        ("2024-08-01T00:00:00+08:00", "2024-08-01"),
    ]


@pytest.mark.parametrize("stream", ["agent_workload", "agent_quality"])
@freeze_time("2024-09-10 12:00:00")
def test_a_reply_with_a_row_without_agent_id_is_refused_whole_naming_the_stream_and_window(stream: str) -> None:
    with HttpMocker() as http_mocker:
        config = ConfigBuilder().with_end_date("2024-08-01").build()
        http_mocker.post(
            ReportRequestBuilder.for_stream(stream).with_day("2024-08-01").build(),
            ReportResponseBuilder.report().with_row(agentId="庞磊[8238]", initCount=1).with_row(initCount=7).build(),
        )
        output = read(config, catalog(stream), expecting_exception=True)
    error = output.errors[0].trace.error
    assert "data.list[1] has no agentId" in error.message
    assert f"[stream {stream}, createTime 2024-08-01 00:00:00 to 2024-08-01 23:59:59]" in error.message
    assert output.records == [], "no row of a reply that holds one without its key"


@freeze_time("2024-09-10 12:00:00")
def test_agent_rows_get_their_day_name_number_and_lifted_columns() -> None:
    with HttpMocker() as http_mocker:
        config = ConfigBuilder().with_end_date("2024-08-01").with_values(agent_ids=["6062db21d316840011c6b992"]).build()
        http_mocker.post(
            ReportRequestBuilder.for_stream("agent_workload")
            .with_day("2024-08-01")
            .with_body(agentList=["6062db21d316840011c6b992"])
            .build(),
            ReportResponseBuilder.report()
            .with_row(
                agentId="在线客服[8029]",
                initCount=2,
                everyTimeLength={"1b1070a2-e9f4-42c2-9f21-b2aab5b74119": 60, "loginTotalTimeLength": 90},
            )
            .build(),
        )
        http_mocker.post(
            ReportRequestBuilder.for_stream("agent_quality")
            .with_day("2024-08-01")
            .with_body(agentList=["6062db21d316840011c6b992"])
            .build(),
            ReportResponseBuilder.report()
            .with_row(agentId="机器人助手", pushCsrRate=33.33, satisfaction={"dceb6c54-5a00-4114-a36f-0f4e8e0f8659": 66.67})
            .build(),
        )
        output = read(config, catalog("agent_workload", "agent_quality"))
        by_stream = {m.record.stream: m.record.data for m in output.records}
        workload, quality = by_stream["agent_workload"], by_stream["agent_quality"]
        assert workload["period_start"] == "2024-08-01T00:00:00+08:00"
        assert workload["report_date"] == "2024-08-01"
        assert quality["report_date"] == "2024-08-01"
        assert (workload["agent_name"], workload["agent_number"]) == ("在线客服", "8029")
        assert workload["loginTotalTimeLength"] == 90
        assert workload["1b1070a2-e9f4-42c2-9f21-b2aab5b74119"] == 60
        assert workload["everyTimeLength"] == {"1b1070a2-e9f4-42c2-9f21-b2aab5b74119": 60, "loginTotalTimeLength": 90}
        assert quality["dceb6c54-5a00-4114-a36f-0f4e8e0f8659"] == 66.67
        assert quality["pushCsrRate"] == 33.33
        # no brackets: the CDK writes null fields by leaving them out of the record
        assert quality.get("agent_name") is None
        assert quality.get("agent_number") is None


def _response(body: str) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = body.encode("utf-8")
    return response


@pytest.mark.parametrize(
    ("body", "rows"),
    [
        (
            '{"success": true, "data": {"header": [], "list": [{"time": "2024-08-05"}, {"time": "2024-08-06"}]}}',
            [{"time": "2024-08-05"}, {"time": "2024-08-06"}],
        ),
        ('{"success": true, "data": {"header": [], "list": []}}', []),
        ('{"success": true, "data": {"header": [], "list": null}}', []),
        ('{"success": true, "data": null}', []),
        ('{"success": true}', []),
    ],
    ids=["rows", "empty list", "null list", "null data", "no data"],
)
def test_each_row_of_data_list_is_one_record_and_a_report_without_rows_gives_none(body: str, rows: list) -> None:
    assert list(ReportRowsExtractor(parameters={}).extract_records(_response(body))) == rows


def test_header_columns_are_numbered_in_header_order() -> None:
    body = '{"success": true, "data": {"header": [{"prop": "agentId"}, {"prop": "initCount"}, {"prop": "x"}], "list": []}}'
    extractor = NumberedDpathExtractor(field_path=["data", "header"], config={}, parameters={})
    assert [(r["prop"], r["position"]) for r in extractor.extract_records(_response(body))] == [
        ("agentId", 1),
        ("initCount", 2),
        ("x", 3),
    ]


@freeze_time("2024-09-10 12:00:00")
def test_each_report_gets_the_filters_the_stream_table_gives_it_and_no_other() -> None:
    access_ids, agent_ids = ["jT5AH3dA7dtMNjAQ"], ["6062db21d316840011c6b992"]
    with HttpMocker() as http_mocker:
        config = ConfigBuilder().with_end_date("2024-08-01").with_values(access_ids=access_ids, agent_ids=agent_ids).build()
        # The mocker matches each body exactly: a filter sent to the wrong report fails the test.
        http_mocker.post(
            ReportRequestBuilder.for_stream("session_time")
            .with_create_time("2024-08-01 00:00:00", "2024-08-01 23:59:59")
            .with_dimension("day")
            .with_body(accessIds=access_ids)
            .build(),
            ReportResponseBuilder.report().with_row(time="2024-08-01", initCount=1).build(),
        )
        for stream in ("agent_workload", "agent_quality"):
            http_mocker.post(
                ReportRequestBuilder.for_stream(stream).with_day("2024-08-01").with_body(agentList=agent_ids).build(),
                ReportResponseBuilder.report().with_row(agentId="在线客服[8029]").build(),
            )
        output = read(config, catalog("session_time", "agent_workload", "agent_quality"))
        assert sorted(m.record.stream for m in output.records) == ["agent_quality", "agent_workload", "session_time"]
