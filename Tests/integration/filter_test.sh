#!/usr/bin/env bash
# Firewall filters on the wire (issue 10 §1, §2, §4; R-6.1, R-6.2, R-4.5): the pytest + scapy
# suite in Tests/integration/filter/ — every match condition of an input filter (a packet
# that meets it and one that does not), implicit discard, discard / reject (each Junos
# reason's ICMP code, tcp-reset) seen at the client, DSCP rewrite seen at the server with a
# valid checksum, counters exact after N packets (show / clear firewall), filter log lines
# (legacy and structured files), output filters, a filter added or removed by commit in the
# middle of an established flow, DSCP / TCP flags / fragments / ICMP changing mid-flow, and
# one family's filter leaving the other family alone. It reuses the policy suite's
# labkit (Tests/integration/policy). Its session fixture owns the lab (tools/xpf-lab
# up/start, down in its finalizer); this wrapper passes it lib.sh's unique prefix and tears
# the same lab down again should pytest be killed.
# Prints pytest's verdicts, then ok/not ok lines and "N passed, N failed" (skips listed).
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Tests/integration/lib.sh"

# lab_cleanup (lib.sh's EXIT trap) runs `xpf-lab down` for this prefix: idempotent.
LAB_UP=1
JUNIT="$TMP/junit.xml"
rc=0
XPF_BIN="$BIN" XPF_LAB_PREFIX="$PREFIX" PYTHONDONTWRITEBYTECODE=1 \
    "$PY" -m pytest -p no:cacheprovider -v -rs --junitxml "$JUNIT" "$REPO/Tests/integration/filter" || rc=$?

# One ok/not ok line per test case from the JUnit report; skips are reported, not counted.
if [[ -s "$JUNIT" ]]; then
    py_checks - "$JUNIT" <<'PY'
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
