#!/usr/bin/env bash
# ICMP errors the dataplane sends: a packet whose TTL / hop limit runs out at xpf is
# answered with ICMP time exceeded (R-3.3), and one whose next hop never resolves with
# ICMP host unreachable (R-3.2), from the ingress interface's address (the kernel of the
# firewall namespace cannot: its forwarding is off); the worker counts them.
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Tests/integration/lib.sh"

lab_begin --queues 1
ip netns exec "$NS_C" ping -c 1 -W 2 10.10.2.2 >/dev/null || true   # neighbours warm

out=$(ip netns exec "$NS_C" ping -c 1 -W 2 -t 1 10.10.2.2 2>&1 || true)
if grep -q "From 10.10.1.1 .*Time to live exceeded" <<<"$out"; then ok "TTL 1: ICMP time exceeded from 10.10.1.1"; else notok "ICMP time exceeded (v4)" "$out"; fi

out=$(ip netns exec "$NS_C" ping -6 -c 1 -W 2 -t 1 fd00:2::2 2>&1 || true)
if grep -q "From fd00:1::1 .*Time exceeded: Hop limit" <<<"$out"; then ok "hop limit 1: ICMPv6 time exceeded from fd00:1::1"; else notok "ICMPv6 time exceeded" "$out"; fi

json=$("$XPFTOP" --state-dir "$STATE" --json --interval 0.05)
if "$PY" - "$json" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
w = d["workers"][0]
sys.exit(0 if w["icmp_errors_sent"] >= 2 and w["drops_by_reason"]["ttl"] >= 2 else 1)
PY
then ok "xpf-top counts the errors sent and the TTL drops"; else notok "counters" "$json"; fi

# xpfctl names the same drops from the same list (XPF_DROP_REASONS), in text and JSON.
stats=$("$XPFCTL" show security flow statistics --state-dir "$STATE" 2>&1 || true)
sjson=$("$XPFCTL" show security flow statistics --json --state-dir "$STATE" 2>&1 || true)
if "$PY" - "$sjson" "$json" "$stats" <<'PY'
import json, re, sys
s, top, text = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
ttl = s["drops"]["ttl"]
line = re.search(r"^  ttl +(\d+) +TTL / hop limit exhausted$", text, re.M)
same_names = set(s["drops"]) == set(top["workers"][0]["drops_by_reason"])
sys.exit(0 if ttl >= 2 and line and int(line.group(1)) == ttl and same_names else 1)
PY
then ok "xpfctl show security flow statistics: TTL drops by name and meaning, the reasons xpf-top names"
else notok "flow statistics" "$stats"; fi

# TTL 2 still crosses xpf (one hop) and reaches the server.
if ip netns exec "$NS_C" ping -c 1 -W 2 -t 2 10.10.2.2 >/dev/null; then ok "TTL 2 is forwarded"; else notok "TTL 2" "no reply"; fi

# 10.10.2.99 is on the server's link but no host answers ARP for it.
out=$(ip netns exec "$NS_C" ping -c 1 -W 4 10.10.2.99 2>&1 || true)
if grep -q "From 10.10.1.1 .*Destination Host Unreachable" <<<"$out"; then ok "unresolvable next hop: ICMP host unreachable from 10.10.1.1"; else notok "host unreachable" "$out"; fi
sleep 0.3   # an idle worker publishes its counters every 100 ms
json=$("$XPFTOP" --state-dir "$STATE" --json --interval 0.05)
if "$PY" - "$json" <<'PY'
import json, sys
w = json.loads(sys.argv[1])["workers"][0]
sys.exit(0 if w["drops_by_reason"]["neigh_timeout"] >= 1 and w["icmp_errors_sent"] >= 3 else 1)
PY
then ok "the unresolved packet is counted as a neighbour timeout"; else notok "neigh_timeout counter" "$json"; fi
