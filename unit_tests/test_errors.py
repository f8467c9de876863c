"""What counts as an error: HTTP statuses and 7moor envelopes; what is retried and what stops."""

from __future__ import annotations

import json

import pytest
import requests
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
    ("status", "body"),
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
    ids=[
        "envelope-false",
        "envelope-code-500",
        "truncated",
        "not-json",
        "empty",
        "html-502",
        "http-500",
        "http-429",
        "envelope-429",
    ],
)
def test_a_failed_answer_is_retried_and_the_retry_delivers_the_rows(status: int, body: str) -> None:
    output, attempts = _read_one_day(
        {"status_code": status, "text": body, "headers": {"Retry-After": "0"}}, {"status_code": 200, "text": ROW}
    )
    assert attempts == 2
    assert not output.errors, output.errors
    assert [m.record.data["agentId"] for m in output.records] == ["a[1]"]


@freeze_time("2024-09-10 12:00:00", tick=True)
@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (401, '{"success": false, "code": "401", "message": "invalid m7-appkey"}', "invalid m7-appkey"),
        (401, "", "HTTP status without a message"),
        (200, '{"success": false, "code": "401", "message": "m7-sign verification failed"}', "m7-sign verification failed"),
    ],
)
def test_rejected_credentials_stop_at_once_as_a_config_error(status: int, body: str, words: str) -> None:
    output, attempts = _read_one_day({"status_code": status, "text": body}, {"status_code": 200, "text": ROW})
    assert attempts == 1
    errors = [m.trace.error for m in output.errors]  # the stream's error, then the read's final error
    assert {e.failure_type for e in errors} == {FailureType.config_error}
    assert len(errors) == 2
    assert all(e.message.startswith("7moor rejected") for e in errors)
    for error in errors:
        assert words in error.message
        assert "'app_key'" in error.message
        assert "'secret_key'" in error.message
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


def _raise(exception: type, text: str):
    """A mock answer that fails as the transport does: the exception carries its request."""

    def answer(request, context):
        raise exception(text, request=request)

    return answer


@freeze_time("2024-09-10 12:00:00", tick=True)
@pytest.mark.parametrize(
    "exception",
    [requests.ConnectionError, requests.ReadTimeout, requests.ConnectTimeout],
    ids=["dropped-connection", "read-timeout", "connect-timeout"],
)
def test_a_network_error_is_retried_signed_afresh_and_the_retry_delivers_the_rows(exception: type) -> None:
    sent = []
    fail = _raise(exception, "network trouble")

    def answer(request, context):
        sent.append(dict(request.headers))  # a copy: the CDK re-signs the same prepared request
        return fail(request, context) if len(sent) == 1 else ROW

    config = ConfigBuilder().with_end_date("2024-08-01").build()
    with requests_mock.Mocker() as mocker:
        mocker.post(URL, text=answer)
        output = read(config, catalog("agent_quality"))
    assert not output.errors, output.errors
    assert [m.record.data["agentId"] for m in output.records] == ["a[1]"]
    assert len(sent) == 2
    assert sent[0]["m7-nonce"] != sent[1]["m7-nonce"]


@freeze_time("2024-09-10 12:00:00", tick=True)
@pytest.mark.parametrize(
    ("failure", "words"),
    [
        ({"status_code": 500, "text": '{"success": false, "code": "500", "message": "服务器内部错误"}'}, "服务器内部错误"),
        (
            {
                "status_code": 503,
                "text": "<html><h1>503 Service Unavailable</h1></html>",
                "headers": {"Content-Type": "text/html"},
            },
            "HTML error page",
        ),
        ({"text": _raise(requests.ConnectionError, "Connection refused")}, "refused the connection"),
        (
            {
                "status_code": 429,
                "text": '{"success": false, "code": "429", "message": "请求过于频繁"}',
                "headers": {"Retry-After": "0"},
            },
            "rate limit",
        ),
    ],
    ids=["http-500", "html-503", "connection-refused", "rate-limited"],
)
def test_when_retries_run_out_the_error_names_the_stream_and_the_window(failure: dict, words: str) -> None:
    config = (
        ConfigBuilder()
        .with_start_date("2024-08-01")
        .with_end_date("2024-08-02")
        .with_values(max_retries=2, retry_backoff_seconds=0.01)
        .build()
    )

    def on_day(day: str):
        return lambda request: json.loads(request.body)["createTime"][0] == f"{day} 00:00:00"

    with requests_mock.Mocker() as mocker:
        mocker.post(URL, additional_matcher=on_day("2024-08-01"), text=ROW)
        mocker.post(URL, additional_matcher=on_day("2024-08-02"), **failure)
        output = read(config, catalog("agent_quality"), expecting_exception=True)
        attempts = [json.loads(r.body)["createTime"][0] for r in mocker.request_history]
    assert attempts.count("2024-08-02 00:00:00") == 3, "the first try and max_retries=2 retries"
    # The stream's error, then the CDK's summary of the sync: both say what and where.
    messages = [m.trace.error.message for m in output.errors]
    assert len(messages) == 2
    for message in messages:
        assert words in message, message
        assert "[stream agent_quality, createTime 2024-08-02 00:00:00 to 2024-08-02 23:59:59]" in message, message
    # The day before the failing one was delivered, and its state says so and no further.
    assert [m.record.data["period_start"] for m in output.records] == ["2024-08-01T00:00:00+08:00"]
    (state,) = [m.state.stream.stream_state.period_start for m in output.state_messages[-1:]]
    assert state.startswith("2024-08-01T00:00:00")


