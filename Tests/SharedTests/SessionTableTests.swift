import XCTest
import Foundation
import CXPF
@testable import Shared
#if canImport(Glibc)
import Glibc
#endif

// Tests for Sources/Shared/Sessions/SessionTable.swift and SessionTableCheck.swift
// (R-4.1, R-4.3, issue 7): the shared session records + index, the owner's partition
// (free list, insert, remove, ageing, repair after a kill), the consistency checker.
// Most tests run on plain zeroed heap memory laid out like the region's session and
// index parts; one runs an owner, readers and the checker as threads (meant for
// `swift test --sanitize=thread --scratch-path .build-tsan --filter SessionTableTests`).
// At the end, cross-process tests over a region file: two `xpf-testhelper sessions`
// processes sharing the table, and `xpf-testhelper storm` owners killed with SIGKILL.

/// Zeroed records + index buckets on the heap, sized like ShmGeometry sizes them.
/// Sendable for the concurrency test, whose threads share it the way worker processes
/// share the region: through the table's atomics.
fileprivate final class HeapTable: @unchecked Sendable {
    let records: UnsafeMutablePointer<xpf_session>
    let buckets: UnsafeMutablePointer<xpf_index_bucket>
    let capacity: Int
    let bucketCount: Int

    init(capacity: Int, bucketCount: Int? = nil) {
        self.capacity = capacity
        self.bucketCount = bucketCount
            ?? ShmGeometry(queues: 1, interfaces: 1, umemFrames: 1, sessionCapacity: capacity).indexBuckets
        records = .allocate(capacity: capacity)
        records.initialize(repeating: xpf_session(), count: capacity)
        buckets = .allocate(capacity: self.bucketCount)
        buckets.initialize(repeating: xpf_index_bucket(), count: self.bucketCount)
    }

    deinit {
        records.deallocate()
        buckets.deallocate()
    }

    var table: SessionTable { SessionTable(records: records, capacity: capacity, buckets: buckets, bucketCount: bucketCount) }

    func partition(_ q: Int = 0, of n: Int = 1) -> SessionPartition { SessionPartition(table: table, queue: q, queues: n) }

    func state(_ i: Int) -> UInt32 { records[i].seq_state & 3 }
    func seq(_ i: Int) -> UInt32 { records[i].seq_state & ~3 }

    /// Index slots by kind: (live references, tombstones).
    func slotCounts() -> (live: Int, tomb: Int) {
        var live = 0, tomb = 0
        for b in 0..<bucketCount {
            withUnsafeBytes(of: buckets[b].slot) { raw in
                for i in 0..<Int(XPF_INDEX_SLOTS) {
                    let v = raw.load(fromByteOffset: i * 8, as: UInt64.self)
                    if v == XPF_INDEX_TOMBSTONE { tomb += 1 } else if v != 0 { live += 1 }
                }
            }
        }
        return (live, tomb)
    }
}

/// Flow keys for tests. Ports are stored in network order, as the pipeline does.
enum SessionTestKeys {
    static func v4(_ src: UInt32, _ dst: UInt32, _ sport: UInt16, _ dport: UInt16, proto: UInt8 = 17) -> FlowKey {
        var k = FlowKey()
        k.family = 4
        k.proto = proto
        withUnsafeMutableBytes(of: &k.tuple.src) { $0.storeBytes(of: src.bigEndian, as: UInt32.self) }
        withUnsafeMutableBytes(of: &k.tuple.dst) { $0.storeBytes(of: dst.bigEndian, as: UInt32.self) }
        k.tuple.sport = sport.bigEndian
        k.tuple.dport = dport.bigEndian
        return k
    }

