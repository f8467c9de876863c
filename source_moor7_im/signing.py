"""7moor's request signing, applied to every HTTP attempt.

7moor rejects a timestamp 5 minutes from its clock and a `sign + nonce` it has seen, so the
signature is made in `__call__` on the prepared request, which the CDK's `HttpClient` calls
again before every retry: each attempt carries a fresh timestamp and nonce. The same call
arms the attempt's deadline and the hooks that refuse a redirect and read 7moor's clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import InitVar, dataclass, field
from typing import Any

import requests

from airbyte_cdk.sources.declarative.auth.declarative_authenticator import DeclarativeAuthenticator
from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.types import Config

from .hardening.deadline import AttemptDeadline
from .hardening.messages import LOGGER, ReadStopped
from .hardening.retries import http_date, refuse_redirects
from .hardening.stop_rules import ReadScope, StopSignal

# The server's tolerance is 5 minutes; a skew below this is left alone (latency and the
# one-second resolution of the Date header make small offsets meaningless).
CLOCK_SKEW_CORRECTION_THRESHOLD_SECONDS = 30


def sign_request(app_key: str, secret_key: str, timestamp: str, nonce: str) -> str:
    """base64(HMAC-SHA256(key=secret_key, message=app_key + timestamp + nonce))."""
    digest = hmac.new(
        secret_key.encode("utf-8"),
        f"{app_key}{timestamp}{nonce}".encode(),
        hashlib.sha256,
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def new_nonce() -> str:
    """A 6-digit random number; `secrets` because a predictable nonce helps a replay."""
    return str(100000 + secrets.randbelow(900000))


# 7moor remembers a sign + nonce for 5 minutes; a pair is kept a minute longer here so that
# a clock correction in between cannot bring an old timestamp back into the server's memory.
REPLAY_MEMORY_SECONDS = 360


@dataclass
class SentNonces:
    """The (timestamp, nonce) pairs a read signed in the last `REPLAY_MEMORY_SECONDS`.

    With a few hundred requests a second, two random 6-digit nonces in the same second
    collide about once in a few thousand requests, and 7moor refuses the second as a replay.
    `draw` keeps drawing until the pair is new, so no pair is sent twice (one set per
    timestamp second; old seconds are dropped as time moves on)."""

    draw_nonce: Callable[[], str] = new_nonce
    _by_timestamp: dict = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def draw(self, timestamp: str) -> str:
        with self._lock:
            self._forget_before(int(timestamp) - REPLAY_MEMORY_SECONDS)
            used = self._by_timestamp.setdefault(timestamp, set())
            nonce = self.draw_nonce()
            while nonce in used:
                nonce = self.draw_nonce()
            used.add(nonce)
            return nonce

    def _forget_before(self, oldest: int) -> None:
        for old in [t for t in self._by_timestamp if int(t) < oldest]:
            del self._by_timestamp[old]


@dataclass
class SignedRequestAuthenticator(DeclarativeAuthenticator):
    """Signs every attempt with `m7-appkey`, `m7-timestamp`, `m7-nonce` and `m7-sign`, and arms
    its wall-clock deadline and body limit (hardening/deadline.py): the CDK calls this component before
    every attempt. From each response's `Date`, read as its headers arrive
    (`learn_server_clock`), a clock more than `CLOCK_SKEW_CORRECTION_THRESHOLD_SECONDS` off
    7moor's is corrected for later timestamps.
    """

    app_key: InterpolatedString | str
    secret_key: InterpolatedString | str
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    attempt_deadline_seconds: float | None = None
    attempt_floor_bytes_per_second: float | None = None
    max_body_bytes: int | None = None
    clock: Callable[[], float] = field(default=time.time)
    # One memory for the read: every stream's requester has its own authenticator, and a
    # replay is refused whichever stream sent the first request.
    nonces: SentNonces = field(default_factory=lambda: ReadScope.current().part(SentNonces))
    stop: StopSignal = field(default_factory=lambda: ReadScope.current().stop)
    _clock_offset_seconds: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        # valid_types=(str,): interpolation would otherwise literal_eval "2000103" into an
        # int, or a secret such as "1e5" into a float, and sign with the wrong text.
        self._app_key = InterpolatedString.create(str(self.app_key), parameters=parameters).eval(self.config, valid_types=(str,))
        self._secret_key = InterpolatedString.create(str(self.secret_key), parameters=parameters).eval(
            self.config, valid_types=(str,)
        )
        self._deadline = (
            AttemptDeadline(
                float(self.attempt_deadline_seconds),
                float(self.attempt_floor_bytes_per_second) if self.attempt_floor_bytes_per_second else None,
                int(self.max_body_bytes) if self.max_body_bytes else None,
            )
            if self.attempt_deadline_seconds
            else None
        )
        self._stream_name = parameters.get("name", "")

    def __repr__(self) -> str:  # never let the secret reach a log line through repr()
        return f"SignedRequestAuthenticator(app_key={self._app_key!r})"

    def current_timestamp(self) -> str:
        return str(int(self.clock() + self._clock_offset_seconds))

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign this attempt: called on the first send and again by the CDK before each retry.
        A retry whose wait began before the read stopped is not sent (hardening/stop_rules.py)."""
        stopped = self.stop.reason_to_stop(self._stream_name)
        if stopped and "m7-sign" in request.headers:
            raise ReadStopped(stopped)
        request.headers.update(self.get_auth_header())
        # First: a redirect's body is not read. Then the server's clock, before the deadline's
        # hook reads the body: `Date` is compared with the clock when the headers arrive,
        # however long the body then takes.
        if refuse_redirects not in request.hooks["response"]:
            request.register_hook("response", refuse_redirects)
        if self.learn_server_clock not in request.hooks["response"]:
            request.register_hook("response", self.learn_server_clock)
        if self._deadline is not None:
            self._deadline.begin(request.headers["m7-nonce"])
            if self._deadline not in request.hooks["response"]:
                request.register_hook("response", self._deadline)
        return request

    def get_auth_header(self) -> Mapping[str, Any]:
        timestamp = self.current_timestamp()
        nonce = self.nonces.draw(timestamp)
        return {
            "m7-appkey": self._app_key,
            "m7-timestamp": timestamp,
            "m7-nonce": nonce,
            "m7-sign": sign_request(self._app_key, self._secret_key, timestamp, nonce),
        }

    # The header-based interface of AbstractHeaderAuthenticator asks for one header; this
    # scheme sets four, so get_auth_header is overridden and these two are informational.
    @property
    def auth_header(self) -> str:
        return "m7-sign"

    @property
    def token(self) -> str:
        return self.get_auth_header()["m7-sign"]

    def learn_server_clock(self, response: requests.Response, **_: Any) -> None:
        """The response hook that learns the server's clock from `Date`, as the headers arrive."""
        server_now = http_date(response.headers.get("Date"))
        if server_now is None:
            return
        offset = server_now - self.clock()
        # Date has one-second resolution and arrives after the server read the clock;
        # only a clearly wrong clock is corrected.
        if abs(offset - self._clock_offset_seconds) < CLOCK_SKEW_CORRECTION_THRESHOLD_SECONDS:
            return
        if abs(offset) < CLOCK_SKEW_CORRECTION_THRESHOLD_SECONDS:
            offset = 0.0
        LOGGER.warning(
            "This machine's clock differs from 7moor's by %+.0f seconds (about %d minutes; server Date: %s); "
            "request timestamps are corrected by that offset for the rest of the sync. "
            "Setting the clock right (NTP) removes this warning.",
            offset,
            round(abs(offset) / 60),
            response.headers.get("Date"),
        )
        self._clock_offset_seconds = offset
