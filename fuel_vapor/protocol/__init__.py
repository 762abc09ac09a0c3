"""Sans-IO HJ 212 codec: CRC, framing with resync, data-segment parsing, answers, split packets.

Bytes in, frames/packets/errors out; no sockets, no clock. See ``framing`` for the packet layout and
``packet`` for the data segment.
"""

from fuel_vapor.protocol.answers import data_answer, execution_answer, request_answer
from fuel_vapor.protocol.crc import crc_text, hj212_crc, modbus_crc
from fuel_vapor.protocol.framing import (
    Frame,
    FrameDecoder,
    FrameError,
    encode_frame,
    inspect_packet,
)
from fuel_vapor.protocol.packet import FlagBits, Packet, SegmentError, parse_segment, parse_time
from fuel_vapor.protocol.split import Reassembler, SplitError

__all__ = [
    "FlagBits",
    "Frame",
    "FrameDecoder",
    "FrameError",
    "Packet",
    "Reassembler",
    "SegmentError",
    "SplitError",
    "crc_text",
    "data_answer",
    "encode_frame",
    "execution_answer",
    "hj212_crc",
    "inspect_packet",
    "modbus_crc",
    "parse_segment",
    "parse_time",
    "request_answer",
]
