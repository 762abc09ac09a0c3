"""Benchmark: HJ 212 parse + CRC of realistic 400-900-byte packets on one core.

Builds packets in the city dialects used by the demo (Guangzhou fuelling/alarms, Chongqing 3020,
national sensor codes) padded to 400-900 bytes with real-looking factor groups, then measures the
stream decoder (framing + CRC) and the data-segment parser over them. Prints packets/s; nothing is
asserted. Usage: python bench/bench_vapor_codec.py [--packets 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import datetime, timedelta

from core.timeutil import BEIJING
from fuel_vapor.protocol import FrameDecoder, encode_frame, hj212_crc, parse_segment
from fuel_vapor.protocol.packet import Packet, format_time


def make_packets(n: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    t0 = datetime(2026, 11, 23, 8, 0, tzinfo=BEIJING)
    out = []
    for i in range(n):
        ts = t0 + timedelta(seconds=7 * i)
        target = rng.randrange(400, 900)
        groups = [[("DataTime", format_time(ts))]]
        k = 0
        while True:
            code = f"a{rng.randrange(1000, 99999):05d}" if k % 3 else f"q{rng.randrange(1, 16):04d}"
            groups.append(
                [
                    (f"{code}-Rtd", f"{rng.uniform(-500, 5000):.3f}"),
                    (f"{code}-Flag", rng.choice("NNNNNDMC")),
                ]
            )
            k += 1
            p = Packet.build(
                cn="2011",
                mn=f"3101ST{i % 5000:018X}",
                st="31",
                pw="123456",
                qn=format_time(ts, 17),
                flag=5,
                cp=groups,
            )
            if len(p.segment) >= target - 40:
                break
        out.append(encode_frame(p.segment, crc_case=rng.choice(["upper", "lower"])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    packets = make_packets(args.packets)
    sizes = [len(p) for p in packets]
    stream = b"".join(packets)
    print(
        f"{len(packets)} packets, {min(sizes)}-{max(sizes)} bytes (mean {statistics.mean(sizes):.0f}), "
        f"{len(stream) / 1e6:.1f} MB"
    )
    crc_rates, frame_rates, full_rates, map_rates = [], [], [], []
    for _ in range(args.repeat):
        segs = [p[6:-6] for p in packets]
        t = time.perf_counter()
        for s in segs:
            hj212_crc(s)
        crc_rates.append(len(segs) / (time.perf_counter() - t))
        t = time.perf_counter()
        dec = FrameDecoder()
        frames = []
        for i in range(0, len(stream), 65536):
            frames += dec.feed(stream[i : i + 65536])
        frame_rates.append(len(frames) / (time.perf_counter() - t))
        assert len(frames) == len(packets)
        t = time.perf_counter()
        dec = FrameDecoder()
        n = 0
        for i in range(0, len(stream), 65536):
            for f in dec.feed(stream[i : i + 65536]):
                parse_segment(f.segment.decode("utf-8", "surrogateescape"))
                n += 1
        full_rates.append(n / (time.perf_counter() - t))
        t = time.perf_counter()
        dec = FrameDecoder()
        n = 0
        for i in range(0, len(stream), 65536):
            for f in dec.feed(stream[i : i + 65536]):
                p = parse_segment(f.segment.decode("utf-8", "surrogateescape"))
                p.cp_dict()  # what a code map reads: every CP item by key
                p.get("DataTime")
                n += 1
        map_rates.append(n / (time.perf_counter() - t))
    print(f"CRC only                 : {max(crc_rates):>9,.0f} packets/s (best of {args.repeat})")
    print(f"framing + CRC            : {max(frame_rates):>9,.0f} packets/s")
    print(
        f"framing + CRC + parse CP : {max(full_rates):>9,.0f} packets/s "
        f"({max(full_rates) * statistics.mean(sizes) / 1e6:.1f} MB/s)"
    )
    print(f"  + CP items by key      : {max(map_rates):>9,.0f} packets/s")


if __name__ == "__main__":
    main()
