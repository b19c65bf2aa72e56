// The worker loop's parts that are not AF_XDP rings (issue 9 §1: the loop as types that
// tests drive): WorkerControl's between-batch steps — adopting or refusing a published
// configuration, FIB adoption, a clear sweep and its acknowledgement, ageing and the
// counters' publication — and ParkQueue, the frames waiting for a neighbour. Driven as
// Sources/Worker/main.swift drives them, over a region and the pipeline of queue 0.
import CXPF
@testable import Shared
import XCTest

final class WorkerLoopTests: XCTestCase {
    typealias F = Frames
    let fx = ShmTestFixture()
    var region: ShmRegion!
    var pipeline: Pipeline!
    var control: WorkerControl!
    var counters = WorkerCounters()
    /// A pass's clock: ns, advanced by the tests.
    var now: UInt64 = 1_000_000_000_000

    override func setUpWithError() throws {
        continueAfterFailure = false
        region = try fx.region("loop", queues: 1, interfaces: 2, sessionCapacity: 1024)
        try ForwardTests.setUpInterfaces(region)
        try region.publishConfig(ForwardTests.snapshot(udp: 60))
        try region.publishFIB { f in
            ForwardTests.fillFIB(f, gatewayKnown: false)
            ForwardTests.fillLANAddresses(f)
        }
        let (p, cf, ff) = try Pipeline.forWorker(region: region, queue: 0)
        pipeline = p
        control = WorkerControl(region: region, queue: 0, configFollower: cf, fibFollower: ff)
        counters = WorkerCounters()
    }

    override func tearDown() {
        pipeline = nil
        control = nil
        region = nil
        fx.removeAll()
        super.tearDown()
    }

    @discardableResult
    func pass(work: UInt32 = 0) -> Bool {
        let fibChanged = control.beginPass(now: now, realtimeNs: 1, pipeline: &pipeline, counters: &counters)
        control.endPass(now: now, work: work, pipeline: &pipeline, counters: &counters)
        return fibChanged
    }

    func send(_ frame: [UInt8], ingress: UInt8 = 0) -> PacketAction {
        var buf = frame + [UInt8](repeating: 0, count: ForwardTests.frameHeadroom)
        return buf.withUnsafeMutableBytes { pipeline.process(frame: $0.baseAddress!, length: frame.count, ingress: ingress, counters: &counters) }
    }

    func udp(_ sport: UInt16) -> [UInt8] {
        F.frame4(src: ForwardTests.client4, dst: ForwardTests.server4, proto: 17, l4: F.udp(sport, 5001, payload: [1, 2, 3]))
    }

    var seen: UInt64 { xpf_load_acquire_u64(xpf_wb_config_seen(region.worker(0))) }

    // MARK: WorkerControl

    func testAGenerationThatDoesNotValidateIsRefusedAndTheNextValidOneAdopted() throws {
        pass()
        XCTAssertEqual(pipeline.generation, 1)
        // Generation 2: a head whose section table another layout wrote.
        try region.publishConfig { $0.pointee.n_sections = 3 }
        pass()
        XCTAssertEqual(pipeline.generation, 1, "refused: still running generation 1")
        XCTAssertEqual(seen, 1, "a refused generation is not acknowledged")
        XCTAssertEqual(send(udp(40000)).kind, .transmit, "and forwarding under it")
        pass()
        XCTAssertEqual(pipeline.generation, 1, "refused once, not re-validated every pass")
        try region.publishConfig(ForwardTests.snapshot(udp: 5))
        pass()
        XCTAssertEqual(pipeline.generation, 3)
        XCTAssertEqual(seen, 3)
        XCTAssertEqual(pipeline.timeoutMs(proto: 17, tcpState: 0), 5_000, "the new generation's timeouts")
    }

    func testANewFIBIsAdoptedBetweenBatchesAndReported() throws {
        XCTAssertFalse(pass(), "nothing new")
        try region.publishFIB { ForwardTests.fillFIB($0, gatewayKnown: true) }
        XCTAssertTrue(pass(), "a new FIB: parked frames may resolve")
        XCTAssertEqual(pipeline.fib.snapshot.pointee.version, region.fibSnapshot.pointee.version)
        XCTAssertFalse(pass())
    }

