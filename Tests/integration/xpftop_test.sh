#!/usr/bin/env bash
# xpf-top in a real terminal (issue 11 §3): the lab with two queues and a ping from the
# client to the server running all along; xpf-top runs in a detached tmux session (its
# own tmux server on a socket in the suite's temporary directory, killed on every exit
# path), keys are sent with `tmux send-keys` and the screen read with `tmux capture-pane`.
# Checked: the workers view (a row per queue, the scaling verdict, sparklines), `d` drop
# reasons, `i` interfaces, `s` sessions (the ping's session with a rate), `p` policies
# (allow-out with hits, the default policy), `<` and `r` move and reverse the sort mark (a
# text column starts ascending), ^Z from a job-control shell gives the terminal back and
# `fg` takes it again,
# `h` help naming every key, `+` / `-` change the interval in the title, `f` freezes (the
# screen stays byte for byte the same until unfrozen), `q` exits 0 with the terminal
# settings restored (stty -g before = after), ^C (SIGINT) and SIGTERM do too. Colour: the column header
# carries a colour SGR, and a worker stopped with SIGSTOP turns red once its heartbeat is
# older than 1 s (xpfd is stopped with it, so its watchdog cannot kill the worker at 2 s);
# with NO_COLOR=1 the screen holds no colour at all; the live view with its stdout a pipe
# (stdin still the terminal) writes its frames without one colour SGR; redirected to a
# file, --once writes no escape sequence. --json: "schema": 1 and every documented field.
# Prints ok/not ok lines and "N passed, N failed".
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Tests/integration/lib.sh"

WAIT_STEPS=100      # 100 x 0.1 s: the bound of every wait for the screen to show something
COLUMNS_WIDE=250    # wide enough for the workers view with its sparklines
ROWS_TALL=50
ESC=$'\e'

command -v tmux >/dev/null || { notok "tmux" "not installed (tools/setup installs it)"; exit 1; }
TMUX_SOCKET="$TMP/tmux.sock"
tm() { tmux -S "$TMUX_SOCKET" "$@"; }
# The tmux server goes first (its panes' xpf-top with it), then the lab.
xpftop_cleanup() {
    local rc=$?
    set +e  # under errexit a failing (exit $rc) would end the trap before the lab is torn down
    tm kill-server 2>/dev/null
    (exit "$rc")
    lab_cleanup
}
trap xpftop_cleanup EXIT

lab_begin --queues 2
ip netns exec "$NS_C" ping -q -i 0.2 10.10.2.2 >/dev/null 2>&1 &
BG_PIDS+=("$!")

# A pane runs xpf-top, then says whether the terminal settings came back and its exit code.
cat > "$TMP/run.sh" <<'SH'
before=$(stty -g)
"$@"
rc=$?
if [ "$(stty -g)" = "$before" ]; then echo "terminal restored"; else echo "terminal NOT restored"; fi
echo "xpf-top exited rc=$rc"
exec sleep 600
SH
# start_top NAME [ENV=VALUE…]: xpf-top every 0.5 s in tmux session NAME.
start_top() {
    local name=$1
    shift
    tm new-session -d -s "$name" -x "$COLUMNS_WIDE" -y "$ROWS_TALL" \
        env "$@" bash "$TMP/run.sh" "$XPFTOP" --state-dir "$STATE" --interval 0.5
}
S1="top-$PREFIX"
S2="nocolor-$PREFIX"
screen() { tm capture-pane -p -t "$1"; }
screen_e() { tm capture-pane -p -e -t "$1"; }
# wait_screen NAME REGEX: waits (bounded) until the screen matches the extended REGEX.
wait_screen() {
    local i
    for ((i = 0; i < WAIT_STEPS; i++)); do
        if screen "$1" | grep -Eq -- "$2"; then return 0; fi
        sleep 0.1
    done
    return 1
}
# key NAME KEY: sends one key (literally).
key() { tm send-keys -t "$1" -l -- "$2"; }
# check NAME WHAT REGEX: one ok / not ok line for the screen matching REGEX.
check() {
    if wait_screen "$1" "$3"; then ok "$2"; else notok "$2" "screen lacks /$3/:$(printf '\n'; screen "$1" | sed 's/^/#   /')"; fi
}

