"""Match conditions of an input filter (issue 10 §1, R-6.1) on the client side
(`interfaces fw0 unit 0 family inet|inet6 filter input`), on transit traffic client ->
server. One filter per family; each term pairs the condition under test with a
destination port of its own (or a DSCP, for trailing fragments, which carry no ports),
discards what it matches, and a last term accepts the rest. So for each condition a
packet that meets it is discarded (counted `filter_discard`, nothing forwarded, nothing
answered) and one that misses it by that condition alone is forwarded to the server. The
inet6 filter uses the inet6 spellings (next-header, traffic-class, icmp6 types).
"""
import pytest
from scapy.layers.inet import UDP

import configs
import filterchecks as fc
import labkit
from labkit import CLIENT, SERVER, fresh_port

STRANGER = {4: "10.10.1.3", 6: "fd00:1::3"}        # on the client's subnet, not the client
NOT_SERVER = {4: "10.10.2.3", 6: "fd00:2::3"}      # on the server's subnet, not the server
EITHER_SOURCE = {4: "10.10.1.4", 6: "fd00:1::4"}   # `address` entries: match as source ...
EITHER_DEST = {4: "10.10.2.9", 6: "fd00:2::9"}     # ... or as destination
CLIENT_NET = {4: "10.10.1.0/24", 6: "fd00:1::/64"}
SERVER_NET = {4: "10.10.2.0/24", 6: "fd00:2::/64"}
HOST_BITS = {4: 32, 6: 128}

P_SOURCE, P_DEST, P_SOURCE_LIST, P_EITHER, P_PROTOCOL = 7001, 7002, 7003, 7004, 7005
P_SINGLE, P_UNLISTED = 7006, 7007
RANGE_LOW, RANGE_HIGH = 7010, 7019
LIST_SINGLE, LIST_LOW, LIST_HIGH, HTTP = 7030, 7040, 7041, 80
P_SPORT, SPORT_LOW, SPORT_HIGH = 7050, 5500, 5509
P_DSCP_NAME, P_DSCP_NUMBER = 7060, 7061
P_TCP_FLAGS, P_TCP_INITIAL, P_TCP_ESTABLISHED = 7070, 7071, 7072
P_FIRST_FRAGMENT, P_FRAGMENTED = 7080, 7081
P_FIRST_WINS = 7090
P_TCP_FLAGS_OR, P_PORT_EITHER, P_PORT_OTHER = 7073, 7074, 7075
P_DEST_LIST, P_EITHER_LIST = 7008, 7009
ICMP_CODE = 7                                      # an echo request with this code is discarded
OTHER_ICMP_TYPE = {4: ("timestamp", 13), 6: ("139", 139)}   # (as written, on the wire)


def host(address, family):
    return "%s/%d" % (address, HOST_BITS[family])


