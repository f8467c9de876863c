"""Airbyte's progress bar: ESTIMATE traces that the platform can store (rows and bytes, always
both) and a user can trust (the estimate in force when half of a stream's records are out is
close to what the stream turns out to hold), and a progress line on a long read."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from airbyte_protocol.models import AirbyteMessage as ProtocolMessage

import moor7_emulator.server
from moor7_emulator import Account, Emulator, Faults

from .conftest import Cli, CliResult, committed_catalog, emulator_config
from .reliability_checks import STREAMS
from .test_containment import one_stream_catalog
from .virtual_clock import VIRTUAL


def estimates_and_records(result: CliResult, stream: str) -> tuple[list[tuple[int, int, int]], list[dict[str, Any]]]:
    """The stream's estimates as (rows, bytes, records emitted before it), and its records."""
    estimates, records = [], []
    for message in result.messages:
        if message["type"] == "RECORD" and message["record"]["stream"] == stream:
            records.append(message["record"]["data"])
        elif message["type"] == "TRACE" and message["trace"]["type"] == "ESTIMATE":
            ProtocolMessage.model_validate(message)  # the protocol's own model accepts it
            estimate = message["trace"]["estimate"]
            assert estimate["type"] == "STREAM"
            # The platform stores both into primitive counters: neither may be missing.
            assert isinstance(estimate["row_estimate"], int), estimate
            assert isinstance(estimate["byte_estimate"], int), estimate
            if estimate["name"] == stream:
                estimates.append((estimate["row_estimate"], estimate["byte_estimate"], len(records)))
    return estimates, records


def assert_estimates_are_sound(result: CliResult, stream: str) -> str:
    estimates, records = estimates_and_records(result, stream)
    assert estimates, f"{stream} sent no ESTIMATE"
    assert estimates[0][2] == 0, f"{stream}: the first estimate came after {estimates[0][2]} of its records"
    rows = len(records)
    size = sum(len(orjson.dumps(record)) for record in records)
    half = math.ceil(rows / 2)
    in_force = [e for e in estimates if e[2] < half][-1]
    figures = (
        f"{stream}: {rows} rows, {size} bytes; at half ({half} rows out) the estimate was {in_force[0]} rows, "
        f"{in_force[1]} bytes; {len(estimates)} estimates sent"
    )
    assert abs(in_force[0] - rows) <= 0.25 * rows, figures
    assert abs(in_force[1] - size) <= 0.30 * size, figures
    return figures


@pytest.mark.runs_long(8)
@pytest.mark.parametrize(
    ("start", "end", "dimension", "account", "streams"),
    [
        ("2024-01-01", "2024-01-31", "half_hour", Account(omit_empty_buckets=True), list(STREAMS)),
        ("2023-01-01", "2023-12-31", "hour", Account(omit_empty_buckets=True), ["session_time"]),
        ("2023-01-01", "2023-12-31", "day", Account(omit_empty_buckets=True, first_day="2023-07-01"), list(STREAMS)),
    ],
    ids=["month of half hours, empty buckets left out", "year of hours, empty buckets left out", "year of days, data from July"],
)
def test_the_estimate_in_force_at_half_of_each_streams_records_is_close_to_what_it_holds(
    cli: Cli, start: str, end: str, dimension: str, account: Account, streams: list[str]
) -> None:
    with Emulator(account, Faults()) as api:
        config = emulator_config(api, start_date=start, end_date=end, dimension=dimension)
        catalog = committed_catalog() if len(streams) > 1 else one_stream_catalog(streams[0])
        result = cli.run("read", config, catalog)
    assert result.exit_code == 0, result.errors()
    for stream in streams:
        print("\n" + assert_estimates_are_sound(result, stream))


def test_a_long_read_says_how_far_it_is(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """The emulator's latency is waited on the virtual clock: the read is long in virtual time."""
    VIRTUAL.waits_in(monkeypatch, moor7_emulator.server)
    with Emulator(Account(), Faults(latency_seconds=0.08)) as api:
        config = emulator_config(api, start_date="2024-01-01", end_date="2024-06-30")
        result = cli.run("read", config, one_stream_catalog("agent_workload"))
    assert result.exit_code == 0, result.errors()
    progress = [m["log"]["message"] for m in result.of_type("LOG") if m["log"]["message"].startswith("Progress: ")]
    assert progress, "a read of more than 10 s logs its progress"
    assert all("windows" in line for line in progress)
    print("\n" + progress[-1])
