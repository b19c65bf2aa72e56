"""Permit, deny and reject per zone pair and in `global` (R-5.1, R-5.2): the policy list of
the packet's (from-zone, to-zone) in order, then the global policies whose from-zone /
to-zone lists admit the pair, first match wins, else the default policy (deny-all).
Listeners run where each SYN goes, so a SYN the firewall forwarded would be answered by a
SYN-ACK: a RST can only be the firewall's.
"""
import random

import pytest
from scapy.layers.inet import TCP

import checks
import configs
import labkit
from labkit import CLIENT, SERVER, FW0, FW1, fresh_port

PORT_DENY, PORT_REJECT_TCP, PORT_REJECT_UDP, PORT_ORDER, PORT_OPEN = 5101, 5102, 5103, 5104, 5110
PORT_BACK, PORT_G_REJECT, PORT_G_PERMIT, PORT_G_WRONG_ZONE, PORT_PAIR_FIRST, PORT_BACK_NONE = \
    5201, 5202, 5203, 5204, 5205, 5299

CONFIG = configs.config(
    configs.policies(
        pairs=[
            (("trust", "untrust"), [
                configs.policy("t2u-deny", "deny", application="zp-deny"),
                configs.policy("t2u-reject", "reject", application="zp-reject-tcp"),
                configs.policy("t2u-reject-udp", "reject", application="zp-reject-udp"),
                # Also matched by t2u-permit below: the first match decides.
                configs.policy("t2u-order", "deny", application="zp-order"),
                configs.policy("t2u-permit", "permit"),
            ]),
            (("untrust", "trust"), [
                configs.policy("u2t-permit", "permit", application="zp-back"),
                # The pair's own list comes before the global g-permit-pair-first.
                configs.policy("u2t-deny-first", "deny", application="zp-pair-first"),
            ]),
        ],
        global_policies=[
            configs.policy("g-reject-back", "reject", application="zp-g-reject",
                           extra_match="from-zone untrust; to-zone trust;"),
            configs.policy("g-permit-pair-first", "permit", application="zp-pair-first"),
            configs.policy("g-permit-any-pair", "permit", application="zp-g-permit"),
            # Applies to traffic from trust only: none of the untrust -> trust flows below.
            configs.policy("g-wrong-zone", "permit", application="zp-g-wrong-zone",
                           extra_match="from-zone trust; to-zone untrust;"),
        ]),
    configs.applications(
        configs.application("zp-deny", "tcp", PORT_DENY),
        configs.application("zp-reject-tcp", "tcp", PORT_REJECT_TCP),
        configs.application("zp-reject-udp", "udp", PORT_REJECT_UDP),
        configs.application("zp-order", "udp", PORT_ORDER),
        configs.application("zp-back", "tcp", PORT_BACK),
        configs.application("zp-g-reject", "udp", PORT_G_REJECT),
        configs.application("zp-g-permit", "udp", PORT_G_PERMIT),
        configs.application("zp-g-wrong-zone", "udp", PORT_G_WRONG_ZONE),
        configs.application("zp-pair-first", "udp", PORT_PAIR_FIRST),
    ))

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@pytest.fixture(scope="module", autouse=True)
def _config(lab):
    lab.use(CONFIG)


def isn():
    return random.randrange(1, 1 << 32)


@FAMILIES
def test_trust_to_untrust_permit_forwards_syn_and_syn_ack(lab, wire, family):
    sport, seq = fresh_port(), isn()
    with labkit.tcp_listener(lab.ns_s, family, PORT_OPEN):
        got = checks.forwarded(wire.client, wire.server, checks.syn(family, CLIENT[family], SERVER[family], sport, PORT_OPEN, seq),
                               lambda p: labkit.is_tcp(p, CLIENT[family], SERVER[family], sport, PORT_OPEN, "S"),
                               "the SYN at the server")
        assert got[TCP].seq == seq
        synack = wire.client.expect("the server's SYN-ACK at the client",
                                    lambda p: labkit.is_tcp(p, SERVER[family], CLIENT[family], PORT_OPEN, sport, "SA"))
        assert synack[TCP].ack == (seq + 1) % (1 << 32)
    assert lab.session_decision(sport) == ("t2u-permit", "policy", "trust", "untrust")


@FAMILIES
def test_trust_to_untrust_deny_drops_silently(lab, wire, family):
    sport = fresh_port()
    with labkit.tcp_listener(lab.ns_s, family, PORT_DENY):
        checks.dropped(lab, wire.client, wire.server, checks.syn(family, CLIENT[family], SERVER[family], sport, PORT_DENY, isn()),
                       "policy_deny", sport, PORT_DENY)
    assert not lab.sessions("destination-port", str(PORT_DENY)), "a denied flow has a session"


