"""`then log` / `then syslog` (issue 10 §1): each packet a logging term decides makes one
PFE_FW_SYSLOG_IP line in a `system syslog file` that takes the firewall facility, in the
legacy form `Mmm dd HH:MM:SS HOST fpc0 PFE_FW_SYSLOG_IP: FW: IFACE A|D|R PROTO SRC DST
SPORT DPORT (1 packets)` (Sources/Shared/Events/RTFlowFormat.swift), naming what the wire
saw: D for a discard, A for an accept, R for a reject whose ICMP went out, and D for a
reject that may not be answered (a trailing fragment). A term without log / syslog makes
no line. Each line is looked for after a positive barrier (the drop counted, the packet
delivered, the ICMP received) and `show log statistics` drained the rings.
"""
import re

import pytest

import configs
import filterchecks as fc
from labkit import CLIENT, SERVER, fresh_port

P_DISCARD, P_REJECT, P_ACCEPT, P_QUIET, P_FRAGMENT = 7501, 7502, 7503, 7504, 7505
INTERFACE = "fw0.0"
PROTO_UDP = 17
PROTOCOL_NAME = {PROTO_UDP: "udp"}      # as the line names the protocol
LINE = re.compile(r"^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d (\S+) fpc0 PFE_FW_SYSLOG_IP: (FW: .*)$")


def log_filter(family):
    proto = "protocol" if family == 4 else "next-header"

    def udp_to(port, *more):
        return ["%s udp" % proto, "destination-port %d" % port, *more]
    t = configs.term
    return configs.firewall_filter(
        family, "log%d" % family,
        t("log-discard", udp_to(P_DISCARD), ["syslog", "discard"]),
        t("log-reject", udp_to(P_REJECT), ["log", "reject"]),
        t("log-accept", udp_to(P_ACCEPT), ["syslog", "accept"]),
        t("quiet", udp_to(P_QUIET), ["discard"]),
        t("log-fragment", ["is-fragment"], ["syslog", "reject"]),
        t("rest"))


CONFIG = configs.config(log_filter(4), log_filter(6),
                        configs.attach("fw0", 4, input="log4"), configs.attach("fw0", 6, input="log6"))

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@pytest.fixture(scope="module", autouse=True)
def _config(lab):
    lab.use(CONFIG)


def expected_text(family, action, sport, dport, interface=INTERFACE, proto=PROTO_UDP):
    return "FW: %s %s %s %s %s %d %d (1 packets)" % (
        interface, action, PROTOCOL_NAME[proto], CLIENT[family], SERVER[family], sport, dport)


def fw_lines(lab, family, sport, count):
    """The log lines of the flow from `sport` (source and destination as the client sent)."""
    needle = " %s %s %d " % (CLIENT[family], SERVER[family], sport)
    lines = lab.wait_syslog_lines(configs.FIREWALL_LOG, count, lambda line: needle in line)
    out = []
    for line in lines:
        m = LINE.match(line)
        assert m, "not a legacy PFE_FW_SYSLOG_IP line: %r" % line
        assert m.group(1) == configs.HOST_NAME, line
        out.append(m.group(2))
    return out


@FAMILIES
def test_discard_logged_as_d(lab, wire, family):
    sport = fresh_port()
    fc.discarded(lab, wire, fc.udp(family, sport, P_DISCARD))
    assert fw_lines(lab, family, sport, 1) == [expected_text(family, "D", sport, P_DISCARD)]


@FAMILIES
def test_reject_logged_as_r_when_the_icmp_went_out(lab, wire, family):
    sport = fresh_port()
    packet = fc.udp(family, sport, P_REJECT)
    wire.client.send(packet)
    wire.client.expect("the reject's ICMP", lambda p: fc.is_unreachable(p, family, packet))
    assert fw_lines(lab, family, sport, 1) == [expected_text(family, "R", sport, P_REJECT)]


@FAMILIES
def test_reject_without_icmp_logged_as_d(lab, wire, family):
    """A trailing fragment (no ports: 0 0) may not be answered: discarded and logged D."""
    whole = fc.udp(family, fresh_port(), P_FRAGMENT, payload=b"l" * 40)
    _, trailing = fc.fragments(whole)
    fc.discarded(lab, wire, trailing)
    needle = " %s %s 0 0 " % (CLIENT[family], SERVER[family])
    lines = lab.wait_syslog_lines(configs.FIREWALL_LOG, 1, lambda line: needle in line)
    assert LINE.match(lines[0]) and LINE.match(lines[0]).group(2) == \
        "FW: %s D udp %s %s 0 0 (1 packets)" % (INTERFACE, CLIENT[family], SERVER[family]), lines


@FAMILIES
def test_accept_logged_as_a(lab, wire, family):
    sport = fresh_port()
    fc.passes(wire, fc.udp(family, sport, P_ACCEPT), "the logged datagram")
    fc.passes(wire, fc.udp(family, sport, P_ACCEPT), "its session hit")
    assert fw_lines(lab, family, sport, 2) == [expected_text(family, "A", sport, P_ACCEPT)] * 2


@FAMILIES
def test_term_without_log_makes_no_line(lab, wire, family):
    sport = fresh_port()
    fc.discarded(lab, wire, fc.udp(family, sport, P_QUIET))
    # Barrier: a logged packet after it; its line is there, the quiet one's is not.
    logged = fresh_port()
    fc.discarded(lab, wire, fc.udp(family, logged, P_DISCARD))
    fw_lines(lab, family, logged, 1)
    assert not [line for line in lab.syslog_lines(configs.FIREWALL_LOG) if " %d %d " % (sport, P_QUIET) in line]


STRUCTURED_FILE = "rtflow"         # the policy suite's BASE: `file rtflow { any any; structured-data; }`
FILTER_LOG_PRI = 174               # local5.info, as Junos sends PFE_FW_SYSLOG_IP
STRUCTURED = re.compile(r"^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (.*)$")


@FAMILIES
def test_discard_line_in_the_structured_data_file(lab, wire, family):
    """The same event in RFC 5424 form: PRI local5.info, APP-NAME fpc0, PROCID and SD
    nil, MSGID PFE_FW_SYSLOG_IP, the text as MSG."""
    sport = fresh_port()
    fc.discarded(lab, wire, fc.udp(family, sport, P_DISCARD))
    needle = " %s %s %d " % (CLIENT[family], SERVER[family], sport)
    (line,) = lab.wait_syslog_lines(STRUCTURED_FILE, 1, lambda line: needle in line)
    m = STRUCTURED.match(line)
    assert m, line
    pri, _, host, app, procid, msgid, sd, text = m.groups()
    assert (int(pri), host, app, procid, msgid, sd) == \
        (FILTER_LOG_PRI, configs.HOST_NAME, "fpc0", "-", "PFE_FW_SYSLOG_IP", "-"), line
    assert text == expected_text(family, "D", sport, P_DISCARD), line
