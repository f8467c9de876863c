"""Replies the connector must not trust and failures it must bound, through the installed
command: a failed re-read that the next sync reads again, successes without a report, a
body that trickles, an outage under the full discovered catalog, one report refused, and a
`Retry-After` given as a date."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator

import pytest

import moor7_emulator.server
from moor7_emulator import Account, Emulator, Faults, ground_truth

from .conftest import Cli, CliResult, committed_catalog, configured_catalog, emulator_config
from .reliability_checks import STREAMS, assert_state_never_passes_unemitted_records
from .test_containment import one_stream_catalog, output_bytes, refused_url
from .test_setting_changes import assert_union_is_the_ground_truth
from .virtual_clock import VIRTUAL

OUTAGE_BOUND_SECONDS = 240  # the spec's "ends within 4 minutes"


def final_cursor(result: CliResult, stream: str) -> str:
    (state,) = [s for s in result.final_states() if s["stream"]["stream_descriptor"]["name"] == stream]
    return state["stream"]["stream_state"]["period_start"]


def test_a_lookback_window_that_fails_holds_the_state_there_and_the_next_healthy_sync_reads_it_exactly(cli: Cli) -> None:
    failed_day = "2024-01-19"
    incoming = [
        {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": "agent_workload"},
                "stream_state": {"period_start": "2024-01-20T00:00:00+0800"},
            },
        }
    ]
    with Emulator(Account(), Faults(broken_windows=[("agent_workload", f"{failed_day} 00:00:00")])) as api:
        config = emulator_config(api, start_date="2024-01-01", end_date="2024-01-31", lookback_days=1, max_retries=2)
        first = cli.run("read", config, one_stream_catalog("agent_workload"), state=incoming)
        assert first.exit_code != 0
        assert final_cursor(first, "agent_workload") == f"{failed_day}T00:00:00+0800", "the state holds at the failed re-read"
        final = first.errors()[-1]["message"]
        assert f"[stream agent_workload, createTime {failed_day} 00:00:00 to {failed_day} 23:59:59]" in final
        assert f"period_start {failed_day}T00:00:00+0800" in final, final
        assert "reads from there" in final, final

        api.set_faults(Faults())
        api.clear_log()
        second = cli.run("read", config, one_stream_catalog("agent_workload"), state=first.final_states())
        windows = sorted({r.window[0][:10] for r in api.log if r.stream == "agent_workload"})

    assert second.exit_code == 0, second.errors()
    assert not second.errors(), second.errors()
    assert windows[0] == "2024-01-18", f"the healthy sync starts at the failed day less the lookback: {windows[:3]}"
    truth = ground_truth(Account(), windows[0], "2024-01-31")
    truth = {stream: (rows if stream == "agent_workload" else {}) for stream, rows in truth.items()}
    assert_union_is_the_ground_truth([second], truth)
    assert final_cursor(second, "agent_workload") == "2024-01-31T00:00:00+0800"


@pytest.mark.parametrize(
    "shape", ["success_no_data", "success_data_null", "success_list_object", "success_list_null", "null_row"]
)
def test_the_same_success_without_a_report_twice_fails_the_window_at_once_with_the_state_before_it(cli: Cli, shape: str) -> None:
    """At the default settings (a first wait of 5 s, on the virtual clock): the second attempt
    comes back the same, so the window fails there instead of spending its 2-minute budget."""
    with Emulator(Account(), Faults(script=[shape] * 3)) as api:
        config = emulator_config(api, start_date="2024-03-01", end_date="2024-03-01")
        del config["retry_backoff_seconds"]
        started = time.monotonic()
        result = cli.run("read", config, one_stream_catalog("agent_workload"))
        wall = time.monotonic() - started
        outcomes = [r.outcome for r in api.log]
    final = result.errors()[-1]["message"]
    print(f"\n{shape}: exit {result.exit_code}, {len(outcomes)} requests, wall {wall:.1f} s; {final[:300]}")
    assert result.exit_code != 0
    assert not result.records()
    assert outcomes == [shape] * 2, "the first try, and one retry that came back the same"
    assert wall < 30
    assert "7moor answered success without a report" in final
    assert "never read as data" in final
    assert "came back the same" in final
    assert "[stream agent_workload, createTime 2024-03-01 00:00:00 to 2024-03-01 23:59:59]" in final
    assert final_cursor(result, "agent_workload") == "2024-03-01T00:00:00+0800", "the state stays before the window"


@pytest.mark.parametrize("shape", ["success_data_null", "null_row"])
def test_a_success_without_a_report_once_is_retried_and_the_retry_reads_the_day_exactly(cli: Cli, shape: str) -> None:
    with Emulator(Account(), Faults(script=[shape])) as api:
        config = emulator_config(api, start_date="2024-03-01", end_date="2024-03-01")
        result = cli.run("read", config, one_stream_catalog("agent_workload"))
        outcomes = [r.outcome for r in api.log]
    assert result.exit_code == 0, result.errors()
    assert outcomes == [shape, "ok"]
    truth = ground_truth(Account(), "2024-03-01", "2024-03-01")
    assert_union_is_the_ground_truth([result], {**truth, "session_time": {}, "agent_quality": {}})


def test_a_report_without_a_header_is_read_for_its_rows(cli: Cli) -> None:
    """`header` is what discover and report_columns read; a read of rows needs only `list`."""
    with Emulator(Account(), Faults(without_header=True)) as api:
        config = emulator_config(api, start_date="2024-03-01", end_date="2024-03-01")
        result = cli.run("read", config, one_stream_catalog("agent_workload"))
        outcomes = [r.outcome for r in api.log]
    assert result.exit_code == 0, result.errors()
    assert outcomes == ["ok"], "read once, not retried"
    truth = ground_truth(Account(), "2024-03-01", "2024-03-01")
    assert truth["agent_workload"], "the day has rows to read"
    assert_union_is_the_ground_truth([result], {**truth, "session_time": {}, "agent_quality": {}})


def test_an_empty_report_is_a_real_empty_report(cli: Cli) -> None:
    """The documented shape with no rows: each day read once, exit 0, no records."""
    with Emulator(Account(), Faults()) as api:
        config = emulator_config(api, start_date="2024-03-01", end_date="2024-03-02", agent_ids=["no-such-agent"])
        result = cli.run("read", config, one_stream_catalog("agent_workload"))
        outcomes = [r.outcome for r in api.log]
    assert result.exit_code == 0
    assert not result.errors()
    assert not result.records()
    assert outcomes == ["ok", "ok"]


def test_a_body_that_trickles_is_cut_at_the_attempt_deadline_and_the_retry_reads_the_day(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the virtual clock: each byte-a-second wait of the emulator moves it on a second, and
    the attempt's deadline fires when it passes 60 s. The bytes earn no time: the body's
    progress is counted 10 KiB at a time."""
    VIRTUAL.waits_in(monkeypatch, moor7_emulator.server)
    with VIRTUAL.timers(), Emulator(Account(), Faults(script=["trickle"])) as api:
        config = {**emulator_config(api, start_date="2024-03-01", end_date="2024-03-01")}
        del config["retry_backoff_seconds"]  # the defaults: a 60 s deadline, a 5 s first wait
        started = time.monotonic()
        result = cli.run("read", config, one_stream_catalog("agent_workload"), timeout=300)
        wall = time.monotonic() - started
        outcomes = [r.outcome for r in api.log]
        trickle, retry = api.log
    truth = ground_truth(Account(), "2024-03-01", "2024-03-01")
    print(f"\ntrickling body, one day, defaults: {outcomes}, wall {wall:.1f} s")
    assert outcomes == ["trickle", "ok"]
    assert result.exit_code == 0, result.errors()
    assert not result.errors(), result.errors()
    assert len(result.records("agent_workload")) == len(truth["agent_workload"])
    assert 60 <= wall < OUTAGE_BOUND_SECONDS, "the first attempt was cut at its 60 s deadline, not left running"
    assert 65 <= retry.received_at - trickle.received_at < 66.5, "cut at 60 s, retried 5 s later"
    warned = [m["log"]["message"] for m in result.of_type("LOG") if "Attempt 1 of" in m["log"]["message"]]
    assert any("no complete answer within 60 s (0 bytes of the body read;" in line for line in warned), warned


