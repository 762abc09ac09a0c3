"""The message catalogue: every label the pages show has a Simplified Chinese translation, the
catalogue compiles, English is the message ids, and names are as officers write them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dashboards import i18n

DASHBOARDS = Path(i18n.__file__).resolve().parent
# helper -> positions (or keyword names) of its arguments that are catalogue ids
LABEL_ARGS: dict[str, tuple[int | str, ...]] = {
    "_": (0,),
    "N_": (0,),
    "no_data": (0,),
    "page_setup": (0, 1),
    "metric": (1, "help"),
    "Col": (1,),
    "time_chart": (3, "series"),
    "day_chart": (4, "color_title"),
}


def _name(func: ast.expr) -> str:
    return (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else ""
    )


def marked_messages() -> dict[str, str]:
    """Catalogue ids used in the dashboards' source -> the first file using each."""
    found: dict[str, str] = {}
    for path in sorted(DASHBOARDS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _name(node.func) not in LABEL_ARGS:
                continue
            spots = LABEL_ARGS[_name(node.func)]
            args: list[ast.expr] = [
                node.args[i] for i in spots if isinstance(i, int) and i < len(node.args)
            ]
            args += [k.value for k in node.keywords if k.arg in spots]
            for a in args:
                values = a.values if isinstance(a, ast.Dict) else [a]
                for v in values:
                    if isinstance(v, ast.Constant) and isinstance(v.value, str) and v.value:
                        found.setdefault(v.value, path.name)
    return found


def test_the_catalogue_compiles_and_translates() -> None:
    zh = i18n.translations("zh_CN")
    assert zh.gettext("Platform status") == "平台状态"
    assert i18n.translations("en").gettext("Platform status") == "Platform status"


def test_every_marked_label_has_a_chinese_translation() -> None:
    zh = i18n.translations("zh_CN")
    catalog = zh._catalog  # type: ignore[attr-defined]
    missing = {m: f for m, f in marked_messages().items() if m not in catalog}
    assert not missing, f"{len(missing)} labels without a translation: {missing}"


def test_every_rule_has_an_officers_name() -> None:
    from core.ruleset import default_ruleset

    catalog = i18n.translations("zh_CN")._catalog  # type: ignore[attr-defined]
    rs = default_ruleset()
    missing = [i for i in rs.ids() if rs.rule(i).spec.title not in catalog]
    assert not missing, missing


def test_every_what_to_check_hint_is_translated() -> None:
    from fuel_vapor.rules import HINTS

    catalog = i18n.translations("zh_CN")._catalog  # type: ignore[attr-defined]
    assert not [r for r, h in HINTS.items() if h not in catalog]


def test_unknown_language_is_refused() -> None:
    with pytest.raises(FileNotFoundError):
        i18n.translations("xx")
