"""Record extraction and shaping the manifest cannot say efficiently: the rows of a report,
bucket labels, agent labels, nested columns and the order of a header's columns. They run
once per record, so what is the same for a whole window is computed once per window.
"""

from __future__ import annotations

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
from airbyte_cdk.sources.types import Config, StreamSlice, StreamState

from . import settings
from .calendar import parse_cursor
from .hardening.messages import LOGGER, bounded_text

# `time` labels: only the `day` form ("2021-08-05") is documented; the others are accepted
# in the shapes a report label can reasonably take.
_TIME_LABEL = re.compile(
    r"^(?P<year>\d{4})"
    r"(?:-(?P<month>\d{2})"
    r"(?:-(?P<day>\d{2})"
    r"(?:[ T](?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?)?"
    r")?)?$"
)
# The row field that names a bucket in a report of the session dimension.
BUCKET_LABEL = "time"
_AGENT_LABEL = re.compile(r"^(?P<name>.*)\[(?P<number>[^\[\]]*)\]$", re.DOTALL)


@dataclass
class ReportRowsExtractor(RecordExtractor):
    """The rows of a report, `data.list`, one record each, from the parse the error handler
    kept (errors.py): the body is decoded once. Not the CDK's `DpathExtractor`: its decoder
    parses the body again, and for a path without wildcards it walks every node of it, a
    quarter of the CPU of a year of half-hour buckets (py-spy, scripts/bench.py); indexing
    two keys costs nothing per row. The rows are objects: the handler read the reply as a
    report only then."""

    parameters: InitVar[Mapping[str, Any]]

    def extract_records(self, response: requests.Response) -> Iterable[MutableMapping[Any, Any]]:
        body = response.json()
        data = body.get("data") if isinstance(body, dict) else None
        rows = data.get("list") if isinstance(data, dict) else None
        if isinstance(rows, list):
            yield from rows


# A label's parts, coarsest first: how fine a label is, by the last part it gives.
LABEL_PARTS = ("year", "month", "day", "hour", "minute", "second")


def read_time_label(label: Any) -> tuple[dt.datetime, int] | None:
    """`"2024"`, `"2024-08"`, `"2024-08-05"`, `"2024-08-05 13"`, `"2024-08-05 13:30"` or
    `"2024-08-05 13:30:00"` (space or `T`) as a naive local datetime, with how fine the label
    is (an index into LABEL_PARTS); None if it is none of them."""
    match = _TIME_LABEL.match(label.strip()) if isinstance(label, str) else None
    if match is None:
        return None
    parts = match.groupdict()
    try:
        moment = dt.datetime(  # noqa: DTZ001 - a label is account-local wall-clock time
            int(parts["year"]),
            int(parts["month"] or 1),
            int(parts["day"] or 1),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
        )
    except ValueError:  # e.g. "2024-13-40": the shape matched, the date does not exist
        return None
    return moment, max(index for index, part in enumerate(LABEL_PARTS) if parts[part] is not None)


def parse_time_label(label: Any) -> dt.datetime | None:
    """A label's datetime (`read_time_label`), None if it is none."""
    read = read_time_label(label)
    return read[0] if read else None


def split_agent_label(agent_id: Any) -> tuple[str | None, str | None]:
    """`"在线客服[8029]"` -> (`"在线客服"`, `"8029"`), surrounding whitespace trimmed
    (`"李四[8029] "` too); (None, None) without brackets."""
    match = _AGENT_LABEL.match(agent_id.strip()) if isinstance(agent_id, str) else None
    if match is None:
        return None, None
    return match.group("name").strip(), match.group("number").strip()


@functools.lru_cache(maxsize=64)  # one parse per window being read, not per row
def _period_start(start_time: str) -> str:
    return parse_cursor(start_time).isoformat()


