// xpf-top: a live view of every worker, read from shared memory only (R-12.1, issue 11
// §3). Interactive in the habits of top / htop (keys: `h` in the live view, Views.swift
// `keyHelp`); `--once` prints one text snapshot and `--json` one JSON object for scripts.
//
// JSON (`--json`), schema 1. A field is never renamed or given another meaning without
// raising "schema"; fields may be added. Counters are totals since xpfd laid out the
// shared memory: a restarted worker continues its predecessor's counters (xpf_abi.h,
// struct xpf_worker_stats), and the kernel's socket counts (xsk_*) are added to what its
// predecessors published. Rates are over the `interval_s` between two samples.
//   schema             int     this layout's version: 1
//   supervisor_pid     int     xpfd's pid
//   supervisor_alive   bool    that pid is alive
//   state              string  "init" | "running" | "stopping" (the region's state)
//   generation         int     running configuration generation
//   fib_version        int     running FIB generation
//   interval_s         float   seconds between the two samples
//   rx_ring_size       int     AF_XDP RX ring size, descriptors
//   tx_ring_size       int     AF_XDP TX ring size, descriptors
//   workers[]          one per queue:
//     queue, pid, core, numa_node                 int
//     state            string  "empty" | "starting" | "running" | "exited" | "failed" | "parked"
//                              (parked: beyond `system dataplane queues`, no worker; xpfd
//                              keeps its sessions: its loop and packet counters stand
//                              still, xpfd counts the sessions it closes and their events)
//     heartbeat_age_ms int     ms since its last heartbeat (-1: none yet)
//     generation, fib_version  int  generations the worker runs
//     restarts         int     times xpfd restarted it
//     rx_packets, rx_bytes, tx_packets, tx_bytes    int  packets / bytes
//     rx_pps, tx_pps   float   packets per second
//     rx_bps, tx_bps   float   bits per second
//     drops            int     packets dropped, all reasons
//     drops_by_reason  object  reason name → packets (names as xpfctl and /metrics)
//     batches          int     RX batches (vectors) processed
//     batch_fill       float   average packets per batch, since start
//     polls, loops     int     poll() calls, loop passes
//     loop_busy_ns, loop_idle_ns, loop_spin_ns    int  ns of loop time: passes that
//                              moved packets, asleep in poll(), passes that moved none
//     busy_share       float   0..1 busy over the interval (absent: no loop time passed)
//     cpu_wait_share   float   0..1 of the interval runnable but waiting for a CPU (schedstat;
//                              absent: not read twice in the interval)
//     sessions_created, sessions_closed, session_hits, session_misses     int
//     neigh_parked, neigh_sent, icmp_errors_sent, icmp_errors_limited    int  packets
//     events_emitted, events_dropped, events_rate_limited               int  events
//     requests_dropped int     xpfd requests lost (request ring full)
//     rings[]          one per interface: interface (string); rx_used, tx_used, fill_used
//                      (int, descriptors now); rx_packets, tx_packets, batches (int);
//                      vector_size (float, packets per batch since start);
//                      xsk_rx_ring_full, xsk_fill_ring_empty, xsk_rx_dropped,
//                      xsk_tx_ring_empty (int, kernel AF_XDP events: XDP_STATISTICS,
//                      read by the worker every 100 ms; meanings in xpf_abi.h, struct
//                      xpf_worker_socket_stats)
//   totals             object  rx_packets, tx_packets, drops (int, summed over workers);
//                              sessions_active (created - closed), session_capacity (int)
//   interfaces[]       name (string), ifindex (int), xdp_mode ("native" | "generic" |
//                      "none"), rx_queues (int), rx_packets, tx_packets (int, summed over
//                      workers), rx_pps, tx_pps (float, packets per second)
//   xdp                object  XDP program counters by name (int, packets), absent when
//                              the counters map cannot be read
//   hint               string  RSS imbalance note, absent when balanced
//   scaling            object  verdict (string: `xpfctl show dataplane scaling`'s line),
//                              limits[] (string per queue: idle | none | cpu | rx-ring |
//                              umem | tx | imbalance)
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CXPF
import Shared

/// The "schema" of `--json` (see the file header).
let jsonSchemaVersion = 1

