#!/usr/bin/env bash
# `system dataplane queues N` by commit (issue 11 §6) in the lab: two-queue veths, xpfd
# started with `queues 1; max-queues 2` (the shared memory laid out for 2 queues, queue 1
# parked). On veth the receive queue of fw0 (fw1) is the sender's transmit queue on c0
# (s0), so `ethtool -L c0 tx N` and `ethtool -L s0 tx N` stand in for the NIC's RSS: raised
# after a commit that grows the queue count, lowered before one that shrinks it (the
# operator's procedure). Checked:
#   start       worker 0 running, queue 1 parked with no worker (show dataplane says so); the scaling report lists
#               queue 0 alone; UDP passes through worker 0 (c0 and s0 on tx 1);
#   grow        `queues 2` by commit: the reply says queue 1 started, both workers run the
#               new generation;
#   shrink      a UDP flow (100 datagrams a second, echoed by the server) whose session lies
#               in queue 1's partition goes on across `queues 1` (c0/s0 lowered to tx 1
#               first): the reply says queue 1 parked, at most MAX_LOST datagrams lost, the
#               same session (id, owner_queue 1) counts packets after the switch, queue 1
#               is parked and shows no worker pid (as a queue parked at start);
#   fail closed a datagram sent to parked queue 1 (c0 back on tx 2) is dropped by the XDP
#               program (drop_no_worker), not forwarded;
#   ageing      xpfd ages the parked partition (udp-timeout 2 by commit): its sessions go,
#               RT_FLOW_SESSION_CLOSE reason "idle Timeout" for the flow's session, queue
#               1's sessions_closed counts them;
#   clear       sessions made in queue 1's partition (queues 2 again, then 1) are swept by
#               `xpfctl clear security flow session` while it is parked;
#   refusals    `queues 3` (beyond the region's 2: raise max-queues, restart), `max-queues 4`
#               (restart-only) and `queues 2` with fw0 cut to 1 receive queue (ethtool -L
#               first) are refused, the generation and the workers unchanged.
# Every wait is bounded; prints ok/not ok lines and "N passed, N failed".
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Tests/integration/lib.sh"

ECHO_PORT=7007      # the server's UDP echo
START_PORT=40000    # the source port of the first datagram, through worker 0
PROBE_BASE=41000    # source ports probed for a session in queue 1's partition …
CLEAR_BASE=42000    # … and for the clear's sessions
PROBES=16           # ports per probe round: each lands on queue 0 or 1 by its hash (2^-16
                    # that none reaches queue 1)
PROBE_TIMEOUT_S=1   # a probe's wait for its echo
FLOW_INTERVAL_S=0.01 # the flow's datagram interval: 100 a second, so a gap at the switch
                     # of more than a few tens of milliseconds loses datagrams
FLOW_MAX_S=30       # the flow stops by itself after this, should the suite not stop it
ECHO_WAIT_S=2       # the flow's wait for its last echoes once stopped
GROWTH=50           # datagrams the flow's session must count before and after the switch
MAX_LOST=2          # datagrams the flow may lose across the switch (0 expected: RSS moved first)
AGE_TIMEOUT_S=2     # udp-timeout of the ageing commit
WAIT_TRIES=50       # 50 x 0.1 s: the bound of every wait for counters or sessions
AGE_TRIES=100       # 100 x 0.1 s: the bound of the wait for ageing (AGE_TIMEOUT_S and a sweep)

