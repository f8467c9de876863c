"""The user's configuration, checked before any request: one sentence that names the field
and says what to do, where the spec's JSON schema would name JSON paths and regexes.
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

from airbyte_cdk.utils.yaml_loader import safe_load_yaml

from .buckets import ONE_SECOND, bucket_start, next_bucket_start
from .messages import ConfigError

MANIFEST_PATH = Path(__file__).with_name("manifest.yaml")


@functools.lru_cache(maxsize=1)
def manifest() -> Mapping[str, Any]:
    """The manifest as written: the one home of the stream table and of every setting's
    default and bounds (the spec), which the code reads from here."""
    with open(MANIFEST_PATH, encoding="utf-8") as file:
        return safe_load_yaml(file)  # type: ignore[no-any-return]  # libyaml's loader where there is one


SPEC: Mapping[str, Mapping[str, Any]] = manifest()["spec"]["connection_specification"]["properties"]
DEFAULT_BASE_URL: str = SPEC["base_url"]["default"]
# The dates a setting may name: the calendar arithmetic of windows and buckets stays far from
# the ends of Python's calendar (years 1 and 9999).
EARLIEST_DATE, LATEST_DATE = dt.date(2000, 1, 1), dt.date(2999, 12, 31)
# Plain http only reaches a server on this machine (the emulator, a local proxy).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def report_table() -> Mapping[str, Mapping[str, Any]]:
    """The stream table (the manifest's `definitions.reports`): each report's name, path,
    primary key, bucket, filters and nested fields."""
    return manifest()["definitions"]["reports"]  # type: ignore[no-any-return]


def with_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` with the spec's default for every setting left out (or null)."""
    filled = dict(config)
    for key, prop in SPEC.items():
        if "default" in prop and filled.get(key) is None:
            filled[key] = prop["default"]
    return filled


@dataclass(frozen=True)
class SyncSettings:
    """What the window plan needs of the config (windows.py); the other settings are checked
    here and read by the manifest."""

    start_date: dt.date
    end_date: dt.date | None
    dimension: str
    lookback_days: int
    timezone: ZoneInfo
    base_url: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any], today: dt.date) -> SyncSettings:
        """Validate `config`; `today` is the current date in the account's time zone."""
        config = with_defaults(config)
        for key, title in (("app_key", "App key"), ("secret_key", "Secret key")):
            _credential(config.get(key), key, title)

        timezone = _timezone(config["timezone"])
        start_date = _date(config, "start_date", required=True)
        end_date = _date(config, "end_date", required=False)
        assert start_date is not None
        if start_date > today:
            raise ConfigError(
                f"'start_date' {start_date.isoformat()} is in the future (today is {today.isoformat()} in {timezone.key}): "
                "choose a day on or before today."
            )
        if end_date is not None and end_date < start_date:
            raise ConfigError(
                f"'end_date' {end_date.isoformat()} is before 'start_date' {start_date.isoformat()}: "
                "set an end date on or after the start date, or leave it empty to sync up to now."
            )

        dimension = config["dimension"]
        if dimension not in SPEC["dimension"]["enum"]:
            raise ConfigError(f"'dimension' must be one of {', '.join(SPEC['dimension']['enum'])}; got {dimension!r}.")

        for key in ("access_ids", "agent_ids"):
            _id_list(config, key)
        for key in (
            "lookback_days",
            "max_concurrent_requests",
            "retry_backoff_seconds",
            "max_retries",
            "max_requests_per_second",
        ):
            _bounded_number(config, key)

        # Without an end date, later incremental syncs go on past today: a year ahead is
        # checked. A month or year report reads its first and last buckets whole (windows.py).
        first = bucket_start(dt.datetime.combine(start_date, dt.time()), dimension).date()
        last = today + dt.timedelta(days=366)
        if end_date is not None:
            # no later than a year ahead: windows are planned up to now at most
            last = min((next_bucket_start(dt.datetime.combine(end_date, dt.time(23, 59)), dimension) - ONE_SECOND).date(), last)
        _require_one_utc_offset(timezone, first, last)

        return cls(
            start_date=start_date,
            end_date=end_date,
            dimension=dimension,
            lookback_days=config["lookback_days"],
            timezone=timezone,
            base_url=_base_url(config["base_url"]),
        )


