"""The retry budget with the manifest's defaults: capped waits, a bounded window, and a
Retry-After of hours refused. The clock is simulated; the error handler is the
one the manifest declares, built by the CDK's component factory."""

from __future__ import annotations

from email.utils import formatdate

import pytest
import requests
import yaml

from airbyte_cdk.sources.declarative.models.declarative_component_schema import CustomErrorHandler
from airbyte_cdk.sources.declarative.parsers.manifest_component_transformer import ManifestComponentTransformer
from airbyte_cdk.sources.declarative.parsers.manifest_reference_resolver import ManifestReferenceResolver
from airbyte_cdk.sources.declarative.parsers.model_to_component_factory import ModelToComponentFactory
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_moor7_im.hardening.stop_rules import StopSignal
from source_moor7_im.replies import ReportErrorHandler
from source_moor7_im.settings import MANIFEST_PATH, with_defaults
from source_moor7_im.source import SourceMoor7Im

from .builders import BASE_URL, ConfigBuilder

CDK_EXTRA_SECOND = 1  # the CDK sleeps one second more than the strategy's answer


def manifest_error_handler(interactive: bool = False) -> ReportErrorHandler:
    with open(MANIFEST_PATH, encoding="utf-8") as file:
        manifest = yaml.safe_load(file)
    if interactive:
        manifest = SourceMoor7Im.interactive_manifest(manifest)
    resolved = ManifestReferenceResolver().preprocess_manifest(manifest)
    definition = ManifestComponentTransformer().propagate_types_and_parameters(
        "", {**resolved["definitions"]["requester_base"]["error_handler"], "$parameters": {"name": "agent_quality"}}, {}
    )
    # the spec's defaults, as the config transformation fills them in
    config = with_defaults(
        {k: v for k, v in ConfigBuilder().build().items() if k not in ("max_retries", "retry_backoff_seconds")}
    )
    handler = ModelToComponentFactory().create_component(CustomErrorHandler, definition, config)
    assert isinstance(handler, ReportErrorHandler)
    return handler


def server_error() -> requests.Response:
    response = requests.Response()
    response.status_code = 500
    response._content = b'{"success": false, "code": "500", "message": "internal error"}'
    response.request = requests.Request(
        "POST", f"{BASE_URL}/openapi/im-report/agent/quality", json={"createTime": ["2024-08-02 00:00:00", "2024-08-02 23:59:59"]}
    ).prepare()
    return response


def simulate_server_down(handler: ReportErrorHandler) -> tuple[list[float], float]:
    """Every attempt answered by a 500 at once: the waits until the window gives up, and
    the time from the first attempt to the last."""
    now = [0.0]
    wait_strategy = handler.backoff_strategies[0]
    wait_strategy.clock = lambda: now[0]
    wait_strategy.stop = StopSignal()
    response, waits, stopped_by = server_error(), [], ""
    for attempt in range(1, handler.max_retries + 1):
        try:
            wait = wait_strategy.backoff_time(response, attempt)
        except AirbyteTracedException as gave_up:
            stopped_by = gave_up.message or ""
            break
        waits.append(wait + CDK_EXTRA_SECOND)
        now[0] += wait + CDK_EXTRA_SECOND
    assert not stopped_by or "budget" in stopped_by, "only the budget stops the retries early"
    return waits, now[0]


def test_with_the_defaults_a_window_against_a_server_that_is_down_ends_within_its_two_minute_budget() -> None:
    handler = manifest_error_handler()
    waits, last_attempt_at = simulate_server_down(handler)
    assert handler.max_retries == 8
    assert waits[:4] == [5, 9, 17, 33], "exponential from a 2 s base (2 x 2^attempt) while under the cap"
    assert max(waits) <= 60 + CDK_EXTRA_SECOND, "no wait above the 60 s cap"
    assert last_attempt_at <= 120 + CDK_EXTRA_SECOND, "the last attempt starts within the 120 s budget"
    print(f"\ndefault schedule: waits {waits}, last attempt at {last_attempt_at:.0f} s, {len(waits) + 1} attempts")


def test_each_retry_line_says_what_the_budget_leaves_and_the_last_retry_says_it_is_the_last(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="airbyte.source_moor7_im"):
        waits, _ = simulate_server_down(manifest_error_handler())
    lines = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(lines) == len(waits)
    assert all("(0 s of" not in line for line in lines), lines
    assert lines[-1].endswith("retrying in 57.0 s (the last attempt within the window's 120 s retry budget)."), lines[-1]
    assert lines[0].endswith("retrying in 5.0 s (115 s of the window's 120 s retry budget left)."), lines[0]


