"""Policy hit counts (issue 9 §2): `xpfctl show security policies hit-count` counts the
flows each policy matched (first packets, not every packet of a session), for permit
and deny policies, in zone pairs and in global; `clear security policies hit-count`
starts them from zero; a commit that keeps a policy keeps its count. And the statistics
of a `then count` policy in `show security policies detail`."""
import json


import checks
import configs
import labkit
from labkit import fresh_port

PORT_A, PORT_B, PORT_G = 7951, 7952, 7953
FLOWS_A, PACKETS_PER_FLOW_A, FLOWS_B, FLOWS_G = 3, 2, 2, 1

CONFIG = configs.config(
    configs.policies(
        pairs=[(("trust", "untrust"), [
            configs.policy("hit-a", "permit", application="h-a"),
            configs.policy("hit-b", "deny", application="h-b"),
        ])],
        global_policies=[configs.policy("hit-g", "permit", application="h-g")]),
    configs.applications(
        configs.application("h-a", "udp", PORT_A),
        configs.application("h-b", "udp", PORT_B),
        configs.application("h-g", "udp", PORT_G),
    ))

def hit_counts(lab):
    r = lab.xpfctl("show", "security", "policies", "hit-count", "--json")
    return {p["name"]: p["policy_count"] for p in json.loads(r.stdout)["policies"]}


def test_hit_counts_count_flows_per_policy(lab, wire):
    lab.use(CONFIG)
    lab.xpfctl("clear", "security", "policies", "hit-count")
    zero = hit_counts(lab)
    assert (zero["hit-a"], zero["hit-b"], zero["hit-g"]) == (0, 0, 0), zero
    for _ in range(FLOWS_A):
        sport = fresh_port()
        for _ in range(PACKETS_PER_FLOW_A):
            checks.udp_passes(wire, 4, sport, PORT_A)
    for _ in range(FLOWS_B):
        checks.udp_denied(lab, wire, 4, fresh_port(), PORT_B)
    for _ in range(FLOWS_G):
        checks.udp_passes(wire, 4, fresh_port(), PORT_G)
    want = {"hit-a": FLOWS_A, "hit-b": FLOWS_B, "hit-g": FLOWS_G}
    counts = labkit.wait_for("hit counts %r" % want,
                             lambda: (lambda c: c if all(c[k] >= n for k, n in want.items()) else None)(hit_counts(lab)))
    assert {k: counts[k] for k in want} == want, counts
    # A commit that keeps the policies (same zone pair, same names) keeps their counts.
    lab.commit(CONFIG + configs.UNRELATED_SYSLOG)
    kept = hit_counts(lab)
    assert {k: kept[k] for k in want} == want, kept


PORT_S = 7954
STATS_CONFIG = configs.config(
    configs.policies(pairs=[(("trust", "untrust"), [
        configs.policy("stat-a", "permit; count", application="s-a"),
        configs.policy("nostat", "permit", application="h-a"),
    ])]),
    configs.applications(
        configs.application("s-a", "udp", PORT_S),
        configs.application("h-a", "udp", PORT_A),
    ))


def policy_statistics(lab, name):
    """The `Policy statistics` of policy NAME in `show security policies detail`, as a dict
    of label -> number, or None when the policy shows none."""
    r = lab.xpfctl("show", "security", "policies", "from-zone", "trust", "to-zone", "untrust", "detail")
    block, stats = None, None
    for line in r.stdout.splitlines():
        if line.startswith("Policy: "):
            block = line.split(",")[0][len("Policy: "):]
            continue
        if block == name and line.strip() == "Policy statistics:":
            stats = {}
        elif block == name and stats is not None and ":" in line:
            label, value = line.rsplit(":", 1)
            stats[" ".join(label.split())] = int(value)
    return stats


def test_then_count_policy_statistics(lab, wire):
    """`then count`: live sessions' traffic, then closed sessions' kept by xpfd; the
    statistics clear apart from the hit counts; a policy without count shows none."""
    lab.use(STATS_CONFIG)
    lab.xpfctl("clear", "security", "flow", "session")
    lab.xpfctl("clear", "security", "policies", "statistics")
    lab.xpfctl("clear", "security", "policies", "hit-count")
    sport = fresh_port()
    for _ in range(2):
        checks.udp_passes(wire, 4, sport, PORT_S)
    live = labkit.wait_for("a live stat-a session",
                           lambda: (lambda s: s if s and s["Active sessions"] == 1 else None)(policy_statistics(lab, "stat-a")))
    assert (live["Input packets"], live["Output packets"], live["Session deletions"], live["Policy lookups"]) == (2, 0, 0, 1), live
    assert live["Input bytes"] > 0 and live["Output bytes"] == 0, live
    assert policy_statistics(lab, "nostat") is None
    lab.xpfctl("clear", "security", "flow", "session")
    closed = policy_statistics(lab, "stat-a")
    assert (closed["Active sessions"], closed["Session deletions"], closed["Input packets"]) == (0, 1, 2), closed
    assert closed["Input bytes"] == live["Input bytes"], (closed, live)
    lab.xpfctl("clear", "security", "policies", "statistics")
    cleared = policy_statistics(lab, "stat-a")
    assert (cleared["Input packets"], cleared["Session deletions"], cleared["Policy lookups"]) == (0, 0, 1), cleared
