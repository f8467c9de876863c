"""A clock that waits cost nothing on, for tests of retries, budgets and deadlines.

`install()` replaces `time.time`, `time.monotonic` and `time.perf_counter` for the whole
test process with the real clock plus an offset. It runs before the connector is imported
(the project's conftest.py), so that the clocks its dataclasses take by default are these
too. The offset is 0 unless a test lets a wait advance it (`VIRTUAL.waits_in(module)`):
a `sleep` there adds its seconds to the offset and returns at once, so the connector, the
emulator and the test see the time pass as it would have, without waiting for it. Waits
that run side by side add up, as if taken one after the other: the clock only ever runs
ahead of the real one, as on a slow machine.

`VIRTUAL.timers()` makes `threading.Timer` virtual as well (the connector's attempt
deadline): a timer fires when a virtual wait moves the clock past its time, in the thread
that waited.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

_real_time = time.time
_real_monotonic = time.monotonic
_real_perf_counter = time.perf_counter
_real_sleep = time.sleep


class _VirtualTimer:
    """The part of `threading.Timer` the connector uses, run by the virtual clock."""

    def __init__(self, clock: VirtualClock, interval: float, function: Callable[..., Any], args: Any = None, kwargs: Any = None):
        self._clock = clock
        self.interval = interval
        self.function = function
        self.args = args or []
        self.kwargs = kwargs or {}
        self.daemon = True
        self.due: float | None = None

    def start(self) -> None:
        self.due = self._clock.monotonic() + self.interval
        self._clock._add_timer(self)

    def cancel(self) -> None:
        self._clock._remove_timer(self)

    def is_alive(self) -> bool:
        return self._clock._has_timer(self)


class VirtualClock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.RLock()
        self._timers: list[_VirtualTimer] = []

    # --- the clocks ----------------------------------------------------------------------
    def time(self) -> float:
        return _real_time() + self._offset

    def monotonic(self) -> float:
        return _real_monotonic() + self._offset

    def perf_counter(self) -> float:
        return _real_perf_counter() + self._offset

    def now(self, tz: dt.tzinfo | None = None) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time(), tz)

    @property
    def ahead(self) -> float:
        """How far the clock has run ahead of the real one."""
        return self._offset

    # --- waits ---------------------------------------------------------------------------
    def sleep(self, seconds: float) -> None:
        """A wait that costs nothing: the clock moves on by `seconds`, and the virtual timers
        that fall due meanwhile fire, in this thread."""
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        with self._lock:
            self._offset += seconds
            now = self.monotonic()
            due = [timer for timer in self._timers if timer.due is not None and timer.due <= now]
            for timer in due:
                self._timers.remove(timer)
        for timer in due:
            timer.function(*timer.args, **timer.kwargs)
        _real_sleep(0)  # let the other threads run, as a real wait would

    def _add_timer(self, timer: _VirtualTimer) -> None:
        with self._lock:
            self._timers.append(timer)

    def _remove_timer(self, timer: _VirtualTimer) -> None:
        with self._lock:
            if timer in self._timers:
                self._timers.remove(timer)

    def _has_timer(self, timer: _VirtualTimer) -> bool:
        with self._lock:
            return timer in self._timers

    def reset(self) -> None:
        """Back to the real time, for the next test (each test starts on the real clock)."""
        with self._lock:
            self._offset = 0.0
            self._timers.clear()

    # --- what a test makes virtual -------------------------------------------------------
    def time_module(self) -> types.SimpleNamespace:
        """A stand-in for the `time` module whose `sleep` is this clock's."""
        namespace = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("__")})
        namespace.sleep = self.sleep
        return namespace

    def datetime_module(self) -> types.SimpleNamespace:
        """A stand-in for the `datetime` module whose `datetime.now()` reads this clock."""
        clock = self

        class _DateTime(dt.datetime):
            @classmethod
            def now(cls, tz: dt.tzinfo | None = None) -> _DateTime:
                moment = clock.now(tz)
                return cls.combine(moment.date(), moment.timetz())

        namespace = types.SimpleNamespace(**{name: getattr(dt, name) for name in dir(dt) if not name.startswith("__")})
        namespace.datetime = _DateTime
        return namespace

    def waits_in(self, monkeypatch: pytest.MonkeyPatch, *modules: types.ModuleType) -> None:
        """The `time.sleep` (and `datetime.now`) of these modules are this clock's, for the test."""
        for module in modules:
            if isinstance(getattr(module, "time", None), types.ModuleType):
                monkeypatch.setattr(module, "time", self.time_module())
            if isinstance(getattr(module, "datetime", None), types.ModuleType):
                monkeypatch.setattr(module, "datetime", self.datetime_module())

    @contextlib.contextmanager
    def timers(self) -> Iterator[None]:
        """`threading.Timer` fires on this clock, inside the block."""
        real_timer = threading.Timer
        threading.Timer = lambda *args, **kwargs: _VirtualTimer(self, *args, **kwargs)  # type: ignore[assignment, misc]
        try:
            yield
        finally:
            threading.Timer = real_timer  # type: ignore[misc]


VIRTUAL = VirtualClock()
_installed = False


def install() -> None:
    """The `time` module's clocks read `VIRTUAL` from now on (0 s ahead until a test waits)."""
    global _installed
    if _installed:
        return
    time.time = VIRTUAL.time  # type: ignore[assignment]
    time.monotonic = VIRTUAL.monotonic  # type: ignore[assignment]
    time.perf_counter = VIRTUAL.perf_counter  # type: ignore[assignment]
    _installed = True


def real_monotonic() -> float:
    """The real monotonic clock, whatever the virtual one says."""
    return _real_monotonic()
