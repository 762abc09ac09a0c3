"""A tiny in-process metrics registry: counters, gauges and latency summaries.

Adapters count what users must see (connections, frames/s, bad frames by reason, publish latency);
the runner snapshots ``Metrics.snapshot()`` into the warehouse so every surface can read it.
Thread-safe enough for CPython counters (single increments under the GIL).
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Mapping


def _label_key(labels: Mapping[str, str] | None) -> str:
    if not labels:
        return ""
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


class Metrics:
    def __init__(self, window: int = 2048) -> None:
        self._counters: dict[tuple[str, str, str], float] = defaultdict(float)
        self._gauges: dict[tuple[str, str, str], float] = {}
        self._samples: dict[tuple[str, str, str], deque[float]] = {}
        self._window = window
        self._lock = threading.Lock()

    def inc(
        self, component: str, name: str, value: float = 1.0, labels: Mapping[str, str] | None = None
    ) -> None:
        self._counters[(component, name, _label_key(labels))] += value

    def gauge(
        self, component: str, name: str, value: float, labels: Mapping[str, str] | None = None
    ) -> None:
        self._gauges[(component, name, _label_key(labels))] = value

    def observe(
        self, component: str, name: str, value: float, labels: Mapping[str, str] | None = None
    ) -> None:
        key = (component, name, _label_key(labels))
        dq = self._samples.get(key)
        if dq is None:
            with self._lock:
                dq = self._samples.setdefault(key, deque(maxlen=self._window))
        dq.append(value)

    def counter(self, component: str, name: str, labels: Mapping[str, str] | None = None) -> float:
        return self._counters.get((component, name, _label_key(labels)), 0.0)

    def counters(self, component: str, name: str) -> dict[str, float]:
        """All label sets of one counter, e.g. bad frames by reason."""
        return {
            lk: v for (c, n, lk), v in list(self._counters.items()) if c == component and n == name
        }

    def snapshot(self) -> list[tuple[str, str, str, float]]:
        """(component, name, labels, value) rows; summaries give ``name.p50``/``.p99``/``.count``."""
        rows = [(c, n, lk, v) for (c, n, lk), v in list(self._counters.items())]
        rows += [(c, n, lk, v) for (c, n, lk), v in list(self._gauges.items())]
        for (c, n, lk), dq in list(self._samples.items()):
            vals = sorted(dq)
            if not vals:
                continue
            rows.append((c, f"{n}.p50", lk, vals[len(vals) // 2]))
            rows.append((c, f"{n}.p99", lk, vals[min(len(vals) - 1, int(len(vals) * 0.99))]))
        return rows
