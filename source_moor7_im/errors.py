"""The manifest's error handler, around what its filters cannot say.

- Each reply is read once (replies.py, by orjson: each `HttpResponseFilter` would call
  `response.json()` again, a tenth of the CPU on a large report), and the filters act on
  that reading; the parse is kept for the record extractor, so a body is decoded once.
- A failure names its stream and `createTime` window: the filters' templates see the
  response, not the request. A network error names the host and what went wrong; a host
  that does not resolve and a redirect are config errors, never retried.
- A refusal of one report (no permission) stops that report's stream only.
- The same malformed success twice in a window is not transient: the window fails.
- Retries are bounded by time and logged with their real reason. Ours because the CDK's
  `max_time` bounds no rate-limited retry (its rate-limit handler takes only a count) and
  lets a hung host's last attempt start at the budget's end, and `WaitTimeFromHeader`, whose
  cap would stop the window too, reads no HTTP date.
"""

from __future__ import annotations

import math
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import InitVar, dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.requesters.error_handlers.default_error_handler import DefaultErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction

from .deadline import AttemptDeadlineExceeded, ReplyTooLarge, expired_in_this_thread
from .messages import LOGGER, ReadStopped, ReportRefused, RetriesSpent, bounded_text, location
from .records import BUCKET_LABEL
from .replies import MALFORMED, REFUSED, REPORT, Reply, Window, read_reply
from .settings import DEFAULT_BASE_URL, report_table
from .stop_rules import READ_STOP, StopSignal


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
            seconds = float(value)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - self.clock()
            except (TypeError, ValueError, IndexError):
                return None
        # "nan" and "inf" parse as floats: a wait that is no number of seconds is no wait asked for
        if math.isnan(seconds):
            return None  # no number of seconds: no wait asked for
        return max(seconds, 0.0)  # "inf" asks for a wait without end


def create_time(request: requests.PreparedRequest | None) -> list[str] | None:
    """A report request's createTime window, from its body."""
    window = Window.of(request)
    return window.create_time if window else None


def report_of(response: requests.Response) -> str | None:
    """The report a request asked for, by its path (the stream table's `path`)."""
    path = urlsplit(getattr(response.request, "url", None) or "").path
    return next((name for name, report in report_table().items() if path.endswith(report["path"])), None)


@contextmanager
def filters_see(response: requests.Response, reply: Reply) -> Iterator[None]:
    """Inside the block, `response.json()` is the reply as read (`Reply.template`, with the
    report it asked for and a bounded quote of the body), which the manifest's filters
    evaluate; after it, the body's one parse, which the record extractor reads."""
    view = {**reply.template(), "report": report_of(response), "quote": quote_of(response)}
    response.json = lambda **_: view  # type: ignore[method-assign]
    try:
        yield
    finally:
        keep_parse(response, reply)


def keep_parse(response: requests.Response, reply: Reply) -> None:
    """`response.json()` returns the reply's parse from now on (a body that is not JSON keeps
    requests' own method, which raises)."""
    if reply.body is not None:
        response.json = lambda **_: reply.body  # type: ignore[method-assign]
    else:
        del response.json  # the class's method again


def quote_of(response: requests.Response) -> str:
    """The start of the body as text, bounded: decoded as UTF-8, never by charset detection."""
    return bounded_text(response.content[:4096].decode("utf-8", errors="replace"))


class RedirectRefused(requests.exceptions.TooManyRedirects):
    """A signed request was answered with a redirect, which is never followed: the signed
    headers and the body go to `base_url`'s host only."""


