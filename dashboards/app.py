"""Streamlit entry point: navigation over every page file in ``dashboards/pages``.

Pages are grouped by the prefix of their file name (``platform_``, ``rsd_``, ``smoke_``, ``obd_``,
``vapor_``); a page's title is the first line of its module docstring, translated through the
message catalogue (``dashboards.i18n``) like every other label. Pages hold layout only:
data comes from ``dashboards.data`` (named queries), never SQL or rules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import streamlit as st

from dashboards.i18n import N_, _

APP_FILE = Path(__file__).resolve()
PAGES_DIR = APP_FILE.parent / "pages"
GROUPS = {
    "triage": N_("Enforcement"),
    "vehicle": N_("Enforcement"),
    "field": N_("Enforcement"),
    "report": N_("Enforcement"),
    "smoke": N_("Black smoke"),
    "rsd": N_("Remote sensing"),
    "obd": N_("Remote OBD"),
    "vapor": N_("Vapour recovery"),
    "platform": N_("Platform"),
}


def _title(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or path.stem
    return doc.strip().splitlines()[0].rstrip(".")


def page_specs() -> list[tuple[str, Path, str]]:
    """(group, path, title) of every page, in navigation order."""
    specs = []
    for path in sorted(PAGES_DIR.glob("*.py")):
        if path.name.startswith("_"):
            continue
        specs.append((GROUPS.get(path.stem.split("_")[0], "Other"), path, _title(path)))
    order = list(dict.fromkeys(GROUPS.values()))
    specs.sort(key=lambda s: order.index(s[0]) if s[0] in order else len(order))
    return specs


def build_navigation() -> dict[str, list[st.Page]]:
    nav: dict[str, list[st.Page]] = {}
    for group, path, title in page_specs():
        default = path.stem == "triage_queue"
        nav.setdefault(_(group), []).append(st.Page(str(path), title=_(title), default=default))
    return nav


def _in_a_script_run() -> bool:
    """True when Streamlit runs this file (``streamlit run`` or ``st.App``), not on import."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return get_script_run_ctx(suppress_warning=True) is not None


if __name__ == "__main__" or _in_a_script_run():
    st.set_page_config(page_title=_("YRD Emissions Watch"), page_icon="🛰️", layout="wide")
    st.navigation(build_navigation()).run()
