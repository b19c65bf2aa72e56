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

pytest_suite "$REPO/Tests/integration/policy"
