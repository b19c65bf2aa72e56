"""Checks of syslog_test.sh: RT_FLOW lines as rsyslogd received and parsed them.

Inputs: xpfd's structured-data file (the reference for the same events), rsyslogd's JSON
records of each receiver (one object per message: the header fields rsyslog's RFC 5424
parser extracted, the raw STRUCTURED-DATA, MSG, and mmpstrucdata's split of the structured
data) with the xpfd destination that sent them and its form (`full`: the English text
follows the structured data; `brief`: nothing does), and `xpfctl show log statistics`.
Prints ok/not ok lines; exits 1 if any check failed.
"""
import argparse
import collections
import datetime
import json
import re
import sys

from checklib import check, exit_status

SD_ID = "junos@2636.1.1.1.2.129"
CREATE = ("source-address source-port destination-address destination-port connection-tag service-name "
          "nat-source-address nat-source-port nat-destination-address nat-destination-port nat-connection-tag "
          "src-nat-rule-type src-nat-rule-name dst-nat-rule-type dst-nat-rule-name protocol-id policy-name "
          "source-zone-name destination-zone-name session-id-32 username roles packet-incoming-interface "
          "application nested-application encrypted").split()
CLOSE = (["reason"] + CREATE[:CREATE.index("destination-zone-name") + 1] + [
    "session-id-32", "packets-from-client", "bytes-from-client", "packets-from-server", "bytes-from-server",
    "elapsed-time", "application", "nested-application", "username", "roles", "packet-incoming-interface",
    "encrypted"])
FIELDS = {"RT_FLOW_SESSION_CREATE": CREATE, "RT_FLOW_SESSION_CLOSE": CLOSE}
# RT_FLOW session events are severity info (PRI modulo 8).
SEVERITY_INFO = 6
ETHERNET, IPV4, IPV6, UDP, ICMP = 14, 20, 40, 8, 8
# syslog_flows.py and ping -c 2 (56 data bytes) as syslog_test.sh runs them.
UDP_REQUESTS, UDP_REPLIES, UDP_REQUEST_BYTES, UDP_REPLY_BYTES = 3, 2, 100, 50
PINGS, PING_DATA = 2, 56
TCP_PAYLOAD = 1000

HEAD = re.compile(r'^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\[' + re.escape(SD_ID)
                  + r'((?: [a-z0-9-]+="(?:[^"\\]|\\.)*")*)\])(?: (.*))?$')
PARAM = re.compile(r' ([a-z0-9-]+)="((?:[^"\\]|\\.)*)"')
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")



def unescape(v):
    """RFC 5424 PARAM-VALUE: backslash escapes '"', '\\' and ']'."""
    return re.sub(r'\\(["\\\]])', r"\1", v)


def file_events(path):
    """xpfd's file: one dict per line with the header fields, raw SD, params (ordered)."""
    out, bad = [], []
    for line in open(path).read().splitlines():
        m = HEAD.match(line)
        if not m:
            bad.append(line)
            continue
        pri, ts, host, app, proc, msgid, sd, params, text = m.groups()
        out.append(dict(pri=pri, version="1", timestamp=ts, hostname=host, app=app, procid=proc, msgid=msgid,
                        sd=sd, msg=text or "", params=[(k, unescape(v)) for k, v in PARAM.findall(params)]))
    return out, bad


def rsyslog_events(path):
    """rsyslogd's records: the same dict shape, params from mmpstrucdata (order kept)."""
    out = []
    try:
        text = open(path).read()
    except FileNotFoundError:  # rsyslogd received nothing
        return out
    for line in text.splitlines():
        r = json.loads(line)
        split = r["sd"]
        if isinstance(split, str):
            split = json.loads(split, object_pairs_hook=lambda pairs: pairs) if split else []
        else:
            split = json.loads(json.dumps(split), object_pairs_hook=lambda pairs: pairs)
        out.append(dict(pri=r["pri"], version=r["version"], timestamp=r["timestamp"], hostname=r["hostname"],
                        app=r["app-name"], procid=r["procid"], msgid=r["msgid"], sd=r["structured-data"],
                        msg=r["msg"], sdids=[k for k, _ in split],
                        params=split[0][1] if len(split) == 1 else []))
    return out


def key(e):
    return (e["msgid"], e["timestamp"], e["sd"])


def when(ts):
    return datetime.datetime.fromisoformat(ts).timestamp()


