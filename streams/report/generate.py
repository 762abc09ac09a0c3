"""Produce the weekly report files: query → model → one renderer per format → files in a folder.

The one code path of the CLI, the dashboard page and the scheduler. Files are written to a temporary
name and renamed, so a reader never sees half a report; charts are drawn once for HTML and PDF.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from core.isoweek import IsoWeek, check_reportable
from core.registry import Registry
from streams.report.model import Progress, WeeklyReport, collect

FORMATS = ("html", "pdf", "xlsx")


def parse_formats(text: str) -> tuple[str, ...]:
    from core.errors import EmwError

    fmts = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise EmwError(
            f"unknown format {', '.join(bad) or repr(text)}: expected a comma-separated list of {', '.join(FORMATS)}"
        )
    return fmts


def render(report: WeeklyReport, fmt: str, charts: dict[str, bytes] | None = None) -> bytes:
    if fmt == "html":
        from streams.report.html import render_html

        return render_html(report, charts).encode("utf-8")
    if fmt == "pdf":
        from streams.report.pdf import render_pdf

        return render_pdf(report, charts)
    if fmt == "xlsx":
        from streams.report.xlsx import render_xlsx

        return render_xlsx(report)
    raise ValueError(f"unknown format {fmt!r}")


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # reports are served to readers; mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(
    report: WeeklyReport,
    formats: Sequence[str],
    out_dir: Path,
    progress: Progress | None = None,
) -> list[Path]:
    from streams.report.charts import render_png

    step = progress or (lambda _f, _m: None)
    out_dir.mkdir(parents=True, exist_ok=True)
    charts = None
    if {"html", "pdf"} & set(formats):
        step(0.75, "绘制趋势图")
        charts = {f.key: render_png(f) for f in report.figures()}
    paths = []
    for i, fmt in enumerate(formats):
        step(0.8 + 0.2 * i / len(formats), f"输出 {fmt.upper()}")
        path = out_dir / f"{report.file_stem}.{fmt}"
        _write_atomic(path, render(report, fmt, charts))
        paths.append(path)
    step(1.0, "完成")
    return paths


def generate(
    client: Any,
    week: IsoWeek,
    level: str,
    scope: Any,
    registry: Registry,
    formats: Sequence[str],
    out_dir: Path,
    now: datetime,
    progress: Progress | None = None,
) -> tuple[WeeklyReport, list[Path]]:
    """Check the week, build the report and write one file per format into ``out_dir``."""
    check_reportable(week, now)
    report = collect(client, week, level, scope, registry, now, progress)
    return report, write_report(report, formats, out_dir, progress)


def list_reports(reports_dir: Path) -> list[dict[str, Any]]:
    """Past reports in a folder, newest week first: week, level, formats and paths."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    if not reports_dir.is_dir():
        return []
    for p in reports_dir.glob("weekly-*-*.*"):
        stem, _, fmt = p.name.rpartition(".")
        parts = stem.split("-")  # weekly, YYYY, Www, level
        if len(parts) != 4 or fmt not in FORMATS:
            continue
        week, level = f"{parts[1]}-{parts[2]}", parts[3]
        entry = found.setdefault((week, level), {"week": week, "level": level, "files": {}})
        entry["files"][fmt] = p
        entry["mtime"] = max(entry.get("mtime", 0.0), p.stat().st_mtime)
    return sorted(found.values(), key=lambda e: (e["week"], e["level"]), reverse=True)
