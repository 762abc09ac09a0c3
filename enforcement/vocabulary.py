"""The words of a case (actions, states, their Chinese names): standard library only, so the
command line can name them without importing the rule engine (``emwatch --help`` stays fast)."""

from __future__ import annotations

ACTIONS = ("review", "confirm", "dismiss", "notify", "refer", "check", "reinspect", "close")
STATUSES = (
    "new",
    "in_review",
    "confirmed",
    "dismissed",
    "notified",
    "referred",
    "reinspected",
    "closed",
)
TERMINAL = ("dismissed", "closed")
LABELS = {
    "new": "新线索",
    "in_review": "审核中",
    "confirmed": "已确认",
    "dismissed": "已驳回",
    "notified": "已告知",
    "referred": "已移送",
    "reinspected": "已复检",
    "closed": "已结案",
}
