from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.registry import load_registry
from streams.settings import load_settings


def test_registry_errors_name_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "rsd_sites:\n  - {id: S1, name: s, jurisdiction: mars, lat: 1, lon: 2, token: t}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_registry(tmp_path)
    msg = str(err.value)
    assert "a.yaml" in msg and "rsd_sites.0.jurisdiction" in msg and "qingpu" in msg
    (tmp_path / "a.yaml").write_text("bogus_section: []\n")
    with pytest.raises(ConfigError, match="bogus_section"):
        load_registry(tmp_path)
    with pytest.raises(ConfigError, match="registry"):
        load_registry(tmp_path / "empty")


def test_registry_lookups(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "stations:\n"
        '  - {id: QP-ST-0001, name: A, jurisdiction: qingpu, operator: op, mn: MN1, password: "env:QP1_PW",\n'
        "     nozzles: [{number: 1}, {number: 2}]}\n"
        "obd_vehicles:\n"
        "  - {vin: LGDCHA1G8MA127733, plate: 沪A12345, jurisdiction: qingpu, fleet: f,\n"
        "     vehicle_class: bus, engine_ref_torque_nm: 1500, rated_power_kw: 200}\n"
    )
    reg = load_registry(tmp_path)
    assert reg.station_by_mn("MN1").id == "QP-ST-0001"
    assert reg.station_by_mn("nope") is None
    assert reg.vehicle("LGDCHA1G8MA127733").vehicle_class == "bus"


def test_settings_bad_value_names_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMW_DASHBOARD_PORT", "99999")
    with pytest.raises(ConfigError, match="EMW_DASHBOARD_PORT"):
        load_settings()
    monkeypatch.setenv("EMW_DASHBOARD_PORT", "8501")
    monkeypatch.setenv("EMW_BUS", "rabbit")
    with pytest.raises(ConfigError, match="EMW_BUS"):
        load_settings()


def test_settings_default_dsn_is_chdb_in_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMW_DATA_DIR", str(tmp_path))
    s = load_settings()
    assert s.resolved_dsn == f"chdb://{tmp_path.resolve() / 'warehouse'}"
    monkeypatch.setenv("EMW_WAREHOUSE_PASSWORD", "s3cr3t-value")
    monkeypatch.setenv("EMW_OIDC_CLIENT_SECRET", "0idc-s3cr3t")
    monkeypatch.setenv("EMW_ADMIN_PASSWORD", "adm1n-s3cr3t")
    shown = repr(load_settings()) + str(load_settings())
    assert not any(v in shown for v in ("s3cr3t-value", "0idc-s3cr3t", "adm1n-s3cr3t"))
    monkeypatch.setenv("EMW_WAREHOUSE_DSN", "http://emw:hunter2@clickhouse:8123")
    s = load_settings()
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.warehouse_dsn)
    assert s.masked_dsn == "http://emw:***@clickhouse:8123"
    assert s.resolved_dsn == "http://emw:hunter2@clickhouse:8123"  # what connect() gets


def test_registry_refuses_a_plain_secret(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "rsd_sites:\n  - {id: S1, name: s, jurisdiction: qingpu, lat: 1, lon: 2, token: dev-123}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_registry(tmp_path)
    assert "rsd_sites.0.token" in str(err.value) and "dev-123" not in str(err.value)


def test_registry_dir_defaults_to_the_data_dirs_own_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EMW_REGISTRY_DIR", raising=False)
    monkeypatch.setenv("EMW_DATA_DIR", str(tmp_path))
    assert load_settings().registry_dir is None  # nothing there: the shipped registry
    (tmp_path / "registry").mkdir()
    assert load_settings().registry_dir is None  # an empty folder is not a registry
    (tmp_path / "registry" / "rsd.yaml").write_text("{}", encoding="utf-8")
    assert load_settings().registry_dir == tmp_path / "registry"  # e.g. what `emwatch seed` wrote
    assert load_settings(data_dir=tmp_path / "other").registry_dir is None
    monkeypatch.setenv("EMW_REGISTRY_DIR", str(tmp_path / "mine"))
    assert load_settings().registry_dir == tmp_path / "mine"  # an explicit one wins
