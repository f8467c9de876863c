"""Failure containment through the installed command: a read that cannot succeed stops
quickly, says why once and spares the API; check and discover answer in seconds."""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from moor7_emulator import Account, Emulator, Faults

from .conftest import Cli, CliResult, committed_catalog, emulator_config, run_in_process
from .virtual_clock import VIRTUAL

CONCURRENCY = 4  # the default max_concurrent_requests
STREAMS = ("session_time", "agent_workload", "agent_quality")


def one_stream_catalog(name: str) -> dict[str, Any]:
    return {"streams": [s for s in committed_catalog()["streams"] if s["stream"]["name"] == name]}


def output_bytes(result: CliResult) -> int:
    return len(result.stdout.encode()) + len(result.stderr.encode())


def run_at_default_log_level(cli: Cli, verb: str, config: dict[str, Any], catalog: dict[str, Any] | None) -> CliResult:
    """As a user runs it: without --debug, where the CDK also logs every window it cuts
    (110 KB for a year). The output is still searched for the secret."""
    return cli.run(verb, config, catalog, debug=False)


def warnings(result: CliResult) -> list[str]:
    return [m["log"]["message"] for m in result.of_type("LOG") if m["log"]["level"] == "WARN"]


@pytest.mark.parametrize(
    ("cause", "faults", "change", "words"),
    [
        ("wrong secret", Faults(), {"secret_key": "not-the-secret-key-0000"}, ["7moor rejected the credentials", "'secret_key'"]),
        ("wrong base_url path", Faults(), {"base_url": "/v2"}, ["does not exist (HTTP 404)", "'base_url'"]),
        (
            "clock off, no Date header",
            Faults(clock_offset_seconds=900, send_date_header=False),
            {},
            ["rejected the request timestamp", "no Date header", "clock"],
        ),
    ],
)
def test_a_config_error_over_a_year_stops_the_read_after_the_requests_in_flight_with_one_small_error(
    cli: Cli, cause: str, faults: Faults, change: dict[str, str], words: list[str]
) -> None:
    with Emulator(Account(), faults) as api:
        values = {"start_date": "2023-01-01", "end_date": "2023-12-31", **change}
        if "base_url" in change:
            values["base_url"] = api.url + change["base_url"]
        config = emulator_config(api, **values)
        started = time.monotonic()
        result = run_at_default_log_level(cli, "read", config, committed_catalog())
        wall = time.monotonic() - started
        requests = len(api.log)
        api.clear_log()
        debug = cli.run("read", config, committed_catalog())  # the same at --debug: searched for the secret
        assert len(api.log) <= CONCURRENCY
        assert debug.exit_code != 0

    errors = result.errors()
    final = errors[-1]
    print(
        f"\n{cause}, one year (731 windows): {requests} requests, exit {result.exit_code}, output {output_bytes(result)} bytes "
        f"({output_bytes(debug)} at --debug), "
        f"{len(errors)} error traces, final message {len(final['message'].encode())} bytes, wall {wall:.1f} s"
    )
    assert result.exit_code != 0
    assert 1 <= requests <= CONCURRENCY, "after the first refused answer only the requests already in flight were sent"
    assert output_bytes(result) < 50_000, "the whole failure output, stack traces included, stays small"
    assert len(final["message"].encode()) < 4096
    assert final["failure_type"] == "config_error"
    for word in words:
        assert word in final["message"], final["message"]
    assert "more window(s) were not requested" in final["message"]
    assert len(errors) <= 2, "one trace for the first refusal, one final error; later refusals are log lines"
    assert not result.records()


