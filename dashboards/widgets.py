"""Layout helpers shared by pages (no data access, no rules): the page frame (language toggle,
vehicle search, title), tables with people's labels, Beijing-time charts and names.

Every table goes through :func:`table` with a list of :class:`Col`: a label from the catalogue
(never a raw column name), times converted to Beijing time and labelled, numbers rounded with
their unit, rates as percentages, jurisdictions and rule ids by the names officers use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core.jurisdictions import JURISDICTIONS, ZONE
from dashboards.i18n import LANGUAGES, N_, _, current, is_english, set_language

BEIJING_TZ = "Asia/Shanghai"
WINDOWS = {
    N_("1 hour"): 1,
    N_("6 hours"): 6,
    N_("24 hours"): 24,
    N_("7 days"): 168,
    N_("30 days"): 720,
}
VEHICLE_PAGE = "views/vehicle_profile.py"


# ---------------------------------------------------------------- names


def jurisdiction_name(code: str | None) -> str:
    """青浦区 / 吴江区 / 嘉善县 / 示范区联合执法 (English names when English is chosen)."""
    if code is None or (isinstance(code, float) and pd.isna(code)) or code == "":
        return "–"
    if code == ZONE:
        return _("Zone joint enforcement team")
    j = JURISDICTIONS.get(str(code))
    if j is None:
        return _("unknown") if code == "unknown" else str(code)
    return j.name_en if is_english() else j.name_zh


def rule_name(rule_id: str) -> str:
    """The rule's name as officers write it, with its id (e.g. ``超标排放复查（RS-REPEAT）``)."""
    from core.ruleset import default_ruleset

    rs = default_ruleset()
    if rule_id not in rs:
        return str(rule_id)
    title = rs.rule(rule_id).spec.title
    return f"{_(title)}（{rule_id}）" if not is_english() else f"{title} ({rule_id})"


def subject_name(subject: Any) -> str:
    """A subject id as officers read it: ``沪A12345|yellow`` → ``沪A12345（黄牌）``."""
    text = str(subject)
    number, sep, colour = text.partition("|")
    if not sep:
        return text
    return f"{number} ({_(colour)})" if is_english() else f"{number}（{_(colour)}）"


SENSOR_KINDS = {
    "ambient": N_("{station} ambient sensor"),
    "groundwater": N_("{station} groundwater well"),
}


def _registry_names() -> dict[str, tuple[str, ...]]:
    """Registry id -> (kind, name as officers write it, English name[, more]) of sites, cameras,
    fleets, stations, depots and sensors, from the registry the platform runs with (a seeded
    fleet's name included)."""
    from dashboards.data import registry_key

    return _names_of(registry_key())


@functools.lru_cache(maxsize=4)
def _names_of(directory: str) -> dict[str, tuple[str, ...]]:
    from core.registry import Depot, Station
    from dashboards.data import _registry

    reg = _registry(directory)
    out: dict[str, tuple[str, ...]] = {}
    for site in reg.rsd_sites:
        out[site.id] = ("named", site.name_zh or site.name, site.name)
    for f in reg.fleets:
        out[f.id] = ("named", f.name_zh, f.id)
    units: tuple[Station | Depot, ...] = (*reg.stations, *reg.depots)
    for unit in units:
        out[unit.id] = ("named", unit.name, unit.name)
    for cam in reg.cameras:
        out[cam.id] = ("camera", cam.site, str(cam.lane))
    for sn in reg.sensors:
        out[sn.id] = ("sensor", sn.station, sn.kind)
    return out


def registry_name(code: Any) -> str:
    """A site, camera, fleet, station, depot or sensor id by the name officers use (the English
    name when English is chosen); an id the registry does not hold stays as it is."""
    if _isna(code) or code == "":
        return "–"
    entry = _registry_names().get(str(code))
    if entry is None:
        return str(code)
    if entry[0] == "camera":
        return _("{site}, lane {lane} camera").format(site=registry_name(entry[1]), lane=entry[2])
    if entry[0] == "sensor":
        label = SENSOR_KINDS.get(entry[2])
        return _(label).format(station=registry_name(entry[1])) if label else str(code)
    return entry[2] if is_english() else entry[1]


