// xpf-top: a live view of every worker, read from shared memory only (R-12.1).
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CXPF
import Shared

nonisolated(unsafe) var interrupted: sig_atomic_t = 0

struct Rates {
    var rxPps = 0.0, txPps = 0.0, rxBps = 0.0, txBps = 0.0, created = 0.0, closed = 0.0, drops = 0.0
}

func rates(_ a: xpf_worker_stats, _ b: xpf_worker_stats, _ dt: Double) -> Rates {
    guard dt > 0 else { return Rates() }
    func d(_ x: UInt64, _ y: UInt64) -> Double { y >= x ? Double(y - x) / dt : 0 }
    return Rates(rxPps: d(a.rx_packets, b.rx_packets), txPps: d(a.tx_packets, b.tx_packets),
                 rxBps: d(a.rx_bytes, b.rx_bytes) * 8, txBps: d(a.tx_bytes, b.tx_bytes) * 8,
                 created: d(a.sessions_created, b.sessions_created), closed: d(a.sessions_closed, b.sessions_closed),
                 drops: d(a.totalDrops, b.totalDrops))
}

func human(_ v: Double) -> String {
    let units = ["", "k", "M", "G", "T"]
    var x = v
    var i = 0
    while x >= 1000 && i < units.count - 1 { x /= 1000; i += 1 }
    if i == 0 { return String(Int(x.rounded())) }
    let scaled = (x * 10).rounded() / 10
    return "\(scaled)\(units[i])"
}

func pad(_ s: String, _ w: Int, left: Bool = false) -> String {
    s.count >= w ? s : (left ? s + String(repeating: " ", count: w - s.count) : String(repeating: " ", count: w - s.count) + s)
}

func sessionsActive(_ s: DataplaneStatus) -> UInt64 {
    let created = s.workers.reduce(UInt64(0)) { $0 &+ $1.stats.sessions_created }
    let closed = s.workers.reduce(UInt64(0)) { $0 &+ $1.stats.sessions_closed }
    return created >= closed ? created - closed : 0
}

/// A note when one queue carries far more than its share (RSS imbalance).
func imbalanceHint(_ r: [Rates]) -> String? {
    let total = r.reduce(0) { $0 + $1.rxPps }
    guard r.count > 1, total > 1000 else { return nil }
    let maxR = r.map(\.rxPps).max() ?? 0
    let share = maxR / total
    if share > 1.5 / Double(r.count) {
        let q = r.firstIndex { $0.rxPps == maxR } ?? 0
        return "hint: queues are imbalanced — queue \(q) receives \(Int(share * 100))% of packets (fair share \(100 / r.count)%); check RSS hashing / flow mix"
    }
    return nil
}

/// The scaling report of the interval (`xpfctl show dataplane scaling` without the
/// interfaces' placement facts, which xpf-top does not probe on every refresh).
func scaling(_ region: ShmRegion, _ a: DataplaneStatus, _ b: DataplaneStatus) -> ScalingReport {
    let h = region.header.pointee
    let settings = ScalingReport.Settings(batchSize: Int(region.configSnapshot.pointee.batch_size), rxRing: Int(h.rx_ring_size),
                                          txRing: Int(h.tx_ring_size), umemFrames: Int(h.umem_frames),
                                          cpus: max(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 1))
    return ScalingReport(before: a, after: b, settings: settings, interfaces: [])
}

