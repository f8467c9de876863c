"""The account, the reply and the link as they really come, through the command against the
emulator: a report the account may not read, `code` as a number, a success body under an
error status, a redirect, a row outside its window, a host name with a typo, numbers sent as
text. Each ends in exact rows or a clear error, never in exit 0 with a row missing."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from moor7_emulator import Account, Emulator, Faults, ground_truth
from moor7_emulator import account as model

from .conftest import Cli, CliResult, committed_catalog, configured_catalog, emulator_config
from .reliability_checks import STREAMS, assert_state_never_passes_unemitted_records
from .test_bad_replies_and_outages import final_cursor
from .test_containment import CONCURRENCY, one_stream_catalog, output_bytes, warnings
from .test_setting_changes import assert_union_is_the_ground_truth

MONTH = ("2024-01-01", "2024-01-31")
TYPO_HOST = "v7openapi.7mooor.com"


def discovered_catalog(result: CliResult) -> dict[str, Any]:
    (catalog,) = result.of_type("CATALOG")
    return catalog["catalog"]


def header_rows(account: Account, *reports: str) -> set[tuple[str, str]]:
    headers = {
        "session_time": model.session_header,
        "agent_workload": model.workload_header,
        "agent_quality": model.quality_header,
    }
    return {(report, str(column["prop"])) for report in reports for column in headers[report](account)}


def status_of(result: CliResult) -> dict[str, Any]:
    (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
    return status


# --- a report the account may not read -------------------------------------------------


def test_discover_gives_every_stream_when_one_report_is_refused_with_its_documented_schema_and_a_warning(cli: Cli) -> None:
    with Emulator(Account(), Faults(forbidden_streams=["agent_quality"])) as api:
        result = cli.run("discover", emulator_config(api, start_date=MONTH[0], end_date=MONTH[1]))
        requests = len(api.log)
    assert result.exit_code == 0, result.errors()
    streams = {s["name"]: s for s in discovered_catalog(result)["streams"]}
    assert set(streams) == {*STREAMS, "report_columns"}
    satisfaction = {level.prop for level in Account().satisfaction_levels}
    states = {state.prop for state in Account().agent_states}
    assert not satisfaction & set(streams["agent_quality"]["json_schema"]["properties"]), "the documented schema"
    assert states <= set(streams["agent_workload"]["json_schema"]["properties"]), "the live header of a report that answers"
    (warning,) = [w for w in warnings(result) if "agent_quality" in w]
    assert "permission" in warning
    assert "无权限访问该接口" in warning
    assert requests == 3, "one header day per report"


def test_discover_fails_as_a_config_error_when_every_report_is_refused(cli: Cli) -> None:
    with Emulator(Account(), Faults(forbidden_streams=list(STREAMS))) as api:
        result = cli.run("discover", emulator_config(api, start_date=MONTH[0], end_date=MONTH[1]))
    assert result.exit_code == 1
    assert not result.of_type("CATALOG")
    (error,) = result.errors()
    assert error["failure_type"] == "config_error"
    assert "refused every report it was asked for" in error["message"]


def test_check_passes_with_a_refused_report_and_names_it(cli: Cli) -> None:
    with Emulator(Account(), Faults(forbidden_streams=["agent_quality"])) as api:
        status = status_of(cli.run("check", emulator_config(api, start_date=MONTH[0], end_date=MONTH[1])))
    assert status["status"] == "SUCCEEDED"
    assert "refused 1 of 3 reports to this account: agent_quality" in status["message"]


@pytest.mark.parametrize("run", range(3))
def test_a_refused_session_report_stops_its_stream_only_and_report_columns_carries_the_other_reports(cli: Cli, run: int) -> None:
    """Run three times: which windows are in flight when the refusal comes differs from run to run."""
    with Emulator(Account(), Faults(forbidden_streams=["session_time"])) as healthy:
        config = emulator_config(healthy, start_date=MONTH[0], end_date=MONTH[1])
        catalog = configured_catalog(discovered_catalog(cli.run("discover", config)), streams=[*STREAMS, "report_columns"])
        healthy.clear_log()
        result = cli.run("read", config, catalog)
    final = result.errors()[-1]["message"]
    assert result.exit_code == 1
    assert final.startswith("1 of 4 streams stopped"), final
    assert "refused the session_time report" in final
    columns = {(r["report"], r["prop"]) for r in result.records("report_columns")}
    assert columns == header_rows(Account(), "agent_workload", "agent_quality")
    assert len(columns) == 41
    assert any("report_columns: a window was left out" in w and "session_time" in w for w in warnings(result))
    truth = ground_truth(Account(), *MONTH)
    assert_union_is_the_ground_truth([result], {**truth, "session_time": {}})
    assert_state_never_passes_unemitted_records(result.messages, truth)


def test_report_columns_alone_fails_when_every_report_is_refused(cli: Cli) -> None:
    with Emulator(Account(), Faults()) as healthy:
        config = emulator_config(healthy, start_date=MONTH[0], end_date=MONTH[1])
        catalog = configured_catalog(discovered_catalog(cli.run("discover", config)), streams=["report_columns"])
    with Emulator(Account(), Faults(forbidden_streams=list(STREAMS))) as api:
        result = cli.run("read", emulator_config(api, start_date=MONTH[0], end_date=MONTH[1]), catalog)
    assert result.exit_code == 1
    assert not result.records()
    assert "refused every report it was asked for" in result.errors()[-1]["message"]


# --- one reading of the envelope --------------------------------------------------------


def test_a_code_sent_as_a_number_and_success_as_text_read_a_month_exactly(cli: Cli) -> None:
    with Emulator(Account(), Faults(code_type="int", success_as_text=True)) as api:
        result = cli.run("read", emulator_config(api, start_date=MONTH[0], end_date=MONTH[1]), committed_catalog())
    assert result.exit_code == 0, result.errors()
    assert_union_is_the_ground_truth([result], ground_truth(Account(), *MONTH))


@pytest.mark.parametrize(
    ("faults", "change", "words"),
    [
        (
            Faults(code_type="int", credential_message="认证失败"),
            {"secret_key": "not-the-secret-key-0000"},
            "7moor rejected the credentials (认证失败)",
        ),
        (
            Faults(code_type="int", rate=1.0, kinds=("bad_request",)),
            {},
            "7moor rejected the request as invalid (HTTP 400, code 400: 参数错误)",
        ),
    ],
    ids=["integer-401-without-credential-words", "integer-400"],
)
def test_an_integer_401_or_400_stops_the_read_at_once_as_a_config_error(
    cli: Cli, faults: Faults, change: dict[str, str], words: str
) -> None:
    """At the default retry settings: no retry, whatever words the message carries."""
    with Emulator(Account(), faults) as api:
        config = {**emulator_config(api, start_date="2023-01-01", end_date="2023-12-31"), **change}
        del config["retry_backoff_seconds"]
        started = time.monotonic()
        result = cli.run("read", config, committed_catalog())
        wall, requests = time.monotonic() - started, len(api.log)
    final = result.errors()[-1]
    print(f"\n{words[:40]}: exit {result.exit_code}, {requests} requests, wall {wall:.1f} s; {final['message'][:200]}")
    assert result.exit_code == 1
    assert final["failure_type"] == "config_error"
    assert words in final["message"]
    assert requests <= CONCURRENCY
    assert wall < 10
    assert not result.records()


# --- data only from a 2xx, from base_url's host, inside its window ----------------------


def test_a_success_body_under_http_503_is_a_failed_attempt_and_the_retry_reads_the_day(cli: Cli) -> None:
    with Emulator(Account(), Faults(script=["success_503"])) as api:
        config = emulator_config(api, start_date="2024-03-01", end_date="2024-03-01")
        result = cli.run("read", config, one_stream_catalog("agent_workload"))
        outcomes = [r.outcome for r in api.log]
    assert result.exit_code == 0, result.errors()
    assert outcomes == ["success_503", "ok"]
    truth = ground_truth(Account(), "2024-03-01", "2024-03-01")
    assert_union_is_the_ground_truth([result], {**truth, "session_time": {}, "agent_quality": {}})


def test_a_success_body_under_http_404_is_not_data_but_a_wrong_base_url(cli: Cli) -> None:
    with Emulator(Account(), Faults(script=["success_404"])) as api:
        config = emulator_config(api, start_date="2024-03-01", end_date="2024-03-01")
        result = cli.run("read", config, one_stream_catalog("agent_workload"))
    final = result.errors()[-1]
    assert result.exit_code == 1
    assert final["failure_type"] == "config_error"
    assert "(HTTP 404): check 'base_url'" in final["message"]
    assert not result.records()


@pytest.mark.parametrize("status", [307, 302])
def test_a_redirect_is_never_followed_and_no_signed_request_reaches_the_other_host(cli: Cli, status: int) -> None:
    with (
        Emulator(Account(), Faults()) as other,
        Emulator(Account(), Faults(redirect_to=other.url, redirect_status=status)) as api,
    ):
        result = cli.run("read", emulator_config(api, start_date="2023-01-01", end_date="2023-12-31"), committed_catalog())
        redirected, reached_other = len(api.log), len(other.log)
    final = result.errors()[-1]
    print(f"\nHTTP {status} redirect: exit {result.exit_code}, {redirected} requests, {reached_other} at the other host")
    assert result.exit_code == 1
    assert reached_other == 0
    assert redirected <= CONCURRENCY
    assert final["failure_type"] == "config_error"
    assert f"answered with a redirect (HTTP {status}) to {other.url.removeprefix('http://')}" in final["message"]
    assert "'base_url'" in final["message"]
    assert not result.records()


@pytest.mark.parametrize(
    "label",
    ["2099-12-31", "2024-01", "2024-01-15 13:00", "2024-01-31"],
    ids=["a day outside the window", "a month in a day report", "an hour", "a day twice"],
)
def test_a_row_that_is_not_one_new_bucket_of_the_window_once_is_retried_and_the_read_is_exact(cli: Cli, label: str) -> None:
    with Emulator(Account(), Faults(script=["stray_row"], stray_label=label)) as api:
        config = emulator_config(api, start_date=MONTH[0], end_date=MONTH[1])
        result = cli.run("read", config, one_stream_catalog("session_time"))
        outcomes = [r.outcome for r in api.log]
    assert result.exit_code == 0, result.errors()
    assert outcomes == ["stray_row", "ok"]
    assert final_cursor(result, "session_time") == "2024-01-31T00:00:00+0800", "the state is the window's, not the stray row's"
    truth = ground_truth(Account(), *MONTH)
    assert_union_is_the_ground_truth([result], {**truth, "agent_workload": {}, "agent_quality": {}})


def test_a_row_outside_its_window_every_time_fails_the_window_and_the_state_stays_before_it(cli: Cli) -> None:
    with Emulator(Account(), Faults(rate=1.0, kinds=("stray_row",))) as api:
        config = emulator_config(api, start_date=MONTH[0], end_date=MONTH[1])
        first = cli.run("read", config, one_stream_catalog("session_time"))
        first_requests = len(api.log)
        api.set_faults(Faults())
        api.clear_log()
        second = cli.run("read", config, one_stream_catalog("session_time"), state=first.final_states())
        second_requests = len(api.log)
    final = first.errors()[-1]["message"]
    assert first.exit_code == 1
    assert first_requests == 2, "the first try, and a retry that came back the same"
    assert "time=2099-12-31 lies outside the window asked for" in final
    assert final_cursor(first, "session_time") == "2024-01-01T00:00:00+0800"
    assert second.exit_code == 0, second.errors()
    assert second_requests == 1, "the next sync reads the window again"
    truth = ground_truth(Account(), *MONTH)
    assert_union_is_the_ground_truth([second], {**truth, "agent_workload": {}, "agent_quality": {}})


# --- a host name with a typo ------------------------------------------------------------


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """`socket.getaddrinfo` answers each host in the dict with that resolver error, the
    others as usual: a resolver of the test's own, whatever the machine's network."""
    answers: dict[str, int] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host in answers:
            raise socket.gaierror(
                answers[host],
                "Name or service not known" if answers[host] == socket.EAI_NONAME else "Temporary failure in name resolution",
            )
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def typo_host_config(**values: Any) -> dict[str, Any]:
    """The emulator account's credentials, sent to TYPO_HOST (whose resolution the test sets)."""
    return {"app_key": Account().app_key, "secret_key": Account().secret_key, "base_url": f"https://{TYPO_HOST}", **values}


