#!/usr/bin/env bash
# xpfctl feasibility (R-12.2) on real interfaces, before and while xpfd runs.
#   Before: a fresh namespace with a veth pair (2 queues: native XDP yes, zero-copy no, copy
#   mode yes), a dummy (native XDP no; this lab's kernel may lack CONFIG_DUMMY, then an ifb,
#   which has no XDP either), and a veth end carrying another XDP program (reported, not
#   touched: its program id is the same after). Every trial undoes itself: no XDP program
#   is left anywhere. A jumbo MTU is a blocking "no" with the fix, and exit status 1.
#   While: the lab's xpfd on fw0/fw1; feasibility finds the interfaces itself, reports
#   xpf's native program, tries nothing on them, and traffic keeps flowing.
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Tests/integration/lib.sh"

NS="$PREFIX-fz"
trap 'rc=$?; set +e; ip netns del "$NS" 2>/dev/null; (exit $rc); lab_cleanup' EXIT  # set +e: see burst_test.sh
ip netns add "$NS"
ip -n "$NS" link add va numtxqueues 2 numrxqueues 2 type veth peer name vb numtxqueues 2 numrxqueues 2
if ip -n "$NS" link add xd0 type dummy 2>/dev/null; then NOXDP_DRIVER=dummy; else
    ip -n "$NS" link add xd0 type ifb
    NOXDP_DRIVER=ifb
    info "no dummy driver in this kernel (CONFIG_DUMMY): xd0 is an ifb"
fi
for ifc in va vb xd0; do ip -n "$NS" link set "$ifc" up; done

