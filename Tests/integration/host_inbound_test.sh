#!/usr/bin/env bash
# Host-inbound traffic (R-5.4): packets to the firewall's own addresses pass only when the
# ingress interface's zone admits them (host-inbound-traffic system-services / protocols),
# checked by the XDP program on every packet — established connections included — and the
# refused ones are counted (XDP counter drop_host_inbound; xpfctl show security flow
# statistics: host_inbound_denied). Then junos-host policies (from-zone trust to-zone
# junos-host), checked after host-inbound-traffic on every packet and counted
# drop_host_policy; from junos-host policies on the firewall's own connections (TC egress,
# drop_host_outbound); and functional-zone management (host-bound traffic only, no transit).
#
# The lab's configuration gives zone trust (fw0, client side) `ping` and `ssh`, zone
# untrust (fw1, server side) nothing. No sshd runs in the lab: a small TCP echo listener on
# port 22 in the firewall's namespace stands in for it (the check is on the port).
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Tests/integration/lib.sh"

SSH_PORT=22
REFUSED_WAIT_S=2     # how long a client waits for an answer that must not come
STEP_TIMEOUT_S=30    # bound on every wait for the other side of the test

# Variants of the lab configuration: trust's system-services replaced.
trust_services() {  # trust_services OUT SERVICE... : config/xpf.conf with trust admitting SERVICE...
    local out=$1; shift
    "$PY" - "$REPO/config/xpf.conf" "$out" "$@" <<'PY'
import re, sys
src, out, services = sys.argv[1], sys.argv[2], sys.argv[3:]
text = open(src).read()
block = "system-services {\n                    ping;\n                    ssh;\n                }"
assert block in text, "config/xpf.conf: trust's system-services block changed"
new = "system-services {\n" + "".join(f"                    {s};\n" for s in services) + "                }"
open(out, "w").write(text.replace(block, new))
PY
}
trust_services "$TMP/ping-only.conf" ping
trust_services "$TMP/nothing.conf"
trust_services "$TMP/ping-again.conf" ping

# xdp counter drop_host_inbound, as xpf-top reports it.
denied() {
    "$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["xdp"]["drop_host_inbound"])'
}
commit() {  # commit FILE WHAT
    local reply
    if reply=$("$XPFCTL" commit "$1" --state-dir "$STATE" 2>&1); then ok "commit: $2"; else notok "commit: $2" "$reply"; fi
}

lab_begin --queues 1

# The stand-in sshd: echoes every line and logs it, on both families.
cat >"$TMP/listener.py" <<'PY'
import socket, sys, threading
log, port = open(sys.argv[1], "a", buffering=1), int(sys.argv[2])
def serve(conn):
    for line in conn.makefile("rb"):
        log.write(line.decode(errors="replace"))
        conn.sendall(line)
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", port))
s.listen(16)
log.write("listening\n")
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
ip netns exec "$NS_FW" "$PY" "$TMP/listener.py" "$TMP/listener.log" "$SSH_PORT" >"$TMP/listener.out" 2>&1 &
BG_PIDS+=($!)
for ((i = 0; i < STEP_TIMEOUT_S * 10; i++)); do grep -q listening "$TMP/listener.log" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$TMP/listener.log" || { notok "listener on port $SSH_PORT" "$(cat "$TMP/listener.out")"; exit 1; }

# connect_once NS ADDR: one line through a fresh TCP connection; prints what came back.
connect_once() {
    ip netns exec "$1" "$PY" - "$2" "$SSH_PORT" "$REFUSED_WAIT_S" <<'PY' 2>&1 || true
import socket, sys
addr, port, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:
    c = socket.create_connection((addr, port), timeout=wait)
    c.sendall(b"hello\n")
    print(c.recv(64).decode().strip())
except OSError as e:
    print(f"refused: {e}")
PY
}

