# Shared scaffolding of the lab integration suites (sourced, not run).
#   ok/notok/info   results in TAP-like lines; `finish` prints "N passed, N failed"
#   lab_begin       picks a unique prefix, brings the lab up and starts xpfd; every exit
#                   path tears it down (trap), also on failure or interrupt
#   pytest_suite    runs a pytest + scapy suite whose fixture owns the lab
# Needs: REPO set by the caller; root; built binaries ($XPF_BIN or the release bin path).
PASS=0
FAIL=0
BG_PIDS=()
LAB="$REPO/tools/xpf-lab"
PY=/usr/bin/python3

ok() { echo "ok - $1"; PASS=$((PASS + 1)); }
notok() { echo "not ok - $1: $2"; FAIL=$((FAIL + 1)); }
info() { echo "# $*"; }
# py_checks SCRIPT ARGS…: runs a Python check script that prints ok/not ok lines itself
# and adds them to the counts; a script that stops early (a traceback, a missing field)
# without a `not ok` line fails the suite.
py_checks() {
    local out rc=0
    out=$("$PY" "$@" 2>&1) || rc=$?
    echo "$out"
    PASS=$((PASS + $(grep -c '^ok - ' <<<"$out" || true)))
    FAIL=$((FAIL + $(grep -c '^not ok - ' <<<"$out" || true)))
    if ((rc != 0)) && ! grep -q '^not ok - ' <<<"$out"; then notok "python check $1" "exited $rc"; fi
}

# tcp_fin_flow DPORT SPORT: one TCP connection from the client (10.10.1.2:SPORT) to the
# server (10.10.2.2:DPORT, a socat sink): handshake, 1000 bytes, FIN from the client.
tcp_fin_flow() {
    ip netns exec "$NS_S" socat -u TCP-LISTEN:"$1",reuseaddr OPEN:/dev/null &
    local srv=$!
    sleep 0.3
    if head -c 1000 /dev/zero | ip netns exec "$NS_C" socat -u - TCP:10.10.2.2:"$1",sourceport="$2",connect-timeout=3; then
        ok "TCP connection through xpf"
    else
        notok "TCP connection" "socat failed"
    fi
    wait "$srv" 2>/dev/null || true
}

PREFIX="g$$"
if ((${#PREFIX} > 8)) || [[ -e "/run/netns/$PREFIX-fw" ]]; then PREFIX="g$RANDOM"; fi
NS_C="$PREFIX-c"
NS_FW="$PREFIX-fw"
NS_S="$PREFIX-s"
STATE="/run/xpf/$PREFIX"
TMP=$(mktemp -d /tmp/xpf-itest.XXXXXX)
LAB_UP=0

lab_cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM HUP
    local p
    for p in "${BG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    if ((LAB_UP)); then
        if ((FAIL)) && [[ -f "$STATE/xpfd.log" ]]; then
            echo "# --- last lines of $STATE/xpfd.log"
            tail -n 30 "$STATE/xpfd.log" | sed 's/^/# /'
        fi
        "$LAB" down --prefix "$PREFIX" 2>&1 | sed 's/^/# /'
        # A pytest suite's second lab (PREFIX + "q", e.g. test_policer's two-queue lab).
        if [[ -e "/run/netns/${PREFIX}q-fw" ]]; then "$LAB" down --prefix "${PREFIX}q" 2>&1 | sed 's/^/# /'; fi
    fi
    rm -rf "$TMP"
    if ((rc != 0 && FAIL == 0)); then notok "suite" "aborted by an unexpected error (exit $rc)"; fi
    echo "$PASS passed, $FAIL failed"
    ((FAIL == 0 && rc == 0)) || exit 1
    exit 0
}
trap lab_cleanup EXIT
trap 'exit 130' INT TERM HUP

bin_dir() {
    if [[ -n "${XPF_BIN:-}" ]]; then echo "$XPF_BIN"; else (cd "$REPO" && swift build -c release --show-bin-path); fi
}
BIN=$(bin_dir)
XPFCTL="$BIN/xpfctl"
XPFTOP="$BIN/xpf-top"

# lab_begin [--queues N] [--config FILE]
lab_begin() {
    LAB_UP=1
    "$LAB" up --prefix "$PREFIX" "$@" | sed 's/^/# /'
    "$LAB" start --prefix "$PREFIX" "$@" | sed 's/^/# /'
}

# pytest_suite DIR: runs the pytest + scapy suite in DIR, whose session fixture owns the
# lab (it gets lib.sh's unique prefix; lab_cleanup tears the same lab down again should
# pytest be killed, and a second lab named that prefix + "q" if a module brought one up), then one ok/not ok line per test case from its JUnit report (skips
# are listed, not counted).
pytest_suite() {
    local junit="$TMP/junit.xml" rc=0
    LAB_UP=1  # lab_cleanup (the EXIT trap) runs `xpf-lab down` for this prefix: idempotent
    XPF_BIN="$BIN" XPF_LAB_PREFIX="$PREFIX" PYTHONDONTWRITEBYTECODE=1 \
        "$PY" -m pytest -p no:cacheprovider -v -rs --junitxml "$junit" "$1" || rc=$?
    if [[ -s "$junit" ]]; then
        py_checks - "$junit" <<'PY'
import sys
import xml.etree.ElementTree as ET
for case in ET.parse(sys.argv[1]).iter("testcase"):
    name = "%s::%s" % (case.get("classname", "").split(".")[-1], case.get("name"))
    if case.find("skipped") is not None:
        print("# skipped - %s: %s" % (name, case.find("skipped").get("message", "")))
    elif case.find("failure") is not None or case.find("error") is not None:
        print("not ok - " + name)
    else:
        print("ok - " + name)
PY
    else
        notok "pytest" "no report (exit $rc)"
    fi
    if ((rc != 0 && FAIL == 0)); then notok "pytest" "exited $rc with no failed test case"; fi
}
