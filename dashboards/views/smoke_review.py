"""Black-smoke review.

Officer page for the review queue (BS-SCREEN fired, no decision yet), highest grade first, NEV
suspects last: the capture as images (best frame, plume crop, plate crop, the clip), its facts,
and the decision — confirm with the reviewer's own grade or dismiss with a reason, correcting the
plate where ANPR misread it. Keyboard first: Y confirms, 1–6 dismiss with a reason, J skips; the
next capture is preselected, so a reviewer clears the queue without the mouse. Decisions go
through ``dashboards.actions`` (checked against fresh data); layout only here.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from dashboards.actions import ActionError, record_smoke_review
from dashboards.data import has_rows, refresh, run_query
from dashboards.i18n import N_, _
from dashboards.widgets import (
    Col,
    current_user,
    evidence_file,
    fmt_time,
    jurisdiction_name,
    jurisdiction_picker,
    metric,
    no_data,
    now_utc,
    page_setup,
    table,
    window_picker,
)

DISMISS = [  # (reason code, label, key)
    ("shadow", N_("Shadow"), "1"),
    ("wet_road", N_("Wet road / spray"), "2"),
    ("nev", N_("New-energy vehicle"), "3"),
    ("plate_mismatch", N_("Plate does not match"), "4"),
    ("not_smoke", N_("Not smoke"), "5"),
    ("other", N_("Other"), "6"),
]

page_setup(
    "Black-smoke review",
    "Model grades are candidates: a named reviewer confirms (Ringelmann limit: grade above 1). "
    "Shadows, wet roads and new-energy vehicles are the usual false alarms.",
)

jur = jurisdiction_picker("smoke_jur")
hours = window_picker("smoke_window", "7 days")
reviewer = st.sidebar.text_input(
    _("Reviewer (your name)"), value=current_user(), key="smoke_reviewer"
)
until = now_utc()
since = until - timedelta(hours=hours)

flash = st.session_state.pop("smoke_flash", None)
if flash:
    st.success(flash, icon="✅")

queue = run_query("smoke.review_queue", jur)
st.subheader(_("Review queue"))
if not has_rows(queue):
    no_data("No data yet: no capture is waiting for review.")
else:
    skipped: list[str] = st.session_state.setdefault("smoke_skipped", [])
    ids = list(queue["capture_id"])
    order = [i for i in ids if i not in skipped] + [i for i in skipped if i in ids]
    current: str = st.session_state.get("smoke_current", "")
    if current not in ids:
        current = order[0]
    row = queue.set_index("capture_id").loc[current]

    c1, c2, c3, c4 = st.columns(4)
    metric(c1, "Waiting for review", str(len(queue)))
    metric(c2, "NEV suspects", str(int(queue["nev_suspect"].astype(bool).sum())))
    metric(c3, "Calibration not valid", str(int((queue["calibration_status"] != "valid").sum())))
    metric(c4, "Position in queue", f"{order.index(current) + 1} / {len(order)}")

    pics, facts = st.columns([3, 2])
    with pics:
        best = evidence_file(row["evidence_uri"], "best_frame.jpg")
        if best is not None:
            st.image(
                str(best), caption=_("Best frame (plume and vehicle boxes drawn)"), width="stretch"
            )
        else:
            st.warning(
                _("Evidence images are not on this machine (looked for {uri}).").format(
                    uri=row["evidence_uri"] or "–"
                )
            )
        crops = st.columns(2)
        for where, name, caption in (
            (crops[0], "plume_crop.jpg", N_("Plume crop")),
            (crops[1], "plate_crop.jpg", N_("Plate crop")),
        ):
            path = evidence_file(row["evidence_uri"], name)
            if path is not None:
                where.image(str(path), caption=_(caption), width="stretch")
        clip = evidence_file(row["evidence_uri"], "clip.mp4") or evidence_file(
            row["evidence_uri"], "clip.avi"
        )
        if clip is not None:
            with st.expander(_("Clip ({s} s)").format(s=f"{row['clip_seconds']:.1f}")):
                st.video(str(clip))
    with facts:
        grade = float(row["grade"])
        metric(
            st, "Model grade", f"{grade:.1f}", help="Ringelmann 0–5 from the detector and grader"
        )
        if bool(row["nev_suspect"]):
            st.warning(_("New-energy plate: probably not diesel smoke."), icon="⚠️")
        flags = list(row["quality_flags"]) if row["quality_flags"] is not None else []
        lines = [
            (_("Time") + _(" (Beijing time)"), fmt_time(row["ts"])),
            (_("Plate"), f"{row['plate']}（{_(str(row['plate_colour']))}）"),
            (_("Jurisdiction"), jurisdiction_name(row["jurisdiction"])),
            (_("Camera"), f"{row['camera_id']} · {_('lane')} {row['lane']}"),
            (_("Confidence"), f"{float(row['grade_confidence']):.0%}"),
            (_("Quality flags"), "、".join(_(f) for f in flags) or "–"),
            (_("Calibration"), _(str(row["calibration_status"]))),
            (_("Model"), str(row["model_version"])),
        ]
        st.markdown("\n".join(f"- **{k}**: {v}" for k, v in lines))

        own_grade = st.number_input(
            _("Your grade (Ringelmann)"),
            min_value=0.0,
            max_value=5.0,
            step=0.5,
            value=min(5.0, round(grade * 2) / 2),
            key=f"grade_{current}",
        )
        plate_fix = st.text_input(
            _("Correct the plate (leave empty if right)"), key=f"plate_{current}"
        )

        def _decide(decision: str, reason: str = "") -> None:
            try:
                rev = record_smoke_review(
                    current,
                    reviewer=reviewer,
                    decision=decision,
                    reason=reason,
                    confirmed_grade=own_grade if decision == "confirmed" else None,
                    corrected_plate=plate_fix,
                )
            except ActionError as exc:
                st.session_state["smoke_error"] = exc.text()
                return
            done = _("Confirmed") if decision == "confirmed" else _("Dismissed")
            shown_plate = (rev.corrected_plate or rev.plate) if rev else (plate_fix or row["plate"])
            st.session_state["smoke_flash"] = f"{done}: {shown_plate} · {fmt_time(now_utc())}"
            st.session_state.pop("smoke_current", None)
            refresh()

        st.button(
            _("Confirm exceedance"),
            type="primary",
            shortcut="Y",
            width="stretch",
            on_click=_decide,
            args=("confirmed",),
            key="smoke_confirm",
        )
        st.caption(_("Dismiss with reason:"))
        cols = st.columns(2)
        for i, (code, label, key) in enumerate(DISMISS):
            cols[i % 2].button(
                _(label),
                shortcut=key,
                width="stretch",
                on_click=_decide,
                args=("dismissed", code),
                key=f"smoke_dismiss_{code}",
            )

        def _skip() -> None:
            if current not in skipped:
                skipped.append(current)
            st.session_state.pop("smoke_current", None)

        st.button(_("Skip for now"), shortcut="J", on_click=_skip, key="smoke_skip")
        error = st.session_state.pop("smoke_error", None)
        if error:
            st.error(error)

    st.markdown("**" + _("Queue (select a row to review it)") + "**")
    shown = queue.set_index("capture_id").loc[order].reset_index()
    picked = table(
        shown,
        [
            Col("ts", "Time", "time"),
            Col("plate", "Plate"),
            Col("jurisdiction", "Jurisdiction", "jur"),
            Col("camera_id", "Camera"),
            Col("grade", "Model grade", "num", digits=1),
            Col("grade_confidence", "Confidence", "rate"),
            Col("quality_flags", "Quality flags", "list"),
            Col("nev_suspect", "NEV suspect", "bool"),
            Col("calibration_status", "Calibration", "value"),
        ],
        on_select="rerun",
        selection_mode="single-row",
        key=f"smoke_queue_{current}",  # a new capture starts with no row selected
        height=min(400, 38 + 35 * len(shown)),
    )
    rows = getattr(getattr(picked, "selection", None), "rows", None) or []
    if rows and order[rows[0]] != current:
        st.session_state["smoke_current"] = order[rows[0]]
        st.rerun()

st.subheader(_("Per camera and day"))
daily = run_query("smoke.camera_daily", since, until)
if not has_rows(daily):
    no_data("No data yet: no captures in this window.")
else:
    table(
        daily,
        [
            Col("camera_id", "Camera"),
            Col("day", "Day", "day"),
            Col("jurisdiction", "Jurisdiction", "jur"),
            Col("captures", "Captures", "int"),
            Col("mean_grade", "Mean model grade", "num", digits=1),
            Col("above_limit", "Above the limit", "int"),
            Col("unknown_plate_rate", "Plate unread", "rate"),
            Col("confirmed", "Confirmed", "int"),
            Col("dismissed", "Dismissed", "int"),
        ],
    )