    func testAClearIsSweptThenAcknowledged() throws {
        for port: UInt16 in 40001...40005 { XCTAssertEqual(send(udp(port)).kind, .transmit) }
        XCTAssertEqual(pipeline.partition.liveCount, 5)
        let block = region.worker(0)
        block.pointee.clear_filter = xpf_clear_filter()  // no condition: every session
        xpf_store_release_u64(xpf_wb_clear_requested(block), 1)
        pass()
        XCTAssertNil(control.clearing, "the partition fits one slice")
        XCTAssertEqual(pipeline.partition.liveCount, 0)
        XCTAssertEqual(xpf_load_acquire_u64(xpf_wb_clear_done(block)), 1)
        XCTAssertEqual(WorkerStatsIO.read(block).sessions_closed, 5, "published with the acknowledgement")
    }

    func testEndPassAgesSessionsAndPublishesTheCounters() throws {
        pipeline.nowMs = UInt32(truncatingIfNeeded: now / 1_000_000)
        XCTAssertEqual(send(udp(40010)).kind, .transmit)
        pass(work: 1)
        XCTAssertEqual(WorkerStatsIO.read(region.worker(0)).sessions_created, 1, "a pass with work publishes")
        now += 61_000_000_000  // past the UDP timeout (60 s)
        // Ageing is paced by the clock: a pass ages WorkerControl.ageBudget records per
        // millisecond since the last ageing, at most ageBudgetMax (the whole 1024-record
        // partition here, after 61 s).
        pass()
        XCTAssertEqual(pipeline.partition.liveCount, 0)
        XCTAssertEqual(WorkerStatsIO.read(region.worker(0)).sessions_closed, 1)
        // Passes within the same millisecond age nothing; then one millisecond's budget each.
        XCTAssertEqual(send(udp(40011)).kind, .transmit)
        let rec = try XCTUnwrap(SessionListing.all(region).first).id - 1
        region.sessionTable.records[rec].last_seen_ms = pipeline.nowMs &- 61_000  // long idle
        for _ in 0..<4 { pass() }
        XCTAssertEqual(pipeline.partition.liveCount, 1, "no millisecond passed: no ageing")
        for _ in 0..<(1024 / WorkerControl.ageBudget) {
            now += 1_000_000
            pass()
        }
        XCTAssertEqual(pipeline.partition.liveCount, 0, "aged within one sweep of a millisecond's budget per pass")
        XCTAssertEqual(xpf_load_relaxed_u64(xpf_wb_heartbeat(region.worker(0))), now, "the heartbeat")
    }

