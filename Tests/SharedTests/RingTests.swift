import XCTest
import CXPF
@testable import Shared

// Tests for Sources/Shared/Shm/Ring.swift: the SPSC rings in shared memory.
// Each test builds an `xpf_ring_hdr` plus an entry array on the heap, exactly as a
// worker block lays them out, and drives RingProducer / RingConsumer over it.

/// A heap ring: header + `size` entries. Deallocates in deinit.
fileprivate final class HeapRing<Entry> {
    let hdr: UnsafeMutablePointer<xpf_ring_hdr>
    let entries: UnsafeMutablePointer<Entry>
    let size: UInt32

    /// Every entry starts as `filler`, so a read of a never-written slot shows.
    init(size: UInt32, start: UInt32 = 0, filler: Entry) {
        self.size = size
        hdr = .allocate(capacity: 1)
        hdr.initialize(to: xpf_ring_hdr())
        hdr.pointee.size = size
        hdr.pointee.entry_size = UInt32(MemoryLayout<Entry>.stride)
        hdr.pointee.producer = start
        hdr.pointee.consumer = start
        entries = .allocate(capacity: Int(size))
        entries.initialize(repeating: filler, count: Int(size))
    }

    deinit {
        hdr.deallocate()
        entries.deallocate()
    }

    var producerIndex: UInt32 { hdr.pointee.producer }
    var consumerIndex: UInt32 { hdr.pointee.consumer }
    /// Fill level as another process sees it: published producer - published consumer.
    var fill: UInt32 { producerIndex &- consumerIndex }
    var dropped: UInt64 { hdr.pointee.dropped }

    func producer() -> RingProducer<Entry> { RingProducer(header: hdr, entries: entries) }
    func consumer() -> RingConsumer<Entry> { RingConsumer(header: hdr, entries: entries) }
}

extension HeapRing where Entry == UInt64 {
    static let unwritten: UInt64 = 0xDEAD_DEAD_DEAD_DEAD

    convenience init(size: UInt32, start: UInt32 = 0) {
        self.init(size: size, start: start, filler: Self.unwritten)
    }
}

/// Pops until the ring is empty, but never more than `limit` + 1 entries: a broken ring
/// that never runs dry fails the caller's comparison instead of looping forever.
fileprivate func popAll<Entry>(_ c: inout RingConsumer<Entry>, limit: Int) -> [Entry] {
    var got: [Entry] = []
    while got.count <= limit, let v = c.pop() { got.append(v) }
    return got
}

/// A ring entry with plain (non-atomic) payload fields, like a neighbour request: only
/// the ring's release/acquire pair orders the producer's writes before the consumer's reads.
fileprivate struct RingTestEntry: Equatable {
    var sequence: UInt64
    var check: UInt64
    var position: UInt32
    var length: UInt16
    var flags: UInt16

    static let unwritten = RingTestEntry(sequence: .max, check: 0, position: .max, length: 0, flags: 0)
    static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// The entry the producer writes as number `sequence` of wrap position `position`.
    static func make(_ sequence: UInt64, position: UInt32) -> RingTestEntry {
        RingTestEntry(sequence: sequence, check: sequence &* golden ^ UInt64(position),
                      position: position, length: UInt16(truncatingIfNeeded: sequence),
                      flags: UInt16(truncatingIfNeeded: sequence >> 16) ^ 0xA5A5)
    }
}

/// A thread that runs `body` once and is joined with pthread_join, an edge the thread
/// sanitizer sees (a semaphore's wake-up it may not). Shared by RingTests and GenerationTests.
final class JoinableThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }
    private var thread = pthread_t()
    private var joined = false

    init(_ body: @escaping () -> Void) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let r = pthread_create(&thread, nil, { context in
            // Safe: the pointer is the Body retained above, released exactly once here.
            Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        precondition(r == 0, "pthread_create: \(r)")
    }

    /// Waits for the thread to finish. Bodies end at their own deadline, so this is bounded.
    func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }

    deinit { join() }
}

extension XCTestCase {
    /// Whether the running test has recorded a failure. swift-corelibs-xctest (Linux)
    /// ignores `continueAfterFailure = false`, so loops of many checks also stop on this
    /// (`for … where !hasFailed`): a broken build reports a few failures, not thousands.
    var hasFailed: Bool { (testRun?.totalFailureCount ?? 0) > 0 }
}

final class RingTests: XCTestCase {
    static let size: UInt32 = 8

    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    func testHeaderLayoutMatchesABI() {
        XCTAssertEqual(MemoryLayout<xpf_ring_hdr>.size, 192)
        XCTAssertEqual(MemoryLayout<xpf_ring_hdr>.offset(of: \xpf_ring_hdr.consumer), 64)
        XCTAssertEqual(MemoryLayout<xpf_ring_hdr>.offset(of: \xpf_ring_hdr.size), 128)
    }