def beijing_suffix() -> str:
    return _(" (Beijing time)")


def to_beijing(values: Any) -> Any:
    """UTC (aware or naive-as-UTC) times as naive Beijing wall-clock times (for display)."""
    s = pd.to_datetime(values, utc=True)
    if isinstance(s, pd.Series):
        return s.dt.tz_convert(BEIJING_TZ).dt.tz_localize(None)
    if isinstance(s, pd.DatetimeIndex):
        return s.tz_convert(BEIJING_TZ).tz_localize(None)
    return s.tz_convert(BEIJING_TZ).tz_localize(None)


def fmt_time(value: Any) -> str:
    """One instant as ``YYYY-MM-DD HH:MM`` Beijing time (the label says so where it is shown)."""
    if value is None or (not isinstance(value, datetime) and pd.isna(value)):
        return "–"
    return f"{to_beijing(value):%Y-%m-%d %H:%M}"


SYMBOL_UNITS = {"mg/m3": "mg/m³", "ug/m3": "µg/m³", "ug/L": "µg/L", "g/m3": "g/m³"}
WORD_UNITS = {  # units the rules write as words or as "1": through the catalogue
    "days": N_("days"),
    "h": N_("hours"),
    "s": N_("seconds"),
    "fuellings": N_("fuellings"),
    "fraction": N_("ratio"),
    "1": N_("ratio"),
    "grade": N_("Ringelmann grade"),
    "DTCs": N_("fault codes"),
    "packets/day": N_("packets per day"),
}


def unit_name(unit: Any) -> str:
    """A unit as people write it: mg/m³ and µg/L with their signs, words in the user's language
    (days → 天), a dimensionless "1" as a ratio."""
    word = WORD_UNITS.get(str(unit))
    return _(word) if word else SYMBOL_UNITS.get(str(unit), str(unit))


def count(n: Any) -> str:
    """A count as people read it, with thousands separators (3,166); ``–`` when missing."""
    return "–" if _isna(n) else f"{int(n):,}"


def fmt_num(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None or pd.isna(value):
        return "–"
    text = f"{float(value):,.{digits}f}"
    return f"{text} {unit}".strip()


def fmt_rate(value: Any, digits: int = 0) -> str:
    if value is None or pd.isna(value):
        return "–"
    return f"{float(value) * 100:.{digits}f}%"


def evidence_file(uri: Any, name: str) -> Path | None:
    """An evidence file on this machine: ``uri`` as stored, or under the data directory."""
    if not uri or not isinstance(uri, str):
        return None
    for base in (Path(uri), data_dir() / uri):
        path = base / name
        if path.is_file():
            return path
    return None


def evidence_media(uri: Any, shots: Sequence[tuple[str, str]], clip_seconds: Any) -> None:
    """A capture's evidence pictures side by side (``shots``: file name and untranslated caption;
    a file missing on this machine leaves its column empty), then its clip, playable in an
    expander, when the bundle holds one."""
    for where, (name, caption) in zip(st.columns(len(shots)), shots, strict=True):
        path = evidence_file(uri, name)
        if path is not None:
            where.image(str(path), caption=_(caption), width="stretch")
    clip = evidence_file(uri, "clip.mp4") or evidence_file(uri, "clip.avi")
    if clip is not None:
        with st.expander(_("Clip ({s} s)").format(s=f"{float(clip_seconds):.1f}")):
            st.video(str(clip))


def evidence_folder(uri: Any) -> Path | None:
    """The folder of a capture's evidence bundle on this machine (it holds ``manifest.json``)."""
    found = evidence_file(uri, "manifest.json")
    return found.parent if found is not None else None


def evidence_manifest(folder: Path | None) -> dict[str, Any]:
    """A bundle's ``manifest.json`` as a dict ({} when it is missing or unreadable)."""
    import json

    if folder is None:
        return {}
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def boxed_image(path: Path, boxes: Sequence[tuple[Sequence[float], str]], width: int = 3) -> Any:
    """The picture at ``path`` with rectangles drawn on it: ``boxes`` are ((x1, y1, x2, y2), colour)
    in the picture's pixels (a box partly outside is clipped, so a wrong entry still shows)."""
    from PIL import Image, ImageDraw

    with Image.open(path) as src:
        img = src.convert("RGB")
    draw = ImageDraw.Draw(img)
    w, h = img.size
    for box, colour in boxes:
        x1, y1, x2, y2 = (float(v) for v in box)
        x1, x2 = sorted((max(0.0, min(w - 1.0, x1)), max(0.0, min(w - 1.0, x2))))
        y1, y2 = sorted((max(0.0, min(h - 1.0, y1)), max(0.0, min(h - 1.0, y2))))
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=width)
    return img


