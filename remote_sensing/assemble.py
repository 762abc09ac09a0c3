"""From canonical columns to ``RsdPass`` events, a batch at a time (pure).

Responsible for the checks that need context the event itself lacks (site known, token matches the
site, time not in the future relative to the caller's ``now``, site calibration valid on the pass
date) and for running the shared column-wise computation (``remote_sensing.evaluate``) once per
batch. Every record ends as either an ``RsdPass`` or a ``RecordError`` with a message that names the
field, its value and what was expected; one bad record never affects the others. The event's own
``__post_init__`` range checks (negative speed, impossible ratios …) run per record.

Input is what ``Profile.canonical_batch`` returns (columns aligned to the records' input positions);
``canonical_columns`` builds the same from single canonical records (tests, one-off callers).

A mobile unit's records carry its position (``latitude``/``longitude``) and jurisdiction, which win
over the site registry: a position outside the zone (``outside_zone``) or a jurisdiction that names
none of the three (``unknown_jurisdiction``) rejects that record only.

Known limits: calibration validity is by local (Beijing) calendar day; "in the zone" is judged on
approximate boxes around the three jurisdictions (``core.jurisdictions.BOUNDS``), not boundaries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from core.errors import ValidationError
from core.jurisdictions import JURISDICTIONS, locate, parse_jurisdiction
from core.registry import Registry, RsdSite
from core.timeutil import BEIJING
from remote_sensing.evaluate import Evaluator
from remote_sensing.events import RsdPass
from remote_sensing.profiles import FLOAT_FIELDS

FUTURE_TOLERANCE = timedelta(minutes=5)

CalibrationCheck = Callable[[RsdSite, date], bool]


def registry_calibration(site: RsdSite, day: date) -> bool:
    """Calibration from the registry certificate only: valid when ``valid_until`` ≥ day."""
    return site.calibration is not None and site.calibration.valid_until >= day


@dataclass(frozen=True, slots=True)
class RecordError:
    index: int
    record_id: str
    code: str  # malformed | unknown_site | bad_token | out_of_range | future | outside_zone | unknown_jurisdiction
    message: str


_LIMIT_FIELDS = (
    "limit_co_pct",
    "limit_hc_ppm",
    "limit_no_ppm",
    "limit_opacity_pct",
    "limit_ringelmann",
)
_COMPUTED = (
    "vsp_kw_t",
    "co_gpkg",
    "hc_gpkg",
    "no_gpkg",
    "no2_gpkg",
    "nox_gpkg",
    "nh3_gpkg",
    "co_pct",
    "hc_ppm",
    "no_ppm",
)
_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(RsdPass))


def canonical_columns(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Columns from single canonical records (``Profile.canonical`` output)."""
    n = len(records)
    cols: dict[str, Any] = {}
    keys = set().union(*(r.keys() for r in records)) if records else set()
    for k in keys:
        vals = [r.get(k) for r in records]
        if k in FLOAT_FIELDS or k == "lane":
            cols[k] = np.array([np.nan if v is None else float(v) for v in vals], dtype=np.float64)
        else:
            arr = np.empty(n, dtype=object)
            arr[:] = vals
            cols[k] = arr
    return cols


def _where(site: RsdSite, lat: float | None, lon: float | None, jur: str) -> str | tuple[str, str]:
    """The jurisdiction of one record, or (error code, message). A mobile unit's record carries its
    position and/or jurisdiction, which win over the registry: the position must lie in the zone,
    the jurisdiction must be one of the three; without one, the position decides, else the site."""
    has_lat, has_lon = lat is not None and lat == lat, lon is not None and lon == lon
    if has_lat != has_lon:
        return "malformed", (
            f"latitude={lat}, longitude={lon}: expected both (a mobile unit's position) or neither"
        )
    code = parse_jurisdiction(jur) if jur.strip() else None
    if jur.strip() and code is None:
        return "unknown_jurisdiction", (
            f"jurisdiction={jur!r}: expected one of {', '.join(JURISDICTIONS)} "
            f"({', '.join(j.name_zh for j in JURISDICTIONS.values())}) or a GB/T 2260 code"
        )
    if has_lat and has_lon:
        assert lat is not None and lon is not None
        at = locate(lat, lon)
        if at is None:
            return "outside_zone", (
                f"position latitude={lat}, longitude={lon} lies outside the demonstration zone "
                "(青浦区, 吴江区, 嘉善县); record not stored"
            )
        return code or at
    return code or site.jurisdiction


