// The shared-memory session table.
//
// Records: `capacity` fixed 128-byte `xpf_session`s, partitioned among workers: worker q
// owns indices [q*per, (q+1)*per). Only the owner allocates, ages and frees its records,
// so allocation needs no cross-process synchronisation and a crash leaves nothing
// locked: a restarted owner rebuilds its free list by scanning its partition.
//
// Index: open addressing over 64-byte buckets of 8 UInt64 slots (see xpf_abi.h). Each
// session has two slots, one per direction. Any worker may look up; inserts and
// deletes are single CASes on a slot.
//
// Crash safety (docs/architecture.md, "Session table"): a record is BUSY while its owner
// indexes it (insert: BUSY → fields → both slots → LIVE) and while it un-indexes it
// (remove: LIVE → BUSY → both tombstones → FREE). So at every instant a LIVE record is
// indexed in both directions and no slot refers to a FREE record; a worker killed -9
// at any step leaves at most one BUSY record, which its successor un-indexes and frees
// (`SessionPartition.init`). `SessionTable.check` verifies all of this on a running table.
//
// Model: Sessions/SessionTable.pml (tools/model-check)
//
// Cost: 128 B record + 4 slots × 8 B of index = 160 B per session. The record names no
// owner: the partition its index lies in does (`owner(of:queues:)`).
import CXPF

/// A flow key as seen on the wire: family, protocol and one direction's tuple.
public struct FlowKey {
    public var family: UInt8
    public var proto: UInt8
    public var tuple: xpf_flow_tuple
    public init() { family = 0; proto = 0; tuple = xpf_flow_tuple() }
}

public enum SessionDirection: UInt32 { case forward = 0, reverse = 1 }

public struct SessionTable {
    public let records: UnsafeMutablePointer<xpf_session>
    public let capacity: Int
    public let buckets: UnsafeMutablePointer<xpf_index_bucket>
    public let bucketCount: Int
    /// Probe bound: an insert that finds no slot within this many buckets reports full.
    public let maxProbe: Int

    public init(records: UnsafeMutablePointer<xpf_session>, capacity: Int,
                buckets: UnsafeMutablePointer<xpf_index_bucket>, bucketCount: Int) {
        precondition(bucketCount > 0 && bucketCount < 1 << 32)
        precondition(capacity < Int(Int32.max), "ref encoding needs record_index*2+2 < 2^32")
        self.records = records
        self.capacity = capacity
        self.buckets = buckets
        self.bucketCount = bucketCount
        maxProbe = min(bucketCount, 64)
    }

    /// The queue whose worker owns record `index` (the partition it lies in; see
    /// `SessionPartition`) when `queues` workers share the table.
    public func owner(of index: Int, queues: Int) -> Int { index / max(capacity / max(queues, 1), 1) }

    // MARK: hashing

