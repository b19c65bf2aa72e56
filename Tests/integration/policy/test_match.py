"""What a policy matches (R-5.1): source and destination addresses (global address-book
entries, address-sets nested in address-sets, any-ipv4 / any-ipv6) and applications
(predefined junos-http, junos-ssh, junos-icmp-ping; custom ones with a port range, with a
source-port range; application-sets). Every flow the policies below do not admit falls to
the default policy, deny-all, and is counted `policy_deny`.
"""
import random

import pytest
from scapy.layers.inet import ICMP

import checks
import configs
import labkit
from labkit import CLIENT, SERVER, fresh_port

PORT_SET = 7001
RANGE_LOW, RANGE_HIGH = 7100, 7109
PORT_SPORT, SPORT_LOW, SPORT_HIGH = 7200, 1000, 1999
PORT_SET_TCP, PORT_SET_UDP = 7301, 7302
PORT_V4_ONLY, PORT_V6_ONLY = 7401, 7402
HTTP, SSH, NOT_HTTP = 80, 22, 81
ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY, ICMP_TIMESTAMP = 8, 0, 13
# Another host on the client's subnet: in no address-set below.
STRANGER = {4: "10.10.1.3", 6: "fd00:1::3"}

ADDRESS_BOOK = """
security {
    address-book {
        global {
            address srv4 10.10.2.2/32;
            address srv6 fd00:2::2/128;
            address cli4 10.10.1.2/32;
            address cli6 fd00:1::2/128;
            address-set servers {
                address srv4;
                address srv6;
            }
            address-set clients-v4 {
                address cli4;
            }
            address-set clients {
                address-set clients-v4;
                address cli6;
            }
        }
    }
}
"""

CONFIG = configs.config(
    ADDRESS_BOOK,
    configs.policies(pairs=[(("trust", "untrust"), [
        configs.policy("by-address-set", "permit", source="clients", destination="servers", application="m-set-port"),
        configs.policy("web-and-ssh", "permit", application=["junos-http", "junos-ssh"]),
        configs.policy("ping", "permit", application="junos-icmp-ping"),
        configs.policy("port-range", "permit", application="m-range"),
        configs.policy("source-port-range", "permit", application="m-sport"),
        configs.policy("app-set", "permit", application="m-app-set"),
        configs.policy("only-v4", "permit", destination="any-ipv4", application="m-v4"),
        configs.policy("only-v6", "permit", destination="any-ipv6", application="m-v6"),
    ])]),
    configs.applications(
        configs.application("m-set-port", "udp", PORT_SET),
        configs.application("m-range", "udp", "%d-%d" % (RANGE_LOW, RANGE_HIGH)),
        configs.application("m-sport", "udp", PORT_SPORT, source_port="%d-%d" % (SPORT_LOW, SPORT_HIGH)),
        configs.application("m-set-tcp", "tcp", PORT_SET_TCP),
        configs.application("m-set-udp", "udp", PORT_SET_UDP),
        configs.application_set("m-app-set", ["m-set-tcp", "m-set-udp"]),
        configs.application("m-v4", "udp", PORT_V4_ONLY),
        configs.application("m-v6", "udp", PORT_V6_ONLY),
    ))

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@pytest.fixture(scope="module", autouse=True)
def _config(lab):
    lab.use(CONFIG)


@FAMILIES
def test_address_set_members_are_permitted(wire, family):
    """IPv4 through an address-set inside the set, IPv6 through an address in it."""
    checks.udp_passes(wire, family, fresh_port(), PORT_SET)


@FAMILIES
def test_address_outside_the_set_is_denied(lab, wire, family):
    checks.udp_denied(lab, wire, family, fresh_port(), PORT_SET, src=STRANGER[family])


def syn_reaches_server(wire, family, dport):
    sport = fresh_port()
    checks.forwarded(wire.client, wire.server,
                     checks.syn(family, CLIENT[family], SERVER[family], sport, dport, random.randrange(1 << 32)),
                     lambda p: labkit.is_tcp(p, CLIENT[family], SERVER[family], sport, dport, "S"),
                     "SYN to port %d at the server" % dport)


def syn_denied(lab, wire, family, dport):
    sport = fresh_port()
    checks.dropped(lab, wire.client, wire.server,
                   checks.syn(family, CLIENT[family], SERVER[family], sport, dport, random.randrange(1 << 32)),
                   "policy_deny", sport, dport)


@FAMILIES
def test_junos_http_and_junos_ssh(lab, wire, family):
    syn_reaches_server(wire, family, HTTP)
    syn_reaches_server(wire, family, SSH)
    syn_denied(lab, wire, family, NOT_HTTP)


def test_junos_icmp_ping_admits_echo_request_only(lab, wire):
    ident = fresh_port()
    wire.client.send(labkit.ip(4, CLIENT[4], SERVER[4]) / ICMP(type=ICMP_ECHO_REQUEST, id=ident, seq=1) / b"ping")
    wire.server.expect("echo request at the server",
                       lambda p: ICMP in p and p[ICMP].type == ICMP_ECHO_REQUEST and p[ICMP].id == ident)
    wire.client.expect("echo reply at the client",
                       lambda p: ICMP in p and p[ICMP].type == ICMP_ECHO_REPLY and p[ICMP].id == ident)
    before = lab.drops()
    wire.client.send(labkit.ip(4, CLIENT[4], SERVER[4]) / ICMP(type=ICMP_TIMESTAMP, id=ident + 1, seq=1))
    lab.wait_drops(before, {"policy_deny": 1})
    assert not [p.summary() for p in wire.server.drain() if ICMP in p and p[ICMP].type == ICMP_TIMESTAMP]


def test_custom_application_port_range(lab, wire):
    checks.udp_passes(wire, 4, fresh_port(), RANGE_LOW)
    checks.udp_passes(wire, 4, fresh_port(), RANGE_HIGH)
    checks.udp_denied(lab, wire, 4, fresh_port(), RANGE_HIGH + 1)


_source_ports = iter(range(SPORT_LOW, SPORT_HIGH + 1))


def test_custom_application_source_port_range(lab, wire):
    checks.udp_passes(wire, 4, next(_source_ports), PORT_SPORT)
    checks.udp_denied(lab, wire, 4, fresh_port(), PORT_SPORT)       # source port above the range


@FAMILIES
def test_application_set(lab, wire, family):
    syn_reaches_server(wire, family, PORT_SET_TCP)
    checks.udp_passes(wire, family, fresh_port(), PORT_SET_UDP)
    checks.udp_denied(lab, wire, family, fresh_port(), PORT_SET_TCP)    # the set's TCP port, over UDP


def test_any_ipv4_and_any_ipv6(lab, wire):
    checks.udp_passes(wire, 4, fresh_port(), PORT_V4_ONLY)
    checks.udp_denied(lab, wire, 6, fresh_port(), PORT_V4_ONLY)
    checks.udp_passes(wire, 6, fresh_port(), PORT_V6_ONLY)
    checks.udp_denied(lab, wire, 4, fresh_port(), PORT_V6_ONLY)
