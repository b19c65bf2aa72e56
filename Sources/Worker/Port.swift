// One AF_XDP socket of a worker: interface `slot`, the worker's queue, its four rings.
// Ring structs live in heap memory allocated once, because libxdp keeps pointers to them.
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared

struct Port {
    let slot: UInt8
    let name: String
    var xsk: OpaquePointer?
    let rx: UnsafeMutablePointer<xsk_ring_cons>
    let tx: UnsafeMutablePointer<xsk_ring_prod>
    let fill: UnsafeMutablePointer<xsk_ring_prod>
    let comp: UnsafeMutablePointer<xsk_ring_cons>
    var fd: Int32 = -1

    init(slot: UInt8, name: String, fill: UnsafeMutablePointer<xsk_ring_prod>, comp: UnsafeMutablePointer<xsk_ring_cons>) {
        self.slot = slot
        self.name = name
        rx = .allocate(capacity: 1); rx.initialize(to: xsk_ring_cons())
        tx = .allocate(capacity: 1); tx.initialize(to: xsk_ring_prod())
        self.fill = fill
        self.comp = comp
    }
}

/// The worker's UMEM: its slice of the shared region, registered with the kernel,
/// and a private stack of free frame addresses.
struct Umem {
    var umem: OpaquePointer?
    let area: UnsafeMutableRawPointer
    let size: Int
    let frameSize: UInt64
    let fill0: UnsafeMutablePointer<xsk_ring_prod>
    let comp0: UnsafeMutablePointer<xsk_ring_cons>
    let free: UnsafeMutablePointer<UInt64>
    var freeCount: Int
    let frames: Int

    init(area: UnsafeMutableRawPointer, size: Int, frames: Int, frameSize: Int, fillSize: UInt32, compSize: UInt32) throws {
        self.area = area
        self.size = size
        self.frames = frames
        self.frameSize = UInt64(frameSize)
        fill0 = .allocate(capacity: 1); fill0.initialize(to: xsk_ring_prod())
        comp0 = .allocate(capacity: 1); comp0.initialize(to: xsk_ring_cons())
        var cfg = xsk_umem_config(fill_size: fillSize, comp_size: compSize, frame_size: UInt32(frameSize),
                                  frame_headroom: 0, flags: 0)
        var u: OpaquePointer?
        let r = xsk_umem__create(&u, area, UInt64(size), fill0, comp0, &cfg)
        if r != 0 { throw SysError("xsk_umem__create", -r) }
        umem = u
        free = .allocate(capacity: frames)
        freeCount = 0
        for i in 0..<frames { free[freeCount] = UInt64(i) * UInt64(frameSize); freeCount += 1 }
    }

    @inline(__always) mutating func put(_ addr: UInt64) {
        // Aligned chunk mode: any address inside a frame names the frame.
        free[freeCount] = addr & ~(frameSize - 1)
        freeCount += 1
    }

    @inline(__always) mutating func get() -> UInt64 {
        freeCount -= 1
        return free[freeCount]
    }
}
