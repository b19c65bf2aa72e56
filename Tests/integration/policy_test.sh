#!/usr/bin/env bash
# Security zones and policies on the wire (issue 9 §2, §3, §5; R-4.1–R-4.4, R-5.1–R-5.3):
# the pytest + scapy suite in Tests/integration/policy/ — permit / deny / reject per zone
# pair and global, address books and sets, applications, the default policy, RT_FLOW
# events field by field, TCP first packet and ICMP echo checks, ICMP errors matched to the
# session they quote, an interface in no zone,
# re-evaluation of established sessions on commit, policy hit counts, the packet trace
# (xpfctl trace, monitor security packet-drop). Its session fixture
# owns the lab (tools/xpf-lab up/start, down in its finalizer); this wrapper passes it
# lib.sh's unique prefix and tears the same lab down again should pytest be killed.
# Prints pytest's verdicts, then ok/not ok lines and "N passed, N failed" (skips listed).
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Tests/integration/lib.sh"

# lab_cleanup (lib.sh's EXIT trap) runs `xpf-lab down` for this prefix: idempotent.
LAB_UP=1
JUNIT="$TMP/junit.xml"
rc=0
XPF_BIN="$BIN" XPF_LAB_PREFIX="$PREFIX" PYTHONDONTWRITEBYTECODE=1 \
    "$PY" -m pytest -p no:cacheprovider -v -rs --junitxml "$JUNIT" "$REPO/Tests/integration/policy" || rc=$?

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
