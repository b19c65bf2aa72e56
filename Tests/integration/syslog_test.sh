#!/usr/bin/env bash
# RT_FLOW over UDP to a real syslog daemon (issue 8, R-9.3): Debian's rsyslogd listens in
# the firewall namespace (where xpfd runs) on its loopback, parses every datagram with its
# RFC 5424 parser only (a line it cannot parse is discarded, or recorded with protocol
# version 0) and splits the structured data with mmpstrucdata. xpfd sends the same events
# to three UDP destinations — `system syslog host H { any any; port P; structured-data; }`
# over IPv4, the same with `structured-data { brief; }` over IPv6, and the SRX form `security log { mode stream; format sd-syslog; stream S { host { A;
# port P; } } }` — and writes them to a structured-data file. UDP (IPv4 and IPv6), TCP and
# ICMP flows cross the lab; then every field as rsyslog parsed it (PRI, version,
# timestamp, HOSTNAME, APP-NAME, PROCID, MSGID, SD-ID, parameter names in order and
# values, message text) is checked against the traffic sent and against xpfd's file line
# of the same event. Prints ok/not ok lines and "N passed, N failed".
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Tests/integration/lib.sh"

RSYSLOGD=/usr/sbin/rsyslogd
# Private to this lab's firewall namespace, so fixed ports cannot collide with anything.
HOST_PORT=5514
STREAM_PORT=5515
BRIEF_PORT=5516
LOOPBACK=127.0.0.1
LOOPBACK6=::1
UDP_TIMEOUT_S=2
ICMP_TIMEOUT_S=2
HOST_NAME="fw-$PREFIX"
# The flows below: UDP IPv4, UDP IPv6, TCP, ICMP, each one session.
FLOWS=4
# Bounded waits (iterations of 0.1 s): rsyslogd's sockets, every session's close (idle
# timeouts, then an ageing sweep of the partition), the datagrams reaching rsyslogd's files.
LISTEN_POLLS=100
CLOSE_POLLS=300
DELIVERY_POLLS=100

[[ -x "$RSYSLOGD" ]] || { notok "setup" "$RSYSLOGD missing (tools/setup installs rsyslog)"; exit 1; }

CONF="$TMP/syslog.conf"
{
    sed -e "s/host-name xpf-lab;/host-name $HOST_NAME;/" -e "s/udp-timeout 60;/udp-timeout $UDP_TIMEOUT_S;/" \
        -e "s/icmp-timeout 60;/icmp-timeout $ICMP_TIMEOUT_S;/" -e "s/closing-timeout 30;/closing-timeout 1;/" \
        -e "s/session-table-size 65536;/session-table-size 2048;/" "$REPO/config/xpf.conf"
    cat <<EOF2
system {
    syslog {
        host $LOOPBACK {
            any any;
            port $HOST_PORT;
            structured-data;
        }
        host $LOOPBACK6 {
            any any;
            port $BRIEF_PORT;
            structured-data {
                brief;
            }
        }
    }
}
security {
    log {
        mode stream;
        format sd-syslog;
        stream rsyslog {
            host {
                $LOOPBACK;
                port $STREAM_PORT;
            }
        }
    }
}
EOF2
} > "$CONF"
for want in "host-name $HOST_NAME;" "udp-timeout $UDP_TIMEOUT_S;" "icmp-timeout $ICMP_TIMEOUT_S;" \
    "closing-timeout 1;" "session-table-size 2048;" "file rtflow {"; do
    grep -qF "$want" "$CONF" || { notok "setup" "could not derive the configuration ($want)"; exit 1; }
done

