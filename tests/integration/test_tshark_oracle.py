# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""An independent oracle: per-key packet and byte totals computed from tshark's dissection of
the real captures must equal flowagent's, key for key.

Cases:
  test_totals_match_tshark   each ordinary capture in ../shared/pcaps/real (tunnels excluded:
                             tshark reports inner headers there, we count the outer flow)
"""
import collections
import ipaddress
import shutil
import subprocess

import pytest

from conftest import PCAPS, needs_shared, replay

# Captures whose every IP packet tshark dissects with the outer header first.
ORDINARY = ["ndpi-1kxun.pcap", "ndpi-KakaoTalk_talk.pcap", "ndpi-alexa-app.pcapng",
            "ndpi-bot.pcap", "ndpi-gnutella.pcap", "ndpi-netflix.pcap", "ndpi-ocs.pcap",
            "ndpi-opc-ua.pcap", "ndpi-reddit.pcap", "ndpi-telegram.pcap", "ndpi-wechat.pcap",
            "ndpi-whatsapp_login_call.pcap", "ndpi-zoom.pcap", "zeek-wikipedia.pcap"]

FIELDS = ["vlan.id", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ip.proto", "ip.len",
          "ip.frag_offset", "ipv6.plen", "ipv6.nxt", "tcp.srcport", "tcp.dstport",
          "udp.srcport", "udp.dstport", "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code"]


def tshark_totals(path):
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=f",
           "-E", "separator=\t"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    totals = collections.defaultdict(lambda: [0, 0])
    for line in out.splitlines():
        v = dict(zip(FIELDS, line.split("\t")))
        if v["ip.src"]:
            src, dst = v["ip.src"], v["ip.dst"]
            proto, length = int(v["ip.proto"]), int(v["ip.len"])
            fragment = v["ip.frag_offset"] not in ("", "0")
        elif v["ipv6.src"]:
            src = ipaddress.ip_address(v["ipv6.src"]).compressed
            dst = ipaddress.ip_address(v["ipv6.dst"]).compressed
            length = 40 + int(v["ipv6.plen"])
            proto = (6 if v["tcp.srcport"] else 17 if v["udp.srcport"] else
                     58 if v["icmpv6.type"] else int(v["ipv6.nxt"]))
            fragment = False
        else:
            continue
        sport = dport = 0
        if not fragment:
            if proto == 6 and v["tcp.srcport"]:
                sport, dport = int(v["tcp.srcport"]), int(v["tcp.dstport"])
            elif proto == 17 and v["udp.srcport"]:
                sport, dport = int(v["udp.srcport"]), int(v["udp.dstport"])
            elif proto == 1 and v["icmp.type"]:
                dport = int(v["icmp.type"]) * 256 + int(v["icmp.code"])
            elif proto == 58 and v["icmpv6.type"]:
                dport = int(v["icmpv6.type"]) * 256 + int(v["icmpv6.code"])
        vlan = int(v["vlan.id"]) if v["vlan.id"] else 0
        t = totals[(src, dst, sport, dport, proto, vlan)]
        t[0] += 1
        t[1] += length
    return dict(totals)


@needs_shared
@pytest.mark.skipif(not shutil.which("tshark"), reason="tshark not installed")
@pytest.mark.parametrize("name", ORDINARY)
def test_totals_match_tshark(name):
    path = PCAPS / "real" / name
    ours = {k: v[:2] for k, v in replay([path]).totals_by_key().items()}
    theirs = tshark_totals(path)
    assert sum(v[0] for v in theirs.values()) > 0
    assert ours == theirs
