"""The installed command stopped while it starts, and a stdout that is closed, full or limited:
one plain message, the exit code Airbyte expects, whole lines only, never a traceback."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from moor7_emulator import Emulator

from .conftest import Cli, assert_no_secret, committed_catalog, emulator_config


def whole_json_lines(stdout: bytes) -> list[dict[str, Any]]:
    assert not stdout or stdout.endswith(b"\n"), f"a torn last line: {stdout[-200:]!r}"
    return [json.loads(line) for line in stdout.decode().splitlines()]


# --- Ctrl-C while the command starts ----------------------------------------------------------
#
# The signal is sent when the process reaches a marker seen from outside (/proc): the command's
# handler in place, two points of the CDK's import (an extension module mapped), the command's
# line writer in place. A marker says that the process has reached that point, not how far past
# it the signal lands; what is asserted holds wherever it lands, so the outcome does not depend
# on timing. What comes before the first marker is CPython's own start-up (a Ctrl-C there is
# CPython's "Fatal Python error: init_import_site" or KeyboardInterrupt), before any code of
# the package runs.


def _caught(pid: int, signum: int) -> bool:
    """`signum` has a handler in the process (/proc/PID/status, SigCgt)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def _mapped(pid: int, library: str) -> bool:
    return library in Path(f"/proc/{pid}/maps").read_text()


# Python's own start-up catches SIGINT only; the command's handler catches SIGTERM too, and its
# line writer SIGUSR1 as well (a failed write).
START_UP_MOMENTS: dict[str, Callable[[int], bool]] = {
    "handler in place": lambda pid: _caught(pid, signal.SIGTERM),
    "CDK protocol models imported": lambda pid: _mapped(pid, "_serpyco_rs"),
    "pydantic imported": lambda pid: _mapped(pid, "_pydantic_core"),
    "line writer in place": lambda pid: _caught(pid, signal.SIGUSR1),
}
BEFORE_THE_LINE_WRITER = ("handler in place", "CDK protocol models imported", "pydantic imported")


@pytest.mark.runs_long(3)
@pytest.mark.parametrize("moment", list(START_UP_MOMENTS))
def test_a_ctrl_c_while_the_command_starts_ends_it_by_sigint_with_one_line_and_no_traceback(
    installed_cli: Cli, emulator: Emulator, moment: str
) -> None:
    # A year: the read cannot end before the signal lands, however late the machine lets it.
    config = emulator_config(emulator, start_date="2023-01-01", end_date="2023-12-31")
    args = installed_cli.arguments("read", config, committed_catalog())
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=installed_cli.workdir)
    reached = START_UP_MOMENTS[moment]
    deadline = time.monotonic() + 60
    while not reached(process.pid):
        assert process.poll() is None, "the command ended before the moment"
        assert time.monotonic() < deadline, f"never reached: {moment}"
        time.sleep(0.001)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert_no_secret(config, (stdout + stderr).decode())

    assert process.returncode == -signal.SIGINT, "ended by the signal: a shell reports 130"
    assert b"Traceback" not in stdout + stderr
    assert stderr == b"", stderr.decode()
    messages = whole_json_lines(stdout)
    last = messages[-1]
    assert last["type"] == "LOG"
    assert last["log"]["level"] == "WARN"
    assert last["log"]["message"].startswith("Stopped by SIGINT"), last
    if moment in BEFORE_THE_LINE_WRITER:
        # The read is most of a second of start-up away from its first request.
        assert not emulator.log, "no request is sent once the command was stopped"


# --- a stdout that is closed, full or limited ------------------------------------------------


def test_a_closed_stdout_is_said_on_stderr_and_exits_1_before_anything_is_done(installed_cli: Cli, emulator: Emulator) -> None:
    config = emulator_config(emulator)
    args = installed_cli.arguments("read", config, committed_catalog())
    completed = subprocess.run(
        ["bash", "-c", 'exec "$@" >&-', "bash", *args], capture_output=True, timeout=120, cwd=installed_cli.workdir
    )
    stderr = completed.stderr.decode()
    assert completed.returncode == 1
    assert stderr == (
        "source-moor7-im: stdout is closed, so the command cannot write its messages; it did nothing. "
        "Run it with stdout open (to a file or a pipe).\n"
    )
    assert not emulator.log


FAILED_WRITE = (
    "source-moor7-im: writing to stdout failed ({reason}), so the command stopped there. Every line it wrote is whole, "
    "and a read resumes from the last STATE among them. Give stdout room (or another file) and run it again.\n"
)


def test_a_full_stdout_is_said_on_stderr_and_exits_1_before_any_request(installed_cli: Cli, emulator: Emulator) -> None:
    config = emulator_config(emulator)
    with open("/dev/full", "wb") as full:
        completed = subprocess.run(
            installed_cli.arguments("read", config, committed_catalog()),
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=120,
            cwd=installed_cli.workdir,
        )
    assert completed.returncode == 1
    assert completed.stderr.decode() == FAILED_WRITE.format(reason="No space left on device")
    assert not emulator.log, "the first write failed before the read began"


@pytest.mark.runs_long(3)
def test_a_stdout_file_that_fills_up_mid_read_keeps_whole_lines_and_the_read_stops(
    installed_cli: Cli, emulator: Emulator, tmp_path: Path
) -> None:
    """A file size limit stands for a disk that fills up: the file takes part of a write and
    refuses the rest (Python ignores SIGXFSZ, so the write fails with EFBIG)."""
    limit = 100_000  # a few months of records give several times that

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    config = emulator_config(emulator, start_date="2024-01-01", end_date="2024-06-30")
    out = tmp_path / "read.jsonl"
    with out.open("wb") as stdout:
        # At the default log level, as a user runs it: at --debug the lines before the first
        # record (request dumps) can fill the limit on their own when the machine is slow.
        arguments = installed_cli.arguments("read", config, committed_catalog())
        arguments.remove("--debug")
        completed = subprocess.run(
            arguments,
            stdout=stdout,
            stderr=subprocess.PIPE,
            timeout=120,
            cwd=installed_cli.workdir,
            preexec_fn=limit_file_size,
        )
    written = out.read_bytes()
    print(
        f"\nstdout limited to {limit} bytes: exit {completed.returncode}, {len(written)} bytes kept, {len(emulator.log)} requests"
    )
    assert completed.returncode == 1
    assert completed.stderr.decode() == FAILED_WRITE.format(reason="File too large")
    assert_no_secret(config, written.decode(errors="replace") + completed.stderr.decode())
    assert 0 < len(written) < limit, "the torn end of the last write was cut off"
    messages = whole_json_lines(written)
    assert any(m["type"] == "RECORD" for m in messages)
    assert len(emulator.log) < 365 // 4, "the read stopped at the failed write, not after its 365 windows"


def test_loading_the_command_imports_nothing_of_the_cdk(tmp_path: Path) -> None:
    """The console script loads `source_moor7_im.run`, and with it the package, before the
    command's signal handler is in place: the CDK (a second or two) must not come with them."""
    probe = "import sys, source_moor7_im.run; print(sorted(m for m in sys.modules if m.startswith(('airbyte_cdk', 'source_moor7_im'))))"
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "['source_moor7_im', 'source_moor7_im.run']\n"