# --- trust (ping, ssh): admitted ------------------------------------------------------
if ip netns exec "$NS_C" ping -c 2 -W 2 10.10.1.1 >/dev/null; then ok "ping 10.10.1.1 from trust"; else notok "ping from trust" "no reply"; fi
if ip netns exec "$NS_C" ping -6 -c 2 -W 2 fd00:1::1 >/dev/null; then ok "ping fd00:1::1 from trust"; else notok "ping6 from trust" "no reply"; fi
# The zone of the ingress interface decides, not the address: fw1's address through fw0.
if ip netns exec "$NS_C" ping -c 1 -W 2 10.10.2.1 >/dev/null; then ok "ping fw1's 10.10.2.1 from trust (ingress fw0)"; else notok "ping 10.10.2.1 from trust" "no reply"; fi
out=$(connect_once "$NS_C" 10.10.1.1)
[[ "$out" == hello ]] && ok "TCP $SSH_PORT (ssh) to 10.10.1.1 from trust" || notok "ssh from trust" "$out"
out=$(connect_once "$NS_C" fd00:1::1)
[[ "$out" == hello ]] && ok "TCP $SSH_PORT (ssh) to fd00:1::1 from trust" || notok "ssh6 from trust" "$out"

# --- untrust (nothing): refused, counted ----------------------------------------------
before=$(denied)
if ip netns exec "$NS_S" ping -c 2 -W "$REFUSED_WAIT_S" 10.10.2.1 >/dev/null 2>&1; then notok "ping from untrust" "answered"; else ok "ping 10.10.2.1 from untrust: no reply"; fi
out=$(connect_once "$NS_S" 10.10.2.1)
[[ "$out" == refused* ]] && ok "TCP $SSH_PORT to 10.10.2.1 from untrust: no connection" || notok "ssh from untrust" "$out"
out=$(connect_once "$NS_S" fd00:2::1)
[[ "$out" == refused* ]] && ok "TCP $SSH_PORT to fd00:2::1 from untrust: no connection" || notok "ssh6 from untrust" "$out"
after=$(denied)
# 2 echo requests + at least one SYN per connection attempt.
if ((after - before >= 4)); then ok "refused packets counted: drop_host_inbound +$((after - before))"; else notok "drop_host_inbound" "+$((after - before))"; fi
n=$(grep -c '^hello$' "$TMP/listener.log" || true)
if ((n == 2)); then ok "the listener saw exactly the 2 trusted connections' lines"; else notok "listener log" "$n lines: $(cat "$TMP/listener.log")"; fi
sjson=$("$XPFCTL" show security flow statistics --json --state-dir "$STATE" 2>&1 || true)
stats=$("$XPFCTL" show security flow statistics --state-dir "$STATE" 2>&1 || true)
if "$PY" - "$sjson" "$stats" "$after" <<'PY'
import json, re, sys
s, text, top = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
line = re.search(r"^Host-bound packets refused by host-inbound-traffic \(XDP\): (\d+)$", text, re.M)
sys.exit(0 if s["host_inbound_denied"] >= top and line and int(line.group(1)) >= top else 1)
PY
then ok "xpfctl show security flow statistics: host_inbound_denied (text and JSON)"; else notok "flow statistics" "$stats"; fi

# --- the firewall's link-local addresses are its addresses too ---------------------------
linklocal() {  # linklocal IF: the firewall's fe80:: address on IF
    ip -n "$NS_FW" -6 -o addr show dev "$1" scope link | awk '{print $4}' | cut -d/ -f1 | head -n 1
}
ll0=$(linklocal fw0) ll1=$(linklocal fw1)
out=$(connect_once "$NS_C" "$ll0%c0")
[[ "$out" == hello ]] && ok "TCP $SSH_PORT to fw0's link-local $ll0 from trust admitted" || notok "ssh to link-local from trust" "$out"
out=$(connect_once "$NS_S" "$ll1%s0")
[[ "$out" == refused* ]] && ok "TCP $SSH_PORT to fw1's link-local $ll1 from untrust refused" || notok "ssh to link-local from untrust" "$out"

