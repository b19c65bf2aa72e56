// Recent exceptions: a bounded list per worker in its worker block (xpf_event_abi.h),
// written by that worker without locks, read by `xpfctl show exceptions`, which merges
// every worker's list by time. The first producer is a full session table; NAT pool
// failures come with the NAT stage.
import CXPF

/// The worker's side: one writer per list.
public struct ExceptionLog {
    @usableFromInline let block: UnsafeMutablePointer<xpf_worker_block>

    public init(block: UnsafeMutablePointer<xpf_worker_block>) { self.block = block }

    /// Records an exception about a packet's flow, or counts it on the latest entry when
    /// that one has the same kind, rule and pool and is younger than a second.
    public func record(_ kind: xpf_exception_kind, rule: UInt32 = XPF_CFG_NONE, pool: UInt32 = XPF_CFG_NONE,
                       family: UInt8, proto: UInt8, flow: xpf_flow_tuple, generation: UInt64, realtimeNs: UInt64) {
        let size = UInt64(XPF_EXCEPTIONS_PER_WORKER)
        let written = xpf_load_relaxed_u64(xpf_wb_exceptions_written(block))  // only we write it
        let entries = xpf_wb_exceptions(block)!
        if written > 0 {
            let last = entries + Int((written - 1) % size)
            if last.pointee.kind == UInt16(kind.rawValue) && last.pointee.rule == rule && last.pointee.pool == pool
                && realtimeNs &- last.pointee.last_ns < XPF_EXCEPTION_COALESCE_NS {
                Self.write(last) { e in
                    e.pointee.count &+= 1
                    e.pointee.last_ns = realtimeNs
                }
                return
            }
        }
        let e = entries + Int(written % size)
        Self.write(e) { e in
            e.pointee.kind = UInt16(kind.rawValue)
            e.pointee.family = family
            e.pointee.proto = proto
            e.pointee.rule = rule
            e.pointee.pool = pool
            e.pointee.generation = UInt32(truncatingIfNeeded: generation)
            e.pointee.count = 1
            e.pointee.first_ns = realtimeNs
            e.pointee.last_ns = realtimeNs
            withUnsafeBytes(of: flow) { t in
                withUnsafeMutableBytes(of: &e.pointee.flow) { $0.copyMemory(from: t) }  // same 36-byte layout
            }
        }
        xpf_store_release_u64(xpf_wb_exceptions_written(block), written + 1)  // pairs with readers' acquire
    }

    /// The entry's seqlock: odd while `body` writes, even (release) after.
    static func write(_ e: UnsafeMutablePointer<xpf_exception>, _ body: (UnsafeMutablePointer<xpf_exception>) -> Void) {
        let seq = xpf_load_acquire_u32(&e.pointee.seq)
        xpf_store_release_u32(&e.pointee.seq, seq | 1)
        xpf_fence_release()  // the odd seq before the fields
        body(e)
        xpf_store_release_u32(&e.pointee.seq, (seq | 1) &+ 1)
    }
}

/// One exception as a reader copied it.
public struct ExceptionEntry: Sendable {
    public var worker: Int
    public var kind: UInt16
    public var family: UInt8
    public var proto: UInt8
    public var rule: UInt32
    public var pool: UInt32
    public var generation: UInt32
    public var count: UInt32
    public var firstNs: UInt64
    public var lastNs: UInt64
    public var flow: xpf_event_tuple

    /// The name of the kind.
    public var kindName: String {
        Int(kind) < Self.kindNames.count ? Self.kindNames[Int(kind)] : "unknown-\(kind)"
    }
    public static let kindNames = ["none", "table-full", "pool-missing", "pool-empty", "pool-invalid",
                                   "pool-invalid-port-range", "pool-wrong-family", "pool-exhausted"]
}

extension ShmRegion {
    /// Every worker's recent exceptions, oldest first. Entries a worker is rewriting at the
    /// moment of the read are re-read a few times, then left out.
    public func exceptions() -> [ExceptionEntry] {
        var out: [ExceptionEntry] = []
        let size = UInt64(XPF_EXCEPTIONS_PER_WORKER)
        for q in 0..<queues {
            let w = worker(q)
            let written = xpf_load_acquire_u64(xpf_wb_exceptions_written(w))  // pairs with the worker's release
            let entries = xpf_wb_exceptions(w)!
            for n in (written > size ? written - size : 0)..<written {
                let e = entries + Int(n % size)
                for _ in 0..<3 {
                    let s1 = xpf_load_acquire_u32(&e.pointee.seq)
                    let copy = e.pointee
                    xpf_fence_acquire()
                    if s1 & 1 == 0 && xpf_load_acquire_u32(&e.pointee.seq) == s1 {
                        out.append(ExceptionEntry(worker: q, kind: copy.kind, family: copy.family, proto: copy.proto,
                                                  rule: copy.rule, pool: copy.pool, generation: copy.generation,
                                                  count: copy.count, firstNs: copy.first_ns, lastNs: copy.last_ns,
                                                  flow: copy.flow))
                        break
                    }
                }
            }
        }
        return out.sorted { $0.lastNs < $1.lastNs }
    }
}