    /// A parked queue (issue 11 §6): xpfd's keeper takes the partition over from the
    /// stopped worker — a pipeline built as the worker's, counters continued from the
    /// published ones — and `housekeep` does the worker's between-batch work without it:
    /// adopts a new generation, sweeps a clear, ages and publishes, but counts no loop time
    /// and beats no heartbeat (no worker runs).
    func testAKeeperAdoptsClearsAndAgesAParkedPartitionWithoutLoopTime() throws {
        pipeline.nowMs = UInt32(truncatingIfNeeded: now / 1_000_000)
        for port: UInt16 in 40020...40022 { XCTAssertEqual(send(udp(port)).kind, .transmit) }
        pass(work: 3)
        let block = region.worker(0)
        let worker = WorkerStatsIO.read(block)
        let heartbeat = xpf_load_relaxed_u64(xpf_wb_heartbeat(block))
        // The worker is gone (reaped), killed between the two stores of a publication: its
        // counters' sequence is odd, which the keeper repairs as a restarted worker does.
        let seq = xpf_wb_stats_seq(block)!
        xpf_store_release_u64(seq, xpf_load_relaxed_u64(seq) | 1)
        let keeper = try PartitionKeeper(region: region, queue: 0)
        XCTAssertEqual(xpf_load_relaxed_u64(seq) & 1, 0, "the sequence even again before the keeper publishes")
        XCTAssertEqual(keeper.liveSessions, 3, "the partition's sessions, found by the keeper's scan")
        func housekeep() { keeper.pass(now: now, realtimeNs: 1) }
        try region.publishConfig(ForwardTests.snapshot(udp: 5))
        now += 1_000_000
        housekeep()
        XCTAssertEqual(keeper.generation, 2, "adopted at the start of the pass")
        XCTAssertEqual(seen, 2)
        // A clear of one session (its source port), swept and acknowledged as a worker does.
        var filter = xpf_clear_filter()
        filter.match = UInt32(XPF_CLEAR_SRC_PORT.rawValue)
        filter.sport = 40020
        block.pointee.clear_filter = filter
        xpf_store_release_u64(xpf_wb_clear_requested(block), xpf_load_relaxed_u64(xpf_wb_clear_requested(block)) + 1)
        now += 1_000_000
        housekeep()
        XCTAssertEqual(xpf_load_acquire_u64(xpf_wb_clear_done(block)), xpf_load_relaxed_u64(xpf_wb_clear_requested(block)))
        XCTAssertEqual(keeper.liveSessions, 2)
        // A generation the keeper refuses (xpfd validated it: corruption): it does nothing, not
        // even age under the generation it ran, whose slot is not protected for it.
        try region.publishConfig { $0.pointee.n_sections = 3 }
        now += 6_000_000_000  // past the UDP timeout (5 s)
        housekeep()
        XCTAssertEqual(keeper.generation, 2)
        XCTAssertEqual(keeper.liveSessions, 2, "refused: nothing aged")
        // A valid one: adopted, and the sessions past its UDP timeout (5 s) aged by the keeper.
        try region.publishConfig(ForwardTests.snapshot(udp: 5))
        now += 1_000_000
        housekeep()
        XCTAssertEqual(keeper.generation, 4)
        XCTAssertEqual(keeper.liveSessions, 0)
        let kept = WorkerStatsIO.read(block)
        XCTAssertEqual(xpf_load_relaxed_u64(seq) & 1, 0, "published under an even sequence: readers get consistent copies")
        XCTAssertEqual(kept.sessions_created, worker.sessions_created, "the worker's counts go on")
        XCTAssertEqual(kept.sessions_closed, worker.sessions_closed + 3)
        XCTAssertEqual(kept.loops, worker.loops, "no loop: a parked queue has no worker")
        XCTAssertEqual(kept.loop_busy_ns + kept.loop_idle_ns + kept.loop_spin_ns,
                       worker.loop_busy_ns + worker.loop_idle_ns + worker.loop_spin_ns)
        XCTAssertEqual(xpf_load_relaxed_u64(xpf_wb_heartbeat(block)), heartbeat, "no heartbeat")
        // Handed back for a worker, then taken over again: a detached keeper does nothing.
        keeper.detach()
        XCTAssertFalse(keeper.attached)
        XCTAssertNil(keeper.liveSessions)
        keeper.attach()
        XCTAssertEqual(keeper.liveSessions, 0)
    }

    /// Saturation accounting (issue 11 §1): with one clock read per pass, the time from a
    /// pass's read to the next pass's goes to what the earlier pass was — its measured
    /// sleep in poll() to idle, the rest to busy when it moved packets (RX work, or TX
    /// kicked or completed) or spin when it moved none — and every pass is counted.
    func testTheTimeBetweenPassesGoesToWhatTheEarlierPassWas() throws {
        pass(work: 3)  // the first pass: nothing before it to account
        XCTAssertEqual(counters.s.loops, 1)
        XCTAssertEqual(counters.s.loop_busy_ns + counters.s.loop_idle_ns + counters.s.loop_spin_ns, 0)
        now += 700
        pass()  // 700 ns of the busy pass; this one spins (no work, no sleep)
        now += 50
        _ = control.beginPass(now: now, realtimeNs: 1, pipeline: &pipeline, counters: &counters)
        control.endPass(now: now, work: 0, pipeline: &pipeline, counters: &counters)
        XCTAssertEqual(control.pass, .spin)
        control.slept(100_000_000)  // as the worker measures its poll()
        now += 100_000_030  // the 100 ms poll timeout, 30 ns of the pass around it
        pass(work: 1)
        now += 20
        pass()
        XCTAssertEqual(counters.s.loop_busy_ns, 720, "700 + 20")
        XCTAssertEqual(counters.s.loop_spin_ns, 80, "50 + the 30 ns of the sleeping pass outside poll()")
        XCTAssertEqual(counters.s.loop_idle_ns, 100_000_000)
        XCTAssertEqual(counters.s.loops, 5)
        XCTAssertEqual(WorkerStatsIO.read(region.worker(0)).loop_busy_ns, 700,
                       "published with the counters by the last pass with work (before its own 20 ns were known)")
    }