func renderText(_ a: DataplaneStatus, _ b: DataplaneStatus, _ report: ScalingReport) -> String {
    let dt = Double(b.takenAtNs - a.takenAtNs) / 1e9
    let rs = zip(a.workers, b.workers).map { rates($0.stats, $1.stats, dt) }
    var o = "xpf-top — xpfd pid \(b.supervisorPid) \(b.supervisorAlive ? b.state : "NOT RUNNING"), generation \(b.generation), fib \(b.fibVersion), \(b.workers.count) workers, sessions \(sessionsActive(b))/\(b.sessionCapacity)\n"
    o += report.verdict + "\n"
    o += " Q  CORE NODE     PID STATE     HB(ms)  GEN BUSY%    RX pps    TX pps    RX bps    TX bps  DROPS/s   DROPS  FILL  RXQ%  TXQ%  SESS+/s  SESS-/s  RESTARTS\n"
    var tot = Rates()
    for ((wa, w), r) in zip(zip(a.workers, b.workers), rs) {
        let fill = w.stats.batches > 0 ? Double(w.stats.batch_packets) / Double(w.stats.batches) : 0
        o += pad("\(w.queue)", 2) + pad("\(w.core)", 6) + pad("\(w.numaNode)", 5) + pad("\(w.pid)", 8) + " " + pad(w.state, 8, left: true)
        o += pad(w.heartbeatAgeMs < 0 ? "-" : "\(w.heartbeatAgeMs)", 8) + pad("\(w.generation)", 5)
        o += pad(busyPercent(wa.stats, w.stats), 6)
        o += pad(human(r.rxPps), 10) + pad(human(r.txPps), 10) + pad(human(r.rxBps), 10) + pad(human(r.txBps), 10)
        o += pad(human(r.drops), 9) + pad("\(w.stats.totalDrops)", 8) + pad(String(format1(fill)), 6)
        o += pad("\(ringPercent(w.stats.rx_ring_used, b.rxRingSize, b.interfaces.count))", 6)
        o += pad("\(ringPercent(w.stats.tx_ring_used, b.txRingSize, b.interfaces.count))", 6)
        o += pad(human(r.created), 9) + pad(human(r.closed), 9) + pad("\(w.restarts)", 10) + "\n"
        tot.rxPps += r.rxPps; tot.txPps += r.txPps; tot.rxBps += r.rxBps; tot.txBps += r.txBps
        tot.drops += r.drops; tot.created += r.created; tot.closed += r.closed
    }
    o += "TOTAL" + String(repeating: " ", count: 44) + pad(human(tot.rxPps), 10) + pad(human(tot.txPps), 10) + pad(human(tot.rxBps), 10) + pad(human(tot.txBps), 10) + pad(human(tot.drops), 9)
    o += pad("\(b.workers.reduce(UInt64(0)) { $0 &+ $1.stats.totalDrops })", 8) + String(repeating: " ", count: 18) + pad(human(tot.created), 9) + pad(human(tot.closed), 9) + "\n"
    var reasons: [String] = []
    for r in dropReasons {
        let n = b.workers.reduce(UInt64(0)) { $0 &+ $1.stats.drop(r.index) }
        if n > 0 { reasons.append("\(r.name) \(n)") }
    }
    o += "drops by reason: " + (reasons.isEmpty ? "none" : reasons.joined(separator: ", ")) + "\n"
    let emitted = b.workers.reduce(UInt64(0)) { $0 &+ $1.stats.events_emitted }
    let eventsDropped = b.workers.reduce(UInt64(0)) { $0 &+ $1.stats.events_dropped }
    let rateLimited = b.workers.reduce(UInt64(0)) { $0 &+ $1.stats.events_rate_limited }
    o += "security events: emitted \(emitted), dropped (event ring full) \(eventsDropped), rate-limited \(rateLimited)"
        + (eventsDropped > 0 ? " — " + b.workers.filter { $0.stats.events_dropped > 0 }.map { "q\($0.queue) \($0.stats.events_dropped)" }.joined(separator: ", ") : "") + "\n"
    for i in b.interfaces {
        let (rx, tx) = interfaceRates(a, b, i.slot, dt)
        o += "interface \(i.name): ifindex \(i.ifindex), XDP \(i.xdpMode), \(i.rxQueues) rx queues, rx \(human(rx)) pps, tx \(human(tx)) pps\n"
    }
    if let x = b.xdp {
        let dxa = a.xdp ?? x
        o += "xdp: " + DataplaneStatus.xdpCounterNames.enumerated().map { "\($1) \(x[$0]) (\(human(dt > 0 ? Double(x[$0] &- dxa[$0]) / dt : 0))/s)" }.joined(separator: ", ") + "\n"
    }
    if let h = imbalanceHint(rs) { o += h + "\n" }
    return o
}

/// A worker's busy share over the interval, in percent ("-": no loop time passed).
func busyPercent(_ a: xpf_worker_stats, _ b: xpf_worker_stats) -> String {
    DataplaneStatus.busyShare(a, b).map { String(Int(($0 * 100).rounded())) } ?? "-"
}

