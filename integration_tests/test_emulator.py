"""The emulator is strict where 7moor is, deterministic, and injects the faults it is asked for."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import time
from typing import Any

import pytest
import requests

import moor7_emulator.server
from moor7_emulator import Account, Emulator, Faults, sign
from moor7_emulator import account as model
from moor7_emulator.server import HUGE_BODY_BYTES, TRICKLE_CONTENT_LENGTH

from .virtual_clock import VIRTUAL

PATH = "/openapi/im-report/agent/workload"
DAY = ["2024-08-05 00:00:00", "2024-08-05 23:59:59"]


def post(
    api: Emulator,
    body: Any = None,
    *,
    path: str = PATH,
    timestamp: str | None = None,
    skew: float = 0,
    nonce: str = "123456",
    secret: str | None = None,
    app_key: str | None = None,
    raw: bytes | None = None,
    content_type: str = "application/json",
    stream: bool = False,
) -> requests.Response:
    account = api.account
    timestamp = timestamp or str(int(time.time() + skew))
    app_key = app_key or account.app_key
    headers: dict[str, str] = {
        "m7-appkey": app_key,
        "m7-timestamp": timestamp,
        "m7-nonce": nonce,
        "m7-sign": sign(secret or account.secret_key, app_key, timestamp, nonce),
        "content-type": content_type,
    }
    data = raw if raw is not None else json.dumps({"createTime": DAY} if body is None else body).encode()
    return requests.post(api.url + path, data=data, headers=headers, timeout=10, stream=stream)


def test_a_correctly_signed_request_gets_the_report(emulator: Emulator) -> None:
    response = post(emulator)
    assert response.status_code == 200
    envelope = response.json()
    assert envelope["success"] is True
    assert envelope["code"] == "200"
    assert [row["agentId"] for row in envelope["data"]["list"]] == [a.display for a in emulator.account.agents]
    assert [c["prop"] for c in envelope["data"]["header"]][-3:] == [c.prop for c in emulator.account.agent_states]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"secret": "wrong-secret"}, "bad_sign"),
        ({"app_key": "9999999"}, "bad_app_key"),
        # skews are applied when the request is sent, not when the parameters are collected
        ({"skew": -330}, "timestamp_skew"),
        ({"skew": 330}, "timestamp_skew"),
        ({"timestamp": "1608719083769"}, "bad_timestamp"),  # 13 digits, as the vendor's curl examples
        ({"nonce": "12345"}, "bad_nonce"),
        ({"raw": b"createTime=2024-08-05"}, "not_json_body"),
        ({"content_type": "text/plain"}, "not_json_body"),
        ({"body": {"createTime": ["2024-08-05", "2024-08-06"]}}, "bad_create_time"),
        ({"body": {"createTime": ["2024-08-05 00:00:00"]}}, "bad_create_time"),
        ({"body": {}}, "bad_create_time"),
        ({"body": {"createTime": ["2024-08-06 00:00:00", "2024-08-05 00:00:00"]}}, "reversed_create_time"),
        ({"body": {"createTime": ["2024-01-01 00:00:00", "2025-01-01 00:00:00"]}}, "window_too_long"),
        ({"body": {"createTime": DAY, "dimension": "week"}, "path": "/openapi/im-report/session/time"}, "bad_dimension"),
        ({"path": "/openapi/im-report/agent/unknown"}, "not_found"),
    ],
)
def test_requests_7moor_would_reject_are_rejected(emulator: Emulator, kwargs: dict[str, Any], reason: str) -> None:
    response = post(emulator, **kwargs)
    assert response.status_code >= 400
    assert response.json()["success"] is False
    assert emulator.log[-1].outcome == reason


def test_a_window_just_under_one_year_is_accepted(emulator: Emulator) -> None:
    assert post(emulator, {"createTime": ["2024-01-01 00:00:00", "2024-12-31 23:59:59"]}).status_code == 200


def test_a_replayed_sign_and_nonce_is_rejected(emulator: Emulator) -> None:
    timestamp = str(int(time.time()))
    assert post(emulator, timestamp=timestamp, nonce="654321").status_code == 200
    assert post(emulator, timestamp=timestamp, nonce="654321").status_code == 401
    assert emulator.log[-1].outcome == "replay"


def test_envelope_style_errors_come_with_http_200() -> None:
    with Emulator(faults=Faults(error_style="envelope")) as api:
        response = post(api, secret="wrong-secret")
    assert response.status_code == 200
    assert response.json() == {
        "success": False,
        "code": "401",
        "message": "m7-sign verification failed",
    }


def test_the_servers_clock_offset_shows_in_date_and_in_what_it_accepts() -> None:
    with Emulator(faults=Faults(clock_offset_seconds=480)) as api:
        response = post(api)
        server_date = email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()
        assert response.status_code == 401
        assert api.log[-1].outcome == "timestamp_skew"
        assert abs(server_date - time.time() - 480) < 5
        assert post(api, timestamp=str(int(time.time() + 480)), nonce="222222").status_code == 200


@pytest.mark.parametrize(
    ("fault", "status", "check"),
    [
        ("http_429", 429, lambda r: r.headers["Retry-After"] == "1" and r.json()["code"] == "429"),
        (
            "envelope_rate_limit",
            200,
            lambda r: r.json() == {"success": False, "code": "429", "message": "请求过于频繁 (too many requests)"},
        ),
        ("http_500", 500, lambda r: r.json()["success"] is False),
        ("html_502", 502, lambda r: r.headers["Content-Type"] == "text/html" and "<html>" in r.text),
        ("html_503", 503, lambda r: "<html>" in r.text),
        ("html_504", 504, lambda r: "<html>" in r.text),
        ("truncate", 200, lambda r: r.text.startswith('{"success": true') and not r.text.endswith("}")),
        ("not_json", 200, lambda r: r.text == "service busy, please retry"),
        ("bad_request", 400, lambda r: r.json() == {"success": False, "code": "400", "message": "参数错误"}),
        ("success_503", 503, lambda r: r.json()["success"] is True and r.json()["data"]["list"] == []),
        ("success_404", 404, lambda r: r.json()["success"] is True and r.json()["data"]["list"] == []),
        ("null_row", 200, lambda r: r.json()["data"]["list"][-1] is None and len(r.json()["data"]["list"]) == 7),
    ],
)
def test_each_fault_answers_as_it_says(fault: str, status: int, check) -> None:
    with Emulator(faults=Faults(script=[fault])) as api:
        response = post(api)
        assert response.status_code == status
        assert check(response)
        assert api.log[-1].outcome == fault
        assert post(api, nonce="333333").status_code == 200, "a scripted fault applies once"


def test_a_stray_row_is_labelled_outside_the_window_it_answers() -> None:
    with Emulator(faults=Faults(script=["stray_row"])) as api:
        rows = post(api, {"createTime": DAY, "dimension": "day"}, path="/openapi/im-report/session/time").json()["data"]["list"]
    assert [row["time"] for row in rows] == ["2024-08-05", "2099-12-31"]


def test_the_envelope_can_spell_code_as_a_number_and_success_as_text() -> None:
    with Emulator(faults=Faults(code_type="int", success_as_text=True, credential_message="认证失败")) as api:
        good = post(api).json()
        bad = post(api, secret="wrong-secret", nonce="222222").json()
    assert (good["success"], good["code"]) == ("true", 200)
    assert bad == {"success": "false", "code": 401, "message": "认证失败"}


def test_numbers_can_come_as_strings_and_a_column_as_text() -> None:
    with Emulator(faults=Faults(numbers_as_strings=True, text_in_column=("replyCount", "-"))) as api:
        (row, *_) = post(api).json()["data"]["list"]
    assert row["initCount"].isdigit()
    assert row["replyCount"] == "-"
    assert isinstance(row["everyTimeLength"], dict), "nested objects stay objects"
    assert all(isinstance(value, str) for value in row["everyTimeLength"].values()), "with their numbers as text"


def test_a_redirect_sends_every_request_elsewhere_with_no_report() -> None:
    with Emulator(faults=Faults(redirect_to="http://127.0.0.1:9", redirect_status=302)) as api:
        response = requests.post(api.url + PATH, data=b"{}", allow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert response.headers["Location"] == "http://127.0.0.1:9" + PATH
    assert api.log[-1].outcome == "redirect"


def test_a_retry_after_can_be_any_text() -> None:
    with Emulator(faults=Faults(script=["http_429"], retry_after_text="nan")) as api:
        assert post(api).headers["Retry-After"] == "nan"


def test_a_dropped_connection_gets_no_answer() -> None:
    with Emulator(faults=Faults(script=["drop"])) as api:
        with pytest.raises(requests.exceptions.ConnectionError):
            post(api)
        assert api.log[-1].outcome == "drop"


def test_a_fault_rate_injects_about_that_share_of_faults_repeatably() -> None:
    outcomes = []
    for _ in range(2):
        with Emulator(faults=Faults(rate=0.3, kinds=("http_500", "html_502"), seed=11)) as api:
            for n in range(60):
                post(api, nonce=f"{400000 + n}")
            outcomes.append([r.outcome for r in api.log])
    assert outcomes[0] == outcomes[1], "the same seed injects the same faults"
    assert 8 <= sum(o != "ok" for o in outcomes[0]) <= 30


def test_added_latency_delays_every_answer() -> None:
    with Emulator(faults=Faults(latency_seconds=0.2)) as api:
        started = time.monotonic()
        post(api)
        assert time.monotonic() - started >= 0.2


def test_a_paced_body_arrives_at_the_rate_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the virtual clock: the server's pauses move it on instead of waiting."""
    VIRTUAL.waits_in(monkeypatch, moor7_emulator.server)
    with Emulator(faults=Faults(body_bytes_per_second=1000)) as api:
        started = time.monotonic()
        response = post(api)
        elapsed = time.monotonic() - started
        sent = api.log[-1].body_bytes
    assert response.json()["success"] is True
    assert sent == len(response.content) > 3000
    assert sent / 1000 <= elapsed < sent / 1000 + 1, f"{sent} bytes at 1,000 a second took {elapsed:.1f} s"


