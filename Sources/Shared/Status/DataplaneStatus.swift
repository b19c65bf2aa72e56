// A read-only view of a running dataplane, assembled from shared memory (and the XDP
// counters map). Used by xpf-top and xpfctl; never writes anything.
#if canImport(Glibc)
import Glibc
#endif
import CXPF

public struct WorkerStatus: Sendable {
    public var queue: Int
    public var pid: Int32
    public var core: Int32
    public var numaNode: Int32
    public var state: String
    public var heartbeatAgeMs: Int64
    public var generation: UInt64
    public var fibVersion: UInt64
    public var restarts: UInt32
    public var stats: xpf_worker_stats
    public var requestsDropped: UInt64
    /// The kernel's statistics of the worker's sockets (published every
    /// WorkerControl.publishIntervalNs, under their own seqlock).
    public var socket = xpf_worker_socket_stats()
}

public struct InterfaceStatus: Sendable {
    public var slot: Int
    public var name: String
    public var ifindex: UInt32
    public var xdpMode: String
    public var rxQueues: UInt32
}

public struct DataplaneStatus: Sendable {
    public var supervisorPid: Int32
    public var supervisorAlive: Bool
    public var state: String
    public var generation: UInt64
    public var fibVersion: UInt64
    public var takenAtNs: UInt64
    public var workers: [WorkerStatus]
    public var interfaces: [InterfaceStatus]
    public var xdp: [UInt64]?          // XPF_XDP_CTR_MAX counters, nil if the map is unreadable
    public var sessionCapacity: UInt64
    public var rxRingSize: UInt32
    public var txRingSize: UInt32

    public static let xdpCounterNames = ["rx_total", "redirect", "pass_not_ip", "pass_local", "pass_control",
                                         "drop_no_worker", "err_parse", "pass_not_dataplane", "redirect_failed",
                                         "drop_host_inbound", "drop_host_policy", "drop_host_outbound",
                                         "drop_host_filter", "drop_host_policer", "tx_host_reject", "host_log_lost"]

    public static func workerStateName(_ s: UInt32) -> String {
        switch s {
        case UInt32(XPF_WORKER_STARTING.rawValue): return "starting"
        case UInt32(XPF_WORKER_RUNNING.rawValue): return "running"
        case UInt32(XPF_WORKER_EXITED.rawValue): return "exited"
        case UInt32(XPF_WORKER_FAILED.rawValue): return "failed"
        case UInt32(XPF_WORKER_PARKED.rawValue): return "parked"
        default: return "empty"
        }
    }

    public static func read(_ region: ShmRegion) -> DataplaneStatus {
        let h = region.header
        let now = monotonicNanos()
        var workers: [WorkerStatus] = []
        for q in 0..<region.queues {
            let w = region.worker(q)
            let hb = xpf_load_relaxed_u64(xpf_wb_heartbeat(w))
            workers.append(WorkerStatus(
                queue: q, pid: w.pointee.pid, core: w.pointee.core, numaNode: w.pointee.numa_node,
                state: workerStateName(xpf_load_acquire_u32(xpf_wb_state(w))),
                heartbeatAgeMs: hb == 0 ? -1 : Int64(now > hb ? (now - hb) / 1_000_000 : 0),
                generation: xpf_load_acquire_u64(xpf_wb_config_seen(w)),
                fibVersion: xpf_load_acquire_u64(xpf_wb_fib_seen(w)),
                restarts: w.pointee.restarts,
                stats: WorkerStatsIO.read(w),
                requestsDropped: xpf_load_relaxed_u64(xpf_ring_dropped(xpf_wb_req_ring(w))),
                socket: WorkerStatsIO.readSocket(w)))
        }
        var ifaces: [InterfaceStatus] = []
        for s in 0..<region.interfaceCount {
            let i = region.iface(s)
            let mode = i.xdp_mode == UInt32(XPF_XDP_MODE_NATIVE.rawValue) ? "native" : i.xdp_mode == UInt32(XPF_XDP_MODE_GENERIC.rawValue) ? "generic" : "none"
            ifaces.append(InterfaceStatus(slot: s, name: stringFromCArray(i.name), ifindex: i.ifindex, xdpMode: mode, rxQueues: i.rx_queues))
        }
        var xdp: [UInt64]? = nil
        let fd = bpf_map_get_fd_by_id(h.pointee.counters_map_id)
        if fd >= 0 {
            var vals = [UInt64](repeating: 0, count: Int(XPF_XDP_CTR_MAX.rawValue))
            if vals.withUnsafeMutableBufferPointer({ xpf_percpu_sum(fd, UInt32(XPF_XDP_CTR_MAX.rawValue), $0.baseAddress) }) == 0 { xdp = vals }
            close(fd)
        }
        let st = xpf_load_acquire_u32(&h.pointee.state)
        return DataplaneStatus(
            supervisorPid: h.pointee.supervisor_pid, supervisorAlive: processAlive(h.pointee.supervisor_pid),
            state: st == UInt32(XPF_SHM_RUNNING.rawValue) ? "running" : st == UInt32(XPF_SHM_STOPPING.rawValue) ? "stopping" : "init",
            generation: region.current(.config).generation, fibVersion: region.current(.fib).generation,
            takenAtNs: now, workers: workers, interfaces: ifaces, xdp: xdp,
            sessionCapacity: h.pointee.session_capacity,
            rxRingSize: h.pointee.rx_ring_size, txRingSize: h.pointee.tx_ring_size)
    }

