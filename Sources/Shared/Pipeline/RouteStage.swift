// Route stage: the forwarding decision for the destination — from the next-hop
// cache when it holds an entry computed under the running FIB version, else from the
// FIB. Routes are authoritative for every packet, session hits included: a new FIB
// version invalidates every cached decision at once (NextHopCache.swift).
import CXPF

extension Pipeline {
    /// Sets `p.egress` and either `p.hop` (cached) or `p.route`; returns a drop when the
    /// destination cannot be forwarded.
    @inlinable @inline(__always)  // the fast path is one function (a call per stage measured ~35 instructions/packet)
    mutating func routeStage(_ p: inout Packet) -> PacketAction? {  // mutating: self by reference (a non-mutating call copied the 272-byte Pipeline)
        let fibVersion = UInt32(truncatingIfNeeded: fib.snapshot.pointee.version)
        if let hop = nextHops.lookup(family: p.parsed.family, addr: p.destination, fibVersion: fibVersion) {
            p.hop = hop
            p.egress = hop.pointee.egress
        } else {
            guard let rt = fib.lookup(family: p.parsed.family, addr: p.destination) else { return .drop(XPF_DROP_NO_ROUTE) }
            let flags = Int32(rt.pointee.flags)
            if flags & Int32(XPF_ROUTE_BLACKHOLE.rawValue) != 0 { return .drop(XPF_DROP_BLACKHOLE) }
            if flags & Int32(XPF_ROUTE_LOCAL.rawValue) != 0 || Int(rt.pointee.iface_slot) >= interfaceCount {
                return .drop(XPF_DROP_NOT_DATAPLANE)
            }
            p.route = rt
            p.egress = rt.pointee.iface_slot
        }
        if p.parsed.l3Length > Int(interfaces[Int(p.egress)].mtu) { return .drop(XPF_DROP_TOO_BIG) }
        return nil
    }
}