    static func v6(_ srcLow: UInt64, _ dstLow: UInt64, _ sport: UInt16, _ dport: UInt16, proto: UInt8 = 17) -> FlowKey {
        var k = FlowKey()
        k.family = 6
        k.proto = proto
        withUnsafeMutableBytes(of: &k.tuple.src) {
            $0.storeBytes(of: UInt64(0xFD00_0000_0000_0001).bigEndian, as: UInt64.self)
            $0.storeBytes(of: srcLow.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        withUnsafeMutableBytes(of: &k.tuple.dst) {
            $0.storeBytes(of: UInt64(0xFD00_0000_0000_0002).bigEndian, as: UInt64.self)
            $0.storeBytes(of: dstLow.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        k.tuple.sport = sport.bigEndian
        k.tuple.dport = dport.bigEndian
        return k
    }

    /// The key a reply carries (no NAT: addresses and ports swapped).
    static func reversed(_ k: FlowKey) -> FlowKey {
        var r = k
        r.tuple.src = k.tuple.dst
        r.tuple.dst = k.tuple.src
        r.tuple.sport = k.tuple.dport
        r.tuple.dport = k.tuple.sport
        return r
    }

    /// Deterministic distinct key number `n` (v4 UDP), for bulk tests.
    static func numbered(_ n: Int, salt: UInt32 = 0) -> FlowKey {
        v4(0x0A00_0000 | UInt32(n >> 16) | salt << 20, 0xC0A8_0000 | UInt32(n & 0xFFFF), UInt16(1024 + n % 50000), 53)
    }

    static func tupleBytes(_ t: xpf_flow_tuple) -> [UInt8] { withUnsafeBytes(of: t) { Array($0) } }
}

extension SessionTable {
    /// Lookup by value (tests).
    func find(_ k: FlowKey) -> (index: Int, direction: UInt32)? {
        var k = k
        return lookup(&k)
    }
}

extension SessionPartition {
    /// Insert by value with a reverse tuple derived by swapping (tests).
    mutating func add(_ k: FlowKey, nowMs: UInt32 = 1000, nowS: UInt32 = 1, generation: UInt64 = 7, ifIn: UInt8 = 0,
                      ifOut: UInt8 = 1, tcpState: UInt8 = 0) -> Int? {
        var k = k
        return insert(forward: &k, reverse: SessionTestKeys.reversed(k).tuple, generation: generation, nowMs: nowMs,
                      nowS: nowS, ifIn: ifIn, ifOut: ifOut, tcpState: tcpState)
    }
}

/// What the concurrency test's threads share besides the table: the owner's stop flag
/// and progress word (atomics), and the results (under the lock, read after the joins).
fileprivate final class ConcurrencyTestState: @unchecked Sendable {
    let stop = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    let progress = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
    let lock = NSLock()
    var wrong = 0, hits = 0, judged = 0, checks = 0, inFlight = 0
    var checkErrors: [String] = []
    init() {
        stop.initialize(to: 0)
        progress.initialize(to: 0)
    }
    deinit {
        stop.deallocate()
        progress.deallocate()
    }
}

final class SessionTableTests: XCTestCase {
    typealias K = SessionTestKeys

    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }
    let live = UInt32(XPF_SESS_LIVE.rawValue)
    let free = UInt32(XPF_SESS_FREE.rawValue)
    let busy = UInt32(XPF_SESS_BUSY.rawValue)

    // MARK: layout

    func testRecordIs128BytesAndIndexCostsAtMost32BytesPerSession() {
        XCTAssertEqual(MemoryLayout<xpf_session>.stride, 128, "two cache lines")
        XCTAssertEqual(MemoryLayout<xpf_session>.offset(of: \xpf_session.packets), 96)
        XCTAssertEqual(MemoryLayout<xpf_flow_tuple>.size, 36)
        XCTAssertEqual(MemoryLayout<xpf_index_bucket>.stride, 64, "one cache line")
        // Power-of-two capacities (≥ 128): exactly four 8-byte slots per session.
        for shift in 7...24 {
            let cap = 1 << shift
            let g = ShmGeometry(queues: 1, interfaces: 1, umemFrames: 1, sessionCapacity: cap)
            let indexBytes = g.indexBuckets * MemoryLayout<xpf_index_bucket>.stride
            XCTAssertLessThanOrEqual(indexBytes, cap * 32, "capacity \(cap): index \(indexBytes) B")
            XCTAssertGreaterThanOrEqual(g.indexBuckets * Int(XPF_INDEX_SLOTS), cap * 4, "at least 4 slots/session")
            let sessionsPart = g.offsets.index - g.offsets.sessions
            XCTAssertEqual(sessionsPart, cap * 128, "records take exactly 128 B each")
        }
    }

    /// The budget (SessionTable.swift header: "128 B record + 4 slots × 8 B of index =
    /// 160 B per session") must hold at the capacities xpfd actually uses: the
    /// configured `session-table-size` (default 1,000,000, any value in 1024…20M),
    /// rounded down to a multiple of the queue count — not a power of two.
    /// BUG: ShmGeometry.indexBuckets rounds the bucket count up to a power of two, so
    /// the index costs up to 64 B per session (33.6 B at the default 1,000,000).
    func testIndexCostsAtMost32BytesPerSessionAtConfiguredCapacities() {
        for (size, queues) in [(1_000_000, 1), (1_000_000, 3), (1_048_577, 1), (20_000_000, 2), (1024, 1), (3000, 2)] {
            let cap = max(queues, size / queues * queues)  // as Daemon.swift computes it
            let g = ShmGeometry(queues: queues, interfaces: 1, umemFrames: 1, sessionCapacity: cap)
            let indexBytes = g.indexBuckets * MemoryLayout<xpf_index_bucket>.stride
            let perSession = Double(indexBytes) / Double(cap)
            // 32 B per session, plus at most one bucket of rounding.
            XCTAssertLessThanOrEqual(indexBytes, cap * 32 + MemoryLayout<xpf_index_bucket>.stride,
                                     "session-table-size \(size), \(queues) queues: \(perSession) B of index per session")
            XCTAssertGreaterThanOrEqual(g.indexBuckets * Int(XPF_INDEX_SLOTS), cap * 4, "still at least 4 slots per session")
        }
    }

    // MARK: insert / lookup

    func testInsertThenLookupBothDirections() {
        let h = HeapTable(capacity: 64)
        var p = h.partition()
        let k = K.v4(0x0A0A_0102, 0x0A0A_0202, 40000, 53)
        XCTAssertNil(h.table.find(k), "empty table")
        guard let idx = p.add(k, nowMs: 123_456, nowS: 86_400 * 60, generation: 0x1_0000_0009, ifIn: 2, ifOut: 3, tcpState: 0) else {
            return XCTFail("insert failed")
        }
        XCTAssertEqual(idx, 0, "the lowest free index is handed out first")
        let f = h.table.find(k)
        XCTAssertEqual(f?.index, idx)
        XCTAssertEqual(f?.direction, 0, "the forward key finds direction 0")
        let r = h.table.find(K.reversed(k))
        XCTAssertEqual(r?.index, idx)
        XCTAssertEqual(r?.direction, 1, "the reversed tuple finds direction 1")

        let rec = h.records[idx]
        XCTAssertEqual(rec.seq_state & 3, live)
        XCTAssertEqual(rec.seq_state >> 2, 1, "reuse sequence bumped on FREE→BUSY")
        XCTAssertEqual(rec.generation, 9, "low 32 bits of the config generation")
        XCTAssertEqual(rec.last_seen_ms, 123_456)
        XCTAssertEqual(rec.created_s, 86_400 * 60, "monotonic seconds as given (not derived from the wrapping ms clock)")
        XCTAssertEqual(rec.family, 4)
        XCTAssertEqual(rec.proto, 17)
        XCTAssertEqual(rec.tcp_state, 0)
        XCTAssertEqual(rec.if_in, 2)
        XCTAssertEqual(rec.if_out, 3)
        XCTAssertEqual(rec.policy, UInt16(XPF_SESS_POLICY_DEFAULT), "no policy given: the default policy's id")
        XCTAssertEqual(K.tupleBytes(rec.fwd), K.tupleBytes(k.tuple))
        XCTAssertEqual(K.tupleBytes(rec.rev), K.tupleBytes(K.reversed(k).tuple))
        XCTAssertEqual(rec.packets.0, 0)
        XCTAssertEqual(rec.packets.1, 0)
        XCTAssertEqual(rec.bytes.0, 0)
        XCTAssertEqual(rec.bytes.1, 0)
        XCTAssertEqual(p.liveCount, 1)
        XCTAssertEqual(h.slotCounts().live, 2, "one index slot per direction")

        // key(of:) gives back each direction's key.
        XCTAssertEqual(K.tupleBytes(h.table.key(of: idx, direction: 1).tuple), K.tupleBytes(K.reversed(k).tuple))

        // Near misses do not match.
        XCTAssertNil(h.table.find(K.v4(0x0A0A_0102, 0x0A0A_0202, 40001, 53)))
        XCTAssertNil(h.table.find(K.v4(0x0A0A_0102, 0x0A0A_0202, 53, 40000)), "ports swapped without addresses")
        XCTAssertNil(h.table.find(K.v4(0x0A0A_0202, 0x0A0A_0102, 40000, 53)), "addresses swapped without ports")
    }

    func testFamiliesAndProtocolsDoNotCollide() {
        let h = HeapTable(capacity: 64)
        var p = h.partition()
        let udp4 = K.v4(0x0A00_0001, 0x0A00_0002, 1000, 2000, proto: 17)
        // Same tuple bytes, IPv6 family (an IPv4-looking IPv6 tuple).
        var udp6 = udp4
        udp6.family = 6
        let tcp4 = K.v4(0x0A00_0001, 0x0A00_0002, 1000, 2000, proto: 6)
        let icmp4 = K.v4(0x0A00_0001, 0x0A00_0002, 1000, 1000, proto: 1)
        let real6 = K.v6(1, 2, 1000, 2000, proto: 17)

        let i1 = p.add(udp4)!
        XCTAssertNil(h.table.find(udp6), "same bytes, other family: a miss")
        XCTAssertNil(h.table.find(tcp4), "same tuple, other protocol: a miss")
        let i2 = p.add(udp6)!
        let i3 = p.add(tcp4)!
        let i4 = p.add(icmp4)!
        let i5 = p.add(real6)!
        XCTAssertEqual(Set([i1, i2, i3, i4, i5]).count, 5)
        for (k, i) in [(udp4, i1), (udp6, i2), (tcp4, i3), (icmp4, i4), (real6, i5)] {
            XCTAssertEqual(h.table.find(k)?.index, i)
            XCTAssertEqual(h.table.find(k)?.direction, 0)
            XCTAssertEqual(h.table.find(K.reversed(k))?.index, i)
            XCTAssertEqual(h.table.find(K.reversed(k))?.direction, 1)
        }
        XCTAssertEqual(h.records[i2].family, 6)
        XCTAssertEqual(h.records[i3].proto, 6)
        // Removing one leaves its twins.
        p.remove(i1)
        XCTAssertNil(h.table.find(udp4))
        XCTAssertEqual(h.table.find(udp6)?.index, i2)
        XCTAssertEqual(h.table.find(tcp4)?.index, i3)
    }

    func testRemoveClearsBothDirectionsAndTheRecordIsReused() {
        let h = HeapTable(capacity: 64)
        var p = h.partition()
        let a = K.v4(0x0A00_0001, 0x0A00_0002, 1111, 80, proto: 6)
        let b = K.v6(7, 8, 2222, 443, proto: 6)
        let ia = p.add(a)!
        let ib = p.add(b)!
        XCTAssertEqual(p.liveCount, 2)
        p.remove(ia)
        XCTAssertNil(h.table.find(a))
        XCTAssertNil(h.table.find(K.reversed(a)))
        XCTAssertEqual(h.state(ia), free)
        XCTAssertEqual(h.records[ia].seq_state >> 2, 2, "the sequence is bumped on entering BUSY: insert 1, remove 2")
        XCTAssertEqual(h.table.find(b)?.index, ib, "the other session is untouched")
        XCTAssertEqual(p.liveCount, 1)
        XCTAssertEqual(h.slotCounts().live, 2)
        XCTAssertEqual(h.slotCounts().tomb, 2, "deletes leave tombstones")
        p.remove(ia)  // removing a free record is a no-op
        XCTAssertEqual(p.liveCount, 1)

        let c = K.v4(0x0A00_0003, 0x0A00_0004, 3333, 80, proto: 6)
        let ic = p.add(c)!
        XCTAssertEqual(ic, ia, "the freed record is handed out next")
        XCTAssertEqual(h.records[ic].seq_state >> 2, 3, "reuse bumps the sequence (readers detect it)")
        XCTAssertEqual(h.table.find(c)?.index, ic)
        XCTAssertEqual(h.table.find(K.reversed(c))?.direction, 1)
        XCTAssertNil(h.table.find(a), "the old key does not find the reused record")
    }

    func testFullPartitionFailsClosedButExistingSessionsStillLookUp() {
        let h = HeapTable(capacity: 16)
        var p = h.partition()
        var keys: [FlowKey] = []
        for n in 0..<16 {
            let k = K.numbered(n)
            keys.append(k)
            XCTAssertEqual(p.add(k), n)
        }
        XCTAssertEqual(p.liveCount, 16)
        let extra = K.numbered(100)
        XCTAssertNil(p.add(extra), "a full partition refuses new sessions")
        XCTAssertNil(p.add(K.numbered(101)))
        XCTAssertNil(h.table.find(extra))
        XCTAssertEqual(p.liveCount, 16)
        for (n, k) in keys.enumerated() {
            XCTAssertEqual(h.table.find(k)?.index, n, "existing sessions keep working")
            XCTAssertEqual(h.table.find(K.reversed(k))?.index, n)
        }
        p.remove(5)
        XCTAssertEqual(p.add(extra), 5)
        XCTAssertEqual(h.table.find(extra)?.index, 5)
    }

    func testFullIndexFailsClosedAndLeavesNoHalfSession() {
        // A tiny index (one bucket = 8 slots) with room for 20 records: the index fills first.
        let h = HeapTable(capacity: 20, bucketCount: 1)
        var p = h.partition()
        var made: [Int] = []
        for n in 0..<4 { made.append(p.add(K.numbered(n))!) }
        XCTAssertEqual(h.slotCounts().live, 8)
        let before = p.liveCount
        XCTAssertNil(p.add(K.numbered(50)), "no index slot: insert fails")
        XCTAssertEqual(p.liveCount, before, "the record went back to the free list")
        XCTAssertNil(h.table.find(K.numbered(50)))
        XCTAssertEqual(h.state(4), free, "the record tried is FREE again, not LIVE")
        // One slot free (a tombstone): the forward direction fits, the reverse does not →
        // the forward entry is taken back.
        p.remove(made[0])
        var oneFree = 0
        withUnsafeMutableBytes(of: &h.buckets[0].slot) { raw in
            // Occupy one of the two tombstones with a foreign value so exactly one slot is free.
            for i in 0..<8 where raw.load(fromByteOffset: i * 8, as: UInt64.self) == XPF_INDEX_TOMBSTONE {
                if oneFree == 0 { raw.storeBytes(of: UInt64(0xDEAD_0000_0000_FFFF), toByteOffset: i * 8, as: UInt64.self) }
                oneFree += 1
            }
        }
        XCTAssertEqual(oneFree, 2)
        let k = K.numbered(60)
        XCTAssertNil(p.add(k))
        XCTAssertNil(h.table.find(k))
        XCTAssertNil(h.table.find(K.reversed(k)))
        XCTAssertEqual(h.slotCounts().tomb, 1, "the half-inserted forward slot is tombstoned again")
        for i in made.dropFirst() { XCTAssertNotNil(h.table.find(K.numbered(i))) }
    }

    // MARK: crash rebuild

    func testPartitionRebuildAfterCrashKeepsLiveAndFreesBusy() {
        let h = HeapTable(capacity: 32)
        var p = h.partition()
        let keys = (0..<5).map { K.numbered($0) }
        for k in keys { _ = p.add(k) }
        p.remove(1)
        // The owner "dies" while inserting into record 6: BUSY, sequence bumped, not indexed.
        h.records[6].seq_state = (h.records[6].seq_state & ~3) &+ 4 | busy
        h.records[6].family = 4
        let seq6 = h.seq(6)
        // And in the middle of record 9 too (an older sequence).
        h.records[9].seq_state = 40 | busy

        // The restarted worker builds a new partition over the same memory.
        var q = h.partition()
        XCTAssertEqual(q.liveCount, 4, "records 0, 2, 3, 4 are LIVE and kept")
        XCTAssertEqual(h.state(6), free, "a BUSY record is freed")
        XCTAssertEqual(h.seq(6), seq6, "its sequence is kept (the next use bumps it)")
        XCTAssertEqual(h.state(9), free)
        XCTAssertEqual(h.seq(9), 40)
        for (n, k) in keys.enumerated() where n != 1 {
            XCTAssertEqual(h.table.find(k)?.index, n, "live sessions survive the restart")
            XCTAssertEqual(h.table.find(K.reversed(k))?.index, n)
        }
        XCTAssertNil(h.table.find(keys[1]))
        // The rebuilt free list: lowest index first, never a live one; exactly 28 free.
        var handed: [Int] = []
        while handed.count <= 32, let i = q.add(K.numbered(1000 + handed.count)) { handed.append(i) }
        XCTAssertEqual(handed.count, 28)
        XCTAssertEqual(Array(handed.prefix(3)), [1, 5, 6])
        XCTAssertTrue(Set(handed).isDisjoint(with: [0, 2, 3, 4]))
        XCTAssertEqual(Set(handed).count, 28)
        XCTAssertEqual(h.seq(9) >> 2, 11, "record 9 reused with sequence 10 + 1")
        // The sessions the crashed incarnation made can be removed by the new one.
        q.remove(3)
        XCTAssertNil(h.table.find(keys[3]))
        XCTAssertEqual(q.liveCount, 31)
    }

    // MARK: crash recovery (the states a kill leaves; SessionTable.pml proves the list is complete)

    /// Index slot values of one direction of a record (the table's own encoding).
    fileprivate func slotValue(_ h: HeapTable, _ idx: Int, _ dir: UInt32) -> UInt64 {
        var k = h.table.key(of: idx, direction: dir)
        return (SessionTable.hash(&k) >> 32) << 32 | UInt64(SessionTable.ref(idx, dir))
    }

    /// Where `value` sits in the index, if anywhere.
    fileprivate func slotPosition(_ h: HeapTable, _ value: UInt64) -> (bucket: Int, slot: UInt32)? {
        for b in 0..<h.bucketCount {
            for i in 0..<UInt32(XPF_INDEX_SLOTS) where xpf_load_relaxed_u64(xpf_index_slot(h.buckets + b, i)) == value {
                return (b, i)
            }
        }
        return nil
    }

    static let nobodyRunning: (Int) -> SessionOwnerStatus = { _ in SessionOwnerStatus(running: false, progress: 0) }

    fileprivate func check(_ h: HeapTable, owner: (Int) -> SessionOwnerStatus = nobodyRunning) -> SessionTableReport {
        h.table.check(partitions: 1, attempts: 2, pauseMicros: 0, owner: owner)
    }

    /// Every point where a kill can stop insert or remove leaves one BUSY record with 0,
    /// 1 or 2 index slots (never a LIVE one half indexed). The successor's scan
    /// un-indexes and frees it; the other sessions stay; the checker agrees.
    func testRestartRepairsABusyRecordWithAnyNumberOfIndexSlots() {
        for (name, slots) in [("killed before indexing", [UInt32]()), ("insert killed after the forward slot", [0]),
                              ("killed with both slots (insert before LIVE, or remove before its first tombstone)", [0, 1]),
                              ("remove killed after the forward tombstone", [1])] {
            let h = HeapTable(capacity: 32)
            var p = h.partition()
            let keep = K.numbered(1), victim = K.numbered(2)
            let ik = p.add(keep)!
            let iv = p.add(victim)!
            // Re-enact the kill: the victim BUSY (sequence bumped) with exactly `slots` indexed.
            h.records[iv].seq_state = (h.records[iv].seq_state & ~3) &+ 4 | busy
            let word = h.records[iv].seq_state
            for dir in [UInt32(0), 1] where !slots.contains(dir) {
                var k = h.table.key(of: iv, direction: dir)
                h.table.indexRemove(&k, index: iv, dir: dir)
            }
            let before = check(h)
            XCTAssertFalse(before.isConsistent, "\(name): a BUSY record of a dead owner is an error")
            XCTAssertEqual(before.busy, 1, name)
            XCTAssertNil(h.table.find(victim), "\(name): lookups never return a BUSY record")

            let q = h.partition()  // the successor
            XCTAssertEqual(q.recovered, 1, name)
            XCTAssertEqual(h.records[iv].seq_state, word & ~3 | free, "\(name): FREE, sequence kept")
            XCTAssertNil(slotPosition(h, slotValue(h, iv, 0)), "\(name): no forward slot left")
            XCTAssertNil(slotPosition(h, slotValue(h, iv, 1)), "\(name): no reverse slot left")
            XCTAssertEqual(h.table.find(keep)?.index, ik, name)
            XCTAssertEqual(h.table.find(K.reversed(keep))?.index, ik, name)
            XCTAssertEqual(q.liveCount, 1, name)
            let after = check(h)
            XCTAssertTrue(after.isConsistent, "\(name): \(after.errors)")
            XCTAssertEqual(after.live, 1, name)
            XCTAssertEqual(after.busy, 0, name)
            XCTAssertEqual(after.slotsUsed, 2, name)
            XCTAssertEqual(h.partition().recovered, 0, "\(name): a second restart finds nothing to repair")
        }
    }

    /// Remove passes through BUSY: from its first step lookups stop returning the
    /// session, and a LIVE record is never seen with fewer than two slots.
    func testRemoveMakesTheRecordBusyBeforeTouchingTheIndex() {
        let h = HeapTable(capacity: 16)
        var p = h.partition()
        let k = K.numbered(7)
        let i = p.add(k)!
        let inserted = h.records[i].seq_state
        p.remove(i)
        XCTAssertEqual(h.records[i].seq_state, (inserted & ~3) &+ 4 | free, "remove bumped the sequence on entering BUSY")
        XCTAssertNil(slotPosition(h, slotValue(h, i, 0)))
        XCTAssertTrue(check(h).isConsistent)
    }

    // MARK: planted slots (a compare that ignored the protocol or the ports would pass the tag filter)

    /// An index slot whose tag is the looked-up key's but whose record's protocol (or a
    /// port) differs must not match: the lookup goes on past it, and returns nil or the
    /// right session.
    func testLookupSkipsAPlantedSlotWhoseTagMatchesButWhoseRecordDoesNot() {
        let h = HeapTable(capacity: 64)
        var p = h.partition()
        let udp = K.v4(0x0A00_0001, 0x0A00_0002, 1000, 2000, proto: 17)
        let iu = p.add(udp)!
        let otherProto = K.v4(0x0A00_0001, 0x0A00_0002, 1000, 2000, proto: 6)
        let otherPort = K.v4(0x0A00_0001, 0x0A00_0002, 1001, 2000, proto: 17)
        let otherDir = K.reversed(otherProto)  // planted against record iu's reverse direction
        for (name, wrong, dir) in [("protocol", otherProto, UInt32(0)), ("source port", otherPort, 0), ("protocol, reverse", otherDir, 1)] {
            var w = wrong
            let hash = SessionTable.hash(&w)
            let start = SessionTable.startBucket(hash, h.bucketCount)
            // The first free (empty or tombstone) slot of the key's start bucket: an insert of the
            // key would take it, so the real session's slot will lie behind the planted one.
            guard let free = (0..<UInt32(XPF_INDEX_SLOTS)).first(where: {
                let v = xpf_load_relaxed_u64(xpf_index_slot(h.buckets + start, $0))
                return v == 0 || v == XPF_INDEX_TOMBSTONE
            }) else {
                return XCTFail("\(name): start bucket full")
            }
            let planted = (hash >> 32) << 32 | UInt64(SessionTable.ref(iu, dir))
            xpf_store_relaxed_u64(xpf_index_slot(h.buckets + start, free), planted)
            XCTAssertNil(h.table.find(wrong), "\(name): the planted slot's record has another key")
            XCTAssertEqual(h.table.find(udp)?.index, iu, "\(name): the record's own key still finds it")
            // The real session for `wrong`: its slot lies behind the planted one.
            let iw = p.add(wrong)!
            XCTAssertEqual(h.table.find(wrong)?.index, iw, "\(name): the lookup passes the planted slot and finds the right session")
            XCTAssertEqual(h.table.find(wrong)?.direction, 0)
            let report = check(h)
            XCTAssertEqual(report.errorCount, 1, "\(name): \(report.errors)")
            XCTAssertTrue(report.errors[0].contains("tag that is not the hash"), report.errors[0])
            xpf_store_relaxed_u64(xpf_index_slot(h.buckets + start, free), XPF_INDEX_TOMBSTONE)
            p.remove(iw)
        }
        XCTAssertTrue(check(h).isConsistent)
    }

    // MARK: consistency checker

    func testCheckCountsAHealthyTable() {
        let h = HeapTable(capacity: 64)
        var p = h.partition()
        let made = (0..<20).map { p.add(K.numbered($0))! }
        for i in made.prefix(5) { p.remove(i) }
        let r = check(h)
        XCTAssertTrue(r.isConsistent, "\(r.errors)")
        XCTAssertEqual(r.capacity, 64)
        XCTAssertEqual(r.live, 15)
        XCTAssertEqual(r.free, 49)
        XCTAssertEqual(r.busy, 0)
        XCTAssertEqual(r.slotsUsed, 30)
        XCTAssertEqual(r.tombstones, 10)
        XCTAssertEqual(r.slotsEmpty, h.bucketCount * Int(XPF_INDEX_SLOTS) - 40)
        XCTAssertEqual(r.inFlight, 0)
        XCTAssertEqual(r.transient, 0)
    }

    /// Each kind of damage is reported, with the record or slot named.
    func testCheckReportsEachKindOfInconsistency() {
        func damaged(_ damage: (HeapTable, Int) -> Void) -> SessionTableReport {
            let h = HeapTable(capacity: 64)
            var p = h.partition()
            for n in 0..<8 { _ = p.add(K.numbered(n)) }
            damage(h, 3)
            return check(h)
        }
        func expect(_ name: String, _ r: SessionTableReport, count: Int, _ text: String) {
            XCTAssertEqual(r.errorCount, count, "\(name): \(r.errors)")
            XCTAssertTrue(r.errors.contains { $0.contains(text) }, "\(name): \(r.errors)")
        }
        // The state today's code left after a kill between its two index inserts.
        expect("LIVE, reverse not indexed", damaged { h, i in
            var k = h.table.key(of: i, direction: 1)
            h.table.indexRemove(&k, index: i, dir: 1)
        }, count: 1, "record 3 is LIVE but indexed 1 time(s) forward and 0 time(s) reverse")
        expect("LIVE, indexed twice", damaged { h, i in
            var k = h.table.key(of: i, direction: 0)
            XCTAssertTrue(h.table.indexInsert(&k, index: i, dir: 0))
        }, count: 1, "indexed 2 time(s) forward")
        expect("slots to a FREE record", damaged { h, i in
            h.records[i].seq_state = h.records[i].seq_state & ~3 | self.free
        }, count: 2, "refers to record 3, which is FREE")
        expect("BUSY, owner dead", damaged { h, i in
            h.records[i].seq_state = h.records[i].seq_state & ~3 | self.busy
        }, count: 3, "BUSY")  // the record and its two slots
        expect("slot beyond the table", damaged { h, _ in
            xpf_store_relaxed_u64(xpf_index_slot(h.buckets + h.bucketCount - 1, 7), 0x1234_5678_0000_F001)
        }, count: 1, "refers to no record of the table")
        expect("slot moved behind an empty slot", damaged { h, i in
            let v = self.slotValue(h, i, 0)
            guard let at = self.slotPosition(h, v) else { return XCTFail("no slot") }
            xpf_store_relaxed_u64(xpf_index_slot(h.buckets + at.bucket, at.slot), 0)
            let next = h.buckets + (at.bucket + 1) % h.bucketCount
            guard let free = (0..<UInt32(XPF_INDEX_SLOTS)).first(where: { xpf_load_relaxed_u64(xpf_index_slot(next, $0)) == 0 }) else {
                return XCTFail("next bucket full")
            }
            xpf_store_relaxed_u64(xpf_index_slot(next, free), v)
        }, count: 2, "unreachable")  // and the record is then indexed 0 times forward
    }

    /// A BUSY record of a running owner is in flight while the owner has not moved on;
    /// once its progress word changes with the record still BUSY in the same phase, it
    /// is an error.
    func testCheckToleratesAnInFlightRecordUntilItsOwnerMovesOn() {
        let h = HeapTable(capacity: 16)
        var p = h.partition()
        let i = p.add(K.numbered(1))!
        h.records[i].seq_state = (h.records[i].seq_state & ~3) &+ 4 | busy
        let stalled = check(h) { _ in SessionOwnerStatus(running: true, progress: 42) }
        XCTAssertTrue(stalled.isConsistent, "\(stalled.errors)")
        XCTAssertEqual(stalled.inFlight, 3, "the record and its two slots")
        var beat: UInt64 = 0
        let movedOn = check(h) { _ in beat += 1; return SessionOwnerStatus(running: true, progress: beat) }
        XCTAssertEqual(movedOn.errorCount, 1, "\(movedOn.errors)")
        XCTAssertTrue(movedOn.errors[0].contains("stayed BUSY"), movedOn.errors[0])
    }

    // MARK: concurrency (run under ThreadSanitizer: swift test --sanitize=thread --scratch-path .build-tsan --filter SessionTableTests)

    /// One owner thread inserts and removes sessions of a small key pool (records are
    /// reused constantly); two threads look the keys up (and touch what they find, as
    /// the pipeline does) and one runs the checker, all at once. No lookup may return a
    /// record that held another key while the lookup ran; the checker must find the
    /// running table consistent every time.
    func testConcurrentLookupsAndChecksWhileTheOwnerInsertsAndRemoves() {
        let h = HeapTable(capacity: 128, bucketCount: 16)
        let pool = (0..<48).map { n in n % 3 == 0 ? K.v6(UInt64(n), 9, UInt16(n), 443, proto: 6) : K.numbered(n) }
        let ownerOps = 60_000, readerLookupsMax = 2_000_000, checksMax = 10_000
        let shared = ConcurrencyTestState()
        let done = DispatchSemaphore(value: 0)
        Thread {
            var p = h.partition()
            var live = [Int?](repeating: nil, count: pool.count)
            for op in 0..<ownerOps {
                let n = (op &* 7919) % pool.count
                if let idx = live[n] { p.remove(idx); live[n] = nil } else { live[n] = p.add(pool[n]) }
                xpf_store_relaxed_u64(shared.progress, UInt64(op + 1))
            }
            xpf_store_release_u32(shared.stop, 1)
            done.signal()
        }.start()
        for r in 0..<2 {
            Thread {
                var localWrong = 0, localHits = 0, localJudged = 0
                for i in 0..<readerLookupsMax where xpf_load_acquire_u32(shared.stop) == 0 {
                    var k = pool[(i &* 31 &+ r) % pool.count]
                    if i & 1 == 1 { k = K.reversed(k) }
                    guard let hit = h.table.lookup(&k) else { continue }
                    localHits += 1
                    let rec = h.records + hit.index
                    xpf_sess_touch(rec, hit.direction, UInt32(truncatingIfNeeded: i), 64)
                    // The record may be reused as soon as a lookup returns, so judge a second
                    // lookup bracketed by two equal loads of the record's word: the key read
                    // after it is the key the record had while that lookup ran.
                    let w = xpf_sess_load_state(rec)
                    guard w & 3 == UInt32(XPF_SESS_LIVE.rawValue), let again = h.table.lookup(&k), again.index == hit.index else { continue }
                    var seen = h.table.key(of: again.index, direction: again.direction)
                    xpf_fence_acquire()
                    guard xpf_sess_load_state(rec) == w else { continue }
                    localJudged += 1
                    if !SessionTable.keysEqual(&seen, &k) { localWrong += 1 }
                }
                shared.lock.lock(); shared.wrong += localWrong; shared.hits += localHits; shared.judged += localJudged; shared.lock.unlock()
                done.signal()
            }.start()
        }
        Thread {
            var n = 0, errors: [String] = [], flying = 0
            while n < checksMax && xpf_load_acquire_u32(shared.stop) == 0 {
                let r = h.table.check(partitions: 1, attempts: 5, pauseMicros: 200) { _ in
                    SessionOwnerStatus(running: true, progress: xpf_load_relaxed_u64(shared.progress))
                }
                errors += r.errors
                flying += r.inFlight
                n += 1
            }
            shared.lock.lock(); shared.checks = n; shared.checkErrors = errors; shared.inFlight = flying; shared.lock.unlock()
            done.signal()
        }.start()
        for _ in 0..<4 {
            XCTAssertEqual(done.wait(timeout: .now() + 120), .success, "a thread did not finish")
        }
        print("concurrent session table: \(ownerOps) owner operations, \(shared.hits) hits (\(shared.judged) judged stable), \(shared.checks) checks (\(shared.inFlight) in-flight observations)")
        XCTAssertEqual(shared.wrong, 0, "lookups returned another key's session")
        XCTAssertGreaterThan(shared.judged, 0)
        XCTAssertGreaterThan(shared.checks, 0)
        XCTAssertEqual(shared.checkErrors, [], "the checker must find a running table consistent")
        XCTAssertTrue(check(h).isConsistent)
    }

    // MARK: ageing

    /// Timeouts like a configuration: TCP initial 5 s, established 100 s, closing 2 s,
    /// UDP 30 s, ICMP 10 s, other 60 s.
    static func timeout(_ rec: UnsafeMutablePointer<xpf_session>) -> UInt32 {
        timeout(rec.pointee.proto, xpf_sess_tcp_state(rec))
    }

    static func timeout(_ proto: UInt8, _ tcp: UInt8) -> UInt32 {
        switch proto {
        case 6: return tcp == UInt8(XPF_TCP_ESTABLISHED.rawValue) ? 100_000 : tcp == UInt8(XPF_TCP_CLOSING.rawValue) ? 2_000 : 5_000
        case 17: return 30_000
        case 1, 58: return 10_000
        default: return 60_000
        }
    }

    func testAgeingRemovesExpiredSessionsPerTimeoutAndKeepsFreshOnes() {
        let h = HeapTable(capacity: 64)
        var p = h.partition()
        let t0: UInt32 = 1_000_000
        let udp = K.v4(1, 2, 10, 20, proto: 17)
        let icmp = K.v4(1, 2, 7, 7, proto: 1)
        let tcpInit = K.v4(1, 2, 30, 40, proto: 6)
        let tcpEst = K.v4(1, 2, 31, 40, proto: 6)
        let gre = K.v4(1, 2, 0, 0, proto: 47)
        let iu = p.add(udp, nowMs: t0)!
        let ii = p.add(icmp, nowMs: t0)!
        let iti = p.add(tcpInit, nowMs: t0, tcpState: UInt8(XPF_TCP_INITIAL.rawValue))!
        let ite = p.add(tcpEst, nowMs: t0, tcpState: UInt8(XPF_TCP_ESTABLISHED.rawValue))!
        let ig = p.add(gre, nowMs: t0)!
        XCTAssertEqual(p.liveCount, 5)
        func alive(_ k: FlowKey) -> Bool { h.table.find(k) != nil }

        // Exactly at the timeout: kept (idle must exceed it).
        XCTAssertEqual(p.age(nowMs: t0 + 5_000, budget: 64, timeoutMs: Self.timeout), 0)
        XCTAssertTrue(alive(tcpInit))
        XCTAssertEqual(p.age(nowMs: t0 + 5_001, budget: 64, timeoutMs: Self.timeout), 1)
        XCTAssertFalse(alive(tcpInit), "TCP initial: 5 s")
        XCTAssertFalse(alive(K.reversed(tcpInit)))
        XCTAssertEqual(h.state(iti), free)
        // Traffic on the UDP session (another direction, as the pipeline would) keeps it.
        xpf_sess_touch(h.records + iu, 1, t0 + 9_000, 100)
        XCTAssertEqual(p.age(nowMs: t0 + 10_001, budget: 64, timeoutMs: Self.timeout), 1)
        XCTAssertFalse(alive(icmp), "ICMP: 10 s")
        XCTAssertEqual(h.state(ii), free)
        XCTAssertTrue(alive(udp))
        XCTAssertEqual(p.age(nowMs: t0 + 30_001, budget: 64, timeoutMs: Self.timeout), 0, "UDP was touched at +9 s")
        XCTAssertEqual(p.age(nowMs: t0 + 39_001, budget: 64, timeoutMs: Self.timeout), 1)
        XCTAssertFalse(alive(udp))
        XCTAssertEqual(h.state(iu), free)
        XCTAssertEqual(p.age(nowMs: t0 + 60_001, budget: 64, timeoutMs: Self.timeout), 1)
        XCTAssertFalse(alive(gre), "other: 60 s")
        XCTAssertEqual(h.state(ig), free)
        XCTAssertTrue(alive(tcpEst))
        // A state change to CLOSING shortens the timeout.
        xpf_sess_set_tcp_state(h.records + ite, UInt8(XPF_TCP_CLOSING.rawValue))
        XCTAssertEqual(p.age(nowMs: t0 + 60_002, budget: 64, timeoutMs: Self.timeout), 1)
        XCTAssertFalse(alive(tcpEst))
        XCTAssertEqual(h.state(ite), free)
        XCTAssertEqual(p.liveCount, 0)
        XCTAssertEqual(h.slotCounts().live, 0)
    }

    func testAgeingBudgetWalksThePartitionIncrementally() {
        let h = HeapTable(capacity: 16)
        var p = h.partition()
        for n in 0..<16 { _ = p.add(K.numbered(n), nowMs: 0) }
        var removed = 0
        var calls = 0
        while removed < 16 && calls < 10 {  // bounded: corelibs XCTest does not stop at a failure
            let r = p.age(nowMs: 60_000, budget: 5, timeoutMs: Self.timeout)
            XCTAssertLessThanOrEqual(r, 5, "at most `budget` records examined per call")
            removed += r
            calls += 1
        }
        XCTAssertEqual(calls, 4, "16 records at 5 per call, cursor wrapping")
        XCTAssertEqual(p.liveCount, 0)
    }

    func testAgeingAcrossTheMillisecondWrap() {
        let h = HeapTable(capacity: 16)
        var p = h.partition()
        let before: UInt32 = UInt32.max - 2_000   // 2001 ms before nowMs wraps to 0
        let a = K.numbered(1), b = K.numbered(2)
        _ = p.add(a, nowMs: before)   // UDP, 30 s
        let ib = p.add(b, nowMs: before)!
        // 5 s later nowMs has wrapped to 2999: idle 5000 ms, not ~4 billion.
        XCTAssertEqual(p.age(nowMs: 2_999, budget: 16, timeoutMs: Self.timeout), 0)
        XCTAssertNotNil(h.table.find(a))
        xpf_sess_touch(h.records + ib, 0, 10_000, 60)   // b stays busy after the wrap
        XCTAssertEqual(p.age(nowMs: 27_999, budget: 16, timeoutMs: Self.timeout), 0, "idle exactly 30000: kept")
        XCTAssertEqual(p.age(nowMs: 28_000, budget: 16, timeoutMs: Self.timeout), 1)
        XCTAssertNil(h.table.find(a))
        XCTAssertNotNil(h.table.find(b), "touched after the wrap: fresh")
        XCTAssertEqual(p.age(nowMs: 40_001, budget: 16, timeoutMs: Self.timeout), 1)
        XCTAssertNil(h.table.find(b))
    }

    /// Another worker forwards the reply direction and stamps last_seen with its own clock,
    /// which can be a few ms ahead of the owner's `nowMs` (taken at the top of the owner's
    /// loop). That session was just used: ageing must keep it.
    /// BUG: `idle = nowMs &- last_seen` wraps to ~4.29e9 when last_seen is ahead, so the
    /// busiest sessions are removed.
    func testAgeingKeepsSessionStampedSlightlyAheadByAnotherWorker() {
        let h = HeapTable(capacity: 16)
        var p = h.partition()
        let k = K.numbered(3)
        let i = p.add(k, nowMs: 500_000)!
        xpf_sess_touch(h.records + i, 1, 500_007, 64)   // peer worker, 7 ms ahead
        XCTAssertEqual(p.age(nowMs: 500_002, budget: 16, timeoutMs: Self.timeout), 0)
        XCTAssertNotNil(h.table.find(k), "a session used 'in the future' by a peer is fresh, not expired")
    }

    // MARK: partitions

    func testTwoPartitionsAllocateDisjointIndicesAndSeeEachOthersSessions() {
        let h = HeapTable(capacity: 16)
        var p0 = h.partition(0, of: 2)
        var p1 = h.partition(1, of: 2)
        XCTAssertEqual(p0.first, 0)
        XCTAssertEqual(p0.count, 8)
        XCTAssertEqual(p1.first, 8)
        XCTAssertEqual(p1.count, 8)
        var i0: [Int] = [], i1: [Int] = []
        for n in 0..<8 {
            i0.append(p0.add(K.numbered(n, salt: 1))!)
            i1.append(p1.add(K.numbered(n, salt: 2))!)
        }
        XCTAssertEqual(i0, Array(0..<8))
        XCTAssertEqual(i1, Array(8..<16))
        XCTAssertNil(p0.add(K.numbered(99, salt: 1)), "partition 0 is full even though the table is shared")
        for n in 0..<8 {
            XCTAssertEqual(h.table.owner(of: i0[n], queues: 2), 0)
            XCTAssertEqual(h.table.owner(of: i1[n], queues: 2), 1)
            // Each partition's view (same table) finds the other's sessions, both directions.
            XCTAssertEqual(p0.table.find(K.numbered(n, salt: 2))?.index, i1[n])
            XCTAssertEqual(p1.table.find(K.numbered(n, salt: 1))?.index, i0[n])
            XCTAssertEqual(p0.table.find(K.reversed(K.numbered(n, salt: 2)))?.direction, 1)
        }
        // One partition's removal is visible to the other.
        p1.remove(i1[3])
        XCTAssertNil(p0.table.find(K.numbered(3, salt: 2)))
        // Ageing in one partition never touches the other's records.
        XCTAssertEqual(p0.age(nowMs: 1_000_000, budget: 100, timeoutMs: Self.timeout), 8)
        XCTAssertEqual(p1.liveCount, 7)
        for n in 0..<8 where n != 3 { XCTAssertNotNil(h.table.find(K.numbered(n, salt: 2))) }
    }

    func testManySessionsInsertRemoveReinsertWithTombstoneReuse() {
        let cap = 65536, n = 50_000
        let h = HeapTable(capacity: cap)
        XCTAssertEqual(h.bucketCount, 32768)
        var p = h.partition()
        let keys = (0..<n).map { K.numbered($0) }
        var idx = [Int](repeating: -1, count: n)
        for i in 0..<n {
            guard let x = p.add(keys[i]) else { return XCTFail("insert \(i) failed at load \(p.liveCount)/\(cap)") }
            idx[i] = x
        }
        XCTAssertEqual(Set(idx).count, n, "every session has its own record")
        XCTAssertEqual(p.liveCount, n)
        var missF = 0, missR = 0
        for i in 0..<n {
            let f = h.table.find(keys[i]), r = h.table.find(K.reversed(keys[i]))
            if f?.index != idx[i] || f?.direction != 0 { missF += 1 }
            if r?.index != idx[i] || r?.direction != 1 { missR += 1 }
        }
        XCTAssertEqual(missF, 0)
        XCTAssertEqual(missR, 0)
        XCTAssertEqual(h.slotCounts().live, 2 * n)

        for i in 0..<n { p.remove(idx[i]) }
        XCTAssertEqual(p.liveCount, 0)
        var found = 0
        for i in 0..<n where h.table.find(keys[i]) != nil || h.table.find(K.reversed(keys[i])) != nil { found += 1 }
        XCTAssertEqual(found, 0, "all removed")
        XCTAssertEqual(h.slotCounts().live, 0)
        XCTAssertEqual(h.slotCounts().tomb, 2 * n)

        // Re-insert (different keys order): tombstones are reused, nothing new is consumed.
        for i in stride(from: n - 1, through: 0, by: -1) {
            guard let x = p.add(keys[i]) else { return XCTFail("re-insert \(i) failed") }
            idx[i] = x
        }
        let counts = h.slotCounts()
        XCTAssertEqual(counts.live, 2 * n)
        XCTAssertEqual(counts.live + counts.tomb, 2 * n, "every new entry landed on a tombstone")
        missF = 0; missR = 0
        for i in 0..<n {
            if h.table.find(keys[i])?.index != idx[i] { missF += 1 }
            if h.table.find(K.reversed(keys[i]))?.index != idx[i] { missR += 1 }
        }
        XCTAssertEqual(missF, 0)
        XCTAssertEqual(missR, 0)
        XCTAssertEqual(Set(idx).count, n)
    }
}

// MARK: - cross-process

/// Keys of the cross-process test. Keep in sync with `sessionKey` in Tests/Helper/main.swift.
enum CrossProcessKeys {
    static func key(q: Int, i: Int) -> FlowKey {
        var k = FlowKey()
        k.proto = 17
        let src = 0x0A00_0000 | UInt32(q & 0xFF) << 16 | UInt32(i & 0xFFFF)
        let dst = 0xC0A8_0000 | UInt32((i >> 16) & 0xFFFF)
        if i % 4 == 3 {
            k.family = 6
            withUnsafeMutableBytes(of: &k.tuple.src) {
                $0.storeBytes(of: UInt32(0xFD00_0000).bigEndian, as: UInt32.self)
                $0.storeBytes(of: src.bigEndian, toByteOffset: 12, as: UInt32.self)
            }
            withUnsafeMutableBytes(of: &k.tuple.dst) {
                $0.storeBytes(of: UInt32(0xFD00_0001).bigEndian, as: UInt32.self)
                $0.storeBytes(of: dst.bigEndian, toByteOffset: 12, as: UInt32.self)
            }
        } else {
            k.family = 4
            withUnsafeMutableBytes(of: &k.tuple.src) { $0.storeBytes(of: src.bigEndian, as: UInt32.self) }
            withUnsafeMutableBytes(of: &k.tuple.dst) { $0.storeBytes(of: dst.bigEndian, as: UInt32.self) }
        }
        k.tuple.sport = UInt16(1024 + i % 50000).bigEndian
        k.tuple.dport = UInt16(53 + q).bigEndian
        return k
    }
}

/// Spawning `xpf-testhelper` (Tests/Helper) from tests: the binary is built with the
/// tests (`swift build --build-tests` / `swift test`) into the same directory as the
/// test executable.
enum TestHelperProcess {
    /// The helper binary next to the test bundle (.build/<triple>/debug/).
    static func path() -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        var exe = String(cString: buf)
        // xpfPackageTests.xctest is the test executable itself on Linux.
        if let slash = exe.lastIndex(of: "/") { exe = String(exe[..<slash]) }
        let p = exe + "/xpf-testhelper"
        return access(p, X_OK) == 0 ? p : nil
    }

    /// posix_spawn with stdout/stderr to files. Returns -1 (and fails the test) on error.
    static func spawn(_ path: String, _ args: [String], out: String, err: String) -> pid_t {
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let r = posix_spawn(&pid, path, &fa, nil, argv, environ)
        XCTAssertEqual(r, 0, "posix_spawn \(path): \(String(cString: strerror(r)))")
        return r == 0 ? pid : -1
    }

    /// Waits for `pid` up to `seconds`, then kills it. Returns the wait status, nil on timeout.
    static func wait(_ pid: pid_t, seconds: Double) -> Int32? {
        guard pid > 0 else { return nil }
        let deadline = monotonicNanos() + UInt64(seconds * 1e9)
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { return status }
            if r < 0 { return nil }
            if monotonicNanos() > deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                return nil
            }
            usleep(2_000)
        }
    }