/// Highest occupancy (percent) of one ring kind over a worker's interfaces.
func ringPercent<T>(_ gauges: T, _ size: UInt32, _ n: Int) -> Int {
    guard size > 0 else { return 0 }
    let used = (0..<n).map { DataplaneStatus.perInterface(gauges, $0) }.max() ?? 0
    return Int(min(100, used * 100 / UInt64(size)))
}

/// Packets per second received and sent on an interface slot, summed over workers.
func interfaceRates(_ a: DataplaneStatus, _ b: DataplaneStatus, _ slot: Int, _ dt: Double) -> (Double, Double) {
    guard dt > 0 else { return (0, 0) }
    var rx = 0.0, tx = 0.0
    for (wa, wb) in zip(a.workers, b.workers) {
        let r0 = DataplaneStatus.perInterface(wa.stats.if_rx_packets, slot), r1 = DataplaneStatus.perInterface(wb.stats.if_rx_packets, slot)
        let t0 = DataplaneStatus.perInterface(wa.stats.if_tx_packets, slot), t1 = DataplaneStatus.perInterface(wb.stats.if_tx_packets, slot)
        if r1 >= r0 { rx += Double(r1 - r0) / dt }
        if t1 >= t0 { tx += Double(t1 - t0) / dt }
    }
    return (rx, tx)
}

func format1(_ v: Double) -> String {
    let r = (v * 10).rounded() / 10
    return "\(r)"
}

func renderJSON(_ a: DataplaneStatus, _ b: DataplaneStatus, _ report: ScalingReport) -> String {
    let dt = Double(b.takenAtNs - a.takenAtNs) / 1e9
    var j = JSONWriter()
    j.beginObject()
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
            j.field("xsk_rx_ring_full", DataplaneStatus.perInterface(w.stats.xsk_rx_ring_full, i.slot))
            j.field("xsk_fill_ring_empty", DataplaneStatus.perInterface(w.stats.xsk_fill_ring_empty, i.slot))
            j.field("xsk_rx_dropped", DataplaneStatus.perInterface(w.stats.xsk_rx_dropped, i.slot))
            j.field("xsk_tx_ring_empty", DataplaneStatus.perInterface(w.stats.xsk_tx_ring_empty, i.slot))
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
        abstract: "Live view of the xpf dataplane: every worker's queue, core, NUMA node, heartbeat, generation, rates, drops and ring occupancy; per-interface rates.",
        discussion: "Reads shared memory only (DIR/shm of xpfd's state directory); it never talks to xpfd. Rates are the difference between two samples `--interval` apart.")

    @Option(name: .long, help: "xpfd's state directory.")
    var stateDir: String = "/run/xpf"
    @Flag(name: .long, help: "Print one snapshot (two samples one interval apart) and exit.")
    var once = false
    @Flag(name: .long, help: "JSON output (implies --once).")
    var json = false
    @Option(name: .long, help: "Seconds between samples (refresh period of the live view).")
    var interval: Double = 1.0

    func validate() throws {
        guard interval > 0 && interval <= 60 else { throw ValidationError("--interval must be in (0, 60] seconds") }
    }

    func run() throws {
        let region: ShmRegion
        do { region = try DataplaneStatus.openRegion(stateDir: stateDir) } catch {
            throw ValidationError("\(error)")
        }
        let micro = useconds_t(interval * 1_000_000)
        var prev = DataplaneStatus.read(region)
        if once || json {
            usleep(micro)
            let cur = DataplaneStatus.read(region)
            let report = scaling(region, prev, cur)
            print(json ? renderJSON(prev, cur, report) : renderText(prev, cur, report), terminator: json ? "\n" : "")
            return
        }
        signal(SIGINT) { _ in interrupted = 1 }
        signal(SIGTERM) { _ in interrupted = 1 }
        while interrupted == 0 {
            usleep(micro)
            let cur = DataplaneStatus.read(region)
            print("\u{1B}[H\u{1B}[2J" + renderText(prev, cur, scaling(region, prev, cur)), terminator: "")
            fflush(stdout)
            prev = cur
        }
    }
}

XPFTop.main()
