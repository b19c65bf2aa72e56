import CXPF
import Foundation
import XCTest

@testable import Shared

/// `show dataplane scaling` (issue 11 §2): every rule of ScalingReport on synthetic counters
/// — what it calls the queue's limit and the knob and value it advises.
final class ScalingReportTests: XCTestCase {
    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    static let second: UInt64 = 1_000_000_000
    static let settings = ScalingReport.Settings(batchSize: 64, rxRing: 2048, txRing: 2048, umemFrames: 8192, cpus: 4, interfaces: 2)

    /// One worker's counters after one second: `packets` received on fw0 in `batches` (and
    /// `fw1Packets` on fw1 in `fw1Batches`), `busy` of the loop time busy, `flows` live
    /// sessions, `txPackets` sent.
    struct Load {
        var packets: UInt64 = 0
        var batches: UInt64 = 0
        var fw1Packets: UInt64 = 0
        var fw1Batches: UInt64 = 0
        var txPackets: UInt64 = 0
        var busy = 0.0
        var flows: UInt64 = 0
        var rxRingFull: UInt64 = 0
        var fillEmpty: UInt64 = 0
        var txFull: UInt64 = 0
        var core: Int32 = 0
        var node: Int32 = 0
        /// Of the second, the share runnable but waiting for a CPU (schedstat).
        var wait = 0.0
    }

    static func worker(_ q: Int, _ l: Load, after: Bool) -> WorkerStatus {
        var s = xpf_worker_stats()
        var socket = xpf_worker_socket_stats()
        // schedstat read at 1 s and 2 s (after): the wait accrued in between.
        socket.sched_sampled_ns = after ? 2 * second : second
        if after {
            socket.sched_wait_ns = UInt64(l.wait * Double(second))
            s.rx_packets = l.packets + l.fw1Packets
            s.rx_bytes = s.rx_packets * 100
            s.tx_packets = l.txPackets
            s.batches = l.batches + l.fw1Batches
            s.batch_packets = s.rx_packets
            withUnsafeMutableBytes(of: &s.if_rx_packets) {
                $0.storeBytes(of: l.packets, toByteOffset: 0, as: UInt64.self)
                $0.storeBytes(of: l.fw1Packets, toByteOffset: 8, as: UInt64.self)
            }
            withUnsafeMutableBytes(of: &s.if_batches) {
                $0.storeBytes(of: l.batches, toByteOffset: 0, as: UInt64.self)
                $0.storeBytes(of: l.fw1Batches, toByteOffset: 8, as: UInt64.self)
            }
            s.sessions_created = l.flows
            s.loop_busy_ns = UInt64(l.busy * Double(second))
            s.loop_idle_ns = second - s.loop_busy_ns
            withUnsafeMutableBytes(of: &socket.rx_ring_full) { $0.storeBytes(of: l.rxRingFull, as: UInt64.self) }
            withUnsafeMutableBytes(of: &socket.fill_ring_empty) { $0.storeBytes(of: l.fillEmpty, as: UInt64.self) }
            withUnsafeMutableBytes(of: &s.drops) {
                $0.storeBytes(of: l.txFull, toByteOffset: Int(XPF_DROP_TX_FULL.rawValue) * 8, as: UInt64.self)
            }
        }
        return WorkerStatus(queue: q, pid: 100 + Int32(q), core: l.core, numaNode: l.node, state: "running", heartbeatAgeMs: 1,
                            generation: 1, fibVersion: 1, restarts: 0, stats: s, requestsDropped: 0, socket: socket)
    }

    static func status(_ loads: [Load], after: Bool) -> DataplaneStatus {
        DataplaneStatus(supervisorPid: 1, supervisorAlive: true, state: "running", generation: 1, fibVersion: 1,
                        takenAtNs: after ? 2 * second : second,
                        workers: loads.enumerated().map { worker($0.offset, $0.element, after: after) },
                        interfaces: [InterfaceStatus(slot: 0, name: "fw0", ifindex: 2, xdpMode: "native", rxQueues: UInt32(loads.count)),
                                     InterfaceStatus(slot: 1, name: "fw1", ifindex: 3, xdpMode: "native", rxQueues: UInt32(loads.count))],
                        xdp: nil, sessionCapacity: 1 << 20, rxRingSize: 2048, txRingSize: 2048)
    }

