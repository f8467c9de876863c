"""The command's standard output: whole lines from every thread, and stops that leave them whole.

CDK gap: `launch` prints from the main thread while workers log too, a Ctrl-C raises wherever
the main thread is (inside a write included), a closed pipe raises in whichever thread writes
next while the read goes on, and a full disk ends in a traceback. The CDK's `PrintBuffer`
groups writes under a lock but flushes part of a line and handles no stop. Here every write
to stdout, the CDK's log handler included, goes through one `LineWriter`: whole lines under
one lock; SIGINT, SIGTERM and a closed pipe become one `Interrupted` in the main thread,
deferred past any write, after the read's stop is set; after a failed write nothing more is
written (`OutputFailed` says why on stderr). The smallest CDK change: a `PrintBuffer` that
writes whole lines to the descriptor and turns SIGPIPE, EPIPE and signals into a stop of the
read.

Loading this module imports no part of the CDK: the command uses it before the CDK is
imported.
"""

from __future__ import annotations

import _thread
import contextlib
import errno
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

# What the CDK's log handler takes as a filter: a `logging.Filter`, or a plain callable.
_LogFilter = logging.Filter | Callable[[logging.LogRecord], bool]

# Whole lines are collected and written at least every 0.1 s or 64 KB, as the CDK's own
# print buffer does: a write per record would cost a system call per record.
_FLUSH_BYTES = 64 * 1024
_FLUSH_SECONDS = 0.1
# The signal the command ends by, after its last whole line: the one it was sent, so that a
# shell reports 130 or 143 and a parent process sees -2 or -15 (PyAirbyte accepts -15 from
# a connector it stops); SIGUSR1 stands for "the reader went away", which ends by SIGPIPE (141).
ENDING_SIGNALS: dict[int, int] = {signal.SIGINT: signal.SIGINT, signal.SIGTERM: signal.SIGTERM, signal.SIGUSR1: signal.SIGPIPE}
SIGNAL_REASONS: dict[int, str] = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM", signal.SIGUSR1: "a closed stdout"}


class Interrupted(BaseException):
    """The command was told to stop (a signal, or its reader went away; `OutputFailed`: a
    write failed otherwise). A BaseException, as KeyboardInterrupt is, so that no `except
    Exception` on the way up swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(SIGNAL_REASONS[signum])
        self.ending_signal = ENDING_SIGNALS[signum]

    def end_process(self) -> NoReturn:
        """Ends the process by `ending_signal`, without waiting for worker threads."""
        signal.signal(self.ending_signal, signal.SIG_DFL)
        os.kill(os.getpid(), self.ending_signal)
        os._exit(128 + self.ending_signal)  # not reached: the signal ends the process


class OutputFailed(Interrupted):
    """A write to stdout failed for another reason than its reader closing it: a full disk or
    /dev/full, a file size limit, a descriptor not open for writing. The stop is a closed
    pipe's (the read stops at the first failed write, nothing more is written, no line is left
    torn), but not its ending: a reader that closes the pipe chose to stop reading, and `head`
    expects silence and SIGPIPE; nobody chose to lose this output, so the command says so on
    stderr, the only place left, and exits 1, as a failed command does."""

    def __init__(self, error: OSError) -> None:
        BaseException.__init__(self, f"a failed write to stdout ({error.strerror or error})")
        self.error = error

    def end_process(self) -> NoReturn:
        """Ends the process with exit code 1, without waiting for worker threads."""
        message = (
            f"{os.path.basename(sys.argv[0])}: writing to stdout failed ({self.error.strerror or self.error}), so the command stopped there. "
            "Every line it wrote is whole, and a read resumes from the last STATE among them. "
            "Give stdout room (or another file) and run it again.\n"
        )
        with contextlib.suppress(OSError):  # stderr failing too leaves the exit code to tell
            os.write(2, message.encode())
        os._exit(1)


def write_failure(error: OSError) -> Interrupted:
    """The stop a failed write to stdout makes: a closed pipe's (EPIPE), or `OutputFailed`."""
    return Interrupted(signal.SIGUSR1) if error.errno == errno.EPIPE else OutputFailed(error)