    /// `name=value` lines of the helper's output.
    static func values(_ text: String) -> [String: Int] {
        var d: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let v = Int(parts[1]) { d[String(parts[0])] = v }
        }
        return d
    }

    /// Asserts a clean exit (code 0, no signal).
    static func assertExitedCleanly(_ status: Int32?, _ who: String, stderr: String,
                                    file: StaticString = #filePath, line: UInt = #line) {
        guard let status else { return XCTFail("\(who) did not finish in time; stderr: \(stderr)", file: file, line: line) }
        XCTAssertEqual(status & 0x7F, 0, "\(who) was killed by signal \(status & 0x7F); stderr: \(stderr)", file: file, line: line)
        XCTAssertEqual((status >> 8) & 0xFF, 0, "\(who) exit code; stderr: \(stderr)", file: file, line: line)
    }
}

/// The design promise of R-4.1: several worker processes share one session table.
/// Two `xpf-testhelper` processes (Tests/Helper/main.swift) attach to one region as
/// partitions 0 and 1 of 2, insert at the same time, then each looks up every key of
/// both partitions, removes half of its own and checks the other's removals.
final class SessionTableCrossProcessTests: XCTestCase {
    let fx = ShmTestFixture()

    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    override func tearDown() {
        fx.removeAll()
        super.tearDown()
    }

