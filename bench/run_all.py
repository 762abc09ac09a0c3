"""Run the benchmarks and write one table: every headline figure, its anchor and the ratio.

``make bench`` runs this. Each benchmark runs as its own process (bounded by ``--timeout``); its
headline figures are read from its ``--json`` output or from the lines it prints (the patterns
below), and set beside their anchor: the goal of issue 16, or a comparison measured in the same run
(rtm-con, the raw Arrow insert). The table is printed and written to ``bench/results.md`` with the
machine's core count and load average before and after, and each benchmark's full output below it.
A benchmark that fails or times out gets a row saying so; nothing is asserted.

    .venv/bin/python bench/run_all.py [--only rsd_evaluate,obd_codec] [--timeout 900] [--out PATH]
    .venv/bin/python bench/run_all.py --only enforcement_1m,enforcement_10m,pages_10m --timeout 5400

The seeded rows (issues 12 and 13: API p95 and page loads on a month of ``emwatch seed``) run
with ``--seeded`` or by name; their month is seeded once and kept (``bench/seeded.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


@dataclass(frozen=True, slots=True)
class Row:
    figure: str
    value: float | None
    unit: str
    anchor: float | None
    anchor_text: str

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.anchor:
            return None
        return self.value / self.anchor


Extract = Callable[[str], list[Row]]


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def _find(pattern: str, text: str) -> float | None:
    m = re.search(pattern, text, re.MULTILINE)
    return _num(m.group(1)) if m else None


def _last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    raise ValueError("no JSON line in the output")


def rsd_evaluate(out: str) -> list[Row]:
    res = _last_json(out)
    rows = []
    for name, f in res.get("command", {}).items():  # the command in a fresh process
        rows.append(Row(f"rsd evaluate command → {name} (fresh process), wall", f["rows_per_s"],
                        "rows/s", 500_000, "goal"))  # fmt: skip
        rows.append(Row(f"rsd evaluate command → {name} (fresh process), per CPU-s",
                        f["rows_per_cpu_s"], "rows/CPU-s", 500_000, "goal"))  # fmt: skip
    if "startup" in res:
        rows.append(Row("rsd evaluate start-up + imports + rule set, CPU", res["startup"]["cpu_s"],
                        "CPU-s", None, "printed (no goal)"))  # fmt: skip
    for name, f in res["whole"].items():
        rows.append(Row(f"rsd evaluate → {name}, wall", f["rows_per_s"], "rows/s", 500_000, "goal"))
        rows.append(
            Row(
                f"rsd evaluate → {name}, per CPU-s",
                f["rows_per_cpu_s"],
                "rows/CPU-s",
                500_000,
                "goal",
            )
        )
    return rows


def rsd_intake(out: str) -> list[Row]:
    r = _last_json(out)
    n = r["records"]
    return [
        Row("RSD intake over HTTP, wall", n / r["wall_s"], "records/s", 20_000, "goal"),
        Row("RSD intake, server CPU", n / r["server_cpu_s"], "records/CPU-s", 20_000, "goal"),
        Row("RSD intake re-upload (duplicates), wall", n / r["dup_wall_s"], "records/s", 20_000, "goal"),
    ]  # fmt: skip


def obd_codec(out: str) -> list[Row]:
    r = _last_json(out)
    by = {row["stage"]: row for row in r["rows"]}
    rtm = next((v for k, v in by.items() if k.startswith("rtm-con")), None)
    unit = by.get("frame+unit (decode_streams)")
    rows = []
    if unit:
        rows.append(Row("HJ 1239 frame decode (frame+unit), per CPU-s", unit["frames_per_cpu_s"],
                        "frames/CPU-s", 100_000, "goal"))  # fmt: skip
        if rtm:
            rows.append(Row("HJ 1239 decode vs rtm-con (GB/T 32960, equal size), per CPU-s",
                            unit["frames_per_cpu_s"], "frames/CPU-s", rtm["frames_per_cpu_s"],
                            "rtm-con, same run"))  # fmt: skip
        else:
            rows.append(Row("rtm-con comparison", None, "", None, "rtm-con not installed"))
    sess = by.get("frame+session (Session.handle: events + answer)")
    if sess:
        rows.append(Row("HJ 1239 frame + session, per CPU-s", sess["frames_per_cpu_s"],
                        "frames/CPU-s", None, "no goal"))  # fmt: skip
    return rows


def vapor_codec(out: str) -> list[Row]:
    v = _find(r"framing \+ CRC \+ parse CP :\s*([\d,]+)", out)
    return [Row("HJ 212 parse + CRC", v, "packets/s", 50_000, "goal")]


def obd_gateway(out: str) -> list[Row]:
    return [
        Row("OBD gateway → bus → chDB", _find(r"gateway throughput\s+([\d,]+) frames/s", out),
            "frames/s", 10_000, "goal (end to end)"),
        Row("OBD ack p99 (client)", _find(r"ack latency \(client\).*p99 ([\d.]+) ms", out), "ms",
            50, "goal (below)"),
    ]  # fmt: skip


def vapor_gateway(out: str) -> list[Row]:
    return [
        Row("HJ 212 gateway", _find(r"answered packets\s*:.*\(([\d,]+) packets/s\)", out),
            "packets/s", 10_000, "goal"),
        Row("HJ 212 answer p99", _find(r"answer latency ms\s*:.*p99 ([\d.]+)", out), "ms", 50,
            "goal (below)"),
    ]  # fmt: skip


def obd_gateway_alone(out: str) -> list[Row]:
    per_cpu = _find(r"→ ([\d,]+) frames/s per busy core", out)
    return [
        Row("OBD gateway alone, 2,000 connections, wall", _find(r"gateway throughput\s+([\d,]+) frames/s", out),
            "frames/s", 20_000, "goal"),
        Row("OBD gateway alone, 2,000 connections, per CPU-s", per_cpu, "frames/CPU-s", 20_000, "goal"),
    ]  # fmt: skip


def vapor_gateway_2000(out: str) -> list[Row]:
    return [
        Row("HJ 212 gateway, 2,000 units, wall", _find(r"answered packets\s*:.*\(([\d,]+) packets/s\)", out),
            "packets/s", 10_000, "goal"),
        Row("HJ 212 gateway, 2,000 units, per CPU-s", _find(r"server per CPU-s\s*:\s*([\d,]+)", out),
            "packets/CPU-s", 10_000, "goal"),
    ]  # fmt: skip


def platform_bench(out: str) -> list[Row]:
    sink = _find(r"sink → chDB \(events in, batched\): [\d,]+ rows, ([\d,]+) rows/s", out)
    raw = _find(r"Arrow insert ([\d,]+) rows/s", out)
    return [
        Row("sink from Python events", sink, "rows/s", raw * 0.8 if raw else None,
            "0.8 × raw Arrow insert, same run"),
        Row("in-process bus + processor + sink", _find(r"sink: [\d,]+ events, ([\d,]+) events/s", out),
            "events/s", 100_000, "goal"),
        Row("OBD sample batches → sink, per CPU-s",
            _find(r"sink \(batches in\)\s+([\d,]+) rows/CPU-s", out), "rows/CPU-s",
            (r := _find(r"raw Arrow insert\s+([\d,]+) rows/CPU-s", out)) and r * 0.8,
            "0.8 × raw Arrow insert of the same rows, same run"),
        Row("OBD rules, CPU per sample", _find(r"OBD rules \(obd.analytics\): ([\d.]+) µs", out),
            "µs", None, "printed (no goal)"),
    ]  # fmt: skip


_API_LINE = re.compile(
    r"^API \[([\d.]+) M readings\] (\w+)\s+(.+?)\s+p50\s+([\d.]+) ms\s+p95\s+([\d.]+) ms.*?"
    r"p95\s+([\d.]+) ms\)$",
    re.MULTILINE,
)


def enforcement_seeded(out: str) -> list[Row]:
    """bench_enforcement on a seeded month: p95 wall (anchor 200 ms) and p95 CPU per request of
    the case list and the busiest vehicles' history, per scope; the cases' headroom."""
    rows = []
    for m in _API_LINE.finditer(out):
        size, scope, fig = m.group(1), m.group(2), m.group(3).strip()
        if fig == "case detail":
            continue
        rows.append(Row(f"{size} M readings, {scope}: {fig} p95", _num(m.group(5)), "ms", 200,
                        "goal (below)"))  # fmt: skip
        rows.append(Row(f"{size} M readings, {scope}: {fig} p95 CPU", _num(m.group(6)), "ms",
                        200, "goal (below), CPU of the API process"))  # fmt: skip
    head = _find(r"; ([\d,]+)× headroom", out)
    rows.append(Row("cases keep up with the seeded exceedance rate", head, "× the load", 1,
                    "goal (headroom ≥ 1)"))  # fmt: skip
    return rows


def pages_seeded(out: str) -> list[Row]:
    """bench_pages --json: each page's first load (median and slowest) and warm load."""
    r = _last_json(out)
    rows = []
    for page, f in r["pages"].items():
        rows.append(Row(f"{page}: first load, median", f["first_median_s"], "s", 2, "goal (below)"))
        rows.append(Row(f"{page}: first load, slowest", f["first_max_s"], "s", 2, "goal (below)"))
        rows.append(Row(f"{page}: warm load, median", f["warm_median_s"], "s", 1, "goal (below)"))
        if f.get("server_cpu_first_s") is not None:
            rows.append(Row(f"{page}: platform CPU per first load", f["server_cpu_first_s"], "s",
                            2, "goal (below), CPU of the platform"))  # fmt: skip
            rows.append(Row(f"{page}: platform CPU per warm load", f["server_cpu_warm_s"], "s",
                            1, "goal (below), CPU of the platform"))  # fmt: skip
    return rows


