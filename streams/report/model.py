"""The weekly report as data: tables and figures with this week's and the previous week's values.

``build(...)`` is pure: it takes the query results of two weeks (``WeekData``), the registry, and the
time of generation, and returns a ``WeeklyReport`` that every renderer (HTML, PDF, XLSX) draws the
same way. ``collect(...)`` is the thin adapter that runs the named queries of
``streams.warehouse.queries.report`` for the week and the week before.

Definitions (written into the report's notes):
- a vehicle is one plate (normalised number); a VIN is joined to its plate through the registry and
  the links sources supplied (``vehicle_link``), so a vehicle seen by remote sensing in one
  jurisdiction and flagged by its OBD terminal in another is one vehicle; exceedances of unread
  plates count as exceedances but not as vehicles;
- repeat offender at a level: a vehicle with exceedances on two or more Beijing days of the week
  within that level; cross-jurisdiction repeat offender: a vehicle flagged in two or more
  jurisdictions of the zone in the week (listed in each jurisdiction it was flagged in);
- data completeness of a device: hours of the week with at least one record / 168;
- OBD online rate: registered vehicles with at least one record in the week / registered vehicles.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pandas as pd

from core.isoweek import IsoWeek
from core.jurisdictions import JURISDICTIONS, ZONE
from core.registry import Registry
from core.timeutil import BEIJING
from streams.report import labels as L

HOURS_PER_WEEK = 168
Cell = str | int | float | None
Progress = Callable[[float, str], None]


# --- the shapes every renderer draws ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Table:
    """A table: ``fmt`` per column is one of text, int, pct (0..1), delta (signed int), pts (signed
    0..1 difference shown in percentage points), num1 (one decimal)."""

    key: str  # sheet name in the workbook (≤ 31 characters)
    title: str
    columns: tuple[str, ...]
    fmt: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str = ""

    def __post_init__(self) -> None:
        if len(self.columns) != len(self.fmt):
            raise ValueError(
                f"table {self.key}: {len(self.columns)} columns, {len(self.fmt)} formats"
            )
        for r in self.rows:
            if len(r) != len(self.columns):
                raise ValueError(
                    f"table {self.key}: row of {len(r)} cells, expected {len(self.columns)}"
                )


@dataclass(frozen=True, slots=True)
class Figure:
    """A chart: one line (or bar group) per series over the categories ``x``."""

    key: str
    title: str
    kind: str  # "line" | "bar"
    x: tuple[str, ...]
    series: tuple[tuple[str, tuple[float | None, ...]], ...]
    y_label: str
    dashed: tuple[str, ...] = ()  # series drawn dashed (the previous week)


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    tables: tuple[Table, ...] = ()
    figures: tuple[Figure, ...] = ()
    notes: tuple[str, ...] = ()
    unavailable: str = ""  # set when the section's data cannot be shown, with the reason


@dataclass(frozen=True, slots=True)
class Metrics:
    """The headline numbers of one level (a jurisdiction or the zone) for one week."""

    exceedances: int = 0
    by_source: Mapping[str, int] = field(default_factory=dict)
    by_severity: Mapping[str, int] = field(default_factory=dict)
    by_rule: Mapping[str, int] = field(default_factory=dict)
    vehicles_flagged: int = 0
    repeat_offenders: int = 0
    cross_offenders: int = 0
    stations_warning: int = 0
    stations_alarm: int = 0
    obd_registered: int = 0
    obd_online: int = 0

    @property
    def obd_online_rate(self) -> float | None:
        return self.obd_online / self.obd_registered if self.obd_registered else None


@dataclass(frozen=True, slots=True)
class WeeklyReport:
    week: IsoWeek
    level: str  # jurisdiction code or "zone"
    generated_at: datetime  # Beijing time
    has_data: bool
    levels: tuple[str, ...]  # the levels reported (the zone report: three jurisdictions + zone)
    metrics: Mapping[str, Metrics]  # per level, this week
    previous: Mapping[str, Metrics]  # per level, the week before
    sections: tuple[Section, ...]

    @property
    def title(self) -> str:
        return f"{L.level_zh(self.level)}机动车与加油站排放监管周报"

    @property
    def subtitle(self) -> str:
        return f"{self.week.label_zh()} · 北京时间"

    @property
    def file_stem(self) -> str:
        return f"weekly-{self.week}-{self.level}"

    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]

    def figures(self) -> list[Figure]:
        return [f for s in self.sections for f in s.figures]


# --- the query results of one week ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WeekData:
    week: IsoWeek
    counts: pd.DataFrame
    daily: pd.DataFrame
    vehicles: pd.DataFrame
    stations: pd.DataFrame
    obd: pd.DataFrame
    rsd: pd.DataFrame
    cameras: pd.DataFrame
    station_data: pd.DataFrame

    def has_rows(self) -> bool:
        return any(
            _ok(f)
            for f in (
                self.counts,
                self.obd,
                self.rsd,
                self.cameras,
                self.station_data,
                self.stations,
            )
        )


@dataclass(frozen=True, slots=True)
class CaseData:
    """Case figures when the enforcement tables are there; ``reason`` says why not otherwise."""

    available: bool
    reason: str = ""
    tables: tuple[Table, ...] = ()


def _ok(df: pd.DataFrame | None) -> bool:
    return df is not None and not df.empty and len(df.columns) > 0


# --- pure computations ---------------------------------------------------------------------------


def _levels(level: str) -> tuple[str, ...]:
    return (ZONE, *JURISDICTIONS) if level == ZONE else (level,)


def _in_level(jur: Any, level: str) -> bool:
    return level == ZONE or jur == level


def vehicle_key(subject_id: str, vin_to_plate: Mapping[str, str]) -> str | None:
    """One vehicle across sources: a VIN becomes its linked plate, a plate its normalised number
    (``沪A·12345`` = ``沪A12345``); an unread plate (``unread:…``, ``camera:…``) is no vehicle (None)."""
    from core.errors import ValidationError
    from core.ids import Plate

    sid = str(subject_id)
    if sid in vin_to_plate:
        return vin_to_plate[sid]
    if sid.startswith(("unread:", "camera:")) or not sid:
        return None
    if len(sid) == 17 and sid.isascii():
        return sid
    try:
        return Plate.parse(sid).number
    except ValidationError:
        return sid


@dataclass(slots=True)
class _Vehicle:
    days: dict[str, set[date]] = field(default_factory=lambda: defaultdict(set))
    n: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    sources: set[str] = field(default_factory=set)
    rules: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)


def vehicles_of(df: pd.DataFrame, vin_to_plate: Mapping[str, str]) -> dict[str, _Vehicle]:
    out: dict[str, _Vehicle] = defaultdict(_Vehicle)
    keys: dict[str, str | None] = {}
    if not _ok(df):
        return out
    for sid, day, jur, src, n, rules in df[
        ["subject_id", "day", "jurisdiction", "source", "n", "rules"]
    ].itertuples(index=False):
        if sid not in keys:
            keys[sid] = vehicle_key(sid, vin_to_plate)
        key = keys[sid]
        if key is None:
            continue
        v = out[key]
        v.days[jur].add(pd.Timestamp(day).date())
        v.n[jur] += int(n)
        v.sources.add(src)
        v.rules.update(rules)
        v.ids.add(sid)
    return out


def _metrics(
    d: WeekData, level: str, registry: Registry, vin_to_plate: Mapping[str, str]
) -> Metrics:
    by_source: dict[str, int] = defaultdict(int)
    by_sev: dict[str, int] = defaultdict(int)
    by_rule: dict[str, int] = defaultdict(int)
    total = 0
    if _ok(d.counts):
        for jur, src, rule, sev, n in d.counts[
            ["jurisdiction", "source", "rule_id", "severity", "n"]
        ].itertuples(index=False):
            if _in_level(jur, level):
                total += int(n)
                by_source[src] += int(n)
                by_sev[sev] += int(n)
                by_rule[rule] += int(n)
    vehicles = vehicles_of(d.vehicles, vin_to_plate)
    flagged = repeat = cross = 0
    for v in vehicles.values():
        js = [j for j in v.days if _in_level(j, level)]
        if not js:
            continue
        flagged += 1
        days = set().union(*(v.days[j] for j in js))
        repeat += len(days) >= 2
        cross += len(v.days) >= 2
    warn = alarm = 0
    if _ok(d.stations):
        st = d.stations[[_in_level(j, level) for j in d.stations["jurisdiction"]]]
        levels = st.groupby("station_id")["level"].agg(set)
        alarm = sum("alarm" in s for s in levels)
        warn = sum("alarm" not in s for s in levels)
    fleet = [v.vin for v in registry.obd_vehicles if _in_level(v.jurisdiction, level)]
    online = set(d.obd["vin"]) if _ok(d.obd) else set()
    return Metrics(
        exceedances=total,
        by_source=dict(by_source),
        by_severity=dict(by_sev),
        by_rule=dict(by_rule),
        vehicles_flagged=flagged,
        repeat_offenders=repeat,
        cross_offenders=cross,
        stations_warning=warn,
        stations_alarm=alarm,
        obd_registered=len(fleet),
        obd_online=len(online.intersection(fleet)),
    )


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _change_pct(a: int, b: int) -> float | None:
    return (a - b) / b if b else None


# --- building the sections -----------------------------------------------------------------------

_CMP = ("本周", "上周", "变化", "变化率")
_CMP_FMT = ("int", "int", "delta", "pct")


def _cmp(a: int, b: int) -> tuple[Cell, ...]:
    return (a, b, a - b, _change_pct(a, b))


def _summary(levels: Sequence[str], m: Mapping[str, Metrics], p: Mapping[str, Metrics]) -> Section:
    rows: list[tuple[Cell, ...]] = []
    for lv in levels:
        a, b = m[lv], p[lv]
        name = L.level_zh(lv)
        rows += [
            (name, "超标事件（条）", *_cmp(a.exceedances, b.exceedances)),
            (name, "被标记车辆（辆）", *_cmp(a.vehicles_flagged, b.vehicles_flagged)),
            (name, "重复超标车辆（辆）", *_cmp(a.repeat_offenders, b.repeat_offenders)),
            (name, "跨辖区重复超标车辆（辆）", *_cmp(a.cross_offenders, b.cross_offenders)),
            (name, "预警加油站（座）", *_cmp(a.stations_warning, b.stations_warning)),
            (name, "报警加油站（座）", *_cmp(a.stations_alarm, b.stations_alarm)),
        ]
    obd_rows = [
        (
            L.level_zh(lv),
            m[lv].obd_registered,
            m[lv].obd_online,
            m[lv].obd_online_rate,
            p[lv].obd_online_rate,
            _delta(m[lv].obd_online_rate, p[lv].obd_online_rate),
        )
        for lv in levels
    ]
    return Section(
        "一、概要",
        tables=(
            Table(
                "概要",
                "主要指标（与上周比较）",
                ("辖区", "指标", *_CMP),
                ("text", "text", *_CMP_FMT),
                tuple(rows),
            ),
            Table(
                "OBD在线率",
                "重型柴油车远程OBD在线率",
                ("辖区", "登记车辆（辆）", "本周在线（辆）", "本周在线率", "上周在线率", "变化"),
                ("text", "int", "int", "pct", "pct", "pts"),
                tuple(obd_rows),
                note="在线：本周内至少有一条数据流记录；登记车辆来自设备登记表。",
            ),
        ),
    )


def _by_source_severity(
    levels: Sequence[str], m: Mapping[str, Metrics], p: Mapping[str, Metrics], level: str
) -> Section:
    src_rows = []
    sev_rows = []
    for lv in levels:
        a, b = m[lv], p[lv]
        for src, zh in L.SOURCE_ZH.items():
            src_rows.append(
                (L.level_zh(lv), zh, *_cmp(a.by_source.get(src, 0), b.by_source.get(src, 0)))
            )
        for sev, zh in L.SEVERITY_ZH.items():
            x, y = a.by_severity.get(sev, 0), b.by_severity.get(sev, 0)
            if x or y:
                sev_rows.append((L.level_zh(lv), zh, *_cmp(x, y)))
    a, b = m[level], p[level]
    rules = sorted(set(a.by_rule) | set(b.by_rule), key=lambda r: (-a.by_rule.get(r, 0), r))
    rule_rows = tuple(
        (r, L.rule_zh(r), *_cmp(a.by_rule.get(r, 0), b.by_rule.get(r, 0))) for r in rules
    )
    return Section(
        "二、超标事件",
        tables=(
            Table(
                "按来源",
                "按数据来源",
                ("辖区", "来源", *_CMP),
                ("text", "text", *_CMP_FMT),
                tuple(src_rows),
            ),
            Table(
                "按规则",
                f"按规则（{L.level_zh(level)}）",
                ("规则编号", "规则名称", *_CMP),
                ("text", "text", *_CMP_FMT),
                rule_rows,
            ),
            Table(
                "按等级",
                "按严重程度",
                ("辖区", "等级", *_CMP),
                ("text", "text", *_CMP_FMT),
                tuple(sev_rows),
            ),
        ),
        notes=("超标事件：规则触发记录（含数据质量类提示），每条记录计一次，重传不重复计数。",),
    )


def _vehicles_section(
    d: WeekData, level: str, vin_to_plate: Mapping[str, str], limit: int = 50
) -> Section:
    vehicles = vehicles_of(d.vehicles, vin_to_plate)
    cross_rows = []
    repeat_rows = []
    for key, v in vehicles.items():
        js = [j for j in v.days if _in_level(j, level)]
        if not js:
            continue
        all_days = set().union(*v.days.values())
        row = (
            key,
            "、".join(L.level_zh(j) for j in JURISDICTIONS if j in v.days),
            "、".join(L.SOURCE_ZH.get(s, s) for s in sorted(v.sources)),
            sum(v.n.values()),
            len(all_days),
            "、".join(sorted(v.rules)),
        )
        if len(v.days) >= 2:
            cross_rows.append(row)
        if len(set().union(*(v.days[j] for j in js))) >= 2:
            repeat_rows.append(row)
    order = lambda r: (-int(r[3]), str(r[0]))  # noqa: E731
    cols = ("车辆（号牌/VIN）", "被标记辖区", "来源", "超标次数", "超标天数", "触发规则")
    fmt = ("text", "text", "text", "int", "int", "text")
    return Section(
        "三、车辆",
        tables=(
            Table(
                "跨辖区重复超标",
                "跨辖区重复超标车辆（本周在两个及以上辖区被标记）",
                cols,
                fmt,
                tuple(sorted(cross_rows, key=order)[:limit]),
                note=f"按超标次数排序，最多列出{limit}辆；共{len(cross_rows)}辆。",
            ),
            Table(
                "重复超标车辆",
                "重复超标车辆（本周两天及以上被标记）",
                cols,
                fmt,
                tuple(sorted(repeat_rows, key=order)[:limit]),
                note=f"按超标次数排序，最多列出{limit}辆；共{len(repeat_rows)}辆。",
            ),
        ),
        notes=("同一车辆：远程OBD的VIN按登记表对应到号牌，与遥感、黑烟抓拍的号牌合并为一辆车。",),
    )


def _cases_section(cases: CaseData) -> Section:
    if not cases.available:
        return Section("四、执法案件", unavailable=f"{L.CASES_UNAVAILABLE}：{cases.reason}")
    return Section(
        "四、执法案件",
        tables=cases.tables,
        notes=("跨辖区重复超标车辆按车辆身份（号牌与VIN关联）统计，见第三节。",),
    )


def _stations_section(d: WeekData, registry: Registry, level: str) -> Section:
    names = {s.id: s.name for s in registry.stations}
    rows: list[tuple[Cell, ...]] = []
    if _ok(d.stations):
        for sid, jur, subject, lvl, streak, last_day in d.stations[
            ["station_id", "jurisdiction", "subject", "level", "streak", "last_day"]
        ].itertuples(index=False):
            if not _in_level(jur, level):
                continue
            what = (
                f"{subject.split(':', 1)[1]}号油枪气液比"
                if str(subject).startswith("nozzle:")
                else L.STATION_SUBJECT_ZH.get(subject, subject)
            )
            rows.append(
                (
                    sid,
                    names.get(sid, sid),
                    L.level_zh(jur),
                    what,
                    L.LEVEL_ZH.get(lvl, lvl),
                    int(streak),
                    str(pd.Timestamp(last_day).date()),
                )
            )
    return Section(
        "五、加油站预警与报警",
        tables=(
            Table(
                "预警报警加油站",
                "本周末处于预警或报警状态的加油站",
                ("加油站编号", "名称", "辖区", "对象", "状态", "持续天数", "最近判定日"),
                ("text", "text", "text", "text", "text", "int", "text"),
                tuple(rows),
                note="持续天数：截至最近判定日连续处于该状态的天数。",
            ),
        ),
    )


def _rate(hours: Any) -> float:
    return float(hours) / HOURS_PER_WEEK if hours is not None and not pd.isna(hours) else 0.0


def _by(df: pd.DataFrame, key: str) -> dict[str, dict[str, Any]]:
    if not _ok(df):
        return {}
    return {str(r[key]): r for r in df.to_dict("records")}


def _num(v: Any) -> int:
    return 0 if v is None or pd.isna(v) else int(v)


def _devices_section(d: WeekData, prev: WeekData, registry: Registry, level: str) -> Section:
    rsd, rsd_p = _by(d.rsd, "site_id"), _by(prev.rsd, "site_id")
    rsd_rows = []
    for s in sorted(registry.rsd_sites, key=lambda s: s.id):
        if not _in_level(s.jurisdiction, level):
            continue
        r = rsd.get(s.id, {})
        passes = _num(r.get("passes"))
        c, cp = _rate(r.get("hours")), _rate(rsd_p.get(s.id, {}).get("hours"))
        rsd_rows.append(
            (
                s.id,
                s.name,
                L.level_zh(s.jurisdiction),
                passes,
                _num(r.get("valid")) / passes if passes else None,
                _num(r.get("captured")) / passes if passes else None,
                c,
                cp,
                c - cp,
                _num(r.get("downtime_s")) / 3600,
                _num(r.get("calibration_failed")),
            )
        )
    cam, cam_p = _by(d.cameras, "camera_id"), _by(prev.cameras, "camera_id")
    cam_rows = []
    for c_ in sorted(registry.cameras, key=lambda c: c.id):
        if not _in_level(c_.jurisdiction, level):
            continue
        r = cam.get(c_.id, {})
        c, cp = _rate(r.get("hours")), _rate(cam_p.get(c_.id, {}).get("hours"))
        cam_rows.append(
            (
                c_.id,
                L.level_zh(c_.jurisdiction),
                _num(r.get("captures")),
                c,
                cp,
                c - cp,
                _num(r.get("uncalibrated")),
                _num(r.get("unknown_plate")),
            )
        )
    sd, sd_p = _by(d.station_data, "station_id"), _by(prev.station_data, "station_id")
    st_rows = []
    for stn in sorted(registry.stations, key=lambda x: x.id):
        if not _in_level(stn.jurisdiction, level):
            continue
        r = sd.get(stn.id, {})
        c, cp = _rate(r.get("hours")), _rate(sd_p.get(stn.id, {}).get("hours"))
        st_rows.append(
            (
                stn.id,
                stn.name,
                L.level_zh(stn.jurisdiction),
                _num(r.get("packets")),
                _num(r.get("with_problems")),
                c,
                cp,
                c - cp,
                _num(r.get("device_alarms")),
            )
        )
    return Section(
        "六、数据完整性与设备状况",
        tables=(
            Table(
                "遥感设备",
                "遥感监测点位",
                (
                    "点位",
                    "名称",
                    "辖区",
                    "过车数",
                    "有效率",
                    "抓拍率",
                    "数据完整率",
                    "上周完整率",
                    "变化",
                    "停机时长（小时）",
                    "校准未通过（次）",
                ),
                ("text", "text", "text", "int", "pct", "pct", "pct", "pct", "pts", "num1", "int"),
                tuple(rsd_rows),
            ),
            Table(
                "黑烟抓拍设备",
                "黑烟抓拍摄像头",
                (
                    "摄像头",
                    "辖区",
                    "抓拍数",
                    "数据完整率",
                    "上周完整率",
                    "变化",
                    "校准失效时抓拍",
                    "号牌未识别",
                ),
                ("text", "text", "int", "pct", "pct", "pts", "int", "int"),
                tuple(cam_rows),
            ),
            Table(
                "加油站数据",
                "加油站在线监控数据",
                (
                    "加油站编号",
                    "名称",
                    "辖区",
                    "数据包",
                    "有问题数据包",
                    "数据完整率",
                    "上周完整率",
                    "变化",
                    "设备报警（次）",
                ),
                ("text", "text", "text", "int", "int", "pct", "pct", "pts", "int"),
                tuple(st_rows),
            ),
        ),
        notes=("数据完整率：本周有数据的小时数 ÷ 168 小时（登记表中的设备，无数据计 0）。",),
    )


def _daily_obd(d: WeekData, registry: Registry, level: str) -> list[float | None]:
    fleet = {v.vin for v in registry.obd_vehicles if _in_level(v.jurisdiction, level)}
    counts: dict[date, int] = defaultdict(int)
    if _ok(d.obd):
        for vin, days in d.obd[["vin", "days"]].itertuples(index=False):
            if vin in fleet:
                for day in days:
                    counts[pd.Timestamp(day).date()] += 1
    return [counts[day] / len(fleet) if fleet else None for day in d.week.days()]


def _trends(
    d: WeekData, prev: WeekData, trend: pd.DataFrame, registry: Registry, level: str
) -> Section:
    days = d.week.days()
    x = tuple(f"{day.month}/{day.day} {'一二三四五六日'[day.weekday()]}" for day in days)
    per: dict[tuple[str, date], int] = defaultdict(int)
    prev_total: dict[int, int] = defaultdict(int)
    if _ok(d.daily):
        for day, jur, src, n in d.daily[["day", "jurisdiction", "source", "n"]].itertuples(
            index=False
        ):
            if _in_level(jur, level):
                per[(src, pd.Timestamp(day).date())] += int(n)
    if _ok(prev.daily):
        for day, jur, _src, n in prev.daily[["day", "jurisdiction", "source", "n"]].itertuples(
            index=False
        ):
            if _in_level(jur, level):
                prev_total[pd.Timestamp(day).date().weekday()] += int(n)
    series = [
        (zh, tuple(float(per[(src, day)]) for day in days)) for src, zh in L.SOURCE_ZH.items()
    ]
    series.append(("上周合计", tuple(float(prev_total[i]) for i in range(7))))
    weeks = [d.week.previous(i) for i in range(7, -1, -1)]
    wk: dict[tuple[str, date], int] = defaultdict(int)
    if _ok(trend):
        for monday, jur, n in trend[["monday", "jurisdiction", "n"]].itertuples(index=False):
            wk[(jur, pd.Timestamp(monday).date())] += int(n)
    lvls = list(JURISDICTIONS) if level == ZONE else [level]
    wseries = tuple((L.level_zh(j), tuple(float(wk[(j, w.monday)]) for w in weeks)) for j in lvls)
    obd_this = _daily_obd(d, registry, level)
    obd_prev = _daily_obd(prev, registry, level)
    pct = lambda xs: tuple(None if v is None else round(100 * v, 1) for v in xs)  # noqa: E731
    return Section(
        "七、趋势",
        figures=(
            Figure(
                "daily",
                "每日超标事件（按来源，本周与上周）",
                "line",
                x,
                tuple(series),
                "条",
                dashed=("上周合计",),
            ),
            Figure(
                "weekly",
                "近8周超标事件（按辖区）",
                "bar",
                tuple(f"第{w.week}周" for w in weeks),
                wseries,
                "条",
            ),
            Figure(
                "obd",
                "远程OBD每日在线率",
                "line",
                x,
                (("本周", pct(obd_this)), ("上周", pct(obd_prev))),
                "%",
                dashed=("上周",),
            ),
        ),
    )


def build(
    week: IsoWeek,
    level: str,
    this: WeekData,
    prev: WeekData,
    trend: pd.DataFrame,
    cases: CaseData,
    registry: Registry,
    generated_at: datetime,
    links: Mapping[str, str] | None = None,
) -> WeeklyReport:
    """The report of ``week`` at ``level`` from the query results of the week and the week before.
    ``links``: VIN → plate links supplied by sources, added to the registry's."""
    vin_to_plate = {**(links or {}), **{v.vin: v.plate for v in registry.obd_vehicles if v.plate}}
    levels = _levels(level)
    m = {lv: _metrics(this, lv, registry, vin_to_plate) for lv in levels}
    p = {lv: _metrics(prev, lv, registry, vin_to_plate) for lv in levels}
    has_data = this.has_rows()
    sections = [
        _summary(levels, m, p),
        _by_source_severity(levels, m, p, level),
        _vehicles_section(this, level, vin_to_plate),
        _cases_section(cases),
        _stations_section(this, registry, level),
        _devices_section(this, prev, registry, level),
        _trends(this, prev, trend, registry, level),
    ]
    if not has_data:
        sections.insert(
            0,
            Section(
                "本周无数据",
                notes=(
                    f"{week.label_zh()}，{L.level_zh(level)}在数据仓库中没有任何读数或超标记录："
                    "以下各表为零或空，设备数据完整率为 0。请核实设备接入与数据传输。",
                ),
            ),
        )
    return WeeklyReport(
        week=week,
        level=level,
        generated_at=generated_at.astimezone(BEIJING),
        has_data=has_data,
        levels=levels,
        metrics=m,
        previous=p,
        sections=tuple(sections),
    )


