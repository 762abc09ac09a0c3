"""Split-packet (拆分包) reassembly (hj212.md §9).

Parts share (MN, QN, CN), carry Flag bit D = 1, ``PNUM`` (total) and ``PNO`` (1-based index). The
reassembler joins their CP groups in PNO order into one packet without PNUM/PNO. Incomplete sets are
expired after ``timeout_s`` (the caller passes ``now``; no clock is read here) and returned so the
parts received are kept. Sizes are capped: at most ``max_sets`` open sets and ``max_parts`` parts.

Known limits: parts without a QN cannot be told apart and are keyed by (MN, CN) only; a packet with
D = 1 but no PNUM/PNO (vector H11) is not a split packet and never reaches this class.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fuel_vapor.protocol.packet import Packet


class SplitError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


@dataclass(slots=True)
class _Set:
    first_seen: float
    total: int
    parts: dict[int, Packet] = field(default_factory=dict)


@dataclass(slots=True)
class Reassembler:
    timeout_s: float = 120.0
    max_sets: int = 1000
    max_parts: int = 999
    _sets: dict[tuple[str, str, str], _Set] = field(default_factory=dict)

    @property
    def open_sets(self) -> int:
        return len(self._sets)

    def add(self, part: Packet, now: float) -> Packet | None:
        """Add one part; return the joined packet when the set is complete."""
        if part.pnum is None or part.pno is None:
            raise SplitError("split_missing_pnum", "PNUM/PNO absent on a split part")
        if not 1 <= part.pnum <= self.max_parts:
            raise SplitError("split_bad_pnum", f"PNUM={part.pnum}: expected 1-{self.max_parts}")
        if not 1 <= part.pno <= part.pnum:
            raise SplitError("split_bad_pno", f"PNO={part.pno}: expected 1-{part.pnum}")
        key = (part.mn, part.qn or "", part.cn)
        s = self._sets.get(key)
        if s is None:
            if len(self._sets) >= self.max_sets:
                raise SplitError("split_too_many_sets", f"{self.max_sets} sets already open")
            s = self._sets[key] = _Set(now, part.pnum)
        elif s.total != part.pnum:
            raise SplitError("split_pnum_changed", f"PNUM {part.pnum} != {s.total} of the set")
        s.parts[part.pno] = part  # a repeated part replaces the earlier copy
        if len(s.parts) < s.total:
            return None
        del self._sets[key]
        ordered = [s.parts[i] for i in range(1, s.total + 1)]
        head = ordered[0]
        cp_text = ";".join(p.cp_text for p in ordered if p.cp_text)
        flag = head.flag
        header = tuple(
            (k, v if k != "Flag" or flag is None else str(flag.value & ~2))
            for k, v in head.header
            if k not in ("PNUM", "PNO")
        )
        return Packet(
            header=header,
            cp_text=cp_text,
            qn=head.qn,
            st=head.st,
            cn=head.cn,
            pw=head.pw,
            mn=head.mn,
            flag=None if flag is None else type(flag).from_value(flag.value & ~2),
            pnum=None,
            pno=None,
        )

    def expire(self, now: float) -> list[list[Packet]]:
        """Remove and return the parts of every set older than ``timeout_s``."""
        old = [k for k, s in self._sets.items() if now - s.first_seen > self.timeout_s]
        out = []
        for k in old:
            s = self._sets.pop(k)
            out.append([s.parts[i] for i in sorted(s.parts)])
        return out
