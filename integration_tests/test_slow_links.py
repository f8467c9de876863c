"""Slow links and big bodies, through the command, on the virtual clock: the emulator's
pacing and stalls are `time.sleep`s that move the clock on instead of waiting, and the
attempt deadline's timer fires on it (`VIRTUAL.timers()`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import moor7_emulator.server
from moor7_emulator import Account, Emulator, Faults, ground_truth
from moor7_emulator.server import HUGE_BODY_BYTES

from .conftest import Cli, CliResult, emulator_config
from .test_containment import one_stream_catalog
from .test_setting_changes import assert_union_is_the_ground_truth
from .virtual_clock import VIRTUAL, real_monotonic


@pytest.fixture
def virtual_link(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The emulator's waits and the connector's deadline timers on the virtual clock."""
    VIRTUAL.waits_in(monkeypatch, moor7_emulator.server)
    with VIRTUAL.timers():
        yield


def default_config(api: Emulator, **values: Any) -> dict[str, Any]:
    """The emulator's config with the connector's default retry waits."""
    config = emulator_config(api, **values)
    del config["retry_backoff_seconds"]
    return config


def only(stream: str, truth: dict[str, dict]) -> dict[str, dict]:
    return {name: (rows if name == stream else {}) for name, rows in truth.items()}


def warnings(result: CliResult) -> list[str]:
    return [m["log"]["message"] for m in result.of_type("LOG") if m["log"]["level"] == "WARN"]


def test_a_slow_body_raises_no_clock_warning_and_leaves_the_timestamps_alone(cli: Cli, virtual_link: None) -> None:
    """Each day's answer (5.3 KB) takes 53 s at 100 bytes a second. The server's Date is
    compared with this machine's clock when the headers arrive, not after the body: read after
    the body, it would look 53 s behind, and the next request's timestamp would be moved back."""
    with Emulator(Account(), Faults(body_bytes_per_second=100)) as api:
        config = default_config(api, start_date="2024-03-01", end_date="2024-03-02", max_concurrent_requests=1)
        result = cli.run("read", config, one_stream_catalog("agent_workload"))
        log = list(api.log)
    assert result.exit_code == 0, result.errors()
    assert [r.outcome for r in log] == ["ok", "ok"]
    assert all(50 < r.answered_at - r.received_at < 60 for r in log), "each body took about 53 s"
    assert not [line for line in warnings(result) if "clock" in line], warnings(result)
    first, second = log
    sent_apart = int(second.timestamp or 0) - int(first.timestamp or 0)
    assert abs(sent_apart - (second.received_at - first.received_at)) <= 1, "the timestamps follow the clock"
    assert_union_is_the_ground_truth([result], only("agent_workload", ground_truth(Account(), "2024-03-01", "2024-03-02")))


@pytest.mark.runs_long(4)
def test_a_half_hour_year_over_a_60_kb_per_second_link_reads_exactly_the_apis_rows_a_month_at_a_time(
    cli: Cli, virtual_link: None
) -> None:
    """One request at a time, so each reply has the link's 60 KB/s: a month of half hours
    (at most 1,488 buckets, about 0.7 MB) takes about 11 s, well within an attempt's 60 s. A
    year in one reply (7.9 MB, 131 s) was cut at 60 s every time."""
    with Emulator(Account(), Faults(body_bytes_per_second=60_000)) as api:
        config = default_config(
            api, start_date="2023-01-01", end_date="2023-12-31", dimension="half_hour", max_concurrent_requests=1
        )
        result = cli.run("read", config, one_stream_catalog("session_time"), debug=False)
        log = list(api.log)
    assert result.exit_code == 0, result.errors()
    assert not result.errors(), result.errors()
    assert [r.window[0][:7] for r in log] == [f"2023-{month:02d}" for month in range(1, 13)], "a month a request"
    assert {r.outcome for r in log} == {"ok"}, "no attempt was cut"
    seconds = [r.answered_at - r.received_at for r in log]
    assert max(seconds) < 14, f"each reply takes about 11 s at 60 KB/s: {seconds}"
    assert sum(r.body_bytes for r in log) > 7_500_000
    assert_union_is_the_ground_truth(
        [result], only("session_time", ground_truth(Account(), "2023-01-01", "2023-12-31", "half_hour"))
    )
    assert not [line for line in warnings(result) if "clock" in line]


def test_a_body_that_stalls_after_some_bytes_is_cut_at_the_grace_plus_its_bytes_over_the_floor(
    cli: Cli, virtual_link: None
) -> None:
    """512,000 bytes, then nothing: 60 s of grace and 32 s for those bytes at 16,000 a second.
    The retry, 5 s later by default, reads the day. (On a real clock the socket's 60 s read
    timeout would end this stall first, 60 s after its last byte; virtual seconds do not
    reach it, so the rule's own cut shows.)"""
    with Emulator(Account(), Faults(script=["stall"], stall_after_bytes=512_000)) as api:
        config = default_config(api, start_date="2024-03-01", end_date="2024-03-01")
        result = cli.run("read", config, one_stream_catalog("agent_workload"))
        log = list(api.log)
    assert [r.outcome for r in log] == ["stall", "ok"]
    assert result.exit_code == 0, result.errors()
    assert not result.errors(), result.errors()
    stalled, retry = log
    assert stalled.body_bytes == 512_000
    # The emulator stamps an attempt once it has read its request, which on a loaded machine is
    # tens of milliseconds after the client began it: half a second either side of 97 s.
    assert 96.5 <= retry.received_at - stalled.received_at < 98.5, "cut at 92 s, retried 5 s later"
    cut = [line for line in warnings(result) if "Attempt 1 of" in line]
    assert any("no complete answer within 92 s (512,000 bytes of the body read;" in line for line in cut), cut
    assert_union_is_the_ground_truth([result], only("agent_workload", ground_truth(Account(), "2024-03-01", "2024-03-01")))


def test_a_200_mb_body_fails_its_attempt_after_reading_at_most_the_limit_and_the_retry_reads_the_day(cli: Cli) -> None:
    """The body is chunked, so no Content-Length warns of its size: it is read up to 64 MiB and
    the connection closed, in real time."""
    started = real_monotonic()
    with Emulator(Account(), Faults(script=["huge_body"])) as api:
        result = cli.run(
            "read", emulator_config(api, start_date="2024-03-01", end_date="2024-03-01"), one_stream_catalog("agent_workload")
        )
        log = list(api.log)
    wall = real_monotonic() - started
    assert [r.outcome for r in log] == ["huge_body", "ok"]
    assert result.exit_code == 0, result.errors()
    failed = [line for line in warnings(result) if "Attempt 1 of" in line]
    assert any(
        "The reply's body was larger than the 67,108,864 bytes (64 MiB) this connector reads from one reply, so the attempt "
        "failed once it had read that much." in line
        for line in failed
    ), failed
    # The server wrote what the client read and what the sockets buffer (tens of MB on
    # loopback) before the client hung up: far from the 200 MB.
    print(f"\n200 MB body: the server wrote {log[0].body_bytes:,} bytes before the client hung up; {failed[0][:400]}")
    assert log[0].body_bytes < HUGE_BODY_BYTES / 2, log[0].body_bytes
    assert wall < 30, f"{wall:.1f} s"
    assert_union_is_the_ground_truth([result], only("agent_workload", ground_truth(Account(), "2024-03-01", "2024-03-01")))
