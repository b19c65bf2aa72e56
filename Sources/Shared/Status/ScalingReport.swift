// `xpfctl show dataplane scaling` (issue 11 §2, R-12.1): per queue, its share of the
// packets, bytes and flows and its worker's busy share over an interval, what limits it,
// and advice naming the knob and the value. Computed from two readings of the workers'
// counters (DataplaneStatus) and what the machine says about each interface
// (InterfaceFacts, from the feasibility probe): a pure function, so every rule is unit
// tested on synthetic counters (ScalingReportTests) and driven in the lab
// (Tests/integration/scaling_test.sh).
//
// The rules, in the order they are judged for a queue:
//   cpu        busy share ≥ cpuBusy and full vectors (average ≥ fullVector × batch size):
//              the worker has no time left. Advice: another queue and worker (`system
//              dataplane queues N+1` and `ethtool -L IF combined N+1`) while cores are free,
//              and `batch-size` up to its maximum while vectors are full — unless the queue
//              is also imbalanced by an elephant flow, which another queue would not split:
//              then the imbalance advice below instead of more queues.
//   rx-ring    the kernel dropped packets because the worker's RX ring was full, the worker
//              not saturated: bursts outrun the ring. Advice: `system dataplane rx-ring` ×2.
//   umem       the kernel found the fill ring empty (no UMEM frame to receive into). The
//              worker keeps min(rx-ring, umem-frames / (2 × interfaces)) frames in each fill
//              ring: the advice doubles the smaller, `umem-frames` or `rx-ring`.
//   tx         packets dropped for a full TX ring (drop reason tx_full). Advice: `tx-ring` ×2.
//   imbalance  with several queues, one queue receives more than imbalanceShare / N of the
//              packets: with its flows few (an elephant flow RSS cannot split) the advice is
//              to steer other flows away from it (`ethtool -X IF weight …`); with many flows,
//              to hash on ports too (`ethtool -N IF rx-flow-hash udp4 sdfn`).
// And per machine: a worker on another NUMA node than its interface (`system dataplane
// workers queue Q cpu C` with a core of the interface's node), an interface interrupt on a
// worker's core (move it with /proc/irq/N/smp_affinity_list).
import CXPF

public struct ScalingReport: Sendable {
    /// What limits a queue (the JSON `limit` values).
    public enum Limit: String, Sendable {
        case idle, none, cpu
        case rxRing = "rx-ring"
        case umem, tx, imbalance
    }

    public struct Queue: Sendable {
        public var queue: Int
        public var core: Int32
        public var numaNode: Int32
        public var pps: Double
        public var packetShare: Double
        public var byteShare: Double
        /// Sessions the worker owns now (created − closed).
        public var flows: UInt64
        public var flowShare: Double
        /// nil: no loop time passed (the worker did not run).
        public var busyShare: Double?
        /// Average RX batch over the interval (packets per non-empty batch).
        public var vectorSize: Double
        public var rxRingFull: UInt64
        public var fillRingEmpty: UInt64
        public var txFull: UInt64
        public var limit: Limit
    }

    /// The rule an advice comes from: a queue's limit, or the placement of workers and
    /// interrupts.
    public enum Rule: String, Sendable {
        case cpu
        case rxRing = "rx-ring"
        case umem, tx, imbalance, numa, interrupts
    }

    /// A concrete change: the knob (a configuration statement or a command) and its value.
    public struct Advice: Sendable, Equatable {
        public var rule: Rule
        public var knob: String
        public var value: String
        public var why: String
    }

    public var queues: [Queue]
    public var advice: [Advice]
    /// One line: the worst queue and what limits it (xpf-top's header line).
    public var verdict: String

    // Thresholds, named (each is what its rule above says).
    public static let cpuBusy = 0.9
    public static let fullVector = 0.75
    public static let imbalanceShare = 1.5
    /// Below this many packets per second over all queues, shares say nothing.
    public static let minimumPps = 1000.0
    /// A queue with at most this many flows while it carries an imbalanced share has an
    /// elephant: RSS keeps a flow on one queue.
    public static let elephantFlows: UInt64 = 2
    public static let idleBusy = 0.05

