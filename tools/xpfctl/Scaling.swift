// `xpfctl show dataplane scaling [--interval S] [--json]` (issue 11 §2): two readings of the
// workers' counters `--interval` apart, what the machine says about each interface (the
// feasibility probe, without trials), and ScalingReport's verdict, per-queue rows and advice.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CXPF
import Shared

struct ScalingShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scaling",
        abstract: "Per queue: share of packets, bytes and flows, busy share, what limits it, and advice naming the knob.",
        discussion: """
            Reads the workers' counters twice, --interval seconds apart. A queue waits for a CPU (cpu-wait: ≥ 25 % \
            of the interval runnable but not running — another task on its core, or a cgroup CPU quota), is cpu-bound (busy ≥ 90 % with \
            full vectors on an interface), rx-ring-bound (the kernel dropped ≥ 0.1 % of its packets for a full RX \
            ring), umem-bound (the fill ring ran empty as often), tx-bound (tx_full drops, as often), imbalanced \
            (more than 1.5 / N of the packets), idle or none. The advice names the configuration statement or \
            command and the value to try; an elephant flow's ntuple rule comes from the busiest session of the \
            queue's partition.
            """)
    @OptionGroup var common: Common
    @Option(name: .long, help: "Seconds between the two readings (0.1 to 60).")
    var interval: Double = 1
    @Flag(name: .long, help: "JSON output.")
    var json = false

    static let intervalRange = 0.1...60.0
    static let nsPerSecond = 1e9
    /// Schema version of the JSON output; bumped when a field changes meaning or goes away.
    /// 2: vector_size is the largest per-interface average (was the worker's average over
    /// its interfaces); busiest_interface_slot added; an advice value may be empty (a knob
    /// at its maximum). Fields added since: cpu_wait_share; limit "cpu-wait"; parked_queues, parked_flows.
    static let schemaVersion = 2

    func validate() throws {
        guard Self.intervalRange.contains(interval) else { throw ValidationError("--interval must be within 0.1 and 60 seconds") }
    }

    func run() throws {
        let region = try DataplaneStatus.openRegion(stateDir: common.stateDir)
        let before = DataplaneStatus.read(region)
        var wait = timespec(tv_sec: Int(interval), tv_nsec: Int((interval - interval.rounded(.down)) * Self.nsPerSecond))
        var left = timespec()
        while nanosleep(&wait, &left) != 0 && xpf_errno() == EINTR { wait = left }
        let after = DataplaneStatus.read(region)
        let h = region.header.pointee
        let cpus = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let settings = ScalingReport.Settings(batchSize: Int(region.configSnapshot.pointee.batch_size), rxRing: Int(h.rx_ring_size),
                                              txRing: Int(h.tx_ring_size), umemFrames: Int(h.umem_frames), cpus: max(cpus, 1),
                                              interfaces: Int(h.n_ifaces), maxQueues: Int(h.n_queues))
        // Facts only (no trial attach: the interfaces are xpf's, running).
        let facts = after.interfaces.map {
            FeasibilityProbe.interface($0.name, withhold: "xpf runs on it", ownedByXpf: true, xpfQueues: after.workers.filter { $0.state != "parked" }.count)
        }
        // The CPU quota each running worker's cgroup (or an ancestor) holds it to, if any.
        var quotas: [Int: ScalingReport.CPUQuota] = [:]
        for w in after.workers where w.state == "running" && w.pid > 0 {
            quotas[w.queue] = CPUQuotaProbe.quota(pid: w.pid)
        }
        let r = ScalingReport(before: before, after: after, settings: settings, interfaces: facts,
                              busiestFlows: Self.busiestFlows(region), cpuQuotas: quotas)
        print(json ? Self.jsonText(r, interval: interval) : Self.text(r))
    }

    /// Per queue, the session of its partition with the most forward packets (cumulative:
    /// an elephant that carries most of a queue's packets leads by far). A record's
    /// partition is its owner's (SessionTable.owner(of:)): the worker that received the
    /// session's first packet, which RSS keeps sending the forward direction to.
    static func busiestFlows(_ region: ShmRegion) -> [Int: ScalingReport.Flow] {
        let names = (0..<region.interfaceCount).map { stringFromCArray(region.iface($0).name) }
        var best: [Int: ScalingReport.Flow] = [:]
        for s in SessionListing.all(region) {
            let r = s.record
            let q = region.sessionTable.owner(of: s.id - 1, queues: region.queues)
            guard r.packets.0 > best[q]?.packets ?? 0 else { continue }
            best[q] = ScalingReport.Flow(family: r.family, proto: r.proto, src: formatAddress(family: r.family, r.fwd.src),
                                         dst: formatAddress(family: r.family, r.fwd.dst), sport: UInt16(bigEndian: r.fwd.sport),
                                         dport: UInt16(bigEndian: r.fwd.dport),
                                         ingress: Int(r.if_in) < names.count ? names[Int(r.if_in)] : "?", packets: r.packets.0)
        }
        return best
    }

    static func percent(_ v: Double?) -> String { v.map { "\(Int(($0 * 100).rounded()))%" } ?? "-" }

    static func text(_ r: ScalingReport) -> String {
        var lines = [r.verdict,
                     " Q  CORE NODE     PPS  PKTS%  BYTES%   FLOWS  FLOWS%  BUSY%  WAIT%  VECTOR  RXFULL  FILLEMPTY  TXFULL  LIMIT"]
        func pad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
        for q in r.queues {
            lines.append(pad("\(q.queue)", 2) + pad("\(q.core)", 6) + pad("\(q.numaNode)", 5) + pad("\(Int(q.pps.rounded()))", 8)
                + pad(percent(q.packetShare), 7) + pad(percent(q.byteShare), 8) + pad("\(q.flows)", 8) + pad(percent(q.flowShare), 8)
                + pad(percent(q.busyShare), 7) + pad(percent(q.cpuWaitShare), 7) + pad(String((q.vectorSize * 10).rounded() / 10), 8) + pad("\(q.rxRingFull)", 8)
                + pad("\(q.fillRingEmpty)", 11) + pad("\(q.txFull)", 8) + "  " + q.limit.rawValue)
        }
        if !r.parked.isEmpty {
            lines.append("parked: queue(s) \(r.parked.map(String.init).joined(separator: ", ")) (beyond system dataplane queues: no worker); "
                + "\(r.parkedFlows) live sessions in their partitions count in no queue's flows")
        }
        if r.advice.isEmpty {
            lines.append("advice: none")
        } else {
            lines.append("advice:")
            for a in r.advice { lines.append("  \(a.knob) \(a.value)    # \(a.rule.rawValue): \(a.why)") }
        }
        return lines.joined(separator: "\n")
    }

    /// The JSON form: {"schema": 2, "interval_s", "verdict", "queues": [...], "advice": [...]}.
    static func jsonText(_ r: ScalingReport, interval: Double) -> String {
        var j = JSONWriter()
        j.beginObject()
        j.field("schema", schemaVersion)
        j.field("interval_s", interval)
        j.field("verdict", r.verdict)
        j.beginArray("queues")
        for q in r.queues {
            j.beginObject()
            j.field("queue", q.queue); j.field("core", Int(q.core)); j.field("numa_node", Int(q.numaNode))
            j.field("pps", q.pps); j.field("packet_share", q.packetShare); j.field("byte_share", q.byteShare)
            j.field("flows", q.flows); j.field("flow_share", q.flowShare)
            if let b = q.busyShare { j.field("busy_share", b) } else { j.null("busy_share") }
            if let w = q.cpuWaitShare { j.field("cpu_wait_share", w) } else { j.null("cpu_wait_share") }
            j.field("vector_size", q.vectorSize)
            if let i = q.busiestInterface { j.field("busiest_interface_slot", i) } else { j.null("busiest_interface_slot") }
            j.field("rx_ring_full", q.rxRingFull); j.field("fill_ring_empty", q.fillRingEmpty); j.field("tx_full", q.txFull)
            j.field("limit", q.limit.rawValue)
            j.endObject()
        }
        j.endArray()
        j.beginArray("parked_queues")
        for q in r.parked { j.field(nil, q) }
        j.endArray()
        j.field("parked_flows", r.parkedFlows)
        j.beginArray("advice")
        for a in r.advice {
            j.beginObject()
            j.field("rule", a.rule.rawValue); j.field("knob", a.knob); j.field("value", a.value); j.field("why", a.why)
            j.endObject()
        }
        j.endArray()
        j.endObject()
        return j.text
    }
}
