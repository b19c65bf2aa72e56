"""Output filters (issue 10 §2): `interfaces fw1 unit 0 family inet|inet6 filter output`
runs on every packet leaving through the server-side interface, first packets and session
hits alike. A discard term drops the packet (the server never sees it, `filter_discard`)
and its log line names fw1.0 and D; what the filter accepts is forwarded; an output
reject sends the ICMP unreachable back to the client out of the interface the packet came
in on; a DSCP 46 packet in the middle of a forwarded flow is discarded on its session hit,
and an ICMP error related to a session (forwarded by the session, not a policy) meets the
output filter too.
"""
import pytest

import configs
import filterchecks as fc
from labkit import CLIENT, SERVER, fresh_port

P_DISCARD, P_REJECT, P_ACCEPT, P_MARKED, P_RELATED = 7301, 7302, 7303, 7304, 7305
ADMIN_PROHIBITED = {4: 13, 6: 1}


def output_filter(family):
    proto = "protocol" if family == 4 else "next-header"
    dscp = "dscp" if family == 4 else "traffic-class"
    icmp = "icmp" if family == 4 else "icmp6"
    unreachable = "unreachable" if family == 4 else "destination-unreachable"

    def udp_to(port, *more):
        return ["%s udp" % proto, "destination-port %d" % port, *more]
    t = configs.term
    return configs.firewall_filter(
        family, "out%d" % family,
        t("out-discard", udp_to(P_DISCARD), ["discard", "syslog"]),
        t("out-reject", udp_to(P_REJECT), ["reject"]),
        t("out-marked", udp_to(P_MARKED, "%s ef" % dscp), ["discard"]),
        t("out-unreachable", ["%s %s" % (proto, icmp), "icmp-type %s" % unreachable], ["discard"]),
        t("rest"))


CONFIG = configs.config(output_filter(4), output_filter(6),
                        configs.attach("fw1", 4, output="out4"), configs.attach("fw1", 6, output="out6"))

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@pytest.fixture(scope="module", autouse=True)
def _config(lab):
    lab.use(CONFIG)


@FAMILIES
def test_output_discard_is_not_forwarded_and_logged_d(lab, wire, family):
    sport = fresh_port()
    fc.discarded(lab, wire, fc.udp(family, sport, P_DISCARD))
    needle = " %s %s %d %d " % (CLIENT[family], SERVER[family], sport, P_DISCARD)
    (line,) = lab.wait_syslog_lines(configs.FIREWALL_LOG, 1, lambda line: needle in line)
    assert line.endswith("PFE_FW_SYSLOG_IP: FW: fw1.0 D udp %s %s %d %d (1 packets)" % (
        CLIENT[family], SERVER[family], sport, P_DISCARD)), line


@FAMILIES
def test_output_accept_forwards(wire, family):
    sport = fresh_port()
    fc.passes(wire, fc.udp(family, sport, P_ACCEPT), "the first datagram")
    fc.passes(wire, fc.udp(family, sport, P_ACCEPT), "a session hit")


@FAMILIES
def test_output_reject_answers_the_client(lab, wire, family):
    packet = fc.udp(family, fresh_port(), P_REJECT)
    before = lab.drops()
    wire.client.send(packet)
    reply = wire.client.expect("the output reject's ICMP", lambda p: fc.is_unreachable(p, family, packet))
    lab.wait_drops(before, {"filter_reject": 1})
    assert not [p for p in wire.server.drain() if fc.is_frame_of(p, packet)], "rejected, yet forwarded"
    fc.check_unreachable(reply, family, wire, ADMIN_PROHIBITED[family], packet)


@FAMILIES
def test_output_filter_on_session_hits(lab, wire, family):
    sport = fresh_port()
    fc.passes(wire, fc.udp(family, sport, P_MARKED), "the flow's first datagram (DSCP 0)")
    fc.discarded(lab, wire, fc.udp(family, sport, P_MARKED, dscp=fc.DSCP_EF))
    fc.passes(wire, fc.udp(family, sport, P_MARKED), "DSCP 0 again")


@FAMILIES
def test_output_filter_on_related_icmp_errors(lab, wire, family):
    with fc.flow_with_reply(lab, wire, family, P_RELATED) as reply:
        fc.passes(wire, fc.error_about(family, reply, "time-exceeded"), "a time exceeded about the reply")
        fc.discarded(lab, wire, fc.error_about(family, reply, "unreachable"))