@FAMILIES
def test_trust_to_untrust_reject_tcp_answers_rst_from_server_address(lab, wire, family):
    sport, seq = fresh_port(), isn()
    with labkit.tcp_listener(lab.ns_s, family, PORT_REJECT_TCP):
        before = lab.drops()
        syn = checks.syn(family, CLIENT[family], SERVER[family], sport, PORT_REJECT_TCP, seq)
        wire.client.send(syn)
        rst = wire.client.expect("the firewall's RST", lambda p: checks.about_flow(p, sport, PORT_REJECT_TCP))
        checks.check_rst(rst, family, wire.client, wire.fw0_mac, syn)
        lab.wait_drops(before, {"policy_reject": 1})
        leaked = [p.summary() for p in wire.server.drain() if checks.about_flow(p, sport, PORT_REJECT_TCP)]
        assert not leaked, "the SYN reached the server: %s" % leaked
    assert not lab.sessions("destination-port", str(PORT_REJECT_TCP)), "a rejected flow has a session"


@FAMILIES
def test_trust_to_untrust_reject_udp_answers_admin_prohibited(lab, wire, family):
    sport = fresh_port()
    probe = checks.udp(family, CLIENT[family], SERVER[family], sport, PORT_REJECT_UDP)
    before = lab.drops()
    wire.client.send(probe)
    reply = wire.client.expect("ICMP administratively prohibited", lambda p: checks.is_admin_prohibited(p, family))
    checks.check_admin_prohibited(reply, family, wire.client, wire.fw0_mac, FW0[family], CLIENT[family], probe)
    lab.wait_drops(before, {"policy_reject": 1})
    assert not [p for p in wire.server.drain() if checks.about_flow(p, sport, PORT_REJECT_UDP)]


def test_first_matching_policy_wins(lab, wire):
    sport = fresh_port()
    checks.dropped(lab, wire.client, wire.server, checks.udp(4, CLIENT[4], SERVER[4], sport, PORT_ORDER),
                   "policy_deny", sport, PORT_ORDER)


@FAMILIES
def test_untrust_to_trust_permit_by_its_own_pair(lab, wire, family):
    sport, seq = fresh_port(), isn()
    with labkit.tcp_listener(lab.ns_c, family, PORT_BACK):
        checks.forwarded(wire.server, wire.client, checks.syn(family, SERVER[family], CLIENT[family], sport, PORT_BACK, seq),
                         lambda p: labkit.is_tcp(p, SERVER[family], CLIENT[family], sport, PORT_BACK, "S"),
                         "the server's SYN at the client")
        wire.server.expect("the client's SYN-ACK at the server",
                           lambda p: labkit.is_tcp(p, CLIENT[family], SERVER[family], PORT_BACK, sport, "SA"))
    assert lab.session_decision(sport) == ("u2t-permit", "policy", "untrust", "trust")


@FAMILIES
def test_untrust_to_trust_without_matching_policy_is_denied(lab, wire, family):
    """trust -> untrust permits everything; that says nothing about untrust -> trust."""
    sport = fresh_port()
    with labkit.tcp_listener(lab.ns_c, family, PORT_BACK_NONE):
        checks.dropped(lab, wire.server, wire.client, checks.syn(family, SERVER[family], CLIENT[family], sport, PORT_BACK_NONE, isn()),
                       "policy_deny", sport, PORT_BACK_NONE)


@FAMILIES
def test_global_reject_with_zone_lists(lab, wire, family):
    """The ICMP comes from the ingress interface's address: fw1's, the server's side."""
    sport = fresh_port()
    probe = checks.udp(family, SERVER[family], CLIENT[family], sport, PORT_G_REJECT)
    before = lab.drops()
    wire.server.send(probe)
    reply = wire.server.expect("ICMP administratively prohibited", lambda p: checks.is_admin_prohibited(p, family))
    checks.check_admin_prohibited(reply, family, wire.server, wire.fw1_mac, FW1[family], SERVER[family], probe)
    lab.wait_drops(before, {"policy_reject": 1})
    assert not [p for p in wire.client.drain() if checks.about_flow(p, sport, PORT_G_REJECT)]


@FAMILIES
def test_global_permit_without_zone_lists_applies_to_every_pair(lab, wire, family):
    sport = fresh_port()
    checks.forwarded(wire.server, wire.client, checks.udp(family, SERVER[family], CLIENT[family], sport, PORT_G_PERMIT),
                     lambda p: labkit.is_udp(p, SERVER[family], CLIENT[family], sport, PORT_G_PERMIT),
                     "the datagram at the client")
    assert lab.session_decision(sport) == ("g-permit-any-pair", "policy", "untrust", "trust")


def test_global_policy_of_another_zone_pair_does_not_match(lab, wire):
    sport = fresh_port()
    checks.dropped(lab, wire.server, wire.client, checks.udp(4, SERVER[4], CLIENT[4], sport, PORT_G_WRONG_ZONE),
                   "policy_deny", sport, PORT_G_WRONG_ZONE)


def test_zone_pair_policies_come_before_global(lab, wire):
    sport = fresh_port()
    checks.dropped(lab, wire.server, wire.client, checks.udp(4, SERVER[4], CLIENT[4], sport, PORT_PAIR_FIRST),
                   "policy_deny", sport, PORT_PAIR_FIRST)
