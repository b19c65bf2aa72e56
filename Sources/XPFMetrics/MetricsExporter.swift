// The Prometheus view of a running dataplane: the status model xpf-top reads
// (`DataplaneStatus`) plus what only xpfd knows (commits), in the text exposition format.
// swift-prometheus writes the format (HELP/TYPE lines, label escaping, number forms); this
// file decides the names, labels and units. xpfd serves the bytes (MetricsService).
//
// Names: `xpf_<subject>_<what>[_<unit>]`, counters end in `_total`. Labels: `queue` (worker
// queue), `interface` (dataplane interface name), `reason` (drop reason, as xpf-top names
// it), `result` (what the XDP program did), `state` (worker state), `family` / `filter` /
// `counter` / `term` (a firewall filter's counter or term: `inet` or `inet6`, the names),
// `policer` / `color` (a filter's policer instance, "P-T" or a filter-specific "P", and what
// it counted: `out-of-profile` for a two-color policer, `red` or `yellow` for a three-color
// one).
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Foundation
import Prometheus
import Shared

/// What only xpfd knows, handed over by value (xpfd's loop writes it, scrapes read a copy).
public struct SupervisorMetrics: Sendable, Equatable {
    /// Successful commits (`commit`, `rollback`, SIGHUP) since xpfd started.
    public var commits: UInt64
    /// Wall time of the last successful commit, from the request to the recorded commit
    /// (compile, encode, publish, every worker switched); nil before the first.
    public var lastCommitSeconds: Double?
    /// The running firewall filters' counts since each counter, policer instance or term
    /// appeared (xpfd keeps them across commits; `clear firewall` does not reset them). A
    /// filter, counter, policer instance or term no longer listed loses its series.
    public var firewall: [FirewallFilterCounts]

    public init(commits: UInt64 = 0, lastCommitSeconds: Double? = nil, firewall: [FirewallFilterCounts] = []) {
        self.commits = commits
        self.lastCommitSeconds = lastCommitSeconds
        self.firewall = firewall
    }
}

/// Keeps one registry for the life of xpfd and brings it up to date from a status on every
/// scrape. Thread-safe: concurrent scrapes take turns on an internal lock.
public final class MetricsExporter: Sendable {
    private let state = Locked(State())

    public init() {}

    /// The exposition of `status` and `supervisor` (text format 0.0.4).
    public func render(_ status: DataplaneStatus, _ supervisor: SupervisorMetrics) -> [UInt8] {
        state.withLock { s in
            s.update(status, supervisor)
            var buffer: [UInt8] = []
            s.registry.emit(into: &buffer)
            return buffer
        }
    }

    /// The `Content-Type` of `render`'s bytes.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
}

/// A value behind a pthread mutex (Foundation's NSLock). Not `Synchronization.Mutex`: its
/// futex lock is invisible to ThreadSanitizer, which then reports every access it guards
/// as a race (seen in the unit/tsan stage).
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    // Safe: @unchecked because `value` is only read or written with `lock` held.
    private var value: Value

    public init(_ value: Value) { self.value = value }

    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// A library counter fed from a cumulative value another process owns (shared memory).
/// Each update adds what the source gained since the last one; a value below the last
/// (a best-effort read of a worker stuck mid-update, see `WorkerStatsIO.read`) adds nothing,
/// so the exported series never goes backwards.
private struct FedCounter {
    let counter: Counter
    var fed: UInt64 = 0

    mutating func feed(_ value: UInt64) {
        guard value > fed else { return }
        counter.increment(by: Int64(clamping: value - fed))
        fed = value
    }
}

private struct State {
    let registry = PrometheusCollectorRegistry()
    /// Keyed by name and rendered labels; created on first sight, kept for xpfd's life.
    var counters: [String: FedCounter] = [:]
    var gauges: [String: Gauge] = [:]
    /// Keys of the firewall series the last update exported.
    var firewallSeries: Set<String> = []

    @discardableResult
    mutating func counter(_ m: Metric, _ labels: [(String, String)] = [], _ value: UInt64) -> String {
        let key = Self.key(m.name, labels)
        var c = counters[key] ?? FedCounter(counter: registry.makeCounter(name: m.name, labels: labels, help: m.help))
        c.feed(value)
        counters[key] = c
        return key
    }

