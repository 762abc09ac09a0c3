"""``emwatch``: the one command line of the platform.

Core commands live here (run, migrate, worker, gateway, dashboards, status, check, rules); source
packages add their own pure commands (decode, simulate, rsd, smoke, report …) through
``<package>.cli.register(groups)``, the ``cli`` part of their plugin (``streams.catalog.PLUGINS``).
Every command returns an exit code:
0 success, 2 bad input or configuration (one line on stderr), 1 unexpected failure.

Start-up is part of the interface (field engineers run ``emwatch decode`` in loops): this module and
every command module import only the standard library and light packages at import time; heavy
ones (pandas, numpy, pyarrow, the warehouse, Kafka, Streamlit) are imported inside the command that
needs them (``tests/unit/test_cli_start.py`` checks it). A plugin's command module that cannot be
imported is an error (``core.plugin.PluginError``), never skipped; a group (``decode``, ``simulate``, ``report``) is shown only
once a module registers a command in it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any

from core.errors import ConfigError, EmwError
from streams import catalog

GATEWAYS = {  # emwatch gateway NAME -> the plugin whose embedded service it runs
    "obd": "obd_gateway",
    "hj212": "fuel_vapor",
    "rsd": "remote_sensing",
    "smoke": "smoke_capture",
}


def _settings(args: argparse.Namespace) -> Any:
    from streams.settings import load_settings

    overrides = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    if getattr(args, "no_simulate", False):
        overrides["simulate"] = False
    if getattr(args, "port", None):
        overrides["dashboard_port"] = args.port
    return load_settings(**overrides)


def _logging(level: str) -> None:
    import logging

    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # fontTools: the weekly PDF's font subsetting logs every table it prunes
    for noisy in ("kafka", "faust", "mode", "aiokafka", "urllib3", "chdb", "fontTools"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cmd_run(args: argparse.Namespace) -> int:
    from streams.runner import run_embedded

    s = _settings(args)
    _logging(s.log_level)
    return run_embedded(s)


def cmd_migrate(args: argparse.Namespace) -> int:
    from streams.warehouse.client import connect
    from streams.warehouse.migrator import migrate

    s = _settings(args)
    client = connect(s.resolved_dsn, s.warehouse_database)
    applied = migrate(client, cluster=s.warehouse_cluster or None)
    print(
        f"{len(applied)} migration(s) applied"
        + (": " + ", ".join(applied) if applied else " (up to date)")
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from core.registry import load_registry
    from core.ruleset import load_ruleset

    s = _settings(args)
    rs = load_ruleset(s.ruleset_dir)
    reg = load_registry(s.registry_dir)
    kinds = catalog.event_types()
    print(f"settings ok: bus={s.bus} warehouse={s.masked_dsn} data_dir={s.data_dir}")
    print(
        f"rule set {rs.version}: {len(rs)} rules ({sum(not rs.rule(i).confirmed for i in rs.ids())} provisional)"
    )
    print(
        f"registry: {len(reg.rsd_sites)} RSD sites, {len(reg.cameras)} cameras, {len(reg.stations)} stations, "
        f"{len(reg.depots)} depots, {len(reg.sensors)} sensors, {len(reg.obd_vehicles)} OBD vehicles"
    )
    print(f"event types: {', '.join(sorted(kinds))}; processors: {len(catalog.processors())}")
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from core.ruleset import load_ruleset

    rs = load_ruleset(_settings(args).ruleset_dir)
    for rid in rs.ids():
        r = rs.rule(rid)
        if args.domain and r.spec.domain != args.domain:
            continue
        badge = "" if r.confirmed else "  [provisional]"
        print(f"{rid:<16} {r.severity:<8} {r.spec.domain:<15} {r.spec.title}{badge}")
    print(f"rule set version {rs.version}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    import json

    from streams.runner import status_json

    s = _settings(args)
    st = status_json(s)
    if st is None:
        print(
            f"emwatch status: no embedded platform answers at {s.host}:{s.dashboard_port} "
            "(start it with `emwatch run`, or set EMW_HOST / EMW_DASHBOARD_PORT to where it runs)",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(st, indent=2, ensure_ascii=False, default=str))
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    """Create the Kafka topics of every event type with their partition counts (idempotent)."""
    from streams.topics import ensure_topics, topic_specs

    s = _settings(args)
    result = ensure_topics(
        s.kafka_bootstrap,
        topic_specs(prefix=s.kafka_topic_prefix),
        replication_factor=s.kafka_replication_factor,
    )
    for topic, state in sorted(result.items()):
        print(f"{topic}: {state}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from streams.faust_app import run_worker

    s = _settings(args)
    _logging(s.log_level)
    return run_worker(s) or 0


def cmd_dashboards(args: argparse.Namespace) -> int:
    """Production: the Streamlit app alone, reading a ClickHouse server from settings."""
    import streamlit as st

    from streams.runner import APP_PATH

    s = _settings(args)
    if s.resolved_dsn.startswith("chdb:"):
        print(
            "emwatch dashboards: needs a ClickHouse server (EMW_WAREHOUSE_DSN=http://…); "
            "for the embedded warehouse use `emwatch run`",
            file=sys.stderr,
        )
        return 2
    config: dict[str, Any] = {
        "server.port": s.dashboard_port,
        "server.address": s.host,
        "server.headless": True,
        "server.fileWatcherType": "none",
        "browser.gatherUsageStats": False,
        "client.toolbarMode": "viewer",
    }
    if (
        s.auth == "oidc"
    ):  # st.login's client from EMW_OIDC_* (the secret stays out of files we ship)
        from streams.auth.oidc import secrets_from_settings

        config["secrets.files"] = [str(secrets_from_settings(s))]
    st.App(str(APP_PATH)).run(config=config)
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    """One source service (gateway/intake) publishing to the configured bus (Kafka in production)."""
    import asyncio
    import signal

    from core.credentials import DeviceCredentials
    from core.metrics import Metrics
    from core.registry import load_registry
    from core.ruleset import load_ruleset
    from core.service import ServiceContext

    s = _settings(args)
    _logging(s.log_level)
    module = catalog.plugin(GATEWAYS[args.name]).load("embedded")
    assert module is not None, f"plugin {GATEWAYS[args.name]} declares no embedded service"
    if s.bus != "kafka":
        print(
            "emwatch gateway: a stand-alone gateway publishes to Kafka (EMW_BUS=kafka); "
            "in the embedded mode `emwatch run` hosts every gateway",
            file=sys.stderr,
        )
        return 2
    from streams.bus.kafka import KafkaBus

    async def main() -> None:
        bus = KafkaBus(s)
        await bus.start()
        metrics = Metrics()
        registry = load_registry(s.registry_dir)
        ctx = ServiceContext(
            publish=bus.publish,
            registry=registry,
            ruleset=load_ruleset(s.ruleset_dir),
            metrics=metrics,
            data_dir=s.data_dir,
            host=args.host or s.host,
            ports=s.ports(),
            simulate=args.simulate,
            sim_scale=s.sim_scale,
            credentials=DeviceCredentials.for_registry(registry, s.data_dir),
        )
        svc = await module.start(ctx)
        for k, v in svc.describe().items():
            print(f"{k}: {v}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await svc.stop()
        await bus.stop()

    from core.gateway import new_event_loop  # uvloop where installed

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(main())
    return 0


def _enforcement_backend(args: argparse.Namespace) -> Any:
    """The enforcement CLI's backend: the API of a running platform, else the data directory."""
    from streams.api import cli_backend

    return cli_backend(args)


