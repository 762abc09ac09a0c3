"""The versioned rule set: every limit and decision rule, loaded from YAML into typed objects.

Files: ``core/data/ruleset/_meta.yaml`` (version, date) plus one file per domain holding ``rules:``.
Each rule has an id, domain, condition text, severity, parameters (value + unit), optional candidate
``limits`` (one per text that may apply: national, DB31/DB32/DB33, zone, special limits), provenance
(kind STD/PRACTICE/DEFAULT, source keys, confidence) and a ``confirmed`` flag.

``RuleSet.strictest`` resolves "the strictest applicable limit" (rules.md §3.1): keep the candidates
whose ``applies`` conditions match the subject, then pick the lowest upper limit or the highest lower
limit. Every decision stores ``rule.id`` and ``ruleset.version``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigError

DEFAULT_DIR = Path(__file__).parent / "data" / "ruleset"

Severity = Literal["info", "notice", "warning", "alarm", "case"]
SEVERITY_ORDER: dict[str, int] = {"info": 0, "notice": 1, "warning": 2, "alarm": 3, "case": 4}


class Param(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    value: float | int | str | bool
    unit: str = ""
    note: str = ""


class LimitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    value: float
    unit: str
    text: str  # the standard or document that supplies the value
    applies: dict[str, str | list[str]] = Field(default_factory=dict)
    confidence: Literal["high", "medium", "low"] = "medium"


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    domain: str
    title: str
    condition: str
    severity: Severity
    escalation: str = ""
    kind: Literal["STD", "PRACTICE", "DEFAULT", "STD/PRACTICE"]
    sources: list[str] = Field(default_factory=list)
    confidence: Literal["high", "medium", "low"]
    confirmed: bool
    params: dict[str, Param] = Field(default_factory=dict)
    bound: Literal["upper", "lower"] = "upper"
    limits: list[LimitSpec] = Field(default_factory=list)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[RuleSpec]


class _Meta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    date: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Limit:
    """The limit chosen for one decision, with where it came from."""

    rule_id: str
    value: float
    unit: str
    bound: str
    text: str
    confidence: str

    def exceeded_by(self, measured: float) -> bool:
        """Upper limits are exceeded when measured > value; lower limits when measured < value."""
        return measured > self.value if self.bound == "upper" else measured < self.value


@dataclass(frozen=True, slots=True)
class Rule:
    spec: RuleSpec
    version: str

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def severity(self) -> str:
        return self.spec.severity

    @property
    def confirmed(self) -> bool:
        return self.spec.confirmed

    def param(self, name: str) -> Any:
        try:
            return self.spec.params[name].value
        except KeyError:
            known = ", ".join(sorted(self.spec.params)) or "none"
            raise KeyError(f"rule {self.id} has no parameter {name!r} (has: {known})") from None


class RuleSet:
    """All rules of one version. Immutable once loaded."""

    def __init__(self, version: str, rules: Mapping[str, RuleSpec], source: str) -> None:
        self.version = version
        self.source = source
        self._rules = {rid: Rule(spec, version) for rid, spec in rules.items()}

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    def __len__(self) -> int:
        return len(self._rules)

    def ids(self) -> list[str]:
        return sorted(self._rules)

    def rule(self, rule_id: str) -> Rule:
        try:
            return self._rules[rule_id]
        except KeyError:
            raise KeyError(f"rule set {self.version} has no rule {rule_id!r}") from None

    def for_domain(self, domain: str) -> list[Rule]:
        return [r for r in self._rules.values() if r.spec.domain == domain]

    def strictest(self, rule_id: str, **subject: str) -> Limit:
        """The strictest limit of ``rule_id`` applicable to ``subject`` (rules.md §3.1).

        A candidate applies when every key of its ``applies`` matches the subject (a list means any
        of). Raises ``LookupError`` when no candidate applies.
        """
        rule = self.rule(rule_id)
        spec = rule.spec
        applicable = [lim for lim in spec.limits if _applies(lim.applies, subject)]
        if not applicable:
            raise LookupError(f"rule {rule_id}: no limit applies to {subject}")
        pick = min if spec.bound == "upper" else max
        best = pick(applicable, key=lambda lim: lim.value)
        return Limit(rule_id, best.value, best.unit, spec.bound, best.text, best.confidence)


def _applies(conds: Mapping[str, str | list[str]], subject: Mapping[str, str]) -> bool:
    for key, want in conds.items():
        have = subject.get(key)
        if have is None:
            return False
        if isinstance(want, list):
            if have not in want:
                return False
        elif have != want:
            return False
    return True


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the same documents, ~10x faster


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except FileNotFoundError:
        raise ConfigError(str(path), "(file)", "an existing rule-set file") from None
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), "(syntax)", f"valid YAML ({exc.__class__.__name__})") from None


def _first_error(path: Path, exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(root)"
    return ConfigError(str(path), loc, err["msg"])


def load_ruleset(directory: str | Path | None = None) -> RuleSet:
    """Load every ``*.yaml`` in ``directory`` (default: the shipped rule set)."""
    d = Path(directory) if directory else DEFAULT_DIR
    meta_path = d / "_meta.yaml"
    try:
        meta = _Meta.model_validate(_read_yaml(meta_path))
    except ValidationError as exc:
        raise _first_error(meta_path, exc) from None
    rules: dict[str, RuleSpec] = {}
    files = sorted(p for p in d.glob("*.yaml") if p.name != "_meta.yaml")
    if not files:
        raise ConfigError(str(d), "(directory)", "at least one rules file besides _meta.yaml")
    for path in files:
        try:
            data = _File.model_validate(_read_yaml(path))
        except ValidationError as exc:
            raise _first_error(path, exc) from None
        for i, spec in enumerate(data.rules):
            if spec.id in rules:
                raise ConfigError(str(path), f"rules.{i}.id", f"a unique id ({spec.id} repeats)")
            rules[spec.id] = spec
    return RuleSet(meta.version, rules, str(d))


@functools.cache
def default_ruleset() -> RuleSet:
    """The shipped rule set, loaded once per process."""
    return load_ruleset()
