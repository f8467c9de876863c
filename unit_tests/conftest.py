from __future__ import annotations

from typing import Any, List, Mapping, Optional

import pytest

from airbyte_cdk.models import AirbyteStateMessage, ConfiguredAirbyteCatalog
from airbyte_cdk.test import entrypoint_wrapper
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput
from source_moor7_im import SourceMoor7Im

from .builders import catalog


def read(
    config: Mapping[str, Any],
    configured_catalog: Optional[ConfiguredAirbyteCatalog] = None,
    state: Optional[List[AirbyteStateMessage]] = None,
    expecting_exception: bool = False,
) -> EntrypointOutput:
    configured_catalog = configured_catalog or catalog()
    source = SourceMoor7Im(catalog=configured_catalog, config=config, state=state)
    return entrypoint_wrapper.read(source, config, configured_catalog, state, expecting_exception=expecting_exception)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # The mocks intercept at the transport; a proxy variable from the machine must not matter.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


def run_cli(args: List[str], config: Optional[Mapping[str, Any]], tmp_path, capsys) -> List[dict]:
    """Run the `source-moor7-im` command in-process; return its stdout messages as dicts."""
    import json
    import sys

    from source_moor7_im.run import run

    argv = list(args)
    if config is not None:
        config_file = tmp_path / "config.json"
        config_file.write_text(json.dumps(config))
        argv += ["--config", str(config_file)]
    capsys.readouterr()
    old_argv = sys.argv
    sys.argv = ["source-moor7-im", *argv]
    try:
        run()
        exit_code = 0
    except SystemExit as exit_:
        exit_code = exit_.code or 0
    finally:
        sys.argv = old_argv
    out = capsys.readouterr().out
    messages = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    for message in messages:
        message["_exit_code"] = exit_code
    return messages