def test_with_every_answer_a_500_the_first_window_out_of_retries_stops_the_whole_read_as_an_outage(cli: Cli) -> None:
    with Emulator(Account(), Faults(rate=1.0, kinds=("http_500",))) as api:
        config = emulator_config(api, start_date="2024-01-01", end_date="2024-01-31", max_retries=2)
        started = time.monotonic()
        result = cli.run("read", config, committed_catalog())
        wall = time.monotonic() - started
        log = list(api.log)

    attempts = collections.Counter((r.stream, r.window) for r in log)
    per_stream = collections.Counter(stream for stream, _ in attempts)
    final = result.errors()[-1]["message"]
    print(
        f"\nserver down, one month, max_retries 2: {len(log)} requests over {len(attempts)} windows {dict(per_stream)}, wall {wall:.1f} s"
    )
    assert result.exit_code != 0
    assert max(attempts.values()) == 3, "the first try and 2 retries, no more"
    # The windows in flight, and at most one probe per worker after the first ran out of retries
    assert len(attempts) <= 2 * CONCURRENCY, "no window started after the outage was confirmed"
    assert len(log) <= 3 * CONCURRENCY + CONCURRENCY
    assert "answered no request of this read" in final, final
    assert "stopped as for an outage" in final, final
    states = {
        s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"]["period_start"] for s in result.final_states()
    }
    assert states == dict.fromkeys(STREAMS, "2024-01-01T00:00:00+0800"), "no state passes a window that was not read"
    assert len(final.encode()) < 4096
    assert wall < 90, "with a 0.05 s backoff base the waits are about a second each"


def test_a_window_that_fails_for_good_stops_its_stream_while_the_others_finish_and_keep_their_state(cli: Cli) -> None:
    broken_day, start, end = "2024-01-03", "2024-01-01", "2024-06-30"  # 182 days
    faults = Faults(broken_windows=[("agent_quality", f"{broken_day} 00:00:00")], latency_seconds=0.02)
    with Emulator(Account(), faults) as api:
        config = emulator_config(api, start_date=start, end_date=end, max_retries=1, lookback_days=0)
        result = cli.run("read", config, committed_catalog())
        quality = [r for r in api.log if r.stream == "agent_quality"]

    gave_up_at = max(r.received_at for r in quality if r.window[0].startswith(broken_day))
    # A second's margin for windows already on their way when the last attempt was refused.
    started_after = [r.window[0][:10] for r in quality if r.received_at > gave_up_at + 1.0]
    print(
        f"\nagent_quality broken on {broken_day}: {len({r.window for r in quality})} of 182 days requested, {len(started_after)} after it failed for good"
    )
    assert result.exit_code != 0
    assert started_after == [], "no window of the stream started after its failed window used its retries"
    assert len({r.window for r in quality}) < 182
    final = result.errors()[-1]["message"]
    assert final.startswith("1 of 3 streams stopped")
    assert "session_time, agent_workload finished and saved their state" in final
    assert f"[stream agent_quality, createTime {broken_day} 00:00:00 to {broken_day} 23:59:59]" in final
    assert final.count("agent_quality: ") == 1
    states = {
        s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"]["period_start"] for s in result.final_states()
    }
    assert states["agent_workload"] == f"{end}T00:00:00+0800"
    assert states["session_time"] == f"{end}T00:00:00+0800"
    assert states["agent_quality"] < f"{broken_day}T00:00:00+0800"


def test_a_retry_after_asking_for_hours_stops_the_window_at_once_and_says_how_long_was_asked(cli: Cli) -> None:
    with Emulator(Account(), Faults(script=["http_429"], retry_after_seconds=7200)) as api:
        config = emulator_config(api, start_date="2024-03-01", end_date="2024-03-01")
        started = time.monotonic()
        result = cli.run("read", config, one_stream_catalog("agent_workload"))
        wall = time.monotonic() - started
        requests = len(api.log)
    final = result.errors()[-1]["message"]
    assert result.exit_code != 0
    assert requests == 1
    assert wall < 60
    assert "asked to wait 7200 s" in final
    assert "60 s this connector waits at most" in final
    assert "[stream agent_workload, createTime 2024-03-01 00:00:00 to 2024-03-01 23:59:59]" in final


