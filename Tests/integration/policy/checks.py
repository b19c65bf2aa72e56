"""What the policy tests assert about frames: a flow forwarded, a flow dropped (counted
under its reason, nothing leaked, nothing answered), and the replies of a `reject` — the
TCP RST (Sources/Shared/Pipeline/Reject.swift) and the ICMP / ICMPv6 administratively
prohibited (ICMPError.swift) — field by field.
"""
from scapy.layers.inet import IP, TCP, UDP, ICMP, IPerror, TCPerror, UDPerror
from scapy.layers.inet6 import IPv6, IPerror6, ICMPv6DestUnreach
from scapy.layers.l2 import Ether

import labkit
from labkit import l3

# Reject.swift / ICMPError.swift constants, as RFCs and Linux have them.
RESET_TTL = 64                  # TTL / hop limit of a RST (Linux's default)
ICMP_TTL = 64
ICMP_TOS = 0xC0                 # internetwork control (RFC 1812 §4.3.2.5)
ADMIN_PROHIBITED_V4 = (3, 13)   # RFC 1812 §5.2.7.1
ADMIN_PROHIBITED_V6 = (1, 1)    # RFC 4443 §3.1
TCP_HEADER_WORDS = 5            # data offset without options
IPV4_HEADER = 20
IPV6_HEADER = 40
TCP_HEADER = 20
ICMP_HEADER = 8
QUOTED_V4_PAYLOAD = 8           # bytes of the offending datagram's payload an ICMPv4 error quotes
PROTO_TCP, PROTO_ICMPV6 = 6, 58
IP_FLAG_DF = 0x2                # IPv4 flags field: Don't Fragment


def syn(family, src, dst, sport, dport, seq):
    return labkit.ip(family, src, dst) / TCP(sport=sport, dport=dport, flags="S", seq=seq, window=64240)


def udp(family, src, dst, sport, dport, payload=b"policy-probe"):
    return labkit.ip(family, src, dst) / UDP(sport=sport, dport=dport) / payload


def about_flow(p, sport, dport):
    """Any frame of the flow sport <-> dport: a segment or datagram either way, or an
    ICMP / ICMPv6 error quoting one."""
    for layer in (TCP, UDP, TCPerror, UDPerror):
        if layer in p and {p[layer].sport, p[layer].dport} == {sport, dport}:
            return True
    return False


def forwarded(sender, receiver, packet, match, what):
    """Sends `packet` from `sender`; returns the frame at `receiver` that match() picks."""
    sender.send(packet)
    return receiver.expect(what, match)


def dropped(lab, sender, receiver, packet, reason, sport, dport):
    """Sends `packet`, waits until its drop is counted under `reason` (exactly one), then
    checks that nothing of the flow reached `receiver` and nothing came back to `sender`."""
    before = lab.drops()
    sender.send(packet)
    lab.wait_drops(before, {reason: 1})
    leaked = [p.summary() for p in receiver.drain() if about_flow(p, sport, dport)]
    assert not leaked, "%s drop, yet %s received %s" % (reason, receiver.ifname, leaked)
    answered = [p.summary() for p in sender.drain() if about_flow(p, sport, dport)]
    assert not answered, "%s drop is silent, yet %s received %s" % (reason, sender.ifname, answered)


def expected_reset(segment):
    """(seq, ack, flags) of the RST that answers `segment` when no connection exists
    (RFC 9293 §3.10.7.1): to a segment with ACK <SEQ=SEG.ACK><CTL=RST>; otherwise
    <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SEG.LEN counting SYN and FIN as one each."""
    t = segment[TCP]
    if "A" in t.flags:
        return t.ack, 0, "R"
    length = len(t.payload) + ("S" in t.flags) + ("F" in t.flags)
    return (0, (t.seq + length) % (1 << 32), "RA")


