#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Writes valid wire-format batches (docs/wire-format.md) as seeds for fuzz_wire."""
import pathlib
import struct
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))
from wire import crc32c, encode_batch  # noqa: E402  (the tests' reader of the same format)


def record(i):
    src = bytes(10) + b"\xff\xff" + bytes([192, 0, 2, i & 255])
    dst = bytes.fromhex("20010db8000000000000000000000001")
    return src + dst + struct.pack("<HHBBHIBIQQQQ", 1000 + i, 443, 6, 0x12, 0, 2, 0, 1,
                                    3 + i, 180 + i, 1700000000000000000 + i,
                                    1700000000000000000 + 10 * i)


def batch(agent, sequence, records, flags=0, version=2, run_id=0x9E3779B97F4A7C15):
    return encode_batch(agent, run_id, sequence, [record(i) for i in range(records)], flags,
                        version=version)


def main():
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    assert crc32c(b"123456789") == 0xE3069283
    (out / "one").write_bytes(batch(b"host-1", 1, 1, 1))
    (out / "three").write_bytes(batch(b"a", 99, 3))
    (out / "empty").write_bytes(batch(b"agent.example", 7, 0))
    # version 1, as older agents wrote it: the decoder still reads it
    (out / "v1-one").write_bytes(batch(b"host-1", 1, 1, 1, version=1))
    (out / "v1-three").write_bytes(batch(b"a", 1763700000000000, 3, version=1))


if __name__ == "__main__":
    main()