/// The scaling report of the interval (`xpfctl show dataplane scaling` without the
/// interfaces' placement facts, which xpf-top does not probe on every refresh).
func scaling(_ region: ShmRegion, _ a: DataplaneStatus, _ b: DataplaneStatus) -> ScalingReport {
    let h = region.header.pointee
    let settings = ScalingReport.Settings(batchSize: Int(region.configSnapshot.pointee.batch_size), rxRing: Int(h.rx_ring_size),
                                          txRing: Int(h.tx_ring_size), umemFrames: Int(h.umem_frames),
                                          cpus: max(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 1), interfaces: Int(h.n_ifaces), maxQueues: Int(h.n_queues))
    return ScalingReport(before: a, after: b, settings: settings, interfaces: [])
}

// MARK: - Reading the samples

/// Every live session, read as `xpfctl show security flow session` reads them
/// (SessionListing: a consistent copy of each LIVE record), named under the running snapshot.
func readSessions(_ region: ShmRegion) -> [SessionSample] {
    let names = SessionNames(region)
    return SessionListing.all(region).map { s in
        let r = s.record
        return SessionSample(id: s.id, createdS: r.created_s, proto: SessionListing.protocolName(r.proto), family: r.family,
                             tuple: r.fwd, policy: names.policy(of: r).name, packets: r.packets.0 &+ r.packets.1,
                             bytes: r.bytes.0 &+ r.bytes.1, ageS: s.ageS)
    }
}

/// Per policy its hit count, per firewall filter term and named counter its packets: the
/// running bank (the running snapshot's policy_bank) of every worker, summed — what the
/// workers counted since this policy epoch began (xpfd adds the harvested epochs for
/// `show security policies hit-count`; xpf-top reads shared memory only). Names from the
/// running snapshot.
func readHits(_ region: ShmRegion) -> [HitSample] {
    let view = region.configView(slot: region.current(.config).slot)
    let bank = view.head.pointee.policy_bank
    func name(_ offset: UInt32) -> String { view.string(at: offset) ?? "#\(offset)" }
    func hits(_ id: Int) -> UInt64 {
        // Relaxed loads: each worker is the single writer of its row; this is a sum.
        (0..<region.queues).reduce(UInt64(0)) { $0 &+ xpf_load_relaxed_u64(PolicyCounters.counter(PolicyCounters.bank(region.policyHits($1), bank), id, XPF_PC_HITS)) }
    }
    func action(_ a: UInt32) -> String {
        switch a {
        case XPF_POLICY_PERMIT.rawValue: return "permit"
        case XPF_POLICY_DENY.rawValue: return "deny"
        case XPF_POLICY_REJECT.rawValue: return "reject"
        default: return "\(a)"
        }
    }
    var out: [HitSample] = []
    for id in 0..<view.policies.count {
        let p = view.policy(id)
        let zones = view.zones.count
        let scope = p.from_zone == XPF_CFG_NONE || Int(p.from_zone) >= zones || Int(p.to_zone) >= zones ? "global"
            : "\(name(view.zone(Int(p.from_zone)).name)) → \(name(view.zone(Int(p.to_zone)).name))"
        out.append(HitSample(kind: .policy, scope: scope, name: name(p.name), action: action(UInt32(p.action)), hits: hits(id)))
    }
    out.append(HitSample(kind: .policy, scope: "-", name: PolicyIdentity.defaultPolicyName,
                         action: action(view.head.pointee.default_policy), hits: hits(Int(XPF_SESS_POLICY_DEFAULT))))
    // A fresh FilterCounts has no harvested totals: its lifetime counts are the running bank.
    for f in FilterCounts(region: region).lifetimeCounts() {
        let scope = "\(f.family) \(f.name)"
        out += f.terms.map { HitSample(kind: .term, scope: scope, name: $0.name, action: "-", hits: $0.traffic.packets) }
        out += f.counters.map { HitSample(kind: .counter, scope: scope, name: $0.name, action: "-", hits: $0.traffic.packets) }
    }
    return out
}

/// The dataplane now, with the rows `view` needs.
func takeSample(_ region: ShmRegion, for view: View) -> Sample {
    Sample(status: DataplaneStatus.read(region), sessions: view == .sessions ? readSessions(region) : nil,
           hits: view == .policies ? readHits(region) : nil)
}

// MARK: - JSON

