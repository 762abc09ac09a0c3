"""Vehicle identity across sources (pure): one vehicle id for a plate seen by a roadside unit, a
plate read by a smoke camera and a VIN reporting over remote OBD.

Builds on ``core.ids`` (``Plate.parse``: province character + issuing letter + 5 serial characters,
6 for new-energy plates, GA 36-2018; ``parse_vin``: ISO 3779 check digit).

* **Plate text** arrives in several shapes: ``沪A12345``, ``沪A·12345``, ``沪A12345|yellow`` (the RSD
  key: number + colour), with a Chinese colour word (``黄``, ``蓝``, ``绿``, ``黄绿``). An 8-character
  plate is a new-energy (green) plate.
* **Vehicle id**: the normalised plate number when a plate is known (officers search by plate), else
  the VIN. A VIN with a plate link (OBD registration in the registry, or a source record that
  carries both, e.g. an RSD record enriched from a vehicle registry) resolves to that plate, so an
  OBD terminal registered in Jiashan, an RSD pass in Qingpu and a camera in Wujiang are one vehicle.
* **Unread plates** (``unread:CAM:track``) stay their own subject: nothing can be joined to them.

* **One key everywhere**: ``vehicle:<plate number>`` (:func:`vehicle_key`) is the partition key of
  RSD passes, of every vehicle finding and of its cases; the cross-source rules and the case
  processor use nothing else. The plate colour is part of the identity where a source knows it
  (:func:`same_colour`): two findings whose known colours differ are two vehicles for the
  cross-source rules (a blue and a yellow ``沪A12345``), an unknown colour matches either. A VIN
  linked through the registry takes the registered plate's colour.

Known limits: a blue and a yellow ``沪A12345`` share one case key (and so one open case per issue);
the cross-source rules keep them apart. A plate↔VIN link that a source learns at run time is
stored (``vehicle.link``) and used by the history queries; the stream processors resolve through the
registry's links only, which every partition can read without shared state.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ValidationError
from core.exceedance import Exceedance
from core.ids import Plate, PlateColour, is_valid_vin, parse_vin, split_nozzle_id
from core.registry import Registry

COLOUR_WORDS = {
    "蓝": PlateColour.BLUE,
    "黄": PlateColour.YELLOW,
    "白": PlateColour.WHITE,
    "黑": PlateColour.BLACK,
    "绿": PlateColour.GREEN,
    "渐变绿": PlateColour.GREEN,
    "黄绿": PlateColour.YELLOW_GREEN,
}
VEHICLE_CLASSES = ("heavy_diesel", "diesel", "gasoline", "new_energy", "unknown")


def parse_colour(text: str | None) -> PlateColour:
    t = (text or "").strip().lower()
    if not t:
        return PlateColour.UNKNOWN
    if t in COLOUR_WORDS:
        return COLOUR_WORDS[t]
    try:
        return PlateColour(t)
    except ValueError:
        raise ValidationError(
            "plate_colour", text, "blue, yellow, white, black, green, yellow_green or 蓝/黄/绿/黄绿"
        ) from None


@functools.lru_cache(maxsize=1 << 16)
def parse_plate(text: str, colour: str | None = None) -> Plate:
    """A plate from any shape the sources use; ``|colour`` in the text wins over ``colour``.

    Pure, and a plate is immutable: results are kept (a busy plate passes many times a day)."""
    number, _, col = text.partition("|")
    return Plate.parse(number, parse_colour(col or colour))


@dataclass(frozen=True, slots=True)
class Identifier:
    """What a person typed to find a vehicle: a plate or a VIN (``kind``), normalised."""

    kind: str  # "plate" | "vin"
    value: str  # plate number or VIN
    colour: str = ""


def parse_identifier(text: str) -> Identifier:
    """``沪A12345`` / ``沪A12345|yellow`` / a 17-character VIN; anything else is a ValidationError."""
    t = text.strip().upper()
    if len(t) == 17 and t.isascii():
        return Identifier("vin", parse_vin(t))
    try:
        p = parse_plate(text)
    except ValidationError:
        raise ValidationError(
            "vehicle",
            text,
            "a plate (province character + letter + 5-6 characters) or a 17-character VIN",
        ) from None
    return Identifier("plate", p.number, p.colour.value)


UNKNOWN_COLOURS = frozenset({"", "unknown"})


def vehicle_key(number: str) -> str:
    """The one key of a vehicle across sources, cases and partitions: ``vehicle:<plate number>``
    (or ``vehicle:<VIN>`` for a VIN no plate is linked to)."""
    return f"vehicle:{number}"


def same_colour(a: str, b: str) -> bool:
    """Two plate colours that can belong to one vehicle: equal, or at least one unknown."""
    return a in UNKNOWN_COLOURS or b in UNKNOWN_COLOURS or a == b


@dataclass(frozen=True, slots=True)
class Links:
    """Plate↔VIN links: the registry's OBD registrations plus any pairs a source supplied, and the
    registered colour of a linked plate."""

    vin_to_plate: Mapping[str, str]
    plate_to_vins: Mapping[str, tuple[str, ...]]
    plate_colour: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def build(
        cls, pairs: Iterable[tuple[str, str]], colours: Mapping[str, str] | None = None
    ) -> Links:
        v2p: dict[str, str] = {}
        p2v: dict[str, list[str]] = {}
        for plate, vin in pairs:
            v2p[vin] = plate
            lst = p2v.setdefault(plate, [])
            if vin not in lst:
                lst.append(vin)
        return cls(v2p, {k: tuple(v) for k, v in p2v.items()}, dict(colours or {}))

    def plate_of(self, vin: str) -> str | None:
        return self.vin_to_plate.get(vin)

    def vins_of(self, plate: str) -> tuple[str, ...]:
        return self.plate_to_vins.get(plate, ())

    def colour_of(self, plate: str) -> str:
        return self.plate_colour.get(plate, "")


_LINKS: dict[int, Links] = {}


def registry_links(registry: Registry) -> Links:
    """Links from the registry's OBD registrations (cached per registry object)."""
    got = _LINKS.get(id(registry))
    if got is None:
        pairs = []
        colours: dict[str, str] = {}
        for v in registry.obd_vehicles:
            try:
                p = parse_plate(v.plate, v.plate_colour)
            except ValidationError:
                continue
            pairs.append((p.number, v.vin))
            colours[p.number] = p.colour.value
        got = _LINKS[id(registry)] = Links.build(pairs, colours)
    return got