    func testPushPopPreservesOrderAndPublishesIndices() {
        let r = HeapRing(size: Self.size)
        var p = r.producer()
        var c = r.consumer()
        XCTAssertNil(c.pop(), "an empty ring yields nothing")
        for v in UInt64(1)...5 {
            XCTAssertTrue(p.push(v * 11))
            XCTAssertEqual(r.producerIndex, UInt32(v), "push publishes the producer index at once")
            XCTAssertEqual(r.consumerIndex, 0)
        }
        XCTAssertEqual(r.fill, 5)
        for v in UInt64(1)...5 {
            XCTAssertEqual(c.pop(), v * 11)
            XCTAssertEqual(r.consumerIndex, UInt32(v), "pop publishes the consumer index at once")
        }
        XCTAssertNil(c.pop())
        XCTAssertEqual(r.fill, 0)
        XCTAssertEqual(r.dropped, 0)
        // Entries live at index & mask.
        for i in 0..<5 { XCTAssertEqual(r.entries[i], UInt64(i + 1) * 11) }
    }

    func testFullRingRefusesAndCountsDropped() {
        let r = HeapRing(size: Self.size)
        var p = r.producer()
        var c = r.consumer()
        for v in 0..<UInt64(Self.size) { XCTAssertTrue(p.push(v)) }
        XCTAssertEqual(r.fill, Self.size)
        XCTAssertFalse(p.push(100), "a full ring refuses (never overwrites, never waits)")
        XCTAssertFalse(p.push(101))
        XCTAssertFalse(p.push(102))
        XCTAssertEqual(r.dropped, 3, "each refused push is counted")
        XCTAssertEqual(r.producerIndex, Self.size, "a refused push does not move the producer")
        // Nothing was overwritten.
        for i in 0..<Int(Self.size) { XCTAssertEqual(r.entries[i], UInt64(i)) }
        // Room again after the consumer releases one: the producer refreshes its cached consumer.
        XCTAssertEqual(c.pop(), 0)
        XCTAssertTrue(p.push(200))
        XCTAssertFalse(p.push(201))
        XCTAssertEqual(r.dropped, 4)
        XCTAssertEqual(popAll(&c, limit: Int(Self.size)), [1, 2, 3, 4, 5, 6, 7, 200])
    }

    func testBurstReserveSubmitPartialCounts() {
        let r = HeapRing(size: Self.size)
        var p = r.producer()
        var c = r.consumer()

        var (i, n) = p.reserve(5)
        XCTAssertEqual(i, 0)
        XCTAssertEqual(n, 5)
        for k in 0..<n { p.entry(i &+ k).pointee = 100 + UInt64(k) }
        XCTAssertEqual(r.producerIndex, 0, "reserve publishes nothing")
        XCTAssertEqual(c.peek(8).count, 0, "the consumer sees nothing before submit")
        p.submit(3)  // submit fewer than reserved: only the first 3 are published
        XCTAssertEqual(r.producerIndex, 3)

        // Reserve more than fits: gets what is free (8 - 3).
        (i, n) = p.reserve(12)
        XCTAssertEqual(i, 3)
        XCTAssertEqual(n, 5)
        for k in 0..<n { p.entry(i &+ k).pointee = 200 + UInt64(k) }
        p.submit(n)
        XCTAssertEqual(r.fill, 8)
        XCTAssertEqual(p.reserve(1).count, 0, "full: nothing to reserve")
        XCTAssertEqual(r.dropped, 0, "a short reserve is not a drop; only push counts")

        // Peek more than available: a partial count; release part of it.
        var (ci, cn) = c.peek(10)
        XCTAssertEqual(ci, 0)
        XCTAssertEqual(cn, 8)
        let expect: [UInt64] = [100, 101, 102, 200, 201, 202, 203, 204]
        for k in 0..<cn { XCTAssertEqual(c.entry(ci &+ k).pointee, expect[Int(k)]) }
        c.release(2)
        XCTAssertEqual(r.consumerIndex, 2)
        XCTAssertEqual(r.fill, 6)
        (ci, cn) = c.peek(3)
        XCTAssertEqual(ci, 2)
        XCTAssertEqual(cn, 3, "peek returns at most what was asked")
        XCTAssertEqual(c.entry(ci).pointee, 102)
        c.release(3)

        // The producer sees the five freed entries once it asks for more than its cached view holds.
        (i, n) = p.reserve(8)
        XCTAssertEqual(i, 8)
        XCTAssertEqual(n, 5)
        p.submit(0)
        XCTAssertEqual(r.producerIndex, 8)
        (ci, cn) = c.peek(8)
        XCTAssertEqual(ci, 5)
        XCTAssertEqual(cn, 3)
    }

