from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.ruleset import load_ruleset


def _write(d: Path, meta: str, rules: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "_meta.yaml").write_text(meta)
    (d / "x.yaml").write_text(rules)
    return d


RULE = """
rules:
  - id: T-NO
    domain: remote_sensing
    title: NO limit
    condition: NO above limit
    severity: notice
    kind: STD
    confidence: medium
    confirmed: false
    params:
      window_days: {value: 7, unit: day}
    bound: upper
    limits:
      - {value: 1500, unit: ppm, text: national, applies: {fuel: [gasoline, diesel]}}
      - {value: 1200, unit: ppm, text: DB31, applies: {fuel: diesel, province: Shanghai}}
      - {value: 1000, unit: ppm, text: special, applies: {fuel: diesel, zone: key}}
  - id: T-LOW
    domain: fuel_vapor
    title: lower bound
    condition: x
    severity: warning
    kind: DEFAULT
    confidence: low
    confirmed: true
    bound: lower
    limits:
      - {value: 1.0, unit: ratio, text: national}
      - {value: 1.05, unit: ratio, text: local}
"""


def test_strictest_applicable_limit(tmp_path: Path) -> None:
    rs = load_ruleset(_write(tmp_path / "rs", "version: v9\ndate: '2026-11-23'\n", RULE))
    assert rs.version == "v9" and len(rs) == 2
    # gasoline: only the national value applies
    lim = rs.strictest("T-NO", fuel="gasoline", province="Shanghai")
    assert (lim.value, lim.text) == (1500, "national")
    # diesel in Shanghai: DB31 is stricter than national
    lim = rs.strictest("T-NO", fuel="diesel", province="Shanghai")
    assert (lim.value, lim.text) == (1200, "DB31")
    assert lim.exceeded_by(1200.1) and not lim.exceeded_by(1200)
    # lower bound: the highest lower limit is strictest
    low = rs.strictest("T-LOW")
    assert low.value == 1.05 and low.exceeded_by(1.0) and not low.exceeded_by(1.1)
    with pytest.raises(LookupError):
        rs.strictest("T-NO", fuel="cng")
    assert rs.rule("T-NO").param("window_days") == 7
    with pytest.raises(KeyError, match="window_days"):
        rs.rule("T-NO").param("nope")


def test_bad_files_name_file_and_key(tmp_path: Path) -> None:
    d = _write(
        tmp_path / "bad",
        "version: v1\ndate: x\n",
        RULE.replace("severity: notice", "severity: loud"),
    )
    with pytest.raises(ConfigError) as err:
        load_ruleset(d)
    assert "x.yaml" in str(err.value) and "rules.0.severity" in str(err.value)
    (d / "x.yaml").write_text(RULE + RULE.split("rules:")[1])
    with pytest.raises(ConfigError, match="unique id"):
        load_ruleset(d)
    (d / "_meta.yaml").write_text("date: x\n")
    with pytest.raises(ConfigError, match=r"_meta\.yaml: version"):
        load_ruleset(d)
    with pytest.raises(ConfigError, match="existing rule-set file"):
        load_ruleset(tmp_path / "missing")


def test_shipped_ruleset_is_complete() -> None:
    rs = load_ruleset()
    # every rule has provenance, and each decision can name its version
    for rid in rs.ids():
        r = rs.rule(rid)
        assert r.spec.kind and r.spec.confidence and r.version == rs.version
        if r.spec.confidence == "low":
            assert not r.confirmed, f"{rid}: a low-confidence rule must ship unconfirmed"
    assert {"ENF-REVIEW", "ENF-FLEET"} <= set(rs.ids())
