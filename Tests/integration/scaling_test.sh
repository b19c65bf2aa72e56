#!/usr/bin/env bash
# Worker saturation accounting and `xpfctl show dataplane scaling` in the lab (issue 11 §1,
# §2; R-12.1): each rule of advice driven by its condition, the report read as JSON.
#   idle         no traffic: every worker ≤ 5 % busy, every queue idle, no advice;
#   elephant     one UDP flow at 20 000 datagrams/s: its queue carries every packet from one
#                flow — imbalance, advice `ethtool -X IF weight` (RSS cannot split a flow);
#   cpu          the same flow with that worker held to 1 % of a CPU (a cgroup's CPU quota,
#                v2 cpu.max or v1 cpu.cfs_quota_us): it is busy ≥ 90 % with full vectors —
#                cpu-bound; its advice is still the elephant's (another queue would not
#                split the flow), and batch-size (skipped, and said so, without a cgroup
#                CPU controller);
#   tiny rings   rx-ring 64, tx-ring 64 and the least UMEM xpfd takes for them (256 frames):
#                the workers stopped (SIGSTOP) while a burst arrives, so the kernel finds the
#                fill ring (the RX ring's size) empty — umem, advice `system dataplane rx-ring
#                128` with the UMEM that ring needs, `umem-frames 512`;
#   tiny RX ring rx-ring 64 alone (the default UMEM is ample): the same burst — advice
#                `system dataplane rx-ring 128` and no UMEM change;
#   tiny TX ring tx-ring 64 with batch-size 256: a burst of 1 000 (within the 2 048-frame
#                fill ring) taken by the restarted workers in batches of 256, which a
#                64-entry TX ring cannot take — tx (tx_full drops), advice `tx-ring 128`.
# And the queue count (issue 11 §6) stays fixed while xpfd runs: a commit that changes it is
# refused with the reason, nothing committed.
# The two ring settings need an xpfd restart each (restart-only knobs). Prints ok/not ok
# lines and "N passed, N failed".
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Tests/integration/lib.sh"

FLOOD_S=3           # seconds of the elephant flow
FLOOD_PPS=20000     # its rate: far above the report's 1 000 pps floor, far below a worker's
REPORT_S=1          # the report's interval, inside the flood
BURST=3000          # datagrams sent while the workers are stopped
STOP_S=0.5          # how long they are stopped (xpfd's watchdog allows 2 s)
CGROUP=/sys/fs/cgroup
QUOTA_US=1000       # CPU quota of the throttled worker per
PERIOD_US=100000    # period: 1 % of a CPU

ctl() { "$XPFCTL" "$@" --state-dir "$STATE"; }
report() { ctl show dataplane scaling --interval "$1" --json; }
# field FILE EXPR: a Python expression over the report `r`.
field() { "$PY" -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }
worker_pids() { "$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c 'import json,sys; print(" ".join(str(w["pid"]) for w in json.load(sys.stdin)["workers"]))'; }

# flood SECONDS: one UDP flow (one socket, one 5-tuple) from the client to the server's
# discard port, FLOOD_PPS datagrams a second (in bursts of 100 every 5 ms).
flood() {
    ip netns exec "$NS_C" "$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.10.1.2", 40000))
start = time.monotonic()
end, pps, sent = start + float(sys.argv[1]), int(sys.argv[2]), 0
payload = b"x" * 64
while time.monotonic() < end:
    for _ in range(100):
        try: s.sendto(payload, ("10.10.2.2", 9))
        except OSError: pass
    sent += 100
    ahead = start + sent / pps - time.monotonic()
    if ahead > 0: time.sleep(ahead)
' "$1" "$FLOOD_PPS"
}
# burst N: N datagrams as fast as possible (the workers are stopped meanwhile).
burst() {
    ip netns exec "$NS_C" "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[1])):
    try: s.sendto(b"y" * 64, ("10.10.2.2", 9))
    except OSError: pass
' "$1"
}
# stalled_burst OUT [N]: a report whose interval holds a burst of N (default BURST) datagrams
# sent while every worker is stopped.
stalled_burst() {
    local pids
    pids=$(worker_pids)
    report 2 > "$1" &
    local rep=$!
    sleep 0.3
    # shellcheck disable=SC2086
    kill -STOP $pids
    burst "${2:-$BURST}"
    sleep "$STOP_S"
    # shellcheck disable=SC2086
    kill -CONT $pids
    wait "$rep"
}

lab_begin --queues 2

# --- idle
report 1 > "$TMP/idle.json"
busiest=$(field "$TMP/idle.json" 'max((q["busy_share"] or 0) for q in r["queues"])')
if "$PY" -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 0.05 else 1)" "$busiest"; then
    ok "idle: every worker at most 5 % busy (busiest $busiest)"
