"""The packet trace on the wire (issue 9 §1): `xpfctl monitor security packet-drop` prints
a denied flow's drop with the policy that denied it, and nothing for a permitted one;
`xpfctl trace --json` shows a permitted first packet's stages and policy.

The commands run in the background while the test sends. Each prints only once xpfd armed
the trace; a worker adopts it between two batches, so a frame sent right then may still go
untraced: the test sends again (a fresh flow each time, every drop counted before the
next) until the command has printed its packet, within a bounded number of attempts.
"""
import json
import os
import re
import select
import subprocess
import time

import pytest

import checks
import configs
from labkit import CLIENT, SERVER, WAIT_S, fresh_port

PORT_DENY, PORT_PERMIT = 7901, 7902
ATTEMPTS = 20

CONFIG = configs.config(
    configs.policies(pairs=[(("trust", "untrust"), [
        configs.policy("trace-permit", "permit", application="t-permit"),
        configs.policy("trace-deny", "deny", application="t-deny"),
    ])]),
    configs.applications(
        configs.application("t-permit", "udp", PORT_PERMIT),
        configs.application("t-deny", "tcp", PORT_DENY),
    ))


@pytest.fixture(scope="module", autouse=True)
def _config(lab):
    lab.use(CONFIG)


class Background:
    """An xpfctl command running while the test sends: its stdout lines as they come (read
    from the pipe directly, so what finish() collects follows the last line returned)."""

    def __init__(self, lab, *args):
        self.proc = subprocess.Popen([str(lab.bin / "xpfctl"), *args, "--state-dir", str(lab.state)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.pending = b""

    def line(self, timeout=WAIT_S):
        """The next stdout line, or None when none came within `timeout` (or it exited)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            ready = left > 0 and select.select([self.proc.stdout], [], [], left)[0]
            chunk = os.read(self.proc.stdout.fileno(), 4096) if ready else b""
            if not chunk:
                return None
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return line.decode()

    def finish(self):
        try:
            out, err = self.proc.communicate(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        return self.proc.returncode, (self.pending + out).decode(), err.decode()


def until_printed(bg, send):
    """Calls send() until `bg` prints a line (bounded); returns that line."""
    for _ in range(ATTEMPTS):
        send()
        line = bg.line(timeout=0.5)
        if line:
            return line
    raise AssertionError("nothing printed after %d attempts; stderr: %s" % (ATTEMPTS, bg.finish()[2]))


def test_monitor_packet_drop_shows_the_denying_policy(lab, wire):
    bg = Background(lab, "monitor", "security", "packet-drop", "protocol", "tcp", "destination-port", str(PORT_DENY),
                    "--count", "1", "--timeout", "30")
    try:
        assert bg.line() == "Starting packet drop:", bg.finish()
        sports = []

        def send_denied():
            # A permitted flow first: drops only, so it must never be printed.
            checks.udp_passes(wire, 4, fresh_port(), PORT_PERMIT)
            sports.append(fresh_port())
            checks.dropped(lab, wire.client, wire.server, checks.syn(4, CLIENT[4], SERVER[4], sports[-1], PORT_DENY, 1000),
                           "policy_deny", sports[-1], PORT_DENY)
        line = until_printed(bg, send_denied)
    finally:
        rc, rest, err = bg.finish()
    assert rc == 0, err
    assert rest == "", "--count 1 prints one drop: %r" % rest
    m = re.fullmatch(r"\d\d:\d\d:\d\d\.\d{6}:queue 0: (\S+)/(\d+)-->(\S+)/(\d+);tcp,fw0,"
                     r"Dropped by POLICY:Denied by policy trace-deny\((\d+)\)", line)
    assert m, "not a packet-drop line for the denied flow: %r" % line
    assert (m[1], m[3], int(m[4])) == (CLIENT[4], SERVER[4], PORT_DENY)
    assert int(m[2]) in sports


def test_trace_json_shows_every_stage_of_a_permitted_first_packet(lab, wire):
    bg = Background(lab, "trace", "protocol", "udp", "destination-port", str(PORT_PERMIT), "--count", "1",
                    "--timeout", "30", "--json")
    try:
        # `trace` prints nothing before its records: the first sends may come before xpfd
        # armed the filter or the worker adopted it, hence the retries.
        sports = []

        def send_permitted():
            sports.append(fresh_port())
            checks.udp_passes(wire, 4, sports[-1], PORT_PERMIT)
        line = until_printed(bg, send_permitted)
    finally:
        rc, rest, err = bg.finish()
    assert rc == 0, err
    r = json.loads(line)
    assert (r["protocol"], r["src"], r["dst"], r["dport"], r["ingress"]) == ("udp", CLIENT[4], SERVER[4], PORT_PERMIT, "fw0")
    assert r["sport"] in sports
    assert [s["stage"] for s in r["stages"]] == ["parse", "session", "route", "zones", "policy", "install", "rewrite"]
    results = {s["stage"]: s["result"] for s in r["stages"]}
    assert results["session"] == "miss"
    assert results["zones"] == "trust -> untrust"
    assert re.fullmatch(r"trace-permit\(\d+\) permit", results["policy"]), results
    assert [s["stage"] for s in r["stages"] if s["decided"]] == ["rewrite"]
    assert (r["action"], r["egress"], r["policy"].split("(")[0]) == ("transmit", "fw1", "trace-permit")
    # The pipeline's time for the traced packet (two clock reads around it): some, and less
    # than the 100 ms a worker ever sleeps (a traced packet is processed within one pass).
    assert 0 < r["process_ns"] < 100_000_000, r
    # Each stage's share (a clock read as each step ends; which stage is charged what is
    # exact in TraceTests, with a counting clock): only steps of the UDP first path, which
    # took time, within the packet's time.
    assert r["stage_ns"] and set(r["stage_ns"]) <= {"parse", "session", "filter-input", "icmp-error", "route", "tcp-syn-check",
                                                    "zones", "policy", "install", "filter-output", "rewrite"}, r["stage_ns"]
    assert sum(r["stage_ns"].values()) <= r["process_ns"], r


def test_trace_text_names_the_deciding_stage_of_a_denied_packet(lab, wire):
    bg = Background(lab, "trace", "protocol", "tcp", "destination-port", str(PORT_DENY), "--count", "1", "--timeout", "30")
    try:
        def send_denied():
            sport = fresh_port()
            checks.dropped(lab, wire.client, wire.server, checks.syn(4, CLIENT[4], SERVER[4], sport, PORT_DENY, 1000),
                           "policy_deny", sport, PORT_DENY)
        heading = until_printed(bg, send_denied)
    finally:
        rc, rest, err = bg.finish()
    assert rc == 0, err
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{6} queue 0 generation \d+: tcp %s/\d+ -> %s/%d on fw0, \d+ bytes"
                        % (re.escape(CLIENT[4]), re.escape(SERVER[4]), PORT_DENY), heading), heading
    stages = rest.splitlines()
    assert stages[:4] == ["  parse: ok", "  session: miss", "  route: egress fw1", "  tcp-syn-check: ok"], rest
    assert stages[4] == "  zones: trust -> untrust", rest
    assert re.fullmatch(r"  policy: trace-deny\(\d+\) deny: drop policy_deny", stages[5]), rest
    assert len(stages) == 8 and re.fullmatch(r"  action: drop policy_deny \(pipeline [1-9]\d* ns\)", stages[6]), rest
    # The stages' times, in stage order: steps up to the deciding policy, no later one.
    times = re.fullmatch(r"  stage times: ((?:[a-z-]+ [1-9]\d* ns(?:, |$))+)", stages[7])
    assert times, rest
    names = [t.split(" ")[0] for t in times.group(1).split(", ")]
    order = ["parse", "session", "icmp-error", "recheck", "route", "tcp-syn-check", "zones", "policy", "install", "rewrite",
             "filter-input", "filter-output"]
    assert names == sorted(names, key=order.index) and set(names) <= set(order[:8] + ["filter-input"]), rest
