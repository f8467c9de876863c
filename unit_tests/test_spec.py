"""The spec as the Airbyte UI renders it, and the config checks in settings.py that match it."""

from __future__ import annotations

import datetime as dt
import logging
import re

import jsonschema
import pytest

from source_moor7_im import SourceMoor7Im
from source_moor7_im.hardening.messages import ConfigError
from source_moor7_im.settings import SyncSettings

NOW = dt.datetime(2024, 9, 10, 4, tzinfo=dt.UTC)  # 12:00 in Shanghai
SPEC = SourceMoor7Im().spec(logging.getLogger("test")).connectionSpecification
PROPERTIES = SPEC["properties"]
GOOD = {"app_key": "2000103", "secret_key": "s3cr3t-value", "start_date": "2024-01-01", "end_date": "2024-01-31"}

GROUPS = {
    "credentials": {"app_key", "secret_key"},
    "sync": {"start_date", "end_date", "dimension", "access_ids", "agent_ids", "lookback_days", "timezone"},
    "advanced": {"base_url", "max_retries", "retry_backoff_seconds", "max_concurrent_requests", "max_requests_per_second"},
}


def _spec_accepts(**values) -> bool:
    try:
        jsonschema.validate({**GOOD, **values}, SPEC)
    except jsonschema.ValidationError:
        return False
    return True


def _settings_error(**values) -> str:
    with pytest.raises(ConfigError) as raised:
        SyncSettings.from_config({**GOOD, **values}, now=NOW)
    return raised.value.message


def test_the_spec_command_answers_the_spec_the_whole_source_gives() -> None:
    """`spec` is made from the manifest alone, without building the source: the same spec."""
    assert SourceMoor7Im.spec_only() == SourceMoor7Im().spec(logging.getLogger("test"))


def test_every_property_sits_in_one_of_the_declared_groups() -> None:
    assert [(group["id"], group["title"]) for group in SPEC["groups"]] == [
        ("credentials", "Credentials"),
        ("sync", "What to sync"),
        ("advanced", "Advanced"),
    ]
    by_group = {group_id: {name for name, prop in PROPERTIES.items() if prop.get("group") == group_id} for group_id in GROUPS}
    assert by_group == GROUPS
    assert set(PROPERTIES) == set().union(*GROUPS.values())


def test_the_form_order_is_unique_and_follows_the_groups() -> None:
    orders = [
        PROPERTIES[name]["order"]
        for group in ("credentials", "sync", "advanced")
        for name in sorted(GROUPS[group], key=lambda n: PROPERTIES[n]["order"])
    ]
    assert orders == sorted(orders) == list(range(len(PROPERTIES)))


@pytest.mark.parametrize(
    ("key", "value"), [("start_date", "0001-01-01"), ("end_date", "9999-12-31"), ("start_date", "1999-12-31")]
)
def test_a_date_outside_the_calendar_the_connector_reads_is_refused_naming_the_range(key: str, value: str) -> None:
    assert _settings_error(**{key: value}) == (
        f"'{key}' {value} is outside the dates the connector reads, 2000-01-01 to 2999-12-31: choose a day in that range."
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "https://[::1", "https://host:0"])
def test_a_base_url_with_an_impossible_port_or_shape_is_refused(url: str) -> None:
    assert _settings_error(base_url=url).startswith("'base_url' (API base URL) ")


def test_both_dates_describe_their_pattern_and_end_date_is_a_date_picker_that_may_be_empty() -> None:
    for name in ("start_date", "end_date"):
        assert PROPERTIES[name]["pattern_descriptor"] == "YYYY-MM-DD"
        assert PROPERTIES[name]["format"] == "date"
    assert _spec_accepts(end_date="")
    assert "end_date" not in SPEC["required"]
    assert not _spec_accepts(end_date="31/01/2024")


def test_the_secret_example_is_a_placeholder_not_a_key() -> None:
    secret = PROPERTIES["secret_key"]
    assert secret["airbyte_secret"] is True
    (example,) = secret["examples"]
    assert example == "your-secret-key"
    assert not re.search(r"[A-Za-z0-9]{16,}", example), "an example that looks like a real key"


def test_titles_write_ids_in_capitals() -> None:
    assert PROPERTIES["access_ids"]["title"] == "Access IDs"
    assert PROPERTIES["agent_ids"]["title"] == "Agent IDs"
    texts = " ".join(prop["title"] + " " + prop["description"] for prop in PROPERTIES.values())
    assert not re.search(r"\bids\b", texts), "'ids' in lower case"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://v7openapi.7moor.com", True),
        ("https://v7openapi.7moor.com/", True),
        ("https://proxy.example.com:8443/7moor", True),
        ("http://127.0.0.1:8765", True),
        ("http://localhost:8765", True),
        ("http://localhost", True),
        ("http://[::1]:8765", True),
        ("http://v7openapi.7moor.com", False),
        ("http://10.0.0.5:8080", False),
        ("http://127.0.0.1.example.com", False),
        ("http://localhost.example.com:80", False),
        ("http://127.0.0.1:8765@example.com", False),
        ("ftp://v7openapi.7moor.com", False),
        ("v7openapi.7moor.com", False),
    ],
)
def test_base_url_is_https_except_for_loopback_hosts_in_the_spec_and_in_settings(url: str, allowed: bool) -> None:
    assert _spec_accepts(base_url=url) is allowed
    if allowed:
        assert SyncSettings.from_config({**GOOD, "base_url": url}, now=NOW).base_url == url.rstrip("/")
    else:
        message = _settings_error(base_url=url)
        assert message.startswith("'base_url'")
        assert "https" in message