    /// A series that starts again from zero when its value drops: a firewall count only
    /// drops when its filter, term or counter was removed and written again (a new identity).
    mutating func restartingCounter(_ m: Metric, _ labels: [(String, String)], _ value: UInt64) -> String {
        let key = Self.key(m.name, labels)
        if let c = counters[key], value < c.fed { dropCounter(key) }
        return counter(m, labels, value)
    }

    mutating func dropCounter(_ key: String) {
        guard let c = counters.removeValue(forKey: key) else { return }
        registry.unregisterCounter(c.counter)
    }

    mutating func gauge(_ m: Metric, _ labels: [(String, String)] = [], _ value: Double) {
        let key = Self.key(m.name, labels)
        let g = gauges[key] ?? registry.makeGauge(name: m.name, labels: labels, help: m.help)
        g.set(value)
        gauges[key] = g
    }

    static func key(_ name: String, _ labels: [(String, String)]) -> String {
        labels.reduce(name) { $0 + "\u{0}" + $1.0 + "=" + $1.1 }
    }

    mutating func update(_ s: DataplaneStatus, _ sup: SupervisorMetrics) {
        gauge(.configGeneration, [], Double(s.generation))
        gauge(.fibVersion, [], Double(s.fibVersion))
        gauge(.sessionCapacity, [], Double(s.sessionCapacity))
        gauge(.sessionsActive, [], Double(Self.sessionsActive(s)))
        gauge(.rxRingSize, [], Double(s.rxRingSize))
        gauge(.txRingSize, [], Double(s.txRingSize))
        counter(.commits, [], sup.commits)
        if let seconds = sup.lastCommitSeconds { gauge(.commitDuration, [], seconds) }
        if let xdp = s.xdp {
            for (i, value) in xdp.enumerated() {
                if i == Int(XPF_XDP_RX_TOTAL.rawValue) {
                    counter(.xdpRxPackets, [], value)
                } else {
                    counter(.xdpPackets, [("result", DataplaneStatus.xdpCounterNames[i])], value)
                }
            }
        }
        for w in s.workers { updateWorker(w, s.interfaces) }
        updateFirewall(sup.firewall)
    }

    mutating func updateFirewall(_ filters: [FirewallFilterCounts]) {
        var exported: Set<String> = []
        for f in filters {
            let filter = [("family", f.family.rawValue), ("filter", f.name)]
            for c in f.counters {
                let labels = filter + [("counter", c.name)]
                exported.insert(restartingCounter(.firewallCounterPackets, labels, c.traffic.packets))
                exported.insert(restartingCounter(.firewallCounterBytes, labels, c.traffic.bytes))
            }
            for p in f.policers {
                let labels = filter + [("policer", p.name), ("color", p.color.rawValue)]
                exported.insert(restartingCounter(.firewallPolicerPackets, labels, p.traffic.packets))
                exported.insert(restartingCounter(.firewallPolicerBytes, labels, p.traffic.bytes))
            }
            for t in f.terms {
                let labels = filter + [("term", t.name)]
                exported.insert(restartingCounter(.firewallTermPackets, labels, t.traffic.packets))
                exported.insert(restartingCounter(.firewallTermBytes, labels, t.traffic.bytes))
            }
        }
        for key in firewallSeries.subtracting(exported) { dropCounter(key) }
        firewallSeries = exported
    }

