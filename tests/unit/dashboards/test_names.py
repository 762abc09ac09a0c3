"""Names as officers write them: every fleet and RSD site of the registry has its Chinese name,
and pages show sites, cameras, fleets, stations and sensors by name, never by id."""

from __future__ import annotations

import pandas as pd

from core.registry import default_registry
from dashboards.widgets import Col, registry_name, shape


def test_every_fleet_and_site_has_a_chinese_name() -> None:
    reg = default_registry()
    fleets = {f.id: f for f in reg.fleets}
    assert {v.fleet for v in reg.obd_vehicles} <= set(fleets), "a vehicle's fleet has no name"
    for f in fleets.values():
        assert f.name_zh and f.name_zh != f.id
        assert any("\u4e00" <= c <= "\u9fff" for c in f.name_zh)
    for s in reg.rsd_sites:
        assert any("\u4e00" <= c <= "\u9fff" for c in s.name_zh), s.id


def test_ids_read_as_names() -> None:
    assert registry_name("qingpu-bus") == "青浦公交车队"
    assert registry_name("RSD-WJ-01") == "吴江S227黎里固定遥感点"
    assert registry_name("CAM-QP-01") == "青浦G318沪青平公路固定遥感点 1 号车道摄像机"
    assert registry_name("QP-GW-0001") == "青浦朱家角加油站地下水监测井"
    assert registry_name("QP-DP-0001") == "青浦油库"
    assert registry_name("NOT-IN-REGISTRY") == "NOT-IN-REGISTRY"
    assert registry_name(None) == "–"


def test_a_table_shows_names_not_ids() -> None:
    df = pd.DataFrame({"fleet": ["jiashan-logistics"], "site_id": ["RSD-MOB-01"]})
    frame, _config = shape(df, [Col("fleet", "Fleet", "name"), Col("site_id", "Site", "name")])
    assert list(frame.iloc[0]) == ["嘉善物流车队", "示范区移动遥感车（联合执法组）"]


def test_names_come_from_the_registry_the_platform_runs_with(tmp_path, monkeypatch) -> None:
    # a seeded fleet lives in <data-dir>/registry (EMW_REGISTRY_DIR), not in the shipped registry
    import shutil

    import yaml

    from core.registry import DEFAULT_DIR

    reg = tmp_path / "registry"
    reg.mkdir()
    for f in DEFAULT_DIR.glob("*.yaml"):
        shutil.copyfile(f, reg / f.name)
    extra = {
        "fleets": [{"id": "seed-fleet-9", "name_zh": "示范区测试车队", "jurisdiction": "qingpu"}]
    }
    (reg / "seed_fleet.yaml").write_text(yaml.safe_dump(extra, allow_unicode=True), "utf-8")
    assert registry_name("seed-fleet-9") == "seed-fleet-9"  # unknown to the shipped registry
    monkeypatch.setenv("EMW_REGISTRY_DIR", str(reg))
    assert registry_name("seed-fleet-9") == "示范区测试车队"
    assert registry_name("qingpu-bus") == "青浦公交车队"  # the shipped entries are still there
    monkeypatch.delenv("EMW_REGISTRY_DIR")
    assert registry_name("seed-fleet-9") == "seed-fleet-9"
