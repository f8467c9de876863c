"""The manifest, and the user's configuration checked before any request.

The manifest is the one home of the stream table and of every setting's type, bounds,
pattern and default (its spec); it is read when first needed. A config is checked against the
spec's JSON schema, and its first error is said as one sentence that names the field and
quotes the spec (a secret is never quoted); what a schema cannot say (the dates' order and
range, a known time zone with one UTC offset over the range, a port) is checked after it.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema  # type: ignore[import-untyped]

from airbyte_cdk.utils.yaml_loader import safe_load_yaml

from . import calendar
from .hardening.messages import ConfigError

MANIFEST_PATH = Path(__file__).with_name("manifest.yaml")
# The dates a setting may name: the calendar arithmetic of windows and buckets stays far from
# the ends of Python's calendar (years 1 and 9999).
EARLIEST_DATE, LATEST_DATE = dt.date(2000, 1, 1), dt.date(2999, 12, 31)
# Plain http only reaches a server on this machine (the emulator, a local proxy).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@functools.cache
def manifest() -> Mapping[str, Any]:
    """The manifest as written (libyaml's loader where there is one); callers copy what they change."""
    with open(MANIFEST_PATH, encoding="utf-8") as file:
        return safe_load_yaml(file)  # type: ignore[no-any-return]


def report_table() -> Mapping[str, Mapping[str, Any]]:
    """The stream table (`definitions.reports`): each report's name, path, primary key,
    bucket, filters and nested fields."""
    return manifest()["definitions"]["reports"]  # type: ignore[no-any-return]


def spec() -> Mapping[str, Any]:
    return manifest()["spec"]["connection_specification"]  # type: ignore[no-any-return]


def with_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` with the spec's default for every setting left out (or null)."""
    return {
        **config,
        **{key: prop["default"] for key, prop in spec()["properties"].items() if config.get(key) is None and "default" in prop},
    }


def zone_of(config: Mapping[str, Any]) -> ZoneInfo:
    """The account's time zone, as a checked config names it."""
    return ZoneInfo(with_defaults(config)["timezone"])


def bucket_of(report: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """What one row of a report covers: the session `dimension`, or a local day (the stream
    table's `bucket`)."""
    return str(with_defaults(config)["dimension"]) if report["bucket"] == "dimension" else "day"


@dataclass(frozen=True)
class SyncSettings:
    """What the window plan needs of the config (calendar.py); the manifest reads the rest."""

    start_date: dt.date
    end_date: dt.date | None
    dimension: str
    lookback_days: int
    timezone: ZoneInfo
    base_url: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any], now: dt.datetime) -> SyncSettings:
        """Check `config`; `now` is an aware datetime."""
        given = with_defaults({key: value for key, value in config.items() if value not in (None, "")})
        schema_error(given)
        for key in ("app_key", "secret_key"):
            if given[key] != given[key].strip():
                raise ConfigError(
                    f"'{key}' ({spec()['properties'][key]['title']}) starts or ends with whitespace (a space or line break "
                    "copied with it): remove it; 7moor signs the exact text."
                )
        try:
            timezone = ZoneInfo(given["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"'timezone' {given['timezone']!r} is not a known IANA time zone name; use one such as Asia/Shanghai."
            ) from None
        today = now.astimezone(timezone).date()
        start_date, end_date = (_date(given, key) for key in ("start_date", "end_date"))
        assert start_date is not None  # required by the spec
        if start_date > today:
            raise ConfigError(
                f"'start_date' {start_date} is in the future (today is {today} in {timezone.key}): choose a day on or before today."
            )
        if end_date is not None and end_date < start_date:
            raise ConfigError(
                f"'end_date' {end_date} is before 'start_date' {start_date}: set an end date on or after the start date, or "
                "leave it empty to sync up to now."
            )
        # A month or year report reads its first and last buckets whole; later syncs go on up to now, a year ahead at most.
        dimension, last = given["dimension"], today + dt.timedelta(days=366)
        if end_date is not None:
            end_bucket = calendar.next_bucket_start(dt.datetime.combine(end_date, dt.time(23, 59)), dimension)
            last = min((end_bucket - calendar.ONE_SECOND).date(), last)
        first = calendar.bucket_start(dt.datetime.combine(start_date, dt.time()), dimension).date()
        _require_one_utc_offset(timezone, first, last)
        return cls(start_date, end_date, dimension, given["lookback_days"], timezone, _base_url(given["base_url"]))


def schema_error(config: Mapping[str, Any]) -> None:
    """The config's first error against the spec, as one sentence naming the field."""
    properties = spec()["properties"]
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft7Validator(spec(), format_checker=jsonschema.FormatChecker()).iter_errors(config)
    )
    if error is None:
        return
    key = error.message.split("'")[1] if error.validator == "required" else str(error.path[0]) if error.path else ""
    prop = properties.get(key, {})
    named = f"'{key}' ({prop.get('title', key)})"
    got = "" if prop.get("airbyte_secret") or error.validator == "required" else f"; got {error.instance!r}"
    rule, value = str(error.validator), error.validator_value
    if rule == "required":
        wanted = f"is required: {prop.get('description', '')}"
    elif rule == "type":
        wanted = f"must be {_KINDS.get(str(value), value)}"
    elif rule == "pattern":
        wanted = f"must be {prop.get('pattern_descriptor') or 'written as ' + str(value)}"
    elif rule == "enum":
        wanted = f"must be one of {', '.join(map(str, value))}"
    elif rule in ("minimum", "maximum"):
        wanted = f"must be from {prop.get('minimum')} to {prop.get('maximum')}"
    else:
        wanted = _SAID.get(rule, f"is not valid: {error.message}")
    if key in ("access_ids", "agent_ids") and error.validator != "type":
        wanted = 'must be a list of non-empty id strings, for example ["jT5AH3dA7dtMNjAQ"]'
    raise ConfigError(f"{named} {wanted}{got}.")


_KINDS = {"string": "text (a string, in quotes)", "integer": "a whole number", "number": "a number", "array": "a list"}
_SAID = {"minLength": "is empty", "format": "must be a real calendar date written YYYY-MM-DD"}


def _date(config: Mapping[str, Any], key: str) -> dt.date | None:
    if key not in config:
        return None
    day = dt.date.fromisoformat(config[key])  # the spec's pattern and format have checked it
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise ConfigError(
            f"'{key}' {day} is outside the dates the connector reads, {EARLIEST_DATE} to {LATEST_DATE}: choose a day in that range."
        )
    return day


def _require_one_utc_offset(zone: ZoneInfo, first: dt.date, last: dt.date) -> None:
    """Windows are cut in fixed-offset local time (calendar.py), so the zone must keep one UTC
    offset over the range they cover: across a change, windows would no longer start at
    local midnight and buckets would split."""
    offset, day = zone.utcoffset(dt.datetime.combine(first, dt.time(12))), first
    while day <= last:
        if zone.utcoffset(dt.datetime.combine(day, dt.time(12))) != offset:
            raise ConfigError(
                f"'timezone' {zone.key} changes its UTC offset on {day} (daylight saving time), within the range this "
                f"connection syncs ({first} to {last}; without an end date, a year ahead): the connector needs a zone with "
                "one UTC offset. Use the account's zone if it has no daylight saving time (7moor accounts run on China "
                "Standard Time: Asia/Shanghai), or UTC, or set an end date before the change."
            )
        day += dt.timedelta(days=1)


def _base_url(value: str) -> str:
    """The spec's pattern has checked the scheme and the host; urlparse checks the port."""
    try:
        port = urlparse(value).port  # raises above 65535, and on a host it cannot read
    except ValueError:
        port = 0
    if port == 0:
        raise ConfigError(
            f"'base_url' (API base URL) has no host and port from 1 to 65535 the connector can read; got {value!r}."
        )
    return value.rstrip("/")
