"""Cell formatting shared by the HTML and PDF renderers (the workbook keeps raw numbers)."""

from __future__ import annotations

import math

from streams.report.model import Cell


def cell_text(value: Cell, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if fmt == "int":
        return f"{int(value):,}"
    if fmt == "delta":
        n = int(value)
        return f"+{n:,}" if n > 0 else f"{n:,}"
    if fmt == "pct":
        return f"{100 * float(value):.1f}%"
    if fmt == "pts":
        v = 100 * float(value)
        return f"{v:+.1f}个百分点" if abs(v) >= 0.05 else "0.0个百分点"
    if fmt == "num1":
        return f"{float(value):.1f}"
    return str(value)


def trend_class(value: Cell, fmt: str) -> str:
    """'up' / 'down' / '' for change columns (more exceedances is worse: the renderers colour it)."""
    if fmt not in ("delta", "pts") or value is None:
        return ""
    v = float(value)
    return "up" if v > 0 else "down" if v < 0 else ""
