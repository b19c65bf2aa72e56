import XCTest
import CXPF
@testable import Shared
#if canImport(Glibc)
import Glibc
#endif

// Tests for Sources/Shared/Shm/ShmRegion.swift: region creation, geometry, attach
// validation and the stale-file / live-owner rules of `create`.

/// Region files for tests: unique names in /dev/shm, removed by `removeAll()`.
/// Shared by the shared-memory test classes (Generation, SessionTable, Forward).
final class ShmTestFixture {
    private(set) var paths: [String] = []
    nonisolated(unsafe) private static var counter = 0

    /// A fresh unique path in /dev/shm (nothing created yet).
    func path(_ tag: String) -> String {
        Self.counter += 1
        let p = "/dev/shm/xpf-test-\(getpid())-\(tag)-\(Self.counter)-\(UInt32.random(in: 0...UInt32.max))"
        paths.append(p)
        return p
    }

    /// Creates a small region (little UMEM) owned by this process.
    func region(_ tag: String, queues: Int = 1, interfaces: Int = 2, sessionCapacity: Int = 1024,
                umemFrames: Int = 16) throws -> ShmRegion {
        let g = ShmGeometry(queues: queues, interfaces: interfaces, umemFrames: umemFrames, sessionCapacity: sessionCapacity)
        return try ShmRegion.create(path: path(tag), geometry: g, supervisorPid: getpid())
    }

    func removeAll() {
        for p in paths { unlink(p) }
        paths.removeAll()
    }
}

/// The size of a file (stat), or -1.
func shmTestFileSize(_ path: String) -> Int {
    var st = stat()
    return stat(path, &st) == 0 ? Int(st.st_size) : -1
}

/// A pid that certainly is not running: a child that has exited and been reaped.
func shmTestDeadPid() -> Int32 {
    var pid: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
    defer { free(argv[0]) }
    let r = posix_spawn(&pid, "/bin/true", nil, nil, argv, environ)
    precondition(r == 0, "posix_spawn /bin/true: \(r)")
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return pid
}

final class ShmRegionTests: XCTestCase {
    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    let fx = ShmTestFixture()

    override func tearDown() {
        fx.removeAll()
        super.tearDown()
    }

