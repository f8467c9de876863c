"""metadata.yaml is in Airbyte's format and agrees with the package."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_metadata_describes_this_connector_in_airbytes_format() -> None:
    data = yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))["data"]
    assert data["connectorType"] == "source" and data["connectorSubtype"] == "api"
    assert data["dockerRepository"] == "airbyte/source-moor7-im"
    assert data["connectorBuildOptions"]["baseImage"].startswith("docker.io/airbyte/python-connector-base:")
    assert {"language:python", "cdk:low-code"} <= set(data["tags"])
    assert "v7openapi.7moor.com" in data["allowedHosts"]["hosts"]
    assert data["releaseStage"] in {"alpha", "beta", "generally_available"}
    assert data["documentationUrl"].startswith("https://")
    manifest = yaml.safe_load((ROOT / "source_moor7_im" / "manifest.yaml").read_text(encoding="utf-8"))
    assert manifest["spec"]["documentation_url"] == data["documentationUrl"]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{data["dockerImageTag"]}"' in pyproject
