"""Airbyte's connector QA checks (airbyte-ci/connectors/connectors_qa, checks/*.py), run offline.

Each test states one check's rule, read from the check's source, against this repository
as the connector's code directory. The checks that need Airbyte's infrastructure (Docker
Hub, the GitHub API, the registry's usage data, link fetching) are listed in
docs/design/packaging-and-qa.md and are not imitated here; test_metadata.py covers the
metadata model itself. This connector is `low-code` in connectors_qa's terms: a
pyproject.toml, and a manifest inside the `source_moor7_im` package."""

from __future__ import annotations

import copy
import datetime as dt
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
METADATA = yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))["data"]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
TECHNICAL_NAME = METADATA["dockerRepository"].split("/")[-1]  # source-moor7-im
DOCS_PAGE = ROOT / "docs" / "integrations" / "sources" / f"{TECHNICAL_NAME.removeprefix('source-')}.md"

# semver.org's regular expression for a version (what semver.Version.parse accepts).
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


# --- packaging.py ---------------------------------------------------------------------------


def test_check_connector_uses_poetry() -> None:
    assert (ROOT / "pyproject.toml").is_file()
    assert (ROOT / "poetry.lock").is_file()
    assert not (ROOT / "setup.py").exists()
    assert PYPROJECT["build-system"]["build-backend"] == "poetry.core.masonry.api"


