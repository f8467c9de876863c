"""Each attempt's wall-clock deadline covers the headers and the whole body, however they
trickle in: plain, gzip-encoded or chunked. A body earns time as it arrives (the grace plus a
second per floor rate's worth of bytes), and a body larger than the limit fails its attempt."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.models import CONTENT_CHUNK_SIZE

from integration_tests.virtual_clock import VIRTUAL, real_monotonic
from source_moor7_im.hardening import deadline
from source_moor7_im.hardening.deadline import AttemptDeadline, AttemptDeadlineExceeded, ReplyTooLarge, cut_in_this_thread

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
    # Whichever stage it cut, the error handler can tell the deadline from a dropped connection, in the same words.
    assert (cut_in_this_thread() or "").startswith("no complete answer within 1 s"), cut_in_this_thread()


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
        assert cut_in_this_thread() is None, "the watchdog stops with the answer"


def test_an_attempt_that_never_went_out_does_not_time_a_later_request_of_its_thread() -> None:
    AttemptDeadline(0.5).begin(MARKER)  # armed, then refused before sending: nothing consumes it
    for url in serve_trickle([b"HTTP/1.1 200 OK\r\n"] + [b"X-Slow: a\r\n"] * 5 + [b"Content-Length: 0\r\n\r\n"]):
        response = requests.post(url, json={}, timeout=(5, 5))  # 1.2 s to answer, no deadline of its own
        assert response.status_code == 200
        assert cut_in_this_thread() is None


# --- the rule, on the virtual clock ----------------------------------------------------------
GRACE, FLOOR = 10.0, 1024.0  # seconds, bytes a second
CHUNK = b"x" * CONTENT_CHUNK_SIZE  # one of the reads that the body's progress is counted in


def read_request(connection: socket.socket) -> None:
    """The whole request, headers and body, so that what the socket holds next is the client's
    hang-up (the headers and the body may come in two sends)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        body += connection.recv(65536)