    func testRestartedSidesContinueFromPublishedIndices() {
        let r = HeapRing(size: Self.size)
        do {
            var p = r.producer()
            for v in UInt64(1)...6 { p.push(v) }
            var c = r.consumer()
            XCTAssertEqual(c.pop(), 1)
            XCTAssertEqual(c.pop(), 2)
        }
        // New incarnations of both sides (a restarted worker / xpfd).
        var p = r.producer()
        var c = r.consumer()
        XCTAssertTrue(p.push(7))
        XCTAssertTrue(p.push(8))
        XCTAssertTrue(p.push(9))
        XCTAssertTrue(p.push(10))
        XCTAssertFalse(p.push(11), "8 in flight: full")
        XCTAssertEqual(popAll(&c, limit: Int(Self.size)), [3, 4, 5, 6, 7, 8, 9, 10])
    }

    /// Every wrap position of the free-running UInt32 indices: the start index is
    /// UInt32.max - k for k in 0..<2*size, so the wrap falls on every entry offset and
    /// on both sides of a full ring.
    func testEveryWrapPosition() {
        let size = Self.size
        for k in UInt32(0)..<(2 * size) where !hasFailed {
            let start = UInt32.max &- k
            let r = HeapRing(size: size, start: start)
            var p = r.producer()
            var c = r.consumer()
            var next: UInt64 = UInt64(k) << 32
            var expected: UInt64 = next

            // Fill completely across the wrap.
            for j in 0..<size {
                XCTAssertTrue(p.push(next), "k=\(k) push \(j)")
                next += 1
                XCTAssertEqual(r.fill, j + 1, "k=\(k): fill level after \(j + 1) pushes")
            }
            XCTAssertFalse(p.push(0xFFFF), "k=\(k): full ring at wrap refuses")
            XCTAssertEqual(r.dropped, 1)
            XCTAssertEqual(r.producerIndex, start &+ size)
            // Physical placement: entry i at i & mask.
            for j in 0..<size {
                XCTAssertEqual(r.entries[Int((start &+ j) & (size - 1))], expected + UInt64(j), "k=\(k) slot of \(j)")
            }

            // Drain half, refill half, drain all, in bursts that straddle the wrap.
            let (ci, cn) = c.peek(size / 2)
            XCTAssertEqual(ci, start)
            XCTAssertEqual(cn, size / 2)
            for j in 0..<cn { XCTAssertEqual(c.entry(ci &+ j).pointee, expected); expected += 1 }
            c.release(cn)
            XCTAssertEqual(r.fill, size - size / 2, "k=\(k)")

            let (pi, pn) = p.reserve(size)
            XCTAssertEqual(pi, start &+ size)
            XCTAssertEqual(pn, size / 2, "k=\(k): reserve after a half drain gets half")
            for j in 0..<pn { p.entry(pi &+ j).pointee = next; next += 1 }
            p.submit(pn)
            XCTAssertEqual(r.fill, size, "k=\(k)")

            let drained = popAll(&c, limit: Int(size))
            XCTAssertEqual(drained, (0..<UInt64(size)).map { expected + $0 }, "k=\(k): FIFO order across the wrap")
            expected += UInt64(drained.count)
            XCTAssertEqual(expected, next)
            XCTAssertEqual(r.fill, 0)
            XCTAssertEqual(r.consumerIndex, start &+ size &+ size / 2)

            // Many single push/pop rounds (each index crosses the wrap at its own step).
            for _ in 0..<(3 * size) {
                XCTAssertTrue(p.push(next)); next += 1
                XCTAssertTrue(p.push(next)); next += 1
                XCTAssertEqual(c.pop(), expected); expected += 1
                XCTAssertEqual(c.pop(), expected); expected += 1
                XCTAssertNil(c.pop())
            }
            XCTAssertEqual(r.dropped, 1)
        }
    }

    /// Entries per wrap position in the two-thread test, and the time all positions together may take.
    static let threadedEntriesPerPosition: UInt64 = 20_000
    static let threadedDeadlineNanos: UInt64 = 60_000_000_000

