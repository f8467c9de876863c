"""The manifest's error handler, with what its filters cannot say about 7moor replies.

- A failure names its stream and `createTime` window: the filters' templates see the
  response, not the request. A network error names the host and what went wrong.
- A reply counts as a report only in its documented shape; any other "success" is retried.
- A refusal of one report (no permission) stops that report's stream only.
- Retries are bounded by time and logged with their real reason. Ours because the CDK's
  `max_time` bounds no rate-limited retry (its rate-limit handler takes only a count) and
  lets a hung host's last attempt start at the budget's end, and `WaitTimeFromHeader`, whose
  cap would stop the window too, reads no HTTP date.
- The body is parsed once, by orjson: each `HttpResponseFilter` calls `response.json()`
  again, a tenth of the connector's CPU on a large report (py-spy, scripts/bench.py).
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import InitVar, dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.requesters.error_handlers.default_error_handler import DefaultErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction

from .deadline import AttemptDeadlineExceeded, expired_in_this_thread
from .messages import LOGGER, ReadStopped, ReportRefused, RetriesSpent, bounded_text, location
from .stop_rules import READ_STOP, StopSignal


def report_shape_problem(body: Any) -> str | None:
    """What keeps a successful envelope from being a report; None for a report (an empty
    `data.list` is a real empty report)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return "it has no data object" if data is None else f"its data is a {type(data).__name__}, not an object"
    for key in ("header", "list"):
        found = data.get(key)
        if not isinstance(found, list):
            return f"data.{key} is missing" if found is None else f"data.{key} is a {type(found).__name__}, not a list"
    return None


# The words of a refusal that concerns the request's signature or credentials, whatever its status.
_CREDENTIAL_WORDS = ("sign", "签名", "appkey", "鉴权", "timestamp", "时间戳", "nonce")
_PERMISSION_WORDS = ("权限", "无权", "未开通", "permission", "forbidden", "not authorized", "access denied")


def is_report_refusal(status: int, body: Any) -> bool:
    """7moor refusing one report to the account rather than rejecting its credentials (the
    error envelope is undocumented; README, "A refused report or refused credentials")."""
    envelope = body if isinstance(body, dict) else {}
    message = str(envelope.get("message") or "").lower()
    code = str(envelope.get("code") or "")
    if envelope.get("success") is True or status == 401 or code == "401":
        return False
    if any(word in message for word in _CREDENTIAL_WORDS):
        return False
    return status == 403 or code == "403" or any(word in message for word in _PERMISSION_WORDS)


@dataclass
class RetryAfterHeader(BackoffStrategy):
    """The wait `Retry-After` asks for, in seconds or as an HTTP date (RFC 9110); None without one."""

    parameters: InitVar[Mapping[str, Any] | None] = None
    clock: Callable[[], float] = time.time

    def __post_init__(self, parameters: Mapping[str, Any] | None) -> None:
        pass

    def backoff_time(self, response_or_exception: Any, attempt_count: int) -> float | None:
        if not isinstance(response_or_exception, requests.Response):
            return None
        value = (response_or_exception.headers.get("Retry-After") or "").strip()
        if not value:
            return None
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
        try:
            return max(parsedate_to_datetime(value).timestamp() - self.clock(), 0.0)
        except (TypeError, ValueError, IndexError):
            return None


def create_time(request: requests.PreparedRequest | None) -> list[str] | None:
    """A report request's createTime window, from its body."""
    try:
        window = json.loads(getattr(request, "body", None) or "")["createTime"]
    except (ValueError, KeyError, TypeError):
        return None
    return window if isinstance(window, list) and len(window) == 2 else None


@contextmanager
def parse_body_once(response: requests.Response) -> Iterator[None]:
    """Inside the block, `response.json()` returns one orjson parse of the body, with the
    `message` and `code` the filters quote cut to `MAX_QUOTE_BYTES`. A body that is not JSON
    is left alone (the filters see `{}`); after the block the parse is dropped, so a large
    report is not held twice while its records are read."""
    try:
        parsed = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        yield
        return
    if isinstance(parsed, dict):
        for key in ("message", "code"):
            if parsed.get(key) is not None and not isinstance(parsed[key], (int, float, bool)):
                parsed[key] = bounded_text(parsed[key])
    response.json = lambda **_: parsed  # type: ignore[method-assign]
    try:
        yield
    finally:
        del response.json  # the class's method again