def test_a_body_is_parsed_once_for_all_filters_and_the_parse_is_not_kept() -> None:
    from source_moor7_im.errors import parse_body_once

    response = requests.Response()
    response._content = ROW.encode()
    with parse_body_once(response):
        first, second = response.json(), response.json()
        assert first is second
        assert first["data"]["list"] == [{"agentId": "a[1]", "initCount": 1}]
    assert response.json() is not first, "after the filters, the cached parse is dropped"
    not_json = requests.Response()
    not_json._content = b"service busy"
    with parse_body_once(not_json), pytest.raises(requests.exceptions.JSONDecodeError):
        not_json.json()


@freeze_time("2024-09-10 12:00:00", tick=True)
@pytest.mark.parametrize(
    "body",
    [
        '{"success": true, "code": "200"}',
        '{"success": true, "code": "200", "data": null}',
        '{"success": true, "code": "200", "data": {"header": [], "list": {}}}',
        '{"success": true, "code": "200", "data": {"header": [], "list": null}}',
        '{"success": true, "code": "200", "data": {"list": []}}',
        '{"success": true, "code": "200", "data": []}',
    ],
    ids=["no-data", "data-null", "list-object", "list-null", "no-header", "data-list"],
)
def test_a_success_without_a_report_is_retried_and_never_read_as_an_empty_report(body: str) -> None:
    output, attempts = _read_one_day({"status_code": 200, "text": body}, {"status_code": 200, "text": ROW})
    assert attempts == 2
    assert not output.errors, output.errors
    assert [m.record.data["agentId"] for m in output.records] == ["a[1]"]


@freeze_time("2024-09-10 12:00:00", tick=True)
@pytest.mark.parametrize("status", [403, 200])
def test_a_report_the_account_may_not_read_fails_its_stream_as_a_refusal_not_as_the_credentials(status: int) -> None:
    body = '{"success": false, "code": "403", "message": "无权限访问该接口"}'
    output, attempts = _read_one_day({"status_code": status, "text": body}, {"status_code": 200, "text": ROW})
    assert attempts == 1
    message = output.errors[0].trace.error.message
    assert output.errors[0].trace.error.failure_type == FailureType.config_error
    assert "refused the agent_quality report" in message
    assert "permission" in message
    assert "无权限访问该接口" in message
    assert "'secret_key'" not in message


@pytest.mark.parametrize(
    ("status", "body", "refusal"),
    [
        (403, {"success": False, "code": "403", "message": "无权限访问该接口"}, True),
        (200, {"success": False, "code": "500", "message": "该账号未开通此报表"}, True),
        (200, {"success": False, "code": "500", "message": "permission denied for this report"}, True),
        (403, {}, True),  # a bare 403: this report (a refusal of every report is the account's)
        (403, {"success": False, "code": "403", "message": "Forbidden"}, True),
        (200, {"success": False, "code": "403", "message": ""}, True),
        (401, {"success": False, "code": "401", "message": "无权限"}, False),  # 401 is always the credentials
        (403, {"success": False, "code": "403", "message": "m7-sign verification failed"}, False),
        (403, {"success": False, "code": "403", "message": "appkey 无权限"}, False),
        (200, {"success": True, "code": "200", "data": {"header": [], "list": []}}, False),
        (500, {"success": False, "code": "500", "message": "服务器内部错误"}, False),
    ],
)
def test_a_refusal_of_one_report_is_told_from_rejected_credentials(status: int, body: dict, refusal: bool) -> None:
    from source_moor7_im.errors import is_report_refusal

    assert is_report_refusal(status, body) is refusal


def test_a_quote_of_what_7moor_sent_is_cut_to_300_utf8_bytes_on_a_character_boundary() -> None:
    from source_moor7_im.messages import bounded_text

    quoted = bounded_text("服务器内部错误" * 20_000)
    assert len(quoted.encode("utf-8")) <= 300
    assert quoted.endswith("…")
    assert bounded_text({"message": "short"}) == '{"message": "short"}'
