"""The installed command's own habits: usage, --version, a quiet first line, a clean build."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from moor7_emulator import Emulator

from .conftest import ROOT, Cli, emulator_config

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["poetry"]["version"]


def test_no_arguments_prints_usage_on_stderr_and_exits_2(connector_command: list[str], tmp_path: Path) -> None:
    completed = subprocess.run(connector_command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.startswith("usage: source-moor7-im {spec,check,discover,read}")
    assert "Traceback" not in completed.stderr
    assert "FATAL" not in completed.stderr


def test_version_prints_the_installed_distributions_version(connector_command: list[str], tmp_path: Path) -> None:
    completed = subprocess.run([*connector_command, "--version"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert completed.returncode == 0
    assert completed.stdout == f"source-moor7-im {VERSION}\n"


def test_the_memory_monitor_start_is_not_logged_at_info(cli: Cli, emulator: Emulator) -> None:
    spec = cli.run("spec")
    check = cli.run("check", emulator_config(emulator))
    for result in (spec, check):
        assert result.exit_code == 0
        assert "MemoryMonitor" not in result.stdout + result.stderr
    assert [m["type"] for m in spec.messages] == ["SPEC"]  # from the manifest alone: nothing else to say
    assert [m["type"] for m in check.messages if m["type"] != "DEBUG"][-1] == "CONNECTION_STATUS"


def test_building_the_wheel_prints_no_setuptools_warning(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    output = completed.stdout + completed.stderr
    assert not re.findall(r"\w*(?:Setuptools|BuildBackend)\w*Warning.*", output)
    (wheel,) = tmp_path.glob("airbyte_source_moor7_im-*.whl")
    assert wheel.name == f"airbyte_source_moor7_im-{VERSION}-py3-none-any.whl"
