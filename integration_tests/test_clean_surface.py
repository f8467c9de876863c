"""What a user sees when a sync is stopped, piped, refused or fed too much text, through the
installed command: whole lines, bounded output, no traceback for an expected failure."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import moor7_emulator.server
from moor7_emulator import Account, Emulator, Faults, ground_truth

from .conftest import Cli, CliResult, assert_no_secret, committed_catalog, emulator_config
from .reliability_checks import STREAMS, assert_state_never_passes_unemitted_records, primary_key, union_of_records
from .test_containment import CONCURRENCY, one_stream_catalog, output_bytes, refused_url, run_at_default_log_level
from .virtual_clock import VIRTUAL

YEAR = ("2023-01-01", "2023-12-31")


def parse_every_line(stdout: str) -> list[dict[str, Any]]:
    lines = [line for line in stdout.split("\n") if line]
    return [json.loads(line) for line in lines]  # a torn line fails here


def duplicate_records(messages: list[dict[str, Any]]) -> list[Any]:
    keys = [
        (m["record"]["stream"], primary_key(m["record"]["stream"], m["record"]["data"]))
        for m in messages
        if m["type"] == "RECORD"
    ]
    return [key for key, count in collections.Counter(keys).items() if count > 1]


@pytest.mark.runs_long(11)
@pytest.mark.parametrize(
    ("signum", "after_lines"),
    [(signal.SIGINT, 1), (signal.SIGINT, 300), (signal.SIGINT, 1500), (signal.SIGTERM, 40), (signal.SIGTERM, 900)],
)
def test_a_signal_stops_a_year_read_with_whole_lines_and_a_consistent_state_that_resumes_exactly(
    installed_cli: Cli, cli: Cli, signum: int, after_lines: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signal needs the installed command in a process of its own; the resume runs in this one."""
    with Emulator(Account(), Faults(latency_seconds=0.03)) as api:
        config = emulator_config(api, start_date=YEAR[0], end_date=YEAR[1])
        args = [arg for arg in installed_cli.arguments("read", config, committed_catalog()) if arg != "--debug"]
        with open(installed_cli.workdir / "stderr", "w+b") as stderr_file:
            process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr_file, cwd=installed_cli.workdir)
            assert process.stdout is not None
            head = [process.stdout.readline() for _ in range(after_lines)]
            signalled_at = time.perf_counter()
            process.send_signal(signum)
            rest = process.stdout.read()  # to the end: what the stop wrote
            process.wait(timeout=30)
            stopped_after = time.perf_counter() - signalled_at
            stderr_file.seek(0)
            stderr = stderr_file.read()
        after_signal = [r for r in api.log if r.received_at > signalled_at]
        api.clear_log()

        output = b"".join(head).decode() + rest.decode()
        assert_no_secret(config, output + stderr.decode())
        messages = parse_every_line(output)
        print(
            f"\n{signal.Signals(signum).name} after {after_lines} lines: exit {process.returncode} in {stopped_after:.2f} s, "
            f"{len(after_signal)} requests after the signal, {sum(m['type'] == 'RECORD' for m in messages)} records"
        )
        assert process.returncode == -signum, "ended by the signal it was sent: a shell reports 130 or 143"
        assert stopped_after < 2.0 + 0.5, "requests on the wire are abandoned; the process ends within 2 s"
        assert len(after_signal) <= CONCURRENCY, "no window starts and no retry is sent after the signal"
        assert not duplicate_records(messages)
        assert "Traceback" not in output + stderr.decode()
        truth = ground_truth(Account(), *YEAR)
        assert_state_never_passes_unemitted_records(messages, truth)
        first = CliResult(process.returncode, output, stderr.decode())

        # The signalled process is gone: the resume waits the emulator's latency on the virtual clock.
        VIRTUAL.waits_in(monkeypatch, moor7_emulator.server)
        resumed = cli.run("read", config, committed_catalog(), state=first.final_states() or None)
    assert resumed.exit_code == 0, resumed.errors()
    assert not resumed.errors(), resumed.errors()
    union = union_of_records([first.messages, resumed.messages])
    for stream in STREAMS:
        assert set(union[stream]) == set(truth[stream]), f"{stream}: the stopped and the resumed sync miss rows"


