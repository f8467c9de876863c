"""The connector: the declarative manifest, with the live report header turned on for discover."""

from __future__ import annotations

import ast
import contextlib
import copy
import dataclasses
import difflib
import json
import logging
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

import orjson

from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    AirbyteStateMessageSerializer,
    AirbyteStateType,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    ConfiguredAirbyteStream,
    ConnectorSpecification,
    FailureType,
    Status,
    SyncMode,
)
from airbyte_cdk.sources.declarative.models.declarative_component_schema import Spec as SpecModel
from airbyte_cdk.sources.declarative.parsers.manifest_component_transformer import ManifestComponentTransformer
from airbyte_cdk.sources.declarative.parsers.manifest_reference_resolver import ManifestReferenceResolver
from airbyte_cdk.sources.declarative.parsers.model_to_component_factory import ModelToComponentFactory
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .messages import (
    MAX_MESSAGE_BYTES,
    ConfigError,
    ReportRefused,
    bounded_text,
    bounded_trace,
    every_report_refused,
    plain_cause,
)
from .progress import ReadProgress
from .schema import live_header_discovery
from .settings import MANIFEST_PATH, manifest, report_table
from .stop_rules import READ_STOP, ContainedConcurrentSource
from .windows import CURSOR_FIELD, buckets_in, parse_cursor

# One stream's state, for the messages about a state file.
_EXAMPLE_STATE = {
    "stream_descriptor": {"name": next(iter(report_table()))},
    "stream_state": {CURSOR_FIELD: "2024-01-20T00:00:00+08:00"},
}
STATE_EXAMPLE = json.dumps({"type": "STREAM", "stream": _EXAMPLE_STATE}, ensure_ascii=False)

# The manifest's settings for commands a person waits on (definitions.interactive_requests).
INTERACTIVE_COMMANDS = ("check", "discover")


