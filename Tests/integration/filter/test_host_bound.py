"""Firewall filters on host-bound traffic (issue 10 §2, R-6.2; xpf_bpf_abi.h, "Firewall
filters on host-bound traffic"): every packet to one of the firewall's own addresses meets
the ingress interface's input filter, then host-inbound-traffic and the junos-host
policies, then lo0's input filter — in the XDP program, on every packet, established
connections included. Each test commits its configuration and sends real packets to the
box from the client (zone trust, behind fw0), whose host-inbound-traffic admits the
services used here (HOST_SERVICES):

- a lo0 filter committed in the middle of an established TCP connection to the ssh port
  (a line-echo listener in the firewall's namespace stands in for sshd) stops it at its
  next segment, refuses new connections, lets ping through, and its removal lets new
  connections through again;
- `then count`: `show firewall` (text and --json) counts exactly the packets sent, per
  counter and per term, a discarded probe on its term, and `clear firewall` zeroes them;
- fw0's input filter applies to host-bound packets (a ping to fw0's address discarded)
  while transit through fw0 follows it as before, both counted in the same rows;
- `reject tcp-reset` / `reject` / `reject port-unreachable` on lo0: the RST or the ICMP
  error comes back from the box's address, field by field, and the box's kernel never
  sees the packet (a listener or a bound socket sits on each port);
- `syslog; discard` on lo0 writes the filter log line (D, fw0.0, addresses and ports);
- `dscp af11; accept` on lo0: the datagram the box's kernel receives carries DSCP 10 (a
  capture on fw0 inside the firewall's namespace and the socket's own TOS / traffic class)
  with a valid IPv4 header checksum;
- a lo0 inet6 filter stops ICMPv6 echo to the box and leaves inet alone;
- a two-color policer on lo0: a burst of echo requests is answered up to the bucket's
  depth, and every other request is counted on the policer's row.

Host-bound drops are the XDP program's, not the workers': each wait is on `show security
flow statistics --json`'s host_filter_discarded / host_policer_discarded /
host_filter_rejected (a positive barrier before anything is checked not to have happened).
"""
import errno
import json
import platform
import select
import socket
import struct
import subprocess
import sys
import threading

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6

import checks
import configs
import filterchecks as fc
import labkit
from labkit import CLIENT, FW0, FW1, fresh_port
from test_log import LINE as FILTER_LOG_LINE

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
BOX = FW0                       # the box's address on the client's side
SSH, TELNET, TFTP, NTP, SNMP, SNMP_TRAP = 22, 23, 69, 123, 161, 162   # host-inbound services' ports
HOST_SERVICES = ["ping", "ssh", "telnet", "tftp", "ntp", "snmp", "snmp-trap"]
ICMP_ECHO_REPLY = 0
PROTO_UDP = 17
IPV4_ICMP_HEADERS = 28          # 20 bytes of IPv4 header, 8 of ICMP
LINE_END = b"\n"
# XDP counters of host-bound packets (`show security flow statistics --json`).
DISCARDED, POLICED, REJECTED = "host_filter_discarded", "host_policer_discarded", "host_filter_rejected"
HOST_COUNTS = (DISCARDED, POLICED, REJECTED)

# trust admits HOST_SERVICES (Junos merges this block into the policy suite's zone trust).
HOST_INBOUND = """
security {
    zones {
        security-zone trust {
            host-inbound-traffic {
                system-services {
%s                }
            }
        }
    }
}
""" % "".join("                    %s;\n" % s for s in HOST_SERVICES)


def host_config(*parts):
    return configs.config(HOST_INBOUND, *parts)


def proto(family, name):
    """`protocol NAME` (inet) / `next-header NAME` (inet6); icmp is icmp6 there."""
    if family == 4:
        return "protocol %s" % name
    return "next-header %s" % ("icmp6" if name == "icmp" else name)


def echo_request_match(family):
    return [proto(family, "icmp"), "icmp-type echo-request"]


def udp_to(family, port):
    return [proto(family, "udp"), "destination-port %d" % port]


