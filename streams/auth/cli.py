"""``emwatch devices …`` and ``emwatch users …``: device credentials and local accounts.

Secrets and passwords are read from a prompt (a terminal) or from standard input (one line), never
from the command line, and never printed. Both stores are files under ``$EMW_DATA_DIR/auth`` (not
the warehouse), so these commands work the same with or without a running platform: a running
gateway picks a rotated device secret up within a second, a running dashboard a changed account
at the next login.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any


def read_secret(prompt: str, *, confirm: bool = False) -> str:
    """One secret from the terminal (hidden, asked twice with ``confirm``) or one stdin line."""
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if confirm and getpass.getpass("again: ") != first:
            raise ValueError("the two entries differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _fail(msg: str) -> int:
    print(f"emwatch: {msg}", file=sys.stderr)
    return 2


def _device_credentials(args: argparse.Namespace) -> Any:
    from core.credentials import DeviceCredentials
    from core.registry import load_registry
    from streams.settings import load_settings

    s = load_settings(**({"data_dir": args.data_dir} if getattr(args, "data_dir", None) else {}))
    return DeviceCredentials.for_registry(load_registry(s.registry_dir), s.data_dir)


def cmd_devices_set_secret(args: argparse.Namespace) -> int:
    creds = _device_credentials(args)
    if args.device_id not in creds.devices:
        return _fail(f"devices set-secret: {args.device_id!r} is not a device of the registry")
    try:
        secret = read_secret(f"new secret for {args.device_id}: ", confirm=True)
        creds.set_secret(args.device_id, secret)
    except ValueError as exc:
        return _fail(f"devices set-secret: {exc}")
    print(f"{args.device_id}: secret set (stored as a digest; running gateways use it within 1 s)")
    return 0


def cmd_devices_list(args: argparse.Namespace) -> int:
    creds = _device_credentials(args)
    print(f"{'device':<26} {'kind':<6} {'credential':<10} set at (UTC)")
    for c in creds.listing():
        if args.kind and c.kind != args.kind:
            continue
        print(f"{c.device_id:<26} {c.kind:<6} {c.source:<10} {c.set_at}")
    return 0


def _user_store(args: argparse.Namespace) -> Any:
    from core.registry import load_registry
    from streams.auth.users import UserStore
    from streams.settings import load_settings

    s = load_settings(**({"data_dir": args.data_dir} if getattr(args, "data_dir", None) else {}))
    return UserStore.for_data_dir(s.data_dir, load_registry(s.registry_dir))


def cmd_users_add(args: argparse.Namespace) -> int:
    from streams.auth.users import AccountError

    store = _user_store(args)
    try:
        password = read_secret(f"password for {args.name}: ", confirm=True)
        user = store.add(
            args.name,
            args.role,
            password,
            tuple(args.jurisdiction or ()),
            tuple(args.station or ()),
        )
    except (AccountError, ValueError) as exc:
        return _fail(f"users add: {exc}")
    where = ",".join(user.jurisdictions or user.stations) or "whole zone"
    print(f"{user.name}: added as {user.role} ({where})")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    users = _user_store(args).users()
    print(f"{'name':<20} {'role':<17} {'jurisdictions':<24} {'stations':<28} state")
    for u in users:
        print(
            f"{u.name:<20} {u.role:<17} {','.join(u.jurisdictions) or '-':<24} "
            f"{','.join(u.stations) or '-':<28} {'disabled' if u.disabled else 'active'}"
        )
    return 0


def cmd_users_disable(args: argparse.Namespace) -> int:
    from streams.auth.users import AccountError

    try:
        _user_store(args).set_disabled(args.name, not args.enable)
    except AccountError as exc:
        return _fail(f"users disable: {exc}")
    print(f"{args.name}: {'enabled' if args.enable else 'disabled'} (open sessions end at once)")
    return 0


def register(groups: dict[str, Any]) -> None:
    root = groups["root"]
    dev = root.add_parser("devices", help="device credentials (HJ 212 PW, RSD tokens, OBD ICCID)")
    dev.set_defaults(func=lambda a: (dev.print_help(), 2)[1])
    sub = dev.add_subparsers(dest="devices_command", metavar="WHAT")
    p = sub.add_parser(
        "set-secret",
        help="set or rotate a device's secret (read from a prompt or stdin, stored hashed)",
    )
    p.add_argument("device_id", help="registry id: station/depot/sensor id, RSD site id, or VIN")
    p.add_argument("--data-dir", help="data directory (default EMW_DATA_DIR or var/)")
    p.set_defaults(func=cmd_devices_set_secret)
    p = sub.add_parser("list", help="list devices and where their credential comes from")
    p.add_argument("--kind", choices=("hj212", "rsd", "obd"))
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_devices_list)

    from core.access import ROLES

    usr = root.add_parser("users", help="local accounts of the embedded mode")
    usr.set_defaults(func=lambda a: (usr.print_help(), 2)[1])
    sub = usr.add_subparsers(dest="users_command", metavar="WHAT")
    p = sub.add_parser(
        "add", help="add an account (password from a prompt or stdin, never the command line)"
    )
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--jurisdiction", action="append", help="officer: qingpu, wujiang or jiashan")
    p.add_argument("--station", action="append", help="station operator: a station id (repeat)")
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_users_add)
    p = sub.add_parser("list", help="list accounts (never passwords)")
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_users_list)
    p = sub.add_parser("disable", help="disable an account (its sessions end at once)")
    p.add_argument("name")
    p.add_argument("--enable", action="store_true", help="enable it again instead")
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_users_disable)
