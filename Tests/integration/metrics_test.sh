#!/usr/bin/env bash
# Prometheus metrics (issue 8, R-12.3): xpfd serves /metrics on `system services
# prometheus listen`. Scraped before, during and after ping, TCP and UDP traffic through
# the lab, and every scrape parsed by prometheus_client's text parser (Debian's
# python3-prometheus-client): worker counters grew by at least the traffic sent, sessions
# were created, per-interface series carry the real interface names, the generation is the
# committed one, no counter goes backwards between scrapes. Then commits: one that moves
# the port moves the listener and is counted with its duration; a port already in use is
# reported in xpfd's log, the commit still succeeds and the next one retries; an invalid
# address fails `commit check` with file:line:col; removing the statement closes the
# listener; an IPv6 address serves too. Prints ok/not ok lines and "N passed, N failed".
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Tests/integration/lib.sh"

PORT=9464       # each lab has its own namespaces, so a fixed port cannot collide
MOVED_PORT=9465
BUSY_PORT=9466
V6_PORT=9467
PINGS=30
UDP_DATAGRAMS=200
TCP_BYTES=200000
WAIT_STEPS=100  # 100 x 0.1 s: the bound of every wait for a listener to appear or go

# with_listen FILE ADDRESS: the lab configuration plus `system services prometheus listen ADDRESS`.
with_listen() {
    { cat "$REPO/config/xpf.conf"; echo "system { services { prometheus { listen $2; } } }"; } > "$1"
}
CONF="$TMP/metrics.conf"
with_listen "$CONF" "127.0.0.1:$PORT"

lab_begin --queues 2 --config "$CONF"
ctl() { "$XPFCTL" "$@" --state-dir "$STATE"; }
in_fw() { ip netns exec "$NS_FW" "$@"; }

# scrape PORT OUT: GET /metrics from inside the firewall namespace (where xpfd runs).
scrape() { in_fw curl -sS --max-time 5 -o "$2" -w '%{http_code} %{content_type}' "http://127.0.0.1:$1/metrics"; }
# serving PORT: something answers /metrics with 200 on the port.
serving() { [[ "$(scrape "$1" /dev/null 2>/dev/null)" == 200* ]]; }
# wait_serving PORT yes|no: waits (bounded) until the port serves, or no longer does.
wait_serving() {
    local i
    for ((i = 0; i < WAIT_STEPS; i++)); do
        if serving "$1"; then [[ "$2" == yes ]] && return 0; else [[ "$2" == no ]] && return 0; fi
        sleep 0.1
    done
    return 1
}
# xpfd_listens: xpfd has a listening TCP socket (any address, any port).
xpfd_listens() { in_fw ss -Hltnp | grep -q "pid=$(cat "$STATE/xpfd.pid")," ; }

