"""The connector: the declarative manifest, with the live report header turned on for discover."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, List, Mapping, Optional

from airbyte_cdk.models import AirbyteCatalog, AirbyteStateMessage, ConfiguredAirbyteCatalog
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource

from .schema import live_header_discovery

# An absolute path: YamlDeclarativeSource opens a relative path against the working
# directory first, where an unrelated manifest.yaml could be picked up.
MANIFEST_PATH = str(Path(__file__).with_name("manifest.yaml"))


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
