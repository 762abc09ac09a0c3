"""SM2 signatures of HJ 1239 data units (hj1239.md §7), verified with the ``gmssl`` package.

A signed unit ends with ``R length, R, S length, S``; the signature is SM2 with SM3 over the
data-unit bytes before that block, with the Z value of GB/T 32918.2 computed from the signer id
and the terminal's public key. What the platform needs per terminal (registry ``obd_vehicles``):
``sm2_public_key`` (128 hex digits, x‖y) and ``sm2_signer_id`` (hex; the standard's default
``31323334353637383132333435363738`` = "1234567812345678" when empty).

Known limits, and why a terminal without a key stays ``unverified``: the public key is issued in the
0x07 registration exchange with the national platform, which this platform does not take part in,
so keys must be entered from that registration; hj1239.md marks the signer id ("the terminal's
security chip id") and the signed span as unconfirmed, so they are per-terminal settings here
rather than constants. The legacy layout (a signature after every info body) is not verified.
"""

from __future__ import annotations

DEFAULT_SIGNER_ID = "31323334353637383132333435363738"  # "1234567812345678", GB/T 32918 default


def _crypt(public_key_hex: str, private_key_hex: str = "") -> object:
    try:
        from gmssl import sm2
    except ImportError as exc:  # pragma: no cover - gmssl is a base dependency
        raise ImportError("SM2 needs the gmssl package (pip install 'gmssl>=3.2.2')") from exc
    return sm2.CryptSM2(private_key=private_key_hex, public_key=public_key_hex)


def _digest(crypt: object, signer_id_hex: str, message: bytes) -> bytes:
    """e = SM3(Z ‖ M), Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA)."""
    from gmssl import func, sm3

    ident = bytes.fromhex(signer_id_hex or DEFAULT_SIGNER_ID)
    table = crypt.ecc_table  # type: ignore[attr-defined]
    z_src = (
        (len(ident) * 8).to_bytes(2, "big")
        + ident
        + bytes.fromhex(table["a"] + table["b"] + table["g"] + crypt.public_key)  # type: ignore[attr-defined]
    )
    z = bytes.fromhex(sm3.sm3_hash(func.bytes_to_list(z_src)))
    return bytes.fromhex(sm3.sm3_hash(func.bytes_to_list(z + message)))


def verify(
    public_key_hex: str, message: bytes, r: bytes, s: bytes, signer_id_hex: str = ""
) -> bool:
    """True when (r, s) is the terminal's SM2 signature of ``message``; False for anything odd."""
    if len(public_key_hex) != 128 or not r or not s or len(r) > 32 or len(s) > 32:
        return False
    try:
        crypt = _crypt(public_key_hex)
        e = _digest(crypt, signer_id_hex, message)
        sign_hex = r.rjust(32, b"\0").hex() + s.rjust(32, b"\0").hex()
        return bool(crypt.verify(sign_hex, e))  # type: ignore[attr-defined]
    except (ValueError, TypeError, ZeroDivisionError):
        return False


def sign(
    private_key_hex: str, public_key_hex: str, message: bytes, signer_id_hex: str = ""
) -> tuple[bytes, bytes]:
    """(r, s) of ``message`` (simulators and tests)."""
    from gmssl import func

    crypt = _crypt(public_key_hex, private_key_hex)
    e = _digest(crypt, signer_id_hex, message)
    sig = crypt.sign(e, func.random_hex(crypt.para_len))  # type: ignore[attr-defined]
    return bytes.fromhex(sig[:64]), bytes.fromhex(sig[64:128])


def keypair() -> tuple[str, str]:
    """A fresh (private, public) SM2 key pair as hex (tests, demo terminals)."""
    from gmssl import func, sm2

    crypt = sm2.CryptSM2(private_key="", public_key="")
    private = func.random_hex(crypt.para_len)
    public = crypt._kg(int(private, 16), crypt.ecc_table["g"])
    return private, public
