"""Which address book a policy's names come from (R-5.1): a zone-pair policy resolves
its source addresses in the from-zone's books and its destination addresses in the
to-zone's (the zone's own book, books attached to it), falling back to the global book;
a global policy sees the global book only. Here `server` means the real server in zone
untrust's book and another host in the global book."""
import pytest

import checks
import configs
from labkit import fresh_port

PORT_ZONE_BOOK, PORT_GLOBAL_BOOK = 8101, 8102
STRANGER = {4: "10.10.1.3", 6: "fd00:1::3"}

ZONES_WITH_BOOKS = """
security {
    address-book {
        global {
            address server 10.10.2.99/32;
            address server6 fd00:2::99/128;
        }
        clients {
            address client 10.10.1.2/32;
            address client6 fd00:1::2/128;
            attach {
                zone trust;
            }
        }
    }
    zones {
        security-zone trust {
            interfaces {
                fw0.0;
            }
        }
        security-zone untrust {
            interfaces {
                fw1.0;
            }
            address-book {
                address server 10.10.2.2/32;
                address server6 fd00:2::2/128;
            }
        }
    }
}
"""

CONFIG = configs.config(
    configs.policies(
        pairs=[(("trust", "untrust"), [
            configs.policy("zone-books", "permit", source=["client", "client6"], destination=["server", "server6"],
                           application="ab-zone"),
        ])],
        global_policies=[
            configs.policy("global-book", "permit", destination=["server", "server6"], application="ab-global"),
        ]),
    configs.applications(
        configs.application("ab-zone", "udp", PORT_ZONE_BOOK),
        configs.application("ab-global", "udp", PORT_GLOBAL_BOOK),
    ),
    zones=ZONES_WITH_BOOKS)

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@pytest.fixture(scope="module", autouse=True)
def _config(lab):
    lab.use(CONFIG)


@FAMILIES
def test_zone_book_and_attached_book_resolve_the_pair_policy(lab, wire, family):
    sport = fresh_port()
    checks.udp_passes(wire, family, sport, PORT_ZONE_BOOK)
    assert lab.session_decision(sport) == ("zone-books", "policy", "trust", "untrust")


@FAMILIES
def test_source_outside_the_attached_book_is_denied(lab, wire, family):
    checks.udp_denied(lab, wire, family, fresh_port(), PORT_ZONE_BOOK, src=STRANGER[family])


@FAMILIES
def test_global_policy_sees_only_the_global_book(lab, wire, family):
    """In the global book `server` is another host: the real server does not match."""
    checks.udp_denied(lab, wire, family, fresh_port(), PORT_GLOBAL_BOOK)
