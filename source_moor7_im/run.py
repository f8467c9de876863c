"""The `source-moor7-im` command: `spec`, `check`, `discover` and `read`, as Airbyte runs them.

Loading this module imports `os`, `signal` and `sys` only: the console script loads it, and
the first statement of `run` gives SIGINT and SIGTERM the command's own handler, before the
CDK is imported (a second or two), so that a Ctrl-C at any moment of the command ends it by
the signal, never as a KeyboardInterrupt traceback. The rest is imported where it is used.
"""

from __future__ import annotations

import os
import signal
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    import logging
    from typing import NoReturn

    from airbyte_cdk.models import AirbyteMessage
    from airbyte_cdk.utils.traced_exception import AirbyteTracedException

    from .output import Interrupted, LineWriter
    from .source import SourceMoor7Im

DISTRIBUTION = "airbyte-source-moor7-im"
COMMAND = "source-moor7-im"
USAGE = f"""usage: {COMMAND} {{spec,check,discover,read}} [--config CONFIG] [--catalog CATALOG] [--state STATE] [--debug]
       {COMMAND} --version | --help

  spec                          print the connector's configuration form (JSON schema)
  check    --config CONFIG      test the credentials with one request per report
  discover --config CONFIG      print the streams and their schemas
  read     --config CONFIG --catalog CATALOG [--state STATE]
                                sync the streams of a configured catalog
"""

# The last line of a command stopped while it starts. JSON by hand: the json module may not
# be imported yet, and the text has nothing to escape.
_STOPPED_WHILE_STARTING = (
    '{{"type":"LOG","log":{{"level":"WARN","message":"Stopped by {signal} while the command was starting: '
    'nothing was read and no request was sent."}}}}\n'
)


class _StartUpStop:
    """SIGINT and SIGTERM until the command's `LineWriter` takes them (while the CDK is
    imported and the source built): the process ends at once by that signal, after one whole
    line that says so; nothing else has been written and no request sent. The `LineWriter`
    gives the signals back to this handler when the command is done: every line is written
    by then, and the signal just ends the process."""

    def __init__(self) -> None:
        self.began = False
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._stop)

    def _stop(self, signum: int, _frame: object) -> None:
        if not self.began and sys.stdout is not None:
            line = _STOPPED_WHILE_STARTING.format(signal=signal.Signals(signum).name)
            try:  # noqa: SIM105 - contextlib may not be imported yet
                os.write(1, line.encode())
            except OSError:  # stdout fails too: the exit code still tells
                pass
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)  # not reached: the signal ends the process


def run() -> None:
    starting = _StartUpStop()  # first: from here on a signal ends the command as it should
    args = sys.argv[1:]
    if not args:
        # The CDK would raise "No command passed" as a FATAL log with a traceback.
        _to_stderr(USAGE)
        sys.exit(2)
    if sys.stdout is None:
        # A closed stdout (`>&-`): no message could reach anyone, and the next file opened
        # would take its descriptor and get them. Said on stderr, like any failed write
        # (output.OutputFailed says why not silently, as a closed pipe is).
        _to_stderr(
            f"{COMMAND}: stdout is closed, so the command cannot write its messages; it did nothing. "
            "Run it with stdout open (to a file or a pipe).\n"
        )
        sys.exit(1)

    from .output import Interrupted, LineWriter, write_failure

    if args[0] == "--version":
        try:
            sys.stdout.write(f"{COMMAND} {_version()}\n")
            sys.stdout.flush()
        except OSError as error:
            write_failure(error).end_process()
        return

    from .stop_rules import READ_STOP  # the CDK: most of the command's start-up

    try:
        with LineWriter.installed(READ_STOP.interrupt, _quiet_cdk_lines, _masked_signature) as writer:
            starting.began = True
            try:
                if args[0] == "spec":
                    exit_code = _spec()
                else:
                    source = _build_source(args)
                    exit_code = (1 if args[0] != "check" else 0) if source is None else _launch(source, args)
                writer.flush()
            except Interrupted as stop:
                _stopped(writer, stop, args[0])
    except Interrupted as stop:
        # A signal or a failing stdout just before the command began or just after it ended,
        # while the handlers were being installed or restored: it ends the process.
        stop.end_process()
    sys.exit(exit_code)


def _build_source(args: list[str]) -> SourceMoor7Im | None:
    """The source, or None after reporting why not: the config is checked (and its windows
    computed) while the source is built, so a bad config stops here, before any request."""
    from airbyte_cdk.entrypoint import AirbyteEntrypoint
    from airbyte_cdk.models import AirbyteConnectionStatus, AirbyteMessage, FailureType, Status, Type
    from airbyte_cdk.utils.traced_exception import AirbyteTracedException

    from .source import INTERACTIVE_COMMANDS, SourceMoor7Im, each_stream_once

    catalog_path = AirbyteEntrypoint.extract_catalog(args)
    config_path = AirbyteEntrypoint.extract_config(args)
    state_path = AirbyteEntrypoint.extract_state(args)
    try:
        return SourceMoor7Im(
            # Built from each stream's first entry, as `read` reads it (and warns of the others).
            catalog=each_stream_once(SourceMoor7Im.read_catalog(catalog_path))[0] if catalog_path else None,
            config=SourceMoor7Im.read_config(config_path) if config_path else None,
            state=SourceMoor7Im.read_state(state_path) if state_path else None,
            config_path=config_path,
            interactive=bool(args) and args[0] in INTERACTIVE_COMMANDS,
        )
    except Exception as error:
        traced = (
            error
            if isinstance(error, AirbyteTracedException)
            else AirbyteTracedException.from_exception(error, message=f"The connector could not start: {error}")
        )
        if args and args[0] == "check" and (traced.failure_type == FailureType.config_error or config_path):
            # Airbyte expects check to answer with a connection status, also for a config file
            # that is missing or not JSON: the connection cannot be used either way.
            status = AirbyteConnectionStatus(status=Status.FAILED, message=traced.message)
            _emit(AirbyteMessage(type=Type.CONNECTION_STATUS, connectionStatus=status))
        else:
            _emit_failure(traced, expected=error is traced)
        return None


