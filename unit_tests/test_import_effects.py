"""Importing the package has no effect: no audit hook is added, the manifest is not read, and
no part of a read (a stop signal, a nonce register) exists before a source makes one."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import importlib, pkgutil, sys
import source_moor7_im
for module in pkgutil.walk_packages(source_moor7_im.__path__, "source_moor7_im."):
    importlib.import_module(module.name)
from source_moor7_im import settings
from source_moor7_im.hardening import deadline
from source_moor7_im.hardening.stop_rules import ReadScope, StopSignal
import gc
print(settings.manifest.cache_info().currsize, len(deadline._hooked))
print(sum(isinstance(o, (StopSignal, ReadScope)) for o in gc.get_objects()))
"""


def test_importing_every_module_adds_no_hook_reads_no_manifest_and_makes_no_read_state() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    manifest_reads_and_hooks, read_state = done.stdout.splitlines()
    assert manifest_reads_and_hooks == "0 0"
    assert read_state == "0"


def test_a_read_scope_is_a_sources_own() -> None:
    from source_moor7_im import SourceMoor7Im

    first, second = SourceMoor7Im(), SourceMoor7Im()
    assert first.scope is not second.scope
    assert first.scope.stop is not second.scope.stop