# --- the adapter: run the named queries ------------------------------------------------------------


def fetch_week(client: Any, week: IsoWeek, level: str, scope: Any) -> WeekData:
    from streams.warehouse.queries import report as q

    return WeekData(
        week=week,
        counts=q.exceedance_counts(client, scope, week, level),
        daily=q.exceedance_daily(client, scope, week, level),
        vehicles=q.vehicle_flags(client, scope, week, level),
        stations=q.station_warnings(client, scope, week, level),
        obd=q.obd_vehicle_days(client, scope, week, level),
        rsd=q.rsd_site_health(client, scope, week, level),
        cameras=q.camera_health(client, scope, week, level),
        station_data=q.station_data_health(client, scope, week, level),
    )


def _case_counts(df: pd.DataFrame, level: str) -> dict[str, int]:
    out = {"opened": 0, "confirmed": 0, "dismissed": 0, "closed": 0}
    if _ok(df):
        for r in df.to_dict("records"):
            if _in_level(r["jurisdiction"], level):
                for k in out:
                    out[k] += int(r[k])
    return out


def _median_hours(df: pd.DataFrame, level: str) -> tuple[int, int, float | None]:
    """(cases opened, cases with a first action, median hours to it) at ``level``."""
    if not _ok(df):
        return 0, 0, None
    rows = [r for r in df.to_dict("records") if _in_level(r["jurisdiction"], level)]
    hours = sorted(
        (pd.Timestamp(r["first_action_at"]) - pd.Timestamp(r["opened_at"])).total_seconds() / 3600
        for r in rows
        if r["first_action_at"] is not None and not pd.isna(r["first_action_at"])
    )
    if not hours:
        return len(rows), 0, None
    mid = len(hours) // 2
    med = hours[mid] if len(hours) % 2 else (hours[mid - 1] + hours[mid]) / 2
    return len(rows), len(hours), med


