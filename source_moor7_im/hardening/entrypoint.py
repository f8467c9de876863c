"""The connector's command: `spec`, `check`, `discover` and `read`, as Airbyte runs them (docs/design/command.md).

CDK gap: `launch` lets a Ctrl-C during the CDK's import end in a traceback, writes to a closed or full stdout with
one, logs expected failures as FATAL with a stack and signed request headers at debug, and builds the whole source
for `spec`. Smallest CDK change: a `launch` that sets its signal handlers before importing the source, a list of
headers its request log masks, and an `expected` flag on failures. Imports only `os`, `signal` and `sys` at load."""

import os
import signal
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Collection

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


def run_command(name: str, distribution: str, source: str, masked_headers: "Collection[str]") -> None:
    """`source`: "module:Class" of the `HardenedDeclarativeSource`, imported once the signals have their handler."""
    began = False  # the `LineWriter` has taken the stop signals

    def stop_while_starting(signum: int, _frame: object) -> None:
        """Ends the process by the signal; says so unless the command's `LineWriter` has given them back."""
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
    import contextlib
    import pkgutil
    from importlib.metadata import distributions

    import orjson

    from .output import Interrupted, LineWriter, write_failure

    args = sys.argv[1:]
    if not args or sys.stdout is None:  # `>&-`: a file opened next would take stdout's descriptor and its messages
        with contextlib.suppress(OSError, AttributeError):  # AttributeError: no stderr (`2>&-`)
            sys.stderr.write((USAGE if not args else CLOSED_STDOUT).format(name=name))
            sys.stderr.flush()
        sys.exit(2 if not args else 1)
    if args[0] == "--version":
        installed = next((d.version for d in distributions(name=distribution)), "unknown")  # unknown: a source tree not installed
        try:
            print(f"{name} {installed}", flush=True)
        except OSError as error:
            write_failure(error).end_process()
        return
    source_class = pkgutil.resolve_name(source)  # the CDK: most of the start-up
    try:
        with LineWriter.installed(_log_filter(masked_headers)) as writer:
            began = True
            try:
                exit_code = _launch(source_class, args, writer)
                writer.flush()
            except Interrupted as stop:
                resumes = READ_RESUMES if args[0] == "read" else "nothing was saved"
                line = {"type": "LOG", "log": {"level": "WARN", "message": f"Stopped by {stop}: {resumes}."}}
                try:
                    writer.last_line(orjson.dumps(line).decode())
                finally:
                    stop.end_process()
    except Interrupted as stop:  # while the handlers were being installed or restored
        stop.end_process()
    sys.exit(exit_code)


def _launch(source_class: "type[HardenedDeclarativeSource]", args: list[str], writer: "LineWriter") -> int:
    """`spec` from the manifest alone, else the CDK's `launch`; a file or config it cannot use is a config error."""
    from airbyte_cdk.entrypoint import AirbyteEntrypoint
    from airbyte_cdk.models import AirbyteMessage, FailureType, Type
    from airbyte_cdk.utils.traced_exception import AirbyteTracedException

    from .declarative import each_stream_once
    from .messages import failed_status, traced

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
            # check answers with a connection status, also for a config file missing or not JSON.
            return emitted(AirbyteMessage(type=Type.CONNECTION_STATUS, connectionStatus=failed_status(failure)), 0)
        return emitted(traced(failure.as_airbyte_message(), expected=failure is exc), 1)


def _log_filter(masked_headers: "Collection[str]") -> "Callable[[logging.LogRecord], bool]":
    """Drops the CDK's misleading or repeated lines and expected failures' tracebacks; dumps to DEBUG; masks headers."""
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
