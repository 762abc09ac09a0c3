"""Field check.

For the officers' mobile terminals: pick the case, then step through the eight-step on-site
procedure (定位签到、亮证告知、信息核实、现场检查、笔录制作、打印签名、电子归档、任务完成), entering
the readings and taking photos on the way; the result is recorded as the case's ``check`` action
(judged by ENF-FIELD) with the photos' SHA-256. One narrow column, big buttons. Layout only: data
from ``streams.warehouse.queries.cases``, writes through ``dashboards.actions``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import streamlit as st

from dashboards.actions import ActionError, case_action, store_photo
from dashboards.data import has_rows, run_query
from dashboards.i18n import N_, _
from dashboards.widgets import current_user, no_data, page_setup, query_until

STEPS = (
    N_("Geo check-in"),
    N_("Show ID and inform"),
    N_("Verify the vehicle"),
    N_("On-site check"),
    N_("Write the record"),
    N_("Print and sign"),
    N_("File electronically"),
    N_("Done"),
)
METHODS = {
    "k": N_("Opacity k (free acceleration)"),
    "ringelmann": N_("Ringelmann grade"),
    "obd_scan": N_("OBD scan"),
    "photo": N_("Photos only"),
}
CHECKABLE = ("new", "in_review", "confirmed", "notified", "referred")

page_setup("Field check")
_left, body, _right = st.columns(
    [1, 3, 1]
)  # one narrow column on a desk, the full width on a phone

until = query_until(5)
cases = run_query("cases.queue", CHECKABLE, until - timedelta(days=365, minutes=5), until)
vehicles = cases[cases["subject_kind"] == "vehicle"] if has_rows(cases) else cases
with body:
    if not has_rows(vehicles):
        no_data("No open vehicle case to check.")
        st.stop()
    labels = {
        r[
            "case_id"
        ]: f"{r['plate'] or r['vin'] or r['subject_id']} · {_(str(r['status']))} · {r['case_id']}"
        for _i, r in vehicles.iterrows()
    }
    case_id = st.selectbox(_("Case"), list(labels), format_func=lambda c: labels[c], key="fc_case")
    row = vehicles.set_index("case_id").loc[case_id].copy()
    row["case_id"] = case_id
    state: dict[str, Any] = st.session_state.setdefault("fc", {}).setdefault(case_id, {"step": 0})
    step = int(state["step"])
    st.progress((step + 1) / len(STEPS), text=f"{step + 1}/{len(STEPS)} · {_(STEPS[step])}")
    st.caption(" → ".join(("✅ " if i < step else "") + _(s) for i, s in enumerate(STEPS)))

    if step == 0:
        state["officer"] = st.text_input(
            _("Officer (your name)"),
            value=state.get("officer", current_user()),
            key="fc_officer",
        )
        state["place"] = st.text_input(
            _("Place (road, km or address)"), value=state.get("place", ""), key="fc_place"
        )
    elif step == 1:
        state["informed"] = st.checkbox(
            _("ID shown; party informed of the check and their rights"),
            value=state.get("informed", False),
            key="fc_informed",
        )
    elif step == 2:
        st.markdown(f"**{_('Plate')}**: {row['plate'] or '–'} · **VIN**: {row['vin'] or '–'}")
        state["verified"] = st.checkbox(
            _("Plate and VIN match the vehicle"),
            value=state.get("verified", False),
            key="fc_verified",
        )
    elif step == 3:
        state["method"] = st.radio(
            _("Method"),
            list(METHODS),
            index=list(METHODS).index(state.get("method", "k")),
            format_func=lambda m: _(METHODS[m]),
            key="fc_method",
        )
        if state["method"] in ("k", "ringelmann"):
            unit = "m⁻¹" if state["method"] == "k" else _("grade")
            state["value"] = st.number_input(
                _("Reading ({unit})").format(unit=unit),
                value=float(state.get("value", 0.0)),
                step=0.01,
                format="%.2f",
                key="fc_value",
            )
            state["instrument"] = st.text_input(_("Instrument"), value=state.get("instrument", ""))
        elif state["method"] == "obd_scan":
            state["mil"] = st.checkbox(_("MIL on"), value=state.get("mil", False))
            state["dtc"] = st.text_input(
                _("Fault codes (comma separated)"), value=state.get("dtc", "")
            )
        shot = st.camera_input(_("Take a photo"))
        files = st.file_uploader(_("Or add photos"), accept_multiple_files=True, type=None)
        photos: list[dict[str, str]] = state.setdefault("photos", [])
        for f in [x for x in [shot, *(files or [])] if x is not None]:
            if any(p["name"] == f.name for p in photos):
                continue
            try:
                photos.append(store_photo(case_id, f.name, f.getvalue()))
            except ActionError as exc:
                st.error(exc.text())
        if photos:
            st.caption(_("{n} photos kept").format(n=len(photos)))
    elif step == 4:
        state["note"] = st.text_area(
            _("Record of the check"), value=state.get("note", ""), key="fc_note"
        )
    elif step == 5:
        state["signed"] = st.checkbox(
            _("Record printed and signed by the party"),
            value=state.get("signed", False),
            key="fc_signed",
        )
    elif step == 6:
        st.markdown(
            _("Everything below is recorded with the case and cannot be changed afterwards.")
        )
        st.json({k: v for k, v in state.items() if k != "step"}, expanded=False)
    else:
        st.success(state.get("result", _("Done.")))

    back, nxt = st.columns(2)
    if step > 0 and step < 7 and back.button(_("Back"), width="stretch", key="fc_back"):
        state["step"] = step - 1
        st.rerun()
    if step < 6 and nxt.button(_("Next"), type="primary", width="stretch", key="fc_next"):
        missing = {
            0: not state.get("officer"),
            1: not state.get("informed"),
            2: not state.get("verified"),
        }.get(step, False)
        if missing:
            st.error(_("Complete this step first."))
        else:
            state["step"] = step + 1
            st.rerun()
    if step == 6 and nxt.button(
        _("File the check"), type="primary", width="stretch", key="fc_file"
    ):
        payload: dict[str, Any] = {
            "method": state.get("method", "photo"),
            "photos": state.get("photos", []),
            "place": state.get("place", ""),
            "instrument": state.get("instrument", ""),
            "note": state.get("note", ""),
        }
        if payload["method"] in ("k", "ringelmann"):
            payload["value"] = state.get("value")
        if payload["method"] == "obd_scan":
            payload["mil"] = bool(state.get("mil"))
            payload["dtc"] = [c.strip() for c in str(state.get("dtc", "")).split(",") if c.strip()]
        try:
            after = case_action(
                row,
                [("check", state.get("note", ""), payload)],
                actor=state.get("officer", ""),
                actor_jurisdiction=str(row["jurisdiction"]),
            )
        except ActionError as exc:
            st.error(exc.text())
        else:
            state["result"] = _("Check filed: the case is now {status}.").format(status=_(after))
            state["step"] = 7
            st.rerun()