def match_filter(family):
    proto = "protocol" if family == 4 else "next-header"
    dscp = "dscp" if family == 4 else "traffic-class"
    icmp = "icmp" if family == 4 else "icmp6"

    def udp_to(port, *more):
        return ["%s udp" % proto, "destination-port %d" % port, *more]
    t = configs.term
    return configs.firewall_filter(
        family, "match%d" % family,
        t("src-except", udp_to(P_SOURCE, configs.addresses(
            "source-address", CLIENT_NET[family], host(CLIENT[family], family) + " except")), ["discard"]),
        t("dst-except", udp_to(P_DEST, configs.addresses(
            "destination-address", SERVER_NET[family], host(SERVER[family], family) + " except")), ["discard"]),
        t("src-list", udp_to(P_SOURCE_LIST, "source-prefix-list { strangers; }"), ["discard"]),
        t("dst-list-except", udp_to(P_DEST_LIST, "destination-prefix-list { server-nets; server-hosts except; }"),
          ["discard"]),
        t("either-list", udp_to(P_EITHER_LIST, "prefix-list { strangers; }"), ["discard"]),
        t("either", udp_to(P_EITHER, configs.addresses(
            "address", host(EITHER_SOURCE[family], family), host(EITHER_DEST[family], family))), ["discard"]),
        t("proto", ["%s tcp" % proto, "destination-port %d" % P_PROTOCOL], ["discard"]),
        t("dport-single", udp_to(P_SINGLE), ["discard"]),
        t("dport-range", ["%s udp" % proto, "destination-port %d-%d" % (RANGE_LOW, RANGE_HIGH)], ["discard"]),
        t("dport-list", ["%s udp" % proto, "destination-port [ %d %d-%d http ]" % (LIST_SINGLE, LIST_LOW, LIST_HIGH)],
          ["discard"]),
        t("sport-range", udp_to(P_SPORT, "source-port %d-%d" % (SPORT_LOW, SPORT_HIGH)), ["discard"]),
        t("dscp-name", udp_to(P_DSCP_NAME, "%s ef" % dscp), ["discard"]),
        t("dscp-number", udp_to(P_DSCP_NUMBER, "%s %d" % (dscp, fc.DSCP_AF11)), ["discard"]),
        t("tcp-flags", ["%s tcp" % proto, "destination-port %d" % P_TCP_FLAGS, 'tcp-flags "syn & !ack"'], ["discard"]),
        t("tcp-flags-or", ["%s tcp" % proto, "destination-port %d" % P_TCP_FLAGS_OR, 'tcp-flags "(fin | rst) & !syn"'],
          ["discard"]),
        t("port-either", ["%s udp" % proto, "port %d" % P_PORT_EITHER], ["discard"]),
        t("tcp-initial", ["%s tcp" % proto, "destination-port %d" % P_TCP_INITIAL, "tcp-initial"], ["discard"]),
        t("tcp-established", ["%s tcp" % proto, "destination-port %d" % P_TCP_ESTABLISHED, "tcp-established"],
          ["discard"]),
        t("icmp-code", ["%s %s" % (proto, icmp), "icmp-type echo-request", "icmp-code %d" % ICMP_CODE], ["discard"]),
        t("icmp-type", ["%s %s" % (proto, icmp), "icmp-type %s" % OTHER_ICMP_TYPE[family][0]], ["discard"]),
        t("first-fragment", udp_to(P_FIRST_FRAGMENT, "first-fragment"), ["discard"]),
        t("trailing-fragment", ["is-fragment", "%s af21" % dscp], ["discard"]),
        t("first-wins", udp_to(P_FIRST_WINS), ["accept"]),
        t("never-reached", udp_to(P_FIRST_WINS), ["discard"]),
        t("rest"),
    )


CONFIG = configs.config(
    configs.prefix_list("strangers", host(STRANGER[4], 4), host(STRANGER[6], 6)),
    configs.prefix_list("server-nets", SERVER_NET[4], SERVER_NET[6]),
    configs.prefix_list("server-hosts", host(SERVER[4], 4), host(SERVER[6], 6)),
    match_filter(4), match_filter(6),
    configs.attach("fw0", 4, input="match4"), configs.attach("fw0", 6, input="match6"))

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@pytest.fixture(scope="module", autouse=True)
def _config(lab):
    lab.use(CONFIG)


def passes_udp(wire, family, dport, **kw):
    return fc.passes(wire, fc.udp(family, kw.pop("sport", None) or fresh_port(), dport, **kw), "UDP to %d" % dport)


def discarded_udp(lab, wire, family, dport, **kw):
    fc.discarded(lab, wire, fc.udp(family, kw.pop("sport", None) or fresh_port(), dport, **kw))


@FAMILIES
def test_source_address_with_except(lab, wire, family):
    discarded_udp(lab, wire, family, P_SOURCE, src=STRANGER[family])
    passes_udp(wire, family, P_SOURCE)                  # the client: the `except` entry


@FAMILIES
def test_destination_address_with_except(lab, wire, family):
    discarded_udp(lab, wire, family, P_DEST, dst=NOT_SERVER[family])
    passes_udp(wire, family, P_DEST)                    # the server: the `except` entry


@FAMILIES
def test_source_prefix_list(lab, wire, family):
    discarded_udp(lab, wire, family, P_SOURCE_LIST, src=STRANGER[family])
    passes_udp(wire, family, P_SOURCE_LIST)


