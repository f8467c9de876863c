"""The CDK's private surface the package stands on: each name `hardening/cdk_private.py` lists
still exists in the installed CDK (a release that drops one fails here, naming it), and no
module uses a private CDK name that the list does not hold, nor one outside `hardening/`."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from source_moor7_im.hardening.cdk_private import PRIVATE_NAMES

PACKAGE = Path(__file__).resolve().parent.parent / "source_moor7_im"
LISTED = {name for names in PRIVATE_NAMES.values() for name in names}


@pytest.mark.parametrize(
    ("owner", "name"),
    [(owner, name) for owner, names in PRIVATE_NAMES.items() for name in names],
    ids=lambda value: value.__name__ if isinstance(value, type) else value,
)
def test_each_private_cdk_name_the_layer_uses_still_exists(owner: type, name: str) -> None:
    # An attribute set in __init__ is no class attribute: it is found in the class's source.
    assigned = re.search(rf"self\.{name}\s*[:=]", inspect.getsource(owner))
    assert hasattr(owner, name) or assigned, f"{owner.__name__}.{name} is gone"


def _private_names_read(path: Path) -> set[str]:
    """The `_name` attributes a module reads (by name or through getattr) but never sets itself (its own private fields and
    methods are set there: `self._x = ...`, `def _x`, a dataclass field `_x: ...`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    read, own = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            (own if isinstance(node.ctx, ast.Store) else read).add(node.attr)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            named = node.args[1] if len(node.args) > 1 else None  # getattr(error, "_exception", None) reads it too
            if isinstance(named, ast.Constant) and isinstance(named.value, str) and named.value.startswith("_"):
                read.add(named.value)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name.startswith("_"):
            own.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            own.add(node.target.id)
    return read - (own - LISTED)  # a listed name read and also set (a replaced part) is still the CDK's


def test_no_module_uses_a_private_cdk_name_but_those_listed_and_only_the_hardening_layer() -> None:
    # Not the CDK's: requests keeps a read body in `Response._content`; `os._exit` ends a process.
    others = {"_content", "_exit"}
    for path in sorted(PACKAGE.rglob("*.py")):
        used = _private_names_read(path) - others
        where = path.relative_to(PACKAGE)
        if where.parts[0] == "hardening":
            assert used <= LISTED, f"{where} reads private names the list does not hold: {sorted(used - LISTED)}"
        else:
            assert not used & LISTED, f"{where} reads private CDK names outside hardening/: {sorted(used & LISTED)}"


def test_the_list_holds_no_name_the_layer_does_not_use() -> None:
    used = set().union(*(_private_names_read(path) for path in (PACKAGE / "hardening").glob("*.py")))
    assert sorted(LISTED - used) == []
