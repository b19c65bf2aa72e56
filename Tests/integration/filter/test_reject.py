"""`then reject` of an input filter on the wire (issue 10 §1, R-6.1): the client that sent
the packet receives an ICMP destination unreachable (ICMPv6 type 1) from the firewall's
fw0 address, with the Junos reason's code and the packet quoted, or — `reject tcp-reset`
— a TCP RST whose sequence numbers answer the segment (RFC 9293 §3.10.7.1), while the
server never sees the packet: it listens on the TCP port, so a SYN forwarded to it would
be answered with a SYN-ACK, not a RST. Each reply counts one `filter_reject`. A packet no
error may answer (a trailing fragment, RFC 1812 §4.3.2.7) is discarded silently and
counted `filter_discard`.
"""
import pytest
from scapy.layers.inet import TCP

import checks
import configs
import filterchecks as fc
import labkit
from labkit import fresh_port

# (term, `reject` argument, ICMP code on the wire, destination port)
REASONS = {
    4: [("default", None, 13, 7101), ("host", "host-unreachable", 1, 7102),
        ("port", "port-unreachable", 3, 7103), ("network", "network-unreachable", 0, 7104)],
    6: [("default", None, 1, 7101), ("port", "port-unreachable", 4, 7103),
        ("no-route", "no-route", 0, 7104), ("address", "address-unreachable", 3, 7105)],
}
P_RESET = 7110
P_PASS = 7111


def reject_filter(family):
    proto = "protocol" if family == 4 else "next-header"
    terms = [configs.term(name, ["%s udp" % proto, "destination-port %d" % port],
                          ["reject %s" % reason if reason else "reject"])
             for name, reason, _, port in REASONS[family]]
    terms.append(configs.term("reset", ["%s tcp" % proto, "destination-port %d" % P_RESET], ["reject tcp-reset"]))
    terms.append(configs.term("trailing", ["is-fragment"], ["reject"]))
    terms.append(configs.term("rest"))
    return configs.firewall_filter(family, "reject%d" % family, *terms)


CONFIG = configs.config(reject_filter(4), reject_filter(6),
                        configs.attach("fw0", 4, input="reject4"), configs.attach("fw0", 6, input="reject6"))

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@pytest.fixture(scope="module", autouse=True)
def _config(lab):
    lab.use(CONFIG)


def rejected(lab, wire, packet, what):
    """Sends `packet` from the client; returns the reply the client received, after
    checking exactly one `filter_reject` (no `filter_discard`) and nothing at the server."""
    before = lab.drops()
    wire.client.send(packet)
    reply = wire.client.expect(what, lambda p: fc.about(p, packet) and labkit.l3(p).src != labkit.l3(packet).src)
    delta = lab.wait_drops(before, {"filter_reject": 1})
    assert delta["filter_discard"] == 0, "a reject counted as a discard too: %r" % delta
    leaked = [p.summary() for p in wire.server.drain() if fc.is_frame_of(p, packet)]
    assert not leaked, "rejected, yet the server received %s" % leaked
    return reply


@pytest.mark.parametrize("family,reason", [(f, r) for f in (4, 6) for r in REASONS[f]],
                         ids=["ipv%d-%s" % (f, r[0]) for f in (4, 6) for r in REASONS[f]])
def test_reject_sends_the_reasons_icmp_code(lab, wire, family, reason):
    _, _, code, port = reason
    packet = fc.udp(family, fresh_port(), port)
    reply = rejected(lab, wire, packet, "ICMP unreachable code %d" % code)
    fc.check_unreachable(reply, family, wire, code, packet)


@FAMILIES
def test_reject_tcp_reset_answers_a_syn(lab, wire, family):
    listener = labkit.tcp_listener(lab.ns_s, family, P_RESET)
    try:
        syn = fc.tcp(family, fresh_port(), P_RESET, flags="S")
        rst = rejected(lab, wire, syn, "the filter's RST")
        checks.check_rst(rst, family, wire.client, wire.fw0_mac, syn)
        assert rst[TCP].flags == "RA" and rst[TCP].seq == 0 and rst[TCP].ack == (syn[TCP].seq + 1) % (1 << 32), \
            rst[TCP].show(dump=True)
        # A SYN that reached the listener would have made a SYN-ACK: none came.
        synacks = [p.summary() for p in wire.client.drain() if fc.about(p, syn) and p[TCP].flags == "SA"]
        assert not synacks, "the server answered: %s" % synacks
    finally:
        listener.close()


@FAMILIES
def test_reject_tcp_reset_answers_a_segment_with_ack(lab, wire, family):
    """A segment with ACK gets <SEQ=SEG.ACK><CTL=RST>."""
    segment = fc.tcp(family, fresh_port(), P_RESET, flags="PA", ack=123456789, payload=b"data")
    rst = rejected(lab, wire, segment, "the filter's RST")
    checks.check_rst(rst, family, wire.client, wire.fw0_mac, segment)
    assert (rst[TCP].flags, rst[TCP].seq) == ("R", segment[TCP].ack), rst[TCP].show(dump=True)


@FAMILIES
def test_reject_of_a_trailing_fragment_is_a_silent_discard(lab, wire, family):
    whole = fc.udp(family, fresh_port(), P_PASS, payload=b"z" * 40)
    _, trailing = fc.fragments(whole)
    before = lab.drops()
    wire.client.send(trailing)
    delta = lab.wait_drops(before, {"filter_discard": 1})
    assert delta["filter_reject"] == 0, "counted as a reject: %r" % delta
    answered = [p.summary() for p in wire.client.drain() if fc.about(p, trailing)]
    assert not answered, "an error about a trailing fragment: %s" % answered
    assert not [p for p in wire.server.drain() if fc.is_frame_of(p, trailing)], "the fragment was forwarded"


@FAMILIES
def test_traffic_no_term_rejects_passes(wire, family):
    fc.passes(wire, fc.udp(family, fresh_port(), P_PASS), "UDP to a port no term rejects")
