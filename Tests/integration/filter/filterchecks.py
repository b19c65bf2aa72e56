"""What the filter tests assert about frames, on top of the policy suite's checks:
packets built with the fields a filter matches on (DSCP / traffic class, TCP flags,
ICMP type and code, fragments), a packet forwarded to the server, a packet discarded by
a filter (counted `filter_discard`, nothing leaked, nothing answered), and the ICMP
destination unreachable a `reject` answers with, for any Junos reason's code.
"""
import contextlib
import random
import re
import socket

from scapy.layers.inet import ICMP, IP, IPerror, TCP, UDP
from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6EchoRequest, ICMPv6TimeExceeded, IPerror6, IPv6, IPv6ExtHdrFragment
from scapy.layers.l2 import Ether

import checks
import labkit
from labkit import CLIENT, SERVER, l3

DSCP_SHIFT = 2                  # DSCP: the six high bits of the TOS / traffic-class byte
ECN_MASK = 0x03
DSCP_EF, DSCP_AF11, DSCP_AF21, DSCP_AF41 = 46, 10, 18, 34
PROTO_ICMP = 1
# ICMP types (RFC 792) and ICMPv6 types (RFC 4443) the tests build or expect.
DEST_UNREACHABLE = {4: 3, 6: 1}
ICMP_TIME_EXCEEDED = 11
PORT_UNREACHABLE = {4: 3, 6: 4}   # the codes
ICMP_ECHO_REQUEST = {4: 8, 6: 128}
FRAGMENT_UNIT = 8               # fragment offsets count 8-byte units
IPV4_MF = 0x1                   # scapy's IPv4 flags field: MF is bit 0 (DF is 0x2)
PROBE = b"filter-probe"
MIN_QUOTE = 28                  # an ICMPv4 error quotes at least the IPv4 header and 8 bytes


def tos(dscp, ecn=0):
    return dscp << DSCP_SHIFT | ecn


def ip(family, src, dst, dscp=0, ecn=0):
    """An IPv4 / IPv6 header with this DSCP (and ECN) in the TOS / traffic-class byte."""
    if family == 4:
        return IP(src=src, dst=dst, tos=tos(dscp, ecn))
    return IPv6(src=src, dst=dst, tc=tos(dscp, ecn))


def udp(family, sport, dport, src=None, dst=None, dscp=0, ecn=0, payload=PROBE):
    return ip(family, src or CLIENT[family], dst or SERVER[family], dscp, ecn) / UDP(sport=sport, dport=dport) / payload


def tcp(family, sport, dport, flags="S", src=None, dst=None, dscp=0, seq=None, ack=0, payload=b""):
    seq = random.randrange(1 << 32) if seq is None else seq
    return ip(family, src or CLIENT[family], dst or SERVER[family], dscp) / TCP(
        sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=64240) / payload


def echo(family, ident, code=0, dscp=0, icmp_type=None):
    """An ICMP / ICMPv6 echo request (or another type) client -> server."""
    head = ip(family, CLIENT[family], SERVER[family], dscp)
    kind = ICMP_ECHO_REQUEST[family] if icmp_type is None else icmp_type
    if family == 4:
        return head / ICMP(type=kind, code=code, id=ident, seq=1) / b"ping"
    return head / ICMPv6EchoRequest(type=kind, code=code, id=ident, seq=1) / b"ping"


