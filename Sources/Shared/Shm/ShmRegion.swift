// The shared-memory region: creation by xpfd, attachment by workers and tools.
// Layout and field ownership are defined in Sources/CXPF/include/xpf_abi.h.
#if canImport(Glibc)
import Glibc
#endif
import CXPF

/// Sizes that decide the region's layout; chosen by xpfd from the configuration.
public struct ShmGeometry: Equatable, Sendable {
    public var queues: Int
    public var interfaces: Int
    public var umemFrames: Int        // per worker
    public var frameSize: Int
    public var sessionCapacity: Int   // records in the whole table

    public init(queues: Int, interfaces: Int, umemFrames: Int, frameSize: Int = 2048, sessionCapacity: Int) {
        self.queues = queues
        self.interfaces = interfaces
        self.umemFrames = umemFrames
        self.frameSize = frameSize
        self.sessionCapacity = sessionCapacity
    }

    public static let pageSize = 4096
    /// One compiled configuration (head + sections, xpf_config_abi.h). A configuration
    /// whose snapshot does not fit is refused at commit (ConfigSnapshotImage). 8 MiB:
    /// 10 000 policies of mixed prefixes and ports take 2.4 MB with their classifier
    /// (docs/performance.md "Policy lookup"). A slot's pages are allocated when a commit
    /// first uses it (publishConfig zeroes the whole slot): 32 MiB after four commits.
    public static let configSlotSize = 8 << 20

    static func roundUp(_ v: Int, _ to: Int) -> Int { (v + to - 1) / to * to }

    /// Index buckets of 8 slots: at least four slots per session (two directions at
    /// most half full), so probes stay short; not rounded to a power of two, so the
    /// index costs 32 bytes per session at any capacity.
    public var indexBuckets: Int {
        max(64, (sessionCapacity * 4 + Int(XPF_INDEX_SLOTS) - 1) / Int(XPF_INDEX_SLOTS))
    }

    public var fibSlotSize: Int { Self.roundUp(MemoryLayout<xpf_fib_snapshot>.stride, Self.pageSize) }

    /// Offsets of each part, page aligned, in the order of xpf_abi.h.
    public struct Offsets: Equatable, Sendable {
        public var config = 0, fib = 0, workers = 0, policyHits = 0, filterHits = 0, policers = 0, sessions = 0, index = 0, umem = 0, total = 0
    }

    public var offsets: Offsets {
        var o = Offsets()
        var at = Self.roundUp(MemoryLayout<xpf_shm_header>.stride, Self.pageSize)
        o.config = at; at += Int(XPF_CONFIG_SLOTS) * Self.configSlotSize
        o.fib = at; at += Int(XPF_FIB_SLOTS) * fibSlotSize
        o.workers = at; at += Self.roundUp(queues * MemoryLayout<xpf_worker_block>.stride, Self.pageSize)
        o.policyHits = at; at += Self.roundUp(queues * MemoryLayout<xpf_policy_hits>.stride, Self.pageSize)
        o.filterHits = at; at += Self.roundUp(queues * MemoryLayout<xpf_filter_hits>.stride, Self.pageSize)
        o.policers = at; at += Self.roundUp(MemoryLayout<xpf_policer_buckets>.stride, Self.pageSize)
        o.sessions = at; at += Self.roundUp(sessionCapacity * MemoryLayout<xpf_session>.stride, Self.pageSize)
        o.index = at; at += Self.roundUp(indexBuckets * MemoryLayout<xpf_index_bucket>.stride, Self.pageSize)
        o.umem = at; at += queues * Self.roundUp(umemFrames * frameSize, Self.pageSize)
        o.total = at
        return o
    }
}

/// A mapping of the region. Unmaps in deinit, so no error path leaks it.
public final class ShmRegion {
    public let path: String
    public let base: UnsafeMutableRawPointer
    public let size: Int
    public let writable: Bool

    public var header: UnsafeMutablePointer<xpf_shm_header> {
        // Safe: the region starts with the header and is at least header-sized (checked at map time).
        base.assumingMemoryBound(to: xpf_shm_header.self)
    }

