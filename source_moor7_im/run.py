"""The `source-moor7-im` command: `spec`, `check`, `discover` and `read`, as Airbyte runs them."""

from __future__ import annotations

import logging
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import List, Optional

import orjson

from airbyte_cdk.entrypoint import AirbyteEntrypoint, launch
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    FailureType,
    Status,
    Type,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .source import INTERACTIVE_COMMANDS, SourceMoor7Im


def _emit(message: AirbyteMessage) -> None:
    print(orjson.dumps(AirbyteMessageSerializer.dump(message)).decode(), flush=True)


def _build_source(args: List[str]) -> Optional[SourceMoor7Im]:
    """The source, or None after reporting why not: the config is checked (and its windows
    computed) while the source is built, so a bad config stops here, before any request."""
    catalog_path = AirbyteEntrypoint.extract_catalog(args)
    config_path = AirbyteEntrypoint.extract_config(args)
    state_path = AirbyteEntrypoint.extract_state(args)
    try:
        return SourceMoor7Im(
            catalog=SourceMoor7Im.read_catalog(catalog_path) if catalog_path else None,
            config=SourceMoor7Im.read_config(config_path) if config_path else None,
            state=SourceMoor7Im.read_state(state_path) if state_path else None,
            config_path=config_path,
            interactive=bool(args) and args[0] in INTERACTIVE_COMMANDS,
        )
    except Exception as error:
        traced = (
            error
            if isinstance(error, AirbyteTracedException)
            else AirbyteTracedException.from_exception(error, message=f"The connector could not start: {_why(error)}")
        )
        if args and args[0] == "check" and (traced.failure_type == FailureType.config_error or config_path):
            # Airbyte expects check to answer with a connection status, also for a config file
            # that is missing or not JSON: the connection cannot be used either way.
            status = AirbyteConnectionStatus(status=Status.FAILED, message=traced.message)
            _emit(AirbyteMessage(type=Type.CONNECTION_STATUS, connectionStatus=status))
        else:
            _emit(traced.as_airbyte_message())
        return None


DISTRIBUTION = "airbyte-source-moor7-im"
COMMAND = "source-moor7-im"
USAGE = f"""usage: {COMMAND} {{spec,check,discover,read}} [--config CONFIG] [--catalog CATALOG] [--state STATE] [--debug]
       {COMMAND} --version | --help

  spec                          print the connector's configuration form (JSON schema)
  check    --config CONFIG      test the credentials with one request
  discover --config CONFIG      print the streams and their schemas
  read     --config CONFIG --catalog CATALOG [--state STATE]
                                sync the streams of a configured catalog
"""


def _version() -> str:
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


class _QuietCdkLines(logging.Filter):
    """Two INFO lines of the CDK's on the shared `airbyte` logger that mislead more than they tell:

    - "MemoryMonitor instantiated with ..." opens every command's output and says nothing
      about the sync: lowered to DEBUG. (The entrypoint logs it before it applies --debug,
      so in practice it is no longer printed at all.)
    - "UserDefinedBackoffException: Rate limit exceeded (HTTP 500). Retrying in ..." is the
      CDK's fixed wording for every retry, whatever the cause. The connector logs each retry
      at WARN with the real reason, stream and window (errors.BoundedRetryWait), so the
      CDK's line is dropped rather than printed beside it as a second, wrong reason."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        message = str(record.msg)
        if message.startswith("UserDefinedBackoffException: Rate limit exceeded"):
            return False
        if message.startswith("MemoryMonitor instantiated"):
            record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def _why(error: Exception) -> str:
    if isinstance(error, FileNotFoundError):
        return f"the file {error.filename!r} does not exist; give the path of a JSON file (for --config, the connector settings)."
    return str(error)


def run() -> None:
    args = sys.argv[1:]
    if not args:
        # The CDK would raise "No command passed" as a FATAL log with a traceback.
        sys.stderr.write(USAGE)
        sys.exit(2)
    if args[0] == "--version":
        print(f"{COMMAND} {_version()}")
        return
    logging.getLogger("airbyte").addFilter(_QuietCdkLines())
    source = _build_source(args)
    if source is None:
        sys.exit(1 if not (args and args[0] == "check") else 0)
    launch(source, args)
