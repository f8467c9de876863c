"""createTime windows: under one year, whole buckets, no overlap, no gap, fewest requests."""

from __future__ import annotations

import calendar
import datetime as dt
import itertools

import pytest
from freezegun import freeze_time

from airbyte_cdk.test.state_builder import StateBuilder

from source_moor7_im.calendar import lookback_duration

from .builders import ConfigBuilder
from .windows_helper import fmt, requested_windows

NOW = "2024-09-10 12:00:00"  # UTC; 20:00:00 in Asia/Shanghai
ONE_SECOND = dt.timedelta(seconds=1)


# The fewest and most days a window of each dimension spans (the last window of a range
# may be shorter): a month, two months, or a year from any day.
WINDOW_DAYS = {"half_hour": (28, 31), "hour": (59, 62), "day": (365, 366), "month": (365, 366), "year": (365, 366)}
# The most buckets one sub-day reply holds: 31 days of half hours, 62 days of hours.
MAX_SUB_DAY_BUCKETS = 1488


# The oracle, written apart from the package's calendar: what a bucket start of each dimension
# looks like, and how long the fixed buckets are.
FIXED = {"half_hour": dt.timedelta(minutes=30), "hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}


def is_bucket_start(moment: dt.datetime, dimension: str) -> bool:
    midnight = moment.time() == dt.time()
    return {
        "half_hour": moment.minute in (0, 30) and moment.second == 0,
        "hour": moment.minute == 0 and moment.second == 0,
        "day": midnight,
        "month": midnight and moment.day == 1,
        "year": midnight and moment.day == 1 and moment.month == 1,
    }[dimension]


def bucket_floor(day: dt.datetime, dimension: str) -> dt.datetime:
    """The start of the bucket that holds midnight of `day`."""
    return day.replace(day=1) if dimension == "month" else day.replace(month=1, day=1) if dimension == "year" else day


def bucket_end(day: dt.datetime, dimension: str) -> dt.datetime:
    """The last second of the month or year that holds `day`."""
    last_day = (
        day.replace(day=calendar.monthrange(day.year, day.month)[1]) if dimension == "month" else day.replace(month=12, day=31)
    )
    return last_day.replace(hour=23, minute=59, second=59)


def _one_year_later(moment: dt.datetime) -> dt.datetime:
    try:
        return moment.replace(year=moment.year + 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + 1, day=28)


def assert_valid_windows(windows, dimension: str, first: dt.datetime, last: dt.datetime) -> None:
    assert windows, "no request was made"
    assert windows[0][0] == first
    assert windows[-1][1] == last
    for start, end in windows:
        assert start <= end
        assert end < _one_year_later(start), f"window {start} .. {end} reaches one year"
        assert is_bucket_start(start, dimension), f"window starts inside a {dimension} bucket: {start}"
    for (_, end), (next_start, _) in itertools.pairwise(windows):
        assert next_start == end + ONE_SECOND, f"gap or overlap between {end} and {next_start}"
    for _start, end in windows[:-1]:
        assert is_bucket_start(end + ONE_SECOND, dimension), f"window ends inside a {dimension} bucket: {end}"


@freeze_time(NOW)
def test_session_day_windows_are_as_long_as_a_year_allows() -> None:
    config = ConfigBuilder().with_start_date("2022-03-15").with_end_date("2024-08-03").build()
    assert fmt(requested_windows(config, "session_time")) == [
        ("2022-03-15 00:00:00", "2023-03-14 23:59:59"),
        ("2023-03-15 00:00:00", "2024-03-14 23:59:59"),
        ("2024-03-15 00:00:00", "2024-08-03 23:59:59"),
    ]


@freeze_time(NOW)
def test_session_window_from_a_leap_day_stays_under_one_year() -> None:
    config = ConfigBuilder().with_start_date("2023-02-28").with_end_date("2024-08-03").build()
    windows = fmt(requested_windows(config, "session_time"))
    assert windows == [("2023-02-28 00:00:00", "2024-02-27 23:59:59"), ("2024-02-28 00:00:00", "2024-08-03 23:59:59")]
    config = ConfigBuilder().with_start_date("2024-02-29").with_end_date(None).build()
    with freeze_time("2025-06-01 00:00:00"):
        windows = fmt(requested_windows(config, "session_time"))
    assert windows == [("2024-02-29 00:00:00", "2025-02-27 23:59:59"), ("2025-02-28 00:00:00", "2025-06-01 08:00:00")]


@freeze_time(NOW)
def test_sub_day_session_windows_are_a_month_of_half_hours_or_two_months_of_hours() -> None:
    config = ConfigBuilder().with_start_date("2024-01-01").with_end_date("2024-04-15").with_values(dimension="half_hour").build()
    assert fmt(requested_windows(config, "session_time")) == [
        ("2024-01-01 00:00:00", "2024-01-31 23:59:59"),
        ("2024-02-01 00:00:00", "2024-02-29 23:59:59"),
        ("2024-03-01 00:00:00", "2024-03-31 23:59:59"),
        ("2024-04-01 00:00:00", "2024-04-15 23:59:59"),
    ]
    config = ConfigBuilder().with_start_date("2024-01-01").with_end_date("2024-06-15").with_values(dimension="hour").build()
    assert fmt(requested_windows(config, "session_time")) == [
        ("2024-01-01 00:00:00", "2024-02-29 23:59:59"),
        ("2024-03-01 00:00:00", "2024-04-30 23:59:59"),
        ("2024-05-01 00:00:00", "2024-06-15 23:59:59"),
    ]


@freeze_time(NOW)
@pytest.mark.parametrize(
    ("dimension", "start_date", "expected"),
    [
        # 31 January + P1M is 29 February (a leap year): the windows go on from the 29th
        (
            "half_hour",
            "2024-01-31",
            [
                ("2024-01-31 00:00:00", "2024-02-28 23:59:59"),
                ("2024-02-29 00:00:00", "2024-03-28 23:59:59"),
                ("2024-03-29 00:00:00", "2024-04-28 23:59:59"),
                ("2024-04-29 00:00:00", "2024-05-10 23:59:59"),
            ],
        ),
        (
            "half_hour",
            "2023-01-30",
            [
                ("2023-01-30 00:00:00", "2023-02-27 23:59:59"),
                ("2023-02-28 00:00:00", "2023-03-27 23:59:59"),
                ("2023-03-28 00:00:00", "2023-04-27 23:59:59"),
                ("2023-04-28 00:00:00", "2023-05-10 23:59:59"),
            ],
        ),
        # 29 December + P2M is 28 February (not a leap year)
        (
            "hour",
            "2022-12-29",
            [
                ("2022-12-29 00:00:00", "2023-02-27 23:59:59"),
                ("2023-02-28 00:00:00", "2023-04-27 23:59:59"),
                ("2023-04-28 00:00:00", "2023-05-10 23:59:59"),
            ],
        ),
    ],
)
def test_month_steps_from_the_29th_to_the_31st_move_to_a_shorter_months_last_day_without_a_gap(
    dimension: str, start_date: str, expected: list[tuple[str, str]]
) -> None:
    end_date = expected[-1][1][:10]
    config = ConfigBuilder().with_start_date(start_date).with_end_date(end_date).with_values(dimension=dimension).build()
    windows = requested_windows(config, "session_time")
    assert fmt(windows) == expected
    assert_valid_windows(windows, dimension, windows[0][0], windows[-1][1])


@freeze_time(NOW)
def test_session_month_windows_start_on_a_month_and_read_the_last_month_whole() -> None:
    config = ConfigBuilder().with_start_date("2023-06-15").with_end_date("2024-08-03").with_values(dimension="month").build()
    assert fmt(requested_windows(config, "session_time")) == [
        ("2023-06-01 00:00:00", "2024-05-31 23:59:59"),
        ("2024-06-01 00:00:00", "2024-08-31 23:59:59"),
    ]


@freeze_time(NOW)
def test_session_year_windows_are_calendar_years_and_stop_at_now() -> None:
    config = ConfigBuilder().with_start_date("2021-05-05").with_end_date("2024-02-10").with_values(dimension="year").build()
    assert fmt(requested_windows(config, "session_time")) == [
        ("2021-01-01 00:00:00", "2021-12-31 23:59:59"),
        ("2022-01-01 00:00:00", "2022-12-31 23:59:59"),
        ("2023-01-01 00:00:00", "2023-12-31 23:59:59"),
        ("2024-01-01 00:00:00", "2024-09-10 20:00:00"),  # the rest of 2024 has not happened yet
    ]


@freeze_time(NOW)
def test_without_end_date_the_last_window_ends_now_in_account_time() -> None:
    config = ConfigBuilder().with_start_date("2024-09-01").with_end_date(None).build()
    assert fmt(requested_windows(config, "session_time")) == [("2024-09-01 00:00:00", "2024-09-10 20:00:00")]
    assert fmt(requested_windows(config, "agent_quality"))[-1] == ("2024-09-10 00:00:00", "2024-09-10 20:00:00")


@freeze_time(NOW)
def test_account_time_zone_moves_now_and_day_boundaries() -> None:
    config = ConfigBuilder().with_start_date("2024-09-09").with_end_date(None).with_values(timezone="Asia/Tokyo").build()
    assert fmt(requested_windows(config, "agent_workload")) == [
        ("2024-09-09 00:00:00", "2024-09-09 23:59:59"),
        ("2024-09-10 00:00:00", "2024-09-10 21:00:00"),
    ]


@freeze_time(NOW)
@pytest.mark.parametrize("stream", ["agent_workload", "agent_quality"])
def test_agent_reports_request_one_local_day_at_a_time(stream: str) -> None:
    config = ConfigBuilder().with_start_date("2024-02-27").with_end_date("2024-03-02").with_values(dimension="year").build()
    assert fmt(requested_windows(config, stream)) == [
        ("2024-02-27 00:00:00", "2024-02-27 23:59:59"),
        ("2024-02-28 00:00:00", "2024-02-28 23:59:59"),
        ("2024-02-29 00:00:00", "2024-02-29 23:59:59"),
        ("2024-03-01 00:00:00", "2024-03-01 23:59:59"),
        ("2024-03-02 00:00:00", "2024-03-02 23:59:59"),
    ]


@freeze_time(NOW)
@pytest.mark.parametrize(
    ("dimension", "start_date", "end_date"),
    list(
        itertools.product(
            ["half_hour", "hour", "day", "month", "year"],
            # a year's last day, a leap day, a range shorter than a year's windows
            ["2019-12-31", "2020-02-29", "2023-01-01"],
            # a leap day, and no end (up to now)
            ["2024-02-29", None],
        )
    ),
)
def test_session_windows_cover_the_range_in_whole_buckets(dimension: str, start_date: str, end_date) -> None:
    config = ConfigBuilder().with_start_date(start_date).with_end_date(end_date).with_values(dimension=dimension).build()
    windows = requested_windows(config, "session_time")
    now_local = dt.datetime(2024, 9, 10, 20, 0, 0)
    first = bucket_floor(dt.datetime.fromisoformat(start_date), dimension)
    last = now_local if end_date is None else dt.datetime.fromisoformat(end_date).replace(hour=23, minute=59, second=59)
    if end_date is not None and dimension in ("month", "year"):
        last = min(bucket_end(last, dimension), now_local)
    assert_valid_windows(windows, dimension, first, last)
    shortest, longest = WINDOW_DAYS[dimension]
    for start, end in windows[:-1]:
        assert shortest <= (end + ONE_SECOND - start).days <= longest, f"window {start} .. {end} is not its dimension's step"
    assert (windows[-1][1] - windows[-1][0]).days < longest
    if dimension in ("half_hour", "hour"):
        counts = [(end + ONE_SECOND - start) // FIXED[dimension] for start, end in windows]
        assert max(counts) <= MAX_SUB_DAY_BUCKETS, "a sub-day reply holds at most a month of half hours"


@freeze_time(NOW)
@pytest.mark.parametrize(
    ("dimension", "cursor", "lookback_days", "first_window_start"),
    [
        ("day", "2024-08-05T00:00:00+08:00", 1, "2024-08-04 00:00:00"),
        ("day", "2024-08-05T00:00:00+08:00", 0, "2024-08-05 00:00:00"),
        ("day", "2024-08-05T00:00:00+08:00", 7, "2024-07-29 00:00:00"),
        ("hour", "2024-08-05T13:00:00+08:00", 1, "2024-08-04 13:00:00"),
        ("half_hour", "2024-08-05T13:30:00+08:00", 2, "2024-08-03 13:30:00"),
        ("month", "2024-08-01T00:00:00+08:00", 1, "2024-07-01 00:00:00"),
        ("month", "2024-03-01T00:00:00+08:00", 29, "2024-01-01 00:00:00"),
        ("month", "2024-08-01T00:00:00+08:00", 0, "2024-08-01 00:00:00"),
        ("year", "2024-01-01T00:00:00+08:00", 1, "2023-01-01 00:00:00"),
    ],
)
def test_incremental_read_starts_lookback_days_before_the_cursor_on_a_bucket(
    dimension, cursor, lookback_days, first_window_start
) -> None:
    config = (
        ConfigBuilder()
        .with_start_date("2020-01-01")
        .with_end_date(None)
        .with_values(dimension=dimension, lookback_days=lookback_days)
        .build()
    )
    state = StateBuilder().with_stream_state("session_time", {"period_start": cursor}).build()
    windows = requested_windows(config, "session_time", state)
    assert fmt(windows)[0][0] == first_window_start
    assert_valid_windows(windows, dimension, dt.datetime.fromisoformat(first_window_start), dt.datetime(2024, 9, 10, 20, 0, 0))


@freeze_time(NOW)
def test_incremental_agent_read_requests_only_the_tail() -> None:
    config = ConfigBuilder().with_start_date("2024-01-01").with_end_date("2024-08-31").with_values(lookback_days=2).build()
    state = StateBuilder().with_stream_state("agent_quality", {"period_start": "2024-08-28T00:00:00+0800"}).build()
    assert [start for start, _ in fmt(requested_windows(config, "agent_quality", state))] == [
        "2024-08-26 00:00:00",
        "2024-08-27 00:00:00",
        "2024-08-28 00:00:00",
        "2024-08-29 00:00:00",
        "2024-08-30 00:00:00",
        "2024-08-31 00:00:00",
    ]


@freeze_time(NOW)
def test_a_cursor_before_the_start_date_reads_from_the_start_date() -> None:
    config = ConfigBuilder().with_start_date("2024-08-30").with_end_date("2024-08-31").build()
    state = StateBuilder().with_stream_state("agent_workload", {"period_start": "2023-01-01T00:00:00+08:00"}).build()
    assert fmt(requested_windows(config, "agent_workload", state)) == [
        ("2024-08-30 00:00:00", "2024-08-30 23:59:59"),
        ("2024-08-31 00:00:00", "2024-08-31 23:59:59"),
    ]


@pytest.mark.parametrize(
    ("days", "dimension", "expected"),
    [
        (0, "day", ""),
        (1, "day", "P1D"),
        (3, "hour", "P3D"),
        (1, "month", "P1M"),
        (28, "month", "P1M"),
        (29, "month", "P2M"),
        (1, "year", "P1Y"),
        (366, "year", "P2Y"),
    ],
)
def test_lookback_is_at_least_the_days_asked_in_whole_buckets(days: int, dimension: str, expected: str) -> None:
    assert lookback_duration(days, dimension) == expected