# Another program's XDP on vb (generic mode), from a two-line object (2 = XDP_PASS; no
# kernel headers, which would need the multiarch include path).
cat >"$TMP/pass.c" <<'C'
__attribute__((section("xdp"), used)) int pass(void *ctx) { return 2; }
char _license[] __attribute__((section("license"), used)) = "GPL";
C
/usr/bin/clang -O2 -target bpf -c "$TMP/pass.c" -o "$TMP/pass.o"
ip -n "$NS" link set dev vb xdpgeneric obj "$TMP/pass.o" sec xdp
prog_id() { ip -n "$NS" -d link show "$1" | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p' | head -n 1; }
vb_before=$(prog_id vb)
[[ -n "$vb_before" ]] || { notok "setup" "no XDP program on vb"; exit 1; }

rc=0
text=$(ip netns exec "$NS" "$XPFCTL" feasibility va vb xd0 2>"$TMP/err") || rc=$?
echo "$text" | sed 's/^/# /'
if ((rc == 0)) && grep -q '^feasible: yes$' <<<"$text"; then ok "veth, another program's veth and $NOXDP_DRIVER: feasible, exit 0"
else notok "exit status" "rc $rc"; fi
# The lines of one interface's block.
block() { awk -v want="$1" '/^interface /{on = ($2 == want || $2 == want ",")} on' <<<"$text"; }
if block va | grep -Eq '^  ok +native-xdp +yes — a trial XDP program attached in driver mode'; then ok "va: native XDP yes (trial attach)"
else notok "va native-xdp" "$(block va)"; fi
if block va | grep -Eq '^  no +zero-copy +no — driver veth has no AF_XDP zero-copy' \
    && block va | grep -Eq '^ +fix: a NIC whose driver has AF_XDP zero-copy'; then ok "va: zero-copy no, with the fix"
else notok "va zero-copy" "$(block va)"; fi
if block va | grep -Eq '^  ok +af-xdp-copy +yes'; then ok "va: AF_XDP copy mode yes"; else notok "va af-xdp-copy" "$(block va)"; fi
if block xd0 | grep -Eq "^  no +native-xdp +no — driver $NOXDP_DRIVER has no native XDP"; then ok "xd0 ($NOXDP_DRIVER): native XDP no"
else notok "xd0 native-xdp" "$(block xd0)"; fi
if block vb | grep -Eq "^  warn +xdp-program +id $vb_before \(generic\) — another XDP program is attached; not touched" \
    && block vb | grep -Eq '^  warn +native-xdp +not tried' && block vb | grep -Eq '^  warn +zero-copy +not tried'; then
    ok "vb: another program reported, trials skipped"
else notok "vb" "$(block vb)"; fi
if [[ "$(prog_id vb)" == "$vb_before" ]]; then ok "vb's program untouched (id $vb_before)"; else notok "vb program" "id $(prog_id vb), was $vb_before"; fi
left=$(ip -n "$NS" -d link show | grep -c 'prog/xdp' || true)
if ((left == 1)) && [[ -z "$(prog_id va)" && -z "$(prog_id xd0)" ]]; then ok "no trial program left attached"
else notok "leftovers" "$(ip -n "$NS" -d link show)"; fi
if [[ ! -s "$TMP/err" ]]; then ok "nothing on stderr (the kernel's refusal is in the verdict)"; else notok "stderr" "$(cat "$TMP/err")"; fi

json=$(ip netns exec "$NS" "$XPFCTL" feasibility --json va vb xd0)
py_checks - "$json" "$NOXDP_DRIVER" "$vb_before" <<'PY'
import json, sys
d, noxdp, vb_id = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def check(cond, what):
    print(("ok - " if cond else "not ok - ") + what + ("" if cond else ": " + json.dumps(d)[:2000]))
ifs = {i["name"]: i for i in d["interfaces"]}
check(d["version"] == 1 and d["feasible"] is True and d["blocking"] == 0, "json: version 1, feasible, 0 blocking")
check(d["frame"] == {"size": 2048, "max_frame": 1792, "max_mtu": 1774}, "json: frame 2048, 1792 bytes of packet, MTU up to 1774")
k = {c["name"]: c for c in d["kernel"]}
check(set(k) == {"kernel", "kernel-config", "af-xdp", "bpf-jit", "btf", "bpffs", "privileges"} and k["af-xdp"]["verdict"] == "ok",
      "json: kernel checks, AF_XDP ok")
va = ifs["va"]
check(va["driver"] == "veth" and va["native_xdp"] is True and va["zero_copy"] is False and va["af_xdp_copy"] is True
      and va["attached_xdp"] is None, "json va: veth, native_xdp true, zero_copy false, af_xdp_copy true")
check(va["channels"] is not None and va["channels"]["maximum"] == 2 and va["sysfs_rx_queues"] == 2 and va["mtu"] == 1500
      and va["numa_node"] == -1 and va["irqs"] == [], "json va: 2 queues, MTU 1500, no NUMA node, no IRQs")
verdicts = {c["name"]: c["verdict"] for c in va["checks"]}
check(verdicts.get("native-xdp") == "ok" and verdicts.get("zero-copy") == "no" and verdicts.get("mtu") == "ok"
      and all(set(c) == {"name", "verdict", "value", "reason", "fix", "blocking"} for c in va["checks"]),
      "json va: checks with name, verdict, value, reason, fix, blocking")
xd = ifs["xd0"]
check(xd["driver"] == noxdp and xd["native_xdp"] is False, "json xd0: %s, native_xdp false" % noxdp)
vb = ifs["vb"]
check(vb["attached_xdp"] == {"program_id": vb_id, "mode": "generic", "xpf": False} and vb["native_xdp"] is None
      and vb["zero_copy"] is None, "json vb: attached program reported, trials null")
PY

# Unasked (no names, no configuration, no xpfd): every interface, but no trial on one that
# carries a default route (the uplink); the others are tried.
ip -n "$NS" addr add 10.99.0.1/24 dev va
ip -n "$NS" route add default via 10.99.0.2
text=$(ip netns exec "$NS" "$XPFCTL" feasibility 2>&1 || true)
if [[ "$(grep '^interface ' <<<"$text" | cut -d' ' -f2 | tr -d , | tr '\n' ' ')" == "va vb xd0 " ]] \
    && block va | grep -Eq '^  warn +native-xdp +not tried — it carries a default route' \
    && block xd0 | grep -Eq "^  no +native-xdp +no"; then
    ok "unasked: every interface but lo, the default route's va spared, xd0 tried"
else notok "default interfaces" "$text"; fi
ip -n "$NS" route del default

# --no-trials only reads; a jumbo MTU does not fit a 2048-byte frame: blocking, exit 1.
ip -n "$NS" link set va mtu 9000
rc=0
text=$(ip netns exec "$NS" "$XPFCTL" feasibility --no-trials va 2>&1) || rc=$?
if ((rc == 1)) && grep -Eq '^  no +mtu +MTU 9000, frame 2048 — .* \[blocking\]$' <<<"$text" \
    && grep -Eq '^ +fix: ip link set dev va mtu 1774$' <<<"$text" && grep -q '^feasible: no (1 blocking)$' <<<"$text"; then
    ok "MTU 9000: blocking no, fix names mtu 1774, exit 1"
else notok "jumbo MTU" "rc $rc: $text"; fi
json=$(ip netns exec "$NS" "$XPFCTL" feasibility --no-trials --json va || true)
if "$PY" -c 'import json,sys; i=json.loads(sys.argv[1])["interfaces"][0]; sys.exit(0 if i["native_xdp"] is None and i["zero_copy"] is None else 1)' "$json"
then ok "--no-trials: native_xdp and zero_copy null"; else notok "--no-trials" "$json"; fi
# A region that does not open (another build's xpfd) is said on stderr, not ignored.
mkdir -p "$TMP/stale"
head -c 8192 /dev/zero >"$TMP/stale/region"
ln -s "$TMP/stale/region" "$TMP/stale/shm"
err=$(ip netns exec "$NS" "$XPFCTL" feasibility --no-trials --state-dir "$TMP/stale" va 2>&1 >/dev/null || true)
if grep -q "warning: xpfd's region $TMP/stale/shm is unreadable (.*bad magic" <<<"$err"; then ok "an unreadable region is reported on stderr"
else notok "unreadable region" "$err"; fi
if "$XPFCTL" feasibility --help | grep -q 'trial XDP_PASS program'; then ok "--help describes the trials"; else notok "--help" "no trial text"; fi

# While xpfd runs: its interfaces, its program, nothing tried on them, traffic unharmed.
lab_begin --queues 2
fw0_before=$(ip -n "$NS_FW" -d link show fw0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p' | head -n 1)
json=$(ip netns exec "$NS_FW" "$XPFCTL" feasibility --json --state-dir "$STATE" || true)
py_checks - "$json" "$fw0_before" <<'PY'
import json, sys
d, fw0_id = json.loads(sys.argv[1]), int(sys.argv[2])
def check(cond, what):
    print(("ok - " if cond else "not ok - ") + what + ("" if cond else ": " + json.dumps(d)[:2000]))
ifs = {i["name"]: i for i in d["interfaces"]}
check(sorted(ifs) == ["fw0", "fw1"], "running: the dataplane's interfaces fw0, fw1 by default")
fw0 = ifs["fw0"]
check(fw0["attached_xdp"] == {"program_id": fw0_id, "mode": "native", "xpf": True}, "running: fw0 carries xpf's native program")
check(fw0["native_xdp"] is None and fw0["zero_copy"] is None, "running: no trial on xpf's interfaces")
v = {c["name"]: (c["verdict"], c["value"]) for c in fw0["checks"]}
check(v["xdp-program"][0] == "ok" and v["native-xdp"] == ("ok", "yes"), "running: xdp-program ok, native-xdp yes from the attached program")
queues = [c for c in fw0["checks"] if c["name"] == "queues"][0]
check("xpf uses 2" in queues["reason"], "running: the queue line names xpf's 2 queues")
PY
fw0_after=$(ip -n "$NS_FW" -d link show fw0 | sed -n 's/.*prog\/xdp id \([0-9]*\).*/\1/p' | head -n 1)
if [[ "$fw0_after" == "$fw0_before" ]]; then ok "xpf's program untouched (id $fw0_before)"; else notok "fw0 program" "$fw0_after, was $fw0_before"; fi
if ip netns exec "$NS_C" ping -c 2 -i 0.2 -W 2 10.10.2.2 >/dev/null; then ok "traffic through xpf after feasibility"; else notok "ping" "no reply"; fi
