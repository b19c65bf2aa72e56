// The batch driver: what a worker does with one RX batch of one socket, shared by the
// poll loop (Sources/Worker) and the in-memory benchmark (tools/xpf-bench), so the
// benchmark measures exactly the code that forwards packets.
import CXPF

extension Pipeline {
    /// Runs `count` RX descriptors through `process` and writes one action per
    /// descriptor, and for each `.park` action the next hop to resolve at the same index
    /// of `parks`. Frames are rewritten in place in `umem`. Counts rx packets/bytes and
    /// batch fill; drops are counted by the caller as it frees the frames.
    @inlinable
    public mutating func processBatch(umem: UnsafeMutableRawPointer, descs: UnsafePointer<xdp_desc>, count: Int,
                                      ingress: UInt8, counters: inout WorkerCounters,
                                      actions: UnsafeMutablePointer<PacketAction>, parks: UnsafeMutablePointer<ParkRequest>) {
        counters.s.batches &+= 1
        counters.s.batch_packets &+= UInt64(count)
        // The packet trace (Trace.swift): one load and one predictable branch per batch
        // while it is off (session hit 610.4 instructions with it, 609.3 without: register
        // allocation in the loop below; this loop out of line instead measured 622.0).
        if _slowPath(trace.remaining != 0) {
            return processBatchTraced(umem: umem, descs: descs, count: count, ingress: ingress, counters: &counters,
                                      actions: actions, parks: parks)
        }
        // Memory latency, not instructions, bounds a session hit once the table outgrows
        // the caches: start loading each packet's index bucket 4 packets ahead (a
        // second stage prefetching the record measured ~1 ns for ~50 instructions: not kept).
        // The guessed keys and hashes sit in an 8-slot ring indexed by packet number; with
        // `ahead` < 8 a slot is read (guess: k) before packet k + 8 overwrites it.
        let ahead = 4
        for k in 0..<min(ahead, count) {
            prefetchSession(frame: Self.frame(umem, descs[k]), length: Int(descs[k].len), slot: k)
        }
        // Safe: count ≥ 0 (0..<count below requires it), so count - ahead cannot overflow, and
        // for k < lastPrefetcher, k + ahead < count: no overflow check per packet.
        let lastPrefetcher = count &- ahead
        for k in 0..<count {
            if k < lastPrefetcher {
                let n = k &+ ahead
                prefetchSession(frame: Self.frame(umem, descs[n]), length: Int(descs[n].len), slot: n)
            }
            let d = descs[k]
            counters.s.rx_packets &+= 1
            counters.s.rx_bytes &+= UInt64(d.len)
            scratch.pointee.start(frame: Self.frame(umem, d), length: Int(d.len), ingress: ingress)
            let action = process(&scratch.pointee, counters: &counters, guess: k)
            if action.kind == .park { parks[k] = scratch.pointee.park }
            actions[k] = action
        }
    }

    /// The frame descriptor `d` names in `umem`.
    @inlinable @inline(__always)
    static func frame(_ umem: UnsafeMutableRawPointer, _ d: xdp_desc) -> UnsafeMutableRawPointer {
        // Safe: descriptors come from the kernel (or the benchmark) and lie inside `umem`:
        // `addr` is below the UMEM's size, far below 2^63, so it converts to Int exactly
        // (a checked conversion cost 2 instructions per descriptor read, twice a packet).
        umem + Int(truncatingIfNeeded: d.addr)
    }
}
