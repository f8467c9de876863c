"""Airbyte's connector QA checks (airbyte-ci/connectors/connectors_qa, checks/*.py), run offline.

Each test states one check's rule, read from the check's source, against this repository
as the connector's code directory. The checks that need Airbyte's infrastructure (Docker
Hub, the GitHub API, the registry's usage data, link fetching) are listed in README.md
("Airbyte's connector QA") and are not imitated here; test_metadata.py covers the
metadata model itself. This connector is `low-code` in connectors_qa's terms: a
pyproject.toml, and a manifest inside the `source_moor7_im` package."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

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


def test_validate_metadata_pypi_only_for_python() -> None:
    if METADATA.get("remoteRegistries", {}).get("pypi", {}).get("enabled"):
        assert {"language:python", "language:low-code"} & set(METADATA["tags"])


def test_validate_metadata_major_version_and_release_candidate_rules() -> None:
    major, minor, patch, prerelease, _ = SEMVER.match(METADATA["dockerImageTag"]).groups()
    breaking = (METADATA.get("releases") or {}).get("breakingChanges") or {}
    if minor == "0" and patch == "0" and prerelease is None:
        assert METADATA["dockerImageTag"] in breaking, "a major version needs a releases.breakingChanges entry"
    rollout = ((METADATA.get("releases") or {}).get("rolloutConfiguration") or {}).get("enableProgressiveRollout")
    is_rc = prerelease is not None and "rc" in prerelease
    if is_rc:
        assert rollout is not None
        assert not (major != "0" and minor == "0" and patch == "0")
    if rollout is True:
        assert prerelease is not None


def test_check_connector_language_tag() -> None:
    language_tags = [t for t in METADATA["tags"] if t.startswith("language:")]
    assert language_tags == ["language:python"]  # a pyproject.toml means python


def test_check_connector_cdk_tag() -> None:
    cdk_tags = [t for t in METADATA["tags"] if t.startswith("cdk:")]
    assert (ROOT / TECHNICAL_NAME.replace("-", "_") / "manifest.yaml").is_file()
    assert cdk_tags == ["cdk:low-code"]  # a manifest in the package means low-code


def test_validate_breaking_changes_deadlines() -> None:
    breaking = (METADATA.get("releases") or {}).get("breakingChanges") or {}
    entry = breaking.get(METADATA["dockerImageTag"])
    if entry:
        deadline = dt.date.fromisoformat(entry["upgradeDeadline"])
        assert deadline > dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)


def test_check_connector_max_seconds_between_messages_value() -> None:
    # Certified sources only; this one is community-supported.
    if METADATA["supportLevel"] == "certified":
        assert METADATA.get("maxSecondsBetweenMessages")


# --- documentation.py -----------------------------------------------------------------------


def test_check_documentation_exists() -> None:
    assert DOCS_PAGE.is_file()
    assert DOCS_PAGE.read_text(encoding="utf-8").strip()


def test_check_migration_guide() -> None:
    breaking = (METADATA.get("releases") or {}).get("breakingChanges")
    if breaking:
        guide = DOCS_PAGE.with_name(f"{DOCS_PAGE.stem}-migrations.md")
        lines = guide.read_text(encoding="utf-8").splitlines()
        assert lines[0] == f"# {METADATA['name']} Migration Guide"
        headings = [
            line.strip().removeprefix("## Upgrading to ") for line in lines if line.strip().startswith("## Upgrading to ")
        ]
        assert headings == sorted(breaking, reverse=True)


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
    # CheckDocumentationLinks, ...HeadersOrder, ...Prerequisites and the section checks run
    # for sources with ab_internal.sl >= 300; this one is at 100 (README.md lists them).
    assert METADATA["ab_internal"]["sl"] < 300


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