    /// What the running configuration and the region say about the rings and queues.
    public struct Settings: Sendable {
        public var batchSize: Int
        public var rxRing: Int
        public var txRing: Int
        public var umemFrames: Int
        /// CPUs xpf may use (online and allowed): a new queue needs a free one.
        public var cpus: Int
        /// Dataplane interfaces: each worker's UMEM feeds one fill ring per interface.
        public var interfaces: Int
        public init(batchSize: Int, rxRing: Int, txRing: Int, umemFrames: Int, cpus: Int, interfaces: Int) {
            self.batchSize = batchSize
            self.rxRing = rxRing
            self.txRing = txRing
            self.umemFrames = umemFrames
            self.cpus = cpus
            self.interfaces = interfaces
        }
    }

    public init(before a: DataplaneStatus, after b: DataplaneStatus, settings s: Settings, interfaces: [InterfaceFacts]) {
        let dt = Double(b.takenAtNs &- a.takenAtNs) / 1e9
        func delta(_ f: (xpf_worker_stats) -> UInt64, _ q: Int) -> UInt64 {
            let (x, y) = (f(a.workers[q].stats), f(b.workers[q].stats))
            return y >= x ? y - x : 0
        }
        let n = min(a.workers.count, b.workers.count)
        let packets = (0..<n).map { delta(\.rx_packets, $0) }
        let bytes = (0..<n).map { delta(\.rx_bytes, $0) }
        let flows = (0..<n).map { q in
            b.workers[q].stats.sessions_created >= b.workers[q].stats.sessions_closed
                ? b.workers[q].stats.sessions_created - b.workers[q].stats.sessions_closed : 0
        }
        let (totalPackets, totalBytes, totalFlows) = (packets.reduce(0, +), bytes.reduce(0, +), flows.reduce(0, +))
        func share(_ x: UInt64, _ total: UInt64) -> Double { total == 0 ? 0 : Double(x) / Double(total) }
        let totalPps = dt > 0 ? Double(totalPackets) / dt : 0
        var rows: [Queue] = []
        for q in 0..<n {
            let w = b.workers[q]
            let batches = delta(\.batches, q)
            var row = Queue(
                queue: w.queue, core: w.core, numaNode: w.numaNode, pps: dt > 0 ? Double(packets[q]) / dt : 0,
                packetShare: share(packets[q], totalPackets), byteShare: share(bytes[q], totalBytes),
                flows: flows[q], flowShare: share(flows[q], totalFlows),
                busyShare: DataplaneStatus.busyShare(a.workers[q].stats, w.stats),
                vectorSize: batches == 0 ? 0 : Double(delta(\.batch_packets, q)) / Double(batches),
                rxRingFull: (0..<b.interfaces.count).reduce(0) { $0 &+ Self.perInterfaceDelta(a.workers[q].stats.xsk_rx_ring_full, w.stats.xsk_rx_ring_full, $1) },
                fillRingEmpty: (0..<b.interfaces.count).reduce(0) { $0 &+ Self.perInterfaceDelta(a.workers[q].stats.xsk_fill_ring_empty, w.stats.xsk_fill_ring_empty, $1) },
                txFull: delta({ $0.drop(Int(XPF_DROP_TX_FULL.rawValue)) }, q), limit: .none)
            row.limit = Self.limit(row, settings: s, queues: n, totalPps: totalPps)
            rows.append(row)
        }
        queues = rows
        advice = Self.advice(rows, settings: s, interfaces: interfaces, totalPps: totalPps)
        verdict = Self.verdict(rows)
    }

    static func perInterfaceDelta<T>(_ a: T, _ b: T, _ i: Int) -> UInt64 {
        let (x, y) = (DataplaneStatus.perInterface(a, i), DataplaneStatus.perInterface(b, i))
        return y >= x ? y - x : 0
    }

    /// What limits one queue (the first rule that holds, in the file header's order).
    static func limit(_ q: Queue, settings s: Settings, queues n: Int, totalPps: Double) -> Limit {
        if let busy = q.busyShare, busy >= cpuBusy, q.vectorSize >= fullVector * Double(s.batchSize) { return .cpu }
        if q.rxRingFull > 0 { return .rxRing }
        if q.fillRingEmpty > 0 { return .umem }
        if q.txFull > 0 { return .tx }
        if imbalanced(q, queues: n, totalPps: totalPps) { return .imbalance }
        if q.busyShare.map({ $0 < idleBusy }) ?? true, q.pps < minimumPps { return .idle }
        return .none
    }

