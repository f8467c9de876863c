"""The manifest (the one home of the stream table and of every setting's spec), and the config checked
before any request: against the spec's schema, then what a schema cannot say (docs/design/command.md)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema  # type: ignore[import-untyped]

from airbyte_cdk.utils.yaml_loader import safe_load_yaml

from . import calendar
from .hardening.messages import ConfigError

MANIFEST_PATH = Path(__file__).with_name("manifest.yaml")
# Far from the ends of Python's calendar (years 1 and 9999), for the windows' and buckets' arithmetic.
EARLIEST_DATE, LATEST_DATE = dt.date(2000, 1, 1), dt.date(2999, 12, 31)
_KINDS = {"string": "text (a string, in quotes)", "integer": "a whole number", "number": "a number", "array": "a list"}


@functools.cache
def manifest() -> Mapping[str, Any]:
    """The manifest as written; callers copy what they change."""
    return safe_load_yaml(MANIFEST_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def report_table() -> Mapping[str, Mapping[str, Any]]:
    return manifest()["definitions"]["reports"]  # type: ignore[no-any-return]


def spec() -> Mapping[str, Any]:
    return manifest()["spec"]["connection_specification"]  # type: ignore[no-any-return]


def with_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` with the spec's default for every setting left out (null or "", as a form sends an empty field)."""
    defaults = {key: prop["default"] for key, prop in spec()["properties"].items() if "default" in prop}
    return {**config, **{key: value for key, value in defaults.items() if config.get(key) in (None, "")}}


def zone_of(config: Mapping[str, Any]) -> ZoneInfo:
    return ZoneInfo(with_defaults(config)["timezone"])


def bucket_of(report: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """What a row of `report` covers (its `bucket`): the session `dimension`, or a local day."""
    return str(with_defaults(config)["dimension"]) if report["bucket"] == "dimension" else "day"


class SyncSettings(NamedTuple):
    """What the window plan needs of the config (calendar.py); the manifest reads the rest."""

    start_date: dt.date
    end_date: dt.date | None
    dimension: str
    lookback_days: int
    timezone: ZoneInfo
    base_url: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any], now: dt.datetime) -> SyncSettings:
        """Check `config` (`now` is aware), the spec's schema first."""
        given = with_defaults({key: value for key, value in config.items() if value not in (None, "")})
        # The spec's first error, said as one sentence naming the field (a secret is never quoted).
        validator = jsonschema.Draft7Validator(spec(), format_checker=jsonschema.FormatChecker())
        if (error := jsonschema.exceptions.best_match(validator.iter_errors(given))) is not None:
            rule, value = str(error.validator), error.validator_value
            key = str(error.path[0]) if error.path else error.message.split("'")[1]  # a missing field's error has no path
            prop = spec()["properties"][key]
            wanted = {
                "required": f"is required: {prop['description'].rstrip('.')}",
                "type": f"must be {_KINDS.get(str(value), value)}",
                "pattern": f"must be {prop.get('pattern_descriptor') or f'written as {value}'}",
                "enum": f"must be one of {', '.join(map(str, prop.get('enum', ())))}",
                **dict.fromkeys(("minimum", "maximum"), f"must be from {prop.get('minimum')} to {prop.get('maximum')}"),
                "format": "must be a real calendar date written YYYY-MM-DD",
            }.get(rule, f"is not valid: {error.message}")
            if key in ("access_ids", "agent_ids") and rule != "type":  # an empty id in the list
                wanted = 'must be a list of non-empty id strings, for example ["jT5AH3dA7dtMNjAQ"]'
            got = "" if prop.get("airbyte_secret") or rule == "required" else f"; got {error.instance!r}"
            raise ConfigError(f"'{key}' ({prop['title']}) {wanted}{got}.")
        if padded := next((key for key in ("app_key", "secret_key") if given[key] != given[key].strip()), None):
            raise ConfigError(
                f"'{padded}' ({spec()['properties'][padded]['title']}) starts or ends with whitespace (a space or line break copied with it): remove it; 7moor signs the exact text."
            )
        try:
            timezone = ZoneInfo(given["timezone"])
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of tzdata, such as 'Asia'
            raise ConfigError(
                f"'timezone' {given['timezone']!r} is not a known IANA time zone name; use one such as Asia/Shanghai."
            ) from None
        dates = {key: dt.date.fromisoformat(given[key]) for key in ("start_date", "end_date") if key in given}
        if outside := next((key for key, day in dates.items() if not EARLIEST_DATE <= day <= LATEST_DATE), None):
            raise ConfigError(
                f"'{outside}' {dates[outside]} is outside the dates the connector reads, {EARLIEST_DATE} to {LATEST_DATE}: choose a day in that range."
            )
        start_date, end_date, today = dates["start_date"], dates.get("end_date"), now.astimezone(timezone).date()
        if start_date > today:
            raise ConfigError(
                f"'start_date' {start_date} is in the future (today is {today} in {timezone.key}): choose a day on or before today."
            )
        if end_date is not None and end_date < start_date:
            raise ConfigError(
                f"'end_date' {end_date} is before 'start_date' {start_date}: set an end date on or after the start date, or leave it empty to sync up to now."
            )
        # Windows are cut at one fixed UTC offset; the range holds its first and last buckets whole (docs/design/windows.md).
        dimension, ahead = given["dimension"], today + dt.timedelta(days=366)
        end_bucket = calendar.next_bucket_start(dt.datetime.combine(end_date or ahead, dt.time(23, 59)), dimension)
        last = min((end_bucket - calendar.ONE_SECOND).date(), ahead)
        first = calendar.bucket_start(dt.datetime.combine(start_date, dt.time()), dimension).date()
        noons = [dt.datetime.combine(first + dt.timedelta(days=n), dt.time(12)) for n in range((last - first).days + 1)]
        if change := next((noon for noon in noons if timezone.utcoffset(noon) != timezone.utcoffset(noons[0])), None):
            raise ConfigError(
                f"'timezone' {timezone.key} changes its UTC offset on {change.date()} (daylight saving time), within the range this connection syncs ({first} to {last}; without an end date, a year ahead): the connector needs a zone with one UTC offset. Use the account's zone if it has no daylight saving time (7moor accounts run on China Standard Time: Asia/Shanghai), or UTC, or set an end date before the change."
            )
        try:
            if urlparse(given["base_url"]).port == 0:  # refused as urlparse refuses a port above 65535 or an unreadable host
                raise ValueError
        except ValueError:
            raise ConfigError(
                f"'base_url' (API base URL) has no host and port from 1 to 65535 the connector can read; got {given['base_url']!r}."
            ) from None
        return cls(start_date, end_date, dimension, given["lookback_days"], timezone, given["base_url"].rstrip("/"))
