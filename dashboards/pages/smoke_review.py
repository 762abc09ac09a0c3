"""Black-smoke capture: the review queue, evidence with hashes, and per-camera daily counts.

Officer page: captures waiting for a human (BS-SCREEN fired, no decision yet), highest grade first,
NEV suspects (BS-NEV) last and marked; for a selected capture its grade, confidence, quality flags,
model version, calibration status and every evidence file with its SHA-256. Decisions are recorded
by the review workflow (a ``smoke.review`` event), not by this page. Layout only: data comes from
``streams.warehouse.queries.smoke`` through ``dashboards.data``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import streamlit as st

from core.jurisdictions import JURISDICTIONS
from dashboards.data import has_rows, run_query
from dashboards.widgets import no_data, window_picker

st.title("Black-smoke capture")
st.caption(
    "Model grades are candidates: a named reviewer confirms (Ringelmann limit: grade > 1). "
    "Quality flags such as shadow_suspect or wet_suspect point to the classic false alarms."
)

choices = ["all", *JURISDICTIONS]
jur = st.sidebar.selectbox(
    "Jurisdiction", choices, format_func=lambda j: j if j == "all" else JURISDICTIONS[j].name_en
)
hours = window_picker("smoke_window", "7 days")
until = datetime.now(UTC)
since = until - timedelta(hours=hours)

queue = run_query("smoke.review_queue", None if jur == "all" else jur)
st.subheader("Review queue")
if not has_rows(queue):
    no_data("No data yet: no capture is waiting for review.")
else:
    c1, c2, c3 = st.columns(3)
    c1.metric("Waiting for review", len(queue))
    c2.metric("NEV suspects", int(queue["nev_suspect"].astype(bool).sum()))
    c3.metric("Calibration not valid", int((queue["calibration_status"] != "valid").sum()))
    view = queue[
        [
            "capture_id",
            "ts",
            "camera_id",
            "plate",
            "grade",
            "grade_confidence",
            "quality_flags",
            "nev_suspect",
            "calibration_status",
        ]
    ].copy()
    view["quality_flags"] = view["quality_flags"].map(lambda f: ", ".join(f) if len(f) else "")
    st.dataframe(view, hide_index=True, width="stretch")
    pick = st.selectbox("Capture", list(queue["capture_id"]))
    row = queue.set_index("capture_id").loc[pick]
    left, right = st.columns([2, 3])
    with left:
        st.metric(
            "Model grade", f"{row['grade']:.1f}", help="Ringelmann 0–5 from the detector and grader"
        )
        st.write(f"Confidence {row['grade_confidence']:.2f} · model `{row['model_version']}`")
        st.write(
            f"Camera {row['camera_id']} (site {row['site_id']}, lane {row['lane']}) · calibration {row['calibration_status']}"
        )
        st.write(f"Clip {row['clip_seconds']:.1f} s")
        best = Path(str(row["evidence_uri"])) / "best_frame.jpg"
        if best.exists():
            st.image(str(best), caption="best frame")
    with right:
        files = pd.DataFrame(
            {"file": list(row["evidence_files"]), "sha256": list(row["evidence_sha256"])}
        )
        st.dataframe(files, hide_index=True, width="stretch")

st.subheader("Per camera and day")
daily = run_query("smoke.camera_daily", since, until)
if not has_rows(daily):
    no_data("No data yet: no captures in this window.")
else:
    st.dataframe(daily, hide_index=True, width="stretch")
