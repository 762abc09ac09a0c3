"""Enforcement's events (case findings, case log entries, case states); filled in by the case layer.

The exceedance contract itself is core's (``core.exceedance``)."""

from __future__ import annotations

from typing import Any


def examples() -> list[Any]:
    return []
