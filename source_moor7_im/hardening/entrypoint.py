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
    from collections.abc import Callable, Collection
    from typing import NoReturn

    from .declarative import HardenedDeclarativeSource
    from .output import LineWriter

USAGE = """usage: {name} {{spec,check,discover,read}} [--config CONFIG] [--catalog CATALOG] [--state STATE] [--debug]
       {name} --version | --help

  spec                          print the connector's configuration form (JSON schema)
  check    --config CONFIG      test the connection
  discover --config CONFIG      print the streams and their schemas
  read     --config CONFIG --catalog CATALOG [--state STATE]
                                sync the streams of a configured catalog
"""
CLOSED_STDOUT = "{name}: stdout is closed, so the command cannot write its messages; it did nothing. Run it with stdout open (to a file or a pipe).\n"
READ_RESUMES = "no window starts after it; the last STATE above resumes the next sync"  # said when a read stops


def run_command(name: str, distribution: str, source: str, masked_headers: Collection[str]) -> None:
    """Runs the command `sys.argv` names. `source`: "module:Class" of the connector's
    `HardenedDeclarativeSource`, imported once the signals have their handler; `masked_headers`:
    request headers no log line shows (as a secret is masked)."""
    began = False  # the `LineWriter` has taken the stop signals

    def stop_while_starting(signum: int, _frame: object) -> None:
        """SIGINT and SIGTERM until the command's `LineWriter` takes them (while the CDK is
        imported and the source built): the process ends at once by that signal, after one whole
        line that says so. The `LineWriter` gives the signals back to this handler when the
        command is done: every line is written by then, and the signal just ends the process."""
        if not began and sys.stdout is not None:
            # JSON by hand: the json module may not be imported yet, and the text has nothing to escape.
            line = f'{{"type":"LOG","log":{{"level":"WARN","message":"Stopped by {signal.Signals(signum).name} while the command was starting: nothing was read and no request was sent."}}}}\n'
            try:  # noqa: SIM105 - contextlib may not be imported yet
                os.write(1, line.encode())
            except OSError:  # stdout fails too: the exit code still tells
                pass
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)  # not reached: the signal ends the process

    for signum in (signal.SIGINT, signal.SIGTERM):  # first: from here on a signal ends the command as it should
        signal.signal(signum, stop_while_starting)
    args = sys.argv[1:]
    if not args:  # the CDK would raise "No command passed" as a FATAL log with a traceback
        _refuse(USAGE.format(name=name), 2)
    if sys.stdout is None:
        # A closed stdout (`>&-`): no message could reach anyone, and the next file opened would
        # take its descriptor and get them. Said on stderr, like any failed write (OutputFailed).
        _refuse(CLOSED_STDOUT.format(name=name), 1)
    from .output import Interrupted, LineWriter, write_failure

    if args[0] == "--version":
        from importlib.metadata import distributions

        installed = next((d.version for d in distributions(name=distribution)), "unknown")  # unknown: a source tree not installed
        try:
            print(f"{name} {installed}", flush=True)
        except OSError as error:
            write_failure(error).end_process()
        return
    import pkgutil

    import orjson

    source_class = pkgutil.resolve_name(source)  # the CDK: most of the start-up
    try:
        with LineWriter.installed(_log_filter(masked_headers)) as writer:
            began = True
            try:
                exit_code = _launch(source_class, args, writer)
                writer.flush()
            except Interrupted as stop:
                # The whole lines written so far, one last line that says why, and no wait for
                # requests still on the wire (their windows were not closed, so no state passed them).
                resumes = READ_RESUMES if args[0] == "read" else "nothing was saved"
                line = {"type": "LOG", "log": {"level": "WARN", "message": f"Stopped by {stop}: {resumes}."}}
                try:
                    writer.last_line(orjson.dumps(line).decode())
                finally:
                    stop.end_process()
    except Interrupted as stop:
        # A signal or a failing stdout just before the command began or just after it ended,
        # while the handlers were being installed or restored: it ends the process.
        stop.end_process()
    sys.exit(exit_code)


