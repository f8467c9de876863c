"""A read killed at random points and resumed from the last state it emitted loses nothing:
the union of the runs is exactly the API's rows."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Mapping
from typing import Any

import pytest

from moor7_emulator import Account, Emulator, Faults, ground_truth

from .conftest import Cli, assert_no_secret, configured_catalog, emulator_config
from .reliability_checks import (
    STREAMS,
    assert_is_the_apis_row,
    assert_state_never_passes_unemitted_records,
    assert_the_apis_keys,
    cursor_of,
    union_of_records,
)

START, END = "2024-02-01", "2024-04-30"  # 90 days: 90 windows per agent stream


def _read_until_killed(
    cli: Cli, config: Mapping[str, Any], catalog: Mapping[str, Any], state: list[Any] | None, kill_after_records: int | None
) -> tuple[list[dict[str, Any]], bool]:
    """Run `read`, SIGKILL it once it has printed `kill_after_records` records (None: let it
    finish). Returns what it printed before it died, and whether it finished by itself."""
    process = subprocess.Popen(
        cli.arguments("read", config, catalog, state), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cli.workdir
    )
    messages: list[dict[str, Any]] = []
    records = 0
    killed = False
    assert process.stdout is not None
    for line in process.stdout:  # every whole line is UTF-8; json.loads decodes it strictly
        if not line.startswith(b"{"):
            continue
        message = json.loads(line)
        messages.append(message)
        records += message["type"] == "RECORD"
        if kill_after_records is not None and records >= kill_after_records:
            os.kill(process.pid, signal.SIGKILL)
            killed = True
            break
    # What follows the kill starts wherever the pipe's buffer did, maybe inside a character.
    stdout_rest, stderr = (text.decode("utf-8", "replace") for text in process.communicate(timeout=300))
    if killed:
        time.sleep(0.2)  # let the emulator log what the dead process had already sent
    assert_no_secret(config, json.dumps(messages) + stdout_rest + stderr)
    finished = not killed and process.returncode == 0
    assert killed or finished, f"the read failed by itself: {stderr[-2000:]}"
    return messages, finished


def _last_states(messages: list[dict[str, Any]], previous: dict[str, Any]) -> dict[str, Any]:
    states = dict(previous)
    for message in messages:
        if message["type"] == "STATE":
            states[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]
    return states


@pytest.mark.runs_long(15)
@pytest.mark.parametrize("seed", [11, 29, 47])
def test_a_read_killed_at_random_points_resumes_from_its_last_state_and_loses_nothing(
    installed_cli: Cli, cli: Cli, seed: int
) -> None:
    """SIGKILL needs the installed command in a process of its own; discover and the last,
    unkilled run run in this one."""
    chooser = random.Random(seed)
    # A little latency so that windows are in flight, and out of order, when the kill lands.
    with Emulator(Account(), Faults(latency_seconds=0.01)) as api:
        config = emulator_config(api, start_date=START, end_date=END, lookback_days=0, max_concurrent_requests=4)
        catalog = configured_catalog(cli.run("discover", config).of_type("CATALOG")[0]["catalog"])
        truth = ground_truth(api.account, START, END, "day")
        total = sum(len(rows) for rows in truth.values())

        runs: list[list[dict[str, Any]]] = []
        states: dict[str, Any] = {}
        finished = False
        kills = 0
        while not finished:
            assert len(runs) < 12, "the reads make no progress"
            api.clear_log()
            # Three kills, anywhere from the first record to half of what is left; then let it finish.
            remaining = total - sum(len(rows) for rows in union_of_records(runs).values())
            kill_after = chooser.randint(1, max(1, remaining // 2)) if kills < 3 else None
            state = list(states.values()) or None
            if kill_after is None:
                # The last run is never killed, so it needs no process of its own.
                result = cli.run("read", config, catalog, state)
                assert result.exit_code == 0, result.stderr[-2000:]
                messages, finished = result.messages, True
            else:
                messages, finished = _read_until_killed(installed_cli, config, catalog, state, kill_after)
            kills += not finished
            # (A request the kill cut off mid-body has no window.)
            first_window = {
                stream: min((r.window[0] for r in api.requests_for(stream, outcome=None) if r.window), default=None)
                for stream in STREAMS
            }
            for stream in ("agent_workload", "agent_quality"):
                # Resumed exactly where the state said (lookback 0: the state's own day, which a
                # sync up to now may have read partly), or at the start date without a state.
                expected = cursor_of(states[stream]).strftime("%Y-%m-%d %H:%M:%S") if stream in states else f"{START} 00:00:00"
                assert first_window[stream] in (expected, None), (stream, first_window[stream], expected)
            assert_state_never_passes_unemitted_records(messages, truth, union_of_records(runs))
            runs.append(messages)
            states = _last_states(messages, states)

    union = union_of_records(runs)
    for stream in STREAMS:
        assert_the_apis_keys(stream, union[stream], truth[stream])
        for key, record in union[stream].items():
            assert_is_the_apis_row(stream, record, truth[stream][key])
    assert kills == 3
    assert len(runs) == 4
    print(
        f"\nkill/resume seed {seed}: {len(runs)} runs, {sum(len(r) for r in runs)} messages, {sum(len(v) for v in union.values())} rows in the union"
    )
