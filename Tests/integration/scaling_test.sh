#!/usr/bin/env bash
# Worker saturation accounting and `xpfctl show dataplane scaling` in the lab (issue 11 §1,
# §2; R-12.1): each rule of advice driven by its condition, the report read as JSON.
#   idle         no traffic: every worker reports loop time (a busy share for every queue)
#                and its loop time over an interval is that interval; every worker ≤ 5 %
#                busy, every queue idle, no advice;
#   elephant     one UDP flow (10.10.1.2:40000 → 10.10.2.2:9) at 20 000 datagrams/s, the
#                report begun once packets flow: its queue carries every packet from one
#                flow — imbalance, advice an ntuple rule pinning that flow to its queue on
#                fw0 (`ethtool -N fw0 flow-type udp4 … action Q`) and RSS weight 0 for Q;
#   cpu-wait     the same flow through fw0's per-packet filter of 1 000 terms, its worker
#                held to 0.4 % of a CPU (1 ms per 250 ms, a cgroup's CPU quota, v2 cpu.max
#                or v1 cpu.cfs_quota_us; far less than the flow needs), the report begun once
#                the kernel drops for its full RX ring (the backlog built): the worker waits
#                for a CPU ≥ 90 % of the interval (schedstat) — cpu-wait, whatever its loop
#                clock says; the one advice is the quota's file and the value that lifts it
#                (skipped, and said so, without a cgroup CPU controller); the cgroup is
#                removed on every exit;
#   cpu          the filter still on, no quota: one flow of the same 5-tuple from xpf-gen
#                (AF_XDP, ~1 M frames/s, pinned to the CPU the worker is not on) into the
#                elephant's queue — the worker is ≥ 90 % busy with full vectors and waits
#                < 25 % for a CPU: cpu-bound; its advice is still the elephant's (another
#                queue would not split the flow) and batch-size, not more queues;
#   tiny rings   rx-ring 64, tx-ring 64 and the least UMEM xpfd takes for them (256 frames):
#                the workers and xpfd stopped (SIGSTOP; xpfd too, so its watchdog cannot
#                kill the stopped workers) while a burst arrives, so the kernel finds the
#                fill ring (the RX ring's size) empty — umem, advice `system dataplane rx-ring
#                128` with the UMEM that ring needs, `umem-frames 512`;
#   tiny RX ring rx-ring 64 alone (the default UMEM is ample): the same burst — advice
#                `system dataplane rx-ring 128` and no UMEM change;
#   tiny TX ring tx-ring 64 with batch-size 256: a burst of 1 000 (within the 2 048-frame
#                fill ring) taken by the restarted workers in batches of 256, which a
#                64-entry TX ring cannot take — tx (tx_full drops), advice `tx-ring 128`.
# And a queue count beyond the 2 queues the shared memory is laid out for (issue 11 §6: a
# commit changes it within max-queues, queues_test.sh) is refused with the fix, nothing committed.
# The two ring settings need an xpfd restart each (restart-only knobs). Prints ok/not ok
# lines and "N passed, N failed".
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Tests/integration/lib.sh"

FLOOD_S=10          # seconds of the elephant flow: the wait for packets (≤ 5 s), then the report
FLOOD_PPS=20000     # its rate: far above the report's 1 000 pps floor, far below a worker's
REPORT_S=2          # the report's interval, inside the flood
SLOW_TERMS=1000     # terms of the cpu case's per-packet filter (host-bound filters allow 1 024)
BURST=3000          # datagrams sent while the workers are stopped
STOP_S=0.5          # how long they are stopped (xpfd with them: no watchdog)
STALL_REPORT_S=6    # the stalled burst's report: stop, burst, continue, the backlog taken
GEN_S=4             # seconds xpf-gen sends in the cpu case: the wait for packets, then the report
CGROUP=/sys/fs/cgroup
QUOTA_US=1000       # CPU quota of the throttled worker per
PERIOD_US=250000    # period: 0.4 % of a CPU, ~4 ms a second — a fraction of what 20 000
                    # datagrams a second need at any per-packet cost above 0.2 µs
WAIT_TRIES=50       # 50 x 0.1 s: the bound of every wait for counters to move

