import XCTest
import CXPF
@testable import Shared

// Tests for Sources/Shared/Shm/Generations.swift: snapshot publication by atomic swap
// and slot protection by the generations workers have seen. Workers are
// simulated by writing their block's state and seen generations through the
// xpf_wb_* accessors, as a worker process does.

final class GenerationTests: XCTestCase {
    let fx = ShmTestFixture()

    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    override func tearDown() {
        fx.removeAll()
        super.tearDown()
    }

    private func setWorker(_ r: ShmRegion, _ q: Int, _ state: xpf_worker_state, config: UInt64? = nil, fib: UInt64? = nil) {
        let w = r.worker(q)
        if let config { xpf_store_release_u64(xpf_wb_config_seen(w), config) }
        if let fib { xpf_store_release_u64(xpf_wb_fib_seen(w), fib) }
        xpf_store_release_u32(xpf_wb_state(w), UInt32(state.rawValue))
    }

    /// Publishes a config whose timeout_udp carries a marker; returns the generation.
    @discardableResult
    private func publish(_ r: ShmRegion, marker: UInt32) throws -> UInt64 {
        try r.publishConfig { $0.pointee.timeout_udp = marker; $0.pointee.batch_size = 32 }
    }

    func testPublishConfigBumpsGenerationAndWritesTheSlot() throws {
        let r = try fx.region("pubcfg", queues: 2)
        XCTAssertEqual(r.current(.config).generation, 0)
        XCTAssertEqual(r.configCurrentWord.pointee, 0)
        // Garbage in the slot about to be used: publishing zeroes the whole slot first.
        UnsafeMutableRawPointer(r.configSlot(0)).initializeMemory(as: UInt8.self, repeating: 0xAB, count: ShmGeometry.configSlotSize)
        let g1 = try r.publishConfig { s in
            s.pointee.batch_size = 48
            s.pointee.timeout_udp = 60
            s.pointee.neigh_hold_ms = 1000
        }
        XCTAssertEqual(g1, 1)
        let c1 = r.current(.config)
        XCTAssertEqual(c1.generation, 1)
        XCTAssertEqual(c1.slot, 0)
        XCTAssertEqual(r.configCurrentWord.pointee, 1 << 8 | 0, "word = generation << 8 | slot")
        let s = r.configSnapshot.pointee
        XCTAssertEqual(s.generation, 1, "the slot carries its generation")
        XCTAssertEqual(s.batch_size, 48)
        XCTAssertEqual(s.timeout_udp, 60)
        XCTAssertEqual(s.neigh_hold_ms, 1000)
        XCTAssertEqual(s.timeout_tcp_established, 0, "fields the filler did not write are zero")
        let tail = UnsafeRawPointer(r.configSlot(0)) + ShmGeometry.configSlotSize - 1
        XCTAssertEqual(tail.load(as: UInt8.self), 0, "the whole slot is cleared, not only the struct")

        let g2 = try publish(r, marker: 2)
        XCTAssertEqual(g2, 2)
        XCTAssertEqual(r.current(.config).generation, 2)
        XCTAssertNotEqual(r.current(.config).slot, 0, "a new generation never goes into the published slot")
        XCTAssertEqual(r.configSnapshot.pointee.timeout_udp, 2)
        XCTAssertEqual(r.configSlot(0).pointee.timeout_udp, 60, "the previous generation stays intact")
        XCTAssertEqual(r.current(.fib).generation, 0, "config and FIB count separately")
    }

