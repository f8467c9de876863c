"""Each HTTP attempt's wall-clock deadline, which a body that keeps arriving moves on, and the
largest reply read.

CDK gap: the CDK hands `requests` a connect and a read timeout, which bound the connection
and each socket read, not the answer: a server sending a byte a second never trips one. From
the moment the request goes out (Python's audit event `http.client.send`, the only hook
before the headers arrive), a timer shuts that connection's socket down at the deadline,
ending any read blocked on it. An attempt is cut once it has run longer than `seconds + body
bytes received / floor_bytes_per_second`: a large body arriving at the floor rate or faster
is read whole, one that stalls or trickles below it is cut. The body is read once, as bytes,
into `response.content` (never `response.text`: on a body without a charset, requests
guesses one from the whole body), and a body past `max_body_bytes` fails the attempt
(`ReplyTooLarge`). The smallest CDK change: an `HttpRequester` option for a whole-answer
deadline and a body limit, enforced by the `HttpClient` as it reads the body.

A connector arms each attempt (`AttemptDeadline.begin`, from its authenticator, which the
CDK calls before every attempt) and registers the deadline as a response hook. The audit
hook is added once per process, when the first attempt is armed (Python has no way to take
one away).
"""

from __future__ import annotations

import contextlib
import io
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from requests.models import CONTENT_CHUNK_SIZE


