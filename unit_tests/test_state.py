"""A state round trip: the second sync, from the state the first emitted, asks only for the tail."""

from __future__ import annotations

from freezegun import freeze_time

from airbyte_cdk.models import AirbyteStateMessage, AirbyteStateType, AirbyteStreamState, StreamDescriptor
from airbyte_cdk.test.mock_http import HttpMocker

from .builders import ConfigBuilder, ReportRequestBuilder, ReportResponseBuilder, catalog
from .conftest import read


def _workload_day(http_mocker: HttpMocker, day: str, agents: int) -> None:
    http_mocker.post(
        ReportRequestBuilder.for_stream("agent_workload").with_day(day).build(),
        ReportResponseBuilder.report().with_rows([{"agentId": f"agent{n}[{n}]", "initCount": n} for n in range(agents)]).build(),
    )


def test_second_sync_from_the_emitted_state_requests_only_the_tail() -> None:
    config = ConfigBuilder().with_start_date("2024-08-01").with_end_date(None).with_values(lookback_days=1).build()

    with freeze_time("2024-08-03 04:00:00"), HttpMocker() as http_mocker:  # 12:00 in Shanghai
        for day in ("2024-08-01", "2024-08-02"):
            _workload_day(http_mocker, day, 2)
        http_mocker.post(
            ReportRequestBuilder.for_stream("agent_workload").with_create_time("2024-08-03 00:00:00", "2024-08-03 12:00:00").build(),
            ReportResponseBuilder.report().with_rows([{"agentId": "agent0[0]", "initCount": 1}]).build(),
        )
        first = read(config, catalog("agent_workload"))
    assert len(first.records) == 5
    state = first.most_recent_state
    assert state.stream_descriptor.name == "agent_workload"
    assert state.stream_state.__dict__ == {"period_start": "2024-08-03T00:00:00+0800"}

    # Two days later: the tail is the cursor's day minus one lookback day, up to now.
    with freeze_time("2024-08-05 04:00:00"), HttpMocker() as http_mocker:
        for day in ("2024-08-02", "2024-08-03", "2024-08-04"):
            _workload_day(http_mocker, day, 1)
        http_mocker.post(
            ReportRequestBuilder.for_stream("agent_workload").with_create_time("2024-08-05 00:00:00", "2024-08-05 12:00:00").build(),
            ReportResponseBuilder.report().with_rows([]).build(),
        )
        second = read(
            config,
            catalog("agent_workload"),
            [AirbyteStateMessage(type=AirbyteStateType.STREAM, stream=AirbyteStreamState(stream_descriptor=StreamDescriptor(name="agent_workload"), stream_state=state.stream_state))],
        )
    # HttpMocker fails the test if a window before 2024-08-02 is asked for, or one above is not.
    assert sorted(m.record.data["period_start"] for m in second.records) == [
        "2024-08-02T00:00:00+08:00", "2024-08-03T00:00:00+08:00", "2024-08-04T00:00:00+08:00",
    ]
    assert second.most_recent_state.stream_state.__dict__ == {"period_start": "2024-08-04T00:00:00+0800"}


def test_state_is_checkpointed_after_every_window() -> None:
    config = ConfigBuilder().with_start_date("2024-08-01").with_end_date("2024-08-04").with_values(max_concurrent_requests=1).build()
    with freeze_time("2024-09-01"), HttpMocker() as http_mocker:
        for day in ("2024-08-01", "2024-08-02", "2024-08-03", "2024-08-04"):
            _workload_day(http_mocker, day, 1)
        output = read(config, catalog("agent_workload"))
    cursors = [m.state.stream.stream_state.__dict__.get("period_start") for m in output.state_messages]
    for day in ("2024-08-01", "2024-08-02", "2024-08-03", "2024-08-04"):
        assert f"{day}T00:00:00+0800" in cursors, f"no checkpoint after the window of {day}: {cursors}"
