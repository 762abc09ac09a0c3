"""Platform answers (hj212.md §7, §8): 9011 request answer, 9012 execution result, 9014 data answer.

Every answer uses ``ST=91``, echoes the request's QN (omitted when the request had none, 2005 style),
MN and PW, and carries ``Flag=4`` (2017, no answer wanted) unless the profile says the device expects
no Flag. The 9014 CP is a profile setting: ``CP=&&&&`` (standard) or ``CP=&&QnRtn=1&&`` (accepted by
devices that only look for that text, Guangzhou profile).

QnRtn (9011): 1 ready, 2 refused, 3 wrong PW, 4 wrong MN, 5 wrong ST, 6 wrong Flag, 7 wrong QN,
8 wrong CN, 9 CRC error, 100 unknown (unconfirmed list, §7). ExeRtn (9012): 1 success, 2 failed,
3 conditions wrong, 4 timeout, 5 busy, 6 fault, 100 no data.
"""

from __future__ import annotations

from fuel_vapor.protocol.crc import hj212_crc
from fuel_vapor.protocol.framing import encode_frame
from fuel_vapor.protocol.packet import Packet

QNRTN_READY = 1
QNRTN_REFUSED = 2
QNRTN_BAD_PW = 3
QNRTN_BAD_MN = 4
QNRTN_BAD_ST = 5
QNRTN_BAD_FLAG = 6
QNRTN_BAD_QN = 7
QNRTN_BAD_CN = 8
QNRTN_BAD_CRC = 9
QNRTN_UNKNOWN = 100

EXERTN_OK = 1
EXERTN_FAILED = 2


def _answer(
    cn: str,
    cp: str,
    *,
    qn: str | None,
    mn: str,
    pw: str | None,
    flag: int | None,
) -> bytes:
    # one string, one CRC, one frame: the gateway builds one of these per acknowledged packet
    seg = (
        (f"QN={qn};" if qn else "")
        + f"ST=91;CN={cn};"
        + ("" if pw is None else f"PW={pw};")
        + f"MN={mn};"
        + ("" if flag is None else f"Flag={flag};")
        + f"CP=&&{cp}&&"
    ).encode("utf-8", "surrogateescape")
    if len(seg) > 9999:
        return encode_frame(seg)  # raises with the reason
    return b"##%04d%s%04X\r\n" % (len(seg), seg, hj212_crc(seg))


def request_answer(request: Packet, qn_rtn: int, *, flag: int | None = 4) -> bytes:
    """9011 with ``QnRtn`` echoing the request's QN."""
    return _answer(
        "9011", f"QnRtn={qn_rtn}", qn=request.qn, mn=request.mn, pw=request.pw, flag=flag
    )


def execution_answer(request: Packet, exe_rtn: int, *, flag: int | None = 4) -> bytes:
    """9012 with ``ExeRtn``."""
    return _answer(
        "9012", f"ExeRtn={exe_rtn}", qn=request.qn, mn=request.mn, pw=request.pw, flag=flag
    )


def data_answer(upload: Packet, *, cp: str = "", flag: int | None = 4) -> bytes:
    """9014 for an upload; ``cp`` is the profile's answer CP (``""`` or ``"QnRtn=1"``)."""
    return _answer("9014", cp, qn=upload.qn, mn=upload.mn, pw=upload.pw, flag=flag)


def error_answer_from_fields(
    qn: str | None, mn: str, pw: str | None, qn_rtn: int, *, flag: int | None = 4
) -> bytes:
    """9011 for a packet we could only partly read (e.g. its CRC failed)."""
    return _answer("9011", f"QnRtn={qn_rtn}", qn=qn, mn=mn, pw=pw, flag=flag)