    static func report(_ loads: [Load], settings: ScalingReport.Settings = settings,
                       interfaces: [InterfaceFacts] = [InterfaceFacts(name: "fw0", ifindex: 2)],
                       flows: [Int: ScalingReport.Flow] = [:]) -> ScalingReport {
        ScalingReport(before: status(loads, after: false), after: status(loads, after: true), settings: settings, interfaces: interfaces,
                      busiestFlows: flows)
    }

    /// The lab's elephant: UDP 10.10.1.2:40000 → 10.10.2.2:9, arriving on fw0.
    static let elephant = ScalingReport.Flow(family: 4, proto: 17, src: "10.10.1.2", dst: "10.10.2.2", sport: 40000, dport: 9,
                                             ingress: "fw0", packets: 95_000)

    /// A worker that waited for a CPU a quarter of the interval or more (schedstat) is held
    /// back by its core or its cgroup, whatever its loop clock says: cpu-wait, judged first.
    /// Advice: the quota's file and the value that lifts it, when a quota holds the worker;
    /// else a CPU no worker runs on; else more CPUs.
    func testAWorkerWaitingForACPUIsCPUWaitBound() {
        let throttled = Load(packets: 6_400_000, batches: 100_000, busy: 0.97, flows: 500, core: 1, wait: 0.9)
        let quota = ScalingReport.CPUQuota(file: "/sys/fs/cgroup/cpu/xpf/cpu.cfs_quota_us", value: "1000", unlimited: "-1")
        let held = ScalingReport(before: Self.status([throttled], after: false), after: Self.status([throttled], after: true),
                                 settings: Self.settings, interfaces: [], cpuQuotas: [0: quota])
        XCTAssertEqual(held.queues.map(\.limit), [.cpuWait], "not cpu: the worker is busy because it waits")
        XCTAssertEqual(held.queues[0].cpuWaitShare ?? 0, 0.9, accuracy: 1e-9)
        XCTAssertEqual(held.advice, [ScalingReport.Advice(
            rule: .cpuWait, knob: "/sys/fs/cgroup/cpu/xpf/cpu.cfs_quota_us", value: "-1",
            why: "queue 0's worker waited 90% of the interval for a CPU: its cgroup's CPU quota (1000) throttles it — lift it, or give xpf at least a CPU per worker")])
        XCTAssertEqual(held.verdict, "scaling: queue 0 waits for a CPU 90% of the time (97% busy, 100% of packets)")
        // No quota: another task shares core 1 — the first CPU no worker runs on.
        let shared = Self.report([throttled], interfaces: [])
        XCTAssertEqual(shared.advice.map(\.knob), ["system dataplane workers queue 0 cpu"])
        XCTAssertEqual(shared.advice.map(\.value), ["0"])
        XCTAssertTrue(shared.advice[0].why.contains("other tasks run on its core 1"), shared.advice[0].why)
        // With the interface's facts: a CPU of its NUMA node that xpf may use and no worker runs on.
        var facts = InterfaceFacts(name: "fw0", ifindex: 2)
        (facts.numaNode, facts.nodeCPUs, facts.allowedCPUs) = (1, [2, 3, 4], [0, 1, 2, 3])
        let onNode = Self.report([Load(packets: 6_400_000, batches: 100_000, busy: 0.97, flows: 500, core: 2, wait: 0.9)],
                                 interfaces: [facts])
        XCTAssertEqual(onNode.advice.filter { $0.rule == .cpuWait }.map(\.value), ["3"], "node 1's CPUs 2 to 4, 4 not allowed, 2 taken")
        // Every CPU runs a worker: more CPUs.
        var one = Self.settings
        one.cpus = 1
        let full = Self.report([Load(packets: 1000, batches: 100, busy: 0.5, wait: 0.3)], settings: one, interfaces: [])
        XCTAssertEqual(full.advice.map(\.knob), ["cores"])
        // Below a quarter, the ordinary sharing of a core: the other rules judge.
        XCTAssertEqual(Self.report([Load(packets: 6_400_000, batches: 100_000, busy: 0.97, flows: 500, wait: 0.24)]).queues[0].limit, .cpu)
        // One schedstat reading (or none) in the interval: no share, no cpu-wait.
        var b = Self.status([throttled], after: true)
        b.workers[0].socket.sched_sampled_ns = Self.second
        let unread = ScalingReport(before: Self.status([throttled], after: false), after: b, settings: Self.settings, interfaces: [])
        XCTAssertNil(unread.queues[0].cpuWaitShare)
        XCTAssertEqual(unread.queues[0].limit, .cpu)
    }