class SourceMoor7Im(YamlDeclarativeSource):
    def __init__(
        self,
        catalog: ConfiguredAirbyteCatalog | None = None,
        config: Mapping[str, Any] | None = None,
        state: list[AirbyteStateMessage] | None = None,
        config_path: str | None = None,
        interactive: bool = False,
    ) -> None:
        """`interactive`: built for `check` or `discover`, which a person waits on: the
        requests use the manifest's `interactive_requests` timeouts and retries."""
        self._interactive = interactive
        super().__init__(
            path_to_yaml=str(MANIFEST_PATH),  # absolute: a relative path is tried in the working directory first
            catalog=catalog,
            config=config,
            state=without_full_refresh_states(state, catalog),
            config_path=config_path,
        )
        # The read stops early when it cannot succeed (stop_rules.py says why this is ours),
        # and says how far it is (progress.py).
        dimension = str((self._config or {}).get("dimension"))
        by_dimension = [name for name, report in report_table().items() if report["bucket"] == "dimension"]
        self._concurrent_source = ContainedConcurrentSource.replacing(
            self._concurrent_source,
            READ_STOP,
            ReadProgress(
                rows_in_window=partial(planned_rows, dimension, by_dimension),
                cursor_field=CURSOR_FIELD,
                parse_cursor=parse_cursor,
            ),
        )

    def _read_and_parse_yaml_file(self, path_to_yaml_file: str) -> dict[str, Any]:
        """The manifest as settings.py has already parsed it (a copy): parsed once per process."""
        return copy.deepcopy(dict(manifest()))

    def _pre_process_manifest(self, manifest: dict[str, Any]) -> dict[str, Any]:
        if self._interactive:
            manifest = with_interactive_requests(manifest)
        return super()._pre_process_manifest(manifest)

    @classmethod
    def read_config(cls, config_path: str) -> dict[str, Any]:
        """The config file, as a JSON object; a file that is missing or not one is a config
        error naming it. Its settings are checked when the source is built (settings.py)."""
        document = _load_json_file(config_path, "config")
        if not isinstance(document, dict):
            raise ConfigError(
                f"The config file {_quoted(config_path)} (--config) holds a JSON {_json_kind(document)}, not an object. "
                f"{_WHAT_FILES_HOLD['config']}"
            )
        return document

    @classmethod
    def read_catalog(cls, catalog_path: str) -> ConfiguredAirbyteCatalog:
        """The configured catalog file; one that is missing, not JSON or not a configured
        catalog is a config error naming it and what is wrong."""
        document = _load_json_file(catalog_path, "catalog")
        try:
            return ConfiguredAirbyteCatalogSerializer.load(document)
        except ValueError as error:  # the serializer's schema validation
            found = getattr(error, "errors", None) or [error]
            why = "; ".join(
                f"{getattr(item, 'message', item)} (at {getattr(item, 'instance_path', '') or 'the top'})" for item in found
            )
            raise ConfigError(
                f"The catalog file {_quoted(catalog_path)} (--catalog) is not a configured catalog: {bounded_text(why)}. "
                f"{_WHAT_FILES_HOLD['catalog']}"
            ) from None

    @classmethod
    def read_state(cls, state_path: str) -> list[AirbyteStateMessage]:
        """The CDK's reading of a state file, with a config error that says what is wrong
        instead of a bare schema-validation error. Only per-stream STATE messages are
        accepted, as this connector writes them: the CDK would ignore a LEGACY message (and
        sync from 'start_date' without a word) and fail on a GLOBAL one with a stack trace.
        The per-stream cursor values themselves are checked and normalised by the streams'
        state migration (state.py)."""
        document = _load_json_file(state_path, "state") if state_path else None
        where = f"The state file {_quoted(state_path)} (--state)"
        if isinstance(document, dict) and document:
            raise ConfigError(
                f"{where} holds a legacy state object {bounded_text(repr(document))}: this connector reads "
                f"Airbyte per-stream state, a list of messages such as [{STATE_EXAMPLE}]. Write the state in that form, "
                "or run without a state to sync from 'start_date'."
            )
        if document and not isinstance(document, list):
            raise ConfigError(
                f"{where} holds a JSON {_json_kind(document)}, not a list of state messages. {_WHAT_FILES_HOLD['state']}"
            )
        messages = []
        for entry in document or []:
            try:
                message = AirbyteStateMessageSerializer.load(entry)
            except Exception:
                raise ConfigError(
                    f"{where} holds {bounded_text(repr(entry))}, which is not an Airbyte state message: "
                    f"each entry must look like {STATE_EXAMPLE}. Correct it, or run without a state."
                ) from None
            if message.type != AirbyteStateType.STREAM or message.stream is None:
                raise ConfigError(
                    f"{where} holds {_state_form(message)}: this connector keeps one state per stream "
                    f"and reads only per-stream state, a list of STATE messages such as [{STATE_EXAMPLE}], the last one of "
                    "each stream that a read printed (README, Commands). Write the state in that form, or run without "
                    "a state to sync from 'start_date'."
                )
            messages.append(message)
        return messages

    def _configured(
        self,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog | None = None,
        state: list[AirbyteStateMessage] | None = None,
        interactive: bool = False,
    ) -> SourceMoor7Im:
        """The source to run a command with. The declarative source builds its streams,
        concurrency and state from the config, catalog and state it was constructed with
        (it ignores the arguments of check/discover/read), and the config transformation
        that computes `_sync_windows` runs only then. A source constructed without a config
        (as `airbyte-cdk connector test` constructs it, before it has a config) therefore
        builds a configured one for the command; one constructed with a config is used as is,
        except that check and discover always get the interactive requests."""
        if (self._config or not config) and self._interactive >= interactive:
            return self
        return SourceMoor7Im(catalog=catalog, config=config or self._config, state=state, interactive=interactive)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        READ_STOP.reset()  # the stop rules are a read's; nothing from an earlier read in this process applies
        try:
            source = self._configured(config, interactive=True)
        except AirbyteTracedException as error:
            if error.failure_type != FailureType.config_error:
                raise
            # Airbyte expects check to answer a bad config with a failed status (as run.py does).
            return AirbyteConnectionStatus(status=Status.FAILED, message=error.message)
        if source is not self:
            return source.check(logger, config)
        self._warn_unknown_settings(logger, config)
        return plain_status(self._check_reports(logger))

    def _check_reports(self, logger: logging.Logger) -> AirbyteConnectionStatus:
        """Reads every window of the streams the manifest's `check` names (report_columns:
        one header day of each report). The CDK's CheckStream reads one record of each and
        fails at the first refusal; an account may read some reports and not others, so the
        check passes when the credentials work and at least one report answers, and names
        the reports the account may not read."""
        names = self.resolved_manifest["check"]["stream_names"]
        refusals: list[ReportRefused] = []
        answered = 0
        for stream in self.streams(self._config):
            if stream.name not in names:
                continue
            for partition in stream.generate_partitions():  # type: ignore[union-attr]
                try:
                    for _ in partition.read():
                        pass
                except ReportRefused as refusal:
                    refusals.append(refusal)
                    continue
                except AirbyteTracedException as error:
                    return AirbyteConnectionStatus(status=Status.FAILED, message=error.message)
                answered += 1
        if refusals and not answered:
            return AirbyteConnectionStatus(status=Status.FAILED, message=every_report_refused(refusals[0]))
        if not refusals:
            return AirbyteConnectionStatus(status=Status.SUCCEEDED)
        reports = ", ".join(refusal.report for refusal in refusals)
        message = (
            f"The credentials work, but 7moor refused {len(refusals)} of {len(refusals) + answered} reports to this "
            f"account: {reports}. Their streams will fail until the permission is granted in the 7moor console; "
            f"deselect them in the connection to sync the others. {refusals[0].message}"
        )
        logger.warning(message)
        return AirbyteConnectionStatus(status=Status.SUCCEEDED, message=message)

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        READ_STOP.reset()
        source = self._configured(config, interactive=True)
        if source is not self:
            return source.discover(logger, config)
        # Only discover reads the live header: it adds the account's own columns. A report the
        # account may not read keeps its documented schema (schema.py); when every report with
        # a live header refuses, the credentials or the machine are what 7moor refuses.
        with live_header_discovery() as refusals:
            catalog = super().discover(logger, config)
        if refusals and len(refusals) >= len(report_table()):
            raise ConfigError(every_report_refused(refusals[0]))
        return catalog

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage]:
        catalog, repeated = each_stream_once(catalog)
        for name in repeated:
            logger.warning(
                f"The catalog lists stream '{name}' more than once: it is read once, as its first entry configures it."
            )
        source = self._configured(config, catalog, state)
        if source is not self:
            yield from source.read(logger, config, catalog, state)
            return
        READ_STOP.reset()
        self._warn_unknown_settings(logger, config)
        unknown = [s.stream.name for s in catalog.streams if s.stream.name not in self.stream_names]
        if unknown:
            raise ConfigError(
                f"The catalog names {', '.join(repr(name) for name in unknown)}, which this connector does not have: its "
                f"streams are {', '.join(self.stream_names)}. Configure the catalog from the output of discover."
            )
        if not catalog.streams:
            # The CDK would end without a line: a read that reads nothing says so.
            logger.warning(
                f"The catalog configures no stream, so nothing is read; its streams can be {', '.join(self.stream_names)}."
            )
        for message in super().read(logger, config, catalog, state):
            yield bounded_trace(message)

    @property
    def stream_names(self) -> list[str]:
        return [stream["name"] for stream in self.resolved_manifest["streams"]]

    def _warn_unknown_settings(self, logger: logging.Logger, config: Mapping[str, Any]) -> None:
        """A misspelt setting would otherwise be ignored in silence (`end_dat` would sync to today)."""
        known = list(self.resolved_manifest["spec"]["connection_specification"]["properties"])
        for key in config:
            if not key.startswith("_") and key not in known:
                nearest = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean `{nearest[0]}`?" if nearest else f"; the settings are {', '.join(known)}."
                logger.warning(f"`{key}`: not a setting of this connector, ignored{hint}")


