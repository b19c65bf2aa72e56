"""The lab as the policy suite drives it (tools/xpf-lab's three namespaces, xpfd in the
middle one): network namespaces entered per thread, crafted frames sent and captured on
the lab ends of the veth pairs (c0 in the client namespace, s0 in the server namespace),
and xpfd's state read through xpfctl — drop counters by reason, RT_FLOW lines, sessions.

Every wait is bounded (WAIT_S) and ends as soon as what it waits for is seen, so a slow
machine makes a passing run slower, not failing; a check that something did NOT happen is
made only after a positive sign that the packet in question was dealt with (its drop
counted, the packet itself delivered, a `clear` returned).
"""
import contextlib
import ctypes
import json
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

from scapy.config import conf
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.arch.linux import L2Socket

REPO = Path(__file__).resolve().parents[3]
XPF_LAB = REPO / "tools" / "xpf-lab"
RUN_BASE = Path("/run/xpf")
SWIFT = "/opt/swift/usr/bin/swift"   # where tools/setup expects the toolchain when it is not on PATH

# The lab's addresses (tools/xpf-lab configures them; config text in configs.py repeats them).
CLIENT = {4: "10.10.1.2", 6: "fd00:1::2"}
SERVER = {4: "10.10.2.2", 6: "fd00:2::2"}
FW0 = {4: "10.10.1.1", 6: "fd00:1::1"}     # trust side, the client's gateway
FW1 = {4: "10.10.2.1", 6: "fd00:2::1"}     # untrust side, the server's gateway
FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}

# Longest wait for something expected (a frame, a counter, an event line). Generous: it
# bounds a failing run, a passing one returns as soon as the thing is seen.
WAIT_S = 5.0
POLL_S = 0.05

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

# Quiet: scapy warns about routes of the root namespace it never uses here.
conf.verb = 0


def _setns(fd):
    """setns(2) for the calling thread only."""
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "setns: " + os.strerror(err))


