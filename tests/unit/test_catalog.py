"""Explicit wiring (issue 16): ``streams.catalog.PLUGINS`` is the one list of what each package
plugs in, every part is imported directly, and a part that cannot be imported fails loudly
(``PluginError`` naming plugin and part) instead of being skipped."""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.plugin import PARTS, Plugin, PluginError
from core.processing import Processor
from streams import catalog

REPO = Path(__file__).resolve().parents[2]
ROOMS = {
    "events": "events.py",
    "processors": "processors.py",
    "embedded": "embedded.py",
    "cli": "cli.py",
}


@pytest.fixture
def fresh_catalog() -> Iterator[None]:
    catalog.event_types.cache_clear()
    catalog.processors.cache_clear()
    yield
    catalog.event_types.cache_clear()
    catalog.processors.cache_clear()


def test_every_part_of_every_plugin_imports_and_has_its_entry_point() -> None:
    loaded = catalog.load_all()
    assert set(loaded) == {p.name for p in catalog.PLUGINS}
    for name, parts in loaded.items():
        for part, mod in parts.items():
            assert mod.__name__.split(".")[0] == name.split(".")[0], (name, part, mod.__name__)
    assert all(isinstance(p, Processor) for p in catalog.processors())
    kinds = catalog.event_types()
    assert {"exceedance", "obd.sample", "vapor.fuelling", "rsd.pass", "smoke.capture"} <= set(kinds)
    assert all(callable(m.start) for m in catalog.embedded_modules())


def test_every_room_module_on_disk_is_declared_by_its_packages_plugin() -> None:
    """A package's events/processors/embedded/cli module that no plugin declares is not wired: a
    new or renamed module must be listed in that package's plugin.py."""
    declared = {
        (p.name, part): mod.__file__
        for p in catalog.PLUGINS
        for part in p.parts()
        if (mod := p.load(part)) is not None
    }
    missing = []
    for pkg in sorted(d for d in REPO.iterdir() if (d / "__init__.py").is_file()):
        if pkg.name in ("core", "streams", "dashboards", "tests", "bench"):
            continue  # kernel (events helpers; its event is exceedance.py) and the platform itself
        for part, room in ROOMS.items():
            f = pkg / room
            if f.is_file() and Path(str(declared.get((pkg.name, part)))) != f:
                missing.append(f"{pkg.name}/{room}")
    assert missing == []
    assert {p.name for p in catalog.PLUGINS} >= {
        "obd_gateway",
        "fuel_vapor",
        "remote_sensing",
        "smoke_capture",
        "enforcement",
        "core",
    }


def _broken() -> types.ModuleType:
    from obd_gateway import eventz  # type: ignore[attr-defined]  # a renamed module

    return eventz  # type: ignore[no-any-return]


@pytest.mark.parametrize("part", PARTS)
def test_a_part_that_cannot_be_imported_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, fresh_catalog: None, part: str
) -> None:
    broken = Plugin("emw_broken", **{part: _broken})
    monkeypatch.setattr(catalog, "PLUGINS", (*catalog.PLUGINS, broken))
    with pytest.raises(PluginError, match=f"emw_broken.*{part}.*eventz"):
        catalog.load_all()
    with pytest.raises(PluginError):
        catalog.modules(part)  # type: ignore[arg-type]


def test_event_types_and_processors_do_not_skip_a_broken_plugin(
    monkeypatch: pytest.MonkeyPatch, fresh_catalog: None
) -> None:
    monkeypatch.setattr(
        catalog,
        "PLUGINS",
        (*catalog.PLUGINS, Plugin("emw_broken", events=_broken, processors=_broken)),
    )
    with pytest.raises(PluginError, match="events"):
        catalog.event_types()
    with pytest.raises(PluginError, match="processors"):
        catalog.processors()


def test_a_part_without_its_entry_point_fails_loudly(fresh_catalog: None) -> None:
    import core.errors

    for part in PARTS:
        with pytest.raises(PluginError, match=r"core\.errors has no"):
            Plugin("emw_test", **{part: lambda: core.errors}).load(part)


def test_plugin_lookup_names_the_known_plugins() -> None:
    assert catalog.plugin("fuel_vapor").load("embedded") is not None
    with pytest.raises(KeyError, match="obd_gateway"):
        catalog.plugin("nope")
