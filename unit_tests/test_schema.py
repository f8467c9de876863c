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
WORKLOAD_STATE = "1b1070a2-e9f4-42c2-9f21-b2aab5b74119"


def test_regenerating_the_schemas_reproduces_the_committed_files() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "generate_schemas.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_documented_columns_are_typed_and_titled_with_their_label() -> None:
    session = json.loads((ROOT / "schemas" / "session_time.json").read_text(encoding="utf-8"))["properties"]
    quality = json.loads((ROOT / "schemas" / "agent_quality.json").read_text(encoding="utf-8"))["properties"]
    workload = json.loads((ROOT / "schemas" / "agent_workload.json").read_text(encoding="utf-8"))["properties"]
    assert session["initCount"] == {"type": ["null", "integer"], "title": "总会话数", "description": "Sessions in total."}
    assert session["time"]["type"] == ["null", "string"] and session["sessionTimeLen"]["type"] == ["null", "number"]
    assert quality["pushCsrRate"]["type"] == ["null", "number"] and quality["pushCsrRate"]["title"] == "邀评率"
    assert quality["avgMsgResponseLen"]["type"] == ["null", "number"] and quality["evaluateCount"]["type"] == ["null", "integer"]
    assert workload["loginTotalTimeLength"]["title"] == "登录总时长"
    assert WORKLOAD_STATE not in workload, "per-account UUID columns come from the live header, not the static schema"
    assert session["period_start"]["format"] == "date-time"


def _discover(http_mocker: HttpMocker, workload_rows: list) -> dict:
    config = ConfigBuilder().with_end_date("2024-08-03").build()
    day = ReportRequestBuilder.for_stream("session_time").with_create_time("2024-08-03 00:00:00", "2024-08-03 23:59:59").with_dimension("day")
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
