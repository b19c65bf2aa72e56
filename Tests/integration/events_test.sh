#!/usr/bin/env bash
# Security events end to end (issue 8, R-9.1–R-9.3): flows through the lab make the
# workers emit session-create and session-close events into their event rings; xpfd
# drains them into RT_FLOW syslog lines in a structured-data file and a legacy file.
# Each line is checked field by field against the traffic sent (addresses, ports,
# protocol, interface, zones, session id, packet and byte counts, close reason, elapsed
# time, timestamp), and `xpfctl show log statistics` accounts for every event
# (emitted = drained + skipped + dropped). Then `clear security flow session` with more
# sessions than an event ring holds: every one gets exactly one CLOSE line, none is
# dropped (the clear runs in slices paced by the ring while xpfd drains). Last, `security
# log rate-cap`: lines written + events rate-limited = events produced, exactly. Prints
# ok/not ok lines and "N passed, N failed".
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Tests/integration/lib.sh"

UDP_TIMEOUT_S=2
CONF="$TMP/events.conf"
{
    # A small table: an idle worker ages 256 records per 100 ms loop, so closes are seen within a second.
    sed -e "s/udp-timeout 60;/udp-timeout $UDP_TIMEOUT_S;/" -e "s/closing-timeout 30;/closing-timeout 1;/" \
        -e "s/session-table-size 65536;/session-table-size 8192;/" "$REPO/config/xpf.conf"
    cat <<'EOF2'
system {
    syslog {
        file rtflow-sd {
            any any;
            structured-data;
            archive { files 2; size 100m; }
        }
        file rtflow-legacy {
            any any;
            archive { files 2; size 100m; }
        }
    }
}
EOF2
} > "$CONF"
grep -q "udp-timeout $UDP_TIMEOUT_S;" "$CONF" && grep -q "session-table-size 8192;" "$CONF" \
    && grep -q "closing-timeout 1;" "$CONF" || { notok "setup" "could not derive the configuration"; exit 1; }

lab_begin --queues 1 --config "$CONF"
T0=$(date +%s)

# One UDP flow: 3 datagrams of 100 bytes from client port 40001 to the server's 5001, 2
# replies of 50 bytes (the server answers from 5001).
cat > "$TMP/udp.py" <<'PY'
import socket, sys, time
role = sys.argv[1]
if role == "server":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.10.2.2", 5001))
    s.settimeout(5)
    for i in range(3):
        data, peer = s.recvfrom(2048)
        if i < 2:
            s.sendto(b"r" * 50, peer)
else:
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.bind(("10.10.1.2", 40001))
    c.settimeout(3)
    for i in range(3):
        c.sendto(b"q" * 100, ("10.10.2.2", 5001))
        if i < 2:
            c.recvfrom(2048)
        time.sleep(0.05)
PY
ip netns exec "$NS_S" "$PY" "$TMP/udp.py" server & srv=$!
sleep 0.3
if ip netns exec "$NS_C" "$PY" "$TMP/udp.py" client && wait "$srv"; then ok "UDP flow through xpf"; else notok "UDP flow" "no exchange"; fi

# One TCP connection that the client closes with FIN: handshake, 1000 bytes, FIN.
tcp_fin_flow 5002 40002

# The UDP session closes after its idle timeout, the TCP one after the closing timeout;
# ageing sweeps within a second after that.
sleep $((UDP_TIMEOUT_S + 5))
"$XPFCTL" show log statistics --state-dir "$STATE" > "$TMP/stats.txt" 2>&1 || true
T1=$(date +%s)
SD="$STATE/rtflow-sd"
LEGACY="$STATE/rtflow-legacy"
for f in "$SD" "$LEGACY"; do
    if [[ -s "$f" ]]; then ok "xpfd wrote $(basename "$f") ($(wc -l <"$f") lines)"; else notok "log file $(basename "$f")" "missing or empty"; fi
done

