"""Device health: per device (RSD site, smoke camera, OBD terminal, station / depot / sensor data
logger) the last time it was heard, how many days of the window had data, and its calibration
certificate's state on the reading date (rule DQ-CAL).

Completeness here is *days with data / days in the window* (Beijing days): a device that sends
nothing on a day is broken or switched off that day, whatever its normal rate. Calibration comes
from the registry (``calibration: {valid_until, certificate}``); devices the registry gives no
certificate field (OBD terminals, data loggers) are ``not_applicable``, a site or camera without
one is ``missing``. ``due_soon`` = valid for fewer than ``DUE_SOON_DAYS`` more days.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
from clickhouse_connect.driver.client import Client

from core.registry import Calibration, Registry, default_registry
from core.scope import Scope
from streams.warehouse.scope import require, scope_where

DUE_SOON_DAYS = 30
_DAY = "toDate(ts, 'Asia/Shanghai')"
_TS = "ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)}"
COLUMNS = [
    "kind",
    "device_id",
    "name",
    "jurisdiction",
    "last_seen",
    "days_with_data",
    "completeness",
    "calibration_status",
    "valid_until",
    "certificate",
]


def seen(client: Client, scope: Scope, since: datetime, until: datetime) -> pd.DataFrame:
    """Per device kind and id: last time heard and distinct Beijing days with data.

    Read without ``FINAL``: a replayed row repeats its event's time and jurisdiction, so the
    maximum time and the set of days are the same with or without it, and the window is read
    in key order instead of merged first (a month of OBD samples)."""
    sw, sp = scope_where(scope, domain="platform", detail=False, what="device health")
    return client.query_df(
        f"SELECT 'rsd_site' AS kind, toString(site_id) AS device_id, max(ts) AS last_seen, uniqExact({_DAY}) AS days "
        f"FROM rsd_pass WHERE {_TS} AND {sw} GROUP BY site_id "
        f"UNION ALL SELECT 'camera', toString(camera_id), max(ts), uniqExact({_DAY}) "
        f"FROM smoke_capture WHERE {_TS} AND {sw} GROUP BY camera_id "
        f"UNION ALL SELECT 'obd_terminal', vin, max(ts), uniqExact({_DAY}) "
        f"FROM obd_sample WHERE {_TS} AND {sw} GROUP BY vin "
        f"UNION ALL SELECT 'data_logger', unit_id, max(ts), uniqExact({_DAY}) "
        f"FROM vapor_packet WHERE {_TS} AND {sw} GROUP BY unit_id",
        parameters={"since": since, "until": until, **sp},
    )


def _calibration_status(cal: Calibration | None, on: date, applicable: bool = True) -> str:
    """DQ-CAL on the reading date: valid / due_soon / expired / missing / not_applicable."""
    if not applicable:
        return "not_applicable"
    if cal is None:
        return "missing"
    if cal.valid_until < on:
        return "expired"
    if cal.valid_until < on + timedelta(days=DUE_SOON_DAYS):
        return "due_soon"
    return "valid"


def health(
    client: Client,
    scope: Scope,
    since: datetime,
    until: datetime,
    today: date,
    registry: Registry | None = None,
    kinds: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Every registered device with last seen, days with data, completeness (0..1) and
    calibration state on ``today``; devices never heard in the window have completeness 0."""
    scope = require(scope, "device health")
    reg = registry if registry is not None else default_registry()
    rows: list[dict[str, object]] = []

    def add(
        kind: str, dev_id: str, name: str, jur: str, cal: Calibration | None, applies: bool
    ) -> None:
        rows.append(
            {
                "kind": kind,
                "device_id": dev_id,
                "name": name,
                "jurisdiction": jur,
                "calibration_status": _calibration_status(cal, today, applies),
                "valid_until": cal.valid_until if cal else None,
                "certificate": cal.certificate if cal else "",
            }
        )

    for s in reg.rsd_sites:
        add("rsd_site", s.id, s.name, s.jurisdiction, s.calibration, True)
    for c in reg.cameras:
        add("camera", c.id, c.site, c.jurisdiction, c.calibration, True)
    for v in reg.obd_vehicles:
        add("obd_terminal", v.vin, v.plate, v.jurisdiction, None, False)
    for st in reg.stations:
        add("data_logger", st.id, st.name, st.jurisdiction, None, False)
    for d in reg.depots:
        add("data_logger", d.id, d.name, d.jurisdiction, None, False)
    for sn in reg.sensors:
        add("data_logger", sn.id, f"{sn.station} {sn.kind}", sn.jurisdiction, None, False)
    devices = pd.DataFrame(
        rows,
        columns=[c for c in COLUMNS if c not in ("last_seen", "days_with_data", "completeness")],
    )
    if kinds:
        devices = devices[devices["kind"].isin(kinds)]
    devices = devices[devices["jurisdiction"].isin(scope.all_jurisdictions)]
    if scope.stations is not None:
        devices = devices[
            (devices["kind"] == "data_logger") & devices["device_id"].isin(scope.stations)
        ]
    if devices.empty:
        return pd.DataFrame(columns=COLUMNS)
    heard = seen(client, scope, since, until)
    if heard.empty or len(heard.columns) == 0:
        heard = pd.DataFrame(columns=["kind", "device_id", "last_seen", "days"])
    out = devices.merge(heard, on=["kind", "device_id"], how="left")
    window_days = max(1, (until - since).days)
    out["days_with_data"] = out["days"].fillna(0).astype(int)
    out["completeness"] = (out["days_with_data"] / window_days).clip(upper=1.0)
    return out[COLUMNS].sort_values(["kind", "jurisdiction", "device_id"]).reset_index(drop=True)
