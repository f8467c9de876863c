"""Bad configurations: refused by the spec and, before any request, in one sentence naming the field."""

from __future__ import annotations

import json

import jsonschema
import pytest
import requests_mock
from freezegun import freeze_time

from source_moor7_im.calendar import ValidateConfigAndPlanWindows
from source_moor7_im.settings import spec

from .builders import SECRET_KEY, ConfigBuilder
from .conftest import run_cli

# (name, change to a good config, field the message must name, whether the spec schema alone refuses it)
BAD_CONFIGS = [
    ("missing app_key", {"app_key": None}, "app_key", True),
    ("empty app_key", {"app_key": ""}, "app_key", True),
    ("missing secret_key", {"secret_key": None}, "secret_key", True),
    ("empty secret_key", {"secret_key": "   "}, "secret_key", False),
    ("missing start_date", {"start_date": None}, "start_date", True),
    ("malformed start_date", {"start_date": "2024/01/01"}, "start_date", True),
    ("impossible start_date", {"start_date": "2024-02-30"}, "start_date", False),
    ("impossible end_date", {"end_date": "2023-13-01"}, "end_date", False),
    ("end_date before start_date", {"start_date": "2024-03-01", "end_date": "2024-02-01"}, "end_date", False),
    ("start_date in the future", {"start_date": "2030-01-01"}, "start_date", False),
    ("unknown dimension", {"dimension": "week"}, "dimension", True),
    ("unknown time zone", {"timezone": "Mars/Olympus_Mons"}, "timezone", False),
    ("a region, not a zone", {"timezone": "Asia"}, "timezone", False),
    (
        "range across a daylight-saving change",
        {"timezone": "America/New_York", "start_date": "2024-03-01", "end_date": "2024-03-31"},
        "timezone",
        False,
    ),
    ("negative lookback_days", {"lookback_days": -1}, "lookback_days", True),
    ("fractional lookback_days", {"lookback_days": 1.5}, "lookback_days", True),
    ("access_ids not a list", {"access_ids": "jT5AH3dA7dtMNjAQ"}, "access_ids", True),
    ("agent_ids with an empty id", {"agent_ids": [""]}, "agent_ids", True),
    ("base_url not a URL", {"base_url": "v7openapi.7moor.com"}, "base_url", True),
    ("base_url with another scheme", {"base_url": "ftp://v7openapi.7moor.com"}, "base_url", True),
    ("too many concurrent requests", {"max_concurrent_requests": 100}, "max_concurrent_requests", True),
    ("negative max_retries", {"max_retries": -1}, "max_retries", True),
    ("zero requests per second", {"max_requests_per_second": 0}, "max_requests_per_second", True),
]


def _bad_config(change: dict) -> dict:
    config = ConfigBuilder().with_start_date("2024-01-01").with_end_date("2024-01-31").build()
    for key, value in change.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return config


def _spec_schema(tmp_path, capsys) -> dict:
    (spec,) = [m["spec"] for m in run_cli(["spec"], None, tmp_path, capsys) if m["type"] == "SPEC"]
    return spec["connectionSpecification"]


def test_a_good_config_passes_the_spec(tmp_path, capsys) -> None:
    jsonschema.validate(_bad_config({}), _spec_schema(tmp_path, capsys), format_checker=jsonschema.FormatChecker())


# Calendar and time-zone rules are beyond JSON schema; the connector's own check covers them (below).
SPEC_EXPRESSIBLE = [c for c in BAD_CONFIGS if c[3]]


@pytest.mark.parametrize(("name", "change", "field", "spec_refuses"), SPEC_EXPRESSIBLE, ids=[c[0] for c in SPEC_EXPRESSIBLE])
def test_the_spec_refuses_what_it_can_express(name, change, field, spec_refuses, tmp_path, capsys) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(_bad_config(change), _spec_schema(tmp_path, capsys), format_checker=jsonschema.FormatChecker())


@freeze_time("2024-09-10 12:00:00")
@pytest.mark.parametrize(("name", "change", "field", "spec_refuses"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
@pytest.mark.parametrize("command", ["check", "discover", "read"])
def test_a_bad_config_stops_before_any_request_with_one_sentence_naming_the_field(
    command, name, change, field, spec_refuses, tmp_path, capsys
) -> None:
    args = [command]
    if command == "read":
        catalog_file = tmp_path / "catalog.json"
        catalog_file.write_text(json.dumps({"streams": []}))
        args += ["--catalog", str(catalog_file)]
    with requests_mock.Mocker() as mocker:
        messages = run_cli(args, _bad_config(change), tmp_path, capsys)
        assert mocker.request_history == []
    if command == "check":
        (status,) = [m["connectionStatus"] for m in messages if m["type"] == "CONNECTION_STATUS"]
        assert status["status"] == "FAILED"
        message = status["message"]
    else:
        (trace,) = [m["trace"] for m in messages if m["type"] == "TRACE"]
        assert trace["error"]["failure_type"] == "config_error"
        message = trace["error"]["message"]
        assert messages[0]["_exit_code"] == 1
    assert f"'{field}'" in message, message
    assert message.count(". ") <= 1, message
    assert ".." not in message, message
    assert "Traceback" not in message, message
    assert SECRET_KEY not in json.dumps(messages)


@pytest.mark.parametrize("key", ["timezone", "dimension", "max_retries", "lookback_days", "base_url"])
def test_an_empty_optional_field_is_a_field_left_out_everywhere(key: str) -> None:
    """A form sends "" for a field left empty: the connector's check and the config its parts read both take the default."""
    config = {**ConfigBuilder().with_start_date("2024-01-01").with_end_date("2024-01-31").build(), key: ""}
    ValidateConfigAndPlanWindows().transform(config)
    assert config[key] == spec()["properties"][key]["default"]