ctl() { "$XPFCTL" "$@" --state-dir "$STATE"; }
report() { ctl show dataplane scaling --interval "$1" --json; }
# field FILE EXPR: a Python expression over the report `r`.
field() { "$PY" -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }
worker_pids() { "$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c 'import json,sys; print(" ".join(str(w["pid"]) for w in json.load(sys.stdin)["workers"]))'; }
supervisor_pid() { "$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["supervisor_pid"])'; }
# top EXPR: a Python expression over one xpf-top --json reading `j`.
top() { "$XPFTOP" --state-dir "$STATE" --json --interval 0.1 | "$PY" -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
# start_flood: the elephant flow in the background, and a bounded wait until the workers
# have taken some of it (their rx_packets moved; a throttled worker publishes only when it
# runs, so no rate is asked for) — the report begins on a flowing flood.
start_flood() {
    local before
    before=$(top 'sum(w["rx_packets"] for w in j["workers"])')
    flood "$FLOOD_S" &
    FLOOD=$!
    BG_PIDS+=("$FLOOD")
    wait_moved rx_packets "$before" || { notok "$1: packets flow" "the workers took no packet of the flood within the bound"; return 1; }
}
# wait_behind: bounded wait until the kernel dropped a packet for a full RX ring — a worker
# is behind: its backlog has built, the report's interval starts saturated.
wait_behind() {
    local i before
    before=$(top "sum(r['xsk_rx_ring_full'] for w in j['workers'] for r in w['rings'])")
    for ((i = 0; i < WAIT_TRIES; i++)); do
        if (($(top "sum(r['xsk_rx_ring_full'] for w in j['workers'] for r in w['rings'])") > before)); then return 0; fi
        sleep 0.1
    done
    notok "cpu: the throttled worker falls behind" "no RX-ring-full drop within the bound"
    return 1
}
# wait_moved FIELD BEFORE: bounded wait until the workers' total FIELD passes BEFORE.
wait_moved() {
    local i
    for ((i = 0; i < WAIT_TRIES; i++)); do
        if (($(top "sum(w['$1'] for w in j['workers'])") > $2)); then return 0; fi
        sleep 0.1
    done
    return 1
}

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
# sent while every worker and xpfd are stopped (xpfd too: its watchdog would kill a worker
# whose heartbeat is 2 s old). A few datagrams first, until the workers forward them (the
# neighbour resolved after xpfd's restart); after the stop, a bounded wait until the workers
# took the backlog, inside the report's interval (long: the counts decide, not rates).
stalled_burst() {
    local pids before
    before=$(top 'sum(w["tx_packets"] for w in j["workers"])')
    burst 10
    wait_moved tx_packets "$before" || { notok "stalled burst" "the workers forward nothing before the stop"; return 1; }
    pids="$(worker_pids) $(supervisor_pid)"
    before=$(top 'sum(w["rx_packets"] for w in j["workers"])')
    report "$STALL_REPORT_S" > "$1" &
    local rep=$!
    sleep 0.3
    # shellcheck disable=SC2086
    kill -STOP $pids
    burst "${2:-$BURST}"
    sleep "$STOP_S"
    # shellcheck disable=SC2086
    kill -CONT $pids
    if ! wait_moved rx_packets "$before"; then notok "stalled burst" "the workers took nothing of the backlog within the bound"; fi
    wait "$rep"
}

lab_begin --queues 2

# --- idle
report 1 > "$TMP/idle.json"
if [[ "$(field "$TMP/idle.json" 'all(q["busy_share"] is not None for q in r["queues"])')" == True ]]; then
    ok "idle: every queue has a busy share (its worker reports loop time)"
else
    notok "idle: loop time" "$(cat "$TMP/idle.json")"
fi
# Loop time over a measured wall interval: each worker's busy + idle + spin grows by the
# interval (within a poll timeout and a publication at each end, and the tools' start-up).
"$PY" - "$XPFTOP" "$STATE" > "$TMP/loop.txt" <<'PY'
import json, subprocess, sys, time
def reading():
    out = subprocess.run([sys.argv[1], "--state-dir", sys.argv[2], "--json", "--interval", "0.05"], capture_output=True, check=True).stdout
    t = time.monotonic()
    return t, {w["queue"]: w["loop_busy_ns"] + w["loop_idle_ns"] + w["loop_spin_ns"] for w in json.loads(out)["workers"]}
t0, a = reading()
time.sleep(3)
t1, b = reading()
wall = (t1 - t0) * 1e9
print(" ".join("%d:%.3f" % (q, (b[q] - a[q]) / wall) for q in sorted(b)))
PY
loop_ratio=$(cat "$TMP/loop.txt")
if "$PY" -c "import sys; sys.exit(0 if all(0.8 <= float(x.split(':')[1]) <= 1.2 for x in sys.argv[1].split()) else 1)" "$loop_ratio"; then
    ok "idle: each worker's loop time over 3 s is the wall time (queue:ratio $loop_ratio)"
else
    notok "idle: loop time against wall time" "queue:ratio $loop_ratio"
fi
busiest=$(field "$TMP/idle.json" 'max(q["busy_share"] for q in r["queues"])')
if "$PY" -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 0.05 else 1)" "$busiest"; then
    ok "idle: every worker at most 5 % busy (busiest $busiest)"
else
    notok "idle busy share" "busiest worker $busiest"
fi
if [[ "$(field "$TMP/idle.json" 'r["verdict"]')" == "scaling: idle" && "$(field "$TMP/idle.json" 'set(q["limit"] for q in r["queues"]) == {"idle"} and r["advice"] == [] and r["schema"] == 2')" == True ]]; then
    ok "idle: verdict 'scaling: idle', every queue idle, no advice, schema 2"
else
    notok "idle report" "$(cat "$TMP/idle.json")"
fi

# --- elephant
start_flood elephant
report "$REPORT_S" > "$TMP/elephant.json"
wait "$FLOOD"
HEAVY=$(field "$TMP/elephant.json" 'max(r["queues"], key=lambda q: q["packet_share"])["queue"]')
info "elephant: $(field "$TMP/elephant.json" '[(q["queue"], round(q["pps"]), round(q["packet_share"], 3), q["flows"], round(q["busy_share"] or 0, 3), q["limit"]) for q in r["queues"]]')"
if [[ "$(field "$TMP/elephant.json" "[q for q in r['queues'] if q['queue'] == $HEAVY][0]['limit']")" == imbalance ]]; then
    ok "elephant: queue $HEAVY (every packet, one flow) is imbalanced"
else
    notok "elephant limit" "$(cat "$TMP/elephant.json")"
fi
# The advice: pin the lab's elephant to its queue on fw0, weight 0 for that queue, nothing
# for fw1 (it receives none of the flow).
ELEPHANT_ADVICE="sorted((a['knob'], a['value']) for a in r['advice'] if a['rule'] == 'imbalance') == sorted([
    ('ethtool -N fw0', 'flow-type udp4 src-ip 10.10.1.2 dst-ip 10.10.2.2 src-port 40000 dst-port 9 action $HEAVY'),
    ('ethtool -X fw0 weight', ' '.join('0' if q['queue'] == $HEAVY else '1' for q in r['queues']))])"
