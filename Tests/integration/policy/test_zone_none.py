"""An interface in no security zone carries no transit traffic (Junos semantics): a flow
entering or leaving through it is dropped and counted `zone_none`, even where a global
policy and the default policy would both permit it."""
import pytest

import checks
import configs
from labkit import CLIENT, SERVER, fresh_port

PORT = 7701
# fw1 (the server's side) is in no zone; everything else permits.
ONLY_TRUST = """
security {
    zones {
        security-zone trust {
            interfaces {
                fw0.0;
            }
        }
    }
}
"""
CONFIG = configs.config(
    configs.policies(global_policies=[configs.policy("permit-everything", "permit")], default="permit-all"),
    zones=ONLY_TRUST)

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@pytest.fixture(scope="module", autouse=True)
def _config(lab):
    lab.use(CONFIG)


@FAMILIES
def test_egress_interface_in_no_zone_drops(lab, wire, family):
    sport = fresh_port()
    checks.dropped(lab, wire.client, wire.server, checks.udp(family, CLIENT[family], SERVER[family], sport, PORT),
                   "zone_none", sport, PORT)


@FAMILIES
def test_ingress_interface_in_no_zone_drops(lab, wire, family):
    sport = fresh_port()
    checks.dropped(lab, wire.server, wire.client, checks.udp(family, SERVER[family], CLIENT[family], sport, PORT),
                   "zone_none", sport, PORT)
