"""The two wings: `hardening/` stands on the CDK and the standard library alone and knows nothing
of 7moor (its words, cursor format and reply rules come in as arguments); the connector is built
on it."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "source_moor7_im"
HARDENING = sorted((PACKAGE / "hardening").glob("*.py"))
# The CDK's own dependencies that are part of its surface: its HTTP hooks hand over `requests`
# objects, and its serializer is orjson.
CDK_SURFACE = {"airbyte_cdk", "requests", "orjson"}


def _imports(text: str) -> list[tuple[int, str]]:
    """(level, module) of each import: level 0 is absolute, 1 this folder, 2 its parent."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def _outside_the_layer(text: str) -> list[str]:
    """The imports of a hardening module's `text` that are neither the CDK's nor the standard library's nor the layer's."""
    return [
        f"{'.' * level}{module}"
        for level, module in _imports(text)
        if (level == 0 and module.split(".")[0] not in sys.stdlib_module_names | CDK_SURFACE) or level > 1
    ]


@pytest.mark.parametrize("path", HARDENING, ids=lambda path: path.name)
def test_the_hardening_layer_imports_only_the_cdk_the_standard_library_and_itself(path: Path) -> None:
    assert _outside_the_layer(path.read_text(encoding="utf-8")) == []


def test_an_import_of_the_connector_or_another_library_is_outside_the_layer() -> None:
    text = "import os\nfrom . import messages\nfrom ..settings import manifest\nimport source_moor7_im.replies\nimport yaml\n"
    assert _outside_the_layer(text) == ["..settings", "source_moor7_im.replies", "yaml"]


@pytest.mark.parametrize("path", HARDENING, ids=lambda path: path.name)
def test_the_hardening_layer_carries_no_word_of_7moor(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = re.findall(r"(?i)7moor|moor7|createTime|m7-\w+|session_time|agent_(?:workload|quality)", text)
    assert not found, f"{path.name} says {sorted(set(found))}"
