#!/usr/bin/env bash
# Integration suite of the walking skeleton: real traffic through xpf in a 3-namespace lab.
#
#   Tests/integration/lab_test.sh
#
# Builds a lab with a unique prefix (tools/xpf-lab up, 2 queues), starts xpfd, then:
#   a. ping v4/v6 client->server          e. sessions listed with packets both ways
#   b. 10 MB TCP transfer, sha256 equal   f. kill -9 of the queue-0 worker: restart <= 1 s,
#   c. UDP datagrams both ways               sessions kept, transfers still work
#   d. worker counters grew; kernel in    g. xpf-lab stop: XDP detached, shm file gone
#      P-fw did not forward the traffic
# Prints "ok - name" / "not ok - name: detail", then "N passed, N failed" as the last line.
# The lab is torn down on every exit path (trap). Needs root and the built binaries
# ($XPF_BIN, else $(swift build -c release --show-bin-path)). The configuration is
# config/xpf.conf plus a policy from untrust to trust for c.'s server->client datagrams
# (config/xpf.conf denies that direction, as an SRX would); $XPF_CONFIG overrides it.
set -Eeuo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
LAB="$REPO/tools/xpf-lab"
PY=/usr/bin/python3
MB=10
MIN_PACKETS=7000        # a 10 MB transfer needs > 7000 full-size segments
MAX_KERNEL_FORWARD=10   # ForwDatagrams / Ip6OutForwDatagrams bound in P-fw
MAX_KERNEL_IN=1000      # IP packets the kernel of P-fw may see (ARP/ND/MLD noise only)
RESTART_BUDGET_MS=1000

PASS=0
FAIL=0
INTERRUPTED=0
ERR_LINE="?"
LAB_UP=0
BG_PIDS=()

