"""Checks of burst_test.sh.

    burst_check.py settled STATS TOP_JSON
        prints the counters that must stop moving (the caller waits until two readings agree)
    burst_check.py accounting --name N --flows F --first-port P ... [--stalled]
        events emitted = written + dropped, per worker and in total, after one burst
    burst_check.py destinations --stats S --xpfd-log L ...
        every broken destination counted every line, named its error, reported once

Every check prints an ok/not ok line; exits 1 if one failed.
"""
import argparse
import collections
import glob
import json
import re
import sys

from checklib import check, exit_status

CREATE, CLOSE = "RT_FLOW_SESSION_CREATE", "RT_FLOW_SESSION_CLOSE"
LINE = re.compile(r'^<\d+>1 \S+ \S+ \S+ \S+ (\S+) \[junos@\S+ (.*)\]')
PARAM = re.compile(r'([a-z0-9-]+)="((?:[^"\\]|\\.)*)"')
DESTINATION = re.compile(r"^destination (.+): written (\d+), failed (\d+)(?:, last error (.+))?$", re.M)



def log_statistics(path):
    text = open(path).read()
    totals = {k: int(v) for k, v in re.findall(r"^events ([\w-]+) (\d+)$", text, re.M)}
    destinations = {m[0]: (int(m[1]), int(m[2]), m[3] or "") for m in DESTINATION.findall(text)}
    return totals, destinations


def workers(path):
    top = json.load(open(path))
    return top, {w["queue"]: w for w in top["workers"]}


def settled(stats, top_json):
    totals, destinations = log_statistics(stats)
    _, ws = workers(top_json)
    print(sorted(totals.items()), sorted(destinations.items()),
          [(q, w["events_emitted"], w["events_dropped"], w["sessions_created"], w["sessions_closed"])
           for q, w in sorted(ws.items())])
    return 0


def log_lines(path):
    """xpfd's log file and its archives (rotation keeps NAME.0 … NAME.{files-2})."""
    out = []
    for p in sorted(glob.glob(path + ".*"), reverse=True) + [path]:
        out.extend(open(p).read().splitlines())
    return out


def accounting(a):
    totals, destinations = log_statistics(a.stats)
    top, after = workers(a.after)
    _, before = workers(a.before)
    _, burst = workers(a.burst)
    queues = len(after)
    per = top["totals"]["session_capacity"] // queues
    ports = range(a.first_port, a.first_port + a.flows)

    # Lines per (worker, MSGID): a session's id is its record index + 1, and worker q owns
    # records [q·per, (q+1)·per).
    lines = collections.Counter()
    unattributed, unparsed = [], []
    burst_creates = collections.Counter()
    burst_closes = collections.defaultdict(list)
    all_lines = log_lines(a.log)
    for line in all_lines:
        m = LINE.match(line)
        if not m:
            unparsed.append(line)
            continue
        msgid, params = m.group(1), dict(PARAM.findall(m.group(2)))
        sid = int(params.get("session-id-32", "0"))
        if sid == 0:
            unattributed.append(line)
            continue
        q = (sid - 1) // per
        lines[(q, msgid)] += 1
        if params.get("destination-port") == str(a.sink_port) and int(params.get("source-port", "0")) in ports:
            port = int(params["source-port"])
            if msgid == CREATE:
                burst_creates[(q, port)] += 1
            elif msgid == CLOSE:
                burst_closes[port].append(params.get("reason"))
    n = a.name
    check(not unparsed and not unattributed, "%s: every line of the log is an RT_FLOW session line with a "
          "session id (%d unparsed, %d without a session: %r)" % (n, len(unparsed), len(unattributed),
                                                                 (unparsed + unattributed)[:2]))
    for q, w in sorted(after.items()):
        c, x = lines[(q, CREATE)], lines[(q, CLOSE)]
        other = sum(v for (qq, k), v in lines.items() if qq == q and k not in (CREATE, CLOSE))
        written = c + x + other
        emitted, dropped = w["events_emitted"], w["events_dropped"]
        created, closed = w["sessions_created"], w["sessions_closed"]
        check(emitted == written + dropped,
              "%s: q%d events emitted %d = written %d (CREATE %d, CLOSE %d, other %d) + dropped %d"
              % (n, q, emitted, written, c, x, other, dropped))
        check(other == 0, "%s: q%d no event but CREATE/CLOSE (%d)" % (n, q, other))
        check(c <= created and x <= closed and (created - c) + (closed - x) == dropped,
              "%s: q%d sessions created %d = CREATE lines %d + dropped creates %d; closed %d = CLOSE lines %d + "
              "dropped closes %d; dropped creates + closes = events dropped %d"
              % (n, q, created, c, created - c, closed, x, closed - x, dropped))
        check(closed == x, "%s: q%d every close (a clear paces itself to the ring) has its CLOSE line (%d of %d)"
              % (n, q, x, closed))
        check(created == closed, "%s: q%d every session created is closed (%d, %d)" % (n, q, created, closed))
    emitted = sum(w["events_emitted"] for w in after.values())
    dropped = sum(w["events_dropped"] for w in after.values())
    total_lines = len(all_lines)
    check((totals.get("emitted"), totals.get("dropped"), totals.get("drained"), totals.get("skipped"))
          == (emitted, dropped, total_lines, 0),
          "%s: show log statistics: emitted %s, dropped %s, drained %s, skipped %s (workers: %d, %d; lines %d)"
          % (n, totals.get("emitted"), totals.get("dropped"), totals.get("drained"), totals.get("skipped"),
             emitted, dropped, total_lines))
    limited = sum(w.get("events_rate_limited", 0) for w in after.values())
    check(totals.get("rate-limited", 0) == limited == 0,
          "%s: no event rate-limited (show log statistics %s, workers %d; no rate cap configured)"
          % (n, totals.get("rate-limited"), limited))
    check(emitted == total_lines + dropped, "%s: in total, events emitted %d = written %d + dropped %d"
          % (n, emitted, total_lines, dropped))
    good = destinations.get("file rtflow-burst")
    check(good is not None and good[:2] == (total_lines, 0),
          "%s: show log statistics: file rtflow-burst written %s = lines in the file %d, none failed"
          % (n, good, total_lines))
    active = top["totals"]["sessions_active"]
    check(active == 0, "%s: no session left after the clear (%d)" % (n, active))

    # The burst itself: a session for every port, one CLOSE each (reason clear), and every
    # missing CREATE line is a counted drop.
    d_created = {q: burst[q]["sessions_created"] - before[q]["sessions_created"] for q in after}
    d_dropped = {q: after[q]["events_dropped"] - before[q]["events_dropped"] for q in after}
    creates = {q: sum(v for (qq, _), v in burst_creates.items() if qq == q) for q in after}
    check(sum(d_created.values()) >= a.flows, "%s: %d sessions created by the burst (per worker %r)"
          % (n, sum(d_created.values()), d_created))
    closes_ok = [p for p in ports if burst_closes.get(p) == ["clear"]]
    check(len(closes_ok) == a.flows, "%s: every one of the %d ports has exactly one CLOSE line, reason clear (%d)"
          % (n, a.flows, len(closes_ok)))
    twice = [k for k, v in burst_creates.items() if v > 1]
    check(not twice, "%s: no port has two CREATE lines (%r)" % (n, twice[:3]))
    for q in sorted(after):
        check(d_dropped[q] == d_created[q] - creates[q],
              "%s: q%d burst: %d sessions = %d CREATE lines + %d dropped" % (n, q, d_created[q], creates[q], d_dropped[q]))
    if a.stalled:
        # xpfd did not drain while the burst crossed: a ring holds ring-size events at most.
        check(all(creates[q] <= a.ring_size for q in after) and sum(d_dropped.values()) > 0,
              "%s: with xpfd stopped, each ring took at most %d CREATE events (%r) and the rest were dropped "
              "and counted (%d)" % (n, a.ring_size, creates, sum(d_dropped.values())))
    else:
        print("# %s: %d CREATE events dropped during the burst (the drain kept up: %s)"
              % (n, sum(d_dropped.values()), sum(d_dropped.values()) == 0))
    return exit_status()