    /// The worker's busy share between two readings of its counters (issue 11 §1): the
    /// loop time its busy passes took over all loop time; nil when no loop time passed.
    /// A counter lower in `b` than in `a` (a region reset under the reader, a torn best-
    /// effort copy) counts as no time, so the share is always within 0…1.
    public static func busyShare(_ a: xpf_worker_stats, _ b: xpf_worker_stats) -> Double? {
        let busy = delta(a.loop_busy_ns, b.loop_busy_ns)
        let all = Double(busy) + Double(delta(a.loop_idle_ns, b.loop_idle_ns)) + Double(delta(a.loop_spin_ns, b.loop_spin_ns))
        return all == 0 ? nil : Double(busy) / all
    }

    /// The share of the time between two schedstat readings (xpf_worker_socket_stats) that
    /// the worker was runnable but waited for a CPU — another task ran on its core, or its
    /// cgroup's CPU quota was spent; nil without two readings in between. Busy time by the
    /// loop's clock includes such waits (it reads wall time), so a worker held back this way
    /// looks busy, or — waiting after a wake-up — idle.
    public static func cpuWaitShare(_ a: xpf_worker_socket_stats, _ b: xpf_worker_socket_stats) -> Double? {
        guard a.sched_sampled_ns != 0, b.sched_sampled_ns > a.sched_sampled_ns else { return nil }
        return min(1, Double(delta(a.sched_wait_ns, b.sched_wait_ns)) / Double(b.sched_sampled_ns - a.sched_sampled_ns))
    }

    /// b − a for a counter that only grows; 0 when it went back.
    public static func delta(_ a: UInt64, _ b: UInt64) -> UInt64 { b >= a ? b - a : 0 }

    /// Element `i` of a per-interface counter (u64) or gauge (u32) array of the stats.
    public static func perInterface<T>(_ array: T, _ i: Int) -> UInt64 {
        withUnsafeBytes(of: array) { raw in
            raw.count == Int(XPF_MAX_IFACES) * 8 ? raw.load(fromByteOffset: i * 8, as: UInt64.self)
                : UInt64(raw.load(fromByteOffset: i * 4, as: UInt32.self))
        }
    }

    /// Opens the region a state directory points at (DIR/shm), read-only.
    public static func openRegion(stateDir: String) throws -> ShmRegion {
        let link = "\(stateDir)/shm"
        guard access(link, F_OK) == 0 else {
            throw XPFError("no running xpfd with state directory \(stateDir) (\(link) does not exist)")
        }
        return try ShmRegion.attach(path: link, writable: false)
    }
}

/// A minimal JSON writer for the tools' --json output (no Foundation in Shared).
public struct JSONWriter {
    public private(set) var text = ""
    private var needComma: [Bool] = [false]
    public init() {}

    private mutating func sep() {
        if needComma[needComma.count - 1] { text += "," }
        needComma[needComma.count - 1] = true
    }
    private mutating func keyPrefix(_ key: String?) {
        sep()
        if let key { text += Self.quote(key) + ":" }
    }
    public static func quote(_ s: String) -> String {
        var o = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": o += "\\\""
            case "\\": o += "\\\\"
            case "\n": o += "\\n"
            case "\t": o += "\\t"
            default:
                if u.value < 0x20 { o += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16) } else { o.unicodeScalars.append(u) }
            }
        }
        return o + "\""
    }
    public mutating func beginObject(_ key: String? = nil) { keyPrefix(key); text += "{"; needComma.append(false) }
    public mutating func endObject() { needComma.removeLast(); text += "}" }
    public mutating func beginArray(_ key: String? = nil) { keyPrefix(key); text += "["; needComma.append(false) }
    public mutating func endArray() { needComma.removeLast(); text += "]" }
    public mutating func field(_ key: String?, _ v: String) { keyPrefix(key); text += Self.quote(v) }
    public mutating func field<T: BinaryInteger>(_ key: String?, _ v: T) { keyPrefix(key); text += "\(v)" }
    public mutating func field(_ key: String?, _ v: Double) { keyPrefix(key); text += v.isFinite ? "\(v)" : "null" }
    public mutating func field(_ key: String?, _ v: Bool) { keyPrefix(key); text += v ? "true" : "false" }
    public mutating func null(_ key: String?) { keyPrefix(key); text += "null" }
}