def test_each_retry_is_logged_at_warn_with_its_real_reason_stream_and_window(cli: Cli) -> None:
    script = ["http_429", "envelope_rate_limit", "http_500", "html_502", "truncate", "not_json", "drop", "replay"]
    faults = Faults(script=list(script), retry_after_seconds=0, clock_offset_seconds=600)
    with Emulator(Account(), faults) as api:
        config = emulator_config(api, start_date="2024-03-01", end_date="2024-03-01", max_retries=12)
        result = cli.run("read", config, one_stream_catalog("agent_workload"))
        outcomes = [r.outcome for r in api.log]
    assert result.exit_code == 0, result.errors()
    assert not result.errors(), result.errors()
    assert outcomes == ["timestamp_skew", *script, "ok"]
    lines = [line for line in warnings(result) if "Attempt" in line]
    where = "[stream agent_workload, createTime 2024-03-01 00:00:00 to 2024-03-01 23:59:59]"
    reasons = [
        "rejected the request timestamp",  # corrected from Date, then retried
        "HTTP 429: 7moor rate limit",
        "HTTP 200: 7moor rate limit",
        "HTTP 500: 7moor did not answer with a report (code 500",
        "HTTP 502: 7moor's gateway answered with an HTML error page",
        "HTTP 200: 7moor's answer is not a complete JSON report",
        "HTTP 200: 7moor's answer is not a complete JSON report",
        "closed the connection without an answer",
        "7moor reported a replayed request",
    ]
    print("\n" + "\n".join(lines))
    assert len(lines) == len(reasons), lines
    for attempt, (line, reason) in enumerate(zip(lines, reasons), start=1):
        assert reason in line, (reason, line)
        assert where in line, (reason, line)
        assert f"Attempt {attempt} of 13 failed; retrying in" in line, (reason, line)
    # the CDK's own line calls every retry a rate limit; only the connector's reason is printed
    assert "Rate limit exceeded" not in result.stdout + result.stderr


def refused_url() -> str:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("verb", ["check", "discover"])
@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("refused port", "refused the connection: nothing listens on that port"),
        ("unknown host", "could not be found: the host name does not resolve"),
        # answer in time (the read timeout or the deadline); check waits for it in real time
        pytest.param("silent listener", "accepted the connection but sent no", marks=pytest.mark.runs_long(16)),
    ],
)
def test_check_and_discover_answer_within_30_seconds_saying_which_network_failure(
    cli: Cli, silent_listener: str, virtual_silent_listener: str, verb: str, case: str, words: str
) -> None:
    """Check against the silent listener waits in real time, for its read timeouts and
    deadlines; discover waits the same on the virtual clock."""
    virtual = case == "silent listener" and verb == "discover"
    base_url = {
        "refused port": refused_url(),
        "unknown host": "https://moor7-api.invalid",
        "silent listener": virtual_silent_listener if virtual else silent_listener,
    }[case]
    config = {"app_key": "2000103", "secret_key": "not-a-real-secret-1234", "start_date": "2024-03-01", "base_url": base_url}
    started = time.monotonic()
    cli.run("spec")
    start_up = time.monotonic() - started  # importing the CDK: 2 s idle, 15 s and more on a busy machine
    with VIRTUAL.timers() if virtual else contextlib.nullcontext():
        started = time.monotonic()
        result = cli.run(verb, config, timeout=120)
        wall = time.monotonic() - started
    print(f"\n{verb} against a {case}: {wall:.1f} s, of which about {start_up:.1f} s start-up")
    if verb == "check":
        (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
        assert status["status"] == "FAILED"
        message = status["message"]
    else:
        assert result.exit_code != 0
        assert not result.of_type("CATALOG")
        message = result.errors()[-1]["message"]
    assert words in message, message
    assert "'base_url'" in message, message
    # About 18 s against a silent listener (two 8 s read timeouts and a 1.5 s wait), less for the
    # others; the start-up a loaded machine adds is not the connector's budget.
    assert wall < 30 or wall - start_up < 25, "under 30 s beyond the start-up the machine's load imposes"


@pytest.mark.parametrize("content", [None, "{not json", "[]"], ids=["missing", "not-json", "not-an-object"])
def test_check_answers_a_config_file_it_cannot_read_with_a_failed_connection_status(tmp_path: Path, content: str) -> None:
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    exit_code, stdout, stderr = run_in_process(["check", "--config", str(path)], tmp_path)
    statuses = [json.loads(line)["connectionStatus"] for line in stdout.splitlines() if '"CONNECTION_STATUS"' in line]
    assert exit_code == 0, stdout + stderr
    assert len(statuses) == 1
    assert statuses[0]["status"] == "FAILED"
    assert "config.json" in statuses[0]["message"] or "config" in statuses[0]["message"].lower(), statuses[0]