    func testWorkerRefusesAnInvalidSnapshotAndKeepsItsGeneration() throws {
        // A head-only snapshot (no section table) does not validate: a worker following
        // the word must refuse it, keep its generation as seen (so its slot stays
        // protected), not report it again, and adopt the next valid one.
        let r = try fx.region("refuse", queues: 1)
        setWorker(r, 0, XPF_WORKER_RUNNING)
        let model = try ConfigModel.load(text: "system { dataplane { interfaces [ fw0 fw1 ]; } }", file: "t").1
        try r.publishConfig(ConfigSnapshotImage(model))
        var f = SnapshotFollower(word: r.configCurrentWord, seen: xpf_wb_config_seen(r.worker(0)))
        let s1 = try XCTUnwrap(f.peek())
        XCTAssertNoThrow(try r.configView(slot: s1).validate())
        f.acknowledge()
        XCTAssertEqual(r.worker(0).pointee.config_generation_seen, 1)

        try r.publishConfig { $0.pointee.batch_size = 64 }  // invalid: no sections
        let s2 = try XCTUnwrap(f.peek())
        XCTAssertThrowsError(try r.configView(slot: s2).validate())
        f.refuse()
        XCTAssertEqual(f.pendingGeneration, 2)
        XCTAssertEqual(f.generation, 1, "the worker keeps running generation 1")
        XCTAssertEqual(r.worker(0).pointee.config_generation_seen, 1, "a refused generation is not acknowledged")
        XCTAssertNil(f.peek(), "a refused word is not offered again")
        XCTAssertNotEqual(r.freeSlot(.config), s1, "the running slot stays protected")

        try r.publishConfig(ConfigSnapshotImage(model))
        let s3 = try XCTUnwrap(f.peek())
        XCTAssertNoThrow(try r.configView(slot: s3).validate())
        f.acknowledge()
        XCTAssertEqual(f.generation, 3)
        XCTAssertEqual(r.worker(0).pointee.config_generation_seen, 3)
    }

    func testPublishFIBBumpsVersion() throws {
        let r = try fx.region("pubfib", queues: 1)
        let v1 = try r.publishFIB { f in
            f.pointee.n_routes = 1
            f.pointee.routes.0.family = 4
            f.pointee.routes.0.prefix_len = 24
        }
        XCTAssertEqual(v1, 1)
        XCTAssertEqual(r.current(.fib).generation, 1)
        XCTAssertEqual(r.fibSnapshot.pointee.version, 1)
        XCTAssertEqual(r.fibSnapshot.pointee.n_routes, 1)
        XCTAssertEqual(r.fibSnapshot.pointee.routes.0.prefix_len, 24)
        // A filler that writes nothing leaves an empty FIB (counts reset), not the slot's old contents.
        r.fibSlot(1).pointee.n_routes = 77
        r.fibSlot(1).pointee.n_neigh = 77
        let v2 = try r.publishFIB { _ in }
        XCTAssertEqual(v2, 2)
        XCTAssertEqual(r.current(.fib).slot, 1)
        XCTAssertEqual(r.fibSnapshot.pointee.version, 2)
        XCTAssertEqual(r.fibSnapshot.pointee.n_routes, 0)
        XCTAssertEqual(r.fibSnapshot.pointee.n_neigh, 0)
        XCTAssertEqual(r.fibCurrentWord.pointee, 2 << 8 | 1)
        XCTAssertEqual(r.current(.config).generation, 0)
    }

    /// Four slots; one worker stuck at generation 1 keeps slot(gen 1) and every newer one.
    /// Publishing fails once every other slot is in use, and works again once the worker
    /// moves on.
    func testLaggingWorkerKeepsItsSlotsProtected() throws {
        let r = try fx.region("lag", queues: 2)
        XCTAssertEqual(Int(XPF_CONFIG_SLOTS), 4)
        setWorker(r, 0, XPF_WORKER_RUNNING, config: 0)
        setWorker(r, 1, XPF_WORKER_RUNNING, config: 0)
        XCTAssertEqual(r.oldestSeen(.config), 0)

        try publish(r, marker: 1)          // gen 1 → slot 0 (empty slots are always free)
        XCTAssertEqual(r.current(.config).slot, 0)
        setWorker(r, 0, XPF_WORKER_RUNNING, config: 1)  // worker 0 runs gen 1, then stops following
        setWorker(r, 1, XPF_WORKER_RUNNING, config: 1)
        for g in UInt64(2)...4 {
            XCTAssertEqual(try publish(r, marker: UInt32(g)), g)
            setWorker(r, 1, XPF_WORKER_RUNNING, config: g)  // worker 1 keeps up
        }
        XCTAssertEqual((0..<4).map { r.configSlot($0).pointee.generation }, [1, 2, 3, 4])
        XCTAssertEqual(r.oldestSeen(.config), 1)
        XCTAssertNil(r.freeSlot(.config), "slot 0 holds gen 1 (in use), 1-2 are newer than 1, 3 is published")

        XCTAssertThrowsError(try publish(r, marker: 5)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("no free config slot") && text.contains("generation 1"), text)
        }
        XCTAssertEqual(r.current(.config).generation, 4, "a failed publish changes nothing")
        XCTAssertEqual((0..<4).map { r.configSlot($0).pointee.timeout_udp }, [1, 2, 3, 4], "no slot was overwritten")

