"""The CDK's standard connector tests, on the scenarios of acceptance-test-config.yml,
against the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import pytest
from boltons.typeutils import classproperty

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
    emulator_url: Optional[str] = None

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
    def create_connector(cls, scenario: Optional[ConnectorTestScenario]):
        # The connector's own class (as the command runs it), not a bare declarative source
        # with an injected manifest: the suite then tests what users run.
        scenario = scenario or ConnectorTestScenario()
        config = dict(scenario.get_config_dict(empty_if_missing=True, connector_root=ROOT))
        if "base_url" in config and cls.emulator_url:
            # The declarative source reads with the config it was built with, so this is
            # the scenario's config with only the emulator's address changed.
            config["base_url"] = cls.emulator_url
        return SourceMoor7Im(config=config)