ctl() { "$XPFCTL" "$@" --state-dir "$STATE"; }
# top EXPR: a Python expression over one xpf-top --json reading `j` (w(q): queue q's worker).
top() { "$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c "import json,sys; j=json.load(sys.stdin); w=lambda q: [x for x in j['workers'] if x['queue'] == q][0]; print($1)"; }
# sess EXPR: a Python expression over the session list `ss` (by(p): the session of UDP
# source port p, or None; pk(p, d): its packets in direction d, "in" or "out", -1 if none).
sess() {
    ctl show security flow session --json | "$PY" -c "import json,sys
ss = json.load(sys.stdin)['sessions']
by = lambda p: next((s for s in ss if s['protocol'] == 'udp' and s['in']['sport'] == p), None)
pk = lambda p, d: by(p)[d]['packets'] if by(p) else -1
print($1)"
}
# wait_true CMD…: bounded wait (WAIT_TRIES, or $TRIES) until CMD prints True.
wait_true() {
    local i
    for ((i = 0; i < ${TRIES:-$WAIT_TRIES}; i++)); do
        if [[ "$("$@")" == True ]]; then return 0; fi
        sleep 0.1
    done
    return 1
}
# rss N: the client's and the server's veth ends send on N transmit queues, so fw0 and fw1
# receive on N queues (the NIC's RSS, on veth).
rss() {
    ip netns exec "$NS_C" ethtool -L c0 tx "$1"
    ip netns exec "$NS_S" ethtool -L s0 tx "$1"
}
# conf NAME DATAPLANE [SED]: config/xpf.conf (edited by SED) with `system dataplane DATAPLANE`.
conf() {
    { sed -e "${3:-}" "$REPO/config/xpf.conf"; echo "system { dataplane { $2 } }"; } > "$TMP/$1.conf"
}
# probe PORT…: one datagram from each client source port to the echo; prints the ports
# whose echo came back.
probe() {
    ip netns exec "$NS_C" "$PY" -c '
import socket, sys
for p in sys.argv[2:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.10.1.2", int(p))); s.settimeout(float(sys.argv[1]))
    s.sendto(b"probe", ("10.10.2.2", '"$ECHO_PORT"'))
    try: s.recv(100); print(p)
    except OSError: pass
    s.close()
' "$PROBE_TIMEOUT_S" "$@"
}
# commit_ok NAME WHAT: commits $TMP/NAME.conf, its reply in REPLY (printed as a comment);
# a refusal is a failure and ends the suite.
commit_ok() {
    if REPLY=$(ctl commit "$TMP/$1.conf" 2>&1); then
        info "${REPLY//$'\n'/ / }"
    else
        notok "$2" "commit refused: $REPLY"
        exit 1
    fi
}
gen() { top 'j["generation"]'; }
states() { top '" ".join("%d:%s" % (x["queue"], x["state"]) for x in j["workers"])'; }

conf q1 "queues 1; max-queues 2;"
conf q2 "queues 2; max-queues 2;"
conf age "queues 1; max-queues 2;" "s/udp-timeout 60;/udp-timeout $AGE_TIMEOUT_S;/"
conf q3 "queues 3;"
conf m4 "queues 1; max-queues 4;"
grep -q "udp-timeout $AGE_TIMEOUT_S;" "$TMP/age.conf" || { notok "ageing configuration" "config/xpf.conf has no 'udp-timeout 60;' line to shorten"; exit 1; }

lab_begin --queues 2 --config "$TMP/q1.conf"
ip netns exec "$NS_S" "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.10.2.2", int(sys.argv[1])))
while True:
    d, a = s.recvfrom(2048); s.sendto(d, a)
' "$ECHO_PORT" &
BG_PIDS+=("$!")
disown "$!"  # killed by lab_cleanup: no job notice

# --- start: queues 1 of max-queues 2
if [[ "$(states)" == "0:running 1:parked" && "$(top 'w(1)["pid"]')" == 0 ]]; then
    ok "start: worker 0 running, queue 1 parked with no worker"
else
    notok "start states" "$(states), queue 1 pid $(top 'w(1)["pid"]')"