    /// A pass that took no packet but kicked or completed TX moved packets: busy. Time the
    /// worker did not run (a preemption, a CPU quota's throttling) goes to what the pass
    /// was doing, never to idle: idle is only the measured sleep.
    func testTXWorkIsBusyAndTimeNotRunningIsNeverIdle() throws {
        pass()
        now += 1_000
        _ = control.beginPass(now: now, realtimeNs: 1, pipeline: &pipeline, counters: &counters)
        control.endPass(now: now, work: 0, txWork: true, pipeline: &pipeline, counters: &counters)
        XCTAssertEqual(control.pass, .busy)
        control.slept(1_000_000)  // a 1 ms poll() while TX completions are awaited
        now += 250_000_000  // then throttled for the rest of a 250 ms period before the next pass
        pass()
        XCTAssertEqual(counters.s.loop_idle_ns, 1_000_000, "only the measured sleep")
        XCTAssertEqual(counters.s.loop_busy_ns, 249_000_000, "the throttled time of a pass that moved packets")
    }

    /// After a pass without packets the worker sleeps in poll() (the pass is idle), with a
    /// timeout by what waits; with `busy-poll` in the running configuration it does
    /// not sleep, and the pass counts as spin.
    func testAnIdleWorkerSleepsUnlessBusyPollIsSet() throws {
        pass()
        XCTAssertNil(control.idleSleep(work: 3, txOutstanding: false, parked: 0, pipeline: &pipeline), "a pass with packets goes on")
        XCTAssertEqual(control.idleSleep(work: 0, txOutstanding: false, parked: 0, pipeline: &pipeline), WorkerControl.pollIdleMs)
        XCTAssertEqual(control.idleSleep(work: 0, txOutstanding: false, parked: 2, pipeline: &pipeline), WorkerControl.pollParkedMs)
        XCTAssertEqual(control.idleSleep(work: 0, txOutstanding: true, parked: 2, pipeline: &pipeline), WorkerControl.pollTxOutstandingMs)
        let text = """
            system { dataplane { interfaces [ fw0 fw1 ]; batch-size 64; neighbor-hold-time 1000; busy-poll; } }
            \(ForwardTests.securityText)
            """
        try region.publishConfig(ConfigSnapshotImage(ConfigModel.load(text: text, file: "busy-poll").1))
        now += 1_000
        pass()  // adopts the busy-poll generation
        XCTAssertEqual(pipeline.generation, 2)
        let spinBefore = counters.s.loop_spin_ns, idleBefore = counters.s.loop_idle_ns
        XCTAssertNil(control.idleSleep(work: 0, txOutstanding: false, parked: 0, pipeline: &pipeline), "busy-poll: no sleep")
        XCTAssertEqual(control.pass, .spin)
        XCTAssertEqual(control.sleptNs, 0)
        now += 5_000
        pass()
        XCTAssertEqual(counters.s.loop_spin_ns - spinBefore, 5_000, "the idle pass's time is spin")
        XCTAssertEqual(counters.s.loop_idle_ns, idleBefore)
    }

