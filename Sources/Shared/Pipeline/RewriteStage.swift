// Rewrite stage: the frame leaves for its next hop — destination MAC of the next hop
// (from the next-hop cache, or the neighbour table, which then fills the cache), source
// MAC of the egress interface, TTL / hop limit down by one. A next hop without a
// link-layer address yet parks the frame: the I/O loop holds it while xpfd
// resolves the neighbour.
import CXPF

extension Pipeline {
    @inlinable @inline(__always)  // the fast path is one function (a call per stage measured ~35 instructions/packet)
    mutating func rewriteStage(_ p: inout Packet) -> PacketAction {
        if let hop = p.hop {
            withUnsafeBytes(of: hop.pointee.mac) { rewriteL2(frame: p.frame, dmac: $0.baseAddress!, egress: p.egress) }
        } else {
            // The next hop: the gateway, or the destination itself on a connected route.
            // IPv4 addresses sit in the first 4 of 16 bytes.
            let rt = p.route!  // Safe: the route stage set `route` whenever it did not set `hop`
            let family = p.parsed.family
            var nexthop: (UInt64, UInt64) = (0, 0)
            if Int32(rt.pointee.flags) & Int32(XPF_ROUTE_GATEWAY.rawValue) != 0 {
                withUnsafeMutableBytes(of: &nexthop) { b in withUnsafeBytes(of: rt.pointee.gateway) { b.copyMemory(from: $0) } }
            } else {
                let dst = p.destination
                withUnsafeMutableBytes(of: &nexthop) { $0.baseAddress!.copyMemory(from: dst, byteCount: family == 4 ? 4 : 16) }
            }
            let ifindex = rt.pointee.ifindex
            let ne = withUnsafeBytes(of: &nexthop) { fib.neighbour(family: family, ifindex: ifindex, addr: $0.baseAddress!) }
            guard let ne, ne.pointee.state == UInt8(XPF_NEIGH_VALID.rawValue) else {
                p.park.family = family
                p.park.ifindex = ifindex
                withUnsafeMutableBytes(of: &p.park.nexthop.src) { d in withUnsafeBytes(of: nexthop) { d.copyMemory(from: $0) } }
                return PacketAction(kind: .park, egress: p.egress)
            }
            nextHops.store(family: family, addr: p.destination, fibVersion: UInt32(truncatingIfNeeded: fib.snapshot.pointee.version),
                           egress: p.egress, mac: ne.pointee.mac)
            rewriteL2(frame: p.frame, dst: ne, egress: p.egress)
        }
        // TTL / hop limit (IPv4 checksum updated incrementally, RFC 1624).
        if p.parsed.family == 4 { decrementTTLv4(p.l3) } else { decrementHopLimitV6(p.l3) }
        return PacketAction(kind: .transmit, egress: p.egress)
    }

    /// Writes destination MAC (the neighbour's) and source MAC (the egress interface's).
    @inlinable
    public func rewriteL2(frame: UnsafeMutableRawPointer, dst: UnsafeMutablePointer<xpf_neigh>, egress: UInt8) {
        rewriteL2(frame: frame, dmac: UnsafeRawPointer(dst) + MemoryLayout<xpf_neigh>.offset(of: \xpf_neigh.mac)!, egress: egress)
    }

    /// Writes destination MAC `dmac` (6 bytes) and the egress interface's source MAC.
    @inlinable
    public func rewriteL2(frame: UnsafeMutableRawPointer, dmac: UnsafeRawPointer, egress: UInt8) {
        // 4 + 2 byte moves: a 6-byte copyMemory becomes a memcpy call (~30 instructions each).
        // Safe: every frame the parser accepted has at least a 14-byte Ethernet header.
        frame.storeBytes(of: dmac.loadUnaligned(as: UInt32.self), as: UInt32.self)
        frame.storeBytes(of: dmac.loadUnaligned(fromByteOffset: 4, as: UInt16.self), toByteOffset: 4, as: UInt16.self)
        let smac = UnsafeRawPointer(interfaces + Int(egress)) + MemoryLayout<EgressInterface>.offset(of: \EgressInterface.mac)!
        frame.storeBytes(of: smac.loadUnaligned(as: UInt32.self), toByteOffset: 6, as: UInt32.self)
        frame.storeBytes(of: smac.loadUnaligned(fromByteOffset: 4, as: UInt16.self), toByteOffset: 10, as: UInt16.self)
    }

    /// Retries a parked frame whose next hop may have been resolved since.
    /// Returns true (and rewrites the frame) when the neighbour is now valid.
    @inlinable
    public func resolveParked(frame: UnsafeMutableRawPointer, length: Int, egress: UInt8, family: UInt8,
                              ifindex: UInt32, nexthop: UnsafeRawPointer) -> Bool {
        guard let ne = fib.neighbour(family: family, ifindex: ifindex, addr: nexthop),
              ne.pointee.state == UInt8(XPF_NEIGH_VALID.rawValue) else { return false }
        rewriteL2(frame: frame, dst: ne, egress: egress)
        var p = ParsedPacket()
        guard parseFrame(UnsafeRawPointer(frame), length: length, into: &p) == .ok else { return false }
        if family == 4 { decrementTTLv4(frame + p.l3Offset) } else { decrementHopLimitV6(frame + p.l3Offset) }
        return true
    }
}