ok() { echo "ok - $1"; PASS=$((PASS + 1)); }
notok() { echo "not ok - $1: $2"; FAIL=$((FAIL + 1)); }
info() { echo "# $*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---------------------------------------------------------------- prefix, binaries

PREFIX="t$$"
if ((${#PREFIX} > 8)) || [[ -e "/run/netns/$PREFIX-fw" ]]; then
    PREFIX="t$RANDOM"
fi
NS_C="$PREFIX-c"
NS_FW="$PREFIX-fw"
NS_S="$PREFIX-s"
STATE="/run/xpf/$PREFIX"
TMP=$(mktemp -d /tmp/xpf-lab-test.XXXXXX)

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM HUP
    local p
    for p in "${BG_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    if ((LAB_UP)); then
        if ((FAIL || INTERRUPTED)) && [[ -f "$STATE/xpfd.log" ]]; then
            echo "# --- last lines of $STATE/xpfd.log"
            tail -n 40 "$STATE/xpfd.log" | sed 's/^/# /'
        fi
        "$LAB" down --prefix "$PREFIX" 2>&1 | sed 's/^/# /'
        if [[ -e "/run/netns/$NS_FW" || -e "/run/netns/$NS_C" || -e "/run/netns/$NS_S" ]]; then
            notok "teardown" "namespaces of $PREFIX still exist after xpf-lab down"
        fi
    fi
    for p in "${BG_PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$TMP"
    if ((INTERRUPTED)); then
        notok "interrupted" "suite stopped by a signal"
    elif ((rc != 0 && FAIL == 0)); then
        notok "suite" "aborted by an unexpected error (exit $rc, line $ERR_LINE)"
    fi
    echo "$PASS passed, $FAIL failed"
    if ((FAIL)); then exit 1; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'ERR_LINE=$LINENO' ERR
trap 'INTERRUPTED=1; exit 130' INT TERM HUP

[[ $(id -u) -eq 0 ]] || { notok "preconditions" "must run as root"; exit 1; }
[[ -x "$PY" ]] || { notok "preconditions" "$PY missing (tools/setup)"; exit 1; }
for tool in socat ss sha256sum ping timeout; do
    command -v "$tool" >/dev/null 2>&1 || { notok "preconditions" "$tool missing (tools/setup)"; exit 1; }
done

if [[ -z "${XPF_BIN:-}" ]]; then
    if [[ -x "$REPO/.build/release/xpfd" ]]; then
        XPF_BIN=$(cd "$REPO/.build/release" && pwd -P)
    else
        swift=swift
        command -v swift >/dev/null 2>&1 || swift=/opt/swift/usr/bin/swift
        XPF_BIN=$(cd "$REPO" && timeout 120 "$swift" build -c release --show-bin-path 2>/dev/null) || XPF_BIN=""
    fi
fi
export XPF_BIN
for exe in xpfd xpf-worker xpf-top xpfctl; do
    if [[ -z "$XPF_BIN" || ! -x "$XPF_BIN/$exe" ]]; then
        notok "binaries present" "${XPF_BIN:-<no bin path>}/$exe missing: run tools/build"
        exit 1
    fi
done
info "prefix $PREFIX, binaries $XPF_BIN, tmp $TMP"

# ---------------------------------------------------------------- JSON helpers

# One python helper, subcommand in $1, JSON document on stdin.
read -r -d '' PYHELP <<'EOF' || true
import ipaddress, json, sys

def addr(a):
    try:
        return str(ipaddress.ip_address(str(a)))
    except ValueError:
        return str(a)

def proto(p):
    names = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}
    return names.get(p, str(p)) if isinstance(p, int) else str(p).lower()

def key(s):
    i = s.get("in", {})
    return "%s/%s %s:%s>%s:%s" % (proto(s.get("protocol")), s.get("family"), addr(i.get("src")),
                                 i.get("sport"), addr(i.get("dst")), i.get("dport"))

cmd, args = sys.argv[1], sys.argv[2:]
try:
    d = json.load(sys.stdin)
except Exception as e:
    print("invalid JSON: %s" % e)
    sys.exit(2)

if cmd == "sum":            # rx_packets tx_packets summed over workers
    w = d.get("workers") or []
    print(sum(int(x.get("rx_packets", 0)) for x in w), sum(int(x.get("tx_packets", 0)) for x in w))
elif cmd == "summary":      # one line per worker
    for x in d.get("workers") or []:
        print("queue %s pid %s %s restarts %s rx %s tx %s drops %s" % (
            x.get("queue"), x.get("pid"), x.get("state"), x.get("restarts"),
            x.get("rx_packets"), x.get("tx_packets"), x.get("drops")))
    print("xdp: %s" % json.dumps(d.get("xdp")))
elif cmd == "worker-pid":   # pid of the (first) worker on queue Q
    w = [x for x in d.get("workers") or [] if int(x.get("queue", -1)) == int(args[0])]
    if not w:
        sys.exit(1)
    print(w[0].get("pid"))
elif cmd == "pids":
    print(" ".join(str(x.get("pid")) for x in d.get("workers") or []))
elif cmd == "restarted":    # queue Q got a new running worker after OLDPID was killed
    q, old = int(args[0]), int(args[1])
    w = d.get("workers") or []
    if any(int(x.get("pid", 0)) == old for x in w):
        sys.exit(1)
    if not w or not all(x.get("state") == "running" for x in w):
        sys.exit(1)
    new = [x for x in w if int(x.get("queue", -1)) == q and int(x.get("restarts", 0)) >= 1]
    if not new:
        sys.exit(1)
    print("pid %s restarts %s" % (new[0].get("pid"), new[0].get("restarts")))
elif cmd == "has-session":  # PROTO SRC DST [DPORT]: listed, packets > 0 both ways
    p, src, dst = args[0], addr(args[1]), addr(args[2])
    dport = int(args[3]) if len(args) > 3 else None
    found = []
    for s in d.get("sessions") or []:
        i, o = s.get("in", {}), s.get("out", {})
        if proto(s.get("protocol")) != p or addr(i.get("src")) != src or addr(i.get("dst")) != dst:
            continue
        if dport is not None and int(i.get("dport", -1)) != dport:
            continue
        found.append(s)
        if int(i.get("packets", 0)) > 0 and int(o.get("packets", 0)) > 0:
            print("id %s: in %s pkts, out %s pkts" % (s.get("id"), i.get("packets"), o.get("packets")))
            sys.exit(0)
    if found:
        print("listed but packets not > 0 both ways: " + "; ".join(
            "in %s out %s" % (s["in"].get("packets"), s["out"].get("packets")) for s in found))
    else:
        print("not listed (%d sessions in total)" % len(d.get("sessions") or []))
    sys.exit(1)
elif cmd == "keys":         # [MIN_REMAINING_S]: session keys, optionally only those not about to expire
    least = float(args[0]) if args else None
    for s in d.get("sessions") or []:
        if least is not None:
            try:
                if float(s.get("timeout_s")) - float(s.get("idle_s")) < least:
                    continue
            except (TypeError, ValueError):
                pass
        print(key(s))
elif cmd == "total":
    print(d.get("total", len(d.get("sessions") or [])))
else:
    print("unknown helper command " + cmd)
    sys.exit(2)
EOF

pyh() { "$PY" -c "$PYHELP" "$@"; }
# --interval 0.05: rates are not needed here, and each sample must not take a second
# (the restart check polls it and measures elapsed time).
top_json() { timeout 5 "$XPF_BIN/xpf-top" --state-dir "$STATE" --once --json --interval 0.05 2>/dev/null; }
sessions_json() {
    timeout 5 "$XPF_BIN/xpfctl" show security flow session --state-dir "$STATE" --json 2>/dev/null
}

# Kernel IP counters of P-fw: ForwDatagrams Ip6OutForwDatagrams InReceives Ip6InReceives
kernel_counters() {
    ip netns exec "$NS_FW" cat /proc/net/snmp /proc/net/snmp6 | "$PY" -c '
import sys
lines = sys.stdin.read().splitlines()
ip = [l.split() for l in lines if l.startswith("Ip: ")]
v4 = dict(zip(ip[0][1:], ip[1][1:]))
v6 = dict(l.split()[:2] for l in lines if l.startswith("Ip6"))
print(v4["ForwDatagrams"], v6["Ip6OutForwDatagrams"], v4["InReceives"], v6["Ip6InReceives"])'
}

# ---------------------------------------------------------------- traffic helpers

# wait_listen NS PROTO(t|u) PORT — bounded (5 s) wait for a listening socket.
wait_listen() {
    local i
    for ((i = 0; i < 50; i++)); do
        if [[ -n "$(ip netns exec "$1" ss -Hln"$2" "sport = :$3" 2>/dev/null)" ]]; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# wait_gone PID TIMEOUT_MS — bounded wait for a background process to end.
wait_gone() {
    local deadline=$(($(now_ms) + $2))
    while kill -0 "$1" 2>/dev/null; do
        (($(now_ms) < deadline)) || return 1
        sleep 0.1
    done
}

# Reaps a background job without letting its status trip set -e.
reap() { wait "$1" 2>/dev/null || true; }

sha() { sha256sum "$1" | cut -d' ' -f1; }

# tcp_server PORT OUTFILE [TIMEOUT_S] -> SRV_PID (accepts one connection; bounded, 60 s default)
tcp_server() {
    rm -f "$2"
    ip netns exec "$NS_S" timeout "${3:-60}" socat -u "TCP-LISTEN:$1,reuseaddr" "OPEN:$2,creat,trunc" \
        </dev/null >/dev/null 2>"$TMP/srv-$1.err" &
    SRV_PID=$!
    BG_PIDS+=("$SRV_PID")
}

# tcp_client_paced PORT SRCFILE -> CLI_PID: sends 1 MB every 100 ms, so the transfer is
# still in flight for about a second after the connection is established.
tcp_client_paced() {
    (
        for ((i = 0; i < MB; i++)); do
            dd if="$2" bs=1M skip="$i" count=1 status=none
            sleep 0.1
        done
    ) | ip netns exec "$NS_C" timeout 60 socat -u - "TCP:10.10.2.2:$1,connect-timeout=5" >/dev/null 2>"$TMP/cli-$1.err" &
    CLI_PID=$!
    BG_PIDS+=("$CLI_PID")
}

# tcp_transfer NAME PORT — 10 MB client->server; sets DETAIL; returns 0 when sha256 matches.
tcp_transfer() {
    local port=$2 out="$TMP/recv-$2.bin" t0 t1 rc=0
    tcp_server "$port" "$out"
    if ! wait_listen "$NS_S" t "$port"; then
        DETAIL="server did not listen on :$port"
        return 1
    fi
    t0=$(now_ms)
    ip netns exec "$NS_C" timeout 60 socat -u "OPEN:$SRC_FILE" "TCP:10.10.2.2:$port,connect-timeout=5" \
        </dev/null >/dev/null 2>"$TMP/cli-$port.err" || rc=$?
    t1=$(now_ms)
    # The server ends on the client's EOF; a failed client leaves it waiting: end it.
    if ((rc != 0)) || ! wait_gone "$SRV_PID" 10000; then
        kill "$SRV_PID" 2>/dev/null || true
    fi
    reap "$SRV_PID"
    if ((rc != 0)); then
        if ((rc == 124)); then
            DETAIL="client timed out after 60 s"
        else
            DETAIL="client exited $rc: $(head -c 200 "$TMP/cli-$port.err" | tr '\n' ' ')"
        fi
        return 1
    fi
    if [[ ! -f "$out" ]]; then
        DETAIL="server wrote nothing"
        return 1
    fi
    if [[ "$(sha "$out")" != "$SRC_SHA" ]]; then
        DETAIL="sha256 differs: received $(stat -c %s "$out") of $((MB * 1048576)) bytes"
        return 1
    fi
    DETAIL="$MB MB in $((t1 - t0)) ms"
    return 0
}

# udp_one NAME RECV_NS RECV_ADDR SEND_NS SENDTO_ADDR PORT — one datagram, exact payload.
udp_one() {
    local name=$1 rns=$2 raddr=$3 sns=$4 saddr=$5 port=$6 out="$TMP/udp-$6.out" payload srv i got
    payload="xpf-udp-$name-$RANDOM$RANDOM"
    rm -f "$out"
    ip netns exec "$rns" timeout 20 socat -u "$raddr:$port" "OPEN:$out,creat,trunc" \
        </dev/null >/dev/null 2>"$TMP/udp-$port.err" &
    srv=$!
    BG_PIDS+=("$srv")
    if ! wait_listen "$rns" u "$port"; then
        notok "$name" "receiver did not bind :$port"
        kill "$srv" 2>/dev/null || true
        reap "$srv"
        return
    fi
    # UDP-RECVFROM takes exactly one datagram and exits; resend if the first got lost.
    for ((i = 1; i <= 5; i++)); do
        printf '%s' "$payload" | ip netns exec "$sns" timeout 5 socat -u - "$saddr:$port" 2>/dev/null || true
        if wait_gone "$srv" 1000; then break; fi
    done
    if kill -0 "$srv" 2>/dev/null; then
        kill "$srv" 2>/dev/null || true
        reap "$srv"
        notok "$name" "no datagram arrived after 5 sends"
        return
    fi
    reap "$srv"
    got=$(cat "$out" 2>/dev/null || true)
    if [[ "$got" == "$payload" ]]; then
        ok "$name (attempt $i)"
    else
        notok "$name" "payload differs: sent '$payload', got '${got:0:80}'"
    fi
}

ping_check() { # NAME ping-args...
    local name=$1 i out=""
    shift
    for ((i = 1; i <= 3; i++)); do
        if out=$(timeout 15 ip netns exec "$NS_C" ping -c 3 -W 2 "$@" 2>&1); then
            ok "$name ($(grep -o '[0-9]* received' <<<"$out"), attempt $i)"
            return
        fi
        sleep 1
    done
    notok "$name" "$(grep -E 'transmitted|unreachable|Unreachable' <<<"$out" | head -n 1)"
}

# ================================================================ lab

LAB_UP=1
if ! "$LAB" up --prefix "$PREFIX" --queues 2 >"$TMP/up.log" 2>&1; then
    notok "lab up" "$(tail -n 3 "$TMP/up.log" | tr '\n' ' ')"
    exit 1
fi
ok "lab up ($NS_C, $NS_FW, $NS_S; 2 queues)"

k0=$(kernel_counters)

if [[ -z "${XPF_CONFIG:-}" ]]; then
    XPF_CONFIG="$TMP/lab.conf"
    {
        cat "$REPO/config/xpf.conf"
        # UDP to the client's ports 5005 and 5007 (c. below), initiated by the server.
        cat <<'EOF2'
security {
    policies {
        from-zone untrust to-zone trust {
            policy lab-udp-back {
                match {
                    source-address any;
                    destination-address any;
                    application lab-udp-back;
                }
                then {
                    permit;
                }
            }
        }
    }
}
applications {
    application lab-udp-back {
        protocol udp;
        destination-port 5005-5007;
    }
}
EOF2
    } > "$XPF_CONFIG"
fi
START_ARGS=(--prefix "$PREFIX" --config "$XPF_CONFIG")
if ! "$LAB" start "${START_ARGS[@]}" >"$TMP/start.log" 2>&1; then
    sed 's/^/# /' "$TMP/start.log"
    notok "xpfd start" "workers not all running (see above)"
    exit 1
fi
ok "xpfd start: $(grep -o '[0-9]* worker(s) running' "$TMP/start.log" || echo 'workers running')"

# worker_sums -> "RX TX" packets summed over workers (fails on bad output)
worker_sums() {
    local j s
    j=$(top_json) || return 1
    s=$(pyh sum <<<"$j") || return 1
    [[ "$s" =~ ^[0-9]+\ [0-9]+$ ]] || return 1
    echo "$s"
}

if ! sums=$(worker_sums); then
    notok "xpf-top --once --json" "failed or unparsable: $(top_json | head -c 300)"
    exit 1
fi
read -r rx0 tx0 <<<"$sums"
top_json | pyh summary | sed 's/^/# /' || true

# Every worker pinned to one core and at nice -10 (the dataplane before xpfd's housekeeping).
placement=""
if json=$(top_json) && read -r -a wpids < <(pyh pids <<<"$json") && ((${#wpids[@]} > 0)); then
    for p in "${wpids[@]}"; do
        nice=$(awk '{print $19}' "/proc/$p/stat" 2>/dev/null)
        cpus=$(awk '/^Cpus_allowed_list:/ {print $2}' "/proc/$p/status" 2>/dev/null)
        placement+="pid $p nice ${nice:-?} cpus ${cpus:-?}; "
        [[ "$nice" == "-10" && "$cpus" =~ ^[0-9]+$ ]] || placement+="WRONG; "
    done
fi
if [[ -n "$placement" && "$placement" != *WRONG* ]]; then
    ok "workers pinned to one core each at nice -10: $placement"
else
    notok "workers pinned to one core each at nice -10" "${placement:-no worker pids}"
fi

# ---------------------------------------------------------------- a. ping

ping_check "a. ping IPv4 client->server" 10.10.2.2
ping_check "a. ping IPv6 client->server" -6 fd00:2::2

# ---------------------------------------------------------------- b. TCP

SRC_FILE="$TMP/src.bin"
dd if=/dev/urandom of="$SRC_FILE" bs=1M count="$MB" status=none
SRC_SHA=$(sha "$SRC_FILE")
if tcp_transfer "b" 5001; then
    ok "b. TCP $MB MB client->server, sha256 identical ($DETAIL)"
else
    notok "b. TCP $MB MB client->server" "$DETAIL"
fi

# ---------------------------------------------------------------- c. UDP

udp_one "c. UDP IPv4 client->server" "$NS_S" UDP4-RECVFROM "$NS_C" UDP4-SENDTO:10.10.2.2 5004
udp_one "c. UDP IPv4 server->client" "$NS_C" UDP4-RECVFROM "$NS_S" UDP4-SENDTO:10.10.1.2 5005
udp_one "c. UDP IPv6 client->server" "$NS_S" UDP6-RECVFROM "$NS_C" "UDP6-SENDTO:[fd00:2::2]" 5006
udp_one "c. UDP IPv6 server->client" "$NS_C" UDP6-RECVFROM "$NS_S" "UDP6-SENDTO:[fd00:1::2]" 5007

# ---------------------------------------------------------------- d. worker counters

if sums=$(worker_sums); then
    read -r rx1 tx1 <<<"$sums"
    drx=$((rx1 - rx0))
    dtx=$((tx1 - tx0))
    if ((drx > MIN_PACKETS && dtx > MIN_PACKETS)); then
        ok "d. worker counters grew (rx +$drx, tx +$dtx packets)"
    else
        notok "d. worker counters grew" "rx +$drx, tx +$dtx packets; expected > $MIN_PACKETS each"
    fi
else
    notok "d. worker counters grew" "xpf-top --json failed"
fi

# ---------------------------------------------------------------- e. sessions

# A long-lived TCP connection to :5001 (the transfer's session may already be closed):
# it is listed in e., must survive the worker kill in f. and still carry data after it.
HOLD_OUT="$TMP/hold.out"
HOLD_GO="$TMP/hold.go"
tcp_server 5001 "$HOLD_OUT" 120
HOLD_SRV=$SRV_PID
HOLD_CLI=""
if wait_listen "$NS_S" t 5001; then
    (
        printf 'before-kill\n'
        for ((i = 0; i < 600; i++)); do
            [[ -e "$HOLD_GO" ]] && break
            sleep 0.1
        done
        printf 'after-kill\n'
    ) | ip netns exec "$NS_C" timeout 90 socat -u - TCP:10.10.2.2:5001,connect-timeout=5 2>"$TMP/hold-cli.err" &
    HOLD_CLI=$!
    BG_PIDS+=("$HOLD_CLI")
    for ((i = 0; i < 50; i++)); do
        grep -q before-kill "$HOLD_OUT" 2>/dev/null && break
        sleep 0.1
    done
fi
if grep -q before-kill "$HOLD_OUT" 2>/dev/null; then
    ok "e. long-lived TCP connection to :5001 established"
else
    notok "e. long-lived TCP connection to :5001 established" "no data arrived"
fi

# Fresh echo traffic so ICMP sessions exist whatever their timeout.
timeout 10 ip netns exec "$NS_C" ping -c 2 -i 0.2 -W 2 10.10.2.2 >/dev/null 2>&1 || true
timeout 10 ip netns exec "$NS_C" ping -6 -c 2 -i 0.2 -W 2 fd00:2::2 >/dev/null 2>&1 || true

if sj=$(sessions_json); then
    info "$(pyh total <<<"$sj") sessions listed"
    if r=$(pyh has-session tcp 10.10.1.2 10.10.2.2 5001 <<<"$sj"); then
        ok "e. TCP session 10.10.1.2 -> 10.10.2.2:5001 listed, packets both ways ($r)"
    else
        notok "e. TCP session 10.10.1.2 -> 10.10.2.2:5001" "$r"
    fi
    if r=$(pyh has-session icmp 10.10.1.2 10.10.2.2 <<<"$sj"); then
        ok "e. ICMP session 10.10.1.2 -> 10.10.2.2 listed, packets both ways ($r)"
    else
        notok "e. ICMP session 10.10.1.2 -> 10.10.2.2" "$r"
    fi
    if r=$(pyh has-session icmpv6 fd00:1::2 fd00:2::2 <<<"$sj"); then
        ok "e. ICMPv6 session fd00:1::2 -> fd00:2::2 listed, packets both ways ($r)"
    else
        notok "e. ICMPv6 session fd00:1::2 -> fd00:2::2" "$r"
    fi
else
    notok "e. xpfctl show security flow session --json" "failed: $(timeout 5 "$XPF_BIN/xpfctl" show security flow session --state-dir "$STATE" --json 2>&1 | tail -n 2 | tr '\n' ' ')"
    sj=""
fi

# ---------------------------------------------------------------- f. worker kill -9

# Sessions that are not about to expire must all still be listed after the restart.
: >"$TMP/keys-before"
if [[ -n "$sj" ]] && sj=$(sessions_json); then
    pyh keys 15 <<<"$sj" | sort -u >"$TMP/keys-before" || true
fi

# A transfer in flight while the worker dies.
PRE_OUT="$TMP/recv-5002.bin"
tcp_server 5002 "$PRE_OUT"
PRE_SRV=$SRV_PID
PRE_CLI=""
if wait_listen "$NS_S" t 5002; then
    tcp_client_paced 5002 "$SRC_FILE"
    PRE_CLI=$CLI_PID
    for ((i = 0; i < 30; i++)); do
        [[ -n "$(ip netns exec "$NS_S" ss -Htn state established "sport = :5002" 2>/dev/null)" ]] && break
        kill -0 "$PRE_CLI" 2>/dev/null || break
        sleep 0.1
    done
fi
inflight=no
if [[ -n "$PRE_CLI" ]] && kill -0 "$PRE_CLI" 2>/dev/null; then inflight=yes; fi

restart_ok=0
old_pid=""
if json=$(top_json) && old_pid=$(pyh worker-pid 0 <<<"$json") && [[ "$old_pid" =~ ^[0-9]+$ ]]; then
    t0=$(now_ms)
    kill -KILL "$old_pid" 2>/dev/null || true
    elapsed=""
    while (($(now_ms) - t0 < 5000)); do
        if json=$(top_json) && r=$(pyh restarted 0 "$old_pid" <<<"$json"); then
            elapsed=$(($(now_ms) - t0))
            break
        fi
        sleep 0.1
    done
    if [[ -z "$elapsed" ]]; then
        notok "f. worker restart on queue 0 after kill -9" "no new running worker within 5 s"
    elif ((elapsed <= RESTART_BUDGET_MS)); then
        ok "f. worker restart on queue 0 after kill -9 of pid $old_pid: $r, running after $elapsed ms"
        restart_ok=1
    else
        notok "f. worker restart on queue 0 within $RESTART_BUDGET_MS ms" "took $elapsed ms ($r)"
        restart_ok=1
    fi
else
    notok "f. worker restart on queue 0" "no worker on queue 0 in xpf-top --json"
fi

if ((restart_ok)); then
    before=$(wc -l <"$TMP/keys-before")
    if sj=$(sessions_json); then
        pyh keys <<<"$sj" | sort -u >"$TMP/keys-after" || true
        missing=$(comm -23 "$TMP/keys-before" "$TMP/keys-after")
        if ((before == 0)); then
            notok "f. sessions survive the worker restart" "no sessions were listed before the kill"
        elif [[ -z "$missing" ]]; then
            ok "f. sessions survive the worker restart (all $before listed before the kill still listed)"
        else
            notok "f. sessions survive the worker restart" "missing: $(head -n 5 <<<"$missing" | tr '\n' ';')"
        fi
    else
        notok "f. sessions survive the worker restart" "xpfctl show security flow session --json failed"
    fi
fi

# The long-lived connection must still carry data.
touch "$HOLD_GO"
if [[ -n "$HOLD_CLI" ]]; then
    wait_gone "$HOLD_CLI" 15000 || kill "$HOLD_CLI" 2>/dev/null || true
    reap "$HOLD_CLI"
fi
wait_gone "$HOLD_SRV" 5000 || kill "$HOLD_SRV" 2>/dev/null || true
reap "$HOLD_SRV"
if [[ "$(cat "$HOLD_OUT" 2>/dev/null)" == $'before-kill\nafter-kill' ]]; then
    ok "f. long-lived TCP connection carries data after the restart"
else
    notok "f. long-lived TCP connection carries data after the restart" \
        "server received '$({ tr '\n' '|' <"$HOLD_OUT"; } 2>/dev/null)'"
fi

new_ok=0
if tcp_transfer "f" 5003; then
    ok "f. new TCP $MB MB transfer after the restart, sha256 identical ($DETAIL)"
    new_ok=1
else
    notok "f. new TCP $MB MB transfer after the restart" "$DETAIL"
fi

if [[ -n "$PRE_CLI" ]]; then
    wait_gone "$PRE_CLI" 65000 || true
    reap "$PRE_CLI"
fi
wait_gone "$PRE_SRV" 5000 || kill "$PRE_SRV" 2>/dev/null || true
reap "$PRE_SRV"
if [[ -f "$PRE_OUT" && "$(sha "$PRE_OUT")" == "$SRC_SHA" ]]; then
    ok "f. transfer started before the kill completed intact (in flight at the kill: $inflight)"
elif ((new_ok)); then
    ok "f. transfer started before the kill broke ($(stat -c %s "$PRE_OUT" 2>/dev/null || echo 0) bytes, in flight: $inflight); the new transfer succeeded"
else
    notok "f. transfer across the kill" "pre-kill transfer broke and the new one failed too"
fi

# ---------------------------------------------------------------- d. kernel did not forward

k1=$(kernel_counters)
read -r f4a f6a in4a in6a <<<"$k0"
read -r f4b f6b in4b in6b <<<"$k1"
if ((f4b - f4a < MAX_KERNEL_FORWARD && f6b - f6a < MAX_KERNEL_FORWARD)); then
    ok "d. kernel in $NS_FW forwarded nothing (ForwDatagrams +$((f4b - f4a)), Ip6OutForwDatagrams +$((f6b - f6a)))"
else
    notok "d. kernel in $NS_FW forwarded nothing" "ForwDatagrams +$((f4b - f4a)), Ip6OutForwDatagrams +$((f6b - f6a))"
fi
if ((in4b - in4a + in6b - in6a < MAX_KERNEL_IN)); then
    ok "d. kernel in $NS_FW saw no transit traffic (InReceives +$((in4b - in4a)), Ip6InReceives +$((in6b - in6a)))"
else
    notok "d. kernel in $NS_FW saw no transit traffic" \
        "InReceives +$((in4b - in4a)), Ip6InReceives +$((in6b - in6a)) (>= $MAX_KERNEL_IN)"
fi

# ---------------------------------------------------------------- g. stop

shm_target=$(readlink -f "$STATE/shm" 2>/dev/null || true)
xpfd_pid=$(tr -dc '0-9' <"$STATE/xpfd.pid" 2>/dev/null || true)
worker_pids=()
if json=$(top_json); then read -r -a worker_pids < <(pyh pids <<<"$json") || true; fi
if [[ -n "$shm_target" && -e "$shm_target" ]]; then
    info "shared memory: $shm_target"
else
    notok "g. shm file present while running" "$STATE/shm does not resolve to a file"
fi

stop_rc=0
stop_out=$("$LAB" stop --prefix "$PREFIX" 2>&1) || stop_rc=$?
while IFS= read -r line; do echo "# $line"; done <<<"$stop_out"
if ((stop_rc != 0)); then
    notok "g. xpf-lab stop" "exit status $stop_rc"
elif grep -q SIGKILL <<<"$stop_out"; then
    notok "g. xpfd exits on SIGTERM within 10 s" "needed SIGKILL"
else
    ok "g. xpfd exits on SIGTERM within 10 s"
fi
for ifc in fw0 fw1; do
    xdp=$(ip -n "$NS_FW" -d link show dev "$ifc" 2>&1 | grep -oE 'prog/xdp[^ ]*|xdp[a-z]*' | sort -u | tr '\n' ' ' || true)
    if [[ -z "$xdp" ]]; then
        ok "g. no XDP program on $ifc after stop"
    else
        notok "g. no XDP program on $ifc after stop" "ip -d link shows: $xdp"
    fi
done
if [[ -n "$shm_target" && -e "$shm_target" ]]; then
    notok "g. shm file removed after stop" "$shm_target still exists"
else
    ok "g. shm file removed after stop"
fi
alive=""
for p in $xpfd_pid "${worker_pids[@]}"; do
    if kill -0 "$p" 2>/dev/null && [[ "$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null)" != Z ]]; then
        alive+=" $p"
    fi
done
if [[ -z "$alive" ]]; then
    ok "g. xpfd and workers exited"
else
    notok "g. xpfd and workers exited" "still alive:$alive"
fi
