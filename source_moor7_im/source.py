"""The connector: the declarative manifest, with the live report header turned on for discover."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Iterator, List, Mapping, Optional

from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    TraceType,
    Type,
)
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource

from .schema import live_header_discovery

# An absolute path: YamlDeclarativeSource opens a relative path against the working
# directory first, where an unrelated manifest.yaml could be picked up.
MANIFEST_PATH = str(Path(__file__).with_name("manifest.yaml"))

# "[stream agent_quality, createTime 2024-08-02 00:00:00 to 2024-08-02 23:59:59]", as
# source_moor7_im.errors.ReportErrorHandler writes it.
_FAILURE_LOCATION = re.compile(r"\[stream [^\]]+\]")


class SourceMoor7Im(YamlDeclarativeSource):
    def __init__(
        self,
        catalog: Optional[ConfiguredAirbyteCatalog] = None,
        config: Optional[Mapping[str, Any]] = None,
        state: Optional[List[AirbyteStateMessage]] = None,
        config_path: Optional[str] = None,
    ) -> None:
        super().__init__(path_to_yaml=MANIFEST_PATH, catalog=catalog, config=config, state=state, config_path=config_path)

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        # Only discover reads the live header: it adds the account's own columns.
        with live_header_discovery():
            return super().discover(logger, config)

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: Optional[List[AirbyteStateMessage]] = None,
    ) -> Iterator[AirbyteMessage]:
        for message in super().read(logger, config, catalog, state):
            yield with_failure_location(message)


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