class VirtualServer:
    """One answer on the virtual clock: `head` at once, then each piece after its wait, then
    `silence_seconds` of nothing, a second at a time, unless the client hangs up. The waits
    fire the client's virtual deadline timers; before each wait the server lets the client
    read what it was sent (up to 2 s of real time, until the attempt has counted every whole
    chunk of it), as a client on a real clock would have read it by then."""

    def __init__(self, head: bytes, pieces: list[tuple[float, bytes]], silence_seconds: float = 0.0) -> None:
        self.head, self.pieces, self.silence_seconds = head, pieces, silence_seconds
        self.attempt: Any = None  # the client's attempt, once it is armed (`send_once`)

    def serve(self) -> Iterator[str]:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        thread = threading.Thread(target=self._answer, args=(server,), daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.getsockname()[1]}/report"
        finally:
            server.close()
            thread.join(timeout=10)

    def _answer(self, server: socket.socket) -> None:
        try:
            connection, _ = server.accept()
        except OSError:
            return
        with connection:
            read_request(connection)
            sent = 0
            try:
                connection.sendall(self.head)
                for wait, piece in self.pieces:
                    VIRTUAL.sleep(wait)
                    connection.sendall(piece)
                    sent += len(piece)
                    if not self._read_by_the_client(connection, sent // CONTENT_CHUNK_SIZE * CONTENT_CHUNK_SIZE):
                        return
                for _ in range(int(self.silence_seconds)):
                    if not self._read_by_the_client(connection, 0):
                        return
                    VIRTUAL.sleep(1.0)
            except OSError:  # the client gave up
                pass

    def _read_by_the_client(self, connection: socket.socket, counted: int) -> bool:
        """Waits until the attempt has counted `counted` body bytes; False once the client hung up."""
        give_up_at = real_monotonic() + 2.0
        while True:
            readable, _, _ = select.select([connection], [], [], 0.001)
            if readable and connection.recv(1, socket.MSG_PEEK) == b"":
                return False
            if self.attempt is None or self.attempt.received >= counted or real_monotonic() > give_up_at:
                return True


def send_once(
    server: VirtualServer, url: str, rule: AttemptDeadline
) -> tuple[requests.Response | requests.RequestException, float]:
    """One attempt under `rule`: the response or the error, and how long it took (virtual)."""
    request = requests.Request("POST", url, json={}, headers=MARKED, hooks={"response": [rule]}).prepare()
    rule.begin(MARKER)
    server.attempt = deadline._CURRENT.attempt
    started = time.monotonic()
    try:
        outcome: requests.Response | requests.RequestException = requests.Session().send(request, timeout=(5, 5))
    except requests.RequestException as error:
        outcome = error
    return outcome, time.monotonic() - started


def answer(server: VirtualServer, rule: AttemptDeadline) -> tuple[requests.Response | requests.RequestException, float]:
    """`send_once` against `server`, on the virtual clock with virtual deadline timers."""
    with VIRTUAL.timers():
        for url in server.serve():
            return send_once(server, url, rule)
    raise AssertionError("the server did not start")


def length_head(length: int) -> bytes:
    return OK_HEADERS + b"Content-Length: %d\r\n\r\n" % length


@pytest.mark.parametrize(("received", "allowed"), [(0, 60), (16_000, 61), (480_000, 90), (64 * 2**20, 60 + 4194.304)])
def test_an_attempt_may_run_its_grace_plus_a_second_per_floor_rate_of_body(received: int, allowed: float) -> None:
    assert AttemptDeadline(60, 16_000).allowed_seconds(received) == pytest.approx(allowed)
    assert AttemptDeadline(60).allowed_seconds(received) == 60, "without a floor the deadline is fixed"


def test_a_body_arriving_faster_than_the_floor_is_read_whole_long_past_the_grace(monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk every 5 s (2 KiB/s, twice the floor) for a minute. The timer is armed at the
    grace, then again at each time the body has earned: 10 + 10,240 / 1,024 s at 10 s, and so on."""
    armed: list[float] = []
    with VIRTUAL.timers():
        virtual_timer = threading.Timer

        def recording_timer(interval: float, *args, **kwargs):
            armed.append(round(time.monotonic() - started + interval, 1))
            return virtual_timer(interval, *args, **kwargs)

        monkeypatch.setattr(threading, "Timer", recording_timer)
        started = time.monotonic()
        server = VirtualServer(length_head(12 * len(CHUNK)), [(5.0, CHUNK)] * 12)
        for url in server.serve():
            outcome, elapsed = send_once(server, url, AttemptDeadline(GRACE, FLOOR))
    assert isinstance(outcome, requests.Response), outcome
    assert len(outcome.content) == 12 * len(CHUNK)
    assert 60 <= elapsed < 61
    assert armed == [10.0, 20.0, 40.0, 80.0], "armed again for the time each check found earned, not polled"
    assert cut_in_this_thread() is None


def test_a_body_that_stalls_is_cut_at_its_grace_plus_its_bytes_over_the_floor() -> None:
    server = VirtualServer(length_head(100_000), [(0.0, CHUNK * 5)], silence_seconds=300)
    outcome, elapsed = answer(server, AttemptDeadline(GRACE, FLOOR))
    assert isinstance(outcome, AttemptDeadlineExceeded), outcome
    assert str(outcome).startswith("no complete answer within 60 s (51,200 bytes of the body read;"), str(outcome)
    assert 60 <= elapsed < 61, "10 s of grace and 50 s for 51,200 bytes at 1,024 a second"
    assert outcome.attempt_seconds == pytest.approx(elapsed, abs=0.5)


def test_a_body_that_trickles_a_byte_a_second_is_cut_at_the_grace() -> None:
    outcome, elapsed = answer(VirtualServer(length_head(1000), [(1.0, b" ")] * 100), AttemptDeadline(GRACE, FLOOR))
    assert isinstance(outcome, AttemptDeadlineExceeded), outcome
    assert str(outcome).startswith("no complete answer within 10 s (0 bytes of the body read;"), str(outcome)
    assert 10 <= elapsed < 11


def test_a_reply_that_announces_more_than_the_limit_fails_at_once_without_reading_its_body() -> None:
    """No body follows the headers: had the client waited for it, its deadline would have cut it."""
    server = VirtualServer(length_head(200_000), [], silence_seconds=300)
    outcome, _ = answer(server, AttemptDeadline(GRACE, FLOOR, max_body_bytes=100_000))
    assert isinstance(outcome, ReplyTooLarge), outcome
    assert str(outcome) == (
        "The reply announced a body of 200,000 bytes (Content-Length), more than the 100,000 bytes (0.0953674 MiB) this "
        "connector reads from one reply, so the attempt failed without reading it."
    )
    assert (outcome.announced, outcome.read_bytes) == (200_000, 0)


def test_a_content_length_that_is_no_ascii_number_is_not_read_as_one() -> None:
    """ "²" is a digit to str.isdigit and no number to int: the body is read as it comes."""
    body = b'{"success": true}'
    head = OK_HEADERS + b"Content-Length: \xb2\r\nConnection: close\r\n\r\n"
    outcome, _ = answer(VirtualServer(head + body, []), AttemptDeadline(GRACE, FLOOR, max_body_bytes=100_000))
    assert isinstance(outcome, requests.Response), outcome
    assert outcome.content == body


def test_a_reply_larger_than_the_limit_fails_after_reading_at_most_the_limit_and_a_chunk() -> None:
    """Chunked, so no Content-Length says how large it is."""
    head = OK_HEADERS + b"Transfer-Encoding: chunked\r\n\r\n"
    piece = b"%x\r\n%b\r\n" % (10_000, b"y" * 10_000)
    server = VirtualServer(head, [(0.0, piece)] * 30 + [(0.0, b"0\r\n\r\n")])
    outcome, _ = answer(server, AttemptDeadline(GRACE, FLOOR, max_body_bytes=100_000))
    assert isinstance(outcome, ReplyTooLarge), outcome
    assert str(outcome) == (
        "The reply's body was larger than the 100,000 bytes (0.0953674 MiB) this connector reads from one reply, so "
        "the attempt failed once it had read that much."
    )
    assert 100_000 < outcome.read_bytes <= 100_000 + CONTENT_CHUNK_SIZE
    assert outcome.request is not None, "the error names its request (and so the stream's window)"


def test_the_body_is_read_once_as_bytes_and_never_decoded_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests would guess the charset of a body without one from the whole body."""
    body = bytes(range(256)) * 200
    monkeypatch.setattr(requests.Response, "text", property(lambda _: pytest.fail("the body was decoded as text")))
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(body)
    outcome, _ = answer(VirtualServer(head + body, []), AttemptDeadline(GRACE, FLOOR, max_body_bytes=len(body)))
    assert isinstance(outcome, requests.Response), outcome
    assert outcome.content == body, "a body of exactly the limit is read"
    assert outcome.content is outcome.content, "one copy, kept as content"
