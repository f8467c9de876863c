"""7moor's request signing, made on the prepared request that the CDK hands over again before every
retry, so that each attempt carries a fresh timestamp and nonce (docs/design/signing.md)."""

import base64
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

# 7moor allows 5 minutes; a smaller skew is left alone (latency and Date's one-second resolution blur it).
CLOCK_SKEW_CORRECTION_THRESHOLD_SECONDS = 30
# 7moor remembers a sign + nonce 5 minutes; a minute more here covers a clock correction that brings old timestamps back.
REPLAY_MEMORY_SECONDS = 360


def sign_request(app_key: str, secret_key: str, timestamp: str, nonce: str) -> str:
    return base64.b64encode(hmac.digest(secret_key.encode(), f"{app_key}{timestamp}{nonce}".encode(), "sha256")).decode()


@dataclass
class SentNonces:
    """The (timestamp, nonce) pairs a read signed in the last `REPLAY_MEMORY_SECONDS`: two random nonces
    in one second collide about once in a few thousand requests, so `draw` draws until the pair is new."""

    draw_nonce: Callable[[], str] = lambda: str(100000 + secrets.randbelow(900000))  # `secrets`: a guessable nonce helps a replay
    _by_timestamp: dict = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def draw(self, timestamp: str) -> str:
        with self._lock:
            for old in [second for second in self._by_timestamp if int(second) < int(timestamp) - REPLAY_MEMORY_SECONDS]:
                del self._by_timestamp[old]
            used = self._by_timestamp.setdefault(timestamp, set())
            nonce = next(drawn for drawn in iter(self.draw_nonce, None) if drawn not in used)
            used.add(nonce)
            return nonce


@dataclass
class SignedRequestAuthenticator(DeclarativeAuthenticator):
    """Signs every attempt with `m7-appkey`, `m7-timestamp`, `m7-nonce` and `m7-sign`, arms its deadline and
    body limit (hardening/deadline.py), refuses redirects and follows 7moor's clock from `Date`."""

    app_key: InterpolatedString | str
    secret_key: InterpolatedString | str
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    attempt_deadline_seconds: float | None = None
    attempt_floor_bytes_per_second: float | None = None
    max_body_bytes: int | None = None
    clock: Callable[[], float] = field(default=time.time)
    # One memory for the read, shared by every stream's authenticator: 7moor refuses a replay across streams.
    nonces: SentNonces = field(default_factory=lambda: ReadScope.current().part(SentNonces))
    stop: StopSignal = field(default_factory=lambda: ReadScope.current().stop)
    _clock_offset_seconds: float = field(default=0.0, init=False, repr=False)
    # The header interface asks for one header; this scheme sets four (get_auth_header).
    auth_header = "m7-sign"

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        # valid_types=(str,): else interpolation makes "2000103" an int (a secret "1e5" a float) and signs the wrong text.
        self._app_key, self._secret_key = (
            InterpolatedString.create(str(key), parameters=parameters).eval(self.config, valid_types=(str,))
            for key in (self.app_key, self.secret_key)
        )
        seconds, floor, most = self.attempt_deadline_seconds, self.attempt_floor_bytes_per_second, self.max_body_bytes
        self._deadline = AttemptDeadline(seconds, floor or None, most or None) if seconds else None
        self._stream_name = parameters.get("name", "")

    def __repr__(self) -> str:  # never let the secret reach a log line through repr()
        return f"SignedRequestAuthenticator(app_key={self._app_key!r})"

    def current_timestamp(self) -> str:
        return str(int(self.clock() + self._clock_offset_seconds))

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign this attempt: called on the first send and again by the CDK before each retry.
        A retry whose wait began before the read stopped is not sent (hardening/stop_rules.py)."""
        if (stopped := self.stop.reason_to_stop(self._stream_name)) and "m7-sign" in request.headers:
            raise ReadStopped(stopped)
        request.headers.update(self.get_auth_header())
        # First: a redirect's body is not read. Then the server's clock, before the deadline's
        # hook reads the body: `Date` is compared with the clock when the headers arrive.
        hooks = request.hooks["response"]
        hooks += [hook for hook in (refuse_redirects, self.learn_server_clock, self._deadline) if hook and hook not in hooks]
        if self._deadline is not None:
            self._deadline.begin(request.headers["m7-nonce"])
        return request

    def get_auth_header(self) -> Mapping[str, Any]:
        timestamp = self.current_timestamp()
        nonce = self.nonces.draw(timestamp)
        sign = sign_request(self._app_key, self._secret_key, timestamp, nonce)
        return {"m7-appkey": self._app_key, "m7-timestamp": timestamp, "m7-nonce": nonce, "m7-sign": sign}

    @property
    def token(self) -> str:
        return self.get_auth_header()["m7-sign"]

    def learn_server_clock(self, response: requests.Response, **_: Any) -> None:
        """The response hook that learns 7moor's clock from `Date` as the headers arrive; only a
        clearly wrong clock is corrected (`CLOCK_SKEW_CORRECTION_THRESHOLD_SECONDS`)."""
        server_now = http_date(response.headers.get("Date"))
        offset = self._clock_offset_seconds if server_now is None else server_now - self.clock()
        if abs(offset - self._clock_offset_seconds) >= CLOCK_SKEW_CORRECTION_THRESHOLD_SECONDS:
            self._clock_offset_seconds = offset if abs(offset) >= CLOCK_SKEW_CORRECTION_THRESHOLD_SECONDS else 0.0
            LOGGER.warning(
                f"This machine's clock differs from 7moor's by {self._clock_offset_seconds:+.0f} seconds (about {round(abs(self._clock_offset_seconds) / 60)} minutes; server Date: {response.headers.get('Date')}); request timestamps are corrected by that offset for the rest of the sync. Setting the clock right (NTP) removes this warning."
                if self._clock_offset_seconds
                else f"This machine's clock agrees with 7moor's again (server Date: {response.headers.get('Date')}); request timestamps are no longer corrected."
            )