class LineWriter:
    """A text stream for sys.stdout: whole lines, one lock, stops deferred past a write."""

    def __init__(self, write_all: Callable[[bytes], None], on_stop: Callable[[str], None]) -> None:
        self._write_all = write_all
        self._on_stop = on_stop
        self._lock = threading.RLock()
        self._partial = threading.local()
        self._pending = bytearray()
        self._last_flush = time.monotonic()
        self._main_writing = False
        self._deferred: Interrupted | None = None
        self._stopping = False
        self._write_failed: Interrupted | None = None
        self.closed = False  # nothing more is written: a write failed, or the last line is out

    # --- the text stream interface that print() and logging use -----------------------
    def write(self, text: str) -> int:
        held = getattr(self._partial, "text", "") + text
        lines, newline, rest = held.rpartition("\n")
        self._partial.text = rest
        if newline and not self.closed:
            self._append((lines + newline).encode("utf-8", errors="replace"))
        return len(text)

    def flush(self) -> None:
        with self._writing():
            self._write_pending()

    def last_line(self, text: str) -> None:
        """Writes `text` as the last line, whole: the lock is kept, so no worker thread writes
        after it, and the process is to end right after."""
        self._lock.acquire()
        self._partial.text = ""
        if not self.closed:
            self._pending += (text + "\n").encode("utf-8", errors="replace")
            self._write_pending()
        self.closed = True  # nothing after this line

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return "utf-8"

    # --- stops ----------------------------------------------------------------------------
    def stop(self, signum: int, _frame: Any = None) -> None:
        """The signal handler (the main thread): stop the read, then raise `Interrupted`,
        after the write in progress if there is one; once only."""
        if self._stopping:
            return
        self._stopping = True
        interrupted = self._write_failed if signum == signal.SIGUSR1 and self._write_failed else Interrupted(signum)
        self._on_stop(str(interrupted))
        if self._main_writing:
            self._deferred = interrupted
            return
        raise interrupted

    @classmethod
    @contextlib.contextmanager
    def installed(cls, on_stop: Callable[[str], None], *log_filters: _LogFilter) -> Iterator[LineWriter]:
        """sys.stdout, the stream and `log_filters` of the CDK's log handler (the root handler
        that formats Airbyte messages) and the stop signals' handlers, for the block (a
        command, or a test that runs one in-process). A stdout that fails already (a full
        disk) stops the command here, before it does anything."""
        from airbyte_cdk.logger import AirbyteLogFormatter

        handlers = [
            h
            for h in logging.getLogger().handlers
            if isinstance(h, logging.StreamHandler) and isinstance(h.formatter, AirbyteLogFormatter)
        ]
        try:
            sys.stdout.flush()
            for handler in handlers:
                handler.flush()  # the CDK's print buffer, which writes to the real stdout
        except OSError as error:
            raise write_failure(error) from None
        writer = cls(_write_all_to(sys.stdout), on_stop)
        saved = sys.stdout, [h.stream for h in handlers], {s: signal.getsignal(s) for s in ENDING_SIGNALS}
        sys.stdout = writer  # type: ignore[assignment]
        for handler in handlers:
            handler.setStream(writer)  # type: ignore[arg-type]
            for log_filter in log_filters:
                handler.addFilter(log_filter)
        for signum in ENDING_SIGNALS:
            signal.signal(signum, writer.stop)
        try:
            yield writer
        finally:
            sys.stdout = saved[0]
            for handler, stream in zip(handlers, saved[1]):
                handler.setStream(stream)
                for log_filter in log_filters:
                    handler.removeFilter(log_filter)
            for signum, previous in saved[2].items():
                signal.signal(signum, previous)

    # --- internals --------------------------------------------------------------------------
    def _append(self, data: bytes) -> None:
        with self._writing():
            self._pending += data
            if len(self._pending) >= _FLUSH_BYTES or time.monotonic() - self._last_flush >= _FLUSH_SECONDS:
                self._write_pending()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """The lock; in the main thread, a stop that arrives meanwhile waits for the block's end,
        so that a write blocked on a full pipe is never cut short."""
        main = threading.current_thread() is threading.main_thread()
        with self._lock:
            if main:
                self._main_writing = True
            try:
                yield
            finally:
                if main:
                    self._main_writing = False
        if main and self._deferred is not None:
            deferred, self._deferred = self._deferred, None
            raise deferred

    def _write_pending(self) -> None:
        self._last_flush = time.monotonic()
        data, self._pending = bytes(self._pending), bytearray()
        if not data or self.closed:
            return
        try:
            self._write_all(data)
        except OSError as error:
            self._write_failed_with(error)

    def _write_failed_with(self, error: OSError) -> None:
        """Nothing more is written; the main thread stops as for a signal (SIGUSR1 stands for
        a failed write), as a closed pipe or as `OutputFailed`."""
        self.closed = True
        self._write_failed = write_failure(error)
        if threading.current_thread() is threading.main_thread():
            self.stop(signal.SIGUSR1)
        else:
            _thread.interrupt_main(signal.SIGUSR1)  # runs `stop` in the main thread


def _write_all_to(stream: Any) -> Callable[[bytes], None]:
    """Writes every byte to the stream's file descriptor, straight: a buffered writer that a
    signal interrupts may have written part of a line. A stream without one (a test's
    capture) is written as it is."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        buffer = stream.buffer

        def write_to_stream(data: bytes) -> None:
            buffer.write(data)
            buffer.flush()

        return write_to_stream

    def write_to_fd(data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:  # os.write may write part: the rest goes on, so no line is ever cut
                view = view[os.write(fd, view) :]
        except OSError:
            _drop_torn_line(fd, data, written=len(data) - len(view))
            raise

    return write_to_fd


def _drop_torn_line(fd: int, data: bytes, written: int) -> None:
    """A file that filled up (a full disk, a file size limit) took the first `written` bytes
    of `data` and refused the rest: the file is cut back to its last whole line. A pipe or a
    device cannot be cut back (nor read again: a pipe's reader has gone, a device keeps nothing)."""
    torn = written - (data.rfind(b"\n", 0, written) + 1)
    if torn:
        with contextlib.suppress(OSError):  # ESPIPE: a pipe or a device
            end = os.lseek(fd, 0, os.SEEK_CUR) - torn
            os.ftruncate(fd, end)
            os.lseek(fd, end, os.SEEK_SET)  # a stderr that shares this file writes after the last line
