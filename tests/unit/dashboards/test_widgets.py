"""Tables for people: Beijing time labelled, rates as percentages, names not codes, gaps as –."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from dashboards.widgets import Col, count, fmt_rate, fmt_time, jurisdiction_name, rule_name, shape


def test_shape_converts_times_rates_names_and_gaps() -> None:
    df = pd.DataFrame(
        {
            "ts": [
                datetime(2026, 12, 6, 16, 30, tzinfo=UTC),
                datetime(2026, 12, 6, 17, 0, tzinfo=UTC),
            ],
            "jurisdiction": ["qingpu", "zone"],
            "rate": [0.953, None],
            "rule_id": ["RS-REPEAT", "FV-AL-ALARM"],
            "grade_confidence": [0.5, 0.25],
        }
    )
    frame, config = shape(
        df,
        [
            Col("ts", "Time", "time"),
            Col("jurisdiction", "Jurisdiction", "jur"),
            Col("rate", "Pass rate", "rate", digits=1),
            Col("rule_id", "Rule", "rule"),
            Col("missing", "Ignored"),
        ],
    )
    assert list(frame.columns) == ["时间（北京时间）", "辖区", "达标率（%）", "规则"]
    assert "grade_confidence" not in frame.columns  # only what the page lists is shown
    assert frame["时间（北京时间）"].iloc[0] == pd.Timestamp(
        "2026-12-07 00:30:00"
    )  # next day in Beijing
    assert list(frame["辖区"]) == ["青浦区", "示范区联合执法"]
    assert list(frame["达标率（%）"]) == ["95.3%", "–"]
    assert frame["规则"].iloc[0] == "六个自然月内再次超标（RS-REPEAT）"
    assert "时间（北京时间）" in config


def test_counts_show_thousands_separators_and_gaps_as_dashes() -> None:
    df = pd.DataFrame({"rows": [101284, 7], "gappy": [1500.0, None]})
    frame, config = shape(df, [Col("rows", "Rows", "int"), Col("gappy", "Readings", "int")])
    assert config["行数"]["type_config"]["format"] == "localized"  # the browser's 101,284
    assert list(frame["行数"]) == [101284, 7]
    assert list(frame["监测数据"]) == ["1,500", "–"]


def test_single_values() -> None:
    assert fmt_time(datetime(2026, 12, 6, 23, 59, tzinfo=UTC)) == "2026-12-07 07:59"
    assert fmt_time(None) == "–"
    assert fmt_rate(0.5) == "50%"
    assert jurisdiction_name("wujiang") == "吴江区"
    assert rule_name("NO-SUCH-RULE") == "NO-SUCH-RULE"
    assert count(3166) == "3,166" and count(np.int64(7)) == "7" and count(None) == "–"


def test_each_names_every_row_calling_once_per_distinct_value() -> None:
    import numpy as np

    from dashboards.widgets import each

    calls: list[object] = []

    def name(v: object) -> str:
        calls.append(v)
        return (
            "–"
            if v is None or v != v
            else "、".join(map(str, v))
            if not isinstance(v, str)
            else v.upper()
        )

    s = pd.Series(
        ["qingpu", "qingpu", None, float("nan"), ["a", "b"], np.array(["a", "b"]), "wujiang"],
        index=[10, 11, 12, 13, 14, 15, 16],
    )
    out = each(s, name)
    assert list(out.index) == [10, 11, 12, 13, 14, 15, 16]  # rows keep their place
    assert list(out) == ["QINGPU", "QINGPU", "–", "–", "a、b", "a、b", "WUJIANG"]
    assert calls.count("qingpu") == 1 and calls.count("wujiang") == 1
    assert len(calls) == 5  # a list and an array with the same items count once


def test_boxed_jpeg_draws_the_boxes_and_follows_a_replaced_picture(tmp_path) -> None:
    import io
    import os

    from PIL import Image

    from dashboards.widgets import boxed_jpeg

    pic = tmp_path / "frame.jpg"
    Image.new("RGB", (60, 40), (255, 255, 255)).save(pic)
    drawn = Image.open(io.BytesIO(boxed_jpeg(pic, [((10, 10, 50, 30), "#e03030")])))
    assert drawn.format == "JPEG" and drawn.size == (60, 40)
    r, g, b = drawn.convert("RGB").getpixel((10, 20))  # on the box's left edge
    assert r > 180 and g < 120 and b < 120
    assert min(drawn.convert("RGB").getpixel((30, 20))) > 230  # inside stays white
    # the same file name with another picture (a newer version): drawn again, not served old
    Image.new("RGB", (60, 40), (0, 0, 0)).save(pic)
    st = pic.stat()
    os.utime(pic, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    again = Image.open(io.BytesIO(boxed_jpeg(pic, [((10, 10, 50, 30), "#e03030")])))
    assert max(again.convert("RGB").getpixel((30, 20))) < 30


def test_one_per_slot_keeps_the_first_row_of_each_group_and_slot_with_its_count() -> None:
    from dashboards.widgets import one_per_slot

    t0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    df = pd.DataFrame(
        {
            "ts": [t0, t0.replace(minute=10), t0.replace(minute=59), t0.replace(hour=9), t0],
            "source": ["rsd", "rsd", "rsd", "rsd", "obd"],
            "what": ["exceedance"] * 5,
            "label": ["a", "b", "c", "d", "e"],
        }
    )
    out = one_per_slot(df, "ts", ("source", "what"), 60)
    assert list(out["label"]) == ["a", "d", "e"]  # 08:00–08:59 of rsd is one point
    assert list(out["n"]) == [3, 1, 1]
    assert one_per_slot(df, "ts", ("source", "what"), 1)["n"].sum() == len(df)


def test_units_read_as_people_write_them() -> None:
    df = pd.DataFrame({"unit": ["days", "1", "mg/m3", "ppm", "s", "DTCs", ""]})
    frame, _config = shape(df, [Col("unit", "Unit", "unit")])
    assert list(frame["单位"]) == ["天", "比值", "mg/m³", "ppm", "秒", "个故障码", ""]
