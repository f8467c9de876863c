#!/usr/bin/env python3
"""Fill the figures that README.md and the pages under docs/ quote from their one home: the
manifest (`source_moor7_im/manifest.yaml`) or a constant of the package. A change is one edit
there and a regeneration here.

    python scripts/generate_docs.py            # rewrite the marked spans
    python scripts/generate_docs.py --check    # exit 1 if a span is out of date

A figure in the text is an HTML comment, the value, and a closing comment:

    <!-- manifest:definitions.requester_base.error_handler.retry_budget_seconds -->120<!-- /manifest -->

- `manifest:PATH` is a dotted path into the manifest; a `$ref` met on the way is followed.
- `code:MODULE.NAME` is a constant of `source_moor7_im.MODULE`.
- `metadata:PATH` is a dotted path into `metadata.yaml` (the image tag, the connector's name).
- `derived:NAME` is a figure computed from the manifest by a rule in DERIVED below.
- An optional `|FORMAT` after the source formats the value: `minutes` (seconds / 60), `mib`
  (bytes / 2^20), `kib` (bytes / 1024), `thousands` (16,000).

The spec's text is shown as it is in Airbyte's form, so it carries no markers: its figures
are found by the words around them (SPEC_FIGURES below) and rewritten in place in
`source_moor7_im/manifest.yaml`.

A table is a block between `<!-- table:NAME -->` and `<!-- /table -->`, each on a line of its
own; TABLES below writes it (the settings from the spec, the session report's windows, the
requests of a first sync).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from source_moor7_im.settings import manifest, report_table

ROOT = Path(__file__).resolve().parent.parent

SPAN = re.compile(
    r"<!-- (?P<kind>manifest|code|metadata|derived):(?P<source>[^\s|]+)(?:\|(?P<format>\w+))? -->(?P<value>.*?)<!-- /(?P=kind) -->"
)
TABLE = re.compile(r"^<!-- table:(?P<name>[\w-]+) -->\n(?P<body>.*?)^<!-- /table -->$", re.MULTILINE | re.DOTALL)


MANIFEST = Path("source_moor7_im") / "manifest.yaml"

# A figure of the spec's text: the words before it, the figure, the words after it, and the
# span source that gives it.
SPEC_FIGURES = (
    (
        r"stops retrying ",
        r" minutes after its first attempt",
        "manifest:definitions.requester_base.error_handler.retry_budget_seconds|minutes",
    ),
    (r"no single wait is longer\s+than ", r" s\.", "manifest:definitions.requester_base.error_handler.max_wait_seconds"),
    (r"an API that is down ends\s+within ", r" minutes", "derived:outage_bound_seconds|minutes"),
)


def documents(root: Path = ROOT) -> list[Path]:
    """The files whose figures are generated: the manifest's spec text first (the settings
    table quotes it), then README.md and every Markdown page under docs/."""
    return [root / MANIFEST, root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def manifest_value(path: str, document: Mapping[str, Any] | None = None) -> Any:
    """The manifest's value at a dotted path, following `$ref`s ("#/a/b") on the way."""
    root = manifest() if document is None else document
    value: Any = root
    for key in path.split("."):
        value = _follow(value, root)
        if not isinstance(value, Mapping) or key not in value:
            raise KeyError(f"the manifest has no {path!r} (no {key!r} there)")
        value = value[key]
    return _follow(value, root)


def _follow(value: Any, root: Mapping[str, Any]) -> Any:
    while isinstance(value, Mapping) and set(value) == {"$ref"}:
        value = manifest_value(".".join(value["$ref"].removeprefix("#/").split("/")), root)
    return value


def metadata_value(path: str) -> Any:
    value: Any = yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))
    for key in path.split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise KeyError(f"metadata.yaml has no {path!r} (no {key!r} there)")
        value = value[key]
    return value


def code_value(source: str) -> Any:
    module, _, name = source.rpartition(".")
    return getattr(importlib.import_module(f"source_moor7_im.{module}"), name)


# The session report's window steps (calendar.py) in words, and how many fit in a year.
STEP_WORDS = {"P1M": "a month", "P2M": "two months", "P1Y": "a year"}
WINDOWS_PER_YEAR = {"P1M": 12, "P2M": 6, "P1Y": 1}