# --- replies: only on flows the firewall itself opened (host_flows, recorded at TC egress) ---
EPHEMERAL_PORT=45000  # inside the kernel's ip_local_port_range
cat >"$TMP/udp_echo.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(float(sys.argv[3]))
try:
    data, peer = s.recvfrom(64)
    s.sendto(data, peer)
    print("echoed")
except socket.timeout:
    print("nothing")
PY
# A "service" the firewall runs in the ephemeral range is no reply: refused from trust.
ip netns exec "$NS_FW" "$PY" "$TMP/udp_echo.py" 10.10.1.1 "$EPHEMERAL_PORT" "$STEP_TIMEOUT_S" >"$TMP/fw_udp.out" 2>&1 &
fw_udp=$!
BG_PIDS+=($fw_udp)
sleep 0.3
ip netns exec "$NS_C" "$PY" -c 'import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("10.10.1.1", int(sys.argv[1])))' "$EPHEMERAL_PORT"
sleep "$REFUSED_WAIT_S"
kill "$fw_udp" 2>/dev/null || true
wait "$fw_udp" 2>/dev/null || true
if ! grep -q echoed "$TMP/fw_udp.out"; then ok "UDP to the firewall's port $EPHEMERAL_PORT on no flow of its own: refused"; else notok "UDP to an ephemeral port" "reached the socket"; fi
# The firewall's own UDP exchange with a client-side echo: its reply is admitted.
ip netns exec "$NS_C" "$PY" "$TMP/udp_echo.py" 10.10.1.2 "$EPHEMERAL_PORT" "$STEP_TIMEOUT_S" >"$TMP/c_udp.out" 2>&1 &
c_udp=$!
BG_PIDS+=($c_udp)
sleep 0.3
out=$(ip netns exec "$NS_FW" "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(float(sys.argv[2]))
s.sendto(b"x", ("10.10.1.2", int(sys.argv[1])))
try:
    print("reply" if s.recvfrom(64)[0] == b"x" else "wrong")
except socket.timeout:
    print("no reply")' "$EPHEMERAL_PORT" "$REFUSED_WAIT_S" 2>&1 || true)
wait "$c_udp" 2>/dev/null || true
[[ "$out" == reply ]] && ok "the firewall's own UDP exchange: the reply on its flow admitted" || notok "firewall UDP exchange" "$out"

# --- an established connection stops at the commit that removes ssh -------------------
cat >"$TMP/client.py" <<'PY'
import os, socket, sys, time
addr, port, go, wait, bound = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
c = socket.create_connection((addr, port), timeout=wait)
c.sendall(b"one\n")
print("one:", c.recv(64).decode().strip(), flush=True)
deadline = time.monotonic() + bound
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.05)
c.sendall(b"two\n")
try:
    print("two:", c.recv(64).decode().strip() or "closed", flush=True)
except socket.timeout:
    print("two: no reply", flush=True)
PY
# start_client OUT: client.py from trust to 10.10.1.1 in the background (pid in $client),
# its first line echoed; the second waits for $TMP/go.
start_client() {
    rm -f "$TMP/go"
    ip netns exec "$NS_C" "$PY" "$TMP/client.py" 10.10.1.1 "$SSH_PORT" "$TMP/go" "$REFUSED_WAIT_S" "$STEP_TIMEOUT_S" >"$1" 2>&1 &
    client=$!
    BG_PIDS+=($client)
    for ((i = 0; i < STEP_TIMEOUT_S * 10; i++)); do grep -q '^one:' "$1" 2>/dev/null && break; sleep 0.1; done
}
start_client "$TMP/client.out"
if grep -q '^one: one$' "$TMP/client.out"; then ok "established connection from trust echoes"; else notok "established connection" "$(cat "$TMP/client.out")"; fi
commit "$TMP/ping-only.conf" "trust admits ping only"
before=$(denied)
touch "$TMP/go"
wait "$client" || true
after=$(denied)
if grep -q '^two: no reply$' "$TMP/client.out"; then ok "same connection after the commit: no reply"; else notok "established connection after commit" "$(cat "$TMP/client.out")"; fi
if ! grep -q '^two$' "$TMP/listener.log"; then ok "the listener never received the post-commit line"; else notok "post-commit line" "reached the listener"; fi
if ((after - before >= 1)); then ok "the connection's segments counted as refused: +$((after - before))"; else notok "drop_host_inbound after commit" "+$((after - before))"; fi
out=$(connect_once "$NS_C" 10.10.1.1)
[[ "$out" == refused* ]] && ok "new TCP $SSH_PORT connection from trust refused" || notok "new ssh after commit" "$out"
if ip netns exec "$NS_C" ping -c 1 -W 2 10.10.1.1 >/dev/null; then ok "ping from trust still admitted"; else notok "ping after removing ssh" "no reply"; fi