def refuse_redirects(response: requests.Response, **_: Any) -> requests.Response:
    """A response hook, run before requests would follow a redirect."""
    if response.is_redirect:
        location = response.headers.get("Location") or ""
        response.close()
        raise RedirectRefused(f"redirect to {location}", response=response, request=response.request)
    return response


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
    # Per attempt (its response or exception), its resolution; per request, the last malformed reply's problem.
    _resolved: weakref.WeakKeyDictionary[Any, ErrorResolution] = field(
        default_factory=weakref.WeakKeyDictionary, init=False, repr=False
    )
    _malformed: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self.stream_name = parameters.get("name", "")
        for name in ("max_wait_seconds", "retry_budget_seconds", "connect_timeout_seconds", "read_timeout_seconds"):
            setattr(self, name, float(getattr(self, name)))
        self.strategies: list[BackoffStrategy] = list(self.error_handler.backoff_strategies or [])
        # What the caller reads of a report (`reads`: its rows, or its header), and the row
        # field that names a row's bucket, checked against the window asked for.
        self.reads: tuple[str, ...] = tuple(parameters.get("reads") or ("list",))
        rows = "list" in self.reads
        # A report of buckets names each row's bucket in a label; a daily report keys its rows
        # by the first field of its primary key (the agent).
        self.label_field = BUCKET_LABEL if rows and parameters.get("bucket") == "dimension" else None
        self.key_field = parameters["primary_key"][0][0] if rows and parameters.get("bucket") == "day" else None

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
                f"{reason} 7moor asked to wait {'without end' if math.isinf(wait) else f'{wait:.0f} s'} before the next "
                f"attempt (Retry-After), longer than the "
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
        # usually ends a window's retries first, so the line says what is left of it, or that
        # the retry it announces is the last one the budget sends.
        left_after = left - wait - 1
        budget = (
            f"{left_after:.0f} s of the window's {self.retry_budget_seconds:.0f} s retry budget left"
            if left_after >= 1
            else f"the last attempt within the window's {self.retry_budget_seconds:.0f} s retry budget"
        )
        LOGGER.warning(
            "%s Attempt %d of %d failed; retrying in %.1f s (%s).", reason, attempt_count, max_attempts, wait + 1, budget
        )
        return wait

    def _attempt_seconds(self, response_or_exception: Any) -> float:
        """How long the attempt that just failed took (one cut by its deadline or its size can
        run long past the read timeout: it says how long)."""
        if isinstance(response_or_exception, requests.Response):
            return response_or_exception.elapsed.total_seconds()
        if isinstance(response_or_exception, (AttemptDeadlineExceeded, ReplyTooLarge)):
            return response_or_exception.attempt_seconds
        if isinstance(response_or_exception, requests.ConnectTimeout):
            return self.connect_timeout_seconds
        if isinstance(response_or_exception, requests.ReadTimeout) or expired_in_this_thread():
            return self.read_timeout_seconds
        return 0.0  # refused, unresolvable or dropped: it failed at once

    def describe_failure(self, response_or_exception: requests.Response | Exception | None) -> str:
        """The error handler's message for a failed attempt, with its stream and window."""
        return self.interpret_response(response_or_exception).error_message or "The request failed."

    def interpret_response(self, response_or_exception: requests.Response | Exception | None) -> ErrorResolution:
        """Each attempt's outcome, interpreted once: the HttpClient asks first, the backoff
        strategy (this handler) asks again for the retry line."""
        if response_or_exception is None:
            return self.error_handler.interpret_response(response_or_exception)
        with self._lock:
            known = self._resolved.get(response_or_exception)
        if known is not None:
            return known
        resolution = self._interpret(response_or_exception)
        with self._lock:
            self._resolved[response_or_exception] = resolution
        return resolution

    def _interpret(self, response_or_exception: requests.Response | Exception) -> ErrorResolution:
        if isinstance(response_or_exception, requests.Response):
            resolution = self._interpret_reply(response_or_exception)
        else:
            resolution = self._interpret_failure(response_or_exception)
        if resolution.response_action in (ResponseAction.SUCCESS, ResponseAction.IGNORE):
            return resolution
        request = getattr(response_or_exception, "request", None)
        message = resolution.error_message or ""
        retried = resolution.response_action in (ResponseAction.RETRY, ResponseAction.RATE_LIMITED)
        if retried and isinstance(response_or_exception, requests.Response) and message:
            message = f"HTTP {response_or_exception.status_code}: {message}"
        where = location(self.stream_name, create_time(request))
        return replace(resolution, error_message=f"{message} {where}" if message else where)

    def _interpret_reply(self, response: requests.Response) -> ErrorResolution:
        """The manifest's resolution of the reply as read, and the rules it cannot state: a
        refusal stops this report alone, and the same malformed success twice is not transient."""
        reply = read_reply(response, self.reads, self.label_field, self.key_field)
        with filters_see(response, reply):
            resolution = self.error_handler.interpret_response(response)
        if reply.verdict == REPORT and resolution.response_action == ResponseAction.SUCCESS:
            self.stop.answered()
        elif reply.verdict == REFUSED and resolution.response_action == ResponseAction.FAIL:
            report = report_of(response) or self.stream_name
            where = location(self.stream_name, create_time(response.request))
            raise ReportRefused(f"{resolution.error_message} {where}", report=report)
        elif reply.verdict == MALFORMED:
            # The window's identity across its attempts (a retry may come back as another object).
            window = (urlsplit(getattr(response.request, "url", None) or "").path, str(create_time(response.request)))
            with self._lock:
                before = self._malformed.get(window)
                self._malformed[window] = reply.problem or ""
            if before == reply.problem:
                return replace(
                    resolution,
                    response_action=ResponseAction.FAIL,
                    failure_type=FailureType.system_error,
                    error_message=(
                        f"{resolution.error_message} It came back the same on the attempt before, so it is not "
                        "transient and is not retried again: report it to 7moor support with the window below."
                    ),
                )
        return resolution

    def _interpret_failure(self, exception: Exception) -> ErrorResolution:
        """No answer at all: a redirect refused, a host that does not resolve (both config
        errors, never retried), or a failure of the connection or the body (retried)."""
        request = getattr(exception, "request", None)
        host = urlsplit(getattr(request, "url", None) or "").netloc or "the 7moor API"
        if isinstance(exception, RedirectRefused):
            response = exception.response
            target = urlsplit((response.headers.get("Location") if response is not None else None) or "")
            return ErrorResolution(
                response_action=ResponseAction.FAIL,
                failure_type=FailureType.config_error,
                error_message=(
                    f"{host} answered with a redirect (HTTP {getattr(response, 'status_code', '?')}) to "
                    f"{target.netloc or 'another address'}, which the connector never follows: signed requests go to "
                    f"'base_url''s host only. Check 'base_url' (the default is {DEFAULT_BASE_URL}); if 7moor moved its "
                    "API, set 'base_url' to the new address."
                ),
            )
        if isinstance(exception, ReplyTooLarge):
            # Not the network's fault: retried like a truncated or non-JSON body.
            return ErrorResolution(
                response_action=ResponseAction.RETRY, failure_type=FailureType.transient_error, error_message=str(exception)
            )
        if does_not_resolve(exception):
            return ErrorResolution(
                response_action=ResponseAction.FAIL,
                failure_type=FailureType.config_error,
                error_message=(
                    f"{urlsplit(getattr(request, 'url', None) or '').hostname or host} could not be found: the host name "
                    f"does not resolve (DNS). Check 'base_url' for a typo (the default is {DEFAULT_BASE_URL})."
                ),
            )
        resolution = self.error_handler.interpret_response(exception)
        if isinstance(exception, _TRANSPORT_FAILURES):
            message = (
                f"{host} {what_went_wrong(exception)} ({type(exception).__name__}). If this persists, check "
                "'base_url' and this machine's network and proxy settings."
            )
            resolution = replace(resolution, error_message=message, failure_type=FailureType.transient_error)
        return resolution


