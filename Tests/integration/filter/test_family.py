"""Implicit discard and the families (issue 10 §1): a packet no term of the filter matches
is discarded (`filter_discard`), and a filter of one family (`family inet` or `family
inet6` of fw0 unit 0) leaves the other family's traffic alone. Two configurations: an
inet filter that admits only TCP to one port (and none for inet6), then the same for
inet6 alone.
"""
import pytest

import configs
import filterchecks as fc
import labkit
from labkit import CLIENT, SERVER, fresh_port

P_ADMITTED, P_OTHER = 7602, 7601


def tcp_only(family):
    proto = "protocol" if family == 4 else "next-header"
    return configs.firewall_filter(
        family, "tcp-only%d" % family,
        configs.term("admitted", ["%s tcp" % proto, "destination-port %d" % P_ADMITTED], ["accept"]))


ONLY = {f: configs.config(tcp_only(f), configs.attach("fw0", f, input="tcp-only%d" % f)) for f in (4, 6)}
OTHER = {4: 6, 6: 4}
FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


def syn_passes(wire, family, dport):
    sport = fresh_port()
    wire.client.send(fc.tcp(family, sport, dport))
    wire.server.expect("SYN to %d at the server" % dport,
                       lambda p: labkit.is_tcp(p, CLIENT[family], SERVER[family], sport, dport, "S"))


@FAMILIES
def test_no_matching_term_is_an_implicit_discard(lab, wire, family):
    lab.use(ONLY[family])
    fc.discarded(lab, wire, fc.udp(family, fresh_port(), P_ADMITTED))     # UDP: the term wants TCP
    fc.discarded(lab, wire, fc.tcp(family, fresh_port(), P_OTHER))        # TCP to another port
    fc.discarded(lab, wire, fc.echo(family, fresh_port()))
    syn_passes(wire, family, P_ADMITTED)


@FAMILIES
def test_a_filter_leaves_the_other_family_alone(lab, wire, family):
    lab.use(ONLY[family])
    other = OTHER[family]
    fc.passes(wire, fc.udp(other, fresh_port(), P_OTHER), "IPv%d UDP" % other)
    fc.passes(wire, fc.echo(other, fresh_port()), "IPv%d echo request" % other)
    syn_passes(wire, other, P_OTHER)
