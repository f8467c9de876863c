"""A window's retries, bounded in time and told with their real reason (docs/design/retries-and-deadlines.md).

CDK gap: retries are bounded by count and `max_time`, not by a budget that counts how long the attempts took;
`WaitTimeFromHeader` reads no HTTP date and turns "nan" into a wait that raises; each retry is logged as "Rate limit exceeded"
and its attempt interpreted twice; a redirect is followed with the signed headers. Smallest CDK change: a time budget on the
error handler counting the attempts' duration, a `WaitTimeFromHeader` that reads HTTP dates and refuses non-finite numbers,
the resolution's message in the retry log line, and `allow_redirects` on the requester."""

import math
import socket
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import InitVar, dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.exceptions import ChunkedEncodingError, ConnectTimeout, ContentDecodingError, Timeout

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.requesters.error_handlers.default_error_handler import DefaultErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy, ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction

from .deadline import AttemptDeadlineExceeded, ReplyTooLarge, cut_in_this_thread
from .messages import LOGGER, ReadStopped, RetriesSpent, where
from .stop_rules import ReadScope, StopSignal


def http_date(value: str | None) -> float | None:
    """An HTTP date (`Date`, `Retry-After`) as Unix time; None if it is none."""
    try:
        return parsedate_to_datetime(value or "").timestamp()
    except (TypeError, ValueError, IndexError):
        return None


@dataclass
class RetryAfterHeader(BackoffStrategy):
    """The wait `Retry-After` asks for, in seconds or as an HTTP date (RFC 9110); None without one or for "nan"."""

    clock: Callable[[], float] = time.time

    def backoff_time(self, response_or_exception: Any, attempt_count: int) -> float | None:
        value = (getattr(response_or_exception, "headers", {}).get("Retry-After") or "").strip()
        try:
            seconds = float(value)
        except ValueError:
            seconds = math.nan if (date := http_date(value)) is None else date - self.clock()
        return None if math.isnan(seconds) else max(seconds, 0.0)


class RedirectRefused(requests.exceptions.TooManyRedirects):
    """A redirect, never followed: the signed headers and the body go to the configured host only."""


def refuse_redirects(response: requests.Response, **_: Any) -> None:
    """A response hook, run before requests would follow a redirect."""
    if response.is_redirect:
        response.close()
        raise RedirectRefused(f"redirect to {response.headers.get('Location')}", response=response, request=response.request)


_UNKNOWN_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
# What each network failure is: by its type (the first that matches), else by the words of the exception and its causes.
_NO_SUCH_HOST = "could not be found: the host name does not resolve (DNS)"
_FAILURES: tuple[tuple[type[Exception] | tuple[()], tuple[str, ...], str], ...] = (
    (ChunkedEncodingError, (), "sent an answer that was cut off before its end (a dropped connection or a short body)"),
    (ContentDecodingError, (), "sent an answer whose compressed body could not be decoded"),
    (ConnectTimeout, (), "could not be connected to in time (no answer to the connection request)"),
    (Timeout, (), "accepted the connection but sent no answer in time (read timeout)"),
    ((), ("temporary failure in name resolution",), "could not be resolved for now (a temporary DNS failure)"),
    ((), ("name or service not known", "failed to resolve", "name resolution", "no address associated"), _NO_SUCH_HOST),
    ((), ("connection refused", "errno 111"), "refused the connection: nothing listens on that port"),
    ((), ("remotedisconnected", "connection aborted", "connection reset"), "closed the connection without an answer"),
)


def does_not_resolve(error: BaseException) -> bool:
    """The host name has no address (a typo), not a resolver failing for now: said by the exception or what it wraps."""
    seen: set[int] = set()
    pending: list[Any] = [error]
    while pending:
        current = pending.pop()
        if isinstance(current, BaseException) and id(current) not in seen:
            if isinstance(current, socket.gaierror) and current.errno in _UNKNOWN_NAME:
                return True
            seen.add(id(current))
            pending += [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args[:1]]
    return False


