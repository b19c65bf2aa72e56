"""Re-evaluation on commit (R-4.4): a commit that no longer permits an established TCP
stream stops it at its next packet — dropped as `policy_change`, the session closed with
a CLOSE event "policy change" — within the generation switch the commit waited for; a
commit that changes nothing a session depends on (a syslog file) leaves the stream
running on its session.

Kernel TCP connections carry the streams. After the policy goes, the client's segment is
dropped on its session (policy_change, exactly once: the session is closed then), and the
kernel's retransmission of it, now without a session and not a SYN, is dropped as
`tcp_not_syn` — the sign that the session really is gone.
"""
import socket
import struct

import pytest

import configs
import labkit
from labkit import CLIENT, SERVER, fresh_port

PORT_REMOVED, PORT_KEPT = 7901, 7902
STREAM = configs.applications(configs.application("stream", "tcp", "%d-%d" % (PORT_REMOVED, PORT_KEPT)))
ALLOW = configs.config(
    configs.policies(pairs=[(("trust", "untrust"), [
        configs.policy("allow-stream", "permit", application="stream", log=["session-init", "session-close"]),
    ])]),
    STREAM)
# The same, with the policy gone (the default policy, deny-all, decides now).
REMOVED = configs.config(
    configs.policies(pairs=[(("trust", "untrust"), [
        configs.policy("allow-other", "permit", application="junos-ssh"),
    ])]),
    STREAM)
# The same as ALLOW plus one more syslog file: nothing a session's decision depends on.
UNRELATED = ALLOW + """
system {
    syslog {
        file unrelated {
            any any;
        }
    }
}
"""

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


class Stream:
    """An established kernel TCP connection client -> server through the firewall."""

    def __init__(self, lab, family, dport):
        self.sport = fresh_port()
        self.listener = labkit.tcp_listener(lab.ns_s, family, dport)
        self.client = labkit.tcp_connect(lab.ns_c, family, CLIENT[family], self.sport, SERVER[family], dport)
        self.server, _ = self.listener.accept()
        self.exchange(b"before")

    def exchange(self, data):
        self.client.sendall(data)
        assert labkit.recv_exactly(self.server, len(data)) == data
        self.server.sendall(data)
        assert labkit.recv_exactly(self.client, len(data)) == data

    def close(self):
        """Aborts the connection (RST, SO_LINGER 0): a stopped stream's kernel must not go
        on retransmitting into later tests' drop counters."""
        for s in (self.client, self.server):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        self.listener.close()


@pytest.fixture
def stream_factory(lab):
    made = []

    def make(family, dport):
        made.append(Stream(lab, family, dport))
        return made[-1]
    yield make
    for s in made:
        s.close()


@FAMILIES
def test_policy_removed_mid_flow_stops_the_stream(lab, stream_factory, family):
    lab.use(ALLOW)
    stream = stream_factory(family, PORT_REMOVED)
    (session,) = lab.sessions("source-port", str(stream.sport))
    before = lab.drops()
    lab.commit(REMOVED)
    stream.client.sendall(b"after")
    lab.wait_drops_at_least(before, {"policy_change": 1})
    # The kernel retransmits the dropped segment: it finds no session now.
    delta = lab.wait_drops_at_least(before, {"tcp_not_syn": 1})
    assert delta["policy_change"] == 1, "dropped on its session more than once: %r" % delta
    assert labkit.nothing_pending(stream.server), "data crossed after the policy was removed"
    assert not lab.sessions("source-port", str(stream.sport)), "the session outlived its policy"
    (close,) = lab.wait_events(1, "RT_FLOW_SESSION_CLOSE", source_port=stream.sport)
    assert close["reason"] == "policy change", close
    assert (close["policy-name"], close["source-zone-name"], close["destination-zone-name"]) == \
        ("allow-stream", "trust", "untrust"), close
    assert close["session-id-32"] == str(session["id"]), (close, session)


@FAMILIES
def test_unrelated_commit_keeps_the_stream(lab, stream_factory, family):
    lab.use(ALLOW)
    stream = stream_factory(family, PORT_KEPT)
    (session,) = lab.sessions("source-port", str(stream.sport))
    before = lab.drops()
    lab.commit(UNRELATED)
    stream.exchange(b"after the commit")
    after = lab.drops()
    assert after["policy_change"] == before["policy_change"], "re-checked and dropped"
    (still,) = lab.sessions("source-port", str(stream.sport))
    assert still["id"] == session["id"], (session, still)
    assert not lab.events("RT_FLOW_SESSION_CLOSE", source_port=stream.sport), "the session was closed"
