"""A declarative source hardened for what users hand it and for reads that go wrong. CDK gap: `ConcurrentDeclarativeSource`
fails with a stack trace on a config, catalog or state file that is missing or not JSON, ignores a LEGACY state and
fails on a GLOBAL one, reads twice a stream listed twice, honours a full-refresh stream's state, ignores a misspelt
setting in silence, gives check and discover the read's long timeouts, and cannot stop a read early or hold a state
back (stop_rules.py). Smallest CDK change: these checks in `Source.read_*` and `ConcurrentDeclarativeSource.read`, and
a hook to give the concurrent source a reader and a processor."""

import copy
import difflib
from collections.abc import Callable, Iterator, Mapping
from logging import Logger
from typing import Any, ClassVar, Self

import orjson

from airbyte_cdk import models
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from airbyte_cdk.sources.declarative.models.declarative_component_schema import Spec as SpecModel
from airbyte_cdk.sources.declarative.parsers.manifest_component_transformer import ManifestComponentTransformer
from airbyte_cdk.sources.declarative.parsers.manifest_reference_resolver import ManifestReferenceResolver
from airbyte_cdk.sources.declarative.parsers.model_to_component_factory import ModelToComponentFactory
from airbyte_cdk.sources.streams.concurrent.abstract_stream import AbstractStream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .messages import ConfigError, bounded_text, failed_status, rendered, traced
from .progress import ReadProgress
from .stop_rules import ContainedConcurrentSource, ReadRules, ReadScope

# The kinds of JSON document a file may hold instead of the one its flag takes (orjson makes no others).
_JSON_KINDS = {list: "list", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}
_UNREADABLE = {FileNotFoundError: "does not exist", IsADirectoryError: "is a directory, not a file"}


