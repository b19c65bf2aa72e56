"""`then dscp` (issue 10 §1): an input filter's term rewrites the DSCP of what it
accepts; the server receives the datagram with the new code point, the ECN bits as sent,
a valid IPv4 header checksum, every other header field as a one-hop forward leaves it
(TTL / hop limit one less) and the payload intact, on the flow's first packet and on its
session hits alike. A term with a modifier and no terminal action accepts (Junos).
"""
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6

import checks
import configs
import filterchecks as fc
import labkit
from labkit import fresh_port

P_EF, P_NUMBER, P_UNTOUCHED = 7201, 7202, 7203
ECN_ECT0 = 0x2
PROTO_UDP = 17
PAYLOAD = bytes(range(256)) * 2


def rewrite_filter(family):
    proto = "protocol" if family == 4 else "next-header"
    return configs.firewall_filter(
        family, "rewrite%d" % family,
        configs.term("to-ef", ["%s udp" % proto, "destination-port %d" % P_EF], ["dscp ef", "accept"]),
        configs.term("to-af11", ["%s udp" % proto, "destination-port %d" % P_NUMBER], ["dscp %d" % fc.DSCP_AF11]),
        configs.term("rest"))


CONFIG = configs.config(rewrite_filter(4), rewrite_filter(6),
                        configs.attach("fw0", 4, input="rewrite4"), configs.attach("fw0", 6, input="rewrite6"))

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@pytest.fixture(scope="module", autouse=True)
def _config(lab):
    lab.use(CONFIG)


def check_forwarded(got, sent, family, dscp):
    """`got` (at the server) is `sent` forwarded one hop with DSCP `dscp`."""
    if family == 4:
        h, s = got[IP], sent[IP]
        assert h.tos == fc.tos(dscp, s.tos & fc.ECN_MASK), "TOS 0x%02x, expected DSCP %d ECN %d" % (
            h.tos, dscp, s.tos & fc.ECN_MASK)
        assert (h.version, h.ihl, h.len, h.id, h.flags, h.frag, h.proto, h.src, h.dst) == \
            (4, checks.IPV4_HEADER // 4, len(bytes(s)), s.id, s.flags, s.frag, PROTO_UDP, s.src, s.dst), h.show(dump=True)
        assert h.ttl == s.ttl - 1, (h.ttl, s.ttl)
        assert labkit.internet_checksum_ok(bytes(h)[:checks.IPV4_HEADER]), "IPv4 header checksum 0x%04x" % h.chksum
    else:
        h, s = got[IPv6], sent[IPv6]
        assert h.tc == fc.tos(dscp, s.tc & fc.ECN_MASK), "traffic class 0x%02x, expected DSCP %d" % (h.tc, dscp)
        assert (h.fl, h.plen, h.nh, h.src, h.dst) == (s.fl, len(bytes(s.payload)), PROTO_UDP, s.src, s.dst), \
            h.show(dump=True)
        assert h.hlim == s.hlim - 1, (h.hlim, s.hlim)
    assert bytes(got[UDP]) == bytes(sent[UDP]), "UDP header or payload changed"
    assert labkit.l4_checksum_ok(got, PROTO_UDP), "UDP checksum"


@FAMILIES
def test_dscp_rewritten_on_first_packet_and_session_hits(wire, family):
    sport = fresh_port()
    for _ in range(2):                  # the flow's first packet, then a session hit
        sent = fc.udp(family, sport, P_EF, ecn=ECN_ECT0, payload=PAYLOAD)
        got = fc.passes(wire, sent, "the datagram to rewrite")
        check_forwarded(got, sent, family, fc.DSCP_EF)


@FAMILIES
def test_dscp_rewritten_by_number_without_terminal_action(wire, family):
    sent = fc.udp(family, fresh_port(), P_NUMBER, dscp=fc.DSCP_EF, payload=PAYLOAD)
    check_forwarded(fc.passes(wire, sent, "the datagram to rewrite"), sent, family, fc.DSCP_AF11)


@FAMILIES
def test_dscp_untouched_by_other_terms(wire, family):
    sent = fc.udp(family, fresh_port(), P_UNTOUCHED, dscp=fc.DSCP_AF21, ecn=ECN_ECT0, payload=PAYLOAD)
    check_forwarded(fc.passes(wire, sent, "the datagram"), sent, family, fc.DSCP_AF21)