def test_a_host_that_does_not_resolve_stops_a_read_within_seconds_as_a_config_error_naming_it(
    cli: Cli, resolver: dict[str, int]
) -> None:
    resolver[TYPO_HOST] = socket.EAI_NONAME
    config = typo_host_config(start_date="2023-01-01", end_date="2023-12-31")
    started = time.monotonic()
    result = cli.run("read", config, committed_catalog())
    wall = time.monotonic() - started
    final = result.errors()[-1]
    print(f"\nhost that does not resolve: exit {result.exit_code}, wall {wall:.1f} s, output {output_bytes(result)} bytes")
    assert result.exit_code == 1
    assert final["failure_type"] == "config_error"
    assert f"{TYPO_HOST} could not be found: the host name does not resolve" in final["message"]
    assert "outage" not in final["message"]
    assert wall < 10
    assert not any("retrying in" in w for w in warnings(result))


def test_a_temporary_resolver_failure_stays_transient_and_is_retried(cli: Cli, resolver: dict[str, int]) -> None:
    resolver[TYPO_HOST] = socket.EAI_AGAIN
    config = typo_host_config(start_date="2024-03-01", end_date="2024-03-01", max_retries=2, retry_backoff_seconds=0.05)
    result = cli.run("read", config, one_stream_catalog("agent_workload"))
    retried = [w for w in warnings(result) if "a temporary DNS failure" in w]
    assert result.exit_code == 1
    assert len(retried) == 3, "the first try and two retries, each named"
    assert result.errors()[-1]["failure_type"] == "transient_error"