cat > "$TMP/sd.py" <<'PY'
import re, sys
path, t0, t1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = open(path).read().splitlines()
head = re.compile(r'^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) \[junos@2636\.1\.1\.1\.2\.129((?: [a-z0-9-]+="(?:[^"\\]|\\.)*")*)\](?: (.*))?$')
param = re.compile(r' ([a-z0-9-]+)="((?:[^"\\]|\\.)*)"')
CREATE = ("source-address source-port destination-address destination-port connection-tag service-name "
          "nat-source-address nat-source-port nat-destination-address nat-destination-port nat-connection-tag "
          "src-nat-rule-type src-nat-rule-name dst-nat-rule-type dst-nat-rule-name protocol-id policy-name "
          "source-zone-name destination-zone-name session-id-32 username roles packet-incoming-interface "
          "application nested-application encrypted").split()
CLOSE = (["reason"] + CREATE[:CREATE.index("destination-zone-name") + 1] + ["session-id-32", "packets-from-client",
         "bytes-from-client", "packets-from-server", "bytes-from-server", "elapsed-time", "application",
         "nested-application", "username", "roles", "packet-incoming-interface", "encrypted"])
events = []
bad = 0
def check(cond, what):
    global bad
    if cond:
        print("ok - " + what)
    else:
        print("not ok - " + what); bad += 1
for l in lines:
    m = head.match(l)
    if not m:
        check(False, "RFC 5424 structured line: %r" % l[:120]); continue
    pri, ts, host, app, proc, msgid, sd, text = m.groups()
    names = [p[0] for p in param.findall(sd)]
    events.append((msgid, dict(param.findall(sd)), names, ts, host, app, pri))
def find(msgid, **kv):
    return [e for e in events if e[0] == msgid and all(e[1].get(k) == v for k, v in kv.items())]
import datetime
def when(ts):
    return datetime.datetime.fromisoformat(ts).timestamp()
udp_c = find("RT_FLOW_SESSION_CREATE", **{"protocol-id": "17", "source-port": "40001"})
udp_x = find("RT_FLOW_SESSION_CLOSE", **{"protocol-id": "17", "source-port": "40001"})
tcp_c = find("RT_FLOW_SESSION_CREATE", **{"protocol-id": "6", "source-port": "40002"})
tcp_x = find("RT_FLOW_SESSION_CLOSE", **{"protocol-id": "6", "source-port": "40002"})
check(len(udp_c) == 1 and len(udp_x) == 1, "one CREATE and one CLOSE for the UDP flow (%d, %d)" % (len(udp_c), len(udp_x)))
check(len(tcp_c) == 1 and len(tcp_x) == 1, "one CREATE and one CLOSE for the TCP connection (%d, %d)" % (len(tcp_c), len(tcp_x)))
if udp_c and udp_x and tcp_c and tcp_x:
    c, x = udp_c[0], udp_x[0]
    check(c[2] == CREATE, "CREATE field names in SRX order")
    check(x[2] == CLOSE, "CLOSE field names in SRX order")
    check(c[5] == "RT_FLOW" and c[4] == "xpf-lab", "APP-NAME RT_FLOW, HOSTNAME from system host-name (%s %s)" % (c[5], c[4]))
    check(c[6] == x[6] and int(c[6]) % 8 == 6, "PRI: severity info (%s)" % c[6])
    for e, what in ((c, "CREATE"), (x, "CLOSE")):
        check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$", e[3]) is not None, what + " timestamp with milliseconds and offset: " + e[3])
        check(t0 - 1 <= when(e[3]) <= t1 + 1, what + " timestamp within the test's run")
    f = c[1]
    check((f["source-address"], f["destination-address"], f["destination-port"]) == ("10.10.1.2", "10.10.2.2", "5001"), "CREATE addresses and ports")
    check((f["nat-source-address"], f["nat-source-port"], f["nat-destination-address"], f["nat-destination-port"]) ==
          ("10.10.1.2", "40001", "10.10.2.2", "5001"), "NAT fields equal the originals (nothing translated)")
    check(f["packet-incoming-interface"] == "fw0.0", "packet-incoming-interface fw0.0")
    check((f["source-zone-name"], f["destination-zone-name"]) == ("trust", "untrust"),
          "zones of the ingress and egress interfaces (%s, %s)" % (f["source-zone-name"], f["destination-zone-name"]))
    check(f["protocol-id"] == "17" and f["service-name"] == "None", "protocol-id 17, service-name None")
    check(f["session-id-32"] == x[1]["session-id-32"] and f["session-id-32"] != "0", "CREATE and CLOSE name the same session id")
    g = x[1]
    check(g["reason"] == "idle Timeout", "UDP close reason idle Timeout (%s)" % g["reason"])
    check((g["packets-from-client"], g["bytes-from-client"]) == ("3", str(3 * (14 + 20 + 8 + 100))),
          "UDP packets/bytes from client (%s, %s)" % (g["packets-from-client"], g["bytes-from-client"]))
    check((g["packets-from-server"], g["bytes-from-server"]) == ("2", str(2 * (14 + 20 + 8 + 50))),
          "UDP packets/bytes from server (%s, %s)" % (g["packets-from-server"], g["bytes-from-server"]))
    check(int(g["elapsed-time"]) >= 2, "UDP elapsed-time covers the idle timeout (%s)" % g["elapsed-time"])
    t = tcp_x[0][1]
    check(t["reason"] == "TCP FIN", "TCP close reason TCP FIN (%s)" % t["reason"])
    check(int(t["packets-from-client"]) >= 3 and int(t["packets-from-server"]) >= 2, "TCP packets both ways")
