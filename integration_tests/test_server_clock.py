"""Faults end in the right data or a clear error: the server's clock."""

from __future__ import annotations

import re

import pytest

from moor7_emulator import Account, Emulator, Faults, ground_truth

from .conftest import Cli, committed_catalog, emulator_config
from .reliability_checks import STREAMS
from .test_end_to_end import assert_records_equal_ground_truth


@pytest.mark.parametrize("offset_seconds", [7, 480, -720], ids=["a few seconds", "+8 minutes", "-12 minutes"])
def test_a_read_survives_a_server_clock_that_is_off(cli: Cli, offset_seconds: float) -> None:
    with Emulator(Account(), Faults(clock_offset_seconds=offset_seconds)) as api:
        config = emulator_config(api, start_date="2024-07-01", end_date="2024-07-06")
        result = cli.run("read", config, committed_catalog())
        outcomes = [r.outcome for r in api.log]
    assert result.exit_code == 0, result.errors()
    assert not result.errors(), result.errors()
    truth = ground_truth(api.account, "2024-07-01", "2024-07-06", "day")
    assert_records_equal_ground_truth(result, truth, {s: {} for s in STREAMS})
    rejected = outcomes.count("timestamp_skew")
    if abs(offset_seconds) < 300:
        assert rejected == 0
    else:
        # Each stream learns the offset from its first rejected answer; requests already in
        # flight may be rejected once too, never more than the concurrency allows.
        assert 1 <= rejected <= 3 * 4
        warnings = [m["log"]["message"] for m in result.of_type("LOG") if "clock differs" in m["log"]["message"]]
        measured = int(re.search(r"by ([+-]\d+) seconds", warnings[0]).group(1))
        assert abs(measured - offset_seconds) <= 2, "Date has one-second resolution"
        assert f"about {abs(offset_seconds) // 60} minutes" in warnings[0]
    assert "replay" not in outcomes


def test_a_clock_that_cannot_be_corrected_stops_at_once_and_says_so(cli: Cli) -> None:
    with Emulator(Account(), Faults(clock_offset_seconds=480, send_date_header=False)) as api:
        result = cli.run("check", emulator_config(api))
        outcomes = [r.outcome for r in api.log]
    (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
    assert status["status"] == "FAILED"
    assert "clock" in status["message"]
    assert "more than 5 minutes" in status["message"]
    assert "NTP" in status["message"]
    assert outcomes == ["timestamp_skew"], "not retried: without a Date header nothing would change"