    /// A parked queue (beyond `queues`, no worker) is not in the report, and a saturated
    /// worker's advice starts it by commit: the region has room (max-queues 2).
    func testAParkedQueueIsLeftOutAndQueuesGrowsByCommit() {
        var settings = Self.settings
        settings.maxQueues = 2
        let loads = [Load(packets: 6_400_000, batches: 100_000, busy: 0.97, flows: 500), Load(packets: 0, batches: 0, busy: 0)]
        var (a, b) = (Self.status(loads, after: false), Self.status(loads, after: true))
        a.workers[1].state = "parked"
        b.workers[1].state = "parked"
        let r = ScalingReport(before: a, after: b, settings: settings, interfaces: [InterfaceFacts(name: "fw0", ifindex: 2)])
        XCTAssertEqual(r.queues.map(\.queue), [0], "the parked queue 1 is left out")
        XCTAssertEqual(r.parked, [1])
        XCTAssertEqual(r.parkedFlows, 0)
        // Sessions left in the parked partition: counted apart, in no running queue's flows.
        b.workers[1].stats.sessions_created = 9
        b.workers[1].stats.sessions_closed = 2
        let kept = ScalingReport(before: a, after: b, settings: settings, interfaces: [InterfaceFacts(name: "fw0", ifindex: 2)])
        XCTAssertEqual(kept.parkedFlows, 7)
        XCTAssertEqual(kept.queues.map(\.flows), [500])
        XCTAssertEqual(r.queues[0].packetShare, 1)
        XCTAssertEqual(r.queues.map(\.limit), [.cpu])
        XCTAssertEqual(r.advice.map(\.knob), ["system dataplane queues", "ethtool -L fw0 combined", "system dataplane batch-size"])
        XCTAssertEqual(r.advice.map(\.value), ["2", "2", "128"])
        XCTAssertFalse(r.advice.contains { $0.why.contains("restart") }, "\(r.advice)")
        // Were queue 1 running and idle, it would be a row of the report (and the imbalance rule's N).
        let both = ScalingReport(before: Self.status(loads, after: false), after: Self.status(loads, after: true), settings: settings,
                                 interfaces: [InterfaceFacts(name: "fw0", ifindex: 2)])
        XCTAssertEqual(both.queues.map(\.queue), [0, 1])
        XCTAssertEqual(both.parked, [])
    }

    func testASaturatedWorkerWithFullVectorsIsCPUBound() {
        let r = Self.report([Load(packets: 6_400_000, batches: 100_000, busy: 0.97, flows: 500)])
        XCTAssertEqual(r.queues.map(\.limit), [.cpu])
        XCTAssertEqual(r.queues[0].vectorSize, 64)
        XCTAssertEqual(r.queues[0].busyShare ?? 0, 0.97, accuracy: 1e-9)
        XCTAssertEqual(r.queues[0].pps, 6_400_000)
        // The region has room for this one queue only: max-queues first (a restart), then queues.
        XCTAssertEqual(r.advice.map(\.knob), ["system dataplane max-queues", "system dataplane queues", "ethtool -L fw0 combined",
                                              "system dataplane batch-size"])
        XCTAssertEqual(r.advice.map(\.value), ["2", "2", "2", "128"])
        XCTAssertTrue(r.advice[0].why.hasSuffix("(restart xpfd)"), "max-queues is taken at start: \(r.advice[0].why)")
        XCTAssertFalse(r.advice[1].why.contains("restart"), "queues is taken by a commit: \(r.advice[1].why)")
        XCTAssertFalse(r.advice[3].why.contains("restart"), "batch-size is taken by a commit")
        XCTAssertEqual(r.verdict, "scaling: queue 0 cpu-bound (97% busy, 100% of packets, vectors 64.0)")
        // Busy with small vectors is not CPU-bound: the worker is not short of time per packet.
        XCTAssertEqual(Self.report([Load(packets: 100_000, batches: 100_000, busy: 0.97)]).queues[0].limit, .none)
        // Every CPU taken: no queue to add, the advice says so.
        var full = Self.settings
        full.cpus = 1
        XCTAssertEqual(Self.report([Load(packets: 6_400_000, batches: 100_000, busy: 0.97)], settings: full).advice.first?.knob, "cores")
    }