sys.exit(1 if bad else 0)
PY
py_checks "$TMP/sd.py" "$SD" "$T0" "$T1"

cat > "$TMP/legacy.py" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
ok = [l for l in lines if "RT_FLOW_SESSION_CREATE" in l and "10.10.1.2/40001->10.10.2.2/5001" in l]
print(("ok" if ok else "not ok") + " - legacy line for the UDP CREATE" + ("" if ok else ": " + repr(lines[:3])))
sys.exit(0 if ok else 1)
PY
py_checks "$TMP/legacy.py" "$LEGACY"

if "$PY" - "$TMP/stats.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
v = {k: int(n) for k, n in re.findall(r"events (\w+) (\d+)", t)}
print("# " + t.replace("\n", "; "))
# Every event is accounted for once the workers published their counters (idle by now).
sys.exit(0 if v and v["emitted"] == v["drained"] + v["skipped"] + v["dropped"] and v["emitted"] >= 4 else 1)
PY
then ok "show log statistics: emitted = drained + dropped"; else notok "log statistics" "$(cat "$TMP/stats.txt")"; fi

# A clear of more sessions than an event ring holds (2048): 3000 UDP flows, then clear.
# Creating them is the packet path (a full ring would drop and count CREATE events); the
# clear paces itself to the drain, so every session gets its CLOSE line.
FLOWS=3000
cat > "$TMP/flows.py" <<'PY'
import socket, sys
n = int(sys.argv[1])
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.10.1.2", 20000 + i))
    s.sendto(b"x", ("10.10.2.2", 5009))
    s.close()
PY
ip netns exec "$NS_C" "$PY" "$TMP/flows.py" "$FLOWS"
sleep 0.2
reply=$("$XPFCTL" clear security flow session --state-dir "$STATE" 2>&1 || true)
info "clear: $reply"
sleep 0.5
"$XPFCTL" show log statistics --state-dir "$STATE" > "$TMP/stats2.txt" 2>&1 || true
cat > "$TMP/clear.py" <<'PY'
import re, sys
path, flows, reply, stats = sys.argv[1], int(sys.argv[2]), sys.argv[3], open(sys.argv[4]).read()
closes = {}
for l in open(path):
    if "RT_FLOW_SESSION_CLOSE" not in l or 'destination-port="5009"' not in l:
        continue
    port = int(re.search(r' source-port="(\d+)"', l).group(1))
    reason = re.search(r'\[junos@\S+ reason="([^"]*)"', l).group(1)
    closes.setdefault(port, []).append(reason)
ports = range(20000, 20000 + flows)
missing = [p for p in ports if p not in closes]
twice = [p for p in ports if len(closes.get(p, [])) > 1]
cleared = sum(1 for p in ports if closes.get(p) == ["clear"])
m = re.search(r"(\d+) sessions cleared", reply)
v = {k: int(n) for k, n in re.findall(r"events (\w+) (\d+)", stats)}
print(("ok" if not missing else "not ok") + " - every one of the %d flows has a CLOSE line (%d missing)" % (flows, len(missing)))
print(("ok" if not twice else "not ok") + " - no flow closed twice (%d)" % len(twice))
print(("ok" if m and cleared >= 1 and int(m.group(1)) >= cleared else "not ok") +
      " - %d closed with reason clear; xpfctl: %s" % (cleared, reply))
