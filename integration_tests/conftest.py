"""Fixtures for the end-to-end suite: the emulator in-process, and the connector installed
from a freshly built wheel into its own virtual environment, run as Airbyte runs it."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import venv
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so `moor7_emulator` imports as in `python -m`

from moor7_emulator import Account, Emulator, Faults

from .reliability_checks import STREAMS as REPORT_STREAMS
from .virtual_clock import VIRTUAL, real_monotonic

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
def virtual_silent_listener() -> Iterator[str]:
    """`silent_listener` on the virtual clock. A connection stays silent until the client closes
    it; while connections are open and nothing has happened on the listener for 20 ms (no
    connection, request or close: the client is only waiting), the clock moves on 0.05 s a
    millisecond, so that the client's virtual attempt deadlines come in a second or so, and
    what the client does in between costs little virtual time."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.setblocking(False)
    stop = threading.Event()

    def serve() -> None:
        connections: list[socket.socket] = []
        last_event = real_monotonic()
        while not stop.is_set():
            readable, _, _ = select.select([server, *connections], [], [], 0.001)
            for ready in readable:
                last_event = real_monotonic()
                if ready is server:
                    connections.append(server.accept()[0])
                    continue
                try:
                    data = ready.recv(65536)
                except OSError:
                    data = b""
                if not data:  # the client closed the connection, or its deadline shut it
                    connections.remove(ready)
                    ready.close()
            if connections and real_monotonic() - last_event >= 0.02:
                VIRTUAL.sleep(0.05)
        for connection in connections:
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(Account(), Faults()) as api:
        yield api


def emulator_config(api: Emulator, **values: Any) -> dict[str, Any]:
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
def connector_command(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """`source-moor7-im` from a wheel built now and installed into a venv of its own, so that
    what the wheel carries (manifest, schemas, console script) is what is tested.
    SOURCE_MOOR7_IM_COMMAND (a path) reuses an installed command instead.

    Only the tests that need a real process ask for it. Built once per test session (in
    seconds: the wheel alone goes into the venv): the first xdist worker to take the lock
    builds into the directory the workers share; another that asks meanwhile waits."""
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
    """The wheel alone goes into the new venv; its dependencies are the test venv's, which a
    .pth file adds after the venv's own site-packages (written after the install, or pip
    would find the test venv's editable install and install nothing). The .pth files in
    there are not read, so the source tree is not on the path: the package imported is the
    wheel's."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(work), str(ROOT)],
        check=True,
    )
    (wheel,) = work.glob("*.whl")  # by extension: the distribution's name may change
    install_alone(wheel, work / "venv")


def install_alone(wheel: Path, env_dir: Path) -> Path:
    """A new venv at `env_dir` holding `wheel` alone, its dependencies taken from the test
    venv by a .pth file; returns the venv's python."""
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
    )
    # After the install: with the test venv in sight, pip would find the package there and
    # install nothing.
    purelib = sysconfig.get_path("purelib", vars={"base": str(env_dir), "platbase": str(env_dir)})
    (Path(purelib) / "test_venv_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return python


class Cli:
    """Runs the `source-moor7-im` command with files for config, catalog and state: in this
    process by default (its entry point, `source_moor7_im.run.run`, with the process state a
    fresh command starts from), or as the installed command in a subprocess when given one
    (`installed_cli`), for what only a real process shows: signals, a closed pipe, SIGKILL,
    the wheel's own console script."""

    def __init__(self, command: list[str] | None, workdir: Path):
        self.command = command
        self.workdir = workdir

    def arguments(
        self,
        verb: str,
        config: Mapping[str, Any] | None = None,
        catalog: Mapping[str, Any] | None = None,
        state: list[Mapping[str, Any]] | None = None,
    ) -> list[str]:
        """The command line, with config, catalog and state written to files. At debug
        level: every run is also a search of all its output for the secret key."""
        assert self.command is not None, "a command line needs the installed command (installed_cli)"
        return [*self.command, *self._verb_and_files(verb, config, catalog, state)]

    def _verb_and_files(
        self,
        verb: str,
        config: Mapping[str, Any] | None,
        catalog: Mapping[str, Any] | None,
        state: list[Mapping[str, Any]] | None,
    ) -> list[str]:
        args = [verb, "--debug"]
        for name, value in (("config", config), ("catalog", catalog), ("state", state)):
            if value is not None:
                path = self.workdir / f"{name}.json"
                path.write_text(json.dumps(value))
                args += [f"--{name}", str(path)]
        return args

    def run(
        self,
        verb: str,
        config: Mapping[str, Any] | None = None,
        catalog: Mapping[str, Any] | None = None,
        state: list[Mapping[str, Any]] | None = None,
        timeout: float = 600,
        debug: bool = True,
    ) -> CliResult:
        """`debug=False` runs it as a user does, without --debug (the output is still searched
        for the secret). `timeout` bounds a subprocess; in this process the test's own timeout does."""
        if self.command is None:
            args = self._verb_and_files(verb, config, catalog, state)
        else:
            args = self.arguments(verb, config, catalog, state)
        if not debug:
            args.remove("--debug")
        # Run from an empty directory: the connector must need nothing from the source tree.
        if self.command is None:
            exit_code, stdout, stderr = run_in_process(args, self.workdir)
        else:
            completed = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=self.workdir)
            exit_code, stdout, stderr = completed.returncode, completed.stdout, completed.stderr
        assert_no_secret(config, stdout + stderr)
        return CliResult(exit_code, stdout, stderr)


