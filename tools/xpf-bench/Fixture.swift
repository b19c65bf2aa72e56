// A synthetic dataplane for the in-memory benchmark: a real shared-memory region with
// a published configuration and FIB, a UMEM-like frame buffer, and the real Pipeline.
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared

let clientMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x01]
let fw0MAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x10]
let fw1MAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x11]
let serverMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x02]

func bytes16(_ b: [UInt8]) -> (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) {
    var t: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    withUnsafeMutableBytes(of: &t) { $0.copyBytes(from: b + [UInt8](repeating: 0, count: 16 - b.count)) }
    return t
}

func v6(_ last: UInt8, net: UInt8) -> [UInt8] { [0xfd, 0, 0, net, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last] }

/// Creates a region at `path` and publishes the lab's FIB: 10.10.1.0/24 + fd00:1::/64 on
/// slot 0 (fw0), 10.10.2.0/24 + fd00:2::/64 on slot 1 (fw1), the server's neighbours valid.
func makeRegion(path: String, queues: Int, capacity: Int) throws -> ShmRegion {
    let g = ShmGeometry(queues: queues, interfaces: 2, umemFrames: 64, sessionCapacity: capacity)
    let r = try ShmRegion.create(path: path, geometry: g, supervisorPid: getpid())
    for (slot, mac) in [fw0MAC, fw1MAC].enumerated() {
        var ifc = xpf_iface()
        ifc.ifindex = UInt32(slot + 2)
        ifc.xdp_mode = UInt32(XPF_XDP_MODE_NATIVE.rawValue)
        copyCString("fw\(slot)", into: &ifc.name)
        withUnsafeMutableBytes(of: &ifc.mac) { $0.copyBytes(from: mac) }
        ifc.mtu = 1500
        r.setIface(slot, ifc)
    }
    // A real compiled snapshot, as xpfd publishes it (workers validate it).
    let text = "system { dataplane { interfaces [ fw0 fw1 ]; batch-size 64; } }"
    try r.publishConfig(ConfigSnapshotImage(ConfigModel.load(text: text, file: "xpf-bench").1))
    try r.publishFIB { f in
        var routes: [xpf_route] = []
        for (fam, len, dst, slot) in [(UInt8(4), UInt8(24), [UInt8(10), 10, 1, 0], UInt8(0)), (4, 24, [10, 10, 2, 0], 1),
                                      (6, 64, v6(0, net: 1), 0), (6, 64, v6(0, net: 2), 1)] {
            var rt = xpf_route()
            rt.family = fam; rt.prefix_len = len; rt.iface_slot = slot; rt.ifindex = UInt32(slot) + 2
            rt.dst = bytes16(dst)
            routes.append(rt)
        }
        var neigh: [xpf_neigh] = []
        for (fam, addr, slot, mac) in [(UInt8(4), [UInt8(10), 10, 2, 2], UInt8(1), serverMAC), (4, [10, 10, 1, 2], 0, clientMAC),
                                       (6, v6(2, net: 2), 1, serverMAC), (6, v6(2, net: 1), 0, clientMAC)] {
            var n = xpf_neigh()
            n.family = fam; n.state = UInt8(XPF_NEIGH_VALID.rawValue); n.iface_slot = slot; n.ifindex = UInt32(slot) + 2
            n.addr = bytes16(addr)
            withUnsafeMutableBytes(of: &n.mac) { $0.copyBytes(from: mac) }
            neigh.append(n)
        }
        withUnsafeMutableBytes(of: &f.pointee.routes) { d in routes.withUnsafeBytes { d.copyMemory(from: $0) } }
        withUnsafeMutableBytes(of: &f.pointee.neigh) { d in neigh.withUnsafeBytes { d.copyMemory(from: $0) } }
        f.pointee.n_routes = UInt32(routes.count)
        f.pointee.n_neigh = UInt32(neigh.count)
    }
    return r
}

