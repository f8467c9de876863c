"""check: one cheap signed request per report; rejected credentials say so without the secret;
an account that may read some reports passes and is told which it may not."""

from __future__ import annotations

import json

import pytest
import requests
import requests_mock
from freezegun import freeze_time

from .builders import BASE_URL, PATHS, SECRET_KEY, ConfigBuilder
from .conftest import run_cli

OK = '{"success": true, "code": "200", "message": "requestSuccess", "data": {"header": [], "list": []}}'


def _status(messages: list) -> dict:
    (status,) = [m["connectionStatus"] for m in messages if m["type"] == "CONNECTION_STATUS"]
    return status


@freeze_time("2024-09-10 12:00:00", tick=True)
def test_check_succeeds_with_one_request_for_one_day_of_each_report(tmp_path, capsys) -> None:
    config = ConfigBuilder().with_start_date("2020-01-01").with_end_date(None).build()
    with requests_mock.Mocker() as mocker:
        mocker.post(requests_mock.ANY, text=OK)
        status = _status(run_cli(["check"], config, tmp_path, capsys))
        bodies = [json.loads(r.body) for r in mocker.request_history]
    assert status == {"status": "SUCCEEDED"}
    assert sorted(r.path for r in mocker.request_history) == sorted(PATHS.values())
    # the last day of the range, up to now (20:00 in Shanghai, and the seconds the clock ticked
    # since), whatever the start date
    assert [body["createTime"][0] for body in bodies] == ["2024-09-10 00:00:00"] * 3
    assert all(body["createTime"][1].startswith("2024-09-10 20:00:0") for body in bodies), bodies


REFUSED = '{"success": false, "code": "403", "message": "无权限访问该接口"}'


@freeze_time("2024-09-10 12:00:00", tick=True)
def test_check_passes_when_the_credentials_work_and_names_the_reports_the_account_may_not_read(tmp_path, capsys) -> None:
    with requests_mock.Mocker() as mocker:
        mocker.post(requests_mock.ANY, text=OK)
        mocker.post(f"{BASE_URL}{PATHS['agent_quality']}", status_code=403, text=REFUSED)
        messages = run_cli(["check"], ConfigBuilder().build(), tmp_path, capsys)
        attempts = len(mocker.request_history)
    status = _status(messages)
    assert status["status"] == "SUCCEEDED"
    assert "7moor refused 1 of 3 reports to this account: agent_quality" in status["message"]
    assert "无权限访问该接口" in status["message"]
    assert attempts == 3, "a refusal is not retried"


@freeze_time("2024-09-10 12:00:00", tick=True)
def test_check_fails_when_every_report_is_refused(tmp_path, capsys) -> None:
    with requests_mock.Mocker() as mocker:
        mocker.post(requests_mock.ANY, status_code=403, text=REFUSED)
        status = _status(run_cli(["check"], ConfigBuilder().build(), tmp_path, capsys))
        attempts = len(mocker.request_history)
    assert status["status"] == "FAILED"
    assert "7moor refused every report it was asked for" in status["message"]
    assert "IP address" in status["message"]
    assert attempts == 3


@freeze_time("2024-09-10 12:00:00", tick=True)
@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (401, '{"success": false, "code": "401", "message": "m7-sign verification failed"}', "m7-sign verification failed"),
        (200, '{"success": false, "code": "401", "message": "invalid m7-appkey"}', "invalid m7-appkey"),
    ],
    ids=["http-401", "envelope-401-in-http-200"],
)
def test_check_fails_on_rejected_credentials_quoting_the_api(status: int, body: str, words: str, tmp_path, capsys) -> None:
    config = ConfigBuilder().build()
    with requests_mock.Mocker() as mocker:
        mocker.post(requests_mock.ANY, status_code=status, text=body)
        messages = run_cli(["check"], config, tmp_path, capsys)
        attempts = len(mocker.request_history)
    status_message = _status(messages)
    assert status_message["status"] == "FAILED"
    assert words in status_message["message"]
    assert "app_key" in status_message["message"]
    assert "secret_key" in status_message["message"]
    assert attempts == 1, "rejected credentials are not retried"
    assert SECRET_KEY not in json.dumps(messages)


def test_check_with_an_invalid_config_fails_before_any_request(tmp_path, capsys) -> None:
    config = ConfigBuilder().with_values(dimension="week").build()
    with requests_mock.Mocker() as mocker:
        status = _status(run_cli(["check"], config, tmp_path, capsys))
        assert mocker.request_history == []
    assert status["status"] == "FAILED"
    assert "'dimension'" in status["message"]
    assert "week" in status["message"]


@freeze_time("2024-09-10 12:00:00", tick=True)
def test_check_on_an_unreachable_host_gives_up_after_two_quick_retries_naming_the_host(tmp_path, capsys) -> None:
    # A sync's budget is 8 retries with a 2 s exponential base (minutes); check overrides both.
    config = ConfigBuilder().with_values(base_url="https://moor7.invalid", max_retries=8, retry_backoff_seconds=2).build()

    def refuse(request, context):
        raise requests.ConnectionError("Failed to resolve 'moor7.invalid'", request=request)

    with requests_mock.Mocker() as mocker:
        mocker.post(requests_mock.ANY, text=refuse)
        status = _status(run_cli(["check"], config, tmp_path, capsys))
        attempts = len(mocker.request_history)
    assert attempts == 3, "the first try and the check's 2 retries"
    assert status["status"] == "FAILED"
    assert "moor7.invalid could not be found: the host name does not resolve" in status["message"]
    assert "'base_url'" in status["message"]
