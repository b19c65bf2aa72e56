"""RT_FLOW events of the policy stage (R-5.3, R-9.1), field by field: SESSION_CREATE only
for a permitting policy with `then log session-init`, SESSION_CLOSE only with `log
session-close`, SESSION_DENY for a deny / reject policy with `log session-init` whose
reason says "Rejected" only when the RST / ICMP really went out. Policy and zone names
are the configuration's.

An absent line is checked after a positive barrier: the flow's packet reached the server
(its CREATE, if any, was emitted before it was forwarded) or `clear security flow
session` returned (it waits for every CLOSE to be drained), and `show log statistics`
drained every ring into the file before it answered.
"""
import random
import socket

import pytest
from scapy.layers.inet import TCP

import checks
import configs
import labkit
from labkit import CLIENT, SERVER, fresh_port

PORT_INIT, PORT_CLOSE, PORT_BOTH, PORT_NONE, PORT_DENY, PORT_REJECT, PORT_DENY_QUIET = \
    7801, 7802, 7803, 7804, 7805, 7806, 7807
CREATE, CLOSE, DENY = "RT_FLOW_SESSION_CREATE", "RT_FLOW_SESSION_CLOSE", "RT_FLOW_SESSION_DENY"
PROTO = {"tcp": "6", "udp": "17"}
ETHERNET, IP_HEADER, UDP_HEADER = 14, {4: 20, 6: 40}, 8
PROBE = b"policy-probe"          # checks.udp's payload

CREATE_FIELDS = ("source-address source-port destination-address destination-port connection-tag service-name "
                 "nat-source-address nat-source-port nat-destination-address nat-destination-port nat-connection-tag "
                 "src-nat-rule-type src-nat-rule-name dst-nat-rule-type dst-nat-rule-name protocol-id policy-name "
                 "source-zone-name destination-zone-name session-id-32 username roles packet-incoming-interface "
                 "application nested-application encrypted").split()
DENY_FIELDS = ("source-address source-port destination-address destination-port connection-tag service-name "
               "protocol-id icmp-type policy-name source-zone-name destination-zone-name application "
               "nested-application username roles packet-incoming-interface encrypted reason session-id-32").split()

CONFIG = configs.config(
    configs.policies(pairs=[(("trust", "untrust"), [
        configs.policy("log-init", "permit", application="e-init", log=["session-init"]),
        configs.policy("log-close", "permit", application="e-close", log=["session-close"]),
        configs.policy("log-both", "permit", application="e-both", log=["session-init", "session-close"]),
        configs.policy("no-log", "permit", application="e-none"),
        configs.policy("deny-logged", "deny", application="e-deny", log=["session-init"]),
        configs.policy("reject-logged", "reject", application="e-reject", log=["session-init"]),
        configs.policy("deny-quiet", "deny", application="e-deny-quiet"),
    ])]),
    configs.applications(
        configs.application("e-init", "udp", PORT_INIT),
        configs.application("e-close", "udp", PORT_CLOSE),
        configs.application("e-both", "tcp", PORT_BOTH),
        configs.application("e-none", "udp", PORT_NONE),
        configs.application("e-deny", "udp", PORT_DENY),
        configs.application("e-reject", "tcp", PORT_REJECT),
        configs.application("e-deny-quiet", "udp", PORT_DENY_QUIET),
    ),
    # A RST as a flow's first packet reaches the policy stage (see the last test).
    """
security {
    flow {
        tcp-session {
            no-syn-check;
        }
    }
}
""")

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@pytest.fixture(scope="module", autouse=True)
def _config(lab):
    lab.use(CONFIG)