# --- ping removed, then added back ---------------------------------------------------
commit "$TMP/nothing.conf" "trust admits nothing"
before=$(denied)
if ip netns exec "$NS_C" ping -c 1 -W "$REFUSED_WAIT_S" 10.10.1.1 >/dev/null 2>&1; then notok "ping with ping removed" "answered"; else ok "ping from trust refused once ping is removed"; fi
after=$(denied)
if ((after - before >= 1)); then ok "refused ping counted: +$((after - before))"; else notok "refused ping counter" "+$((after - before))"; fi
commit "$TMP/ping-again.conf" "trust admits ping again"
if ip netns exec "$NS_C" ping -c 1 -W 2 10.10.1.1 >/dev/null; then ok "ping from trust admitted again after the commit adds it"; else notok "ping after adding it back" "no reply"; fi

# --- junos-host policies: checked after host-inbound-traffic, per packet ---------------
# variant OUT PYTHON-EXPRESSION: config/xpf.conf rewritten by an expression over `text`.
variant() {
    "$PY" - "$REPO/config/xpf.conf" "$1" "$2" <<'PY'
import sys
src, out, expr = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(src).read()
new = eval(expr)
assert new != text, "config/xpf.conf changed: the variant's anchor is gone"
open(out, "w").write(new)
PY
}
POLICIES_ANCHOR='    policies {\n'
# Trust admits ping and ssh (host-inbound-traffic) but its junos-host policies permit only
# ping: ssh falls to the default policy (deny-all).
variant "$TMP/host-ping.conf" "text.replace('$POLICIES_ANCHOR', '''$POLICIES_ANCHOR        from-zone trust to-zone junos-host {
            policy host-ping { match { source-address any; destination-address any; application junos-ping; } then permit; }
        }
''')"
# ssh from IPv6 sources only.
variant "$TMP/host-ssh6.conf" "text.replace('$POLICIES_ANCHOR', '''$POLICIES_ANCHOR        from-zone trust to-zone junos-host {
            policy ssh-v6 { match { source-address any-ipv6; destination-address any; application junos-ssh; } then permit; }
        }
