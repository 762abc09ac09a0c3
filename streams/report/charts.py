"""Trend charts as PNG bytes (matplotlib, Agg backend, the report's CJK font): the same pictures in
the HTML, the PDF and the dashboard page."""

from __future__ import annotations

import io
import threading
from functools import cache

from streams.report.fonts import cjk_font_path
from streams.report.model import Figure

_lock = threading.Lock()  # pyplot's state is global: one chart at a time
COLOURS = ("#1f5fa8", "#d9822b", "#2e9d5b", "#b3382c", "#7a5195", "#555555")


@cache
def _font_name() -> str:
    from matplotlib import font_manager

    path = str(cjk_font_path())
    font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def render_png(fig: Figure, width_in: float = 7.2, height_in: float = 3.0, dpi: int = 150) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    with (
        _lock,
        plt.rc_context({"font.family": _font_name(), "axes.unicode_minus": False, "font.size": 9}),
    ):
        f, ax = plt.subplots(figsize=(width_in, height_in), dpi=dpi)
        try:
            n = len(fig.series)
            xs = list(range(len(fig.x)))
            for i, (name, ys) in enumerate(fig.series):
                vals = [float("nan") if v is None else v for v in ys]
                colour = COLOURS[i % len(COLOURS)]
                if fig.kind == "bar":
                    w = 0.8 / max(n, 1)
                    ax.bar(
                        [x + (i - (n - 1) / 2) * w for x in xs],
                        vals,
                        width=w,
                        label=name,
                        color=colour,
                    )
                else:
                    style = "--" if name in fig.dashed else "-"
                    ax.plot(xs, vals, style, marker="o", markersize=3, label=name, color=colour)
            ax.set_xticks(xs, list(fig.x))
            ax.set_ylabel(fig.y_label)
            ax.set_title(fig.title)
            ax.grid(axis="y", alpha=0.3)
            ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1.0) * 1.08)
            ax.legend(
                fontsize=8,
                ncol=min(n, 5),
                frameon=False,
                loc="upper center",
                bbox_to_anchor=(0.5, -0.14),
            )
            f.tight_layout()
            buf = io.BytesIO()
            f.savefig(buf, format="png")
            return buf.getvalue()
        finally:
            plt.close(f)
