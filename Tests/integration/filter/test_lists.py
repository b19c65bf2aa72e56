"""Filter lists, `next term` and `packet-length` on the wire (issue 10 §1):
`interfaces fw0 unit 0 family inet|inet6 filter input-list [ markN smallN ]`. markN's first
term counts every packet and goes on (`next term`); its second discards UDP to P_BLOCK —
a terminating action in the first filter ends the list. A packet no term of markN decides
goes on to smallN, which accepts IP datagrams of 20-200 (IPv6: 40-220) bytes; nothing
matches a larger one, so it meets the implicit discard at the end of the list — also in
the middle of a flow whose first datagrams were small (packet length is a per-packet
field, R-4.5). `show firewall` lists the two filters under their own names, never the list.
"""
import json

import pytest

import configs
import filterchecks as fc
from labkit import fresh_port

P_PASS, P_BLOCK = 7601, 7602
MAX_LENGTH = {4: 200, 6: 220}
IP_UDP_HEADERS = {4: 28, 6: 48}           # IP header (20 / 40 bytes) and UDP's 8
SMALL, BIG = 16, 400                       # payload bytes


def filters(family):
    proto = "protocol" if family == 4 else "next-header"
    t = configs.term
    return (configs.firewall_filter(
                family, "mark%d" % family,
                t("seen", then=["count seen", "next term"]),
                t("block", ["%s udp" % proto, "destination-port %d" % P_BLOCK], ["discard"])),
            configs.firewall_filter(
                family, "small%d" % family,
                t("small", ["packet-length %d-%d" % (IP_UDP_HEADERS[family] - 8, MAX_LENGTH[family])], ["accept"])))


def input_list(family):
    return ("interfaces {\n    fw0 {\n        unit 0 {\n            family %s {\n                filter {\n"
            "                    input-list [ mark%d small%d ];\n                }\n            }\n        }\n    }\n}\n") % (
        configs.FAMILY[family], family, family)


CONFIG = configs.config(*filters(4), *filters(6), input_list(4), input_list(6))

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@pytest.fixture(scope="module", autouse=True)
def _config(lab):
    lab.use(CONFIG)


def firewall(lab):
    """`show firewall --json`: {filter: {"counters"|"terms": {name: packets}}}."""
    return {f["name"]: {key: {r["name"]: r["packets"] for r in f[key]} for key in ("counters", "terms")}
            for f in json.loads(lab.xpfctl("show", "firewall", "--json").stdout)["filters"]}


@FAMILIES
def test_first_filter_decides_else_the_next_one_and_length_mid_flow(lab, wire, family):
    lab.xpfctl("clear", "firewall", "all")
    sport = fresh_port()
    for _ in range(2):   # next term in mark, then small's accept; the second on a session hit
        fc.passes(wire, fc.udp(family, sport, P_PASS, payload=b"s" * SMALL), "a small datagram")
    # The same flow, a datagram above smallN's range: past the list's last term.
    fc.discarded(lab, wire, fc.udp(family, sport, P_PASS, payload=b"b" * BIG))
    fc.passes(wire, fc.udp(family, sport, P_PASS, payload=b"s" * SMALL), "small again")
    # markN's discard ends the list, though smallN would accept the datagram.
    fc.discarded(lab, wire, fc.udp(family, fresh_port(), P_BLOCK, payload=b"s" * SMALL))
    counts = firewall(lab)
    mark, small = "mark%d" % family, "small%d" % family
    assert "%s+%s" % (mark, small) not in counts, counts
    assert counts[mark]["counters"]["seen"] == 5, counts[mark]
    assert counts[mark]["terms"] == {"seen": 5, "block": 1}, counts[mark]
    assert counts[small]["terms"] == {"small": 3}, counts[small]