CASE_LABELS = {"opened": "新立案", "confirmed": "确认", "dismissed": "驳回", "closed": "结案"}


def case_tables(
    levels: Sequence[str],
    this: pd.DataFrame,
    prev: pd.DataFrame,
    first: pd.DataFrame,
    first_prev: pd.DataFrame,
) -> tuple[Table, ...]:
    """The case section's tables from the case queries of the week and the week before (pure)."""
    rows: list[tuple[Cell, ...]] = []
    speed: list[tuple[Cell, ...]] = []
    for lv in levels:
        a, b = _case_counts(this, lv), _case_counts(prev, lv)
        for k, zh in CASE_LABELS.items():
            rows.append((L.level_zh(lv), zh, *_cmp(a[k], b[k])))
        n, acted, med = _median_hours(first, lv)
        _, _, med_p = _median_hours(first_prev, lv)
        speed.append((L.level_zh(lv), n, acted, n - acted, med, med_p, _delta(med, med_p)))
    return (
        Table(
            "案件",
            "案件数量（本周发生的状态变化）",
            ("辖区", "事项", *_CMP),
            ("text", "text", *_CMP_FMT),
            tuple(rows),
        ),
        Table(
            "首次处置用时",
            "本周新立案件的首次处置用时",
            (
                "辖区",
                "新立案件",
                "已处置",
                "待处置",
                "中位用时（小时）",
                "上周中位用时（小时）",
                "变化（小时）",
            ),
            ("text", "int", "int", "int", "num1", "num1", "num1"),
            tuple(speed),
            note="首次处置：立案后执法人员的第一条处置记录（审核、确认、驳回、现场检查等）。",
        ),
    )


