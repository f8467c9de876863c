"""Record extraction and shaping the manifest cannot say efficiently, work done once per window where it can (docs/design/records.md)."""

import datetime as dt
import functools
import math
import re
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import InitVar, dataclass
from typing import Any

import requests

from airbyte_cdk.sources.declarative.extractors.dpath_extractor import DpathExtractor
from airbyte_cdk.sources.declarative.extractors.record_extractor import RecordExtractor
from airbyte_cdk.sources.declarative.extractors.type_transformer import TypeTransformer
from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.types import Config

from . import settings
from .calendar import parse_cursor
from .hardening.messages import LOGGER, bounded_text

# `time` labels, coarsest part first; only the day ("2021-08-05") is documented.
_TIME_LABEL = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[ T](\d{2})(?::(\d{2})(?::(\d{2}))?)?)?)?)?$")
BUCKET_LABEL = "time"  # the row field that names a bucket in a report of the session dimension
_AGENT_LABEL = re.compile(r"^(.*)\[([^\[\]]*)\]$", re.DOTALL)
# A number as JSON writes one, in ASCII digits: not "1_000" or "٣", which Python also reads.
_NUMBER = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$")


@dataclass
class ReportRowsExtractor(RecordExtractor):
    """`data.list`, from the parse the error handler kept; not the CDK's `DpathExtractor` (docs/design/performance.md)."""

    parameters: InitVar[Mapping[str, Any]]

    def extract_records(self, response: requests.Response) -> Iterable[MutableMapping[Any, Any]]:
        yield from (response.json().get("data") or {}).get("list") or ()


def read_time_label(label: Any) -> tuple[dt.datetime, int] | None:
    """`"2024"` to `"2024-08-05 13:30:00"` as a naive local datetime and how fine it is (0: a year to 5: a second), or None."""
    match = _TIME_LABEL.match(label.strip()) if isinstance(label, str) else None
    if match is None:
        return None
    parts = [int(part) for part in match.groups() if part is not None]  # a part is given only after the coarser ones
    year, month, day, hour, minute, second = (*parts, *(1, 1, 0, 0, 0)[len(parts) - 1 :])
    try:
        return dt.datetime(year, month, day, hour, minute, second), len(parts) - 1  # noqa: DTZ001 - account-local wall-clock time
    except ValueError:  # e.g. "2024-13-40": the shape matched, the date does not exist
        return None


def parse_time_label(label: Any) -> dt.datetime | None:
    return read[0] if (read := read_time_label(label)) else None


def split_agent_label(agent_id: Any) -> tuple[str | None, str | None]:
    """`"在线客服[8029] "` -> (`"在线客服"`, `"8029"`); (None, None) without brackets."""
    match = _AGENT_LABEL.match(agent_id.strip()) if isinstance(agent_id, str) else None
    return (match[1].strip(), match[2].strip()) if match else (None, None)


@functools.lru_cache(maxsize=64)  # one parse per window being read, not per row
def _window_day(start_time: str) -> tuple[str, str]:
    return (period_start := parse_cursor(start_time).isoformat()), period_start[:10]


@dataclass
class ReportRowFields(RecordTransformation):
    """The fields every report row gets, by the stream table's `bucket`: rows come keyed and labelled (replies.py), with their window."""

    config: Config
    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._nested_fields = parameters.get("nested_fields") or []
        self._key = parameters["primary_key"][0][0]  # a daily report's agent, "在线客服[8029]"
        self._zone = settings.zone_of(self.config)
        self._dimension = settings.bucket_of(parameters, self.config) if parameters["bucket"] == "dimension" else None

    def transform(self, record: dict[str, Any], config: Any = None, stream_state: Any = None, stream_slice: Any = None) -> None:
        if self._dimension is not None:
            moment = parse_time_label(record[BUCKET_LABEL])
            assert moment is not None  # a reply with a label that is none is no report
            local = moment.replace(tzinfo=self._zone).isoformat()
            record.update(dimension=self._dimension, period_start=local, report_date=moment.date().isoformat())
        else:
            record["period_start"], record["report_date"] = _window_day(stream_slice["start_time"])
            record["agent_name"], record["agent_number"] = split_agent_label(record[self._key])
        for nested in (record.get(name) for name in self._nested_fields):
            if isinstance(nested, dict):
                record.update((key, value) for key, value in nested.items() if key not in record)


class NumberedDpathExtractor(DpathExtractor):
    """The CDK's `DpathExtractor`, adding each record's 1-based `position`: a header's column order, which no transformation sees."""

    def extract_records(self, response: requests.Response) -> Iterable[MutableMapping[Any, Any]]:
        for position, record in enumerate(super().extract_records(response), start=1):
            if isinstance(record, dict):
                record["position"] = position
            yield record


def _numeric_type(prop: Any) -> str | None:
    """ "integer" or "number" when a schema (maybe `additionalProperties: true`) types it as one of them (and null), else None."""
    kinds = prop.get("type") if isinstance(prop, dict) else None
    numeric = ({kinds} if isinstance(kinds, str) else set(kinds or ())) - {"null"}
    return numeric.pop() if numeric in ({"integer"}, {"number"}) else None


def as_number(text: str, integer: bool) -> int | float | None:
    """`text` as the number it spells, None if none a destination takes: an integer column's is whole ("34.0" is 34) in 64 bits."""
    if not _NUMBER.match(text := text.strip()):
        return None
    number = int(text) if text.lstrip("+-").isdigit() else float(text)
    if isinstance(number, float) and not integer:
        return number if math.isfinite(number) else None
    whole = isinstance(number, int) or number.is_integer()  # not inf or nan
    return int(number) if whole and -(2**63) <= number < 2**63 else None


@dataclass
class NumbersAsTheSchemaTypesThem(TypeTransformer):
    """Numeric text in a column the schema types as numbers becomes a number. Not the CDK's DefaultSchemaNormalization: it runs
    a jsonschema validator per value, makes every integer of a number column a float, and warns per value not converted."""

    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name", "")
        self._warned: set[str] = set()
        self._typed: tuple[int, Mapping[str, str | None], Mapping[str, str]] = (0, {}, {})

    def transform(self, record: dict[str, Any], schema: Mapping[str, Any]) -> None:
        if self._typed[0] != id(schema):  # the same schema object for every record of a window
            properties = schema.get("properties") or {}
            objects = {name: kind for name, p in properties.items() if (kind := _numeric_type(p.get("additionalProperties")))}
            self._typed = (id(schema), {name: _numeric_type(prop) for name, prop in properties.items()}, objects)
        _, typed, nested = self._typed
        lifted: dict[str, str] = {}
        for column, kind in nested.items():
            if isinstance(values := record.get(column), dict):
                self._convert(values, dict.fromkeys(values, kind), f"{column}.")
                lifted.update(dict.fromkeys(values, kind))
        self._convert(record, {**lifted, **typed})

    def _convert(self, values: dict[str, Any], kinds: Mapping[str, str | None], prefix: str = "") -> None:
        for key, value in values.items():
            if (kind := kinds.get(key)) is None or type(value) is not str:
                continue
            if (number := as_number(value, integer=kind == "integer")) is not None:
                values[key] = number
            elif key not in self._warned:  # a lifted column is said once, by its nested name
                self._warned.add(key)
                message = f"{self._stream}: column {prefix}{key} holds {bounded_text(value, 100)}, which is no number, though the schema types the column as {kind}; it is kept as text, and a typed destination may null or reject it (said once per column per sync)."
                LOGGER.warning(message)
