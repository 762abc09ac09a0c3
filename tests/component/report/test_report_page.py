"""The weekly report (周报) page: renders with no report, produces the report with the shared code, lists it."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboards.app import PAGES_DIR, page_specs
from streams.warehouse import shared

pytestmark = pytest.mark.component
PAGE = str(PAGES_DIR / "weekly_report.py")


@pytest.fixture
def reader(warehouse, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("EMW_DATA_DIR", str(tmp_path))  # reports land here (login data: accounts')
    shared.set_reader(warehouse)
    yield warehouse
    shared.set_reader(None)


def test_a_jurisdiction_officer_reports_on_their_own_only(accounts, reader) -> None:
    at = accounts.app(PAGE, user="officer_wj", default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox[1].options == ["吴江区"]  # no zone, no other jurisdiction


def test_without_login_the_page_asks_for_one(reader) -> None:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert any("请先登录" in w.value for w in at.warning)
    assert not any(b.label == "生成周报" for b in at.button)  # the search form of page_setup stays


def test_page_is_registered_under_enforcement() -> None:
    assert any(
        p.name == "weekly_report.py" and g == "Enforcement" and t == "Weekly report"
        for g, p, t in page_specs()
    )


def test_generate_writes_the_files_and_lists_them(accounts, reader, tmp_path: Path) -> None:
    at = accounts.app(PAGE, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "周报"
    assert any("暂无往期周报" in i.value for i in at.info)
    at.selectbox[1].set_value("jiashan")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    week = at.selectbox[0].value
    files = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert files == [f"weekly-{week}-jiashan.{f}" for f in ("html", "pdf", "xlsx")]
    assert any("没有任何数据" in w.value for w in at.warning)
    assert len(at.get("image")) == 3  # the report's trend charts
    at = accounts.app(PAGE, default_timeout=120).run()
    assert not at.info or not any("暂无往期周报" in i.value for i in at.info)
    listed = at.dataframe[-1].value
    assert list(listed["周次"]) == [str(week)] and list(listed["辖区"]) == ["嘉善县"]