class AttemptDeadlineExceeded(requests.exceptions.ReadTimeout):
    """The answer did not arrive whole within the attempt's deadline. `attempt_seconds`: how
    long the attempt ran."""

    def __init__(self, *args: Any, attempt_seconds: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.attempt_seconds = attempt_seconds


class ReplyTooLarge(requests.RequestException):
    """A reply whose body is larger than `limit` bytes: the attempt fails having read
    `read_bytes` of it (the limit and at most one read of `CONTENT_CHUNK_SIZE` more), or none
    when its Content-Length (`announced`) says so. `attempt_seconds`: how long the attempt ran."""

    def __init__(self, limit: int, announced: int | None, read_bytes: int, attempt_seconds: float, **kwargs: Any) -> None:
        size = f"the {limit:,} bytes ({limit / 2**20:g} MiB) this connector reads from one reply"
        text = f"The reply's body was larger than {size}, so the attempt failed once it had read that much."
        if announced is not None:
            text = f"The reply announced a body of {announced:,} bytes (Content-Length), more than {size}, so the attempt failed without reading it."
        super().__init__(text, **kwargs)
        self.announced, self.read_bytes, self.attempt_seconds = announced, read_bytes, attempt_seconds


@dataclass(frozen=True)
class AttemptDeadline:
    """The rule: an attempt may run `seconds`, plus a second per `floor_bytes_per_second`
    bytes of body received (None: a fixed deadline); a body larger than `max_body_bytes`
    (None: any size) fails the attempt."""

    seconds: float
    floor_bytes_per_second: float | None = None
    max_body_bytes: int | None = None

    def allowed_seconds(self, received_bytes: int) -> float:
        """How long an attempt may run once `received_bytes` of its body have arrived."""
        return self.seconds + received_bytes / self.floor_bytes_per_second if self.floor_bytes_per_second else self.seconds

    def begin(self, marker: str) -> None:
        """Arms the deadline for the attempt this thread is about to send; `marker` is a text
        only that request's headers carry (its nonce)."""
        with _HOOK:
            if not _hooked:
                sys.addaudithook(_on_audit)
                _hooked.append(True)
        if (previous := getattr(_CURRENT, "attempt", None)) is not None:
            previous.finish()
        _CURRENT.attempt = _Attempt(self, marker.encode())

    def __call__(self, response: requests.Response, **send_kwargs: Any) -> requests.Response:
        """The response hook (of a request whose attempt `begin` armed in this thread): the body
        is read while the watchdog runs."""
        attempt: _Attempt = _CURRENT.attempt
        try:
            if not send_kwargs.get("stream"):
                self._read_body(response, attempt)
        except requests.RequestException as error:
            response.close()  # a half-read connection must not go back to the pool
            if not attempt.expired:
                # `iter_content` raises without the request, which names the stream's window
                error.request = error.request or response.request
                raise
        finally:
            attempt.finish()
        if attempt.expired:
            # Cut by the watchdog; a body that ends at the connection's close may look whole.
            raise AttemptDeadlineExceeded(self._cut(attempt), attempt_seconds=attempt.seconds_run(), request=response.request)
        return response

    def _cut(self, attempt: _Attempt) -> str:
        """What a cut says: the time the attempt had, and what earned it."""
        allowed = self.allowed_seconds(attempt.cut_at_bytes)
        if not self.floor_bytes_per_second:
            return f"no complete answer within {allowed:.0f} s (the answer was still arriving)"
        return f"no complete answer within {allowed:.0f} s ({attempt.cut_at_bytes:,} bytes of the body read; an attempt gets {self.seconds:g} s and 1 s more per {self.floor_bytes_per_second:,.0f} bytes of body)"

    def _read_body(self, response: requests.Response, attempt: _Attempt) -> None:
        """The body into `response.content`, telling the watchdog how much has arrived."""
        limit = self.max_body_bytes
        announced = (response.headers.get("Content-Length") or "").strip()
        if limit is not None and announced.isascii() and announced.isdigit() and int(announced) > limit:
            raise ReplyTooLarge(limit, int(announced), 0, attempt.seconds_run(), request=response.request)
        if response.raw is None:
            return  # nothing to read: requests answers `content` without one
        # One buffer that grows in place: its value is handed over without a second copy.
        body = io.BytesIO()
        # Progress is counted as requests hands the body over, CONTENT_CHUNK_SIZE (10 KiB) at a
        # time: the bytes of a chunk not yet whole earn nothing yet.
        for chunk in response.iter_content(CONTENT_CHUNK_SIZE):
            body.write(chunk)
            attempt.received = body.tell()
            if limit is not None and attempt.received > limit:
                raise ReplyTooLarge(limit, None, attempt.received, attempt.seconds_run(), request=response.request)
        # Where requests keeps a body it has read: `content` returns it from now on.
        response._content = body.getvalue()


class _Attempt:
    """One attempt's watchdog: started when the request goes out, moved on by the body's
    progress, stopped when the body is in."""

    def __init__(self, rule: AttemptDeadline, marker: bytes) -> None:
        self.rule, self.marker = rule, marker
        self.expired = False
        self.received = 0  # body bytes read so far, set by the thread that reads them
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._sent_at: float | None = None
        self._done = False

    def sending_on(self, connection: Any) -> None:
        with self._lock:
            self._sock: socket.socket = connection.sock  # connected: http.client audits a send once it has a socket
            if self._timer is None and not self._done:
                self._sent_at = time.monotonic()
                self._arm(self.rule.seconds)

    def seconds_run(self) -> float:
        return 0.0 if self._sent_at is None else time.monotonic() - self._sent_at

    def _arm(self, seconds: float) -> None:
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.cut_at_bytes = self.received  # read only once `expired`
            wait = self.rule.allowed_seconds(self.cut_at_bytes) - self.seconds_run()
            if wait > 0:
                self._arm(wait)  # bytes arrived since the timer was armed: the time they earned
                return
            self.expired = True
            with contextlib.suppress(OSError):  # the timer runs once the request went out on this socket
                self._sock.shutdown(socket.SHUT_RDWR)  # ends any read blocked on it, in any phase

    def finish(self) -> None:
        with self._lock:
            self._done = True
            if self._timer is not None:
                self._timer.cancel()


# The attempt each thread sent last: the audit hook, which runs in the sending thread, finds
# its attempt here.
_CURRENT = threading.local()
_HOOK = threading.Lock()
_hooked: list[bool] = []  # one entry once the audit hook is in


def _on_audit(event: str, args: tuple) -> None:
    attempt = getattr(_CURRENT, "attempt", None) if event == "http.client.send" else None
    # Only the attempt's own request starts its clock: one that never went out (refused,
    # failed to connect) must not time a later, unrelated request of this thread.
    if attempt is not None and isinstance(args[1], bytes) and attempt.marker in args[1]:
        attempt.sending_on(args[0])


def expired_in_this_thread() -> bool:
    """The last attempt sent from this thread was cut at its deadline."""
    return bool(getattr(getattr(_CURRENT, "attempt", None), "expired", False))
