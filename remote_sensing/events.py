"""Remote-sensing events: one measured pass, site calibration results and weather downtime.

Responsible for the contract between the RSD intake, the processors and the warehouse
(docs/CONTRACTS.md). Every field that comes from a device is range-checked here, so impossible values
(negative speed, ratios outside any physical plume, out-of-scale Ringelmann) never enter the bus:
the intake turns the ``ValidationError`` into a per-record error.

A mobile unit's position (``latitude`` / ``longitude``) and jurisdiction come with each record and win
over the site registry (the intake checks that the position lies in the zone and the jurisdiction is
one of the three); a fixed unit's records leave the position empty.

Ratios are molar pollutant/CO2 ratios (mol/mol) whatever the vendor sent (profiles convert ppm/% and
%/% forms). Computed quantities (g/kg, VSP, concentrations) and the validity verdict are stored with
the pass so that the warehouse keeps what the rules saw, with the rule-set version.

Known limits: the ratio bounds are physical plausibility bounds (a rich gasoline plume gives CO/CO2
of about 2; noise around zero is legitimately negative), not instrument specifications.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import date, datetime
from hashlib import blake2b as _blake2b
from typing import ClassVar

from core.errors import ValidationError
from core.events import deterministic_id, require_aware, require_range

FUELS = ("gasoline", "diesel", "electric", "gas", "other", "unknown")
PLATE_COLOURS = ("blue", "yellow", "white", "black", "green", "yellow_green", "unknown")
NEV_PLATE_TYPES = ("51", "52")

# (lower, upper) plausibility bounds of molar ratios to CO2 (mol/mol).
RATIO_BOUNDS: dict[str, tuple[float, float]] = {
    "ratio_co": (-0.5, 5.0),
    "ratio_hc": (-0.1, 1.0),
    "ratio_no": (-0.1, 0.3),
    "ratio_no2": (-0.1, 0.2),
    "ratio_nh3": (-0.1, 0.2),
}


_INF = float("inf")
_PASS_KIND = "rsd.pass"
# (field, lower, upper, unit) checked on every pass; "" unit = the pass's grade unit
_PASS_RANGES: tuple[tuple[str, float, float, str], ...] = (
    ("speed_kmh", 0.0, 250.0, "km/h"),
    ("accel_ms2", -15.0, 15.0, "m/s²"),
    ("grade", -30.0, 30.0, ""),
    ("plate_confidence", 0.0, 100.0, "%"),
    *((name, lo, hi, "mol/mol") for name, (lo, hi) in RATIO_BOUNDS.items()),
    ("co2_ref_pct", 0.5, 20.0, "%"),
    ("opacity_pct", 0.0, 100.0, "%"),
    ("ringelmann", 0.0, 5.0, "grade"),
    ("wind_ms", 0.0, 75.0, "m/s"),
    ("temperature_c", -50.0, 60.0, "°C"),
    ("humidity_pct", 0.0, 100.0, "%"),
    ("headway_s", 0.0, _INF, "s"),
)

_RANGE_VALUES = operator.attrgetter(*(r[0] for r in _PASS_RANGES))  # one C call per event


def pass_key(plate: str, site_id: str) -> str:
    """``RsdPass.key`` of a pass with this plate number ("" unread) seen at this site."""
    return f"vehicle:{plate}" if plate else f"site:{site_id}:unread"


def plate_key(plate: str, colour: str) -> str:
    """Vehicle key used across the zone: normalised plate number + plate colour."""
    return f"{plate}|{colour}"


@dataclass(frozen=True, slots=True)
class RsdPass:
    """One vehicle pass measured by a roadside remote-sensing unit, with the platform's computation.

    Identity: (site, device record id). A re-sent record has the same ``event_id``.
    """

    KIND: ClassVar[str] = "rsd.pass"

    event_id: str
    ts: datetime
    site_id: str
    jurisdiction: str
    record_id: str
    unit_id: str
    lane: int | None
    plate: str  # normalised plate number, "" when unread
    plate_colour: str
    plate_type: str  # GA 24.7 code as sent ("" unknown); 51/52 are NEV types
    plate_confidence: float | None  # 0-100
    fuel: str
    emission_stage: str
    speed_kmh: float | None
    accel_ms2: float | None
    grade: float | None
    grade_unit: str
    ratio_co: float | None
    ratio_hc: float | None
    ratio_no: float | None
    ratio_no2: float | None
    ratio_nh3: float | None
    co2_ref_pct: float | None
    plume_co2: float | None
    opacity_pct: float | None
    ringelmann: float | None
    wind_ms: float | None
    temperature_c: float | None
    humidity_pct: float | None
    precipitation: bool | None
    headway_s: float | None
    device_valid: bool | None
    device_vsp: float | None
    device_co_pct: float | None
    device_hc_ppm: float | None
    device_no_ppm: float | None
    device_limits_json: str
    # platform computation (rules.md §2.1)
    vsp_kw_t: float | None
    co_gpkg: float | None
    hc_gpkg: float | None
    no_gpkg: float | None
    no2_gpkg: float | None
    nox_gpkg: float | None
    nh3_gpkg: float | None
    co_pct: float | None
    hc_ppm: float | None
    no_ppm: float | None
    co2_estimated: bool
    calibration_ok: bool | None
    valid: bool
    invalid_reasons: tuple[str, ...]
    quality_flags: tuple[str, ...]
    images: tuple[str, ...]
    video: str
    raw_ref: str
    profile: str
    ruleset_version: str
    # where the unit stood, when the record says (a mobile unit); None: the site registry's position
    latitude: float | None = None
    longitude: float | None = None

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        if not self.site_id:
            raise ValidationError("site_id", self.site_id, "a non-empty site id")
        if (self.latitude is None) != (self.longitude is None):
            raise ValidationError(
                "latitude/longitude", (self.latitude, self.longitude), "both or neither"
            )
        if self.latitude is not None and self.longitude is not None:
            require_range("latitude", self.latitude, -90.0, 90.0, "°")
            require_range("longitude", self.longitude, -180.0, 180.0, "°")
        if not self.record_id:
            raise ValidationError("record_id", self.record_id, "a non-empty record id")
        if self.fuel not in FUELS:
            raise ValidationError("fuel", self.fuel, f"one of {', '.join(FUELS)}")
        if self.plate_colour not in PLATE_COLOURS:
            raise ValidationError(
                "plate_colour", self.plate_colour, f"one of {', '.join(PLATE_COLOURS)}"
            )
        if self.grade_unit not in ("percent", "degree"):
            raise ValidationError("grade_unit", self.grade_unit, "percent or degree")
        for v, (name, lo, hi, unit) in zip(_RANGE_VALUES(self), _PASS_RANGES, strict=True):
            if v is not None and not lo <= v <= hi:  # NaN fails too
                require_range(name, v, lo, None if hi == _INF else hi, unit or self.grade_unit)
        if self.lane is not None and not 0 <= self.lane <= 20:
            raise ValidationError("lane", self.lane, "in [0, 20]")
        if self.valid and self.invalid_reasons:
            raise ValidationError("invalid_reasons", self.invalid_reasons, "empty when valid")

    @property
    def key(self) -> str:
        """Partition key ``vehicle:<plate number>``: the vehicle key of every cross-source subject
        (``enforcement.identity``), so the case processor, which consumes passes to see
        "consecutive" broken by a clean pass, owns the same key as the vehicle's findings. The
        RSD vehicle (number + colour, rules.md §2.1) is kept apart inside the state of that key.
        Unread plates are keyed per site."""
        return pass_key(self.plate, self.site_id)

    @property
    def is_new_energy(self) -> bool:
        return (
            self.plate_colour in ("green", "yellow_green")
            or self.plate_type in NEV_PLATE_TYPES
            or self.fuel == "electric"
        )

    @staticmethod
    def make_id(site_id: str, record_id: str) -> str:
        """``deterministic_id(KIND, site_id, record_id)``; both parts are text, so the hashed
        bytes are the parts joined by the unit separator, hashed in one call."""
        return _blake2b(
            f"{_PASS_KIND}\x1f{site_id}\x1f{record_id}".encode(), digest_size=16
        ).hexdigest()


@dataclass(frozen=True, slots=True)
class RsdCalibration:
    """A daily calibration or audit result entered by an operator for one site (rules.md §2.1, DQ-CAL).

    ``valid_until`` is the last day the site's readings are judgeable on the strength of this result.
    """

    KIND: ClassVar[str] = "rsd.calibration"

    event_id: str
    ts: datetime
    site_id: str
    jurisdiction: str
    check_kind: str  # "daily" | "audit" | "certificate" ("kind" is reserved by the bus serde)
    passed: bool
    valid_until: date
    operator: str
    certificate: str
    co_error_pct: float | None  # relative error against the audit gas, %
    no_error_pct: float | None
    hc_error_pct: float | None
    note: str

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        if self.check_kind not in ("daily", "audit", "certificate"):
            raise ValidationError("check_kind", self.check_kind, "daily, audit or certificate")
        if not self.site_id:
            raise ValidationError("site_id", self.site_id, "a non-empty site id")
        for name in ("co_error_pct", "no_error_pct", "hc_error_pct"):
            require_range(name, getattr(self, name), -100.0, 100.0, "%")

    @property
    def key(self) -> str:
        return f"site:{self.site_id}"

    @staticmethod
    def make_id(site_id: str, check_kind: str, ts: datetime) -> str:
        return deterministic_id(RsdCalibration.KIND, site_id, check_kind, ts)


@dataclass(frozen=True, slots=True)
class RsdDowntime:
    """A period in which a site did not measure (weather, maintenance, calibration)."""

    KIND: ClassVar[str] = "rsd.downtime"

    event_id: str
    ts: datetime  # start
    end: datetime
    site_id: str
    jurisdiction: str
    reason: str  # "rain" | "fog" | "wind" | "snow" | "maintenance" | "calibration" | "other"
    note: str

    REASONS: ClassVar[tuple[str, ...]] = (
        "rain",
        "fog",
        "wind",
        "snow",
        "maintenance",
        "calibration",
        "other",
    )

    def __post_init__(self) -> None:
        require_aware("ts", self.ts)
        require_aware("end", self.end)
        if self.end <= self.ts:
            raise ValidationError("end", self.end.isoformat(), f"after ts {self.ts.isoformat()}")
        if (self.end - self.ts).total_seconds() > 7 * 86400:
            raise ValidationError("end", self.end.isoformat(), "at most 7 days after ts")
        if self.reason not in self.REASONS:
            raise ValidationError("reason", self.reason, f"one of {', '.join(self.REASONS)}")

    @property
    def key(self) -> str:
        return f"site:{self.site_id}"

    @property
    def weather(self) -> bool:
        return self.reason in ("rain", "fog", "wind", "snow")

    @staticmethod
    def make_id(site_id: str, ts: datetime, reason: str) -> str:
        return deterministic_id(RsdDowntime.KIND, site_id, ts, reason)


def examples() -> list[RsdPass | RsdCalibration | RsdDowntime]:
    """One realistic instance of each event class (contract test)."""
    from core.timeutil import beijing

    ts = beijing(2026, 11, 20, 9, 15, 30)
    p = RsdPass(
        event_id=RsdPass.make_id("RSD-QP-01", "QP01-20261120-000123"),
        ts=ts,
        site_id="RSD-QP-01",
        jurisdiction="qingpu",
        record_id="QP01-20261120-000123",
        unit_id="YC-QP01-A",
        lane=1,
        plate="沪A12345",
        plate_colour="blue",
        plate_type="02",
        plate_confidence=96.0,
        fuel="gasoline",
        emission_stage="China 5",
        speed_kmh=46.8,
        accel_ms2=0.21,
        grade=0.5,
        grade_unit="percent",
        ratio_co=0.0121,
        ratio_hc=0.00043,
        ratio_no=0.0105,
        ratio_no2=None,
        ratio_nh3=None,
        co2_ref_pct=14.46,
        plume_co2=62.0,
        opacity_pct=None,
        ringelmann=None,
        wind_ms=1.8,
        temperature_c=14.2,
        humidity_pct=71.0,
        precipitation=False,
        headway_s=3.2,
        device_valid=True,
        device_vsp=6.89,
        device_co_pct=0.175,
        device_hc_ppm=62.2,
        device_no_ppm=1518.3,
        device_limits_json='{"limit_co_pct": 2.5, "limit_hc_ppm": 1200, "limit_no_ppm": 1500}',
        vsp_kw_t=6.93,
        co_gpkg=24.04,
        hc_gpkg=1.07,
        no_gpkg=34.24,
        no2_gpkg=None,
        nox_gpkg=None,
        nh3_gpkg=None,
        co_pct=0.175,
        hc_ppm=62.2,
        no_ppm=1518.3,
        co2_estimated=False,
        calibration_ok=True,
        valid=True,
        invalid_reasons=(),
        quality_flags=(),
        images=(
            "https://rsd.example/qp01/000123_plate.jpg",
            "https://rsd.example/qp01/000123_scene.jpg",
        ),
        video="",
        raw_ref="raw:20261120/5f0c3b.json#0",
        profile="national",
        ruleset_version="2026.11-1",
    )
    c = RsdCalibration(
        event_id=RsdCalibration.make_id("RSD-QP-01", "daily", ts),
        ts=ts,
        site_id="RSD-QP-01",
        jurisdiction="qingpu",
        check_kind="daily",
        passed=True,
        valid_until=date(2026, 11, 20),
        operator="op-017",
        certificate="QP-RSD-CAL-2026-014",
        co_error_pct=2.1,
        no_error_pct=-4.5,
        hc_error_pct=6.0,
        note="audit gas cylinder 3",
    )
    d = RsdDowntime(
        event_id=RsdDowntime.make_id("RSD-WJ-01", ts, "rain"),
        ts=ts,
        end=beijing(2026, 11, 20, 11, 0, 0),
        site_id="RSD-WJ-01",
        jurisdiction="wujiang",
        reason="rain",
        note="",
    )
    return [p, c, d]
