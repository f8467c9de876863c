"""Failures in the connector's words, and the one renderer of their text (`rendered`).

CDK gap: a failure is written as its exception's repr, unbounded, with a stack trace even when expected. The
smallest CDK change: a bound on `AirbyteTracedException` messages and an `expected` flag that drops the stack trace."""

import json
import logging
import re

from airbyte_cdk.models import AirbyteConnectionStatus, AirbyteMessage, FailureType, Status, TraceType, Type
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

LOGGER = logging.getLogger("airbyte.connector")  # under "airbyte", whose level the CDK sets
MAX_QUOTE_BYTES = 300
MAX_CAUSE_BYTES = 900  # one failed stream's cause in the read's final error, which lists several
MAX_MESSAGE_BYTES = 4096
MAX_INTERNAL_MESSAGE_BYTES = 1024
_WHERE = re.compile(r"\[stream [^\]]+\]")
_FILLER = re.compile(r"Exhausted available request attempts\. (?:Please see logs for more details\. )?Exception: ")
_NOT_AVAILABLE = re.compile(r"^Stream \w+ is not available: ")


class ConnectorError(AirbyteTracedException):
    kind = FailureType.system_error

    def __init__(self, message: str, internal_message: str | None = None) -> None:
        super().__init__(message=message, internal_message=internal_message or message, failure_type=self.kind)


class ConfigError(ConnectorError):
    kind = FailureType.config_error


class Refused(ConfigError):
    """The API refused `resource` to the account: a config error of the streams that read it, not of the read."""

    def __init__(self, message: str, resource: str) -> None:
        super().__init__(message)
        self.resource = resource


class RetriesSpent(ConnectorError):
    kind = FailureType.transient_error


class ReadStopped(Exception):
    """A window's retries were cut short because the read (or its stream) was stopped."""


def is_expected(error: BaseException | None) -> bool:
    """A failure the connector explains in its own words, whose stack trace tells nothing."""
    import requests

    return isinstance(error, (AirbyteTracedException, requests.RequestException, ReadStopped))


def bounded_text(value: object, limit: int = MAX_QUOTE_BYTES) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text.encode()) <= limit else text.encode()[: limit - len("…".encode())].decode(errors="ignore") + "…"


def where(stream: str, window: str | None = None) -> str:
    return f"[stream {stream}, {window}]" if window else f"[stream {stream}]"


def rendered(text: str, limit: int = MAX_MESSAGE_BYTES, internal: str | None = None) -> str:
    """The text shown: its place put back from `internal` (where the CDK keeps a rate limit's), filler cut, secrets masked."""
    if (place := _WHERE.search(internal or "")) and not _WHERE.search(text):
        text = f"{text} {place.group(0)}"
    return bounded_text(filter_secrets(_FILLER.sub("Retries exhausted: ", _NOT_AVAILABLE.sub("", text))), limit)


def cause(error: BaseException) -> str:
    if isinstance(error, AirbyteTracedException):
        return rendered(error.message or error.internal_message or type(error).__name__, MAX_CAUSE_BYTES, error.internal_message)
    return rendered(f"{type(error).__name__}: {error}", MAX_CAUSE_BYTES)


def failed_status(error: AirbyteTracedException) -> AirbyteConnectionStatus:
    """`check`'s answer to a config error: a FAILED status, where other commands end with a TRACE."""
    return AirbyteConnectionStatus(status=Status.FAILED, message=rendered(error.message or ""))


def traced(message: AirbyteMessage, expected: bool = False) -> AirbyteMessage:
    """An error TRACE as written: its texts rendered and bounded, without a stack trace when `expected`."""
    if message.type == Type.TRACE and message.trace and message.trace.type == TraceType.ERROR and (error := message.trace.error):
        error.message = rendered(error.message or "", internal=error.internal_message)
        if error.internal_message:
            error.internal_message = bounded_text(filter_secrets(error.internal_message), MAX_INTERNAL_MESSAGE_BYTES)
        if expected:
            error.stack_trace = None
    return message