    /// A pass takes one batch per interface: 64 packets from fw0 and 1 from fw1 per pass is
    /// a full vector on fw0, though the worker's average over both is 32.5. At 100 % busy
    /// it is cpu-bound — not rx-ring-bound for the RX-ring drops it has behind it.
    func testFullVectorsOnOneInterfaceAreJudgedPerInterface() {
        let r = Self.report([Load(packets: 6_400_000, batches: 100_000, fw1Packets: 100_000, fw1Batches: 100_000, busy: 1.0, flows: 500,
                                  rxRingFull: 90_000)])
        XCTAssertEqual(r.queues[0].vectorSize, 64, "fw0's vectors, the larger")
        XCTAssertEqual(r.queues[0].busiestInterface, 0)
        XCTAssertEqual(r.queues[0].limit, .cpu)
        XCTAssertEqual(r.advice.map(\.rule), [.cpu, .cpu, .cpu, .cpu])
    }

    /// Advice never names the running value: at the range's maximum it says so, no value.
    func testAKnobAtItsMaximumIsSaidToBeSoWithNoValue() {
        var top = Self.settings
        top.batchSize = DataplaneConfig.batchSizeRange.upperBound
        top.rxRing = DataplaneConfig.ringSizeRange.upperBound
        top.umemFrames = 1 << 16
        let cpu = Self.report([Load(packets: 25_600_000, batches: 100_000, busy: 0.97, flows: 500)], settings: top)
        let batch = cpu.advice.first { $0.knob == "system dataplane batch-size" }
        XCTAssertEqual(batch?.value, "")
        XCTAssertEqual(batch?.why, "full vectors of 256: larger batches spread the per-pass cost over more packets; "
                           + "system dataplane batch-size is at its maximum 256 already")
        let ring = Self.report([Load(packets: 50_000, batches: 5_000, busy: 0.3, rxRingFull: 1000)], settings: top)
        XCTAssertEqual(ring.queues[0].limit, .rxRing)
        XCTAssertEqual(ring.advice.map(\.knob), ["system dataplane rx-ring"], "no UMEM for a ring that does not grow")
        XCTAssertEqual(ring.advice.map(\.value), [""])
        XCTAssertTrue(ring.advice[0].why.hasSuffix("is at its maximum 8192 already"), ring.advice[0].why)
        for a in cpu.advice + ring.advice {
            XCTAssertNotEqual(a.value, String(DataplaneConfig.ringSizeRange.upperBound), "\(a)")
            XCTAssertNotEqual(a.value, String(DataplaneConfig.batchSizeRange.upperBound), "\(a)")
        }
    }

    func testKernelDropsForAFullRXRingAdviseALargerRing() {
        var roomy = Self.settings
        roomy.umemFrames = 16_384
        let r = Self.report([Load(packets: 50_000, batches: 5_000, busy: 0.3, flows: 10, rxRingFull: 1234)], settings: roomy)
        XCTAssertEqual(r.queues[0].limit, .rxRing)
        XCTAssertEqual(r.queues[0].rxRingFull, 1234)
        XCTAssertEqual(r.advice, [ScalingReport.Advice(rule: .rxRing, knob: "system dataplane rx-ring", value: "4096",
                                                        why: "the kernel dropped 1234 packets for queue 0 because its RX ring (2048) was full (restart xpfd)")])
        // With the default 8192 frames the larger ring needs more UMEM, advised with it.
        XCTAssertEqual(Self.report([Load(packets: 50_000, batches: 5_000, busy: 0.3, rxRingFull: 100)]).advice.map(\.knob),
                       ["system dataplane rx-ring", "system dataplane umem-frames"])
    }

    /// Kernel events decide a limit from a share of the packets (eventShare, 0.1 %), not from
    /// one event: 50 drops beside 50 000 packets are below it, 51 reach it.
    func testRingEventsCountFromAShareOfThePackets() {
        XCTAssertEqual(ScalingReport.eventShare, 0.001)
        XCTAssertEqual(Self.report([Load(packets: 50_000, batches: 5_000, busy: 0.3, rxRingFull: 1)]).queues[0].limit, .none)
        XCTAssertEqual(Self.report([Load(packets: 50_000, batches: 5_000, busy: 0.3, rxRingFull: 50)]).queues[0].limit, .none)
        XCTAssertEqual(Self.report([Load(packets: 50_000, batches: 5_000, busy: 0.3, rxRingFull: 51)]).queues[0].limit, .rxRing)
        XCTAssertEqual(Self.report([Load(packets: 50_000, batches: 5_000, busy: 0.3, fillEmpty: 50)]).queues[0].limit, .none)
        XCTAssertEqual(Self.report([Load(packets: 50_000, batches: 5_000, busy: 0.3, fillEmpty: 51)]).queues[0].limit, .umem)
        XCTAssertEqual(Self.report([Load(packets: 50_000, batches: 5_000, txPackets: 50_000, busy: 0.3, txFull: 50)]).queues[0].limit, .none)
        XCTAssertEqual(Self.report([Load(packets: 50_000, batches: 5_000, txPackets: 50_000, busy: 0.3, txFull: 51)]).queues[0].limit, .tx)
    }