@contextlib.contextmanager
def netns(name):
    """Runs the block in network namespace `name`. setns(2) moves only the calling
    thread; sockets made inside belong to `name` for their whole life."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open("/run/netns/" + name, os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(home)
        finally:
            os.close(target)
    finally:
        os.close(home)


def bin_dir():
    """The binaries the lab runs: $XPF_BIN (the suite's wrapper sets it), else release."""
    if os.environ.get("XPF_BIN"):
        return Path(os.environ["XPF_BIN"])
    swift = shutil.which("swift") or SWIFT
    out = subprocess.run([swift, "build", "-c", "release", "--show-bin-path"], cwd=REPO,
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def link_mac(ns, ifname):
    out = subprocess.run(["ip", "-n", ns, "-j", "link", "show", "dev", ifname],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]["address"]


def wait_for(what, probe, timeout=WAIT_S):
    """Calls probe() until it returns something true; returns that, or fails naming `what`
    and the last value probe returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("%s: not within %.1f s (last: %r)" % (what, timeout, value))
        time.sleep(POLL_S)


# ------------------------------------------------------------------ RT_FLOW lines

SD_ID = "junos@2636.1.1.1.2.129"
_HEAD = re.compile(r'^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) \[' + re.escape(SD_ID)
                   + r'((?: [a-z0-9-]+="(?:[^"\\]|\\.)*")*)\]')
_PARAM = re.compile(r' ([a-z0-9-]+)="((?:[^"\\]|\\.)*)"')


class Event:
    """One RT_FLOW line of xpfd's structured-data file."""

    def __init__(self, line):
        m = _HEAD.match(line)
        if not m:
            raise AssertionError("not an RFC 5424 RT_FLOW line: %r" % line[:160])
        self.line = line
        self.host, self.app, self.msgid = m.group(3), m.group(4), m.group(6)
        pairs = [(k, re.sub(r'\\(["\\\]])', r"\1", v)) for k, v in _PARAM.findall(m.group(7))]
        self.names = [k for k, _ in pairs]
        self.fields = dict(pairs)

    def __getitem__(self, key):
        return self.fields[key]

    def __repr__(self):
        return "%s %r" % (self.msgid, self.fields)


# ------------------------------------------------------------------ the lab


class Lab:
    """One lab (tools/xpf-lab up + start), its xpfd and the control commands the tests use."""

    def __init__(self, prefix, workdir):
        self.prefix = prefix
        self.ns_c, self.ns_fw, self.ns_s = prefix + "-c", prefix + "-fw", prefix + "-s"
        self.state = RUN_BASE / prefix
        self.workdir = Path(workdir)
        self.bin = bin_dir()
        self.running_config = None
        self.commits = 0
        self.env = dict(os.environ, XPF_BIN=str(self.bin))

    def _lab(self, *args):
        r = subprocess.run([str(XPF_LAB), *args, "--prefix", self.prefix], env=self.env,
                           capture_output=True, text=True)
        print(r.stdout + r.stderr, end="")
        if r.returncode != 0:
            raise AssertionError("xpf-lab %s failed (exit %d): %s" % (args[0], r.returncode, r.stderr.strip()))

    def up(self, config_text):
        """Namespaces with one queue per veth end (one worker: the frames of a test are
        handled in the order they were sent), xpfd started on `config_text`."""
        path = self._write("start.conf", config_text)
        self._lab("up", "--queues", "1")
        self._lab("start", "--config", str(path))
        self.running_config = config_text

    def down(self):
        self._lab("down")

    def log_tail(self, lines=40):
        try:
            return "\n".join(Path(self.state, "xpfd.log").read_text().splitlines()[-lines:])
        except FileNotFoundError:
            return "(no xpfd.log)"

    def _write(self, name, text):
        path = self.workdir / name
        path.write_text(text)
        return path

    def xpfctl(self, *args, check=True):
        r = subprocess.run([str(self.bin / "xpfctl"), *args, "--state-dir", str(self.state)],
                           capture_output=True, text=True)
        if check and r.returncode != 0:
            raise AssertionError("xpfctl %s failed (exit %d): %s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def commit(self, config_text):
        """`xpfctl commit FILE`: returns once every worker runs the new generation."""
        self.commits += 1
        path = self._write("commit-%d.conf" % self.commits, config_text)
        reply = self.xpfctl("commit", str(path)).stdout
        assert "commit complete" in reply and "workers switched in" in reply, "commit: " + reply
        self.running_config = config_text
        return reply

    def use(self, config_text):
        """Commits `config_text` unless it runs already, then clears every session so a
        test starts from an empty table whatever ran before it."""
        if config_text != self.running_config:
            self.commit(config_text)
        self.clear_sessions()

    def clear_sessions(self):
        reply = self.xpfctl("clear", "security", "flow", "session").stdout
        assert "sessions cleared" in reply, "clear: " + reply

    # Counters ------------------------------------------------------------

    def drops(self):
        """Drops by reason (names from XPF_DROP_REASONS), summed over the workers."""
        return json.loads(self.xpfctl("show", "security", "flow", "statistics", "--json").stdout)["drops"]

    def wait_drops_at_least(self, before, expected):
        """Waits until every reason of `expected` ({name: n}) grew by n or more since
        `before`. Returns the deltas of all reasons."""
        for name in expected:
            assert name in before, "xpfctl names no drop reason %r (has: %s)" % (name, ", ".join(sorted(before)))

        def deltas():
            now = self.drops()
            return {k: now[k] - before.get(k, 0) for k in now}
        try:
            return wait_for("drop counters %r" % expected,
                            lambda: (lambda d: d if all(d[k] >= n for k, n in expected.items()) else None)(deltas()))
        except AssertionError:
            raise AssertionError("drops %r expected, counted %r" % (
                expected, {k: n for k, n in deltas().items() if n}))

    def wait_drops(self, before, expected):
        """wait_drops_at_least, then checks each reason of `expected` grew by exactly n."""
        delta = self.wait_drops_at_least(before, expected)
        assert {k: delta[k] for k in expected} == expected, "drops: expected %r, counted %r" % (expected, delta)
        return delta

    # Events --------------------------------------------------------------

    def events(self, msgid=None, **fields):
        """RT_FLOW lines of the `rtflow` file, after `show log statistics` drained every
        worker's event ring into it; optionally only those of `msgid` with these fields
        (keyword names with '_' for '-')."""
        self.xpfctl("show", "log", "statistics")
        try:
            lines = Path(self.state, "rtflow").read_text().splitlines()
        except FileNotFoundError:
            lines = []
        want = {k.replace("_", "-"): str(v) for k, v in fields.items()}
        out = []
        for line in lines:
            e = Event(line)
            if (msgid is None or e.msgid == msgid) and all(e.fields.get(k) == v for k, v in want.items()):
                out.append(e)
        return out

    def wait_events(self, count, msgid, timeout=WAIT_S, **fields):
        """Waits until `count` lines match, then checks no more did."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(msgid, **fields)
            if len(found) >= count or time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
        assert len(found) == count, "%d %s line(s) with %r expected, found %r" % (count, msgid, fields, found)
        return found

    def syslog_lines(self, name):
        """Lines of xpfd's syslog file `name` ($STATE/name), after `show log statistics`
        drained every worker's event ring into it (any format: no parsing)."""
        self.xpfctl("show", "log", "statistics")
        try:
            return Path(self.state, name).read_text().splitlines()
        except FileNotFoundError:
            return []

    def wait_syslog_lines(self, name, count, match, timeout=WAIT_S):
        """Waits until `count` lines of file `name` satisfy match(line), then checks no
        more did; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.syslog_lines(name) if match(line)]
            if len(found) >= count or time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
        assert len(found) == count, "%d matching line(s) in %s expected, found %r" % (count, name, found)
        return found

    # Sessions ------------------------------------------------------------

    def sessions(self, *filters):
        """`show security flow session [filters] --json`: the session objects."""
        return json.loads(self.xpfctl("show", "security", "flow", "session", *filters, "--json").stdout)["sessions"]

    def session_decision(self, sport):
        """(policy, policy_state, from_zone, to_zone) of the one session from `sport`."""
        (s,) = self.sessions("source-port", str(sport))
        return s["policy"], s["policy_state"], s["from_zone"], s["to_zone"]


# ------------------------------------------------------------------ frames on the wire


class Port:
    """A packet socket on a lab end of a veth (c0 or s0): sends crafted frames to the
    firewall, and captures every frame that arrives from it, from creation on."""

    def __init__(self, ns, ifname, gateway_mac):
        self.ns, self.ifname = ns, ifname
        self.mac = link_mac(ns, ifname)
        self.gateway_mac = gateway_mac
        with netns(ns):
            # Not promiscuous: the veth delivers every frame of its peer anyway.
            self.sock = L2Socket(iface=ifname, promisc=False)

    def close(self):
        self.sock.close()

    def send(self, l3):
        """Sends an IP packet to the firewall in one Ethernet frame."""
        self.sock.send(Ether(src=self.mac, dst=self.gateway_mac) / l3)

    def _recv(self, timeout):
        r, _, _ = select.select([self.sock.ins], [], [], max(timeout, 0))
        if not r:
            return None
        return self.sock.recv()   # None for a frame the socket sent itself

    def drain(self):
        """Every frame received so far and not yet returned."""
        out = []
        while select.select([self.sock.ins], [], [], 0)[0]:
            p = self.sock.recv()   # None for a frame the socket sent itself
            if p is not None:
                out.append(p)
        return out

    def expect(self, what, match, timeout=WAIT_S):
        """The first frame for which match(frame) is true; fails naming `what` and the
        frames seen instead when none arrives within `timeout`."""
        deadline = time.monotonic() + timeout
        others = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%s: nothing on %s within %.1f s; saw %s" % (
                    what, self.ifname, timeout, [p.summary() for p in others[-10:]]))
            p = self._recv(left)
            if p is None:
                continue
            if match(p):
                return p
            others.append(p)


class Wire:
    """Both lab ends: the client's (c0, behind fw0 in zone trust) and the server's (s0,
    behind fw1 in zone untrust)."""

    def __init__(self, lab):
        self.client = Port(lab.ns_c, "c0", link_mac(lab.ns_fw, "fw0"))
        self.server = Port(lab.ns_s, "s0", link_mac(lab.ns_fw, "fw1"))
        self.fw0_mac, self.fw1_mac = self.client.gateway_mac, self.server.gateway_mac

    def close(self):
        self.client.close()
        self.server.close()

    def flush(self):
        self.client.drain()
        self.server.drain()


_next_port = [30000]


def fresh_port():
    """A source port no other test of this run used, so no session of an earlier test
    (or of the kernel's own traffic) can be hit."""
    _next_port[0] += 1
    return _next_port[0]


def ip(family, src, dst, **kw):
    return IP(src=src, dst=dst, **kw) if family == 4 else IPv6(src=src, dst=dst, **kw)


def l3(p):
    """The IP layer of a captured frame (IPv4 or IPv6), or None."""
    if IP in p:
        return p[IP]
    if IPv6 in p:
        return p[IPv6]
    return None


def is_tcp(p, src, dst, sport, dport, flags=None):
    """A TCP segment src:sport -> dst:dport (flags exactly, as a scapy flag string)."""
    h = l3(p)
    return (h is not None and TCP in p and h.src == src and h.dst == dst
            and p[TCP].sport == sport and p[TCP].dport == dport
            and (flags is None or p[TCP].flags == flags))


def is_udp(p, src, dst, sport, dport):
    h = l3(p)
    return (h is not None and UDP in p and h.src == src and h.dst == dst
            and p[UDP].sport == sport and p[UDP].dport == dport)


def internet_checksum_ok(data):
    """RFC 1071: the one's complement sum over data that includes its checksum is 0xffff."""
    if len(data) % 2:
        data += b"\0"
    s = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s == 0xffff


def l4_checksum_ok(p, proto):
    """The TCP/UDP/ICMPv6 checksum of a captured packet, over the pseudo-header."""
    h = l3(p)
    payload = bytes(h.payload)
    if IP in p:
        pseudo = socket.inet_pton(socket.AF_INET, h.src) + socket.inet_pton(socket.AF_INET, h.dst) \
            + bytes([0, proto]) + len(payload).to_bytes(2, "big")
    else:
        pseudo = socket.inet_pton(socket.AF_INET6, h.src) + socket.inet_pton(socket.AF_INET6, h.dst) \
            + len(payload).to_bytes(4, "big") + bytes([0, 0, 0, proto])
    return internet_checksum_ok(pseudo + payload)


# ------------------------------------------------------------------ kernel sockets


def tcp_listener(ns, family, port):
    """A listening TCP socket of the kernel of `ns` on every address (so a SYN the
    firewall forwards gets a SYN-ACK, not a RST)."""
    with netns(ns):
        s = socket.socket(FAMILY[family], socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::" if family == 6 else "0.0.0.0", port))
    s.listen(16)
    s.settimeout(WAIT_S)
    return s


def tcp_connect(ns, family, src, sport, dst, dport):
    """A kernel TCP connection from `ns` (source port fixed), handshake done."""
    with netns(ns):
        s = socket.socket(FAMILY[family], socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, sport))
    s.settimeout(WAIT_S)
    s.connect((dst, dport))
    return s


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise AssertionError("connection closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def nothing_pending(sock):
    """True if no byte (and no FIN) waits on a connected socket."""
    return not select.select([sock], [], [], 0)[0]


class Stream:
    """An established kernel TCP connection client -> server through the firewall, its
    first bytes exchanged both ways. `timeout`: the bound on every read of both ends (an
    accepted socket does not inherit its listener's), None for the socket default."""

    def __init__(self, lab, family, dport, timeout=None):
        self.sport = fresh_port()
        self.listener = tcp_listener(lab.ns_s, family, dport)
        self.client = tcp_connect(lab.ns_c, family, CLIENT[family], self.sport, SERVER[family], dport)
        self.server, _ = self.listener.accept()
        if timeout is not None:
            self.server.settimeout(timeout)
            self.client.settimeout(timeout)
        self.exchange(b"before")

    def exchange(self, data):
        self.client.sendall(data)
        assert recv_exactly(self.server, len(data)) == data
        self.server.sendall(data)
        assert recv_exactly(self.client, len(data)) == data

    def close(self):
        """Aborts the connection (RST, SO_LINGER 0): a stopped stream's kernel must not go
        on retransmitting into later tests' drop counters."""
        for s in (self.client, self.server):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        self.listener.close()
