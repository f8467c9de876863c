"""What counts as an error: HTTP statuses and 7moor envelopes; what is retried and what stops."""

from __future__ import annotations

import json
from typing import Any

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
        (401, "", "HTTP 401 without a message"),
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


def _response(status: int, body: str | bytes, url: str = URL, request_body: dict | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode() if isinstance(body, str) else body
    response.request = requests.Request("POST", url, json=request_body or {"createTime": DAY}).prepare()
    return response


DAY = ["2024-08-01 00:00:00", "2024-08-01 23:59:59"]


def test_a_body_is_parsed_once_the_filters_see_the_reply_as_read_and_the_extractor_reads_that_parse() -> None:
    from source_moor7_im.replies import ReportErrorHandler

    from .test_retry_budget import manifest_error_handler

    handler = manifest_error_handler()
    assert isinstance(handler, ReportErrorHandler)
    seen = []
    original = handler.error_handler.interpret_response

    def filters(response):  # what the manifest's filters evaluate
        seen.append(response.json())
        return original(response)

    handler.error_handler.interpret_response = filters
    response = _response(200, ROW)
    assert handler.interpret_response(response).response_action.name == "SUCCESS"
    (view,) = seen
    assert view["reply"] == "report"
    assert view["report"] == "agent_quality"
    assert "data" not in view, "the filters see the reply as read, not the body"
    body = response.json()
    assert body["data"]["list"] == [{"agentId": "a[1]", "initCount": 1}]
    assert response.json() is body, "after the filters, the one parse is what the extractor reads"
    not_json = _response(200, "service busy")
    handler.interpret_response(not_json)
    with pytest.raises(requests.exceptions.JSONDecodeError):
        not_json.json()


@freeze_time("2024-09-10 12:00:00", tick=True)
@pytest.mark.parametrize(
    "body",
    [
        '{"success": true, "code": "200"}',
        '{"success": true, "code": "200", "data": null}',
        '{"success": true, "code": "200", "data": {"header": [], "list": {}}}',
        '{"success": true, "code": "200", "data": {"header": [], "list": null}}',
        '{"success": true, "code": "200", "data": []}',
        '{"success": true, "code": "200", "data": {"header": [], "list": [null]}}',
        '{"success": true, "code": "200", "data": {"header": [], "list": [{"agentId": "a[1]"}, "x"]}}',
    ],
    ids=["no-data", "data-null", "list-object", "list-null", "data-list", "null-row", "text-row"],
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
    ("status", "body", "verdict"),
    [
        (403, {"success": False, "code": "403", "message": "无权限访问该接口"}, "refused"),
        (200, {"success": False, "code": "500", "message": "该账号未开通此报表"}, "refused"),
        (200, {"success": False, "code": "500", "message": "permission denied for this report"}, "refused"),
        (403, {}, "refused"),  # a bare 403: this report (a refusal of every report is the account's)
        (403, {"success": False, "code": "403", "message": "Forbidden"}, "refused"),
        (200, {"success": False, "code": "403", "message": ""}, "refused"),
        (200, {"success": False, "code": 403, "message": ""}, "refused"),
        (401, {"success": False, "code": "401", "message": "无权限"}, "credentials"),  # 401 is always the credentials
        (200, {"success": False, "code": 401, "message": "认证失败"}, "credentials"),
        (200, {"success": "false", "code": 401.0, "message": "认证失败"}, "credentials"),
        (403, {"success": False, "code": "403", "message": "m7-sign verification failed"}, "credentials"),
        (403, {"success": False, "code": "403", "message": "appkey 无权限"}, "refused"),  # about a report, naming the key
        (403, {"success": False, "code": "403", "message": "该appKey无权限访问此接口"}, "refused"),
        (500, {"success": False, "code": "500", "message": "java.net.BindException: Cannot assign requested address"}, "failed"),
        (503, {"success": False, "code": "503", "message": "upstream timeout at timestamp 1700000000"}, "failed"),
        (500, {"success": False, "code": "500", "message": "java.io.IOException: Permission denied"}, "failed"),
        (200, {"success": False, "code": "404", "message": "数据不存在"}, "failed"),  # a code 404 is not a missing path
        (200, {"success": False, "code": "40301", "message": "接口未授权"}, "refused"),
        (401, {"success": False, "code": "401", "message": "m7-timestamp expired"}, "timestamp"),
        (401, {"success": False, "code": "401", "message": "duplicate m7-nonce: replayed request"}, "replay"),
        (200, {"success": False, "code": 429, "message": ""}, "rate_limited"),
        (200, {"success": False, "code": 400, "message": "参数错误"}, "bad_request"),
        (400, {"success": False, "code": "400", "message": "createTime format error"}, "bad_request"),
        (200, {"success": True, "code": "200", "data": {"header": [], "list": []}}, "report"),
        (200, {"success": True, "code": 200, "data": {"header": [], "list": []}}, "report"),
        (200, {"success": "true", "code": "200", "data": {"header": [], "list": []}}, "report"),
        (200, {"success": True, "code": "200", "data": {"list": []}}, "report"),  # no header: the rows are all a read needs
        (200, {"success": True, "data": {"list": []}}, "malformed"),  # no code: half a success
        (200, {"success": 1, "code": "200", "data": {"list": []}}, "malformed"),
        (200, {"success": True, "code": "500", "message": "odd"}, "malformed"),
        (503, {"success": True, "code": "200", "data": {"header": [], "list": []}}, "failed"),
        (404, {"success": True, "code": "200", "data": {"header": [], "list": []}}, "not_found"),
        (200, {"success": True, "code": "200", "data": None}, "malformed"),
        (500, {"success": False, "code": "500", "message": "服务器内部错误"}, "failed"),
        (200, ["not", "an", "envelope"], "failed"),
        (200, {"success": False, "code": "²", "message": ""}, "failed"),  # a digit to str.isdigit, no number to int
        (200, {"success": False, "code": "٤٠١", "message": ""}, "failed"),  # Arabic-Indic digits: no code of 7moor's
    ],
)
def test_a_reply_is_read_into_one_verdict_whatever_the_json_types(status: int, body: Any, verdict: str) -> None:
    from source_moor7_im.replies import read_reply

    assert read_reply(_response(status, json.dumps(body))).verdict == verdict


def test_header_is_required_only_where_the_header_is_read() -> None:
    from source_moor7_im.replies import read_reply

    rows_only = _response(200, '{"success": true, "code": "200", "data": {"list": []}}')
    assert read_reply(rows_only, needs=("list",)).verdict == "report"
    assert read_reply(rows_only, needs=("header",)).problem == "data.header is missing"


@pytest.mark.parametrize(
    ("labels", "outside"),
    [
        (["2024-08-01"], None),
        (["2024-08-01", "2099-12-31"], "time=2099-12-31"),
        (["2024-07-31"], "time=2024-07-31"),
        (["2024-08-02"], "time=2024-08-02"),
        (["not a label"], "time=not a label names no time"),
        (["2024-08"], "time=2024-08 is not a day bucket"),
        (["2024-08-01 13:00"], "time=2024-08-01 13:00 is not a day bucket"),
        (["2024-08-01", "2024-08-01"], "two rows are labelled time=2024-08-01"),
        ([None], "time=null names no time"),
    ],
)
def test_a_row_that_is_not_one_bucket_of_the_window_asked_for_makes_the_reply_malformed(
    labels: list[str], outside: str | None
) -> None:
    from source_moor7_im.replies import read_reply

    body = {"success": True, "code": "200", "data": {"header": [], "list": [{"time": label} for label in labels]}}
    response = _response(200, json.dumps(body), request_body={"createTime": DAY, "dimension": "day"})
    reply = read_reply(response, label_field="time")
    if outside is None:
        assert (reply.verdict, reply.problem) == ("report", None)
    else:
        assert reply.verdict == "malformed"
        assert outside in (reply.problem or ""), reply.problem
        if "outside" in (reply.problem or ""):
            assert "2024-08-01 00:00:00 to 2024-08-01 23:59:59" in (reply.problem or "")


def test_a_body_that_starts_with_a_byte_order_mark_is_read_as_json() -> None:
    from source_moor7_im.replies import read_reply

    assert read_reply(_response(200, b"\xef\xbb\xbf" + ROW.encode())).verdict == "report"


@pytest.mark.parametrize(
    ("text", "integer", "number"),
    [
        ("34", True, 34),
        ("34", False, 34),
        (" 33.33 ", False, 33.33),
        ("34.0", True, 34),
        ("34.5", True, None),
        ("1e3", True, 1000),
        ("1e400", False, None),
        ("nan", False, None),
        ("1_000", True, None),
        ("٣", True, None),
        ("18446744073709551616", True, None),
        ("-", True, None),
    ],
)
def test_numeric_text_is_read_as_json_writes_numbers_within_64_bits(text: str, integer: bool, number: float | None) -> None:
    from source_moor7_im.records import as_number

    assert as_number(text, integer) == number


@pytest.mark.parametrize("value", ["nan", "NaN", "soon"])
def test_a_retry_after_that_is_no_number_of_seconds_asks_for_no_wait(value: str) -> None:
    from source_moor7_im.hardening.retries import RetryAfterHeader

    response = _response(429, "")
    response.headers["Retry-After"] = value
    assert RetryAfterHeader().backoff_time(response, 1) is None


def test_a_quote_of_what_7moor_sent_is_cut_to_300_utf8_bytes_on_a_character_boundary() -> None:
    from source_moor7_im.hardening.messages import bounded_text

    quoted = bounded_text("服务器内部错误" * 20_000)
    assert len(quoted.encode("utf-8")) <= 300
    assert quoted.endswith("…")
    assert bounded_text({"message": "short"}) == '{"message": "short"}'


def test_a_record_whose_cursor_field_is_no_time_or_whose_data_orjson_refuses_is_still_counted() -> None:
    """report_columns' rows may carry any prop, `period_start` included; a value beyond 64 bits
    is what orjson will not write."""
    import datetime as dt

    from source_moor7_im.hardening.progress import ReadProgress

    progress = ReadProgress(rows_in_window=lambda *_: None, cursor_field="period_start", parse_cursor=dt.datetime.fromisoformat)
    window = {"start_time": "2024-01-01T00:00:00+08:00", "end_time": "2024-01-01T23:59:59+08:00"}
    progress.window_planned("report_columns", window)
    list(progress.record_seen("report_columns", window, {"period_start": "not a time", "prop": "x"}))
    list(progress.record_seen("report_columns", window, {"big": 2**64}))
    assert progress.streams["report_columns"].rows == 2
    assert progress.streams["report_columns"].bytes > 0