def _credential(value: Any, key: str, title: str) -> None:
    """A credential as the 7moor console shows it; the secret's value is never quoted back."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(
            f"'{key}' ({title}) is missing or empty: copy it from the account's open-API credentials, as 7moor issued them."
        )
    if not isinstance(value, str):
        shown = f" {value!r}" if key == "app_key" else ""
        raise ConfigError(
            f"'{key}' ({title}) must be a string; got the {type(value).__name__}{shown}: write it in quotes, as the "
            "7moor console shows it."
        )
    if value != value.strip():
        raise ConfigError(
            f"'{key}' ({title}) starts or ends with whitespace (a space or line break copied with it): remove it; "
            "7moor signs the exact text."
        )


def account_today(config: Mapping[str, Any], now_utc: dt.datetime) -> dt.date:
    """Today's date in the account's zone (UTC when the configured zone is unusable)."""
    try:
        zone = ZoneInfo(str(with_defaults(config)["timezone"]))
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return now_utc.astimezone(zone).date()


def _timezone(name: Any) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ConfigError(f"'timezone' must be an IANA time zone name such as Asia/Shanghai; got {name!r}.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"'timezone' {name!r} is not a known IANA time zone name; use one such as Asia/Shanghai.") from None


def _require_one_utc_offset(zone: ZoneInfo, first: dt.date, last: dt.date) -> None:
    """Windows are cut in fixed-offset local time (windows.py), so the zone must keep one UTC
    offset over the range they cover: across a change, windows would no longer start at
    local midnight and buckets would split."""
    offset = zone.utcoffset(dt.datetime.combine(first, dt.time(12)))
    day = first
    while day <= last:
        if zone.utcoffset(dt.datetime.combine(day, dt.time(12))) != offset:
            raise ConfigError(
                f"'timezone' {zone.key} changes its UTC offset on {day.isoformat()} (daylight saving time), within the "
                f"range this connection syncs ({first.isoformat()} to {last.isoformat()}; without an end date, a year "
                "ahead): the connector needs a zone with one UTC offset. Use the account's zone if it has no daylight "
                "saving time (7moor accounts run on China Standard Time: Asia/Shanghai), or UTC, or set an end date "
                "before the change."
            )
        day += dt.timedelta(days=1)


def _date(config: Mapping[str, Any], key: str, required: bool) -> dt.date | None:
    value = config.get(key)
    if value is None or value == "":
        if required:
            raise ConfigError(f"'{key}' is required: give the first day to sync as YYYY-MM-DD, for example 2024-01-01.")
        return None
    if not isinstance(value, str):
        raise ConfigError(f"'{key}' must be a date written YYYY-MM-DD, for example 2024-01-01; got {value!r}.")
    try:
        parsed = dt.date.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or len(value) != 10:
        raise ConfigError(f"'{key}' must be a real calendar date written YYYY-MM-DD, for example 2024-01-01; got {value!r}.")
    if not EARLIEST_DATE <= parsed <= LATEST_DATE:
        raise ConfigError(
            f"'{key}' {value} is outside the dates the connector reads, {EARLIEST_DATE.isoformat()} to "
            f"{LATEST_DATE.isoformat()}: choose a day in that range."
        )
    return parsed


def _id_list(config: Mapping[str, Any], key: str) -> None:
    value = config.get(key)
    if value is not None and (not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value)):
        raise ConfigError(f"'{key}' must be a list of non-empty id strings, for example [\"jT5AH3dA7dtMNjAQ\"]; got {value!r}.")


def _base_url(value: Any) -> str:
    try:
        parsed = urlparse(value) if isinstance(value, str) else None
        port_ok = parsed is not None and (parsed.port is None or parsed.port > 0)  # .port raises above 65535
    except ValueError:
        parsed, port_ok = None, False
    if (
        parsed is None
        or not port_ok
        or parsed.scheme not in ("http", "https")
        or not parsed.hostname
        or any(c.isspace() for c in value)
    ):
        raise ConfigError(f"'base_url' must be an https URL such as {DEFAULT_BASE_URL}; got {value!r}.")
    if parsed.scheme == "http" and parsed.hostname not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"'base_url' {value!r} uses plain http, which would send the signed requests unencrypted: use https "
            f"(the default is {DEFAULT_BASE_URL}). Plain http is allowed only for a test server on this machine "
            "(127.0.0.1, localhost or [::1])."
        )
    return value.rstrip("/")


def _bounded_number(config: Mapping[str, Any], key: str) -> None:
    """Within the spec's type and bounds; an optional setting left out is not checked."""
    value, prop = config.get(key), SPEC[key]
    if value is None and "default" not in prop:
        return
    whole = prop["type"] == "integer"
    low, high = prop["minimum"], prop["maximum"]
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or not low <= value <= high:
        noun = "a whole number" if whole else "a number"
        unit = " of days" if key == "lookback_days" else ""
        raise ConfigError(f"'{key}' must be {noun}{unit} from {low:g} to {high:g}; got {value!r}.")
