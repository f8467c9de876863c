"""README.md and the pages under docs/ say what is true today: the facts they state that the
code also states are compared with it here (the figures the manifest owns are generated spans:
test_generated_docs.py)."""

from __future__ import annotations

import datetime as dt
import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import yaml
from markdown_it import MarkdownIt

from source_moor7_im.settings import manifest, report_table

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_TEXT = README.read_text(encoding="utf-8")
DOCS_PAGE = ROOT / "docs" / "integrations" / "sources" / "moor7-im.md"
DOCS_TEXT = DOCS_PAGE.read_text(encoding="utf-8")
METADATA = yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))["data"]
SPEC = manifest()["spec"]
QUICKSTART: dict[str, Any] = runpy.run_path(str(ROOT / "scripts" / "quickstart.py"))
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
MARKDOWN = MarkdownIt("commonmark")
FIRST_SCREEN_LINES = 40


def _tokens(text: str) -> list:
    return MARKDOWN.parse(text)


def _inline_text(inline: Any) -> str:
    return "".join(child.content for child in inline.children or [] if child.type in ("text", "code_inline"))


# --- README's first screen -----------------------------------------------------------------


def test_readme_is_at_most_about_12_kb() -> None:
    assert len(README_TEXT.encode("utf-8")) <= 12 * 1024


def test_the_two_commands_are_on_the_first_screen_of_readme_as_lines_of_a_shell_block() -> None:
    first_screen = README_TEXT.splitlines()[:FIRST_SCREEN_LINES]
    blocks = [token for token in _tokens("\n".join(first_screen)) if token.type == "fence" and token.info == "bash"]
    commands = [line for block in blocks for line in block.content.splitlines()]
    assert "bash scripts/quickstart.sh" in commands
    assert "bash scripts/test.sh" in commands
    assert (ROOT / "scripts" / "quickstart.sh").is_file()
    assert (ROOT / "scripts" / "test.sh").is_file()
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8"), "CI runs the test command README gives"


def test_readme_says_what_the_connector_is_and_for_whom_before_the_commands() -> None:
    before = README_TEXT[: README_TEXT.index("bash scripts/quickstart.sh")]
    assert METADATA["name"] in before
    assert "7moor" in before
    assert "data engineers" in before


# --- the quick start -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "first_day"),
    [
        (dt.date(2026, 1, 1), dt.date(2025, 10, 1)),
        (dt.date(2026, 3, 31), dt.date(2025, 12, 1)),
        (dt.date(2026, 12, 6), dt.date(2026, 9, 1)),
        (dt.date(2028, 3, 31), dt.date(2027, 12, 1)),
    ],
)
def test_the_demo_range_readme_states_is_the_quick_starts(today: dt.date, first_day: dt.date) -> None:
    assert "The demo syncs from the first day of the month three months back up to now" in " ".join(README_TEXT.split())
    assert "first day of the month three months back" in " ".join(QUICKSTART["__doc__"].split())
    assert QUICKSTART["demo_start"](today) == first_day


@pytest.mark.parametrize(
    ("config", "name"),
    [
        ({"app_key": "2000103"}, "moor7_2000103-v7openapi-7moor-com.duckdb"),
        ({"app_key": "2000103", "base_url": "http://127.0.0.1:44915"}, "moor7_2000103-127-0-0-1-44915.duckdb"),
        (
            {"app_key": "3000777", "base_url": "https://proxy.example.com:8443/7moor"},
            "moor7_3000777-proxy-example-com-8443.duckdb",
        ),
    ],
)
def test_an_accounts_database_is_named_as_readme_says(config: dict[str, str], name: str) -> None:
    """README's rule: `moor7_<app key>-<host>.duckdb`, the host with its port, each run of other characters than letters and digits "-"."""
    assert QUICKSTART["ACCOUNT_DB_PATTERN"] == "moor7_<app key>-<host>.duckdb"
    assert QUICKSTART["account_db_name"](config) == name


def test_the_database_files_readme_shows_are_the_ones_the_quick_start_writes() -> None:
    assert f".quickstart/{QUICKSTART['DEMO_DB_NAME']}" in README_TEXT
    assert f".quickstart/{QUICKSTART['ACCOUNT_DB_PATTERN']}" in README_TEXT
    said = " ".join(README_TEXT.split())
    (example,) = re.findall(r"for app key `(\d+)` on the default host, `\.quickstart/([^`]+)`", said)
    assert QUICKSTART["account_db_name"]({"app_key": example[0]}) == example[1]


def test_the_quick_starts_help_names_the_files_it_writes() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "quickstart.py"), "--help"], capture_output=True, text=True, check=True
    )
    help_text = " ".join(completed.stdout.split())
    assert f".quickstart/{QUICKSTART['DEMO_DB_NAME']}" in help_text
    assert f".quickstart/{QUICKSTART['ACCOUNT_DB_PATTERN']}" in help_text


# --- names and addresses ---------------------------------------------------------------------


