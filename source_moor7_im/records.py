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
from airbyte_cdk.sources.types import Config

from . import settings
from .calendar import parse_cursor
from .hardening.messages import LOGGER, bounded_text

# `time` labels, their parts coarsest first (year, month, day, hour, minute, second): only the
# `day` form ("2021-08-05") is documented; the others are accepted in the shapes a report label
# can reasonably take.
_TIME_LABEL = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[ T](\d{2})(?::(\d{2})(?::(\d{2}))?)?)?)?)?$")
# The row field that names a bucket in a report of the session dimension.
BUCKET_LABEL = "time"
# An agent label: its name, then its number in brackets.
_AGENT_LABEL = re.compile(r"^(.*)\[([^\[\]]*)\]$", re.DOTALL)


@dataclass
class ReportRowsExtractor(RecordExtractor):
    """The rows of a report, `data.list`, one record each, from the parse the error handler
    kept (replies.py): the body is decoded once. Not the CDK's `DpathExtractor`: its decoder
    parses the body again, and for a path without wildcards it walks every node of it, a
    quarter of the CPU of a year of half-hour buckets (py-spy, scripts/bench.py); indexing
    two keys costs nothing per row. The handler read the reply as a report only when `data`
    is an object and `data.list` a list of objects; a null or missing one gives no rows."""

    parameters: InitVar[Mapping[str, Any]]

    def extract_records(self, response: requests.Response) -> Iterable[MutableMapping[Any, Any]]:
        yield from (response.json().get("data") or {}).get("list") or ()


def read_time_label(label: Any) -> tuple[dt.datetime, int] | None:
    """`"2024"`, `"2024-08"`, `"2024-08-05"`, `"2024-08-05 13"`, `"2024-08-05 13:30"` or
    `"2024-08-05 13:30:00"` (space or `T`) as a naive local datetime, with how fine the label
    is (the index of its last part: 0 for a year to 5 for a second); None if it is none of them."""
    match = _TIME_LABEL.match(label.strip()) if isinstance(label, str) else None
    if match is None:
        return None
    parts = [int(part) for part in match.groups() if part is not None]  # a part is given only after the coarser ones
    # a month and a day missing are the first, a time missing is midnight
    year, month, day, hour, minute, second = (*parts, *(1, 1, 0, 0, 0)[len(parts) - 1 :])
    try:
        return dt.datetime(year, month, day, hour, minute, second), len(parts) - 1  # noqa: DTZ001 - account-local wall-clock time
    except ValueError:  # e.g. "2024-13-40": the shape matched, the date does not exist
        return None


def parse_time_label(label: Any) -> dt.datetime | None:
    """A label's datetime (`read_time_label`), None if it is none."""
    read = read_time_label(label)
    return read[0] if read else None


def split_agent_label(agent_id: Any) -> tuple[str | None, str | None]:
    """`"在线客服[8029]"` -> (`"在线客服"`, `"8029"`), surrounding whitespace trimmed
    (`"李四[8029] "` too); (None, None) without brackets."""
    match = _AGENT_LABEL.match(agent_id.strip()) if isinstance(agent_id, str) else None
    return (match[1].strip(), match[2].strip()) if match else (None, None)


@functools.lru_cache(maxsize=64)  # one parse per window being read, not per row
def _window_day(start_time: str) -> tuple[str, str]:
    """A window's `period_start` and `report_date`."""
    return (period_start := parse_cursor(start_time).isoformat()), period_start[:10]


@dataclass
class ReportRowFields(RecordTransformation):
    """The fields every report row gets, by the stream table's `bucket` (docs/design/records.md):
    `dimension`, `period_start` from the `time` label and `report_date` for a `dimension`
    report; `period_start` (the window's day), `report_date`, `agent_name` and `agent_number`
    for a `day` report; then the keys of its `nested_fields` dicts, lifted to the top level
    (never overwriting). Every row has its key and a readable label: the reply was read as a
    report only then (replies.py); every row comes with its window (the cursor's slice)."""

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


def _numeric_type(prop: Any) -> str | None:
    """ "integer" or "number" when a schema (a column's, or its values') types it as one of them
    (and null), else None; None for a schema that is no object (`additionalProperties: true`)."""
    kinds = prop.get("type") if isinstance(prop, dict) else None
    numeric = ({kinds} if isinstance(kinds, str) else set(kinds or ())) - {"null"}
    return numeric.pop() if numeric in ({"integer"}, {"number"}) else None


# A number as JSON writes one, in ASCII digits: not "1_000" or "٣", which Python also reads.
_NUMBER = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$")


def as_number(text: str, integer: bool) -> int | float | None:
    """`text` as the number it spells ("34", "33.33", " 7 "), None if it spells none that a
    destination takes; an integer column takes only whole numbers ("34.0" is 34), and a whole
    number must fit in 64 bits."""
    text = text.strip()
    if not _NUMBER.match(text):
        return None
    number = int(text) if text.lstrip("+-").isdigit() else float(text)
    if isinstance(number, float) and (not math.isfinite(number) or (integer and not number.is_integer())):
        return None
    if isinstance(number, float) and not integer:
        return number
    return int(number) if -(2**63) <= number < 2**63 else None


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
            if isinstance(values := record.get(column), dict):
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
                    f"{self._stream}: column {prefix}{key} holds {bounded_text(value, 100)}, which is no number, though the "
                    f"schema types the column as {kind}; it is kept as text, and a typed destination may null or reject it "
                    "(said once per column per sync)."
                )

    def _columns(self, schema: Mapping[str, Any]) -> tuple[Mapping[str, str | None], Mapping[str, str]]:
        """Each column's numeric type (None: not numeric), and the object columns whose values
        are numbers; worked out once per schema object (the CDK hands the same schema to every
        record of a window)."""
        if self._typed[0] != id(schema):
            properties = schema.get("properties") or {}
            nested = {
                name: kind for name, prop in properties.items() if (kind := _numeric_type(prop.get("additionalProperties")))
            }
            self._typed = (id(schema), {name: _numeric_type(prop) for name, prop in properties.items()}, nested)
        return self._typed[1], self._typed[2]