_FRESH_LEVELS = {"root": logging.WARNING, "airbyte": logging.INFO, "backoff": logging.INFO, "pyrate_limiter": logging.WARNING}


def run_in_process(args: list[str], workdir: Path) -> tuple[int, str, str]:
    """`source-moor7-im ARGS` through its entry point in this process, from `workdir`, with the
    process-wide state a new process would start from: its exit code, stdout and stderr.

    stdout is a real file: the command's `LineWriter` writes to its file descriptor. An
    exception that escapes goes to `sys.excepthook` (the CDK's, which the command installs)
    and exits 1, as in a process."""
    from airbyte_cdk import entrypoint
    from airbyte_cdk.logger import AirbyteLogFormatter
    from airbyte_cdk.utils.airbyte_secrets_utils import update_secrets

    from source_moor7_im import run
    from source_moor7_im.hardening import output

    loggers = [logging.getLogger(), *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger))]
    levels = [(logger, logger.level) for logger in loggers]
    # The levels a new process has once the CDK is imported (--debug and earlier tests change them).
    for logger in loggers:
        logger.setLevel(_FRESH_LEVELS.get(logger.name, logging.NOTSET))
    console = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and isinstance(h.formatter, AirbyteLogFormatter)
    ]
    saved = (sys.argv, sys.stdout, sys.stderr, sys.excepthook, os.getcwd(), dict(os.environ), [h.stream for h in console])
    # pytest's own log capture never saw a command's logs in a process of its own; here it
    # would format every debug line of a read a second time.
    pytest_handlers = [h for h in logging.getLogger().handlers if type(h).__module__ == "_pytest.logging"]
    for handler in pytest_handlers:
        logging.getLogger().removeHandler(handler)
    signals = {s: signal.getsignal(s) for s in output.ENDING_SIGNALS}
    # The CDK's own process-wide state, as a new process starts with it: no secret known yet.
    update_secrets([])
    entrypoint._HAS_LOGGED_FOR_SERIALIZATION_ERROR = False  # type: ignore[attr-defined]
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out, tempfile.TemporaryFile("w+", encoding="utf-8") as err:
        sys.argv = ["source-moor7-im", *args]
        sys.stdout, sys.stderr = out, err
        for handler in console:  # the CDK logs to the process's stdout outside the command's LineWriter too
            handler.setStream(out)
        os.chdir(workdir)
        try:
            run.run()
            exit_code = 0
        except SystemExit as exit_:
            exit_code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except Exception:
            sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
            exit_code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            sys.argv, sys.stdout, sys.stderr, sys.excepthook = saved[:4]
            os.chdir(saved[4])
            os.environ.clear()
            os.environ.update(saved[5])
            for handler, stream in zip(console, saved[6]):
                handler.setStream(stream)
            for signum, handler_ in signals.items():
                signal.signal(signum, handler_)
            for logger, level in levels:
                logger.setLevel(level)
            for handler in pytest_handlers:
                logging.getLogger().addHandler(handler)
        out.seek(0)
        err.seek(0)
        return exit_code, out.read(), err.read()


def assert_no_secret(config: Mapping[str, Any] | None, output: str) -> None:
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

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    def records(self, stream: str | None = None) -> list[dict[str, Any]]:
        return [m["record"]["data"] for m in self.of_type("RECORD") if stream is None or m["record"]["stream"] == stream]

    def final_states(self) -> list[dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for message in self.of_type("STATE"):
            latest[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
        return list(latest.values())

    def errors(self) -> list[dict[str, Any]]:
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"]["type"] == "ERROR"]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """The command, run in this process (its retry waits virtual, as in every test: ../conftest.py)."""
    return Cli(None, tmp_path)


@pytest.fixture
def installed_cli(connector_command: list[str], tmp_path: Path) -> Cli:
    """The installed command (the wheel's console script), run in a subprocess."""
    return Cli(connector_command, tmp_path)


def committed_catalog() -> dict[str, Any]:
    """integration_tests/configured_catalog.json: all three streams, incremental."""
    return json.loads((Path(__file__).parent / "configured_catalog.json").read_text(encoding="utf-8"))


def configured_catalog(discovered: Mapping[str, Any], streams: list[str] | None = None) -> dict[str, Any]:
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
