"""An OIDC login's station operator is scoped by the registry the platform runs with: a station
that exists only in a seeded or configured registry (``EMW_REGISTRY_DIR``) is known at login as it
is to the API, and its jurisdiction comes from there."""

from __future__ import annotations

import shutil

import pytest
import yaml

from core.access import AccessError
from core.registry import DEFAULT_DIR
from dashboards.auth import scope_from_claims


def _registry_with_extra_station(tmp_path):
    reg = tmp_path / "registry"
    reg.mkdir()
    for f in DEFAULT_DIR.glob("*.yaml"):
        shutil.copyfile(f, reg / f.name)
    shipped = yaml.safe_load((DEFAULT_DIR / "stations.yaml").read_text("utf-8"))["stations"][0]
    extra = dict(shipped, id="JS-ST-0999", name="嘉善测试加油站", jurisdiction="jiashan")
    extra["mn"] = "3304ST0999000000000000"
    (reg / "seed_stations.yaml").write_text(
        yaml.safe_dump({"stations": [extra]}, allow_unicode=True), "utf-8"
    )
    return reg


def test_a_seeded_station_operator_gets_the_seeded_stations_jurisdiction(tmp_path, monkeypatch):
    claims = {"preferred_username": "op99", "emw_role": "station_operator"}
    claims["emw_stations"] = "JS-ST-0999"
    monkeypatch.delenv("EMW_REGISTRY_DIR", raising=False)
    with pytest.raises(AccessError):  # unknown to the shipped registry
        scope_from_claims(claims)
    monkeypatch.setenv("EMW_REGISTRY_DIR", str(_registry_with_extra_station(tmp_path)))
    scope = scope_from_claims(claims)
    assert scope.stations == ("JS-ST-0999",)
    assert scope.jurisdictions == ("jiashan",)
    assert scope.roles == ("station_operator",)
    # a shipped station still resolves from the same registry
    shipped = scope_from_claims(dict(claims, emw_stations="QP-ST-0001"))
    assert shipped.jurisdictions == ("qingpu",)