def check_flow_fields(e, family, sport, dport, proto, policy):
    """The fields every CREATE / CLOSE / DENY of a client -> server flow shares."""
    f = e.fields
    assert (f["source-address"], f["source-port"], f["destination-address"], f["destination-port"]) == \
        (CLIENT[family], str(sport), SERVER[family], str(dport)), e
    assert f["protocol-id"] == PROTO[proto], e
    assert f["policy-name"] == policy, e
    assert (f["source-zone-name"], f["destination-zone-name"]) == ("trust", "untrust"), e
    assert f["packet-incoming-interface"] == "fw0.0", e
    assert (e.app, e.host) == ("RT_FLOW", configs.HOST_NAME), e.line


def check_create(e, family, sport, dport, proto, policy):
    assert e.names == CREATE_FIELDS, "CREATE field names in SRX order: %r" % e.names
    check_flow_fields(e, family, sport, dport, proto, policy)
    f = e.fields
    assert (f["nat-source-address"], f["nat-source-port"], f["nat-destination-address"], f["nat-destination-port"]) == \
        (CLIENT[family], str(sport), SERVER[family], str(dport)), "nothing translated: %r" % e
    assert int(f["session-id-32"]) != 0, e


@FAMILIES
def test_session_init_logs_create_and_no_close(lab, wire, family):
    sport = fresh_port()
    checks.udp_passes(wire, family, sport, PORT_INIT)
    (create,) = lab.wait_events(1, CREATE, source_port=sport)
    check_create(create, family, sport, PORT_INIT, "udp", "log-init")
    lab.clear_sessions()
    assert not lab.events(CLOSE, source_port=sport), "CLOSE without log session-close"


def test_session_close_logs_close_and_no_create(lab, wire):
    sport = fresh_port()
    checks.udp_passes(wire, 4, sport, PORT_CLOSE)
    assert not lab.events(CREATE, source_port=sport), "CREATE without log session-init"
    lab.clear_sessions()
    (close,) = lab.wait_events(1, CLOSE, source_port=sport)
    check_flow_fields(close, 4, sport, PORT_CLOSE, "udp", "log-close")
    f = close.fields
    assert f["reason"] == "clear", close
    assert (f["packets-from-client"], f["bytes-from-client"], f["packets-from-server"], f["bytes-from-server"]) == \
        ("1", str(ETHERNET + IP_HEADER[4] + UDP_HEADER + len(PROBE)), "0", "0"), close
    assert int(f["session-id-32"]) != 0, close


@FAMILIES
def test_session_init_and_close_on_a_tcp_connection(lab, wire, family):
    """A kernel TCP connection, closed with FIN both ways: one CREATE, one CLOSE (TCP FIN)
    naming the same session."""
    sport = fresh_port()
    with labkit.tcp_listener(lab.ns_s, family, PORT_BOTH) as listener:
        client = labkit.tcp_connect(lab.ns_c, family, CLIENT[family], sport, SERVER[family], PORT_BOTH)
        server, _ = listener.accept()
        with client, server:
            client.sendall(b"hello")
            assert labkit.recv_exactly(server, 5) == b"hello"
            client.shutdown(socket.SHUT_WR)
            assert server.recv(1) == b"", "the client's FIN"
            server.shutdown(socket.SHUT_WR)
            assert client.recv(1) == b"", "the server's FIN"
    (create,) = lab.wait_events(1, CREATE, source_port=sport)
    check_create(create, family, sport, PORT_BOTH, "tcp", "log-both")
    # The session ends after the closing timeout (1 s) and an ageing sweep.
    (close,) = lab.wait_events(1, CLOSE, source_port=sport)
    check_flow_fields(close, family, sport, PORT_BOTH, "tcp", "log-both")
    assert close["reason"] == "TCP FIN", close
    assert close["session-id-32"] == create["session-id-32"], (create, close)


def test_no_log_statement_logs_nothing(lab, wire):
    sport = fresh_port()
    checks.udp_passes(wire, 4, sport, PORT_NONE)
    lab.clear_sessions()
    assert not lab.events(source_port=sport), "events for a policy without log"


