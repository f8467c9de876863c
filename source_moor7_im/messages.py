"""The text a user reads about a failure: its kind, its stream and window, in the connector's
words, bounded in UTF-8 bytes (what the platform stores): a server that sends 100,000
characters must not bury the one line that matters.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

from airbyte_cdk.models import AirbyteMessage, FailureType, TraceType, Type
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

# The connector's own log lines (under "airbyte", whose level the CDK sets).
LOGGER = logging.getLogger("airbyte.source_moor7_im")

MAX_QUOTE_BYTES = 300
MAX_CAUSE_BYTES = 900  # one failed window's cause in the final error, which lists up to four
MAX_MESSAGE_BYTES = 4096
MAX_INTERNAL_MESSAGE_BYTES = 1024


class ConnectorError(AirbyteTracedException):
    """A failure in the connector's own words; its kind is its class's."""

    kind = FailureType.system_error

    def __init__(self, message: str, internal_message: str | None = None) -> None:
        super().__init__(message=message, internal_message=internal_message or message, failure_type=self.kind)


class ConfigError(ConnectorError):
    """A setting, state or credential the user must correct; never retried."""

    kind = FailureType.config_error


class ReportRefused(ConfigError):
    """7moor refused one report to the account (no permission for it): a config error of
    that report alone, since the same credentials may read the other reports. `report`
    names it: a stream that reads several reports (report_columns) goes on with the others."""

    def __init__(self, message: str, internal_message: str | None = None, report: str = "") -> None:
        super().__init__(message, internal_message)
        self.report = report


class RetriesSpent(ConnectorError):
    """A window's retries ended: their time budget was spent, or 7moor asked for a longer
    wait than the connector makes."""

    kind = FailureType.transient_error


class UnkeyableRowError(ConnectorError):
    """A row that cannot get a true primary key: the stream stops rather than emit it under
    a made-up or null key, which a destination would silently merge or reject."""


def every_report_refused(first: BaseException) -> str:
    """What to say when 7moor refused every report it was asked for and answered none."""
    return (
        "7moor refused every report it was asked for, and answered none: the cause is the account, not one report. "
        "Check 'app_key' and 'secret_key', and that 7moor accepts requests from this machine's IP address. "
        f"The first refusal: {user_message(first)}"
    )


class ReadStopped(Exception):
    """A window's retries were cut short because the read (or its stream) was stopped."""


# "[stream <name>, createTime 2024-08-02 00:00:00 to 2024-08-02 23:59:59]": `location`.
FAILURE_LOCATION = re.compile(r"\[stream [^\]]+\]")


def location(stream: str, create_time: Sequence[str] | None) -> str:
    """Where a failure happened: the stream and the window, as the request's createTime
    (account-local "YYYY-MM-DD HH:MM:SS" bounds) gave it."""
    if not create_time:
        return f"[stream {stream}]"
    start, end = create_time
    return f"[stream {stream}, createTime {start} to {end}]"


# The CDK's wordings around a cause: the cause is what matters.
_LIBRARY_FILLER = (
    ("Exhausted available request attempts. Please see logs for more details. Exception: ", "Retries exhausted: "),
    ("Exhausted available request attempts. Exception: ", "Retries exhausted: "),
)
_NOT_AVAILABLE = re.compile(r"^Stream \w+ is not available: ")


def bounded_text(value: Any, limit: int = MAX_QUOTE_BYTES) -> str:
    """`value` as text of at most `limit` UTF-8 bytes, cut on a character boundary."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[: limit - len("…".encode())].decode("utf-8", errors="ignore") + "…"


def plain_cause(text: str) -> str:
    """A failure message without the library's filler around its cause."""
    text = _NOT_AVAILABLE.sub("", text)
    for filler, plain in _LIBRARY_FILLER:
        text = text.replace(filler, plain)
    return filter_secrets(text)


def with_location(message: str, internal_message: str | None) -> str:
    """`message` with the stream and window put back when the CDK kept them only in the
    internal message (it reports a rate limit that outlasted the retries as "API rate limit
    exceeded.")."""
    if FAILURE_LOCATION.search(message):
        return message
    location = FAILURE_LOCATION.search(internal_message or "")
    return f"{message} {location.group(0)}" if location else message


def user_message(exception: BaseException) -> str:
    """What the user reads for a failed window, at most `MAX_CAUSE_BYTES`."""
    if isinstance(exception, AirbyteTracedException):
        message = exception.message or exception.internal_message or type(exception).__name__
        message = with_location(message, exception.internal_message)
    else:
        message = f"{type(exception).__name__}: {exception}"
    return bounded_text(plain_cause(message), MAX_CAUSE_BYTES)


def bounded_trace(message: AirbyteMessage) -> AirbyteMessage:
    """An error TRACE with its location, its message in plain words and both messages bounded."""
    error = (
        message.trace.error if message.type == Type.TRACE and message.trace and message.trace.type == TraceType.ERROR else None
    )
    if error is not None:
        error.message = bounded_text(plain_cause(with_location(error.message or "", error.internal_message)), MAX_MESSAGE_BYTES)
        if error.internal_message:
            error.internal_message = bounded_text(filter_secrets(error.internal_message), MAX_INTERNAL_MESSAGE_BYTES)
    return message