    mutating func updateWorker(_ w: WorkerStatus, _ interfaces: [InterfaceStatus]) {
        let q = ("queue", String(w.queue))
        let st = w.stats
        gauge(.workerGeneration, [q], Double(w.generation))
        gauge(.workerFibVersion, [q], Double(w.fibVersion))
        counter(.workerRestarts, [q], UInt64(w.restarts))
        if w.heartbeatAgeMs >= 0 { gauge(.heartbeatAge, [q], Double(w.heartbeatAgeMs) / Self.millisecondsPerSecond) }
        for name in Self.workerStates { gauge(.workerState, [q, ("state", name)], w.state == name ? 1 : 0) }
        counter(.rxPackets, [q], st.rx_packets)
        counter(.rxBytes, [q], st.rx_bytes)
        counter(.txPackets, [q], st.tx_packets)
        counter(.txBytes, [q], st.tx_bytes)
        counter(.batches, [q], st.batches)
        counter(.batchPackets, [q], st.batch_packets)
        counter(.polls, [q], st.polls)
        counter(.loops, [q], st.loops)
        counter(.loopTime, [q, ("state", "busy")], st.loop_busy_ns)
        counter(.loopTime, [q, ("state", "idle")], st.loop_idle_ns)
        counter(.loopTime, [q, ("state", "spin")], st.loop_spin_ns)
        counter(.schedTime, [q, ("state", "running")], w.socket.sched_run_ns)
        counter(.schedTime, [q, ("state", "waiting")], w.socket.sched_wait_ns)
        counter(.sessionsCreated, [q], st.sessions_created)
        counter(.sessionsClosed, [q], st.sessions_closed)
        counter(.sessionHits, [q], st.session_hits)
        counter(.sessionMisses, [q], st.session_misses)
        counter(.neighborParked, [q], st.neigh_parked)
        counter(.neighborSent, [q], st.neigh_sent)
        counter(.neighborRequestsDropped, [q], w.requestsDropped)
        for reason in dropReasons {
            counter(.drops, [q, ("reason", reason.name)], st.drop(reason.index))
        }
        counter(.txKicks, [q], st.tx_kicks)
        counter(.icmpErrorsSent, [q], st.icmp_errors_sent)
        counter(.icmpErrorsLimited, [q], st.icmp_errors_limited)
        counter(.eventsEmitted, [q], st.events_emitted)
        counter(.eventsDropped, [q], st.events_dropped)
        counter(.eventsRateLimited, [q], st.events_rate_limited)
        for i in interfaces {
            let labels = [q, ("interface", i.name)]
            counter(.interfaceRxPackets, labels, DataplaneStatus.perInterface(st.if_rx_packets, i.slot))
            counter(.interfaceTxPackets, labels, DataplaneStatus.perInterface(st.if_tx_packets, i.slot))
            gauge(.rxRingUsed, labels, Double(DataplaneStatus.perInterface(st.rx_ring_used, i.slot)))
            gauge(.txRingUsed, labels, Double(DataplaneStatus.perInterface(st.tx_ring_used, i.slot)))
            gauge(.fillRingUsed, labels, Double(DataplaneStatus.perInterface(st.fill_ring_used, i.slot)))
            counter(.interfaceBatches, labels, DataplaneStatus.perInterface(st.if_batches, i.slot))
            counter(.socketRxRingFull, labels, DataplaneStatus.perInterface(w.socket.rx_ring_full, i.slot))
            counter(.socketFillRingEmpty, labels, DataplaneStatus.perInterface(w.socket.fill_ring_empty, i.slot))
            counter(.socketRxDropped, labels, DataplaneStatus.perInterface(w.socket.rx_dropped, i.slot))
            counter(.socketTxRingEmpty, labels, DataplaneStatus.perInterface(w.socket.tx_ring_empty, i.slot))
        }
    }

    /// Created minus closed, as xpf-top counts it (a close is counted after its create).
    static func sessionsActive(_ s: DataplaneStatus) -> UInt64 {
        let created = s.workers.reduce(UInt64(0)) { $0 &+ $1.stats.sessions_created }
        let closed = s.workers.reduce(UInt64(0)) { $0 &+ $1.stats.sessions_closed }
        return created >= closed ? created - closed : 0
    }

    /// Every state `DataplaneStatus.workerStateName` can give: one 0/1 series each.
    static let workerStates = ["empty", "starting", "running", "exited", "failed", "parked"]
    static let millisecondsPerSecond = 1000.0
}

/// A metric family: name (with unit and `_total` for counters) and help text.
struct Metric {
    let name: String
    let help: String

