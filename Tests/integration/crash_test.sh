#!/usr/bin/env bash
# Crash consistency of the session table in the real system (issue 7): while the client
# opens UDP flows (a new source port per datagram, 3000/s; udp- and icmp-timeout 2 s, so
# ageing removes them as fast as they come), kill -9 a random worker at a random moment,
# KILLS times. After each restart (a new worker pid RUNNING on that queue) and once more
# after the traffic stops, `xpfctl debug check sessions` must find the table consistent;
# finally ageing must empty the table (a session half-repaired by a successor would stay
# or break the check). Prints ok/not ok lines and "N passed, N failed".
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Tests/integration/lib.sh"

KILLS=12
FLOW_RATE=3000          # new flows per second
UDP_TIMEOUT_S=2
TABLE_SIZE=16384        # 8192 per worker: holds rate × (timeout + one ageing sweep)
RESTART_WAIT_S=8         # xpfd backs off up to 5 s after repeated restarts of one queue
EMPTY_WAIT_S=15         # timeout + a full ageing sweep of an idle worker, with margin

CONF="$TMP/crash.conf"
# ICMP too: the warm-up ping and the server's port unreachables make ICMP sessions.
sed -e "s/udp-timeout 60;/udp-timeout $UDP_TIMEOUT_S;/" -e "s/icmp-timeout 60;/icmp-timeout $UDP_TIMEOUT_S;/" \
    -e "s/session-table-size 65536;/session-table-size $TABLE_SIZE;/" "$REPO/config/xpf.conf" > "$CONF"
grep -q "udp-timeout $UDP_TIMEOUT_S;" "$CONF" && grep -q "icmp-timeout $UDP_TIMEOUT_S;" "$CONF" \
    && grep -q "session-table-size $TABLE_SIZE;" "$CONF" || { notok "setup" "could not derive the configuration"; exit 1; }

lab_begin --queues 2 --config "$CONF"

top_json() { timeout 5 "$XPFTOP" --state-dir "$STATE" --json --interval 0.05 2>/dev/null; }
# check [LABEL]: runs the checker, keeps its JSON in $TMP/check.json; exit status = consistent.
check() { timeout 30 "$XPFCTL" debug check sessions --state-dir "$STATE" --json > "$TMP/check.json" 2>&1; }
check_summary() {
    "$PY" - "$TMP/check.json" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    print(open(sys.argv[1]).read().strip()[:300]); sys.exit(0)
r, i = d["records"], d["index"]
print("live %d busy %d in-flight %d, slots %d tombstones %d%s" % (r["live"], r["busy"], d["in_flight"], i["used"],
      i["tombstones"], "" if d["consistent"] else "; errors: " + "; ".join(d["errors"][:3])))
PY
}
# worker_pid Q: the pid of queue Q's worker if it is RUNNING.
worker_pid() {
    top_json | "$PY" -c '
import json, sys
q = int(sys.argv[1])
for w in json.load(sys.stdin).get("workers") or []:
    if int(w.get("queue", -1)) == q and w.get("state") == "running":
        print(w["pid"]); break
else:
    sys.exit(1)' "$1"
}

cat > "$TMP/flows.py" <<'PY'
# A new UDP flow per datagram: a fresh socket gets a fresh ephemeral source port.
import signal, socket, sys, time
rate, seconds = int(sys.argv[1]), float(sys.argv[2])
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
t0 = time.monotonic()
n = 0
try:
    while time.monotonic() - t0 < seconds:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"x" * 32, ("10.10.2.2", 6000 + n % 8))
        s.close()
        n += 1
        delay = t0 + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
finally:
    print(n, flush=True)
PY

# Resolve the neighbours first so flows are forwarded, not parked.
ip netns exec "$NS_C" ping -c 2 -W 1 10.10.2.2 >/dev/null || true

ip netns exec "$NS_C" "$PY" "$TMP/flows.py" "$FLOW_RATE" 600 > "$TMP/sent" & BG_PIDS+=($!)
SENDER=$!
sleep 1

passed_kills=0
for k in $(seq 1 "$KILLS"); do
    q=$((RANDOM % 2))
    sleep "0.$((RANDOM % 9 + 1))"
    old=$(worker_pid "$q") || { notok "kill $k" "no running worker on queue $q"; continue; }
    kill -KILL "$old"
    new=""
    for ((i = 0; i < RESTART_WAIT_S * 20; i++)); do
        if p=$(worker_pid "$q") && [[ "$p" != "$old" ]]; then new=$p; break; fi
        sleep 0.05
    done
    if [[ -z "$new" ]]; then notok "kill $k" "queue $q: no new running worker ${RESTART_WAIT_S} s after kill -9 of pid $old"; continue; fi
    if check; then
        passed_kills=$((passed_kills + 1))
        info "kill $k: queue $q pid $old -> $new; $(check_summary)"
    else
        notok "kill $k: session table consistent after queue $q restarted (pid $old -> $new)" "$(check_summary)"
    fi
done
((passed_kills == KILLS)) && ok "session table consistent after each of $KILLS worker kills under flow churn"
repairs=$(grep -c "a killed predecessor left mid-operation" "$STATE/xpfd.log" 2>/dev/null || true)
info "kills that landed inside an insert or remove (the successor repaired a BUSY record): ${repairs:-0} of $KILLS"

kill -TERM "$SENDER" 2>/dev/null || true
wait "$SENDER" 2>/dev/null || true
created=$(top_json | "$PY" -c 'import json, sys; print(sum(w.get("sessions_created", 0) for w in json.load(sys.stdin)["workers"]))' 2>/dev/null || echo "?")
info "sessions created during the run: $created (sent $(cat "$TMP/sent" 2>/dev/null || echo "?") flows)"

if check; then ok "session table consistent after the traffic stopped ($(check_summary))"
else notok "final check" "$(check_summary)"; fi

empty=0
for ((i = 0; i < EMPTY_WAIT_S * 4; i++)); do
    if check && "$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d["records"]["live"] == 0 and d["records"]["busy"] == 0 else 1)' "$TMP/check.json"; then
        empty=1
        break
    fi
    sleep 0.25
done
if ((empty)); then ok "ageing emptied the table: no session leaked across $KILLS kills ($(check_summary))"
else notok "ageing" "sessions left ${EMPTY_WAIT_S} s after the traffic stopped: $(check_summary)"; fi
