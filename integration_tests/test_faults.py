"""Transient faults end in the right data; a window whose retries run out ends in a clear
error and a state that resumes correctly."""

from __future__ import annotations

import collections
import datetime as dt

import pytest

from moor7_emulator import FAULT_KINDS, Account, Emulator, Faults, ground_truth

from .conftest import Cli, committed_catalog, configured_catalog, emulator_config
from .reliability_checks import STREAMS, assert_state_never_passes_unemitted_records, cursor_of, union_of_records
from .test_end_to_end import assert_records_equal_ground_truth

SOAK_START, SOAK_END = "2024-01-01", "2024-06-30"  # 182 days


@pytest.mark.runs_long(11)
def test_a_six_month_read_through_ten_percent_mixed_faults_returns_exactly_the_apis_rows(cli: Cli) -> None:
    faults = Faults(rate=0.10, kinds=FAULT_KINDS, seed=2024, retry_after_seconds=1)
    with Emulator(Account(), faults) as api:
        config = emulator_config(api, start_date=SOAK_START, end_date=SOAK_END, dimension="half_hour")
        discovered = cli.run("discover", config).of_type("CATALOG")[0]["catalog"]
        api.clear_log()
        result = cli.run("read", config, configured_catalog(discovered))
        log = list(api.log)

    assert result.exit_code == 0, result.errors()
    assert not result.errors(), result.errors()
    truth = ground_truth(api.account, SOAK_START, SOAK_END, "half_hour")
    schemas = {s["name"]: s["json_schema"] for s in discovered["streams"]}
    compared = assert_records_equal_ground_truth(result, truth, schemas)  # same rows, same values, no duplicate keys
    states_checked = assert_state_never_passes_unemitted_records(result.messages, truth)

    outcomes = collections.Counter(r.outcome for r in log)
    injected = sum(n for kind, n in outcomes.items() if kind in FAULT_KINDS)
    windows = {(r.stream, r.window) for r in log}
    # Every fault was met with a retry, and nothing else was ever refused: no replayed
    # nonce, no stale timestamp, no bad signature, no window requested twice successfully.
    assert set(outcomes) - set(FAULT_KINDS) == {"ok"}, outcomes
    assert outcomes["ok"] == len(windows) == 6 + 2 * 182  # a month of half hours per session window
    assert set(FAULT_KINDS) <= set(outcomes), f"every kind of fault was injected at least once: {outcomes}"
    signed = [(r.sign, r.nonce) for r in log]
    assert len(signed) == len(set(signed)), "a sign + nonce was sent twice"
    print(
        f"\nsoak {SOAK_START}..{SOAK_END}: {len(log)} requests, {injected} faults injected and retried "
        f"({injected / len(log):.1%}: {dict(sorted((k, v) for k, v in outcomes.items() if k != 'ok'))}), "
        f"{outcomes['ok']} windows answered, {compared} rows compared, {states_checked} states checked"
    )


def test_when_a_window_keeps_failing_the_error_names_it_and_the_state_resumes_after_the_last_good_window(cli: Cli) -> None:
    broken_day = "2024-03-10"
    faults = Faults(broken_windows=[("agent_quality", f"{broken_day} 00:00:00")])
    start, end = "2024-03-01", "2024-03-20"
    with Emulator(Account(), faults) as api:
        config = emulator_config(api, start_date=start, end_date=end, max_retries=2, lookback_days=0)
        catalog = configured_catalog(cli.run("discover", config).of_type("CATALOG")[0]["catalog"])
        api.clear_log()
        failed = cli.run("read", config, catalog)
        attempts_on_broken = len([r for r in api.log if r.stream == "agent_quality" and r.window[0].startswith(broken_day)])

        truth = ground_truth(api.account, start, end, "day")
        assert failed.exit_code != 0
        errors = failed.errors()
        assert errors, errors
        assert all(
            f"[stream agent_quality, createTime {broken_day} 00:00:00 to {broken_day} 23:59:59]" in e["message"] for e in errors
        ), errors
        assert "服务器内部错误" in errors[0]["message"], "the API's own message is quoted"
        assert attempts_on_broken == 3, "the first try and max_retries=2 retries, then stop"
        assert_state_never_passes_unemitted_records(failed.messages, truth)
        states = {s["stream"]["stream_descriptor"]["name"]: s for s in failed.final_states()}
        assert cursor_of(states["agent_quality"]) < dt.datetime.fromisoformat(f"{broken_day}T00:00:00+08:00"), (
            "the state never moves past a window that failed"
        )
        # The other streams are not held back by one stream's failure.
        for stream in ("session_time", "agent_workload"):
            assert states[stream]["stream"]["stream_state"]["period_start"] == f"{end}T00:00:00+0800"

        # The fault clears; the next read resumes from the emitted state and fills the gap.
        api.set_faults(Faults())
        api.clear_log()
        resumed = cli.run("read", config, catalog, state=list(states.values()))
        assert_state_never_passes_unemitted_records(resumed.messages, truth, union_of_records([failed.messages]))
        first_quality_day = min(r.window[0] for r in api.requests_for("agent_quality"))
    assert resumed.exit_code == 0, resumed.errors()
    assert not resumed.errors(), resumed.errors()
    assert first_quality_day == cursor_of(states["agent_quality"]).strftime("%Y-%m-%d %H:%M:%S"), (
        "resumed at the state, not before"
    )
    union = union_of_records([failed.messages, resumed.messages])
    for stream in STREAMS:
        assert set(union[stream]) == set(truth[stream]), stream


def test_the_secret_key_appears_in_no_output_even_at_debug_level(cli: Cli) -> None:
    """Every Cli run already greps its output for the secret; this one drives the paths most
    likely to leak it (errors, retries, rejected credentials, a bad config) and checks
    that the output searched really is the debug-level one."""
    faults = Faults(rate=0.5, seed=3, broken_windows=[("agent_workload", "2024-07-02 00:00:00")], retry_after_seconds=0)
    with Emulator(Account(), faults) as api:
        config = emulator_config(api, start_date="2024-07-01", end_date="2024-07-03", max_retries=1)
        secret = config["secret_key"]
        runs = [
            cli.run("spec"),
            cli.run("check", config),
            cli.run("check", {**config, "app_key": "0000000"}),
            cli.run("discover", config),
            cli.run("read", config, committed_catalog()),
            cli.run("read", {**config, "dimension": "week"}, {"streams": []}),
        ]
    output = "\n".join(run.stdout + run.stderr for run in runs)
    assert "Debug logs enabled" in output
    assert "Making outbound API request" in output
    assert any(run.errors() for run in runs), "the error paths were taken"
    assert secret not in output