    /// One queue of several receives more than imbalanceShare / N of a rate worth judging.
    static func imbalanced(_ q: Queue, queues n: Int, totalPps: Double) -> Bool {
        n > 1 && totalPps >= minimumPps && q.packetShare > imbalanceShare / Double(n)
    }

    static func doubled(_ v: Int, max: Int) -> String { String(Swift.min(v * 2, max)) }

    static func advice(_ rows: [Queue], settings s: Settings, interfaces: [InterfaceFacts], totalPps: Double) -> [Advice] {
        var out: [Advice] = []
        let n = rows.count
        let names = interfaces.map(\.name)
        func once(_ a: Advice) { if !out.contains(a) { out.append(a) } }
        func balance(_ q: Queue) {
            let share = Int((q.packetShare * 100).rounded())
            if q.flows <= elephantFlows {
                for name in names {
                    once(Advice(rule: .imbalance, knob: "ethtool -X \(name) weight", value: weights(n, heavy: q.queue),
                                why: "queue \(q.queue) receives \(share)% of the packets from \(q.flows) flow(s): RSS keeps a flow on one queue, "
                                    + "so steer the other flows to the other queues (more queues will not split this one)"))
                }
            } else {
                for name in names {
                    once(Advice(rule: .imbalance, knob: "ethtool -N \(name) rx-flow-hash udp4", value: "sdfn",
                                why: "queue \(q.queue) receives \(share)% of the packets from \(q.flows) flows: hash on ports as well as addresses"))
                }
            }
        }
        // Larger rings need the UMEM xpfd asks for them (DataplaneConfig: at least interfaces ×
        // (rx + tx), a power of two): advised with the ring when the running umem-frames falls short.
        func umemFor(rx: Int, tx: Int, _ rule: Rule) {
            var need = DataplaneConfig.umemFramesRange.lowerBound  // a power of two
            while need < DataplaneConfig.minimumUMEMFrames(interfaces: s.interfaces, rxRing: rx, txRing: tx) { need *= 2 }
            guard s.umemFrames < need else { return }
            once(Advice(rule: rule, knob: "system dataplane umem-frames", value: String(min(need, DataplaneConfig.umemFramesRange.upperBound)),
                        why: "rx-ring \(rx) and tx-ring \(tx) on \(s.interfaces) interfaces need \(need) UMEM frames"))
        }
        for q in rows {
            switch q.limit {
            case .cpu:
                // A saturated queue that carries an elephant: more queues will not split it.
                let elephant = imbalanced(q, queues: n, totalPps: totalPps) && q.flows <= elephantFlows
                if elephant {
                    balance(q)
                } else if n < s.cpus {
                    once(Advice(rule: .cpu, knob: "system dataplane queues", value: String(n + 1),
                                why: "queue \(q.queue)'s worker is \(percent(q.busyShare)) busy with full vectors: spread the load over another worker"))
                    for i in interfaces {
                        once(Advice(rule: .cpu, knob: "ethtool -L \(i.name) \(channelKind(i))", value: String(n + 1),
                                    why: "\(i.name) needs a queue for the new worker"))
                    }
                } else {
                    once(Advice(rule: .cpu, knob: "cores", value: "add CPUs",
                                why: "every one of the \(s.cpus) CPUs runs a worker already; queue \(q.queue) is \(percent(q.busyShare)) busy"))
                }
                if s.batchSize < DataplaneConfig.batchSizeRange.upperBound {
                    once(Advice(rule: .cpu, knob: "system dataplane batch-size", value: doubled(s.batchSize, max: DataplaneConfig.batchSizeRange.upperBound),
                                why: "full vectors of \(s.batchSize): larger batches spread the per-pass cost over more packets"))
                }
            case .rxRing:
                once(Advice(rule: .rxRing, knob: "system dataplane rx-ring", value: doubled(s.rxRing, max: DataplaneConfig.ringSizeRange.upperBound),
                            why: "the kernel dropped \(q.rxRingFull) packets for queue \(q.queue) because its RX ring (\(s.rxRing)) was full"))
                umemFor(rx: min(s.rxRing * 2, DataplaneConfig.ringSizeRange.upperBound), tx: s.txRing, .rxRing)
            case .umem:
                // The worker keeps min(rx-ring, umem-frames / (2 × interfaces)) frames in each
                // fill ring (the fill ring is the RX ring's size): the smaller one is the knob.
                let fillTarget = min(s.rxRing, s.umemFrames / (2 * max(s.interfaces, 1)))
                if fillTarget < s.rxRing {
                    once(Advice(rule: .umem, knob: "system dataplane umem-frames", value: doubled(s.umemFrames, max: DataplaneConfig.umemFramesRange.upperBound),
                                why: "the kernel found queue \(q.queue)'s fill ring empty \(q.fillRingEmpty) times: \(s.umemFrames) UMEM frames "
                                    + "leave \(fillTarget) per fill ring"))
                } else {
                    once(Advice(rule: .umem, knob: "system dataplane rx-ring", value: doubled(s.rxRing, max: DataplaneConfig.ringSizeRange.upperBound),
                                why: "the kernel found queue \(q.queue)'s fill ring empty \(q.fillRingEmpty) times: the fill ring holds "
                                    + "\(s.rxRing) frames, the RX ring's size"))
                    umemFor(rx: min(s.rxRing * 2, DataplaneConfig.ringSizeRange.upperBound), tx: s.txRing, .umem)
                }
            case .tx:
                once(Advice(rule: .tx, knob: "system dataplane tx-ring", value: doubled(s.txRing, max: DataplaneConfig.ringSizeRange.upperBound),
                            why: "queue \(q.queue) dropped \(q.txFull) packets for a full TX ring"))
                umemFor(rx: s.rxRing, tx: min(s.txRing * 2, DataplaneConfig.ringSizeRange.upperBound), .tx)
            case .imbalance:
                balance(q)
            case .none, .idle:
                break
            }
        }
        // Placement: NUMA node and interrupts, whatever the load.
        for i in interfaces where i.numaNode >= 0 {
            for q in rows where q.numaNode >= 0 && Int(q.numaNode) != i.numaNode {
                let cpu = i.nodeCPUs.first.map(String.init) ?? "a CPU of node \(i.numaNode)"
                once(Advice(rule: .numa, knob: "system dataplane workers queue \(q.queue) cpu", value: cpu,
                            why: "queue \(q.queue)'s worker runs on NUMA node \(q.numaNode), \(i.name) is on node \(i.numaNode): every packet crosses the interconnect"))
            }
        }
        let workerCores = Set(rows.map { Int($0.core) })
        for i in interfaces {
            for irq in i.interrupts where !irq.cpus.isEmpty && Set(irq.cpus).isSubset(of: workerCores) {
                let free = (0..<s.cpus).first { !workerCores.contains($0) }
                once(Advice(rule: .interrupts, knob: "/proc/irq/\(irq.irq)/smp_affinity_list", value: free.map(String.init) ?? "another CPU",
                            why: "\(i.name)'s interrupt \(irq.irq) (\(irq.name)) runs on worker core(s) \(irq.cpus.map(String.init).joined(separator: ",")): it takes time from the worker"))
            }
        }
        return out
    }