@pytest.mark.runs_long(6)
def test_a_closed_stdout_stops_the_read_at_once_and_quietly(installed_cli: Cli, tmp_path: Path) -> None:
    cli = installed_cli  # a closed pipe needs a process of its own
    with Emulator(Account(), Faults(latency_seconds=0.03)) as api:
        config = emulator_config(api, start_date=YEAR[0], end_date=YEAR[1])
        args = " ".join(arg for arg in cli.arguments("read", config, committed_catalog()) if arg != "--debug")
        completed = subprocess.run(
            ["bash", "-c", f"{args} 2> {tmp_path / 'stderr'} | head -c 100; exit ${{PIPESTATUS[0]}}"],
            capture_output=True,
            timeout=120,
            cwd=cli.workdir,
        )
        requests = len(api.log)
    stderr = (tmp_path / "stderr").read_text()
    print(f"\nread | head -c 100: exit {completed.returncode}, {requests} of 731 requests, stderr {len(stderr)} bytes")
    assert completed.returncode == 141, "ended by SIGPIPE, as a shell reports it"
    assert requests <= 3 * CONCURRENCY, "the read stopped at the first failed write, not after the whole year"
    assert stderr == "", stderr

    with Emulator(Account(), Faults()) as api:
        discover = " ".join(arg for arg in cli.arguments("discover", emulator_config(api)) if arg != "--debug")
        completed = subprocess.run(
            ["bash", "-c", f"{discover} 2> {tmp_path / 'stderr'} | head -c 100; exit ${{PIPESTATUS[0]}}"],
            capture_output=True,
            timeout=120,
            cwd=cli.workdir,
        )
    assert completed.returncode != 0
    assert (tmp_path / "stderr").read_text() == ""


@pytest.mark.parametrize("padded_field", ["message", "code"])
def test_a_server_that_says_too_much_is_quoted_in_a_few_hundred_bytes(cli: Cli, padded_field: str) -> None:
    with Emulator(Account(), Faults(rate=1.0, kinds=("http_500",), message_padding=100_000, padded_field=padded_field)) as api:
        config = emulator_config(api, start_date="2024-01-01", end_date="2024-01-31", max_retries=2)
        month = run_at_default_log_level(cli, "read", config, committed_catalog())
    with Emulator(Account(), Faults(message_padding=100_000, padded_field=padded_field)) as api:
        config = emulator_config(api, start_date=YEAR[0], end_date=YEAR[1], secret_key="not-the-secret-key-0000")
        refused = run_at_default_log_level(cli, "read", config, committed_catalog())
    for case, result in (("500s for a month", month), ("wrong secret", refused)):
        final = result.errors()[-1]["message"]
        longest = max(len(line.encode()) for line in result.stdout.splitlines())
        print(
            f"\n{case}, 100,000-character messages: output {output_bytes(result)} bytes, longest line {longest} bytes, "
            f"final message {len(final.encode())} bytes"
        )
        assert result.exit_code != 0
        assert output_bytes(result) < 100_000
        assert len(final.encode()) <= 4096
        assert ("服务器内部错误" in final or "m7-sign verification failed" in final) or padded_field == "code", final