''')"
policy_denied() {
    "$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["xdp"]["drop_host_policy"])'
}
commit "$REPO/config/xpf.conf" "the lab configuration (trust admits ping and ssh)"
start_client "$TMP/client2.out"
if grep -q '^one: one$' "$TMP/client2.out"; then ok "junos-host: established ssh from trust before the policy"; else notok "established connection" "$(cat "$TMP/client2.out")"; fi
commit "$TMP/host-ping.conf" "from-zone trust to-zone junos-host permits ping only"
before=$(policy_denied)
touch "$TMP/go"
wait "$client" || true
if grep -q '^two: no reply$' "$TMP/client2.out"; then ok "junos-host: the established ssh connection gets no reply after the commit"; else notok "established ssh after junos-host commit" "$(cat "$TMP/client2.out")"; fi
out=$(connect_once "$NS_C" 10.10.1.1)
[[ "$out" == refused* ]] && ok "junos-host: new ssh from trust refused (default policy)" || notok "ssh with junos-host ping only" "$out"
if ip netns exec "$NS_C" ping -c 1 -W 2 10.10.1.1 >/dev/null; then ok "junos-host: ping from trust permitted by policy host-ping"; else notok "ping with junos-host ping" "no reply"; fi
after=$(policy_denied)
if ((after - before >= 2)); then ok "junos-host refusals counted: drop_host_policy +$((after - before))"; else notok "drop_host_policy" "+$((after - before))"; fi
stats=$("$XPFCTL" show security flow statistics --state-dir "$STATE" 2>&1 || true)
if grep -Eq "^Host-bound packets refused by junos-host policies \(XDP\): [1-9]" <<<"$stats"; then ok "xpfctl flow statistics names junos-host refusals"; else notok "flow statistics junos-host line" "$stats"; fi
listing=$("$XPFCTL" show security policies from-zone trust to-zone junos-host --state-dir "$STATE" 2>&1 || true)
if grep -q "From zone: trust, To zone: junos-host" <<<"$listing" && grep -q "Policy: host-ping" <<<"$listing"; then ok "show security policies from-zone trust to-zone junos-host"; else notok "junos-host listing" "$listing"; fi
commit "$TMP/host-ssh6.conf" "junos-host permits ssh from IPv6 sources only"
out=$(connect_once "$NS_C" fd00:1::1)
[[ "$out" == hello ]] && ok "junos-host: ssh over IPv6 permitted (source-address any-ipv6)" || notok "ssh6 with ssh-v6" "$out"
out=$(connect_once "$NS_C" 10.10.1.1)
[[ "$out" == refused* ]] && ok "junos-host: ssh over IPv4 refused" || notok "ssh4 with ssh-v6" "$out"
# ICMP echo replies are the box's own traffic: its ping to the client still completes.
if ip netns exec "$NS_FW" ping -c 1 -W 2 10.10.1.2 >/dev/null; then ok "junos-host: the firewall's own ping gets its reply"; else notok "firewall's own ping" "no reply"; fi
commit "$REPO/config/xpf.conf" "junos-host policies removed"
out=$(connect_once "$NS_C" 10.10.1.1)
[[ "$out" == hello ]] && ok "junos-host removed: ssh over IPv4 admitted again" || notok "ssh after removing junos-host" "$out"

# --- from junos-host: the box's own connections, checked at TC egress -----------------
# The firewall may ping into trust and nothing else; nothing at all into untrust. Transit
# leaves through the workers' AF_XDP sockets, which bypass TC: it is not affected.
variant "$TMP/host-out.conf" "text.replace('$POLICIES_ANCHOR', '''$POLICIES_ANCHOR        from-zone junos-host to-zone trust {
            policy ping-out { match { source-address any; destination-address any; application junos-ping; } then permit; }
        }
        from-zone junos-host to-zone untrust {
            policy nothing-out { match { source-address any; destination-address any; application any; } then deny; }
        }
