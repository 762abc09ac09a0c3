"""Every Monday, the previous week's reports: the zone and each jurisdiction, all formats, into
``reports_dir`` (past reports are kept), and the week's partner exports (referrals, credit list)
into the ``exports`` folder beside it, each recorded in ``export_log``. Run by the embedded runner (a thread) and, in production,
by the ``report-scheduler`` compose service (``emwatch report schedule``).

The decision is pure (``due``): from Monday ``RUN_AT_HOUR``:00 Beijing time (late OBD back-fill has
had the night to arrive), the last full week is due at every level whose files are not all there.
A platform that was down on Monday catches up when it starts; older missing weeks are not
back-filled (produce them with ``emwatch report weekly --week``).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from core.isoweek import IsoWeek
from core.jurisdictions import JURISDICTIONS, ZONE
from core.registry import Registry
from core.timeutil import BEIJING, utcnow
from streams.report.generate import FORMATS, generate, list_reports

log = logging.getLogger("emwatch.report")
RUN_AT_HOUR = 6
LEVELS = (ZONE, *sorted(JURISDICTIONS))


def due(now: datetime, existing: set[tuple[str, str]]) -> list[tuple[IsoWeek, str]]:
    """(week, level) pairs to produce at ``now`` given the complete reports already on disk."""
    local = now.astimezone(BEIJING)
    monday = local.date() - timedelta(days=local.weekday())
    ready = local >= datetime(monday.year, monday.month, monday.day, RUN_AT_HOUR, tzinfo=BEIJING)
    week = (
        IsoWeek.of(monday - timedelta(days=7)) if ready else IsoWeek.of(monday - timedelta(days=14))
    )
    return [(week, lv) for lv in LEVELS if (str(week), lv) not in existing]


def complete_reports(reports_dir: Path) -> set[tuple[str, str]]:
    return {
        (e["week"], e["level"])
        for e in list_reports(reports_dir)
        if set(e["files"]) >= set(FORMATS)
    }


def run_once(client: Any, registry: Registry, reports_dir: Path, now: datetime) -> list[Path]:
    from streams.warehouse.queries.report import ZONE_SCOPE

    written: list[Path] = []
    for week, level in due(now, complete_reports(reports_dir)):
        _, paths = generate(client, week, level, ZONE_SCOPE, registry, FORMATS, reports_dir, now)
        log.info("weekly report %s %s written: %s", week, level, ", ".join(p.name for p in paths))
        written += paths
        if level == ZONE:
            written += _weekly_exports(client, registry, reports_dir.parent / "exports", week, now)
    return written


def _weekly_exports(
    client: Any, registry: Registry, out_dir: Path, week: IsoWeek, now: datetime
) -> list[Path]:
    """The partner exports of the week (zone, CSV and JSON), recorded as made by the scheduler;
    skipped, with a log line, while the warehouse has no case tables."""
    from streams.report.exports import EXPORT_FORMATS, EXPORT_KINDS, CasesUnavailable, export
    from streams.warehouse.queries.report import ZONE_SCOPE

    paths: list[Path] = []
    for kind in EXPORT_KINDS:
        try:
            got = export(
                client,
                kind,
                week.start,
                week.end,
                ZONE,
                ZONE_SCOPE,
                registry,
                EXPORT_FORMATS,
                out_dir,
                "scheduler",
                now,
            )
        except CasesUnavailable as exc:
            log.info("weekly %s export of %s skipped: %s", kind, week, exc)
            continue
        paths += [p for p, _ in got]
    return paths


class ReportScheduler:
    """A daemon thread calling ``run_once`` every ``interval_s`` seconds until stopped."""

    def __init__(
        self,
        client: Any,
        registry: Registry,
        reports_dir: Path,
        interval_s: float = 600,
        initial_delay_s: float = 0,
    ) -> None:
        self.client, self.registry, self.reports_dir = client, registry, reports_dir
        self.interval_s = interval_s
        self.initial_delay_s = initial_delay_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="emw-report-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop checking; a report being written is abandoned (files appear only when complete)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        if self._stop.wait(self.initial_delay_s):
            return
        while not self._stop.is_set():
            try:
                run_once(self.client, self.registry, self.reports_dir, utcnow())
            except Exception:  # a failed run is retried at the next tick, never kills the runner
                log.exception("weekly report run failed; retrying in %.0f s", self.interval_s)
            self._stop.wait(self.interval_s)


def run_forever(
    client: Any, registry: Registry, reports_dir: Path, interval_s: float = 600
) -> None:
    sched = ReportScheduler(client, registry, reports_dir, interval_s)
    sched.start()
    try:
        while sched._thread.is_alive():
            sched._thread.join(3600)
    except KeyboardInterrupt:
        sched.stop()