@pytest.mark.runs_long(8)
def test_an_outage_ends_the_full_discovered_catalog_within_four_minutes_by_default(
    cli: Cli, virtual_silent_listener: str
) -> None:
    """HTTP 500 for a month, a refused port and a silent host for a year, with the defaults and
    every discovered stream (report_columns included), on the virtual clock: the retry waits,
    and for the silent host its attempt deadlines and the time its connections stay silent."""
    with Emulator(Account(), Faults()) as healthy:
        discovered = cli.run("discover", emulator_config(healthy, start_date="2024-01-01", end_date="2024-01-31"))
    (catalog_message,) = discovered.of_type("CATALOG")
    catalog = configured_catalog(catalog_message["catalog"], streams=[*STREAMS, "report_columns"])
    assert len(catalog["streams"]) == 4

    with Emulator(Account(), Faults(rate=1.0, kinds=("http_500",))) as down:
        cases = {
            "HTTP 500, one month": (down, {"start_date": "2024-01-01", "end_date": "2024-01-31", "base_url": down.url}),
            "refused port, one year": (None, {"start_date": "2023-01-01", "end_date": "2023-12-31", "base_url": refused_url()}),
            "silent host, one year": (
                None,
                {"start_date": "2023-01-01", "end_date": "2023-12-31", "base_url": virtual_silent_listener},
            ),
        }
        outcomes: dict[str, tuple[CliResult, float]] = {}
        for case, (_, values) in cases.items():
            workdir = cli.workdir / re.sub(r"\W+", "_", case)
            workdir.mkdir()
            config = {"app_key": Account().app_key, "secret_key": Account().secret_key, **values}
            with VIRTUAL.timers() if case.startswith("silent") else contextlib.nullcontext():
                started = time.monotonic()
                result = Cli(None, workdir).run("read", config, catalog)
                outcomes[case] = (result, time.monotonic() - started)
        requests_to_down = len(down.log)

    for case, (result, wall) in outcomes.items():
        final = result.errors()[-1]["message"] if result.errors() else ""
        count = f"{requests_to_down} requests" if case.startswith("HTTP") else "requests not counted"
        print(
            f"\n{case}: exit {result.exit_code}, {count}, wall {wall:.1f} s, output {output_bytes(result)} bytes; {final[:240]}"
        )
        assert result.exit_code != 0, case
        assert wall < OUTAGE_BOUND_SECONDS, f"{case}: {wall:.0f} s"
        assert "answered no request of this read" in final, final
        assert "stopped as for an outage" in final, final
        assert not result.records(), case
    assert requests_to_down < 60


