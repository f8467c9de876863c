"""Schemas: generated from the vendor's headers, carried by the package, extended at discover."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from freezegun import freeze_time

from airbyte_cdk.test import entrypoint_wrapper
from airbyte_cdk.test.mock_http import HttpMocker

from source_moor7_im import SourceMoor7Im

from .builders import ConfigBuilder, ReportRequestBuilder, ReportResponseBuilder, catalog
from .conftest import read

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "source_moor7_im" / "schemas"
WORKLOAD_STATE = "1b1070a2-e9f4-42c2-9f21-b2aab5b74119"


def test_regenerating_the_schemas_reproduces_the_committed_files() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_schemas.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_documented_columns_are_typed_and_titled_with_their_label() -> None:
    session = json.loads((SCHEMAS / "session_time.json").read_text(encoding="utf-8"))["properties"]
    quality = json.loads((SCHEMAS / "agent_quality.json").read_text(encoding="utf-8"))["properties"]
    workload = json.loads((SCHEMAS / "agent_workload.json").read_text(encoding="utf-8"))["properties"]
    assert session["initCount"] == {"type": ["null", "integer"], "title": "总会话数", "description": "Sessions in total."}
    assert session["time"]["type"] == ["null", "string"]
    assert session["sessionTimeLen"]["type"] == ["null", "number"]
    assert quality["pushCsrRate"]["type"] == ["null", "number"]
    assert quality["pushCsrRate"]["title"] == "邀评率"
    assert quality["avgMsgResponseLen"]["type"] == ["null", "number"]
    assert quality["evaluateCount"]["type"] == ["null", "integer"]
    assert workload["loginTotalTimeLength"]["title"] == "登录总时长"
    assert WORKLOAD_STATE not in workload, "per-account UUID columns come from the live header, not the static schema"
    assert session["period_start"]["format"] == "date-time"


def test_primary_key_fields_are_never_null_and_every_report_row_has_a_local_date() -> None:
    schemas = {
        name: json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))["properties"]
        for name in ("session_time", "agent_workload", "agent_quality", "report_columns")
    }
    for stream, key in (
        ("session_time", "dimension"),
        ("session_time", "period_start"),
        ("agent_workload", "agentId"),
        ("agent_workload", "period_start"),
        ("agent_quality", "agentId"),
        ("agent_quality", "period_start"),
        ("report_columns", "report"),
        ("report_columns", "prop"),
    ):
        assert schemas[stream][key]["type"] == "string", f"{stream}.{key} may be null"
    for stream in ("session_time", "agent_workload", "agent_quality"):
        assert schemas[stream]["report_date"]["type"] == "string"
        assert schemas[stream]["report_date"]["format"] == "date"


def test_report_columns_schema_types_each_column_of_a_header_entry() -> None:
    columns = json.loads((SCHEMAS / "report_columns.json").read_text(encoding="utf-8"))["properties"]
    assert {name: spec["type"] for name, spec in columns.items()} == {
        "report": "string",
        "prop": "string",
        "label": ["null", "string"],
        "is_custom": ["null", "boolean"],
        "show": ["null", "boolean"],
        "width": ["null", "integer"],
        "position": "integer",
    }


def _discover(http_mocker: HttpMocker, workload_rows: list) -> dict:
    config = ConfigBuilder().with_end_date("2024-08-03").build()
    day = (
        ReportRequestBuilder.for_stream("session_time")
        .with_create_time("2024-08-03 00:00:00", "2024-08-03 23:59:59")
        .with_dimension("day")
    )
    http_mocker.post(day.build(), ReportResponseBuilder.report().with_column("time", "时间").build())
    http_mocker.post(
        ReportRequestBuilder.for_stream("agent_workload").with_day("2024-08-03").build(),
        ReportResponseBuilder.report()
        .with_column("agentId", "座席姓名")
        .with_column(WORKLOAD_STATE, "在线总时长", custom=True)
        .with_rows(workload_rows)
        .build(),
    )
    http_mocker.post(
        ReportRequestBuilder.for_stream("agent_quality").with_day("2024-08-03").build(),
        ReportResponseBuilder.report().with_column("dceb6c54-5a00-4114-a36f-0f4e8e0f8659", "很不满意").build(),
    )
    output = entrypoint_wrapper.discover(SourceMoor7Im(config=config), config)
    return {stream.name: stream.json_schema for stream in output.catalog.catalog.streams}


@freeze_time("2024-09-10 12:00:00")
def test_discover_adds_the_accounts_custom_columns_with_their_labels() -> None:
    with HttpMocker() as http_mocker:
        schemas = _discover(http_mocker, [{"agentId": "a[1]", "everyTimeLength": {WORKLOAD_STATE: 5}}])
        assert schemas["agent_workload"]["properties"][WORKLOAD_STATE] == {
            "type": ["null", "number"],
            "title": "在线总时长",
            "description": f"Account-defined report column 在线总时长 (header prop {WORKLOAD_STATE}).",
        }
        assert schemas["agent_quality"]["properties"]["dceb6c54-5a00-4114-a36f-0f4e8e0f8659"]["title"] == "很不满意"
        assert schemas["session_time"]["properties"]["time"]["title"] == "时间", "a documented column keeps its generated schema"


@freeze_time("2024-09-10 12:00:00")
def test_discover_works_for_a_day_without_rows() -> None:
    with HttpMocker() as http_mocker:
        schemas = _discover(http_mocker, [])
        assert WORKLOAD_STATE in schemas["agent_workload"]["properties"]


@freeze_time("2024-09-10 12:00:00")
def test_read_makes_no_header_request_beyond_its_windows() -> None:
    with HttpMocker() as http_mocker:
        # HttpMocker fails on any request it was not told about: only the one window is allowed.
        config = ConfigBuilder().with_end_date("2024-08-01").build()
        http_mocker.post(
            ReportRequestBuilder.for_stream("agent_quality").with_day("2024-08-01").build(),
            ReportResponseBuilder.report().with_row(agentId="a[1]").build(),
        )
        assert len(read(config, catalog("agent_quality")).records) == 1


def test_the_package_carries_its_manifest_and_schemas() -> None:
    import importlib.resources

    package = importlib.resources.files("source_moor7_im")
    assert (package / "manifest.yaml").is_file()
    for stream in ("session_time", "agent_workload", "agent_quality"):
        assert json.loads((package / "schemas" / f"{stream}.json").read_text(encoding="utf-8"))["properties"]


@freeze_time("2024-09-10 12:00:00")
def test_report_columns_reads_one_day_of_each_report_header_into_typed_rows() -> None:
    from airbyte_cdk.models import SyncMode

    config = ConfigBuilder().with_end_date("2024-08-03").build()
    with HttpMocker() as http_mocker:
        for stream in ("session_time", "agent_workload"):
            http_mocker.post(
                ReportRequestBuilder.for_stream(stream).with_day("2024-08-03").build(),
                ReportResponseBuilder.report().with_column("initCount", "总会话数").build(),
            )
        http_mocker.post(
            ReportRequestBuilder.for_stream("agent_quality").with_day("2024-08-03").build(),
            ReportResponseBuilder.report()
            .with_header_entry(isCustomHeader=False, prop="agentId", show=True, width="200", label="座席姓名")
            .with_header_entry(customHeader=True, prop=WORKLOAD_STATE, show=False, width=" 90 ", label="非常满意")
            .with_header_entry(prop="pushCsrRate", width="auto", label="邀评率")
            .build(),
        )
        records = [m.record.data for m in read(config, catalog("report_columns", sync_mode=SyncMode.full_refresh)).records]
    quality = sorted((r for r in records if r["report"] == "agent_quality"), key=lambda r: r["position"])
    assert quality == [
        {
            "report": "agent_quality",
            "prop": "agentId",
            "label": "座席姓名",
            "is_custom": False,
            "show": True,
            "width": 200,
            "position": 1,
        },
        {
            "report": "agent_quality",
            "prop": WORKLOAD_STATE,
            "label": "非常满意",
            "is_custom": True,
            "show": False,
            "width": 90,
            "position": 2,
        },
        # no flag and a width that is not a number: null (left out of the record), not a made-up value
        {"report": "agent_quality", "prop": "pushCsrRate", "label": "邀评率", "position": 3},
    ]
    assert sorted((r["report"], r["prop"]) for r in records if r["report"] != "agent_quality") == [
        ("agent_workload", "initCount"),
        ("session_time", "initCount"),
    ]
