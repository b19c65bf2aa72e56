"""Policy hit counts (issue 9 §2): `xpfctl show security policies hit-count` counts the
flows each policy matched (first packets, not every packet of a session), for permit
and deny policies, in zone pairs and in global; `clear security policies hit-count`
starts them from zero; a commit that keeps a policy keeps its count."""
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