    private init(path: String, base: UnsafeMutableRawPointer, size: Int, writable: Bool) {
        self.path = path
        self.base = base
        self.size = size
        self.writable = writable
    }

    deinit { munmap(base, size) }

    /// Creates (or replaces a stale) region file and writes its header. Refuses when a
    /// live supervisor still owns the file.
    public static func create(path: String, geometry g: ShmGeometry, supervisorPid: Int32) throws -> ShmRegion {
        if let pid = recordedSupervisorPid(path), pid != getpid() && processAlive(pid) {
            throw XPFError("shared memory \(path) is in use by a running xpfd (pid \(pid))")
        }
        unlink(path)
        let off = g.offsets
        let fd = try sysCall("open(\(path))") { open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        defer { close(fd) }
        try sysCall("ftruncate") { ftruncate(fd, off_t(off.total)) }
        guard let p = mmap(nil, off.total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw SysError("mmap(\(path))", xpf_errno())
        }
        let r = ShmRegion(path: path, base: p, size: off.total, writable: true)
        let h = r.header
        // The file is new and zero-filled (ftruncate); write geometry, then identity last.
        h.pointee.header_size = UInt32(MemoryLayout<xpf_shm_header>.stride)
        h.pointee.total_size = UInt64(off.total)
        h.pointee.created_realtime_ns = realtimeNanos()
        h.pointee.supervisor_pid = supervisorPid
        h.pointee.n_queues = UInt32(g.queues)
        h.pointee.n_ifaces = UInt32(g.interfaces)
        h.pointee.umem_frames = UInt32(g.umemFrames)
        h.pointee.frame_size = UInt32(g.frameSize)
        h.pointee.config_slot_size = UInt32(ShmGeometry.configSlotSize)
        h.pointee.fib_slot_size = UInt32(g.fibSlotSize)
        h.pointee.session_capacity = UInt64(g.sessionCapacity)
        h.pointee.index_buckets = UInt64(g.indexBuckets)
        h.pointee.off_config = UInt64(off.config)
        h.pointee.off_fib = UInt64(off.fib)
        h.pointee.off_workers = UInt64(off.workers)
        h.pointee.off_policy_hits = UInt64(off.policyHits)
        h.pointee.off_filter_hits = UInt64(off.filterHits)
        h.pointee.off_policers = UInt64(off.policers)
        h.pointee.off_sessions = UInt64(off.sessions)
        h.pointee.off_index = UInt64(off.index)
        h.pointee.off_umem = UInt64(off.umem)
        h.pointee.layout_hash = xpf_abi_layout_hash()
        h.pointee.abi_version = XPF_ABI_VERSION
        for q in 0..<g.queues {
            let w = r.worker(q)
            w.pointee.queue = UInt32(q)
            w.pointee.pid = 0
            w.pointee.core = -1
            w.pointee.numa_node = -1
            w.pointee.req_ring.size = UInt32(XPF_REQ_RING_SIZE)
            w.pointee.req_ring.entry_size = UInt32(MemoryLayout<xpf_neigh_request>.stride)
            w.pointee.event_ring.size = UInt32(XPF_EVENT_RING_SIZE)
            w.pointee.event_ring.entry_size = UInt32(MemoryLayout<xpf_event>.stride)
            w.pointee.trace_ring.size = UInt32(XPF_TRACE_RING_SIZE)
            w.pointee.trace_ring.entry_size = UInt32(MemoryLayout<xpf_trace_record>.stride)
        }
        h.pointee.event_format_version = XPF_EVENT_FORMAT_VERSION
        // Magic last, with release: a reader that sees the magic sees the geometry.
        xpf_fence_release()
        h.pointee.magic = XPF_SHM_MAGIC
        return r
    }

    /// The supervisor pid an existing region file records, read from the identity prefix
    /// (magic … supervisor_pid) that every ABI version keeps in place — so a live xpfd of
    /// another build is recognised too. Nil for a missing or foreign file.
    static func recordedSupervisorPid(_ path: String) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return nil }
        defer { close(fd) }
        var magic: UInt64 = 0
        var pid: Int32 = 0
        let pidOffset = MemoryLayout<xpf_shm_header>.offset(of: \xpf_shm_header.supervisor_pid)!
        guard pread(fd, &magic, 8, 0) == 8, magic == XPF_SHM_MAGIC,
              pread(fd, &pid, 4, off_t(pidOffset)) == 4 else { return nil }
        return pid
    }

    /// Maps an existing region and validates its header. Throws a clear error
    /// for a missing file, a foreign file, or a different ABI.
    public static func attach(path: String, writable: Bool) throws -> ShmRegion {
        let fd = try sysCall("open(\(path))") { open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC) }
        defer { close(fd) }
        var st = stat()
        try sysCall("fstat") { fstat(fd, &st) }
        let fileSize = Int(st.st_size)
        let prot = writable ? PROT_READ | PROT_WRITE : PROT_READ
        guard fileSize >= MemoryLayout<xpf_shm_header>.stride else {
            throw XPFError("\(path): too small (\(fileSize) bytes) to be an xpf shared-memory region")
        }
        guard let p = mmap(nil, fileSize, prot, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw SysError("mmap(\(path))", xpf_errno())
        }
        let r = ShmRegion(path: path, base: p, size: fileSize, writable: writable)
        try r.validate()
        return r
    }

    /// Header checks shared by every process that maps the region.
    public func validate() throws {
        let h = header.pointee
        guard h.magic == XPF_SHM_MAGIC else {
            throw XPFError("\(path): not an xpf shared-memory region (bad magic 0x\(String(h.magic, radix: 16)))")
        }
        guard h.abi_version == XPF_ABI_VERSION else {
            throw XPFError("\(path): ABI version \(h.abi_version), this binary speaks \(XPF_ABI_VERSION); rebuild and restart every xpf process")
        }
        guard h.layout_hash == xpf_abi_layout_hash() else {
            throw XPFError("\(path): layout hash 0x\(String(h.layout_hash, radix: 16)) differs from this binary's 0x\(String(xpf_abi_layout_hash(), radix: 16)); binaries are from different trees")
        }
        guard h.total_size == UInt64(size) else {
            throw XPFError("\(path): header says \(h.total_size) bytes, file has \(size)")
        }
        // Geometry must describe exactly the layout this binary would compute, so no
        // offset read from the file can point outside the mapping.
        guard h.n_queues >= 1 && h.n_queues <= UInt32(XPF_MAX_QUEUES),
              h.n_ifaces >= 1 && h.n_ifaces <= UInt32(XPF_MAX_IFACES),
              h.session_capacity >= 1 && h.session_capacity < UInt64(Int32.max),
              h.frame_size >= 2048 && h.frame_size & (h.frame_size - 1) == 0,
              h.config_slot_size == UInt32(ShmGeometry.configSlotSize) else {
            throw XPFError("\(path): implausible geometry in the header (queues \(h.n_queues), interfaces \(h.n_ifaces), sessions \(h.session_capacity), frame \(h.frame_size))")
        }
        let g = ShmGeometry(queues: Int(h.n_queues), interfaces: Int(h.n_ifaces), umemFrames: Int(h.umem_frames),
                            frameSize: Int(h.frame_size), sessionCapacity: Int(h.session_capacity))
        let o = g.offsets
        guard o.total == size, UInt64(o.config) == h.off_config, UInt64(o.fib) == h.off_fib,
              UInt64(o.workers) == h.off_workers, UInt64(o.policyHits) == h.off_policy_hits,
              UInt64(o.filterHits) == h.off_filter_hits, UInt64(o.policers) == h.off_policers,
              UInt64(o.sessions) == h.off_sessions,
              UInt64(o.index) == h.off_index, UInt64(o.umem) == h.off_umem,
              UInt64(g.indexBuckets) == h.index_buckets, UInt32(g.fibSlotSize) == h.fib_slot_size else {
            throw XPFError("\(path): header offsets do not match its geometry (corrupt region)")
        }
    }

    // MARK: parts

    public var queues: Int { Int(header.pointee.n_queues) }
    public var interfaceCount: Int { Int(header.pointee.n_ifaces) }

    public func worker(_ q: Int) -> UnsafeMutablePointer<xpf_worker_block> {
        precondition(q >= 0 && q < queues)
        return (base + Int(header.pointee.off_workers) + q * MemoryLayout<xpf_worker_block>.stride)
            .assumingMemoryBound(to: xpf_worker_block.self)
    }

    /// Worker `q`'s policy hit counters (struct xpf_policy_hits: both banks).
    public func policyHits(_ q: Int) -> UnsafeMutablePointer<xpf_policy_hits> {
        precondition(q >= 0 && q < queues)
        return (base + Int(header.pointee.off_policy_hits) + q * MemoryLayout<xpf_policy_hits>.stride)
            .assumingMemoryBound(to: xpf_policy_hits.self)
    }

    /// Worker `q`'s firewall filter counters (struct xpf_filter_hits: both banks).
    public func filterHits(_ q: Int) -> UnsafeMutablePointer<xpf_filter_hits> {
        precondition(q >= 0 && q < queues)
        return (base + Int(header.pointee.off_filter_hits) + q * MemoryLayout<xpf_filter_hits>.stride)
            .assumingMemoryBound(to: xpf_filter_hits.self)
    }

    /// The policer instances' buckets (struct xpf_policer_buckets: both banks), which every
    /// worker shares.
    public var policerBuckets: UnsafeMutablePointer<xpf_policer_buckets> {
        // Safe: the part lies inside the mapping (offsets checked against the geometry at map time).
        (base + Int(header.pointee.off_policers)).assumingMemoryBound(to: xpf_policer_buckets.self)
    }

    public func iface(_ slot: Int) -> xpf_iface {
        withUnsafeBytes(of: header.pointee.ifaces) { $0.load(fromByteOffset: slot * MemoryLayout<xpf_iface>.stride, as: xpf_iface.self) }
    }

    public func setIface(_ slot: Int, _ value: xpf_iface) {
        let off = MemoryLayout<xpf_shm_header>.offset(of: \xpf_shm_header.ifaces)! + slot * MemoryLayout<xpf_iface>.stride
        (base + off).storeBytes(of: value, as: xpf_iface.self)
    }

    public func configSlot(_ i: Int) -> UnsafeMutablePointer<xpf_config_snapshot> {
        (base + Int(header.pointee.off_config) + i * Int(header.pointee.config_slot_size))
            .assumingMemoryBound(to: xpf_config_snapshot.self)
    }

    public func fibSlot(_ i: Int) -> UnsafeMutablePointer<xpf_fib_snapshot> {
        (base + Int(header.pointee.off_fib) + i * Int(header.pointee.fib_slot_size))
            .assumingMemoryBound(to: xpf_fib_snapshot.self)
    }

    public var sessions: UnsafeMutablePointer<xpf_session> {
        (base + Int(header.pointee.off_sessions)).assumingMemoryBound(to: xpf_session.self)
    }

    public var indexBuckets: UnsafeMutablePointer<xpf_index_bucket> {
        (base + Int(header.pointee.off_index)).assumingMemoryBound(to: xpf_index_bucket.self)
    }

    public var sessionTable: SessionTable {
        SessionTable(records: sessions, capacity: Int(header.pointee.session_capacity),
                     buckets: indexBuckets, bucketCount: Int(header.pointee.index_buckets))
    }

    /// UMEM slice of worker `q` (page aligned; registered by that worker with xsk_umem__create).
    public func umem(_ q: Int) -> (UnsafeMutableRawPointer, Int) {
        let slice = ShmGeometry.roundUp(Int(header.pointee.umem_frames) * Int(header.pointee.frame_size), ShmGeometry.pageSize)
        return (base + Int(header.pointee.off_umem) + q * slice, slice)
    }

    /// Pointer to the header's published config word (see xpf_abi.h for the protocol).
    public var configCurrentWord: UnsafeMutablePointer<UInt64> {
        (base + MemoryLayout<xpf_shm_header>.offset(of: \xpf_shm_header.config_current)!).assumingMemoryBound(to: UInt64.self)
    }

    public var fibCurrentWord: UnsafeMutablePointer<UInt64> {
        (base + MemoryLayout<xpf_shm_header>.offset(of: \xpf_shm_header.fib_current)!).assumingMemoryBound(to: UInt64.self)
    }
}
