"""The zone's jurisdictions ("two districts and one county") and the zone itself as a reporting level."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    code: str
    name_en: str
    name_zh: str
    province: str
    bureau: str


JURISDICTIONS: dict[str, Jurisdiction] = {
    j.code: j
    for j in (
        Jurisdiction("qingpu", "Qingpu", "青浦区", "Shanghai", "青浦区生态环境局"),
        Jurisdiction("wujiang", "Wujiang", "吴江区", "Jiangsu", "苏州市吴江生态环境局"),
        Jurisdiction("jiashan", "Jiashan", "嘉善县", "Zhejiang", "嘉兴市生态环境局嘉善分局"),
    )
}
ZONE = "zone"  # the whole demonstration zone, a reporting level above the three


def jurisdiction(code: str) -> Jurisdiction:
    try:
        return JURISDICTIONS[code]
    except KeyError:
        raise KeyError(
            f"unknown jurisdiction {code!r} (known: {', '.join(JURISDICTIONS)})"
        ) from None


def is_reporting_level(code: str) -> bool:
    return code == ZONE or code in JURISDICTIONS


# ---------------------------------------------------------------- where a position lies

# Approximate extents (WGS-84 degrees: south, north, west, east) from each jurisdiction's published
# latitude/longitude range (Qingpu 30°59′–31°16′N 120°53′–121°17′E, Wujiang 30°45′–31°13′N
# 120°21′–120°53′E, Jiashan 30°45′–31°01′N 120°44′–121°01′E), widened by BOUNDS_MARGIN for a
# unit parked on a boundary road. Boxes, not boundaries: they overlap near the three-way border,
# where the nearest centre decides (a record's own jurisdiction, when given, always wins).
BOUNDS: dict[str, tuple[float, float, float, float]] = {
    "qingpu": (30.983, 31.267, 120.883, 121.283),
    "wujiang": (30.750, 31.217, 120.350, 120.883),
    "jiashan": (30.750, 31.017, 120.733, 121.017),
}
BOUNDS_MARGIN = 0.02
ADMIN_CODES = {"310118": "qingpu", "320509": "wujiang", "330421": "jiashan"}  # GB/T 2260


def _inside(code: str, lat: float, lon: float) -> bool:
    s, n, w, e = BOUNDS[code]
    m = BOUNDS_MARGIN
    return s - m <= lat <= n + m and w - m <= lon <= e + m


def locate(lat: float, lon: float) -> str | None:
    """The jurisdiction a position lies in (approximately), None outside the zone."""
    inside = [c for c in BOUNDS if _inside(c, lat, lon)]
    if not inside:
        return None

    def dist(c: str) -> float:
        s, n, w, e = BOUNDS[c]
        return (lat - (s + n) / 2) ** 2 + (lon - (w + e) / 2) ** 2

    return min(inside, key=dist)


def parse_jurisdiction(text: str) -> str | None:
    """A jurisdiction as devices and officers write it: ``qingpu`` / ``Qingpu`` / ``青浦区`` / ``青浦``
    / the GB/T 2260 code ``310118``; None when it names none of the three."""
    t = text.strip()
    if t.lower() in JURISDICTIONS:
        return t.lower()
    if t in ADMIN_CODES:
        return ADMIN_CODES[t]
    for j in JURISDICTIONS.values():
        if t in (j.name_zh, j.name_zh[:-1]):
            return j.code
    return None