def destinations(a):
    totals, dest = log_statistics(a.stats)
    drained = totals.get("drained", -1)
    log = open(a.xpfd_log).read().splitlines()

    def reports(name):
        """xpfd's log lines about one destination: 'F' a failure report, 'R' a recovery."""
        out = ""
        for line in log:
            if ("syslog %s: " % name) in line:
                out += "R" if "delivering again" in line else "F"
        return out

    try:
        full_lines = open(a.full_file).read().count("\n")
    except FileNotFoundError:
        full_lines = 0
    expect = [
        # (destination, error, written must be, label)
        (a.refused, "Connection refused", None, "UDP host with nothing listening"),
        (a.unroutable, "Network is unreachable", 0, "UDP host without a route"),
        # Whole lines count as written, the one cut short and the rest as failed.
        (a.full, "No space left on device", full_lines, "file on a tmpfs that fills up"),
        (a.unopenable, "Is a directory", 0, "file whose path is a directory"),
    ]
    for name, error, written, label in expect:
        got = dest.get(name)
        if not check(got is not None, "%s (%s) in show log statistics" % (name, label)):
            continue
        w, f, e = got
        check(w + f == drained and f > 0 and (written is None or w == written) and (w > 0) == (name == a.full or written is None),
              "%s: every line counted: written %d + failed %d = lines routed %d%s"
              % (name, w, f, drained, "" if written is None else " (written must be %d)" % written))
        check(e == error, "%s: last error %r (want %r)" % (name, e, error))
        r = reports(name)
        if written is None:
            # A refusing peer can answer some datagrams and not others: one report per
            # failure episode, each after the previous one's recovery.
            check(r.startswith("F") and "FF" not in r and "RR" not in r,
                  "%s: reported in xpfd's log once per failure episode (%r)" % (name, r))
        else:
            check(r == "F", "%s: reported once in xpfd's log (%r)" % (name, r))
    good = dest.get(a.good)
    check(good is not None and good[:2] == (drained, 0), "%s beside them wrote every line (%r, drained %d)"
          % (a.good, good, drained))
    return exit_status()


def main():
    if sys.argv[1] == "settled":
        return settled(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    acc = sub.add_parser("accounting")
    acc.add_argument("--name", required=True)
    acc.add_argument("--flows", type=int, required=True)
    acc.add_argument("--first-port", type=int, required=True)
    acc.add_argument("--sink-port", type=int, required=True)
    acc.add_argument("--ring-size", type=int, required=True)
    acc.add_argument("--log", required=True)
    acc.add_argument("--stats", required=True)
    acc.add_argument("--before", required=True)
    acc.add_argument("--burst", required=True)
    acc.add_argument("--after", required=True)
    acc.add_argument("--stalled", action="store_true")
    dst = sub.add_parser("destinations")
    for opt in ("--stats", "--xpfd-log", "--full-file", "--refused", "--unroutable", "--full", "--unopenable",
                "--good"):
        dst.add_argument(opt, required=True)
    a = ap.parse_args()
    return accounting(a) if a.command == "accounting" else destinations(a)


if __name__ == "__main__":
    sys.exit(main())
