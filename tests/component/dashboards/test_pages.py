"""Streamlit AppTest for every page: it renders with no data ("no data yet") and with data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.exceedance import examples as exceedance_examples
from dashboards.app import PAGES_DIR
from streams.warehouse import shared
from streams.warehouse.sink import BatchingSink

pytestmark = pytest.mark.component
PAGES = sorted(p for p in PAGES_DIR.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture
def reader(warehouse):
    shared.set_reader(warehouse)
    from dashboards.data import _cached

    _cached.clear()
    yield warehouse
    shared.set_reader(None)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_page_renders_without_data(accounts, reader, page: Path) -> None:
    at = accounts.app(str(page)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, f"{page.stem}: a page must have a title"


def test_status_page_says_no_data_yet(accounts, reader) -> None:
    at = accounts.app(str(PAGES_DIR / "platform_status.py")).run()
    assert any("暂无数据" in i.value for i in at.info)


def test_status_page_shows_ingest(accounts, reader) -> None:
    sink = BatchingSink(reader)
    sink.put(exceedance_examples())
    assert sink.flush()
    reader.insert(
        "platform_metric",
        [[datetime.now(UTC), "obd_gateway", "connections", "", 7.0]],
        column_names=["ts", "component", "name", "labels", "value"],
    )
    at = accounts.app(str(PAGES_DIR / "platform_status.py")).run()
    assert not at.exception
    assert not any("暂无数据" in i.value for i in at.info)
    labels = {m.label: m.value for m in at.metric}
    assert labels["累计接收记录"] == "1"
    assert labels["待处理死信"] == "0"
    # the details are tabs: the first is drawn, the runner's metrics once their tab is chosen
    assert [d for d in at.dataframe if "数据类型" in d.value.columns]
    assert not at.expander
    metrics_tab = next(t for t in at.tabs if t.label.startswith("网关与设备"))
    at.session_state["status_tab"] = metrics_tab.label
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("远程 OBD 网关" in e.label and "obd_gateway" in e.label for e in at.expander)
    assert not [d for d in at.dataframe if "数据类型" in d.value.columns]


def test_app_navigation_lists_every_page(accounts, reader) -> None:
    from dashboards.app import APP_FILE, page_specs

    specs = page_specs()
    assert "Platform status" in [title for _g, _p, title in specs]
    assert len(specs) == len(PAGES)
    at = accounts.app(str(APP_FILE)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "处置队列"  # the officer's start page, in Chinese by default


def test_english_is_one_switch_away(accounts, reader) -> None:
    at = accounts.app(str(PAGES_DIR / "platform_status.py")).run()
    assert at.title[0].value == "平台状态"
    at.sidebar.radio(key="_lang_widget").set_value("en").run()
    assert not at.exception
    assert at.title[0].value == "Platform status"
    assert any("No data yet" in i.value for i in at.info)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_every_page_searches_plates_and_says_what_does_not_parse(
    accounts, reader, page: Path
) -> None:
    at = accounts.app(str(page)).run()
    at.sidebar.text_input(key="_search_text").input("沪12345X")
    at.sidebar.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("不是有效车牌" in e.value for e in at.sidebar.error)
    assert "vehicle" not in at.session_state


def _registry_names() -> list[str]:
    """Proper names from the registry (stations, depots, operators): data, shown as written."""
    from core.registry import default_registry

    reg = default_registry()
    names = [s.name for s in reg.stations] + [d.name for d in reg.depots]
    names += [s.operator for s in reg.stations] + [d.operator for d in reg.depots]
    return sorted(set(names), key=len, reverse=True)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_every_page_reads_in_english_when_english_is_chosen(accounts, reader, page: Path) -> None:
    """Titles, headings, notes, widget labels, metric labels and table headers: no Chinese left
    once English is chosen (the language switch itself and registry names aside)."""
    import re

    at = accounts.app(str(page))
    at.session_state["lang"] = "en"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    texts: list[str] = []
    for kind in ("title", "subheader", "header", "caption", "info", "warning", "error", "success"):
        texts += [str(e.value) for e in getattr(at, kind)]
    texts += [m.label for m in at.metric]
    for kind in ("selectbox", "multiselect", "text_input", "number_input", "button", "checkbox"):
        texts += [str(w.label) for w in getattr(at, kind)]
    texts += [str(r.label) for r in at.radio if r.key != "_lang_widget"]
    texts += [e.label for e in at.expander]
    for df in at.dataframe:
        texts += [str(c) for c in df.value.columns]
    plate = re.compile(r"[\u4e00-\u9fff][A-Z][0-9A-Z]{5,6}")
    names = _registry_names()
    left = []
    for t in texts:
        for n in names:
            t = t.replace(n, "")
        if re.search(r"[\u4e00-\u9fff]", plate.sub("", t)):
            left.append(t)
    assert not left, left