''')"
outbound_denied() {
    "$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["xdp"]["drop_host_outbound"])'
}
# fw_connect ADDR PORT: the firewall's own TCP connection; prints connected / refused / timed out.
fw_connect() {
    ip netns exec "$NS_FW" "$PY" - "$1" "$2" "$REFUSED_WAIT_S" <<'PY' 2>&1 || true
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
    print("connected")
except ConnectionRefusedError:
    print("refused")
except (socket.timeout, TimeoutError):
    print("timed out")
except OSError as e:
    print(f"error: {e}")
PY
}
CLOSED_PORT=9  # nothing listens there on the client: its kernel answers RST
out=$(fw_connect 10.10.1.2 "$CLOSED_PORT")
[[ "$out" == refused ]] && ok "from junos-host (none yet): the firewall's SYN reaches the client (RST back)" || notok "firewall connect before" "$out"
if ip netns exec "$NS_FW" ping -c 1 -W 2 10.10.2.2 >/dev/null; then ok "from junos-host (none yet): the firewall pings the server"; else notok "firewall ping before" "no reply"; fi
commit "$TMP/host-out.conf" "from junos-host: ping into trust, nothing into untrust"
if ip netns exec "$NS_FW" ping -c 1 -W 2 10.10.1.2 >/dev/null; then ok "from junos-host: the firewall's ping into trust permitted"; else notok "firewall ping into trust" "no reply"; fi
out=$(fw_connect 10.10.1.2 "$CLOSED_PORT")
[[ "$out" == "timed out" ]] && ok "from junos-host: the firewall's TCP SYN into trust dropped (no RST came back)" || notok "firewall connect into trust" "$out"
if ip netns exec "$NS_FW" ping -c 1 -W "$REFUSED_WAIT_S" 10.10.2.2 >/dev/null 2>&1; then notok "firewall ping into untrust" "answered"; else ok "from junos-host: the firewall's ping into untrust dropped"; fi
# One UDP datagram (ping retries a send the filter refused; UDP does not): exactly one drop.
before=$(outbound_denied)
ip netns exec "$NS_FW" "$PY" -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try: s.sendto(b"x", ("10.10.2.2", 9))
except OSError: pass' || true
after=$(outbound_denied)
if ((after - before == 1)); then ok "from junos-host: the firewall's one datagram into untrust counted, drop_host_outbound +1"; else notok "drop_host_outbound" "+$((after - before))"; fi
out=$(connect_once "$NS_C" 10.10.1.1)
[[ "$out" == hello ]] && ok "from junos-host: ssh to the firewall still answered (its SYN-ACK is not an opener)" || notok "inbound ssh with from junos-host" "$out"
tcp_fin_flow 5001 41001  # transit out fw1 (untrust) through the worker: not the box's own
commit "$REPO/config/xpf.conf" "from junos-host policies removed"
out=$(fw_connect 10.10.1.2 "$CLOSED_PORT")
[[ "$out" == refused ]] && ok "from junos-host removed: the firewall's SYN reaches the client again" || notok "firewall connect after" "$out"

# --- functional-zone management: host-bound only, no transit ---------------------------
variant "$TMP/management.conf" "text.replace('''        security-zone untrust {
            screen untrust-screen;
            interfaces {
                fw1.0;
            }
        }''', '''        security-zone untrust {
            screen untrust-screen;
        }
        functional-zone management {
            host-inbound-traffic { system-services { ssh; } }
            interfaces { fw1.0; }
        }''')"
zone_none() {
    "$XPFCTL" show security flow statistics --json --state-dir "$STATE" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["drops"]["zone_none"])'
}
commit "$TMP/management.conf" "fw1 moved into functional-zone management (ssh)"
out=$(connect_once "$NS_S" 10.10.2.1)
[[ "$out" == hello ]] && ok "management: ssh to fw1 from its side admitted" || notok "ssh on the management interface" "$out"
if ip netns exec "$NS_S" ping -c 1 -W "$REFUSED_WAIT_S" 10.10.2.1 >/dev/null 2>&1; then notok "ping on the management interface" "answered"; else ok "management: ping to fw1 refused (not in its host-inbound-traffic)"; fi
before=$(zone_none)
if ip netns exec "$NS_C" ping -c 2 -W "$REFUSED_WAIT_S" 10.10.2.2 >/dev/null 2>&1; then notok "transit into the management interface" "answered"; else ok "management: transit from trust to fw1's side dropped"; fi
after=$(zone_none)
if ((after - before >= 2)); then ok "management: transit counted zone_none +$((after - before))"; else notok "zone_none for management transit" "+$((after - before))"; fi
commit "$REPO/config/xpf.conf" "back to the lab configuration"
if ip netns exec "$NS_C" ping -c 1 -W 2 10.10.2.2 >/dev/null; then ok "transit from trust to untrust forwarded again"; else notok "transit after leaving management" "no reply"; fi
