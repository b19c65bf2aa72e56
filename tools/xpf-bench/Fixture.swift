// A synthetic dataplane for the in-memory benchmark: frames of prepared flows in a
// UMEM-like buffer, run through the real Pipeline over the lab fixture's region.
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared
import XPFTestSupport

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
            var b: [UInt8] = LabFixture.fw0MAC + LabFixture.clientMAC
            if kind == .udp6 {
                b += [0x86, 0xdd, 0x60, 0, 0, 0, 0, 24, 17, 255] + LabFixture.v6(srcHost, net: 1) + LabFixture.v6(2, net: 2)
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

/// Park requests of a batch (the benchmark's frames never park; processBatch needs room).
let benchParks: UnsafeMutablePointer<ParkRequest> = {
    let p = UnsafeMutablePointer<ParkRequest>.allocate(capacity: 64)  // lives as long as the process
    p.initialize(repeating: ParkRequest(), count: 64)
    return p
}()

/// Runs every frame once through processBatch in batches of 64.
@inline(never)
func runPass(_ p: inout Pipeline, _ f: Frames, _ counters: inout WorkerCounters, _ actions: UnsafeMutablePointer<PacketAction>) {
    var i = 0
    while i < f.count {
        let n = min(64, f.count - i)
        p.processBatch(umem: f.buf, descs: f.descs + i, count: n, ingress: 0, counters: &counters, actions: actions,
                       parks: benchParks)
        i += n
    }
}