def _error_handler() -> Mapping[str, Any]:
    return manifest_value("definitions.requester_base.error_handler")  # type: ignore[no-any-return]


def outage_bound_seconds() -> float:
    """How long a read against an API that answers nothing runs at most: a window's retry
    budget, its last attempt, and one more attempt of the windows in flight (hardening/stop_rules.py),
    each attempt cut at the read timeout while no body arrives."""
    read_timeout = float(manifest_value("definitions.requester_base.read_timeout_in_seconds"))
    return float(_error_handler()["retry_budget_seconds"]) + 2 * read_timeout


def interactive_waits() -> str:
    """The waits before each retry of check and discover: the exponential backoff
    (factor x 2^attempt) plus the second the CDK adds to every wait."""
    quick = manifest_value("definitions.interactive_requests")
    waits = [quick["retry_backoff_seconds"] * 2**attempt + 1 for attempt in range(1, quick["max_retries"] + 1)]
    return " and ".join(", ".join(f"{wait:g}" for wait in waits).rsplit(", ", 1))


def first_year_requests() -> int:
    """The requests of a first sync of one year (365 days) with the spec's default dimension,
    every stream selected: the session report's windows in a year, a request per day per daily
    report, and one per report for report_columns."""
    dimension = manifest_value("spec.connection_specification.properties.dimension.default")
    steps = code_value("calendar.SESSION_WINDOW_STEPS")
    reports = report_table().values()
    per_report = [WINDOWS_PER_YEAR[steps[dimension]] if r["bucket"] == "dimension" else 365 for r in reports]
    return sum(per_report) + len(per_report)


DERIVED: Mapping[str, Callable[[], Any]] = {
    "first_year_requests": first_year_requests,
    "outage_bound_seconds": outage_bound_seconds,
    "interactive_waits": interactive_waits,
}

