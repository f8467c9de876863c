"""The project as Airbyte's two Python builds use it.

- airbyte-ci (`build_image/steps/python_connectors.py` in airbytehq/airbyte) installs the
  dependencies alone, copies `main.py` and the package directory beside it, and runs
  `python main.py`.
- The Dockerfile template (`docker-images/Dockerfile.python-connector`) runs
  `python -m uv pip install .` in the project directory, which compiles bytecode only when
  the project's `[tool.uv.pip]` says so."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

from moor7_emulator import Emulator

from .conftest import ROOT, assert_no_secret, emulator_config

PACKAGE = "source_moor7_im"


def test_python_main_py_beside_the_package_runs_the_connector(emulator: Emulator, tmp_path: Path) -> None:
    shutil.copy(ROOT / "main.py", tmp_path / "main.py")
    shutil.copytree(ROOT / PACKAGE, tmp_path / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    # a mark in the copy's spec, so that the output shows which package ran
    manifest = tmp_path / PACKAGE / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("title: 7moor IM Reports", "title: 7moor IM Reports beside main.py"))
    config = emulator_config(emulator)
    (tmp_path / "config.json").write_text(json.dumps(config))

    def run(*args: str) -> list[dict]:
        done = subprocess.run([sys.executable, "main.py", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert_no_secret(config, done.stdout + done.stderr)
        return [json.loads(line) for line in done.stdout.splitlines()]

    (spec,) = [m for m in run("spec") if m["type"] == "SPEC"]
    assert spec["spec"]["connectionSpecification"]["title"] == "7moor IM Reports beside main.py"
    (status,) = [m["connectionStatus"] for m in run("check", "--config", "config.json") if m["type"] == "CONNECTION_STATUS"]
    assert status["status"] == "SUCCEEDED"


def _uv_install(project: Path, target: Path) -> set[str]:
    """`uv pip install .` in `project` into a new venv at `target` (the project alone: its
    dependencies are the CDK's, which this test need not download); the package's modules
    that got a .pyc."""
    venv.EnvBuilder(with_pip=False).create(target)
    subprocess.run(
        [
            str(Path(sys.executable).with_name("uv")),
            "pip",
            "install",
            "--no-deps",
            "--python",
            str(target / "bin" / "python"),
            ".",
        ],
        cwd=project,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (installed,) = target.glob(f"lib/python*/site-packages/{PACKAGE}")
    return {
        str(pyc.parent.parent.relative_to(installed) / pyc.name.split(".")[0]) for pyc in installed.rglob("__pycache__/*.pyc")
    }


@pytest.mark.runs_long(6)
def test_an_install_as_airbytes_dockerfile_runs_it_compiles_the_bytecode(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("pyproject.toml", "poetry.lock", "README.md"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / PACKAGE, project / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    modules = {str(path.relative_to(ROOT / PACKAGE).with_suffix("")) for path in (ROOT / PACKAGE).rglob("*.py")}
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["pip"]["compile-bytecode"] is True

    assert _uv_install(project, tmp_path / "with") == modules

    # The same install without the setting compiles nothing: the setting is what does it.
    pyproject = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(pyproject.replace("compile-bytecode = true", "compile-bytecode = false"))
    assert _uv_install(project, tmp_path / "without") == set()
