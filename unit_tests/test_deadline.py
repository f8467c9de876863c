"""Each attempt's wall-clock deadline covers the headers and the whole body, however they
trickle in: plain, gzip-encoded or chunked."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from source_moor7_im.deadline import AttemptDeadline, AttemptDeadlineExceeded, expired_in_this_thread

MARKER = "a-nonce-of-this-attempt"
MARKED = {"m7-nonce": MARKER}
OK_HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
TRICKLES = {
    # headers, then a body that promises 1,000 bytes and sends one every 0.2 s
    "body": [OK_HEADERS + b"Content-Length: 1000\r\n\r\n{"] + [b" "] * 40,
    # headers that never end
    "headers": [b"HTTP/1.1 200 OK\r\n", b"X-Slow: "] + [b"a"] * 40,
    # a gzip stream whose header names a file that never ends (nothing decodes)
    "gzip": [OK_HEADERS + b"Content-Encoding: gzip\r\nContent-Length: 1000\r\n\r\n\x1f\x8b\x08\x08\x00\x00\x00\x00\x00\x03"]
    + [b"a"] * 40,
    # a chunk-size line that never ends
    "chunked": [OK_HEADERS + b"Transfer-Encoding: chunked\r\n\r\n"] + [b"1"] * 40,
}


def serve_trickle(pieces: list[bytes]) -> Iterator[str]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve() -> None:
        try:
            connection, _ = server.accept()
        except OSError:
            return
        with connection:
            connection.recv(65536)
            try:
                for piece in pieces:
                    connection.sendall(piece)
                    time.sleep(0.2)
            except OSError:  # the client gave up
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/report"
    finally:
        server.close()
        thread.join(timeout=10)


@pytest.fixture(params=list(TRICKLES))
def trickling_server(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from serve_trickle(TRICKLES[request.param])


def test_an_answer_that_trickles_is_cut_at_the_deadline_although_every_read_returns_in_time(trickling_server: str) -> None:
    deadline = AttemptDeadline(1.0)
    request = requests.Request("POST", trickling_server, json={}, headers=MARKED, hooks={"response": [deadline]}).prepare()
    deadline.begin(MARKER)
    started = time.monotonic()
    with pytest.raises(requests.RequestException):
        requests.Session().send(request, timeout=(5, 5))
    assert 1.0 <= time.monotonic() - started < 2.5, "cut at the deadline, not at the 5 s read timeout or the answer's end"
    assert expired_in_this_thread(), "the error handler can tell the deadline from a dropped connection"


def test_a_cut_body_is_reported_as_the_deadline() -> None:
    for url in serve_trickle(TRICKLES["body"]):
        deadline = AttemptDeadline(1.0)
        request = requests.Request("POST", url, json={}, headers=MARKED, hooks={"response": [deadline]}).prepare()
        deadline.begin(MARKER)
        with pytest.raises(AttemptDeadlineExceeded, match="no complete answer within 1 s"):
            requests.Session().send(request, timeout=(5, 5))


def test_a_whole_answer_within_the_deadline_is_read_as_usual() -> None:
    body = b'{"success": true}'
    for url in serve_trickle([OK_HEADERS + b"Content-Length: %d\r\n\r\n" % len(body) + body]):
        deadline = AttemptDeadline(1.0)
        request = requests.Request("POST", url, json={}, headers=MARKED, hooks={"response": [deadline]}).prepare()
        deadline.begin(MARKER)
        assert requests.Session().send(request, timeout=(5, 5)).content == body
        time.sleep(1.2)
        assert not expired_in_this_thread(), "the watchdog stops with the answer"


def test_an_attempt_that_never_went_out_does_not_time_a_later_request_of_its_thread() -> None:
    AttemptDeadline(0.5).begin(MARKER)  # armed, then refused before sending: nothing consumes it
    for url in serve_trickle([b"HTTP/1.1 200 OK\r\n"] + [b"X-Slow: a\r\n"] * 5 + [b"Content-Length: 0\r\n\r\n"]):
        response = requests.post(url, json={}, timeout=(5, 5))  # 1.2 s to answer, no deadline of its own
        assert response.status_code == 200
        assert not expired_in_this_thread()