print(("ok" if v and v["emitted"] == v["drained"] + v["skipped"] + v["dropped"] else "not ok") +
      " - every event accounted for: %r" % v)
PY
py_checks "$TMP/clear.py" "$SD" "$FLOWS" "$reply" "$TMP/stats2.txt"
info "$(tr '\n' ';' < "$TMP/stats2.txt")"

# security log rate-cap: a commit caps events at 2 per second per (kind, ingress zone).
# 20 new flows sent at once, then aged out: 40 events (20 CREATE, 20 CLOSE) of which each
# kind's bucket lets its one-second burst and refill through; every other one is counted
# as rate-limited, so the lines written plus the rate-limited count are exactly 40
# whatever the machine's speed. The flows themselves all pass.
CAP=2 CAPPED=20
{ cat "$CONF"; echo "security { log { rate-cap $CAP; } }"; } > "$TMP/capped.conf"
reply=$("$XPFCTL" commit "$TMP/capped.conf" --state-dir "$STATE" 2>&1) && ok "commit with rate-cap $CAP" || notok "commit with rate-cap" "$reply"
"$XPFCTL" show log statistics --state-dir "$STATE" > "$TMP/stats3.txt" 2>&1 || true
cat > "$TMP/capped.py" <<'PY'
import socket, sys
for i in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.10.1.2", 21000 + i))
    s.sendto(b"x", ("10.10.2.2", 5010))
    s.close()
PY
ip netns exec "$NS_S" timeout 20 "$PY" - "$CAPPED" > "$TMP/capped-rx.txt" <<'PY' & rx=$!
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.10.2.2", 5010))
s.settimeout(5)
n = 0
try:
    while n < int(sys.argv[1]):
        s.recvfrom(64); n += 1
except socket.timeout:
    pass
print(n)
PY
sleep 0.3
ip netns exec "$NS_C" "$PY" "$TMP/capped.py" "$CAPPED"
wait "$rx" || true
if [[ "$(cat "$TMP/capped-rx.txt")" == "$CAPPED" ]]; then ok "all $CAPPED capped flows were forwarded"; else notok "capped flows" "server got $(cat "$TMP/capped-rx.txt") of $CAPPED"; fi
cat > "$TMP/capcount.py" <<'PY'
import re, sys
path, before, after, flows, cap = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read(), int(sys.argv[4]), int(sys.argv[5])
lines = {"CREATE": 0, "CLOSE": 0}
for l in open(path):
    if 'destination-port="5010"' in l:
        for k in lines:
            if "RT_FLOW_SESSION_" + k + " " in l:
                lines[k] += 1
get = lambda t, k: int(re.search(r"events %s (\d+)" % k, t).group(1))
limited = get(after, "rate-limited") - get(before, "rate-limited")
dropped = get(after, "dropped") - get(before, "dropped")
written = lines["CREATE"] + lines["CLOSE"]
print("%s - %d lines + %d rate-limited = %d events (%r, %d ring drops)" % (
    "ok" if written + limited == 2 * flows and dropped == 0 else "not ok", written, limited, 2 * flows, lines, dropped))
print("%s - the cap suppressed events, and let each kind's burst of %d through (%r)" % (
    "ok" if limited > 0 and lines["CREATE"] >= cap and lines["CLOSE"] >= cap else "not ok", cap, lines))
PY
# Closes come once the flows idle out (udp-timeout); wait until every event is accounted for.
for _ in $(seq 1 60); do
    sleep 0.25
    "$XPFCTL" show log statistics --state-dir "$STATE" > "$TMP/stats4.txt" 2>&1 || true
    "$PY" "$TMP/capcount.py" "$SD" "$TMP/stats3.txt" "$TMP/stats4.txt" "$CAPPED" "$CAP" > "$TMP/capnow.txt" 2>&1 || true
    head -1 "$TMP/capnow.txt" | grep -q "^ok" && break
done
py_checks "$TMP/capcount.py" "$SD" "$TMP/stats3.txt" "$TMP/stats4.txt" "$CAPPED" "$CAP"
