"""stdout: whole lines from every thread, and stops that leave them whole (docs/design/command.md).

CDK gap: `launch` prints while workers log, its `PrintBuffer` flushes part lines, and a Ctrl-C, a closed pipe
or a full disk raises wherever it lands, mid-write included. Smallest CDK change: a `PrintBuffer` that writes
whole lines to the descriptor and turns SIGPIPE, EPIPE and signals into a stop of the read. Imports no CDK."""

import _thread
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, Self

ENDING_SIGNALS: dict[int, int] = {signal.SIGINT: signal.SIGINT, signal.SIGTERM: signal.SIGTERM, signal.SIGUSR1: signal.SIGPIPE}


class Interrupted(BaseException):
    """A stop: a signal (SIGUSR1: stdout's reader gone). A BaseException: no `except Exception` swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__("a closed stdout" if signum == signal.SIGUSR1 else signal.Signals(signum).name)
        self.ending_signal = ENDING_SIGNALS[signum]

    def end_process(self) -> NoReturn:
        signal.signal(self.ending_signal, signal.SIG_DFL)
        os.kill(os.getpid(), self.ending_signal)
        os._exit(128 + self.ending_signal)  # not reached: the signal ends the process


class OutputFailed(Interrupted):
    """A write failed otherwise (a full disk): stops as a closed pipe, but says so on stderr and exits 1."""

    def __init__(self, error: OSError) -> None:
        self.reason = error.strerror or str(error)
        BaseException.__init__(self, f"a failed write to stdout ({self.reason})")

    def end_process(self) -> NoReturn:
        message = f"{os.path.basename(sys.argv[0])}: writing to stdout failed ({self.reason}), so the command stopped there. Every line it wrote is whole, and a read resumes from the last STATE among them. Give stdout room (or another file) and run it again.\n"
        with contextlib.suppress(OSError):  # stderr failing too leaves the exit code to tell
            os.write(2, message.encode())
        os._exit(1)


def write_failure(error: OSError) -> Interrupted:
    return Interrupted(signal.SIGUSR1) if isinstance(error, BrokenPipeError) else OutputFailed(error)


class LineWriter:
    def __init__(self, stream: Any) -> None:
        try:
            self._fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):
            self._fd = None
            self._buffer = stream.buffer  # a stream without one (a test's capture) is written as it is
        self.on_stop: Callable[[str], None] = lambda reason: None  # stops the read, once its source is built
        self._lock = threading.RLock()
        self._partial = threading.local()
        self._pending = bytearray()
        self._last_flush = time.monotonic()
        self._main_writing = self._stopping = False
        self._deferred: Interrupted | None = None
        self._write_failed: Interrupted | None = None
        self.closed = False  # nothing more is written: a write failed, or the last line is out

    def write(self, text: str) -> int:
        lines, newline, self._partial.text = (getattr(self._partial, "text", "") + text).rpartition("\n")
        if newline and not self.closed:
            with self._writing():
                self._pending += (lines + newline).encode("utf-8", errors="replace")
                if len(self._pending) >= 64 * 1024 or time.monotonic() - self._last_flush >= 0.1:  # as the CDK's PrintBuffer
                    self._write_pending()
        return len(text)

    def flush(self) -> None:
        with self._writing():
            self._write_pending()

    def last_line(self, text: str) -> None:
        self._lock.acquire()  # kept: no worker writes after this line, and the process ends next
        self._pending += (text + "\n").encode("utf-8", errors="replace")
        self._write_pending()  # writes nothing once closed
        self.closed = True

    def stop(self, signum: int, _frame: Any = None) -> None:
        """Stops the read, then raises `Interrupted`, after the main thread's write; once."""
        if not self._stopping:
            self._stopping = True
            interrupted = self._write_failed if signum == signal.SIGUSR1 and self._write_failed else Interrupted(signum)
            self.on_stop(str(interrupted))
            if not self._main_writing:
                raise interrupted
            self._deferred = interrupted

    @classmethod
    @contextlib.contextmanager
    def installed(cls, log_filter: Callable[[logging.LogRecord], bool]) -> Iterator[Self]:
        """sys.stdout, the CDK log handler's stream and `log_filter`, and the stop signals, for the block."""
        from airbyte_cdk.logger import AirbyteLogFormatter

        writer = cls(sys.stdout)
        with contextlib.ExitStack() as restore:  # each part restored, whatever stops the block
            try:
                sys.stdout.flush()
                for handler in logging.getLogger().handlers:
                    if isinstance(handler, logging.StreamHandler) and isinstance(handler.formatter, AirbyteLogFormatter):
                        restore.callback(handler.setStream, handler.setStream(writer))  # flushes and returns the old stream
                        handler.addFilter(log_filter)
                        restore.callback(handler.removeFilter, log_filter)
            except OSError as error:
                raise write_failure(error) from None
            restore.enter_context(contextlib.redirect_stdout(writer))  # type: ignore[type-var]
            for signum in ENDING_SIGNALS:
                restore.callback(signal.signal, signum, signal.signal(signum, writer.stop))
            yield writer

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """The lock; a stop in the main thread waits for the block's end, not cutting a blocked write short."""
        main = threading.current_thread() is threading.main_thread()
        with self._lock:
            self._main_writing = main  # a worker holds the lock only while the main thread is outside
            try:
                yield
            finally:
                self._main_writing = False
        if main and self._deferred is not None:
            deferred, self._deferred = self._deferred, None
            raise deferred

    def _write_pending(self) -> None:
        """Straight to the descriptor: a buffered writer a signal interrupts may have written part of a line."""
        self._last_flush = time.monotonic()
        data, self._pending = bytes(self._pending), bytearray()
        if not data or self.closed:
            return
        view = memoryview(data)
        try:
            if self._fd is None:
                self._buffer.write(data)
                self._buffer.flush()
            else:
                while view:  # os.write may write part: the rest goes on, so no line is ever cut
                    view = view[os.write(self._fd, view) :]
        except OSError as error:
            torn = len(data[: len(data) - len(view)].rpartition(b"\n")[2])  # bytes written after the last newline
            if torn and self._fd is not None:
                with contextlib.suppress(OSError):  # a file is cut back to its last line; ESPIPE: a pipe or device
                    os.ftruncate(self._fd, os.lseek(self._fd, -torn, os.SEEK_CUR))
            self.closed = True
            self._write_failed = write_failure(error)
            if threading.current_thread() is threading.main_thread():
                self.stop(signal.SIGUSR1)
            else:
                _thread.interrupt_main(signal.SIGUSR1)  # runs `stop` in the main thread
