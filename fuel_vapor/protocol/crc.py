"""The HJ 212-2017 CRC (appendix A) and the CRC-16/MODBUS look-alike it must not be confused with.

Standard routine (hj212.md §11): register 0xFFFF; per data-segment byte ``crc = (crc >> 8) ^ byte``
followed by eight reflected shift/XOR steps with 0xA001; no final XOR; four hex digits.
``hj212_crc_reference`` is that routine with the eight steps folded into a 256-entry table T.

Fast form (``hj212_crc``), exact, checked against the reference by the tests: the eight steps only
ever see an 8-bit value, so the state carried from byte to byte is the register's high byte
``s_k = H[s_(k-1) ^ b_k]`` with ``H[x] = T[x] >> 8``. H is linear over GF(2)^8
(``H[a ^ b] = H[a] ^ H[b]``) and has order 8 (H applied 8 times is the identity), hence
``s_m = H^m(0xFF) ^ XOR_k H^(m-k+1)(b_k)`` and bytes whose distance from the end is congruent
mod 8 can be XORed together first. Folding the segment (front-padded to a multiple of 8) into one
64-bit word by XOR gives those eight lane sums; eight table look-ups and a final
``T[s ^ last byte]`` finish it. The fold reads the segment as one little-endian integer and XORs
its upper half of 64-bit words onto the lower half until one word is left (log2(words) big-integer
steps in C, about twice as fast as a per-word reduce on 640 bytes). CRC-16/MODBUS uses ``crc ^= byte`` instead and is accepted
only through an explicit per-device opt-in (counted by the caller).

Known limit: the HJ 212 CRC carries about 11 effective bits, so it detects fewer corruptions than a
full CRC-16; the length check and the plausibility rule (``crc & 0x3E == 0``) add a little.
"""

from __future__ import annotations

POLY = 0xA001  # reflected 0x8005 (HJ 212-2017 appendix A)
INIT = 0xFFFF


def _steps(value: int) -> int:
    for _ in range(8):
        lsb = value & 1
        value >>= 1
        if lsb:
            value ^= POLY
    return value


_TABLE: tuple[int, ...] = tuple(_steps(v) for v in range(256))
_HIGH: bytes = bytes(t >> 8 for t in _TABLE)


def _powers() -> list[bytes]:
    out = [bytes(range(256))]
    for _ in range(7):
        out.append(bytes(_HIGH[x] for x in out[-1]))
    if bytes(_HIGH[x] for x in out[-1]) != out[0]:  # pragma: no cover - a property of 0xA001
        raise RuntimeError("HJ 212 CRC: high-byte map does not have order 8")
    return out


_POW = _powers()  # _POW[e][x] = H applied e times to x
_LANE = tuple(_POW[(-i) % 8] for i in range(8))  # lane i of a folded word carries exponent -i


def hj212_crc_reference(data: bytes) -> int:
    """The appendix-A routine byte by byte (reference for tests and for reading)."""
    crc = INIT
    for b in data:
        crc = _TABLE[(crc >> 8) ^ b]
    return crc


def hj212_crc(data: bytes) -> int:
    """CRC of the data segment exactly as HJ 212-2017 appendix A defines it (fast form)."""
    n = len(data)
    if n == 0:
        return INIT
    m = n - 1
    state = _POW[m % 8][INIT >> 8]
    if m:
        pad = (-m) % 8
        word = int.from_bytes(data[:m], "little") << (8 * pad)  # front padding = low zero bytes
        words = (m + pad) >> 3
        while words > 1:  # XOR the upper half of the words onto the lower half
            words -= words >> 1
            low_bits = words << 6
            word = (word & ((1 << low_bits) - 1)) ^ (word >> low_bits)
        lanes = word.to_bytes(8, "little")
        lane = _LANE
        state ^= (
            lane[0][lanes[0]]
            ^ lane[1][lanes[1]]
            ^ lane[2][lanes[2]]
            ^ lane[3][lanes[3]]
            ^ lane[4][lanes[4]]
            ^ lane[5][lanes[5]]
            ^ lane[6][lanes[6]]
            ^ lane[7][lanes[7]]
        )
    return _TABLE[state ^ data[-1]]


def modbus_crc(data: bytes) -> int:
    """CRC-16/MODBUS (``crc ^= byte``): the widely copied wrong variant, for opt-in devices only."""
    crc = INIT
    table = _TABLE
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc


def crc_text(data: bytes) -> str:
    """The CRC as it goes on the wire: four upper-case hex digits."""
    return f"{hj212_crc(data):04X}"


def plausible(crc: int) -> bool:
    """Every HJ 212 CRC of a non-empty segment has a low byte in {00, 01, 40, 41, 80, 81, C0, C1}
    (hj212.md §11); the empty segment gives FFFF."""
    return crc & 0x3E == 0