if [[ "$(field "$TMP/elephant.json" "$ELEPHANT_ADVICE")" == True ]]; then
    ok "elephant: advice pins UDP 10.10.1.2:40000 → 10.10.2.2:9 to queue $HEAVY on fw0 (ethtool -N) with weight 0 for it (ethtool -X), fw0 only"
else
    notok "elephant advice" "$(field "$TMP/elephant.json" 'r["advice"]')"
fi

# --- cpu-wait: the elephant's worker held to 0.4 % of a CPU by a cgroup's quota (v2 or v1)
PID_HEAVY=$("$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c "import json,sys; print([w['pid'] for w in json.load(sys.stdin)['workers'] if w['queue'] == $HEAVY][0])")
CORE_HEAVY=$("$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c "import json,sys; print([w['core'] for w in json.load(sys.stdin)['workers'] if w['queue'] == $HEAVY][0])")
CG="" ROOT_CG="" QUOTA_FILE="" UNLIMITED=""
# cg_remove: the throttled cgroup's processes back to the root, the cgroup removed; the EXIT
# trap runs it before the lab's teardown, whatever ends the suite.
cg_remove() {
    [[ -n "$CG" && -d "$CG" ]] || return 0
    local p
    while read -r p; do echo "$p" > "$ROOT_CG/cgroup.procs" 2>/dev/null || true; done < "$CG/cgroup.procs"
    rmdir "$CG" 2>/dev/null || true
}
trap 'rc=$?; set +e; cg_remove; (exit "$rc"); lab_cleanup' EXIT  # set +e: under errexit a failing (exit $rc) would end the trap before the lab is torn down
if [[ -f "$CGROUP/cgroup.subtree_control" ]] && grep -qw cpu "$CGROUP/cgroup.subtree_control"; then
    CG="$CGROUP/xpf-scaling-$PREFIX" ROOT_CG="$CGROUP" QUOTA_FILE="$CGROUP/xpf-scaling-$PREFIX/cpu.max" UNLIMITED=max
    mkdir "$CG" && echo "$QUOTA_US $PERIOD_US" > "$CG/cpu.max"
elif [[ -f "$CGROUP/cpu/cpu.cfs_quota_us" ]]; then
    CG="$CGROUP/cpu/xpf-scaling-$PREFIX" ROOT_CG="$CGROUP/cpu" QUOTA_FILE="$CGROUP/cpu/xpf-scaling-$PREFIX/cpu.cfs_quota_us" UNLIMITED=-1
    mkdir "$CG" && echo "$PERIOD_US" > "$CG/cpu.cfs_period_us" && echo "$QUOTA_US" > "$CG/cpu.cfs_quota_us"
fi
# Per-packet work: fw0's input filter of SLOW_TERMS terms with a DSCP condition (so evaluated
# on every packet, never memoized) that the flood never meets, then accept (~50 µs a packet
# here): the throttled worker takes a few dozen packets per 1 ms slice of its quota, and an
# unthrottled one at most ~20 000 a second.
"$PY" -c '
import sys
n = int(sys.argv[2])
terms = "".join("term t%d { from { dscp ef; protocol tcp; destination-port %d; } then discard; }\n" % (i, 1000 + i) for i in range(n))
print(open(sys.argv[1]).read() + "firewall { family inet { filter slow { %s term rest { then accept; } } } }\n"
      "interfaces { fw0 { unit 0 { family inet { filter { input slow; } } } } }" % terms)
' "$REPO/config/xpf.conf" "$SLOW_TERMS" > "$TMP/slow.conf"
ctl commit "$TMP/slow.conf" | sed 's/^/# /'
heavy="[q for q in r['queues'] if q['queue'] == $HEAVY][0]"
if [[ -n "$CG" ]]; then
    echo "$PID_HEAVY" > "$CG/cgroup.procs"
    start_flood cpu-wait
    # Behind before the report begins: the kernel dropped for its full RX ring.
    if wait_behind; then ok "cpu-wait: the throttled worker is behind (the kernel drops for its full RX ring)"; fi
    report "$REPORT_S" > "$TMP/cpuwait.json"
    wait "$FLOOD"
    cg_remove
    if [[ ! -d "$CG" ]]; then ok "cpu-wait: the cgroup is removed"; else notok "cgroup" "$CG still exists"; fi
    info "cpu-wait: queue $HEAVY: $(field "$TMP/cpuwait.json" "$heavy")"
    if [[ "$(field "$TMP/cpuwait.json" "$heavy['limit'] == 'cpu-wait' and $heavy['cpu_wait_share'] >= 0.9")" == True ]]; then
        ok "cpu-wait: the throttled worker waits for a CPU $(field "$TMP/cpuwait.json" "round($heavy['cpu_wait_share'], 3)") of the interval (its loop clock: busy $(field "$TMP/cpuwait.json" "round($heavy['busy_share'], 3)"))"
    else
        notok "cpu-wait limit" "$(field "$TMP/cpuwait.json" "$heavy")"
    fi
    if [[ "$(field "$TMP/cpuwait.json" "[(a['rule'], a['knob'], a['value']) for a in r['advice']] == [('cpu-wait', '$QUOTA_FILE', '$UNLIMITED')]")" == True ]]; then
        ok "cpu-wait: the one advice lifts the cgroup's quota ($QUOTA_FILE $UNLIMITED)"
    else
        notok "cpu-wait advice" "$(field "$TMP/cpuwait.json" 'r["advice"]')"
    fi
else
    echo "# skipped - cpu-wait: no cgroup CPU controller at $CGROUP to hold a worker to a share of a CPU"
fi

# --- cpu: the same filter, no quota, xpf-gen's flow (the elephant's 5-tuple) into queue HEAVY
make -s -C "$REPO/tools/trafgen" >/dev/null
GEN_CPU=$("$PY" -c "import os; print(next((c for c in sorted(os.sched_getaffinity(0)) if c != $CORE_HEAVY), -1))")
if [[ "$GEN_CPU" -ge 0 ]]; then
    C0_MAC=$(ip netns exec "$NS_FW" cat /sys/class/net/fw0/address)
    before=$(top 'sum(w["rx_packets"] for w in j["workers"])')
    ip netns exec "$NS_C" "$REPO/tools/trafgen/build/xpf-gen" -i c0 --dst-ip 10.10.2.2 --dst-mac "$C0_MAC" --flows 1 --sport 40000 --dport 9 \
        --queue "$HEAVY" --cpu "$GEN_CPU" --duration "$GEN_S" > "$TMP/gen.out" 2>&1 &
    GEN=$!
    BG_PIDS+=("$GEN")
    if wait_moved rx_packets "$before"; then
        report "$REPORT_S" > "$TMP/cpu.json"
    else
        notok "cpu: packets flow" "the workers took no packet of xpf-gen's flow within the bound"
        echo '{"queues": [], "advice": []}' > "$TMP/cpu.json"
    fi
    wait "$GEN" || true
    info "cpu: $(tail -1 "$TMP/gen.out"); queue $HEAVY: $(field "$TMP/cpu.json" "$heavy if r['queues'] else None")"
    if [[ "$(field "$TMP/cpu.json" "r['queues'] and $heavy['limit'] == 'cpu'")" == True ]]; then
        ok "cpu: the worker is cpu-bound (busy $(field "$TMP/cpu.json" "round($heavy['busy_share'], 3)"), waits $(field "$TMP/cpu.json" "round($heavy['cpu_wait_share'], 3)"), vectors $(field "$TMP/cpu.json" "round($heavy['vector_size'], 1)"))"
    else
        notok "cpu limit" "$(cat "$TMP/cpu.json")"
    fi
    if [[ "$(field "$TMP/cpu.json" "r['queues'] and $heavy['busy_share'] >= 0.9")" == True ]]; then
        ok "accounting: a worker driven beyond its CPU reports at least 90 % busy"
    else
        notok "busy share at full rate" "$(cat "$TMP/cpu.json")"
    fi
    if [[ "$(field "$TMP/cpu.json" "$ELEPHANT_ADVICE")" == True && "$(field "$TMP/cpu.json" 'any(a["knob"] == "system dataplane batch-size" and a["value"] == "128" for a in r["advice"]) and not any(a["knob"] in ("system dataplane queues", "system dataplane max-queues", "cores") for a in r["advice"])')" == True ]]; then
        ok "cpu: advice pins the elephant, steers the other flows away and raises batch-size to 128, not more queues (one flow)"
    else
        notok "cpu advice" "$(field "$TMP/cpu.json" 'r["advice"]')"
    fi
else
    echo "# skipped - cpu: one CPU only, none left for xpf-gen beside the worker"
fi
ctl commit "$REPO/config/xpf.conf" | sed 's/^/# /'

# --- a queue count beyond the region's 2 queues: refused by commit with the fix (max-queues, a restart)
{ cat "$REPO/config/xpf.conf"; echo "system { dataplane { queues 3; } }"; } > "$TMP/queues.conf"
GEN=$("$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
reply=$(ctl commit "$TMP/queues.conf" 2>&1 || true)
GEN2=$("$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["generation"])')
if [[ "$reply" == *"system dataplane queues 3 is more than the 2 queues the shared memory is laid out for: raise system dataplane max-queues to 3 (requires restarting xpfd)"* && "$GEN2" == "$GEN" ]]; then
    ok "queues 3 by commit (the region holds 2): refused with the fix, generation $GEN kept"
else
    notok "queues 3 by commit" "generation $GEN -> $GEN2: $reply"
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
