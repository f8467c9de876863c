"""Concurrency and the request-rate cap: bounded as configured, and the rows exact."""

from __future__ import annotations

from moor7_emulator import Account, Emulator, Faults, ground_truth

from .conftest import Cli, committed_catalog, emulator_config
from .reliability_checks import STREAMS
from .test_end_to_end import assert_records_equal_ground_truth


def _most_in_flight(log) -> int:
    events = sorted([(e.received_at, 1) for e in log] + [(e.answered_at, -1) for e in log])
    in_flight = most = 0
    for _, change in events:
        in_flight += change
        most = max(most, in_flight)
    return most


def test_windows_are_read_concurrently_up_to_the_configured_bound_and_the_rows_are_exact(cli: Cli) -> None:
    # Latency keeps each request open long enough for the others to overlap it.
    with Emulator(Account(), Faults(latency_seconds=0.05)) as api:
        config = emulator_config(api, start_date="2024-03-01", end_date="2024-03-31", max_concurrent_requests=6)
        result = cli.run("read", config, committed_catalog())
        log = list(api.log)
    assert result.exit_code == 0, result.errors()
    assert not result.errors(), result.errors()
    truth = ground_truth(api.account, "2024-03-01", "2024-03-31", "day")
    assert_records_equal_ground_truth(result, truth, {s: {} for s in STREAMS})
    assert len(log) == 1 + 2 * 31, "one request per window, none repeated"
    most = _most_in_flight(log)
    assert 3 <= most <= 6, f"{most} requests were in flight at once"


def test_a_requests_per_second_cap_spreads_the_requests_out(cli: Cli) -> None:
    cap = 4
    with Emulator(Account(), Faults()) as api:
        config = emulator_config(api, start_date="2024-02-01", end_date="2024-02-08", max_requests_per_second=cap)
        result = cli.run("read", config, committed_catalog())
        received = sorted(e.received_at for e in api.log)
    assert result.exit_code == 0, result.errors()
    assert not result.errors(), result.errors()
    # 17 requests at 4 per second: the first 4 at once, then at least (17 - 4) / 4 s more.
    # (A lower bound only: a slow machine can take longer, never shorter.)
    assert len(received) == 17
    assert received[-1] - received[0] >= (len(received) - cap) / cap * 0.9