# rsyslogd: its own configuration, work directory and pid file; RFC 5424 parser only.
RS_DIR="$TMP/rsyslog"
mkdir -p "$RS_DIR/work"
HOST_OUT="$RS_DIR/host.json"
STREAM_OUT="$RS_DIR/stream.json"
BRIEF_OUT="$RS_DIR/brief.json"
cat > "$RS_DIR/rsyslog.conf" <<EOF2
global(workDirectory="$RS_DIR/work" maxMessageSize="64k")
module(load="imudp")
module(load="mmpstrucdata")
# One JSON object per message: the header fields as rsyslog parsed them, the raw
# STRUCTURED-DATA, the MSG, and mmpstrucdata's split of the structured data.
template(name="fields" type="list" option.jsonf="on") {
    property(outname="pri" name="pri" format="jsonf")
    property(outname="version" name="protocol-version" format="jsonf")
    property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
    property(outname="hostname" name="hostname" format="jsonf")
    property(outname="app-name" name="app-name" format="jsonf")
    property(outname="procid" name="procid" format="jsonf")
    property(outname="msgid" name="msgid" format="jsonf")
    property(outname="structured-data" name="structured-data" format="jsonf")
    property(outname="msg" name="msg" format="jsonf")
    property(outname="sd" name="\$!rfc5424-sd" format="jsonf")
}
ruleset(name="host" parser="rsyslog.rfc5424") {
    action(type="mmpstrucdata")
    action(type="omfile" file="$HOST_OUT" template="fields")
}
ruleset(name="stream" parser="rsyslog.rfc5424") {
    action(type="mmpstrucdata")
    action(type="omfile" file="$STREAM_OUT" template="fields")
}
ruleset(name="brief" parser="rsyslog.rfc5424") {
    action(type="mmpstrucdata")
    action(type="omfile" file="$BRIEF_OUT" template="fields")
}
input(type="imudp" address="$LOOPBACK" port="$HOST_PORT" ruleset="host")
input(type="imudp" address="$LOOPBACK" port="$STREAM_PORT" ruleset="stream")
input(type="imudp" address="$LOOPBACK6" port="$BRIEF_PORT" ruleset="brief")
EOF2
if "$RSYSLOGD" -N1 -f "$RS_DIR/rsyslog.conf" > "$RS_DIR/check.txt" 2>&1; then
    ok "rsyslogd accepts the receiver configuration"
else
    notok "rsyslogd -N1" "$(tr '\n' ' ' < "$RS_DIR/check.txt")"; exit 1
fi

LAB_UP=1
"$LAB" up --prefix "$PREFIX" --queues 1 | sed 's/^/# /'
# `ip netns exec` execs rsyslogd itself, so $! is rsyslogd (killed by lab_cleanup).
ip netns exec "$NS_FW" "$RSYSLOGD" -n -f "$RS_DIR/rsyslog.conf" -i "$RS_DIR/rsyslogd.pid" \
    > "$RS_DIR/rsyslogd.out" 2>&1 &
RS_PID=$!
BG_PIDS+=("$RS_PID")
listening() { ip netns exec "$NS_FW" ss -Hlun "sport = :$1" | grep -q .; }
for ((i = 0; i < LISTEN_POLLS; i++)); do
    listening "$HOST_PORT" && listening "$STREAM_PORT" && listening "$BRIEF_PORT" && break
    kill -0 "$RS_PID" 2>/dev/null || break
    sleep 0.1
done
if listening "$HOST_PORT" && listening "$STREAM_PORT" && listening "$BRIEF_PORT"; then
    ok "rsyslogd listens on $LOOPBACK:$HOST_PORT, :$STREAM_PORT and [$LOOPBACK6]:$BRIEF_PORT in $NS_FW"
else
    notok "rsyslogd" "not listening: $(cat "$RS_DIR/rsyslogd.out")"; exit 1
fi

"$LAB" start --prefix "$PREFIX" --config "$CONF" | sed 's/^/# /'
T0=$(date +%s)

