#!/usr/bin/python3
"""Report of tools/bench: aggregates the lab measurements (one JSON line per scenario and round),
merges xpf-bench's in-memory figures, prints the table and writes the flat JSON (--json).

Aggregation (docs/performance.md, "Method"): per scenario the headline figure is the best round
(highest delivered rate) with the offered rate and loss of that same round, because on a shared
machine other people's work can only lower what a forwarder delivers; the median over rounds is
reported next to it. Ratios are best over best; the median of the per-round ratios (each pair
measured within seconds of each other) is reported as well.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import sys

# Keys xpf-bench must provide (issue 4); reported as null when it is absent or lacks them.
PIPELINE_KEYS = [
    "pipeline.session_hit_v4_ns", "pipeline.session_hit_v6_ns", "pipeline.first_packet_ns",
    "pipeline.malformed_drop_ns", "pipeline.session_hit_v4_instructions",
    "sessions.bytes_per_session", "sessions.insert_per_s_10m", "scaling.ratio_2p_over_1p",
    "pipeline.c_floor_ns", "pipeline.c_floor_instructions", "pipeline.ratio_xpf_over_c_floor_ns",
    "pipeline.ratio_xpf_over_c_floor_instructions",
]
TARGETS = {
    "pipeline.session_hit_v4_ns": "<= 60", "pipeline.first_packet_ns": "<= 500",
    "sessions.bytes_per_session": "<= 160", "sessions.insert_per_s_10m": ">= 2 M",
    "scaling.ratio_2p_over_1p": ">= 1.8", "lab.ratio_xpf_over_xskfwd": ">= 0.9",
    "lab.cost_ratio_xpf_over_xskfwd": "<= 1.3",
}
SCENARIOS = [  # (scenario in results, JSON key stem, label)
    ("offered", "offered", "offered: generator -> sink"),
    ("xskfwd", "xskfwd", "xskfwd (AF_XDP anchor)"),
    ("xpf", "xpf", "xpf, full pipeline"),
    ("xpf_bypass", "xpf_bypass", "xpf, pipeline bypassed"),
    ("kernel", "kernel_nft", "kernel forwarding + nft conntrack"),
]
METHOD_LABEL = {"xdp": "AF_XDP copy-mode TX", "ring": "AF_PACKET TX ring", "mmsg": "sendmmsg"}


def flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        key = prefix + k
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_pps(v):
    return "n/a" if v is None else "{:,}".format(int(round(v))).replace(",", " ")


def fmt_pct(v):
    return "n/a" if v is None else "%.1f%%" % (v if abs(v) >= 0.05 else 0.0)


def fmt_num(v):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if abs(v) >= 1e6:
            return "%.2f M" % (v / 1e6)
        return "%.3g" % v if abs(v) < 10 else "%.1f" % v
    return str(v)


def rates(r):
    """(offered pps, delivered pps) of one measurement; (None, None) if it failed (a tool failed,
    or nothing arrived: a forwarder that delivers nothing is broken, not slow)."""
    if r.get("error") or r.get("rc_gen") or r.get("rc_sink") or not (r.get("sink") or {}).get("received"):
        return None, None
    return (r.get("gen") or {}).get("pps"), (r.get("sink") or {}).get("pps")


# Scenarios whose forwarder runs on the forwarder's CPU (the kernel's via RPS): the cost measure.
COST_SCENARIOS = [("xskfwd", "xskfwd"), ("xpf", "xpf"), ("kernel", "kernel_nft")]


def fwd_cpu_ns_per_packet(r, fwd_cpu):
    """The forwarder CPU's time per delivered packet, in ns: its busy share over the sink's window
    (read by the sink at the same instants as its packet counter) x the window / the packets the
    sink counted in it. Everything that ran on that CPU is charged (the sink's XDP program runs there
    too in every forwarding scenario, and so does anyone else's load), so the value is an upper bound
    of the forwarder's own cost and compares forwarders measured alike. None if the run failed."""
    s = r.get("sink") or {}
    if rates(r)[1] is None or fwd_cpu is None:
        return None
    cpu = next((c for c in s.get("cpu") or [] if c.get("cpu") == fwd_cpu), None)
    if cpu is None or cpu.get("busy_pct") is None or not s.get("seconds"):
        return None
    return cpu["busy_pct"] / 100.0 * s["seconds"] * 1e9 / s["received"]


def fwd_proc_ns_per_packet(r):
    """The forwarder process's own CPU time (utime + stime of xpf-worker or xskfwd, sampled by
    tools/bench at the window's edges) per packet the sink counted, in ns; other load on the
    machine does not count here. None without a sample (the kernel has no such process)."""
    p, s = r.get("fwd_proc") or {}, r.get("sink") or {}
    if rates(r)[1] is None or not p.get("seconds") or not s.get("seconds"):
        return None
    return p["cpu_seconds"] / p["seconds"] * s["seconds"] * 1e9 / s["received"]


# New-flow rate (tools/bench --new-flow-rate): a step (its "round" is the rate asked) is sustained
# if the generator offered at least NEWFLOW_OFFERED_MIN of it and the sink got >= 99 % of that
# (the same criterion as newflow_step in tools/bench, which steers the search).
NEWFLOW_SCENARIOS = [("newflow_xpf", "xpf"), ("newflow_kernel", "kernel_nft")]
NEWFLOW_OFFERED_MIN = 0.95
NEWFLOW_DELIVERED_MIN = 0.99


def newflow_ok(r):
    o, d = rates(r)
    return o is not None and d is not None and o >= NEWFLOW_OFFERED_MIN * r["round"] and d >= NEWFLOW_DELIVERED_MIN * o


def proc_share(p):
    """A sampled process's CPU time over its window as a share of one CPU (0.5 = half a core), its
    minor page faults in the window, and each thread that ran: "name@cpuN seconds"; None without a
    sample."""
    if not p or not p.get("seconds"):
        return None
    return {"cpu_share": round(p["cpu_seconds"] / p["seconds"], 3), "minor_faults": p.get("minor_faults"),
            "threads": ["%s@cpu%d %.2fs" % (t["name"], t["cpu"], t["cpu_seconds"]) for t in p.get("threads") or []]}


def newflow_step_record(r):
    """One new-flow step for the JSON: the rates, and where the packets went over the whole step
    (tools/bench newflow_counters: generator total, veth, XDP, AF_XDP socket, worker, conntrack,
    softnet and sink counters, differences over warm-up + window + tails), the worker's and xpfd's
    CPU share over the window, the per-CPU busy share during the window and the load average."""
    o, d = rates(r)
    g, s = r.get("gen") or {}, r.get("sink") or {}
    rec = {"asked_pps": r["round"], "offered_pps": o, "delivered_pps": d, "sustained": newflow_ok(r),
           "loss_pct": round(100.0 * (1.0 - d / o), 2) if o and d is not None else None,
           "gen_total_sent": g.get("total_sent"), "gen_eagain": g.get("eagain"),
           "sink_total_received": s.get("total_received"), "cpu_busy_pct_window": busy(r, "window"),
           "worker_cpu": proc_share(r.get("fwd_proc")), "xpfd_cpu": proc_share(r.get("sup_proc"))}
    if r.get("counters"):
        rec["counters"] = r["counters"]
        rec["loadavg"] = "/".join(r["counters"].get("loadavg") or [])
    return rec


NEWFLOW_TABLE_HEADER = {
    "xpf": "asked | offered | window loss | gen sent (step) | sink got (step) | step loss | c0 tx_dropped | "
           "AF_XDP RX ring full | worker rx | sessions created | worker drops | events emitted/dropped | "
           "batch fill | worker minor faults | worker CPU | xpfd CPU | softnet dropped/squeeze | CPU% 0/1 window | load",
    "kernel_nft": "asked | offered | window loss | gen sent (step) | sink got (step) | step loss | c0 tx_dropped | "
                  "conntrack | softnet dropped/squeeze | CPU% 0/1 window | load",
}


def newflow_table_row(x):
    """One printed row of the per-step counters table (docs/performance.md, "New-flow rate"), in the
    order of NEWFLOW_TABLE_HEADER: the window's rates, then the whole step's counters."""
    c = x.get("counters") or {}
    L, w = c.get("links") or {}, c.get("worker") or {}
    ct = c.get("conntrack") or {}
    sent, got = x.get("gen_total_sent"), x.get("sink_total_received")
    cells = [fmt_pps(x["asked_pps"]), fmt_pps(x["offered_pps"]), fmt_pct(x.get("loss_pct")), str(sent), str(got),
             fmt_pct(100.0 * (1.0 - got / sent) if sent and got is not None else None),
             str((L.get("c0") or {}).get("tx_dropped", 0))]
    if w:
        cells += [str(c.get("xsk_redirect_failed")), str(w.get("rx_packets")), str(w.get("sessions_created")),
                  ",".join("%s %d" % kv for kv in (w.get("drops_by_reason") or {}).items()) or "0",
                  "%s/%s" % (w.get("events_emitted"), w.get("events_dropped")), str(w.get("batch_fill")),
                  str(w.get("minor_faults")),
                  "%.0f%%" % (100 * x["worker_cpu"]["cpu_share"]) if x.get("worker_cpu") else "n/a",
                  "%.0f%%" % (100 * x["xpfd_cpu"]["cpu_share"]) if x.get("xpfd_cpu") else "n/a"]
    else:
        st = ct.get("stat") or {}
        cells += ["%s -> %s, early_drop %d, drop %d, insert_failed %d" % (
            ct.get("count_before"), ct.get("count_after"), st.get("early_drop", 0), st.get("drop", 0),
            st.get("insert_failed", 0))]
    cells += [" ".join("cpu%d %d/%d" % (y["cpu"], y["dropped"], y["time_squeeze"]) for y in c.get("softnet") or []
                       if y["dropped"] or y["time_squeeze"]) or "0",
              x.get("cpu_busy_pct_window") or "", x.get("loadavg") or ""]
    return " | ".join(cells)


def busy(r, key):
    """'b0/b1' per-CPU busy percentages: during the window (key 'window') or before it."""
    if key == "window":
        xs = [c.get("busy_pct") for c in ((r.get("sink") or {}).get("cpu") or [])]
    else:
        xs = r.get("background_busy_pct") or []
    return "/".join("%.0f" % x for x in xs if x is not None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--pipeline")
    ap.add_argument("--json")
    ap.add_argument("--mode", default="full")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--warmup", type=float)
    ap.add_argument("--duration", type=float)
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--dirty", type=int, default=0)
    ap.add_argument("--load-start", default="")
    ap.add_argument("--load-end", default="")
    ap.add_argument("--gen-cpu", type=int)
    ap.add_argument("--fwd-cpu", type=int)
    ap.add_argument("--method", default="xdp")
    ap.add_argument("--size", type=int)
    ap.add_argument("--flows", type=int)
    ap.add_argument("--build-seconds", type=int)
    ap.add_argument("--run-seconds", type=int)
    ap.add_argument("--errors")
    ap.add_argument("--notes")
    a = ap.parse_args()

    runs = []
    with open(a.results) as f:
        for line in f:
            line = line.strip()
            if line:
                runs.append(json.loads(line))
    by = {}
    for r in runs:
        by.setdefault(r["scenario"], []).append(r)

    out = {}
    best_run = {}
    per_round = {}
    for scen, stem, _ in SCENARIOS:
        ok = [r for r in by.get(scen, []) if rates(r)[1] is not None]
        for r in ok:
            per_round.setdefault(r["round"], {})[scen] = rates(r)[1]
        key = "lab.%s_pps" % stem if scen != "offered" else "lab.offered_sink_pps"
        if not ok:
            out[key] = None
            if scen == "offered":
                out["lab.offered_pps"] = None
            else:
                out["lab.%s_offered_pps" % stem] = None
                out["lab.%s_loss_pct" % stem] = None
            continue
        if scen == "offered":  # the generator's ceiling: its best round
            b = max(ok, key=lambda r: rates(r)[0] or 0)
        else:
            b = max(ok, key=lambda r: rates(r)[1])
        best_run[scen] = b
        o, d = rates(b)
        loss = 100.0 * (1.0 - d / o) if o else None
        if scen == "offered":
            out["lab.offered_pps"] = o
            out["lab.offered_sink_pps"] = d
            out["lab.offered_pps_median"] = median([rates(r)[0] for r in ok])
        else:
            out["lab.%s_pps" % stem] = d
            out["lab.%s_offered_pps" % stem] = o
            out["lab.%s_loss_pct" % stem] = loss
            out["lab.%s_pps_median" % stem] = median([rates(r)[1] for r in ok])
            out["lab.%s_generator_bound" % stem] = loss is not None and loss < 1.0
        out["lab.%s_rounds_pps" % stem] = [rates(r)[1] for r in by.get(scen, [])]
    out["lab.xpf_bypass_pps"] = None
    out["lab.xpf_bypass_note"] = "xpfd has no pipeline-bypass mode yet"
    for m in ("ring", "mmsg", "xdp"):
        rs = [r for r in by.get("gen_" + m, []) if rates(r)[0] is not None]
        if rs:
            out["lab.generator_%s_pps" % m] = max(rates(r)[0] for r in rs)

    def ratio(num, den, nstem, dstem):
        n, d = out.get("lab.%s_pps" % nstem), out.get("lab.%s_pps" % dstem)
        best = n / d if n and d else None
        xs = [v[num] / v[den] for v in per_round.values() if v.get(num) and v.get(den)]
        return best, median(xs)

    for num, den, nstem, dstem in (("xpf", "xskfwd", "xpf", "xskfwd"), ("xpf", "kernel", "xpf", "kernel_nft"),
                                   ("xskfwd", "kernel", "xskfwd", "kernel_nft")):
        best, med = ratio(num, den, nstem, dstem)
        out["lab.ratio_%s_over_%s" % (nstem, dstem)] = best
        out["lab.ratio_%s_over_%s_round_median" % (nstem, dstem)] = med
    # Cost: forwarder-CPU ns per delivered packet (best-pps round's value, and the median of rounds),
    # so a generator-bound run still compares what each forwarder spends per packet.
    cost_round = {}
    for scen, stem in COST_SCENARIOS:
        vals = {r["round"]: fwd_cpu_ns_per_packet(r, a.fwd_cpu) for r in by.get(scen, [])}
        for rnd, v in vals.items():
            if v is not None:
                cost_round.setdefault(rnd, {})[scen] = v
        b = best_run.get(scen)
        out["lab.%s_fwd_cpu_ns_per_packet" % stem] = fwd_cpu_ns_per_packet(b, a.fwd_cpu) if b else None
        out["lab.%s_fwd_cpu_ns_per_packet_median" % stem] = median(list(vals.values()))
        if scen != "kernel":
            out["lab.%s_fwd_proc_ns_per_packet" % stem] = fwd_proc_ns_per_packet(b) if b else None
            out["lab.%s_fwd_proc_ns_per_packet_median" % stem] = median(
                [fwd_proc_ns_per_packet(r) for r in by.get(scen, [])])
    n, d = out.get("lab.xpf_fwd_proc_ns_per_packet"), out.get("lab.xskfwd_fwd_proc_ns_per_packet")
    out["lab.cost_ratio_proc_xpf_over_xskfwd"] = n / d if n and d else None
    proc_round = {}
    for scen in ("xpf", "xskfwd"):
        for r in by.get(scen, []):
            v = fwd_proc_ns_per_packet(r)
            if v is not None:
                proc_round.setdefault(r["round"], {})[scen] = v
    out["lab.cost_ratio_proc_xpf_over_xskfwd_round_median"] = median(
        [v["xpf"] / v["xskfwd"] for v in proc_round.values() if v.get("xpf") and v.get("xskfwd")])
    for num, den, nstem, dstem in (("xpf", "xskfwd", "xpf", "xskfwd"), ("xpf", "kernel", "xpf", "kernel_nft")):
        n = out.get("lab.%s_fwd_cpu_ns_per_packet" % nstem)
        d = out.get("lab.%s_fwd_cpu_ns_per_packet" % dstem)
        out["lab.cost_ratio_%s_over_%s" % (nstem, dstem)] = n / d if n and d else None
        out["lab.cost_ratio_%s_over_%s_round_median" % (nstem, dstem)] = median(
            [v[num] / v[den] for v in cost_round.values() if v.get(num) and v.get(den)])
    for scen, stem in NEWFLOW_SCENARIOS:
        steps = by.get(scen, [])
        if not steps:
            continue
        good = [rates(r)[0] for r in steps if newflow_ok(r)]
        out["lab.new_flow_rate_%s" % stem] = max(good) if good else 0
        # loss need not grow with the rate (tools/bench newflow_search): the lowest rate asked that
        # was not sustained, below the figure when a slower step failed; None if every step passed
        bad = [r["round"] for r in steps if not newflow_ok(r)]
        out["lab.new_flow_lowest_failing_%s" % stem] = min(bad) if bad else None
        out["lab.new_flow_steps_%s" % stem] = [newflow_step_record(r) for r in steps]
    if "lab.new_flow_rate_xpf" in out:
        n, d = out.get("lab.new_flow_rate_xpf"), out.get("lab.new_flow_rate_kernel_nft")
        out["lab.ratio_new_flow_xpf_over_kernel_nft"] = n / d if n and d else None
    out.update({
        "lab.rounds": a.rounds, "lab.window_s": a.duration, "lab.warmup_s": a.warmup,
        "lab.frame_size": a.size, "lab.flows": a.flows, "lab.generator_method": a.method,
        "lab.generator_cpu": a.gen_cpu, "lab.forwarder_cpu": a.fwd_cpu,
        "lab.aggregation": "best round (highest delivered pps); medians in *_median keys",
    })

    pipe = {}
    if a.pipeline and os.path.exists(a.pipeline):
        try:
            with open(a.pipeline) as f:
                pipe = flatten(json.load(f))
        except Exception as e:  # a broken file is reported, not fatal
            print("bench: cannot read xpf-bench JSON: %s" % e, file=sys.stderr)
    merged = {k: None for k in PIPELINE_KEYS}
    merged.update({k: v for k, v in pipe.items()
                   if k.startswith(("pipeline.", "sessions.", "scaling."))})

    def lines(p):
        if not p or not os.path.exists(p):
            return []
        return [l.strip() for l in open(p) if l.strip()]

    errors, notes = lines(a.errors), lines(a.notes)
    doc = {
        "commit": a.commit,
        "commit_dirty": a.dirty > 0,
        "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "mode": a.mode,
        "machine.cpus": os.cpu_count(),
        "machine.kernel": platform.release(),
        "machine.loadavg_start": a.load_start,
        "machine.loadavg_end": a.load_end,
        "build_seconds": a.build_seconds,
        "run_seconds": a.run_seconds,
    }
    doc.update(dict(sorted(merged.items())))
    doc.update(dict(sorted(out.items())))
    doc["lab.runs"] = runs
    doc["errors"] = errors
    doc["notes"] = notes

    # ---- table
    w = sys.stdout.write
    w("xpf benchmarks (%s) at commit %s%s, %s\n" % (
        a.mode, a.commit[:12], " + uncommitted changes" if a.dirty else "", doc["date"]))
    w("machine: %s CPUs, kernel %s, load average %s at start, %s at end\n" % (
        doc["machine.cpus"], doc["machine.kernel"], a.load_start, a.load_end))
    w("\nlab: %s-byte IPv4/UDP frames over %s flows, xpf-gen (%s) on CPU %s, forwarder on CPU %s;\n"
      "     %d round(s) of a %g s window after %g s warm-up; best round shown, median of rounds next to it\n" % (
          a.size, a.flows, METHOD_LABEL.get(a.method, a.method), a.gen_cpu, a.fwd_cpu, a.rounds,
          a.duration or 0, a.warmup or 0))
    w("  %-34s %11s %11s %11s %6s  %-9s %8s %8s  %s\n" % ("scenario", "offered", "delivered", "(median)", "loss",
                                                          "bound by", "ns/pkt", "proc ns", "CPU% 0/1 during, before"))
    for scen, stem, label in SCENARIOS:
        b = best_run.get(scen)
        if scen == "xpf_bypass":
            w("  %-34s %11s %11s %11s %6s  %-9s %8s %8s  %s\n" % (label, "n/a", "n/a", "", "", "", "", "",
                                                                  "xpfd has no bypass mode yet"))
            continue
        if b is None:
            w("  %-34s %11s %11s %11s %6s\n" % (label, "n/a", "n/a", "", ""))
            continue
        o, d = rates(b)
        loss = 100.0 * (1.0 - d / o) if o else None
        med = out.get("lab.%s_pps_median" % stem) if scen != "offered" else None
        bound = "" if loss is None else ("generator" if loss < 1.0 else "forwarder")
        if scen == "offered":
            bound = ""
        cost = fwd_cpu_ns_per_packet(b, a.fwd_cpu) if scen != "offered" else None
        proc = fwd_proc_ns_per_packet(b)
        w("  %-34s %11s %11s %11s %6s  %-9s %8s %8s  %s, %s\n" % (
            label, fmt_pps(o), fmt_pps(d), fmt_pps(med) if med is not None else "", fmt_pct(loss), bound,
            "" if cost is None else "%.0f" % cost, "" if proc is None else "%.0f" % proc,
            busy(b, "window"), busy(b, "before")))
    for m in ("ring", "mmsg"):
        k = "lab.generator_%s_pps" % m
        if k in out:
            w("  %-34s %11s\n" % ("generator method %s -> sink" % m, fmt_pps(out[k])))
    for stem, label in (("xpf_over_xskfwd", "xpf / xskfwd"), ("xpf_over_kernel_nft", "xpf / kernel+nft"),
                        ("xskfwd_over_kernel_nft", "xskfwd / kernel+nft")):
        v, m = out["lab.ratio_" + stem], out["lab.ratio_%s_round_median" % stem]
        t = TARGETS.get("lab.ratio_" + stem)
        w("  %-34s %11s %11s %11s%s\n" % (label, "", "n/a" if v is None else "%.3f" % v,
                                          "" if m is None else "%.3f" % m, "   target " + t if t else ""))
    w("  (ns/pkt: the forwarder CPU's busy share x window / delivered packets; proc ns: the forwarder\n"
      "   process's utime + stime over the window / delivered packets; best round)\n")
    for stem, label in (("xpf_over_xskfwd", "xpf / xskfwd, ns/pkt"),
                        ("xpf_over_kernel_nft", "xpf / kernel+nft, ns/pkt"),
                        ("proc_xpf_over_xskfwd", "xpf / xskfwd, proc ns")):
        v, m = out["lab.cost_ratio_" + stem], out["lab.cost_ratio_%s_round_median" % stem]
        t = TARGETS.get("lab.cost_ratio_" + stem)
        w("  %-34s %11s %11s %11s%s\n" % (label, "", "n/a" if v is None else "%.3f" % v,
                                          "" if m is None else "%.3f" % m, "   target " + t if t else ""))
    if "lab.new_flow_rate_xpf" in out:
        w("\nnew-flow rate (every packet a new 5-tuple; highest offered rate delivered with < 1 % loss):\n")
        for scen, stem in NEWFLOW_SCENARIOS:
            steps = out.get("lab.new_flow_steps_%s" % stem) or []
            w("  %-34s %11s   steps: %s; lowest asked rate not sustained: %s\n" % (
                stem, fmt_pps(out.get("lab.new_flow_rate_%s" % stem)), ", ".join(
                    "%s%s" % (fmt_pps(x["asked_pps"]), "" if x["sustained"] else " (lost)") for x in steps),
                fmt_pps(out.get("lab.new_flow_lowest_failing_%s" % stem))))
        v = out.get("lab.ratio_new_flow_xpf_over_kernel_nft")
        w("  %-34s %11s   target >= 2\n" % ("xpf / kernel+nft", "n/a" if v is None else "%.2f" % v))
        w("  per step: rates over the window; counters over the whole step (warm-up + window + tails):\n")
        for scen, stem in NEWFLOW_SCENARIOS:
            steps = out.get("lab.new_flow_steps_%s" % stem) or []
            w("  %s: %s\n" % (stem, NEWFLOW_TABLE_HEADER[stem]))
            for x in steps:
                w("    %s\n" % newflow_table_row(x))
    w("\nin memory (xpf-bench)%s:\n" % ("" if pipe else ": not run, figures null"))
    for k in sorted(merged):
        w("  %-40s %14s%s\n" % (k, fmt_num(merged[k]), "   target " + TARGETS[k] if k in TARGETS else ""))
    for n in notes:
        w("note: %s\n" % n)
    for e in errors:
        w("error: %s\n" % e)

    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        os.replace(tmp, a.json)
        w("figures written to %s\n" % a.json)


if __name__ == "__main__":
    main()