@pytest.mark.parametrize("verb", ["check", "discover", "read"])
@pytest.mark.parametrize("case", ["wrong secret", "closed port"])
def test_an_expected_failure_prints_no_traceback(cli: Cli, emulator: Emulator, verb: str, case: str) -> None:
    if case == "wrong secret":
        config = emulator_config(emulator, start_date="2024-03-01", end_date="2024-03-02", secret_key="not-the-secret-key-0000")
    else:
        config = emulator_config(emulator, start_date="2024-03-01", end_date="2024-03-02", base_url=refused_url(), max_retries=1)
    result = run_at_default_log_level(cli, verb, config, committed_catalog() if verb == "read" else None)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert 'File "' not in output
    assert not result.non_protocol_lines
    errors = result.errors()
    assert all(not e.get("stack_trace") for e in errors), "an expected failure's TRACE carries no stack trace"
    if verb == "check":
        (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
        message = status["message"]
        assert status["status"] == "FAILED"
        assert message[0] not in "'\"", message
        assert "is not available" not in message, message
        assert "Exhausted available" not in message, message
        assert "Request (body)" not in output
        assert "Overriding config keys" not in output
    else:
        assert result.exit_code != 0
        assert errors
        message = errors[-1]["message"]
    assert ("'secret_key'" in message) if case == "wrong secret" else ("refused the connection" in message), message


def test_a_misspelt_setting_is_named_with_the_nearest_one_in_check_discover_and_read(cli: Cli, emulator: Emulator) -> None:
    config = {**emulator_config(emulator, start_date="2024-03-01"), "end_dat": "2024-03-02"}
    for verb in ("check", "discover", "read"):
        result = cli.run(verb, config, committed_catalog() if verb == "read" else None)
        warned = [m["log"]["message"] for m in result.of_type("LOG") if m["log"]["level"] == "WARN"]
        assert any("`end_dat`: not a setting" in line and "did you mean `end_date`?" in line for line in warned), warned


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"app_key": 2000103}, "'app_key' (App key) must be text (a string, in quotes); got 2000103"),
        ({"app_key": "2000103\n"}, "'app_key' (App key) starts or ends with whitespace"),
        ({"secret_key": " emulator-secret-7f3a9c"}, "'secret_key' (Secret key) starts or ends with whitespace"),
    ],
    ids=["integer app_key", "app_key with a newline", "secret_key with a space"],
)
def test_a_credential_of_the_wrong_type_or_with_whitespace_is_a_config_error_before_any_request(
    cli: Cli, emulator: Emulator, values: dict[str, Any], words: str
) -> None:
    config = {**emulator_config(emulator, start_date="2024-03-01", end_date="2024-03-02"), **values}
    result = cli.run("read", config, committed_catalog())
    assert result.exit_code != 0, "refused before any request"
    assert not emulator.log, "refused before any request"
    (error,) = result.errors()
    assert words in error["message"]
    assert error["failure_type"] == "config_error"
    assert "emulator-secret" not in error["message"]


def test_a_body_cut_off_names_its_stream_and_window(cli: Cli) -> None:
    with Emulator(Account(), Faults(script=["cut_body", "cut_body"])) as api:
        config = emulator_config(api, start_date="2024-03-01", end_date="2024-03-01", max_retries=1)
        result = cli.run("read", config, one_stream_catalog("agent_workload"))
    where = "[stream agent_workload, createTime 2024-03-01 00:00:00 to 2024-03-01 23:59:59]"
    final = result.errors()[-1]["message"]
    assert result.exit_code != 0
    assert "cut off before its end" in final, final
    assert where in final, final


@pytest.mark.parametrize("streams", [["agent_wokload"], ["agent_wokload", "agent_quality"]], ids=["only", "beside-another"])
def test_a_catalog_stream_the_connector_does_not_have_is_an_error_naming_the_streams_it_has(
    cli: Cli, emulator: Emulator, streams: list[str]
) -> None:
    catalog = committed_catalog()
    template = catalog["streams"][0]
    catalog["streams"] = [{**template, "stream": {**template["stream"], "name": name}} for name in streams]
    result = cli.run("read", emulator_config(emulator), catalog)
    assert result.exit_code != 0
    assert not emulator.log
    message = result.errors()[-1]["message"]
    assert "'agent_wokload'" in message
    assert "session_time, agent_workload, agent_quality, report_columns" in message


@pytest.mark.runs_long(13)
def test_a_signal_while_a_slow_reader_lets_the_pipe_fill_still_leaves_whole_lines(installed_cli: Cli) -> None:
    """Hourly buckets at 16 requests at once make more output than a slow reader takes, so the
    connector's writes block on a full pipe when the signal arrives."""
    cli = installed_cli  # a signal needs a process of its own
    with Emulator(Account(), Faults(latency_seconds=0.01)) as api:
        config = emulator_config(api, start_date=YEAR[0], end_date=YEAR[1], dimension="hour", max_concurrent_requests=16)
        args = [arg for arg in cli.arguments("read", config, committed_catalog()) if arg != "--debug"]
        for signum, delay in ((signal.SIGINT, 2.5), (signal.SIGTERM, 4.0), (signal.SIGINT, 5.5)):
            process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=cli.workdir)
            assert process.stdout is not None
            output, started, sent = bytearray(), time.monotonic(), False
            while True:
                if not sent and time.monotonic() - started > delay:
                    process.send_signal(signum)
                    sent = True
                chunk = process.stdout.read1(4096)
                if not chunk:
                    break
                output += chunk
                time.sleep(0.002)  # a reader slower than the connector
            assert process.wait(timeout=30) == -signum
            messages = parse_every_line(output.decode())
            assert not duplicate_records(messages)
            assert messages[-1]["type"] == "LOG"
            assert "Stopped by" in messages[-1]["log"]["message"]