    /// A worker SIGKILLed between a publication's two stores leaves its sequence odd; its
    /// successor makes it even before reading its base counters, so later publications are
    /// readable again (otherwise +1, +2 would keep it odd for ever).
    func testAWorkerKilledMidPublicationLeavesNoSequenceOdd() {
        let block = region.worker(0)
        counters.s.rx_packets = 41
        WorkerStatsIO.publish(block, &counters.s)
        var socket = xpf_worker_socket_stats()
        socket.rx_ring_full.0 = 7
        WorkerStatsIO.publishSocket(block, &socket)
        // Killed mid-update: each sequence odd (stats written, the closing store not made).
        let statsSeq = xpf_load_relaxed_u64(xpf_wb_stats_seq(block))
        xpf_store_relaxed_u64(xpf_wb_stats_seq(block), statsSeq + 1)
        xpf_wb_stats(block)!.pointee.rx_packets = 42
        let socketSeqp = WorkerStatsIO.socketSeq(block)
        xpf_store_relaxed_u64(socketSeqp, xpf_load_relaxed_u64(socketSeqp) + 1)
        let resumed = WorkerStatsIO.resume(block)
        XCTAssertEqual(xpf_load_relaxed_u64(xpf_wb_stats_seq(block)) & 1, 0)
        XCTAssertEqual(xpf_load_relaxed_u64(socketSeqp) & 1, 0)
        XCTAssertEqual(resumed.stats.rx_packets, 42, "the counters as the killed worker left them are the base")
        XCTAssertEqual(resumed.socket.rx_ring_full.0, 7)
        var next = resumed.stats
        next.rx_packets = 50
        WorkerStatsIO.publish(block, &next)
        XCTAssertEqual(xpf_load_relaxed_u64(xpf_wb_stats_seq(block)) & 1, 0, "a publication leaves the sequence even")
        XCTAssertEqual(WorkerStatsIO.read(block).rx_packets, 50)
    }

    // MARK: ParkQueue

    /// UMEM of four 2 KiB frames; frame k at k * 2048.
    static let frameSize = 2048
    let umem = UnsafeMutableRawPointer.allocate(byteCount: 4 * WorkerLoopTests.frameSize, alignment: 64)

    func place(_ frame: [UInt8], at k: Int) -> UInt64 {
        (umem + k * Self.frameSize).copyMemory(from: frame, byteCount: frame.count)
        return UInt64(k * Self.frameSize)
    }

    func testParkedFramesAskOncePerNextHopAndGoOutWhenItResolves() throws {
        defer { umem.deallocate() }
        pass()
        var queue = ParkQueue()
        var asked: [xpf_neigh_request] = [], staged: [(UInt8, UInt64, UInt32)] = [], freed: [UInt64] = []
        let nowMs = pipeline.nowMs
        // The gateway (10.10.2.254) is unknown: both frames wait for it.
        for (k, port) in [(0, 40020), (1, 40021)] {
            let f = F.frame4(src: ForwardTests.client4, dst: F.v4(8, 8, 8, 8), proto: 17, l4: F.udp(UInt16(port), 53, payload: [1]))
            let addr = place(f, at: k)
            var req = ParkRequest()
            let a = pipeline.process(frame: umem + Int(addr), length: f.count, ingress: 0, counters: &counters, park: &req)
            XCTAssertEqual(a.kind, .park)
            queue.park(addr: addr, len: UInt32(f.count), egress: a.egress, ingress: 0, request: req,
                       nowMs: nowMs, holdMs: 1000, counters: &counters, free: { freed.append($0) }, ask: { asked.append($0) })
        }
        XCTAssertEqual(queue.count, 2)
        XCTAssertEqual(asked.count, 1, "one request per next hop")
        XCTAssertEqual(withUnsafeBytes(of: asked[0].addr) { Array($0.prefix(4)) }, F.be32(F.v4(10, 10, 2, 254)))
        queue.service(nowMs: nowMs &+ 100, pipeline: &pipeline, umem: umem, counters: &counters,
                      stage: { staged.append(($0, $1, $2)) }, free: { freed.append($0) }, ask: { asked.append($0) })
        XCTAssertEqual(queue.count, 2)
        XCTAssertEqual(asked.count, 1, "asked again only after \(ParkQueue.reaskMs) ms")
        queue.service(nowMs: nowMs &+ ParkQueue.reaskMs, pipeline: &pipeline, umem: umem, counters: &counters,
                      stage: { staged.append(($0, $1, $2)) }, free: { freed.append($0) }, ask: { asked.append($0) })
        XCTAssertEqual(asked.count, 3, "each waiting frame asks again")
        try region.publishFIB { ForwardTests.fillFIB($0, gatewayKnown: true) }
        XCTAssertTrue(pass())
        queue.service(nowMs: nowMs &+ 300, pipeline: &pipeline, umem: umem, counters: &counters,
                      stage: { staged.append(($0, $1, $2)) }, free: { freed.append($0) }, ask: { asked.append($0) })
        XCTAssertEqual(queue.count, 0)
        XCTAssertEqual(staged.map(\.0), [1, 1], "both out of the WAN interface")
        XCTAssertEqual(Set(staged.map(\.1)), [0, UInt64(Self.frameSize)])
        XCTAssertEqual(Array(UnsafeRawBufferPointer(start: umem, count: 6)), F.gatewayMAC, "rewritten for the gateway")
        XCTAssertEqual(counters.s.neigh_parked, 2)
        XCTAssertEqual(counters.s.neigh_sent, 2)
        XCTAssertTrue(freed.isEmpty)
    }

