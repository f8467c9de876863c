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
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

# The signal the command ends by, after its last whole line: the one it was sent, so that a
# shell reports 130 or 143 and a parent process sees -2 or -15 (PyAirbyte accepts -15 from
# a connector it stops); SIGUSR1 stands for "the reader went away", which ends by SIGPIPE (141).
ENDING_SIGNALS: dict[int, int] = {signal.SIGINT: signal.SIGINT, signal.SIGTERM: signal.SIGTERM, signal.SIGUSR1: signal.SIGPIPE}


class Interrupted(BaseException):
    """The command was told to stop (a signal, or its reader went away; `OutputFailed`: a
    write failed otherwise). A BaseException, as KeyboardInterrupt is, so that no `except
    Exception` on the way up swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__("a closed stdout" if signum == signal.SIGUSR1 else signal.Signals(signum).name)
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
        self.reason = error.strerror or str(error)
        BaseException.__init__(self, f"a failed write to stdout ({self.reason})")

    def end_process(self) -> NoReturn:
        """Ends the process with exit code 1, without waiting for worker threads."""
        message = f"{os.path.basename(sys.argv[0])}: writing to stdout failed ({self.reason}), so the command stopped there. Every line it wrote is whole, and a read resumes from the last STATE among them. Give stdout room (or another file) and run it again.\n"
        with contextlib.suppress(OSError):  # stderr failing too leaves the exit code to tell
            os.write(2, message.encode())
        os._exit(1)


def write_failure(error: OSError) -> Interrupted:
    """The stop a failed write to stdout makes: a closed pipe's (EPIPE), or `OutputFailed`."""
    return Interrupted(signal.SIGUSR1) if isinstance(error, BrokenPipeError) else OutputFailed(error)


class LineWriter:
    """A text stream for sys.stdout: whole lines, one lock, stops deferred past a write."""

    encoding = "utf-8"

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
        self._main_writing = False
        self._deferred: Interrupted | None = None
        self._stopping = False
        self._write_failed: Interrupted | None = None
        self.closed = False  # nothing more is written: a write failed, or the last line is out

    # --- the text stream interface that print() and logging use -----------------------
    def write(self, text: str) -> int:
        lines, newline, self._partial.text = (getattr(self._partial, "text", "") + text).rpartition("\n")
        if newline and not self.closed:
            with self._writing():
                self._pending += (lines + newline).encode("utf-8", errors="replace")
                # Written at least every 64 KB or 0.1 s, as the CDK's own print buffer does: a write
                # per record would cost a system call per record.
                if len(self._pending) >= 64 * 1024 or time.monotonic() - self._last_flush >= 0.1:
                    self._write_pending()
        return len(text)

    def flush(self) -> None:
        with self._writing():
            self._write_pending()

    def last_line(self, text: str) -> None:
        """Writes `text` as the last line, whole: the lock is kept, so no worker thread writes
        after it, and the process is to end right after."""
        self._lock.acquire()
        self._pending += (text + "\n").encode("utf-8", errors="replace")
        self._write_pending()  # writes nothing once closed
        self.closed = True  # nothing after this line

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    # --- stops ----------------------------------------------------------------------------
    def stop(self, signum: int, _frame: Any = None) -> None:
        """The signal handler (the main thread): stop the read, then raise `Interrupted`,
        after the write in progress if there is one; once only."""
        if not self._stopping:
            self._stopping = True
            interrupted = self._write_failed if signum == signal.SIGUSR1 and self._write_failed else Interrupted(signum)
            self.on_stop(str(interrupted))
            if not self._main_writing:
                raise interrupted
            self._deferred = interrupted

    @classmethod
    @contextlib.contextmanager
    def installed(cls, log_filter: Callable[[logging.LogRecord], bool]) -> Iterator[LineWriter]:
        """sys.stdout, the stream and `log_filter` of the CDK's log handler (the root handler
        that formats Airbyte messages) and the stop signals' handlers, for the block (a
        command, or a test that runs one in-process). A stdout that fails already (a full
        disk) stops the command here, before it does anything."""
        from airbyte_cdk.logger import AirbyteLogFormatter

        handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
        handlers = [h for h in handlers if isinstance(h.formatter, AirbyteLogFormatter)]
        writer = cls(sys.stdout)
        with contextlib.ExitStack() as restore:  # each part restored, whatever stops the block
            try:
                sys.stdout.flush()
                for handler in handlers:
                    # setStream flushes the stream it replaces (the CDK's print buffer, which
                    # writes to the real stdout) and returns it.
                    restore.callback(handler.setStream, handler.setStream(writer))
                    handler.addFilter(log_filter)
                    restore.callback(handler.removeFilter, log_filter)
            except OSError as error:
                raise write_failure(error) from None
            restore.enter_context(contextlib.redirect_stdout(writer))  # type: ignore[type-var]
            for signum in ENDING_SIGNALS:
                restore.callback(signal.signal, signum, signal.signal(signum, writer.stop))
            yield writer

    # --- internals --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """The lock; in the main thread, a stop that arrives meanwhile waits for the block's end,
        so that a write blocked on a full pipe is never cut short."""
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
        """The lines collected, unless a write failed before or the last line is out, to the file
        descriptor, straight: a buffered writer that a signal interrupts may have written part
        of a line (a stream without one, a test's capture, is written as it is). After a failed
        write nothing more is written, and the main thread stops as for a signal (SIGUSR1
        stands for a failed write), as a closed pipe or as `OutputFailed`. A file that fills up
        (a full disk, a file size limit) takes part of the data and refuses the rest: it is cut
        back to its last whole line. A pipe or a device cannot be cut back (nor read again: a
        pipe's reader has gone, a device keeps nothing)."""
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
            written = len(data) - len(view)
            torn = written - (data.rfind(b"\n", 0, written) + 1)
            if torn and self._fd is not None:
                with contextlib.suppress(OSError):  # ESPIPE: a pipe or a device
                    end = os.lseek(self._fd, 0, os.SEEK_CUR) - torn
                    os.ftruncate(self._fd, end)
                    os.lseek(self._fd, end, os.SEEK_SET)  # a stderr that shares this file writes after the last line
            self.closed = True
            self._write_failed = write_failure(error)
            if threading.current_thread() is threading.main_thread():
                self.stop(signal.SIGUSR1)
            else:
                _thread.interrupt_main(signal.SIGUSR1)  # runs `stop` in the main thread