# What each file the command reads must hold, for the messages about one it cannot use.
_WHAT_FILES_HOLD = {
    "config": "--config takes the connector's settings, a JSON object such as "
    '{"app_key": "…", "secret_key": "…", "start_date": "2024-01-01"} (README, Configuration).',
    "catalog": "--catalog takes a configured catalog, each stream with its sync mode; README (Commands) shows how "
    "to write one from the output of discover.",
    "state": f"--state takes a list of per-stream STATE messages such as [{STATE_EXAMPLE}] (README, Commands); "
    "without --state, the read syncs from 'start_date'.",
}


def _load_json_file(path: str, kind: str) -> Any:
    """The JSON document in the `kind` file (config, catalog or state) at `path`; a file that is
    missing, unreadable or not JSON is a config error that names it and says what is wrong.
    Nothing of its text is quoted: a config file holds the secret."""
    where = f"The {kind} file {_quoted(path)} (--{kind})"
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise ConfigError(f"{where} does not exist. {_WHAT_FILES_HOLD[kind]}") from None
    except IsADirectoryError:
        raise ConfigError(f"{where} is a directory, not a file. {_WHAT_FILES_HOLD[kind]}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{where} is not UTF-8 text (byte {error.start}). {_WHAT_FILES_HOLD[kind]}") from None
    except OSError as error:
        raise ConfigError(f"{where} cannot be read: {error.strerror or error}. {_WHAT_FILES_HOLD[kind]}") from None
    if not text.strip():
        raise ConfigError(f"{where} is empty. {_WHAT_FILES_HOLD[kind]}")
    try:
        # orjson: a depth or a number Python's json module would raise on is a parse error here
        return orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise ConfigError(
            f"{where} is not JSON: {error.msg} at line {error.lineno}, column {error.colno}. {_WHAT_FILES_HOLD[kind]}"
        ) from None


