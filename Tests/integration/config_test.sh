#!/usr/bin/env bash
# Operator commands on a running xpfd (issue 3, R-11.1, R-12.2): commit check, a broken
# commit that names file:line:col and leaves the running configuration and generation
# untouched, a configuration xpf does not enforce yet (a lo0 output filter) refused, show
# configuration in both forms re-committed as-is, rollback N, show
# system commit, SIGHUP re-committing the configuration file, and clear security flow
# session.
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Tests/integration/lib.sh"

CONF="$TMP/xpf.conf"
cp "$REPO/config/xpf.conf" "$CONF"
lab_begin --queues 1 --config "$CONF"
ctl() { "$XPFCTL" "$@" --state-dir "$STATE"; }
generation() { "$XPFTOP" --state-dir "$STATE" --json --interval 0.05 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["generation"])'; }

# commit check of a good file changes nothing.
g0=$(generation)
out=$(ctl commit check "$CONF")
if [[ "$out" == "configuration check succeeds" && "$(generation)" == "$g0" ]]; then ok "commit check of a good configuration publishes nothing"; else notok "commit check" "$out (generation $(generation), was $g0)"; fi

# A broken configuration: exact location and message; running config and generation unchanged.
BAD="$TMP/bad.conf"
sed 's/from-zone trust to-zone untrust/from-zone trust to-zone nowhere/' "$CONF" > "$BAD"
want_line=$(grep -n 'to-zone nowhere' "$BAD" | cut -d: -f1)
before=$(ctl show configuration)
set +e; out=$(ctl commit "$BAD" 2>&1); rc=$?; set -e
if ((rc != 0)) && [[ "$out" == "error: $BAD:$want_line:"*"nowhere"* ]]; then ok "broken commit is refused with file:line:col ($out)"; else notok "broken commit" "rc $rc: $out"; fi
if [[ "$(ctl show configuration)" == "$before" && "$(generation)" == "$g0" ]]; then ok "a refused commit leaves the running configuration and generation unchanged"; else notok "refused commit" "running configuration or generation changed"; fi
set +e; out=$(ctl commit check "$BAD" 2>&1); rc=$?; set -e
if ((rc != 0)) && [[ "$out" == "error: $BAD:$want_line:"* ]]; then ok "commit check reports the same error"; else notok "commit check (bad)" "rc $rc: $out"; fi

# An output filter on lo0 (the box's own traffic) is not enforced yet: the commit is
# refused (fail closed), nothing changes. (lo0's input filter is enforced: filter_test.)
LO0="$TMP/lo0.conf"
{ cat "$CONF"; cat <<'EOF2'
firewall { family inet { filter protect-re { term t { then discard; } } } }
interfaces { lo0 { unit 0 { family inet { filter { output protect-re; } } } } }
EOF2
} > "$LO0"
set +e; out=$(ctl commit "$LO0" 2>&1); rc=$?; set -e
if ((rc != 0)) && [[ "$out" == *"not enforced by this version of xpf"*"lo0: inet output filter 'protect-re' is not applied"* ]]; then
    ok "a configuration asking for what xpf does not enforce (a lo0 output filter) is refused ($out)"
else notok "unenforced lo0 filter" "rc $rc: $out"; fi
if [[ "$(ctl show configuration)" == "$before" && "$(generation)" == "$g0" ]]; then ok "the refused lo0 filter changed nothing"; else notok "lo0 refusal" "running configuration or generation changed"; fi

# show configuration | display set, committed as a file, round-trips to the same configuration.
ctl show configuration '|' display set > "$TMP/set.conf"
grep -q '^set security policies from-zone trust to-zone untrust policy allow-out then permit' "$TMP/set.conf" \
    && ok "display set prints set commands" || notok "display set" "$(head -3 "$TMP/set.conf")"
out=$(ctl commit "$TMP/set.conf")
if [[ "$out" == "commit complete, generation $((g0 + 1))"* && "$(ctl show configuration)" == "$before" ]]; then
    ok "set form commits to the same configuration (generation $((g0 + 1)))"
else notok "set round trip" "$out"; fi

# A real change, then rollback 1 restores the previous configuration as a new generation.
sed 's/udp-timeout 60;/udp-timeout 90;/' "$CONF" > "$TMP/changed.conf"
ctl commit "$TMP/changed.conf" >/dev/null
ctl show configuration | grep -q 'udp-timeout 90;' && ok "commit applies a change" || notok "change" "udp-timeout 90 not in the running configuration"
out=$(ctl rollback 1)
if [[ "$out" == "commit complete, generation $((g0 + 3))"* && "$(ctl show configuration)" == "$before" ]]; then ok "rollback 1 restores the previous configuration"; else notok "rollback" "$out"; fi
set +e; out=$(ctl rollback 60 2>&1); rc=$?; set -e
((rc != 0)) && [[ "$out" == "error: rollback 60: only "* ]] && ok "rollback beyond the history is refused" || notok "rollback 60" "$out"
hist=$(ctl show system commit)
if [[ "$(head -1 <<<"$hist")" == "0 "*"generation $((g0 + 3)) via rollback 1" && "$(wc -l <<<"$hist")" -eq 4 ]]; then ok "show system commit lists the history newest first"; else notok "history" "$hist"; fi

# SIGHUP commits the configuration file again.
sed -i 's/udp-timeout 60;/udp-timeout 75;/' "$CONF"
kill -HUP "$(cat "$STATE/xpfd.pid")"
for _ in $(seq 1 50); do [[ "$(generation)" == "$((g0 + 4))" ]] && break; sleep 0.1; done
if [[ "$(generation)" == "$((g0 + 4))" ]] && ctl show configuration | grep -q 'udp-timeout 75;'; then ok "SIGHUP commits the configuration file"; else notok "SIGHUP" "generation $(generation)"; fi

# clear security flow session: every session (both directions) goes; new traffic starts anew.
sessions() { ctl show security flow session --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["total"])'; }
ip netns exec "$NS_C" ping -c 2 -W 1 10.10.2.2 >/dev/null || true
ip netns exec "$NS_C" ping -6 -c 2 -W 1 fd00:2::2 >/dev/null || true
n=$(sessions)
out=$(ctl clear security flow session)
if ((n >= 2)) && [[ "$out" == "$n sessions cleared" && "$(sessions)" == 0 ]]; then ok "clear security flow session removed all $n sessions"; else notok "clear" "had $n, reply '$out', now $(sessions)"; fi
ip netns exec "$NS_C" ping -c 1 -W 1 10.10.2.2 >/dev/null || true
if [[ "$(sessions)" == 1 ]]; then ok "traffic after a clear creates a new session"; else notok "after clear" "$(sessions) sessions"; fi