def _floats(a: Any) -> list[float | None]:
    """Python floats, NaN as None (converted in numpy: no Python loop per value)."""
    f = np.asarray(a, dtype=np.float64)
    out = f.astype(object)
    out[np.isnan(f)] = None
    return out.tolist()  # type: ignore[no-any-return]


def build_passes(
    cols: Mapping[str, Any],
    rows: Sequence[int],
    *,
    registry: Registry,
    evaluator: Evaluator,
    profile: str,
    now: datetime,
    token_sites: frozenset[str] | None = None,
    raw_ref: str = "",
    calibration: CalibrationCheck = registry_calibration,
    present: frozenset[str] | None = None,
) -> tuple[dict[int, RsdPass], dict[int, RecordError]]:
    """Events and errors by input position for the records at ``rows`` (columns aligned to rows).

    ``token_sites`` (when not None) are the sites the caller's token authenticates; a record of
    another site is refused. ``present`` names the
    canonical fields the vendor provides, so that gates on absent fields do not apply.
    """
    n = len(rows)
    events: dict[int, RsdPass] = {}
    errors: dict[int, RecordError] = {}
    if n == 0:
        return events, errors
    rid = list(cols["record_id"])
    site_ids = list(cols["site_id"])
    ts_col = list(cols["ts"])
    keep = np.zeros(n, dtype=bool)
    sites: list[RsdSite | None] = [None] * n
    jurs: list[str] = [""] * n  # per record: its own jurisdiction, where the unit stood, the site's
    nan = float("nan")
    lat_col = (
        np.asarray(cols["latitude"], dtype=np.float64).tolist() if "latitude" in cols else None
    )
    lon_col = (
        np.asarray(cols["longitude"], dtype=np.float64).tolist() if "longitude" in cols else None
    )
    jur_col = [str(x or "") for x in cols["jurisdiction"]] if "jurisdiction" in cols else None
    cal = np.empty(n, dtype=object)
    cal_cache: dict[tuple[str, date], bool] = {}
    latest = now + FUTURE_TOLERANCE
    by_id = {s.id: s for s in registry.rsd_sites}
    for j in range(n):
        site = by_id.get(site_ids[j])
        if site is None:
            errors[rows[j]] = RecordError(
                rows[j], rid[j], "unknown_site", f"site {site_ids[j]!r} is not registered"
            )
            continue
        if token_sites is not None and site.id not in token_sites:
            errors[rows[j]] = RecordError(
                rows[j], rid[j], "bad_token", f"token not valid for site {site.id}"
            )
            continue
        ts: datetime = ts_col[j]
        if ts > latest:
            errors[rows[j]] = RecordError(
                rows[j],
                rid[j],
                "future",
                f"time={ts.isoformat()}: expected at most {FUTURE_TOLERANCE} after server time "
                f"{now.isoformat()}",
            )
            continue
        lat = nan if lat_col is None else lat_col[j]
        lon = nan if lon_col is None else lon_col[j]
        jur = "" if jur_col is None else jur_col[j]
        if lat != lat and lon != lon and not jur:  # a fixed unit's record: the site's
            where: str | tuple[str, str] = site.jurisdiction
        else:
            where = _where(
                site, None if lat_col is None else lat, None if lon_col is None else lon, jur
            )
        if isinstance(where, tuple):
            errors[rows[j]] = RecordError(rows[j], rid[j], *where)
            continue
        jurs[j] = where
        day = ts.astimezone(BEIJING).date()
        k = (site.id, day)
        if k not in cal_cache:
            cal_cache[k] = calibration(site, day)
        cal[j] = cal_cache[k]
        sites[j] = site
        keep[j] = True
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        return events, errors
    m = idx.size
    fields = present if present is not None else frozenset(cols)
    sub: dict[str, Any] = {}
    for name in (
        *FLOAT_FIELDS,
        "plate",
        "plate_colour",
        "plate_type",
        "fuel",
        "device_valid",
        "precipitation",
    ):
        if name in cols and (name in fields or name in ("plate_colour", "fuel")):
            sub[name] = np.asarray(cols[name])[idx]
    sub["calibration_ok"] = cal[idx]
    kept_sites = [sites[j] for j in idx]
    grade_in = (
        np.asarray(cols["grade"], dtype=np.float64)[idx] if "grade" in cols else np.full(m, np.nan)
    )
    site_grade = np.array([s.road_grade for s in kept_sites], dtype=np.float64)  # type: ignore[union-attr]
    grade = np.where(np.isnan(grade_in), site_grade, grade_in)
    sub["grade"] = grade
    units: Any = np.array([s.grade_unit for s in kept_sites], dtype=object)  # type: ignore[union-attr]
    res = evaluator.compute(sub, m, units)

    def col(name: str, default: Any = None) -> list[Any]:
        if name in cols:
            return list(np.asarray(cols[name], dtype=object)[idx])
        return [default] * m

    def fcol(name: str) -> list[float | None]:
        if name in cols:
            return _floats(np.asarray(cols[name], dtype=np.float64)[idx])
        return [None] * m

    positions = [rows[j] for j in idx.tolist()]
    rids = [str(x) for x in col("record_id", "")]
    site_list = [s.id for s in kept_sites]  # type: ignore[union-attr]
    limits_json: list[str] = [""] * m
    lim_cols = [(f, fcol(f)) for f in _LIMIT_FIELDS if f in cols]
    if lim_cols:
        for j in range(m):
            parts = [f'"{f}": {vals[j]!r}' for f, vals in lim_cols if vals[j] is not None]
            limits_json[j] = "{" + ", ".join(parts) + "}" if parts else ""
    lanes = fcol("lane")
    split: dict[str, tuple[str, ...]] = {}  # few distinct texts per batch: split each once

    def codes(text: str) -> tuple[str, ...]:
        got = split.get(text)
        if got is None:
            got = split[text] = tuple(x for x in text.split(";") if x)
        return got

    reasons = [codes(r) for r in res["invalid_reason"]]
    qflags = [
        codes(q) + tuple(f) if f else codes(q)
        for q, f in zip(res["quality_flags"], col("flags", ()), strict=True)
    ]
    values: dict[str, list[Any]] = {
        "event_id": [RsdPass.make_id(s, r) for s, r in zip(site_list, rids, strict=True)],
        "ts": col("ts"),
        "site_id": site_list,
        "jurisdiction": [jurs[j] for j in idx.tolist()],
        "record_id": rids,
        "unit_id": [x or "" for x in col("unit_id", "")],
        "lane": [None if x is None else int(x) for x in lanes],
        "plate": [x or "" for x in col("plate", "")],
        "plate_colour": [x or "unknown" for x in col("plate_colour", "unknown")],
        "plate_type": [x or "" for x in col("plate_type", "")],
        "fuel": [x or "unknown" for x in col("fuel", "unknown")],
        "emission_stage": [x or "" for x in col("emission_stage", "")],
        "grade": _floats(grade),
        "grade_unit": list(units),
        "precipitation": [None if x is None else bool(x) for x in col("precipitation")],
        "device_valid": [None if x is None else bool(x) for x in col("device_valid")],
        "device_limits_json": limits_json,
        "co2_estimated": [bool(x) for x in res["co2_estimated"]],
        "calibration_ok": [bool(x) for x in cal[idx]],
        "valid": [bool(x) for x in res["valid"]],
        "invalid_reasons": reasons,
        "quality_flags": qflags,
        "images": [tuple(x or ()) for x in col("images", ())],
        "video": [x or "" for x in col("video", "")],
        "raw_ref": [f"{raw_ref}#{p}" if raw_ref else "" for p in positions],
        "profile": [profile] * m,
        "ruleset_version": [evaluator.ruleset_version] * m,
    }
    for name in _COMPUTED:
        values[name] = _floats(res[name])
    for name in _FIELD_NAMES:
        if name not in values:
            values[name] = fcol(name)
    columns = [values[name] for name in _FIELD_NAMES]
    for j, row in enumerate(zip(*columns, strict=True)):
        try:
            events[positions[j]] = RsdPass(*row)
        except ValidationError as exc:
            code = "out_of_range" if "expected in [" in str(exc) else "malformed"
            errors[positions[j]] = RecordError(positions[j], rids[j], code, str(exc))
    return events, errors
