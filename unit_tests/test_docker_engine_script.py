"""scripts/docker_engine.sh stops only the dockerd it started: here a `sleep` stands in for
dockerd, and docker_engine_stop is called as the scripts' EXIT traps call it."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "docker_engine.sh"


class Bystander:
    """A `sleep` started through a shell that exits at once, so that it is not this test's
    child: once killed it is reaped by init and its PID stops answering, as dockerd's would."""

    def __init__(self) -> None:
        self.pid = int(
            subprocess.run(["bash", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True).stdout
        )

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True


@pytest.fixture
def bystander() -> Iterator[Bystander]:
    process = Bystander()
    yield process
    if process.alive():
        os.kill(process.pid, signal.SIGKILL)


def _bash(script: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", f"source {SCRIPT}\n{script}"], capture_output=True, text=True, env={**os.environ, **env}, timeout=60
    )


def test_a_pid_from_the_environment_is_never_stopped(bystander: Bystander) -> None:
    pid = str(bystander.pid)
    result = _bash("docker_engine_stop", MOOR7_DOCKERD_PID=pid, _moor7_dockerd_pid=pid)
    assert result.returncode == 0, result.stderr
    assert bystander.alive()


def test_a_pid_now_held_by_another_process_is_not_stopped(bystander: Bystander) -> None:
    # The recorded start time is not this process's: the PID was reused.
    result = _bash(f"_moor7_adopt {bystander.pid}; _moor7_dockerd_started_at=1; docker_engine_stop")
    assert result.returncode == 0, result.stderr
    assert bystander.alive()


def test_the_process_it_started_is_stopped(bystander: Bystander) -> None:
    result = _bash(f"_moor7_adopt {bystander.pid}; docker_engine_stop")
    assert result.returncode == 0, result.stderr
    assert not bystander.alive()
    assert "stopping the dockerd this run started" in result.stderr