# --- types as the schema says -----------------------------------------------------------


def test_numbers_sent_as_text_arrive_as_the_numbers_the_schema_types(cli: Cli) -> None:
    days = ("2024-03-01", "2024-03-03")
    with Emulator(Account(), Faults(numbers_as_strings=True)) as api:
        config = emulator_config(api, start_date=days[0], end_date=days[1])
        catalog = configured_catalog(discovered_catalog(cli.run("discover", config)))
        result = cli.run("read", config, catalog)
    assert result.exit_code == 0, result.errors()
    schemas = {s["stream"]["name"]: s["stream"]["json_schema"]["properties"] for s in catalog["streams"]}
    numeric = {
        (stream, column)
        for stream, properties in schemas.items()
        for column, prop in properties.items()
        if {"integer", "number"} & set(prop.get("type", []))
    }
    converted = 0
    for stream in STREAMS:
        for record in result.records(stream):
            for column, value in record.items():
                if (stream, column) in numeric:
                    assert not isinstance(value, str), f"{stream}.{column} = {value!r}"
                    converted += 1
                if isinstance(value, dict):  # the account's states and satisfaction levels
                    assert not [inner for inner in value.values() if isinstance(inner, str)], f"{stream}.{column} = {value!r}"
    assert converted > 250
    assert_union_is_the_ground_truth([result], ground_truth(Account(), *days))
    assert not [w for w in warnings(result) if "which is no number" in w]


