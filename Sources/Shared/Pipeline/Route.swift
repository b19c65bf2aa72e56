// Route and neighbour lookup over a published FIB snapshot.
//
// The snapshot is the kernel's FIB of xpfd's namespace, mirrored over rtnetlink.
// Routes are sorted longest prefix first (per family), so the first match wins.
// Linear scans: a lab or an edge box has tens of routes; a DIR-24-8 / trie replaces
// this when route counts grow (docs/architecture.md, "Known limits").
import CXPF

public struct FIBView {
    public let snapshot: UnsafeMutablePointer<xpf_fib_snapshot>
    public init(_ s: UnsafeMutablePointer<xpf_fib_snapshot>) { snapshot = s }

    @inlinable
    var routes: UnsafeMutablePointer<xpf_route> {
        UnsafeMutableRawPointer(snapshot).advanced(by: MemoryLayout<xpf_fib_snapshot>.offset(of: \xpf_fib_snapshot.routes)!)
            .assumingMemoryBound(to: xpf_route.self)
    }

    @inlinable
    var neighbours: UnsafeMutablePointer<xpf_neigh> {
        UnsafeMutableRawPointer(snapshot).advanced(by: MemoryLayout<xpf_fib_snapshot>.offset(of: \xpf_fib_snapshot.neigh)!)
            .assumingMemoryBound(to: xpf_neigh.self)
    }

    /// Longest-prefix match. `addr` points at 4 (v4) or 16 (v6) address bytes.
    @inlinable
    public func lookup(family: UInt8, addr: UnsafeRawPointer) -> UnsafeMutablePointer<xpf_route>? {
        let n = Int(min(snapshot.pointee.n_routes, UInt32(XPF_MAX_ROUTES)))
        let r = routes
        if family == 4 {
            let a = UInt32(bigEndian: addr.loadUnaligned(as: UInt32.self))
            for i in 0..<n {
                let rt = r + i
                if rt.pointee.family != 4 { continue }
                let len = UInt32(rt.pointee.prefix_len)
                let mask: UInt32 = len == 0 ? 0 : ~UInt32(0) << (32 - min(len, 32))
                let d = withUnsafeBytes(of: rt.pointee.dst) { UInt32(bigEndian: $0.loadUnaligned(as: UInt32.self)) }
                if (a & mask) == (d & mask) { return rt }
            }
        } else {
            let hi = UInt64(bigEndian: addr.loadUnaligned(as: UInt64.self))
            let lo = UInt64(bigEndian: addr.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            for i in 0..<n {
                let rt = r + i
                if rt.pointee.family != 6 { continue }
                let len = Int(rt.pointee.prefix_len)
                let mhi: UInt64 = len == 0 ? 0 : (len >= 64 ? ~0 : ~UInt64(0) << (64 - len))
                let mlo: UInt64 = len <= 64 ? 0 : (len >= 128 ? ~0 : ~UInt64(0) << (128 - len))
                let (dhi, dlo) = withUnsafeBytes(of: rt.pointee.dst) {
                    (UInt64(bigEndian: $0.loadUnaligned(as: UInt64.self)), UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
                }
                if (hi & mhi) == (dhi & mhi) && (lo & mlo) == (dlo & mlo) { return rt }
            }
        }
        return nil
    }

    /// An address of dataplane interface `slot` in `family`, as the source of ICMP errors
    /// sent out of it (IPv6: a global address before a link-local one). Nil if it has none.
    public func interfaceAddress(slot: UInt8, family: UInt8) -> UnsafeRawPointer? {
        let n = Int(min(snapshot.pointee.n_if_addrs, UInt32(XPF_MAX_IF_ADDRS)))
        let base = UnsafeRawPointer(snapshot) + MemoryLayout<xpf_fib_snapshot>.offset(of: \xpf_fib_snapshot.if_addrs)!
        let addrs = base.assumingMemoryBound(to: xpf_if_addr.self)
        var fallback: UnsafeRawPointer? = nil
        for i in 0..<n where addrs[i].family == family && addrs[i].iface_slot == slot {
            let a = UnsafeRawPointer(addrs + i) + MemoryLayout<xpf_if_addr>.offset(of: \xpf_if_addr.addr)!
            if family == 6 && a.load(as: UInt8.self) == 0xFE && a.load(fromByteOffset: 1, as: UInt8.self) & 0xC0 == 0x80 {
                if fallback == nil { fallback = a }  // link-local: only if nothing better
                continue
            }
            return a
        }
        return fallback
    }

    /// The neighbour entry for `addr` (4 or 16 bytes) on `ifindex`, or nil.
    @inlinable
    public func neighbour(family: UInt8, ifindex: UInt32, addr: UnsafeRawPointer) -> UnsafeMutablePointer<xpf_neigh>? {
        let n = Int(min(snapshot.pointee.n_neigh, UInt32(XPF_MAX_NEIGH)))
        let nb = neighbours
        let a0 = addr.loadUnaligned(as: UInt32.self)
        let aRest: (UInt32, UInt64) = family == 4 ? (0, 0) : (addr.loadUnaligned(fromByteOffset: 4, as: UInt32.self), addr.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        for i in 0..<n {
            let e = nb + i
            if e.pointee.family != family || e.pointee.ifindex != ifindex { continue }
            let eq = withUnsafeBytes(of: e.pointee.addr) { b in
                b.loadUnaligned(as: UInt32.self) == a0
                    && b.loadUnaligned(fromByteOffset: 4, as: UInt32.self) == aRest.0
                    && b.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == aRest.1
            }
            if eq { return e }
        }
        return nil
    }
}
