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
