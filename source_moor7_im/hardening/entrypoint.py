"""A connector's command: `spec`, `check`, `discover` and `read`, as Airbyte runs them.

CDK gap: `launch` lets a Ctrl-C during the CDK's import (a second or two) end in a
KeyboardInterrupt traceback, writes to a closed or full stdout with a traceback, logs an
expected failure as FATAL with its stack trace, logs each request's signed headers at debug,
and builds the whole source to answer `spec`. `run_command` gives the stop signals their
handler first, writes through the `LineWriter` (output.py), answers `spec` from the manifest
alone, and turns what a user's files can cause into one config error. The smallest CDK
change: a `launch` that installs its signal handlers before importing the source, a list of
headers its request log masks, and an `expected` flag on failures.

Loading this module imports `os`, `signal` and `sys` only; the rest is imported where it is
used, after the handlers are in place.
"""

from __future__ import annotations

import os
import signal
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    import logging
    from collections.abc import Collection
    from typing import Any, NoReturn

    from airbyte_cdk.models import AirbyteMessage

    from .declarative import HardenedDeclarativeSource
    from .output import Interrupted, LineWriter

USAGE = """usage: {name} {{spec,check,discover,read}} [--config CONFIG] [--catalog CATALOG] [--state STATE] [--debug]
       {name} --version | --help

  spec                          print the connector's configuration form (JSON schema)
  check    --config CONFIG      test the connection
  discover --config CONFIG      print the streams and their schemas
  read     --config CONFIG --catalog CATALOG [--state STATE]
                                sync the streams of a configured catalog
"""
INTERACTIVE_COMMANDS = ("check", "discover")  # a person waits on them
MASK = "****"  # as the CDK masks a secret


class _StartUpStop:
    """SIGINT and SIGTERM until the command's `LineWriter` takes them (while the CDK is imported
    and the source built): the process ends at once by that signal, after one whole line that
    says so. The `LineWriter` gives the signals back to this handler when the command is done:
    every line is written by then, and the signal just ends the process."""

    def __init__(self) -> None:
        self.began = False
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._stop)

    def _stop(self, signum: int, _frame: object) -> None:
        if not self.began and sys.stdout is not None:
            # JSON by hand: the json module may not be imported yet, and the text has nothing to escape.
            line = (
                f'{{"type":"LOG","log":{{"level":"WARN","message":"Stopped by {signal.Signals(signum).name} while the '
                'command was starting: nothing was read and no request was sent."}}\n'
            )
            try:  # noqa: SIM105 - contextlib may not be imported yet
                os.write(1, line.encode())
            except OSError:  # stdout fails too: the exit code still tells
                pass
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)  # not reached: the signal ends the process


def run_command(name: str, distribution: str, source: str, masked_headers: Collection[str]) -> None:
    """Runs the command `sys.argv` names. `source`: "module:Class" of the connector's
    `HardenedDeclarativeSource`, imported once the signals have their handler; `masked_headers`:
    request headers no log line shows (as a secret is masked)."""
    starting = _StartUpStop()  # first: from here on a signal ends the command as it should
    args = sys.argv[1:]
    if not args:  # the CDK would raise "No command passed" as a FATAL log with a traceback
        _to_stderr(USAGE.format(name=name))
        sys.exit(2)
    if sys.stdout is None:
        # A closed stdout (`>&-`): no message could reach anyone, and the next file opened would
        # take its descriptor and get them. Said on stderr, like any failed write (OutputFailed).
        _to_stderr(
            f"{name}: stdout is closed, so the command cannot write its messages; it did nothing. Run it with stdout open (to a file or a pipe).\n"
        )
        sys.exit(1)
    from .output import Interrupted, LineWriter, write_failure

    if args[0] == "--version":
        try:
            sys.stdout.write(f"{name} {_version(distribution)}\n")
            sys.stdout.flush()
        except OSError as error:
            write_failure(error).end_process()
        return
    import importlib

    module, _, attribute = source.partition(":")
    source_class = getattr(importlib.import_module(module), attribute)  # the CDK: most of the start-up
    exit_code = 0
    running: list[Any] = []  # the source, once built: a stop reaches its read

    def stop_reading(reason: str) -> None:
        for started in running:
            started.scope.stop.interrupt(reason)

    try:
        with LineWriter.installed(stop_reading, *_log_filters(masked_headers)) as writer:
            starting.began = True
            try:
                if args[0] == "spec":
                    _emit(_message("SPEC", spec=source_class.spec_only()))
                else:
                    exit_code = _launch(source_class, args, running)
                writer.flush()
            except Interrupted as stop:
                _stopped(writer, stop, args[0])
    except Interrupted as stop:
        # A signal or a failing stdout just before the command began or just after it ended,
        # while the handlers were being installed or restored: it ends the process.
        stop.end_process()
    sys.exit(exit_code)