def as_printed(name: str) -> Extract:
    """A benchmark whose figures are not parsed yet: one row pointing at its output."""

    def extract(out: str) -> list[Row]:
        return [Row(f"{name} (see its output below)", None, "", None, "figures as printed")]

    return extract


# name → (script, arguments, extractor)
BENCHES: dict[str, tuple[str, list[str], Extract]] = {
    "obd_codec": ("bench_obd_codec.py", ["--json"], obd_codec),
    "vapor_codec": ("bench_vapor_codec.py", [], vapor_codec),
    "rsd_evaluate": ("bench_rsd_evaluate.py", ["--json"], rsd_evaluate),
    "rsd_intake": ("bench_rsd_intake.py", ["--json"], rsd_intake),
    "platform": ("bench_platform.py", [], platform_bench),
    "obd_gateway": ("bench_obd_gateway.py", [], obd_gateway),
    "vapor_gateway": ("bench_vapor_gateway.py", [], vapor_gateway),
    # the gateway shell alone (issue 16): no bus, uvloop, 2,000 connections / units
    "obd_gateway_alone": (
        "bench_obd_gateway.py",
        ["--terminals", "2000", "--packets", "5", "--gateway-only", "--loop", "uvloop"],
        obd_gateway_alone,
    ),
    "vapor_gateway_2000": (
        "bench_vapor_gateway.py",
        ["--units", "2000", "--seconds", "15", "--loop", "uvloop"],
        vapor_gateway_2000,
    ),
    "smoke_detect": ("bench_smoke_detect.py", [], as_printed("smoke detection")),
    "enforcement": ("bench_enforcement.py", [], as_printed("enforcement")),
    # issue 12 on a month seeded by `emwatch seed` (kept under $TMPDIR/emw-bench-seeded)
    "enforcement_1m": (
        "bench_enforcement.py",
        ["--seed-scale", "0.1", "--requests", "20", "--exceedances", "20000"],
        enforcement_seeded,
    ),
    "enforcement_10m": (
        "bench_enforcement.py",
        ["--seed-scale", "1", "--requests", "20", "--exceedances", "20000"],
        enforcement_seeded,
    ),
    # issue 13: every page in headless Chromium on the seeded month (10 M readings)
    "pages_10m": (
        "bench_pages.py",
        ["--seed-scale", "1", "--runs", "2", "--json"],
        pages_seeded,
    ),
    "report": ("bench_report.py", [], as_printed("weekly report")),
    "seed": ("bench_seed.py", [], as_printed("seed")),
}
# seed a month first (minutes to an hour on a shared machine, kept for the next run): run with
# --seeded or by name in --only
SEEDED = ("enforcement_1m", "enforcement_10m", "pages_10m")


