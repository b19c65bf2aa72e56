#!/usr/bin/env bash
# The lab against AddressSanitizer builds of xpfd and xpf-worker (issue 7): real traffic
# (ping v4/v6, a TCP transfer, UDP), a commit (and a /metrics scrape), a worker killed with -9 and restarted, more
# traffic, then an orderly stop. Every process writes its sanitizer reports to a file
# (ASAN_OPTIONS log_path, inherited by the workers xpfd spawns); any report fails the run.
#
#   XPF_BIN=DIR Tests/sanitizers/asan_lab.sh     (DIR: a `--sanitize=address` build)
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
[[ -n "${XPF_BIN:-}" ]] || { echo "asan_lab: set XPF_BIN to a --sanitize=address build" >&2; exit 2; }
REPORTS=$(mktemp -d /tmp/xpf-asan.XXXXXX)
# detect_leaks: xpfd exits through its teardown at SIGTERM; workers killed by -9 report nothing.
export ASAN_OPTIONS="log_path=$REPORTS/report:detect_leaks=1:abort_on_error=0:halt_on_error=1"
source "$REPO/Tests/integration/lib.sh"

# grep -c reads all of nm's output (grep -q would close the pipe early: SIGPIPE under pipefail).
is_asan() { [[ $(nm "$1" 2>/dev/null | grep -c __asan_init) -gt 0 ]]; }
if is_asan "$BIN/xpfd" && is_asan "$BIN/xpf-worker"; then
    ok "xpfd and xpf-worker are AddressSanitizer builds"
else
    notok "ASan build" "$BIN/xpfd or xpf-worker lacks __asan_init"
fi

lab_begin --queues 2
if ip netns exec "$NS_C" ping -c 3 -i 0.2 -W 2 10.10.2.2 >/dev/null; then ok "ping v4 through ASan xpf"; else notok "ping v4" "no reply"; fi
if ip netns exec "$NS_C" ping -6 -c 3 -i 0.2 -W 2 fd00:2::2 >/dev/null; then ok "ping v6"; else notok "ping v6" "no reply"; fi
out=$(ip netns exec "$NS_C" ping -c 1 -W 2 -t 1 10.10.2.2 2>&1 || true)
if grep -q "From 10.10.1.1 .*Time to live exceeded" <<<"$out"; then
    ok "TTL 1 answered (ICMP error built in place)"; else notok "time exceeded" "$out"; fi

tcp_transfer() { # label
    ip netns exec "$NS_S" socat -u TCP-LISTEN:5201,reuseaddr OPEN:"$TMP/recv",creat,trunc &
    local srv=$!
    sleep 0.3
    head -c 2000000 /dev/urandom >"$TMP/send"
    if timeout 20 ip netns exec "$NS_C" socat -u OPEN:"$TMP/send" TCP:10.10.2.2:5201,connect-timeout=5 \
        && wait "$srv" && cmp -s "$TMP/send" "$TMP/recv"; then
        ok "$1: 2 MB over TCP arrive intact"
    else
        kill "$srv" 2>/dev/null || true
        notok "$1" "TCP transfer failed"
    fi
}
tcp_transfer "before the commit"

# The commit also starts /metrics: its server threads (xpfd only) run under ASan too.
METRICS_PORT=9464   # the lab's own namespace: a fixed port cannot collide
conf="$TMP/commit.conf"
{ sed 's/udp-timeout [0-9]*;/udp-timeout 45;/' "${CONFIG:-$REPO/config/xpf.conf}"
  echo "system { services { prometheus { listen 127.0.0.1:$METRICS_PORT; } } }"; } >"$conf"
if "$XPFCTL" commit "$conf" --state-dir "$STATE" >"$TMP/commit.out" 2>&1; then ok "commit"; else notok "commit" "$(cat "$TMP/commit.out")"; fi
scraped=0
for _ in $(seq 1 50); do  # the listener comes up on the metrics task: bounded wait
    if ip netns exec "$NS_FW" curl -sS --max-time 5 -o "$TMP/metrics" "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null \
        && grep -q '^xpf_worker_rx_packets_total{queue="0"} [1-9]' "$TMP/metrics"; then scraped=1; break; fi
    sleep 0.1
done
if ((scraped)); then ok "/metrics served by the ASan xpfd (rx packets counted)"; else notok "/metrics" "no scrape with rx packets"; fi

victim=$("$XPFTOP" --state-dir "$STATE" --once --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["workers"][0]["pid"])')
kill -KILL "$victim"
restarted=0
for _ in $(seq 1 50); do
    sleep 0.1
    now=$("$XPFTOP" --state-dir "$STATE" --once --json 2>/dev/null | "$PY" -c '
import json, sys
w = json.load(sys.stdin)["workers"][0]
print(w["pid"] if w["state"] == "running" else 0)' 2>/dev/null || echo 0)
    if [[ "$now" != 0 && "$now" != "$victim" ]]; then restarted=1; break; fi
done
if ((restarted)); then ok "worker killed with -9 is restarted"; else notok "restart" "queue 0 has no new running worker"; fi
tcp_transfer "after the worker restart"
if ip netns exec "$NS_C" ping -c 3 -i 0.2 -W 2 10.10.2.2 >/dev/null; then ok "ping after the restart"; else notok "ping after restart" "no reply"; fi

"$LAB" stop --prefix "$PREFIX" 2>&1 | sed 's/^/# /'
if ls "$REPORTS"/report* >/dev/null 2>&1; then
    notok "no sanitizer report" "$(ls "$REPORTS")"
    for f in "$REPORTS"/report*; do echo "# --- $f"; head -n 40 "$f" | sed 's/^/# /'; done
else
    ok "no AddressSanitizer or LeakSanitizer report from xpfd or any worker"
fi
rm -rf "$REPORTS"
