"""The manifest's error handler, adapted to 7moor reports.

The manifest's `DefaultErrorHandler` decides what is retried and what stops. Wrapped here:

- Failure messages say which report window failed. The handler's message templates see
  the response but not the request, so on their own they cannot name the stream and
  `createTime` window; when a sync of hundreds of windows stops after its retries, that
  is the first thing the user needs. Network errors (no response at all) get a message of
  their own naming the host, instead of the CDK's generic "an exception occurred".
- Retries are bounded and say why (`BoundedRetryWait`): each wait is capped, one
  window's retries stop once its time budget is spent, a `Retry-After` beyond the cap
  stops the window instead of waiting hours, and every retry is logged at WARN with the
  error handler's own reason, the stream and the window (the CDK's own line says "Rate
  limit exceeded" whatever the cause). A stopped read or stream ends its retries at once.
  Ours because the CDK's `max_time` bounds no rate-limited retry (its rate-limit handler
  takes only a count) and lets a hung host's last attempt start at the budget's end; and
  `WaitTimeFromHeader`, whose cap would stop the window too, reads no HTTP date.
- A reply counts as a report only in its documented shape (`success` true, code 200,
  `data.header` and `data.list` lists): any other "success" is retried like a broken
  answer, quoting what came back, and never read as an empty report.
- A refusal of one report (the account lacks its permission) stops that report's stream
  only (`is_report_refusal` says how it is told from rejected credentials).
- `Retry-After` is read in both of its forms, seconds and an HTTP date (`RetryAfterHeader`:
  the CDK's `WaitTimeFromHeader` reads only a number).
- The body is parsed once. Each `HttpResponseFilter` calls `response.json()` (the
  standard library's parser) for its predicate and again for its message; on a large
  report that was a tenth of the connector's CPU (py-spy, scripts/bench.py). One orjson
  parse is reused by every filter.
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
from .messages import LOGGER, bounded_text, location
from .stop_rules import READ_STOP, ReadStopped, ReportRefused, RetriesSpent, StopSignal

# A wait never exceeds this; a Retry-After asking for more stops the window (see BoundedRetryWait).
DEFAULT_MAX_WAIT_SECONDS = 60
# One window stops retrying once this long has passed since its first attempt was sent.
DEFAULT_RETRY_BUDGET_SECONDS = 120


def report_shape_problem(body: Any) -> str | None:
    """What keeps a successful envelope from being a report, or None for a real one (an empty
    `data.list` is a real empty report)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return "it has no data object" if data is None else f"its data is a {type(data).__name__}, not an object"
    for key in ("header", "list"):
        if not isinstance(data.get(key), list):
            found = data.get(key)
            return f"data.{key} is missing" if found is None else f"data.{key} is a {type(found).__name__}, not a list"
    return None


# The words of a refusal that concerns the request's signature or credentials, whatever its status.
_CREDENTIAL_WORDS = ("sign", "签名", "appkey", "鉴权", "timestamp", "时间戳", "nonce")
_PERMISSION_WORDS = ("权限", "无权", "未开通", "permission", "forbidden", "not authorized", "access denied")


def is_report_refusal(status: int, body: Any) -> bool:
    """7moor refusing one report to the account rather than rejecting its credentials.

    The error envelope is not documented, so the rule reads what 7moor sends: a message that
    names the signature, app key, timestamp or nonce, and an HTTP or envelope 401, are about
    the credentials (the whole read stops); otherwise an HTTP or envelope 403, or a message
    about permission ("无权限访问该接口", "未开通"), refuses this report (its stream stops).
    A refusal of every report, with nothing answered, is then reported as the account's
    (stop_rules.py): credentials that sign correctly but may read nothing, or an IP
    allow-list."""
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


def _request_of(response_or_exception: requests.Response | Exception | None) -> requests.PreparedRequest | None:
    # Both a response and a requests exception raised by the transport carry the request.
    return getattr(response_or_exception, "request", None)


