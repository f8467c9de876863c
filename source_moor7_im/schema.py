"""Stream schemas: the documented columns from `schemas/`, plus at `discover` the account's own
columns (a UUID `prop` and a `label`, which the CDK's `DynamicSchemaLoader` would leave untitled)
from the live report header: a request per stream, so only inside `live_header_discovery()`."""

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from dataclasses import InitVar, dataclass
from typing import Any

from airbyte_cdk.sources.declarative.requesters.requester import Requester
from airbyte_cdk.sources.declarative.schema.json_file_schema_loader import JsonFileSchemaLoader
from airbyte_cdk.sources.declarative.schema.schema_loader import SchemaLoader
from airbyte_cdk.sources.types import Config, StreamSlice

from .hardening.messages import LOGGER, Refused

# Inside `live_header_discovery`: the refusals met so far (a list), else None.
_LIVE_HEADER: contextvars.ContextVar[list[Refused] | None] = contextvars.ContextVar("moor7_live_header_discovery", default=None)


@contextlib.contextmanager
def live_header_discovery() -> Iterator[list[Refused]]:
    """Schemas read inside add the live header's columns; a report the account may not read keeps
    its documented schema, with a WARN, and its refusal joins the list given."""
    refusals: list[Refused] = []
    token = _LIVE_HEADER.set(refusals)
    try:
        yield refusals
    finally:
        _LIVE_HEADER.reset(token)


@dataclass
class ReportHeaderSchemaLoader(SchemaLoader):
    """The static schema, extended at discover with the columns of the live header of the
    header day (calendar.py), read as report_columns reads it."""

    static_schema: JsonFileSchemaLoader
    requester: Requester
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    name: str = "report"  # the stream's, from its $parameters

    def get_json_schema(self) -> Mapping[str, Any]:
        schema = dict(self.static_schema.get_json_schema())  # the loader reads its file afresh on each call
        if (refusals := _LIVE_HEADER.get()) is None:
            return schema
        try:  # a slice without bounds: the manifest's createTime reads the header day then
            response = self.requester.send_request(stream_slice=StreamSlice(partition={}, cursor_slice={}))
        except Refused as refusal:
            refusals.append(refusal)
            LOGGER.warning(
                f"{self.name}: the live report header could not be read, so the stream keeps its documented columns (the account's own columns are missing). {refusal.message}"
            )
            return schema
        header = (response.json().get("data") or {}).get("header") if response is not None else []
        properties = schema.setdefault("properties", {})
        added = []
        for column in header if isinstance(header, list) else []:
            if isinstance(column, dict) and isinstance(prop := column.get("prop"), str) and prop and prop not in properties:
                title = column["label"] if isinstance(column.get("label"), str) and column["label"] else prop
                description = f"Account-defined report column {title} (header prop {prop})."
                properties[prop] = {"type": ["null", "number"], "title": title, "description": description}
                added.append(f"{prop} ({title})")
        if added:
            LOGGER.info("%s: the live report header adds %d account columns: %s", self.name, len(added), ", ".join(added))
        return schema
