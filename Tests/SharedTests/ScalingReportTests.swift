import CXPF
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

    /// One worker's counters after `seconds`: `packets` received in `batches`, `busy` of the
    /// loop time busy, `flows` live sessions.
    struct Load {
        var packets: UInt64 = 0
        var batches: UInt64 = 0
        var busy = 0.0
        var flows: UInt64 = 0
        var rxRingFull: UInt64 = 0
        var fillEmpty: UInt64 = 0
        var txFull: UInt64 = 0
        var core: Int32 = 0
        var node: Int32 = 0
    }

    static func worker(_ q: Int, _ l: Load, after: Bool) -> WorkerStatus {
        var s = xpf_worker_stats()
        if after {
            s.rx_packets = l.packets
            s.rx_bytes = l.packets * 100
            s.batches = l.batches
            s.batch_packets = l.packets
            s.sessions_created = l.flows
            s.loop_busy_ns = UInt64(l.busy * Double(second))
            s.loop_idle_ns = second - s.loop_busy_ns
            withUnsafeMutableBytes(of: &s.xsk_rx_ring_full) { $0.storeBytes(of: l.rxRingFull, as: UInt64.self) }
            withUnsafeMutableBytes(of: &s.xsk_fill_ring_empty) { $0.storeBytes(of: l.fillEmpty, as: UInt64.self) }
            withUnsafeMutableBytes(of: &s.drops) {
                $0.storeBytes(of: l.txFull, toByteOffset: Int(XPF_DROP_TX_FULL.rawValue) * 8, as: UInt64.self)
            }
        }
        return WorkerStatus(queue: q, pid: 100 + Int32(q), core: l.core, numaNode: l.node, state: "running", heartbeatAgeMs: 1,
                            generation: 1, fibVersion: 1, restarts: 0, stats: s, requestsDropped: 0)
    }

    static func status(_ loads: [Load], after: Bool) -> DataplaneStatus {
        DataplaneStatus(supervisorPid: 1, supervisorAlive: true, state: "running", generation: 1, fibVersion: 1,
                        takenAtNs: after ? 2 * second : second,
                        workers: loads.enumerated().map { worker($0.offset, $0.element, after: after) },
                        interfaces: [InterfaceStatus(slot: 0, name: "fw0", ifindex: 2, xdpMode: "native", rxQueues: UInt32(loads.count))],
                        xdp: nil, sessionCapacity: 1 << 20, rxRingSize: 2048, txRingSize: 2048)
    }

    static func report(_ loads: [Load], settings: ScalingReport.Settings = settings,
                       interfaces: [InterfaceFacts] = [InterfaceFacts(name: "fw0", ifindex: 2)]) -> ScalingReport {
        ScalingReport(before: status(loads, after: false), after: status(loads, after: true), settings: settings, interfaces: interfaces)
    }

    func testASaturatedWorkerWithFullVectorsIsCPUBound() {
        let r = Self.report([Load(packets: 6_400_000, batches: 100_000, busy: 0.97, flows: 500)])
        XCTAssertEqual(r.queues.map(\.limit), [.cpu])
        XCTAssertEqual(r.queues[0].vectorSize, 64)
        XCTAssertEqual(r.queues[0].busyShare ?? 0, 0.97, accuracy: 1e-9)
        XCTAssertEqual(r.queues[0].pps, 6_400_000)
        XCTAssertEqual(r.advice.map(\.knob), ["system dataplane queues", "ethtool -L fw0 combined", "system dataplane batch-size"])
        XCTAssertEqual(r.advice.map(\.value), ["2", "2", "128"])
        XCTAssertEqual(r.verdict, "scaling: queue 0 cpu-bound (97% busy, 100% of packets, vectors 64.0)")
        // Busy with small vectors is not CPU-bound: the worker is not short of time per packet.
        XCTAssertEqual(Self.report([Load(packets: 100_000, batches: 100_000, busy: 0.97)]).queues[0].limit, .none)
        // Every CPU taken: no queue to add, the advice says so.
        var full = Self.settings
        full.cpus = 1
        XCTAssertEqual(Self.report([Load(packets: 6_400_000, batches: 100_000, busy: 0.97)], settings: full).advice.first?.knob, "cores")
    }

    func testKernelDropsForAFullRXRingAdviseALargerRing() {
        var roomy = Self.settings
        roomy.umemFrames = 16_384
        let r = Self.report([Load(packets: 50_000, batches: 5_000, busy: 0.3, flows: 10, rxRingFull: 1234)], settings: roomy)
        XCTAssertEqual(r.queues[0].limit, .rxRing)
        XCTAssertEqual(r.queues[0].rxRingFull, 1234)
        XCTAssertEqual(r.advice, [ScalingReport.Advice(rule: .rxRing, knob: "system dataplane rx-ring", value: "4096",
                                                        why: "the kernel dropped 1234 packets for queue 0 because its RX ring (2048) was full")])
        // With the default 8192 frames the larger ring needs more UMEM, advised with it.
        XCTAssertEqual(Self.report([Load(packets: 50_000, batches: 5_000, busy: 0.3, rxRingFull: 1)]).advice.map(\.knob),
                       ["system dataplane rx-ring", "system dataplane umem-frames"])
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
        let r = Self.report([Load(packets: 50_000, batches: 5_000, busy: 0.3, txFull: 9)])
        XCTAssertEqual(r.queues[0].limit, .tx)
        XCTAssertEqual(r.advice.map(\.knob), ["system dataplane tx-ring", "system dataplane umem-frames"])
        XCTAssertEqual(r.advice.map(\.value), ["4096", "16384"])
    }

    func testAnElephantFlowOnOneQueueAdvisesSteeringTheOthersAway() {
        let r = Self.report([Load(packets: 95_000, batches: 9_500, busy: 0.5, flows: 1),
                             Load(packets: 5_000, batches: 500, busy: 0.05, flows: 1, core: 1)])
        XCTAssertEqual(r.queues.map(\.limit), [.imbalance, .none])
        XCTAssertEqual(r.queues[0].packetShare, 0.95, accuracy: 1e-9)
        XCTAssertEqual(r.queues[0].flowShare, 0.5, accuracy: 1e-9)
        XCTAssertEqual(r.advice.map(\.knob), ["ethtool -X fw0 weight"])
        XCTAssertEqual(r.advice.map(\.value), ["1 2"])
        XCTAssertTrue(r.advice[0].why.contains("from 1 flow(s)"), r.advice[0].why)
    }

    /// A queue saturated by one flow: more queues would not split it, so the advice is the
    /// elephant's (steer the others away), not another queue.
    func testASaturatedElephantQueueIsNotAdvisedMoreQueues() {
        let r = Self.report([Load(busy: 0.0, core: 0), Load(packets: 6_300_000, batches: 100_000, busy: 0.996, flows: 1, rxRingFull: 152_082, core: 1)])
        XCTAssertEqual(r.queues.map(\.limit), [.idle, .cpu])
        XCTAssertEqual(r.advice.map(\.knob), ["ethtool -X fw0 weight", "system dataplane batch-size"])
        XCTAssertEqual(r.advice.first?.value, "2 1")
        XCTAssertEqual(r.verdict, "scaling: queue 1 cpu-bound (100% busy, 100% of packets, vectors 63.0)")
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

    func testWorkersAwayFromTheirInterfacesNodeAndInterruptsOnWorkerCoresAreNamed() {
        var nic = InterfaceFacts(name: "ens1f0", ifindex: 3)
        nic.numaNode = 1
        nic.nodeCPUs = [8, 9, 10]
        nic.interrupts = [InterruptPlacement(irq: 45, name: "ens1f0-TxRx-0", cpus: [2]),
                          InterruptPlacement(irq: 46, name: "ens1f0-TxRx-1", cpus: [8])]
        let r = Self.report([Load(busy: 0.01, core: 2, node: 0)], interfaces: [nic])
        XCTAssertEqual(r.advice.map(\.rule), [.numa, .interrupts])
        XCTAssertEqual(r.advice.map(\.knob), ["system dataplane workers queue 0 cpu", "/proc/irq/45/smp_affinity_list"])
        XCTAssertEqual(r.advice.map(\.value), ["8", "0"])
    }
}
