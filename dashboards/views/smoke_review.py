"""Black-smoke review.

Officer page for the review queue (BS-SCREEN fired, no decision yet) plus a sample of the captures
the rules did not queue (graded at or below the limit, marked as such, so the model's misses are
found), most uncertain first (the detector near a coin toss, the grade near the limit) or highest
grade first: the capture as images (the untouched frame with the model's plume box and the
reviewer's corrected box, plume and plate crops, the clip), its facts, and the decision — confirm
with the reviewer's own Ringelmann grade or dismiss with a reason, correcting the plate where ANPR
misread it and the plume box where the model drew it wrong, with the vehicle class. Every decision
also stores a training label (``smoke_capture.review.record_review``) next to the evidence.
Keyboard first: Y confirms, 1–6 dismiss with a reason, J skips; the next capture is preselected,
so a reviewer clears the queue without the mouse. Decisions go through ``dashboards.actions``
(checked against fresh data, nothing written on bad input); layout only here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import streamlit as st

from dashboards.actions import ActionError, review_smoke_capture
from dashboards.data import has_rows, refresh, run_query
from dashboards.i18n import N_, _
from dashboards.widgets import (
    Col,
    boxed_jpeg,
    count,
    current_user,
    evidence_file,
    evidence_folder,
    evidence_manifest,
    evidence_media,
    fmt_time,
    jurisdiction_name,
    jurisdiction_picker,
    metric,
    no_data,
    now_utc,
    page_setup,
    query_until,
    registry_name,
    table,
    window_picker,
)
from smoke_capture.review import VEHICLE_CLASSES

DISMISS = [  # (reason code, label, key)
    ("shadow", N_("Shadow"), "1"),
    ("wet_road", N_("Wet road / spray"), "2"),
    ("nev", N_("New-energy vehicle"), "3"),
    ("plate_mismatch", N_("Plate does not match"), "4"),
    ("not_smoke", N_("Not smoke"), "5"),
    ("other", N_("Other"), "6"),
]
VEHICLE_CLASS_NAMES = {
    "car": N_("Car"),
    "suv": N_("SUV"),
    "van": N_("Van"),
    "pickup": N_("Pickup"),
    "bus": N_("Bus"),
    "truck": N_("Truck"),
    "tractor": N_("Tractor unit"),
    "other": N_("Other vehicle"),
    "vehicle": N_("Vehicle (class not read)"),
}
ORDERS = {"uncertain": N_("Most uncertain first"), "grade": N_("Highest grade first")}
SAMPLE_RATES = (0.0, 0.05, 0.1, 0.25)


def plate_text(plate: object) -> str:
    """The plate as read; an unread one says so (ANPR writes ``unknown``)."""
    return _("Plate unread") if str(plate or "unknown") == "unknown" else str(plate)


def _queue_list(queue: Any, order: list[str], current: str, where: Any) -> None:
    """The queue as a table; a selected row becomes the capture under review."""
    shown = queue.set_index("capture_id").loc[order].reset_index()
    shown["plate"] = shown["plate"].map(plate_text)
    picked = table(
        shown,
        [
            Col("ts", "Time", "time"),
            Col("plate", "Plate"),
            Col("jurisdiction", "Jurisdiction", "jur"),
            Col("camera_id", "Camera", "name"),
            Col("grade", "Model grade", "num", digits=1),
            Col("detector_confidence", "Detector confidence", "rate"),
            Col("uncertainty", "Model uncertainty", "rate"),
            Col("below_threshold", "Below the limit (sample)", "bool"),
            Col("quality_flags", "Quality flags", "list"),
            Col("nev_suspect", "NEV suspect", "bool"),
            Col("calibration_status", "Calibration", "value"),
        ],
        on_select="rerun",
        selection_mode="single-row",
        key=f"smoke_queue_{current}",  # a new capture starts with no row selected
        height=min(400, 38 + 35 * len(shown)),
        where=where,
    )
    rows = getattr(getattr(picked, "selection", None), "rows", None) or []
    if rows and order[rows[0]] != current:
        st.session_state["smoke_current"] = order[rows[0]]
        st.rerun()


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
order_by = st.sidebar.radio(
    _("Order"), list(ORDERS), format_func=lambda o: _(ORDERS[o]), key="smoke_order"
)
rate = st.sidebar.selectbox(
    _("Sample of captures below the limit"),
    SAMPLE_RATES,
    index=2,
    format_func=lambda r: _("none") if r == 0 else f"{r:.0%}",
    key="smoke_sample_rate",
    help=_("A share of the captures the rules did not queue, so the model's misses are found."),
)
until = query_until(1)
since = until - timedelta(hours=hours)

flash = st.session_state.pop("smoke_flash", None)
if flash:
    st.success(flash, icon="✅")
note = st.session_state.pop("smoke_note", None)
if note:
    st.warning(note)

queue = run_query("desk.smoke_review_candidates", since, until, jur, below_rate=float(rate))
st.subheader(_("Review queue"))
if not has_rows(queue):
    no_data("No data yet: no capture is waiting for review.")
else:
    if order_by == "grade":
        queue = queue.sort_values(
            ["below_threshold", "nev_suspect", "grade", "ts"], ascending=[True, True, False, True]
        )
    skipped: list[str] = st.session_state.setdefault("smoke_skipped", [])
    ids = list(queue["capture_id"])
    order = [i for i in ids if i not in skipped] + [i for i in skipped if i in ids]
    current: str = st.session_state.get("smoke_current", "")
    if current not in ids:
        current = order[0]
    row = queue.set_index("capture_id").loc[current]
    below = bool(row["below_threshold"])

    c1, c2, c3, c4 = st.columns(4)
    metric(c1, "Waiting for review", count((~queue["below_threshold"].astype(bool)).sum()))
    metric(c2, "Below the limit (sample)", count(queue["below_threshold"].astype(bool).sum()))
    metric(c3, "NEV suspects", count(queue["nev_suspect"].astype(bool).sum()))
    metric(c4, "Position in queue", f"{order.index(current) + 1} / {len(order)}")

    folder = evidence_folder(row["evidence_uri"])
    manifest = evidence_manifest(folder)
    raw = evidence_file(row["evidence_uri"], "best_frame_raw.jpg")
    model_box = manifest.get("plume_box") if raw is not None else None

    pics, facts = st.columns([3, 2])
    with facts:
        grade = float(row["grade"])
        metric(
            st, "Model grade", f"{grade:.1f}", help="Ringelmann 0–5 from the detector and grader"
        )
        if below:
            st.info(
                _(
                    "Below the screening limit: a sample of the captures the rules did not queue. "
                    "Confirm if you see smoke the model missed."
                ),
                icon="🔎",
            )
        if bool(row["nev_suspect"]):
            st.warning(_("New-energy plate: probably not diesel smoke."), icon="⚠️")
        flags = list(row["quality_flags"]) if row["quality_flags"] is not None else []
        lines = [
            (_("Time") + _(" (Beijing time)"), fmt_time(row["ts"])),
            (_("Plate"), f"{plate_text(row['plate'])}（{_(str(row['plate_colour']))}）"),
            (_("Jurisdiction"), jurisdiction_name(row["jurisdiction"])),
            (_("Camera"), f"{registry_name(row['camera_id'])} · {_('lane')} {row['lane']}"),
            (_("Detector confidence"), f"{float(row['detector_confidence']):.0%}"),
            (_("Grade confidence"), f"{float(row['grade_confidence']):.0%}"),
            (_("Model uncertainty"), f"{float(row['uncertainty']):.0%}"),
            (_("Quality flags"), "、".join(_(f) for f in flags) or "–"),
            (_("Calibration"), _(str(row["calibration_status"]))),
            (_("Model"), str(row["model_version"])),
        ]
        st.markdown("\n".join(f"- **{k}**: {v}" for k, v in lines))

        st.number_input(
            _("Your grade (Ringelmann 0–5, read by eye)"),
            step=0.5,
            value=min(5.0, round(grade * 2) / 2),
            key=f"grade_{current}",
        )
        v_default = str(manifest.get("vehicle_class") or "vehicle")
        st.selectbox(
            _("Vehicle class"),
            VEHICLE_CLASSES,
            index=VEHICLE_CLASSES.index(v_default) if v_default in VEHICLE_CLASSES else 8,
            format_func=lambda c: _(VEHICLE_CLASS_NAMES[c]),
            key=f"vclass_{current}",
        )
        st.text_input(_("Correct the plate (leave empty if right)"), key=f"plate_{current}")
        if raw is not None and manifest:
            st.caption(
                _(
                    "Plume box in pixels (left, top, right, bottom): correct it if the red box is wrong."
                )
                if model_box is not None
                else _("The evidence has no plume box of the model: enter one (pixels).")
            )
            bcols = st.columns(4)
            for i, name in enumerate((N_("Left"), N_("Top"), N_("Right"), N_("Bottom"))):
                bcols[i].number_input(
                    _(name),
                    value=None if model_box is None else float(round(float(model_box[i]))),
                    step=1.0,
                    format="%.0f",
                    key=f"box_{current}_{i}",
                )

        def _decide(decision: str, reason: str = "") -> None:
            ss = st.session_state
            box = None
            entered = [ss.get(f"box_{current}_{i}") for i in range(4)]
            if any(v is not None for v in entered):  # a half-entered box is refused, not ignored
                box = tuple(float("nan") if v is None else float(v) for v in entered)
            try:
                rev, label, why = review_smoke_capture(
                    {**row.to_dict(), "capture_id": current},
                    folder if manifest else None,
                    reviewer=reviewer,
                    decision=decision,
                    reason=reason,
                    grade=float(ss[f"grade_{current}"]) if decision == "confirmed" else None,
                    corrected_plate=str(ss.get(f"plate_{current}") or ""),
                    plume_box=box,  # type: ignore[arg-type]
                    vehicle_class=str(ss.get(f"vclass_{current}") or "vehicle"),
                )
            except ActionError as exc:
                ss["smoke_error"] = exc.text()
                return
            done = _("Confirmed") if decision == "confirmed" else _("Dismissed")
            plate_fix = str(ss.get(f"plate_{current}") or "")
            shown_plate = (rev.corrected_plate or rev.plate) if rev else (plate_fix or row["plate"])
            kept = (
                _("training label saved")
                + ("（" + _("box corrected") + "）" if label.box_corrected else "")
                if label is not None
                else ""
            )
            ss["smoke_flash"] = " · ".join(
                x for x in (f"{done}: {shown_plate}", fmt_time(now_utc()), kept) if x
            )
            if why:
                ss["smoke_note"] = _(why)
            ss.pop("smoke_current", None)
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

    with pics:
        if raw is not None and manifest:
            entered = [st.session_state.get(f"box_{current}_{i}") for i in range(4)]
            boxes = [(model_box, "#e03030")] if model_box is not None else []
            edited = [v for v in entered if v is not None]
            if len(edited) == 4 and (
                model_box is None
                or [round(float(v)) for v in edited] != [round(float(v)) for v in model_box]
            ):
                boxes.append((edited, "#ffd400"))
            st.image(
                boxed_jpeg(raw, boxes),
                caption=_("Untouched frame: red the model's plume box, yellow your correction"),
                width="stretch",
            )
        else:
            best = evidence_file(row["evidence_uri"], "best_frame.jpg")
            if best is not None:
                st.image(
                    str(best),
                    caption=_("Best frame (plume and vehicle boxes drawn)"),
                    width="stretch",
                )
            else:
                st.warning(
                    _("Evidence images are not on this machine (looked for {uri}).").format(
                        uri=row["evidence_uri"] or "–"
                    )
                )
        evidence_media(
            row["evidence_uri"],
            (("plume_crop.jpg", N_("Plume crop")), ("plate_crop.jpg", N_("Plate crop"))),
            row["clip_seconds"],
        )

    # the whole queue as a list, sent when opened (a reviewer works from the keys: Y, 1–6, J);
    # it stays open for the session once opened
    listed = st.expander(
        _("Queue (select a row to review it)"), key="smoke_queue_list", on_change="rerun"
    )
    if listed.open:
        _queue_list(queue, order, current, listed)

# the reviewer's work is the queue above: the statistics are queried and drawn when opened
per_camera = st.expander(_("Per camera and day"), key="smoke_per_camera", on_change="rerun")
if per_camera.open:
    daily = run_query("smoke.camera_daily", since, until)
    if not has_rows(daily):
        per_camera.info(_("No data yet: no captures in this window."), icon="ℹ️")
    else:
        table(
            daily,
            [
                Col("camera_id", "Camera", "name"),
                Col("day", "Day", "day"),
                Col("jurisdiction", "Jurisdiction", "jur"),
                Col("captures", "Captures", "int"),
                Col("mean_grade", "Mean model grade", "num", digits=1),
                Col("above_limit", "Above the limit", "int"),
                Col("unknown_plate_rate", "Plate unread", "rate"),
                Col("confirmed", "Confirmed", "int"),
                Col("dismissed", "Dismissed", "int"),
            ],
            where=per_camera,
        )
