// The transmit stage: descriptors the pipeline decided to send wait here, per
// egress interface, until the loop flushes them into each egress socket's TX ring.
//
// Bounds: each egress stages at most `capacity` descriptors. One loop can produce more for
// one egress than that (full batches from several interfaces to one egress, ICMP errors
// back out of an ingress, parked frames released at once), so staging into a full egress
// flushes it into its TX ring first. The flush is a burst — as many as the ring has room
// for — because libxdp's `xsk_ring_prod__reserve` is bulk (all or nothing): asking it for
// more than fits would reserve none and drop the whole staged batch. What the ring cannot
// take is freed and counted `tx_full`, never waited for.
import CXPF

public struct TransmitStaging {
    public let egresses: Int
    /// Descriptors staged per egress at most.
    public let capacity: Int
    @usableFromInline let addrs: UnsafeMutablePointer<UInt64>
    @usableFromInline let lens: UnsafeMutablePointer<UInt32>
    @usableFromInline let counts: UnsafeMutablePointer<Int>
    /// The TX ring of each egress interface slot (libxdp keeps these structs in place).
    @usableFromInline let rings: UnsafeMutablePointer<UnsafeMutablePointer<xsk_ring_prod>>
    /// Descriptors submitted to each TX ring and not yet completed (the kick loop sends
    /// while non-zero; completions lower it).
    public let outstanding: UnsafeMutablePointer<UInt32>

    /// `rings[e]` is egress slot e's TX ring. Lives as long as the worker.
    public init(rings: [UnsafeMutablePointer<xsk_ring_prod>], capacity: Int) {
        precondition(capacity > 0 && !rings.isEmpty)
        egresses = rings.count
        self.capacity = capacity
        addrs = .allocate(capacity: egresses * capacity)
        lens = .allocate(capacity: egresses * capacity)
        counts = .allocate(capacity: egresses)
        counts.initialize(repeating: 0, count: egresses)
        self.rings = .allocate(capacity: egresses)
        self.rings.initialize(from: rings, count: egresses)
        outstanding = .allocate(capacity: egresses)
        outstanding.initialize(repeating: 0, count: egresses)
    }

    /// Descriptors staged for egress `e`.
    @inlinable public func staged(_ e: Int) -> Int { counts[e] }

    /// Stages one frame for `egress` (a slot the pipeline took from the FIB or the ingress
    /// socket: always < `egresses`). A full egress is flushed first; `release` frees
    /// frames the TX ring had no room for.
    @inlinable
    public mutating func stage(_ egress: UInt8, addr: UInt64, len: UInt32, counters: inout WorkerCounters,
                               release: (UInt64) -> Void) {
        let e = Int(egress)
        precondition(e < egresses, "egress slot out of range")
        if counts[e] == capacity { flush(e, counters: &counters, release: release) }
        let i = e * capacity + counts[e]  // Safe: counts[e] < capacity after the flush above
        addrs[i] = addr
        lens[i] = len
        counts[e] += 1
    }

    /// Moves every egress's staged descriptors into its TX ring (see `flush(_:…)`).
    @inlinable
    public mutating func flushAll(counters: inout WorkerCounters, release: (UInt64) -> Void) {
        for e in 0..<egresses where counts[e] > 0 { flush(e, counters: &counters, release: release) }
    }

    /// Burst: submits as many of egress `e`'s staged descriptors as its TX ring has room
    /// for; the rest are freed and counted `tx_full`.
    @inlinable
    public mutating func flush(_ e: Int, counters: inout WorkerCounters, release: (UInt64) -> Void) {
        let n = UInt32(counts[e])
        let ring = rings[e]
        // Only ask libxdp's bulk reserve for what fits: it reserves all or nothing.
        let fit = min(n, xsk_prod_nb_free(ring, n))
        var idx: UInt32 = 0
        let got = fit == 0 ? 0 : xsk_ring_prod__reserve(ring, fit, &idx)
        let base = e * capacity
        for i in 0..<Int(got) {
            let d = xsk_ring_prod__tx_desc(ring, idx &+ UInt32(i))!  // Safe: reserved above, masked by libxdp
            d.pointee.addr = addrs[base + i]
            d.pointee.len = lens[base + i]
            d.pointee.options = 0
            counters.s.tx_bytes &+= UInt64(lens[base + i])
        }
        if got > 0 {
            xsk_ring_prod__submit(ring, got)
            outstanding[e] &+= got
            counters.s.tx_packets &+= UInt64(got)
            WorkerCounters.add(&counters.s.if_tx_packets, e, UInt64(got))
        }
        for i in Int(got)..<Int(n) {
            release(addrs[base + i])
            counters.drop(UInt8(XPF_DROP_TX_FULL.rawValue))
        }
        counts[e] = 0
    }
}
