"""Fixtures for the end-to-end suite: the emulator in-process, and the connector installed
from a freshly built wheel into its own virtual environment, run as Airbyte runs it."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so `moor7_emulator` imports as in `python -m`

from moor7_emulator import Account, Emulator, Faults  # noqa: E402

from .reliability_checks import STREAMS as REPORT_STREAMS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A socket on 127.0.0.1 that accepts connections (64 of them) and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(Account(), Faults()) as api:
        yield api


def emulator_config(api: Emulator, **values: Any) -> Dict[str, Any]:
    config = {
        "app_key": api.account.app_key,
        "secret_key": api.account.secret_key,
        "start_date": "2024-05-01",
        "end_date": "2024-07-31",
        "base_url": api.url,
        "retry_backoff_seconds": 0.05,
    }
    config.update(values)
    return config


@pytest.fixture(scope="session")
def connector_command(tmp_path_factory: pytest.TempPathFactory) -> List[str]:
    """`source-moor7-im` from a wheel built now and installed into a fresh venv, so that
    what the wheel carries (manifest, schemas) is what is tested. SOURCE_MOOR7_IM_COMMAND
    (a path) reuses an installed command instead.

    Built once per test session: under pytest-xdist every worker asks for it, and two
    builds at once collide in the project's ./build directory. The first worker to take
    the lock builds into the directory the workers share; the others wait and reuse it."""
    given = os.environ.get("SOURCE_MOOR7_IM_COMMAND")
    if given:
        return [given]
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the session's directory, common to all workers
    work = shared / "connector-wheel"
    command = work / "venv" / "bin" / "source-moor7-im"
    with open(shared / "connector-wheel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (work / "installed").exists():
            _build_and_install(work)
            (work / "installed").write_text(str(command))
    return [str(command)]


def _build_and_install(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(work), str(ROOT)], check=True)
    (wheel,) = work.glob("*.whl")  # by extension: the distribution's name may change
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)], check=True)


class Cli:
    """Runs the installed command in a subprocess, with files for config, catalog and state."""

    def __init__(self, command: List[str], workdir: Path):
        self.command = command
        self.workdir = workdir

    def arguments(
        self,
        verb: str,
        config: Optional[Mapping[str, Any]] = None,
        catalog: Optional[Mapping[str, Any]] = None,
        state: Optional[List[Mapping[str, Any]]] = None,
    ) -> List[str]:
        """The command line, with config, catalog and state written to files. At debug
        level: every run is also a search of all its output for the secret key."""
        args = [*self.command, verb, "--debug"]
        for name, value in (("config", config), ("catalog", catalog), ("state", state)):
            if value is not None:
                path = self.workdir / f"{name}.json"
                path.write_text(json.dumps(value))
                args += [f"--{name}", str(path)]
        return args

    def run(
        self,
        verb: str,
        config: Optional[Mapping[str, Any]] = None,
        catalog: Optional[Mapping[str, Any]] = None,
        state: Optional[List[Mapping[str, Any]]] = None,
        timeout: float = 600,
    ) -> "CliResult":
        args = self.arguments(verb, config, catalog, state)
        # Run from an empty directory: the connector must need nothing from the source tree.
        completed = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=self.workdir)
        assert_no_secret(config, completed.stdout + completed.stderr)
        return CliResult(completed.returncode, completed.stdout, completed.stderr)


def assert_no_secret(config: Optional[Mapping[str, Any]], output: str) -> None:
    secret = (config or {}).get("secret_key")
    if isinstance(secret, str) and secret.strip():
        assert secret not in output, "the secret key leaked into the connector's output"


class CliResult:
    def __init__(self, exit_code: int, stdout: str, stderr: str):
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr
        self.messages = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        self.non_protocol_lines = [line for line in stdout.splitlines() if line and not line.startswith("{")]

    def of_type(self, kind: str) -> List[Dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    def records(self, stream: Optional[str] = None) -> List[Dict[str, Any]]:
        return [m["record"]["data"] for m in self.of_type("RECORD") if stream is None or m["record"]["stream"] == stream]

    def final_states(self) -> List[Dict[str, Any]]:
        latest: Dict[str, Dict[str, Any]] = {}
        for message in self.of_type("STATE"):
            latest[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
        return list(latest.values())

    def errors(self) -> List[Dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"]["type"] == "ERROR"]


@pytest.fixture
def cli(connector_command: List[str], tmp_path: Path) -> Cli:
    return Cli(connector_command, tmp_path)


def committed_catalog() -> Dict[str, Any]:
    """integration_tests/configured_catalog.json: all three streams, incremental."""
    return json.loads((Path(__file__).parent / "configured_catalog.json").read_text(encoding="utf-8"))


def configured_catalog(discovered: Mapping[str, Any], streams: Optional[List[str]] = None) -> Dict[str, Any]:
    """The three report streams (or `streams`) incremental with dedup; a stream that only
    supports full refresh (report_columns, tested on its own) in full refresh, overwriting."""
    streams = list(REPORT_STREAMS) if streams is None else streams
    return {
        "streams": [
            {
                "stream": stream,
                "sync_mode": "incremental" if "incremental" in stream["supported_sync_modes"] else "full_refresh",
                "destination_sync_mode": "append_dedup" if "incremental" in stream["supported_sync_modes"] else "overwrite",
                "cursor_field": stream.get("default_cursor_field") or [],
                "primary_key": stream["source_defined_primary_key"],
            }
            for stream in discovered["streams"]
            if stream["name"] in streams
        ]
    }
