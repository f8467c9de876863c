"""Slow links and big bodies, through the command, on the virtual clock: the emulator's
pacing and stalls are `time.sleep`s that move the clock on instead of waiting, and the
attempt deadline's timer fires on it (`VIRTUAL.timers()`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import moor7_emulator.server
from moor7_emulator import Account, Emulator, Faults, ground_truth

from .conftest import Cli, CliResult, emulator_config
from .test_containment import one_stream_catalog
from .test_setting_changes import assert_union_is_the_ground_truth
from .virtual_clock import VIRTUAL


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