    static let configGeneration = Metric(name: "xpf_config_generation", help: "Generation of the running configuration (published in shared memory).")
    static let fibVersion = Metric(name: "xpf_fib_version", help: "Version of the published FIB snapshot.")
    static let sessionCapacity = Metric(name: "xpf_session_capacity", help: "Session records in the table.")
    static let sessionsActive = Metric(name: "xpf_sessions_active", help: "Sessions in use (created minus closed, every worker).")
    static let rxRingSize = Metric(name: "xpf_rx_ring_size_descriptors", help: "Descriptors of each AF_XDP RX ring.")
    static let txRingSize = Metric(name: "xpf_tx_ring_size_descriptors", help: "Descriptors of each AF_XDP TX ring.")
    static let commits = Metric(name: "xpf_commits_total", help: "Successful commits (commit, rollback, SIGHUP) since xpfd started.")
    static let commitDuration = Metric(name: "xpf_commit_duration_seconds", help: "Wall time of the last successful commit: compile, publish, every worker switched, recorded.")
    static let xdpRxPackets = Metric(name: "xpf_xdp_rx_packets_total", help: "Packets the XDP program saw (every dataplane interface).")
    static let xdpPackets = Metric(name: "xpf_xdp_packets_total", help: "Packets by what the XDP program did with them.")
    static let workerGeneration = Metric(name: "xpf_worker_config_generation", help: "Configuration generation the worker runs.")
    static let workerFibVersion = Metric(name: "xpf_worker_fib_version", help: "FIB version the worker runs.")
    static let workerRestarts = Metric(name: "xpf_worker_restarts_total", help: "Times xpfd restarted the worker of the queue.")
    static let heartbeatAge = Metric(name: "xpf_worker_heartbeat_age_seconds", help: "Time since the worker's last loop pass (absent until its first).")
    static let workerState = Metric(name: "xpf_worker_state", help: "1 for the state the worker of the queue is in, 0 for the others.")
    static let rxPackets = Metric(name: "xpf_worker_rx_packets_total", help: "Packets the worker received from its AF_XDP sockets.")
    static let rxBytes = Metric(name: "xpf_worker_rx_bytes_total", help: "Bytes the worker received from its AF_XDP sockets.")
    static let txPackets = Metric(name: "xpf_worker_tx_packets_total", help: "Packets the worker transmitted.")
    static let txBytes = Metric(name: "xpf_worker_tx_bytes_total", help: "Bytes the worker transmitted.")
    static let batches = Metric(name: "xpf_worker_batches_total", help: "Non-empty RX batches.")
    static let batchPackets = Metric(name: "xpf_worker_batch_packets_total", help: "Packets in RX batches (batch fill = this / batches).")
    static let polls = Metric(name: "xpf_worker_polls_total", help: "Times the worker slept in poll().")
    static let loops = Metric(name: "xpf_worker_loops_total", help: "Loop passes of the worker.")
    static let loopTime = Metric(name: "xpf_worker_loop_nanoseconds_total",
                                 help: "Loop time of the worker: idle (asleep in poll()), busy (the rest of passes that moved packets: RX taken, TX kicked or completed), spin (the rest of passes that moved none).")
    static let schedTime = Metric(name: "xpf_worker_sched_nanoseconds_total",
                                  help: "The scheduler's time of the worker's thread (/proc/thread-self/schedstat, read every 100 ms): running on a CPU, and waiting runnable for one (another task on its core, or its cgroup's CPU quota spent).")
    static let interfaceBatches = Metric(name: "xpf_worker_interface_batches_total",
                                         help: "Non-empty RX batches (vectors) the worker took, by interface.")
    static let socketRxRingFull = Metric(name: "xpf_worker_socket_rx_ring_full_total",
                                         help: "Packets the kernel dropped because the worker's RX ring was full (XDP_STATISTICS).")
    static let socketFillRingEmpty = Metric(name: "xpf_worker_socket_fill_ring_empty_total",
                                            help: "Times the kernel found the worker's fill ring empty (XDP_STATISTICS): in copy mode a dropped packet, also counted in xpf_worker_socket_rx_dropped_total; zero-copy drivers count failed refill attempts, not drops.")
    static let socketRxDropped = Metric(name: "xpf_worker_socket_rx_dropped_total",
                                        help: "Packets the kernel dropped on the worker's socket (XDP_STATISTICS): in copy mode this includes the fill-ring-empty drops.")
    static let socketTxRingEmpty = Metric(name: "xpf_worker_socket_tx_ring_empty_total",
                                          help: "TX attempts that found the worker's TX ring empty (XDP_STATISTICS).")
    static let sessionsCreated = Metric(name: "xpf_worker_sessions_created_total", help: "Sessions the worker created.")
    static let sessionsClosed = Metric(name: "xpf_worker_sessions_closed_total", help: "Sessions the worker closed.")
    static let sessionHits = Metric(name: "xpf_worker_session_hits_total", help: "Packets that matched a session.")
    static let sessionMisses = Metric(name: "xpf_worker_session_misses_total", help: "Packets that matched no session.")
    static let neighborParked = Metric(name: "xpf_worker_neighbor_parked_packets_total", help: "Frames held until their next hop resolved.")
    static let neighborSent = Metric(name: "xpf_worker_neighbor_sent_packets_total", help: "Held frames sent after their next hop resolved.")
    static let neighborRequestsDropped = Metric(name: "xpf_worker_neighbor_requests_dropped_total", help: "Neighbour resolution requests refused by a full request ring.")
    static let drops = Metric(name: "xpf_worker_dropped_packets_total", help: "Packets the worker dropped, by reason.")
    static let txKicks = Metric(name: "xpf_worker_tx_kicks_total", help: "sendto() kicks of TX rings.")
    static let icmpErrorsSent = Metric(name: "xpf_worker_icmp_errors_sent_total", help: "ICMP errors (time exceeded, unreachable) the worker generated.")
    static let icmpErrorsLimited = Metric(name: "xpf_worker_icmp_errors_limited_total", help: "ICMP errors suppressed by the worker's rate limit.")
    static let eventsEmitted = Metric(name: "xpf_worker_events_emitted_total", help: "Security events emitted (written to the event ring or dropped).")
    static let eventsDropped = Metric(name: "xpf_worker_events_dropped_total", help: "Security events dropped because the event ring was full.")
    static let eventsRateLimited = Metric(name: "xpf_worker_events_rate_limited_total", help: "Security events suppressed by security log rate-cap before the ring (not in emitted).")
    static let interfaceRxPackets = Metric(name: "xpf_worker_interface_rx_packets_total", help: "Packets the worker received, by interface.")
    static let interfaceTxPackets = Metric(name: "xpf_worker_interface_tx_packets_total", help: "Packets the worker transmitted, by interface.")
    static let rxRingUsed = Metric(name: "xpf_worker_rx_ring_used_descriptors", help: "RX descriptors waiting at the worker's last loop pass.")
    static let txRingUsed = Metric(name: "xpf_worker_tx_ring_used_descriptors", help: "TX descriptors not yet completed at the worker's last loop pass.")
    static let firewallCounterPackets = Metric(name: "xpf_firewall_counter_packets_total", help: "Packets a firewall filter counter (then count) counted, every worker, since it appeared (not reset by clear firewall).")
    static let firewallCounterBytes = Metric(name: "xpf_firewall_counter_bytes_total", help: "Bytes (IP datagrams) a firewall filter counter (then count) counted, every worker, since it appeared (not reset by clear firewall).")
    static let firewallPolicerPackets = Metric(name: "xpf_firewall_policer_packets_total", help: "Packets a firewall filter's policer instance found out of profile (two-color) or marked red or yellow (three-color; color label), every worker, since it appeared (not reset by clear firewall).")
    static let firewallPolicerBytes = Metric(name: "xpf_firewall_policer_bytes_total", help: "Bytes (IP datagrams) a firewall filter's policer instance found out of profile (two-color) or marked red or yellow (three-color; color label), every worker, since it appeared (not reset by clear firewall).")
    static let firewallTermPackets = Metric(name: "xpf_firewall_term_packets_total", help: "Packets a firewall filter term matched, every worker, since it appeared (not reset by clear firewall).")
    static let firewallTermBytes = Metric(name: "xpf_firewall_term_bytes_total", help: "Bytes (IP datagrams) a firewall filter term matched, every worker, since it appeared (not reset by clear firewall).")
    static let fillRingUsed = Metric(name: "xpf_worker_fill_ring_used_descriptors", help: "Fill-ring frames the kernel may write into, at the worker's last loop pass.")
}