# A root command that one plugin owns alone is parsed with that plugin's command module only:
# analysts run ``emwatch rsd evaluate`` over file after file, and the other plugins' command
# modules cost about 0.06 CPU-s of imports each time (``tests/unit/rsd/test_simulator_cli.py``).
SOLE_OWNER = {"rsd": "remote_sensing"}


def build_parser(
    only: str | None = None,
) -> tuple[argparse.ArgumentParser, MutableMapping[str, Any]]:
    """The whole parser; ``only`` (a plugin name): that plugin's commands beside the core ones."""
    parser = argparse.ArgumentParser(
        prog="emwatch",
        description="YRD Emissions Watch: remote sensing, black smoke, remote OBD and vapour recovery.",
    )
    root = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func: Any, help_: str) -> argparse.ArgumentParser:
        p = root.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add("run", cmd_run, "start the whole platform on its embedded default (with demo traffic)")
    p.add_argument("--data-dir", help="data directory (default var/, or EMW_DATA_DIR)")
    p.add_argument("--port", type=int, help="dashboard port (default 8501)")
    p.add_argument("--no-simulate", action="store_true", help="do not start the device simulators")
    add("migrate", cmd_migrate, "apply pending warehouse migrations").add_argument("--data-dir")
    add("check", cmd_check, "validate settings, rule set and registry; print a summary")
    p = add("rules", cmd_rules, "list the rules of the rule set")
    p.add_argument("--domain", help="only rules of this domain")
    add("status", cmd_status, "show the running embedded platform's status (JSON)")
    add("topics", cmd_topics, "create the Kafka topics with their partition counts (production)")
    add("worker", cmd_worker, "run a Faust worker (production, EMW_BUS=kafka)")
    add("dashboards", cmd_dashboards, "serve the dashboards alone (production, ClickHouse server)")
    p = add("gateway", cmd_gateway, "run one gateway/intake publishing to Kafka (production)")
    p.add_argument("name", choices=sorted(GATEWAYS))
    p.add_argument("--host", help="listen address (default EMW_HOST, 127.0.0.1)")
    p.add_argument("--simulate", action="store_true", help="also run that source's simulator")

    groups = _Groups(root)
    groups["enforcement_backend"] = _enforcement_backend
    mods = catalog.command_modules() if only is None else [catalog.plugin(only).load("cli")]
    for mod in mods:  # a module that cannot be imported raises PluginError
        if mod is not None:
            mod.register(groups)
    return parser, groups


