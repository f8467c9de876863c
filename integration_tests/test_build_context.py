"""The wheel from the build context Airbyte's image build sends to Docker.

`airbyte-cdk image build` writes a .dockerignore that ignores everything but an allow-list
(`docker-images/Dockerfile.manifest-only-connector.dockerignore` in airbytehq/airbyte, the one
stored there; marked auto-generated). Docker sends symbolic links as links, so a link to a
file outside the list arrives dangling. Here the tree is copied as Docker would send it under
that list, a wheel is built from the copy, and the connector installed from that wheel reads
all three report streams from the emulator."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from moor7_emulator import Emulator, ground_truth

from .conftest import ROOT, Cli, configured_catalog, emulator_config, install_alone
from .test_end_to_end import assert_records_equal_ground_truth

# The allow-list as Airbyte's template has it (patterns in Docker's .dockerignore syntax).
AIRBYTE_DOCKERIGNORE = """\
*
build/
!build/distributions/*.tar
.venv/
secrets/
!setup.py
!pyproject.toml
!poetry.lock
!poetry.toml
!manifest.yaml
!components.py
!requirements.txt
!README.md
!metadata.yaml
!build_customization.py
!source_*
!destination_*
"""


def _pattern(text: str) -> re.Pattern:
    # Go's filepath.Match as Docker uses it: `*` and `?` stop at `/`; `**` spans directories.
    out = ""
    i = 0
    while i < len(text):
        if text.startswith("**", i):
            out, i = out + ".*", i + 2
        elif text[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif text[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(text[i]), i + 1
    return re.compile(out + r"\Z")


def dockerignore_excludes(rules: str, relative: str) -> bool:
    """Docker's rule: the last pattern that matches the path, or one of its parent
    directories, decides; a `!` pattern includes."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for line in rules.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = _pattern(line.lstrip("!").strip("/"))
        if any(pattern.match(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def copy_build_context(source: Path, target: Path, rules: str) -> list[str]:
    """The files (and links, as links) that Docker would send; returns their paths."""
    sent = []
    for directory, dirnames, filenames in os.walk(source):
        # A directory the rules exclude, and that no `!` pattern reaches into, is not walked.
        reincluded = [line[1:] for line in rules.splitlines() if line.startswith("!")]
        dirnames[:] = [
            d
            for d in dirnames
            if d != ".git"
            and not (
                dockerignore_excludes(rules, (Path(directory) / d).relative_to(source).as_posix())
                and not any(p.startswith((Path(directory) / d).relative_to(source).as_posix() + "/") for p in reincluded)
            )
        ]
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(directory, d))]:
            path = Path(directory) / name
            relative = path.relative_to(source).as_posix()
            if dockerignore_excludes(rules, relative):
                continue
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():
                os.symlink(os.readlink(path), destination)
            else:
                shutil.copy2(path, destination)
            sent.append(relative)
    return sorted(sent)


def test_the_allow_list_is_read_as_docker_reads_it() -> None:
    rules = AIRBYTE_DOCKERIGNORE
    assert not dockerignore_excludes(rules, "source_moor7_im/schemas/session_time.json")
    assert not dockerignore_excludes(rules, "pyproject.toml")
    assert not dockerignore_excludes(rules, "build/distributions/x.tar")
    assert dockerignore_excludes(rules, "build/image/Dockerfile")
    assert dockerignore_excludes(rules, "schemas")
    assert dockerignore_excludes(rules, "unit_tests/test_spec.py")
    assert dockerignore_excludes(rules, "docs/integrations/sources/moor7-im.md")


def _wheel_files(wheel: Path) -> dict[str, str]:
    """Each file the wheel installs, with its hash from RECORD (the dist-info's RECORD itself aside)."""
    with zipfile.ZipFile(wheel) as archive:
        (record,) = [n for n in archive.namelist() if n.endswith(".dist-info/RECORD")]
        rows = csv.reader(io.StringIO(archive.read(record).decode()))
        return {name: digest for name, digest, _ in rows if name != record}


def _build_wheel(project: Path, out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(project)], check=True)
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.mark.runs_long(17)
def test_a_wheel_built_from_the_allow_listed_context_is_whole_and_reads_exactly(emulator: Emulator, tmp_path: Path) -> None:
    context = tmp_path / "context"
    sent = copy_build_context(ROOT, context, AIRBYTE_DOCKERIGNORE)
    assert "source_moor7_im/manifest.yaml" in sent
    assert "poetry.lock" in sent
    assert "source_moor7_im/schemas/session_time.json" in sent, "the schemas must be files inside the package"
    dangling = [p for p in sent if (context / p).is_symlink() and not (context / p).exists()]
    assert not dangling, f"links that arrive dangling: {dangling}"

    wheel = _build_wheel(context, tmp_path / "wheel")
    files = _wheel_files(wheel)
    assert {"source_moor7_im/manifest.yaml", "source_moor7_im/schemas/agent_quality.json"} <= set(files)
    # The same files, byte for byte, as the wheel built from the whole tree.
    assert files == _wheel_files(_build_wheel(ROOT, tmp_path / "whole")), "the allow-listed wheel differs from the whole tree's"

    # Installed into a venv of its own. The dependencies are the ones the test venv already
    # holds (a .pth file adds its site-packages after this venv's own), so only this wheel's
    # package is new; the test checks that the command imports it from here.
    env_dir = tmp_path / "venv"
    python = install_alone(wheel, env_dir)
    located = subprocess.run(
        [str(python), "-c", "import source_moor7_im; print(source_moor7_im.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,  # not the source tree, which `python -c` would put first on sys.path
    )
    assert located.stdout.strip().startswith(str(env_dir)), located.stdout

    cli = Cli([str(env_dir / "bin" / "source-moor7-im")], tmp_path)
    config = emulator_config(emulator, start_date="2024-07-01", end_date="2024-07-07")
    discovered = cli.run("discover", config)
    assert discovered.exit_code == 0, discovered.stderr[-2000:]
    (catalog_message,) = discovered.of_type("CATALOG")
    catalog = configured_catalog(catalog_message["catalog"])
    result = cli.run("read", config, catalog)
    assert result.exit_code == 0, result.errors() or result.stderr[-2000:]
    assert not result.errors(), result.errors() or result.stderr[-2000:]
    truth = ground_truth(emulator.account, "2024-07-01", "2024-07-07", "day")
    schemas = {s["stream"]["name"]: s["stream"]["json_schema"] for s in catalog["streams"]}
    assert assert_records_equal_ground_truth(result, truth, schemas) == sum(len(rows) for rows in truth.values()) > 0