def _launch(source_class: type[HardenedDeclarativeSource], args: list[str], running: list[Any]) -> int:
    """The CDK's `launch` on a source built from the command's files: a file or a config it
    cannot use is one config error before any request (`check` answers it with a FAILED
    status); an expected failure ends with its TRACE and exit code 1, without a stack trace."""
    from airbyte_cdk.entrypoint import AirbyteEntrypoint
    from airbyte_cdk.models import AirbyteConnectionStatus, FailureType, Status
    from airbyte_cdk.utils.traced_exception import AirbyteTracedException

    from .declarative import each_stream_once
    from .messages import rendered

    paths = {kind: getattr(AirbyteEntrypoint, f"extract_{kind}")(args) for kind in ("config", "catalog", "state")}
    try:
        source = source_class(
            # Built from each stream's first entry, as `read` reads it (and warns of the others).
            catalog=each_stream_once(source_class.read_catalog(paths["catalog"])) if paths["catalog"] else None,
            config=source_class.read_config(paths["config"]) if paths["config"] else None,
            state=source_class.read_state(paths["state"]) if paths["state"] else None,
            config_path=paths["config"],
            interactive=args[0] in INTERACTIVE_COMMANDS,
        )
        running.append(source)
        entrypoint = AirbyteEntrypoint(source)
        for line in entrypoint.run(entrypoint.parse_args(args)):
            _write(line)
        return 0
    except Exception as error:
        said = f"The connector could not start: {error}" if not running else f"{type(error).__name__}: {error}"
        failure = (
            error if isinstance(error, AirbyteTracedException) else AirbyteTracedException.from_exception(error, message=said)
        )
        if not running and args[0] == "check" and (failure.failure_type == FailureType.config_error or paths["config"]):
            # Airbyte expects check to answer with a connection status, also for a config file
            # that is missing or not JSON: the connection cannot be used either way.
            status = AirbyteConnectionStatus(status=Status.FAILED, message=rendered(failure.message or ""))
            _emit(_message("CONNECTION_STATUS", connectionStatus=status))
            return 0
        _emit(failure.as_airbyte_message(), expected=failure is error)
        return 1


def _message(kind: str, **fields: Any) -> AirbyteMessage:
    from airbyte_cdk.models import AirbyteMessage, Type

    return AirbyteMessage(type=Type[kind], **fields)


def _emit(message: AirbyteMessage, expected: bool = True) -> None:
    """One message, written whole; an error TRACE rendered (messages.traced)."""
    import orjson

    from airbyte_cdk.models import AirbyteMessageSerializer

    from .messages import traced

    _write(orjson.dumps(AirbyteMessageSerializer.dump(traced(message, expected))).decode())


def _write(line: str) -> None:
    sys.stdout.write(line + "\n")


def _stopped(writer: LineWriter, stop: Interrupted, command: str) -> NoReturn:
    """Ends the process after a stop: the whole lines written so far, one last line that says
    why, and no wait for requests still on the wire (their windows were not closed, so no
    state passed them)."""
    import orjson

    resumes = (
        "no window starts after it; the last STATE above resumes the next sync" if command == "read" else "nothing was saved"
    )
    try:
        writer.last_line(
            orjson.dumps({"type": "LOG", "log": {"level": "WARN", "message": f"Stopped by {stop}: {resumes}."}}).decode()
        )
    finally:
        stop.end_process()


def _to_stderr(text: str) -> None:
    """`text` on stderr, if it can be written there (`2>&-` leaves no stderr)."""
    import contextlib

    with contextlib.suppress(OSError, AttributeError):  # AttributeError: sys.stderr is None
        sys.stderr.write(text)
        sys.stderr.flush()


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def _log_filters(masked_headers: Collection[str]) -> list[Any]:
    """The CDK log handler's filters: lines that mislead, repeat or dump more than they tell
    (the CDK's "Rate limit exceeded" line for every retry and its "Retries exhausted" repeat
    are dropped: each retry is logged with its real reason, and the error says why a window
    stopped; request dumps and the MemoryMonitor's start line go to DEBUG), an expected
    failure without a traceback (which is for bugs), and `masked_headers` masked in every line
    that carries request headers. By name: adding each signature to the CDK's secrets would
    grow that list with every request, and `filter_secrets` scans all of it for every line."""
    import logging
    from collections.abc import Mapping

    from .messages import is_expected

    dropped = ("UserDefinedBackoffException: Rate limit exceeded", "Retries exhausted with backoff exception")
    masked = {header.lower() for header in masked_headers}

    def quiet(record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith(dropped):
            return False
        if message.startswith("MemoryMonitor instantiated") or (message.startswith("'") and "Request (body):" in message):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger("airbyte").isEnabledFor(logging.DEBUG)
        if record.exc_info and is_expected(record.exc_info[1]):
            record.exc_info, record.exc_text = None, None
        headers = getattr(record, "headers", None)
        if isinstance(headers, Mapping) and masked & {str(key).lower() for key in headers}:
            # A copy: the record holds the request's own headers.
            record.headers = {key: MASK if str(key).lower() in masked else value for key, value in headers.items()}
        return True

    return [quiet]
