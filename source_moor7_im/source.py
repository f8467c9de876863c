"""The 7moor IM connector: its manifest on the hardening layer, for an account that may read some reports and not others."""

import json
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from airbyte_cdk.models import AirbyteCatalog, AirbyteConnectionStatus, Status

from . import settings
from .calendar import buckets_in, cursor_field, parse_cursor
from .hardening.declarative import HardenedDeclarativeSource
from .hardening.messages import ConfigError, Refused, cause
from .hardening.stop_rules import ReadRules
from .schema import live_header_discovery


def every_report_refused(first: BaseException) -> str:
    return f"7moor refused every report it was asked for, and answered none: the cause is the account, not one report. Check 'app_key' and 'secret_key', and that 7moor accepts requests from this machine's IP address. The first refusal: {cause(first)}"


class SourceMoor7Im(HardenedDeclarativeSource):
    FILES_HOLD: ClassVar[dict[str, str]] = {
        **HardenedDeclarativeSource.FILES_HOLD,
        "config": '--config takes the connector\'s settings, a JSON object such as {"app_key": "…", "secret_key": "…", "start_date": "2024-01-01"} (README, Configuration).',
        "state": "--state takes a list of per-stream STATE messages such as {example} (README, Commands); without --state, the read syncs from 'start_date'.",
    }
    manifest = staticmethod(settings.manifest)

    def read_rules(self) -> ReadRules:
        return ReadRules("7moor", cursor_field(), parse_cursor, frozenset(settings.report_table()), every_report_refused)

    def rows_in_window(self, stream: str, window: Mapping[str, Any]) -> int | None:
        """One row per bucket of a session-dimension report; None for a daily one (a row per agent, learned as it goes)."""
        report = settings.report_table().get(stream, {})
        known = report.get("bucket") == "dimension" and "start_time" in window
        return buckets_in(window["start_time"], window["end_time"], settings.bucket_of(report, self.config)) if known else None

    @classmethod
    def state_example(cls) -> str:
        stream = next(iter(settings.report_table()))
        state = {"stream_descriptor": {"name": stream}, "stream_state": {cursor_field(): "2024-01-20T00:00:00+08:00"}}
        return json.dumps([{"type": "STREAM", "stream": state}], ensure_ascii=False)

    @staticmethod
    def interactive_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
        """`definitions.interactive_requests` for the timeouts and retries, which the CDK takes as numbers, not templates."""
        definitions = manifest["definitions"]
        quick, requester = definitions["interactive_requests"], definitions["requester_base"]
        requester.update({key: quick[key] for key in ("connect_timeout_in_seconds", "read_timeout_in_seconds")})
        requester["error_handler"].update({key: quick[key] for key in ("max_wait_seconds", "retry_budget_seconds")})
        definitions["error_handler"]["max_retries"] = quick["max_retries"]
        for strategy in definitions["error_handler"]["backoff_strategies"]:
            if strategy["type"] == "ExponentialBackoffStrategy":
                strategy["factor"] = quick["retry_backoff_seconds"]
        return manifest

    def checked(self, logger: logging.Logger) -> AirbyteConnectionStatus:
        """Passes if the credentials work and a report answers, naming those refused (design: retries-and-deadlines.md)."""
        names = self.resolved_manifest["check"]["stream_names"]
        partitions = [p for s in self.streams(self.config) if s.name in names for p in s.generate_partitions()]  # type: ignore[attr-defined]
        refusals: list[Refused] = []
        for partition in partitions:
            try:
                list(partition.read())
            except Refused as refusal:
                refusals.append(refusal)
            except Exception as error:  # credentials, network, retries spent: the connection fails
                return AirbyteConnectionStatus(status=Status.FAILED, message=cause(error))
        if not refusals:
            return AirbyteConnectionStatus(status=Status.SUCCEEDED)
        if len(refusals) == len(partitions):
            return AirbyteConnectionStatus(status=Status.FAILED, message=every_report_refused(refusals[0]))
        message = f"The credentials work, but 7moor refused {len(refusals)} of {len(partitions)} reports to this account: {', '.join(refusal.resource for refusal in refusals)}. Their streams will fail until the permission is granted in the 7moor console; deselect them in the connection to sync the others. {refusals[0].message}"
        logger.warning(message)
        return AirbyteConnectionStatus(status=Status.SUCCEEDED, message=message)

    def discovered(self, logger: logging.Logger) -> AirbyteCatalog:
        """Adds the live header's account columns (schema.py); 7moor refusing every report refuses the account."""
        with live_header_discovery() as refusals:
            catalog = super().discovered(logger)
        if refusals and len(refusals) >= len(settings.report_table()):
            raise ConfigError(every_report_refused(refusals[0]))
        return catalog