def boxed_jpeg(path: Path, boxes: Sequence[tuple[Sequence[float], str]]) -> bytes:
    """:func:`boxed_image` as JPEG bytes, kept per file version and boxes (a reviewer's page
    reruns on every click; the picture is decoded, drawn and encoded once, not on every run)."""
    stamp = path.stat().st_mtime_ns
    key = tuple((tuple(float(v) for v in box), str(colour)) for box, colour in boxes)
    return _boxed_jpeg(str(path), stamp, key)


@st.cache_data(max_entries=64, show_spinner=False)
def _boxed_jpeg(path: str, stamp: int, boxes: tuple[tuple[tuple[float, ...], str], ...]) -> bytes:
    """``stamp`` (the file's mtime) is part of the cache key: a replaced picture is drawn again."""
    import io

    out = io.BytesIO()
    boxed_image(Path(path), boxes).save(out, format="JPEG", quality=90)
    return out.getvalue()


@functools.cache
def data_dir() -> Path:
    from streams.settings import load_settings

    try:
        return Path(load_settings().data_dir)
    except Exception:  # settings that do not load are reported by the runner, not here
        return Path("var")


# ---------------------------------------------------------------- page frame


def page_setup(title: str, caption: str | None = None) -> None:
    """Every page starts here: language toggle, vehicle search (sidebar), translated title."""
    language_toggle()
    vehicle_search()
    st.title(_(title))
    if caption:
        st.caption(_(caption))


def language_toggle() -> None:
    langs = list(LANGUAGES)
    lang = current()

    def _changed() -> None:
        set_language(st.session_state["_lang_widget"])

    st.sidebar.radio(
        "语言 / Language",
        langs,
        index=langs.index(lang),
        format_func=lambda code: LANGUAGES[code],
        horizontal=True,
        key="_lang_widget",
        on_change=_changed,
    )


def vehicle_search() -> None:
    """Plate or VIN search on every page; a valid query opens the vehicle profile."""
    from dashboards.data import registry
    from dashboards.search import SearchError, resolve

    with st.sidebar.form("vehicle_search", clear_on_submit=False, border=False):
        text = st.text_input(
            _("Search plate or VIN"),
            placeholder=_("e.g. 沪A12345 or a 17-character VIN"),
            key="_search_text",
        )
        go = st.form_submit_button(_("Find vehicle"), width="stretch")
    if not go:
        return
    try:
        found = resolve(text, registry())  # the platform's registry (a seeded fleet too)
    except SearchError as exc:
        st.sidebar.error(_(exc.message).format(text=exc.text))
        return
    st.session_state["vehicle"] = found.as_state()
    try:
        st.switch_page(VEHICLE_PAGE)
    except Exception:  # a page run on its own (AppTest of one file): say where it went
        st.sidebar.success(_("Vehicle {label}: open the vehicle page.").format(label=found.label))


def window_picker(key: str, default: str = "24 hours") -> int:
    """A time-window selector in the sidebar; returns hours."""
    label = st.sidebar.selectbox(
        _("Time window"),
        list(WINDOWS),
        index=list(WINDOWS).index(default),
        key=key,
        format_func=_,
    )
    return WINDOWS[label]


def jurisdiction_picker(key: str, allow_all: bool = True) -> str | None:
    """One jurisdiction (or all) in the sidebar; returns the code or None for all."""
    choices = (["all"] if allow_all else []) + list(JURISDICTIONS)
    pick = st.sidebar.selectbox(
        _("Jurisdiction"),
        choices,
        key=key,
        format_func=lambda c: _("All jurisdictions") if c == "all" else jurisdiction_name(c),
    )
    return None if pick == "all" else pick