def what_went_wrong(error: Exception) -> str:
    """Which of the usual network failures this is."""
    # The same words whether the cut attempt's answer reached the deadline's hook or requests raised first.
    if cut := str(error) if isinstance(error, AttemptDeadlineExceeded) else cut_in_this_thread():
        return f"accepted the connection but sent {cut}"
    text = repr(error).lower()
    said = (said for kind, words, said in _FAILURES if isinstance(error, kind) or any(word in text for word in words))
    return next(said, "could not be reached (the connection failed or was dropped)")


@dataclass
class BoundedRetries(ErrorHandler, BackoffStrategy):
    """The manifest's `DefaultErrorHandler` with a retry budget in time, its own backoff strategy; a connector overrides
    `interpret_reply` and `window_of`. Each entry of its weak dictionaries is used by the one thread sending its request."""

    error_handler: DefaultErrorHandler
    parameters: InitVar[Mapping[str, Any]]
    max_wait_seconds: float
    retry_budget_seconds: float
    connect_timeout_seconds: float = 0.0  # the requester's timeouts: how long an attempt that timed out took
    read_timeout_seconds: float = 0.0
    api: str = "The API"  # whose answers these are, in messages
    address_setting: str = "the API's address"  # the setting a redirect or an unknown host points to, in messages
    stop: StopSignal = field(default_factory=lambda: ReadScope.current().stop)
    clock: Callable[[], float] = time.monotonic
    max_retries: int | None = field(default=None, init=False)  # these three: what the HttpClient reads of the handler
    max_time: int | None = field(default=None, init=False)
    backoff_strategies: list[BackoffStrategy] = field(default_factory=list, init=False, repr=False, compare=False)
    _first_attempt: weakref.WeakKeyDictionary[Any, float] = field(default_factory=weakref.WeakKeyDictionary, init=False)
    _resolved: weakref.WeakKeyDictionary[Any, ErrorResolution] = field(default_factory=weakref.WeakKeyDictionary, init=False)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self.stream_name = parameters.get("name", "")
        for name in ("max_wait_seconds", "retry_budget_seconds", "connect_timeout_seconds", "read_timeout_seconds"):
            setattr(self, name, float(getattr(self, name)))
        self.max_retries = None if self.error_handler.max_retries is None else int(self.error_handler.max_retries)
        self.max_time, self.backoff_strategies = self.error_handler.max_time, [self]
        self.strategies: list[BackoffStrategy] = list(self.error_handler.backoff_strategies or [])

    def interpret_reply(self, response: requests.Response) -> ErrorResolution:
        return self.error_handler.interpret_response(response)

    def window_of(self, request: Any) -> str | None:
        return None

    def interpret_response(self, outcome: requests.Response | Exception | None) -> ErrorResolution:
        """Each attempt's outcome, read once for the client and the backoff, its failure named with its stream and window."""
        if outcome is None:
            return self.error_handler.interpret_response(outcome)
        if outcome in self._resolved:
            return self._resolved[outcome]
        resolution = self.interpret_reply(outcome) if isinstance(outcome, requests.Response) else self._interpret_failure(outcome)
        if resolution.response_action not in (ResponseAction.SUCCESS, ResponseAction.IGNORE):
            message = resolution.error_message or ""
            retried = resolution.response_action in (ResponseAction.RETRY, ResponseAction.RATE_LIMITED)
            if retried and message and isinstance(outcome, requests.Response):
                message = f"HTTP {outcome.status_code}: {message}"
            place = where(self.stream_name, self.window_of(getattr(outcome, "request", None)))
            resolution = replace(resolution, error_message=f"{message} {place}" if message else place)
        self._resolved[outcome] = resolution
        return resolution

    def _interpret_failure(self, error: Exception) -> ErrorResolution:
        """No answer: a redirect or an unknown host (config errors), a reply too large or a network failure (retried)."""
        url = urlsplit(getattr(getattr(error, "request", None), "url", None) or "")
        host = url.netloc or self.api
        if isinstance(error, RedirectRefused):
            target = urlsplit(error.response.headers.get("Location") or "").netloc if error.response is not None else ""
            what = f"{host} answered with a redirect (HTTP {getattr(error.response, 'status_code', '?')}) to {target or 'another address'}, which the connector never follows: signed requests go to the configured host only."
        elif does_not_resolve(error):
            what = f"{url.hostname or host} {_NO_SUCH_HOST}."
        elif isinstance(error, ReplyTooLarge):  # not the network's fault: retried like a truncated body
            return ErrorResolution(ResponseAction.RETRY, FailureType.transient_error, str(error))
        elif isinstance(error, (requests.ConnectionError, Timeout, ChunkedEncodingError, ContentDecodingError)):
            message = f"{host} {what_went_wrong(error)} ({type(error).__name__}). If this persists, check {self.address_setting} and this machine's network and proxy settings."
            resolution = self.error_handler.interpret_response(error)
            return replace(resolution, error_message=message, failure_type=FailureType.transient_error)
        else:
            return self.error_handler.interpret_response(error)
        return ErrorResolution(ResponseAction.FAIL, FailureType.config_error, f"{what} Check {self.address_setting}.")

    def backoff_time(self, response_or_exception: Any, attempt_count: int) -> float | None:
        """Whether and when the next attempt goes (the first strategy that answers says when, else 1 s), in one WARN line."""
        reason = self.interpret_response(response_or_exception).error_message or "The request failed."
        self.stop.attempt_failed()
        if stopped := self.stop.reason_to_stop(self.stream_name):  # its cause is said once, in the error that follows
            LOGGER.warning(f"{reason} Attempt {attempt_count} failed; not retried: the read or its stream has stopped.")
            raise ReadStopped(stopped)
        request, now = getattr(response_or_exception, "request", None), self.clock()
        started = now - self._attempt_seconds(response_or_exception)
        first = self._first_attempt.setdefault(request, started) if request is not None else started
        left = self.retry_budget_seconds - (now - first)
        answers = enumerate(strategy.backoff_time(response_or_exception, attempt_count) for strategy in self.strategies)
        index, wait = next(((index, float(answer)) for index, answer in answers if answer), (None, 1.0))
        if index == 0 and wait > self.max_wait_seconds and "Retry-After" in getattr(response_or_exception, "headers", {}):
            asked = "without end" if math.isinf(wait) else f"{wait:.0f} s"
            message = f"{reason} {self.api} asked to wait {asked} before the next attempt (Retry-After), longer than the {self.max_wait_seconds:.0f} s this connector waits at most, so the window stops here. Run the sync again after that wait: it resumes from the saved state."
            raise RetriesSpent(message, f"Retry-After {asked} above the {self.max_wait_seconds:.0f} s cap")
        if left <= 0:
            message = f"{reason} Gave up after {attempt_count} attempts: this window's retries used their {self.retry_budget_seconds:.0f} s budget."
            raise RetriesSpent(message, f"retry budget of {self.retry_budget_seconds:.0f} s spent after {attempt_count} attempts")
        wait, max_attempts = min(wait, self.max_wait_seconds, left), (self.max_retries or 0) + 1
        # The CDK sleeps 1 s more than this. The budget, not the count, usually ends the retries: the line says what is left.
        left_after, budget = left - wait - 1, f"the window's {self.retry_budget_seconds:.0f} s retry budget"
        budget = f"{left_after:.0f} s of {budget} left" if left_after >= 1 else f"the last attempt within {budget}"
        told = "no retry left" if attempt_count >= max_attempts else f"retrying in {wait + 1:.1f} s ({budget})"
        LOGGER.warning(f"{reason} Attempt {attempt_count} of {max_attempts} failed; {told}.")
        return wait

    def _attempt_seconds(self, outcome: Any) -> float:
        """How long the failed attempt ran: as cut (`attempt_seconds`), a timeout's length, or nothing if it failed at once."""
        if isinstance(outcome, requests.Response):
            return outcome.elapsed.total_seconds()
        timeout = self.connect_timeout_seconds if isinstance(outcome, ConnectTimeout) else self.read_timeout_seconds
        timed_out = isinstance(outcome, (ConnectTimeout, requests.ReadTimeout)) or cut_in_this_thread() is not None
        return getattr(outcome, "attempt_seconds", timeout if timed_out else 0.0)
