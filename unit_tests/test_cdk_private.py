"""The CDK's private surface the package stands on: each name `hardening/cdk_private.py` lists
still exists in the installed CDK (a release that drops one fails here, naming it), and no
module uses (reads or sets) a private name of the CDK's modules that the list does not hold,
nor one outside `hardening/`."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest

from source_moor7_im.hardening.cdk_private import PRIVATE_NAMES

PACKAGE = Path(__file__).resolve().parent.parent / "source_moor7_im"
LISTED = {name for names in PRIVATE_NAMES.values() for name in names.split()}


@pytest.mark.parametrize(
    ("owner", "name"),
    [(owner, name) for owner, names in PRIVATE_NAMES.items() for name in names.split()],
    ids=lambda value: value.__name__ if isinstance(value, type) else value,
)
def test_each_private_cdk_name_the_layer_uses_still_exists(owner: type, name: str) -> None:
    # An attribute set in __init__ is no class attribute: it is found in the class's source.
    assigned = re.search(rf"self\.{name}\s*[:=](?!=)", inspect.getsource(owner))
    assert hasattr(owner, name) or assigned, f"{owner.__name__}.{name} is gone"


def _cdk_private_names() -> set[str]:
    """The private names that the CDK modules the package imports from define: set on `self`, or a `def`."""
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in PACKAGE.rglob("*.py")]
    modules = {
        node.module
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("airbyte_cdk")
    }
    found = (
        re.findall(r"self\.(_[A-Za-z]\w*)\s*[:=]|def (_[A-Za-z]\w*)", inspect.getsource(importlib.import_module(m)))
        for m in modules
    )
    return {set_name or def_name for pairs in found for set_name, def_name in pairs}


# The package's own names that a CDK module happens to define too: its locks, and the authenticator's stream name.
OWN = {"_lock", "_stream_name"}
CDK_PRIVATE = _cdk_private_names() - OWN


def _cdk_private_names_used(path: Path) -> set[str]:
    """The CDK's private names a module reads or sets, by attribute or through getattr/hasattr/setattr."""
    used = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr", "setattr"):
            named = node.args[1] if len(node.args) > 1 else None  # getattr(error, "_exception", None) reads it too
            if isinstance(named, ast.Constant) and isinstance(named.value, str):
                used.add(named.value)
    return used & CDK_PRIVATE


def test_no_module_uses_a_private_cdk_name_but_those_listed_and_only_the_hardening_layer() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        used, where = _cdk_private_names_used(path), path.relative_to(PACKAGE)
        if where.parts[0] == "hardening":
            assert used <= LISTED, f"{where} uses private CDK names the list does not hold: {sorted(used - LISTED)}"
        else:
            assert not used, f"{where} uses private CDK names outside hardening/: {sorted(used)}"


def test_the_list_holds_no_name_the_layer_does_not_use() -> None:
    used = set().union(*(_cdk_private_names_used(path) for path in (PACKAGE / "hardening").glob("*.py")))
    assert sorted(LISTED - used) == []


def test_a_private_name_the_package_sets_on_a_cdk_object_counts_as_used() -> None:
    # declarative.py replaces the CDK's concurrent source: a name set, not only read, is the CDK's too.
    assert "_concurrent_source" in _cdk_private_names_used(PACKAGE / "hardening" / "declarative.py")
