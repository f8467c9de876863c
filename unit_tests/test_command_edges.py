"""A signal that lands while the command installs or restores its signal handlers, outside
the command's own stop handling, still ends the process by that signal (as Airbyte and
PyAirbyte expect of a stopped connector), never as an uncaught exception (exit code 1)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

import pytest

from source_moor7_im import run as command
from source_moor7_im.hardening.output import ENDING_SIGNALS, Interrupted, LineWriter


class _Ended(BaseException):
    pass


@pytest.fixture(autouse=True)
def _pytest_keeps_its_signal_handlers() -> Iterator[None]:
    """The command sets the stop signals' handlers for a process of its own."""
    handlers = {signum: signal.getsignal(signum) for signum in ENDING_SIGNALS}
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def test_a_signal_while_the_handlers_are_restored_ends_the_process_by_that_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    ended_by: list[int] = []

    @contextlib.contextmanager
    def installed_then_signalled(*_args: object) -> Iterator[object]:
        yield type("Writer", (), {"flush": lambda self: None})()
        raise Interrupted(signal.SIGTERM)  # as the handler does when SIGTERM lands in the restore

    def end_process(self: Interrupted) -> None:
        ended_by.append(self.ending_signal)
        raise _Ended

    monkeypatch.setattr(LineWriter, "installed", installed_then_signalled)
    monkeypatch.setattr(Interrupted, "end_process", end_process)
    monkeypatch.setattr("sys.argv", ["source-moor7-im", "spec"])
    with pytest.raises(_Ended):
        command.run()
    assert ended_by == [signal.SIGTERM]
