from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from airbyte_cdk.models import AirbyteStateMessage, ConfiguredAirbyteCatalog
from airbyte_cdk.test import entrypoint_wrapper
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput

from source_moor7_im import SourceMoor7Im

from .builders import SECRET_KEY, catalog


def read(
    config: Mapping[str, Any],
    configured_catalog: ConfiguredAirbyteCatalog | None = None,
    state: list[AirbyteStateMessage] | None = None,
    expecting_exception: bool = False,
) -> EntrypointOutput:
    configured_catalog = configured_catalog or catalog()
    source = SourceMoor7Im(catalog=configured_catalog, config=config, state=state)
    # At debug level, so that debug logs are searched for the secret too (see _secret_never_logged).
    output = entrypoint_wrapper.read(
        source, config, configured_catalog, state, expecting_exception=expecting_exception, debug=True
    )
    # An uncaught exception is among the messages, as a trace with its stack.
    assert_no_secret("\n".join(repr(message) for message in output.get_message_iterator()))
    return output


def assert_no_secret(text: str) -> None:
    assert SECRET_KEY not in text, "the secret key leaked into the connector's output"


class _EverythingLogged(logging.Handler):
    """Keeps every log line, tracebacks included, as a person reading the logs would see it."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.text = io.StringIO()
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.text.write(self.format(record) + "\n")


@pytest.fixture(autouse=True)
def _secret_never_logged() -> Iterator[None]:
    """Every unit test doubles as a search for the secret key in the logs, at debug level,
    raw (before the CDK's secret-masking formatter gets a chance to hide a leak)."""
    root = logging.getLogger()
    handler = _EverythingLogged()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert_no_secret(handler.text.getvalue())


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # The mocks intercept at the transport; a proxy variable from the machine must not matter.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def run_cli(args: list[str], config: Mapping[str, Any] | None, tmp_path, capsys) -> list[dict]:
    """Run the `source-moor7-im` command in-process, at debug level; return its stdout
    messages as dicts, after checking that stdout holds nothing but Airbyte messages (no
    traceback) and that neither stdout nor stderr holds the secret key."""
    import json
    import signal
    import sys

    from source_moor7_im.hardening.output import ENDING_SIGNALS
    from source_moor7_im.run import run

    argv = [*args, "--debug"]
    if config is not None:
        config_file = tmp_path / "config.json"
        config_file.write_text(json.dumps(config))
        argv += ["--config", str(config_file)]
    capsys.readouterr()
    old_argv = sys.argv
    # The command sets the stop signals' handlers for a process of its own; pytest keeps its own.
    handlers = {signum: signal.getsignal(signum) for signum in ENDING_SIGNALS}
    sys.argv = ["source-moor7-im", *argv]
    try:
        run()
        exit_code = 0
    except SystemExit as exit_:
        exit_code = exit_.code or 0
    finally:
        sys.argv = old_argv
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    captured = capsys.readouterr()
    assert_no_secret(captured.out + captured.err)
    lines = [line for line in captured.out.splitlines() if line.strip()]
    assert all(line.startswith("{") for line in lines), f"stdout holds more than Airbyte messages: {lines}"
    messages = [json.loads(line) for line in lines]
    for message in messages:
        message["_exit_code"] = exit_code
    return messages
