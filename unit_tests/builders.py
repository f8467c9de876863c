"""Builders for configs, 7moor requests and 7moor responses (the Klaviyo tests' pattern)."""

from __future__ import annotations

import copy
import json
from typing import Any

from airbyte_cdk.models import ConfiguredAirbyteCatalog, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.mock_http import HttpRequest, HttpResponse

from source_moor7_im.settings import report_table

BASE_URL = "https://v7openapi.7moor.com"
APP_KEY = "2000103"
SECRET_KEY = "unit-test-secret-Zq81"
REPORTS = report_table()
PATHS = {name: report["path"] for name, report in REPORTS.items()}
STREAMS = tuple(PATHS)


class ConfigBuilder:
    def __init__(self) -> None:
        self._config: dict[str, Any] = {
            "app_key": APP_KEY,
            "secret_key": SECRET_KEY,
            "start_date": "2024-08-01",
            "end_date": "2024-08-03",
            "retry_backoff_seconds": 0.01,
        }

    def with_start_date(self, value: str) -> ConfigBuilder:
        self._config["start_date"] = value
        return self

    def with_end_date(self, value: str | None) -> ConfigBuilder:
        if value is None:
            self._config.pop("end_date", None)
        else:
            self._config["end_date"] = value
        return self

    def with_values(self, **values: Any) -> ConfigBuilder:
        self._config.update(values)
        return self

    def without(self, key: str) -> ConfigBuilder:
        self._config.pop(key, None)
        return self

    def build(self) -> dict[str, Any]:
        return copy.deepcopy(self._config)


class ReportRequestBuilder:
    """A signed POST to one report endpoint; the body is matched as JSON."""

    def __init__(self, stream: str) -> None:
        self._stream = stream
        self._body: dict[str, Any] = {}

    @classmethod
    def for_stream(cls, stream: str) -> ReportRequestBuilder:
        return cls(stream)

    def with_create_time(self, start: str, end: str) -> ReportRequestBuilder:
        self._body["createTime"] = [start, end]
        return self

    def with_day(self, day: str) -> ReportRequestBuilder:
        return self.with_create_time(f"{day} 00:00:00", f"{day} 23:59:59")

    def with_dimension(self, dimension: str) -> ReportRequestBuilder:
        self._body["dimension"] = dimension
        return self

    def with_body(self, **values: Any) -> ReportRequestBuilder:
        self._body.update(values)
        return self

    def build(self) -> HttpRequest:
        return HttpRequest(url=f"{BASE_URL}{PATHS[self._stream]}", body=json.dumps(self._body))


class ReportResponseBuilder:
    """A 7moor envelope: `{success, code, message, data: {header, list}}`."""

    def __init__(self) -> None:
        self._header: list[dict[str, Any]] = []
        self._rows: list[dict[str, Any]] = []
        self._status = 200
        self._envelope: dict[str, Any] = {"success": True, "code": "200", "message": "requestSuccess"}
        self._headers: dict[str, str] = {}
        self._raw: str | None = None

    @classmethod
    def report(cls) -> ReportResponseBuilder:
        return cls()

    @classmethod
    def error(cls, status: int, code: str, message: str) -> ReportResponseBuilder:
        builder = cls()
        builder._status = status
        builder._envelope = {"success": False, "code": code, "message": message}
        return builder

    @classmethod
    def raw(cls, status: int, body: str) -> ReportResponseBuilder:
        builder = cls()
        builder._status = status
        builder._raw = body
        return builder

    def with_column(self, prop: str, label: str, custom: bool = False) -> ReportResponseBuilder:
        self._header.append({"isCustomHeader": custom, "prop": prop, "show": True, "width": 120, "label": label})
        return self

    def with_header_entry(self, **entry: Any) -> ReportResponseBuilder:
        """A header entry as given, for the vendor's inconsistent shapes (width, flag spelling)."""
        self._header.append(entry)
        return self

    def with_row(self, **row: Any) -> ReportResponseBuilder:
        self._rows.append(row)
        return self

    def with_rows(self, rows: list[dict[str, Any]]) -> ReportResponseBuilder:
        self._rows.extend(rows)
        return self

    def with_header(self, name: str, value: str) -> ReportResponseBuilder:
        self._headers[name] = value
        return self

    def build(self) -> HttpResponse:
        if self._raw is not None:
            return HttpResponse(body=self._raw, status_code=self._status, headers=self._headers)
        body = dict(self._envelope)
        if body["success"]:
            body["data"] = {"header": self._header, "list": self._rows}
        return HttpResponse(body=json.dumps(body, ensure_ascii=False), status_code=self._status, headers=self._headers)


def catalog(*streams: str, sync_mode: SyncMode = SyncMode.incremental) -> ConfiguredAirbyteCatalog:
    builder = CatalogBuilder()
    for stream in streams or STREAMS:
        builder.with_stream(stream, sync_mode)
    return builder.build()
