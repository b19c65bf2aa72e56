"""Session checks a permitting policy does not lift (R-4.2, R-4.6): a TCP flow starts with
a SYN (`tcp_not_syn`, unless `security flow tcp-session no-syn-check`), and an ICMP echo
session carries requests from its initiator and replies from its responder only: an echo
reply the initiator sends is a flow of its own (the message type is part of the flow
key), which a policy admitting echo requests does not match."""
import random

import pytest
from scapy.layers.inet import ICMP, TCP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest

import checks
import configs
import labkit
from labkit import CLIENT, SERVER, fresh_port

PORT_TCP = 7601
PERMIT = configs.config(configs.PERMIT_OUT)
PING_ONLY = configs.config(configs.policies(pairs=[(("trust", "untrust"),
                                                   [configs.policy("ping-out", "permit", application="junos-ping")])]))
NO_SYN_CHECK = configs.config(configs.PERMIT_OUT, """
security {
    flow {
        tcp-session {
            no-syn-check;
        }
    }
}
""")
ECHO_REQUEST = {4: lambda ident: ICMP(type=8, id=ident, seq=1), 6: lambda ident: ICMPv6EchoRequest(id=ident, seq=1)}
ECHO_REPLY = {4: lambda ident: ICMP(type=0, id=ident, seq=1), 6: lambda ident: ICMPv6EchoReply(id=ident, seq=1)}
ECHO_REQUEST_LAYER = {4: (ICMP, 8), 6: (ICMPv6EchoRequest, 128)}
ECHO_REPLY_LAYER = {4: (ICMP, 0), 6: (ICMPv6EchoReply, 129)}

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


def ack(family, sport, dport):
    return labkit.ip(family, CLIENT[family], SERVER[family]) / TCP(
        sport=sport, dport=dport, flags="A", seq=random.randrange(1 << 32), ack=random.randrange(1 << 32)) / b"mid-stream"


@FAMILIES
def test_first_tcp_packet_without_syn_is_dropped(lab, wire, family):
    lab.use(PERMIT)
    sport = fresh_port()
    checks.dropped(lab, wire.client, wire.server, ack(family, sport, PORT_TCP), "tcp_not_syn", sport, PORT_TCP)
    assert not lab.sessions("source-port", str(sport)), "a session for a flow that never sent a SYN"


@FAMILIES
def test_no_syn_check_admits_a_first_packet_without_syn(lab, wire, family):
    lab.use(NO_SYN_CHECK)
    sport = fresh_port()
    checks.forwarded(wire.client, wire.server, ack(family, sport, PORT_TCP),
                     lambda p: labkit.is_tcp(p, CLIENT[family], SERVER[family], sport, PORT_TCP, "A"),
                     "the mid-stream segment at the server")


def is_echo(p, layers, ident):
    layer, kind = layers
    return layer in p and p[layer].type == kind and p[layer].id == ident


@FAMILIES
def test_echo_reply_from_the_initiator_is_dropped(lab, wire, family):
    lab.use(PING_ONLY)
    ident = fresh_port()
    out = labkit.ip(family, CLIENT[family], SERVER[family])
    wire.client.send(out / ECHO_REQUEST[family](ident) / b"ping")
    wire.server.expect("echo request at the server", lambda p: is_echo(p, ECHO_REQUEST_LAYER[family], ident))
    wire.client.expect("the server's echo reply at the client", lambda p: is_echo(p, ECHO_REPLY_LAYER[family], ident))
    before = lab.drops()
    wire.client.send(out / ECHO_REPLY[family](ident) / b"pong")
    lab.wait_drops(before, {"policy_deny": 1})
    leaked = [p.summary() for p in wire.server.drain() if is_echo(p, ECHO_REPLY_LAYER[family], ident)]
    assert not leaked, "the initiator's echo reply reached the server: %s" % leaked