@FAMILIES
def test_destination_prefix_list_with_except(lab, wire, family):
    discarded_udp(lab, wire, family, P_DEST_LIST, dst=NOT_SERVER[family])
    passes_udp(wire, family, P_DEST_LIST)                # the server: the `except` list


@FAMILIES
def test_prefix_list_matches_source_or_destination(lab, wire, family):
    discarded_udp(lab, wire, family, P_EITHER_LIST, src=STRANGER[family])
    discarded_udp(lab, wire, family, P_EITHER_LIST, dst=STRANGER[family])
    passes_udp(wire, family, P_EITHER_LIST)


@FAMILIES
def test_address_matches_source_or_destination(lab, wire, family):
    discarded_udp(lab, wire, family, P_EITHER, src=EITHER_SOURCE[family])
    discarded_udp(lab, wire, family, P_EITHER, dst=EITHER_DEST[family])
    passes_udp(wire, family, P_EITHER)


@FAMILIES
def test_protocol_and_next_header(lab, wire, family):
    fc.discarded(lab, wire, fc.tcp(family, fresh_port(), P_PROTOCOL))
    passes_udp(wire, family, P_PROTOCOL)


@FAMILIES
def test_destination_port_single(lab, wire, family):
    discarded_udp(lab, wire, family, P_SINGLE)
    passes_udp(wire, family, P_UNLISTED)


@FAMILIES
def test_destination_port_range(lab, wire, family):
    discarded_udp(lab, wire, family, RANGE_LOW)
    discarded_udp(lab, wire, family, RANGE_HIGH)
    passes_udp(wire, family, RANGE_LOW - 1)
    passes_udp(wire, family, RANGE_HIGH + 1)


@FAMILIES
def test_destination_port_list_with_a_name(lab, wire, family):
    for port in (LIST_SINGLE, LIST_LOW, LIST_HIGH, HTTP):
        discarded_udp(lab, wire, family, port)
    passes_udp(wire, family, LIST_SINGLE + 1)
    passes_udp(wire, family, LIST_HIGH + 1)


@FAMILIES
def test_source_port_range(lab, wire, family):
    discarded_udp(lab, wire, family, P_SPORT, sport=SPORT_LOW)
    discarded_udp(lab, wire, family, P_SPORT, sport=SPORT_HIGH)
    passes_udp(wire, family, P_SPORT, sport=SPORT_HIGH + 1)


@FAMILIES
def test_dscp_by_name(lab, wire, family):
    discarded_udp(lab, wire, family, P_DSCP_NAME, dscp=fc.DSCP_EF)
    # ECN bits are not part of the DSCP.
    discarded_udp(lab, wire, family, P_DSCP_NAME, dscp=fc.DSCP_EF, ecn=1)
    passes_udp(wire, family, P_DSCP_NAME, dscp=fc.DSCP_AF11)
    passes_udp(wire, family, P_DSCP_NAME)


@FAMILIES
def test_dscp_by_number(lab, wire, family):
    discarded_udp(lab, wire, family, P_DSCP_NUMBER, dscp=fc.DSCP_AF11)
    passes_udp(wire, family, P_DSCP_NUMBER, dscp=fc.DSCP_EF)


def not_filtered_tcp(lab, wire, family, dport, flags):
    """A TCP segment without a SYN on no session, which the filter passes: the session
    stage drops it as `tcp_not_syn` (and nothing as `filter_discard`)."""
    before = lab.drops()
    wire.client.send(fc.tcp(family, fresh_port(), dport, flags=flags))
    delta = lab.wait_drops(before, {"tcp_not_syn": 1})
    assert delta["filter_discard"] == 0, "the filter discarded a %s segment: %r" % (flags, delta)


def syn_passes(wire, family, dport):
    sport = fresh_port()
    wire.client.send(fc.tcp(family, sport, dport))
    wire.server.expect("SYN to %d at the server" % dport,
                       lambda p: labkit.is_tcp(p, CLIENT[family], SERVER[family], sport, dport, "S"))


