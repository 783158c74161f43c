# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A second, independent reader of docs/wire-format.md, for the tests: batches and spool files."""
import ipaddress
import struct

HEADER = struct.Struct("<4sBBHHBBIQQII")
RECORD_TAIL = struct.Struct("<HHBBHIBIQQQQ")
SPOOL_HEADER = struct.Struct("<4sIII")


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def address(raw):
    addr = ipaddress.IPv6Address(raw)
    return str(addr.ipv4_mapped) if addr.ipv4_mapped else str(addr)


def decode_batch(data, check_crc=True):
    """Returns (header dict, [record dicts in the agent's JSON shape])."""
    (magic, version, flags, header_len, record_size, agent_len, _, count, sequence, created,
     crc, _) = HEADER.unpack_from(data)
    assert magic == b"FLWB" and version == 1, (magic, version)
    assert len(data) == header_len + count * record_size
    body = data[header_len:]
    if check_crc:
        assert crc32c(body) == crc
    header = {"agent_id": data[40:40 + agent_len].decode(), "sequence": sequence,
              "flags": flags, "count": count, "created_ns": created}
    records = []
    for i in range(count):
        r = body[i * record_size:(i + 1) * record_size]
        (src_port, dst_port, proto, tcp_flags, vlan, ifindex, direction, sampling, packets,
         nbytes, first, last) = RECORD_TAIL.unpack_from(r, 32)
        records.append({"src_addr": address(r[0:16]), "dst_addr": address(r[16:32]),
                        "src_port": src_port, "dst_port": dst_port, "proto": proto,
                        "vlan": vlan, "packets": packets, "bytes": nbytes,
                        "tcp_flags": tcp_flags, "first_seen_ns": first, "last_seen_ns": last,
                        "sampling": sampling, "ifindex": ifindex,
                        "direction": "egress" if direction else "ingress"})
    return header, records


def read_spool_file(path):
    """A spool file: (record count, payload)."""
    data = path.read_bytes()
    magic, count, crc, length = SPOOL_HEADER.unpack_from(data)
    assert magic == b"FLSP" and length == len(data) - 16 and crc32c(data[16:]) == crc
    return count, data[16:]