@dataclass
class ReportErrorHandler(ErrorHandler, BackoffStrategy):
    """The manifest's `DefaultErrorHandler`, parsing each body once and naming the stream and
    window in failure messages; also its own backoff strategy, the one place a retry is
    decided and logged:

    - the wait is the manifest's first strategy's answer (`Retry-After`, then exponential),
      at most `max_wait_seconds` and what is left of the window's budget;
    - a `Retry-After` above `max_wait_seconds` stops the window: waiting hours would hold
      the whole sync, and sending earlier would only be refused;
    - the window stops once `retry_budget_seconds` have passed since its first attempt was
      sent (its failure time less how long it took: `elapsed`, or the timeout it ran into),
      so a host that never answers costs one timeout past the budget, not two;
    - when `READ_STOP` says the read or the stream has stopped, no retry is sent.
    """

    error_handler: DefaultErrorHandler
    parameters: InitVar[Mapping[str, Any]]
    max_wait_seconds: float
    retry_budget_seconds: float
    # The requester's timeouts: how long an attempt that timed out took.
    connect_timeout_seconds: float = 0.0
    read_timeout_seconds: float = 0.0
    stop: StopSignal = field(default_factory=lambda: READ_STOP)
    clock: Callable[[], float] = time.monotonic
    _first_attempt: weakref.WeakKeyDictionary[Any, float] = field(
        default_factory=weakref.WeakKeyDictionary, init=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self.stream_name = parameters.get("name", "")
        for name in ("max_wait_seconds", "retry_budget_seconds", "connect_timeout_seconds", "read_timeout_seconds"):
            setattr(self, name, float(getattr(self, name)))
        self.strategies: list[BackoffStrategy] = list(self.error_handler.backoff_strategies or [])

    # The HttpClient reads the retry count, time and backoff from the handler it is given.
    @property
    def max_retries(self) -> int | None:
        # the component factory has evaluated the manifest's interpolated value by now
        return None if self.error_handler.max_retries is None else int(self.error_handler.max_retries)

    @property
    def max_time(self) -> int | None:
        return self.error_handler.max_time

    @property
    def backoff_strategies(self) -> list[Any] | None:
        return [self]

    def backoff_time(self, response_or_exception: Any, attempt_count: int) -> float | None:
        reason = self.describe_failure(response_or_exception)
        self.stop.attempt_failed()
        stopped = self.stop.reason_to_stop(self.stream_name)
        if stopped:
            # The cause of the stop is said once, in the error that follows.
            LOGGER.warning("%s Attempt %d failed; not retried: the read or its stream has stopped.", reason, attempt_count)
            raise ReadStopped(stopped)
        request = getattr(response_or_exception, "request", None)
        now = self.clock()
        with self._lock:
            started = now - self._attempt_seconds(response_or_exception)
            first = self._first_attempt.setdefault(request, started) if request is not None else started
        left = self.retry_budget_seconds - (now - first)
        wait, from_header = 1.0, False
        for index, strategy in enumerate(self.strategies):
            answer = strategy.backoff_time(response_or_exception, attempt_count)
            if answer:
                wait = float(answer)
                from_header = index == 0 and "Retry-After" in getattr(response_or_exception, "headers", {})
                break
        if from_header and wait > self.max_wait_seconds:
            raise RetriesSpent(
                f"{reason} 7moor asked to wait {wait:.0f} s before the next attempt (Retry-After), longer than the "
                f"{self.max_wait_seconds:.0f} s this connector waits at most, so the window stops here. Run the sync "
                f"again after that wait: it resumes from the saved state.",
                f"Retry-After {wait:.0f} s above the {self.max_wait_seconds:.0f} s cap",
            )
        if left <= 0:
            raise RetriesSpent(
                f"{reason} Gave up after {attempt_count} attempts: this window's retries used their "
                f"{self.retry_budget_seconds:.0f} s budget.",
                f"retry budget of {self.retry_budget_seconds:.0f} s spent after {attempt_count} attempts",
            )
        wait = min(wait, self.max_wait_seconds, left)
        max_attempts = (self.max_retries or 0) + 1
        if attempt_count >= max_attempts:
            LOGGER.warning("%s Attempt %d of %d failed; no retry left.", reason, attempt_count, max_attempts)
            return wait
        # The CDK sleeps one second more than the strategy's answer. The budget, not the count,
        # usually ends a window's retries first, so the line says what is left of it.
        LOGGER.warning(
            "%s Attempt %d of %d failed; retrying in %.1f s (%.0f s of the window's %.0f s retry budget left).",
            reason,
            attempt_count,
            max_attempts,
            wait + 1,
            max(left - wait - 1, 0),
            self.retry_budget_seconds,
        )
        return wait

    def _attempt_seconds(self, response_or_exception: Any) -> float:
        """How long the attempt that just failed took."""
        if isinstance(response_or_exception, requests.Response):
            return response_or_exception.elapsed.total_seconds()
        if isinstance(response_or_exception, requests.ConnectTimeout):
            return self.connect_timeout_seconds
        if isinstance(response_or_exception, requests.ReadTimeout) or expired_in_this_thread():
            return self.read_timeout_seconds
        return 0.0  # refused, unresolvable or dropped: it failed at once

    def describe_failure(self, response_or_exception: requests.Response | Exception | None) -> str:
        """The error handler's message for a failed attempt, with its stream and window."""
        return self.interpret_response(response_or_exception).error_message or "The request failed."

    def interpret_response(self, response_or_exception: requests.Response | Exception | None) -> ErrorResolution:
        if isinstance(response_or_exception, requests.Response):
            with parse_body_once(response_or_exception):
                resolution = self._interpret_reply(response_or_exception)
        else:
            resolution = self.error_handler.interpret_response(response_or_exception)
        if resolution.response_action in (ResponseAction.SUCCESS, ResponseAction.IGNORE):
            return resolution
        request = getattr(response_or_exception, "request", None)
        message = resolution.error_message or ""
        if isinstance(response_or_exception, _TRANSPORT_FAILURES):
            host = urlsplit(getattr(request, "url", None) or "").netloc or "the 7moor API"
            message = (
                f"{host} {what_went_wrong(response_or_exception)} ({type(response_or_exception).__name__}). If this "
                f"persists, check 'base_url' and this machine's network and proxy settings."
            )
            resolution = replace(resolution, failure_type=resolution.failure_type or FailureType.transient_error)
        retried = resolution.response_action in (ResponseAction.RETRY, ResponseAction.RATE_LIMITED)
        if retried and isinstance(response_or_exception, requests.Response) and message:
            message = f"HTTP {response_or_exception.status_code}: {message}"
        where = location(self.stream_name, create_time(request))
        return replace(resolution, error_message=f"{message} {where}" if message else where)

    def _interpret_reply(self, response: requests.Response) -> ErrorResolution:
        """The manifest's resolution, after the two rules it cannot state: the documented
        shape of a success, and a refusal of this report alone."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if is_report_refusal(response.status_code, body):
            message = body.get("message") if isinstance(body, dict) else None
            raise ReportRefused(
                f"7moor refused the {self.stream_name} report to this account (HTTP {response.status_code}: "
                f"{bounded_text(message or 'no message')}): the app key lacks the permission for this report. Grant it "
                f"in the 7moor console, or deselect {self.stream_name} in the connection; the other streams are read "
                f"as usual. {location(self.stream_name, create_time(response.request))}"
            )
        resolution = self.error_handler.interpret_response(response)
        if resolution.response_action != ResponseAction.SUCCESS:
            return resolution
        problem = report_shape_problem(body)
        if problem is None:
            READ_STOP.answered()
            return resolution
        return ErrorResolution(
            response_action=ResponseAction.RETRY,
            failure_type=FailureType.transient_error,
            error_message=(
                f"7moor answered success without a report ({problem}), which is never read as an empty report; "
                f"it sent {bounded_text(response.text)}"
            ),
        )


# Failures of the connection or of the answer's body, named by `what_went_wrong`; all retried.
_TRANSPORT_FAILURES = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
# By exception type, the first that matches; then by the words of the exception and its causes.
_FAILURES_BY_TYPE: tuple[tuple[type[Exception], str], ...] = (
    (
        requests.exceptions.ChunkedEncodingError,
        "sent an answer that was cut off before its end (a dropped connection or a short body)",
    ),
    (requests.exceptions.ContentDecodingError, "sent an answer whose compressed body could not be decoded"),
    (requests.ConnectTimeout, "could not be connected to in time (no answer to the connection request)"),
    (requests.Timeout, "accepted the connection but sent no answer in time (read timeout)"),
)
_FAILURES_BY_WORDS = (
    (
        ("name or service not known", "nodename nor servname", "failed to resolve", "name resolution", "no address associated"),
        "could not be found: the host name does not resolve (DNS)",
    ),
    (("connection refused", "errno 111"), "refused the connection: nothing listens on that port"),
    (("remotedisconnected", "connection aborted", "connection reset"), "closed the connection without an answer"),
)


def what_went_wrong(exception: Exception) -> str:
    """Which of the usual network failures this is."""
    if isinstance(exception, AttemptDeadlineExceeded):
        return f"accepted the connection but sent no complete answer in time ({exception})"
    if expired_in_this_thread():
        return "accepted the connection but sent no complete answer in time (cut at the attempt's deadline)"
    kind = next((text for cls, text in _FAILURES_BY_TYPE if isinstance(exception, cls)), None)
    text = repr(exception).lower()
    by_words = next((said for words, said in _FAILURES_BY_WORDS if any(word in text for word in words)), None)
    return kind or by_words or "could not be reached (the connection failed or was dropped)"
