"""The message catalogue: every label the pages show has a Simplified Chinese translation, the
catalogue compiles, English is the message ids, and names are as officers write them."""

from __future__ import annotations

import ast
import re
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
    "unit_cases": (1,),
}
CJK = re.compile(r"[\u4e00-\u9fff]")
# a plate written as an example in an English message (沪A12345), not a label in Chinese
PLATE_EXAMPLE = re.compile(r"[\u4e00-\u9fff][A-Z][0-9A-Z]{5,6}")
# the only Chinese literals outside the catalogue: shown the same in both languages
BILINGUAL = {"语言 / Language", "简体中文", "YRD Emissions Watch 长三角示范区排放监管平台"}


def chinese(text: str) -> bool:
    """True when ``text`` holds Chinese words (a plate example does not count)."""
    return bool(CJK.search(PLATE_EXAMPLE.sub("", text)))


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


def _docstrings(tree: ast.AST) -> set[int]:
    kinds = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, kinds)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def test_no_chinese_label_is_written_outside_the_catalogue() -> None:
    """A Chinese string literal in a page would stay Chinese when English is chosen: every label
    goes through the catalogue with an English message id (docstrings and the few bilingual
    strings aside)."""
    found = []
    for path in sorted(DASHBOARDS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docs
                and node.value not in BILINGUAL
                and chinese(node.value)
            ):
                found.append(f"{path.name}:{node.lineno} {node.value[:40]!r}")
    assert not found, found


def test_every_message_id_has_both_languages() -> None:
    """zh_CN: a translation in the .po file; en: the message id itself, so it must be English."""
    zh = i18n.translations("zh_CN")
    en = i18n.translations("en")
    catalog = zh._catalog  # type: ignore[attr-defined]
    marked = marked_messages()
    not_english = {m: f for m, f in marked.items() if chinese(m)}
    assert not not_english, not_english
    assert not [m for m in marked if m not in catalog]
    assert all(en.gettext(m) == m for m in marked)
    untranslated = [m for m in marked if chinese(m) == chinese(zh.gettext(m)) and m.isascii()]
    assert not [m for m in untranslated if any(c.isalpha() for c in m) and len(m) > 3], untranslated


def test_page_titles_are_catalogue_ids() -> None:
    from dashboards.app import page_specs

    catalog = i18n.translations("zh_CN")._catalog  # type: ignore[attr-defined]
    for _g, path, title in page_specs():
        assert not chinese(title), f"{path.name}: the title is the English message id"
        assert title in catalog, f"{path.name}: {title!r} has no Chinese translation"