    func testTwoProcessesShareOneSessionTable() throws {
        guard let helper = TestHelperProcess.path() else {
            return XCTFail("xpf-testhelper not found next to the test bundle: build it with `swift build --build-tests`")
        }
        let n = 2, k = 20_000
        let capacity = 2 * 32_768
        let region = try fx.region("xproc", queues: n, interfaces: 1, sessionCapacity: capacity)
        let outs = (0..<n).map { _ in fx.path("out") }
        let errs = (0..<n).map { _ in fx.path("err") }
        // Both at once.
        let pids = (0..<n).map { q in
            TestHelperProcess.spawn(helper, ["sessions", region.path, "\(q)", "\(n)", "\(k)"], out: outs[q], err: errs[q])
        }
        var results: [[String: Int]] = []
        for q in 0..<n {
            let status = TestHelperProcess.wait(pids[q], seconds: 120)
            TestHelperProcess.assertExitedCleanly(status, "helper \(q)", stderr: readWholeFile(errs[q]) ?? "")
            results.append(TestHelperProcess.values(readWholeFile(outs[q]) ?? ""))
        }
        let per = capacity / n
        for q in 0..<n {
            let v = results[q]
            XCTAssertEqual(v["done"], 1, "helper \(q) ran to the end: \(v)")
            XCTAssertEqual(v["partition_first"], q * per)
            XCTAssertEqual(v["partition_count"], per)
            XCTAssertEqual(v["live_at_start"], 0)
            XCTAssertEqual(v["inserted"], k, "helper \(q)")
            XCTAssertEqual(v["insert_failed"], 0)
            XCTAssertEqual(v["own_distinct"], k, "no record handed out twice")
            XCTAssertEqual(v["outside_partition"], 0, "every index in the helper's own partition")
            XCTAssertEqual(v["min_index"], q * per)
            XCTAssertEqual(v["max_index"], q * per + k - 1)
            XCTAssertEqual(v["found_own"], k, "helper \(q) finds its own keys, both directions")
            XCTAssertEqual(v["found_other"], k, "helper \(q) finds every key of the other process, both directions")
            XCTAssertEqual(v["wrong_place"], 0)
            XCTAssertEqual(v["wrong_direction"], 0)
            XCTAssertEqual(v["removed"], k / 2)
            XCTAssertEqual(v["gone_other"], k / 2, "the other process's removals are visible")
            XCTAssertEqual(v["kept_other"], k / 2)
            XCTAssertEqual(v["live_at_end"], k / 2)
        }
        // The region as the test process sees it afterwards.
        let table = region.sessionTable
        var seen = Set<Int>()
        var found = 0, gone = 0
        for q in 0..<n {
            for i in 0..<k {
                var f = CrossProcessKeys.key(q: q, i: i)
                let hit = table.lookup(&f)
                if i % 2 == 0 {
                    if hit == nil { gone += 1 }
                    continue
                }
                guard let hit else { continue }
                found += 1
                XCTAssertTrue(seen.insert(hit.index).inserted, "index \(hit.index) collides")
                XCTAssertEqual(hit.index / per, q)
                XCTAssertEqual(region.sessionTable.owner(of: hit.index, queues: region.queues), q)
                XCTAssertEqual(region.sessions[hit.index].if_in, UInt8(q))
            }
        }
        XCTAssertEqual(found, n * k / 2)
        XCTAssertEqual(gone, n * k / 2)
        var live = 0
        for i in 0..<capacity where region.sessions[i].seq_state & 3 == UInt32(XPF_SESS_LIVE.rawValue) { live += 1 }
        XCTAssertEqual(live, n * k / 2, "exactly the kept sessions are LIVE")
        for q in 0..<n { XCTAssertEqual(region.worker(q).pointee.state, UInt32(XPF_WORKER_FAILED.rawValue), "both reached the last barrier") }
    }
}