/// The pipeline of worker `queue` over the region, built the way xpf-worker builds it.
func makePipeline(_ r: ShmRegion, queue: Int) -> Pipeline {
    // A live worker as far as generation bookkeeping goes.
    xpf_store_release_u32(xpf_wb_state(r.worker(queue)), UInt32(XPF_WORKER_RUNNING.rawValue))
    var p = try! Pipeline.forWorker(region: r, queue: queue).pipeline  // the fixture publishes a valid snapshot
    p.nowMs = UInt32(truncatingIfNeeded: monotonicNanos() / 1_000_000)
    p.nowS = UInt32(truncatingIfNeeded: monotonicNanos() / 1_000_000_000)
    return p
}

enum FrameKind { case udp4, udp6, malformed }

/// `count` frames of one flow each (source port base+i) in a frame buffer, 2 KiB apart
/// like UMEM frames, plus a pristine copy to restore TTLs between passes.
struct Frames {
    let buf: UnsafeMutableRawPointer
    let pristine: UnsafeMutableRawPointer
    let descs: UnsafeMutablePointer<xdp_desc>
    let count: Int
    let length: Int
    static let stride = 2048

    init(kind: FrameKind, count: Int, portBase: Int, srcHost: UInt8 = 2) {
        self.count = count
        length = kind == .udp6 ? 78 : 64
        buf = .allocate(byteCount: count * Self.stride, alignment: 4096)
        pristine = .allocate(byteCount: count * Self.stride, alignment: 4096)
        descs = .allocate(capacity: count)
        for i in 0..<count {
            let f = buf + i * Self.stride
            f.initializeMemory(as: UInt8.self, repeating: 0, count: Self.stride)
            let sport = UInt16(truncatingIfNeeded: portBase + i)
            var b: [UInt8] = fw0MAC + clientMAC
            if kind == .udp6 {
                b += [0x86, 0xdd, 0x60, 0, 0, 0, 0, 24, 17, 255] + v6(srcHost, net: 1) + v6(2, net: 2)
                b += [UInt8(sport >> 8), UInt8(sport & 0xff), 0x13, 0x89, 0, 24, 0, 0] + [UInt8](repeating: 0xab, count: 16)
            } else {
                var ip: [UInt8] = [0x45, 0, 0, 50, 0, 0, 0x40, 0, 255, 17, 0, 0, 10, 10, 1, srcHost, 10, 10, 2, 2]
                if kind == .malformed { ip[0] = 0x43 }  // IHL 3: rejected by the parser
                let c = ip.withUnsafeBytes { internetChecksum($0.baseAddress!, count: 20) }
                ip[10] = UInt8(c >> 8); ip[11] = UInt8(c & 0xff)
                b += [0x08, 0x00] + ip
                b += [UInt8(sport >> 8), UInt8(sport & 0xff), 0x13, 0x89, 0, 30, 0, 0] + [UInt8](repeating: 0xab, count: 22)
            }
            f.copyMemory(from: b, byteCount: b.count)
            descs[i] = xdp_desc(addr: UInt64(i * Self.stride), len: UInt32(length), options: 0)
        }
        pristine.copyMemory(from: buf, byteCount: count * Self.stride)
    }

    /// Puts every frame back as it arrived (the kernel would hand us fresh frames).
    func restore() {
        for i in 0..<count { (buf + i * Self.stride).copyMemory(from: pristine + i * Self.stride, byteCount: length) }
    }
}

/// Runs every frame once through processBatch in batches of 64.
@inline(never)
func runPass(_ p: inout Pipeline, _ f: Frames, _ counters: inout WorkerCounters, _ actions: UnsafeMutablePointer<PacketAction>) {
    var i = 0
    while i < f.count {
        let n = min(64, f.count - i)
        p.processBatch(umem: f.buf, descs: f.descs + i, count: n, ingress: 0, counters: &counters, actions: actions)
        i += n
    }
}
