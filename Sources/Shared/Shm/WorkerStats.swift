// Seqlocks over a worker's counters (writer: that worker; readers: xpfd, xpf-top, xpfctl):
// stats_seq over xpf_worker_stats (published by passes with work, and every
// WorkerControl.publishIntervalNs), socket_stats_seq over xpf_worker_socket_stats (the
// kernel's XDP_STATISTICS, published only when read, every publishIntervalNs).
// Writer: store seq+1 (odd), release fence, write the counters, store seq+2 with release.
// Reader: load seq (acquire); if odd retry; copy; acquire fence; reload seq; equal → done.
import CXPF

public enum WorkerStatsIO {
    /// Publishes the worker's local counters (absolute values) once per batch.
    @inlinable
    public static func publish(_ block: UnsafeMutablePointer<xpf_worker_block>, _ counters: UnsafePointer<xpf_worker_stats>) {
        publish(seq: xpf_wb_stats_seq(block)!, xpf_wb_stats(block)!, counters)
    }

    /// Publishes the worker's socket statistics (absolute values), when it has read them.
    public static func publishSocket(_ block: UnsafeMutablePointer<xpf_worker_block>, _ counts: UnsafePointer<xpf_worker_socket_stats>) {
        publish(seq: socketSeq(block), socketStats(block), counts)
    }

    /// A consistent copy of a worker's counters (retries while the worker is mid-update).
    public static func read(_ block: UnsafeMutablePointer<xpf_worker_block>) -> xpf_worker_stats {
        read(seq: xpf_wb_stats_seq(block)!, xpf_wb_stats(block)!)
    }

    /// A consistent copy of a worker's socket statistics.
    public static func readSocket(_ block: UnsafeMutablePointer<xpf_worker_block>) -> xpf_worker_socket_stats {
        read(seq: socketSeq(block), socketStats(block))
    }

    /// A worker's start: what its last incarnation published, to continue from. A
    /// predecessor SIGKILLed between a publication's two stores left a sequence odd, and
    /// every later publication (+1 then +2) would keep it odd — readers would never see a
    /// consistent copy again. The new worker is the only writer, so it first makes an odd
    /// sequence even (+1, release: the counters as they are, torn or not, are the base).
    public static func resume(_ block: UnsafeMutablePointer<xpf_worker_block>) -> (stats: xpf_worker_stats, socket: xpf_worker_socket_stats) {
        for seq in [xpf_wb_stats_seq(block)!, socketSeq(block)] {
            let s = xpf_load_relaxed_u64(seq)
            if s & 1 != 0 { xpf_store_release_u64(seq, s &+ 1) }
        }
        return (read(block), readSocket(block))
    }

    // Safe (both): offsets of fields of the block, which the caller's pointer covers; the
    // layout is the C header's (_Static_assert'ed there), 8-byte aligned.
    static func socketSeq(_ block: UnsafeMutablePointer<xpf_worker_block>) -> UnsafeMutablePointer<UInt64> {
        (UnsafeMutableRawPointer(block) + MemoryLayout<xpf_worker_block>.offset(of: \.socket_stats_seq)!).assumingMemoryBound(to: UInt64.self)
    }
    static func socketStats(_ block: UnsafeMutablePointer<xpf_worker_block>) -> UnsafeMutablePointer<xpf_worker_socket_stats> {
        (UnsafeMutableRawPointer(block) + MemoryLayout<xpf_worker_block>.offset(of: \.socket_stats)!)
            .assumingMemoryBound(to: xpf_worker_socket_stats.self)
    }

    @inlinable
    static func publish<T>(seq seqp: UnsafeMutablePointer<UInt64>, _ dst: UnsafeMutablePointer<T>, _ src: UnsafePointer<T>) {
        let seq = xpf_load_relaxed_u64(seqp)
        xpf_store_relaxed_u64(seqp, seq &+ 1)
        xpf_fence_release()  // the odd sequence is visible before any counter changes
        dst.update(from: src, count: 1)
        xpf_store_release_u64(seqp, seq &+ 2)  // pairs with the reader's acquire load
    }

    static func read<T>(seq seqp: UnsafeMutablePointer<UInt64>, _ src: UnsafeMutablePointer<T>) -> T {
        for _ in 0..<readAttempts {
            let s1 = xpf_load_acquire_u64(seqp)
            if s1 & 1 != 0 { continue }
            let copy = src.pointee
            xpf_fence_acquire()
            if xpf_load_relaxed_u64(seqp) == s1 { return copy }
        }
        return src.pointee  // a worker stuck mid-update: best effort
    }

    /// Tries of a reader before it takes a possibly torn copy (a worker stopped mid-update).
    static let readAttempts = 1000
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