def test_plain_http_to_a_remote_host_is_refused_with_the_reason_and_the_fix() -> None:
    assert _settings_error(base_url="http://v7openapi.7moor.com") == (
        "'base_url' (API base URL) must be https://host, or http://127.0.0.1:port for a local test server only"
        " (plain http would send the signed requests unencrypted); got 'http://v7openapi.7moor.com'."
    )


@pytest.mark.parametrize(("days", "allowed"), [(0, True), (1, True), (30, True), (31, False), (365, False)])
def test_lookback_days_has_a_maximum_of_30_in_the_spec_and_in_settings(days: int, allowed: bool) -> None:
    assert PROPERTIES["lookback_days"]["maximum"] == 30
    assert _spec_accepts(lookback_days=days) is allowed
    if allowed:
        assert SyncSettings.from_config({**GOOD, "lookback_days": days}, now=NOW).lookback_days == days
    else:
        assert _settings_error(lookback_days=days) == f"'lookback_days' (Lookback days) must be from 0 to 30; got {days}."


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Singapore", "Asia/Tokyo", "UTC", "Etc/GMT-8"])
def test_fixed_offset_time_zones_are_accepted(zone: str) -> None:
    assert _spec_accepts(timezone=zone)
    settings = SyncSettings.from_config({**GOOD, "end_date": None, "timezone": zone}, now=NOW)
    assert settings.timezone.key == zone


def test_every_time_zone_example_is_accepted() -> None:
    for zone in PROPERTIES["timezone"]["examples"]:
        assert SyncSettings.from_config({**GOOD, "end_date": None, "timezone": zone}, now=NOW).timezone.key == zone


def test_a_zone_with_daylight_saving_time_is_refused_without_an_end_date_naming_the_change() -> None:
    # Today is in September: the next change of Europe/Berlin is the end of October.
    message = _settings_error(end_date=None, start_date="2024-09-01", timezone="Europe/Berlin")
    assert message.startswith("'timezone' Europe/Berlin changes its UTC offset on 2024-10-27")
    assert "Asia/Shanghai" in message
    assert "UTC" in message


def test_a_zone_with_daylight_saving_time_is_accepted_for_a_range_within_one_offset() -> None:
    settings = SyncSettings.from_config({**GOOD, "timezone": "Europe/Berlin"}, now=NOW)  # January only
    assert settings.timezone.key == "Europe/Berlin"


@pytest.mark.parametrize("zone", ["Asia Shanghai", "+08:00", "Asia/Shanghai;drop"])
def test_a_timezone_that_is_not_an_iana_name_is_refused_by_the_spec_and_by_settings(zone: str) -> None:
    assert not _spec_accepts(timezone=zone)
    assert (
        _settings_error(timezone=zone)
        == f"'timezone' (Time zone) must be an IANA time zone name, such as Asia/Shanghai; got {zone!r}."
    )


def test_settings_take_each_numeric_bound_from_the_spec() -> None:
    numeric = [name for name, prop in PROPERTIES.items() if prop["type"] in ("integer", "number")]
    assert set(numeric) == {
        "lookback_days",
        "max_concurrent_requests",
        "retry_backoff_seconds",
        "max_retries",
        "max_requests_per_second",
    }
    for name in numeric:
        low, high = PROPERTIES[name]["minimum"], PROPERTIES[name]["maximum"]
        SyncSettings.from_config({**GOOD, name: low}, now=NOW)
        SyncSettings.from_config({**GOOD, name: high}, now=NOW)
        assert _settings_error(**{name: high + 1}).startswith(
            f"'{name}' ({PROPERTIES[name]['title']}) must be from {low} to {high}"
        )
        assert _settings_error(**{name: low - 1}).startswith(
            f"'{name}' ({PROPERTIES[name]['title']}) must be from {low} to {high}"
        )


def test_the_spec_says_where_the_docs_page_is_read_until_airbyte_publishes_it() -> None:
    # documentationUrl follows Airbyte's convention: docs.airbyte.com shows the page only once
    # Airbyte's catalog publishes the connector. The form's text says where it is until then.
    from source_moor7_im.settings import manifest

    url = manifest()["spec"]["documentation_url"]
    page = "docs/integrations/sources/moor7-im.md"
    description = " ".join(SPEC["description"].split())
    assert url in description
    assert page in description
    assert "until then" in description
    assert page in " ".join(PROPERTIES["app_key"]["description"].split()), "beside the first field of the form"


def test_the_spec_title_is_the_connector_name_in_metadata() -> None:
    from pathlib import Path

    import yaml

    metadata = yaml.safe_load((Path(__file__).resolve().parent.parent / "metadata.yaml").read_text(encoding="utf-8"))
    assert SPEC["title"] == metadata["data"]["name"]


@pytest.mark.parametrize(("dimension", "refused"), [("day", False), ("month", False), ("year", True)])
def test_a_month_or_year_report_is_checked_over_its_whole_first_bucket(dimension: str, refused: bool) -> None:
    # Europe/Berlin changes its offset on 2024-03-31; a year report from June starts in January.
    values = {"timezone": "Europe/Berlin", "dimension": dimension, "start_date": "2024-06-01", "end_date": "2024-06-30"}
    if refused:
        assert _settings_error(**values).startswith("'timezone' Europe/Berlin changes its UTC offset on 2024-03-31")
    else:
        assert SyncSettings.from_config({**GOOD, **values}, now=NOW).dimension == dimension