def no_data(message: str) -> None:
    st.info(_(message), icon="ℹ️")


def now_utc() -> datetime:
    return datetime.now(UTC)


def query_until(ahead_minutes: int = 1) -> datetime:
    """The end of a "until now" window for a cached query: now rounded down to the whole minute,
    plus ``ahead_minutes`` (so nothing of the current minute is left out). The same value for a
    minute, so a reload, a widget click and another user of the same scope hit the query cache
    (``dashboards.data.run_query``, 10 s) instead of querying again with a new key each run."""
    return now_utc().replace(second=0, microsecond=0) + timedelta(minutes=ahead_minutes)


# ---------------------------------------------------------------- tables


@dataclass(frozen=True, slots=True)
class Col:
    """One shown column: source column, label (catalogue message id), kind, unit, decimals.

    kinds: ``text``, ``value`` (a code translated through the catalogue, e.g. warning → 预警),
    ``time`` (UTC → Beijing, label suffixed), ``day`` (a Beijing calendar day), ``int``, ``num``,
    ``rate`` (0..1 shown as %), ``unit`` (a unit as people write it), ``jur`` (jurisdiction name), ``rule`` (rule name + id), ``subject``
    (plate|colour keys as 沪A12345（黄牌）), ``name`` (a site, camera, fleet, station, depot or
    sensor id by its name), ``source``
    (data source name), ``event`` (event kind name), ``bool``
    (是/否), ``list`` (joined with 、).
    """

    name: str
    label: str
    kind: str = "text"
    unit: str = ""
    digits: int = 1


def _header(col: Col) -> str:
    head = _(col.label)
    if col.kind == "time":
        return head + beijing_suffix()
    if col.kind == "rate":
        return f"{head} (%)" if is_english() else f"{head}（%）"
    if col.unit:
        return f"{head} ({col.unit})" if is_english() else f"{head}（{col.unit}）"
    return head


def _isna(v: Any) -> bool:
    """A missing scalar (None, NaN, NA, NaT); arrays and strings are not missing."""
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _bool(v: Any) -> str:
    if _isna(v):
        return "–"
    return _("yes") if bool(v) else _("no")


def _list(v: Any) -> str:
    if v is None or isinstance(v, float):
        return ""
    return ("、" if not is_english() else ", ").join(_(str(x)) for x in v)


def each(s: pd.Series, fn: Callable[[Any], Any]) -> pd.Series:
    """``s.map(fn)`` calling ``fn`` once per distinct value: names and labels repeat over many
    rows, and each call reads the session's language. Lists and arrays count by their items."""
    seen: dict[Any, Any] = {}
    out = []
    for v in s.tolist():
        try:
            key = tuple(v) if isinstance(v, list | tuple) or hasattr(v, "__array__") else v
            r = seen[key]
        except KeyError:
            r = seen[key] = fn(v)
        except TypeError:  # unhashable all the same
            r = fn(v)
        out.append(r)
    return pd.Series(out, index=s.index, dtype=object)


