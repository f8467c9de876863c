"""metadata.yaml passes Airbyte's own validation, offline: the `airbyte-connector-models`
model of metadata.yaml, and the rules Airbyte checks before it uploads a connector (base
image pinned by digest, the docs page and the icon present); and it agrees with the package."""

from __future__ import annotations

import re
import tomllib
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from airbyte_connector_models.metadata.v0.connector_metadata_definition_v0 import ConnectorMetadataDefinitionV0
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parent.parent
METADATA = yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))
DATA = METADATA["data"]
MANIFEST = yaml.safe_load((ROOT / "source_moor7_im" / "manifest.yaml").read_text(encoding="utf-8"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_metadata_passes_airbytes_metadata_model() -> None:
    model = ConnectorMetadataDefinitionV0.model_validate(METADATA)
    assert model.data.connector_type.value == "source"
    assert model.data.connector_subtype.value == "api"
    assert model.data.ab_internal is not None
    assert model.data.ab_internal.ql is not None
    assert model.data.ab_internal.sl is not None


@pytest.mark.parametrize(
    "change",
    [{"connectorType": "sink"}, {"unknownField": 1}, {"ab_internal": {"ql": 150}}, {"definitionId": "not-a-uuid"}],
    ids=["bad-enum", "unknown-field", "bad-quality-level", "bad-definition-id"],
)
def test_the_model_refuses_a_broken_metadata_file(change: dict) -> None:
    # So that the test above can fail: the model is strict about these.
    with pytest.raises(ValidationError):
        ConnectorMetadataDefinitionV0.model_validate({**METADATA, "data": {**DATA, **change}})


def test_the_base_image_is_pinned_by_digest() -> None:
    base_image = DATA["connectorBuildOptions"]["baseImage"]
    assert re.fullmatch(r"docker\.io/airbyte/python-connector-base:\d+\.\d+\.\d+@sha256:[0-9a-f]{64}", base_image), base_image


def test_the_docs_page_named_by_documentation_url_exists_with_a_changelog_entry_for_this_version() -> None:
    url = urlparse(DATA["documentationUrl"])
    assert url.scheme == "https"
    assert url.netloc == "docs.airbyte.com"
    assert url.path.startswith("/integrations/sources/")
    page = ROOT / "docs" / f"{url.path.strip('/')}.md"
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# 7moor IM Reports")
    assert re.search(rf"^\| {re.escape(DATA['dockerImageTag'])} +\| {DATA['releaseDate']} ", text, re.MULTILINE), (
        "no changelog row"
    )
    assert MANIFEST["spec"]["documentation_url"] == DATA["documentationUrl"]


def test_the_icon_is_an_svg_file_at_the_top_level() -> None:
    icon = ROOT / DATA["icon"]
    assert icon.name == "icon.svg"
    assert icon.parent == ROOT
    root = ElementTree.parse(icon).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox")
    assert len(list(root.iter())) > 1


def test_pypi_package_name_is_the_distribution_and_the_command_keeps_its_name() -> None:
    assert DATA["remoteRegistries"]["pypi"] == {"enabled": True, "packageName": "airbyte-source-moor7-im"}
    assert PYPROJECT["tool"]["poetry"]["name"] == "airbyte-source-moor7-im"
    assert PYPROJECT["tool"]["poetry"]["scripts"] == {"source-moor7-im": "source_moor7_im.run:run"}
    assert PYPROJECT["tool"]["poetry"]["version"] == DATA["dockerImageTag"]


def test_allowed_hosts_cover_the_default_host_and_a_custom_base_url() -> None:
    base_url = MANIFEST["spec"]["connection_specification"]["properties"]["base_url"]
    assert DATA["allowedHosts"]["hosts"] == [urlparse(base_url["default"]).hostname, "${base_url}"]


def test_metadata_describes_this_connector_in_airbytes_format() -> None:
    assert DATA["dockerRepository"] == "airbyte/source-moor7-im"
    assert DATA["githubIssueLabel"] == "source-moor7-im"
    assert {"language:python", "cdk:low-code"} <= set(DATA["tags"])
    assert DATA["license"] == PYPROJECT["tool"]["poetry"]["license"] == "MIT"