def _quoted(path: str) -> str:
    return repr(bounded_text(path))


def _json_kind(document: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}.get(
        type(document), type(document).__name__
    )


def _state_form(message: AirbyteStateMessage) -> str:
    """A state message's form, in the words of a message about it."""
    if message.type is None:
        return "a state message without a type"
    if message.type == AirbyteStateType.STREAM:
        return "a STREAM state message without its stream"
    return f"a {message.type.value} state message"


def each_stream_once(catalog: ConfiguredAirbyteCatalog) -> tuple[ConfiguredAirbyteCatalog, list[str]]:
    """The catalog with the first entry of each stream, and the names it listed more than
    once: the CDK would read a stream once per entry, every row twice."""
    first: dict[str, ConfiguredAirbyteStream] = {}
    repeated: list[str] = []
    for entry in catalog.streams:
        name = entry.stream.name
        if name not in first:
            first[name] = entry
        elif name not in repeated:
            repeated.append(name)
    if not repeated:
        return catalog, []
    return dataclasses.replace(catalog, streams=list(first.values())), repeated


def with_interactive_requests(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with `definitions.interactive_requests` applied to the requester and its
    error handler: short timeouts and a small retry budget (the values are in the manifest)."""
    manifest = copy.deepcopy(manifest)
    definitions = manifest["definitions"]
    quick = definitions["interactive_requests"]
    for key in ("connect_timeout_in_seconds", "read_timeout_in_seconds"):
        definitions["requester_base"][key] = quick[key]
    handler = definitions["requester_base"]["error_handler"]
    handler["max_wait_seconds"] = quick["max_wait_seconds"]
    handler["retry_budget_seconds"] = quick["retry_budget_seconds"]
    definitions["error_handler"]["max_retries"] = quick["max_retries"]
    for strategy in definitions["error_handler"]["backoff_strategies"]:
        if strategy["type"] == "ExponentialBackoffStrategy":
            strategy["factor"] = quick["retry_backoff_seconds"]
    return manifest


def planned_rows(dimension: str, by_dimension: list[str], stream: str, window: Mapping[str, Any]) -> int | None:
    """The rows a window holds by the plan: one per bucket in a report of the session
    `dimension`; None for a daily report (one per agent: learned as the read goes)."""
    if stream in by_dimension and "start_time" in window:
        return buckets_in(window["start_time"], window["end_time"], dimension)
    return None


def manifest_spec() -> ConnectorSpecification:
    """The spec the manifest declares, made by the CDK's own Spec component from the manifest's
    `spec` alone: `spec` answers without building the source (the CDK's component schema,
    every stream), so that it costs little more than importing the CDK."""
    resolved = ManifestReferenceResolver().preprocess_manifest(copy.deepcopy(dict(manifest())))
    spec = ManifestComponentTransformer().propagate_types_and_parameters("", resolved["spec"], {})
    return ModelToComponentFactory().create_component(SpecModel, spec, {}).generate_spec()  # type: ignore[no-any-return]


def plain_status(status: AirbyteConnectionStatus) -> AirbyteConnectionStatus:
    """A failed check's message as one plain sentence: the CDK gives the repr of "Stream
    <name> is not available: <cause>", quotes included."""
    if status.status == Status.FAILED and status.message:
        text = status.message
        if text[:1] in ("'", '"'):
            with contextlib.suppress(ValueError, SyntaxError):
                text = str(ast.literal_eval(text))
        status.message = bounded_text(plain_cause(text), MAX_MESSAGE_BYTES)
    return status


def without_full_refresh_states(
    state: list[AirbyteStateMessage] | None, catalog: ConfiguredAirbyteCatalog | None
) -> list[AirbyteStateMessage] | None:
    """The incoming state without the streams the catalog reads in full refresh: such a stream
    reads from 'start_date' whatever its state says (a destination that overwrites would
    otherwise lose the rows before the cursor). The CDK's concurrent cursor honours any
    state it is given, whatever the sync mode, so the state is dropped before it is built;
    the stream's final state is still emitted."""
    if not state or catalog is None:
        return state
    full_refresh = {s.stream.name for s in catalog.streams if s.sync_mode == SyncMode.full_refresh}
    return [
        message
        for message in state
        if not (
            message.type == AirbyteStateType.STREAM and message.stream and message.stream.stream_descriptor.name in full_refresh
        )
    ]
