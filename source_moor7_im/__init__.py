"""Airbyte source for the 7moor (七陌) IM report API."""

from .source import SourceMoor7Im

__all__ = ["SourceMoor7Im"]
