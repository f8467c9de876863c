"""The manifest's error handler, adapted to 7moor reports.

The manifest's `DefaultErrorHandler` decides what is retried and what stops. Wrapped here:

- Failure messages say which report window failed. The handler's message templates see
  the response but not the request, so on their own they cannot name the stream and
  `createTime` window; when a sync of hundreds of windows stops after its retries, that
  is the first thing the user needs. Network errors (no response at all) get a message of
  their own naming the host, instead of the CDK's generic "an exception occurred".
- The body is parsed once. Each `HttpResponseFilter` calls `response.json()` (the
  standard library's parser) for its predicate and again for its message; on a large
  report that was a tenth of the connector's CPU (py-spy, scripts/bench.py). One orjson
  parse is reused by every filter.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import InitVar, dataclass, replace
from typing import Any, Iterator, List, Mapping, Optional, Union
from urllib.parse import urlsplit

import orjson
import requests

from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.requesters.error_handlers.default_error_handler import DefaultErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers import ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction


def describe_window(request: Optional[requests.PreparedRequest]) -> Optional[str]:
    """'createTime 2024-07-03 00:00:00 to 2024-07-03 23:59:59' from a report request's body."""
    body = getattr(request, "body", None)
    if not body:
        return None
    try:
        start, end = json.loads(body)["createTime"]
    except (ValueError, KeyError, TypeError):
        return None
    return f"createTime {start} to {end}"


def _request_of(response_or_exception: Union[requests.Response, Exception, None]) -> Optional[requests.PreparedRequest]:
    # Both a response and a requests exception raised by the transport carry the request.
    return getattr(response_or_exception, "request", None)


@contextmanager
def parse_body_once(response: requests.Response) -> Iterator[None]:
    """Inside the block, `response.json()` returns one orjson parse of the body. A body
    that is not JSON is left alone: `response.json()` then raises as before and the
    filters see `{}`. After the block the parse is dropped, so a large report is not held
    twice while its records are read (the decoder parses it for the records)."""
    try:
        parsed = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        yield
        return
    response.json = lambda **_: parsed  # type: ignore[method-assign]
    try:
        yield
    finally:
        del response.json  # the class's method again


@dataclass
class ReportErrorHandler(ErrorHandler):
    """The manifest's error handler, parsing each body once and naming the stream and
    window in failure messages."""

    error_handler: DefaultErrorHandler
    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream_name = parameters.get("name", "")

    # The HttpClient reads the retry budget and backoff from the handler it is given.
    @property
    def max_retries(self) -> Optional[int]:
        return self.error_handler.max_retries

    @property
    def max_time(self) -> Optional[int]:
        return self.error_handler.max_time

    @property
    def backoff_strategies(self) -> Optional[List[Any]]:
        return self.error_handler.backoff_strategies

    def interpret_response(self, response_or_exception: Optional[Union[requests.Response, Exception]]) -> ErrorResolution:
        if isinstance(response_or_exception, requests.Response):
            with parse_body_once(response_or_exception):
                resolution = self.error_handler.interpret_response(response_or_exception)
        else:
            resolution = self.error_handler.interpret_response(response_or_exception)
        if resolution.response_action in (ResponseAction.SUCCESS, ResponseAction.IGNORE):
            return resolution
        request = _request_of(response_or_exception)
        message = resolution.error_message or ""
        if isinstance(response_or_exception, (requests.ConnectionError, requests.Timeout)):
            message = self._network_error_message(response_or_exception, request)
            resolution = replace(resolution, failure_type=resolution.failure_type or FailureType.transient_error)
        where = ", ".join(part for part in (f"stream {self._stream_name}", describe_window(request)) if part)
        return replace(resolution, error_message=f"{message} [{where}]" if message else f"[{where}]")

    @staticmethod
    def _network_error_message(exception: Exception, request: Optional[requests.PreparedRequest]) -> str:
        url = getattr(request, "url", None) or ""
        host = urlsplit(url).netloc or "the 7moor API"
        if isinstance(exception, requests.Timeout):
            what = "did not answer in time"
        else:
            what = "could not be reached (the connection failed or was dropped)"
        return (
            f"{host} {what}: {type(exception).__name__}. If this persists, check 'base_url' and this "
            f"machine's network and proxy settings."
        )