func renderJSON(_ a: DataplaneStatus, _ b: DataplaneStatus, _ report: ScalingReport) -> String {
    let dt = Double(b.takenAtNs - a.takenAtNs) / 1e9
    var j = JSONWriter()
    j.beginObject()
    j.field("schema", jsonSchemaVersion)
    j.field("supervisor_pid", b.supervisorPid)
    j.field("supervisor_alive", b.supervisorAlive)
    j.field("state", b.state)
    j.field("generation", b.generation)
    j.field("fib_version", b.fibVersion)
    j.field("interval_s", dt)
    j.field("rx_ring_size", b.rxRingSize)
    j.field("tx_ring_size", b.txRingSize)
    j.beginArray("workers")
    var totals = (rx: UInt64(0), tx: UInt64(0), drops: UInt64(0))
    for (wa, w) in zip(a.workers, b.workers) {
        let r = rates(wa.stats, w.stats, dt)
        j.beginObject()
        j.field("queue", w.queue); j.field("pid", w.pid); j.field("core", w.core); j.field("numa_node", w.numaNode)
        j.field("state", w.state); j.field("heartbeat_age_ms", w.heartbeatAgeMs); j.field("generation", w.generation)
        j.field("fib_version", w.fibVersion); j.field("restarts", w.restarts)
        j.field("rx_packets", w.stats.rx_packets); j.field("rx_bytes", w.stats.rx_bytes)
        j.field("tx_packets", w.stats.tx_packets); j.field("tx_bytes", w.stats.tx_bytes)
        j.field("rx_pps", r.rxPps); j.field("tx_pps", r.txPps); j.field("rx_bps", r.rxBps); j.field("tx_bps", r.txBps)
        j.field("drops", w.stats.totalDrops)
        j.beginObject("drops_by_reason")
        for r in dropReasons { j.field(r.name, w.stats.drop(r.index)) }
        j.endObject()
        j.field("batches", w.stats.batches)
        j.field("batch_fill", w.stats.batches > 0 ? Double(w.stats.batch_packets) / Double(w.stats.batches) : 0)
        j.field("polls", w.stats.polls)
        j.field("loops", w.stats.loops)
        j.field("loop_busy_ns", w.stats.loop_busy_ns); j.field("loop_idle_ns", w.stats.loop_idle_ns)
        j.field("loop_spin_ns", w.stats.loop_spin_ns)
        if let busy = DataplaneStatus.busyShare(wa.stats, w.stats) { j.field("busy_share", busy) }
        if let wait = DataplaneStatus.cpuWaitShare(wa.socket, w.socket) { j.field("cpu_wait_share", wait) }
        j.field("sessions_created", w.stats.sessions_created); j.field("sessions_closed", w.stats.sessions_closed)
        j.field("session_hits", w.stats.session_hits); j.field("session_misses", w.stats.session_misses)
        j.field("neigh_parked", w.stats.neigh_parked); j.field("neigh_sent", w.stats.neigh_sent)
        j.field("icmp_errors_sent", w.stats.icmp_errors_sent); j.field("icmp_errors_limited", w.stats.icmp_errors_limited)
        j.field("events_emitted", w.stats.events_emitted); j.field("events_dropped", w.stats.events_dropped)
        j.field("events_rate_limited", w.stats.events_rate_limited)
        j.field("requests_dropped", w.requestsDropped)
        j.beginArray("rings")
        for i in b.interfaces {
            j.beginObject()
            j.field("interface", i.name)
            j.field("rx_used", DataplaneStatus.perInterface(w.stats.rx_ring_used, i.slot))
            j.field("tx_used", DataplaneStatus.perInterface(w.stats.tx_ring_used, i.slot))
            j.field("fill_used", DataplaneStatus.perInterface(w.stats.fill_ring_used, i.slot))
            j.field("rx_packets", DataplaneStatus.perInterface(w.stats.if_rx_packets, i.slot))
            j.field("tx_packets", DataplaneStatus.perInterface(w.stats.if_tx_packets, i.slot))
            let batches = DataplaneStatus.perInterface(w.stats.if_batches, i.slot)
            j.field("batches", batches)
            j.field("vector_size", batches > 0 ? Double(DataplaneStatus.perInterface(w.stats.if_rx_packets, i.slot)) / Double(batches) : 0)
            j.field("xsk_rx_ring_full", DataplaneStatus.perInterface(w.socket.rx_ring_full, i.slot))
            j.field("xsk_fill_ring_empty", DataplaneStatus.perInterface(w.socket.fill_ring_empty, i.slot))
            j.field("xsk_rx_dropped", DataplaneStatus.perInterface(w.socket.rx_dropped, i.slot))
            j.field("xsk_tx_ring_empty", DataplaneStatus.perInterface(w.socket.tx_ring_empty, i.slot))
            j.endObject()
        }
        j.endArray()
        j.endObject()
        totals.rx &+= w.stats.rx_packets; totals.tx &+= w.stats.tx_packets; totals.drops &+= w.stats.totalDrops
    }
    j.endArray()
    j.beginObject("totals")
    j.field("rx_packets", totals.rx); j.field("tx_packets", totals.tx); j.field("drops", totals.drops)
    j.field("sessions_active", sessionsActive(b)); j.field("session_capacity", b.sessionCapacity)
    j.endObject()
    j.beginArray("interfaces")
    for i in b.interfaces {
        let (rx, tx) = interfaceRates(a, b, i.slot, dt)
        j.beginObject(); j.field("name", i.name); j.field("ifindex", i.ifindex); j.field("xdp_mode", i.xdpMode); j.field("rx_queues", i.rxQueues)
        j.field("rx_packets", b.workers.reduce(UInt64(0)) { $0 &+ DataplaneStatus.perInterface($1.stats.if_rx_packets, i.slot) })
        j.field("tx_packets", b.workers.reduce(UInt64(0)) { $0 &+ DataplaneStatus.perInterface($1.stats.if_tx_packets, i.slot) })
        j.field("rx_pps", rx); j.field("tx_pps", tx)
        j.endObject()
    }
    j.endArray()
    if let x = b.xdp {
        j.beginObject("xdp")
        for (i, n) in DataplaneStatus.xdpCounterNames.enumerated() { j.field(n, x[i]) }
        j.endObject()
    }
    if let h = imbalanceHint(zip(a.workers, b.workers).map { rates($0.stats, $1.stats, dt) }) { j.field("hint", h) }
    j.beginObject("scaling")
    j.field("verdict", report.verdict)
    j.beginArray("limits")
    for q in report.queues { j.field(nil, q.limit.rawValue) }
    j.endArray()
    j.endObject()
    j.endObject()
    return j.text
}

