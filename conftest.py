"""Loaded by pytest before the test folders' conftest files, so before anything imports the
connector: the end-to-end tests' virtual clock must already be the `time` module's clock
when the connector's dataclasses take `time.monotonic` and `time.time` as defaults."""

from integration_tests.virtual_clock import install

install()