        // The stuck worker reaches gen 3: gens 1 and 2 are now older than anything live.
        setWorker(r, 0, XPF_WORKER_RUNNING, config: 3)
        XCTAssertEqual(r.oldestSeen(.config), 3)
        XCTAssertEqual(try publish(r, marker: 5), 5)
        XCTAssertEqual(r.current(.config).slot, 0, "the lowest free slot is reused")
        XCTAssertEqual(try publish(r, marker: 6), 6)
        XCTAssertEqual(r.current(.config).slot, 1)
        XCTAssertEqual(r.configSlot(2).pointee.timeout_udp, 3, "gen 3 is still protected (worker 0 runs it)")
        XCTAssertThrowsError(try publish(r, marker: 7), "gen 3 in use, gen 4 newer, gen 6 published, gen 5 newer")
        setWorker(r, 0, XPF_WORKER_RUNNING, config: 6)
        setWorker(r, 1, XPF_WORKER_RUNNING, config: 6)
        XCTAssertEqual(try publish(r, marker: 7), 7)
        XCTAssertEqual(r.current(.config).slot, 0, "slots held gens 5, 6, 3, 4: the lowest free one (gen 5) is reused")
        XCTAssertEqual(r.configSnapshot.pointee.timeout_udp, 7)
    }

    func testStartingWorkerProtectsButExitedAndFailedDoNot() throws {
        let r = try fx.region("exited", queues: 3)
        setWorker(r, 2, XPF_WORKER_RUNNING, config: 0)  // seen 0: only empty slots are free
        for g in UInt64(1)...4 { try publish(r, marker: UInt32(g)) }
        XCTAssertEqual((0..<4).map { r.configSlot($0).pointee.generation }, [1, 2, 3, 4])
        XCTAssertThrowsError(try publish(r, marker: 5))
        // Worker 0 stuck at generation 1 but EXITED, worker 1 FAILED at 1, worker 2 EXITED at 0.
        setWorker(r, 0, XPF_WORKER_EXITED, config: 1)
        setWorker(r, 1, XPF_WORKER_FAILED, config: 1)
        setWorker(r, 2, XPF_WORKER_EXITED)
        XCTAssertEqual(r.oldestSeen(.config), UInt64.max, "no live worker")
        XCTAssertEqual(try publish(r, marker: 5), 5, "dead workers hold no slot")
        XCTAssertEqual(r.current(.config).slot, 0)
        // A STARTING worker (spawned, not yet running) still protects what it saw.
        setWorker(r, 2, XPF_WORKER_STARTING, config: 2)
        XCTAssertEqual(r.oldestSeen(.config), 2)
        // Slots: [5, 2, 3, 4]; current 0. Gens 2, 3, 4 are >= 2: protected.
        XCTAssertThrowsError(try publish(r, marker: 6))
        setWorker(r, 2, XPF_WORKER_EXITED)
        XCTAssertEqual(try publish(r, marker: 6), 6)
        XCTAssertEqual(r.current(.config).slot, 1)
    }

    func testConfigAndFIBProtectionAreIndependent() throws {
        let r = try fx.region("indep", queues: 1)
        setWorker(r, 0, XPF_WORKER_RUNNING, config: 0, fib: 0)
        try publish(r, marker: 1)
        setWorker(r, 0, XPF_WORKER_RUNNING, config: 1)  // stuck at config 1 from here on
        for g in 2...4 { try publish(r, marker: UInt32(g)) }
        XCTAssertThrowsError(try publish(r, marker: 5))
        // The FIB follows its own seen version: a worker current on the FIB does not block it.
        for v in UInt64(1)...10 {
            XCTAssertEqual(try r.publishFIB { $0.pointee.n_routes = UInt32(v) }, v)
            setWorker(r, 0, XPF_WORKER_RUNNING, fib: v)
        }
        XCTAssertEqual(r.fibSnapshot.pointee.n_routes, 10)
        // A follower that keeps up makes the publisher alternate between two slots.
        XCTAssertEqual((0..<4).map { r.fibSlot($0).pointee.version }, [9, 10, 0, 0])
        // A worker stuck on FIB version 10 blocks FIB publication once all four slots
        // hold versions >= 10 — and blocks nothing on the config side.
        setWorker(r, 0, XPF_WORKER_RUNNING, config: 4, fib: 10)
        for v in UInt64(11)...13 { XCTAssertEqual(try r.publishFIB { _ in }, v) }
        XCTAssertEqual((0..<4).map { r.fibSlot($0).pointee.version }, [11, 10, 12, 13])
        XCTAssertThrowsError(try r.publishFIB { _ in }) { e in
            XCTAssertTrue("\(e)".contains("no free fib slot") && "\(e)".contains("generation 10"), "\(e)")
        }
        XCTAssertEqual(try publish(r, marker: 5), 5)
    }

    func testSnapshotFollowerReturnsSlotOncePerChangeAndStoresSeen() throws {
        let r = try fx.region("follow", queues: 1)
        let w = r.worker(0)
        xpf_store_release_u64(xpf_wb_config_seen(w), 999)  // stale value from a previous incarnation
        var f = SnapshotFollower(word: r.configCurrentWord, seen: xpf_wb_config_seen(w))
        // First poll always reports (a starting worker adopts whatever is published).
        XCTAssertEqual(f.poll(), 0)
        XCTAssertEqual(f.generation, 0)
        XCTAssertEqual(w.pointee.config_generation_seen, 0, "seen is overwritten with what the worker now runs")
        XCTAssertNil(f.poll(), "no change, no report")

        try publish(r, marker: 1)
        XCTAssertEqual(w.pointee.config_generation_seen, 0, "seen moves only when the worker polls")
        let s1 = f.poll()
        XCTAssertEqual(s1, r.current(.config).slot)
        XCTAssertEqual(f.generation, 1)
        XCTAssertEqual(w.pointee.config_generation_seen, 1)
        XCTAssertEqual(r.configSlot(s1!).pointee.timeout_udp, 1)
        XCTAssertNil(f.poll())
        XCTAssertNil(f.poll())

        // Two publications between polls: one report, of the latest.
        try publish(r, marker: 2)
        try publish(r, marker: 3)
        let s3 = f.poll()
        XCTAssertEqual(s3, r.current(.config).slot)
        XCTAssertEqual(f.generation, 3)
        XCTAssertEqual(w.pointee.config_generation_seen, 3)
        XCTAssertEqual(r.configSlot(s3!).pointee.timeout_udp, 3)
        XCTAssertNil(f.poll())

        // The FIB follower writes fib_version_seen, not the config one.
        var ff = SnapshotFollower(word: r.fibCurrentWord, seen: xpf_wb_fib_seen(w))
        try r.publishFIB { $0.pointee.n_neigh = 3 }
        XCTAssertEqual(ff.poll(), r.current(.fib).slot)
        XCTAssertEqual(w.pointee.fib_version_seen, 1)
        XCTAssertEqual(w.pointee.config_generation_seen, 3)
    }

    /// A worker following with SnapshotFollower never blocks publication, however many
    /// generations go by; one that stops polling blocks it after three more.
    func testFollowingWorkerNeverBlocksAndStoppedOneDoesAfterThree() throws {
        let r = try fx.region("follow2", queues: 1)
        let w = r.worker(0)
        var f = SnapshotFollower(word: r.configCurrentWord, seen: xpf_wb_config_seen(w))
        _ = f.poll()
        xpf_store_release_u32(xpf_wb_state(w), UInt32(XPF_WORKER_RUNNING.rawValue))
        for g in UInt64(1)...50 {
            XCTAssertEqual(try publish(r, marker: UInt32(g)), g)
            let s = f.poll()
            XCTAssertNotNil(s)
            XCTAssertEqual(r.configSlot(s!).pointee.timeout_udp, UInt32(g), "the slot the worker switched to holds gen \(g)")
        }
        // A follower that keeps up makes the publisher alternate between slots 0 and 1.
        XCTAssertEqual((0..<4).map { r.configSlot($0).pointee.generation }, [49, 50, 0, 0])
        // Worker stops polling at 50: 51, 52, 53 fit (the slot of 49, then the unused two), 54 does not.
        for g in UInt64(51)...53 { XCTAssertEqual(try publish(r, marker: UInt32(g)), g) }
        XCTAssertThrowsError(try publish(r, marker: 54))
        XCTAssertEqual(r.configSlot(f.poll()!).pointee.timeout_udp, 53)
        XCTAssertEqual(try publish(r, marker: 54), 54)
    }

    // MARK: threads (what the thread sanitizer checks)

    /// Generations the publisher thread writes, follower threads, how many polls the
    /// lagging follower holds each generation for, and the time the whole test may take.
    static let threadedGenerations: UInt64 = 400
    static let threadedFollowers = 3
    static let lagPolls = 32
    static let threadedDeadlineNanos: UInt64 = 60_000_000_000

    /// What the test's publisher writes into generation g's slot: head fields, and a word
    /// at the end of the 1 MiB slot, so a follower that sees the head and the tail agree
    /// has read a complete snapshot. `generation` itself is written by `publishConfig`.
    struct Stamp: Equatable {
        var generation: UInt64
        var commitNs: UInt64
        var timeoutUDP: UInt32
        var timeoutOther: UInt32
        var batchSize: UInt32
        var tail: UInt64

        static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15
        static let tailOffset = ShmGeometry.configSlotSize - MemoryLayout<UInt64>.size
        static let batchSizes: UInt64 = 64

        static func expected(_ g: UInt64) -> Stamp {
            Stamp(generation: g, commitNs: g &* golden, timeoutUDP: UInt32(truncatingIfNeeded: g),
                  timeoutOther: ~UInt32(truncatingIfNeeded: g), batchSize: UInt32(g % batchSizes) + 1,
                  tail: g ^ golden)
        }

        /// Writes every field but `generation` (publishConfig's fill).
        static func write(_ g: UInt64, into p: UnsafeMutablePointer<xpf_config_snapshot>) {
            let s = expected(g)
            p.pointee.commit_realtime_ns = s.commitNs
            p.pointee.timeout_udp = s.timeoutUDP
            p.pointee.timeout_other = s.timeoutOther
            p.pointee.batch_size = s.batchSize
            UnsafeMutableRawPointer(p).storeBytes(of: s.tail, toByteOffset: tailOffset, as: UInt64.self)
        }

        static func read(_ p: UnsafeMutablePointer<xpf_config_snapshot>) -> Stamp {
            Stamp(generation: p.pointee.generation, commitNs: p.pointee.commit_realtime_ns,
                  timeoutUDP: p.pointee.timeout_udp, timeoutOther: p.pointee.timeout_other,
                  batchSize: p.pointee.batch_size,
                  tail: UnsafeRawPointer(p).load(fromByteOffset: tailOffset, as: UInt64.self))
        }
    }

    /// What one follower thread saw.
    struct FollowerResult {
        var adopted = 0            // generations switched to
        var last: UInt64 = 0       // the last generation adopted
        var incomplete = 0         // a new slot whose contents were not its generation's
        var backwards = 0          // a generation not newer than the one before
        var rewritten = 0          // the held slot changed while the follower ran it
    }

    /// A publisher thread commits generations (plain writes into a free slot, as
    /// `publishConfig` does) while follower threads adopt them with SnapshotFollower's
    /// peek / acknowledge, check each new slot is complete and its generation's, and keep
    /// re-reading the slot they run: it must never change under them. The followers start
    /// only once the publisher has been refused a slot (registered workers that have seen
    /// nothing protect every generation, so generations 2 to 4 fill the slots): the refusal
    /// and the retry that follows are part of every run, not left to the scheduler. One
    /// follower lags (holds each generation for a while) throughout. Under the thread sanitizer a relaxed load of the published
    /// word in `peek` is reported as a race on the slot (tried); a relaxed store of the
    /// seen generation in `acknowledge` was not reported in this test (tried), so that
    /// edge rests on the protocol's model, not on TSan.
    func testThreadsPublishAndFollowWithoutTornOrRewrittenSlots() throws {
        let r = try fx.region("threads", queues: Self.threadedFollowers)
        let last = Self.threadedGenerations
        let deadline = monotonicNanos() + Self.threadedDeadlineNanos
        // xpfd's start-up order: workers are registered and generation 1 is published
        // before any worker follows.
        for q in 0..<Self.threadedFollowers { setWorker(r, q, XPF_WORKER_RUNNING, config: 0) }
        XCTAssertEqual(try r.publishConfig { Stamp.write(1, into: $0) }, 1)

        let results = UnsafeMutablePointer<FollowerResult>.allocate(capacity: Self.threadedFollowers)
        results.initialize(repeating: FollowerResult(), count: Self.threadedFollowers)
        defer { results.deallocate() }
        var published: UInt64 = 1   // written by the publisher thread, read after join
        var busy = 0                // publications refused for want of a free slot
        // Set (release) by the publisher at its first refusal; followers wait for it (acquire).
        let refused = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        refused.initialize(to: 0)
        defer { refused.deallocate() }

        let followers = (0..<Self.threadedFollowers).map { q in
            JoinableThread {
                var f = SnapshotFollower(word: r.configCurrentWord, seen: xpf_wb_config_seen(r.worker(q)))
                var res = FollowerResult()
                var held: (slot: Int, stamp: Stamp)?
                let holdPolls = q == 0 ? Self.lagPolls : 1
                while xpf_load_acquire_u64(refused) == 0 && monotonicNanos() < deadline { sched_yield() }
                while res.last < last && monotonicNanos() < deadline {
                    for _ in 0..<holdPolls {
                        if let h = held, Stamp.read(r.configSlot(h.slot)) != h.stamp { res.rewritten += 1 }
                        sched_yield()
                    }
                    guard let s = f.peek() else { continue }
                    let g = f.pendingGeneration
                    if Stamp.read(r.configSlot(s)) != .expected(g) { res.incomplete += 1 }
                    if g <= res.last { res.backwards += 1 }
                    f.acknowledge()  // from here on the old slot is the publisher's again
                    held = (s, .expected(g))
                    res.adopted += 1
                    res.last = g
                }
                results[q] = res
            }
        }
        let publisher = JoinableThread {
            var next = published + 1
            while next <= last && monotonicNanos() < deadline {
                do {
                    let g = try r.publishConfig { Stamp.write(next, into: $0) }
                    guard g == next else { break }  // out of sequence: stop, and the count check fails
                    next += 1
                } catch {
                    busy += 1
                    xpf_store_release_u64(refused, 1)
                    sched_yield()
                }
            }
            published = next - 1
        }
        publisher.join()
        for t in followers { t.join() }

        XCTAssertEqual(published, last, "every generation was published before the deadline")
        XCTAssertGreaterThan(busy, 0, "the publisher was refused a slot and waited for the followers")
        for q in 0..<Self.threadedFollowers {
            let res = results[q]
            XCTAssertEqual(res.last, last, "follower \(q) reached the last generation")
            XCTAssertGreaterThan(res.adopted, 0)
            XCTAssertEqual(res.incomplete, 0, "follower \(q): every adopted slot held its whole generation")
            XCTAssertEqual(res.backwards, 0, "follower \(q): generations only move forward")
            XCTAssertEqual(res.rewritten, 0, "follower \(q): no slot was rewritten while it ran it")
            XCTAssertEqual(r.worker(q).pointee.config_generation_seen, last)
        }
    }
}
