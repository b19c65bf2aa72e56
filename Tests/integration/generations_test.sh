#!/usr/bin/env bash
# Generations under load (issue 3, R-1.5): while a steady UDP stream crosses xpf, commit
# 20 new configuration generations. Every commit must reach every live worker within
# 100 ms (measured by xpfd from publish to the last worker's acknowledgement and
# printed), no datagram that both configurations permit may be lost, and the four
# snapshot slots must be reused without a commit failing.
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Tests/integration/lib.sh"

COMMITS=20
RATE=2000          # datagrams per second
SECONDS_STREAM=6
SWITCH_BUDGET_MS=100

lab_begin --queues 2

# Two configurations that differ only in a knob the workers read (udp-timeout).
CONF_A="$REPO/config/xpf.conf"
CONF_B="$TMP/xpf-b.conf"
sed 's/udp-timeout 60;/udp-timeout 61;/' "$CONF_A" > "$CONF_B"
grep -q 'udp-timeout 61;' "$CONF_B" || { notok "setup" "could not derive a second configuration"; exit 1; }

cat > "$TMP/recv.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
s.bind(("0.0.0.0", 6000)); s.settimeout(3.0)
seen = set()
try:
    while True:
        d, _ = s.recvfrom(2048)
        seen.add(int.from_bytes(d[:4], "big"))
except socket.timeout:
    pass
open(sys.argv[1], "w").write(str(len(seen)))
PY
cat > "$TMP/send.py" <<'PY'
import socket, sys, time
n, rate = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t0 = time.monotonic()
for i in range(n):
    s.sendto(i.to_bytes(4, "big") + b"x" * 60, ("10.10.2.2", 6000))
    delay = t0 + (i + 1) / rate - time.monotonic()
    if delay > 0: time.sleep(delay)
print(n)
PY

# Warm up the path (ARP/ND) so the measured stream starts on a resolved neighbour.
ip netns exec "$NS_C" ping -c 2 -W 1 10.10.2.2 >/dev/null || true

TOTAL=$((RATE * SECONDS_STREAM))
ip netns exec "$NS_S" "$PY" "$TMP/recv.py" "$TMP/received" & BG_PIDS+=($!)
RECV_PID=$!
sleep 0.3
ip netns exec "$NS_C" "$PY" "$TMP/send.py" "$TOTAL" "$RATE" > "$TMP/sent" & BG_PIDS+=($!)
SEND_PID=$!
sleep 0.5

worst=0
failed_commits=0
for i in $(seq 1 "$COMMITS"); do
    conf=$CONF_A; ((i % 2)) && conf=$CONF_B
    reply=$("$XPFCTL" commit "$conf" --state-dir "$STATE" 2>&1) || true
    if [[ "$reply" =~ all\ ([0-9]+)\ workers\ switched\ in\ ([0-9]+)\.([0-9])\ ms ]]; then
        ms10=$((10#${BASH_REMATCH[2]} * 10 + 10#${BASH_REMATCH[3]}))
        ((ms10 > worst)) && worst=$ms10
    else
        failed_commits=$((failed_commits + 1))
        info "commit $i: $reply"
    fi
    sleep 0.2
done
wait "$SEND_PID" || true
wait "$RECV_PID" || true
sent=$(cat "$TMP/sent" 2>/dev/null || echo 0)
received=$(cat "$TMP/received" 2>/dev/null || echo 0)

info "generation switch: worst of $COMMITS commits $((worst / 10)).$((worst % 10)) ms (budget $SWITCH_BUDGET_MS ms)"
info "stream: sent $sent, received $received during $COMMITS commits"
if ((failed_commits == 0)); then ok "all $COMMITS commits published while traffic flowed (slots reused)"; else notok "commits" "$failed_commits of $COMMITS did not report every worker switched"; fi
if ((failed_commits == 0 && worst < SWITCH_BUDGET_MS * 10)); then ok "every worker ran each new generation within $SWITCH_BUDGET_MS ms (worst $((worst / 10)).$((worst % 10)) ms)"; else notok "switch latency" "worst $((worst / 10)).$((worst % 10)) ms"; fi
if ((sent == TOTAL && received == sent)); then ok "no datagram lost across commits ($received/$sent)"; else notok "loss" "sent $sent of $TOTAL, received $received"; fi

gen_json=$("$XPFTOP" --state-dir "$STATE" --json --interval 0.2)
want=$((COMMITS + 1))
if "$PY" - "$gen_json" "$want" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); want = int(sys.argv[2])
ok = d["generation"] == want and all(w["generation"] == want for w in d["workers"] if w["state"] == "running")
sys.exit(0 if ok else 1)
PY
then ok "xpf-top shows generation $want on every worker"; else notok "generation" "xpf-top: $gen_json"; fi

# Per-interface counters: the stream entered on fw0 and left on fw1, and the per-interface
# figures add up to the workers' totals.
if "$PY" - "$gen_json" "$sent" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); sent = int(sys.argv[2])
ifs = {i["name"]: i for i in d["interfaces"]}
rx = sum(i["rx_packets"] for i in d["interfaces"]); tx = sum(i["tx_packets"] for i in d["interfaces"])
ok = (ifs["fw0"]["rx_packets"] >= sent and ifs["fw1"]["tx_packets"] >= sent
      and rx == d["totals"]["rx_packets"] and tx == d["totals"]["tx_packets"]
      and all(len(w["rings"]) == 2 for w in d["workers"]) and d["rx_ring_size"] > 0)
sys.exit(0 if ok else 1)
PY
then ok "per-interface counters: fw0 received and fw1 sent the stream; they add up to the totals"; else notok "per-interface counters" "$gen_json"; fi