def shape(df: pd.DataFrame, cols: Sequence[Col]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The frame as people read it (labels, Beijing time, names) and its column configuration."""
    out: dict[str, Any] = {}
    config: dict[str, Any] = {}
    for c in cols:
        if c.name not in df.columns:
            continue
        head = _header(c)
        s = df[c.name]
        if c.kind == "time":
            out[head] = to_beijing(s)
            config[head] = st.column_config.DatetimeColumn(head, format="YYYY-MM-DD HH:mm:ss")
        elif c.kind == "day":
            out[head] = pd.to_datetime(s).dt.strftime("%Y-%m-%d").fillna("–")
        elif c.kind in ("int", "num", "rate"):
            v = pd.to_numeric(s, errors="coerce")
            digits = 0 if c.kind == "int" else c.digits
            if c.kind == "rate":
                v = v * 100
            v = v.round(digits)
            # counts with the reader's thousands separator (101,284), as the metrics show them
            fmt = (
                "localized"
                if c.kind == "int"
                else f"%.{digits}f" + ("%%" if c.kind == "rate" else "")
            )
            if v.isna().any():  # a gap reads "–", not "None"
                suffix = "%" if c.kind == "rate" else ""
                out[head] = v.map(
                    lambda x, d=digits, sx=suffix: "–" if pd.isna(x) else f"{x:,.{d}f}{sx}"
                )
            else:
                out[head] = v.astype("Int64") if c.kind == "int" else v
                config[head] = st.column_config.NumberColumn(head, format=fmt)
        elif c.kind == "unit":
            out[head] = each(s, unit_name)
        elif c.kind == "jur":
            out[head] = each(s, jurisdiction_name)
        elif c.kind == "name":
            out[head] = each(s, registry_name)
        elif c.kind == "rule":
            out[head] = each(s, rule_name)
        elif c.kind == "subject":
            out[head] = each(s, subject_name)
        elif c.kind == "source":
            out[head] = each(s, source_name)
        elif c.kind == "event":
            out[head] = each(s, kind_name)
        elif c.kind == "value":  # "" would translate to the catalogue's header
            out[head] = each(s, lambda v: "–" if _isna(v) or str(v) == "" else _(str(v)))
        elif c.kind == "bool":
            out[head] = each(s, _bool)
        elif c.kind == "list":
            out[head] = each(s, _list)
        else:
            out[head] = s
    return pd.DataFrame(out, index=df.index), config


def table(df: pd.DataFrame, cols: Sequence[Col], where: Any = None, **kwargs: Any) -> Any:
    """Show ``df`` through ``cols`` (see :class:`Col`); returns what ``st.dataframe`` returns."""
    frame, config = shape(df, cols)
    target = where if where is not None else st
    kwargs.setdefault("hide_index", True)
    kwargs.setdefault("width", "stretch")
    return target.dataframe(frame, column_config=config, **kwargs)


# ---------------------------------------------------------------- charts


def time_chart(
    df: pd.DataFrame,
    x: str,
    series: dict[str, str],
    y_title: str,
    *,
    unit: str = "",
    kind: str = "line",
    color: str | None = None,
    color_names: Callable[[Any], str] | None = None,
    height: int = 260,
    where: Any = None,
) -> None:
    """A Beijing-time chart with a 24-hour axis (``%m-%d %H:%M``) and a labelled y axis.

    ``series`` maps source columns to labels (several lines), or ``color`` names a column whose
    values split the data (``color_names`` turns them into names).
    """
    import altair as alt  # only pages that draw a chart pay for importing it

    data = df.copy()
    data["_t"] = to_beijing(data[x])
    if color is not None:
        (col, label), *_rest = series.items()
        long = data[["_t", col, color]].rename(columns={col: "_v", color: "_s"})
        long["_s"] = long["_s"].map(color_names or str)
        legend = _(label)
    else:
        long = data.melt(id_vars=["_t"], value_vars=list(series), var_name="_s", value_name="_v")
        long["_s"] = long["_s"].map(lambda c: _(series[c]))
        legend = ""
    y_label = _(y_title) + (
        f" ({unit})" if unit and is_english() else f"（{unit}）" if unit else ""
    )
    base = alt.Chart(long)
    mark = base.mark_bar() if kind == "bar" else base.mark_line(point=len(long) < 60)
    chart = mark.encode(
        x=alt.X("_t:T", title=_("Time") + beijing_suffix(), axis=alt.Axis(format="%m-%d %H:%M")),
        y=alt.Y("_v:Q", title=y_label, stack=kind == "bar" or None),
        color=alt.Color("_s:N", title=legend),
        tooltip=[
            alt.Tooltip("_t:T", title=_("Time") + beijing_suffix(), format="%Y-%m-%d %H:%M"),
            alt.Tooltip("_s:N", title=legend or _("Series")),
            alt.Tooltip("_v:Q", title=y_label, format=",.2f"),
        ],
    ).properties(height=height)
    (where if where is not None else st).altair_chart(chart, width="stretch")


def one_per_slot(df: pd.DataFrame, ts: str, by: Sequence[str], minutes: int) -> pd.DataFrame:
    """The first row of each ``by`` group per ``minutes`` slot of ``ts``, with ``n`` the rows it
    stands for: for a chart whose slot is about a pixel wide the picture is the same with a
    fraction of the points to send and draw (a table beside it lists every row)."""
    slot = pd.to_datetime(df[ts], utc=True).dt.floor(f"{int(minutes)}min")
    keys = pd.DataFrame({**{c: df[c] for c in by}, "_slot": slot})
    n = keys.groupby([*by, "_slot"], sort=False)["_slot"].transform("size")
    keep = ~keys.duplicated()
    return df[keep].assign(n=n[keep].astype(int))


def day_chart(
    df: pd.DataFrame,
    x: str,
    y: str,
    color: str,
    y_title: str,
    *,
    percent: bool = False,
    color_title: str = "",
    where: Any = None,
) -> None:
    """A per-day line chart (Beijing calendar days on the x axis)."""
    import altair as alt

    data = df[[x, y, color]].copy()
    data[x] = pd.to_datetime(data[x]).dt.strftime("%m-%d")
    if percent:
        data[y] = data[y] * 100
    y_label = _(y_title) + ("（%）" if percent and not is_english() else " (%)" if percent else "")
    chart = (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{x}:O", title=_("Day (Beijing)"), axis=alt.Axis(labelAngle=0)),
            y=alt.Y(f"{y}:Q", title=y_label),
            color=alt.Color(f"{color}:N", title=_(color_title) if color_title else ""),
            tooltip=[
                alt.Tooltip(f"{x}:O", title=_("Day (Beijing)")),
                alt.Tooltip(f"{color}:N", title=_(color_title) if color_title else ""),
                alt.Tooltip(f"{y}:Q", title=y_label, format=".2f"),
            ],
        )
        .properties(height=260)
    )
    (where if where is not None else st).altair_chart(chart, width="stretch")


def metric(where: Any, label: str, value: str, help: str | None = None) -> None:
    where.metric(_(label), value, help=_(help) if help else None)


def options(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


SOURCE_NAMES = {
    "remote_sensing": N_("Roadside remote sensing"),
    "smoke_capture": N_("Black-smoke capture"),
    "obd_gateway": N_("Remote OBD"),
    "fuel_vapor": N_("Vapour recovery"),
    "enforcement": N_("Enforcement"),
}
KIND_NAMES = {
    "exceedance": N_("Exceedance records"),
    "rsd.pass": N_("RSD passes"),
    "rsd.calibration": N_("RSD calibrations"),
    "rsd.downtime": N_("RSD downtime"),
    "smoke.capture": N_("Smoke captures"),
    "smoke.review": N_("Smoke reviews"),
    "obd.frame": N_("OBD frames"),
    "obd.sample": N_("OBD data stream"),
    "obd.info": N_("OBD information"),
    "obd.status": N_("OBD logins and status"),
    "obd.quarantine": N_("OBD quarantine"),
    "vapor.packet": N_("HJ 212 packets"),
    "vapor.fuelling": N_("Fuellings"),
    "vapor.station_reading": N_("Station readings"),
    "vapor.device_alarm": N_("Device alarms"),
    "vapor.sensor_reading": N_("Ambient / groundwater readings"),
    "vapor.depot_reading": N_("Depot readings"),
    "vapor.nozzle_day": N_("Nozzle days"),
    "vapor.station_state": N_("Station daily states"),
    "case.finding": N_("Case findings"),
    "case.command": N_("Case action requests"),
    "case.entry": N_("Case log entries"),
    "case.state": N_("Case states"),
    "vehicle.link": N_("Plate–VIN links"),
}


def source_name(code: Any) -> str:
    return _(SOURCE_NAMES[code]) if code in SOURCE_NAMES else str(code)


def kind_name(kind: Any) -> str:
    return _(KIND_NAMES[kind]) if kind in KIND_NAMES else str(kind)


def current_user() -> str:
    """The logged-in user's name (the default officer / reviewer on forms), "" without a login."""
    try:
        from dashboards.auth import current_scope

        scope = current_scope()
    except Exception:  # no login layer configured (tools, plain tests)
        return ""
    return scope.user if scope is not None else ""