    /// A producer thread and a consumer (the test thread) in one process, so the thread
    /// sanitizer sees both sides (it cannot see across processes). At every wrap position
    /// of a small ring the producer writes entries with plain fields in bursts of every
    /// size (and more than fits), the consumer peeks in bursts of every size and checks
    /// each entry's order and every field. Without the producer's release of `producer`
    /// or the consumer's acquire of it in `peek`, TSan reports a data race on the entries.
    /// Both sides stop at a common deadline, so a broken ring fails instead of hanging.
    func testTwoThreadsDeliverEveryEntryInOrderAtEveryWrapPosition() {
        let size = Self.size
        let total = Self.threadedEntriesPerPosition
        let deadline = monotonicNanos() + Self.threadedDeadlineNanos
        for k in UInt32(0)..<(2 * size) where !hasFailed {
            let start = UInt32.max &- k
            let r = HeapRing<RingTestEntry>(size: size, start: start, filler: .unwritten)
            let hdr = r.hdr, entries = r.entries
            var produced: UInt64 = 0  // written by the producer thread, read after join
            let producer = JoinableThread {
                var p = RingProducer<RingTestEntry>(header: hdr, entries: entries)
                var next: UInt64 = 0
                var burst: UInt32 = 1
                while next < total && monotonicNanos() < deadline {
                    let (i, n) = p.reserve(burst)
                    burst = burst % (size + 1) + 1  // 1 ... size + 1
                    if n == 0 { sched_yield(); continue }
                    var j: UInt32 = 0
                    while j < n && next < total {
                        p.entry(i &+ j).pointee = .make(next, position: k)
                        next += 1
                        j += 1
                    }
                    p.submit(j)
                }
                produced = next
            }
            var c = RingConsumer<RingTestEntry>(header: hdr, entries: entries)
            var expected: UInt64 = 0
            var wrong = 0
            var firstWrong: (expected: UInt64, got: RingTestEntry)?
            var burst: UInt32 = 1
            while expected < total && monotonicNanos() < deadline {
                let (i, n) = c.peek(burst)
                burst = burst % (size + 1) + 1
                if n == 0 { sched_yield(); continue }
                for j in 0..<n {
                    let e = c.entry(i &+ j).pointee
                    if e != .make(expected, position: k) {
                        wrong += 1
                        if firstWrong == nil { firstWrong = (expected, e) }
                    }
                    expected += 1
                }
                c.release(n)
            }
            producer.join()
            XCTAssertEqual(produced, total, "k=\(k): the producer finished before the deadline")
            XCTAssertEqual(expected, total, "k=\(k): the consumer received every entry before the deadline")
            XCTAssertEqual(wrong, 0, "k=\(k): entries out of order or torn, first: \(String(describing: firstWrong))")
            XCTAssertNil(c.pop(), "k=\(k): nothing extra")
            XCTAssertEqual(r.fill, 0)
            XCTAssertEqual(r.producerIndex, start &+ UInt32(truncatingIfNeeded: total), "k=\(k): the indices wrapped")
            XCTAssertEqual(r.dropped, 0, "bursts never count drops")
        }
    }

    /// Producer and consumer in two processes over a region's worker request ring (the
    /// real use: worker → xpfd), with the indices starting just before the UInt32 wrap.
    /// Every request arrives once, in order, intact; refused pushes are counted in `dropped`.
    func testTwoProcessRequestRingAcrossTheWrap() throws {
        guard let helper = TestHelperProcess.path() else {
            return XCTFail("xpf-testhelper not found next to the test bundle: build it with `swift build --build-tests`")
        }
        let fx = ShmTestFixture()
        defer { fx.removeAll() }
        let region = try fx.region("ring", queues: 1, interfaces: 1)
        let block = region.worker(0)
        let hdr = xpf_wb_req_ring(block)!
        let start = UInt32.max - 100
        hdr.pointee.producer = start
        hdr.pointee.consumer = start
        let m = 100_000
        let out = fx.path("ringout"), err = fx.path("ringerr")
        let pid = TestHelperProcess.spawn(helper, ["ring", region.path, "0", "\(m)"], out: out, err: err)
        var c = RingConsumer<xpf_neigh_request>(header: hdr, entries: xpf_wb_req_entries(block))
        var next = 0, bad = 0
        let deadline = monotonicNanos() + 60_000_000_000
        while next < m && monotonicNanos() < deadline {
            let (i, n) = c.peek(32)
            if n == 0 { sched_yield(); continue }
            for k in 0..<n {
                let r = c.entry(i &+ k).pointee
                if r.family != 4 || r.ifindex != UInt32(next) || r.iface_slot != UInt8(truncatingIfNeeded: next)
                    || r.reserved2 != UInt64(next) &* 0x9E37_79B9_7F4A_7C15 { bad += 1 }
                next += 1
            }
            c.release(n)
        }
        let status = TestHelperProcess.wait(pid, seconds: 30)
        TestHelperProcess.assertExitedCleanly(status, "ring producer", stderr: readWholeFile(err) ?? "")
        let v = TestHelperProcess.values(readWholeFile(out) ?? "")
        XCTAssertEqual(next, m, "every request arrived")
        XCTAssertEqual(bad, 0, "in order and intact")
        XCTAssertNil(c.pop(), "nothing extra")
        XCTAssertEqual(v["pushed"], m)
        XCTAssertEqual(hdr.pointee.dropped, UInt64(v["refused"] ?? -1), "each refused push counted once")
        XCTAssertEqual(hdr.pointee.producer, start &+ UInt32(m), "indices wrapped")
        XCTAssertEqual(hdr.pointee.consumer, start &+ UInt32(m))
    }
}