def test_a_report_the_account_may_not_read_stops_its_stream_only_and_the_others_are_exact(cli: Cli) -> None:
    start, end = "2024-01-01", "2024-01-31"
    with Emulator(Account(), Faults(forbidden_streams=["agent_quality"])) as api:
        config = emulator_config(api, start_date=start, end_date=end)
        result = cli.run("read", config, committed_catalog())
        quality_requests = len(api.requests_for("agent_quality", outcome=None))
        others = {stream: len(api.requests_for(stream)) for stream in ("session_time", "agent_workload")}
    final = result.errors()[-1]["message"]
    print(f"\nagent_quality refused: {quality_requests} requests to it, {others} to the others; {final[:300]}")
    assert result.exit_code != 0
    assert quality_requests <= 4, "only the windows already in flight"
    assert "refused the agent_quality report" in final
    assert "permission" in final
    assert "无权限访问该接口" in final
    assert "'secret_key'" not in final, "a refused report is not blamed on the credentials"
    assert final.startswith("1 of 3 streams stopped")
    truth = ground_truth(Account(), start, end)
    assert_union_is_the_ground_truth([result], {**truth, "agent_quality": {}})
    assert final_cursor(result, "agent_workload") == f"{end}T00:00:00+0800"
    assert final_cursor(result, "session_time") == f"{end}T00:00:00+0800"
    assert_state_never_passes_unemitted_records(result.messages, truth)