def lo0(family, name, *terms):
    """Filter `name` of `terms` then `term rest { then accept; }`, as lo0's input filter."""
    return [configs.firewall_filter(family, name, *terms, configs.term("rest")),
            configs.attach("lo0", family, input=name)]


NO_FILTER = host_config()


@pytest.fixture(scope="module", autouse=True)
def _config(lab):
    lab.use(NO_FILTER)


# ------------------------------------------------------------------ the box's counters


def host_counts(lab):
    stats = json.loads(lab.xpfctl("show", "security", "flow", "statistics", "--json").stdout)
    missing = [k for k in HOST_COUNTS if k not in stats]
    assert not missing, "show security flow statistics --json lacks %s: %r" % (missing, sorted(stats))
    return {k: stats[k] for k in HOST_COUNTS}


def wait_host_counts(lab, before, expected, exact=True):
    """Waits until each count of `expected` ({name: n}) grew by n or more since `before`;
    with `exact`, then checks every host-bound count grew by exactly what `expected` says
    (0 for the others). Returns the deltas."""
    last = {}

    def probe():
        now = host_counts(lab)
        last["delta"] = {k: now[k] - before[k] for k in HOST_COUNTS}
        return all(last["delta"][k] >= n for k, n in expected.items())
    try:
        labkit.wait_for("host-bound counts %r" % expected, probe)
    except AssertionError:
        raise AssertionError("host-bound counts %r expected, counted %r" % (expected, last["delta"])) from None
    if exact:
        assert last["delta"] == {k: expected.get(k, 0) for k in HOST_COUNTS}, \
            "host-bound counts: expected %r, counted %r" % (expected, last["delta"])
    return last["delta"]


def firewall_json(lab, name):
    """One filter of `show firewall --json`: {"counters"|"terms": {name: (bytes, packets)},
    "policers": {(instance, color): (bytes, packets)}}."""
    (f,) = [f for f in json.loads(lab.xpfctl("show", "firewall", "--json").stdout)["filters"] if f["name"] == name]
    out = {key: {r["name"]: (r["bytes"], r["packets"]) for r in f[key]} for key in ("counters", "terms")}
    out["policers"] = {(r["name"], r["color"]): (r["bytes"], r["packets"]) for r in f["policers"]}
    return out


def wait_listing(lab, name, want):
    """Waits until `show firewall --json`'s filter `name` has the rows of `want` (a
    firewall_json-shaped dict of the sections and rows to check); returns the listing."""
    last = {}

    def probe():
        last["listing"] = firewall_json(lab, name)
        return all(last["listing"][s].get(r) == v for s, rows in want.items() for r, v in rows.items())
    try:
        return labkit.wait_for("filter %s's counts" % name, probe)
    except AssertionError:
        raise AssertionError("filter %s: expected %r, listing %r" % (name, want, last["listing"])) from None


# ------------------------------------------------------------------ packets to the box


def echo_to_box(family, ident, dst=None, payload=b"host-bound"):
    head = labkit.ip(family, CLIENT[family], dst or BOX[family])
    if family == 4:
        return head / ICMP(type=fc.ICMP_ECHO_REQUEST[4], id=ident, seq=1) / payload
    return head / ICMPv6EchoRequest(id=ident, seq=1, data=payload)


def is_echo_reply(p, family, ident, src):
    h = labkit.l3(p)
    if h is None or h.src != src:
        return False
    if family == 4:
        return ICMP in p and p[ICMP].type == ICMP_ECHO_REPLY and p[ICMP].id == ident
    return ICMPv6EchoReply in p and p[ICMPv6EchoReply].id == ident


def answered(wire, family, dst=None):
    """An echo request to the box (BOX or `dst`) gets the box's kernel's echo reply."""
    dst = dst or BOX[family]
    ident = fresh_port()
    wire.client.send(echo_to_box(family, ident, dst))
    wire.client.expect("the box's echo reply from %s" % dst, lambda p: is_echo_reply(p, family, ident, dst))