def _causes(exception: BaseException) -> Iterator[BaseException]:
    """The exception and what it wraps: its cause or context, and what requests and urllib3
    keep as the first argument or the `reason` of a connection failure."""
    seen: set[int] = set()
    pending: list[Any] = [exception]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args[:1]]


# The resolver's answers that mean the name does not exist; a temporary failure stays transient.
_UNKNOWN_NAME_ERRORS = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}


def does_not_resolve(exception: BaseException) -> bool:
    """The host name has no address (a typo in `base_url`), as opposed to a resolver that
    failed for now."""
    return any(isinstance(cause, socket.gaierror) and cause.errno in _UNKNOWN_NAME_ERRORS for cause in _causes(exception))


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
    (("temporary failure in name resolution",), "could not be resolved for now (a temporary DNS failure)"),
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
        return f"accepted the connection but sent {exception}"
    if expired_in_this_thread():
        return "accepted the connection but sent no complete answer in time (cut at the attempt's deadline)"
    kind = next((text for cls, text in _FAILURES_BY_TYPE if isinstance(exception, cls)), None)
    text = repr(exception).lower()
    by_words = next((said for words, said in _FAILURES_BY_WORDS if any(word in text for word in words)), None)
    return kind or by_words or "could not be reached (the connection failed or was dropped)"