    func testAFrameNeverResolvedIsDroppedAtItsDeadlineAndItsSenderTold() throws {
        defer { umem.deallocate() }
        pass()
        var queue = ParkQueue()
        var staged: [(UInt8, UInt64, UInt32)] = []
        let f = F.frame4(src: ForwardTests.client4, dst: F.v4(8, 8, 4, 4), proto: 17, l4: F.udp(40030, 53, payload: [1]))
        _ = place(f, at: 0)
        var park = ParkRequest()
        let a = pipeline.process(frame: umem, length: f.count, ingress: 0, counters: &counters, park: &park)
        XCTAssertEqual(a.kind, .park)
        let t0 = pipeline.nowMs
        queue.park(addr: 0, len: UInt32(f.count), egress: a.egress, ingress: 0, request: park, nowMs: t0, holdMs: 1000,
                   counters: &counters, free: { _ in XCTFail("not freed: answered") }, ask: { _ in })
        queue.service(nowMs: t0 &+ 999, pipeline: &pipeline, umem: umem, counters: &counters,
                      stage: { staged.append(($0, $1, $2)) }, free: { _ in }, ask: { _ in })
        XCTAssertEqual(queue.count, 1)
        queue.service(nowMs: t0 &+ 1000, pipeline: &pipeline, umem: umem, counters: &counters,
                      stage: { staged.append(($0, $1, $2)) }, free: { _ in XCTFail("answered, not freed") }, ask: { _ in })
        XCTAssertEqual(queue.count, 0)
        XCTAssertEqual(counters.s.drops.2, 1, "neigh_timeout")
        XCTAssertEqual(staged.count, 1)
        XCTAssertEqual(staged[0].0, 0, "a host unreachable back out of the ingress")
        let reply = Array(UnsafeRawBufferPointer(start: umem, count: Int(staged[0].2)))
        XCTAssertEqual(reply[23], 1, "ICMP")
        XCTAssertEqual([reply[34], reply[35]], [3, 1], "host unreachable")
    }

    func testAFullQueueDropsTheNewFrame() {
        defer { umem.deallocate() }
        var queue = ParkQueue()
        var req = ParkRequest()
        req.family = 4
        var freed: [UInt64] = []
        for k in 0..<ParkQueue.capacity {
            req.nexthop.src.0 = UInt8(truncatingIfNeeded: k)
            queue.park(addr: UInt64(k), len: 60, egress: 1, ingress: 0, request: req, nowMs: 0, holdMs: 1000,
                       counters: &counters, free: { freed.append($0) }, ask: { _ in })
        }
        queue.park(addr: 9999, len: 60, egress: 1, ingress: 0, request: req, nowMs: 0, holdMs: 1000,
                   counters: &counters, free: { freed.append($0) }, ask: { _ in })
        XCTAssertEqual(queue.count, ParkQueue.capacity)
        XCTAssertEqual(freed, [9999])
        XCTAssertEqual(counters.s.drops.3, 1, "neigh_queue_full")
    }
}
