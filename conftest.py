"""Loaded by pytest before the test folders' conftest files, so before anything imports the
connector: the virtual clock must already be the `time` module's clock when the connector's
dataclasses take `time.monotonic` and `time.time` as defaults (integration_tests/virtual_clock.py)."""

from collections.abc import Iterator

import pytest

from integration_tests.virtual_clock import VIRTUAL, install

install()


@pytest.fixture(autouse=True)
def _retry_waits_virtual(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts on the real clock, and the CDK's retry waits (the `backoff` library's
    sleep and its `max_time` clock, the CDK's rate-limit sleep) cost nothing: they move the
    virtual clock on instead, so that retry budgets, wait lengths and wall-time bounds are
    what they would be, in virtual time. Other waits are real unless a test says otherwise."""
    import backoff._sync

    from airbyte_cdk.sources.streams.http import rate_limiting

    VIRTUAL.reset()
    VIRTUAL.waits_in(monkeypatch, backoff._sync, rate_limiting)
    yield
    VIRTUAL.reset()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked `runs_long(seconds)` first, longest first: scripts/test.sh hands tests
    to its workers one at a time in this order, so that none starts a long one near the end
    while the others sit idle, and the real-time waits overlap the CPU-bound tests."""

    def seconds(item: pytest.Item) -> float:
        marker = item.get_closest_marker("runs_long")
        return float(marker.args[0]) if marker else 0.0

    items.sort(key=seconds, reverse=True)  # stable: the rest keep pytest's order
