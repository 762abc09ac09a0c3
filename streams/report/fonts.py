"""The CJK font of the report: Noto Sans SC (SIL Open Font License 1.1), installed from PyPI by the
project's set-up (package ``pylopdf-fonts-zh-cn``, in the ``reports`` extra). Nothing is fetched at
run time; when the package is missing, the error names the extra to install."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from core.errors import EmwError


class FontMissing(EmwError):
    pass


@cache
def cjk_font_path() -> Path:
    try:
        import pylopdf_fonts_zh_cn
    except ImportError:
        raise FontMissing(
            "the report's Chinese font is not installed: pip install 'yrd-emissions-watch[reports]' "
            "(package pylopdf-fonts-zh-cn, Noto Sans SC)"
        ) from None
    path = Path(pylopdf_fonts_zh_cn.sans_path())
    if not path.is_file():
        raise FontMissing(
            f"the report's Chinese font file {path} is missing; reinstall pylopdf-fonts-zh-cn"
        )
    return path