    /// The ethtool -L word of an interface (combined unless its driver counts rx queues).
    static func channelKind(_ i: InterfaceFacts) -> String {
        if case .value(let c) = i.channels { return c.kind }
        return "combined"
    }

    /// RSS indirection weights that keep queue `heavy` for its elephant only: weight 1 for
    /// it, 2 for every other queue (ethtool -X IF weight W0 W1 …).
    static func weights(_ n: Int, heavy: Int) -> String {
        (0..<n).map { $0 == heavy ? "1" : "2" }.joined(separator: " ")
    }

    static func percent(_ share: Double?) -> String { share.map { "\(Int(($0 * 100).rounded()))%" } ?? "-" }

    static func verdict(_ rows: [Queue]) -> String {
        let order: [Limit] = [.cpu, .rxRing, .umem, .tx, .imbalance]
        for limit in order {
            if let q = rows.first(where: { $0.limit == limit }) {
                return "scaling: queue \(q.queue) \(limit.rawValue)-bound (\(percent(q.busyShare)) busy, "
                    + "\(Int((q.packetShare * 100).rounded()))% of packets, vectors \(String(format1(q.vectorSize))))"
            }
        }
        let busiest = rows.compactMap(\.busyShare).max()
        return rows.allSatisfy({ $0.limit == .idle }) ? "scaling: idle"
            : "scaling: no queue saturated (busiest \(percent(busiest)))"
    }

    static func format1(_ v: Double) -> Double { (v * 10).rounded() / 10 }
}