class HardenedDeclarativeSource(ConcurrentDeclarativeSource):
    """A connector gives its manifest, its read's rules, the rows it expects of a window, an example
    state, what `check` and `discover` do once the config is sound, and what each file must hold."""

    manifest: ClassVar[Callable[[], Mapping[str, Any]]]
    FILES_HOLD: ClassVar[dict[str, str]] = {
        "config": "--config takes the connector's settings, a JSON object.",
        "catalog": "--catalog takes a configured catalog, each stream with its sync mode (from the output of discover).",
        "state": "--state takes a list of per-stream STATE messages, such as {example}; without it, the read starts afresh.",
    }

    def __init__(
        self,
        catalog: models.ConfiguredAirbyteCatalog | None = None,
        config: Mapping[str, Any] | None = None,
        state: list[models.AirbyteStateMessage] | None = None,
        config_path: str | None = None,
        interactive: bool = False,
    ) -> None:
        """`interactive`: for `check` or `discover`, which a person waits on."""
        self._interactive = interactive
        manifest = copy.deepcopy(dict(type(self).manifest()))
        manifest = self.interactive_manifest(manifest) if interactive else manifest
        state = without_full_refresh_states(state, catalog)
        super().__init__(catalog, config, state, source_config=manifest, config_path=config_path)
        self.scope = ReadScope()
        rules = self.read_rules()
        progress = ReadProgress(self.rows_in_window, rules.cursor_field, rules.parse_cursor)
        self._concurrent_source = ContainedConcurrentSource(self._concurrent_source, self.scope, progress, rules)

    def read_rules(self) -> ReadRules:
        raise NotImplementedError

    def rows_in_window(self, stream: str, window: Mapping[str, Any]) -> int | None:
        return None

    @classmethod
    def state_example(cls) -> str:
        return '[{"type": "STREAM", "stream": {"stream_descriptor": {"name": "..."}, "stream_state": {...}}}]'

    @staticmethod
    def interactive_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
        """The manifest for `check` and `discover`: the source's own copy, changed in place."""
        return manifest

    def checked(self, logger: Logger) -> models.AirbyteConnectionStatus:
        return super().check(logger, self.config)

    def discovered(self, logger: Logger) -> models.AirbyteCatalog:
        return super().discover(logger, self.config)

    @property
    def config(self) -> Mapping[str, Any]:
        """The config as the CDK's migrations and transformations left it."""
        return self._config

    def streams(self, config: Mapping[str, Any]) -> list[AbstractStream]:  # type: ignore[override]
        with self.scope.building():  # the components take this read's scope
            return super().streams(config)

    @classmethod
    def spec_only(cls) -> models.ConnectorSpecification:
        """The manifest's spec by the CDK's Spec component alone: building the source (component schema, every
        stream) would make `spec` slower than the CDK's import."""
        resolved = ManifestReferenceResolver().preprocess_manifest(copy.deepcopy(dict(cls.manifest())))
        spec = ManifestComponentTransformer().propagate_types_and_parameters("", resolved["spec"], {})
        return ModelToComponentFactory().create_component(SpecModel, spec, {}).generate_spec()  # type: ignore[no-any-return]

    def _configured(self, config: Mapping[str, Any], catalog: Any = None, state: Any = None, interactive: bool = False) -> Self:
        """The source to run a command with: the CDK builds streams from the constructor's arguments, not the command's,
        so one without a config (`airbyte-cdk connector test`) builds one with it; check and discover get quick requests."""
        if (self._config or not config) and self._interactive >= interactive:
            return self
        return type(self)(catalog=catalog, config=config or self._config, state=state, interactive=interactive)

    def check(self, logger: Logger, config: Mapping[str, Any]) -> models.AirbyteConnectionStatus:
        try:
            source = self._configured(config, interactive=True)
        except AirbyteTracedException as error:
            if error.failure_type != ConfigError.kind:
                raise
            return failed_status(error)
        source._warn_unknown_settings(logger, config)
        status = source.checked(logger)
        status.message = status.message and rendered(status.message)
        return status

    def discover(self, logger: Logger, config: Mapping[str, Any]) -> models.AirbyteCatalog:
        source = self._configured(config, interactive=True)
        source._warn_unknown_settings(logger, config)
        return source.discovered(logger)

    def read(
        self,
        logger: Logger,
        config: Mapping[str, Any],
        catalog: models.ConfiguredAirbyteCatalog,
        state: list[models.AirbyteStateMessage] | None = None,
    ) -> Iterator[models.AirbyteMessage]:
        catalog = each_stream_once(catalog, logger)
        source = self._configured(config, catalog, state)
        source._warn_unknown_settings(logger, config)
        names = [stream["name"] for stream in source.resolved_manifest["streams"]]
        if unknown := [entry.stream.name for entry in catalog.streams if entry.stream.name not in names]:
            raise ConfigError(
                f"The catalog names {', '.join(map(repr, unknown))}, which this connector does not have: its streams are {', '.join(names)}. Configure the catalog from the output of discover."
            )
        if not catalog.streams:  # the CDK would end without a line
            logger.warning(f"The catalog configures no stream, so nothing is read; its streams can be {', '.join(names)}.")
        yield from map(traced, super(HardenedDeclarativeSource, source).read(logger, config, catalog, state))  # the CDK's read

    def _warn_unknown_settings(self, logger: Logger, config: Mapping[str, Any]) -> None:
        """A misspelt setting would otherwise be ignored in silence (`end_dat` would sync to today)."""
        known = list(self.resolved_manifest["spec"]["connection_specification"]["properties"])
        for key in [key for key in config if not key.startswith("_") and key not in known]:
            nearest = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean `{nearest[0]}`?" if nearest else f"; the settings are {', '.join(known)}."
            logger.warning(f"`{key}`: not a setting of this connector, ignored{hint}")

    @classmethod
    def read_config(cls, config_path: str) -> dict[str, Any]:
        if not isinstance(document := cls._file(config_path, "config"), dict):
            raise cls._unusable(config_path, "config", f"holds a JSON {_JSON_KINDS[type(document)]}, not an object")
        return document

    @classmethod
    def read_catalog(cls, catalog_path: str) -> models.ConfiguredAirbyteCatalog:
        try:
            return models.ConfiguredAirbyteCatalogSerializer.load(cls._file(catalog_path, "catalog"))
        except ValueError as error:  # the serializer's schema validation
            found = getattr(error, "errors", None) or [error]
            why = "; ".join(f"{getattr(e, 'message', e)} (at {getattr(e, 'instance_path', '') or 'the top'})" for e in found)
            raise cls._unusable(catalog_path, "catalog", f"is not a configured catalog: {bounded_text(why)}") from None

    @classmethod
    def read_state(cls, state_path: str) -> list[models.AirbyteStateMessage]:
        """Per-stream STATE messages only, as a connector writes them: the CDK would ignore a
        LEGACY one (and sync afresh without a word) and fail on a GLOBAL one with a stack trace."""
        document = cls._file(state_path, "state") if state_path else []
        if isinstance(document, dict) and document:
            raise cls._unusable(state_path, "state", f"holds a legacy state object {bounded_text(repr(document))}")
        if document not in (None, {}) and not isinstance(document, list):  # null and {}: the empty states platforms send
            raise cls._unusable(state_path, "state", f"holds a JSON {_JSON_KINDS[type(document)]}, not a list of state messages")
        messages = []
        for entry in document or []:
            try:
                message = models.AirbyteStateMessageSerializer.load(entry)
            except Exception:
                raise cls._unusable(
                    state_path, "state", f"holds {bounded_text(repr(entry))}, not an Airbyte state message"
                ) from None
            if message.type != models.AirbyteStateType.STREAM or message.stream is None:
                form = f"a {message.type.value} state message" if message.type else "a state message without a type"
                form += " without its stream" if message.type == models.AirbyteStateType.STREAM else ""
                raise cls._unusable(state_path, "state", f"holds {form}: this connector keeps one state per stream")
            messages.append(message)
        return messages

    @classmethod
    def _file(cls, path: str, kind: str) -> Any:
        """The JSON document in the `kind` file at `path`; no error quotes its text (a config file holds a secret)."""
        try:
            with open(path, "rb") as file:
                text = file.read().decode("utf-8")
        except UnicodeDecodeError as error:
            raise cls._unusable(path, kind, f"is not UTF-8 text (byte {error.start})") from None
        except OSError as error:
            why = _UNREADABLE.get(type(error)) or f"cannot be read: {error.strerror or error}"
            raise cls._unusable(path, kind, why) from None
        if not text.strip():
            raise cls._unusable(path, kind, "is empty")
        try:
            return orjson.loads(text)  # a depth or a number the json module would raise on is a parse error here
        except orjson.JSONDecodeError as error:
            raise cls._unusable(path, kind, f"is not JSON: {error.msg} at line {error.lineno}, column {error.colno}") from None

    @classmethod
    def _unusable(cls, path: str, kind: str, what: str) -> ConfigError:
        holds = cls.FILES_HOLD[kind].replace("{example}", cls.state_example())
        return ConfigError(f"The {kind} file {bounded_text(path)!r} (--{kind}) {what}. {holds}")


