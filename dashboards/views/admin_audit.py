"""审计日志 Audit trail.

Administrators only: logins and failed logins, refused sessions and requests, case actions,
evidence exports, report downloads and partner exports, newest first (Beijing time). Layout
only: rows come from the named query ``audit.recent``, which refuses every other role.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from core.timeutil import BEIJING
from dashboards.data import has_rows, run_query
from dashboards.widgets import page_setup
from streams.warehouse.audit import ACTIONS

LABELS = {
    "login": "登录",
    "login_failed": "登录失败",
    "login_blocked": "登录被限制",
    "logout": "退出",
    "session_refused": "会话被拒绝",
    "denied": "越权访问被拒绝",
    "case_action": "案件操作",
    "evidence_export": "证据导出",
    "report_download": "报告下载",
    "partner_export": "合作方导出",
    "user_admin": "账号管理",
}

page_setup("审计日志")  # language switch and plate / VIN search, as on every page
days = st.sidebar.selectbox(
    "时间范围", [1, 7, 30, 90], index=1, format_func=lambda d: f"最近 {d} 天"
)
action = st.sidebar.selectbox(
    "事件", ["", *ACTIONS], format_func=lambda a: LABELS.get(a, "全部") if a else "全部"
)
user = st.sidebar.text_input("用户名")
until = datetime.now(UTC) + timedelta(minutes=1)
rows = run_query("audit.recent", until - timedelta(days=days), until, action or None, user or None)
if not has_rows(rows):
    st.info("没有符合条件的审计记录。")
    st.stop()
view = rows.copy()
view["ts"] = view["ts"].dt.tz_localize("UTC") if view["ts"].dt.tz is None else view["ts"]
view["时间（北京时间）"] = view["ts"].dt.tz_convert(BEIJING).dt.strftime("%Y-%m-%d %H:%M:%S")
view["事件"] = view["action"].map(lambda a: LABELS.get(a, a))
view = view.rename(
    columns={
        "user": "用户",
        "outcome": "结果",
        "what": "对象",
        "client": "来源",
        "scope": "权限范围",
    }
)
st.caption(f"共 {len(view)} 条（最多显示 2000 条）")
st.dataframe(
    view[["时间（北京时间）", "用户", "事件", "结果", "对象", "来源", "权限范围"]],
    hide_index=True,
    use_container_width=True,
)
