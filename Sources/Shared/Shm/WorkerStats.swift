// Seqlock over a worker's counters (writer: that worker; readers: xpfd, xpf-top, xpfctl).
// Writer: store seq+1 (odd), release fence, write the counters, store seq+2 with release.
// Reader: load seq (acquire); if odd retry; copy; acquire fence; reload seq; equal → done.
import CXPF

public enum WorkerStatsIO {
    /// Publishes the worker's local counters (absolute values) once per batch.
    @inlinable
    public static func publish(_ block: UnsafeMutablePointer<xpf_worker_block>, _ counters: UnsafePointer<xpf_worker_stats>) {
        let seqp = xpf_wb_stats_seq(block)!
        let seq = xpf_load_relaxed_u64(seqp)
        xpf_store_relaxed_u64(seqp, seq &+ 1)
        xpf_fence_release()  // the odd sequence is visible before any counter changes
        xpf_wb_stats(block)!.update(from: counters, count: 1)
        xpf_store_release_u64(seqp, seq &+ 2)  // pairs with the reader's acquire load
    }

    /// A consistent copy of a worker's counters (retries while the worker is mid-update).
    public static func read(_ block: UnsafeMutablePointer<xpf_worker_block>) -> xpf_worker_stats {
        let seqp = xpf_wb_stats_seq(block)!
        for _ in 0..<1000 {
            let s1 = xpf_load_acquire_u64(seqp)
            if s1 & 1 != 0 { continue }
            let copy = xpf_wb_stats(block)!.pointee
            xpf_fence_acquire()
            if xpf_load_relaxed_u64(seqp) == s1 { return copy }
        }
        return xpf_wb_stats(block)!.pointee  // a worker stuck mid-update: best effort
    }
}

extension xpf_worker_stats {
    public func drop(_ reason: Int) -> UInt64 {
        withUnsafeBytes(of: drops) { $0.load(fromByteOffset: reason * 8, as: UInt64.self) }
    }
    public var totalDrops: UInt64 {
        (0..<Int(XPF_DROP_MAX.rawValue)).reduce(0) { $0 &+ drop($1) }
    }
}

/// A drop reason of XPF_DROP_REASONS (xpf_abi.h, the one list): its counter index, stable
/// name (tools, JSON, /metrics labels) and meaning.
public struct DropReason: Sendable {
    public let index: Int
    public let name: String
    public let meaning: String
}

/// Every drop reason the ABI defines, in counter-index order (unused indices left out).
public let dropReasons: [DropReason] = (0..<Int(XPF_DROP_MAX.rawValue)).compactMap { i in
    guard let name = xpf_drop_reason_name(UInt32(i)), let meaning = xpf_drop_reason_meaning(UInt32(i)) else { return nil }
    return DropReason(index: i, name: String(cString: name), meaning: String(cString: meaning))
}

/// The name of counter index `i`, or "reason<i>" for an index no reason has.
public func dropReasonName(_ i: Int) -> String {
    xpf_drop_reason_name(UInt32(i)).map { String(cString: $0) } ?? "reason\(i)"
}