else
    notok "idle busy share" "busiest worker $busiest"
fi
if [[ "$(field "$TMP/idle.json" 'r["verdict"]')" == "scaling: idle" && "$(field "$TMP/idle.json" 'set(q["limit"] for q in r["queues"]) == {"idle"} and r["advice"] == [] and r["schema"] == 1')" == True ]]; then
    ok "idle: verdict 'scaling: idle', every queue idle, no advice, schema 1"
else
    notok "idle report" "$(cat "$TMP/idle.json")"
fi

# --- elephant
flood "$FLOOD_S" &
BG_PIDS+=("$!")
FLOOD=$!
sleep 0.5
report "$REPORT_S" > "$TMP/elephant.json"
wait "$FLOOD"
HEAVY=$(field "$TMP/elephant.json" 'max(r["queues"], key=lambda q: q["packet_share"])["queue"]')
info "elephant: $(field "$TMP/elephant.json" '[(q["queue"], round(q["pps"]), round(q["packet_share"], 3), q["flows"], round(q["busy_share"] or 0, 3), q["limit"]) for q in r["queues"]]')"
if [[ "$(field "$TMP/elephant.json" "[q for q in r['queues'] if q['queue'] == $HEAVY][0]['limit']")" == imbalance ]]; then
    ok "elephant: queue $HEAVY (every packet, one flow) is imbalanced"
else
    notok "elephant limit" "$(cat "$TMP/elephant.json")"
fi
if [[ "$(field "$TMP/elephant.json" 'any(a["rule"] == "imbalance" and a["knob"] == "ethtool -X fw0 weight" for a in r["advice"])')" == True ]]; then
    ok "elephant: advice names ethtool -X fw0 weight ($(field "$TMP/elephant.json" '[a["value"] for a in r["advice"] if a["knob"] == "ethtool -X fw0 weight"][0]'))"
else
    notok "elephant advice" "$(field "$TMP/elephant.json" 'r["advice"]')"
fi

