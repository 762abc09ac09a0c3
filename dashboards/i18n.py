"""The dashboards' one message catalogue: gettext over ``dashboards/locale/<lang>/LC_MESSAGES/emwatch.po``.

Message ids are English; Simplified Chinese (``zh_CN``) is the default language and English
(``en``) is the message ids themselves. The ``.po`` file is the source of truth: it is read with
Babel and compiled to an in-memory ``.mo`` once per process (no build step, nothing generated in
the tree), then served by the standard library's ``gettext.GNUTranslations``.

Pages call ``_("…")`` at render time, so the language a user picked in the sidebar applies to the
whole run; ``N_("…")`` marks a string for the catalogue where it is translated later (tables of
labels). ``tests/unit/dashboards/test_i18n.py`` fails when a marked string has no translation.

The chosen language lives in ``st.session_state["lang"]`` (a plain key, not a widget key, so it
survives page switches); outside a Streamlit run the default applies.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "emwatch"
DEFAULT = "zh_CN"
LANGUAGES = {"zh_CN": "简体中文", "en": "English"}
_STATE_KEY = "lang"


def catalogue_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``lang`` (English: the message ids themselves)."""
    if lang == "en":
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    path = catalogue_path(lang)
    if not path.exists():
        raise FileNotFoundError(f"no message catalogue for {lang!r} at {path}")
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def current() -> str:
    """The language of this session (the default outside a Streamlit run)."""
    try:
        import streamlit as st

        lang = st.session_state.get(_STATE_KEY, DEFAULT)
    except Exception:  # no script run context (imports, plain tests)
        return DEFAULT
    return lang if lang in LANGUAGES else DEFAULT


def set_language(lang: str) -> None:
    import streamlit as st

    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: expected one of {', '.join(LANGUAGES)}")
    st.session_state[_STATE_KEY] = lang


def _(message: str) -> str:
    """Translate ``message`` into the session's language."""
    return translations(current()).gettext(message)


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it now."""
    return message


def is_english() -> bool:
    return current() == "en"