# UDP: 3 datagrams of 100 bytes from client port 40001 (IPv4) / 40003 (IPv6) to the
# server's 5001, 2 replies of 50 bytes.
ip netns exec "$NS_S" "$PY" "$REPO/Tests/integration/syslog_flows.py" server 10.10.2.2 5001 > "$TMP/srv4.out" 2>&1 &
s4=$!
ip netns exec "$NS_S" "$PY" "$REPO/Tests/integration/syslog_flows.py" server fd00:2::2 5001 > "$TMP/srv6.out" 2>&1 &
s6=$!
sleep 0.3
if ip netns exec "$NS_C" "$PY" "$REPO/Tests/integration/syslog_flows.py" client 10.10.1.2 40001 10.10.2.2 5001 \
    && wait "$s4"; then ok "UDP flow (IPv4) through xpf"; else notok "UDP flow (IPv4)" "no exchange: $(cat "$TMP/srv4.out")"; fi
if ip netns exec "$NS_C" "$PY" "$REPO/Tests/integration/syslog_flows.py" client fd00:1::2 40003 fd00:2::2 5001 \
    && wait "$s6"; then ok "UDP flow (IPv6) through xpf"; else notok "UDP flow (IPv6)" "no exchange: $(cat "$TMP/srv6.out")"; fi

# TCP: handshake, 1000 bytes, FIN from the client.
tcp_fin_flow 5002 40002

# ICMP: two echo requests of 56 bytes of data, two replies.
if ip netns exec "$NS_C" ping -c 2 -i 0.2 -W 2 10.10.2.2 > "$TMP/ping.out" 2>&1; then
    ok "ICMP echo through xpf"
else
    notok "ICMP echo" "$(tail -n 2 "$TMP/ping.out" | tr '\n' ' ')"
fi

# Every session closes (UDP and ICMP idle timeouts, TCP closing timeout, each followed by
# an ageing sweep). show log statistics drains the rings and flushes every destination
# before it answers.
SD="$STATE/rtflow"
for ((i = 0; i < CLOSE_POLLS; i++)); do
    "$XPFCTL" show log statistics --state-dir "$STATE" > "$TMP/stats.txt" 2>&1 || true
    closes=$(grep -c RT_FLOW_SESSION_CLOSE "$SD" 2>/dev/null) || closes=0
    ((closes >= FLOWS)) && break
    sleep 0.1
done
info "$(tr '\n' ';' < "$TMP/stats.txt")"
T1=$(date +%s)
lines() { if [[ -f "$1" ]]; then wc -l < "$1"; else echo 0; fi; }
for ((i = 0; i < DELIVERY_POLLS; i++)); do
    (($(lines "$SD") > 0 && $(lines "$HOST_OUT") >= $(lines "$SD") && $(lines "$STREAM_OUT") >= $(lines "$SD") \
        && $(lines "$BRIEF_OUT") >= $(lines "$SD"))) && break
    sleep 0.1
done
# rsyslogd writes and closes its files on SIGTERM; nothing it received is lost by stopping it.
kill -TERM "$RS_PID" 2>/dev/null || true
wait "$RS_PID" 2>/dev/null || true
info "xpfd file $(lines "$SD") lines; rsyslogd: host $(lines "$HOST_OUT"), brief $(lines "$BRIEF_OUT"), stream $(lines "$STREAM_OUT") messages"
if grep -q "could not be processed by any parser" "$RS_DIR/rsyslogd.out"; then
    notok "rsyslogd parsed every datagram as RFC 5424" "$(grep -m 3 'parser' "$RS_DIR/rsyslogd.out" | tr '\n' ' ')"
else
    ok "rsyslogd's RFC 5424 parser refused no datagram"
fi

py_checks "$REPO/Tests/integration/syslog_check.py" --file "$SD" --stats "$TMP/stats.txt" \
    --host-name "$HOST_NAME" --t0 "$T0" --t1 "$T1" \
    --receiver "host $LOOPBACK:$HOST_PORT" "$HOST_OUT" full \
    --receiver "host [$LOOPBACK6]:$BRIEF_PORT" "$BRIEF_OUT" brief \
    --receiver "stream rsyslog" "$STREAM_OUT" brief
