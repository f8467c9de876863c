"""The acceptance-test files are real: each is checked against the connector and the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from moor7_emulator import Emulator

from .conftest import Cli

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _load(name: str):
    return json.loads((HERE / name).read_text(encoding="utf-8"))


def _point_at(config: dict, api: Emulator) -> dict:
    return {**config, "base_url": api.url}


def test_acceptance_config_names_files_that_exist() -> None:
    config = yaml.safe_load((ROOT / "acceptance-test-config.yml").read_text(encoding="utf-8"))
    paths = {
        value
        for section in config["acceptance_tests"].values()
        for test in section["tests"]
        for key, value in test.items()
        if key.endswith("_path")
    } | {test["future_state"]["future_state_path"] for test in config["acceptance_tests"]["incremental"]["tests"]}
    assert paths, paths
    assert all((ROOT / path).exists() for path in paths), paths


def test_sample_config_matches_the_spec(cli: Cli) -> None:
    (spec,) = cli.run("spec").of_type("SPEC")
    jsonschema.validate(_load("sample_config.json"), spec["spec"]["connectionSpecification"])


def test_invalid_config_fails_check(cli: Cli, emulator: Emulator) -> None:
    result = cli.run("check", _point_at(_load("invalid_config.json"), emulator))
    (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
    assert status["status"] == "FAILED"
    assert "'secret_key'" in status["message"]


def test_a_read_of_the_sample_config_returns_the_expected_records(cli: Cli, emulator: Emulator) -> None:
    result = cli.run("read", _point_at(_load("sample_config.json"), emulator), _load("configured_catalog.json"))
    read = sorted(
        json.dumps({"stream": s, "data": d, "emitted_at": 1700000000000}, ensure_ascii=False, sort_keys=True)
        for s, d in ((m["record"]["stream"], m["record"]["data"]) for m in result.of_type("RECORD"))
    )
    expected = (HERE / "expected_records.jsonl").read_text(encoding="utf-8").splitlines()
    assert read == expected


def test_the_abnormal_state_reads_nothing_and_keeps_its_cursor(cli: Cli, emulator: Emulator) -> None:
    result = cli.run(
        "read", _point_at(_load("sample_config.json"), emulator), _load("configured_catalog.json"), _load("abnormal_state.json")
    )
    assert result.exit_code == 0
    assert not result.errors()
    assert result.records() == []
    assert [r for r in emulator.log if r.stream] == [], "a cursor in the future needs no request"
    for state in result.final_states():
        assert state["stream"]["stream_state"]["period_start"].startswith("2099-01-01T00:00:00")