def test_a_retry_after_given_as_a_date_is_honoured_and_one_of_hours_stops_the_window(cli: Cli) -> None:
    faults = Faults(script=["http_429"], retry_after_seconds=4, retry_after_as_date=True)
    with Emulator(Account(), faults) as api:
        config = emulator_config(api, start_date="2024-03-01", end_date="2024-03-01")
        waited = cli.run("read", config, one_stream_catalog("agent_workload"))
        arrivals = [r.received_at for r in api.log]
    assert waited.exit_code == 0, waited.errors()
    assert not waited.errors(), waited.errors()
    assert len(arrivals) == 2, "the retry waited for the date (the exponential wait is 1.1 s)"
    assert arrivals[1] - arrivals[0] >= 3, "the retry waited for the date (the exponential wait is 1.1 s)"

    faults = Faults(script=["http_429"], retry_after_seconds=7200, retry_after_as_date=True)
    with Emulator(Account(), faults) as api:
        config = emulator_config(api, start_date="2024-03-01", end_date="2024-03-01")
        refused = cli.run("read", config, one_stream_catalog("agent_workload"))
        requests = len(api.log)
    final = refused.errors()[-1]["message"]
    assert refused.exit_code != 0
    assert requests == 1
    assert re.search(r"asked to wait 7(19\d|200) s", final), final
    assert "60 s this connector waits at most" in final, final


def test_with_one_request_at_a_time_a_broken_window_stops_its_stream_only_not_the_read(cli: Cli) -> None:
    """Nothing else can answer while a lone window retries; the next window's answer shows
    the API is up, so the read goes on."""
    broken = ("agent_workload", "2024-05-03 00:00:00")
    with Emulator(Account(), Faults(broken_windows=[broken])) as api:
        config = emulator_config(
            api, start_date="2024-05-01", end_date="2024-05-10", max_concurrent_requests=1, max_retries=2, lookback_days=0
        )
        result = cli.run("read", config, committed_catalog())
    final = result.errors()[-1]["message"]
    assert result.exit_code != 0
    assert "outage" not in final, final
    assert final.startswith("1 of 3 streams stopped"), final
    truth = ground_truth(Account(), "2024-05-01", "2024-05-10")
    assert_union_is_the_ground_truth(
        [result], {**truth, "agent_workload": {k: v for k, v in truth["agent_workload"].items() if k[1] < "2024-05-03"}}
    )


@pytest.mark.parametrize(
    ("forbidden", "message", "words"),
    [
        (["agent_quality"], "该账号未开通此报表", "refused the agent_quality report"),
        (["session_time", "agent_workload", "agent_quality"], "Forbidden", "refused every report it was asked for"),
    ],
    ids=["one report, its own words", "every report, a gateway's 403"],
)
def test_a_refusal_is_told_from_credentials_by_what_7moor_refuses(
    cli: Cli, forbidden: list[str], message: str, words: str
) -> None:
    with Emulator(Account(), Faults(forbidden_streams=forbidden, forbidden_message=message)) as api:
        config = emulator_config(api, start_date="2024-01-01", end_date="2024-01-31")
        result = cli.run("read", config, committed_catalog())
        refused = [r for r in api.log if r.outcome == "forbidden"]
    final = result.errors()[-1]["message"]
    assert result.exit_code != 0, final
    assert words in final, final
    assert len(refused) <= 4 * len(forbidden), "each refused stream stops after the windows in flight at its first refusal"
    if len(forbidden) == 3:
        assert "'app_key'" in final
        assert "IP address" in final
        assert result.errors()[-1]["failure_type"] == "config_error"
    else:
        assert "'secret_key'" not in final
        assert final.startswith("1 of 3 streams stopped")


@pytest.fixture
def header_trickler() -> Iterator[str]:
    """A host that accepts every connection and sends its headers a byte every 2 s, for 400 s."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def trickle(connection: socket.socket) -> None:
        with connection:
            try:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(200):
                    if stop.wait(2.0):
                        return
                    connection.sendall(b"a")
            except OSError:  # the client gave up
                pass

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=trickle, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.close()


@pytest.mark.runs_long(16)
def test_check_against_a_host_that_trickles_its_headers_answers_within_30_seconds(cli: Cli, header_trickler: str) -> None:
    config = {
        "app_key": "2000103",
        "secret_key": "not-a-real-secret-1234",
        "start_date": "2024-03-01",
        "base_url": header_trickler,
    }
    started = time.monotonic()
    result = cli.run("check", config, timeout=120)
    wall = time.monotonic() - started
    (status,) = [m["connectionStatus"] for m in result.of_type("CONNECTION_STATUS")]
    print(f"\ncheck against a header trickle: {wall:.1f} s; {status['message'][:200]}")
    assert status["status"] == "FAILED", status
    assert "sent no complete answer within 8 s" in status["message"], status
    assert wall < 30, "two 8 s attempts and a short wait, plus start-up"