def refused(lab, wire, packet, count=DISCARDED):
    """Sends `packet` to the box; waits until the XDP program counted it (`count`, exactly
    one), then checks nothing came back about it."""
    before = host_counts(lab)
    wire.client.send(packet)
    wait_host_counts(lab, before, {count: 1})
    back = [p.summary() for p in wire.client.drain() if reply_to(p, packet)]
    assert not back, "%s, yet the client received %s" % (count, back)


def reply_to(p, sent):
    """The box's answer to `sent`: an echo reply of its id, or anything fc.about() names."""
    s = labkit.l3(sent)
    if ICMP in sent and ICMP in p and labkit.l3(p).src == s.dst and p[ICMP].type == ICMP_ECHO_REPLY:
        return p[ICMP].id == sent[ICMP].id
    if ICMPv6EchoRequest in sent and ICMPv6EchoReply in p:
        return p[ICMPv6EchoReply].id == sent[ICMPv6EchoRequest].id
    return fc.about(p, sent)


# ------------------------------------------------------------------ the box's sockets


class LineEcho:
    """A TCP listener in the firewall's namespace on `port` (every address of the family),
    standing in for a service of the box: it echoes each line of each connection and keeps
    the lines it received. One thread, select(2) with a bounded tick, stopped by close()."""

    TICK_S = 0.05

    def __init__(self, lab, family, port):
        self.listener = labkit.tcp_listener(lab.ns_fw, family, port)
        self.lines = []
        self.conns = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            ready, _, _ = select.select([self.listener, *self.conns], [], [], self.TICK_S)
            for s in ready:
                if s is self.listener:
                    conn, _ = s.accept()
                    self.conns[conn] = b""
                    continue
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    del self.conns[s]
                    s.close()
                    continue
                pending = self.conns[s] + data
                *whole, self.conns[s] = pending.split(LINE_END)
                for line in whole:
                    self.lines.append(line)
                    s.sendall(line + LINE_END)

    def close(self):
        self.stop.set()
        self.thread.join()
        for s in [self.listener, *self.conns]:
            s.close()


def abort(sock):
    """Closes a TCP socket with a RST (SO_LINGER 0): its kernel stops retransmitting into
    later tests' counters."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# The control message a datagram's TOS (one byte) / traffic class (an int) comes in.
TOS_CMSG = {4: (socket.IPPROTO_IP, socket.IP_TOS), 6: (socket.IPPROTO_IPV6, socket.IPV6_TCLASS)}


def box_udp_socket(lab, family, port):
    """A UDP socket of the box's kernel on BOX:port (nothing answered from there), its
    TOS / traffic class delivered with each datagram."""
    with labkit.netns(lab.ns_fw):
        s = socket.socket(labkit.FAMILY[family], socket.SOCK_DGRAM)
    s.bind((BOX[family], port))
    if family == 4:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
    else:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
    s.setblocking(False)
    return s


def received_datagrams(s):
    """[(payload, TOS / traffic class)] of everything waiting on `s`."""
    out = []
    while True:
        try:
            data, ancillary, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(4))
        except BlockingIOError:
            return out
        tos = [data_[0] if (level, kind) == TOS_CMSG[4] else int.from_bytes(data_[:4], sys.byteorder)
               for level, kind, data_ in ancillary if (level, kind) in TOS_CMSG.values()]
        out.append((data, tos[0] if tos else None))


# ------------------------------------------------------------------ 1. lo0 on an established connection

SSH_FILTER = "lo0-ssh"
SSH_BLOCKED = host_config(*lo0(
    4, SSH_FILTER,
    configs.term("no-ssh", [proto(4, "tcp"), "destination-port ssh"], ["discard"]),
    configs.term("ping", echo_request_match(4), ["accept"])))


def ssh_connect(lab):
    """A kernel TCP connection from the client to the box's ssh port, one line echoed."""
    s = labkit.tcp_connect(lab.ns_c, 4, CLIENT[4], fresh_port(), BOX[4], SSH)
    s.sendall(b"one" + LINE_END)
    assert labkit.recv_exactly(s, len(b"one" + LINE_END)) == b"one" + LINE_END
    return s


