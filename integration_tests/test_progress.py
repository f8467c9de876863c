"""Airbyte's progress bar: an ESTIMATE trace per stream, within 20% of the rows the read emits,
and a progress line on a long read."""

from __future__ import annotations

import pytest
from airbyte_protocol.models import AirbyteMessage as ProtocolMessage

import moor7_emulator.server
from moor7_emulator import Account, Emulator, Faults

from .conftest import Cli, CliResult, committed_catalog, emulator_config
from .reliability_checks import STREAMS
from .virtual_clock import VIRTUAL


def last_estimates(result: CliResult) -> dict[str, int]:
    estimates = [m for m in result.of_type("TRACE") if m["trace"]["type"] == "ESTIMATE"]
    for message in estimates:
        ProtocolMessage.model_validate(message)  # the protocol's own model accepts it
        assert message["trace"]["estimate"]["type"] == "STREAM"
    return {m["trace"]["estimate"]["name"]: m["trace"]["estimate"]["row_estimate"] for m in estimates}


@pytest.mark.runs_long(8)
@pytest.mark.parametrize(
    ("start", "end", "dimension", "latency"),
    [("2024-01-01", "2024-01-31", "hour", 0.0), ("2023-01-01", "2023-12-31", "day", 0.08)],
    ids=["one month", "one year"],
)
def test_each_stream_says_its_expected_rows_within_20_percent_and_a_long_read_says_how_far_it_is(
    cli: Cli, start: str, end: str, dimension: str, latency: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator's latency is waited on the virtual clock: the read is long in virtual time."""
    VIRTUAL.waits_in(monkeypatch, moor7_emulator.server)
    with Emulator(Account(), Faults(latency_seconds=latency)) as api:
        result = cli.run("read", emulator_config(api, start_date=start, end_date=end, dimension=dimension), committed_catalog())
    assert result.exit_code == 0, result.errors()
    assert not result.errors(), result.errors()
    estimates = last_estimates(result)
    for stream in STREAMS:
        emitted = len(result.records(stream))
        print(f"\n{start}..{end} {stream}: estimate {estimates.get(stream)}, emitted {emitted}")
        assert stream in estimates, f"{stream} sent no ESTIMATE"
        assert abs(estimates[stream] - emitted) <= 0.2 * emitted
    first_estimate = next(i for i, m in enumerate(result.messages) if m["type"] == "TRACE" and m["trace"]["type"] == "ESTIMATE")
    first_record = next(i for i, m in enumerate(result.messages) if m["type"] == "RECORD")
    assert first_estimate < len(result.messages) // 2
    assert first_record < len(result.messages)
    progress = [m["log"]["message"] for m in result.of_type("LOG") if m["log"]["message"].startswith("Progress: ")]
    if latency:
        assert progress, "a read of more than 10 s logs its progress"
        assert all("windows" in line for line in progress)
        print("\n" + progress[-1])
