"""The files a user gives the command (config, catalog, state): one that cannot be used is one
config error that names it and says what is wrong, before any request and without a stack
trace; a state in a form the connector does not write is refused, not ignored; a stream the
catalog lists twice is read once."""

from __future__ import annotations

import collections
import json
from typing import Any

import pytest

from moor7_emulator import Account, Emulator, ground_truth

from .conftest import Cli, CliResult, assert_no_secret, committed_catalog, emulator_config, run_in_process
from .reliability_checks import primary_key
from .test_containment import one_stream_catalog, warnings

NOT_JSON = '{"streams": [}'


def run_with_files(cli: Cli, verb: str, config: dict[str, Any], files: dict[str, bytes | str | None]) -> CliResult:
    """`verb` with --config, --catalog and --state files of the given content (None: no such
    file; a flag not given: a good file, or none for --state)."""
    texts: dict[str, bytes | str | None] = {"config": json.dumps(config)}
    if verb == "read":
        texts["catalog"] = json.dumps(committed_catalog())
    texts.update(files)
    args = [verb, "--debug"]
    for flag, text in texts.items():
        path = cli.workdir / f"{flag}.json"
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(text if isinstance(text, bytes) else text.encode())
        args += [f"--{flag}", str(path)]
    exit_code, stdout, stderr = run_in_process(args, cli.workdir)
    assert_no_secret(config, stdout + stderr)
    return CliResult(exit_code, stdout, stderr)


def the_config_error(result: CliResult) -> str:
    """The one error of a run that stopped on a config error: its message."""
    assert result.exit_code == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert not result.non_protocol_lines, result.non_protocol_lines
    (error,) = result.errors()
    assert error["failure_type"] == "config_error"
    assert not error.get("stack_trace"), "a file the user gave is an expected failure: no stack trace"
    return str(error["message"])


@pytest.mark.parametrize(
    ("flag", "text", "words"),
    [
        ("config", None, "does not exist"),
        ("config", NOT_JSON, "is not JSON: unexpected character, expected a JSON value at line 1, column 14"),
        ("config", "", "is empty"),
        ("config", "[1, 2]", "holds a JSON list, not an object"),
        ("catalog", None, "does not exist"),
        ("catalog", NOT_JSON, "is not JSON: unexpected character, expected a JSON value at line 1, column 14"),
        ("catalog", "{}", 'is not a configured catalog: "streams" is a required property'),
        ("state", None, "does not exist"),
        ("state", NOT_JSON, "is not JSON: unexpected character, expected a JSON value at line 1, column 14"),
        ("state", '"2024-01-20"', "holds a JSON string, not a list of state messages"),
        ("state", "0", "holds a JSON number, not a list of state messages"),
        ("state", "false", "holds a JSON boolean, not a list of state messages"),
        ("state", '""', "holds a JSON string, not a list of state messages"),
        ("state", b"\xff\xfe[]", "is not UTF-8 text"),
        ("catalog", "[" * 100_000, "is not JSON: depth limit exceeded"),
        ("config", '{"lookback_days": ' + "9" * 5000 + "}", "is not JSON: number is infinity when parsed as double"),
    ],
    ids=lambda value: str(value)[:24],
)
def test_a_file_that_cannot_be_used_is_a_config_error_naming_it_before_any_request(
    cli: Cli, emulator: Emulator, flag: str, text: bytes | str | None, words: str
) -> None:
    result = run_with_files(cli, "read", emulator_config(emulator), {flag: text})
    message = the_config_error(result)
    assert f"The {flag} file '{cli.workdir / f'{flag}.json'}' (--{flag})" in message, message
    assert words in message, message
    assert f"--{flag} takes" in message, "and says what the file must hold"
    assert not emulator.log


@pytest.mark.parametrize("text", ["null", "{}", "[]"])
def test_a_state_file_holding_an_empty_state_reads_from_the_start_date(cli: Cli, emulator: Emulator, text: str) -> None:
    result = run_with_files(
        cli, "read", emulator_config(emulator, start_date="2024-01-01", end_date="2024-01-02"), {"state": text}
    )
    assert result.exit_code == 0, result.errors()
    for stream in ("session_time", "agent_workload", "agent_quality"):
        first = min(r.window[0] for r in emulator.requests_for(stream, outcome=None) if r.window)
        assert first == "2024-01-01 00:00:00", (stream, first)


def test_a_config_file_that_cannot_be_used_fails_check_with_a_status_and_discover_with_a_config_error(
    cli: Cli, emulator: Emulator
) -> None:
    check = run_with_files(cli, "check", emulator_config(emulator), {"config": NOT_JSON})
    (status,) = [m["connectionStatus"] for m in check.of_type("CONNECTION_STATUS")]
    assert check.exit_code == 0, "a connection status is check's answer"
    assert status["status"] == "FAILED"
    assert "The config file" in status["message"]
    assert "is not JSON" in status["message"]
    discover = run_with_files(cli, "discover", emulator_config(emulator), {"config": None})
    assert "does not exist" in the_config_error(discover)
    assert not emulator.log