    /// The fill ring runs empty: the knob is whichever of umem-frames and rx-ring bounds the
    /// frames the worker keeps in it (min(rx-ring, umem-frames / (2 × interfaces))).
    func testAnEmptyFillRingAdvisesTheKnobThatBoundsIt() {
        var few = Self.settings
        few.umemFrames = 256  // 64 frames per fill ring, below the 2048-entry ring
        let r = Self.report([Load(packets: 50_000, batches: 5_000, busy: 0.3, fillEmpty: 77)], settings: few)
        XCTAssertEqual(r.queues[0].limit, .umem)
        XCTAssertEqual(r.advice.map(\.knob), ["system dataplane umem-frames"])
        XCTAssertEqual(r.advice.map(\.value), ["512"])
        XCTAssertTrue(r.advice[0].why.hasSuffix("(restart xpfd)"), r.advice[0].why)
        // 8192 frames over 2 interfaces give each fill ring its 2048: the ring is the bound,
        // and a ring of 4096 needs 2 × (4096 + 2048) = 12 288 frames: 16 384.
        let ring = Self.report([Load(packets: 50_000, batches: 5_000, busy: 0.3, fillEmpty: 77)])
        XCTAssertEqual(ring.advice.map(\.knob), ["system dataplane rx-ring", "system dataplane umem-frames"])
        XCTAssertEqual(ring.advice.map(\.value), ["4096", "16384"])
        // The lab's tiny setting: rx 64, tx 64, 256 frames (the minimum) — rx 128 needs 512.
        let tiny = ScalingReport.Settings(batchSize: 64, rxRing: 64, txRing: 64, umemFrames: 256, cpus: 2, interfaces: 2)
        XCTAssertEqual(Self.report([Load(packets: 5_000, batches: 500, busy: 0.1, fillEmpty: 9)], settings: tiny).advice.map(\.value),
                       ["128", "512"])
    }

    func testTXFullDropsAdviseALargerTXRing() {
        let r = Self.report([Load(packets: 50_000, batches: 5_000, txPackets: 50_000, busy: 0.3, txFull: 90)])
        XCTAssertEqual(r.queues[0].limit, .tx)
        XCTAssertEqual(r.advice.map(\.knob), ["system dataplane tx-ring", "system dataplane umem-frames"])
        XCTAssertEqual(r.advice.map(\.value), ["4096", "16384"])
    }

    /// One flow carries queue 0's packets: an ntuple rule pins it to queue 0 and weight 0
    /// keeps RSS from sending any other flow there — on fw0, the interface it arrives on.
    func testAnElephantFlowIsPinnedToItsQueueAndTheOthersSteeredAway() {
        let loads = [Load(packets: 95_000, batches: 9_500, busy: 0.5, flows: 1), Load(packets: 5_000, batches: 500, busy: 0.05, flows: 1, core: 1)]
        let r = Self.report(loads, flows: [0: Self.elephant])
        XCTAssertEqual(r.queues.map(\.limit), [.imbalance, .none])
        XCTAssertEqual(r.queues[0].packetShare, 0.95, accuracy: 1e-9)
        XCTAssertEqual(r.queues[0].flowShare, 0.5, accuracy: 1e-9)
        XCTAssertEqual(r.advice.map(\.knob), ["ethtool -N fw0", "ethtool -X fw0 weight"])
        XCTAssertEqual(r.advice.map(\.value), ["flow-type udp4 src-ip 10.10.1.2 dst-ip 10.10.2.2 src-port 40000 dst-port 9 action 0", "0 1"])
        XCTAssertTrue(r.advice[0].why.contains("from 1 flow(s)"), r.advice[0].why)
        // Without the elephant's tuple: the weights alone, and why.
        let none = Self.report(loads)
        XCTAssertEqual(none.advice.map(\.knob), ["ethtool -X fw0 weight"])
        XCTAssertEqual(none.advice.map(\.value), ["0 1"])
        XCTAssertTrue(none.advice[0].why.contains("no session of queue 0's partition was found"), none.advice[0].why)
        var ping = Self.elephant
        ping.proto = 1
        let icmp = Self.report(loads, flows: [0: ping])
        XCTAssertEqual(icmp.advice.map(\.knob), ["ethtool -X fw0 weight"])
        XCTAssertTrue(icmp.advice[0].why.contains("its busiest session is icmp, which has no ports"), icmp.advice[0].why)
        var v6 = Self.elephant
        (v6.family, v6.proto, v6.src, v6.dst) = (6, 6, "2001:db8::2", "2001:db8:1::2")
        XCTAssertEqual(Self.report(loads, flows: [0: v6]).advice.first?.value,
                       "flow-type tcp6 src-ip 2001:db8::2 dst-ip 2001:db8:1::2 src-port 40000 dst-port 9 action 0")
    }