@dataclass
class ReportRowFields(RecordTransformation):
    """The fields every report row gets, by the stream table's `bucket` (docs/design/records.md):
    `dimension`, `period_start` from the `time` label and `report_date` for a `dimension`
    report; `period_start` (the window's day), `report_date`, `agent_name` and `agent_number`
    for a `day` report; then the keys of its `nested_fields` dicts, lifted to the top level
    (never overwriting). Every row has its key: the reply was read as a report only then
    (replies.py)."""

    config: Config
    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._nested_fields = parameters.get("nested_fields") or []
        self._key = parameters["primary_key"][0][0]  # a daily report's agent, "在线客服[8029]"
        self._zone = settings.zone_of(self.config)
        self._dimension = settings.bucket_of(parameters, self.config) if parameters["bucket"] == "dimension" else None

    def transform(
        self,
        record: dict[str, Any],
        config: Config | None = None,
        stream_state: StreamState | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> None:
        if self._dimension is not None:
            moment = parse_time_label(record[BUCKET_LABEL])
            assert moment is not None  # a reply with a label that is none is no report
            record["dimension"] = self._dimension
            record["period_start"] = moment.replace(tzinfo=self._zone).isoformat()
            record["report_date"] = moment.date().isoformat()
        else:
            window: Mapping[str, Any] = stream_slice or {}
            record["period_start"] = period_start = _period_start(window["start_time"])
            record["report_date"] = period_start[:10]
            record["agent_name"], record["agent_number"] = split_agent_label(record[self._key])
        for nested_field in self._nested_fields:
            nested = record.get(nested_field)
            if isinstance(nested, dict):
                for key, value in nested.items():
                    record.setdefault(key, value)


@dataclass
class NumberedDpathExtractor(DpathExtractor):
    """The CDK's `DpathExtractor`, adding each record's 1-based `position` in the extracted
    list: the order of a report header's columns, which no transformation can see."""

    position_field: str = "position"

    def extract_records(self, response: requests.Response) -> Iterable[MutableMapping[Any, Any]]:
        for position, record in enumerate(super().extract_records(response), start=1):
            if isinstance(record, dict):
                record[self.position_field] = position
            yield record


def _numeric_type(prop: Mapping[str, Any]) -> str | None:
    """ "integer" or "number" when a column's schema types it as one of them (and null), else None."""
    kinds = prop.get("type")
    kinds = {kinds} if isinstance(kinds, str) else set(kinds or ())
    kinds.discard("null")
    return kinds.pop() if kinds in ({"integer"}, {"number"}) else None


# A number as JSON writes one, in ASCII digits: not "1_000" or "٣", which Python also reads.
_NUMBER = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$")
_INT64 = 2**63


def as_number(text: str, integer: bool) -> int | float | None:
    """`text` as the number it spells ("34", "33.33", " 7 "), None if it spells none that a
    destination takes; an integer column takes only whole numbers ("34.0" is 34), and a whole
    number must fit in 64 bits."""
    text = text.strip()
    if not _NUMBER.match(text):
        return None
    if text.lstrip("+-").isdigit():
        whole = int(text)
    else:
        value = float(text)
        if not math.isfinite(value) or (integer and not value.is_integer()):
            return None
        if not integer:
            return value
        whole = int(value)
    return whole if -_INT64 <= whole < _INT64 else None


@dataclass
class NumbersAsTheSchemaTypesThem(TypeTransformer):
    """Numeric text in a column the schema types integer or number becomes that number: the
    page shows numbers, but the same service mixes "200" and 120 in one header, and a typed
    destination would null or reject "34". The values of an object column whose schema types
    them as numbers (the account's agent states and satisfaction levels) too, and their
    copies lifted to the top level. Text that spells no number is kept as it came, and named
    in one WARN per column per sync.

    Not the CDK's DefaultSchemaNormalization: it walks every record with a jsonschema
    validator (per value, on the rows' path), turns every integer of a number column into a
    float, and logs a warning per value that does not convert."""

    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._stream = parameters.get("name", "")
        self._warned: set[str] = set()
        self._typed: tuple[int, Mapping[str, str | None], Mapping[str, str]] = (0, {}, {})

    def transform(self, record: dict[str, Any], schema: Mapping[str, Any]) -> None:
        typed, nested = self._columns(schema)
        lifted: dict[str, str] = {}
        for column, kind in nested.items():
            values = record.get(column)
            if isinstance(values, dict):
                self._convert(values, dict.fromkeys(values, kind), f"{column}.")
                lifted.update(dict.fromkeys(values, kind))
        self._convert(record, {**lifted, **typed})

    def _convert(self, values: dict[str, Any], kinds: Mapping[str, str | None], prefix: str = "") -> None:
        for key, value in values.items():
            kind = kinds.get(key)
            if kind is None or type(value) is not str:
                continue
            number = as_number(value, integer=kind == "integer")
            if number is not None:
                values[key] = number
            elif prefix + key not in self._warned:
                self._warned.add(prefix + key)
                LOGGER.warning(
                    "%s: column %s holds %s, which is no number, though the schema types the column as %s; it is kept as "
                    "text, and a typed destination may null or reject it (said once per column per sync).",
                    self._stream,
                    prefix + key,
                    bounded_text(value, 100),
                    kind,
                )

    def _columns(self, schema: Mapping[str, Any]) -> tuple[Mapping[str, str | None], Mapping[str, str]]:
        """Each column's numeric type (None: not numeric), and the object columns whose values
        are numbers; worked out once per schema object (the CDK hands the same schema to every
        record of a window)."""
        if self._typed[0] != id(schema):
            properties = schema.get("properties") or {}
            nested = {
                name: kind
                for name, prop in properties.items()
                if isinstance(prop.get("additionalProperties"), dict)
                and (kind := _numeric_type(prop["additionalProperties"])) is not None
            }
            self._typed = (id(schema), {name: _numeric_type(prop) for name, prop in properties.items()}, nested)
        return self._typed[1], self._typed[2]
