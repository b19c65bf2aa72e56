#!/usr/bin/env bash
# Firewall filters on the wire (issue 10 §1, §2, §4; R-6.1, R-6.2, R-4.5): the pytest + scapy
# suite in Tests/integration/filter/ — every match condition of an input filter (a packet
# that meets it and one that does not), implicit discard, discard / reject (each Junos
# reason's ICMP code, tcp-reset) seen at the client, DSCP rewrite seen at the server with a
# valid checksum, counters exact after N packets (show / clear firewall), filter log lines
# (legacy and structured files), output filters, a filter added or removed by commit in the
# middle of an established flow, DSCP / TCP flags / fragments / ICMP changing mid-flow, and
# one family's filter leaving the other family alone; policers (test_policer: two-color
# accuracy across two workers in a two-queue lab of its own, three-color colors, color-aware,
# filter-specific and interface-specific instances, a rate change by commit); input-list with
# next term and packet-length (test_lists). It reuses the policy suite's
# labkit (Tests/integration/policy). Its session fixture owns the lab (tools/xpf-lab
# up/start, down in its finalizer); this wrapper passes it lib.sh's unique prefix and tears
# the same lab down again should pytest be killed.
# Prints pytest's verdicts, then ok/not ok lines and "N passed, N failed" (skips listed).
set -Eeuo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
source "$REPO/Tests/integration/lib.sh"

pytest_suite "$REPO/Tests/integration/filter"
