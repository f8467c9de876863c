"""The installed `source-moor7-im` command against the emulator, as Airbyte runs it."""

from __future__ import annotations

import collections
from collections.abc import Hashable
from typing import Any

import jsonschema
import pytest

from moor7_emulator import Emulator, ground_truth

from .conftest import Cli, configured_catalog, emulator_config
from .reliability_checks import STREAMS, assert_is_the_apis_row, assert_the_apis_keys, primary_key


def _discover(cli: Cli, config: dict) -> dict:
    result = cli.run("discover", config)
    (catalog,) = result.of_type("CATALOG")
    return catalog["catalog"]


# The keywords of a schema under which a record's validity depends only on its keys and on
# the JSON type of each value (Draft7Validator checks no `format` unless given a checker).
TYPE_ONLY_KEYWORDS = frozenset(
    {"$schema", "type", "properties", "additionalProperties", "items", "title", "description", "format", "airbyte_type"}
)


def _type_only(schema: Any) -> bool:
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict) or not set(schema) <= TYPE_ONLY_KEYWORDS:
        return False
    nested = [*schema.get("properties", {}).values()]
    for keyword in ("additionalProperties", "items"):
        if keyword in schema:
            nested.append(schema[keyword])
    return all(_type_only(s) for s in nested)


def _json_shape(value: Any) -> Hashable:
    """What a type-only schema can tell apart: keys, JSON types, integral or not."""
    if isinstance(value, dict):
        return tuple(sorted((key, _json_shape(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("array", *(_json_shape(item) for item in value))
    if isinstance(value, float):
        return ("float", value.is_integer())
    return type(value).__name__


def assert_records_equal_ground_truth(result, truth: dict, schemas: dict) -> int:
    compared = 0
    for stream in STREAMS:
        records = result.records(stream)
        keys = [primary_key(stream, r) for r in records]
        duplicates = [k for k, n in collections.Counter(keys).items() if n > 1]
        assert not duplicates, f"{stream}: duplicate primary keys {duplicates[:3]}"
        assert_the_apis_keys(stream, keys, truth[stream])
        validator = jsonschema.Draft7Validator(schemas[stream])
        # Under a type-only schema, records of one shape are all valid or all not: each shape
        # is validated once (thousands of records share a few shapes).
        valid_shapes: set[Hashable] | None = set() if _type_only(schemas[stream]) else None
        for record in records:
            assert_is_the_apis_row(stream, record, truth[stream][primary_key(stream, record)])
            shape = _json_shape(record) if valid_shapes is not None else None
            if valid_shapes is None or shape not in valid_shapes:
                errors = [e.message for e in validator.iter_errors(record)]
                assert not errors, f"{stream}: record does not match the discovered schema: {errors[:3]}"
                if valid_shapes is not None:
                    valid_shapes.add(shape)
            compared += 1
    return compared


def test_spec_lists_every_option(cli: Cli) -> None:
    result = cli.run("spec")
    assert result.exit_code == 0
    assert not result.non_protocol_lines
    (spec,) = result.of_type("SPEC")
    properties = spec["spec"]["connectionSpecification"]["properties"]
    assert {
        "app_key",
        "secret_key",
        "start_date",
        "end_date",
        "dimension",
        "access_ids",
        "agent_ids",
        "lookback_days",
        "timezone",
        "base_url",
    } <= set(properties)
    assert properties["secret_key"]["airbyte_secret"] is True
    for name, option in properties.items():
        assert option.get("title"), f"{name} lacks a title, description or example"
        assert option.get("description"), f"{name} lacks a title, description or example"
        assert option.get("examples"), f"{name} lacks a title, description or example"


def test_check_succeeds_against_a_server_that_verifies_the_signature(cli: Cli, emulator: Emulator) -> None:
    result = cli.run("check", emulator_config(emulator))
    assert [m["connectionStatus"]["status"] for m in result.of_type("CONNECTION_STATUS")] == ["SUCCEEDED"]
    assert [r.outcome for r in emulator.log] == ["ok"] * 3, "one header day of each report"


def test_check_with_a_wrong_secret_fails_and_says_so(cli: Cli, emulator: Emulator) -> None:
    wrong_secret = "not-the-secret-Xk42"
    result = cli.run("check", emulator_config(emulator, secret_key=wrong_secret))
    (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
    assert status["status"] == "FAILED"
    assert "m7-sign verification failed" in status["message"]
    assert "'secret_key'" in status["message"]
    assert wrong_secret not in result.stdout + result.stderr
    assert [r.outcome for r in emulator.log] == ["bad_sign"]


def test_discover_adds_the_accounts_columns_with_their_labels(cli: Cli, emulator: Emulator) -> None:
    catalog = _discover(cli, emulator_config(emulator))
    schemas = {s["name"]: s["json_schema"] for s in catalog["streams"]}
    for column in emulator.account.agent_states:
        assert schemas["agent_workload"]["properties"][column.prop]["title"] == column.label
    for column in emulator.account.satisfaction_levels:
        assert schemas["agent_quality"]["properties"][column.prop]["title"] == column.label
    assert {s["name"]: s["source_defined_primary_key"] for s in catalog["streams"]} == {
        "session_time": [["dimension"], ["period_start"]],
        "agent_workload": [["agentId"], ["period_start"]],
        "agent_quality": [["agentId"], ["period_start"]],
        "report_columns": [["report"], ["prop"]],
    }
    # One header day per report: the range's last day (emulator_config ends on 2024-07-31).
    assert sorted((r.stream, r.window) for r in emulator.log) == sorted(
        (stream, ("2024-07-31 00:00:00", "2024-07-31 23:59:59")) for stream in ("session_time", "agent_workload", "agent_quality")
    )


@pytest.mark.runs_long(6)
@pytest.mark.parametrize("dimension", ["half_hour", "hour", "day", "month", "year"])
def test_a_full_read_returns_exactly_the_apis_rows(cli: Cli, emulator: Emulator, dimension: str) -> None:
    config = emulator_config(emulator, dimension=dimension, start_date="2024-04-10", end_date="2024-07-31")
    catalog = _discover(cli, config)
    emulator.clear_log()
    result = cli.run("read", config, configured_catalog(catalog))
    assert result.exit_code == 0, result.errors()
    assert not result.errors(), result.errors()
    truth = ground_truth(emulator.account, "2024-04-10", "2024-07-31", dimension)
    compared = assert_records_equal_ground_truth(result, truth, {s["name"]: s["json_schema"] for s in catalog["streams"]})
    assert compared == sum(len(rows) for rows in truth.values())
    assert {r.outcome for r in emulator.log} == {"ok"}
    nonces = [r.sign + r.nonce for r in emulator.log]
    assert len(nonces) == len(set(nonces))
    # 113 days: a window of a year holds them, of two months of hours or a month of half hours not
    session_windows = {"half_hour": 4, "hour": 2, "day": 1, "month": 1, "year": 1}[dimension]
    assert len(emulator.requests_for("session_time")) == session_windows
    assert len(emulator.requests_for("agent_quality")) == 113  # one per day, 2024-04-10 .. 2024-07-31


def test_access_and_agent_filters_are_sent_and_respected(cli: Cli, emulator: Emulator) -> None:
    account = emulator.account
    access, agents = [account.access_ids[0]], [account.agents[0].agent_id, account.agents[4].agent_id]
    config = emulator_config(emulator, start_date="2024-07-01", end_date="2024-07-10", access_ids=access, agent_ids=agents)
    catalog = _discover(cli, config)
    result = cli.run("read", config, configured_catalog(catalog))
    truth = ground_truth(account, "2024-07-01", "2024-07-10", "day", access_ids=access, agent_ids=agents)
    assert_records_equal_ground_truth(result, truth, {s["name"]: s["json_schema"] for s in catalog["streams"]})
    assert {a["agentId"] for a in result.records("agent_workload")} == {account.agents[0].display, account.agents[4].display}


def test_a_second_read_from_the_emitted_state_requests_only_the_tail(cli: Cli, emulator: Emulator) -> None:
    config = emulator_config(emulator, start_date="2024-06-01", end_date="2024-07-31", lookback_days=2)
    catalog = configured_catalog(_discover(cli, config))
    first = cli.run("read", config, catalog)
    states = first.final_states()
    assert {s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"] for s in states} == {
        stream: {"period_start": "2024-07-31T00:00:00+0800"} for stream in STREAMS
    }
    emulator.clear_log()
    second = cli.run("read", config, catalog, state=states)
    assert second.exit_code == 0
    assert not second.errors()
    assert sorted(r.window for r in emulator.requests_for("agent_workload")) == [
        ("2024-07-29 00:00:00", "2024-07-29 23:59:59"),
        ("2024-07-30 00:00:00", "2024-07-30 23:59:59"),
        ("2024-07-31 00:00:00", "2024-07-31 23:59:59"),
    ]
    assert [r.window for r in emulator.requests_for("session_time")] == [("2024-07-29 00:00:00", "2024-07-31 23:59:59")]
    truth = ground_truth(emulator.account, "2024-07-29", "2024-07-31", "day")
    assert_records_equal_ground_truth(
        second, truth, {s["stream"]["name"]: s["stream"]["json_schema"] for s in catalog["streams"]}
    )
