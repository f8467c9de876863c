"""The figures that README.md and docs/ quote are generated from their one home, the manifest
(or a constant of the package): scripts/generate_docs.py fills the marked spans, and
`--check` fails while one is out of date; this suite runs that check on the real tree."""

from __future__ import annotations

import copy
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from source_moor7_im.settings import manifest

ROOT = Path(__file__).resolve().parent.parent
_SPEC = importlib.util.spec_from_file_location("generate_docs", ROOT / "scripts" / "generate_docs.py")
assert _SPEC is not None
assert _SPEC.loader is not None
generate_docs = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(generate_docs)

BUDGET = "definitions.requester_base.error_handler.retry_budget_seconds"


def _with(path: str, value: Any) -> dict[str, Any]:
    """A copy of the manifest with `path` set to `value`."""
    changed = copy.deepcopy(dict(manifest()))
    *parents, last = path.split(".")
    node = changed
    for key in parents:
        node = node[key]
    node[last] = value
    return changed


def test_every_generated_span_in_readme_and_docs_matches_its_source() -> None:
    assert generate_docs.stale_documents() == []


def test_readme_and_the_docs_pages_take_the_retry_figures_from_the_manifest() -> None:
    # The figures a user meets most are spans, not hand copies.
    for page in ("README.md", "docs/integrations/sources/moor7-im.md", "docs/design/retries-and-deadlines.md"):
        text = (ROOT / page).read_text(encoding="utf-8")
        assert f"<!-- manifest:{BUDGET} -->" in text, page
        assert "<!-- derived:outage_bound_seconds|minutes -->" in text, page


def test_a_changed_manifest_figure_changes_its_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generate_docs, "manifest", lambda: _with(BUDGET, 300))
    text = (
        f"budget <!-- manifest:{BUDGET} -->120<!-- /manifest --> s, "
        "outage <!-- derived:outage_bound_seconds|minutes -->4<!-- /derived --> minutes"
    )
    assert generate_docs.render(text) == (
        f"budget <!-- manifest:{BUDGET} -->300<!-- /manifest --> s, "
        "outage <!-- derived:outage_bound_seconds|minutes -->7<!-- /derived --> minutes"
    )


def test_a_changed_manifest_figure_changes_the_spec_text_that_states_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # The spec's text is shown as it is in Airbyte's form: its figures are found by their words.
    monkeypatch.setattr(generate_docs, "manifest", lambda: _with(BUDGET, 300))
    text = (
        "A window stops retrying 2 minutes after its first attempt, and no single wait is longer\n"
        "  than 60 s. ... so a sync against an API that is down ends\n  within 4 minutes."
    )
    assert generate_docs.render_spec_figures(text) == (
        "A window stops retrying 5 minutes after its first attempt, and no single wait is longer\n"
        "  than 60 s. ... so a sync against an API that is down ends\n  within 7 minutes."
    )


def test_a_spec_figure_whose_words_are_gone_is_an_error() -> None:
    with pytest.raises(KeyError, match="stops retrying"):
        generate_docs.render_spec_figures("A window retries for a while.")


def test_a_stale_span_fails_the_check(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(f"<!-- manifest:{BUDGET} -->90<!-- /manifest -->\n", encoding="utf-8")
    (tmp_path / "docs" / "page.md").write_text(
        "<!-- code:hardening.messages.MAX_QUOTE_BYTES -->300<!-- /code -->\n", encoding="utf-8"
    )
    assert generate_docs.stale_documents(tmp_path) == [tmp_path / "README.md"]


def test_the_check_command_fails_while_a_span_is_stale_and_a_regeneration_fixes_it(tmp_path: Path) -> None:
    # The command scripts/test.sh runs, from a copy of the script in a tree of its own.
    (tmp_path / "scripts").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "scripts" / "generate_docs.py").write_bytes((ROOT / "scripts" / "generate_docs.py").read_bytes())
    (tmp_path / "metadata.yaml").write_bytes((ROOT / "metadata.yaml").read_bytes())
    readme = tmp_path / "README.md"
    budget = generate_docs.manifest_value(BUDGET)
    readme.write_text(f"A window retries for <!-- manifest:{BUDGET} -->{budget + 1}<!-- /manifest --> s.\n", encoding="utf-8")
    command = [sys.executable, str(tmp_path / "scripts" / "generate_docs.py")]

    stale = subprocess.run([*command, "--check"], capture_output=True, text=True, check=False)
    assert stale.returncode == 1
    assert "README.md" in stale.stderr
    assert f"{budget + 1}" in readme.read_text(encoding="utf-8"), "--check writes nothing"

    subprocess.run(command, capture_output=True, text=True, check=True)
    assert readme.read_text(encoding="utf-8") == f"A window retries for <!-- manifest:{BUDGET} -->{budget}<!-- /manifest --> s.\n"
    assert generate_docs.stale_documents(tmp_path) == [], "what the command wrote is what --check compares with"


def test_a_ref_on_the_way_is_followed() -> None:
    # The authenticator's attempt deadline is the requester's read timeout, by $ref.
    assert (
        generate_docs.manifest_value("definitions.authenticator.attempt_deadline_seconds")
        == (manifest()["definitions"]["requester_base"]["read_timeout_in_seconds"])
    )


@pytest.mark.parametrize(
    "span",
    [
        "<!-- manifest:definitions.no_such_thing -->1<!-- /manifest -->",
        "<!-- code:hardening.messages.NO_SUCH_CONSTANT -->1<!-- /code -->",
        "<!-- derived:no_such_figure -->1<!-- /derived -->",
        f"<!-- manifest:{BUDGET}|furlongs -->1<!-- /manifest -->",
        "<!-- table:no-such-table -->\nx\n<!-- /table -->",
    ],
)
def test_a_span_whose_source_does_not_exist_is_an_error(span: str) -> None:
    with pytest.raises((KeyError, AttributeError)):
        generate_docs.render(span)


@pytest.mark.parametrize(
    ("value", "format_name", "shown"),
    [(67108864, "mib", "64"), (16000, "thousands", "16,000"), (240, "minutes", "4"), (4096, "kib", "4"), (0.25, None, "0.25")],
)
def test_formats(value: Any, format_name: str | None, shown: str) -> None:
    assert generate_docs.render_value(value, format_name) == shown


def test_no_line_starts_with_a_span() -> None:
    # Markdown reads a line that starts with "<!--" as an HTML block: the rest of the line
    # would lose its formatting, and the paragraph would break there.
    starts = re.compile(r"^\s*<!-- (manifest|code|metadata|derived):")
    for path in generate_docs.documents():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            assert not starts.match(line), f"{path.relative_to(ROOT)}:{number} starts with a span"


def test_no_span_sits_in_a_code_span() -> None:
    # Inside backticks a comment is shown as it is written.
    for path in generate_docs.documents():
        for line in path.read_text(encoding="utf-8").splitlines():
            for code in re.findall(r"`[^`]*`", line):
                assert "<!--" not in code, f"{path.relative_to(ROOT)}: {code}"
