"""The CDK's standard connector tests, on the scenarios of acceptance-test-config.yml,
against the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from boltons.typeutils import classproperty

from airbyte_cdk.models import Status, SyncMode, Type
from airbyte_cdk.test import entrypoint_wrapper
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.models import ConnectorTestScenario
from airbyte_cdk.test.standard_tests import DeclarativeSourceTestSuite

from moor7_emulator import Account, Emulator, Faults
from source_moor7_im import SourceMoor7Im

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", autouse=True)
def emulator_for_the_suite() -> Iterator[Emulator]:
    # On a free port: sample_config.json names 127.0.0.1:8765 (where `python -m
    # moor7_emulator` listens by default), but under pytest-xdist the suite's tests run in
    # two workers at once, and both cannot bind one fixed port.
    with Emulator(Account(), Faults()) as api:
        TestStandardSuite.emulator_url = api.url
        yield api


class TestStandardSuite(DeclarativeSourceTestSuite):
    emulator_url: str | None = None

    # The image tests build and run the connector's Docker image; this machine has no
    # Docker engine, and Airbyte's own CI runs them on the published image.
    test_docker_image_build_and_spec = None
    test_docker_image_spec_backward_compatibility = None
    test_docker_image_build_and_check = None
    test_docker_image_build_and_discover = None
    test_docker_image_build_and_read = None
    test_docker_image_build_and_config_matches_spec = None
    # Its job runner passes --config to `spec`, which the CDK's argument parser refuses
    # (exit 2); test_acceptance_files.py validates the sample config against the spec.
    test_config_matches_spec = None

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return ROOT

    @classproperty
    def manifest_yaml_path(cls) -> Path:
        return ROOT / "source_moor7_im" / "manifest.yaml"

    @classmethod
    def create_connector(cls, scenario: ConnectorTestScenario | None):
        # The connector's own class (as the command runs it), not a bare declarative source
        # with an injected manifest: the suite then tests what users run.
        scenario = scenario or ConnectorTestScenario()
        config = dict(scenario.get_config_dict(empty_if_missing=True, connector_root=ROOT))
        if "base_url" in config and cls.emulator_url:
            # The declarative source reads with the config it was built with, so this is
            # the scenario's config with only the emulator's address changed.
            config["base_url"] = cls.emulator_url
        return SourceMoor7Im(config=config)


def _sample_config(api_url: str, **values) -> dict:
    config = json.loads((ROOT / "integration_tests" / "sample_config.json").read_text(encoding="utf-8"))
    return {**config, "base_url": api_url, **values}


def _check(source: SourceMoor7Im, config: dict, tmp_path: Path):
    # The wrapper has discover and read helpers, not check: run check as they run theirs.
    config_file = entrypoint_wrapper.make_file(tmp_path / "config.json", config)
    return entrypoint_wrapper._run_command(source, ["check", "--config", config_file])


def _records(output) -> set:
    return {json.dumps(m.record.data, sort_keys=True) for m in output.records}


def test_a_source_built_without_a_config_runs_each_command_with_the_config_it_is_given(
    emulator_for_the_suite: Emulator, tmp_path: Path
) -> None:
    # `airbyte-cdk connector test` builds `SourceMoor7Im()` before it has a config, then
    # passes the config (and catalog and state) to check, discover and read.
    config = _sample_config(emulator_for_the_suite.url)
    catalog = CatalogBuilder().with_stream("agent_workload", SyncMode.incremental).build()

    check = _check(SourceMoor7Im(), config, tmp_path)
    assert [m.connectionStatus.status for m in check.connection_status_messages] == [Status.SUCCEEDED]
    discover = entrypoint_wrapper.discover(SourceMoor7Im(), config)
    (catalog_message,) = discover.get_message_by_types([Type.CATALOG])
    assert {s.name for s in catalog_message.catalog.streams} == {
        "session_time",
        "agent_workload",
        "agent_quality",
        "report_columns",
    }

    unconfigured = entrypoint_wrapper.read(SourceMoor7Im(), config, catalog)
    configured = entrypoint_wrapper.read(SourceMoor7Im(config=config, catalog=catalog), config, catalog)
    assert not unconfigured.errors
    assert unconfigured.records
    assert _records(unconfigured) == _records(configured)

    # The state is used too: resuming from the last state re-reads only the cursor's window
    # and the one-day lookback before it, not the three days.
    resumed = entrypoint_wrapper.read(SourceMoor7Im(), config, catalog, state=[unconfigured.state_messages[-1].state])
    assert not resumed.errors
    assert 0 < len(resumed.records) < len(unconfigured.records)


def test_a_source_built_without_a_config_answers_check_of_a_bad_config_with_a_failed_status(tmp_path: Path) -> None:
    config = {**_sample_config("http://127.0.0.1:9"), "end_date": "2024-07-01"}
    output = _check(SourceMoor7Im(), config, tmp_path)
    (status,) = [m.connectionStatus for m in output.connection_status_messages]
    assert status.status == Status.FAILED
    assert "'end_date' 2024-07-01 is before 'start_date'" in status.message