    /// The advice goes to the interface that receives the queue's packets only (the largest
    /// Δif_rx_packets of the queue), and a tuple arriving elsewhere is not used for it.
    func testElephantAdviceNamesOnlyTheInterfaceThatReceivesIt() {
        let loads = [Load(busy: 0.05, core: 0), Load(fw1Packets: 95_000, fw1Batches: 9_500, busy: 0.5, flows: 1, core: 1)]
        var onFw1 = Self.elephant
        onFw1.ingress = "fw1"
        let r = Self.report(loads, flows: [1: onFw1])
        XCTAssertEqual(r.advice.map(\.knob), ["ethtool -N fw1", "ethtool -X fw1 weight"])
        XCTAssertEqual(r.advice.map(\.value), ["flow-type udp4 src-ip 10.10.1.2 dst-ip 10.10.2.2 src-port 40000 dst-port 9 action 1", "1 0"])
        let elsewhere = Self.report(loads, flows: [1: Self.elephant])  // the session's ingress is fw0
        XCTAssertEqual(elsewhere.advice.map(\.knob), ["ethtool -X fw1 weight"])
        XCTAssertTrue(elsewhere.advice[0].why.contains("arrives on fw0, not fw1"), elsewhere.advice[0].why)
    }

    /// A queue saturated by one flow: more queues would not split it, so the advice is the
    /// elephant's (pin it, steer the others away), not another queue.
    func testASaturatedElephantQueueIsNotAdvisedMoreQueues() {
        var flow = Self.elephant
        flow.packets = 6_300_000
        let r = Self.report([Load(busy: 0.0, core: 0), Load(packets: 6_300_000, batches: 100_000, busy: 0.996, flows: 1, rxRingFull: 152_082, core: 1)],
                            flows: [1: flow])
        XCTAssertEqual(r.queues.map(\.limit), [.idle, .cpu])
        XCTAssertEqual(r.advice.map(\.knob), ["ethtool -N fw0", "ethtool -X fw0 weight", "system dataplane batch-size"])
        XCTAssertEqual(r.advice.map(\.value), ["flow-type udp4 src-ip 10.10.1.2 dst-ip 10.10.2.2 src-port 40000 dst-port 9 action 1", "1 0", "128"])
        XCTAssertEqual(r.verdict, "scaling: queue 1 cpu-bound (100% busy, 100% of packets, vectors 63.0)")
        // Held to a sliver of a CPU it forwards below the imbalance rule's rate floor: still
        // the elephant's advice, not another queue.
        let slow = Self.report([Load(busy: 0.0, core: 0), Load(packets: 640, batches: 10, busy: 0.99, flows: 1, rxRingFull: 9_000, core: 1)],
                               flows: [1: flow])
        XCTAssertEqual(slow.queues.map(\.limit), [.idle, .cpu])
        XCTAssertEqual(slow.advice.map(\.knob), ["ethtool -N fw0", "ethtool -X fw0 weight", "system dataplane batch-size"])
    }

    func testManyFlowsHashedOntoOneQueueAdviseHashingOnPorts() {
        let r = Self.report([Load(packets: 90_000, batches: 9_000, busy: 0.5, flows: 400),
                             Load(packets: 10_000, batches: 1_000, busy: 0.1, flows: 40, core: 1)])
        XCTAssertEqual(r.queues[0].limit, .imbalance)
        XCTAssertEqual(r.advice.map(\.knob), ["ethtool -N fw0 rx-flow-hash udp4"])
        XCTAssertEqual(r.advice.map(\.value), ["sdfn"])
        // An even split is no imbalance; nor is an uneven one at a trickle.
        XCTAssertTrue(Self.report([Load(packets: 50_000, batches: 5_000, busy: 0.2), Load(packets: 50_000, batches: 5_000, busy: 0.2, core: 1)])
            .advice.isEmpty)
        XCTAssertEqual(Self.report([Load(packets: 900, batches: 900, busy: 0.01, flows: 1), Load(packets: 10, batches: 10, busy: 0.01, core: 1)])
            .queues.map(\.limit), [.idle, .idle])
    }