def each_stream_once(catalog: models.ConfiguredAirbyteCatalog, logger: Logger | None = None) -> models.ConfiguredAirbyteCatalog:
    """The catalog with each stream's first entry, warning of the others: the CDK would read a stream once per entry."""
    first: dict[str, Any] = {}
    repeated: dict[str, Any] = {}
    for entry in catalog.streams:
        (repeated if entry.stream.name in first else first).setdefault(entry.stream.name, entry)
    for name in repeated if logger else []:
        logger.warning(f"The catalog lists stream '{name}' more than once: it is read once, as its first entry configures it.")  # type: ignore[union-attr]
    return models.ConfiguredAirbyteCatalog(streams=list(first.values())) if repeated else catalog


def without_full_refresh_states(
    state: list[models.AirbyteStateMessage] | None, catalog: models.ConfiguredAirbyteCatalog | None
) -> list[models.AirbyteStateMessage] | None:
    """The state without the streams the catalog reads in full refresh, which read afresh: the
    CDK's cursor would honour it, and a destination that overwrites would lose the rows before it."""
    full_refresh = {s.stream.name for s in catalog.streams if s.sync_mode == models.SyncMode.full_refresh} if catalog else set()
    return [m for m in state if not (m.stream and m.stream.stream_descriptor.name in full_refresh)] if state else state