def test_a_stalled_body_sends_its_first_bytes_then_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stall lasts `trickle_seconds` (virtual here), then the server closes the connection
    short of the length it promised."""
    VIRTUAL.waits_in(monkeypatch, moor7_emulator.server)
    with Emulator(faults=Faults(script=["stall"], stall_after_bytes=1000, trickle_seconds=30)) as api:
        started = time.monotonic()
        with post(api, stream=True) as response:
            assert response.headers["Content-Length"] == str(TRICKLE_CONTENT_LENGTH)
            with pytest.raises(requests.exceptions.ChunkedEncodingError):  # the body ends short
                response.content  # noqa: B018
        elapsed = time.monotonic() - started
        entry = api.log[-1]
    assert (entry.outcome, entry.body_bytes) == ("stall", 1000)
    assert 30 <= elapsed < 32


def test_a_huge_body_is_200_mb_of_binary_data_without_a_length(emulator: Emulator) -> None:
    emulator.set_faults(Faults(script=["huge_body"]))
    with post(emulator, stream=True) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/octet-stream"
        assert "Content-Length" not in response.headers
        received = sum(len(chunk) for chunk in response.iter_content(1 << 20))
    assert received == HUGE_BODY_BYTES
    assert emulator.log[-1].outcome == "huge_body"


def test_figures_do_not_depend_on_the_window() -> None:
    account = Account()
    month = model.session_rows(account, dt.datetime(2024, 8, 1), dt.datetime(2024, 8, 31, 23, 59, 59), "day")
    for day in (0, 4, 30):
        start = dt.datetime(2024, 8, 1 + day)
        (alone,) = model.session_rows(account, start, start.replace(hour=23, minute=59, second=59), "day")
        assert month[day] == alone
    week = model.workload_rows(account, dt.datetime(2024, 8, 5), dt.datetime(2024, 8, 11, 23, 59, 59))
    days = [model.workload_rows(account, dt.datetime(2024, 8, d), dt.datetime(2024, 8, d, 23, 59, 59)) for d in range(5, 12)]
    assert week[0]["initCount"] == sum(day[0]["initCount"] for day in days)


def test_traffic_follows_office_hours_and_quiet_weekends() -> None:
    account = Account()
    rows = model.session_rows(account, dt.datetime(2024, 8, 5), dt.datetime(2024, 8, 11, 23, 59, 59), "hour")
    by_hour = {row["time"]: row["initCount"] for row in rows}
    monday_office = sum(by_hour[f"2024-08-05 {h:02d}"] for h in range(9, 18))
    monday_night = sum(by_hour[f"2024-08-05 {h:02d}"] for h in range(0, 6))
    saturday_office = sum(by_hour[f"2024-08-10 {h:02d}"] for h in range(9, 18))
    assert monday_office > 10 * max(monday_night, 1)
    assert monday_office > 2 * saturday_office > 0


def test_the_module_runs_as_a_command(tmp_path) -> None:
    import subprocess
    import sys

    here = __import__("pathlib").Path(__file__).resolve().parent
    out = subprocess.run(
        [sys.executable, "-m", "moor7_emulator", "--print-config", "--port", "9999"],
        cwd=here,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["base_url"] == "http://127.0.0.1:9999"
