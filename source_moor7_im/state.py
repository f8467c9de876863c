"""The saved cursor, read as an instant and put back on a bucket start of today's settings: the CDK resumes
at it minus the lookback, and a value saved under other settings or written by hand is no such start (docs/design/state.md)."""

import datetime as dt
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import InitVar, dataclass
from typing import Any
from zoneinfo import ZoneInfo

from airbyte_cdk.sources.declarative.migrations.state_migration import StateMigration
from airbyte_cdk.sources.types import Config

from . import settings
from .calendar import bucket_start, cursor_field, cursor_format, parse_cursor
from .hardening.messages import LOGGER, ConfigError

ACCEPTED_FORMS = "an ISO 8601 date-time with its UTC offset (2024-01-20T00:00:00+08:00, +0800 or Z, with or without milliseconds), a date-time without offset or a date alone (2024-01-20, read in the configured time zone), or Unix epoch seconds (1705680000) or milliseconds (1705680000000)"


def parse_cursor_value(value: Any, zone: ZoneInfo) -> dt.datetime | None:
    """`value` as an aware datetime in `zone`, or None if it is none of the accepted forms. A value
    without an offset is account-local wall-clock time, as a person means it."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
        value = str(int(value))
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.isascii() and text.isdecimal() and len(text) in (10, 13):  # seconds or milliseconds (7moor's examples show both)
        return dt.datetime.fromtimestamp(int(text) / (1000 if len(text) == 13 else 1), zone)
    try:
        moment = dt.datetime.fromisoformat(re.sub("[Zz]$", "+00:00", text))  # 3.11: a T or a space, +08:00 or +0800
        return moment.astimezone(zone) if moment.tzinfo is not None else moment.replace(tzinfo=zone)
    except (OverflowError, ValueError):  # OverflowError: the ends of the calendar, which no zone can shift
        return None


def normalised_cursor(stream_name: str, value: Any, zone: ZoneInfo, dimension: str, now: dt.datetime | None = None) -> str:
    """The cursor as the start of its bucket of `dimension` in `zone`, in the cursor's format.
    A value that is no point in time is a config error; one after today is said in a WARN."""
    moment = parse_cursor_value(value, zone)
    if moment is None or not settings.EARLIEST_DATE <= moment.date() <= settings.LATEST_DATE:
        raise ConfigError(
            f"The saved state of stream {stream_name} holds {cursor_field()} {value!r}, which is not a point in time the connector can read: it expects {ACCEPTED_FORMS}. Correct the value in the connection's state, or reset the stream {stream_name} to sync it again from 'start_date'."
        )
    today = (now or dt.datetime.now(dt.UTC)).astimezone(zone).date()
    if moment.date() > today:  # Airbyte's acceptance suite reads from a future state and expects no rows, not a failure.
        LOGGER.warning(
            f"{stream_name}: the saved cursor {value} is after today ({today} in {zone.key}): the stream reads nothing until then. No sync could have read that far; if the state is wrong, reset the stream {stream_name}."
        )
    return bucket_start(moment.replace(tzinfo=None), dimension).replace(tzinfo=zone).strftime(cursor_format())


@dataclass
class NormaliseCursorState(StateMigration):
    """The stream's saved `period_start` floored to its bucket (`parameters.bucket`) in the configured time zone."""

    config: Config
    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self.stream_name = parameters["name"]
        self._zone = settings.zone_of(self.config)
        self._dimension = settings.bucket_of(parameters, self.config)

    def should_migrate(self, stream_state: Mapping[str, Any]) -> bool:
        return bool(stream_state)

    def migrate(self, stream_state: Mapping[str, Any]) -> MutableMapping[str, Any]:
        field = cursor_field()
        if field not in stream_state:
            raise ConfigError(
                f'The saved state of stream {self.stream_name} is {dict(stream_state)!r}, without a {field}: this connector keeps {{"{field}": <a point in time>}} per stream, where the point in time is {ACCEPTED_FORMS}. Correct the state, or reset the stream {self.stream_name}.'
            )
        found = stream_state[field]
        cursor = normalised_cursor(self.stream_name, found, self._zone, self._dimension)
        # As instants: a time in an hour the zone repeats equals no time in another zone. Not None: normalised_cursor read it.
        if parse_cursor_value(found, self._zone).timestamp() != parse_cursor(cursor).timestamp():  # type: ignore[union-attr]
            LOGGER.warning(
                f"{self.stream_name}: the saved cursor {found} is not the start of a {self._dimension.replace('_', ' ')} bucket in {self._zone.key} (the connection's dimension or time zone changed, or the state was written by hand); resuming from {cursor}, the start of its bucket, minus the lookback. Rows written under the earlier setting keep their own keys; reset the stream to replace them."
            )
        return {field: cursor}