@pytest.mark.parametrize(
    "text", ["-", "18446744073709551616", "1_000"], ids=["placeholder", "beyond-64-bits", "python-only-form"]
)
def test_text_that_is_no_number_a_destination_takes_is_kept_and_named_once_per_column(cli: Cli, text: str) -> None:
    with Emulator(Account(), Faults(text_in_column=("replyCount", text))) as api:
        config = emulator_config(api, start_date="2024-03-01", end_date="2024-03-03")
        result = cli.run("read", config, one_stream_catalog("agent_workload"))
    assert result.exit_code == 0, result.errors()
    assert {r["replyCount"] for r in result.records("agent_workload")} == {text}
    (warning,) = [w for w in warnings(result) if "which is no number" in w]
    assert f"agent_workload: column replyCount holds {text}" in warning
    assert "integer" in warning


# --- a Retry-After that is no number ----------------------------------------------------


def test_a_retry_after_of_nan_is_no_wait_asked_for_and_the_retry_reads_the_day(cli: Cli) -> None:
    with Emulator(Account(), Faults(script=["http_429"], retry_after_text="nan")) as api:
        config = emulator_config(api, start_date="2024-03-01", end_date="2024-03-01")
        result = cli.run("read", config, one_stream_catalog("agent_workload"))
        outcomes = [r.outcome for r in api.log]
    assert result.exit_code == 0, result.errors()
    assert outcomes == ["http_429", "ok"]
    assert "Traceback" not in result.stdout + result.stderr
