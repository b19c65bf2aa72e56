// Single-producer / single-consumer rings in shared memory.
//
// Indices are free-running UInt32s: `producer - consumer` (wrapping) is the fill
// level at every wrap position, and entry i lives at `i & mask`. Each side keeps a
// cached copy of the other side's index and reloads it (acquire) only when the cache
// says there is no room / nothing to read — the libxdp habit.
//
// Orderings: the producer writes entries, then store-releases `producer` (pairs with
// the consumer's load-acquire of `producer` before it reads entries). The consumer
// reads entries, then store-releases `consumer` (pairs with the producer's
// load-acquire of `consumer` before it overwrites those entries).
//
// Model: Shm/Ring.pml (tools/model-check): both sides, index wrap, a restarted producer.
import CXPF

public struct RingProducer<Entry> {
    @usableFromInline let hdr: UnsafeMutablePointer<xpf_ring_hdr>
    @usableFromInline let entries: UnsafeMutablePointer<Entry>
    @usableFromInline let mask: UInt32
    @usableFromInline let size: UInt32
    @usableFromInline var prod: UInt32        // our own index: only we write it
    @usableFromInline var cachedCons: UInt32

    public init(header: UnsafeMutablePointer<xpf_ring_hdr>, entries: UnsafeMutablePointer<Entry>) {
        hdr = header
        self.entries = entries
        size = header.pointee.size
        precondition(size > 0 && size & (size - 1) == 0, "ring size must be a power of two")
        precondition(Int(header.pointee.entry_size) == MemoryLayout<Entry>.stride, "ring entry size mismatch")
        mask = size - 1
        // A restarted producer continues where the last one stopped.
        prod = xpf_load_relaxed_u32(xpf_ring_producer(header))
        cachedCons = xpf_load_acquire_u32(xpf_ring_consumer(header))
    }

    /// Free entries, refreshing the consumer index only if the cache shows fewer than `want`.
    @inlinable
    mutating func free(_ want: UInt32) -> UInt32 {
        var f = size &- (prod &- cachedCons)
        if f < want {
            cachedCons = xpf_load_acquire_u32(xpf_ring_consumer(hdr))  // pairs with consumer's release
            f = size &- (prod &- cachedCons)
        }
        return f
    }

    /// Burst reserve: up to `n` entries (as many as fit). Returns the first index and the count.
    @inlinable
    public mutating func reserve(_ n: UInt32) -> (index: UInt32, count: UInt32) {
        let got = min(n, free(n))
        return (prod, got)
    }

    /// The entry at a reserved index.
    @inlinable
    public func entry(_ index: UInt32) -> UnsafeMutablePointer<Entry> {
        entries + Int(index & mask)  // Safe: masked into [0, size)
    }

    /// Publishes `n` reserved entries.
    @inlinable
    public mutating func submit(_ n: UInt32) {
        prod &+= n
        xpf_store_release_u32(xpf_ring_producer(hdr), prod)  // pairs with consumer's acquire
    }

    /// Pushes one entry; counts and refuses when the ring is full (never waits).
    @inlinable
    @discardableResult
    public mutating func push(_ value: Entry) -> Bool {
        let (i, n) = reserve(1)
        if n == 0 {
            xpf_store_relaxed_u64(xpf_ring_dropped(hdr), xpf_load_relaxed_u64(xpf_ring_dropped(hdr)) &+ 1)
            return false
        }
        entry(i).pointee = value
        submit(1)
        return true
    }
}

public struct RingConsumer<Entry> {
    @usableFromInline let hdr: UnsafeMutablePointer<xpf_ring_hdr>
    @usableFromInline let entries: UnsafeMutablePointer<Entry>
    @usableFromInline let mask: UInt32
    @usableFromInline var cons: UInt32        // our own index: only we write it
    @usableFromInline var cachedProd: UInt32

    public init(header: UnsafeMutablePointer<xpf_ring_hdr>, entries: UnsafeMutablePointer<Entry>) {
        hdr = header
        self.entries = entries
        let size = header.pointee.size
        precondition(size > 0 && size & (size - 1) == 0, "ring size must be a power of two")
        precondition(Int(header.pointee.entry_size) == MemoryLayout<Entry>.stride, "ring entry size mismatch")
        mask = size - 1
        cons = xpf_load_relaxed_u32(xpf_ring_consumer(header))
        cachedProd = xpf_load_acquire_u32(xpf_ring_producer(header))
    }

    /// Burst peek: up to `n` readable entries. Returns the first index and the count.
    @inlinable
    public mutating func peek(_ n: UInt32) -> (index: UInt32, count: UInt32) {
        var avail = cachedProd &- cons
        if avail < n {
            cachedProd = xpf_load_acquire_u32(xpf_ring_producer(hdr))  // pairs with producer's release
            avail = cachedProd &- cons
        }
        return (cons, min(n, avail))
    }

    @inlinable
    public func entry(_ index: UInt32) -> UnsafeMutablePointer<Entry> {
        entries + Int(index & mask)  // Safe: masked into [0, size)
    }

    /// Gives `n` peeked entries back to the producer.
    @inlinable
    public mutating func release(_ n: UInt32) {
        cons &+= n
        xpf_store_release_u32(xpf_ring_consumer(hdr), cons)  // pairs with producer's acquire
    }

    @inlinable
    public mutating func pop() -> Entry? {
        let (i, n) = peek(1)
        if n == 0 { return nil }
        let v = entry(i).pointee
        release(1)
        return v
    }
}