def test_lo0_filter_stops_an_established_ssh_connection(lab, wire):
    """The issue's named test: lo0's filter committed while a connection to the box's ssh
    port is established stops that connection's next segment and refuses new connections;
    ping, another term's, goes on being answered; the commit that removes the filter lets
    new connections in again. Each "nothing came" check follows a discard the program
    counted and then an echo reply sent after it (the box's kernel answers in order)."""
    lab.use(NO_FILTER)
    server = LineEcho(lab, 4, SSH)
    conn = ssh_connect(lab)
    fresh = None
    try:
        lab.commit(SSH_BLOCKED)
        before = host_counts(lab)
        conn.sendall(b"two" + LINE_END)
        # The segment, then its retransmissions: each discarded before the box's kernel.
        wait_host_counts(lab, before, {DISCARDED: 1}, exact=False)
        answered(wire, 4)
        assert labkit.nothing_pending(conn), "the box answered the line sent after the commit"
        assert b"two" not in server.lines, "the line sent after the commit reached the listener"

        with labkit.netns(lab.ns_c):
            fresh = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        fresh.setblocking(False)
        before = host_counts(lab)
        assert fresh.connect_ex((BOX[4], SSH)) == errno.EINPROGRESS
        wait_host_counts(lab, before, {DISCARDED: 1}, exact=False)   # the SYN (and the line's retries)
        answered(wire, 4)
        _, writable, _ = select.select([], [fresh], [], 0)
        assert not writable, "a new connection to the ssh port completed under the lo0 filter"

        lab.commit(NO_FILTER)
        again = ssh_connect(lab)
        abort(again)
        assert server.lines == [b"one", b"one"], server.lines
    finally:
        for s in (conn, fresh):
            if s is not None:
                abort(s)
        server.close()


# ------------------------------------------------------------------ 2. counters

COUNT_FILTER = "lo0-count"
PINGS = 5
PING_PAYLOAD = b"p" * 100
COUNTED = host_config(*lo0(
    4, COUNT_FILTER,
    configs.term("echo", echo_request_match(4), ["count pings", "accept"]),
    configs.term("probe", udp_to(4, TFTP), ["discard"])))


def test_lo0_counters_exact_and_cleared(lab, wire):
    lab.use(COUNTED)
    lab.xpfctl("clear", "firewall", "filter", COUNT_FILTER)
    zero = firewall_json(lab, COUNT_FILTER)
    assert zero["counters"]["pings"] == (0, 0) and zero["terms"]["echo"] == zero["terms"]["probe"] == (0, 0), zero
    for _ in range(PINGS):
        ident = fresh_port()
        wire.client.send(echo_to_box(4, ident, payload=PING_PAYLOAD))
        wire.client.expect("the box's echo reply", lambda p: is_echo_reply(p, 4, ident, BOX[4]))
    probe = fc.udp(4, fresh_port(), TFTP, dst=BOX[4])
    refused(lab, wire, probe)
    pings = (PINGS * (IPV4_ICMP_HEADERS + len(PING_PAYLOAD)), PINGS)
    want = {"counters": {"pings": pings}, "terms": {"echo": pings, "probe": (len(probe), 1)}}
    wait_listing(lab, COUNT_FILTER, want)
    text = fc.firewall_text(lab, COUNT_FILTER)
    assert text["Counters"]["pings"] == pings and text["Terms"]["echo"] == pings, text
    assert text["Terms"]["probe"] == (len(probe), 1), text

    reply = lab.xpfctl("clear", "firewall", "filter", COUNT_FILTER).stdout
    assert "cleared" in reply, reply
    after = firewall_json(lab, COUNT_FILTER)
    assert after["counters"]["pings"] == (0, 0), after
    assert all(after["terms"][t] == (0, 0) for t in ("echo", "probe")), after