def test_check_and_discover_give_up_on_a_server_that_is_down_within_seconds() -> None:
    handler = manifest_error_handler(interactive=True)
    waits, last_attempt_at = simulate_server_down(handler)
    assert handler.max_retries == 2
    assert waits == [1.5, 2]
    assert last_attempt_at == 3.5


def test_a_retry_after_of_hours_stops_the_window_instead_of_waiting() -> None:
    wait_strategy = manifest_error_handler().backoff_strategies[0]
    wait_strategy.stop = StopSignal()
    response = server_error()
    response.status_code = 429
    response.headers["Retry-After"] = "7200"
    with pytest.raises(AirbyteTracedException) as stopped:
        wait_strategy.backoff_time(response, 1)
    assert "asked to wait 7200 s" in stopped.value.message
    assert "[stream agent_quality, createTime 2024-08-02 00:00:00 to 2024-08-02 23:59:59]" in stopped.value.message
    response.headers["Retry-After"] = "30"
    assert wait_strategy.backoff_time(response, 1) == 30, "a Retry-After under the cap is honoured as asked"


@pytest.mark.parametrize("value", ["inf", "1e400"])
def test_a_retry_after_without_end_stops_the_window_as_one_of_hours_does(value: str) -> None:
    wait_strategy = manifest_error_handler().backoff_strategies[0]
    wait_strategy.stop = StopSignal()
    response = server_error()
    response.status_code = 429
    response.headers["Retry-After"] = value
    with pytest.raises(AirbyteTracedException) as stopped:
        wait_strategy.backoff_time(response, 1)
    assert "asked to wait without end before the next attempt" in stopped.value.message


def test_a_retry_after_given_as_an_http_date_is_read_as_the_wait_until_that_date() -> None:
    wait_strategy = manifest_error_handler().backoff_strategies[0]
    wait_strategy.stop = StopSignal()
    now = 1_700_000_000.0
    header_strategy = wait_strategy.strategies[0]
    header_strategy.clock = lambda: now
    response = server_error()
    response.status_code = 429
    response.headers["Retry-After"] = formatdate(now + 7200, usegmt=True)
    with pytest.raises(AirbyteTracedException) as stopped:
        wait_strategy.backoff_time(response, 1)
    assert "asked to wait 7200 s" in stopped.value.message
    assert "60 s this connector waits at most" in stopped.value.message
    response.headers["Retry-After"] = formatdate(now + 20, usegmt=True)
    assert wait_strategy.backoff_time(response, 1) == 20, "a date under the cap is waited for"
    response.headers["Retry-After"] = formatdate(now - 20, usegmt=True)
    assert wait_strategy.backoff_time(response, 1) == 4, (
        "a date in the past asks for no wait: the exponential wait (2 x 2^1) applies"
    )


def read_timeout() -> requests.ReadTimeout:
    return requests.ReadTimeout("read timed out", request=server_error().request)


def simulate_silent_host(handler: ReportErrorHandler, read_timeout_seconds: float) -> float:
    """Every attempt runs into the read timeout: the time from the first attempt's start to
    the end of the last one."""
    now = [0.0]
    wait_strategy = handler.backoff_strategies[0]
    wait_strategy.clock = lambda: now[0]
    wait_strategy.stop = StopSignal()
    exception = read_timeout()
    for attempt in range(1, handler.max_retries + 2):
        now[0] += read_timeout_seconds  # the attempt hangs until its timeout
        try:
            wait = wait_strategy.backoff_time(exception, attempt)
        except AirbyteTracedException as gave_up:
            stopped_by = gave_up.message or ""
            break
        now[0] += wait + CDK_EXTRA_SECOND
    else:
        raise AssertionError("the window never gave up")
    assert "budget" in stopped_by
    return now[0]


def test_against_a_host_that_never_answers_a_window_ends_within_its_two_minute_budget_and_one_attempt() -> None:
    # The budget counts from the first attempt's start: 60 s attempts and a 5 s wait; the
    # second attempt ends past the 120 s budget: a window costs its budget plus at most one
    # attempt, not a timeout, the whole budget and another timeout.
    handler = manifest_error_handler()
    assert handler.backoff_strategies[0].read_timeout_seconds == 60
    assert simulate_silent_host(handler, read_timeout_seconds=60) == 60 + 5 + 60


def test_check_and_discover_give_up_on_a_host_that_never_answers_within_twenty_seconds() -> None:
    handler = manifest_error_handler(interactive=True)
    assert handler.backoff_strategies[0].read_timeout_seconds == 8, "the interactive read timeout reaches the budget"
    # an 8 s attempt, a 0.5 s wait (+1 s), a second 8 s attempt; then the 9 s budget is spent
    assert simulate_silent_host(handler, read_timeout_seconds=8) == 17.5
