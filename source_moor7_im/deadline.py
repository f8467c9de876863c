"""A wall-clock deadline for each HTTP attempt: headers and body, however they trickle in.

Ours because `requests` bounds the connection and each socket read, not the whole answer: a
server sending a byte a second never trips a read timeout. From the moment the request goes
out (Python's audit event `http.client.send`, the only hook before the headers arrive), a
timer shuts that connection's socket down at the deadline, ending any read blocked on it.
The authenticator arms each attempt (`AttemptDeadline.begin`), since the CDK calls it before
every attempt; as a response hook, `AttemptDeadline` reads the body while the timer runs.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Any

import requests


class AttemptDeadlineExceeded(requests.exceptions.ReadTimeout):
    """The answer did not arrive whole within the attempt's deadline."""


class _Attempt:
    """One attempt's watchdog: started when the request goes out, stopped when the body is in."""

    def __init__(self, seconds: float, marker: bytes) -> None:
        self.seconds = seconds
        self.marker = marker
        self.expired = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._sock: socket.socket | None = None
        self._done = False

    def sending_on(self, connection: Any) -> None:
        with self._lock:
            self._sock = getattr(connection, "sock", None)
            if self._timer is None and not self._done:
                self._timer = threading.Timer(self.seconds, self._expire)
                self._timer.daemon = True
                self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # ends any read blocked on it, in any phase

    def finish(self) -> None:
        with self._lock:
            self._done = True
            if self._timer is not None:
                self._timer.cancel()


_CURRENT = threading.local()


def _on_audit(event: str, args: tuple) -> None:
    if event == "http.client.send":
        attempt = getattr(_CURRENT, "attempt", None)
        # Only the attempt's own request starts its clock: one that never went out (refused,
        # failed to connect) must not time a later, unrelated request of this thread.
        if attempt is not None and isinstance(args[1], bytes) and attempt.marker in args[1]:
            attempt.sending_on(args[0])


sys.addaudithook(_on_audit)


def expired_in_this_thread() -> bool:
    """The last attempt sent from this thread was cut at its deadline."""
    attempt = getattr(_CURRENT, "attempt", None)
    return bool(attempt is not None and attempt.expired)


@dataclass(frozen=True)
class AttemptDeadline:
    seconds: float

    def begin(self, marker: str) -> None:
        """Arms the deadline for the attempt this thread is about to send; `marker` is a text
        only that request's headers carry (its nonce)."""
        previous = getattr(_CURRENT, "attempt", None)
        if previous is not None:
            previous.finish()
        _CURRENT.attempt = _Attempt(self.seconds, marker.encode())

    def __call__(self, response: requests.Response, **send_kwargs: Any) -> requests.Response:
        """The response hook: the body is read while the watchdog runs."""
        attempt = getattr(_CURRENT, "attempt", None)
        try:
            if not send_kwargs.get("stream"):
                response.content  # noqa: B018 - reads and keeps the body
        except requests.RequestException as error:
            response.close()  # a half-read connection must not go back to the pool
            if attempt is None or not attempt.expired:
                # `iter_content` raises without the request, which names the stream's window
                error.request = error.request or response.request
                raise
        finally:
            if attempt is not None:
                attempt.finish()
        if attempt is not None and attempt.expired:
            # Cut by the watchdog; a body that ends at the connection's close may look whole.
            raise AttemptDeadlineExceeded(
                f"no complete answer within {self.seconds:g} s (the answer was still arriving)", request=response.request
            )
        return response
