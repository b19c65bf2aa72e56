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
import pytest

import configs
import labkit

PORT_REMOVED, PORT_KEPT, PORT_RECHECKED, PORT_IDLE = 7901, 7902, 7903, 7904
STREAM = configs.applications(configs.application("stream", "tcp", "%d-%d" % (PORT_REMOVED, PORT_IDLE)))
# The ageing sweep re-checks idle sessions: the whole table (4096 records, configs.BASE)
# at 256 records per 100 ms of an idle worker takes 1.6 s.
SWEEP_WAIT_S = 10.0
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
# A policy decision changes (the epoch moves on), yet the stream is still permitted.
STILL_PERMITTED = configs.config(
    configs.policies(pairs=[(("trust", "untrust"), [
        configs.policy("no-telnet", "deny", application="junos-telnet"),
        configs.policy("allow-stream", "permit", application="stream", log=["session-init", "session-close"]),
    ])]),
    STREAM)
# The same as ALLOW plus one more syslog file: nothing a session's decision depends on.
UNRELATED = ALLOW + configs.UNRELATED_SYSLOG

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@pytest.fixture
def stream_factory(lab):
    made = []

    def make(family, dport):
        made.append(labkit.Stream(lab, family, dport))
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
    # The first segment after the commit is dropped as policy_change when it reaches the
    # session before the ageing sweep re-checks it, which closes the session as well; the
    # kernel's retransmissions then find no session (tcp_not_syn) either way.
    delta = lab.wait_drops_at_least(before, {"tcp_not_syn": 1})
    assert delta["policy_change"] <= 1, "dropped on its session more than once: %r" % delta
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


@FAMILIES
def test_policy_change_that_still_permits_keeps_the_stream(lab, stream_factory, family):
    """A re-check, not a blanket close: the session passes the new policy and goes on."""
    lab.use(ALLOW)
    stream = stream_factory(family, PORT_RECHECKED)
    (session,) = lab.sessions("source-port", str(stream.sport))
    before = lab.drops()
    lab.commit(STILL_PERMITTED)
    stream.exchange(b"after the commit")
    assert lab.drops()["policy_change"] == before["policy_change"], "re-checked and dropped"
    (still,) = lab.sessions("source-port", str(stream.sport))
    assert still["id"] == session["id"], (session, still)
    # Re-decided under the new list, where allow-stream is the second policy.
    assert (still["policy"], still["policy_state"]) == ("allow-stream", "policy"), still
    assert still["policy_id"] != session["policy_id"], (session, still)
    assert not lab.events("RT_FLOW_SESSION_CLOSE", source_port=stream.sport), "the session was closed"


def test_idle_session_is_closed_by_the_sweep_after_policy_removal(lab, stream_factory):
    """No packet follows the commit: the ageing sweep re-checks the idle session and
    closes it (reason policy change)."""
    lab.use(ALLOW)
    stream = stream_factory(4, PORT_IDLE)
    (session,) = lab.sessions("source-port", str(stream.sport))
    lab.commit(REMOVED)
    (close,) = lab.wait_events(1, "RT_FLOW_SESSION_CLOSE", timeout=SWEEP_WAIT_S, source_port=stream.sport)
    assert (close["reason"], close["policy-name"], close["session-id-32"]) == \
        ("policy change", "allow-stream", str(session["id"])), close
    assert not lab.sessions("source-port", str(stream.sport)), "the session outlived its policy"
