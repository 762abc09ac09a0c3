"""``emwatch deadletter list|replay``: see and replay the records that could not be stored.

Works with or without a running platform: while ``emwatch run`` holds the chDB directory, the
command goes through the runner's HTTP API on the dashboard port (``/api/deadletter``,
``/api/deadletter/replay``); when nothing answers there, it opens the warehouse itself (chDB
directory or ClickHouse server from settings). Exit codes: 0 done (``replay``: everything asked
for was stored), 1 some dead letters still fail, 2 bad input or no way to reach the warehouse.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from core.errors import EmwError


class DeadLetterCliError(EmwError):
    """Printed by ``emwatch`` as one line on stderr, exit 2."""


def listing(
    client: Any, status: str = "open", limit: int = 100, scope: Any = None
) -> list[dict[str, Any]]:
    """Dead letters as JSON-ready dicts (newest first), for ``scope`` (the HTTP caller's; at the
    command line, the data directory's owner)."""
    from core.access import system_scope
    from streams.warehouse.queries import deadletter as q

    df = q.recent(client, scope or system_scope("cli"), None if status == "all" else status, limit)
    if df.empty or not len(df.columns):
        return []
    out = []
    for rec in df.to_dict("records"):
        out.append({k: (str(v) if k in ("ts", "updated_at") else v) for k, v in rec.items()})
    return out


def _http(settings: Any, path: str, body: dict[str, Any] | None = None) -> Any | None:
    """The runner's answer, or None when no platform listens on the dashboard port."""
    url = f"http://{settings.host}:{settings.dashboard_port}{path}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    req.add_header("Content-Type", "application/json")
    from streams.auth.http import read_cli_token

    token = read_cli_token(settings.data_dir)  # the runner's local command-line token
    if token:
        req.add_header("Authorization", f"Bearer cli:{token}")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:  # loopback only
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise DeadLetterCliError(f"deadletter: the running platform refused: {detail}") from None
    except OSError:
        return None


def _fail(msg: str) -> int:
    print(f"emwatch deadletter: {msg}", file=sys.stderr)
    return 2


def _direct_client(settings: Any) -> Any:
    from streams.warehouse.client import WarehouseLocked, connect
    from streams.warehouse.migrator import migrate

    try:
        client = connect(settings.resolved_dsn, settings.warehouse_database)
    except WarehouseLocked as exc:
        raise DeadLetterCliError(
            f"deadletter: {exc} (and its /api/deadletter did not answer)"
        ) from None
    migrate(client, cluster=settings.warehouse_cluster or None)
    return client


def cmd_list(args: argparse.Namespace) -> int:
    from streams.cli import _settings

    s = _settings(args)
    if args.limit < 1:
        return _fail(f"--limit {args.limit}: expected 1 or more")
    got = _http(s, f"/api/deadletter?status={args.status}&limit={args.limit}")
    rows = (
        got["dead_letters"]
        if got is not None
        else listing(_direct_client(s), args.status, args.limit)
    )
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return 0
    if not rows:
        print(f"no {args.status if args.status != 'all' else ''} dead letters".replace("  ", " "))
        return 0
    for r in rows:
        print(
            f"{r['dl_id']}  {r['ts'][:19]} UTC  {r['status']:<8} {r['stage']:<9} {r['kind']:<20} "
            f"device={r['device_id'] or '-'}  {r['reason'][:120]}"
        )
    print(f"{len(rows)} dead letter(s)")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from streams.cli import _settings
    from streams.warehouse import deadletter

    if not args.all and not args.id:
        return _fail("say which: --id DL_ID (repeatable) or --all")
    if args.all and args.id:
        return _fail("--id and --all exclude each other")
    s = _settings(args)
    body: dict[str, Any] = {"all": True} if args.all else {"ids": list(args.id)}
    got = _http(s, "/api/deadletter/replay", body)
    if got is None:
        got = deadletter.replay(_direct_client(s), None if args.all else args.id).as_dict()
    for dl_id in got["replayed"]:
        print(f"replayed {dl_id}")
    for dl_id, reason in got["failed"].items():
        print(f"still failing {dl_id}: {reason[:200]}")
    print(f"{len(got['replayed'])} replayed, {len(got['failed'])} still failing")
    return 1 if got["failed"] else 0


def register(groups: dict[str, Any]) -> None:
    root = groups["root"]
    help_ = "list or replay dead letters (records that could not be stored)"
    gp = root.add_parser("deadletter", help=help_, description=help_)
    sub = gp.add_subparsers(dest="deadletter_command", metavar="WHAT")
    gp.set_defaults(func=lambda a: (gp.print_help(), 2)[1])
    p = sub.add_parser("list", help="list dead letters, newest first")
    p.add_argument("--status", choices=("open", "replayed", "all"), default="open")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--data-dir", help="data directory (when no platform is running)")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("replay", help="re-insert dead letters after a fix")
    p.add_argument("--id", action="append", help="a dead letter's dl_id (repeatable)")
    p.add_argument("--all", action="store_true", help="every open dead letter")
    p.add_argument("--data-dir", help="data directory (when no platform is running)")
    p.set_defaults(func=cmd_replay)
