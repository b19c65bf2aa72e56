// Mirrors the kernel's routes, neighbours and local addresses into FIB snapshots and
// the XDP program's local_addrs map (R-3.2), and serves workers' neighbour requests.
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared

final class FIBMirror {
    let region: ShmRegion
    let slotOf: [UInt32: UInt8]           // ifindex → dataplane iface slot
    let localAddrsFd: Int32
    var dirty = true
    private var routes = [xpf_route](repeating: xpf_route(), count: Int(XPF_MAX_ROUTES))
    private var neigh = [xpf_neigh](repeating: xpf_neigh(), count: Int(XPF_MAX_NEIGH))
    private var addrs = [xpf_local_addr](repeating: xpf_local_addr(), count: Int(XPF_MAX_LOCAL_ADDRS))
    private var installedLocal: Set<[UInt8]> = []
    private var consumers: [RingConsumer<xpf_neigh_request>]
    private var lastAsked: [[UInt8]: UInt64] = [:]
    private(set) var publishedVersion: UInt64 = 0
    private var publishedImage: [UInt8] = []   // routes + neighbours last published

    init(region: ShmRegion, slotOf: [UInt32: UInt8], localAddrsFd: Int32) {
        self.region = region
        self.slotOf = slotOf
        self.localAddrsFd = localAddrsFd
        consumers = (0..<region.queues).map { q in
            let b = region.worker(q)
            return RingConsumer(header: xpf_wb_req_ring(b), entries: xpf_wb_req_entries(b))
        }
    }

    /// Dumps the kernel's tables and publishes a new FIB version if anything is dirty.
    /// Leaves `dirty` set when no slot is free yet (a worker still reads an old one).
    func refreshIfDirty() throws {
        guard dirty else { return }
        let nr = routes.withUnsafeMutableBufferPointer { xpf_nl_dump_routes($0.baseAddress, Int32(XPF_MAX_ROUTES)) }
        if nr < 0 { throw SysError("rtnetlink route dump", -nr) }
        let nn = neigh.withUnsafeMutableBufferPointer { xpf_nl_dump_neighbours($0.baseAddress, Int32(XPF_MAX_NEIGH)) }
        if nn < 0 { throw SysError("rtnetlink neighbour dump", -nn) }
        for i in 0..<Int(nr) { routes[i].iface_slot = slotOf[routes[i].ifindex] ?? 0xff }
        for i in 0..<Int(nn) { neigh[i].iface_slot = slotOf[neigh[i].ifindex] ?? 0xff }
        let nAddrs = try syncLocalAddresses()
        var ifAddrs: [xpf_if_addr] = []
        for i in 0..<nAddrs {
            guard let slot = slotOf[addrs[i].ifindex], ifAddrs.count < Int(XPF_MAX_IF_ADDRS) else { continue }
            var a = xpf_if_addr()
            a.family = addrs[i].family
            a.prefix_len = addrs[i].prefix_len
            a.iface_slot = slot
            a.ifindex = addrs[i].ifindex
            a.addr = addrs[i].addr
            ifAddrs.append(a)
        }
        // Publish only what changed: the periodic re-dump is a safety net for lost
        // events, not a reason to make every worker switch.
        var image = routes.withUnsafeBytes { Array($0.prefix(Int(nr) * MemoryLayout<xpf_route>.stride)) }
        image += neigh.withUnsafeBytes { Array($0.prefix(Int(nn) * MemoryLayout<xpf_neigh>.stride)) }
        image += ifAddrs.withUnsafeBytes { Array($0) }
        image += withUnsafeBytes(of: (nr, nn, ifAddrs.count)) { Array($0) }
        if image == publishedImage && publishedVersion != 0 { dirty = false; return }
        guard region.freeSlot(.fib) != nil else { return }
        publishedVersion = try region.publishFIB { snap in
            withUnsafeMutableBytes(of: &snap.pointee.routes) { dst in
                routes.withUnsafeBytes { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(Int(nr) * MemoryLayout<xpf_route>.stride))) }
            }
            withUnsafeMutableBytes(of: &snap.pointee.neigh) { dst in
                neigh.withUnsafeBytes { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0.prefix(Int(nn) * MemoryLayout<xpf_neigh>.stride))) }
            }
            snap.pointee.n_routes = UInt32(nr)
            snap.pointee.n_neigh = UInt32(nn)
            withUnsafeMutableBytes(of: &snap.pointee.if_addrs) { dst in ifAddrs.withUnsafeBytes { dst.copyMemory(from: $0) } }
            snap.pointee.n_if_addrs = UInt32(ifAddrs.count)
        }
        publishedImage = image
        dirty = false
    }

    /// Keeps the XDP program's local_addrs map equal to the box's addresses (unicast
    /// and IPv4 subnet broadcast), so box-bound traffic goes to the kernel.
    /// Returns how many addresses `addrs` now holds.
    private func syncLocalAddresses() throws -> Int {
        let n = addrs.withUnsafeMutableBufferPointer { xpf_nl_dump_addrs($0.baseAddress, Int32(XPF_MAX_LOCAL_ADDRS)) }
        if n < 0 { throw SysError("rtnetlink address dump", -n) }
        var want: Set<[UInt8]> = []
        func key(_ family: UInt8, _ a: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) -> [UInt8] {
            var k = xpf_addr_key()
            k.family = family
            k.addr = a
            if family == 4 { withUnsafeMutableBytes(of: &k.addr) { for i in 4..<16 { $0[i] = 0 } } }
            return withUnsafeBytes(of: k) { Array($0) }
        }
        for i in 0..<Int(n) {
            want.insert(key(addrs[i].family, addrs[i].addr))
            if addrs[i].has_broadcast != 0 { want.insert(key(addrs[i].family, addrs[i].broadcast)) }
        }
        for k in installedLocal.subtracting(want) {
            _ = k.withUnsafeBytes { bpf_map_delete_elem(localAddrsFd, $0.baseAddress) }
        }
        for k in want.subtracting(installedLocal) {
            var v: UInt32 = 1
            let r = k.withUnsafeBytes { bpf_map_update_elem(localAddrsFd, $0.baseAddress, &v, 0) }
            if r != 0 { throw SysError("local_addrs update", xpf_errno()) }
        }
        installedLocal = want
        return Int(n)
    }

    /// Drains every worker's request ring and asks the kernel to resolve each next hop
    /// (at most once per 100 ms per address). The answer arrives as a netlink neighbour
    /// event, which makes the FIB dirty and republishes it.
    func serviceRequests() {
        let now = monotonicNanos()
        for q in consumers.indices {
            while let r = consumers[q].pop() {
                var key = [r.family]
                withUnsafeBytes(of: r.ifindex) { key += $0 }
                withUnsafeBytes(of: r.addr) { key += $0 }
                if let t = lastAsked[key], now - t < 100_000_000 { continue }
                lastAsked[key] = now
                var a = r.addr
                let res = withUnsafeBytes(of: &a) { xpf_nl_resolve_neighbour(r.family, r.ifindex, $0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
                if res != 0 { logLine("xpfd", "neighbour resolution request failed: \(SysError("resolve", -res))") }
                dirty = true  // pick up INCOMPLETE→REACHABLE even if an event is lost
            }
        }
        if lastAsked.count > 4096 { lastAsked = lastAsked.filter { now - $0.value < 1_000_000_000 } }
    }
}
