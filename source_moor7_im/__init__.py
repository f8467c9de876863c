"""Airbyte source for the 7moor (七陌) IM report API."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from .source import SourceMoor7Im

__all__ = ["SourceMoor7Im"]


def __getattr__(name: str) -> object:
    """`SourceMoor7Im` on first use: importing the package must not import the CDK, because
    the command (`source_moor7_im.run`) loads the package before its signal handler is in place."""
    if name == "SourceMoor7Im":
        from .source import SourceMoor7Im

        return SourceMoor7Im
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