def fragments(datagram, first_bytes=16):
    """(first, trailing): the datagram cut after `first_bytes` of its IP payload (a
    multiple of 8). IPv4 by the header's MF / offset, IPv6 by a fragment header."""
    assert first_bytes % FRAGMENT_UNIT == 0
    h = l3(datagram)
    body = bytes(h.payload)
    ident = random.randrange(1, 1 << 16)
    if IP in datagram:
        base = IP(src=h.src, dst=h.dst, tos=h.tos, proto=h.proto, id=ident)
        first = base.copy()
        first.flags, first.frag = IPV4_MF, 0
        trailing = base.copy()
        trailing.flags, trailing.frag = 0, first_bytes // FRAGMENT_UNIT
        return first / body[:first_bytes], trailing / body[first_bytes:]
    base = IPv6(src=h.src, dst=h.dst, tc=h.tc)
    nh = h.nh
    first = base / IPv6ExtHdrFragment(nh=nh, offset=0, m=1, id=ident) / body[:first_bytes]
    trailing = base / IPv6ExtHdrFragment(nh=nh, offset=first_bytes // FRAGMENT_UNIT, m=0, id=ident) / body[first_bytes:]
    return first, trailing


def same_ip_payload(got, sent):
    """The IP payload at the receiver is the one sent (bytes after the IP header)."""
    return bytes(l3(got).payload) == bytes(l3(sent).payload)


def is_frame_of(p, sent):
    """The frame at the receiver carries `sent`'s addresses and its exact IP payload."""
    h, s = l3(p), l3(sent)
    return h is not None and (h.src, h.dst) == (s.src, s.dst) and same_ip_payload(p, sent)


def passes(wire, packet, what):
    """Sends `packet` from the client; returns it as the server received it."""
    wire.client.send(packet)
    return wire.server.expect("%s at the server" % what, lambda p: is_frame_of(p, packet))


def discarded(lab, wire, packet, reason="filter_discard"):
    """Sends `packet` from the client, waits until exactly one drop under `reason` is
    counted, then checks nothing of it reached the server and nothing answered it."""
    before = lab.drops()
    wire.client.send(packet)
    lab.wait_drops(before, {reason: 1})
    leaked = [p.summary() for p in wire.server.drain() if is_frame_of(p, packet)]
    assert not leaked, "%s, yet the server received %s" % (reason, leaked)
    answered = [p.summary() for p in wire.client.drain() if about(p, packet)]
    assert not answered, "%s is silent, yet the client received %s" % (reason, answered)


def about(p, sent):
    """A frame answering `sent` itself: an ICMP / ICMPv6 error whose quote is `sent` as
    the client sent it (so not a server kernel's error about another packet of the flow,
    which quotes a forwarded packet: one hop less), or a TCP / UDP packet of its ports
    either way."""
    quoted = p.getlayer(IPerror) or p.getlayer(IPerror6)
    if quoted is not None:
        quote, original = bytes(quoted), bytes(l3(sent))
        length = min(len(quote), len(original))
        return length >= MIN_QUOTE and quote[:length] == original[:length]
    for layer in (TCP, UDP):
        if layer in sent and layer in p and {p[layer].sport, p[layer].dport} == {sent[layer].sport, sent[layer].dport}:
            return True
    return False


def check_unreachable(reply, family, wire, code, original, router=None):
    """An ICMP type 3 (ICMPv6 type 1) error with `code` from the firewall's fw0 address
    (or `router`) to the sender of `original` (the IP packet as sent), out of fw0 to the
    client's MAC, quoting it: IPv4 the header and 8 bytes of payload, IPv6 the whole
    packet; header fields and checksums as ICMPError.swift builds them."""
    router = router or labkit.FW0[family]
    assert reply[Ether].src == wire.fw0_mac and reply[Ether].dst == wire.client.mac, reply[Ether].summary()
    h = l3(reply)
    sender = l3(original).src
    assert (h.src, h.dst) == (router, sender), (h.src, h.dst)
    sent = bytes(original)
    if family == 4:
        quoted = sent[:checks.IPV4_HEADER + checks.QUOTED_V4_PAYLOAD]
        assert (h.tos, h.ttl, h.proto, h.id, int(h.flags), h.frag, h.len) == \
            (checks.ICMP_TOS, checks.ICMP_TTL, PROTO_ICMP, 0, 0, 0, checks.IPV4_HEADER + checks.ICMP_HEADER + len(quoted)), \
            reply[IP].show(dump=True)
        assert labkit.internet_checksum_ok(bytes(h)[:checks.IPV4_HEADER]), "IPv4 header checksum"
        icmp = reply[ICMP]
        assert (icmp.type, icmp.code) == (DEST_UNREACHABLE[4], code), (icmp.type, icmp.code)
        body = bytes(icmp)
        assert body[4:checks.ICMP_HEADER] == b"\0\0\0\0", "unused field %r" % body[4:checks.ICMP_HEADER]
        assert body[checks.ICMP_HEADER:] == quoted, "quoted %r, sent %r" % (body[checks.ICMP_HEADER:], quoted)
        assert labkit.internet_checksum_ok(body), "ICMP checksum"
    else:
        icmp = reply[ICMPv6DestUnreach]
        assert (h.nh, h.hlim, h.plen) == (checks.PROTO_ICMPV6, checks.ICMP_TTL, checks.ICMP_HEADER + len(sent)), \
            reply[IPv6].show(dump=True)
        assert (icmp.type, icmp.code) == (DEST_UNREACHABLE[6], code), (icmp.type, icmp.code)
        body = bytes(icmp)
        assert body[4:checks.ICMP_HEADER] == b"\0\0\0\0", "unused field %r" % body[4:checks.ICMP_HEADER]
        assert body[checks.ICMP_HEADER:] == sent, "quoted %r, sent %r" % (body[checks.ICMP_HEADER:], sent)
        assert labkit.l4_checksum_ok(reply, checks.PROTO_ICMPV6), "ICMPv6 checksum"


def is_unreachable(p, family, original):
    """An ICMP destination unreachable (ICMPv6 type 1) quoting `original`."""
    if family == 4:
        kind = ICMP in p and p[ICMP].type == DEST_UNREACHABLE[4]
    else:
        kind = ICMPv6DestUnreach in p
    return kind and about(p, original)


def is_time_exceeded(p, family):
    if family == 4:
        return ICMP in p and p[ICMP].type == ICMP_TIME_EXCEEDED
    return ICMPv6TimeExceeded in p


def error_about(family, datagram, kind):
    """An ICMP / ICMPv6 error ("unreachable": port unreachable; else time exceeded) from
    the client to the server quoting `datagram` (an IP packet the server sent the client)."""
    outer = ip(family, CLIENT[family], SERVER[family])
    if family == 4:
        icmp = ICMP(type=DEST_UNREACHABLE[4], code=PORT_UNREACHABLE[4]) if kind == "unreachable" \
            else ICMP(type=ICMP_TIME_EXCEEDED, code=0)
    else:
        icmp = ICMPv6DestUnreach(code=PORT_UNREACHABLE[6]) if kind == "unreachable" else ICMPv6TimeExceeded(code=0)
    return outer / icmp / bytes(datagram)


@contextlib.contextmanager
def flow_with_reply(lab, wire, family, dport):
    """A UDP flow client -> server:dport and one datagram of the server's back to the
    client, seen there; yields that reply's IP packet. A socket holds the client's port
    meanwhile: its kernel must not answer the reply with an ICMP error of its own."""
    sport = labkit.fresh_port()
    with labkit.netns(lab.ns_c):
        sink = socket.socket(labkit.FAMILY[family], socket.SOCK_DGRAM)
    try:
        sink.bind((CLIENT[family], sport))
        passes(wire, udp(family, sport, dport), "the flow's first datagram")
        reply = ip(family, SERVER[family], CLIENT[family]) / UDP(sport=dport, dport=sport) / b"reply"
        wire.server.send(reply)
        wire.client.expect("the server's reply at the client",
                           lambda p: labkit.is_udp(p, SERVER[family], CLIENT[family], dport, sport))
        yield l3(reply)
    finally:
        sink.close()


# A counter / policer / term row of `show firewall filter F`: NAME (a policer's "NAME-TERM"
# may hold spaces in none; names never do), bytes, packets.
FIREWALL_ROW = re.compile(r"^(.+?)\s+(\d+)\s+(\d+)$")


def firewall_text(lab, name):
    """`show firewall filter NAME` as text: {section: {row name: (bytes, packets)}}, the
    sections Counters, Policers (when the filter polices) and Terms."""
    text = lab.xpfctl("show", "firewall", "filter", name).stdout
    lines = text.splitlines()
    assert lines and lines[0] == "Filter: %s" % name, text
    out, section = {}, None
    for line in lines[1:]:
        if line in ("Counters:", "Policers:", "Terms:"):
            section = line[:-1]
            out[section] = {}
        elif line.split() == ["Name", "Bytes", "Packets"] or not line.strip():
            continue
        else:
            m = FIREWALL_ROW.match(line)
            assert m and section, "not a counter row: %r in\n%s" % (line, text)
            out[section][m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return out