start_top "$S1" TERM=xterm
# --- workers view
check "$S1" "workers view: title names the view and the interval" "^xpf-top — xpfd pid [0-9]+ running.* — workers, every 0.5 s — h: help"
check "$S1" "workers view: the scaling verdict on the second line" "^scaling: (idle|no queue saturated|queue [0-9]+ )"
if [[ "$(screen "$S1" | sed -n 2p)" == scaling:* ]]; then ok "the verdict is line 2"; else notok "verdict line" "$(screen "$S1" | sed -n 2p)"; fi
check "$S1" "workers view: header with the sort mark on Q" "^ *Q▲ CORE NODE +PID STATE .*BUSY%.*RX pps \(last 30\)"
check "$S1" "workers view: queue 0 row, running" "^ *0 +[0-9-]+ +[0-9-]+ +[0-9]+ running "
check "$S1" "workers view: queue 1 row, running" "^ *1 +[0-9-]+ +[0-9-]+ +[0-9]+ running "
check "$S1" "workers view: sparklines" "[▁▂▃▄▅▆▇█]{3,}"
# --- drop reasons
key "$S1" d
check "$S1" "d: drop reasons view" " — drop reasons, every"
check "$S1" "d: total, rate and per-queue columns" "^REASON +TOTAL▼ +RATE/s +q0 +q1 MEANING"
# --- interfaces
key "$S1" i
IFNAME=$("$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["name"])')
check "$S1" "i: interfaces view" " — interfaces, every"
check "$S1" "i: a row for interface $IFNAME" "^$IFNAME +[0-9]+ (native|generic) "
# --- sessions
key "$S1" s
check "$S1" "s: top sessions view, sorted by packets per second" "^ *ID PROTO +SOURCE +DESTINATION +POLICY +PKTS/s▼"
check "$S1" "s: the ping's session with a rate, its policy named" "^ *[0-9]+ icmp +10\.10\.1\.2/[0-9]+ +10\.10\.2\.2/[0-9]+ +allow-out +[1-9][0-9.]*k? "
# --- policies
key "$S1" p
check "$S1" "p: policies view, sorted by hits" "^KIND +SCOPE +NAME +ACTION +HITS▼ +HITS/s"
check "$S1" "p: allow-out (trust → untrust) with hits" "^policy +trust → untrust +allow-out +permit +[1-9][0-9]* "
check "$S1" "p: the default policy" "^policy +- +default-policy "
# --- sorting
key "$S1" "<"
check "$S1" "<: the sort mark moves one column left (ACTION, a text column: ascending ▲)" "^KIND +SCOPE +NAME +ACTION▲ +HITS +HITS/s"
key "$S1" r
check "$S1" "r: reverses the order (▼)" "^KIND +SCOPE +NAME +ACTION▼ +HITS +HITS/s"
key "$S1" ">"
check "$S1" ">: moves it back right (HITS)" "^KIND +SCOPE +NAME +ACTION +HITS▼ +HITS/s"
key "$S1" w
check "$S1" "w: back to the workers view" " — workers, every"
# --- help
key "$S1" h
check "$S1" "h: help screen" "^Keys"
help_missing=""
for k in "q" "h ?" "space f" "+ -" "w" "i" "d" "s" "p" "< >" "r"; do
    screen "$S1" | grep -Eq -- "^$(sed 's/[+?]/\\&/g' <<<"$k") +[a-z]" || help_missing+=" '$k'"
done
if [[ -z "$help_missing" ]]; then ok "help names every key"; else notok "help" "keys missing:$help_missing"; fi
key "$S1" w
check "$S1" "any key leaves the help" "^ *Q▲ CORE"
key "$S1" "?"
check "$S1" "?: help screen too" "^Keys"
key "$S1" w
# --- interval
key "$S1" +
check "$S1" "+: interval doubled in the title (1 s)" " — workers, every 1 s — "
key "$S1" -
key "$S1" -
check "$S1" "- -: interval halved twice (0.25 s)" " — workers, every 0.25 s — "
# --- freeze
key "$S1" f
check "$S1" "f: the title says FROZEN" " — FROZEN — "
a=$(screen "$S1"); sleep 1; b=$(screen "$S1")
if [[ "$a" == "$b" ]]; then ok "frozen: the screen stays the same over 4 intervals"; else notok "frozen" "the screen changed"; fi
key "$S1" " "
if wait_screen "$S1" " — workers, every 0.25 s — h: help" && ! screen "$S1" | grep -q FROZEN; then ok "space unfreezes"; else notok "unfreeze" "$(screen "$S1" | head -1)"; fi
# --- colour
if screen_e "$S1" | grep -q "${ESC}\[[0-9;]*3[0-7][;m]"; then ok "colour on a terminal: the column header has a colour SGR"; else notok "colour" "no colour SGR on the screen"; fi
read -r W1 XPFD < <("$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print(j["workers"][1]["pid"], j["supervisor_pid"])')
# xpfd first: its watchdog cannot kill the stopped worker, so the row stays red until we
# continue both.
kill -STOP "$XPFD"
kill -STOP "$W1"
red=0
for ((i = 0; i < WAIT_STEPS; i++)); do
    # queue 1's row inside a red SGR (tmux writes its own SGR form: 31 alone or with others)
    if screen_e "$S1" | grep -Eq "${ESC}\[([0-9]+;)*31(;[0-9]+)*m *1 +[0-9-]+ +[0-9-]+ +[0-9]+ "; then red=1; break; fi
    sleep 0.1
done
kill -CONT "$W1" 2>/dev/null || true
kill -CONT "$XPFD" 2>/dev/null || true
if ((red)); then ok "a stopped worker's row turns red (heartbeat older than 1 s)"; else notok "failing worker colour" "queue 1 never red:$(printf '\n'; screen_e "$S1" | cat -v | sed -n '4,7p;s/^/#   /')"; fi
# --- quit
key "$S1" q
check "$S1" "q: xpf-top exits 0" "^xpf-top exited rc=0"
check "$S1" "q: the terminal settings are restored" "^terminal restored"
if ! screen "$S1" | grep -q "CORE NODE"; then ok "q: the alternate screen is gone (the shell's screen again)"; else notok "screen after q" "the table is still shown"; fi

# --- NO_COLOR, SIGTERM
start_top "$S2" TERM=xterm NO_COLOR=1
check "$S2" "NO_COLOR=1: the live view runs" "^ *Q▲ CORE"
if ! screen_e "$S2" | grep -q "${ESC}\["; then ok "NO_COLOR=1: not one escape sequence on the screen"; else notok "NO_COLOR" "$(screen_e "$S2" | grep "${ESC}\[" | head -3 | cat -v)"; fi
top_pid=$(pgrep -P "$(tm display -p -t "$S2" '#{pane_pid}')" -x xpf-top || true)
if [[ -n "$top_pid" ]]; then kill -TERM "$top_pid"; fi
check "$S2" "SIGTERM: xpf-top exits 0" "^xpf-top exited rc=0"
check "$S2" "SIGTERM: the terminal settings are restored" "^terminal restored"

# --- colour off a terminal: the live view's stdout a pipe (stdin the pane's terminal), its
# bytes kept by tee: frames (cursor and screen sequences) but no colour (SGR … m).
S4="pipe-$PREFIX"
tm new-session -d -s "$S4" -x "$COLUMNS_WIDE" -y "$ROWS_TALL" \
    env TERM=xterm bash "$TMP/run.sh" bash -c '"$1" --state-dir "$2" --interval 0.5 | tee "$3"' _ "$XPFTOP" "$STATE" "$TMP/piped.out"
check "$S4" "stdout a pipe: the live view runs" "^ *Q▲ CORE"
key "$S4" q
check "$S4" "stdout a pipe: q exits" "^xpf-top exited rc=0"
if grep -q "CORE NODE" "$TMP/piped.out" && grep -q "${ESC}\[?1049h" "$TMP/piped.out" && ! grep -Eq "${ESC}\[[0-9;]*m" "$TMP/piped.out"; then
    ok "stdout a pipe: frames written, not one colour SGR (colour needs a terminal on stdout)"
else
    notok "colour off a terminal" "$(grep -Eo "${ESC}\[[0-9;]*m" "$TMP/piped.out" | head -3 | cat -v)"
fi

# --- ^Z and fg, from an interactive shell with job control: the stopped xpf-top has given
# the terminal back (the shell's settings, the shell's screen); fg takes it again.
S5="tstp-$PREFIX"
tm new-session -d -s "$S5" -x "$COLUMNS_WIDE" -y "$ROWS_TALL" env TERM=xterm PS1='sh$ ' bash --norc --noprofile -i
tm send-keys -t "$S5" "stty -g > $TMP/stty.before; $XPFTOP --state-dir $STATE --interval 0.5" Enter
check "$S5" "^Z: the live view runs from an interactive shell" "^ *Q▲ CORE"
tm send-keys -t "$S5" C-z
check "$S5" "^Z: xpf-top stops, the shell's screen is back" "Stopped"
tm send-keys -t "$S5" "stty -g > $TMP/stty.after" Enter
for ((i = 0; i < WAIT_STEPS; i++)); do [[ -s "$TMP/stty.after" ]] && break; sleep 0.1; done
if [[ -s "$TMP/stty.after" ]] && cmp -s "$TMP/stty.before" "$TMP/stty.after"; then ok "^Z: the terminal settings are the shell's while stopped"; else notok "^Z terminal" "before $(cat "$TMP/stty.before") after $(cat "$TMP/stty.after" 2>/dev/null)"; fi
tm send-keys -t "$S5" "clear; fg" Enter
check "$S5" "fg: the live view is back" "^ *Q▲ CORE"
key "$S5" q
# fg's status is the job's: sent once xpf-top has quit (the shell's prompt again).
wait_screen "$S5" '^sh\$ $' || true
tm send-keys -t "$S5" 'echo "fg rc=$?"' Enter
check "$S5" "fg, then q: xpf-top exits 0" "^fg rc=0"

# --- ^C (SIGINT from the terminal)
S3="intr-$PREFIX"
start_top "$S3" TERM=xterm
check "$S3" "^C: the live view runs" "^ *Q▲ CORE"
tm send-keys -t "$S3" C-c
check "$S3" "^C: xpf-top exits 0" "^xpf-top exited rc=0"
check "$S3" "^C: the terminal settings are restored" "^terminal restored"

# --- scripts
"$XPFTOP" --state-dir "$STATE" --once --interval 0.1 > "$TMP/once.txt"
if grep -q "^ *Q CORE NODE" "$TMP/once.txt" && ! grep -q "$ESC" "$TMP/once.txt"; then ok "--once to a file: the table, no escape sequence"; else notok "--once" "$(cat -v "$TMP/once.txt" | head -5)"; fi
if "$XPFTOP" --state-dir "$STATE" < /dev/null > "$TMP/notty.txt" 2>&1; then notok "live view without a terminal" "exited 0"; elif grep -q "needs a terminal" "$TMP/notty.txt"; then ok "the live view refuses a stdin that is no terminal"; else notok "no terminal" "$(cat "$TMP/notty.txt")"; fi
"$XPFTOP" --state-dir "$STATE" --json --interval 0.1 > "$TMP/top.json"
py_checks - "$TMP/top.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print(("ok - " if j.get("schema") == 1 else "not ok - ") + '--json parses and has "schema": 1')
# Every field tools/xpf-top/main.swift's header documents, with its type ("hint" is absent
# when balanced: not required).
def check(what, obj, fields):
    bad = [k for k, t in fields.items() if k not in obj or not isinstance(obj[k], t) or isinstance(obj[k], bool) != (t is bool)]
    print(("ok - " if not bad else "not ok - ") + "--json %s: every documented field with its type %s" % (what, bad))
num = (int, float)
check("top level", j, {"schema": int, "supervisor_pid": int, "supervisor_alive": bool, "state": str, "generation": int,
                       "fib_version": int, "interval_s": num, "rx_ring_size": int, "tx_ring_size": int, "workers": list,
                       "totals": dict, "interfaces": list, "xdp": dict, "scaling": dict})
worker = {k: int for k in ("queue", "pid", "core", "numa_node", "heartbeat_age_ms", "generation", "fib_version", "restarts",
                           "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "drops", "batches", "polls", "loops",
                           "loop_busy_ns", "loop_idle_ns", "loop_spin_ns", "sessions_created", "sessions_closed",
                           "session_hits", "session_misses", "neigh_parked", "neigh_sent", "icmp_errors_sent",
                           "icmp_errors_limited", "events_emitted", "events_dropped", "events_rate_limited", "requests_dropped")}
worker.update({k: num for k in ("rx_pps", "tx_pps", "rx_bps", "tx_bps", "batch_fill", "busy_share")})
worker.update({"state": str, "drops_by_reason": dict, "rings": list})
for w in j["workers"]:
    check("worker %d" % w.get("queue", -1), w, worker)
    ring = {k: int for k in ("rx_used", "tx_used", "fill_used", "rx_packets", "tx_packets", "batches", "xsk_rx_ring_full",
                             "xsk_fill_ring_empty", "xsk_rx_dropped", "xsk_tx_ring_empty")}
    ring.update({"interface": str, "vector_size": num})
    for r in w["rings"]:
        check("worker %d ring %s" % (w["queue"], r.get("interface")), r, ring)
    print(("ok - " if w["drops_by_reason"] and all(isinstance(v, int) for v in w["drops_by_reason"].values()) else "not ok - ")
          + "--json worker %d drops_by_reason: reason → int" % w["queue"])
check("totals", j["totals"], {"rx_packets": int, "tx_packets": int, "drops": int, "sessions_active": int, "session_capacity": int})
for i in j["interfaces"]:
    check("interface %s" % i.get("name"), i, {"name": str, "ifindex": int, "xdp_mode": str, "rx_queues": int, "rx_packets": int,
                                             "tx_packets": int, "rx_pps": num, "tx_pps": num})
check("scaling", j["scaling"], {"verdict": str, "limits": list})
print(("ok - " if len(j["scaling"]["limits"]) == len(j["workers"]) and all(l in ("idle", "none", "cpu", "rx-ring", "umem", "tx", "imbalance") for l in j["scaling"]["limits"]) else "not ok - ")
      + "--json scaling.limits: one documented limit per queue %s" % j["scaling"]["limits"])
print(("ok - " if all(isinstance(v, int) for v in j["xdp"].values()) and "rx_total" in j["xdp"] else "not ok - ") + "--json xdp: counter → int")
PY