def flow(events, msgid, protocol, source_address, source_port):
    """Events of one flow; `source_port` None matches any (ICMP)."""
    def match(p):
        return (p.get("protocol-id"), p.get("source-address")) == (protocol, source_address) \
            and source_port in (None, p.get("source-port"))
    return [e for e in events if e["msgid"] == msgid and match(dict(e["params"]))]


def check_traffic(events, label):
    """Every flow syslog_test.sh sent, field by field, as this receiver parsed it."""
    flows = [
        # (name, protocol, source, source port or None, destination, destination port or None, l3 header)
        ("UDP IPv4", "17", "10.10.1.2", "40001", "10.10.2.2", "5001", IPV4),
        ("UDP IPv6", "17", "fd00:1::2", "40003", "fd00:2::2", "5001", IPV6),
        ("TCP", "6", "10.10.1.2", "40002", "10.10.2.2", "5002", IPV4),
        ("ICMP", "1", "10.10.1.2", None, "10.10.2.2", None, IPV4),
    ]
    for name, proto, src, sport, dst, dport, l3 in flows:
        c = flow(events, "RT_FLOW_SESSION_CREATE", proto, src, sport)
        x = flow(events, "RT_FLOW_SESSION_CLOSE", proto, src, sport)
        if not check(len(c) == 1 and len(x) == 1,
                     "%s: one CREATE and one CLOSE for the %s flow (%d, %d)" % (label, name, len(c), len(x))):
            continue
        f, g = dict(c[0]["params"]), dict(x[0]["params"])
        for p, what in ((f, "CREATE"), (g, "CLOSE")):
            want = {"source-address": src, "destination-address": dst, "protocol-id": proto,
                    "packet-incoming-interface": "fw0.0", "source-zone-name": "trust",
                    "destination-zone-name": "untrust", "nat-source-address": src, "nat-destination-address": dst}
            if sport:
                want.update({"source-port": sport, "destination-port": dport, "nat-source-port": sport,
                             "nat-destination-port": dport})
            got = {k: p.get(k) for k in want}
            check(got == want, "%s: %s %s addresses, ports, protocol, interface, zones, NAT fields%s"
                  % (label, name, what, "" if got == want else ": %r != %r" % (got, want)))
        check(f["session-id-32"] == g["session-id-32"] != "0",
              "%s: %s CREATE and CLOSE name one session (%s, %s)" % (label, name, f["session-id-32"], g["session-id-32"]))
        counts = tuple(int(g[k]) for k in ("packets-from-client", "bytes-from-client", "packets-from-server",
                                           "bytes-from-server"))
        if proto == "17":
            want = (UDP_REQUESTS, UDP_REQUESTS * (ETHERNET + l3 + UDP + UDP_REQUEST_BYTES),
                    UDP_REPLIES, UDP_REPLIES * (ETHERNET + l3 + UDP + UDP_REPLY_BYTES))
            check(counts == want, "%s: %s packets/bytes both ways %r (want %r)" % (label, name, counts, want))
            check(g["reason"] == "idle Timeout", "%s: %s close reason %s" % (label, name, g["reason"]))
        elif proto == "1":
            each = ETHERNET + l3 + ICMP + PING_DATA
            want = (PINGS, PINGS * each, PINGS, PINGS * each)
            check(counts == want, "%s: %s packets/bytes both ways %r (want %r)" % (label, name, counts, want))
            check(g["reason"] == "idle Timeout", "%s: %s close reason %s" % (label, name, g["reason"]))
        else:
            check(counts[0] >= 3 and counts[2] >= 2 and counts[1] > TCP_PAYLOAD,
                  "%s: %s packets/bytes both ways %r" % (label, name, counts))
            check(g["reason"] == "TCP FIN", "%s: %s close reason %s" % (label, name, g["reason"]))