    /// Error text of a throwing call, or a failure when it does not throw.
    private func errorText(_ body: () throws -> Any, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try body()
            XCTFail("expected an error", file: file, line: line)
            return ""
        } catch {
            return "\(error)"
        }
    }

    /// Rewrites one header field of an existing region file through a writable mapping
    /// that skips validation (a plain mmap).
    private func patchHeader(_ path: String, _ body: (UnsafeMutablePointer<xpf_shm_header>) -> Void) {
        let fd = open(path, O_RDWR)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let len = MemoryLayout<xpf_shm_header>.stride
        guard let p = mmap(nil, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            return XCTFail("mmap failed")
        }
        body(p.assumingMemoryBound(to: xpf_shm_header.self))
        munmap(p, len)
    }

    // MARK: geometry

    func testGeometryOffsetsArePageAlignedOrderedAndNonOverlapping() {
        for (q, cap, frames) in [(1, 1024, 16), (2, 65536, 4096), (3, 1_000_000 / 3 * 3, 8192), (64, 1 << 20, 64)] {
            let g = ShmGeometry(queues: q, interfaces: 4, umemFrames: frames, sessionCapacity: cap)
            let o = g.offsets
            let page = ShmGeometry.pageSize
            for (name, off) in [("config", o.config), ("fib", o.fib), ("workers", o.workers), ("sessions", o.sessions),
                                ("index", o.index), ("umem", o.umem), ("total", o.total)] {
                XCTAssertEqual(off % page, 0, "\(name) offset \(off) is page aligned (q=\(q))")
            }
            // Each part fits before the next one starts.
            XCTAssertGreaterThanOrEqual(o.config, MemoryLayout<xpf_shm_header>.stride)
            XCTAssertGreaterThanOrEqual(o.fib - o.config, Int(XPF_CONFIG_SLOTS) * ShmGeometry.configSlotSize)
            XCTAssertGreaterThanOrEqual(ShmGeometry.configSlotSize, MemoryLayout<xpf_config_snapshot>.stride)
            XCTAssertGreaterThanOrEqual(g.fibSlotSize, MemoryLayout<xpf_fib_snapshot>.stride)
            XCTAssertEqual(g.fibSlotSize % page, 0)
            XCTAssertGreaterThanOrEqual(o.workers - o.fib, Int(XPF_FIB_SLOTS) * g.fibSlotSize)
            XCTAssertGreaterThanOrEqual(o.sessions - o.workers, q * MemoryLayout<xpf_worker_block>.stride)
            XCTAssertGreaterThanOrEqual(o.index - o.sessions, cap * MemoryLayout<xpf_session>.stride)
            XCTAssertGreaterThanOrEqual(o.umem - o.index, g.indexBuckets * MemoryLayout<xpf_index_bucket>.stride)
            let slice = (frames * g.frameSize + page - 1) / page * page
            XCTAssertEqual(o.total - o.umem, q * slice, "UMEM is one page-aligned slice per queue")
            // No slack beyond page rounding.
            XCTAssertLessThan(o.fib - o.config - Int(XPF_CONFIG_SLOTS) * ShmGeometry.configSlotSize, page)
            XCTAssertLessThan(o.index - o.sessions - cap * MemoryLayout<xpf_session>.stride, page)
            // Index: at least four slots per session (two directions, at most half full).
            XCTAssertGreaterThanOrEqual(g.indexBuckets * Int(XPF_INDEX_SLOTS), cap * 4)
        }
    }

    func testCreateWritesHeaderMatchingGeometryAndFileSize() throws {
        let g = ShmGeometry(queues: 2, interfaces: 3, umemFrames: 32, sessionCapacity: 4096)
        let path = fx.path("hdr")
        let r = try ShmRegion.create(path: path, geometry: g, supervisorPid: getpid())
        let o = g.offsets
        let h = r.header.pointee
        XCTAssertEqual(shmTestFileSize(path), o.total, "file size is the geometry total")
        XCTAssertEqual(r.size, o.total)
        XCTAssertEqual(h.magic, XPF_SHM_MAGIC)
        XCTAssertEqual(h.abi_version, XPF_ABI_VERSION)
        XCTAssertEqual(h.layout_hash, xpf_abi_layout_hash())
        XCTAssertEqual(h.header_size, UInt32(MemoryLayout<xpf_shm_header>.stride))
        XCTAssertEqual(h.total_size, UInt64(o.total))
        XCTAssertEqual(h.supervisor_pid, getpid())
        XCTAssertEqual(h.state, UInt32(XPF_SHM_INIT.rawValue))
        XCTAssertEqual(h.n_queues, 2)
        XCTAssertEqual(h.n_ifaces, 3)
        XCTAssertEqual(h.umem_frames, 32)
        XCTAssertEqual(h.frame_size, 2048)
        XCTAssertEqual(h.config_slot_size, UInt32(ShmGeometry.configSlotSize))
        XCTAssertEqual(h.fib_slot_size, UInt32(g.fibSlotSize))
        XCTAssertEqual(h.session_capacity, 4096)
        XCTAssertEqual(h.index_buckets, UInt64(g.indexBuckets))
        XCTAssertEqual(h.off_config, UInt64(o.config))
        XCTAssertEqual(h.off_fib, UInt64(o.fib))
        XCTAssertEqual(h.off_workers, UInt64(o.workers))
        XCTAssertEqual(h.off_sessions, UInt64(o.sessions))
        XCTAssertEqual(h.off_index, UInt64(o.index))
        XCTAssertEqual(h.off_umem, UInt64(o.umem))
        XCTAssertGreaterThan(h.created_realtime_ns, 0)
        XCTAssertEqual(r.current(.config).generation, 0, "nothing published yet")
        XCTAssertEqual(r.current(.fib).generation, 0)
        for q in 0..<2 {
            let w = r.worker(q).pointee
            XCTAssertEqual(w.queue, UInt32(q))
            XCTAssertEqual(w.state, UInt32(XPF_WORKER_EMPTY.rawValue))
            XCTAssertEqual(w.core, -1)
            XCTAssertEqual(w.numa_node, -1)
            XCTAssertEqual(w.req_ring.size, UInt32(XPF_REQ_RING_SIZE))
            XCTAssertEqual(w.req_ring.entry_size, UInt32(MemoryLayout<xpf_neigh_request>.stride))
        }
        // Parts resolve to the header offsets.
        XCTAssertEqual(UnsafeMutableRawPointer(r.sessions) - r.base, o.sessions)
        XCTAssertEqual(UnsafeMutableRawPointer(r.indexBuckets) - r.base, o.index)
        XCTAssertEqual(UnsafeMutableRawPointer(r.worker(1)) - r.base, o.workers + MemoryLayout<xpf_worker_block>.stride)
        XCTAssertEqual(UnsafeMutableRawPointer(r.configSlot(2)) - r.base, o.config + 2 * ShmGeometry.configSlotSize)
        XCTAssertEqual(UnsafeMutableRawPointer(r.fibSlot(3)) - r.base, o.fib + 3 * g.fibSlotSize)
        let (u1, len) = r.umem(1)
        XCTAssertEqual(len, 32 * 2048)
        XCTAssertEqual(u1 - r.base, o.umem + len)
        XCTAssertEqual((u1 - r.base) % ShmGeometry.pageSize, 0)
        XCTAssertEqual(r.configCurrentWord, UnsafeMutableRawPointer(r.base + 192).assumingMemoryBound(to: UInt64.self))
        XCTAssertEqual(r.fibCurrentWord, UnsafeMutableRawPointer(r.base + 256).assumingMemoryBound(to: UInt64.self))
        let t = r.sessionTable
        XCTAssertEqual(t.capacity, 4096)
        XCTAssertEqual(t.buckets, r.indexBuckets)
        XCTAssertEqual(t.records, r.sessions)
    }

    func testAttachSeesTheSameRegionAndSharesMemory() throws {
        let created = try fx.region("attach", queues: 2, interfaces: 2)
        var ifc = xpf_iface()
        ifc.ifindex = 7
        ifc.mac = (2, 0, 0, 0, 0, 9)
        ifc.mtu = 9000
        copyCString("eth-test", into: &ifc.name)
        created.setIface(1, ifc)
        let ro = try ShmRegion.attach(path: created.path, writable: false)
        XCTAssertFalse(ro.writable)
        XCTAssertEqual(ro.size, created.size)
        XCTAssertEqual(ro.queues, 2)
        XCTAssertEqual(ro.interfaceCount, 2)
        XCTAssertEqual(ro.iface(1).ifindex, 7)
        XCTAssertEqual(ro.iface(1).mtu, 9000)
        XCTAssertEqual(stringFromCArray(ro.iface(1).name), "eth-test")
        XCTAssertEqual(ro.iface(1).mac.5, 9)
        let rw = try ShmRegion.attach(path: created.path, writable: true)
        XCTAssertTrue(rw.writable)
        rw.worker(1).pointee.restarts = 42
        XCTAssertEqual(created.worker(1).pointee.restarts, 42, "MAP_SHARED: one memory")
        XCTAssertEqual(ro.worker(1).pointee.restarts, 42)
    }

    // MARK: attach refusals

    func testAttachRefusesMissingFile() {
        let p = fx.path("missing")
        let text = errorText { try ShmRegion.attach(path: p, writable: false) }
        XCTAssertTrue(text.contains(p) && text.contains("No such file"), text)
    }

    func testAttachRefusesWrongMagic() throws {
        let r = try fx.region("magic")
        patchHeader(r.path) { $0.pointee.magic = 0x1122_3344_5566_7788 }
        let text = errorText { try ShmRegion.attach(path: r.path, writable: false) }
        XCTAssertTrue(text.contains("not an xpf shared-memory region") && text.contains("magic") && text.contains("1122334455667788"), text)
        XCTAssertTrue(text.contains(r.path), text)
    }

    func testAttachRefusesOtherABIVersion() throws {
        let r = try fx.region("abi")
        patchHeader(r.path) { $0.pointee.abi_version = XPF_ABI_VERSION + 1 }
        let text = errorText { try ShmRegion.attach(path: r.path, writable: true) }
        XCTAssertTrue(text.contains("ABI version \(XPF_ABI_VERSION + 1)") && text.contains("speaks \(XPF_ABI_VERSION)"), text)
    }

    func testAttachRefusesOffsetsThatDisagreeWithGeometry() throws {
        // A corrupt offset must never become a pointer outside the mapping.
        let r = try fx.region("offsets")
        patchHeader(r.path) { $0.pointee.off_umem += 4096 }
        let text = errorText { try ShmRegion.attach(path: r.path, writable: false) }
        XCTAssertTrue(text.contains("offsets do not match its geometry"), text)
    }

    func testAttachRefusesImplausibleGeometry() throws {
        let r = try fx.region("geometry")
        patchHeader(r.path) { $0.pointee.n_queues = 1000 }
        let text = errorText { try ShmRegion.attach(path: r.path, writable: false) }
        XCTAssertTrue(text.contains("implausible geometry") && text.contains("queues 1000"), text)
    }

    func testAttachRefusesOtherLayoutHash() throws {
        let r = try fx.region("hash")
        patchHeader(r.path) { $0.pointee.layout_hash = 0xABCD }
        let text = errorText { try ShmRegion.attach(path: r.path, writable: false) }
        XCTAssertTrue(text.contains("layout hash 0xabcd") && text.contains("different trees"), text)
    }

    func testAttachRefusesTotalSizeDifferentFromFile() throws {
        let r = try fx.region("total")
        let size = r.size
        // A file grown behind the header's back.
        XCTAssertEqual(truncate(r.path, off_t(size + 4096)), 0)
        var text = errorText { try ShmRegion.attach(path: r.path, writable: false) }
        XCTAssertTrue(text.contains("header says \(size) bytes") && text.contains("file has \(size + 4096)"), text)
        // And a header that claims another size than the file has.
        XCTAssertEqual(truncate(r.path, off_t(size)), 0)
        patchHeader(r.path) { $0.pointee.total_size = UInt64(size * 2) }
        text = errorText { try ShmRegion.attach(path: r.path, writable: false) }
        XCTAssertTrue(text.contains("header says \(size * 2) bytes") && text.contains("file has \(size)"), text)
    }

    func testAttachRefusesFileTooSmallForAHeader() throws {
        let p = fx.path("small")
        let fd = open(p, O_RDWR | O_CREAT, 0o600)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(ftruncate(fd, 100), 0)
        close(fd)
        var text = errorText { try ShmRegion.attach(path: p, writable: false) }
        XCTAssertTrue(text.contains("too small (100 bytes)"), text)
        XCTAssertEqual(truncate(p, 0), 0)
        text = errorText { try ShmRegion.attach(path: p, writable: false) }
        XCTAssertTrue(text.contains("too small (0 bytes)"), text)
    }

    // MARK: create vs an existing file

    func testCreateRefusesWhileRecordedSupervisorIsAlive() throws {
        let path = fx.path("live")
        let g = ShmGeometry(queues: 1, interfaces: 1, umemFrames: 16, sessionCapacity: 1024)
        // Pid 1 is alive and not us: a running xpfd owns the file.
        let first = try ShmRegion.create(path: path, geometry: g, supervisorPid: 1)
        first.header.pointee.created_realtime_ns = 12345
        var st1 = stat()
        XCTAssertEqual(stat(path, &st1), 0)
        let text = errorText { try ShmRegion.create(path: path, geometry: g, supervisorPid: getpid()) }
        XCTAssertTrue(text.contains("in use by a running xpfd (pid 1)") && text.contains(path), text)
        // The file is untouched.
        var st2 = stat()
        XCTAssertEqual(stat(path, &st2), 0)
        XCTAssertEqual(st1.st_ino, st2.st_ino, "the live owner's file was not replaced")
        let again = try ShmRegion.attach(path: path, writable: false)
        XCTAssertEqual(again.header.pointee.supervisor_pid, 1)
        XCTAssertEqual(again.header.pointee.created_realtime_ns, 12345)
    }

    func testCreateReplacesStaleFileWhoseSupervisorIsDead() throws {
        let path = fx.path("stale")
        let g = ShmGeometry(queues: 1, interfaces: 1, umemFrames: 16, sessionCapacity: 1024)
        let dead = shmTestDeadPid()
        XCTAssertFalse(processAlive(dead))
        let old = try ShmRegion.create(path: path, geometry: g, supervisorPid: dead)
        old.worker(0).pointee.restarts = 99
        var st1 = stat()
        XCTAssertEqual(stat(path, &st1), 0)
        // A different geometry too: the replacement is a new file, not the old one reused.
        let g2 = ShmGeometry(queues: 2, interfaces: 1, umemFrames: 16, sessionCapacity: 2048)
        let fresh = try ShmRegion.create(path: path, geometry: g2, supervisorPid: getpid())
        var st2 = stat()
        XCTAssertEqual(stat(path, &st2), 0)
        XCTAssertNotEqual(st1.st_ino, st2.st_ino, "a new file replaced the stale one")
        XCTAssertEqual(fresh.header.pointee.supervisor_pid, getpid())
        XCTAssertEqual(fresh.queues, 2)
        XCTAssertEqual(fresh.worker(0).pointee.restarts, 0, "no state carried over")
        XCTAssertEqual(shmTestFileSize(path), g2.offsets.total)
        XCTAssertEqual(old.worker(0).pointee.restarts, 99, "the old mapping stays valid for whoever still holds it")
        XCTAssertNoThrow(try ShmRegion.attach(path: path, writable: false))
    }

    func testCreateReplacesAFileOfOurOwnPidAndAForeignFile() throws {
        let path = fx.path("own")
        let g = ShmGeometry(queues: 1, interfaces: 1, umemFrames: 16, sessionCapacity: 1024)
        _ = try ShmRegion.create(path: path, geometry: g, supervisorPid: getpid())
        XCTAssertNoThrow(try ShmRegion.create(path: path, geometry: g, supervisorPid: getpid()),
                         "our own pid is not 'another running xpfd'")
        // A file that is not a region at all is replaced.
        let junk = fx.path("junk")
        let fd = open(junk, O_RDWR | O_CREAT, 0o600)
        XCTAssertEqual(ftruncate(fd, 8192), 0)
        close(fd)
        let r = try ShmRegion.create(path: junk, geometry: g, supervisorPid: getpid())
        XCTAssertEqual(r.header.pointee.magic, XPF_SHM_MAGIC)
        XCTAssertEqual(shmTestFileSize(junk), g.offsets.total)
    }

    /// A region written by an xpfd of another build (different ABI version) that is still
    /// running: `create` must not unlink the live owner's file just because this binary
    /// cannot validate it. (BUG: `create` only checks the pid when `attach` validates.)
    func testCreateRefusesLiveOwnerEvenWhenItsABIDiffers() throws {
        let path = fx.path("liveabi")
        let g = ShmGeometry(queues: 1, interfaces: 1, umemFrames: 16, sessionCapacity: 1024)
        _ = try ShmRegion.create(path: path, geometry: g, supervisorPid: 1)
        patchHeader(path) { $0.pointee.abi_version = XPF_ABI_VERSION + 1 }
        var st1 = stat()
        XCTAssertEqual(stat(path, &st1), 0)
        let text = errorText { try ShmRegion.create(path: path, geometry: g, supervisorPid: getpid()) }
        XCTAssertTrue(text.contains("pid 1"), "refuses, naming the live owner: \(text)")
        var st2 = stat()
        XCTAssertEqual(stat(path, &st2), 0)
        XCTAssertEqual(st1.st_ino, st2.st_ino, "the live owner's file was not replaced")
    }
}