def test_lo0_counts_start_from_zero_when_the_filter_returns(lab, wire):
    """Counts the program made belong to the filter's identity: a commit that removes lo0's
    filter from the configuration and the next one that writes it again start it from zero
    (as on Junos), although the bank that held its old rows is harvested only by the second
    (the program's tables alternate between two banks); and a clear
    followed by a commit that only detaches it (the filter still defined) never prints a
    wrapped count."""
    lab.use(COUNTED)
    for _ in range(2):
        ident = fresh_port()
        wire.client.send(echo_to_box(4, ident, payload=PING_PAYLOAD))
        wire.client.expect("the box's echo reply", lambda p: is_echo_reply(p, 4, ident, BOX[4]))
    wait_listing(lab, COUNT_FILTER, {"counters": {"pings": (2 * (IPV4_ICMP_HEADERS + len(PING_PAYLOAD)), 2)}})
    lab.commit(NO_FILTER)            # the filter is gone from the configuration
    lab.commit(COUNTED)              # written again, into the bank that held its old rows: from zero
    back = firewall_json(lab, COUNT_FILTER)
    assert back["counters"]["pings"] == (0, 0) and back["terms"]["echo"] == (0, 0), back

    # Counted, cleared, counted again, then detached from lo0 while still defined.
    ident = fresh_port()
    wire.client.send(echo_to_box(4, ident, payload=PING_PAYLOAD))
    wire.client.expect("the box's echo reply", lambda p: is_echo_reply(p, 4, ident, BOX[4]))
    one = (IPV4_ICMP_HEADERS + len(PING_PAYLOAD), 1)
    wait_listing(lab, COUNT_FILTER, {"counters": {"pings": one}})
    lab.xpfctl("clear", "firewall", "filter", COUNT_FILTER)
    ident = fresh_port()
    wire.client.send(echo_to_box(4, ident, payload=PING_PAYLOAD))
    wire.client.expect("the box's echo reply", lambda p: is_echo_reply(p, 4, ident, BOX[4]))
    wait_listing(lab, COUNT_FILTER, {"counters": {"pings": one}})
    detached = COUNTED.replace("input %s;" % COUNT_FILTER, "")
    assert detached != COUNTED, "the test's configuration no longer attaches the filter as expected"
    lab.commit(detached)
    lab.commit(detached + "\n")
    kept = firewall_json(lab, COUNT_FILTER)
    assert kept["counters"]["pings"] == one, kept


# ------------------------------------------------------------------ 3. the interface's input filter

FW0_FILTER = "fw0-in"
P_TRANSIT_DISCARD = 7801
INTERFACE_FILTER = host_config(
    configs.firewall_filter(
        4, FW0_FILTER,
        configs.term("box-echo", ["destination-address %s/32" % BOX[4], *echo_request_match(4)],
                     ["count box-echo", "discard"]),
        configs.term("transit-udp", udp_to(4, P_TRANSIT_DISCARD), ["count transit-udp", "discard"]),
        configs.term("rest", [], ["count rest", "accept"])),
    configs.attach("fw0", 4, input=FW0_FILTER))


def test_interface_input_filter_on_host_bound_traffic(lab, wire):
    """fw0's input filter discards echo requests to fw0's address (the box's kernel never
    answers) while transit through fw0 follows the same filter: a transit echo request
    forwarded, a transit datagram its term discards dropped by the worker. Both paths count
    in the same rows: `rest` holds a transit echo and a host-bound one (to fw1's address,
    which box-echo does not match)."""
    lab.use(INTERFACE_FILTER)
    lab.xpfctl("clear", "firewall", "filter", FW0_FILTER)
    first, second = echo_to_box(4, fresh_port()), echo_to_box(4, fresh_port())
    refused(lab, wire, first)
    refused(lab, wire, second)
    fc.passes(wire, fc.echo(4, fresh_port()), "a transit echo request")
    answered(wire, 4, dst=FW1[4])
    fc.discarded(lab, wire, fc.udp(4, fresh_port(), P_TRANSIT_DISCARD))
    boxed = (len(first) + len(second), 2)
    rest = (len(fc.echo(4, 0)) + len(echo_to_box(4, 0, dst=FW1[4])), 2)
    transit = (len(fc.udp(4, 0, P_TRANSIT_DISCARD)), 1)
    wait_listing(lab, FW0_FILTER, {
        "counters": {"box-echo": boxed, "transit-udp": transit, "rest": rest},
        "terms": {"box-echo": boxed, "transit-udp": transit, "rest": rest}})


# ------------------------------------------------------------------ 4. reject