def check_receiver(label, path, reference, args, brief):
    got = rsyslog_events(path)
    check(len(got) == len(reference) and len(got) > 0,
          "%s: rsyslogd received one message per line of xpfd's file (%d, file %d)" % (label, len(got), len(reference)))
    check(all(e["version"] == "1" for e in got),
          "%s: every message parsed as RFC 5424 (VERSION 1): %r" % (label, sorted({e["version"] for e in got})))
    missing = collections.Counter(map(key, reference)) - collections.Counter(map(key, got))
    extra = collections.Counter(map(key, got)) - collections.Counter(map(key, reference))
    check(not missing and not extra, "%s: MSGID, TIMESTAMP and STRUCTURED-DATA equal xpfd's file line by line "
          "(%d missing, %d extra)%s" % (label, sum(missing.values()), sum(extra.values()),
                                         "" if not missing else ": %r" % (list(missing)[0],)))
    by_key = {key(e): e for e in reference}
    header_bad, sd_bad, names_bad, values_bad, msg_bad, time_bad = [], [], [], [], [], []
    for e in got:
        ref = by_key.get(key(e))
        if (e["app"], e["hostname"], e["procid"]) != ("RT_FLOW", args.host_name, "-") \
                or e["msgid"] not in FIELDS or int(e["pri"]) % 8 != SEVERITY_INFO or (ref and e["pri"] != ref["pri"]):
            header_bad.append((e["pri"], e["hostname"], e["app"], e["procid"], e["msgid"]))
        if e["sdids"] != [SD_ID]:
            sd_bad.append(e["sdids"])
        names = [k for k, _ in e["params"]]
        if names != FIELDS.get(e["msgid"]):
            names_bad.append(names)
        if ref and e["params"] != ref["params"]:
            values_bad.append((e["params"], ref["params"]))
        if ref and (e["msg"] != ("" if brief else ref["msg"]) or not (brief or ref["msg"])):
            msg_bad.append((e["msg"], ref["msg"]))
        if not TIMESTAMP.match(e["timestamp"]) or not args.t0 - 1 <= when(e["timestamp"]) <= args.t1 + 1:
            time_bad.append(e["timestamp"])
    check(not header_bad, "%s: PRI severity info, HOSTNAME %s, APP-NAME RT_FLOW, PROCID -, MSGID an RT_FLOW "
          "session event%s" % (label, args.host_name, "" if not header_bad else ": %r" % header_bad[:3]))
    check(not sd_bad, "%s: mmpstrucdata finds one SD-ID, %s%s" % (label, SD_ID, "" if not sd_bad else ": %r" % sd_bad[:3]))
    check(not names_bad, "%s: parameter names in SRX order for CREATE and CLOSE%s"
          % (label, "" if not names_bad else ": %r" % names_bad[:1]))
    check(not values_bad, "%s: every parameter value as in xpfd's file%s"
          % (label, "" if not values_bad else ": %r" % values_bad[:1]))
    check(not msg_bad, "%s: MSG %s%s" % (label, "empty (brief)" if brief else "the file's English text",
                                         "" if not msg_bad else ": %r" % msg_bad[:1]))
    check(not time_bad, "%s: TIMESTAMP with milliseconds and offset, within the test's run%s"
          % (label, "" if not time_bad else ": %r" % time_bad[:3]))
    check_traffic(got, label)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--file", required=True)
    ap.add_argument("--receiver", nargs=3, action="append", required=True,
                    metavar=("DESTINATION", "RECORDS", "FORM"))
    ap.add_argument("--stats", required=True)
    ap.add_argument("--host-name", required=True)
    ap.add_argument("--t0", type=int, required=True)
    ap.add_argument("--t1", type=int, required=True)
    args = ap.parse_args()

    reference, bad = file_events(args.file)
    check(not bad and reference, "xpfd's file holds %d RFC 5424 RT_FLOW lines%s"
          % (len(reference), "" if not bad else ", %d others: %r" % (len(bad), bad[:2])))
    for destination, records, form in args.receiver:
        check_receiver(destination, records, reference, args, brief=form == "brief")

    stats = open(args.stats).read()
    totals = {k: int(v) for k, v in re.findall(r"^events ([\w-]+) (\d+)$", stats, re.M)}
    check(totals.get("emitted") == totals.get("drained") == len(reference) and totals.get("dropped") == 0,
          "show log statistics: every event emitted was drained into a line, none dropped (%r)" % totals)
    for name in [d for d, _, _ in args.receiver] + ["file rtflow"]:
        m = re.search(r"^destination %s: written (\d+), failed (\d+)" % re.escape(name), stats, re.M)
        check(m is not None and (int(m.group(1)), int(m.group(2))) == (len(reference), 0),
              "show log statistics: %s wrote every line, none failed (%s)" % (name, m.group(0) if m else "absent"))
    return exit_status()


if __name__ == "__main__":
    sys.exit(main())
