"""The connector: the declarative manifest, with the live report header turned on for discover."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Iterator, List, Mapping, Optional

from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    FailureType,
    Status,
    TraceType,
    Type,
)
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

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

    def _configured(
        self,
        config: Mapping[str, Any],
        catalog: Optional[ConfiguredAirbyteCatalog] = None,
        state: Optional[List[AirbyteStateMessage]] = None,
    ) -> "SourceMoor7Im":
        """The source to run a command with. The declarative source builds its streams,
        concurrency and state from the config, catalog and state it was constructed with
        (it ignores the arguments of check/discover/read), and the config transformation
        that computes `_sync_windows` runs only then. A source constructed without a config
        (as `airbyte-cdk connector test` constructs it, before it has a config) therefore
        builds a configured one for the command; one constructed with a config is used as is."""
        if self._config or not config:
            return self
        return SourceMoor7Im(catalog=catalog, config=config, state=state)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        try:
            source = self._configured(config)
        except AirbyteTracedException as error:
            if error.failure_type != FailureType.config_error:
                raise
            # Airbyte expects check to answer a bad config with a failed status (as run.py does).
            return AirbyteConnectionStatus(status=Status.FAILED, message=error.message)
        return super().check(logger, config) if source is self else source.check(logger, config)

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        source = self._configured(config)
        if source is not self:
            return source.discover(logger, config)
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
        source = self._configured(config, catalog, state)
        if source is not self:
            yield from source.read(logger, config, catalog, state)
            return
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