def _fmt(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"


def run(names: list[str], timeout: float) -> tuple[list[tuple[str, Row]], dict[str, str]]:
    rows: list[tuple[str, Row]] = []
    outputs: dict[str, str] = {}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in names:
        script, args, extract = BENCHES[name]
        print(f"== {name}", flush=True)
        t0 = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, str(BENCH / script), *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=REPO,
                env=env,
            )
            text = done.stdout + (f"\n[stderr]\n{done.stderr[-4000:]}" if done.returncode else "")
            outputs[name] = text
            if done.returncode:
                rows.append(
                    (name, Row(f"{name} failed (exit {done.returncode})", None, "", None, ""))
                )
                continue
            got = extract(done.stdout)
        except subprocess.TimeoutExpired:
            outputs[name] = f"timed out after {timeout:.0f} s"
            rows.append((name, Row(f"{name} timed out ({timeout:.0f} s)", None, "", None, "")))
            continue
        except (ValueError, KeyError) as exc:
            rows.append((name, Row(f"{name}: figures not found ({exc})", None, "", None, "")))
            continue
        rows.extend((name, r) for r in got)
        print(f"   {time.monotonic() - t0:.0f} s", flush=True)
    return rows, outputs


def table(rows: list[tuple[str, Row]]) -> list[str]:
    lines = [
        "| bench | figure | value | unit | anchor | anchor is | ratio |",
        "|---|---|---:|---|---:|---|---:|",
    ]
    for name, r in rows:
        ratio = r.ratio
        if ratio is not None and "below" in r.anchor_text and r.value:
            ratio = r.anchor / r.value  # type: ignore[operator]  # lower is better: anchor / value
        lines.append(
            f"| {name} | {r.figure} | {_fmt(r.value)} | {r.unit} | {_fmt(r.anchor)} | "
            f"{r.anchor_text} | {'–' if ratio is None else f'{ratio:.2f}'} |"
        )
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help=f"comma-separated subset of {', '.join(BENCHES)}")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per benchmark")
    ap.add_argument("--out", type=Path, default=BENCH / "results.md")
    ap.add_argument(
        "--seeded", action="store_true", help=f"also run {', '.join(SEEDED)} (seeded months)"
    )
    a = ap.parse_args()
    names = a.only.split(",") if a.only else [n for n in BENCHES if a.seeded or n not in SEEDED]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(
            f"run_all: no benchmark {unknown[0]!r} (known: {', '.join(BENCHES)})", file=sys.stderr
        )
        return 2
    load0 = os.getloadavg()
    started = datetime.now(UTC)
    rows, outputs = run(names, a.timeout)
    load1 = os.getloadavg()
    head = [
        "# Benchmark results",
        "",
        f"Written by `bench/run_all.py` on {started:%Y-%m-%d %H:%M} UTC; "
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}; load average before "
        f"{', '.join(f'{x:.2f}' for x in load0)}, after {', '.join(f'{x:.2f}' for x in load1)}. "
        "Ratio = value / anchor (anchor / value where lower is better); ≥ 1 meets the anchor. "
        "On a shared machine the per-CPU-second figures are the steadier ones.",
        "",
        f"Run: {', '.join(names)}"
        + (
            f"; not run (`--only`): {', '.join(n for n in BENCHES if n not in names)}."
            if a.only
            else "."
        ),
        "",
    ]
    body = table(rows)
    print("\n".join(body))
    detail = ["", "## Output of each benchmark", ""]
    for name, text in outputs.items():
        detail += [f"### {name}", "", "```", text.rstrip(), "```", ""]
    a.out.write_text("\n".join(head + body + detail) + "\n", encoding="utf-8")
    print(f"written to {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