    func testAnIdleDataplaneSaysSo() {
        let r = Self.report([Load(busy: 0.001), Load(busy: 0.0, core: 1)])
        XCTAssertEqual(r.queues.map(\.limit), [.idle, .idle])
        XCTAssertEqual(r.verdict, "scaling: idle")
        XCTAssertTrue(r.advice.isEmpty)
        XCTAssertEqual(Self.report([Load(packets: 20_000, batches: 4_000, busy: 0.3)]).verdict, "scaling: no queue saturated (busiest 30%)")
    }

    /// A loop counter lower in the second reading (a torn best-effort copy, a region laid
    /// out again) counts as no time: the share stays within 0…1, and never traps.
    func testBusyShareClampsACounterThatWentBack() {
        var a = xpf_worker_stats(), b = xpf_worker_stats()
        (a.loop_busy_ns, a.loop_idle_ns) = (5_000, 1_000)
        (b.loop_busy_ns, b.loop_idle_ns) = (4_000, 3_000)
        XCTAssertEqual(DataplaneStatus.busyShare(a, b), 0)
        (b.loop_busy_ns, b.loop_idle_ns) = (UInt64.max, 0)
        XCTAssertEqual(DataplaneStatus.busyShare(a, b), 1)
        XCTAssertNil(DataplaneStatus.busyShare(b, a).flatMap { $0 > 0 ? $0 : nil })
    }

    /// Each misplaced worker gets its own free CPU of the interface's node; each interrupt on
    /// a worker's core its own allowed CPU that runs no worker; none left: said, no value.
    func testWorkersAwayFromTheirInterfacesNodeAndInterruptsOnWorkerCoresAreNamed() {
        var nic = InterfaceFacts(name: "ens1f0", ifindex: 3)
        nic.numaNode = 1
        nic.nodeCPUs = [3, 8, 9, 10]  // 3 runs a worker
        nic.allowedCPUs = [0, 1, 2, 3, 8, 9, 10]
        nic.interrupts = [InterruptPlacement(irq: 45, name: "ens1f0-TxRx-0", cpus: [2]),
                          InterruptPlacement(irq: 46, name: "ens1f0-TxRx-1", cpus: [3]),
                          InterruptPlacement(irq: 47, name: "ens1f0-TxRx-2", cpus: [8])]
        let r = Self.report([Load(busy: 0.01, core: 2, node: 0), Load(busy: 0.01, core: 3, node: 0)], interfaces: [nic])
        XCTAssertEqual(r.advice.map(\.rule), [.numa, .numa, .interrupts, .interrupts])
        XCTAssertEqual(r.advice.map(\.knob), ["system dataplane workers queue 0 cpu", "system dataplane workers queue 1 cpu",
                                              "/proc/irq/45/smp_affinity_list", "/proc/irq/46/smp_affinity_list"])
        XCTAssertEqual(r.advice.map(\.value), ["8", "9", "0", "1"])
        nic.nodeCPUs = [8]
        nic.allowedCPUs = [2, 3, 8]
        let short = Self.report([Load(busy: 0.01, core: 2, node: 0), Load(busy: 0.01, core: 3, node: 0)], interfaces: [nic])
        XCTAssertEqual(short.advice.map(\.value), ["8", "", "", ""])
        XCTAssertTrue(short.advice[1].why.hasSuffix("every allowed CPU of node 1 runs a worker or was advised already"), short.advice[1].why)
    }
}

/// schedstat parsing and the CPU quota a process runs under (cgroup v1 and v2), over
/// directories laid out as /proc and /sys/fs/cgroup are.
final class CPUWaitProbeTests: XCTestCase {
    func testSchedstatGivesRunAndWait() {
        func parse(_ s: String) -> (UInt64, UInt64)? {
            Array(s.utf8).withUnsafeBytes { SchedStat.parse($0) }.map { ($0.run, $0.wait) }
        }
        XCTAssertTrue(parse("1941596 6307 2\n")! == (1_941_596, 6307))
        XCTAssertTrue(parse("18446744073709551615 0 0\n")! == (UInt64.max, 0))
        XCTAssertNil(parse("18446744073709551616 0 0\n"), "overflow")
        XCTAssertNil(parse("12 x 3\n"))
        XCTAssertNil(parse("12\n"), "one number")
        XCTAssertNil(parse(""))
        // The running thread's own file parses (the kernel has schedstats).
        let fd = open(SchedStat.path, O_RDONLY)
        defer { close(fd) }
        XCTAssertNotNil(SchedStat.read(fd))
    }