# A reject's reply leaves fw0 by XDP_TX. A veth delivers an XDP_TX frame to its peer only
# when the peer runs an XDP program of its own (the kernel's veth driver: without one the
# frame is dropped, counted xdp_tx_errors on fw0), which a real NIC's link partner does not
# need: the reject tests give c0 a program that passes everything, for the module's rest.
CLANG = "/usr/bin/clang"        # Debian's, as bpf/Makefile uses
XDP_PASS_SOURCE = """
#include <linux/bpf.h>
__attribute__((section("xdp"), used)) int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }
char _license[] __attribute__((section("license"), used)) = "GPL";
"""


@pytest.fixture(scope="module")
def c0_receives_xdp_tx(lab, tmp_path_factory):
    folder = tmp_path_factory.mktemp("xdp-pass")
    source, program = folder / "xdp_pass.c", folder / "xdp_pass.o"
    source.write_text(XDP_PASS_SOURCE)
    subprocess.run([CLANG, "-O2", "-target", "bpf", "-I/usr/include/%s-linux-gnu" % platform.machine(),
                    "-c", str(source), "-o", str(program)], check=True, capture_output=True)
    subprocess.run(["ip", "-n", lab.ns_c, "link", "set", "dev", "c0", "xdpdrv", "obj", str(program), "sec", "xdp"],
                   check=True, capture_output=True)
    yield
    subprocess.run(["ip", "-n", lab.ns_c, "link", "set", "dev", "c0", "xdpdrv", "off"], check=True, capture_output=True)


REJECT_FILTER = {4: "lo0-reject4", 6: "lo0-reject6"}
# (port, `reject` argument, ICMP code per family): default administratively prohibited,
# port-unreachable.
UDP_REJECTS = [(NTP, None, {4: 13, 6: 1}), (SNMP, "port-unreachable", {4: 3, 6: 4})]


def reject_filter(family):
    terms = [configs.term("reset", [proto(family, "tcp"), "destination-port %d" % TELNET], ["reject tcp-reset"])]
    terms += [configs.term("udp-%d" % port, udp_to(family, port), ["reject %s" % reason if reason else "reject"])
              for port, reason, _ in UDP_REJECTS]
    return lo0(family, REJECT_FILTER[family], *terms)


REJECTING = host_config(*reject_filter(4), *reject_filter(6))


def rejected(lab, wire, packet, what):
    """Sends `packet` to the box; returns the reply the client received from the box's
    address, after checking exactly one host-bound reject was counted (no discard)."""
    before = host_counts(lab)
    wire.client.send(packet)
    wait_host_counts(lab, before, {REJECTED: 1})
    return wire.client.expect(what, lambda p: fc.about(p, packet) and labkit.l3(p).src == labkit.l3(packet).dst)


@FAMILIES
@pytest.mark.usefixtures("c0_receives_xdp_tx")
def test_lo0_reject_tcp_reset(lab, wire, family):
    """A SYN to the telnet port gets the filter's RST|ACK (ack = seq + 1) from the box's
    address, though a listener there would have answered SYN|ACK."""
    lab.use(REJECTING)
    listener = labkit.tcp_listener(lab.ns_fw, family, TELNET)
    try:
        syn = fc.tcp(family, fresh_port(), TELNET, flags="S", dst=BOX[family])
        rst = rejected(lab, wire, syn, "the lo0 filter's RST")
        checks.check_rst(rst, family, wire.client, wire.fw0_mac, syn)
        assert rst[TCP].flags == "RA" and rst[TCP].ack == (syn[TCP].seq + 1) % (1 << 32), rst[TCP].show(dump=True)
        synacks = [p.summary() for p in wire.client.drain() if fc.about(p, syn) and p[TCP].flags == "SA"]
        assert not synacks, "the box's kernel answered: %s" % synacks
    finally:
        listener.close()


@pytest.mark.parametrize("family,reject", [(f, r) for f in (4, 6) for r in UDP_REJECTS],
                         ids=["ipv%d-%s" % (f, r[1] or "default") for f in (4, 6) for r in UDP_REJECTS])