@dataclass(frozen=True, slots=True)
class Subject:
    """Who an exceedance (and so a case) is about, resolved across sources.

    ``kind``: ``vehicle`` or ``station`` (nozzles roll up to their station), or the exceedance's own
    kind for depots, sensors, devices and sites. ``id``: the vehicle id (plate number, else VIN) or
    the station/unit id.
    """

    kind: str
    id: str
    plate: str = ""
    plate_colour: str = ""
    vin: str = ""

    @property
    def key(self) -> str:
        return vehicle_key(self.id) if self.kind == "vehicle" else f"{self.kind}:{self.id}"


def vehicle_subject(
    plate: str | None, vin: str | None, links: Links, colour: str | None = None
) -> Subject:
    """The vehicle subject for a plate and/or a VIN (at least one), linked where a link exists."""
    p: Plate | None = None
    if plate:
        p = parse_plate(plate, colour)
    v = parse_vin(vin, check_digit=False) if vin else ""
    if p is None and v:
        linked = links.plate_of(v)
        if linked:
            p = parse_plate(linked, links.colour_of(linked))
    if p is None and not v:
        raise ValidationError("vehicle", (plate, vin), "a plate or a VIN")
    if p is not None and not v:
        vins = links.vins_of(p.number)
        v = vins[0] if len(vins) == 1 else ""
    col = p.colour.value if p is not None else ""
    if p is not None and col in UNKNOWN_COLOURS and v and links.plate_of(v) == p.number:
        col = links.colour_of(p.number)  # the registered colour of the linked plate
    return Subject("vehicle", p.number if p is not None else v, p.number if p else "", col, v)


def subject_of(ex: Exceedance, links: Links) -> Subject:
    """Resolve an exceedance's subject; unparseable vehicle ids stay as they are (unread plates)."""
    sid = ex.subject_id
    if ex.subject_kind == "vehicle":
        d = ex.detail
        if sid.startswith("unread:") or sid.startswith("camera:"):
            return Subject("vehicle", sid)
        try:
            if is_valid_vin(sid, check_digit=False):
                plate = d.get("plate") if isinstance(d.get("plate"), str) else None
                return vehicle_subject(plate, sid, links, d.get("plate_colour"))
            vin = d.get("vin") if isinstance(d.get("vin"), str) else None
            return vehicle_subject(sid, vin, links, d.get("plate_colour"))
        except ValidationError:
            return Subject("vehicle", sid)
    if ex.subject_kind == "nozzle":
        try:
            station, _ = split_nozzle_id(sid)
        except ValidationError:
            return Subject("nozzle", sid)
        return Subject("station", station)
    return Subject(ex.subject_kind, sid)


def links_in(ex: Exceedance, links: Links) -> list[tuple[str, str, str]]:
    """(plate, VIN, how) pairs this exceedance supplies that the known links do not hold yet."""
    s = subject_of(ex, links)
    if s.kind != "vehicle" or not s.plate or not s.vin:
        return []
    if links.plate_of(s.vin) == s.plate:
        return []
    return [(s.plate, s.vin, ex.source)]


def vehicle_class(ex: Exceedance, registry: Registry, subject: Subject) -> str:
    """``heavy_diesel`` first in triage: an OBD-registered vehicle (heavy diesel by the HJ 1239
    scope), a yellow-plated diesel, or a diesel the source calls heavy."""
    if subject.kind != "vehicle":
        return "unknown"
    if subject.vin and registry.vehicle(subject.vin) is not None:
        return "heavy_diesel"
    if ex.source == "obd_gateway":
        return "heavy_diesel"
    d: dict[str, Any] = ex.detail
    colour = subject.plate_colour or str(d.get("plate_colour") or "")
    if colour in ("green", "yellow_green") or len(subject.plate) == 8:
        return "new_energy"
    fuel = str(d.get("fuel") or "")
    if ex.source == "smoke_capture" or fuel == "diesel":
        return "heavy_diesel" if colour == "yellow" else "diesel"
    if fuel == "gasoline":
        return "gasoline"
    return "unknown"
