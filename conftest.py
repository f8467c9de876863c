"""Loaded by pytest before the test folders' conftest files, so before anything imports the
connector: the virtual clock must already be the `time` module's clock when the connector's
dataclasses take `time.monotonic` and `time.time` as defaults (integration_tests/virtual_clock.py)."""

import pickle
from collections.abc import Iterator
from typing import IO, Any

import pytest

from integration_tests.virtual_clock import VIRTUAL, install

install()

# After install(): the CDK takes the clock's functions when it is imported.
from airbyte_cdk.sources.declarative import concurrent_declarative_source, yaml_declarative_source  # noqa: E402
from airbyte_cdk.utils.yaml_loader import safe_load_yaml  # noqa: E402

_PARSED: dict[str | bytes, bytes] = {}


def _safe_load_yaml_once(document: str | bytes | IO[str] | IO[bytes]) -> Any:
    """The CDK's YAML loader, parsing each distinct text once per test process: every source
    a test builds in this process parses the same manifest and the CDK's component schema
    (a tenth of a second each time, hundreds of times). Each call gets fresh objects, equal
    to the parse (a pickle round trip keeps types, dates and shared aliases). The command's
    own processes parse as always."""
    text = document if isinstance(document, (str, bytes)) else document.read()
    if text not in _PARSED:
        parsed = safe_load_yaml(text)
        _PARSED[text] = pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL)
        return parsed
    return pickle.loads(_PARSED[text])


concurrent_declarative_source.safe_load_yaml = _safe_load_yaml_once  # type: ignore[assignment]
yaml_declarative_source.safe_load_yaml = _safe_load_yaml_once  # type: ignore[assignment]


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