@pytest.mark.parametrize(
    ("entry", "form"),
    [
        ({"type": "GLOBAL", "global": {"shared_state": {"x": 1}, "stream_states": []}}, "a GLOBAL state message"),
        (
            {
                "type": "GLOBAL",
                "global": {
                    "stream_states": [
                        {"stream_descriptor": {"name": "agent_workload"}, "stream_state": {"period_start": "2024-05-20"}}
                    ]
                },
            },
            "a GLOBAL state message",
        ),
        ({"type": "LEGACY", "data": {"agent_workload": {"period_start": "2024-05-20"}}}, "a LEGACY state message"),
        ({"stream": {"stream_descriptor": {"name": "agent_workload"}}}, "a state message without a type"),
        ({"type": "STREAM"}, "a STREAM state message without its stream"),
    ],
    ids=["global-with-shared-state", "global", "legacy", "untyped", "stream-without-stream"],
)
def test_a_state_in_another_form_than_per_stream_is_a_config_error_naming_the_form_accepted(
    cli: Cli, emulator: Emulator, entry: dict[str, Any], form: str
) -> None:
    result = run_with_files(cli, "read", emulator_config(emulator), {"state": json.dumps([entry])})
    message = the_config_error(result)
    assert f"holds {form}" in message, message
    assert "keeps one state per stream. --state takes a list of per-stream STATE messages such as [" in message, message
    assert '"type": "STREAM"' in message, "the accepted form, shown"
    assert not emulator.log


def test_a_stream_the_catalog_lists_twice_is_read_once_as_its_first_entry_says(cli: Cli, emulator: Emulator) -> None:
    config = emulator_config(emulator, start_date="2024-05-01", end_date="2024-05-10")
    (workload,) = one_stream_catalog("agent_workload")["streams"]
    full_refresh = {**workload, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
    catalog = {"streams": [workload, full_refresh, workload, *one_stream_catalog("agent_quality")["streams"]]}
    result = cli.run("read", config, catalog)
    assert result.exit_code == 0, result.errors()
    assert [w for w in warnings(result) if "more than once" in w] == [
        "The catalog lists stream 'agent_workload' more than once: it is read once, as its first entry configures it."
    ]
    truth = ground_truth(Account(), "2024-05-01", "2024-05-10")
    for stream in ("agent_workload", "agent_quality"):
        keys = collections.Counter(primary_key(stream, record) for record in result.records(stream))
        assert set(keys) == set(truth[stream])
        assert max(keys.values()) == 1, f"{stream}: a row read twice"
    assert len(emulator.log) == 2 * 10, "one request per day and stream"


def test_a_catalog_without_streams_reads_nothing_and_says_so(cli: Cli, emulator: Emulator) -> None:
    result = cli.run("read", emulator_config(emulator), {"streams": []})
    assert result.exit_code == 0
    assert warnings(result) == [
        "The catalog configures no stream, so nothing is read; its streams can be "
        "session_time, agent_workload, agent_quality, report_columns."
    ]
    assert not emulator.log


def test_debug_logs_mask_the_signature_and_nonce_of_every_request(cli: Cli, emulator: Emulator) -> None:
    config = emulator_config(emulator, start_date="2024-05-01", end_date="2024-05-03")
    result = cli.run("read", config, one_stream_catalog("agent_workload"))  # cli runs at --debug
    assert result.exit_code == 0, result.errors()
    output = result.stdout + result.stderr
    signed = [(r.sign, r.nonce) for r in emulator.log]
    assert len(signed) == 3
    assert all(sign and sign not in output for sign, _ in signed), "an m7-sign value was logged"
    requests = [m for m in result.of_type("DEBUG") if m["message"] == "Making outbound API request"]
    assert len(requests) == 3
    for request in requests:
        headers = request["data"]["headers"]
        assert "'m7-sign': '****'" in headers, headers
        assert "'m7-nonce': '****'" in headers, headers
        assert "'m7-appkey': '2000103'" in headers, "only the signature is masked"
    # The emulator echoes the nonce as its answer's requestId (7moor sends an id of its own):
    # left as it is, the request being spent by then (run.SIGNATURE_HEADERS says why).
    answers = " ".join(m["data"]["body"] for m in result.of_type("DEBUG") if m["message"] == "Receiving response")
    assert all(f'"requestId": "{nonce}"' in answers for _, nonce in signed), answers[-500:]
