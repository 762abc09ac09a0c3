"""Plate / VIN search: what an officer types, normalised to one vehicle (no Streamlit, no SQL).

Tolerant of case, spaces, the middle dot and hyphens (``沪a 12345``, ``沪A·12345``); a 17-character
text is read as a VIN (ISO 3779 check digit), anything else as a plate. The registry links an OBD
vehicle's VIN to its plate so that one search finds every source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.errors import ValidationError
from core.ids import Plate, parse_vin
from core.registry import Registry
from dashboards.i18n import N_

_SEPARATORS = re.compile(r"[\s·\-_.]+")


class SearchError(ValueError):
    """The text is neither a plate nor a VIN; ``message`` is a catalogue id with ``{text}``."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message.format(text=text))
        self.message = message
        self.text = text


@dataclass(frozen=True, slots=True)
class Vehicle:
    plate: str  # "" when only a VIN is known
    vin: str  # "" when the plate has no registered OBD terminal

    @property
    def label(self) -> str:
        return " / ".join(p for p in (self.plate, self.vin) if p)

    def as_state(self) -> dict[str, Any]:
        return {"plate": self.plate, "vin": self.vin}


def normalise(text: str) -> str:
    return _SEPARATORS.sub("", text or "").upper()


def resolve(text: str, registry: Registry) -> Vehicle:
    """The vehicle ``text`` names; raises :class:`SearchError` with a message for people."""
    t = normalise(text)
    if not t:
        raise SearchError(N_("Type a plate (e.g. 沪A12345) or a 17-character VIN."), text)
    if len(t) == 17 and t.isascii():
        try:
            vin = parse_vin(t)
        except ValidationError:
            raise SearchError(
                N_(
                    "“{text}” is not a valid VIN: 17 characters without I, O, Q and a matching check digit."
                ),
                text.strip(),
            ) from None
        v = registry.vehicle(vin)
        return Vehicle(v.plate if v else "", vin)
    try:
        plate = Plate.parse(t)
    except ValidationError:
        raise SearchError(
            N_(
                "“{text}” is not a plate: a province character, a letter and 5–6 characters (e.g. 沪A12345)."
            ),
            text.strip(),
        ) from None
    vin = next((v.vin for v in registry.obd_vehicles if normalise(v.plate) == plate.number), "")
    return Vehicle(plate.number, vin)
