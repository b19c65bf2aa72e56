"""Filters on established flows (issue 10 §2, §3; R-4.5): the input filter runs on every
packet, session hits included, so a field that changes in the middle of a flow meets the
filter at its next packet. Against `term dscp-ef { from { dscp ef; } then discard; } …
term rest { then accept; }`: a UDP flow and a kernel TCP connection whose first packets
carry DSCP 0 are delivered, their later DSCP 46 packets are not, and packets with DSCP 0
after those go through on the same session again. The same for a TCP segment with URG, a
trailing fragment of a flow's datagram, an echo request with another code and an ICMP
error about the flow; and a reject term answers a session hit.
"""
import socket

import pytest

import configs
import filterchecks as fc
import labkit
from labkit import fresh_port
from streams import stream as tcp_stream

P_UDP, P_TCP, P_URGENT, P_FRAGMENTS, P_ICMP_ERROR, P_REJECT = 7701, 7702, 7703, 7704, 7705, 7706
ADMIN_PROHIBITED = {4: 13, 6: 1}
ECHO_CODE = 5
# setsockopt for the TOS / traffic-class byte of a kernel socket's packets.
TOS_OPTION = {4: (socket.IPPROTO_IP, socket.IP_TOS), 6: (socket.IPPROTO_IPV6, socket.IPV6_TCLASS)}


def midflow_filter(family):
    proto = "protocol" if family == 4 else "next-header"
    dscp = "dscp" if family == 4 else "traffic-class"
    icmp = "icmp" if family == 4 else "icmp6"
    unreachable = "unreachable" if family == 4 else "destination-unreachable"
    t = configs.term
    return configs.firewall_filter(
        family, "midflow%d" % family,
        t("dscp-ef", ["%s ef" % dscp], ["discard"]),
        t("dscp-af41", ["%s af41" % dscp], ["reject"]),
        t("urgent", ["%s tcp" % proto, "tcp-flags urgent"], ["discard"]),
        t("trailing", ["is-fragment"], ["discard"]),
        t("echo-code", ["%s %s" % (proto, icmp), "icmp-type echo-request", "icmp-code %d" % ECHO_CODE], ["discard"]),
        t("unreachable", ["%s %s" % (proto, icmp), "icmp-type %s" % unreachable], ["discard"]),
        t("rest"))


CONFIG = configs.config(midflow_filter(4), midflow_filter(6),
                        configs.attach("fw0", 4, input="midflow4"), configs.attach("fw0", 6, input="midflow6"))

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@pytest.fixture(scope="module", autouse=True)
def _config(lab):
    lab.use(CONFIG)


@pytest.fixture
def streams(lab):
    made = []

    def make(family, dport):
        made.append(tcp_stream(lab, family, dport))
        return made[-1]
    yield make
    for s in made:
        s.close()


def one_session(lab, sport):
    (session,) = lab.sessions("source-port", str(sport))
    return session["id"]


@FAMILIES
def test_dscp_0_then_46_on_a_udp_flow(lab, wire, family):
    sport = fresh_port()
    fc.passes(wire, fc.udp(family, sport, P_UDP, payload=b"first"), "the flow's first datagram")
    session = one_session(lab, sport)
    fc.passes(wire, fc.udp(family, sport, P_UDP, payload=b"second"), "a session hit with DSCP 0")
    fc.discarded(lab, wire, fc.udp(family, sport, P_UDP, dscp=fc.DSCP_EF, payload=b"marked"))
    fc.passes(wire, fc.udp(family, sport, P_UDP, payload=b"after"), "DSCP 0 again")
    assert one_session(lab, sport) == session, "the flow changed sessions"


@FAMILIES
def test_dscp_0_then_46_on_a_tcp_stream(lab, streams, family):
    stream = streams(family, P_TCP)
    session = one_session(lab, stream.sport)
    level, option = TOS_OPTION[family]
    before = lab.drops()
    stream.client.setsockopt(level, option, fc.tos(fc.DSCP_EF))
    stream.client.sendall(b"marked")
    lab.wait_drops_at_least(before, {"filter_discard": 1})     # the segment, then its retransmissions
    assert labkit.nothing_pending(stream.server), "a DSCP 46 segment reached the server"
    # Back to DSCP 0: the kernel's next retransmission carries it and is delivered.
    stream.client.setsockopt(level, option, 0)
    assert labkit.recv_exactly(stream.server, len(b"marked")) == b"marked"
    stream.exchange(b"still the same stream")
    assert one_session(lab, stream.sport) == session, "the stream changed sessions"


@FAMILIES
def test_urgent_segment_of_a_tcp_stream(lab, streams, family):
    stream = streams(family, P_URGENT)
    before = lab.drops()
    stream.client.send(b"!", socket.MSG_OOB)             # URG set on the segment
    lab.wait_drops_at_least(before, {"filter_discard": 1})
    assert labkit.nothing_pending(stream.server), "the urgent segment reached the server"


@FAMILIES
def test_trailing_fragment_of_a_udp_flow(lab, wire, family):
    sport = fresh_port()
    fc.passes(wire, fc.udp(family, sport, P_FRAGMENTS, payload=b"whole"), "the flow's first datagram")
    _, trailing = fc.fragments(fc.udp(family, sport, P_FRAGMENTS, payload=b"f" * 40))
    fc.discarded(lab, wire, trailing)
    fc.passes(wire, fc.udp(family, sport, P_FRAGMENTS, payload=b"whole again"), "a whole datagram again")


@FAMILIES
def test_echo_request_with_another_code_on_an_echo_flow(lab, wire, family):
    ident = fresh_port()
    fc.passes(wire, fc.echo(family, ident), "the first echo request")
    fc.passes(wire, fc.echo(family, ident), "a session hit")
    fc.discarded(lab, wire, fc.echo(family, ident, code=ECHO_CODE))
    fc.passes(wire, fc.echo(family, ident), "code 0 again")


@FAMILIES
def test_icmp_error_about_a_udp_flow(lab, wire, family):
    """The client answers the server's datagram of an established flow with an ICMP
    error: a time exceeded is related traffic of the session and forwarded; a port
    unreachable meets the `unreachable` term and is discarded."""
    with fc.flow_with_reply(lab, wire, family, P_ICMP_ERROR) as reply:
        fc.passes(wire, fc.error_about(family, reply, "time-exceeded"), "a time exceeded about the reply")
        fc.discarded(lab, wire, fc.error_about(family, reply, "unreachable"))


@FAMILIES
def test_reject_on_a_session_hit(lab, wire, family):
    """A reject term on an established flow's later packet: the ICMP goes back to the
    client, the packet goes nowhere, and the flow goes on."""
    sport = fresh_port()
    fc.passes(wire, fc.udp(family, sport, P_REJECT, payload=b"first"), "the flow's first datagram")
    marked = fc.udp(family, sport, P_REJECT, dscp=fc.DSCP_AF41, payload=b"marked")
    before = lab.drops()
    wire.client.send(marked)
    reply = wire.client.expect("the reject's ICMP", lambda p: fc.is_unreachable(p, family, marked))
    lab.wait_drops(before, {"filter_reject": 1})
    fc.check_unreachable(reply, family, wire, ADMIN_PROHIBITED[family], marked)
    assert not [p for p in wire.server.drain() if fc.is_frame_of(p, marked)], "rejected, yet forwarded"
    fc.passes(wire, fc.udp(family, sport, P_REJECT, payload=b"after"), "DSCP 0 again")
