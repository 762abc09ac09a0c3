"""Gas-station vapour recovery.

Station profile for operators and officers: today's compliance per nozzle, warnings and alarms
with what to check, the station's cases, then in tabs (only the open one is queried and drawn)
the A/L history, the CARB ISD comparison (computed per nozzle-day by the vapour processor, shown
as a view: information only), tank pressure states and printable daily and monthly compliance
sheets.

Scope: the station picker lists what ``vapor.station_ids`` returns for the logged-in caller, and
every query gets the caller's scope from ``dashboards.data`` (a station operator sees its own
stations only, whatever the page asks for). Layout only: data comes from
``streams.warehouse.queries.vapor`` through ``dashboards.data``.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from core.ruleset import default_ruleset
from core.timeutil import BEIJING
from dashboards.alarms import vapour_alarms
from dashboards.case_panel import unit_cases
from dashboards.data import has_rows, run_query
from dashboards.data import registry as platform_registry
from dashboards.i18n import _
from dashboards.widgets import (
    Col,
    count,
    day_chart,
    metric,
    no_data,
    now_utc,
    page_setup,
    shape,
    table,
)

page_setup("Gas-station vapour recovery")

registry = platform_registry()
mine = run_query("vapor.station_ids")
allowed = tuple(mine["station_id"]) if has_rows(mine) else ()
if not allowed:
    no_data("No stations are assigned to this account.")
    st.stop()
names = {s.id: f"{s.id} {s.name}" for s in registry.stations}
# opened from the triage queue, or a link (?station=…): a choice among the allowed ones only
wanted = st.session_state.get("station") or st.query_params.get("station")
station = st.sidebar.selectbox(
    _("Station"),
    allowed,
    index=allowed.index(wanted) if wanted in allowed else 0,
    format_func=lambda s: names.get(s, s),
)
days_back = st.sidebar.selectbox(
    _("History"), [7, 14, 30, 90], index=1, format_func=lambda d: _("{n} days").format(n=d)
)
scope = (station,)
sensors = tuple(s.id for s in registry.sensors if s.station == station)
fuels = {n.number: n.fuel for s in registry.stations if s.id == station for n in s.nozzles}

now_bj = now_utc().astimezone(BEIJING)
today = now_bj.date()
day0 = datetime(today.year, today.month, today.day, tzinfo=BEIJING)
rs = default_ruleset()
r_day = rs.rule("FV-AL-DAY")
limit = rs.strictest("FV-AL-DAY").value


def _nozzle(n: object) -> str:
    num = int(n)  # type: ignore[call-overload]
    return f"N{num:02d}" + (f"（{fuels[num]}）" if num in fuels else "")


# ---- today -----------------------------------------------------------------------------------
st.subheader(_("Today (Beijing time)"))
live = run_query(
    "vapor.pass_rate_live",
    scope,
    day0.astimezone(UTC),
    (day0 + timedelta(days=1)).astimezone(UTC),
    min_volume_l=float(r_day.param("min_volume_l")),
    al_lower=float(r_day.param("al_lower")),
    al_upper=float(r_day.param("al_upper")),
    slow_fuel_lpm=float(rs.rule("FV-SLOW").param("max_fuel_flow_lpm")),
)
status = run_query("vapor.nozzle_status", scope)
c1, c2, c3 = st.columns(3)
if has_rows(live) and live["valid"].sum() > 0:
    metric(
        c1,
        "Today's pass rate (valid fuellings)",
        f"{live['in_band'].sum() / live['valid'].sum():.0%}",
    )
    metric(c2, "Valid fuellings today", count(live["valid"].sum()))
else:
    metric(c1, "Today's pass rate (valid fuellings)", "–")
    metric(c2, "Valid fuellings today", "0")
n_bad = int((status["level"] != "normal").sum()) if has_rows(status) else 0
metric(c3, "Nozzles in warning or alarm", count(n_bad))
st.caption(
    _(
        "A fuelling is valid from {min_l} L; in band when {lo} ≤ A/L ≤ {hi}; a day fails below "
        "{limit} (rule set {version}, FV-AL-DAY, provisional until confirmed)."
    ).format(
        min_l=r_day.param("min_volume_l"),
        lo=r_day.param("al_lower"),
        hi=r_day.param("al_upper"),
        limit=f"{limit:.0%}",
        version=rs.version,
    )
)
if has_rows(status):
    today_tbl = status
    if has_rows(live):
        today_tbl = status.merge(
            live[["nozzle", "valid", "pass_rate"]].rename(
                columns={"valid": "valid_today", "pass_rate": "rate_today"}
            ),
            on="nozzle",
            how="outer",
        )
    today_tbl = today_tbl.assign(nozzle_name=today_tbl["nozzle"].map(_nozzle))
    table(
        today_tbl,
        [
            Col("nozzle_name", "Nozzle"),
            Col("valid_today", "Valid fuellings today", "int"),
            Col("rate_today", "Pass rate today", "rate"),
            Col("level", "Level", "value"),
            Col("streak", "Days in warning (consecutive)", "int"),
            Col("last_day", "Last closed day", "day"),
            Col("pass_rate", "Pass rate that day", "rate"),
        ],
    )
elif has_rows(live):
    table(
        live.assign(nozzle_name=live["nozzle"].map(_nozzle)),
        [
            Col("nozzle_name", "Nozzle"),
            Col("valid", "Valid fuellings today", "int"),
            Col("pass_rate", "Pass rate today", "rate"),
            Col("mean_al", "Mean A/L", "num", digits=2),
        ],
    )
else:
    no_data("No data yet for this station. Fuellings appear once its controller connects.")

# ---- alarms with what to check ---------------------------------------------------------------
st.subheader(_("Warnings and alarms"))
alarms = run_query(
    "vapor.alarms",
    scope,
    (day0 - timedelta(days=days_back)).astimezone(UTC),
    (day0 + timedelta(days=1)).astimezone(UTC),
    extra_subjects=sensors,
)
vapour_alarms(alarms)

# ---- cases ------------------------------------------------------------------------------------
st.subheader(_("Cases of this station"))
unit_cases(station, "No cases of this station in the last 90 days.")

# ---- history, tank pressure and sheets -------------------------------------------------------
st.subheader(_("A/L per nozzle over time"))
# one tab at a time is queried and drawn (switching reruns from the query cache): the charts,
# the tank table and the sheets at once were most of the page's weight in the browser
t1, t2, t3, t4, t5 = st.tabs(
    [
        _("Daily pass rate"),
        _("Daily mean A/L"),
        _("CARB ISD comparison"),
        _("Tank pressure and processing unit (daily)"),
        _("Compliance sheets"),
    ],
    key="station_history_tab",
    on_change="rerun",
)
if t1.open or t2.open or t3.open:
    days = run_query(
        "vapor.nozzle_days", scope, today - timedelta(days=days_back), today + timedelta(days=1)
    )
    if not has_rows(days):
        (t1 if t1.open else t2 if t2.open else t3).info(
            _("No closed days yet (a day is judged when the next day's first fuelling arrives)."),
            icon="ℹ️",
        )
    else:
        days = days.assign(nozzle_name=days["nozzle"].map(_nozzle))
        if t1.open:
            day_chart(
                days,
                "day",
                "pass_rate",
                "nozzle_name",
                "Pass rate",
                percent=True,
                color_title="Nozzle",
                where=t1,
            )
        if t2.open:
            day_chart(
                days, "day", "mean_al", "nozzle_name", "Mean A/L", color_title="Nozzle", where=t2
            )
        if t3.open:
            isd = rs.rule("FV-ISD-CMP")
            t3.caption(
                _(
                    "Information only, not a verdict: the California ISD bands applied to the "
                    "same fuellings — daily mean A/L within {dl}–{du} from {dn} fuellings, 7-day "
                    "mean within {wl}–{wu} from {wn} fuellings."
                ).format(
                    dl=isd.param("daily_lower"),
                    du=isd.param("daily_upper"),
                    dn=isd.param("daily_min"),
                    wl=isd.param("weekly_lower"),
                    wu=isd.param("weekly_upper"),
                    wn=isd.param("weekly_min"),
                )
            )
            latest = days.sort_values("day").groupby("nozzle", as_index=False).tail(7)
            table(
                latest,
                [
                    Col("day", "Day", "day"),
                    Col("nozzle_name", "Nozzle"),
                    Col("valid", "Valid fuellings", "int"),
                    Col("mean_al", "Mean A/L", "num", digits=2),
                    Col("state", "GB 20952 day", "value"),
                    Col("isd_daily", "ISD daily", "value"),
                    Col("isd_weekly", "ISD 7-day", "value"),
                ],
                where=t3,
            )
            agree = latest[
                latest["state"].isin(["pass", "exceed"])
                & latest["isd_daily"].isin(["pass", "fail"])
            ]
            if len(agree):
                same = ((agree["state"] == "pass") == (agree["isd_daily"] == "pass")).mean()
                t3.caption(
                    _("GB 20952 and ISD agree on {rate} of judged nozzle-days.").format(
                        rate=f"{same:.0%}"
                    )
                )

if t4.open:
    states = run_query(
        "vapor.station_states", scope, today - timedelta(days=days_back), today + timedelta(days=1)
    )
    if has_rows(states):
        table(
            states,
            [
                Col("day", "Day", "day"),
                Col("category", "Check", "value"),
                Col("level", "Level", "value"),
                Col("value", "Value", "num", digits=1),
                Col("unit", "Unit", "unit"),
                Col("streak", "Consecutive days", "int"),
                Col("device_state", "Device's own flag", "value"),
            ],
            where=t4,
        )
    else:
        t4.info(_("No daily tank pressure or processing unit state in this period."), icon="ℹ️")

# ---- printable sheets ------------------------------------------------------------------------
SHEET_DAY = [
    Col("nozzle_name", "Nozzle"),
    Col("valid", "Valid fuellings", "int"),
    Col("in_band", "In band", "int"),
    Col("pass_rate", "Pass rate", "rate"),
    Col("state", "Verdict", "value"),
    Col("streak", "Consecutive days", "int"),
    Col("level", "Level", "value"),
]
SHEET_MONTH = [
    Col("nozzle_name", "Nozzle"),
    Col("judged_days", "Judged days", "int"),
    Col("pass_days", "Pass days", "int"),
    Col("exceed_days", "Exceedance days", "int"),
    Col("no_verdict_days", "Days without verdict", "int"),
    Col("mean_pass_rate", "Mean pass rate", "rate"),
    Col("max_streak", "Longest streak", "int", "d"),
    Col("warning_days", "Warning days", "int"),
    Col("alarm_days", "Alarm days", "int"),
]


def _printable(title: str, frame: pd.DataFrame) -> str:
    head = (
        f"<h2>{html.escape(title)}</h2><p>{html.escape(names.get(station, station))} · "
        f"{html.escape(_('rule set'))} {html.escape(rs.version)} · "
        f"{html.escape(_('printed'))} {now_bj:%Y-%m-%d %H:%M}{html.escape(_(' (Beijing time)'))}</p>"
    )
    return f"<html><meta charset='utf-8'><body>{head}{frame.to_html(index=False)}</body></html>"


def _sheets() -> None:
    d_col, m_col = st.columns(2)
    sheet_day = d_col.date_input(_("Day"), value=today - timedelta(days=1), max_value=today)
    daily = run_query("vapor.nozzle_days", scope, sheet_day, sheet_day + timedelta(days=1))
    if has_rows(daily):
        daily = daily.assign(nozzle_name=daily["nozzle"].map(_nozzle))
        table(daily, SHEET_DAY, where=d_col)
        d_col.download_button(
            _("Daily sheet (printable HTML)"),
            _printable(
                _("Daily A/L compliance {day}").format(day=sheet_day), shape(daily, SHEET_DAY)[0]
            ),
            file_name=f"vapor_{station}_{sheet_day}.html",
            mime="text/html",
        )
    else:
        d_col.info(_("No closed day for this date."))
    month_start = m_col.date_input(_("Month"), value=today.replace(day=1), max_value=today).replace(
        day=1
    )
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    monthly = run_query("vapor.compliance_monthly", scope, month_start, next_month)
    if has_rows(monthly):
        monthly = monthly.assign(nozzle_name=monthly["nozzle"].map(_nozzle))
        sheet = shape(monthly, SHEET_MONTH)[0]
        table(monthly, SHEET_MONTH, where=m_col)
        m_col.download_button(
            _("Monthly sheet (printable HTML)"),
            _printable(
                _("Monthly A/L compliance {month}").format(month=f"{month_start:%Y-%m}"), sheet
            ),
            file_name=f"vapor_{station}_{month_start:%Y-%m}.html",
            mime="text/html",
        )
        m_col.download_button(
            _("Monthly sheet (CSV)"),
            sheet.to_csv(index=False),
            file_name=f"vapor_{station}_{month_start:%Y-%m}.csv",
        )
    else:
        m_col.info(_("No closed days in this month."))


if t5.open:
    with t5:
        _sheets()
