"""The embedded start-up restore of the case processor (``Pipeline.restore_states``), per phase,
printed beside its anchor in the same process (never asserted): the path as it was before the
per-subject replay (``tests/unit/enforcement/_restore_before.py``: open cases through ``FINAL``,
every stored row through a records dict and ``serde.from_dict``, a JSON round trip of the
subject's state per replayed item), on the same warehouse, and the resulting states compared.

Run on a *copy* of a seeded directory (a chDB directory is opened by one process at a time; the
restore only reads, but the copy keeps the seeded original safe from a crash):
``cp -a /tmp/emw-bench-seeded/scale-1-days-30 /tmp/rs-copy && .venv/bin/python
bench/bench_restore.py --data-dir /tmp/rs-copy`` (``--no-before`` skips the anchor). Wall and CPU
time (``time.process_time``: the machine is shared) per phase.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _before() -> ModuleType:
    path = REPO / "tests" / "unit" / "enforcement" / "_restore_before.py"
    spec = importlib.util.spec_from_file_location("restore_before", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Clock:
    def __init__(self, label: str) -> None:
        self.label = label
        self.rows: list[tuple[str, float, float]] = []

    def __call__(self, phase: str, fn: Any) -> Any:
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        self.rows.append((phase, time.perf_counter() - w, time.process_time() - c))
        return out

    def show(self) -> None:
        print(f"\n{self.label}")
        for phase, w, c in [
            *self.rows,
            ("total", *map(sum, zip(*[r[1:] for r in self.rows], strict=True))),
        ]:
            print(f"  {phase:38s} wall {w:7.2f} s   cpu {c:7.2f} s")


def run_new(client: Any, ctx: Any) -> tuple[dict[str, Any], Clock]:
    from core.access import system_scope
    from enforcement.processors import restore, restore_memory
    from streams.pipeline import memory_items
    from streams.warehouse.queries.enforcement import memory_replay, restore_rows

    k, s = Clock("now (streams.pipeline + enforcement.processors)"), system_scope("bench")
    rows, counts = k("restore_rows (query)", lambda: restore_rows(client, s))
    states = k("restore (case states)", lambda: restore([json.loads(r) for r in rows], counts))
    got = k("memory_replay (queries)", lambda: memory_replay(client, s))
    items = k("memory_items (rows -> items)", lambda: memory_items(got, ctx))
    n = k("restore_memory (replay)", lambda: restore_memory(states, items, ctx))
    print(f"# now: {len(rows):,} open cases, {len(counts):,} subjects with cases, {n:,} items")
    return states, k


def run_before(client: Any, ctx: Any, before: ModuleType) -> tuple[dict[str, Any], Clock]:
    from enforcement.processors import restore

    k = Clock("anchor: before (tests/unit/enforcement/_restore_before.py)")
    rows, counts = k("restore_rows (FINAL query)", lambda: before.restore_rows(client))
    states = k("restore (case states)", lambda: restore([json.loads(r) for r in rows], counts))
    got = k("memory_replay (queries, every column)", lambda: before.memory_replay(client))
    items = k("records + _plain + from_dict", lambda: before.items_of(got))
    k("restore_memory (replay per item)", lambda: before.restore_memory(states, items, ctx))
    return states, k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True, help="a COPY of a seeded directory")
    ap.add_argument("--no-before", action="store_true", help="skip the anchor (the old path)")
    args = ap.parse_args()

    from core.processing import Context
    from core.registry import default_registry, load_registry
    from core.ruleset import default_ruleset
    from streams.pipeline import Pipeline
    from streams.warehouse.client import connect

    d: Path = args.data_dir
    client = connect(f"chdb://{d / 'warehouse'}", "emw", create=False)
    registry = load_registry(d / "registry") if (d / "registry").is_dir() else default_registry()
    ctx = Context(default_ruleset(), registry)
    print(f"# {d}: {int(client.command('SELECT count() FROM rsd_pass')):,} RSD passes")  # warm-up

    new, k_new = run_new(client, ctx)
    k_new.show()
    # the whole of Pipeline.restore_states (what `emwatch run` waits for), on a bus-less pipeline
    p = Pipeline(client, ctx.ruleset, registry, d, wal_enabled=False)
    p.bus = SimpleNamespace(states={"enforcement.cases": {}, "smoke.rules": {}})  # type: ignore[assignment]
    k_all = Clock("Pipeline.restore_states (end to end, with the smoke review queue)")
    k_all("restore_states", p.restore_states)
    k_all.show()
    same_as_pipeline = p.bus.states["enforcement.cases"] == new
    print(f"# restore_states' state equals the phases' state: {same_as_pipeline}")
    if not args.no_before:
        old, k_old = run_before(client, ctx, _before())
        k_old.show()
        print(f"\n# states equal (now vs before): {old == new} ({len(new):,} subject keys)")
        tw = sum(r[1] for r in k_old.rows) / max(sum(r[1] for r in k_new.rows), 1e-9)
        tc = sum(r[2] for r in k_old.rows) / max(sum(r[2] for r in k_new.rows), 1e-9)
        print(f"# before / now: wall {tw:.1f}x, cpu {tc:.1f}x")


if __name__ == "__main__":
    main()
