"""Small layout helpers shared by pages (no data access, no rules)."""

from __future__ import annotations

import streamlit as st

WINDOWS = {"1 hour": 1, "6 hours": 6, "24 hours": 24, "7 days": 168, "30 days": 720}


def window_picker(key: str, default: str = "24 hours") -> int:
    """A time-window selector; returns hours."""
    label = st.sidebar.selectbox(
        "Time window", list(WINDOWS), index=list(WINDOWS).index(default), key=key
    )
    return WINDOWS[label]


def no_data(message: str) -> None:
    st.info(message, icon="ℹ️")
