"""Each attempt's wall-clock deadline covers the whole body: a server that trickles it is cut."""

from __future__ import annotations

import socket
import threading
import time
from typing import Iterator

import pytest
import requests

from source_moor7_im.deadline import AttemptDeadline, AttemptDeadlineExceeded


@pytest.fixture
def trickling_server() -> Iterator[str]:
    """Headers promising 1,000 bytes, then a byte every 0.2 s for 4 s."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
            try:
                for _ in range(20):
                    time.sleep(0.2)
                    connection.sendall(b" ")
            except OSError:  # the client gave up
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/report"
    finally:
        server.close()
        thread.join(timeout=5)


def test_a_trickling_body_is_cut_at_the_deadline_although_every_read_returns_in_time(trickling_server: str) -> None:
    request = requests.Request("POST", trickling_server, json={}, hooks={"response": [AttemptDeadline(1.0)]}).prepare()
    started = time.monotonic()
    with pytest.raises(AttemptDeadlineExceeded, match="no complete answer within 1 s"):
        requests.Session().send(request, timeout=(5, 5))
    assert 1.0 <= time.monotonic() - started < 2.0, "cut at the deadline, not at the 5 s read timeout or the body's end"


def test_a_whole_body_within_the_deadline_is_read_as_usual() -> None:
    body = b'{"success": true}'

    class Answer(requests.adapters.BaseAdapter):
        def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
            response = requests.Response()
            response.status_code, response.raw, response.request = 200, _Raw(body), request
            return response

        def close(self) -> None:
            pass

    session = requests.Session()
    session.mount("http://", Answer())
    request = requests.Request("POST", "http://127.0.0.1:9/report", json={}, hooks={"response": [AttemptDeadline(1.0)]}).prepare()
    assert session.send(request).content == body


class _Raw:
    """A body that arrives in one read, as urllib3's response gives it."""

    def __init__(self, body: bytes) -> None:
        self._chunks = [body]

    def read1(self, amount: int, decode_content: bool = True) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""
