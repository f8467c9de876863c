"""Run a real read against mocks and return the createTime windows the connector asked for."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import requests_mock

from airbyte_cdk.models import AirbyteStateMessage

from .builders import BASE_URL, PATHS, catalog
from .conftest import read

EMPTY = '{"success": true, "code": "200", "message": "requestSuccess", "data": {"header": [], "list": []}}'
Window = tuple[dt.datetime, dt.datetime]


def requested_windows(
    config: Mapping[str, Any], stream: str, state: list[AirbyteStateMessage] | None = None, body: str = EMPTY
) -> list[Window]:
    bodies: list[Mapping[str, Any]] = []

    def answer(request, context):
        bodies.append(json.loads(request.body))
        return body

    with requests_mock.Mocker() as mocker:
        mocker.post(f"{BASE_URL}{PATHS[stream]}", text=answer)
        output = read(config, catalog(stream), state)
    assert not output.errors, output.errors
    return sorted((dt.datetime.fromisoformat(b["createTime"][0]), dt.datetime.fromisoformat(b["createTime"][1])) for b in bodies)


def fmt(windows: list[Window]) -> list[tuple[str, str]]:
    return [(start.strftime("%Y-%m-%d %H:%M:%S"), end.strftime("%Y-%m-%d %H:%M:%S")) for start, end in windows]