def test_the_connectors_name_is_one_in_metadata_the_spec_the_docs_page_and_readme() -> None:
    name = METADATA["name"]
    assert SPEC["connection_specification"]["title"] == name
    (first_heading,) = [t for t in _tokens(DOCS_TEXT) if t.type == "heading_open"][:1]
    assert first_heading.tag == "h1"
    assert DOCS_TEXT.splitlines()[0] == f"# {name}"
    assert f"**{name}**" in README_TEXT
    assert f"named `{name}`" in README_TEXT, "the name to give the custom connector in Airbyte"
    docker_page = (ROOT / "docs" / "design" / "docker-image.md").read_text(encoding="utf-8")
    assert f"| Connector display name | `{name}` |" in docker_page


def test_readme_says_where_the_docs_page_is_read_until_airbyte_publishes_it() -> None:
    url = METADATA["documentationUrl"]
    assert url == "https://docs.airbyte.com/integrations/sources/moor7-im"
    said = " ".join(README_TEXT.split())
    assert url in said
    assert f"[`{DOCS_PAGE.relative_to(ROOT).as_posix()}`]({DOCS_PAGE.relative_to(ROOT).as_posix()})" in said
    assert "until then, read it in this repository" in said
    assert README_TEXT.index(url) < README_TEXT.index("## "), "on the first screen"


def test_the_docs_pages_stream_table_is_the_manifests() -> None:
    section = DOCS_TEXT[DOCS_TEXT.index("## Supported Streams") :].split("\n## ")[0]
    rows = [line for line in section.splitlines()[1:] if line.startswith("| `")]
    table = {cells[0].strip("` "): cells for cells in ([c.strip() for c in row.strip("|").split("|")] for row in rows)}
    assert list(table) == [*report_table(), "report_columns"]
    for name, report in report_table().items():
        assert table[name][1] == f"`POST {report['path']}`"
        assert table[name][3] == ", ".join(f"`{key}`" for (key,) in report["primary_key"])
    columns = manifest()["definitions"]["report_columns_stream"]["primary_key"]
    assert table["report_columns"][3] == ", ".join(f"`{key}`" for (key,) in columns)


# --- commands as written -----------------------------------------------------------------------


def test_readme_runs_the_command_and_python_from_venv() -> None:
    blocks = [t.content for t in _tokens(README_TEXT) if t.type == "fence" and t.info in ("bash", "console")]
    lines = [line.removeprefix("$ ") for block in blocks for line in block.splitlines()]
    commands = [line for line in lines if re.match(r"^(\S*/)?(source-moor7-im|python3?)\b", line)]
    assert commands
    for line in commands:
        assert line.startswith((".venv/bin/source-moor7-im ", ".venv/bin/python ")), line
        for piped in line.split(" | ")[1:]:
            assert piped.startswith(".venv/bin/"), line


# --- links -------------------------------------------------------------------------------------


def _slug(heading: str, seen: dict[str, int]) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens, and
    -1, -2 ... after a repeat."""
    slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return slug if count == 0 else f"{slug}-{count}"


def anchors(path: Path) -> set[str]:
    tokens = _tokens(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    return {_slug(_inline_text(tokens[i + 1]), seen) for i, token in enumerate(tokens) if token.type == "heading_open"}


def links(path: Path) -> list[str]:
    found = []
    for token in _tokens(path.read_text(encoding="utf-8")):
        for child in token.children or []:
            if child.type == "link_open":
                found.append(str(child.attrs["href"]))
    return found


def test_the_anchor_rule_is_githubs() -> None:
    seen: dict[str, int] = {}
    assert _slug("Limitations & Troubleshooting", seen) == "limitations--troubleshooting"
    assert _slug("For Airbyte Cloud:", seen) == "for-airbyte-cloud"
    assert _slug("For Airbyte Cloud:", seen) == "for-airbyte-cloud-1"
    assert _slug("report_columns", seen) == "report_columns"


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves_to_a_file_and_its_anchor_to_a_heading(page: Path) -> None:
    checked = 0
    for href in links(page):
        if re.match(r"^[a-z]+:", href):
            continue  # https:, mailto:
        target, _, anchor = href.partition("#")
        path = (page.parent / unquote(target)).resolve() if target else page
        assert path.exists(), f"{page.relative_to(ROOT)}: {href} names no file"
        if anchor:
            assert path.suffix == ".md", href
            assert anchor in anchors(path), f"{page.relative_to(ROOT)}: {href} names no heading"
        checked += 1
    if page in (README, DOCS_PAGE) or page.parent.name == "design":
        assert checked, f"{page.relative_to(ROOT)} links to nothing here"


def test_every_design_page_is_linked_from_readme_and_the_index() -> None:
    index = ROOT / "docs" / "design" / "README.md"
    from_readme = {(README.parent / href.partition("#")[0]).resolve() for href in links(README)}
    from_index = {(index.parent / href.partition("#")[0]).resolve() for href in links(index)}
    for page in sorted((ROOT / "docs" / "design").glob("*.md")):
        assert page.resolve() in from_readme, page.name
        if page != index:
            assert page.resolve() in from_index, page.name
