"""ICMP errors are related traffic, not flows (issue 9 §3, Pipeline/ICMPRelatedStage.swift):
an error is forwarded only when the packet it quotes belongs to a session and it travels
toward that packet's source; anything else is dropped and counted `icmp_unmatched`. No
policy admits the error (untrust -> trust is denied here): its session does."""
import pytest
from scapy.layers.inet import ICMP, UDP, UDPerror
from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6TimeExceeded

import checks
import configs
import labkit
from labkit import CLIENT, SERVER, fresh_port

PORT = 7801
# Client to server only; the way back has no policy (default deny).
CONFIG = configs.config(configs.policies(pairs=[(("trust", "untrust"), [configs.policy("allow-out", "permit")])]))
ROUTER = {4: "10.10.2.77", 6: "fd00:2::77"}   # a router beyond the server's link, as the error's source

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@pytest.fixture(scope="module", autouse=True)
def _config(lab):
    lab.use(CONFIG)


def error_about(family, datagram, kind):
    """An ICMP / ICMPv6 error from ROUTER to the datagram's source quoting `datagram`
    (port unreachable or time exceeded)."""
    src = labkit.l3(datagram).src
    outer = labkit.ip(family, ROUTER[family], src)
    if family == 4:
        icmp = ICMP(type=3, code=3) if kind == "unreachable" else ICMP(type=11, code=0)
    else:
        icmp = ICMPv6DestUnreach(code=4) if kind == "unreachable" else ICMPv6TimeExceeded(code=0)
    return outer / icmp / bytes(datagram)


def is_error_quoting(p, family, sport, dport):
    quoted = p.getlayer(UDPerror)
    kind = ICMP if family == 4 else (ICMPv6DestUnreach, ICMPv6TimeExceeded)
    has_icmp = (ICMP in p) if family == 4 else any(k in p for k in kind)
    return has_icmp and quoted is not None and (quoted.sport, quoted.dport) == (sport, dport)


@FAMILIES
@pytest.mark.parametrize("kind", ["unreachable", "time-exceeded"])
def test_an_error_about_a_session_reaches_its_client_unchanged(lab, wire, family, kind):
    sport = fresh_port()
    datagram = checks.udp(family, CLIENT[family], SERVER[family], sport, PORT)
    wire.client.send(datagram)
    wire.server.expect("the datagram at the server", lambda p: labkit.is_udp(p, CLIENT[family], SERVER[family], sport, PORT))
    before = lab.drops()
    error = error_about(family, datagram, kind)
    wire.server.send(error)
    # (The server's own kernel answers the datagram with a port unreachable too, which
    # the firewall forwards the same way; this test follows the router's error.)
    got = wire.client.expect("the router's error at the client",
                             lambda p: is_error_quoting(p, family, sport, PORT) and labkit.l3(p).src == ROUTER[family])
    sent, seen = labkit.l3(error), labkit.l3(got)
    assert (seen.src, seen.dst) == (sent.src, sent.dst), got.summary()
    hops = (sent.ttl - seen.ttl) if family == 4 else (sent.hlim - seen.hlim)
    assert hops == 1, "one hop through the firewall: %s" % got.summary()
    assert bytes(seen.payload) == bytes(sent.payload), "the ICMP message is forwarded untouched"
    after = lab.drops()
    assert after["icmp_unmatched"] == before["icmp_unmatched"], "a matched error was counted unmatched"
    assert len(lab.sessions("source-port", str(sport))) == 1, "the error created no session of its own"


@FAMILIES
def test_an_error_about_no_session_is_dropped_unmatched(lab, wire, family):
    sport = fresh_port()
    # A datagram the client never sent: no session quotes it.
    never_sent = checks.udp(family, CLIENT[family], SERVER[family], sport, PORT)
    error = error_about(family, never_sent, "unreachable")
    before = lab.drops()
    wire.server.send(error)
    lab.wait_drops(before, {"icmp_unmatched": 1})
    leaked = [p.summary() for p in wire.client.drain() if is_error_quoting(p, family, sport, PORT)]
    assert not leaked, "an unrelated error reached the client: %s" % leaked


@FAMILIES
def test_an_error_not_addressed_to_the_quoted_source_is_dropped(lab, wire, family):
    sport = fresh_port()
    datagram = checks.udp(family, CLIENT[family], SERVER[family], sport, PORT)
    wire.client.send(datagram)
    wire.server.expect("the datagram at the server", lambda p: labkit.is_udp(p, CLIENT[family], SERVER[family], sport, PORT))
    # The same quote, aimed at another host of the client's network.
    error = error_about(family, datagram, "unreachable")
    other = "10.10.1.99" if family == 4 else "fd00:1::99"
    labkit.l3(error).dst = other
    before = lab.drops()
    wire.server.send(error)
    lab.wait_drops(before, {"icmp_unmatched": 1})