    /// 64-bit hash of family, protocol and tuple (multiply-xorshift over the words).
    @inlinable @inline(__always)  // part of the batch loop's prefetch (a call measured ~4 instructions/packet)
    public static func hash(_ key: UnsafePointer<FlowKey>) -> UInt64 {
        let t = UnsafeRawPointer(key) + MemoryLayout<FlowKey>.offset(of: \FlowKey.tuple)!
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ (UInt64(key.pointee.family) << 8 | UInt64(key.pointee.proto))
        @inline(__always) func mix(_ v: UInt64) {
            h = (h ^ v) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
        }
        // Safe: xpf_flow_tuple is 36 bytes: four UInt64 words of addresses and one UInt32 of ports.
        mix(t.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        mix(t.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        mix(t.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        mix(t.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        mix(UInt64(t.loadUnaligned(fromByteOffset: 32, as: UInt32.self)))
        h = (h ^ (h >> 29)) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 32)
    }

    /// First bucket of a probe: the low 32 hash bits scaled onto [0, count) (Lemire's
    /// multiply-shift; the high 32 bits are the slot tag).
    @inlinable
    static func startBucket(_ h: UInt64, _ count: Int) -> Int {
        // Safe: count is a bucket count, in (0, 2^32) (init's precondition): it converts exactly.
        Int(truncatingIfNeeded: ((h & 0xFFFF_FFFF) &* UInt64(truncatingIfNeeded: count)) >> 32)
    }

    /// Whether two keys are the same flow direction (family, protocol, tuple).
    @inlinable
    public static func keysEqual(_ a: UnsafePointer<FlowKey>, _ b: UnsafePointer<FlowKey>) -> Bool {
        let off = MemoryLayout<FlowKey>.offset(of: \FlowKey.tuple)!
        return a.pointee.family == b.pointee.family && a.pointee.proto == b.pointee.proto
            && tuplesEqual(UnsafeRawPointer(a) + off, UnsafeRawPointer(b) + off)
    }

    @inlinable @inline(__always)  // the session lookup's guessed-key check, once a packet (a call: ~10 instructions)
    static func tuplesEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer) -> Bool {
        // Safe: both point at 36-byte xpf_flow_tuples.
        (a.loadUnaligned(fromByteOffset: 0, as: UInt64.self) ^ b.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
            | (a.loadUnaligned(fromByteOffset: 8, as: UInt64.self) ^ b.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            | (a.loadUnaligned(fromByteOffset: 16, as: UInt64.self) ^ b.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            | (a.loadUnaligned(fromByteOffset: 24, as: UInt64.self) ^ b.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            | UInt64(a.loadUnaligned(fromByteOffset: 32, as: UInt32.self) ^ b.loadUnaligned(fromByteOffset: 32, as: UInt32.self)) == 0
    }

    @inlinable
    static func ref(_ index: Int, _ dir: UInt32) -> UInt32 { UInt32(index) << 1 | dir &+ 1 }

    // MARK: lookup

    /// Starts loading the index bucket where `key`'s probe begins (a hint only);
    /// returns the key's hash so the lookup need not compute it again.
    @inlinable @inline(__always)  // part of the batch loop (a call measured ~8 instructions/packet)
    public func prefetch(_ key: UnsafePointer<FlowKey>) -> UInt64 {
        let h = Self.hash(key)
        xpf_prefetch(buckets + Self.startBucket(h, bucketCount))
        return h
    }

    /// Finds the session a packet belongs to. Returns the record index and the direction
    /// the packet travels in, or nil.
    @inlinable
    public func lookup(_ key: UnsafePointer<FlowKey>) -> (index: Int, direction: UInt32)? {
        lookup(key, hash: Self.hash(key))
    }

    /// `lookup` with the key's hash already computed (`hash` must be `hash(key)`).
    @inlinable @inline(__always)  // the worker's lookup, in the batch loop's one function (a call measured 32 instructions/packet)
    public func lookup(_ key: UnsafePointer<FlowKey>, hash h: UInt64) -> (index: Int, direction: UInt32)? {
        let tag = UInt32(truncatingIfNeeded: h >> 32)
        var b = Self.startBucket(h, bucketCount)
        let keyTuple = UnsafeRawPointer(key) + MemoryLayout<FlowKey>.offset(of: \FlowKey.tuple)!
        let family = key.pointee.family, proto = key.pointee.proto
        // maxProbe ≥ 1 (init): a repeat loop needs no range check (2 instructions a lookup).
        var probes = 0
        repeat {
            let bucket = buckets + b
            for i in 0..<UInt32(XPF_INDEX_SLOTS) {
                let v = xpf_load_acquire_u64(xpf_index_slot(bucket, i))  // pairs with the inserter's CAS
                if v == 0 { return nil }            // end of the probe chain
                if v == XPF_INDEX_TOMBSTONE || UInt32(truncatingIfNeeded: v >> 32) != tag { continue }
                let ref = UInt32(truncatingIfNeeded: v) &- 1
                let idx = Int(ref >> 1), dir = ref & 1
                if idx >= capacity { continue }     // torn or foreign value: ignore
                let rec = records + idx
                // Seqlock read (xpf_abi.h): LIVE before, same word after the key compare.
                let s1 = xpf_sess_load_state(rec)   // pairs with the owner's release of LIVE
                if s1 & 3 != UInt32(XPF_SESS_LIVE.rawValue) { continue }
                if xpf_sess_key_equal(rec, dir, family, proto, keyTuple) {
                    xpf_fence_acquire()             // the key loads above happen before the re-load
                    if xpf_sess_load_state(rec) == s1 { return (idx, dir) }  // not reused meanwhile
                }
            }
            b += 1
            if b == bucketCount { b = 0 }
            probes &+= 1  // Safe: at most maxProbe ≤ 64
        } while probes < maxProbe
        return nil
    }

    // MARK: insert / delete (owner only for the record; any process for the index)

    /// Publishes one direction of record `index` in the index. False if no slot was found.
    @usableFromInline
    func indexInsert(_ key: UnsafePointer<FlowKey>, index: Int, dir: UInt32) -> Bool {
        let h = Self.hash(key)
        let value = UInt64(UInt32(truncatingIfNeeded: h >> 32)) << 32 | UInt64(Self.ref(index, dir))
        var b = Self.startBucket(h, bucketCount)
        for _ in 0..<maxProbe {
            let bucket = buckets + b
            for i in 0..<UInt32(XPF_INDEX_SLOTS) {
                let p = xpf_index_slot(bucket, i)
                let v = xpf_load_relaxed_u64(p)
                if v == 0 || v == XPF_INDEX_TOMBSTONE {
                    if xpf_cas_u64(p, v, value) { return true }  // release: the record is LIVE before this
                }
            }
            b += 1
            if b == bucketCount { b = 0 }
        }
        return false
    }

    /// Removes one direction of record `index` from the index (tombstone).
    @usableFromInline
    func indexRemove(_ key: UnsafePointer<FlowKey>, index: Int, dir: UInt32) {
        let h = Self.hash(key)
        let value = UInt64(UInt32(truncatingIfNeeded: h >> 32)) << 32 | UInt64(Self.ref(index, dir))
        var b = Self.startBucket(h, bucketCount)
        for _ in 0..<maxProbe {
            let bucket = buckets + b
            for i in 0..<UInt32(XPF_INDEX_SLOTS) {
                let p = xpf_index_slot(bucket, i)
                let v = xpf_load_relaxed_u64(p)
                if v == 0 { return }
                if v == value { _ = xpf_cas_u64(p, v, XPF_INDEX_TOMBSTONE); return }
            }
            b += 1
            if b == bucketCount { b = 0 }
        }
    }

    /// The key of one direction of a record (relaxed loads: validate against the
    /// record's state word when the record is not the caller's own).
    @inlinable
    public func key(of index: Int, direction dir: UInt32) -> FlowKey {
        var k = FlowKey()
        xpf_sess_load_key(records + index, dir, &k.family, &k.proto, &k.tuple)
        return k
    }
}

/// The owner's view of its partition: free list, insert, delete, ageing.
/// One per worker process; not shared.
public struct SessionPartition {
    public let table: SessionTable
    public let first: Int
    public let count: Int
    public let owner: UInt8
    @usableFromInline var freeList: UnsafeMutablePointer<UInt32>
    @usableFromInline var freeCount: Int
    @usableFromInline var ageCursor: Int
    /// Next record offset a sliced removal (`removeSlice`) examines.
    @usableFromInline var clearCursor = 0
    /// BUSY records the previous owner left behind (killed mid-insert or mid-remove)
    /// and this one repaired at start: 0 or 1 after a crash, 0 after a clean exit.
    public private(set) var recovered: Int

    /// Scans the partition: FREE records go on the free list. A BUSY record is what a
    /// previous owner killed mid-insert or mid-remove left behind: it is un-indexed in
    /// both directions (with the key fields it holds: complete once either direction
    /// was indexed; no slot refers to it before that) and becomes FREE. Killed again
    /// during this repair, the next owner repeats it: every step is idempotent.
    public init(table: SessionTable, queue: Int, queues: Int) {
        self.table = table
        let per = table.capacity / max(queues, 1)
        first = queue * per
        count = per
        owner = UInt8(truncatingIfNeeded: queue)
        freeList = .allocate(capacity: max(per, 1))
        freeCount = 0
        ageCursor = 0
        recovered = 0
        var i = per - 1
        while i >= 0 {  // push high indices first so low ones are handed out first
            let idx = first + i
            let rec = table.records + idx
            let s = xpf_sess_load_state(rec)
            if s & 3 == UInt32(XPF_SESS_BUSY.rawValue) {
                var k0 = table.key(of: idx, direction: 0)
                var k1 = table.key(of: idx, direction: 1)
                table.indexRemove(&k0, index: idx, dir: 0)
                table.indexRemove(&k1, index: idx, dir: 1)
                xpf_sess_store_state(rec, (s & ~3) | UInt32(XPF_SESS_FREE.rawValue))
                recovered += 1
            }
            if s & 3 != UInt32(XPF_SESS_LIVE.rawValue) {
                freeList[freeCount] = UInt32(idx)
                freeCount += 1
            }
            i -= 1
        }
    }

    public var liveCount: Int { count - freeCount }

    /// Whether record `index` lies in this partition (only its owner removes it).
    @inlinable public func owns(_ index: Int) -> Bool { index >= first && index < first + count }

    /// Creates a session for a first packet. `forward` is the packet's key; the reverse
    /// tuple is what replies carry. Returns the record index, or nil when the table is
    /// full (the caller drops the packet: new flows fail closed, existing ones go on).
    /// The record stays BUSY until both directions are indexed (xpf_abi.h). `policy`
    /// and `flags`: the verdict (the permitting policy's id, XPF_SESS_LOG_CLOSE).
    @inlinable
    public mutating func insert(forward: UnsafePointer<FlowKey>, reverse: xpf_flow_tuple,
                                generation: UInt64, nowMs: UInt32, nowS: UInt32 = 0, ifIn: UInt8, ifOut: UInt8,
                                tcpState: UInt8, policy: UInt16 = UInt16(XPF_SESS_POLICY_DEFAULT), flags: UInt8 = 0) -> Int? {
        if freeCount == 0 { return nil }
        let idx = Int(freeList[freeCount - 1])
        let rec = table.records + idx
        let s = xpf_sess_load_state(rec)
        let seq = (s & ~3) &+ 4
        xpf_sess_store_state(rec, seq | UInt32(XPF_SESS_BUSY.rawValue))
        xpf_fence_release()  // BUSY is visible before any field changes (a reader that sees a new field re-loads BUSY)
        rec.pointee.generation = UInt32(truncatingIfNeeded: generation)
        rec.pointee.created_s = nowS
        xpf_sess_set_flags(rec, flags)
        xpf_sess_set_policy(rec, policy)
        rec.pointee.if_in = ifIn
        rec.pointee.if_out = ifOut
        withUnsafePointer(to: reverse) { r in
            xpf_sess_store_key(rec, forward.pointee.family, forward.pointee.proto,
                               UnsafeRawPointer(forward) + MemoryLayout<FlowKey>.offset(of: \FlowKey.tuple)!, r)
        }
        xpf_sess_reset_activity(rec, nowMs, tcpState)
        var rk = forward.pointee
        rk.tuple = reverse
        if !table.indexInsert(forward, index: idx, dir: 0) {
            xpf_sess_store_state(rec, seq | UInt32(XPF_SESS_FREE.rawValue))
            return nil
        }
        if !withUnsafePointer(to: &rk, { table.indexInsert($0, index: idx, dir: 1) }) {
            table.indexRemove(forward, index: idx, dir: 0)
            xpf_sess_store_state(rec, seq | UInt32(XPF_SESS_FREE.rawValue))
            return nil
        }
        xpf_sess_store_state(rec, seq | UInt32(XPF_SESS_LIVE.rawValue))  // release: fields and slots before LIVE
        freeCount -= 1
        return idx
    }

    /// Removes a session of this partition: BUSY (lookups stop returning it), both
    /// index entries, then FREE.
    public mutating func remove(_ idx: Int) {
        precondition(idx >= first && idx < first + count, "session \(idx) is not in this partition")
        let rec = table.records + idx
        let s = xpf_sess_load_state(rec)
        guard s & 3 == UInt32(XPF_SESS_LIVE.rawValue) else { return }
        let seq = (s & ~3) &+ 4  // every BUSY phase has its own word (SessionTable.check relies on it)
        xpf_sess_store_state(rec, seq | UInt32(XPF_SESS_BUSY.rawValue))
        var k0 = table.key(of: idx, direction: 0)
        var k1 = table.key(of: idx, direction: 1)
        table.indexRemove(&k0, index: idx, dir: 0)
        table.indexRemove(&k1, index: idx, dir: 1)
        xpf_sess_store_state(rec, seq | UInt32(XPF_SESS_FREE.rawValue))
        freeList[freeCount] = UInt32(idx)
        freeCount += 1
    }

    /// Frees the partition's private free list. For an owner that is not a worker process
    /// (xpfd taking over a failed worker's partition); the partition is unusable after.
    public func release() { freeList.deallocate() }

    /// Removes the sessions among the next `budget` records of the partition that
    /// `matching(index)` accepts (a clear in slices: between two, the worker forwards and
    /// xpfd drains the close events); `onClose` sees each record just before it goes.
    /// Returns how many it removed and whether this slice reached the partition's end (the
    /// next sweep starts over).
    public mutating func removeSlice(budget: Int, matching: (Int) -> Bool = { _ in true },
                                     onClose: (Int) -> Void) -> (removed: Int, finished: Bool) {
        let end = min(count, clearCursor + max(budget, 0))
        var n = 0
        for idx in (first + clearCursor)..<(first + end)
        where xpf_sess_load_state(table.records + idx) & 3 == UInt32(XPF_SESS_LIVE.rawValue) && matching(idx) {
            onClose(idx)
            remove(idx)
            n += 1
        }
        clearCursor = end == count ? 0 : end
        return (n, end == count)
    }

    /// Removes every session of this partition (tests, benchmarks); `onClose` sees each
    /// record just before it goes. Returns how many it removed.
    @discardableResult
    public mutating func removeAll(onClose: (Int) -> Void = { _ in }) -> Int {
        var n = 0
        for idx in first..<(first + count) where xpf_sess_load_state(table.records + idx) & 3 == UInt32(XPF_SESS_LIVE.rawValue) {
            onClose(idx)
            remove(idx)
            n += 1
        }
        return n
    }

    /// Examines up to `budget` records from the ageing cursor and removes the expired
    /// ones. `timeoutMs(record)` gives each session's idle timeout; `keep(index)`
    /// is asked about every live record that has not expired, and one it refuses goes too
    /// (a session its policy no longer permits); `onClose(index, expired)` sees each
    /// removed record just before it goes. Returns how many it removed.
    @inlinable
    public mutating func age(nowMs: UInt32, budget: Int, timeoutMs: (UnsafeMutablePointer<xpf_session>) -> UInt32,
                             keep: (Int) -> Bool = { _ in true },
                             onClose: (Int, _ expired: Bool) -> Void = { _, _ in }) -> Int {
        var removed = 0
        if count == 0 { return 0 }
        for _ in 0..<min(budget, count) {
            let idx = first + ageCursor
            ageCursor += 1
            if ageCursor == count { ageCursor = 0 }
            let rec = table.records + idx
            if xpf_sess_load_state(rec) & 3 != UInt32(XPF_SESS_LIVE.rawValue) { continue }
            // Signed wrapping difference: another worker may have stamped last_seen with a
            // clock a few ms ahead of ours (negative idle = just used). Valid for idles < 24 days.
            let idle = Int32(bitPattern: nowMs &- xpf_sess_last_seen(rec))
            let expired = idle > 0 && UInt32(idle) > timeoutMs(rec)
            if expired || !keep(idx) {
                onClose(idx, expired)
                remove(idx)
                removed += 1
            }
        }
        return removed
    }
}