def fetch_cases(client: Any, week: IsoWeek, level: str, scope: Any) -> CaseData:
    from streams.warehouse.queries import report as q

    if not q.case_tables_present(client, scope):
        return CaseData(
            available=False,
            reason="数据仓库中尚无执法案件表（case_state / case_entry / case_finding，案件模块尚未上线），"
            "本节不作统计，以免给出不实数字。",
        )
    prev = week.previous()
    return CaseData(
        available=True,
        tables=case_tables(
            _levels(level),
            q.case_transitions(client, scope, week, level),
            q.case_transitions(client, scope, prev, level),
            q.case_first_actions(client, scope, week, level),
            q.case_first_actions(client, scope, prev, level),
        ),
    )


def fetch_links(client: Any, scope: Any, this: WeekData, prev: WeekData) -> dict[str, str]:
    """Plate ↔ VIN links supplied by sources, for the VINs flagged in the two weeks."""
    from streams.warehouse.queries import report as q

    if "vehicle_link" not in q.tables_present(client, scope, ("vehicle_link",)):
        return {}
    vins = {
        s
        for d in (this, prev)
        if _ok(d.vehicles)
        for s in d.vehicles["subject_id"]
        if len(str(s)) == 17
    }
    if not vins:
        return {}
    df = q.vehicle_links(client, scope, vins)
    return dict(zip(df["vin"], df["plate"], strict=True)) if _ok(df) else {}


def collect(
    client: Any,
    week: IsoWeek,
    level: str,
    scope: Any,
    registry: Registry,
    now: datetime,
    progress: Progress | None = None,
) -> WeeklyReport:
    """Run the queries of ``week`` and the week before and build the report."""
    step = progress or (lambda _f, _m: None)
    step(0.05, "查询本周数据")
    this = fetch_week(client, week, level, scope)
    step(0.35, "查询上周数据")
    prev = fetch_week(client, week.previous(), level, scope)
    step(0.6, "查询趋势与案件")
    from streams.warehouse.queries import report as q

    trend = q.exceedance_weekly_trend(client, scope, week, level)
    cases = fetch_cases(client, week, level, scope)
    links = fetch_links(client, scope, this, prev)
    step(0.7, "生成报告")
    return build(week, level, this, prev, trend, cases, registry, now, links)
