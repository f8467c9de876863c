"""The connector: the declarative manifest, with the live report header turned on for discover."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional

from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    TraceType,
    Type,
)
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource

from .containment import FAILURE_LOCATION, READ_STOP, ContainedConcurrentSource
from .schema import live_header_discovery

# An absolute path: YamlDeclarativeSource opens a relative path against the working
# directory first, where an unrelated manifest.yaml could be picked up.
MANIFEST_PATH = str(Path(__file__).with_name("manifest.yaml"))

_FAILURE_LOCATION = FAILURE_LOCATION
# The manifest's settings for commands a person waits on (definitions.interactive_requests).
INTERACTIVE_COMMANDS = ("check", "discover")


class SourceMoor7Im(YamlDeclarativeSource):
    def __init__(
        self,
        catalog: Optional[ConfiguredAirbyteCatalog] = None,
        config: Optional[Mapping[str, Any]] = None,
        state: Optional[List[AirbyteStateMessage]] = None,
        config_path: Optional[str] = None,
        interactive: bool = False,
    ) -> None:
        """`interactive`: built for `check` or `discover`, which a person waits on: the
        requests use the manifest's `interactive_requests` timeouts and retries."""
        self._interactive = interactive
        super().__init__(path_to_yaml=MANIFEST_PATH, catalog=catalog, config=config, state=state, config_path=config_path)
        # The read stops early when it cannot succeed (containment.py says why this is ours).
        self._concurrent_source = ContainedConcurrentSource.replacing(self._concurrent_source, READ_STOP)

    def _pre_process_manifest(self, manifest: Dict[str, Any]) -> Dict[str, Any]:
        if self._interactive:
            manifest = with_interactive_requests(manifest)
        return super()._pre_process_manifest(manifest)

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        READ_STOP.reset()  # the stop rules are a read's; nothing from an earlier read in this process applies
        # Only discover reads the live header: it adds the account's own columns.
        with live_header_discovery():
            return super().discover(logger, config)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        READ_STOP.reset()
        return super().check(logger, config)

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: Optional[List[AirbyteStateMessage]] = None,
    ) -> Iterator[AirbyteMessage]:
        READ_STOP.reset()
        for message in super().read(logger, config, catalog, state):
            yield with_failure_location(message)


def with_interactive_requests(manifest: Dict[str, Any]) -> Dict[str, Any]:
    """The manifest with `definitions.interactive_requests` applied to the requester and its
    error handler: short timeouts and a small retry budget (the values are in the manifest)."""
    manifest = copy.deepcopy(manifest)
    definitions = manifest["definitions"]
    quick = definitions["interactive_requests"]
    for key in ("connect_timeout_in_seconds", "read_timeout_in_seconds"):
        definitions["requester_base"][key] = quick[key]
    handler = definitions["requester_base"]["error_handler"]
    handler["max_wait_seconds"] = quick["max_wait_seconds"]
    handler["retry_budget_seconds"] = quick["retry_budget_seconds"]
    definitions["error_handler"]["max_retries"] = quick["max_retries"]
    for strategy in definitions["error_handler"]["backoff_strategies"]:
        if strategy["type"] == "ExponentialBackoffStrategy":
            strategy["factor"] = quick["retry_backoff_seconds"]
    return manifest


def with_failure_location(message: AirbyteMessage) -> AirbyteMessage:
    """When the CDK gives up on a rate-limited request it reports "API rate limit exceeded."
    and keeps the error handler's message, which names the stream and window, only in the
    internal message. Put that location back into the message a user reads."""
    error = message.trace.error if message.type == Type.TRACE and message.trace and message.trace.type == TraceType.ERROR else None
    if error is None or _FAILURE_LOCATION.search(error.message or ""):
        return message
    location = _FAILURE_LOCATION.search(error.internal_message or "")
    if location:
        error.message = f"{error.message} {location.group(0)}"
    return message
