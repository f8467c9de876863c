"""What counts as an error: HTTP statuses and 7moor envelopes; what is retried and what stops."""

from __future__ import annotations

import json

import pytest
import requests_mock
from freezegun import freeze_time

from airbyte_cdk.models import FailureType

from .builders import BASE_URL, PATHS, SECRET_KEY, ConfigBuilder, catalog
from .conftest import read

ROW = '{"success": true, "code": "200", "message": "requestSuccess", "data": {"header": [], "list": [{"agentId": "a[1]", "initCount": 1}]}}'
URL = f"{BASE_URL}{PATHS['agent_quality']}"


def _read_one_day(*answers: dict):
    config = ConfigBuilder().with_end_date("2024-08-01").build()
    with requests_mock.Mocker() as mocker:
        mocker.post(URL, list(answers))
        output = read(config, catalog("agent_quality"), expecting_exception=True)
        attempts = mocker.call_count
    return output, attempts


@freeze_time("2024-09-10 12:00:00", tick=True)
@pytest.mark.parametrize(
    "status, body",
    [
        (200, '{"success": false, "code": "500", "message": "服务器内部错误"}'),
        (200, '{"success": true, "code": "500", "message": "odd"}'),
        (200, '{"success": true, "code": "200", "message": "requestSuccess", "data": {"list": [{"agentId": "x'),  # truncated
        (200, "service busy"),  # not JSON: the CDK's decoder alone would read it as zero rows
        (200, ""),
        (502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
        (500, '{"success": false, "code": "500", "message": "internal"}'),
        (429, '{"success": false, "code": "429", "message": "请求过于频繁"}'),
        (200, '{"success": false, "code": "429", "message": "请求过于频繁"}'),
    ],
    ids=["envelope-false", "envelope-code-500", "truncated", "not-json", "empty", "html-502", "http-500", "http-429", "envelope-429"],
)
def test_a_failed_answer_is_retried_and_the_retry_delivers_the_rows(status: int, body: str) -> None:
    output, attempts = _read_one_day({"status_code": status, "text": body, "headers": {"Retry-After": "0"}}, {"status_code": 200, "text": ROW})
    assert attempts == 2
    assert not output.errors, output.errors
    assert [m.record.data["agentId"] for m in output.records] == ["a[1]"]


@freeze_time("2024-09-10 12:00:00", tick=True)
@pytest.mark.parametrize(
    "status, body, words",
    [
        (401, '{"success": false, "code": "401", "message": "invalid m7-appkey"}', "invalid m7-appkey"),
        (403, "", "HTTP status without a message"),
        (200, '{"success": false, "code": "401", "message": "m7-sign verification failed"}', "m7-sign verification failed"),
    ],
)
def test_rejected_credentials_stop_at_once_as_a_config_error(status: int, body: str, words: str) -> None:
    output, attempts = _read_one_day({"status_code": status, "text": body}, {"status_code": 200, "text": ROW})
    assert attempts == 1
    errors = [m.trace.error for m in output.errors]  # the stream's error, then the CDK's summary of the sync
    assert {e.failure_type for e in errors} == {FailureType.config_error}
    (error,) = [e for e in errors if e.message.startswith("7moor rejected")]
    assert words in error.message and "'app_key'" in error.message and "'secret_key'" in error.message
    assert SECRET_KEY not in json.dumps([m.trace.error.message for m in output.errors])
    assert output.records == []


@freeze_time("2024-09-10 12:00:00", tick=True)
@pytest.mark.parametrize("status", [200, 400])
def test_a_rejected_request_body_stops_with_the_apis_message(status: int) -> None:
    body = '{"success": false, "code": "400", "message": "createTime format error"}'
    output, attempts = _read_one_day({"status_code": status, "text": body}, {"status_code": 200, "text": ROW})
    assert attempts == 1
    assert any("createTime format error" in m.trace.error.message for m in output.errors)
    assert output.records == []