def check_rst(rst, family, wire_port, gateway_mac, answered):
    """The RST a reject policy answers the segment `answered` (as the client sent it)
    with: expected_reset's seq / ack / flags, from the server's address and port to the
    client's, window 0, no options, no data; sent from the firewall's ingress MAC."""
    seq, ack, flags = expected_reset(answered)
    assert TCP in rst and rst[TCP].flags == flags, "not the firewall's RST: %s" % rst.summary()
    assert rst[Ether].src == gateway_mac and rst[Ether].dst == wire_port.mac, rst[Ether].summary()
    client, server = l3(answered).src, l3(answered).dst
    h = l3(rst)
    assert (h.src, h.dst) == (server, client), (h.src, h.dst)
    if family == 4:
        assert (h.version, h.ihl, h.tos, h.len, h.id, int(h.flags), h.frag, h.ttl, h.proto) == \
            (4, IPV4_HEADER // 4, 0, IPV4_HEADER + TCP_HEADER, 0, IP_FLAG_DF, 0, RESET_TTL, PROTO_TCP), \
            rst[IP].show(dump=True)
        assert labkit.internet_checksum_ok(bytes(h)[:IPV4_HEADER]), "IPv4 header checksum"
    else:
        assert (h.version, h.tc, h.fl, h.plen, h.nh, h.hlim) == (6, 0, 0, TCP_HEADER, PROTO_TCP, RESET_TTL), \
            rst[IPv6].show(dump=True)
    t, sent = rst[TCP], answered[TCP]
    assert (t.sport, t.dport) == (sent.dport, sent.sport), "ports swapped: %d -> %d" % (t.sport, t.dport)
    assert (t.seq, t.ack) == (seq, ack), "seq %d ack %d; expected %d %d for %s" % (t.seq, t.ack, seq, ack, answered.summary())
    assert (t.dataofs, t.window, t.urgptr, t.options, len(t.payload)) == (TCP_HEADER_WORDS, 0, 0, [], 0), t.show(dump=True)
    assert labkit.l4_checksum_ok(rst, PROTO_TCP), "TCP checksum"


def check_admin_prohibited(reply, family, wire_port, gateway_mac, router, sender, original):
    """ICMP 3/13 (ICMPv6 1/1) from the ingress interface's address `router` to `sender`,
    quoting `original` (the IP packet as sent): IPv4 the header and 8 bytes of payload,
    IPv6 the whole packet."""
    assert reply[Ether].src == gateway_mac and reply[Ether].dst == wire_port.mac, reply[Ether].summary()
    h = l3(reply)
    assert (h.src, h.dst) == (router, sender), (h.src, h.dst)
    sent = bytes(original)
    if family == 4:
        quoted = sent[:IPV4_HEADER + QUOTED_V4_PAYLOAD]
        assert (h.tos, h.ttl, h.proto, h.id, int(h.flags), h.frag, h.len) == \
            (ICMP_TOS, ICMP_TTL, 1, 0, 0, 0, IPV4_HEADER + ICMP_HEADER + len(quoted)), reply[IP].show(dump=True)
        assert labkit.internet_checksum_ok(bytes(h)[:IPV4_HEADER]), "IPv4 header checksum"
        icmp = reply[ICMP]
        assert (icmp.type, icmp.code) == ADMIN_PROHIBITED_V4, (icmp.type, icmp.code)
        body = bytes(icmp)
        assert body[4:ICMP_HEADER] == b"\0\0\0\0", "unused field %r" % body[4:ICMP_HEADER]
        assert body[ICMP_HEADER:] == quoted, "quoted %r, sent %r" % (body[ICMP_HEADER:], quoted)
        assert labkit.internet_checksum_ok(body), "ICMP checksum"
        assert IPerror in reply and reply[IPerror].src == sender
    else:
        icmp = reply[ICMPv6DestUnreach]
        assert (h.nh, h.hlim, h.plen) == (PROTO_ICMPV6, ICMP_TTL, ICMP_HEADER + len(sent)), reply[IPv6].show(dump=True)
        assert (icmp.type, icmp.code) == ADMIN_PROHIBITED_V6, (icmp.type, icmp.code)
        body = bytes(icmp)
        assert body[4:ICMP_HEADER] == b"\0\0\0\0", "unused field %r" % body[4:ICMP_HEADER]
        assert body[ICMP_HEADER:] == sent, "quoted %r, sent %r" % (body[ICMP_HEADER:], sent)
        assert labkit.l4_checksum_ok(reply, PROTO_ICMPV6), "ICMPv6 checksum"
        assert IPerror6 in reply and reply[IPerror6].src == sender


def is_admin_prohibited(p, family):
    if family == 4:
        return ICMP in p and (p[ICMP].type, p[ICMP].code) == ADMIN_PROHIBITED_V4
    return ICMPv6DestUnreach in p and (p[ICMPv6DestUnreach].type, p[ICMPv6DestUnreach].code) == ADMIN_PROHIBITED_V6


def udp_passes(wire, family, sport, dport, src=None):
    """A datagram from the client side (source `src`, default the client's address) to the
    server arrives there."""
    src = src or labkit.CLIENT[family]
    dst = labkit.SERVER[family]
    return forwarded(wire.client, wire.server, udp(family, src, dst, sport, dport),
                     lambda p: labkit.is_udp(p, src, dst, sport, dport),
                     "UDP %s:%d -> %s:%d at the server" % (src, sport, dst, dport))


def udp_denied(lab, wire, family, sport, dport, src=None):
    """A datagram from the client side to the server is dropped as `policy_deny`."""
    src = src or labkit.CLIENT[family]
    dropped(lab, wire.client, wire.server, udp(family, src, labkit.SERVER[family], sport, dport),
            "policy_deny", sport, dport)