/// Issue 7, crash consistency in a real region: an `xpf-testhelper storm` process owns
/// partition 0 and inserts and removes sessions as fast as it can; it is killed with
/// SIGKILL at random moments. After each kill this process plays the restarted worker
/// (the same `SessionPartition.init` xpf-worker runs at start) and the checker must find
/// the table consistent.
final class SessionTableCrashTests: XCTestCase {
    let fx = ShmTestFixture()
    static let queues = 2
    static let perPartition = 1024
    static let minKills = 200
    static let maxKills = 400
    static let stormBudgetNs: UInt64 = 20_000_000_000
    /// The helper's own deadline: it never outlives a broken test by long.
    static let helperSeconds = "10"
    static let maxKillDelayMicros: UInt32 = 3_000

    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    override func tearDown() {
        fx.removeAll()
        super.tearDown()
    }

    /// Starts a storm owner of partition 0 and waits (bounded) until it has repaired the
    /// partition and stored RUNNING. Nil (after a test failure) when it did not get there.
    func startStorm(_ helper: String, _ region: ShmRegion, seed: Int, out: String, err: String) -> pid_t? {
        let block = region.worker(0)
        xpf_store_release_u32(xpf_wb_state(block), UInt32(XPF_WORKER_STARTING.rawValue))
        let pid = TestHelperProcess.spawn(helper, ["storm", region.path, "0", "\(Self.queues)", "\(seed)", Self.helperSeconds],
                                          out: out, err: err)
        guard pid > 0 else { return nil }
        let deadline = monotonicNanos() + 10_000_000_000
        while xpf_load_acquire_u32(xpf_wb_state(block)) != UInt32(XPF_WORKER_RUNNING.rawValue) {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                XCTFail("storm helper exited (status \(status)) before RUNNING: \(readWholeFile(err) ?? "")")
                return nil
            }
            if monotonicNanos() > deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                XCTFail("storm helper never reported RUNNING")
                return nil
            }
            usleep(100)
        }
        return pid
    }

    /// SIGKILL, reap, and mark the block EXITED as xpfd does after reaping.
    func kill9(_ pid: pid_t, _ region: ShmRegion) {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        XCTAssertEqual(waitpid(pid, &status, 0), pid)
        XCTAssertEqual(status & 0x7F, SIGKILL, "the helper died of SIGKILL, not of its own deadline or an error")
        xpf_store_release_u32(xpf_wb_state(region.worker(0)), UInt32(XPF_WORKER_EXITED.rawValue))
    }

    func busyRecords(_ region: ShmRegion, partition q: Int) -> Int {
        let t = region.sessionTable
        let per = t.capacity / Self.queues
        return (q * per..<(q + 1) * per).filter { xpf_sess_load_state(t.records + $0) & 3 == UInt32(XPF_SESS_BUSY.rawValue) }.count
    }

    func testCrashStormEveryKillLeavesATableTheRestartedOwnerRepairs() throws {
        guard let helper = TestHelperProcess.path() else {
            return XCTFail("xpf-testhelper not found next to the test bundle: build it with `swift build --build-tests`")
        }
        let region = try fx.region("storm", queues: Self.queues, interfaces: 1, sessionCapacity: Self.queues * Self.perPartition)
        let out = fx.path("out"), err = fx.path("err")
        // Partition 1 belongs to a worker that is not storming: its sessions must survive every kill.
        var other = SessionPartition(table: region.sessionTable, queue: 1, queues: Self.queues)
        let otherKeys = (0..<100).map { CrossProcessKeys.key(q: 1, i: $0) }
        for k in otherKeys {
            var k = k
            XCTAssertNotNil(other.insert(forward: &k, reverse: SessionTestKeys.reversed(k).tuple, generation: 1, nowMs: 0,
                                         ifIn: 1, ifOut: 1, tcpState: 0))
        }
        let t0 = monotonicNanos()
        var kills = 0, killsMidOperation = 0
        while kills < Self.maxKills && (kills < Self.minKills || monotonicNanos() - t0 < Self.stormBudgetNs / 2) {
            guard monotonicNanos() - t0 < Self.stormBudgetNs else { return XCTFail("only \(kills) kills within the time budget") }
            guard let pid = startStorm(helper, region, seed: kills, out: out, err: err) else { return }
            usleep(UInt32.random(in: 0...Self.maxKillDelayMicros))
            kill9(pid, region)
            kills += 1

            // What the kill left: at most one BUSY record, which the checker reports while
            // its owner is down — and nothing else.
            // (corelibs XCTest ignores continueAfterFailure: a failure ends the loop explicitly.)
            let busy = busyRecords(region, partition: 0)
            guard busy <= 1 else { return XCTFail("kill \(kills) left \(busy) BUSY records") }
            if busy > 0 {  // (with none, this check would repeat the one after the restart)
                let before = region.checkSessions(attempts: 1, pauseMicros: 0)
                guard !before.isConsistent, before.errors.allSatisfy({ $0.contains("BUSY") }) else {
                    return XCTFail("kill \(kills) left a BUSY record: the checker must report it and nothing else: \(before.errors)")
                }
                killsMidOperation += 1
            }

            // The restarted owner.
            let successor = SessionPartition(table: region.sessionTable, queue: 0, queues: Self.queues)
            let after = region.checkSessions(attempts: 1, pauseMicros: 0)
            guard successor.recovered == busy, after.isConsistent, after.busy == 0,
                  after.live == successor.liveCount + otherKeys.count else {
                return XCTFail("kill \(kills), after the restart (repaired \(successor.recovered) of \(busy)): live \(after.live), "
                               + "busy \(after.busy), \(after.errors)")
            }
        }
        let seconds = Double(monotonicNanos() - t0) / 1e9
        let stats = region.worker(0).pointee.stats
        print("crash storm: \(kills) kills in \(String(format: "%.1f", seconds)) s, \(stats.sessions_created) inserts, "
              + "\(stats.sessions_closed) removes, \(killsMidOperation) kills left a BUSY record (repaired at restart)")
        XCTAssertGreaterThanOrEqual(kills, Self.minKills)
        XCTAssertGreaterThan(killsMidOperation, 0, "no kill landed inside an insert or remove: the storm tested nothing")
        for k in otherKeys {
            var f = k, r = SessionTestKeys.reversed(k)
            XCTAssertNotNil(region.sessionTable.lookup(&f), "the other partition's sessions survive")
            XCTAssertNotNil(region.sessionTable.lookup(&r))
        }
    }

    /// A partition xpfd's keeper owns (a PARKED or FAILED queue): a BUSY record there is an
    /// operation of the keeper in flight while xpfd lives and the queue's counters have not
    /// moved on; the same record under a worker that is gone is an error.
    func testABusyRecordOfAKeptPartitionIsInFlightWhileXpfdLives() throws {
        let region = try fx.region("kept", queues: 2, interfaces: 1, sessionCapacity: 2 * Self.perPartition)
        var p = SessionPartition(table: region.sessionTable, queue: 1, queues: 2)
        var k = CrossProcessKeys.key(q: 1, i: 0)
        let idx = try XCTUnwrap(p.insert(forward: &k, reverse: SessionTestKeys.reversed(k).tuple, generation: 1, nowMs: 0,
                                         ifIn: 0, ifOut: 0, tcpState: 0))
        let rec = region.sessionTable.records + idx
        xpf_sess_store_state(rec, (xpf_sess_load_state(rec) & ~3) | UInt32(XPF_SESS_BUSY.rawValue))  // mid-remove
        let block = region.worker(1)
        for state in [XPF_WORKER_PARKED, XPF_WORKER_FAILED] {
            xpf_store_release_u32(xpf_wb_state(block), UInt32(state.rawValue))
            let r = region.checkSessions(attempts: 2, pauseMicros: 0)
            XCTAssertTrue(r.isConsistent, "\(state): \(r.errors)")
            XCTAssertEqual(r.inFlight, 3, "\(state): the record and the slots of its two directions")
        }
        // The same record under a worker that is gone (RUNNING, no process): an error.
        block.pointee.pid = 0
        xpf_store_release_u32(xpf_wb_state(block), UInt32(XPF_WORKER_RUNNING.rawValue))
        XCTAssertFalse(region.checkSessions(attempts: 1, pauseMicros: 0).isConsistent)
        p.release()
    }

    /// The checker on a table its owner is changing right now (another process, as with
    /// `xpfctl debug check sessions` on a running dataplane): never an error.
    func testCheckerFindsAStormingTableConsistentWhileItRuns() throws {
        guard let helper = TestHelperProcess.path() else {
            return XCTFail("xpf-testhelper not found next to the test bundle: build it with `swift build --build-tests`")
        }
        let region = try fx.region("stormcheck", queues: Self.queues, interfaces: 1, sessionCapacity: Self.queues * Self.perPartition)
        let out = fx.path("out"), err = fx.path("err")
        guard let pid = startStorm(helper, region, seed: 1, out: out, err: err) else { return }
        let checkNs: UInt64 = 1_500_000_000
        let t0 = monotonicNanos()
        var checks = 0, inFlight = 0, transient = 0
        while monotonicNanos() - t0 < checkNs {
            let r = region.checkSessions()
            guard r.isConsistent else {
                kill9(pid, region)
                return XCTFail("check \(checks) of a running table: \(r.errors)")
            }
            checks += 1
            inFlight += r.inFlight
            transient += r.transient
        }
        kill9(pid, region)
        _ = SessionPartition(table: region.sessionTable, queue: 0, queues: Self.queues)
        XCTAssertTrue(region.checkSessions().isConsistent)
        let stats = region.worker(0).pointee.stats
        print("checker on a running storm: \(checks) checks, \(inFlight) in-flight and \(transient) changed observations, "
              + "\(stats.sessions_created) inserts meanwhile")
        XCTAssertGreaterThan(checks, 3)
        XCTAssertGreaterThan(stats.sessions_created, 0)
    }
}
