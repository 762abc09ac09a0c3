"""Sites and devices registry, loaded from versioned YAML files in ``core/data/registry/``.

Sections (each file may hold any of them; lists are concatenated): ``rsd_sites``, ``cameras``,
``stations`` (with nozzles and their data unit), ``depots``, ``sensors``, ``obd_vehicles``.
A bad file stops start-up with one line naming the file, the key and what was expected.
"""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.credentials import is_stored_form
from core.errors import ConfigError
from core.jurisdictions import JURISDICTIONS

DEFAULT_DIR = Path(__file__).parent / "data" / "registry"


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("jurisdiction", check_fields=False)
    @classmethod
    def _known_jurisdiction(cls, v: str) -> str:
        if v not in JURISDICTIONS:
            raise ValueError(f"one of {', '.join(JURISDICTIONS)}")
        return v

    @field_validator("password", "token", "terminal_id", check_fields=False)
    @classmethod
    def _no_plain_secret(cls, v: str) -> str:
        if v and not is_stored_form(v):
            raise ValueError(
                "a sha256: digest or an env: reference (plain secrets stay out of the registry; "
                "set one with `emwatch devices set-secret`)"
            )
        return v


class Calibration(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    valid_until: date
    certificate: str = ""


class RsdSite(_Item):
    id: str
    name: str
    name_zh: str = Field("", description="the site as officers write it (pages show this)")
    jurisdiction: str
    kind: Literal["fixed", "mobile"] = "fixed"
    lat: float
    lon: float
    road_grade: float = 0.0
    grade_unit: Literal["percent", "degree"] = "percent"
    token: str = Field("", description="upload token of the site's units (sha256: or env:)")
    vendor_profile: str = "national"
    calibration: Calibration | None = None


class Camera(_Item):
    id: str
    site: str
    jurisdiction: str
    lane: int = 1
    url: str = ""
    calibration: Calibration | None = None


class Nozzle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    number: int
    fuel: str = "92#"
    dispenser: int = 1


class Station(_Item):
    id: str
    name: str
    jurisdiction: str
    operator: str
    credit_code: str = ""
    mn: str = Field(description="HJ 212 MN of the station's data unit")
    password: str = Field("", description="HJ 212 PW of the data unit (sha256: or env:)")
    code_map: str = "national"
    pv_positive_pa: float = 1000.0
    pv_negative_pa: float = -1000.0
    sensitive_area: bool = False
    nozzles: list[Nozzle]


class Depot(_Item):
    id: str
    name: str
    jurisdiction: str
    operator: str
    mn: str
    password: str = ""
    code_map: str = "national"


class Sensor(_Item):
    id: str
    kind: Literal["ambient", "groundwater"]
    station: str
    jurisdiction: str
    mn: str
    password: str = ""
    code_map: str = "national"


class Fleet(_Item):
    """An OBD fleet (the ``fleet`` of its vehicles) with the name officers use."""

    id: str
    name_zh: str
    jurisdiction: str


class ObdVehicle(_Item):
    vin: str
    plate: str
    plate_colour: str = "yellow"
    jurisdiction: str
    fleet: str
    vehicle_class: Literal["bus", "sanitation", "freight", "other"]
    fuel: Literal["diesel", "natural_gas"] = "diesel"
    emission_stage: str = "China VI"
    has_scr: bool = True
    engine_ref_torque_nm: float
    rated_power_kw: float
    calibration_id: str = ""
    cvn: str = ""
    terminal_type: Literal["oem", "retrofit"] = "oem"
    terminal_id: str = Field("", description="terminal identity (ICCID) bound to the VIN (sha256:)")
    sm2_public_key: str = Field("", description="terminal SM2 public key, 128 hex (x || y)")
    sm2_signer_id: str = Field("", description="SM2 signer id as hex (empty: GB/T 32918 default)")


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rsd_sites: list[RsdSite] = Field(default_factory=list)
    cameras: list[Camera] = Field(default_factory=list)
    stations: list[Station] = Field(default_factory=list)
    depots: list[Depot] = Field(default_factory=list)
    sensors: list[Sensor] = Field(default_factory=list)
    obd_vehicles: list[ObdVehicle] = Field(default_factory=list)
    fleets: list[Fleet] = Field(default_factory=list)

    # ---- lookups (indexes built lazily, the model is frozen) ----
    @functools.cached_property
    def _by_mn(self) -> dict[str, Station | Depot | Sensor]:
        units: list[Station | Depot | Sensor] = [*self.stations, *self.depots, *self.sensors]
        return {item.mn: item for item in units}

    @functools.cached_property
    def _vehicles(self) -> dict[str, ObdVehicle]:
        return {v.vin: v for v in self.obd_vehicles}

    def unit_by_mn(self, mn: str) -> Station | Depot | Sensor | None:
        return self._by_mn.get(mn)

    def station_by_mn(self, mn: str) -> Station | None:
        item = self._by_mn.get(mn)
        return item if isinstance(item, Station) else None

    def station(self, station_id: str) -> Station | None:
        return next((s for s in self.stations if s.id == station_id), None)

    def vehicle(self, vin: str) -> ObdVehicle | None:
        return self._vehicles.get(vin)

    def rsd_site(self, site_id: str) -> RsdSite | None:
        return next((s for s in self.rsd_sites if s.id == site_id), None)

    def fleet(self, fleet_id: str) -> Fleet | None:
        return next((f for f in self.fleets if f.id == fleet_id), None)

    def camera(self, camera_id: str) -> Camera | None:
        return next((c for c in self.cameras if c.id == camera_id), None)

    def merged(self, other: Registry) -> Registry:
        """A registry with ``other``'s entries appended (used by simulators and benchmarks)."""
        data = self.model_dump()
        for key, items in other.model_dump().items():
            data[key] = [*data[key], *items]
        return Registry.model_validate(data)


def load_registry(directory: str | Path | None = None) -> Registry:
    d = Path(directory) if directory else DEFAULT_DIR
    files = sorted(d.glob("*.yaml"))
    if not files:
        raise ConfigError(str(d), "(directory)", "at least one registry *.yaml file")
    merged: dict[str, list[Any]] = {}
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(
                str(path), "(syntax)", f"valid YAML ({exc.__class__.__name__})"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(str(path), "(root)", "a mapping of registry sections")
        for section, items in data.items():
            if section not in Registry.model_fields:
                raise ConfigError(
                    str(path), section, f"a section among {', '.join(Registry.model_fields)}"
                )
            if not isinstance(items, list):
                raise ConfigError(str(path), section, "a list")
            # validate per file so that errors name the right file
            try:
                Registry.model_validate({section: items})
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = ".".join(str(p) for p in err["loc"])
                raise ConfigError(str(path), loc, err["msg"]) from None
            merged.setdefault(section, []).extend(items)
    return Registry.model_validate(merged)


@functools.cache
def default_registry() -> Registry:
    return load_registry()