struct XPFTop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xpf-top",
        abstract: "Live view of the xpf dataplane: every worker's queue, core, NUMA node, heartbeat, generation, busy share, rates, drops and ring occupancy; interfaces, drop reasons, top sessions, policy and filter hits.",
        discussion: """
            Reads shared memory only (DIR/shm of xpfd's state directory); it never talks to xpfd. Rates are the \
            difference between two samples `--interval` apart. The scaling verdict (xpfctl show dataplane scaling) \
            heads every view.

            Keys: \(keyHelp.map { "\($0.keys.split(separator: " ").joined(separator: "/")) \($0.meaning)" }.joined(separator: "; ")). \
            Colour marks saturated (busy >= 90 % red, >= 70 % yellow) and failing workers (failed, exited, heartbeat \
            older than 1 s); none when NO_COLOR is set or stdout is not a terminal.

            --json (schema 1; fields are added, never renamed without a new schema): schema; supervisor_pid, \
            supervisor_alive, state, generation, fib_version; interval_s (s); rx_ring_size, tx_ring_size \
            (descriptors); workers[]: queue, pid, core, numa_node, state, heartbeat_age_ms, generation, \
            fib_version, restarts, rx/tx_packets, rx/tx_bytes (totals), rx/tx_pps (packets/s), rx/tx_bps \
            (bits/s), drops, drops_by_reason{reason: packets}, batches, batch_fill (packets/batch), polls, loops, \
            loop_busy/idle/spin_ns (ns), busy_share (0..1), cpu_wait_share (0..1), sessions_created/closed, session_hits/misses, \
            neigh_parked/sent, icmp_errors_sent/limited, events_emitted/dropped/rate_limited, requests_dropped, \
            rings[]{interface, rx/tx/fill_used (descriptors), rx/tx_packets, batches, vector_size, \
            xsk_rx_ring_full, xsk_fill_ring_empty, xsk_rx_dropped, xsk_tx_ring_empty}; totals{rx_packets, \
            tx_packets, drops, sessions_active, session_capacity}; interfaces[]{name, ifindex, xdp_mode, \
            rx_queues, rx/tx_packets, rx/tx_pps}; xdp{counter: packets} (absent if unreadable); hint (absent \
            when balanced); scaling{verdict, limits[] per queue}.
            """)

    @Option(name: .long, help: "xpfd's state directory.")
    var stateDir: String = "/run/xpf"
    @Flag(name: .long, help: "Print one snapshot (two samples one interval apart) and exit.")
    var once = false
    @Flag(name: .long, help: "JSON output (implies --once).")
    var json = false
    @Option(name: .long, help: "Seconds between samples (refresh period of the live view; + and - change it).")
    var interval: Double = 1.0

    func validate() throws {
        guard interval > 0 && interval <= UIState.maxInterval else { throw ValidationError("--interval must be in (0, 60] seconds") }
    }

    func run() throws {
        let region: ShmRegion
        do { region = try DataplaneStatus.openRegion(stateDir: stateDir) } catch {
            throw ValidationError("\(error)")
        }
        if once || json {
            let prev = DataplaneStatus.read(region)
            usleep(useconds_t(interval * Self.microsPerSecond))
            let cur = DataplaneStatus.read(region)
            let report = scaling(region, prev, cur)
            print(json ? renderJSON(prev, cur, report) : renderOnce(prev, cur, verdict: report.verdict), terminator: json ? "\n" : "")
            return
        }
        catchTerminationSignals()
        guard let terminal = RawTerminal() else {
            throw ValidationError("the live view needs a terminal on stdin (use --once or --json in scripts)")
        }
        defer { terminal.restore() }
        var live = LiveView(region: region, terminal: terminal, interval: interval)
        live.run()
    }

    static let microsPerSecond = 1_000_000.0
}

