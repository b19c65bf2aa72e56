"""`security policies default-policy permit-all | deny-all` (R-5.1): what a flow that no
policy matches gets, for every zone pair; without the statement, deny-all."""
import pytest

import checks
import configs
import labkit
from labkit import CLIENT, SERVER, fresh_port

PORT_DEFAULT, PORT_DENIED_BY_POLICY = 7501, 7502

PERMIT_ALL = configs.config(
    configs.policies(pairs=[(("trust", "untrust"), [
        configs.policy("no-7502", "deny", application="d-7502"),
    ])], default="permit-all"),
    configs.applications(configs.application("d-7502", "udp", PORT_DENIED_BY_POLICY)))
DENY_ALL = configs.config(configs.policies(default="deny-all"))
NO_POLICIES = configs.config()

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


def server_to_client_passes(wire, family):
    sport = fresh_port()
    checks.forwarded(wire.server, wire.client, checks.udp(family, SERVER[family], CLIENT[family], sport, PORT_DEFAULT),
                     lambda p: labkit.is_udp(p, SERVER[family], CLIENT[family], sport, PORT_DEFAULT),
                     "the server's datagram at the client")
    return sport


def server_to_client_denied(lab, wire, family):
    sport = fresh_port()
    checks.dropped(lab, wire.server, wire.client, checks.udp(family, SERVER[family], CLIENT[family], sport, PORT_DEFAULT),
                   "policy_deny", sport, PORT_DEFAULT)


@FAMILIES
def test_permit_all_admits_unmatched_flows_both_ways(lab, wire, family):
    lab.use(PERMIT_ALL)
    out = fresh_port()
    checks.udp_passes(wire, family, out, PORT_DEFAULT)
    back = server_to_client_passes(wire, family)
    assert lab.session_decision(out)[1:] == ("default-policy", "trust", "untrust")
    assert lab.session_decision(back)[1:] == ("default-policy", "untrust", "trust")


def test_permit_all_does_not_override_a_matching_deny(lab, wire):
    lab.use(PERMIT_ALL)
    checks.udp_denied(lab, wire, 4, fresh_port(), PORT_DENIED_BY_POLICY)


@FAMILIES
def test_deny_all_drops_unmatched_flows_both_ways(lab, wire, family):
    lab.use(DENY_ALL)
    checks.udp_denied(lab, wire, family, fresh_port(), PORT_DEFAULT)
    server_to_client_denied(lab, wire, family)


@FAMILIES
def test_without_default_policy_statement_unmatched_flows_are_denied(lab, wire, family):
    lab.use(NO_POLICIES)
    checks.udp_denied(lab, wire, family, fresh_port(), PORT_DEFAULT)
    server_to_client_denied(lab, wire, family)