def _spec() -> int:
    """`spec`, from the manifest alone (source.manifest_spec)."""
    from airbyte_cdk.models import AirbyteMessage, Type

    from .source import manifest_spec

    _emit(AirbyteMessage(type=Type.SPEC, spec=manifest_spec()))
    return 0


def _launch(source: SourceMoor7Im, args: list[str]) -> int:
    """The CDK's `launch`, writing through the `LineWriter`; an expected failure ends with
    its TRACE and exit code 1 instead of the CDK's FATAL log with a traceback."""
    from airbyte_cdk.entrypoint import AirbyteEntrypoint
    from airbyte_cdk.utils.traced_exception import AirbyteTracedException

    entrypoint = AirbyteEntrypoint(source)
    parsed = entrypoint.parse_args(args)
    try:
        for line in entrypoint.run(parsed):
            _write(line)
    except AirbyteTracedException as error:
        _emit_failure(error)
        return 1
    return 0


def _stopped(writer: LineWriter, stop: Interrupted, command: str) -> NoReturn:
    """Ends the process after a stop: the whole lines written so far, one last line that says
    why, and no wait for requests still on the wire (their windows were not closed, so no
    state passed them)."""
    import orjson

    resumes = (
        "no window starts after it; the last STATE above resumes the next sync" if command == "read" else "nothing was saved"
    )
    try:
        line = {"type": "LOG", "log": {"level": "WARN", "message": f"Stopped by {stop}: {resumes}."}}
        writer.last_line(orjson.dumps(line).decode())
    finally:
        stop.end_process()


def _emit(message: AirbyteMessage) -> None:
    import orjson

    from airbyte_cdk.models import AirbyteMessageSerializer

    from .messages import bounded_trace

    _write(orjson.dumps(AirbyteMessageSerializer.dump(bounded_trace(message))).decode())


def _emit_failure(error: AirbyteTracedException, expected: bool = True) -> None:
    """The error TRACE; an expected failure's without a stack trace, which is for bugs."""
    message = error.as_airbyte_message()
    if expected:
        message.trace.error.stack_trace = None  # type: ignore[union-attr]
    _emit(message)


def _write(line: str) -> None:
    sys.stdout.write(line + "\n")


def _to_stderr(text: str) -> None:
    """`text` on stderr, if it can be written there (`2>&-` leaves no stderr)."""
    import contextlib

    with contextlib.suppress(OSError, AttributeError):  # AttributeError: sys.stderr is None
        sys.stderr.write(text)
        sys.stderr.flush()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


# CDK log lines that mislead, repeat or dump more than they tell: the CDK's "Rate limit
# exceeded" line for every retry and its "Retries exhausted" repeat are dropped (the connector
# logs each retry with its real reason, and the error says why a window stopped); request
# dumps and the MemoryMonitor's start line go to DEBUG.
_DROPPED = ("UserDefinedBackoffException: Rate limit exceeded", "Retries exhausted with backoff exception")
_LOWERED = ("MemoryMonitor instantiated",)


def _quiet_cdk_lines(record: logging.LogRecord) -> bool:
    """The log handler's filter for those lines; an expected failure is logged without a
    traceback, which is for bugs."""
    import logging

    from .stop_rules import is_expected_failure

    message = str(record.msg)
    if message.startswith(_DROPPED):
        return False
    if message.startswith(_LOWERED) or (message.startswith("'") and "Request (body):" in message):
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger("airbyte").isEnabledFor(logging.DEBUG)
    if record.exc_info and is_expected_failure(record.exc_info[1]):
        record.exc_info, record.exc_text = None, None
    return True


# The request headers whose values no log line shows: `m7-sign` lets whoever reads it send
# requests as the account until its timestamp expires (5 minutes; the signature does not
# cover the body), and `m7-nonce` goes with it. An answer's `requestInfo.requestId` is left
# as it is: 7moor's page shows its own id there (a UUID), the one its support traces a
# request by; where a server echoes the nonce instead (the emulator), that request has been
# received, so its sign and nonce are refused if sent again, and a nonce alone signs nothing.
SIGNATURE_HEADERS = frozenset({"m7-sign", "m7-nonce"})
MASK = "****"  # as the CDK masks a secret


def _masked_signature(record: logging.LogRecord) -> bool:
    """The log handler's filter that masks `SIGNATURE_HEADERS` in a line's `headers` (the CDK
    logs every request's headers at debug). By header name: adding each signature to the CDK's
    secrets would grow that list with every request, and `filter_secrets` scans all of it for
    every line."""
    from collections.abc import Mapping

    headers = getattr(record, "headers", None)
    if isinstance(headers, Mapping) and any(str(name).lower() in SIGNATURE_HEADERS for name in headers):
        # A copy: the record holds the request's own headers.
        record.headers = {name: MASK if str(name).lower() in SIGNATURE_HEADERS else value for name, value in headers.items()}
    return True
