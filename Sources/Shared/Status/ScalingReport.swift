// `xpfctl show dataplane scaling` (issue 11 §2, R-12.1): per queue, its share of the
// packets, bytes and flows and its worker's busy share over an interval, what limits it,
// and advice naming the knob and the value. Computed from two readings of the workers'
// counters (DataplaneStatus) and what the machine says about each interface
// (InterfaceFacts, from the feasibility probe): a pure function, so every rule is unit
// tested on synthetic counters (ScalingReportTests) and driven in the lab
// (Tests/integration/scaling_test.sh).
//
// The rules, in the order they are judged for a queue:
//   cpu-wait   the worker waited for a CPU (runnable, not running: schedstat) ≥ cpuWaiting
//              of the interval — another task ran on its core, or its cgroup's CPU quota
//              was spent. The loop's clock counts such waits as busy (or, after a wake-up,
//              idle), so no other rule can be judged. Advice: lift the quota (the cgroup's
//              cpu.max / cpu.cfs_quota_us) when one holds the worker, else a core of its own
//              (`system dataplane workers queue Q cpu C`, a CPU no worker runs on).
//   cpu        busy share ≥ cpuBusy and full vectors on an interface (the largest of its
//              per-interface averages Δif_rx_packets / Δif_batches ≥ fullVector × batch
//              size — a pass takes a batch per interface, so the worker's average over both
//              would halve a full vector on one next to a trickle on the other): the worker
//              has no time left. Advice: another queue and worker (`system dataplane queues
//              N+1` by commit — first `max-queues N+1` with a restart when the region has no
//              parked queue — and `ethtool -L IF combined N+1`) while cores are free, and `batch-size`
//              up to its maximum — unless the queue is also imbalanced by an elephant flow,
//              which another queue would not split: then the imbalance advice below.
//   rx-ring    the kernel dropped packets for a full RX ring on a share of the queue's
//              packets (≥ eventShare), the worker not saturated: bursts outrun the ring.
//              Advice: `system dataplane rx-ring` ×2.
//   umem       the kernel found the fill ring empty, as often (≥ eventShare of the packets).
//              The worker keeps min(rx-ring, umem-frames / (2 × interfaces)) frames in each
//              fill ring: the advice doubles the smaller, `umem-frames` or `rx-ring`.
//   tx         tx_full drops, as often (≥ eventShare of the packets sent). Advice: `tx-ring` ×2.
//   imbalance  with several queues, one queue receives more than imbalanceShare / N of the
//              packets. With few flows (an elephant RSS cannot split): pin the elephant to its
//              queue with an ntuple rule (`ethtool -N IF flow-type … action Q`, from the
//              busiest session of the queue's partition) and give the queue weight 0 in the
//              RSS table (`ethtool -X IF weight …`) so every other flow goes elsewhere — on the
//              interface that receives the flow only. With many flows: hash on ports too
//              (`ethtool -N IF rx-flow-hash udp4 sdfn`).
// And per machine: a worker on another NUMA node than its interface (`system dataplane
// workers queue Q cpu C`, a free CPU of the interface's node for each such queue), an
// interface interrupt on a worker's core (/proc/irq/N/smp_affinity_list, a free allowed CPU).
// Advice never names the running value: a knob at its range's maximum says so in `why`
// with an empty value. Knobs xpfd takes only at start say "(restart xpfd)". Parked queues
// (beyond `queues`, no worker) are not in the report.
import CXPF

public struct ScalingReport: Sendable {
    /// What limits a queue (the JSON `limit` values).
    public enum Limit: String, Sendable {
        case idle, none, cpu
        case cpuWait = "cpu-wait"
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
        /// The share of the interval it waited for a CPU (schedstat); nil: not read twice.
        public var cpuWaitShare: Double?
        /// The largest per-interface average RX batch over the interval (packets per
        /// non-empty batch of that interface).
        public var vectorSize: Double
        /// The interface slot that received most of the queue's packets (nil: none).
        public var busiestInterface: Int?
        public var packets: UInt64
        public var txPackets: UInt64
        public var rxRingFull: UInt64
        public var fillRingEmpty: UInt64
        public var txFull: UInt64
        public var limit: Limit
    }