GROUPS = {
    "decode": "decode one device frame or packet and print it as JSON",
    "simulate": "run a device simulator against a gateway",
    "report": "produce reports",
}


class _Groups(MutableMapping[str, Any]):
    """What ``register(groups)`` receives: ``"root"`` and the command groups of :data:`GROUPS`.
    A group's parser is added on first use, so ``emwatch --help`` never lists an empty group."""

    def __init__(self, root: Any) -> None:
        self._made: dict[str, Any] = {"root": root}

    def __getitem__(self, key: str) -> Any:
        got = self._made.get(key)
        if got is None:
            if key not in GROUPS:
                raise KeyError(f"no command group {key!r} (groups: root, {', '.join(GROUPS)})")
            gp = self._made["root"].add_parser(key, help=GROUPS[key], description=GROUPS[key])
            got = self._made[key] = gp.add_subparsers(dest=f"{key}_command", metavar="WHAT")
            gp.set_defaults(func=lambda a, gp=gp: (gp.print_help(), 2)[1])
        return got

    def __setitem__(self, key: str, value: Any) -> None:
        self._made[key] = value

    def __delitem__(self, key: str) -> None:
        del self._made[key]

    def __contains__(self, key: object) -> bool:  # without adding the group
        return key == "root" or key in GROUPS

    def __iter__(self) -> Iterator[str]:
        return iter(("root", *GROUPS))

    def __len__(self) -> int:
        return 1 + len(GROUPS)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser, _ = build_parser(SOLE_OWNER.get(words[0]) if words else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ConfigError, EmwError) as exc:
        print(f"emwatch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
