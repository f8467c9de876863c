"""scripts/setup_venv.sh, which the test command, the quick start, the benchmark and the image
test all set up with: an unchanged install is skipped, a changed or smaller one is redone."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INPUTS = ("pyproject.toml", "poetry.lock", "scripts/lock_constraints.py", "scripts/setup_venv.sh")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The script's inputs in a folder of their own, with a `.venv/bin/python` that records a
    pip call instead of installing anything, and runs Python for everything else."""
    for name in INPUTS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(
        f'#!/bin/sh\nif [ "$1" = -m ] && [ "$2" = pip ]; then echo "$*" >> "{tmp_path}/pip.log"; exit 0; fi\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    python.chmod(0o755)
    return tmp_path


def setup(project: Path, extras: str) -> list[str]:
    """Runs the script for `extras`; the pip calls it made."""
    (project / "pip.log").unlink(missing_ok=True)
    subprocess.run(["bash", "scripts/setup_venv.sh", extras], cwd=project, check=True, capture_output=True, timeout=60)
    log = project / "pip.log"
    return log.read_text().splitlines() if log.exists() else []


def test_an_unchanged_install_is_skipped_and_a_smaller_one_too(project: Path) -> None:
    first = setup(project, "dev,quickstart")
    assert any("-e .[dev,quickstart]" in call for call in first), first
    assert setup(project, "dev,quickstart") == []
    assert setup(project, "quickstart") == [], "the quick start's extras were installed with the test tools"
    assert setup(project, "") == []


def test_an_install_with_more_extras_or_changed_inputs_is_redone(project: Path) -> None:
    setup(project, "quickstart")
    assert any("-e .[dev,quickstart]" in call for call in setup(project, "dev,quickstart"))
    (project / "pyproject.toml").write_text((project / "pyproject.toml").read_text() + "\n# changed\n")
    assert any("-e .[dev,quickstart]" in call for call in setup(project, "dev,quickstart"))