@pytest.mark.usefixtures("c0_receives_xdp_tx")
def test_lo0_reject_udp_icmp_code(lab, wire, family, reject):
    """UDP to a port of the box with a socket bound: the filter's ICMP error with the
    reason's code, quoting the datagram, from the box's address; the socket gets nothing."""
    port, _, code = reject
    lab.use(REJECTING)
    sink = box_udp_socket(lab, family, port)
    try:
        datagram = fc.udp(family, fresh_port(), port, dst=BOX[family])
        reply = rejected(lab, wire, datagram, "ICMP unreachable code %d" % code[family])
        fc.check_unreachable(reply, family, wire, code[family], datagram, router=BOX[family])
        assert received_datagrams(sink) == [], "the rejected datagram reached the box's socket"
    finally:
        sink.close()


# ------------------------------------------------------------------ 5. log

LOG_FILTER = {4: "lo0-log4", 6: "lo0-log6"}
LOGGING = host_config(*[part for f in (4, 6) for part in lo0(
    f, LOG_FILTER[f], configs.term("log-tftp", udp_to(f, TFTP), ["syslog", "discard"]))])


@FAMILIES
def test_lo0_syslog_discard_logged(lab, wire, family):
    """The filter log line of a host-bound discard: fw0.0 (the ingress interface), D, udp,
    the client's and the box's addresses and ports. (The Junos line names neither the
    filter nor the term: RTFlowFormat.swift.)"""
    lab.use(LOGGING)
    sport = fresh_port()
    refused(lab, wire, fc.udp(family, sport, TFTP, dst=BOX[family]))
    needle = " %s %s %d " % (CLIENT[family], BOX[family], sport)
    (line,) = lab.wait_syslog_lines(configs.FIREWALL_LOG, 1, lambda line: needle in line)
    m = FILTER_LOG_LINE.match(line)
    assert m and m.group(1) == configs.HOST_NAME, line
    assert m.group(2) == "FW: fw0.0 D udp %s %s %d %d (1 packets)" % (CLIENT[family], BOX[family], sport, TFTP), line


# ------------------------------------------------------------------ 6. DSCP rewrite

DSCP_FILTER = {4: "lo0-dscp4", 6: "lo0-dscp6"}
ECN_ECT0 = 0x2
REWRITING = host_config(*[part for f in (4, 6) for part in lo0(
    f, DSCP_FILTER[f], configs.term("af11", udp_to(f, SNMP_TRAP), ["dscp af11", "accept"]))])


@FAMILIES
def test_lo0_dscp_rewrite_seen_by_the_box(lab, wire, family):
    """The datagram as the box's kernel receives it (a capture on fw0 in the firewall's
    namespace, after the XDP program): DSCP af11 (10), ECN as sent, a valid IPv4 header
    checksum, every other field as sent (TTL too: it is not forwarded); the socket bound on
    the port reads it with that TOS / traffic class."""
    lab.use(REWRITING)
    sink = box_udp_socket(lab, family, SNMP_TRAP)
    inside = labkit.Port(lab.ns_fw, "fw0", wire.client.mac)
    try:
        # Built, so its header fields (IPv4 length and checksum, IPv6 payload length) are set.
        sent = fc.udp(family, fresh_port(), SNMP_TRAP, dst=BOX[family], ecn=ECN_ECT0, payload=b"rewrite me")
        sent = sent.__class__(bytes(sent))
        wire.client.send(sent)
        got = inside.expect("the datagram on fw0 inside the firewall", lambda p: fc.is_frame_of(p, sent))
        want_tos = fc.tos(fc.DSCP_AF11, ECN_ECT0)
        if family == 4:
            h, s = got[IP], sent[IP]
            assert h.tos == want_tos, "TOS 0x%02x, expected 0x%02x" % (h.tos, want_tos)
            assert (h.len, h.id, h.flags, h.frag, h.ttl, h.proto, h.src, h.dst) == \
                (s.len, s.id, s.flags, s.frag, s.ttl, PROTO_UDP, s.src, s.dst), h.show(dump=True)
            assert labkit.internet_checksum_ok(bytes(h)[:checks.IPV4_HEADER]), "IPv4 header checksum 0x%04x" % h.chksum
        else:
            h, s = got[IPv6], sent[IPv6]
            assert h.tc == want_tos, "traffic class 0x%02x, expected 0x%02x" % (h.tc, want_tos)
            assert (h.fl, h.plen, h.nh, h.hlim, h.src, h.dst) == (s.fl, s.plen, PROTO_UDP, s.hlim, s.src, s.dst), \
                h.show(dump=True)
        assert bytes(got[UDP]) == bytes(sent[UDP]) and labkit.l4_checksum_ok(got, PROTO_UDP), "UDP changed"
        delivered = labkit.wait_for("the datagram at the box's socket", lambda: received_datagrams(sink))
        assert delivered == [(b"rewrite me", want_tos)], delivered
    finally:
        inside.close()
        sink.close()


