"""Per-city / per-vendor HJ 212 code maps: configuration, not code (hj212.md §13).

Each ``*.yaml`` in this folder describes one platform dialect: its profile (ST, Flag/QN presence,
header order, DataTime digits, CRC case, framing extras, the answer it expects) and, per CN, which
CP keys carry which canonical quantity. Adding a city is adding a file. ``CodeMap.decode`` turns a
parsed packet into canonical values; ``CodeMap.encode`` does the reverse (the simulator speaks
through it, so the two directions are tested against each other).

Canonical quantities (units fixed by the name):

* fuelling (per nozzle): ``al`` (ratio after unit normalisation), ``fuel_volume_l``,
  ``vapour_volume_l``, ``fuel_flow_lpm``, ``vapour_flow_lpm``, ``liquid_resistance_pa``
* station: ``tank_pressure_pa``, ``lr_pressure_pa``, ``vapour_temp_c``, ``unloading_conc``,
  ``proc_outlet_g_m3``, ``al_unattributed`` (Hefei A/L without nozzle or volume)
* settings: ``pv_positive_pa``, ``pv_negative_pa``, ``proc_start_pa``, ``proc_stop_pa``
* alarms (device flags, raw codes kept): ``al``, ``tightness``, ``liquid_resistance``,
  ``tank_pressure``, ``zero_pressure``, ``pv``, ``processing``
* sensor: any quantity named in the map with its unit (``voc_mg_m3``, ``no2_ug_m3`` …)
* depot: ``outlet_g_m3``, ``efficiency_pct``, ``truck_pressure_kpa``

Known limits: one nozzle-identification style per message (key prefix or a value); key templates
use the single placeholder ``{gun}``; codes marked ``confirmed: false`` come from one vendor's
firmware and must be checked against each city's interface specification.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigError
from fuel_vapor.protocol.framing import encode_frame
from fuel_vapor.protocol.packet import HEADER_KEYS, Item, Packet, format_time

DEFAULT_DIR = Path(__file__).parent
MISSING = frozenset({"", "N", "NULL", "null", "NaN", "nan"})
AL_SCALE = {"ratio": 1.0, "percent": 0.01, "fraction": 1.0}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Profile(_Model):
    st: str
    flag: int | None = None  # Flag sent on uploads; None = absent (2005 style)
    qn: bool = True
    header_order: list[str] = Field(default_factory=lambda: list(HEADER_KEYS))
    datatime_digits: Literal[14, 17] = 14
    crc_case: Literal["upper", "lower"] = "upper"
    extra_char: str = ""
    tail: Literal["crlf", "literal", "none"] = "crlf"
    answer_cp: str = ""
    answer_flag: int | None = 4
    answer_when_no_flag: bool = True  # 2005-style uploads (no Flag): answer 9014 anyway
    modbus_crc: bool = False


class NozzleSpec(_Model):
    key: str | None = None  # regex with one group over CP key prefixes, e.g. "q(\\d{4})"
    format: str = "{n}"  # how the simulator writes it; placeholders n, station
    value_of: str | None = None  # CP key whose value identifies the nozzle
    regex: str = "(\\d+)$"  # applied to that value


class SensorField(_Model):
    code: str
    unit: str
    suffixes: list[str] = Field(default_factory=lambda: ["Rtd", "Avg"])


class MessageSpec(_Model):
    cn: str
    nozzle: NozzleSpec | None = None
    fuelling: dict[str, str] = Field(default_factory=dict)
    station: dict[str, str] = Field(default_factory=dict)
    settings: dict[str, str] = Field(default_factory=dict)
    alarms: dict[str, str] = Field(default_factory=dict)
    nozzle_alarms: dict[str, str] = Field(default_factory=dict)
    sensor: dict[str, SensorField] = Field(default_factory=dict)
    depot: dict[str, str] = Field(default_factory=dict)
    no_fuelling_if: dict[str, str] = Field(default_factory=dict)


class _MapFile(_Model):
    name: str
    title: str
    source: str
    confirmed: bool = False
    unit_kind: Literal["station", "depot", "sensor"] = "station"
    al_unit: Literal["ratio", "percent", "fraction"] = "ratio"
    profile: Profile
    messages: list[MessageSpec]


@dataclass(slots=True)
class Decoded:
    """Canonical values read from one packet."""

    fuellings: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    station: dict[str, float] = field(default_factory=dict)
    settings: dict[str, float] = field(default_factory=dict)
    alarms: list[tuple[int, str, str]] = field(
        default_factory=list
    )  # nozzle (0=station), cat, code
    sensors: list[tuple[str, float, str, str | None]] = field(default_factory=list)
    depot: dict[str, float] = field(default_factory=dict)
    known_cn: bool = True
    unknown: list[tuple[str, str]] = field(default_factory=list)  # CP items the map does not
    # name, kept raw (key, value) in wire order


class ValueProblem(ValueError):
    """A CP value that the code map says is a number is not one."""


def _num(key: str, text: str) -> float | None:
    if text in MISSING:
        return None
    try:
        v = float(text)
    except ValueError:
        raise ValueProblem(f"{key}={text[:20]!r}: expected a number") from None
    if v - v != 0.0:  # NaN or an infinity (inf - inf is NaN)
        raise ValueProblem(f"{key}={text[:20]!r}: expected a finite number")
    return v


_CACHE_MAX = 4096  # per message: resolved nozzle keys / key prefixes (device input, so bounded)


class _Plan:
    """One message spec resolved for decoding: key lists instead of templates, built once."""

    __slots__ = (
        "_guns",
        "_prefixes",
        "alarms",
        "depot",
        "gun_re",
        "no_fuelling_if",
        "per_nozzle",
        "sensors",
        "settings",
        "spec",
        "static_keys",
        "station",
        "value_re",
    )

    def __init__(self, spec: MessageSpec, scale_al: bool) -> None:
        self.spec = spec
        self.station = [
            (n, k, scale_al and n == "al_unattributed") for n, k in spec.station.items()
        ]
        self.settings = list(spec.settings.items())
        self.depot = list(spec.depot.items())
        self.alarms = list(spec.alarms.items())
        self.sensors = [
            (n, tuple(f"{sf.code}-{x}" for x in sf.suffixes), sf.code, sf.unit)
            for n, sf in spec.sensor.items()
        ]
        self.no_fuelling_if = list(spec.no_fuelling_if.items())
        self.per_nozzle = bool(spec.fuelling or spec.nozzle_alarms)
        nz = spec.nozzle
        self.gun_re = re.compile(nz.key) if nz is not None and nz.key else None
        self.value_re = re.compile(nz.regex) if nz is not None and nz.value_of else None
        self._guns: dict[
            str,
            tuple[
                list[tuple[str, str]],
                list[tuple[str, str, bool]],
                frozenset[str],
                frozenset[str],
            ],
        ] = {}
        # every CP key this message reads that does not depend on the nozzle
        static = {"DataTime", *spec.station.values(), *spec.settings.values()}
        static |= {*spec.depot.values(), *spec.alarms.values(), *spec.no_fuelling_if}
        for sf in spec.sensor.values():
            static |= {f"{sf.code}-{x}" for x in (*sf.suffixes, "Flag", "flag")}
        if nz is not None and nz.value_of:
            static.add(nz.value_of)
        self.static_keys = frozenset(static)
        self._prefixes: dict[str, int | None] = {}

    def keys_for(
        self, gun: str
    ) -> tuple[list[tuple[str, str]], list[tuple[str, str, bool]], frozenset[str], frozenset[str]]:
        """(nozzle-alarm keys, fuelling keys, both as one set, that set with the static keys)
        with ``{gun}`` filled in."""
        got = self._guns.get(gun)
        if got is None:
            spec = self.spec
            alarm = [(n, t.replace("{gun}", gun)) for n, t in spec.nozzle_alarms.items()]
            fuel = [(n, t.replace("{gun}", gun), n == "al") for n, t in spec.fuelling.items()]
            keyset = frozenset({k for _, k in alarm} | {k for _, k, _ in fuel})
            got = (alarm, fuel, keyset, self.static_keys | keyset)
            if len(self._guns) < _CACHE_MAX:
                self._guns[gun] = got
        return got

    def nozzle_of_prefix(self, prefix: str) -> int | None:
        cache = self._prefixes
        if prefix in cache:
            return cache[prefix]
        m = self.gun_re.fullmatch(prefix)  # type: ignore[union-attr]
        n = int(m.group(1)) if m else None
        if len(cache) < _CACHE_MAX:
            cache[prefix] = n
        return n


class CodeMap:
    """One dialect, loaded from YAML."""

    def __init__(self, spec: _MapFile, path: str) -> None:
        self.spec = spec
        self.path = path
        self.name = spec.name
        self.profile = spec.profile
        self._by_cn = {m.cn: m for m in spec.messages}
        self._gun_re = {
            m.cn: re.compile(m.nozzle.key) for m in spec.messages if m.nozzle and m.nozzle.key
        }
        self._scale = AL_SCALE[spec.al_unit]
        self._plans = {m.cn: _Plan(m, True) for m in spec.messages}

    def message(self, cn: str) -> MessageSpec | None:
        return self._by_cn.get(cn)

    @property
    def cns(self) -> tuple[str, ...]:
        return tuple(self._by_cn)

    # ---- wire → canonical -----------------------------------------------------------------
    def decode(self, packet: Packet) -> Decoded:
        """Read canonical values; raises ``ValueProblem`` naming the first bad value. CP items
        the map does not name come back raw in ``unknown`` (the caller counts them)."""
        out = Decoded()
        plan = self._plans.get(packet.cn)
        if plan is None:
            out.known_cn = False
            return out
        cp = packet.cp_map()
        get = cp.get
        scale = self._scale
        num = _num
        for name, key, scaled in plan.station:
            if (t := get(key)) is not None and (v := num(key, t)) is not None:
                out.station[name] = v * scale if scaled else v
        for name, key in plan.settings:
            if (t := get(key)) is not None and (v := num(key, t)) is not None:
                out.settings[name] = v
        for name, key in plan.depot:
            if (t := get(key)) is not None and (v := num(key, t)) is not None:
                out.depot[name] = v
        for name, key in plan.alarms:
            if (t := get(key)) is not None:
                out.alarms.append((0, name, t))
        for name, keys, code, unit in plan.sensors:
            for key in keys:
                if (t := get(key)) is not None:
                    v = num(key, t)
                    if v is not None:
                        flag = get(f"{code}-Flag", get(f"{code}-flag"))
                        out.sensors.append((name, v, unit, flag))
                    break
        known = plan.static_keys
        nozzle_sets: list[frozenset[str]] = []
        every = known  # every key this packet's message and nozzles read
        if plan.per_nozzle:
            skip = any(get(k) == v for k, v in plan.no_fuelling_if)
            fuelling = bool(plan.spec.fuelling)
            for nozzle, gun in self._nozzles(plan, cp):
                alarm_keys, fuel_keys, keyset, every = plan.keys_for(gun)
                nozzle_sets.append(keyset)
                for name, key in alarm_keys:
                    if (t := get(key)) is not None:
                        out.alarms.append((nozzle, name, t))
                if skip or not fuelling:
                    continue
                vals: dict[str, float] = {}
                for name, key, is_al in fuel_keys:
                    if (t := get(key)) is not None and (v := num(key, t)) is not None:
                        vals[name] = v * scale if is_al else v
                if vals.get("fuel_volume_l", 0.0) > 0 or "al" in vals:
                    out.fuellings.append((nozzle, vals))
        if len(nozzle_sets) > 1 or not every.issuperset(cp):  # (one nozzle: ``every`` has it)
            nozzle_keys = (
                nozzle_sets[0] if len(nozzle_sets) == 1 else frozenset().union(*nozzle_sets)
            )
            out.unknown = [(k, v) for k, v in cp.items() if k not in known and k not in nozzle_keys]
        return out

    def _nozzles(self, plan: _Plan, cp: Mapping[str, str]) -> list[tuple[int, str]]:
        nz = plan.spec.nozzle
        if nz is None:
            return []
        if nz.value_of is not None:
            raw = cp.get(nz.value_of)
            if raw is None:
                return []
            m = plan.value_re.search(raw)  # type: ignore[union-attr]
            if not m:
                raise ValueProblem(f"{nz.value_of}={raw[:30]!r}: no nozzle number in it")
            return [(int(m.group(1)), "")]
        seen: dict[str, int] = {}
        for key in cp:
            prefix, sep, _ = key.partition("-")
            if sep and prefix not in seen and (n := plan.nozzle_of_prefix(prefix)) is not None:
                seen[prefix] = n
        return [(n, gun) for gun, n in seen.items()]

    # ---- canonical → wire (simulator) -----------------------------------------------------
    def encode(
        self,
        *,
        cn: str,
        mn: str,
        pw: str,
        ts: datetime,
        qn: str | None = None,
        station_id: str = "",
        nozzle: int | None = None,
        fuelling: Mapping[str, float] | None = None,
        station: Mapping[str, float] | None = None,
        settings: Mapping[str, float] | None = None,
        alarms: Mapping[str, str] | None = None,
        nozzle_alarms: Mapping[int, Mapping[str, str]] | None = None,
        sensor: Mapping[str, tuple[float, str]] | None = None,
        depot: Mapping[str, float] | None = None,
        flag: int | None = -1,
    ) -> bytes:
        """One complete frame in this dialect (``flag=-1`` means the profile's default)."""
        spec = self._by_cn.get(cn)
        if spec is None:
            raise KeyError(f"code map {self.name} has no message CN={cn}")
        p = self.profile
        groups: list[list[Item]] = [[("DataTime", format_time(ts, p.datatime_digits))]]
        gun = ""
        if nozzle is not None and spec.nozzle is not None:
            text = spec.nozzle.format.format(n=nozzle, station=station_id)
            if spec.nozzle.value_of is not None:
                groups.append([(spec.nozzle.value_of, text)])
            else:
                gun = text
        inv = 1.0 / AL_SCALE[self.spec.al_unit]

        def put(mapping: Mapping[str, str], values: Mapping[str, float] | None, al: bool) -> None:
            if not values:
                return
            items = [
                (
                    mapping[k].replace("{gun}", gun),
                    _fmt(v * inv if al and k in ("al", "al_unattributed") else v),
                )
                for k, v in values.items()
                if k in mapping
            ]
            if items:
                groups.append(items)

        put(spec.fuelling, fuelling, True)
        put(spec.station, station, True)
        put(spec.settings, settings, False)
        put(spec.depot, depot, False)
        if alarms:
            groups.append([(spec.alarms[k], v) for k, v in alarms.items() if k in spec.alarms])
        for n, cats in (nozzle_alarms or {}).items():
            g = spec.nozzle.format.format(n=n, station=station_id) if spec.nozzle else ""
            groups.append(
                [
                    (spec.nozzle_alarms[k].replace("{gun}", g), v)
                    for k, v in cats.items()
                    if k in spec.nozzle_alarms
                ]
            )
        for name, (value, dflag) in (sensor or {}).items():
            sf = spec.sensor.get(name)
            if sf is not None:
                groups.append(
                    [(f"{sf.code}-{sf.suffixes[0]}", _fmt(value)), (f"{sf.code}-Flag", dflag)]
                )
        use_flag = p.flag if flag == -1 else flag
        packet = Packet.build(
            cn=cn,
            mn=mn,
            st=p.st,
            pw=pw,
            qn=qn if p.qn else None,
            flag=use_flag,
            cp=[g for g in groups if g],
            order=p.header_order,
        )
        return encode_frame(
            packet.segment,
            crc_case=p.crc_case,
            extra_char=p.extra_char,
            tail=p.tail,
            modbus=p.modbus_crc,
        )


def _fmt(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.4f}".rstrip("0").rstrip(".")


def load_codemap(path: str | Path) -> CodeMap:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(p), "(file)", "an existing code-map file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(p), "(syntax)", f"valid YAML ({exc.__class__.__name__})") from None
    try:
        spec = _MapFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(
            str(p), ".".join(str(x) for x in err["loc"]) or "(root)", err["msg"]
        ) from None
    for i, m in enumerate(spec.messages):
        if m.nozzle and m.nozzle.key:
            try:
                re.compile(m.nozzle.key)
            except re.error:
                raise ConfigError(str(p), f"messages.{i}.nozzle.key", "a valid regex") from None
    if spec.name != p.stem:
        raise ConfigError(str(p), "name", f"the file name stem {p.stem!r}")
    return CodeMap(spec, str(p))


def load_codemaps(directory: str | Path | None = None) -> dict[str, CodeMap]:
    """Every ``*.yaml`` code map in ``directory`` (default: the shipped ones), by name."""
    d = Path(directory) if directory else DEFAULT_DIR
    maps = {p.stem: load_codemap(p) for p in sorted(d.glob("*.yaml"))}
    if not maps:
        raise ConfigError(str(d), "(directory)", "at least one code-map *.yaml file")
    return maps


@functools.cache
def default_codemaps() -> dict[str, CodeMap]:
    return load_codemaps()
