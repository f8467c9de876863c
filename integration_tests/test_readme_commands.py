"""The README's one-line commands that turn `discover` output into a configured catalog and
`read` output into a state file, run as written on the connector's real output."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from moor7_emulator import Emulator

from .conftest import ROOT, Cli, emulator_config


def _readme_python_code(output_file: str) -> str:
    """The `python -c "..."` code of the README line that writes `output_file`."""
    (line,) = [
        line
        for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
        if line.rstrip().endswith(f"> {output_file}") and "python -c" in line
    ]
    words = shlex.split(line)
    return words[words.index("-c") + 1]


def _run_python(code: str, stdin: str) -> str:
    completed = subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, text=True, timeout=60, check=True)
    return completed.stdout


def test_the_readme_commands_make_a_catalog_and_a_state_file_that_read_accepts(
    cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    config = emulator_config(emulator, start_date="2024-07-01", end_date="2024-07-05")
    discovered = cli.run("discover", config)
    catalog = json.loads(_run_python(_readme_python_code("catalog.json"), discovered.stdout))
    modes = {s["stream"]["name"]: (s["sync_mode"], s["destination_sync_mode"]) for s in catalog["streams"]}
    assert modes == {
        "session_time": ("incremental", "append_dedup"),
        "agent_workload": ("incremental", "append_dedup"),
        "agent_quality": ("incremental", "append_dedup"),
        "report_columns": ("full_refresh", "overwrite"),
    }

    first = cli.run("read", config, catalog)
    assert first.exit_code == 0
    assert not first.errors()
    assert first.records()
    state = json.loads(_run_python(_readme_python_code("state.json"), first.stdout))
    assert state == first.final_states()  # the last STATE of each stream

    second = cli.run("read", config, catalog, state=state)
    assert second.exit_code == 0
    assert not second.errors()
    assert 0 < len(second.records()) < len(first.records()), "the state file resumes the sync near its end"