/// The interactive loop: sample every interval (unless frozen), redraw on every key.
struct LiveView {
    let region: ShmRegion
    let terminal: RawTerminal
    var ui: UIState
    var prev: Sample
    var cur: Sample
    var history = History()
    var verdict: String
    let colour = colourWanted()

    init(region: ShmRegion, terminal: RawTerminal, interval: Double) {
        self.region = region
        self.terminal = terminal
        ui = UIState(interval: interval)
        prev = takeSample(region, for: ui.view)
        cur = prev
        verdict = "scaling: (first sample; the verdict follows after one interval)"
    }

    mutating func run() {
        var nextNs = monotonicNanos() + nanos(ui.interval)
        draw()
        while interrupted == 0 {
            let now = monotonicNanos()
            let waitMs = nextNs > now ? Int32(min((nextNs - now) / Self.nanosPerMilli + 1, UInt64(Int32.max))) : 0
            var redraw = false
            let keys: [UInt8]
            switch terminal.readKeys(timeoutMs: waitMs) {
            case .gone: return
            case .none: keys = []
            case .keys(let k): keys = k
            }
            if suspendRequested != 0 {
                suspendRequested = 0
                guard terminal.suspend() else { return }
                redraw = true
            }
            // An escape sequence (arrow and function keys) is no key of ours: its letters
            // must not act as `A`…`D` or `q` would.
            for key in keys.first == Self.escapeByte ? [] : keys {
                let before = ui
                switch handleKey(key, &ui, columns: { viewColumns($0, prev: prev, cur: cur, history: history) }) {
                case .quit: return
                case .redraw: redraw = true
                case .ignored: break
                }
                if ui.interval != before.interval { nextNs = monotonicNanos() + nanos(ui.interval) }
                // A view that needs rows the last sample lacks reads them now, frozen or
                // not (its rates follow at the next refresh).
                if ui.view != before.view { refreshExtras() }
            }
            if monotonicNanos() >= nextNs {
                nextNs = monotonicNanos() + nanos(ui.interval)
                if !ui.frozen { sample(); redraw = true }
            }
            if redraw { draw() }
        }
    }

    mutating func sample() {
        let next = takeSample(region, for: ui.view)
        history.add(cur.status, next.status)
        verdict = scaling(region, cur.status, next.status).verdict
        prev = cur
        cur = next
    }

    mutating func refreshExtras() {
        if ui.view == .sessions && cur.sessions == nil { cur.sessions = readSessions(region) }
        if ui.view == .policies && cur.hits == nil { cur.hits = readHits(region) }
    }

    func draw() {
        let size = RawTerminal.size()
        let lines = frame(prev: prev, cur: cur, verdict: verdict, history: history, ui: ui)
        terminal.write(compose(lines, columns: size.columns, rows: size.rows, colour: colour))
    }

    func nanos(_ seconds: Double) -> UInt64 { UInt64(seconds * 1e9) }
    static let nanosPerMilli: UInt64 = 1_000_000
    static let escapeByte: UInt8 = 0x1B
}

XPFTop.main()
