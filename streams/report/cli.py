"""``emwatch report weekly`` and ``emwatch report schedule``: the weekly report from the command line.

Without a running platform the command opens the data directory itself; while ``emwatch run`` holds
the embedded warehouse, that process produces the reports (every Monday, and on the 周报 page).
Bad input (a malformed week, a week not yet ended, an unknown jurisdiction or format) is one line
on stderr and exit 2 (``EmwError`` through ``streams.cli.main``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.errors import EmwError
from core.jurisdictions import JURISDICTIONS, ZONE

LEVELS = (*JURISDICTIONS, ZONE)


def level_of(text: str) -> str:
    if text not in LEVELS:
        raise EmwError(f"unknown jurisdiction {text!r}: expected one of {', '.join(LEVELS)}")
    return text


def open_reader(settings: Any) -> Any:
    """A client on the data directory, or None when the running platform holds it (then the
    command goes through the platform's HTTP API, ``fetch_via_api``)."""
    from streams.warehouse.client import WarehouseLocked, connect
    from streams.warehouse.migrator import migrate

    try:
        client = connect(settings.resolved_dsn, settings.warehouse_database)
    except WarehouseLocked:
        return None
    migrate(client, cluster=settings.warehouse_cluster or None)
    return client


def fetch_via_api(settings: Any, path: str, params: dict[str, str], out_dir: Path) -> Path:
    """GET a file from the running platform's API and save it in ``out_dir`` under its name."""
    import json
    import re
    import urllib.error
    import urllib.parse
    import urllib.request

    from streams.auth.http import read_cli_token

    url = f"http://{settings.host}:{settings.dashboard_port}{path}?{urllib.parse.urlencode(params)}"
    req = urllib.request.Request(url)
    token = read_cli_token(settings.data_dir)  # the local command line's token (same data dir)
    if token:
        req.add_header("Authorization", f"Bearer cli:{token}")
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:  # loopback: the embedded runner
            data = resp.read()
            disp = resp.headers.get("Content-Disposition", "")
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read()).get("error", "")
        except ValueError:
            reason = f"HTTP {exc.code}"
        raise EmwError(reason or f"HTTP {exc.code}") from None
    except OSError:
        raise EmwError(
            f"the warehouse {settings.resolved_dsn} is open in another process and no platform "
            f"answers on http://{settings.host}:{settings.dashboard_port}"
        ) from None
    m = re.search(r'filename="([^"/]+)"', disp)
    if not m:
        raise EmwError("the running platform answered without a file name")
    out_dir.mkdir(parents=True, exist_ok=True)
    path_ = out_dir / m.group(1)
    path_.write_bytes(data)
    return path_


def cmd_weekly(args: argparse.Namespace) -> int:
    from core.isoweek import IsoWeek, check_reportable
    from core.registry import load_registry
    from core.timeutil import utcnow
    from streams.report.generate import generate, parse_formats
    from streams.settings import load_settings
    from streams.warehouse.queries.report import ZONE_SCOPE

    now = utcnow()
    week = IsoWeek.parse(args.week) if args.week else IsoWeek.last_full(now)
    check_reportable(week, now)  # before opening anything: bad input changes nothing
    level = level_of(args.jurisdiction)
    formats = parse_formats(args.format)
    settings = load_settings(**({"data_dir": Path(args.data_dir)} if args.data_dir else {}))
    out = Path(args.output) if args.output else settings.data_dir / "reports"
    client = open_reader(settings)
    if client is None:  # the running platform owns the warehouse: ask it
        for fmt in formats:
            params = {"week": str(week), "jurisdiction": level, "format": fmt}
            print(fetch_via_api(settings, "/api/v1/reports/weekly", params, out))
        return 0

    def progress(frac: float, msg: str) -> None:
        if not args.quiet:
            print(f"[{int(100 * frac):3d}%] {msg}", file=sys.stderr, flush=True)

    report, paths = generate(
        client,
        week,
        level,
        ZONE_SCOPE,
        load_registry(settings.registry_dir),
        formats,
        out,
        now,
        progress,
    )
    if not report.has_data:
        print(f"note: no data for {week} ({level}); the report says so", file=sys.stderr)
    for p in paths:
        print(p)
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    """Production: a long-running job producing the report every Monday (compose service)."""
    from core.registry import load_registry
    from streams.report.schedule import run_forever
    from streams.settings import load_settings

    settings = load_settings()
    client = open_reader(settings)
    if client is None:
        raise EmwError(
            "the warehouse is open in another process: the running platform schedules reports itself"
        )
    run_forever(client, load_registry(settings.registry_dir), settings.data_dir / "reports")
    return 0