@contextmanager
def parse_body_once(response: requests.Response) -> Iterator[None]:
    """Inside the block, `response.json()` returns one orjson parse of the body. A body
    that is not JSON is left alone: `response.json()` then raises as before and the
    filters see `{}`. After the block the parse is dropped, so a large report is not held
    twice while its records are read (the decoder parses it for the records). The
    envelope's `message` and `code` are cut to `MAX_QUOTE_BYTES` for the filters, which
    quote them."""
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
class BoundedRetryWait(BackoffStrategy):
    """How long to wait before the next attempt, as the manifest's strategies say, within
    bounds; the one place a retry is decided, so it also logs the retry and its reason.

    - The wait is the first strategy's answer (`Retry-After`, then exponential), capped at
      `max_wait_seconds`, and never longer than what is left of the window's budget.
    - A `Retry-After` above `max_wait_seconds` stops the window: 7moor asked not to be
      called for that long, and sending earlier would only be refused (or count against the
      account); waiting hours would hold the whole sync. The error says how long was asked.
    - Once `budget_seconds` have passed since the window's first attempt was sent, the
      window stops: it ends within the budget and one last attempt (each attempt bounded by
      the connect and read timeouts). Counting from the first attempt, not the first
      failure, keeps a host that never answers to one read timeout per window instead of
      a timeout, the budget and another timeout. The first attempt's start is its failure
      time less how long it took: the response's `elapsed`, or the timeout it ran into.
    - When `READ_STOP` says the read or the stream has stopped, the retry is not sent.
    """

    strategies: list[BackoffStrategy]
    stream_name: str
    describe: Callable[[Any], str]
    max_attempts: int
    max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS
    budget_seconds: float = DEFAULT_RETRY_BUDGET_SECONDS
    connect_timeout_seconds: float = 0.0
    read_timeout_seconds: float = 0.0
    stop: StopSignal = field(default_factory=lambda: READ_STOP)
    clock: Callable[[], float] = time.monotonic
    _first_attempt: weakref.WeakKeyDictionary[Any, float] = field(
        default_factory=weakref.WeakKeyDictionary, init=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def backoff_time(self, response_or_exception: Any, attempt_count: int) -> float | None:
        reason = self.describe(response_or_exception)
        self.stop.attempt_failed()
        stopped = self.stop.reason_to_stop(self.stream_name)
        if stopped:
            # The cause of the stop is said once, in the error that follows.
            LOGGER.warning("%s Attempt %d failed; not retried: the read or its stream has stopped.", reason, attempt_count)
            raise ReadStopped(stopped)
        request = _request_of(response_or_exception)
        now = self.clock()
        with self._lock:
            started = now - self._attempt_seconds(response_or_exception)
            first = self._first_attempt.setdefault(request, started) if request is not None else started
        left = self.budget_seconds - (now - first)
        wait, from_header = None, False
        for index, strategy in enumerate(self.strategies):
            wait = strategy.backoff_time(response_or_exception, attempt_count)
            if wait:
                from_header = (
                    index == 0
                    and isinstance(response_or_exception, requests.Response)
                    and "Retry-After" in response_or_exception.headers
                )
                break
        wait = float(wait or 1)
        if from_header and wait > self.max_wait_seconds:
            raise RetriesSpent(
                message=(
                    f"{reason} 7moor asked to wait {wait:.0f} s before the next attempt (Retry-After), longer than the "
                    f"{self.max_wait_seconds:.0f} s this connector waits at most, so the window stops here. Run the sync "
                    f"again after that wait: it resumes from the saved state."
                ),
                internal_message=f"Retry-After {wait:.0f} s above the {self.max_wait_seconds:.0f} s cap",
            )
        if left <= 0:
            raise RetriesSpent(
                message=(
                    f"{reason} Gave up after {attempt_count} attempts: this window's retries used their "
                    f"{self.budget_seconds:.0f} s budget."
                ),
                internal_message=f"retry budget of {self.budget_seconds:.0f} s spent after {attempt_count} attempts",
            )
        wait = min(wait, self.max_wait_seconds, left)
        if attempt_count >= self.max_attempts:
            LOGGER.warning("%s Attempt %d of %d failed; no retry left.", reason, attempt_count, self.max_attempts)
            return wait
        # The CDK sleeps one second more than the strategy's answer. The budget, not the count,
        # usually ends a window's retries first, so the line says what is left of it.
        LOGGER.warning(
            "%s Attempt %d of %d failed; retrying in %.1f s (%.0f s of the window's %.0f s retry budget left).",
            reason,
            attempt_count,
            self.max_attempts,
            wait + 1,
            max(left - wait - 1, 0),
            self.budget_seconds,
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


@dataclass
class ReportErrorHandler(ErrorHandler):
    """The manifest's error handler, parsing each body once, naming the stream and window
    in failure messages, and bounding and logging its retries (`BoundedRetryWait`)."""

    error_handler: DefaultErrorHandler
    parameters: InitVar[Mapping[str, Any]]
    max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS
    retry_budget_seconds: float = DEFAULT_RETRY_BUDGET_SECONDS
    # The requester's timeouts, so that the budget counts from the first attempt's start.
    connect_timeout_seconds: float = 0.0
    read_timeout_seconds: float = 0.0

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream_name = parameters.get("name", "")
        self._retry_wait = BoundedRetryWait(
            strategies=list(self.error_handler.backoff_strategies or []),
            stream_name=self._stream_name,
            describe=self.describe_failure,
            max_attempts=int(self.error_handler.max_retries or 0) + 1,
            max_wait_seconds=float(self.max_wait_seconds),
            budget_seconds=float(self.retry_budget_seconds),
            connect_timeout_seconds=float(self.connect_timeout_seconds),
            read_timeout_seconds=float(self.read_timeout_seconds),
        )

    # The HttpClient reads the retry budget and backoff from the handler it is given.
    @property
    def max_retries(self) -> int | None:
        # the component factory has evaluated the manifest's interpolated value by now
        return None if self.error_handler.max_retries is None else int(self.error_handler.max_retries)

    @property
    def max_time(self) -> int | None:
        return self.error_handler.max_time

    @property
    def backoff_strategies(self) -> list[Any] | None:
        return [self._retry_wait]

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
        request = _request_of(response_or_exception)
        message = resolution.error_message or ""
        if isinstance(response_or_exception, _TRANSPORT_FAILURES):
            message = self._network_error_message(response_or_exception, request)
            resolution = replace(resolution, failure_type=resolution.failure_type or FailureType.transient_error)
        retried = resolution.response_action in (ResponseAction.RETRY, ResponseAction.RATE_LIMITED)
        if retried and isinstance(response_or_exception, requests.Response) and message:
            message = f"HTTP {response_or_exception.status_code}: {message}"
        where = self._where(request)
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
                f"7moor refused the {self._stream_name} report to this account (HTTP {response.status_code}: "
                f"{bounded_text(message or 'no message')}): the app key lacks the permission for this report. Grant it "
                f"in the 7moor console, or deselect {self._stream_name} in the connection; the other streams are read "
                f"as usual. {self._where(response.request)}"
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

    def _where(self, request: requests.PreparedRequest | None) -> str:
        return location(self._stream_name, create_time(request))

    @staticmethod
    def _network_error_message(exception: Exception, request: requests.PreparedRequest | None) -> str:
        url = getattr(request, "url", None) or ""
        host = urlsplit(url).netloc or "the 7moor API"
        return (
            f"{host} {_what_went_wrong(exception)} ({type(exception).__name__}). If this persists, check "
            f"'base_url' and this machine's network and proxy settings."
        )


# Failures of the connection or of the answer's body, named by `_what_went_wrong`; all retried.
_TRANSPORT_FAILURES = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def _what_went_wrong(exception: Exception) -> str:
    """Which of the usual network failures this is, from the exception and its causes."""
    text = repr(exception).lower()
    if expired_in_this_thread() and not isinstance(exception, AttemptDeadlineExceeded):
        return "accepted the connection but sent no complete answer in time (cut at the attempt's deadline)"
    if isinstance(exception, requests.exceptions.ChunkedEncodingError):
        return "sent an answer that was cut off before its end (a dropped connection or a short body)"
    if isinstance(exception, requests.exceptions.ContentDecodingError):
        return "sent an answer whose compressed body could not be decoded"
    if isinstance(exception, AttemptDeadlineExceeded):
        return f"accepted the connection but sent no complete answer in time ({exception})"
    if isinstance(exception, requests.ConnectTimeout):
        return "could not be connected to in time (no answer to the connection request)"
    if isinstance(exception, requests.Timeout):
        return "accepted the connection but sent no answer in time (read timeout)"
    if (
        "name or service not known" in text
        or "nodename nor servname" in text
        or "failed to resolve" in text
        or "name resolution" in text
        or "no address associated" in text
    ):
        return "could not be found: the host name does not resolve (DNS)"
    if "connection refused" in text or "errno 111" in text:
        return "refused the connection: nothing listens on that port"
    if "remotedisconnected" in text or "connection aborted" in text or "connection reset" in text:
        return "closed the connection without an answer"
    return "could not be reached (the connection failed or was dropped)"
