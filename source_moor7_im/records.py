"""Record extraction and shaping that the manifest cannot say efficiently: the rows of a
report, label parsing with a logged fallback, lifting sparse nested dicts and splitting
`agentId`.

These run once per record, so they avoid per-record interpolation; what is the same for
a whole slice is computed once per slice.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import InitVar, dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, MutableMapping, Optional, Tuple
from zoneinfo import ZoneInfo

import requests

from airbyte_cdk.sources.declarative.decoders import Decoder, JsonDecoder
from airbyte_cdk.sources.declarative.extractors.record_extractor import RecordExtractor
from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.types import Config, StreamSlice, StreamState

from .settings import DEFAULT_DIMENSION, DEFAULT_TIMEZONE

LOGGER = logging.getLogger("airbyte.source_moor7_im")

# `time` labels: only the `day` form ("2021-08-05") is documented; the others are accepted
# in the shapes a report label can reasonably take.
_TIME_LABEL = re.compile(
    r"^(?P<year>\d{4})"
    r"(?:-(?P<month>\d{2})"
    r"(?:-(?P<day>\d{2})"
    r"(?:[ T](?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2}))?)?)?"
    r")?)?$"
)
_AGENT_LABEL = re.compile(r"^(?P<name>.*)\[(?P<number>[^\[\]]*)\]$", re.DOTALL)


@dataclass
class ReportRowsExtractor(RecordExtractor):
    """The rows of a report, `data.list` of the 7moor envelope, one record each.

    The CDK's `DpathExtractor` says the same with `field_path: [data, list]`, but for a
    path without wildcards it calls `dpath.get`, which walks every node of the body to
    find one key: a quarter of the CPU of reading a year of half-hour buckets (py-spy,
    scripts/bench.py). Indexing the two keys costs nothing per row.
    """

    parameters: InitVar[Mapping[str, Any]]
    decoder: Decoder = field(default_factory=lambda: JsonDecoder(parameters={}))

    def extract_records(self, response: requests.Response) -> Iterable[MutableMapping[Any, Any]]:
        for body in self.decoder.decode(response):
            data = body.get("data") if isinstance(body, dict) else None
            rows = data.get("list") if isinstance(data, dict) else None
            if isinstance(rows, list):
                yield from rows


def parse_time_label(label: Any) -> Optional[dt.datetime]:
    """`"2024"`, `"2024-08"`, `"2024-08-05"`, `"2024-08-05 13"`, `"2024-08-05 13:30"` or
    `"2024-08-05 13:30:00"` (space or `T`) as a naive local datetime; None if it is none of them."""
    match = _TIME_LABEL.match(label.strip()) if isinstance(label, str) else None
    if match is None:
        return None
    parts = match.groupdict()
    try:
        return dt.datetime(
            int(parts["year"]),
            int(parts["month"] or 1),
            int(parts["day"] or 1),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
        )
    except ValueError:  # e.g. "2024-13-40": the shape matched, the date does not exist
        return None


def split_agent_label(agent_id: Any) -> Tuple[Optional[str], Optional[str]]:
    """`"在线客服[8029]"` -> (`"在线客服"`, `"8029"`); (None, None) without brackets."""
    match = _AGENT_LABEL.match(agent_id) if isinstance(agent_id, str) else None
    if match is None:
        return None, None
    return match.group("name"), match.group("number")


def _slice_start(stream_slice: Optional[StreamSlice]) -> dt.datetime:
    value = (stream_slice or {}).get("start_time")
    if value is None:
        raise ValueError("record transformation needs a stream slice with a start_time")
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")


@dataclass
class SessionBucketFields(RecordTransformation):
    """Adds `dimension` and `period_start` (the bucket start with the account's UTC offset,
    parsed from `time`) to a session-report row; `time` is kept as the API gave it.

    A label that cannot be parsed does not drop the row: it gets the window's start, and a
    warning names the label and the window.
    """

    config: Config
    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._zone = ZoneInfo(self.config.get("timezone", DEFAULT_TIMEZONE))
        self._dimension = self.config.get("dimension", DEFAULT_DIMENSION)

    def transform(
        self,
        record: Dict[str, Any],
        config: Optional[Config] = None,
        stream_state: Optional[StreamState] = None,
        stream_slice: Optional[StreamSlice] = None,
    ) -> None:
        label = record.get("time")
        parsed = parse_time_label(label)
        if parsed is not None:
            period_start = parsed.replace(tzinfo=self._zone).isoformat()
        else:
            period_start = _slice_start(stream_slice).isoformat()
            LOGGER.warning(
                "session_time: cannot read the bucket label time=%r in the window starting %s; "
                "the row is kept with period_start set to the window start.",
                label,
                period_start,
            )
        record["dimension"] = self._dimension
        record["period_start"] = period_start


@dataclass
class AgentDayFields(RecordTransformation):
    """Adds `period_start` (the day the request covered), `agent_name` and `agent_number`
    (from `agentId`, the agent's display name and number, e.g. `"在线客服[8029]"`)."""

    parameters: InitVar[Mapping[str, Any]]
    _period_by_slice: Dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        pass

    def transform(
        self,
        record: Dict[str, Any],
        config: Optional[Config] = None,
        stream_state: Optional[StreamState] = None,
        stream_slice: Optional[StreamSlice] = None,
    ) -> None:
        slice_start = (stream_slice or {}).get("start_time")
        period_start = self._period_by_slice.get(slice_start)
        if period_start is None:
            period_start = _slice_start(stream_slice).isoformat()
            if len(self._period_by_slice) > 64:  # slices being read now, not the whole range
                self._period_by_slice.clear()
            self._period_by_slice[slice_start] = period_start
        record["period_start"] = period_start
        record["agent_name"], record["agent_number"] = split_agent_label(record.get("agentId"))


@dataclass
class LiftNestedColumns(RecordTransformation):
    """Copies the keys of nested report dicts (`everyTimeLength`, `satisfaction`) to the top
    level, where the report header lists them as columns; the dict itself stays as returned.
    A top-level key of the same name is never overwritten."""

    nested_fields: List[str]
    parameters: InitVar[Mapping[str, Any]]

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        pass

    def transform(
        self,
        record: Dict[str, Any],
        config: Optional[Config] = None,
        stream_state: Optional[StreamState] = None,
        stream_slice: Optional[StreamSlice] = None,
    ) -> None:
        for nested_field in self.nested_fields:
            nested = record.get(nested_field)
            if isinstance(nested, dict):
                for key, value in nested.items():
                    record.setdefault(key, value)
