"""Identifiers: Chinese plates (with province character and colour), VINs (ISO 3779 check digit),
station / nozzle ids and device ids. Parsing is strict and errors name what was expected."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from core.errors import ValidationError

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"


class PlateColour(StrEnum):
    BLUE = "blue"
    YELLOW = "yellow"
    WHITE = "white"
    BLACK = "black"
    GREEN = (
        "green"  # new-energy (NEV) plates: small cars gradient green, large vehicles yellow-green
    )
    YELLOW_GREEN = "yellow_green"
    UNKNOWN = "unknown"

    @property
    def is_new_energy(self) -> bool:
        return self in (PlateColour.GREEN, PlateColour.YELLOW_GREEN)


# serial: 5 characters (6 for new-energy plates), or 4 followed by a use character (trailer, …)
_PLATE_RE = re.compile(
    rf"^([{PROVINCES}])([A-Z])([A-HJ-NP-Z0-9]{{5,6}}|[A-HJ-NP-Z0-9]{{4}}[挂学警港澳])$"
)


@dataclass(frozen=True, slots=True)
class Plate:
    """A normalised plate: province character, issuing-city letter, serial, colour.

    Six serial characters is a new-energy plate (GA 36-2018); the vehicle key is number + colour.
    """

    number: str
    colour: PlateColour

    @classmethod
    def parse(cls, text: str, colour: PlateColour | str = PlateColour.UNKNOWN) -> Plate:
        t = text.strip().upper().replace(" ", "").replace("·", "").replace("-", "")
        if not _PLATE_RE.match(t):
            raise ValidationError("plate", text, "province character + letter + 5-6 characters")
        col = colour if isinstance(colour, PlateColour) else PlateColour(colour)
        if col is PlateColour.UNKNOWN and len(t) == 8:
            col = PlateColour.GREEN
        return cls(t, col)

    @property
    def province(self) -> str:
        return self.number[0]

    @property
    def is_new_energy(self) -> bool:
        return self.colour.is_new_energy or len(self.number) == 8

    @property
    def key(self) -> str:
        return f"{self.number}|{self.colour.value}"


_VIN_VALUES = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_check_digit(vin: str) -> str:
    total = sum(_VIN_VALUES[c] * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True))
    r = total % 11
    return "X" if r == 10 else str(r)


def is_valid_vin(vin: str, check_digit: bool = True) -> bool:
    if len(vin) != 17 or any(c not in _VIN_VALUES for c in vin):
        return False
    return not check_digit or vin[8] == vin_check_digit(vin)


def parse_vin(text: str, check_digit: bool = True) -> str:
    v = text.strip().upper()
    if len(v) != 17 or any(c not in _VIN_VALUES for c in v):
        raise ValidationError("vin", text, "17 characters from 0-9, A-Z without I, O, Q")
    if check_digit and v[8] != vin_check_digit(v):
        raise ValidationError("vin", text, f"check digit (position 9) {vin_check_digit(v)}")
    return v


def with_check_digit(vin16: str) -> str:
    """Complete a VIN whose 9th character is a placeholder (used by simulators)."""
    v = vin16[:8] + "0" + vin16[9:17]
    return v[:8] + vin_check_digit(v) + v[9:]


_STATION_RE = re.compile(r"^[A-Z]{2}-ST-\d{4}$")
_NOZZLE_RE = re.compile(r"^(?P<station>[A-Z]{2}-ST-\d{4}):N(?P<n>\d{2})$")


def nozzle_id(station_id: str, number: int) -> str:
    """``QP-ST-0001:N03`` — station id plus two-digit nozzle number."""
    if not _STATION_RE.match(station_id):
        raise ValidationError("station_id", station_id, "form XX-ST-NNNN")
    if not 1 <= number <= 99:
        raise ValidationError("nozzle", number, "in [1, 99]")
    return f"{station_id}:N{number:02d}"


def split_nozzle_id(nid: str) -> tuple[str, int]:
    m = _NOZZLE_RE.match(nid)
    if not m:
        raise ValidationError("nozzle_id", nid, "form XX-ST-NNNN:NNN")
    return m.group("station"), int(m.group("n"))