def _launch(source_class: type[HardenedDeclarativeSource], args: list[str], writer: LineWriter) -> int:
    """`spec` from the manifest alone; else the CDK's `launch` on a source built from the
    command's files: a file or a config it cannot use is one config error before any request
    (`check` answers it with a FAILED status); an expected failure ends with its TRACE and exit
    code 1, without a stack trace. Returns the exit code."""
    from airbyte_cdk.entrypoint import AirbyteEntrypoint
    from airbyte_cdk.models import AirbyteConnectionStatus, AirbyteMessage, FailureType, Status, Type
    from airbyte_cdk.utils.traced_exception import AirbyteTracedException

    from .declarative import each_stream_once
    from .messages import rendered, traced

    def emitted(message: AirbyteMessage, exit_code: int) -> int:
        sys.stdout.write(f"{AirbyteEntrypoint.airbyte_message_to_string(message)}\n")
        return exit_code

    if args[0] == "spec":
        return emitted(AirbyteMessage(type=Type.SPEC, spec=source_class.spec_only()), 0)
    source = None  # until it is built
    paths = {kind: getattr(AirbyteEntrypoint, f"extract_{kind}")(args) for kind in ("config", "catalog", "state")}
    try:
        source = source_class(
            # Built from each stream's first entry, as `read` reads it (and warns of the others).
            catalog=each_stream_once(source_class.read_catalog(paths["catalog"])) if paths["catalog"] else None,
            config=source_class.read_config(paths["config"]) if paths["config"] else None,
            state=source_class.read_state(paths["state"]) if paths["state"] else None,
            config_path=paths["config"],
            interactive=args[0] in ("check", "discover"),  # a person waits on them
        )
        writer.on_stop = source.scope.stop.interrupt  # a stop reaches the read
        entrypoint = AirbyteEntrypoint(source)
        for line in entrypoint.run(entrypoint.parse_args(args)):
            sys.stdout.write(f"{line}\n")
        return 0
    except Exception as exc:
        said = f"The connector could not start: {exc}" if source is None else f"{type(exc).__name__}: {exc}"
        failure = exc if isinstance(exc, AirbyteTracedException) else AirbyteTracedException.from_exception(exc, message=said)
        if source is None and args[0] == "check" and (failure.failure_type == FailureType.config_error or paths["config"]):
            # Airbyte expects check to answer with a connection status, also for a config file
            # that is missing or not JSON: the connection cannot be used either way.
            status = AirbyteConnectionStatus(status=Status.FAILED, message=rendered(failure.message or ""))
            return emitted(AirbyteMessage(type=Type.CONNECTION_STATUS, connectionStatus=status), 0)
        return emitted(traced(failure.as_airbyte_message(), expected=failure is exc), 1)


def _refuse(text: str, exit_code: int) -> NoReturn:
    """`text` on stderr, if it can be written there (`2>&-` leaves no stderr), and `exit_code`."""
    import contextlib

    with contextlib.suppress(OSError, AttributeError):  # AttributeError: sys.stderr is None
        sys.stderr.write(text)
        sys.stderr.flush()
    sys.exit(exit_code)


def _log_filter(masked_headers: Collection[str]) -> Callable[[logging.LogRecord], bool]:
    """The CDK log handler's filter: lines that mislead, repeat or dump more than they tell
    (the CDK's "Rate limit exceeded" line for every retry and its "Retries exhausted" repeat
    are dropped: each retry is logged with its real reason, and the error says why a window
    stopped; request dumps and the MemoryMonitor's start line go to DEBUG), an expected
    failure without a traceback (which is for bugs), and `masked_headers` masked in every line
    that carries request headers. By name: adding each signature to the CDK's secrets would
    grow that list with every request, and `filter_secrets` scans all of it for every line."""
    import logging
    from collections.abc import Mapping

    from .messages import is_expected

    masked = {header.lower() for header in masked_headers}

    def quiet(record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith(("UserDefinedBackoffException: Rate limit exceeded", "Retries exhausted with backoff exception")):
            return False
        if message.startswith("MemoryMonitor instantiated") or (message.startswith("'") and "Request (body):" in message):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger("airbyte").isEnabledFor(logging.DEBUG)
        if record.exc_info and is_expected(record.exc_info[1]):
            record.exc_info, record.exc_text = None, None
        if isinstance(headers := getattr(record, "headers", None), Mapping) and masked & {str(key).lower() for key in headers}:
            # A copy: the record holds the request's own headers; "****" as the CDK masks a secret.
            record.headers = {key: "****" if str(key).lower() in masked else value for key, value in headers.items()}
        return True

    return quiet
