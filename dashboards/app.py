"""Streamlit entry point: navigation over every page file in ``dashboards/views``.

Pages are grouped by the prefix of their file name (``platform_``, ``rsd_``, ``smoke_``, ``obd_``,
``vapor_``); a page's title is the first line of its module docstring, translated through the
message catalogue (``dashboards.i18n``) like every other label. Pages hold layout only:
data comes from ``dashboards.data`` (named queries), never SQL or rules.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Any

import streamlit as st

from dashboards.i18n import N_, _

APP_FILE = Path(__file__).resolve()
# not "pages/": a folder of that name next to the entry script makes Streamlit serve each file at
# its own URL without running this script (no login gate, no navigation) when opened directly
PAGES_DIR = APP_FILE.parent / "views"
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
    "weekly": N_("Enforcement"),
    "admin": N_("Administration"),
}

LEADS = {"triage_queue": 0, "vapor_station": 0}  # a group starts with these (else file-name order)


def _title(path: Path) -> str:
    return _title_of(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _title_of(path: Path, _stamp: int) -> str:
    """Parsed once per file version, not on every run of every page (an edited page re-parses)."""
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
    specs.sort(
        key=lambda s: (
            order.index(s[0]) if s[0] in order else len(order),
            LEADS.get(s[1].stem, 1),
        )
    )
    return specs


def page_domain(path: Path) -> str:
    """The data domain a page shows (its file-name prefix), for the role's navigation."""
    prefix = path.stem.split("_")[0]
    return {
        "triage": "enforcement",
        "report": "enforcement",
        "weekly": "enforcement",
        "vehicle": "enforcement",
        "field": "enforcement",
        "admin": "admin",
    }.get(prefix, prefix)


def build_navigation(scope: Any = None) -> dict[str, list[st.Page]]:
    """Pages the caller's role may open (all of them without a scope: tests, tools). A page left
    out cannot be reached by URL either; its queries would refuse anyway."""
    from core.access import domains, is_admin

    allowed = None if scope is None else domains(scope)
    specs = [
        (g, p, t)
        for g, p, t in page_specs()
        if allowed is None
        or (page_domain(p) == "admin" and is_admin(scope))
        or page_domain(p) in allowed
    ]
    nav: dict[str, list[st.Page]] = {}
    first = specs[0][1].stem if specs else ""
    has_triage = any(p.stem == "triage_queue" for _, p, _ in specs)
    for group, path, title in specs:
        default = path.stem == ("triage_queue" if has_triage else first)
        nav.setdefault(_(group), []).append(st.Page(str(path), title=_(title), default=default))
    return nav


def _in_a_script_run() -> bool:
    """True when Streamlit runs this file (``streamlit run`` or ``st.App``), not on import."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return get_script_run_ctx(suppress_warning=True) is not None


if __name__ == "__main__" or _in_a_script_run():
    from dashboards import warmup
    from dashboards.auth import gate

    warmup.start()  # chart libraries load in the background while the login form shows
    st.set_page_config(page_title=_("YRD Emissions Watch"), page_icon="🛰️", layout="wide")
    st.session_state.pop("_emw_denied_shown", None)
    scope = gate()  # the login form and a stop when nobody is logged in
    # every page listed: collapsed, Streamlit adds an untranslated "View N more" link
    st.navigation(build_navigation(scope), expanded=True).run()
