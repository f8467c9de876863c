"""Failures in the connector's words, and the one renderer of their text.

CDK gap: the CDK writes a failure as the repr of its exception, with stack traces for
expected failures and no bound on a server's text in it. Here a failure is one of a few
kinds (`ConnectorError` and its subclasses), every text that reaches the user goes through
`rendered` (its place in the read, the library's filler cut, secrets masked, bounded in UTF-8
bytes, what the platform stores), and an expected failure carries no stack trace. The
smallest CDK change: a bound on `AirbyteTracedException` messages and an `expected` flag
that drops the stack trace.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from airbyte_cdk.models import AirbyteMessage, FailureType, TraceType, Type
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

# The layer's and the connector's own log lines (under "airbyte", whose level the CDK sets).
LOGGER = logging.getLogger("airbyte.connector")

MAX_QUOTE_BYTES = 300
MAX_CAUSE_BYTES = 900  # one failed stream's cause in the read's final error, which lists several
MAX_MESSAGE_BYTES = 4096
MAX_INTERNAL_MESSAGE_BYTES = 1024


class ConnectorError(AirbyteTracedException):
    """A failure in the connector's own words; its kind is its class's."""

    kind = FailureType.system_error

    def __init__(self, message: str, internal_message: str | None = None) -> None:
        super().__init__(message=message, internal_message=internal_message or message, failure_type=self.kind)


class ConfigError(ConnectorError):
    """A setting, a file, a state or a credential the user must correct; never retried."""

    kind = FailureType.config_error


class Refused(ConfigError):
    """The API refused one resource (a report, an endpoint) to the account: a config error of
    the streams that read it, not of the read, since the same credentials may read the rest.
    `resource` names it; a stream that reads several goes on with the others."""

    def __init__(self, message: str, resource: str) -> None:
        super().__init__(message)
        self.resource = resource


class RetriesSpent(ConnectorError):
    """A window's retries ended: their time budget was spent, or the API asked for a longer
    wait than the connector makes."""

    kind = FailureType.transient_error


class ReadStopped(Exception):
    """A window's retries were cut short because the read (or its stream) was stopped."""


def is_expected(error: BaseException | None) -> bool:
    """A failure the connector explains in its own words, whose stack trace tells nothing."""
    import requests

    return isinstance(error, (AirbyteTracedException, requests.RequestException, ReadStopped))


def bounded_text(value: Any, limit: int = MAX_QUOTE_BYTES) -> str:
    """`value` as text of at most `limit` UTF-8 bytes, cut on a character boundary."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text.encode()) <= limit else text.encode()[: limit - len("…".encode())].decode(errors="ignore") + "…"


# "[stream <name>, <window>]": where a failure happened, after its text.
_WHERE = re.compile(r"\[stream [^\]]+\]")
# The CDK's wording around a cause: the cause is what matters.
_FILLER = re.compile(r"Exhausted available request attempts\. (?:Please see logs for more details\. )?Exception: ")
_NOT_AVAILABLE = re.compile(r"^Stream \w+ is not available: ")


def where(stream: str, window: str | None = None) -> str:
    return f"[stream {stream}, {window}]" if window else f"[stream {stream}]"


def rendered(text: str, limit: int = MAX_MESSAGE_BYTES, internal: str | None = None) -> str:
    """A failure's text as the user reads it: its place put back when the CDK kept it only in
    the internal message (a rate limit that outlasted the retries), the library's filler cut,
    secrets masked, at most `limit` UTF-8 bytes."""
    place = _WHERE.search(internal or "")
    if place and not _WHERE.search(text):
        text = f"{text} {place.group(0)}"
    return bounded_text(filter_secrets(_FILLER.sub("Retries exhausted: ", _NOT_AVAILABLE.sub("", text))), limit)


def cause(error: BaseException) -> str:
    """One failure's text, bounded to fit in a summary of several."""
    if isinstance(error, AirbyteTracedException):
        return rendered(error.message or error.internal_message or type(error).__name__, MAX_CAUSE_BYTES, error.internal_message)
    return rendered(f"{type(error).__name__}: {error}", MAX_CAUSE_BYTES)


def traced(message: AirbyteMessage, expected: bool = False) -> AirbyteMessage:
    """A message as written: an error TRACE's texts rendered and bounded, without a stack trace
    when the failure was expected."""
    if message.type == Type.TRACE and message.trace and message.trace.type == TraceType.ERROR and (error := message.trace.error):
        error.message = rendered(error.message or "", internal=error.internal_message)
        if error.internal_message:
            error.internal_message = bounded_text(filter_secrets(error.internal_message), MAX_INTERNAL_MESSAGE_BYTES)
        if expected:
            error.stack_trace = None
    return message


def read_error(message: str, internal_message: str, failure_type: FailureType) -> AirbyteTracedException:
    """The read's final error, bounded."""
    return AirbyteTracedException(message=rendered(message), internal_message=internal_message, failure_type=failure_type)
