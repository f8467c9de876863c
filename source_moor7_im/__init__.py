"""Airbyte source for the 7moor (七陌) IM report API; `SourceMoor7Im` is imported on first use (run.py says why)."""

__all__ = ["SourceMoor7Im"]
TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from .source import SourceMoor7Im


def __getattr__(name: str) -> object:
    if name != "SourceMoor7Im":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .source import SourceMoor7Im

    return SourceMoor7Im
