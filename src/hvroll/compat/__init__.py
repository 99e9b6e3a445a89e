"""Compatibility: which VM may run or live-migrate where, and why not.

The engine is :class:`hvroll.compat.verdict.Checker`; :func:`capabilities` tells which migration
features (auto-converge, post-copy, migrateToURI3) two host profiles both support. Both are
imported on first use, so that importing :mod:`hvroll.compat.cpu` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Checker", "capabilities"]


def __getattr__(name: str) -> Any:
    if name == "capabilities":
        from hvroll.compat.ruleset import capabilities

        return capabilities
    if name == "Checker":
        from hvroll.compat.verdict import Checker

        return Checker
    raise AttributeError(f"module 'hvroll.compat' has no attribute {name!r}")