    func testTheQuotaOfTheCgroupOrAnAncestorIsFound() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("xpf-quota-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        func write(_ path: String, _ text: String) throws {
            try FileManager.default.createDirectory(atPath: (root + path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: root + path, atomically: true, encoding: .utf8)
        }
        func quota(_ pid: Int32, _ cgroupRoot: String) -> ScalingReport.CPUQuota? {
            CPUQuotaProbe.quota(pid: pid, proc: root + "/proc", cgroupRoot: root + cgroupRoot)
        }
        // v1: the cpu hierarchy; the quota is on the parent of the process's cgroup.
        try write("/proc/10/cgroup", "5:memory:/a/b\n4:cpu,cpuacct:/a/b\n0::/a/b\n")
        try write("/cg/cpu/a/b/cpu.cfs_quota_us", "-1\n")
        try write("/cg/cpu/a/b/cpu.cfs_period_us", "100000\n")
        try write("/cg/cpu/a/cpu.cfs_quota_us", "1000\n")
        try write("/cg/cpu/a/cpu.cfs_period_us", "100000\n")
        XCTAssertEqual(quota(10, "/cg"),
                       ScalingReport.CPUQuota(file: root + "/cg/cpu/a/cpu.cfs_quota_us", value: "1000", unlimited: "-1"))
        // Quotas on the cgroup and an ancestor: the tightest (1 % of a CPU above 50 %) is named.
        try write("/cg/cpu/a/b/cpu.cfs_quota_us", "50000\n")
        XCTAssertEqual(quota(10, "/cg")?.file,
                       root + "/cg/cpu/a/cpu.cfs_quota_us")
        try write("/cg/cpu/a/b/cpu.cfs_quota_us", "500\n")
        XCTAssertEqual(quota(10, "/cg")?.file,
                       root + "/cg/cpu/a/b/cpu.cfs_quota_us")
        // v2 (unified at the root): cpu.max of the process's own cgroup.
        try write("/proc/11/cgroup", "0::/x.slice/y\n")
        try write("/cg2/cgroup.controllers", "cpu memory\n")
        try write("/cg2/x.slice/y/cpu.max", "20000 100000\n")
        XCTAssertEqual(quota(11, "/cg2"),
                       ScalingReport.CPUQuota(file: root + "/cg2/x.slice/y/cpu.max", value: "20000 100000", unlimited: "max"))
        // No quota anywhere: nil.
        try write("/cg2/x.slice/y/cpu.max", "max 100000\n")
        XCTAssertNil(quota(11, "/cg2"))
        XCTAssertNil(quota(12, "/cg2"), "no such process")
    }
}

/// What xpfd says about RSS after `queues N` by commit (QueueSteering): a table that still
/// sends to a parked queue is a warning with the command, one that leaves a running queue
/// out a note, a table that agrees or no table (veth) nothing.
final class QueueSteeringTests: XCTestCase {
    func testATableThatDisagreesWithTheQueueCountIsNamed() {
        let shrunk = QueueSteering.notes(tables: [("ens1f0", [0, 1, 2, 3, 0, 1, 2, 3]), ("ens1f1", [0, 1, 0, 1])], queues: 2)
        XCTAssertEqual(shrunk, ["WARNING: ens1f0's RSS table still sends to queue(s) 2, 3, which have no worker: their packets "
                                + "are dropped (drop_no_worker) until it is steered: ethtool -X ens1f0 equal 2"])
        let grown = QueueSteering.notes(tables: [("ens1f0", [0, 1, 0, 1])], queues: 4)
        XCTAssertEqual(grown, ["note: ens1f0's RSS table sends nothing to queue(s) 2, 3 yet: ethtool -X ens1f0 equal 4"])
        XCTAssertEqual(QueueSteering.notes(tables: [("ens1f0", [0, 1, 2, 0])], queues: 3), [])
        XCTAssertEqual(QueueSteering.notes(tables: [("fw0", [])], queues: 1), [], "no table: no note")
    }
}
