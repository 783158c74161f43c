# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A second, independent reader of docs/wire-format.md, for the tests: batches and spool files."""
import ipaddress
import struct

HEADER = struct.Struct("<4sBBHHBBIQQII")   # the 40 bytes versions 1 and 2 share
RUN_ID = struct.Struct("<Q")                 # version 2: at offset 40
FIXED = {1: 40, 2: 48}                       # bytes before the agent id
RECORD_SIZE = 81
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


def encode_batch(agent, run_id, sequence, records, flags=0, created_ns=1700000000000000000,
                 version=2):
    """A batch of raw RECORD_SIZE-byte records (bytes), as the agent encodes it."""
    agent = agent.encode() if isinstance(agent, str) else agent
    body = b"".join(records)
    fixed = FIXED[version]
    header = HEADER.pack(b"FLWB", version, flags, fixed + len(agent), RECORD_SIZE, len(agent),
                         0, len(records), sequence, created_ns, crc32c(body), 0)
    if version >= 2:
        header += RUN_ID.pack(run_id)
    return header + agent + body


def decode_batch(data, check_crc=True):
    """Returns (header dict, [record dicts in the agent's JSON shape]). Versions 1 and 2; a
    version 1 batch has run_id 0."""
    (magic, version, flags, header_len, record_size, agent_len, _, count, sequence, created,
     crc, _) = HEADER.unpack_from(data)
    assert magic == b"FLWB" and version in FIXED, (magic, version)
    fixed = FIXED[version]
    run_id = RUN_ID.unpack_from(data, 40)[0] if version >= 2 else 0
    assert version < 2 or run_id != 0, "a version 2 batch needs a run id"
    assert header_len >= fixed + agent_len
    assert len(data) == header_len + count * record_size
    body = data[header_len:]
    if check_crc:
        assert crc32c(body) == crc
    header = {"agent_id": data[fixed:fixed + agent_len].decode(), "sequence": sequence,
              "run_id": run_id, "version": version, "flags": flags, "count": count,
              "created_ns": created}
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


def read_spool_file(path, torn_tail_ok=False):
    """A spool file: its records, [(record count, payload)], in order. A committed file must be
    whole; an uncommitted one (.open, left by a crash) may end in an incomplete record."""
    data = path.read_bytes()
    records, offset = [], 0
    while offset < len(data):
        if len(data) - offset < 16 and torn_tail_ok:
            break
        magic, count, crc, length = SPOOL_HEADER.unpack_from(data, offset)
        assert magic == b"FLSP", f"{path}: no spool record at offset {offset}"
        payload = data[offset + 16:offset + 16 + length]
        if len(payload) < length and torn_tail_ok:
            break
        assert len(payload) == length and crc32c(payload) == crc, f"{path}: offset {offset}"
        records.append((count, payload))
        offset += 16 + length
    return records


def spool_file_batches(path):
    """The batch count a committed spool file's name gives (<first>-<batches>-<records>.batch)."""
    return int(path.name.split("-")[1])


def read_spool_dir(spool, uncommitted=False):
    """Every spooled batch, [(record count, payload)], in spool order: the committed files,
    and with uncommitted=True the complete records of .open files too (a crash's)."""
    files = list(spool.glob("*.batch")) + (list(spool.glob("*.open")) if uncommitted else [])
    records = []
    for f in sorted(files, key=lambda f: int(f.name[:20])):
        records += read_spool_file(f, torn_tail_ok=f.suffix == ".open")
    return records