@FAMILIES
def test_deny_with_session_init_logs_deny(lab, wire, family):
    sport = fresh_port()
    checks.udp_denied(lab, wire, family, sport, PORT_DENY)
    (deny,) = lab.wait_events(1, DENY, source_port=sport)
    assert deny.names == DENY_FIELDS, "DENY field names in SRX order: %r" % deny.names
    check_flow_fields(deny, family, sport, PORT_DENY, "udp", "deny-logged")
    assert deny["reason"] == "Denied by policy", deny
    assert not lab.events(CREATE, source_port=sport), "a denied flow has a CREATE"


def test_deny_without_log_logs_nothing(lab, wire):
    sport = fresh_port()
    checks.udp_denied(lab, wire, 4, sport, PORT_DENY_QUIET)
    assert not lab.events(source_port=sport), "events for a deny policy without log"


def test_reject_logs_rejected_when_the_rst_went_out(lab, wire):
    sport, seq = fresh_port(), random.randrange(1 << 32)
    with labkit.tcp_listener(lab.ns_s, 4, PORT_REJECT):
        before = lab.drops()
        syn = checks.syn(4, CLIENT[4], SERVER[4], sport, PORT_REJECT, seq)
        wire.client.send(syn)
        rst = wire.client.expect("the firewall's RST", lambda p: checks.about_flow(p, sport, PORT_REJECT))
        checks.check_rst(rst, 4, wire.client, wire.fw0_mac, syn)
        lab.wait_drops(before, {"policy_reject": 1})
    (deny,) = lab.wait_events(1, DENY, source_port=sport)
    check_flow_fields(deny, 4, sport, PORT_REJECT, "tcp", "reject-logged")
    assert deny["reason"] == "Rejected by policy", deny


def test_reject_logs_denied_when_no_reply_may_go_out(lab, wire):
    """A RST is never answered with a RST (RFC 9293 §3.10.7.1): the reject policy drops
    it silently, and the event must not claim a reply."""
    sport = fresh_port()
    before = lab.drops()
    wire.client.send(labkit.ip(4, CLIENT[4], SERVER[4]) / TCP(sport=sport, dport=PORT_REJECT, flags="R",
                                                               seq=random.randrange(1 << 32)))
    lab.wait_drops(before, {"policy_reject": 1})
    assert not [p.summary() for p in wire.client.drain() if checks.about_flow(p, sport, PORT_REJECT)], "a reply to a RST"
    assert not [p.summary() for p in wire.server.drain() if checks.about_flow(p, sport, PORT_REJECT)], "the RST leaked"
    (deny,) = lab.wait_events(1, DENY, source_port=sport)
    check_flow_fields(deny, 4, sport, PORT_REJECT, "tcp", "reject-logged")
    assert deny["reason"] == "Denied by policy", deny


@FAMILIES
def test_reject_answers_a_segment_with_ack_at_its_acknowledgment_number(lab, wire, family):
    """With no-syn-check a mid-stream segment reaches the policy: its RST is
    <SEQ=SEG.ACK><CTL=RST>, which the client's stack accepts for that connection."""
    sport = fresh_port()
    with labkit.tcp_listener(lab.ns_s, family, PORT_REJECT):
        before = lab.drops()
        segment = labkit.ip(family, CLIENT[family], SERVER[family]) / TCP(
            sport=sport, dport=PORT_REJECT, flags="PA", seq=random.randrange(1 << 32), ack=random.randrange(1 << 32)) / b"data"
        wire.client.send(segment)
        rst = wire.client.expect("the firewall's RST", lambda p: checks.about_flow(p, sport, PORT_REJECT))
        checks.check_rst(rst, family, wire.client, wire.fw0_mac, segment)
        lab.wait_drops(before, {"policy_reject": 1})
    assert not [p.summary() for p in wire.server.drain() if checks.about_flow(p, sport, PORT_REJECT)], "the segment leaked"
    (deny,) = lab.wait_events(1, DENY, source_port=sport)
    assert deny["reason"] == "Rejected by policy", deny