FORMATS: Mapping[str, Callable[[Any], str]] = {
    "minutes": lambda value: _number(float(value) / 60),
    "mib": lambda value: _number(float(value) / 2**20),
    "kib": lambda value: _number(float(value) / 1024),
    "thousands": lambda value: f"{int(value):,}",
}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def render_value(value: Any, format_name: str | None = None) -> str:
    if format_name:
        if format_name not in FORMATS:
            raise KeyError(f"unknown format {format_name!r}; the formats are {', '.join(FORMATS)}")
        return FORMATS[format_name](value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return _number(value)
    return str(value)


def span_value(kind: str, source: str, format_name: str | None = None) -> str:
    if kind == "manifest":
        value = manifest_value(source)
    elif kind == "code":
        value = code_value(source)
    elif kind == "metadata":
        value = metadata_value(source)
    elif source in DERIVED:
        value = DERIVED[source]()
    else:
        raise KeyError(f"unknown derived figure {source!r}; the derived figures are {', '.join(DERIVED)}")
    return render_value(value, format_name)


# --- tables -------------------------------------------------------------------------------


def _spec() -> Mapping[str, Any]:
    return manifest_value("spec.connection_specification")  # type: ignore[no-any-return]


def _properties() -> list[tuple[str, Mapping[str, Any]]]:
    return sorted(_spec()["properties"].items(), key=lambda item: item[1]["order"])


def _allowed(prop: Mapping[str, Any]) -> str:
    if "enum" in prop:
        return ", ".join(f"`{value}`" for value in prop["enum"])
    if "minimum" in prop and "maximum" in prop:
        return f"{render_value(prop['minimum'])} to {render_value(prop['maximum'])}"
    if prop.get("type") == "array":
        return "a list of IDs"
    if prop.get("format") == "date":
        return "YYYY-MM-DD"
    return "text"


def _default(name: str, prop: Mapping[str, Any]) -> str:
    if name in _spec()["required"]:
        return "required"
    if "default" in prop:
        return f"`{render_value(prop['default'])}`"
    return "empty"


def settings_keys_table() -> str:
    """Every setting by its key: its title in the form, its default, the values it takes."""
    rows = ["| key | title in the form | default | values |", "| --- | --- | --- | --- |"]
    for name, prop in _properties():
        rows.append(f"| `{name}` | {prop['title']} | {_default(name, prop)} | {_allowed(prop)} |")
    return "\n".join(rows)


def settings_form_table() -> str:
    """Every field of the form, in the form's order: title, key, default, values, description."""
    rows = ["| Field | Key | Default | Values | What it is |", "| :--- | :--- | :--- | :--- | :--- |"]
    for name, prop in _properties():
        description = " ".join(str(prop["description"]).split()).replace("|", "\\|")
        rows.append(f"| **{prop['title']}** | `{name}` | {_default(name, prop)} | {_allowed(prop)} | {description} |")
    return "\n".join(rows)


def session_windows_table() -> str:
    """The session report's window for each dimension (calendar.py, SESSION_WINDOW_STEPS)."""
    steps = code_value("calendar.SESSION_WINDOW_STEPS")
    rows = ["| `dimension` | one request covers | requests per year |", "| :--- | :--- | ---: |"]
    for dimension, step in steps.items():
        rows.append(f"| `{dimension}` | {STEP_WORDS[step]} | {WINDOWS_PER_YEAR[step]} |")
    return "\n".join(rows)


def first_sync_requests_table() -> str:
    """The requests of a first sync per year of `start_date`, stream by stream, from the stream
    table's `bucket`: the session dimension's windows, or one request per local day."""
    steps = code_value("calendar.SESSION_WINDOW_STEPS")
    per_dimension = ", ".join(f"{WINDOWS_PER_YEAR[step]} (`{dimension}`)" for dimension, step in steps.items())
    rows = ["| Stream | Requests per year of the range |", "| :--- | :--- |"]
    for name, report in report_table().items():
        if report["bucket"] == "dimension":
            rows.append(f"| `{name}` | {per_dimension} |")
        else:
            rows.append(f"| `{name}` | 365 (one per local day; 366 in a leap year) |")
    rows.append(f"| `report_columns` | {len(report_table())} in all (one one-day request per report), whatever the range |")
    return "\n".join(rows)


TABLES: Mapping[str, Callable[[], str]] = {
    "settings-keys": settings_keys_table,
    "settings-form": settings_form_table,
    "session-windows": session_windows_table,
    "first-sync-requests": first_sync_requests_table,
}


# --- files ----------------------------------------------------------------------------------


def _filled(match: re.Match[str], value: str) -> str:
    return f"{match[1]}{value}{match[2]}"


def render_spec_figures(text: str) -> str:
    """The manifest's text with each figure of SPEC_FIGURES filled from its source, in the
    spec and in the comments that say it too; a figure whose words are gone is an error."""
    for before, after, source in SPEC_FIGURES:
        kind, _, rest = source.partition(":")
        name, _, format_name = rest.partition("|")
        value = span_value(kind, name, format_name or None)
        text, found = re.subn(f"({before})[^\\s]+({after})", partial(_filled, value=value), text)
        if not found:
            raise KeyError(f"the manifest no longer says {before!r} ... {after!r}")
    return text


def render(text: str) -> str:
    """`text` with every span and table filled from its source."""

    def table(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}; the tables are {', '.join(TABLES)}")
        return f"<!-- table:{name} -->\n\n{TABLES[name]()}\n\n<!-- /table -->"

    def span(match: re.Match[str]) -> str:
        value = span_value(match["kind"], match["source"], match["format"])
        head = match.group(0)[: match.start("value") - match.start()]
        return f"{head}{value}<!-- /{match['kind']} -->"

    return SPAN.sub(span, TABLE.sub(table, text))


def render_document(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    return render_spec_figures(text) if path.name == MANIFEST.name else render(text)


def stale_documents(root: Path = ROOT) -> list[Path]:
    return [path for path in documents(root) if path.exists() and render_document(path) != path.read_text(encoding="utf-8")]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report out-of-date spans instead of writing")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_documents()
        if stale:
            names = ", ".join(str(path.relative_to(ROOT)) for path in stale)
            print(f"generated spans are out of date in {names}; run python scripts/generate_docs.py", file=sys.stderr)
            return 1
        print("the figures in README.md, docs/ and the spec's text match the manifest")
        return 0
    for path in documents():
        if not path.exists():
            continue
        rendered = render_document(path)
        if rendered != path.read_text(encoding="utf-8"):
            path.write_text(rendered, encoding="utf-8")
            manifest.cache_clear()  # the pages after it quote the manifest as now written
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