if wait_serving "$PORT" yes; then ok "xpfd serves /metrics on 127.0.0.1:$PORT"; else notok "listener" "nothing on port $PORT"; fi
reply=$(scrape "$PORT" "$TMP/scrape-0.txt" || true)
if [[ "$reply" == "200 text/plain; version=0.0.4"* ]]; then ok "200, text exposition content type ($reply)"; else notok "content type" "$reply"; fi
code=$(in_fw curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/other")
if [[ "$code" == 404 ]]; then ok "only /metrics is served (/other: 404)"; else notok "other path" "$code"; fi
GEN=$("$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["generation"])')

# Traffic: ping, then one TCP transfer, then UDP datagrams. Two sequences of scrapes: a
# background scraper every 0.2 s from before the traffic until after it (scrapes that
# overlap the traffic), and this script's own before / between ping and TCP / after. Each
# sequence is ordered (one scrape at a time), so counters must not go backwards within it.
cat > "$TMP/udp.py" <<'PY'
import socket, sys
role, count = sys.argv[1], int(sys.argv[2])
if role == "server":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.10.2.2", 5001)); s.settimeout(5)
    for i in range(count):
        s.recvfrom(2048)
else:
    import time
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(count):
        c.sendto(b"m" * 200, ("10.10.2.2", 5001)); time.sleep(0.005)
PY
mkdir "$TMP/bg"
( i=0; until [[ -e "$TMP/traffic-done" ]]; do scrape "$PORT" "$TMP/bg/$i.txt" >/dev/null 2>&1 || true; i=$((i + 1)); sleep 0.2; done ) &
scraper=$!
BG_PIDS+=("$scraper")
ip netns exec "$NS_S" "$PY" "$TMP/udp.py" server "$UDP_DATAGRAMS" & usrv=$!
ip netns exec "$NS_S" socat -u TCP-LISTEN:5002,reuseaddr OPEN:/dev/null & tsrv=$!
sleep 0.3
sent_ok=1
ip netns exec "$NS_C" ping -q -c "$PINGS" -i 0.05 -W 2 10.10.2.2 >"$TMP/ping.txt" || sent_ok=0
scrape "$PORT" "$TMP/scrape-1.txt" >/dev/null || true
head -c "$TCP_BYTES" /dev/zero | ip netns exec "$NS_C" socat -u - TCP:10.10.2.2:5002,connect-timeout=3 || sent_ok=0
ip netns exec "$NS_C" "$PY" "$TMP/udp.py" client "$UDP_DATAGRAMS" || sent_ok=0
wait "$usrv" || sent_ok=0
wait "$tsrv" 2>/dev/null || true
touch "$TMP/traffic-done"
wait "$scraper" 2>/dev/null || true
if ((sent_ok)) && grep -q " 0% packet loss" "$TMP/ping.txt"; then ok "ping, TCP and UDP through xpf"; else notok "traffic" "$(cat "$TMP/ping.txt")"; fi
scrape "$PORT" "$TMP/scrape-2.txt" >/dev/null || true
info "$(ls "$TMP/bg" | wc -l) background scrapes"

cat > "$TMP/check.py" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
import os
tmp, gen = sys.argv[1], int(sys.argv[2])
pings, udp, tcp_bytes = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def check(cond, what):
    print(("ok - " if cond else "not ok - ") + what)
def parse(path):
    """{(sample name, sorted labels): value} and {family name: type} of one scrape."""
    samples, types = {}, {}
    for f in text_string_to_metric_families(open(path).read()):
        types[f.name] = f.type
        for s in f.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, types
# This script's scrapes (before, between ping and TCP, after), and the background ones.
paths = ["%s/scrape-%d.txt" % (tmp, i) for i in range(3)]
bg = sorted(os.listdir(tmp + "/bg"), key=lambda n: int(n.split(".")[0]))
paths_bg = ["%s/bg/%s" % (tmp, n) for n in bg]
try:
    main = [parse(p) for p in paths]
    background = [parse(p) for p in paths_bg]
except Exception as e:
    check(False, "every scrape parses: %s" % e); sys.exit(0)
check(len(background) >= 1, "all %d scrapes (%d by a background scraper from before to after the traffic) parse with prometheus_client's text parser"
      % (len(main) + len(background), len(background)))
(first, types), (mid, _), (final, _) = main
def total(samples, name, **labels):
    return sum(v for (n, ls), v in samples.items() if n == name and all(dict(ls).get(k) == w for k, w in labels.items()))
def series(samples, name):
    return [dict(ls) for (n, ls), _ in samples.items() if n == name]

# The parser names a counter family without its _total; its samples keep it.
counters = [n for n, t in types.items() if t == "counter"]
names = {k[0] for k in final}
check(len(counters) >= 25 and all(n + "_total" in names for n in counters),
      "%d counter families, every one exported as NAME_total" % len(counters))
queues = sorted({l["queue"] for l in series(final, "xpf_worker_rx_packets_total")})
check(queues == ["0", "1"], "a queue label per worker (%s)" % queues)
ifaces = sorted({l["interface"] for l in series(final, "xpf_worker_interface_rx_packets_total")})
check(ifaces == ["fw0", "fw1"], "interface labels carry the interface names (%s)" % ifaces)
reasons = {l["reason"] for l in series(final, "xpf_worker_dropped_packets_total")}
check({"no_route", "ttl", "session_full", "tx_full"} <= reasons and not any(r.startswith("reserved") for r in reasons),
      "drop reasons named as xpf-top names them (%d)" % len(reasons))

rx = total(final, "xpf_worker_rx_packets_total") - total(first, "xpf_worker_rx_packets_total")
# Every echo request and reply and every datagram crosses a worker; TCP adds more.
check(rx >= 2 * pings + udp, "worker rx packets grew by %d >= %d sent" % (rx, 2 * pings + udp))
rx_bytes = total(final, "xpf_worker_rx_bytes_total") - total(first, "xpf_worker_rx_bytes_total")
check(rx_bytes >= tcp_bytes + udp * 200, "worker rx bytes grew by %d >= %d sent" % (rx_bytes, tcp_bytes + udp * 200))
fw0 = total(final, "xpf_worker_interface_rx_packets_total", interface="fw0") - total(first, "xpf_worker_interface_rx_packets_total", interface="fw0")
check(fw0 >= pings + udp, "fw0 (client side) received %d >= %d" % (fw0, pings + udp))
created = total(final, "xpf_worker_sessions_created_total") - total(first, "xpf_worker_sessions_created_total")
check(created >= 3, "sessions created for the ping, TCP and UDP flows (%d)" % created)
check(total(final, "xpf_sessions_active") >= 1, "sessions in use (%d)" % total(final, "xpf_sessions_active"))
xdp = total(final, "xpf_xdp_rx_packets_total") - total(first, "xpf_xdp_rx_packets_total")
redirect = total(final, "xpf_xdp_packets_total", result="redirect") - total(first, "xpf_xdp_packets_total", result="redirect")
check(xdp >= 2 * pings + udp and redirect >= 2 * pings + udp, "XDP counters: rx %d, redirected %d" % (xdp, redirect))
check(total(final, "xpf_config_generation") == gen, "generation %d is the committed one (%d)" % (total(final, "xpf_config_generation"), gen))
seen = [v for (n, ls), v in final.items() if n == "xpf_worker_config_generation"]
check(len(seen) == 2 and all(v == gen for v in seen), "every worker runs generation %d (%s)" % (gen, seen))
running = [dict(ls)["queue"] for (n, ls), v in final.items() if n == "xpf_worker_state" and dict(ls)["state"] == "running" and v == 1]
check(sorted(running) == ["0", "1"], "worker state: both running (%s)" % running)

# The scrape between ping and TCP saw the traffic in progress.
lo, at, hi = (total(x, "xpf_worker_rx_packets_total") for x in (first, mid, final))
check(lo < at < hi, "the scrape between flows lies between the first and the last (%d < %d < %d)" % (lo, at, hi))
backwards = []
for seq, what in ((main, "this script's"), (background, "background")):
    for i in range(1, len(seq)):
        prev, cur = seq[i - 1][0], seq[i][0]
        for key, v in cur.items():
            if key[0].endswith("_total") and key in prev and v < prev[key]:
                backwards.append((what, i, key, prev[key], v))
check(not backwards, "no counter went backwards between consecutive scrapes %s" % backwards[:3])
PY
py_checks "$TMP/check.py" "$TMP" "$GEN" "$PINGS" "$UDP_DATAGRAMS" "$TCP_BYTES"
if grep -q '^xpf_commit_duration_seconds' "$TMP/scrape-2.txt"; then notok "commit duration" "present before any commit"; else ok "no commit duration before the first commit"; fi

# A commit that moves the port moves the listener; it is counted, with its duration.
MOVED="$TMP/moved.conf"
with_listen "$MOVED" "127.0.0.1:$MOVED_PORT"
out=$(ctl commit "$MOVED")
if [[ "$out" == "commit complete, generation $((GEN + 1))"* ]]; then ok "commit moving the port ($out)"; else notok "commit (port)" "$out"; fi
if wait_serving "$MOVED_PORT" yes && wait_serving "$PORT" no; then ok "the listener moved from $PORT to $MOVED_PORT"; else notok "listener move" "port $PORT or $MOVED_PORT wrong"; fi
scrape "$MOVED_PORT" "$TMP/after-commit.txt" >/dev/null
cat > "$TMP/commit.py" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
path, gen = sys.argv[1], int(sys.argv[2])
v = {s.name: s.value for f in text_string_to_metric_families(open(path).read()) for s in f.samples if not s.labels}
def check(cond, what):
    print(("ok - " if cond else "not ok - ") + what)
check(v.get("xpf_commits_total") == 1, "one commit counted (%s)" % v.get("xpf_commits_total"))
d = v.get("xpf_commit_duration_seconds")
check(d is not None and 0 < d < 10, "the commit's duration in seconds (%s)" % d)
check(v.get("xpf_config_generation") == gen, "generation %d after the commit (%s)" % (gen, v.get("xpf_config_generation")))
PY
py_checks "$TMP/commit.py" "$TMP/after-commit.txt" "$((GEN + 1))"

# A port already in use: the commit succeeds, xpfd's log says why nothing listens.
ip netns exec "$NS_FW" "$PY" -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', $BUSY_PORT)); s.listen(); time.sleep(600)" &
busy=$!
BG_PIDS+=("$busy")
for ((i = 0; i < WAIT_STEPS; i++)); do in_fw ss -Hltn "sport = :$BUSY_PORT" | grep -q . && break; sleep 0.1; done
BUSY="$TMP/busy.conf"
with_listen "$BUSY" "127.0.0.1:$BUSY_PORT"
out=$(ctl commit "$BUSY")
if [[ "$out" == "commit complete, generation $((GEN + 2))"* ]]; then ok "commit onto a busy port still commits ($out)"; else notok "commit (busy)" "$out"; fi
for ((i = 0; i < WAIT_STEPS; i++)); do grep -q "metrics: cannot listen on 127.0.0.1:$BUSY_PORT" "$STATE/xpfd.log" && break; sleep 0.1; done
if line=$(grep "metrics: cannot listen on 127.0.0.1:$BUSY_PORT" "$STATE/xpfd.log"); then ok "xpfd's log names the failure: ${line#*]: }"; else notok "bind failure" "not in xpfd.log"; fi
if wait_serving "$MOVED_PORT" no; then ok "the previous listener is closed"; else notok "old listener" "port $MOVED_PORT still serves"; fi
kill "$busy"; wait "$busy" 2>/dev/null || true
out=$(ctl commit "$BUSY")
if [[ "$out" == "commit complete"* ]] && wait_serving "$BUSY_PORT" yes; then ok "the next commit retries the listener once the port is free"; else notok "retry" "$out; port $BUSY_PORT does not serve"; fi

# An invalid address fails commit check with file:line:col, like every configuration error.
BAD="$TMP/bad.conf"
with_listen "$BAD" "127.0.0.1:99999"
want_line=$(grep -n 'prometheus' "$BAD" | cut -d: -f1)
set +e; out=$(ctl commit check "$BAD" 2>&1); rc=$?; set -e
if ((rc != 0)) && [[ "$out" == "error: $BAD:$want_line:"*"prometheus listen '127.0.0.1:99999' must be ADDRESS:PORT"* ]]; then ok "commit check refuses an invalid address ($out)"; else notok "invalid address" "rc $rc: $out"; fi

# Without the statement nothing listens; with it again, /metrics is back.
out=$(ctl commit "$REPO/config/xpf.conf")
if [[ "$out" == "commit complete"* ]]; then ok "commit without prometheus"; else notok "commit (off)" "$out"; fi
for ((i = 0; i < WAIT_STEPS; i++)); do xpfd_listens || break; sleep 0.1; done
if ! xpfd_listens; then ok "no listener when not configured"; else notok "off" "$(in_fw ss -Hltnp | grep xpfd)"; fi
out=$(ctl commit "$CONF")
if [[ "$out" == "commit complete"* ]] && wait_serving "$PORT" yes; then ok "configured again: /metrics back on $PORT"; else notok "re-enable" "$out"; fi

# An IPv6 address (written in quotes: brackets start a list in Junos syntax).
V6="$TMP/v6.conf"
with_listen "$V6" "\"[::1]:$V6_PORT\""
out=$(ctl commit "$V6")
code=000
for ((i = 0; i < WAIT_STEPS; i++)); do
    code=$(in_fw curl -sS -g --max-time 5 -o "$TMP/v6.txt" -w '%{http_code}' "http://[::1]:$V6_PORT/metrics" 2>/dev/null || true)
    [[ "$code" == 200 ]] && break
    sleep 0.1
done
if [[ "$out" == "commit complete"* && "$code" == 200 ]] && grep -q '^xpf_worker_rx_packets_total{queue="0"}' "$TMP/v6.txt"; then
    ok "served on [::1]:$V6_PORT"
else notok "IPv6 listener" "$out; HTTP $code"; fi
exit 0