    /// The rule an advice comes from: a queue's limit, or the placement of workers and
    /// interrupts.
    public enum Rule: String, Sendable {
        case cpu
        case cpuWait = "cpu-wait"
        case rxRing = "rx-ring"
        case umem, tx, imbalance, numa, interrupts
    }

    /// A concrete change: the knob (a configuration statement or a command) and its value
    /// (empty: nothing to change, `why` says why — a knob already at its maximum).
    public struct Advice: Sendable, Equatable {
        public var rule: Rule
        public var knob: String
        public var value: String
        public var why: String
    }

    /// The busiest session of a worker's partition (xpfctl reads the session table): what
    /// an ntuple rule needs to pin an elephant flow to its queue.
    public struct Flow: Sendable, Equatable {
        public var family: UInt8   // 4 or 6
        public var proto: UInt8
        public var src: String
        public var dst: String
        public var sport: UInt16
        public var dport: UInt16
        /// The interface the forward direction arrives on.
        public var ingress: String
        public var packets: UInt64
        public init(family: UInt8, proto: UInt8, src: String, dst: String, sport: UInt16, dport: UInt16, ingress: String, packets: UInt64) {
            (self.family, self.proto, self.src, self.dst) = (family, proto, src, dst)
            (self.sport, self.dport, self.ingress, self.packets) = (sport, dport, ingress, packets)
        }

        /// ethtool's flow-type, for the protocols whose ports an ntuple rule matches.
        public var flowType: String? {
            switch proto {
            case 6: return family == 4 ? "tcp4" : "tcp6"
            case 17: return family == 4 ? "udp4" : "udp6"
            default: return nil
            }
        }
    }

    public var queues: [Queue]
    /// Queues beyond `system dataplane queues`: no worker, not judged.
    public var parked: [Int]
    /// Live sessions in the parked queues' partitions: their packets arrive on running
    /// queues, but a queue's flows count the sessions of its own partition, so these count
    /// in no queue's flows (nor can an elephant among them be found for a queue).
    public var parkedFlows: UInt64
    public var advice: [Advice]
    /// One line: the worst queue and what limits it (xpf-top's header line).
    public var verdict: String