fi
ctl show dataplane scaling --interval 1 --json > "$TMP/scaling.json"
if [[ "$("$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print([q["queue"] for q in r["queues"]], r["parked_queues"])' "$TMP/scaling.json")" == "[0] [1]" ]]; then
    ok "start: the scaling report lists queue 0 alone (no row for parked queue 1, named parked)"
else
    notok "scaling report with a parked queue" "$(cat "$TMP/scaling.json")"
fi
summary=$(ctl show dataplane summary)
if [[ "$summary" == *"queue 1: parked (beyond system dataplane queues: no worker, xpfd keeps its sessions), generation "* ]]; then
    ok "start: show dataplane summary says queue 1 is parked"
else
    notok "show dataplane summary" "$summary"
fi
rss 1
if [[ "$(probe "$START_PORT")" == "$START_PORT" ]]; then ok "start: UDP passes through worker 0 (c0, s0 on tx 1)"; else notok "UDP through worker 0" "no echo"; fi

# --- grow: queues 2 by commit
G1=$(gen)
commit_ok q2 "queues 2"
reply=$REPLY
G2=$(gen)
if [[ "$reply" == *$'\n'"queues 1 → 2: queue 1 started: worker pid "[1-9]* ]]; then ok "grow: the reply says queue 1 started, with its pid"; else notok "grow reply" "$reply"; fi
if [[ "$(states)" == "0:running 1:running" && "$G2" == $((G1 + 1)) && "$(top "all(x['generation'] == $G2 for x in j['workers'])")" == True ]]; then
    ok "grow: both workers running generation $G2"
else
    notok "grow states" "$(states), generation $G1 -> $G2, workers' $(top '[x["generation"] for x in j["workers"]]')"
fi
rss 2

# --- shrink under traffic: a flow whose session lies in queue 1's partition
probe $(seq "$PROBE_BASE" $((PROBE_BASE + PROBES - 1))) > /dev/null
SPORT=$(sess "next((s['in']['sport'] for s in ss if s['protocol'] == 'udp' and s['owner_queue'] == 1 and $PROBE_BASE <= s['in']['sport'] < $PROBE_BASE + $PROBES), '')")
if [[ -z "$SPORT" ]]; then
    notok "a session in queue 1's partition" "none of $PROBES source ports from $PROBE_BASE: $(sess '[(s["in"]["sport"], s["owner_queue"]) for s in ss]')"
    exit 1
fi
SID=$(sess "by($SPORT)['id']")
info "flow: UDP 10.10.1.2:$SPORT → 10.10.2.2:$ECHO_PORT, session $SID in queue 1's partition"
# The flow: a datagram every FLOW_INTERVAL_S carrying its sequence number until the stop
# file appears; then the echoes (distinct sequence numbers) are counted, once all came back
# or after ECHO_WAIT_S.
ip netns exec "$NS_C" "$PY" -c '
import os, socket, sys, time
port, echo, interval, limit, linger, stop, out = sys.argv[1:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.10.1.2", int(port))); s.setblocking(False)
sent, got = 0, set()
def drain():
    while True:
        try: got.add(int(s.recv(100)))
        except BlockingIOError: return
end = time.monotonic() + float(limit)
while not os.path.exists(stop) and time.monotonic() < end:
    s.sendto(b"%d" % sent, ("10.10.2.2", int(echo))); sent += 1
    time.sleep(float(interval)); drain()
end = time.monotonic() + float(linger)
while len(got) < sent and time.monotonic() < end:
    time.sleep(0.01); drain()
open(out, "w").write("%d %d\n" % (sent, len(got)))
' "$SPORT" "$ECHO_PORT" "$FLOW_INTERVAL_S" "$FLOW_MAX_S" "$ECHO_WAIT_S" "$TMP/flow.stop" "$TMP/flow.out" &
FLOW=$!
BG_PIDS+=("$FLOW")
P0=$(sess "pk($SPORT, 'in')")
wait_true sess "pk($SPORT, 'in') >= $P0 + $GROWTH" || notok "the flow runs" "session $SID counts no new packet"
rss 1
commit_ok q1 "queues 1"
reply=$REPLY
P1=$(sess "pk($SPORT, 'in')")
R1=$(sess "pk($SPORT, 'out')")
if [[ "$reply" == *$'\n'"queues 2 → 1: queue 1 parked: its worker stopped, xpfd keeps its sessions"* ]]; then
    ok "shrink: the reply says queue 1 parked, xpfd keeps its sessions"
else
    notok "shrink reply" "$reply"
fi
if wait_true sess "$P1 >= 0 and pk($SPORT, 'in') >= $P1 + $GROWTH and pk($SPORT, 'out') >= $R1 + $GROWTH"; then
    ok "shrink: session $SID counts packets both ways after the switch"
else
    notok "the session after the switch" "$(sess "by($SPORT)")"
fi
if [[ "$(sess "by($SPORT) is not None and by($SPORT)['id'] == $SID and by($SPORT)['owner_queue'] == 1")" == True ]]; then
    ok "shrink: the same session $SID, still in queue 1's partition"
else
    notok "session identity" "$(sess "by($SPORT)")"
fi
touch "$TMP/flow.stop"
wait "$FLOW" || true
read -r SENT GOT < "$TMP/flow.out" || true
LOST=$((${SENT:-0} - ${GOT:-0}))
if ((${SENT:-0} > 0 && LOST <= MAX_LOST)); then
    ok "shrink: the flow went on across the switch ($LOST of $SENT datagrams lost, at most $MAX_LOST allowed)"
else
    notok "flow across the switch" "$LOST of ${SENT:-0} datagrams lost (at most $MAX_LOST allowed)"
fi
if [[ "$(states)" == "0:running 1:parked" ]]; then ok "shrink: worker 0 running, queue 1 parked"; else notok "shrink states" "$(states)"; fi
# A parked queue has no worker: its block should not name the stopped one's pid (which
# the kernel may give to another process), as a queue parked at start names none.
if [[ "$(top 'w(1)["pid"]')" == 0 ]]; then
    ok "shrink: parked queue 1 shows no worker pid (0, as a queue parked at start)"
else
    notok "parked queue 1's pid" "$(top '{k: w(1)[k] for k in ("pid", "core", "heartbeat_age_ms", "state")}') (its stopped worker's)"
fi

# --- fail closed: a datagram sent to the parked queue is dropped, not forwarded
D0=$(top 'j["xdp"]["drop_no_worker"]')
rss 2
echoed=$(probe "$SPORT")
rss 1
D1=$(top 'j["xdp"]["drop_no_worker"]')
if [[ -z "$echoed" && "$D1" -gt "$D0" ]]; then
    ok "fail closed: a datagram for parked queue 1 is dropped by XDP (drop_no_worker $D0 -> $D1)"
else
    notok "fail closed" "echo '${echoed}', drop_no_worker $D0 -> $D1"
fi

# --- ageing of the parked partition by xpfd
K1=$(sess 'sum(1 for s in ss if s["owner_queue"] == 1)')
C0=$(top 'w(1)["sessions_closed"]')
commit_ok age "udp-timeout $AGE_TIMEOUT_S"
if TRIES=$AGE_TRIES wait_true sess 'not any(s["owner_queue"] == 1 for s in ss)'; then
    ok "ageing: xpfd aged the $K1 session(s) of parked queue 1 (udp-timeout $AGE_TIMEOUT_S)"
else
    notok "ageing" "queue 1's sessions left: $(sess '[(s["id"], s["in"]["sport"], s["idle_s"], s["timeout_s"]) for s in ss if s["owner_queue"] == 1]')"
fi
closed_event() { grep -q "RT_FLOW_SESSION_CLOSE .*reason=\"idle Timeout\" .*source-port=\"$SPORT\" .*session-id-32=\"$SID\"" "$STATE/rtflow" 2>/dev/null && echo True; }
if wait_true closed_event; then
    ok "ageing: RT_FLOW_SESSION_CLOSE reason=\"idle Timeout\" for session $SID (source port $SPORT)"
else
    notok "ageing close event" "$(grep -c RT_FLOW_SESSION_CLOSE "$STATE/rtflow" 2>/dev/null || true) close lines, none idle Timeout for session $SID (source port $SPORT)"
fi
if wait_true top "w(1)['sessions_closed'] >= $C0 + $K1"; then
    ok "ageing: queue 1's sessions_closed counts them ($C0 -> $(top 'w(1)["sessions_closed"]'))"
else
    notok "queue 1's sessions_closed" "$C0 -> $(top 'w(1)["sessions_closed"]'), $K1 aged"
fi

# --- clear: sessions made in queue 1's partition, swept while it is parked
commit_ok q2 "queues 2 again"
rss 2
probe $(seq "$CLEAR_BASE" $((CLEAR_BASE + PROBES - 1))) > /dev/null
rss 1
commit_ok q1 "queues 1 again"
reply=$REPLY
T=$(sess 'len(ss)')
K1=$(sess 'sum(1 for s in ss if s["owner_queue"] == 1)')
C0=$(top 'w(1)["sessions_closed"]')
if [[ "$reply" == *"queue 1 parked"* && "$K1" -gt 0 && "$(states)" == "0:running 1:parked" ]]; then
    ok "clear: queue 1 parked again with $K1 of $T sessions in its partition"
else
    notok "clear setup" "states $(states), $K1 of $T sessions in queue 1's partition: $reply"
fi
reply=$(ctl clear security flow session 2>&1) || true
if [[ "$reply" == "$T sessions cleared" && "$(sess 'len(ss)')" == 0 ]]; then
    ok "clear: '$reply', none left"
else
    notok "clear" "'$reply' ($T expected), left: $(sess '[(s["id"], s["owner_queue"]) for s in ss]')"
fi
if [[ "$(top "w(1)['sessions_closed'] == $C0 + $K1")" == True ]]; then
    ok "clear: queue 1's sessions_closed counts its $K1 cleared sessions"
else
    notok "clear counters" "queue 1's sessions_closed $C0 -> $(top 'w(1)["sessions_closed"]'), $K1 cleared"
fi

# --- refusals: the generation and the workers stay
# refused NAME WHAT EXPECTED: commits $TMP/NAME.conf; ok when refused with EXPECTED in the
# reply, the generation and the workers' states unchanged.
refused() {
    local g s reply
    g=$(gen)
    s=$(states)
    reply=$(ctl commit "$TMP/$1.conf" 2>&1) && notok "$2" "committed: $reply" && return
    if [[ "$reply" == *"$3"* && "$(gen)" == "$g" && "$(states)" == "$s" ]]; then
        ok "$2: refused with the fix, generation $g and workers ($s) unchanged"
    else
        notok "$2" "generation $g -> $(gen), workers $s -> $(states): $reply"
    fi
}
refused q3 "queues 3 (the region holds 2)" \
    "system dataplane queues 3 is more than the 2 queues the shared memory is laid out for: raise system dataplane max-queues to 3 (requires restarting xpfd)"
refused m4 "max-queues 4" \
    "error: changing max-queues (2 → 4): each queue has a worker block, a UMEM slice and a session partition laid out in shared memory at start — requires restarting xpfd; nothing was committed"
# fw0 down to 1 receive queue (c0 sends on 1: veth refuses fewer receive queues than the
# XDP peer's transmit queues).
if ip netns exec "$NS_FW" ethtool -L fw0 rx 1; then
    refused q2 "queues 2 with fw0 on 1 receive queue" \
        "system dataplane queues 2: interface fw0 has only 1 receive queues (ethtool -L fw0 combined 2 first)"
    ip netns exec "$NS_FW" ethtool -L fw0 rx 2
else
    notok "ethtool -L fw0 rx 1" "refused by the kernel"
fi
