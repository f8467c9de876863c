"""7moor's signature: the vendor's worked example, the headers, and a new nonce per attempt."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest
import requests
import requests_mock
from freezegun import freeze_time

from source_moor7_im.signing import REPLAY_MEMORY_SECONDS, SentNonces, SignedRequestAuthenticator, sign_request

from .builders import APP_KEY, BASE_URL, PATHS, SECRET_KEY, ConfigBuilder, catalog
from .conftest import read

SIGN_HEADERS = ("m7-appkey", "m7-timestamp", "m7-nonce", "m7-sign")


def test_sign_request_matches_the_vendors_worked_example() -> None:
    assert (
        sign_request("2000103", "HWHp9xFVlbboxIU2S6DHA7sf9sGzt3", "1608119594", "123221")
        == "ybCwXrg9CMo39xv1kdfVLemqFmk+2Elz+vXYu1CyHlo="
    )


def _authenticator(clock=lambda: 1608119594.7) -> SignedRequestAuthenticator:
    return SignedRequestAuthenticator(
        app_key="{{ config['app_key'] }}",
        secret_key="{{ config['secret_key'] }}",
        config={"app_key": APP_KEY, "secret_key": SECRET_KEY},
        parameters={},
        clock=clock,
    )


def test_authenticator_sets_the_four_headers_on_the_prepared_request() -> None:
    prepared = requests.Request("POST", f"{BASE_URL}/x", json={}).prepare()
    _authenticator()(prepared)
    headers = prepared.headers
    assert headers["m7-appkey"] == APP_KEY
    assert headers["m7-timestamp"] == "1608119594"  # seconds, 10 digits
    assert re.fullmatch(r"[1-9]\d{5}", headers["m7-nonce"])
    expected = base64.b64encode(
        hmac.new(SECRET_KEY.encode(), (APP_KEY + headers["m7-timestamp"] + headers["m7-nonce"]).encode(), hashlib.sha256).digest()
    ).decode()
    assert headers["m7-sign"] == expected
    assert SECRET_KEY not in repr(_authenticator())
    assert SECRET_KEY not in str(dict(headers))


def test_signing_the_same_request_twice_gives_a_new_nonce() -> None:
    prepared = requests.Request("POST", f"{BASE_URL}/x", json={}).prepare()
    authenticator = _authenticator()
    nonces = set()
    for _ in range(20):
        authenticator(prepared)
        nonces.add(prepared.headers["m7-nonce"])
    assert len(nonces) == 20  # within one second too: a repeated draw is drawn again


def _retried_attempts(first_status: int, first_body: str) -> list:
    """Read one agent day whose first attempt fails with `first_status`; return the headers
    each attempt carried. They are copied when the request arrives: the CDK re-signs the
    same PreparedRequest object, so requests-mock's history would show the last headers only."""
    config = ConfigBuilder().with_end_date("2024-08-01").build()
    ok = '{"success": true, "code": "200", "message": "requestSuccess", "data": {"header": [], "list": [{"agentId": "a[1]"}]}}'
    sent = []

    def answer(body: str):
        def callback(request, context):
            sent.append(dict(request.headers))
            return body

        return callback

    with requests_mock.Mocker() as mocker:
        mocker.post(
            f"{BASE_URL}{PATHS['agent_workload']}",
            [
                {"status_code": first_status, "text": answer(first_body), "headers": {"Retry-After": "0"}},
                {"status_code": 200, "text": answer(ok)},
            ],
        )
        output = read(config, catalog("agent_workload"))
    assert len(output.records) == 1, output.errors
    return sent


@freeze_time("2024-08-10 12:00:00", tick=True)
def test_a_retry_after_429_is_signed_again_with_a_new_nonce() -> None:
    attempts = _retried_attempts(429, '{"success": false, "code": "429", "message": "请求过于频繁"}')
    assert len(attempts) == 2
    first, second = attempts
    assert first["m7-nonce"] != second["m7-nonce"]
    assert first["m7-sign"] != second["m7-sign"]
    for headers in (first, second):
        assert headers["m7-sign"] == sign_request(APP_KEY, SECRET_KEY, headers["m7-timestamp"], headers["m7-nonce"])


@freeze_time("2024-08-10 12:00:00", tick=True)
def test_a_retry_after_500_is_signed_again_with_a_new_nonce() -> None:
    attempts = _retried_attempts(500, '{"success": false, "code": "500", "message": "internal error"}')
    assert len(attempts) == 2
    assert attempts[0]["m7-nonce"] != attempts[1]["m7-nonce"]
    assert int(attempts[1]["m7-timestamp"]) >= int(attempts[0]["m7-timestamp"])


def test_a_wrong_machine_clock_is_corrected_from_the_servers_date_header(caplog: pytest.LogCaptureFixture) -> None:
    now = [1_700_000_000.0]
    authenticator = _authenticator(clock=lambda: now[0])
    response = requests.Response()
    response.headers["Date"] = "Tue, 14 Nov 2023 22:21:20 GMT"  # 1700000480: 8 minutes ahead
    authenticator.learn_server_clock(response)
    assert authenticator.current_timestamp() == "1700000480"
    assert "clock differs from 7moor's by +480 seconds (about 8 minutes" in caplog.text
    caplog.clear()
    response.headers["Date"] = "Tue, 14 Nov 2023 22:13:23 GMT"  # 3 s ahead: not worth correcting
    authenticator.learn_server_clock(response)
    assert authenticator.current_timestamp() == "1700000000"
    assert "clock agrees with 7moor's again" in caplog.text, "the correction is dropped, and said so"
    assert "differs" not in caplog.text


def test_a_nonce_drawn_twice_in_the_same_second_is_drawn_again_so_no_pair_is_sent_twice() -> None:
    draws = iter(["111111", "111111", "111111", "222222", "111111", "333333"])
    authenticator = SignedRequestAuthenticator(
        app_key="{{ config['app_key'] }}",
        secret_key="{{ config['secret_key'] }}",
        config={"app_key": APP_KEY, "secret_key": SECRET_KEY},
        parameters={},
        clock=lambda: 1608119594.7,
        nonces=SentNonces(draw_nonce=lambda: next(draws)),
    )
    sent = [authenticator.get_auth_header() for _ in range(3)]
    assert [h["m7-nonce"] for h in sent] == ["111111", "222222", "333333"], "a collision was drawn again"
    assert len({h["m7-sign"] for h in sent}) == 3


def test_the_same_nonce_may_come_back_once_its_second_has_left_the_replay_window() -> None:
    nonces = SentNonces(draw_nonce=lambda: "123456")
    assert nonces.draw("1608119594") == "123456"
    assert nonces.draw(str(1608119594 + REPLAY_MEMORY_SECONDS + 1)) == "123456"
    assert "1608119594" not in nonces._by_timestamp, "old seconds are forgotten, so memory stays bounded"