    // Thresholds, named (each is what its rule above says).
    public static let cpuBusy = 0.9
    public static let fullVector = 0.75
    public static let imbalanceShare = 1.5
    /// Kernel drops (RX ring full, fill ring empty) and tx_full drops decide a limit only
    /// when they are at least this share of the packets plus the events: one per thousand.
    /// Single events are noise (a worker descheduled once, a zero-copy driver's failed
    /// refill attempt that it retries); a loss of 0.1 % and more is what TCP throughput and
    /// latency-sensitive UDP notice, and what a larger ring or more UMEM removes.
    public static let eventShare = 0.001
    /// Below this many packets per second over all queues, shares say nothing.
    public static let minimumPps = 1000.0
    /// A queue with at most this many flows while it carries an imbalanced share has an
    /// elephant: RSS keeps a flow on one queue.
    public static let elephantFlows: UInt64 = 2
    public static let idleBusy = 0.05
    /// A worker that waited for a CPU a quarter of the interval or more is held back by its
    /// core or its cgroup, not by its own work. Below it, waits are the ordinary sharing of
    /// a core with xpfd's housekeeping (a worker's nice -10 gives it ~90 % when both run).
    public static let cpuWaiting = 0.25
    /// Knobs xpfd sizes at start (Daemon.restartOnlyDifferences): their advice says so.
    /// `queues` changes by commit up to max-queues, beyond it with max-queues.
    public static let restartOnlyKnobs: Set<String> = ["system dataplane max-queues", "system dataplane rx-ring",
                                                       "system dataplane tx-ring", "system dataplane umem-frames"]
    static let restartNote = " (restart xpfd)"

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
        /// The queues the region is laid out for (max-queues); nil: as many as run.
        public var maxQueues: Int?
        public init(batchSize: Int, rxRing: Int, txRing: Int, umemFrames: Int, cpus: Int, interfaces: Int, maxQueues: Int? = nil) {
            self.batchSize = batchSize
            self.rxRing = rxRing
            self.txRing = txRing
            self.umemFrames = umemFrames
            self.cpus = cpus
            self.interfaces = interfaces
            self.maxQueues = maxQueues
        }
    }

    /// A CPU quota of the cgroup a worker runs in (or of an ancestor): the file that sets it,
    /// its value, and the value that lifts it ("max" in cgroup v2's cpu.max, "-1" in v1's
    /// cpu.cfs_quota_us).
    public struct CPUQuota: Sendable, Equatable {
        public var file: String
        public var value: String
        public var unlimited: String
        public init(file: String, value: String, unlimited: String) {
            (self.file, self.value, self.unlimited) = (file, value, unlimited)
        }
    }

    /// `busiestFlows[q]`: the busiest session of queue q's partition, when xpfctl found one;
    /// `cpuQuotas[q]`: the CPU quota queue q's worker runs under, if any.
    public init(before a: DataplaneStatus, after b: DataplaneStatus, settings s: Settings, interfaces: [InterfaceFacts],
                busiestFlows: [Int: Flow] = [:], cpuQuotas: [Int: CPUQuota] = [:]) {
        let dt = Double(DataplaneStatus.delta(a.takenAtNs, b.takenAtNs)) / 1e9
        let delta = DataplaneStatus.delta
        // The queues that run a worker: a parked one (beyond `queues`) receives nothing by
        // design. Parking keeps 0..<N running, so row k is queue k.
        let all = 0..<min(a.workers.count, b.workers.count)
        let (parkedRows, active) = (all.filter { b.workers[$0].state == "parked" }, all.filter { b.workers[$0].state != "parked" })
        parked = parkedRows.map { b.workers[$0].queue }
        parkedFlows = parkedRows.reduce(0) { $0 &+ delta(b.workers[$1].stats.sessions_closed, b.workers[$1].stats.sessions_created) }
        let n = active.count
        let slots = b.interfaces.count
        let packets = active.map { delta(a.workers[$0].stats.rx_packets, b.workers[$0].stats.rx_packets) }
        let bytes = active.map { delta(a.workers[$0].stats.rx_bytes, b.workers[$0].stats.rx_bytes) }
        let flows = active.map { delta(b.workers[$0].stats.sessions_closed, b.workers[$0].stats.sessions_created) }
        let (totalPackets, totalBytes, totalFlows) = (packets.reduce(0, +), bytes.reduce(0, +), flows.reduce(0, +))
        func share(_ x: UInt64, _ total: UInt64) -> Double { total == 0 ? 0 : Double(x) / Double(total) }
        let totalPps = dt > 0 ? Double(totalPackets) / dt : 0
        var rows: [Queue] = []
        for (q, w) in active.enumerated() {
            let (wa, wb) = (a.workers[w], b.workers[w])
            func perIf<T>(_ f: (xpf_worker_stats) -> T, _ i: Int) -> UInt64 { Self.perInterfaceDelta(f(wa.stats), f(wb.stats), i) }
            func socket<T>(_ f: (xpf_worker_socket_stats) -> T) -> UInt64 {
                (0..<slots).reduce(0) { $0 &+ Self.perInterfaceDelta(f(wa.socket), f(wb.socket), $1) }
            }
            let ifPackets = (0..<slots).map { perIf(\.if_rx_packets, $0) }
            let vectors = (0..<slots).map { i -> Double in
                let batches = perIf(\.if_batches, i)
                return batches == 0 ? 0 : Double(ifPackets[i]) / Double(batches)
            }
            let busiest = ifPackets.indices.max { ifPackets[$0] < ifPackets[$1] }.flatMap { ifPackets[$0] > 0 ? $0 : nil }
            var row = Queue(
                queue: wb.queue, core: wb.core, numaNode: wb.numaNode, pps: dt > 0 ? Double(packets[q]) / dt : 0,
                packetShare: share(packets[q], totalPackets), byteShare: share(bytes[q], totalBytes),
                flows: flows[q], flowShare: share(flows[q], totalFlows),
                busyShare: DataplaneStatus.busyShare(wa.stats, wb.stats),
                cpuWaitShare: DataplaneStatus.cpuWaitShare(wa.socket, wb.socket),
                vectorSize: vectors.max() ?? 0, busiestInterface: busiest,
                packets: packets[q], txPackets: delta(wa.stats.tx_packets, wb.stats.tx_packets),
                rxRingFull: socket(\.rx_ring_full), fillRingEmpty: socket(\.fill_ring_empty),
                txFull: delta(wa.stats.drop(Int(XPF_DROP_TX_FULL.rawValue)), wb.stats.drop(Int(XPF_DROP_TX_FULL.rawValue))),
                limit: .none)
            row.limit = Self.limit(row, settings: s, queues: n, totalPps: totalPps)
            rows.append(row)
        }
        queues = rows
        let names = b.interfaces.map(\.name)
        advice = Self.advice(rows, settings: s, interfaces: interfaces, totalPps: totalPps, slotNames: names, busiestFlows: busiestFlows,
                             cpuQuotas: cpuQuotas)
        verdict = Self.verdict(rows)
    }

    static func perInterfaceDelta<T>(_ a: T, _ b: T, _ i: Int) -> UInt64 {
        DataplaneStatus.delta(DataplaneStatus.perInterface(a, i), DataplaneStatus.perInterface(b, i))
    }

    /// Whether `events` are at least eventShare of `packets` + `events`.
    static func often(_ events: UInt64, of packets: UInt64) -> Bool {
        events > 0 && Double(events) >= eventShare * (Double(packets) + Double(events))
    }

    /// What limits one queue (the first rule that holds, in the file header's order).
    static func limit(_ q: Queue, settings s: Settings, queues n: Int, totalPps: Double) -> Limit {
        if let wait = q.cpuWaitShare, wait >= cpuWaiting { return .cpuWait }
        if let busy = q.busyShare, busy >= cpuBusy, q.vectorSize >= fullVector * Double(s.batchSize) { return .cpu }
        if often(q.rxRingFull, of: q.packets) { return .rxRing }
        if often(q.fillRingEmpty, of: q.packets) { return .umem }
        if often(q.txFull, of: q.txPackets) { return .tx }
        if imbalanced(q, queues: n, totalPps: totalPps) { return .imbalance }
        if q.busyShare.map({ $0 < idleBusy }) ?? true, q.pps < minimumPps { return .idle }
        return .none
    }

    /// One queue of several receives more than imbalanceShare / N of a rate worth judging.
    static func imbalanced(_ q: Queue, queues n: Int, totalPps: Double) -> Bool {
        n > 1 && totalPps >= minimumPps && q.packetShare > imbalanceShare / Double(n)
    }

    /// Advice to double `knob` from `value` up to `max`: the doubled value, or — at the
    /// maximum already — no value and `why` saying so. `why` of a restart-only knob ends
    /// in "(restart xpfd)".
    static func doubling(_ rule: Rule, _ knob: String, _ value: Int, max: Int, why: String) -> Advice {
        let restart = restartOnlyKnobs.contains(knob) ? restartNote : ""
        guard value < max else {
            return Advice(rule: rule, knob: knob, value: "", why: why + "; \(knob) is at its maximum \(max) already")
        }
        return Advice(rule: rule, knob: knob, value: String(Swift.min(value * 2, max)), why: why + restart)
    }

    static func advice(_ rows: [Queue], settings s: Settings, interfaces: [InterfaceFacts], totalPps: Double,
                       slotNames: [String], busiestFlows: [Int: Flow], cpuQuotas: [Int: CPUQuota]) -> [Advice] {
        var out: [Advice] = []
        let n = rows.count
        func once(_ a: Advice) { if !out.contains(a) { out.append(a) } }
        func balance(_ q: Queue) {
            let share = Int((q.packetShare * 100).rounded())
            // Only the interface that receives the queue's packets: the others' tables
            // steer other traffic.
            guard let slot = q.busiestInterface, slot < slotNames.count else { return }
            let name = slotNames[slot]
            let flow = busiestFlows[q.queue]
            if q.flows <= elephantFlows {
                let weights = (0..<n).map { $0 == q.queue ? "0" : "1" }.joined(separator: " ")
                let from = "queue \(q.queue) receives \(share)% of the packets from \(q.flows) flow(s)"
                if let f = flow, f.ingress == name, let type = f.flowType {
                    once(Advice(rule: .imbalance, knob: "ethtool -N \(name)",
                                value: "flow-type \(type) src-ip \(f.src) dst-ip \(f.dst) src-port \(f.sport) dst-port \(f.dport) action \(q.queue)",
                                why: "\(from): pin the elephant (its busiest session, \(f.packets) packets) to queue \(q.queue) — "
                                    + "RSS cannot split a flow, more queues would not help"))
                    once(Advice(rule: .imbalance, knob: "ethtool -X \(name) weight", value: weights,
                                why: "with the elephant pinned, weight 0 keeps RSS from sending any other flow to queue \(q.queue)"))
                } else {
                    let reason = flow.map { f in
                        f.ingress != name ? "the busiest session of queue \(q.queue)'s partition arrives on \(f.ingress), not \(name)"
                            : "its busiest session is \(SessionListing.protocolName(f.proto)), which has no ports for an ntuple rule"
                    } ?? "no session of queue \(q.queue)'s partition was found"
                    once(Advice(rule: .imbalance, knob: "ethtool -X \(name) weight", value: weights,
                                why: "\(from); \(reason), so no ntuple rule pins the elephant: weight 0 moves every flow RSS hashed "
                                    + "to queue \(q.queue), the elephant too, to the other queues — pin it with "
                                    + "`ethtool -N \(name) flow-type … action \(q.queue)` first"))
                }
            } else {
                let type = flow?.flowType ?? "udp4"
                once(Advice(rule: .imbalance, knob: "ethtool -N \(name) rx-flow-hash \(type)", value: "sdfn",
                            why: "queue \(q.queue) receives \(share)% of the packets from \(q.flows) flows: hash on ports as well as addresses"))
            }
        }
        // Larger rings need the UMEM xpfd asks for them (DataplaneConfig: at least interfaces ×
        // (rx + tx), a power of two): advised with the ring when the running umem-frames falls short.
        func umemFor(rx: Int, tx: Int, _ rule: Rule) {
            var need = DataplaneConfig.umemFramesRange.lowerBound  // a power of two
            while need < DataplaneConfig.minimumUMEMFrames(interfaces: s.interfaces, rxRing: rx, txRing: tx) { need *= 2 }
            let value = min(need, DataplaneConfig.umemFramesRange.upperBound)
            guard s.umemFrames < value else { return }
            once(Advice(rule: rule, knob: "system dataplane umem-frames", value: String(value),
                        why: "rx-ring \(rx) and tx-ring \(tx) on \(s.interfaces) interfaces need \(need) UMEM frames" + restartNote))
        }
        let ringMax = DataplaneConfig.ringSizeRange.upperBound
        let workerCores = Set(rows.map { Int($0.core) })
        var taken = workerCores
        /// The first of `candidates` no worker runs on and no advice took yet.
        func free(_ candidates: [Int]) -> Int? {
            guard let c = candidates.first(where: { !taken.contains($0) }) else { return nil }
            taken.insert(c)
            return c
        }
        for q in rows {
            switch q.limit {
            case .cpuWait:
                let waited = "queue \(q.queue)'s worker waited \(percent(q.cpuWaitShare)) of the interval for a CPU"
                if let quota = cpuQuotas[q.queue] {
                    once(Advice(rule: .cpuWait, knob: quota.file, value: quota.unlimited,
                                why: "\(waited): its cgroup's CPU quota (\(quota.value)) throttles it — lift it, or give xpf at least a CPU per worker"))
                } else if let c = free(Self.cpuCandidates(interfaces, cpus: s.cpus)) {
                    once(Advice(rule: .cpuWait, knob: "system dataplane workers queue \(q.queue) cpu", value: String(c),
                                why: "\(waited): other tasks run on its core \(q.core) — give it a core of its own (and keep other tasks off it: isolcpus or a cpuset)"))
                } else {
                    once(Advice(rule: .cpuWait, knob: "cores", value: "add CPUs",
                                why: "\(waited), and every one of the \(s.cpus) CPUs runs a worker already"))
                }
            case .cpu:
                // A saturated queue that carries an elephant: more queues will not split it.
                // No rate floor here: a cpu-bound queue is no trickle, whatever it forwards
                // (a worker held to a sliver of a CPU forwards little).
                let elephant = n > 1 && q.packetShare > imbalanceShare / Double(n) && q.flows <= elephantFlows
                if elephant {
                    balance(q)
                } else if n < s.cpus {
                    let why = "queue \(q.queue)'s worker is \(percent(q.busyShare)) busy with full vectors: spread the load over another worker"
                    if n + 1 > (s.maxQueues ?? n) {
                        // No parked queue to start: the region needs room for one more.
                        once(Advice(rule: .cpu, knob: "system dataplane max-queues", value: String(n + 1),
                                    why: why + " (the shared memory is laid out for \(s.maxQueues ?? n) queues)" + restartNote))
                    }
                    once(Advice(rule: .cpu, knob: "system dataplane queues", value: String(n + 1), why: why))
                    for i in interfaces {
                        once(Advice(rule: .cpu, knob: "ethtool -L \(i.name) \(channelKind(i))", value: String(n + 1),
                                    why: "\(i.name) needs a queue for the new worker"))
                    }
                } else {
                    once(Advice(rule: .cpu, knob: "cores", value: "add CPUs",
                                why: "every one of the \(s.cpus) CPUs runs a worker already; queue \(q.queue) is \(percent(q.busyShare)) busy"))
                }
                once(doubling(.cpu, "system dataplane batch-size", s.batchSize, max: DataplaneConfig.batchSizeRange.upperBound,
                              why: "full vectors of \(s.batchSize): larger batches spread the per-pass cost over more packets"))
            case .rxRing:
                once(doubling(.rxRing, "system dataplane rx-ring", s.rxRing, max: ringMax,
                              why: "the kernel dropped \(q.rxRingFull) packets for queue \(q.queue) because its RX ring (\(s.rxRing)) was full"))
                if s.rxRing < ringMax { umemFor(rx: min(s.rxRing * 2, ringMax), tx: s.txRing, .rxRing) }
            case .umem:
                // The worker keeps min(rx-ring, umem-frames / (2 × interfaces)) frames in each
                // fill ring (the fill ring is the RX ring's size): the smaller one is the knob.
                let fillTarget = min(s.rxRing, s.umemFrames / (2 * max(s.interfaces, 1)))
                let empty = "the kernel found queue \(q.queue)'s fill ring empty \(q.fillRingEmpty) times"
                if fillTarget < s.rxRing {
                    once(doubling(.umem, "system dataplane umem-frames", s.umemFrames, max: DataplaneConfig.umemFramesRange.upperBound,
                                  why: "\(empty): \(s.umemFrames) UMEM frames leave \(fillTarget) per fill ring"))
                } else {
                    once(doubling(.umem, "system dataplane rx-ring", s.rxRing, max: ringMax,
                                  why: "\(empty): the fill ring holds \(s.rxRing) frames, the RX ring's size"))
                    if s.rxRing < ringMax { umemFor(rx: min(s.rxRing * 2, ringMax), tx: s.txRing, .umem) }
                }
            case .tx:
                once(doubling(.tx, "system dataplane tx-ring", s.txRing, max: ringMax,
                              why: "queue \(q.queue) dropped \(q.txFull) packets for a full TX ring"))
                if s.txRing < ringMax { umemFor(rx: s.rxRing, tx: min(s.txRing * 2, ringMax), .tx) }
            case .imbalance:
                balance(q)
            case .none, .idle:
                break
            }
        }
        // Placement: NUMA node and interrupts, whatever the load. A CPU advised once is not
        // advised again, nor is one a worker runs on (`free`).
        for i in interfaces where i.numaNode >= 0 {
            let allowed = Set(i.allowedCPUs)
            let candidates = i.nodeCPUs.filter { allowed.isEmpty || allowed.contains($0) }
            for q in rows where q.numaNode >= 0 && Int(q.numaNode) != i.numaNode {
                let why = "queue \(q.queue)'s worker runs on NUMA node \(q.numaNode), \(i.name) is on node \(i.numaNode): every packet crosses the interconnect"
                let knob = "system dataplane workers queue \(q.queue) cpu"
                guard !out.contains(where: { $0.knob == knob }) else { continue }
                if let c = free(candidates) {
                    once(Advice(rule: .numa, knob: knob, value: String(c), why: why))
                } else {
                    once(Advice(rule: .numa, knob: knob, value: "", why: why + "; every allowed CPU of node \(i.numaNode) runs a worker or was advised already"))
                }
            }
        }
        for i in interfaces {
            for irq in i.interrupts where !irq.cpus.isEmpty && Set(irq.cpus).isSubset(of: workerCores) {
                let why = "\(i.name)'s interrupt \(irq.irq) (\(irq.name)) runs on worker core(s) \(irq.cpus.map(String.init).joined(separator: ",")): it takes time from the worker"
                let knob = "/proc/irq/\(irq.irq)/smp_affinity_list"
                guard !out.contains(where: { $0.knob == knob }) else { continue }
                if let c = free(i.allowedCPUs) {
                    once(Advice(rule: .interrupts, knob: knob, value: String(c), why: why))
                } else {
                    once(Advice(rule: .interrupts, knob: knob, value: "", why: why + "; every allowed CPU runs a worker or was advised already"))
                }
            }
        }
        return out
    }

    /// CPUs for a worker of its own: the allowed CPUs of the first interface's NUMA node,
    /// else its allowed CPUs, else (no facts: xpf-top) every CPU.
    static func cpuCandidates(_ interfaces: [InterfaceFacts], cpus: Int) -> [Int] {
        guard let i = interfaces.first(where: { !$0.allowedCPUs.isEmpty }) else { return Array(0..<cpus) }
        let local = i.numaNode >= 0 ? i.nodeCPUs.filter { i.allowedCPUs.contains($0) } : []
        return local.isEmpty ? i.allowedCPUs : local
    }

    /// The ethtool -L word of an interface (combined unless its driver counts rx queues).
    static func channelKind(_ i: InterfaceFacts) -> String {
        if case .value(let c) = i.channels { return c.kind }
        return "combined"
    }

    static func percent(_ share: Double?) -> String { share.map { "\(Int(($0 * 100).rounded()))%" } ?? "-" }

    static func verdict(_ rows: [Queue]) -> String {
        if let q = rows.first(where: { $0.limit == .cpuWait }) {
            return "scaling: queue \(q.queue) waits for a CPU \(percent(q.cpuWaitShare)) of the time (\(percent(q.busyShare)) busy, "
                + "\(Int((q.packetShare * 100).rounded()))% of packets)"
        }
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