# --- cpu: the elephant's worker held to 1 % of a CPU by a cgroup's quota (v2 or v1)
PID_HEAVY=$("$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c "import json,sys; print([w['pid'] for w in json.load(sys.stdin)['workers'] if w['queue'] == $HEAVY][0])")
CG="" ROOT_CG=""
if [[ -f "$CGROUP/cgroup.subtree_control" ]] && grep -qw cpu "$CGROUP/cgroup.subtree_control"; then
    CG="$CGROUP/xpf-scaling-$PREFIX" ROOT_CG="$CGROUP"
    mkdir "$CG" && echo "$QUOTA_US $PERIOD_US" > "$CG/cpu.max"
elif [[ -f "$CGROUP/cpu/cpu.cfs_quota_us" ]]; then
    CG="$CGROUP/cpu/xpf-scaling-$PREFIX" ROOT_CG="$CGROUP/cpu"
    mkdir "$CG" && echo "$PERIOD_US" > "$CG/cpu.cfs_period_us" && echo "$QUOTA_US" > "$CG/cpu.cfs_quota_us"
fi
if [[ -n "$CG" ]]; then
    echo "$PID_HEAVY" > "$CG/cgroup.procs"
    flood "$FLOOD_S" &
    BG_PIDS+=("$!")
    FLOOD=$!
    sleep 0.5
    report "$REPORT_S" > "$TMP/cpu.json"
    wait "$FLOOD"
    echo "$PID_HEAVY" > "$ROOT_CG/cgroup.procs"
    rmdir "$CG"
    heavy="[q for q in r['queues'] if q['queue'] == $HEAVY][0]"
    info "cpu: queue $HEAVY: $(field "$TMP/cpu.json" "$heavy")"
    if [[ "$(field "$TMP/cpu.json" "$heavy['limit']")" == cpu ]]; then
        ok "cpu: the throttled worker is cpu-bound (busy $(field "$TMP/cpu.json" "round($heavy['busy_share'], 3)"), vectors $(field "$TMP/cpu.json" "round($heavy['vector_size'], 1)"))"
    else
        notok "cpu limit" "$(field "$TMP/cpu.json" "$heavy")"
    fi
    if [[ "$(field "$TMP/cpu.json" "$heavy['busy_share'] >= 0.9")" == True ]]; then
        ok "accounting: a worker driven beyond its CPU reports at least 90 % busy"
    else
        notok "busy share at full rate" "$(field "$TMP/cpu.json" "$heavy")"
    fi
    if [[ "$(field "$TMP/cpu.json" 'any(a["knob"] == "ethtool -X fw0 weight" for a in r["advice"]) and any(a["knob"] == "system dataplane batch-size" and a["value"] == "128" for a in r["advice"]) and not any(a["knob"] in ("system dataplane queues", "cores") for a in r["advice"])')" == True ]]; then
        ok "cpu: advice steers the other flows away and raises batch-size to 128, not more queues (one flow)"
    else
        notok "cpu advice" "$(field "$TMP/cpu.json" 'r["advice"]')"
    fi
else
    echo "# skipped - cpu-bound: no cgroup CPU controller at $CGROUP to hold a worker to a share of a CPU"
fi

# --- the queue count is fixed while xpfd runs: a commit that changes it is refused, saying why
{ cat "$REPO/config/xpf.conf"; echo "system { dataplane { queues 1; } }"; } > "$TMP/queues.conf"
GEN=$("$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
reply=$(ctl commit "$TMP/queues.conf" 2>&1 || true)
GEN2=$("$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
if [[ "$reply" == *"changing queues (all → 1): each queue's worker owns a UMEM slice and a session partition"*"requires restarting xpfd; nothing was committed"* && "$GEN2" == "$GEN" ]]; then
    ok "queues by commit: refused with the reason, generation $GEN kept"
else
    notok "queues by commit" "generation $GEN -> $GEN2: $reply"
fi

# --- tiny UMEM, then tiny RX ring: restarts of xpfd with each setting
# restart_with "STATEMENT; …": xpfd restarted with the lab configuration whose `system
# dataplane` statements of those names (config/xpf.conf writes batch-size) give way to these.
restart_with() {
    "$PY" -c '
import re, sys
text, extra = open(sys.argv[1]).read(), sys.argv[2]
for name in re.findall(r"([a-z-]+) [^;]+;", extra):
    text = re.sub(r"\n\s*%s [^;]+;" % re.escape(name), "", text)
print(text + "system { dataplane { %s } }" % extra)
' "$REPO/config/xpf.conf" "$1" > "$TMP/ring.conf"
    "$LAB" stop --prefix "$PREFIX" | sed 's/^/# /'
    "$LAB" start --prefix "$PREFIX" --config "$TMP/ring.conf" | sed 's/^/# /'
}
restart_with "rx-ring 64; tx-ring 64; umem-frames 256;"
stalled_burst "$TMP/umem.json"
info "tiny rings: $(field "$TMP/umem.json" '[(q["queue"], q["fill_ring_empty"], q["rx_ring_full"], q["limit"]) for q in r["queues"]]')"
if [[ "$(field "$TMP/umem.json" 'any(q["limit"] == "umem" and q["fill_ring_empty"] > 0 for q in r["queues"])')" == True &&
      "$(field "$TMP/umem.json" 'sorted((a["knob"], a["value"]) for a in r["advice"] if a["rule"] == "umem") == [("system dataplane rx-ring", "128"), ("system dataplane umem-frames", "512")]')" == True ]]; then
    ok "tiny rings: the fill ring ran empty, advice rx-ring 128 with umem-frames 512"
else
    notok "tiny rings" "$(cat "$TMP/umem.json")"
fi
restart_with "rx-ring 64;"
stalled_burst "$TMP/ring.json"
info "tiny RX ring: $(field "$TMP/ring.json" '[(q["queue"], q["fill_ring_empty"], q["rx_ring_full"], q["limit"]) for q in r["queues"]]')"
if [[ "$(field "$TMP/ring.json" 'any(q["limit"] == "umem" for q in r["queues"]) and sorted((a["knob"], a["value"]) for a in r["advice"]) == [("system dataplane rx-ring", "128")]')" == True ]]; then
    ok "tiny RX ring: the 64-frame fill ring ran empty, advice rx-ring 128 alone"
else
    notok "tiny RX ring" "$(cat "$TMP/ring.json")"
fi
restart_with "tx-ring 64; batch-size 256;"
stalled_burst "$TMP/tx.json" 1000
info "tiny TX ring: $(field "$TMP/tx.json" '[(q["queue"], q["tx_full"], q["fill_ring_empty"], round(q["vector_size"], 1), q["limit"]) for q in r["queues"]]')"
if [[ "$(field "$TMP/tx.json" 'any(q["limit"] == "tx" and q["tx_full"] > 0 for q in r["queues"]) and sorted((a["knob"], a["value"]) for a in r["advice"] if a["rule"] == "tx") == [("system dataplane tx-ring", "128")]')" == True ]]; then
    ok "tiny TX ring: batches of 256 overflowed the 64-entry TX ring, advice tx-ring 128"
else
    notok "tiny TX ring" "$(cat "$TMP/tx.json")"
fi