def test_poetry_lock_is_current_with_pyproject() -> None:
    # What "uses Poetry" is for: a lock that matches the dependencies declared. Poetry checks
    # the lock's content hash against pyproject.toml without the network.
    poetry = Path(sys.executable).with_name("poetry")
    result = subprocess.run([str(poetry), "check", "--lock", "--no-interaction"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    # Poetry 2 calls the [tool.poetry] metadata tables deprecated in favour of [project];
    # Airbyte's QA and the Poetry 1.8 of its base image read them there. Nothing else may
    # be wrong.
    lines = (result.stdout + result.stderr).splitlines()
    assert not [line for line in lines if line.startswith("Error")], lines
    for line in lines:
        if line.startswith("Warning"):
            assert "[tool.poetry." in line, line
            assert "deprecated" in line or "[project.dynamic]" in line, line


def test_the_dev_group_holds_the_dev_extra() -> None:
    # scripts/test.sh installs the `dev` extra with pip; Airbyte's CI installs a Poetry
    # connector's `dev` group for its unit and integration tests. They must not drift apart.
    poetry = PYPROJECT["tool"]["poetry"]
    assert set(poetry["group"]["dev"]["dependencies"]) == set(poetry["extras"]["dev"])
    for name, spec in poetry["group"]["dev"]["dependencies"].items():
        extra = {k: v for k, v in poetry["dependencies"][name].items() if k != "optional"}
        assert (spec if isinstance(spec, dict) else {"version": spec}) == extra, name


@pytest.mark.parametrize("license_name", [METADATA.get("license")])
def test_check_connector_license(license_name: str) -> None:
    assert license_name is not None
    assert license_name.upper() in {"MIT", "ELV2"}


def test_check_connector_license_match_in_pyproject() -> None:
    assert PYPROJECT["tool"]["poetry"]["license"].lower() == METADATA["license"].lower()


def test_check_version_follows_semver() -> None:
    assert SEMVER.match(str(METADATA["dockerImageTag"]))
    assert not SEMVER.match("0.1"), "the pattern must refuse what semver refuses"


def test_check_connector_version_match_in_pyproject() -> None:
    assert PYPROJECT["tool"]["poetry"]["version"] == METADATA["dockerImageTag"]
    assert "project" not in PYPROJECT, "a [project] table would take precedence over [tool.poetry] in Poetry 2"


def test_check_publish_to_pypi_is_declared() -> None:
    assert METADATA.get("remoteRegistries", {}).get("pypi", {}).get("enabled") is not None


def test_the_connector_is_low_code_so_the_manifest_only_base_image_check_does_not_apply() -> None:
    # connectors_qa's language: manifest-only is a top-level manifest.yaml without Python
    # packaging; low-code is a manifest inside source_<name>/. CheckManifestOnlyConnectorBaseImage
    # applies to manifest-only connectors only.
    assert not (ROOT / "manifest.yaml").exists()
    assert (ROOT / TECHNICAL_NAME.replace("-", "_") / "manifest.yaml").is_file()


# --- security.py ------------------------------------------------------------------------------

IGNORED_DIRECTORIES = {
    ".venv",
    "tests",
    "unit_tests",
    "integration_tests",
    "build",
    "source-file",
    ".pytest_cache",
    "acceptance_tests_logs",
    ".hypothesis",
    ".ruff_cache",
    # Not in the check's list: Airbyte's connector directories hold no repository of their
    # own, and git's files here (commit messages, logs) are not the connector's.
    ".git",
}
IGNORED_FILE_PATTERNS = {"*Test.java", "*.jar", "*.pyc", "*.gz", "*.svg", "expected_records.jsonl", "expected_records.json"}
IGNORED_URL_PREFIXES = {"http://json-schema.org", "http://localhost"}
IGNORE_COMMENT = "# ignore-https-check"
COMMENT_MARKERS = {".py": "#", ".yml": "#", ".yaml": "#", ".java": "//", ".md": "<!--"}


def _lines(directory: Path) -> Iterator[tuple[Path, str]]:
    for path in directory.rglob("*"):
        if any(part in path.parts for part in IGNORED_DIRECTORIES) or any(path.match(p) for p in IGNORED_FILE_PATTERNS):
            continue
        if path.is_file():
            try:
                with open(path, encoding="utf-8") as lines:
                    yield from ((path, line) for line in lines)
            except UnicodeDecodeError:
                continue


def files_with_http_urls(directory: Path) -> list[str]:
    """CheckConnectorUsesHTTPSOnly: every line outside the ignored directories and files that
    is not a comment, has no ignore mark and, once json-schema.org and localhost URLs are
    removed, still holds `http://` (case-insensitive)."""
    found = set()
    for path, line in _lines(directory):
        line = line.lower()
        marker = COMMENT_MARKERS.get(path.suffix)
        if marker and line.lstrip().startswith(marker):
            continue
        if IGNORE_COMMENT in line:
            continue
        for prefix in IGNORED_URL_PREFIXES:
            line = line.replace(prefix, "")
        if "http://" in line:
            found.add(str(path.relative_to(directory)))
    return sorted(found)


def test_check_connector_uses_https_only() -> None:
    assert files_with_http_urls(ROOT) == []


def test_the_only_marked_http_lines_are_the_loopback_exception_of_base_url() -> None:
    marked = [(path.relative_to(ROOT), line.strip()) for path, line in _lines(ROOT) if IGNORE_COMMENT in line.lower()]
    assert [str(path) for path, _ in marked] == ["source_moor7_im/manifest.yaml"] * 2, marked
    for _, line in marked:
        key = line.split(":", 1)[0]
        assert key in {"pattern", "pattern_descriptor"}, line
        assert re.findall(r"http://[^\s\"|(]*", line.split(IGNORE_COMMENT)[0]) in (["http://"], ["http://127.0.0.1:port"]), line
        assert "127" in line, line
        assert "https://" in line, line


def test_the_https_scan_finds_what_the_check_finds(tmp_path: Path) -> None:
    (tmp_path / "flagged.yaml").write_text('url_base: "HTTP://api.example.com"\n')
    (tmp_path / "comment.yaml").write_text("# see http://example.com\n")
    (tmp_path / "marked.yaml").write_text("pattern: http://127.0.0.1 # ignore-https-check\n")
    (tmp_path / "local.py").write_text('URL = "http://localhost:8000"\n')
    (tmp_path / "unit_tests").mkdir()
    (tmp_path / "unit_tests" / "test_x.py").write_text('URL = "http://example.com"\n')
    (tmp_path / "icon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>\n')
    (tmp_path / "notes.md").write_text("plain http://example.com in prose\n")
    assert files_with_http_urls(tmp_path) == ["flagged.yaml", "notes.md"]


def test_check_connector_uses_python_base_image() -> None:
    assert not (ROOT / "Dockerfile").exists()
    assert METADATA.get("connectorBuildOptions", {}).get("baseImage")


# --- assets.py ----------------------------------------------------------------------------------


def test_check_connector_icon_is_available() -> None:
    icon = ROOT / METADATA["icon"]
    assert icon.is_file()
    assert icon.name == "icon.svg"
    assert icon.parent == ROOT
    text = icon.read_text(encoding="utf-8")
    # Airbyte's default icon (the check compares the whole file) begins its path so.
    assert 'd="M95.775 53.416c20.364-22.88' not in text
    # "must be a square" (the check's description; not yet enforced by it)
    view_box = re.search(r'viewBox="([\d.\s-]+)"', text)
    assert view_box, "no viewBox"
    _, _, width, height = (float(v) for v in view_box.group(1).split())
    assert width == height


# --- metadata.py and the metadata validators it runs ----------------------------------------


def test_validate_metadata_docs_page_exists() -> None:
    # ValidateMetadata fails first when the user-facing docs page is missing, and the
    # validate_docs_path_exists validator asks the same.
    assert DOCS_PAGE.is_file()


def test_validate_metadata_tags_are_key_value_pairs_with_a_language_tag() -> None:
    tags = METADATA["tags"]
    assert all(":" in tag for tag in tags)
    assert any(tag.startswith("language:") for tag in tags)


# A check that applies to some connectors only is a rule function run on this connector's
# metadata and on variants where it applies, so each can be seen to fail.


def _with(metadata: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(METADATA if metadata is None else metadata), **changes}


def pypi_problems(metadata: dict[str, Any]) -> list[str]:
    if not metadata.get("remoteRegistries", {}).get("pypi", {}).get("enabled"):
        return []
    return (
        [] if {"language:python", "language:low-code"} & set(metadata["tags"]) else ["PyPI publishing for a non-Python connector"]
    )


def version_problems(metadata: dict[str, Any]) -> list[str]:
    major, minor, patch, prerelease, _ = SEMVER.match(metadata["dockerImageTag"]).groups()
    releases = metadata.get("releases") or {}
    rollout = (releases.get("rolloutConfiguration") or {}).get("enableProgressiveRollout")
    problems = []
    if (
        minor == "0"
        and patch == "0"
        and prerelease is None
        and metadata["dockerImageTag"] not in (releases.get("breakingChanges") or {})
    ):
        problems.append("a major version needs a releases.breakingChanges entry")
    if prerelease is not None and "rc" in prerelease:
        if rollout is None:
            problems.append("a release candidate needs rolloutConfiguration")
        if major != "0" and minor == "0" and patch == "0":
            problems.append("a major version cannot be a release candidate")
    if rollout is True and prerelease is None:
        problems.append("a progressive rollout needs a pre-release version")
    return problems


def deadline_problems(metadata: dict[str, Any], today: dt.date) -> list[str]:
    entry = ((metadata.get("releases") or {}).get("breakingChanges") or {}).get(metadata["dockerImageTag"])
    if entry and dt.date.fromisoformat(entry["upgradeDeadline"]) <= today + dt.timedelta(days=7):
        return ["a breaking change's upgrade deadline is a week away or less"]
    return []


def max_seconds_problems(metadata: dict[str, Any]) -> list[str]:
    if metadata["supportLevel"] == "certified" and not metadata.get("maxSecondsBetweenMessages"):
        return ["a certified source needs maxSecondsBetweenMessages"]
    return []


def migration_guide_problems(metadata: dict[str, Any], docs_page: Path) -> list[str]:
    breaking = (metadata.get("releases") or {}).get("breakingChanges")
    if not breaking:
        return []
    guide = docs_page.with_name(f"{docs_page.stem}-migrations.md")
    if not guide.is_file():
        return [f"breaking changes without {guide.name}"]
    lines = guide.read_text(encoding="utf-8").splitlines()
    problems = [] if lines and lines[0] == f"# {metadata['name']} Migration Guide" else ["the guide's title"]
    headings = [line.strip().removeprefix("## Upgrading to ") for line in lines if line.strip().startswith("## Upgrading to ")]
    return problems + (
        [] if headings == sorted(breaking, reverse=True) else ["one 'Upgrading to' heading per breaking change, newest first"]
    )


BREAKING_2 = {"breakingChanges": {"2.0.0": {"message": "m", "upgradeDeadline": "2027-06-01"}}}


def test_this_connector_passes_the_checks_that_apply_to_some_connectors_only() -> None:
    assert pypi_problems(METADATA) == []
    assert version_problems(METADATA) == []
    assert deadline_problems(METADATA, dt.datetime.now(dt.UTC).date()) == []
    assert max_seconds_problems(METADATA) == []
    assert migration_guide_problems(METADATA, DOCS_PAGE) == []


@pytest.mark.parametrize(
    ("problems", "expected"),
    [
        (lambda: pypi_problems(_with(tags=["language:java"], remoteRegistries={"pypi": {"enabled": True}})), 1),
        (lambda: pypi_problems(_with(tags=["language:python"], remoteRegistries={"pypi": {"enabled": True}})), 0),
        (lambda: version_problems(_with(dockerImageTag="2.0.0", releases={})), 1),
        (lambda: version_problems(_with(dockerImageTag="2.0.0", releases=BREAKING_2)), 0),
        (lambda: version_problems(_with(dockerImageTag="1.2.0-rc.1", releases={})), 1),
        (
            lambda: version_problems(
                _with(dockerImageTag="1.2.0", releases={"rolloutConfiguration": {"enableProgressiveRollout": True}})
            ),
            1,
        ),
        (lambda: deadline_problems(_with(dockerImageTag="2.0.0", releases=BREAKING_2), dt.date(2027, 5, 30)), 1),
        (lambda: deadline_problems(_with(dockerImageTag="2.0.0", releases=BREAKING_2), dt.date(2027, 1, 1)), 0),
        (lambda: max_seconds_problems(_with(supportLevel="certified")), 1),
        (lambda: max_seconds_problems(_with(supportLevel="certified", maxSecondsBetweenMessages=7200)), 0),
        (lambda: migration_guide_problems(_with(releases=BREAKING_2), DOCS_PAGE), 1),
    ],
)
def test_the_checks_that_apply_to_some_connectors_only_fail_where_they_apply(problems: Any, expected: int) -> None:
    assert len(problems()) == expected


def test_a_migration_guide_in_airbyte_s_shape_passes(tmp_path: Path) -> None:
    page = tmp_path / "moor7-im.md"
    page.with_name("moor7-im-migrations.md").write_text(
        f"# {METADATA['name']} Migration Guide\n\n## Upgrading to 2.0.0\n\nWhat changed.\n", encoding="utf-8"
    )
    assert migration_guide_problems(_with(releases=BREAKING_2), page) == []
    page.with_name("moor7-im-migrations.md").write_text("# Migration\n", encoding="utf-8")
    assert len(migration_guide_problems(_with(releases=BREAKING_2), page)) == 2


def test_check_connector_language_tag() -> None:
    language_tags = [t for t in METADATA["tags"] if t.startswith("language:")]
    assert language_tags == ["language:python"]  # a pyproject.toml means python


def test_check_connector_cdk_tag() -> None:
    cdk_tags = [t for t in METADATA["tags"] if t.startswith("cdk:")]
    assert (ROOT / TECHNICAL_NAME.replace("-", "_") / "manifest.yaml").is_file()
    assert cdk_tags == ["cdk:low-code"]  # a manifest in the package means low-code


# --- documentation.py -----------------------------------------------------------------------


def test_check_documentation_exists() -> None:
    assert DOCS_PAGE.is_file()
    assert DOCS_PAGE.read_text(encoding="utf-8").strip()


def test_check_changelog_entry() -> None:
    after_changelog = entry_found = False
    for line in DOCS_PAGE.read_text(encoding="utf-8").splitlines():
        if "# changelog" in line.lower():
            after_changelog = True
        if after_changelog and METADATA["dockerImageTag"] in line:
            entry_found = True
    assert after_changelog
    assert entry_found


def test_documentation_content_checks_apply_from_sl_300_only() -> None:
    # CheckDocumentationLinks, ...HeadersOrder, ...Prerequisites and the section checks run in
    # Airbyte's QA for sources with ab_internal.sl >= 300; this one is at 100. The page passes
    # the offline ones all the same: the tests below state them.
    assert METADATA["ab_internal"]["sl"] < 300


# The docs page as the content checks read it (models.py, helpers.py): a CommonMark parse; the
# headings of levels 1 to 4 in order, each named by the text of its first inline part; a
# section is the lines between its heading and the next heading, and a heading that appears
# twice has two sections. The template (templates/template.md.j2) rendered with the
# connector's name from metadata.yaml gives the expected headings; the check skips a template
# heading the rules do not require when the page lacks it, and a slot written "{ Connector-
# specific features }" takes any run of headings that are not the template's own.
CONNECTOR_NAME = METADATA["name"]
CONNECTOR_SPECIFIC = "{ Connector-specific features }"
TEMPLATE_HEADINGS = [
    CONNECTOR_NAME,
    "Prerequisites",
    "Setup guide",
    f"Set up {CONNECTOR_NAME}",
    "For Airbyte Cloud:",
    "For Airbyte Open Source:",
    CONNECTOR_SPECIFIC,
    f"Set up the {CONNECTOR_NAME} connector in Airbyte",
    "For Airbyte Cloud:",
    "For Airbyte Open Source:",
    CONNECTOR_SPECIFIC,
    "Supported sync modes",
    "Supported Streams",
    CONNECTOR_SPECIFIC,
    "Performance considerations",
    "Data type map",
    "Limitations & Troubleshooting",
    CONNECTOR_SPECIFIC,
    "Tutorials",
    "Changelog",
]
NOT_REQUIRED_HEADINGS = {
    f"Set up the {CONNECTOR_NAME} connector in Airbyte",
    "For Airbyte Cloud:",
    "For Airbyte Open Source:",
    CONNECTOR_SPECIFIC,
    "Performance considerations",
    "Data type map",
    "Limitations & Troubleshooting",
    "Tutorials",
}
# What the section checks expect at the start of a section: the template's text under that
# heading (for the two "For Airbyte ..." headings, the second one, under the Airbyte setup).
MAIN_SECTION = (
    "\n<HideInUI>\n\nThis page contains the setup guide and reference information for the "
    f"[{CONNECTOR_NAME}]({{docs_link}}) source connector.\n\n</HideInUI>\n\n"
)
CLOUD_STEPS = (
    "\n1. [Log into your Airbyte Cloud](https://cloud.airbyte.com/workspaces) account.\n"
    "2. Click Sources and then click + New source.\n"
    f"3. On the Set up the source page, select {CONNECTOR_NAME} from the Source type dropdown.\n"
    f"4. Enter a name for the {CONNECTOR_NAME} connector.\n"
)
OPEN_SOURCE_STEPS = "\n1. Navigate to the Airbyte Open Source dashboard.\n"
SYNC_MODES_INTRO = (
    f"\nThe {CONNECTOR_NAME} source connector supports the following "
    "[sync modes](https://docs.airbyte.com/cloud/core-concepts/#connection-sync-modes):\n\n"
)
CHANGELOG_START = "<details>\n  <summary>Expand to review</summary>\n</details>"
# Spec fields whose presence asks the Prerequisites for a word about credentials instead.
CREDENTIAL_FIELDS = {"credentials", "client_id", "client_secret", "access_token", "refresh_token", "authorization"}
CREDENTIAL_WORDS = ("account", "auth", "credentials", "access", "client")


def _parse(text: str) -> list:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").parse(text)


def page_headings(text: str, levels: tuple[str, ...] = ("h1", "h2", "h3", "h4")) -> list[tuple[str, int]]:
    """(name, line after the heading) of each heading, in order."""
    tokens = _parse(text)
    return [
        (tokens[index + 1].children[0].content, token.map[1])
        for index, token in enumerate(tokens)
        if token.type == "heading_open" and token.tag in levels
    ]


def page_sections(text: str, name: str) -> list[str]:
    """The text under each heading called `name`, up to the next heading of any level."""
    lines = text.splitlines(keepends=True)
    every = page_headings(text, ("h1", "h2", "h3", "h4", "h5", "h6"))
    sections = []
    for index, (heading, after) in enumerate(every):
        if heading == name:
            end = every[index + 1][1] - 1 if index + 1 < len(every) else len(lines)
            sections.append("".join(lines[after:end]))
    return sections


def heading_order_error(headings: list[str]) -> str | None:
    """CheckDocumentationHeadersOrder's rule: None when the headings follow the template."""
    at, expected_at = 0, 0
    while at < len(headings) and expected_at < len(TEMPLATE_HEADINGS):
        heading, expected = headings[at], TEMPLATE_HEADINGS[expected_at]
        if expected == CONNECTOR_SPECIFIC:
            if heading in TEMPLATE_HEADINGS:
                expected_at += 1  # the template's own heading closes the free slot
            else:
                at += 1  # a heading of the connector's own, welcome here
        elif heading == expected:
            at, expected_at = at + 1, expected_at + 1
        elif expected in NOT_REQUIRED_HEADINGS:
            expected_at += 1
        else:
            return f"heading {heading!r} where the template has {expected!r}"
    if expected_at != len(TEMPLATE_HEADINGS):
        return f"the page ends before the template's {TEMPLATE_HEADINGS[expected_at:]}"
    return None


def changelog_blocks(section: str) -> str:
    """The changelog section as CheckChangelogSectionContent compares it: its top-level blocks
    in order, each without trailing whitespace, an HTML block by its lines and any other block
    (the table, a paragraph in CommonMark) as nothing."""
    tokens = [token for token in _parse(section) if token.level == 0 and not token.type.endswith("_close")]
    parts = []
    for token in tokens:
        content = token.content.rstrip() if token.type in ("html_block", "fence", "code_block") else ""
        parts.extend(line + "\n" for line in content.split("\n")) if "\n" in content else parts.append(content)
    return "".join(parts)


DOCS_TEXT = DOCS_PAGE.read_text(encoding="utf-8")


def test_check_documentation_headers_order() -> None:
    assert heading_order_error([name for name, _ in page_headings(DOCS_TEXT)]) is None


def test_the_docs_page_has_every_heading_of_the_template_but_tutorials() -> None:
    headings = [name for name, _ in page_headings(DOCS_TEXT)]
    for heading in TEMPLATE_HEADINGS:
        if heading not in (CONNECTOR_SPECIFIC, "Tutorials"):
            assert heading in headings, heading
    assert headings[0] == CONNECTOR_NAME


def _without(headings: list[str], name: str) -> list[str]:
    return [heading for heading in headings if heading != name]


def _with_before(headings: list[str], name: str, before: str) -> list[str]:
    at = headings.index(before)
    return [*headings[:at], name, *headings[at:]]


@pytest.mark.parametrize(
    "change",
    [
        lambda h: _without(h, "Supported Streams"),
        lambda h: _with_before(_without(h, "Supported Streams"), "Supported Streams", "Supported sync modes"),
        lambda h: _with_before(h, "First sync", "Data type map"),
        lambda h: _with_before(h, "Keys", "Setup guide"),
        lambda h: _without(h, "Changelog"),
        lambda h: ["7moor IM reports", *h[1:]],
    ],
    ids=[
        "a required heading missing",
        "two headings swapped",
        "own heading where none is free",
        "own heading before Setup guide",
        "no changelog",
        "another name",
    ],
)
def test_the_heading_order_rule_refuses_what_the_check_refuses(change) -> None:
    headings = [name for name, _ in page_headings(DOCS_TEXT)]
    assert heading_order_error(change(headings)) is not None


def test_check_source_section_content() -> None:
    (main,) = page_sections(DOCS_TEXT, CONNECTOR_NAME)
    assert MAIN_SECTION in re.sub(r"https?://[^\s)]+", "{docs_link}", main)


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("For Airbyte Cloud:", CLOUD_STEPS),
        ("For Airbyte Open Source:", OPEN_SOURCE_STEPS),
        ("Supported sync modes", SYNC_MODES_INTRO),
    ],
)
def test_check_section_content(heading: str, expected: str) -> None:
    sections = page_sections(DOCS_TEXT, heading)
    assert sections, f"no {heading!r} section"
    assert expected in [section[: len(expected)] for section in sections], sections


def test_check_changelog_section_content() -> None:
    (changelog,) = page_sections(DOCS_TEXT, "Changelog")
    assert changelog_blocks(changelog)[: len(CHANGELOG_START)] == CHANGELOG_START
    assert changelog_blocks("\n| Version |\n| :-- |\n") != CHANGELOG_START, "a table alone is no <details> block"


def prerequisite_problems(spec: dict[str, Any], prerequisites: str) -> list[str]:
    """CheckPrerequisitesSectionDescribesRequiredFieldsFromSpec: each required field's title is
    named in the section, and a spec with OAuth-style credential fields has the section speak
    of credentials."""
    text = prerequisites.lower()
    required = [name for name in spec["required"] if name not in CREDENTIAL_FIELDS]
    problems = [spec["properties"][name]["title"] for name in required if spec["properties"][name]["title"].lower() not in text]
    if CREDENTIAL_FIELDS & (set(spec["required"]) | set(spec["properties"])) and not any(
        word in text for word in CREDENTIAL_WORDS
    ):
        problems.append("credentials")
    return problems


def test_check_prerequisites_section_describes_required_fields_from_spec() -> None:
    spec = yaml.safe_load((ROOT / "source_moor7_im" / "manifest.yaml").read_text(encoding="utf-8"))["spec"]
    spec = spec["connection_specification"]
    (prerequisites,) = page_sections(DOCS_TEXT, "Prerequisites")
    assert [name for name in spec["required"] if name not in CREDENTIAL_FIELDS] == ["app_key", "secret_key", "start_date"]
    assert prerequisite_problems(spec, prerequisites) == []
    # the rule fails where it applies: a title not named, credentials not spoken of
    oauth = {**spec, "properties": {**spec["properties"], "credentials": {"title": "Credentials"}}}
    assert prerequisite_problems(oauth, "App Key, Secret Key and Start Date.") == ["credentials"]
    assert prerequisite_problems(oauth, "Your 7moor account: App Key, Secret Key, Start Date.") == []
    assert prerequisite_problems(spec, "App Key and Start Date.") == [spec["properties"]["secret_key"]["title"]]


# --- testing.py ---------------------------------------------------------------------------------


def test_acceptance_tests_enabled_check_does_not_apply_and_only_runnable_suites_are_declared() -> None:
    # AcceptanceTestsEnabledCheck asks acceptanceTests of medium- and high-use Cloud sources
    # (usage comes from Airbyte's registry); this one is not on Cloud. The suites declared are
    # the ones Airbyte's CI can run as they are: no testSecrets, and the emulator starts
    # in-process. The acceptance scenarios run from the image in integration_tests/test_image.py.
    assert METADATA["registryOverrides"]["cloud"]["enabled"] is False
    suites = [option["suite"] for option in METADATA.get("connectorTestSuitesOptions", [])]
    assert suites == ["unitTests", "integrationTests"]
    assert not any(option.get("testSecrets") for option in METADATA["connectorTestSuitesOptions"])