def period_of(
    week_: str | None, since_: str | None, until_: str | None, now: Any
) -> tuple[Any, Any]:
    """[since, until) in Beijing time from a week or since/until days (whole days, both included)."""
    from datetime import date, datetime, timedelta

    from core.isoweek import IsoWeek, check_reportable
    from core.timeutil import BEIJING

    if since_ or until_:
        if week_ or not (since_ and until_):
            raise EmwError("give either --week, or both --since and --until (YYYY-MM-DD)")
        try:
            a, b = date.fromisoformat(since_), date.fromisoformat(until_)
        except ValueError:
            raise EmwError(
                f"malformed date in --since {since_!r} / --until {until_!r}: expected YYYY-MM-DD"
            ) from None
        if b < a:
            raise EmwError(f"--until {b} is before --since {a}")
        since = datetime(a.year, a.month, a.day, tzinfo=BEIJING)
        until = datetime(b.year, b.month, b.day, tzinfo=BEIJING) + timedelta(days=1)
        if since > now:
            raise EmwError(f"--since {a} is in the future")
        return since, min(until, now)
    week = IsoWeek.parse(week_) if week_ else IsoWeek.last_full(now)
    check_reportable(week, now)
    return week.start, week.end


def cmd_export(args: argparse.Namespace) -> int:
    from core.registry import load_registry
    from core.timeutil import utcnow
    from streams.report.exports import EXPORT_FORMATS, export
    from streams.settings import load_settings
    from streams.warehouse.queries.report import ZONE_SCOPE

    now = utcnow()
    since, until = period_of(args.week, args.since, args.until, now)
    level = level_of(args.jurisdiction)
    fmts = tuple(dict.fromkeys(f.strip().lower() for f in args.format.split(",") if f.strip()))
    bad = [f for f in fmts if f not in EXPORT_FORMATS]
    if bad or not fmts:
        raise EmwError(f"unknown format {', '.join(bad) or repr(args.format)}: expected csv,json")
    if not args.user.strip():
        raise EmwError("--as: who exports (a user name) is recorded in the export log")
    settings = load_settings(**({"data_dir": Path(args.data_dir)} if args.data_dir else {}))
    out = Path(args.output) if args.output else settings.data_dir / "exports"
    client = open_reader(settings)
    if client is None:  # the running platform owns the warehouse: ask it
        for fmt in fmts:
            params = {"jurisdiction": level, "format": fmt, "user": args.user.strip()}
            params |= {"since": args.since, "until": args.until} if args.since else {}
            params |= {"week": args.week} if args.week else {}
            print(fetch_via_api(settings, f"/api/v1/exports/{args.kind}", params, out))
        return 0
    written = export(
        client,
        args.kind,
        since,
        until,
        level,
        ZONE_SCOPE,
        load_registry(settings.registry_dir),
        fmts,
        out,
        args.user.strip(),
        now,
    )
    for path, rows in written:
        print(f"{path}\t{rows} rows")
    return 0


def register(groups: dict[str, Any]) -> None:
    root = groups["root"]
    ex = root.add_parser(
        "export",
        help="partner exports: traffic-police referrals, credit-platform list",
        description="Partner exports from confirmed cases, recorded in the export log.",
    )
    ex_sub = ex.add_subparsers(dest="export_command", metavar="WHAT")
    ex.set_defaults(func=lambda a, ex=ex: (ex.print_help(), 2)[1])
    for kind, help_ in (
        ("referrals", "traffic-police referral file for confirmed vehicle cases (CSV, JSON)"),
        ("credit", "serious-violation list for the credit platform: stations and fleet operators"),
    ):
        p = ex_sub.add_parser(kind, help=help_, description=help_)
        p.add_argument("--week", help="ISO week, e.g. 2026-W49 (default: last full week)")
        p.add_argument("--since", help="first day (YYYY-MM-DD, Beijing time), with --until")
        p.add_argument("--until", help="last day, included (YYYY-MM-DD, Beijing time)")
        p.add_argument("--jurisdiction", default=ZONE, help=f"one of {', '.join(LEVELS)}")
        p.add_argument("--format", default="csv,json", help="comma-separated: csv,json")
        p.add_argument("-o", "--output", help="output folder (default $EMW_DATA_DIR/exports)")
        p.add_argument("--as", dest="user", default="cli", help="who exports (recorded)")
        p.add_argument("--data-dir", help="data directory (default var/, or EMW_DATA_DIR)")
        p.set_defaults(func=cmd_export, kind=kind)
    rep = groups["report"]
    p = rep.add_parser(
        "weekly",
        help="the weekly exceedance report (HTML, PDF, XLSX)",
        description="The weekly exceedance report of a jurisdiction or the zone, for an ISO week "
        "in Beijing time (default: the last full week, the zone, all three formats).",
    )
    p.add_argument("--week", help="ISO week, e.g. 2026-W49 (default: last full week, Beijing time)")
    p.add_argument(
        "--jurisdiction", default=ZONE, help=f"one of {', '.join(LEVELS)} (default zone)"
    )
    p.add_argument("--format", default="html,pdf,xlsx", help="comma-separated: html,pdf,xlsx")
    p.add_argument("-o", "--output", help="output folder (default $EMW_DATA_DIR/reports)")
    p.add_argument("--data-dir", help="data directory (default var/, or EMW_DATA_DIR)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_weekly)
    s = rep.add_parser(
        "schedule",
        help="produce the weekly report every Monday (production service)",
        description="Run forever: every Monday (Beijing time) write the previous week's reports "
        "(zone and each jurisdiction) into $EMW_DATA_DIR/reports; catches up missed weeks.",
    )
    s.set_defaults(func=cmd_schedule)
