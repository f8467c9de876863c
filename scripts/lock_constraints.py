#!/usr/bin/env python3
"""Print pip constraints that pin every package of poetry.lock this interpreter would install.

    python scripts/lock_constraints.py > build/constraints.txt
    python -m pip install -c build/constraints.txt -e ".[dev]"

The scripts install with pip (no Poetry needed to set up), and the constraints make pip
install exactly the versions Poetry locked, for the runtime dependencies and for both extras.
A package locked in two versions for different Pythons (numpy) is pinned to the one whose
markers hold here; `extra == ...` clauses are taken as true for every extra, and a package
of any group counts, since a constraint only applies to what the requirements ask for.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

try:
    from packaging.markers import Marker
except ImportError:  # a fresh venv has only pip, which carries its own copy
    from pip._vendor.packaging.markers import Marker  # type: ignore[assignment]

LOCK = Path(__file__).resolve().parent.parent / "poetry.lock"
EXTRAS = ("", "dev", "quickstart")


def applies(markers: str | dict | None) -> bool:
    if not markers:
        return True
    if isinstance(markers, dict):  # one marker per dependency group (main, dev)
        return any(applies(group_markers) for group_markers in markers.values())
    marker = Marker(markers)
    return any(marker.evaluate({"extra": extra}) for extra in EXTRAS)


def constraints(lock: dict) -> list[str]:
    pins: dict[str, str] = {}
    for package in lock["package"]:
        if applies(package.get("markers")):
            name = package["name"]
            if name in pins and pins[name] != package["version"]:
                raise SystemExit(f"poetry.lock pins {name} to both {pins[name]} and {package['version']} for this Python")
            pins[name] = package["version"]
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def main() -> None:
    lock = tomllib.loads(LOCK.read_text(encoding="utf-8"))
    sys.stdout.write("".join(line + "\n" for line in constraints(lock)))


if __name__ == "__main__":
    main()