# ------------------------------------------------------------------ 7. IPv6

V6_FILTER = "lo0-echo6"
V6_ECHO_BLOCKED = host_config(*lo0(6, V6_FILTER, configs.term("no-echo", echo_request_match(6), ["discard"])))


def test_lo0_inet6_filter_leaves_inet_alone(lab, wire):
    lab.use(V6_ECHO_BLOCKED)
    refused(lab, wire, echo_to_box(6, fresh_port()))
    answered(wire, 4)
    lab.use(NO_FILTER)
    answered(wire, 6)


# ------------------------------------------------------------------ 8. policer

POLICER = "host-echo"
POLICED_FILTER = "lo0-police"
# Junos's lowest rate (1000 bytes a second) and a bucket of exactly BURST_DEPTH requests
# of ECHO_BYTES: a burst passes BURST_DEPTH, give or take what a stall of a second or
# more in the middle of the burst refills (REFILL_SLACK).
POLICER_RATE = 8_000
ECHO_BYTES = 1000
BURST_DEPTH = 5
REFILL_SLACK = 1
BURST_SENT = 50
POLICING = host_config(
    configs.policer(POLICER, POLICER_RATE, BURST_DEPTH * ECHO_BYTES),
    *lo0(4, POLICED_FILTER, configs.term("echo", echo_request_match(4), ["policer %s" % POLICER, "accept"])))


def test_lo0_policer_on_a_burst_of_pings(lab, wire):
    lab.commit(POLICING)             # a commit fills the buckets, whatever an earlier run took
    lab.xpfctl("clear", "firewall", "filter", POLICED_FILTER)
    payload = bytes(ECHO_BYTES - IPV4_ICMP_HEADERS)
    idents = [fresh_port() for _ in range(BURST_SENT)]
    before = host_counts(lab)
    for ident in idents:
        wire.client.send(echo_to_box(4, ident, payload=payload))
    got = set()
    last = {}

    def all_accounted():
        got.update(p[ICMP].id for p in wire.client.drain()
                   if ICMP in p and p[ICMP].type == ICMP_ECHO_REPLY and p[ICMP].id in idents)
        now = host_counts(lab)
        last["policed"] = now[POLICED] - before[POLICED]
        return len(got) + last["policed"] == BURST_SENT
    try:
        labkit.wait_for("every request answered or policed", all_accounted)
    except AssertionError:
        raise AssertionError("sent %d, answered %d, policed %d" % (BURST_SENT, len(got), last["policed"])) from None
    print("lo0 policer: sent %d, answered %d, policed %d" % (BURST_SENT, len(got), last["policed"]))
    assert BURST_DEPTH <= len(got) <= BURST_DEPTH + REFILL_SLACK, "answered %d of %d" % (len(got), BURST_SENT)
    out_of_profile = BURST_SENT - len(got)
    wait_listing(lab, POLICED_FILTER, {
        "policers": {("%s-echo" % POLICER, "out-of-profile"): (out_of_profile * ECHO_BYTES, out_of_profile)},
        "terms": {"echo": (BURST_SENT * ECHO_BYTES, BURST_SENT)}})
    assert host_counts(lab)[DISCARDED] == before[DISCARDED], "the policer's drops counted as filter discards"
