"""`then count` (issue 10 §4): after exactly N packets through a counting term, `xpfctl
show firewall filter F` shows N packets and the bytes of their IP datagrams, for the
named counter (shared by two terms here, so it sums both) and for each term (an xpf
extension: "Terms:"), summed over the workers; `clear firewall filter F` starts them from
zero again. The listing is Junos's: "Filter: F", then "Counters:" / "Terms:" blocks of
`NAME BYTES PACKETS` rows under a "Name Bytes Packets" header.
"""
import re

import pytest

import configs
import filterchecks as fc
import labkit
from labkit import fresh_port

P_COUNTED, P_COUNTED_DISCARD, P_OTHER = 7951, 7952, 7953
ACCEPTED, DISCARDED = 5, 3                    # datagrams sent through each counting term
COUNTER = "udp-probes"
FILTER = "counted4"
PAYLOAD_SIZES = [10, 100, 200, 300, 400]
IPV4_UDP_HEADERS = 28                          # 20 bytes of IPv4 header, 8 of UDP
ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)$")

CONFIG = configs.config(
    configs.firewall_filter(
        4, FILTER,
        configs.term("counted", ["protocol udp", "destination-port %d" % P_COUNTED], ["count %s" % COUNTER, "accept"]),
        configs.term("counted-discard", ["protocol udp", "destination-port %d" % P_COUNTED_DISCARD],
                     ["count %s" % COUNTER, "discard"]),
        configs.term("rest")),
    configs.attach("fw0", 4, input=FILTER))


@pytest.fixture(scope="module", autouse=True)
def _config(lab):
    lab.use(CONFIG)


def listing(lab):
    """{section: {name: (bytes, packets)}} of `show firewall filter FILTER`."""
    return fc.firewall_text(lab, FILTER)


def test_counts_exact_after_n_packets(lab, wire):
    lab.xpfctl("clear", "firewall", "filter", FILTER)
    start = listing(lab)
    assert start["Counters"][COUNTER] == (0, 0), start
    sport = fresh_port()
    accepted_bytes = 0
    for size in PAYLOAD_SIZES[:ACCEPTED]:
        fc.passes(wire, fc.udp(4, sport, P_COUNTED, payload=b"c" * size), "a counted datagram")
        accepted_bytes += IPV4_UDP_HEADERS + size
    discarded_bytes = 0
    for size in PAYLOAD_SIZES[:DISCARDED]:
        fc.discarded(lab, wire, fc.udp(4, fresh_port(), P_COUNTED_DISCARD, payload=b"d" * size))
        discarded_bytes += IPV4_UDP_HEADERS + size
    fc.passes(wire, fc.udp(4, fresh_port(), P_OTHER), "an uncounted datagram")
    want = {
        "Counters": {COUNTER: (accepted_bytes + discarded_bytes, ACCEPTED + DISCARDED)},
        "Terms": {"counted": (accepted_bytes, ACCEPTED), "counted-discard": (discarded_bytes, DISCARDED),
                  "rest": (IPV4_UDP_HEADERS + len(fc.PROBE), 1)},
    }
    # The workers count before they forward or drop; xpfd reads their rows as they are.
    last = {}

    def probe():
        last["counts"] = listing(lab)
        return last["counts"] == want
    try:
        labkit.wait_for("the counts", probe)
    except AssertionError:
        raise AssertionError("counts %r, expected %r" % (last["counts"], want)) from None

    only = lab.xpfctl("show", "firewall", "filter", FILTER, "counter", COUNTER).stdout.splitlines()
    assert only[0] == "Filter: %s" % FILTER and "Terms:" not in only, only
    assert [ROW.match(line).groups() for line in only if ROW.match(line)] == \
        [(COUNTER, str(accepted_bytes + discarded_bytes), str(ACCEPTED + DISCARDED))], only


def test_clear_starts_from_zero(lab, wire):
    fc.passes(wire, fc.udp(4, fresh_port(), P_COUNTED), "a counted datagram")
    assert listing(lab)["Counters"][COUNTER][1] > 0
    reply = lab.xpfctl("clear", "firewall", "filter", FILTER).stdout
    assert "cleared" in reply, reply
    after = listing(lab)
    assert after["Counters"][COUNTER] == (0, 0) and all(v == (0, 0) for v in after["Terms"].values()), after
