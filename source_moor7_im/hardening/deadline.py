"""Each HTTP attempt's wall-clock deadline, which a body that keeps arriving moves on, and the largest reply read.

CDK gap: its connect and read timeouts bound the connection and each socket read, not the answer: a server sending
a byte a second trips neither (docs/design/retries-and-deadlines.md). The smallest CDK change: an `HttpRequester`
option for a whole-answer deadline and a body limit, enforced by its `HttpClient` as it reads the body."""

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

_CURRENT = threading.local()  # the attempt this thread sent last, for the audit hook, which runs in the sending thread
_HOOK = threading.Lock()
_hooked: list[bool] = []  # one entry once the audit hook is in


class AttemptDeadlineExceeded(requests.exceptions.ReadTimeout):
    def __init__(self, *args: Any, attempt_seconds: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.attempt_seconds = attempt_seconds


class ReplyTooLarge(requests.RequestException):
    """A body over `limit` bytes: fails having read `read_bytes` (a chunk more at most), or none if `announced`."""

    def __init__(self, limit: int, announced: int | None, read_bytes: int, attempt_seconds: float, **kwargs: Any) -> None:
        size = f"the {limit:,} bytes ({limit / 2**20:g} MiB) this connector reads from one reply"
        text = f"The reply's body was larger than {size}, so the attempt failed once it had read that much."
        if announced is not None:
            text = f"The reply announced a body of {announced:,} bytes (Content-Length), more than {size}, so the attempt failed without reading it."
        super().__init__(text, **kwargs)
        self.announced, self.read_bytes, self.attempt_seconds = announced, read_bytes, attempt_seconds


@dataclass(frozen=True)
class AttemptDeadline:
    """The rule (None: a fixed deadline, a body of any size), and the response hook that applies it."""

    seconds: float
    floor_bytes_per_second: float | None = None
    max_body_bytes: int | None = None

    def allowed_seconds(self, received_bytes: int) -> float:
        return self.seconds + received_bytes / self.floor_bytes_per_second if self.floor_bytes_per_second else self.seconds

    def begin(self, marker: str) -> None:
        """Arms the deadline for the attempt this thread sends next; `marker`: a text only its headers carry."""
        with _HOOK:
            if not _hooked:  # once per process, at the first attempt: Python cannot take a hook away
                sys.addaudithook(_on_audit)
                _hooked.append(True)
        if (previous := getattr(_CURRENT, "attempt", None)) is not None:
            previous.finish()
        _CURRENT.attempt = _Attempt(self, marker.encode())

    def __call__(self, response: requests.Response, **send_kwargs: Any) -> requests.Response:
        """Reads the body into `response.content`, once, as bytes, while the watchdog runs."""
        attempt: _Attempt = _CURRENT.attempt
        try:
            if not send_kwargs.get("stream"):
                limit = self.max_body_bytes
                announced = (response.headers.get("Content-Length") or "").strip()
                if limit is not None and announced.isascii() and announced.isdigit() and int(announced) > limit:
                    raise ReplyTooLarge(limit, int(announced), 0, attempt.seconds_run(), request=response.request)
                if response.raw is not None:  # without one, requests answers `content` itself
                    body = io.BytesIO()  # grows in place, and its value is handed over without a copy
                    for chunk in response.iter_content(CONTENT_CHUNK_SIZE):
                        body.write(chunk)
                        attempt.received = body.tell()
                        if limit is not None and attempt.received > limit:
                            raise ReplyTooLarge(limit, None, attempt.received, attempt.seconds_run(), request=response.request)
                    response._content = body.getvalue()  # where requests keeps a body it has read
        except requests.RequestException as error:
            response.close()  # a half-read connection must not go back to the pool
            if not attempt.expired:
                error.request = error.request or response.request  # `iter_content` raises without it
                raise
        finally:
            attempt.finish()
        if attempt.expired:  # a body that ends at the connection's close may look whole
            raise AttemptDeadlineExceeded(self.cut_text(attempt), attempt_seconds=attempt.seconds_run(), request=response.request)
        return response

    def cut_text(self, attempt: "_Attempt") -> str:
        allowed = self.allowed_seconds(attempt.cut_at_bytes)
        if not self.floor_bytes_per_second:
            return f"no complete answer within {allowed:.0f} s (the answer was still arriving)"
        return f"no complete answer within {allowed:.0f} s ({attempt.cut_at_bytes:,} bytes of the body read; an attempt gets {self.seconds:g} s and 1 s more per {self.floor_bytes_per_second:,.0f} bytes of body)"


class _Attempt:
    """One attempt's watchdog: started as the request goes out, moved on by the body, stopped when it is in."""

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


def _on_audit(event: str, args: tuple) -> None:
    attempt = getattr(_CURRENT, "attempt", None) if event == "http.client.send" else None
    # Only the attempt's own request starts its clock, not a later request of this thread after one that never went out.
    if attempt is not None and isinstance(args[1], bytes) and attempt.marker in args[1]:
        attempt.sending_on(args[0])


def cut_in_this_thread() -> str | None:
    """What the deadline says of this thread's attempt if it cut it, whether requests then raised or answered."""
    attempt = getattr(_CURRENT, "attempt", None)
    return attempt.rule.cut_text(attempt) if attempt is not None and attempt.expired else None