@FAMILIES
def test_tcp_flags_expression(lab, wire, family):
    fc.discarded(lab, wire, fc.tcp(family, fresh_port(), P_TCP_FLAGS, flags="S"))
    not_filtered_tcp(lab, wire, family, P_TCP_FLAGS, "SA")        # ack set: "syn & !ack" fails


@FAMILIES
def test_tcp_flags_expression_with_or_and_parentheses(lab, wire, family):
    fc.discarded(lab, wire, fc.tcp(family, fresh_port(), P_TCP_FLAGS_OR, flags="FA", ack=1))
    fc.discarded(lab, wire, fc.tcp(family, fresh_port(), P_TCP_FLAGS_OR, flags="R"))
    not_filtered_tcp(lab, wire, family, P_TCP_FLAGS_OR, "A")     # neither fin nor rst


@FAMILIES
def test_port_matches_source_or_destination(lab, wire, family):
    discarded_udp(lab, wire, family, P_PORT_EITHER)
    discarded_udp(lab, wire, family, P_PORT_OTHER, sport=P_PORT_EITHER)
    passes_udp(wire, family, P_PORT_OTHER)


@FAMILIES
def test_tcp_initial(lab, wire, family):
    fc.discarded(lab, wire, fc.tcp(family, fresh_port(), P_TCP_INITIAL, flags="S"))
    not_filtered_tcp(lab, wire, family, P_TCP_INITIAL, "A")


@FAMILIES
def test_tcp_established(lab, wire, family):
    syn_passes(wire, family, P_TCP_ESTABLISHED)
    fc.discarded(lab, wire, fc.tcp(family, fresh_port(), P_TCP_ESTABLISHED, flags="A", ack=1))
    fc.discarded(lab, wire, fc.tcp(family, fresh_port(), P_TCP_ESTABLISHED, flags="R"))


@FAMILIES
def test_icmp_type_and_code(lab, wire, family):
    ident = fresh_port()
    fc.passes(wire, fc.echo(family, ident), "echo request code 0")
    fc.discarded(lab, wire, fc.echo(family, ident + 1, code=ICMP_CODE))
    fc.discarded(lab, wire, fc.echo(family, ident + 2, icmp_type=OTHER_ICMP_TYPE[family][1]))


@FAMILIES
def test_first_fragment(lab, wire, family):
    whole = fc.udp(family, fresh_port(), P_FIRST_FRAGMENT, payload=b"x" * 40)
    first, trailing = fc.fragments(whole)
    fc.discarded(lab, wire, first)
    fc.passes(wire, trailing, "a trailing fragment (first-fragment does not match)")
    fc.passes(wire, whole, "an unfragmented datagram (first-fragment does not match)")


@FAMILIES
def test_is_fragment(lab, wire, family):
    whole = fc.udp(family, fresh_port(), P_FRAGMENTED, dscp=fc.DSCP_AF21, payload=b"y" * 40)
    first, trailing = fc.fragments(whole)
    fc.discarded(lab, wire, trailing)
    fc.passes(wire, whole, "an unfragmented datagram (is-fragment does not match)")


@FAMILIES
def test_first_matching_term_wins(lab, wire, family):
    got = passes_udp(wire, family, P_FIRST_WINS)
    assert got[UDP].dport == P_FIRST_WINS


@FAMILIES
def test_input_filter_runs_before_the_hop_limit(lab, wire, family):
    """A packet with TTL / hop limit 1 meets the input filter first: a discard term drops
    it silently (no time exceeded); one the filter accepts is dropped by the hop-limit
    check, which answers with a time exceeded."""
    packet = fc.udp(family, fresh_port(), P_SINGLE)
    labkit.l3(packet).setfieldval("ttl" if family == 4 else "hlim", 1)
    fc.discarded(lab, wire, packet)
    accepted = fc.udp(family, fresh_port(), P_UNLISTED)
    labkit.l3(accepted).setfieldval("ttl" if family == 4 else "hlim", 1)
    before = lab.drops()
    wire.client.send(accepted)
    wire.client.expect("the time exceeded", lambda p: fc.about(p, accepted) and fc.is_time_exceeded(p, family))
    lab.wait_drops(before, {"ttl": 1})
