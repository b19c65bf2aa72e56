// The lab as an in-memory fixture: a real shared-memory region with a published
// configuration and FIB shaped like tools/xpf-lab (client — fw0 | fw1 — server), and the
// real Pipeline of a worker over it. Used by the benchmark (tools/xpf-bench) and the fuzz
// targets (Tests/Fuzz), so both drive exactly the code that forwards packets.
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared

public enum LabFixture {
    public static let clientMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x01]
    public static let fw0MAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x10]
    public static let fw1MAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x11]
    public static let serverMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x02]
    /// The configuration every fixture region publishes (a real compiled snapshot).
    /// The lab's security configuration (config/xpf.conf's zones and policy): fw0 in
    /// trust, fw1 in untrust, client-to-server flows permitted and logged.
    public static let configText = """
        system { dataplane { interfaces [ fw0 fw1 ]; batch-size 64; } }
        security {
            zones {
                security-zone trust { interfaces { fw0.0; } }
                security-zone untrust { interfaces { fw1.0; } }
            }
            policies { from-zone trust to-zone untrust { policy allow-out {
                match { source-address any; destination-address any; application any; }
                then { permit; log { session-init; session-close; } }
            } } }
        }
        """

    public typealias Address16 = (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                                  UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)

    /// `b` (4 or 16 bytes) zero-padded into a 16-byte C array.
    public static func bytes16(_ b: [UInt8]) -> Address16 {
        var t: Address16 = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &t) { $0.copyBytes(from: b + [UInt8](repeating: 0, count: 16 - b.count)) }
        return t
    }

    /// fd00:0:0:NET::LAST
    public static func v6(_ last: UInt8, net: UInt8) -> [UInt8] { [0xfd, 0, 0, net, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last] }

    /// Creates a region at `path` and publishes the lab's FIB: 10.10.1.0/24 + fd00:1::/64 on
    /// slot 0 (fw0), 10.10.2.0/24 + fd00:2::/64 on slot 1 (fw1), the client's and server's
    /// neighbours valid. With `edgeCases`, also: the interfaces' addresses (10.10.1.1,
    /// 10.10.2.1, fd00:1::1, fd00:2::1: sources of ICMP errors), 10.10.3.0/24 and fd00:3::/64
    /// via a gateway whose neighbour is unknown (frames park), a blackhole 10.10.4.0/24 and
    /// a local route to 10.10.1.1/32.
    /// `configText` plus input filter `bench-in` on fw0 and output filter `bench-out` on fw1,
    /// each of `terms` terms: `terms - 1` that the fixture's flows (UDP from 10.10.1.0/24)
    /// never match — TCP or UDP alternately, a source prefix in 172.16.0.0/12, a destination
    /// port — then `then accept`. A linear scan tries every term; a classifier need not.
    public static func filterConfigText(terms: Int) -> String {
        func filter(_ name: String) -> String {
            var t = ""
            for k in 0..<terms - 1 {
                t += "term t\(k) { from { source-address 172.\(16 + k / 256).\(k % 256).0/24; "
                    + "protocol \(k % 2 == 0 ? "udp" : "tcp"); destination-port \(1000 + k); } then discard; } "
            }
            return "filter \(name) { \(t)term rest { then accept; } }"
        }
        return configText + """

            interfaces {
                fw0 { unit 0 { family inet { filter { input bench-in; } } } }
                fw1 { unit 0 { family inet { filter { output bench-out; } } } }
            }
            firewall { family inet { \(filter("bench-in")) \(filter("bench-out")) } }
            """
    }

    /// `configText` plus input filter `bench-police` on fw0: one term that counts every
    /// packet and (`policed`) meters it through a policer that never runs out in a
    /// measurement (100 Gbit/s, 1 GB of burst) — so the two differ by the policer alone.
    public static func policerConfigText(policed: Bool) -> String {
        configText + """

            interfaces { fw0 { unit 0 { family inet { filter { input bench-police; } } } } }
            firewall {
                policer fast { if-exceeding { bandwidth-limit 100g; burst-size-limit 1g; } then discard; }
                family inet { filter bench-police { term all { then { count all; \(policed ? "policer fast; " : "")accept; } } } }
            }
            """
    }

    public static func makeRegion(path: String, queues: Int, capacity: Int, edgeCases: Bool = false,
                                  config: String = configText) throws -> ShmRegion {
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
        try r.publishConfig(ConfigSnapshotImage(ConfigModel.load(text: config, file: "fixture").1))
        try r.publishFIB { f in
            var routes: [xpf_route] = []
            func route(_ family: UInt8, _ len: UInt8, _ dst: [UInt8], slot: UInt8, flags: UInt32 = 0, gateway: [UInt8] = []) {
                var rt = xpf_route()
                rt.family = family; rt.prefix_len = len; rt.iface_slot = slot; rt.ifindex = UInt32(slot) + 2
                rt.dst = bytes16(dst)
                rt.flags = UInt8(flags)
                if !gateway.isEmpty { rt.gateway = bytes16(gateway) }
                routes.append(rt)
            }
            if edgeCases {  // longest prefixes first, as xpfd orders them
                route(4, 32, [10, 10, 1, 1], slot: 0, flags: XPF_ROUTE_LOCAL.rawValue)
            }
            route(4, 24, [10, 10, 1, 0], slot: 0)
            route(4, 24, [10, 10, 2, 0], slot: 1)
            if edgeCases {
                route(4, 24, [10, 10, 3, 0], slot: 1, flags: XPF_ROUTE_GATEWAY.rawValue, gateway: [10, 10, 2, 254])
                route(4, 24, [10, 10, 4, 0], slot: 1, flags: XPF_ROUTE_BLACKHOLE.rawValue)
            }
            route(6, 64, v6(0, net: 1), slot: 0)
            route(6, 64, v6(0, net: 2), slot: 1)
            if edgeCases {
                route(6, 64, v6(0, net: 3), slot: 1, flags: XPF_ROUTE_GATEWAY.rawValue, gateway: v6(254, net: 2))
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
            var addrs: [xpf_if_addr] = []
            if edgeCases {
                for (fam, len, addr, slot) in [(UInt8(4), UInt8(24), [UInt8(10), 10, 1, 1], UInt8(0)), (4, 24, [10, 10, 2, 1], 1),
                                               (6, 64, v6(1, net: 1), 0), (6, 64, v6(1, net: 2), 1)] {
                    var a = xpf_if_addr()
                    a.family = fam; a.prefix_len = len; a.iface_slot = slot; a.ifindex = UInt32(slot) + 2
                    withUnsafeMutableBytes(of: &a.addr) { $0.copyBytes(from: addr + [UInt8](repeating: 0, count: 16 - addr.count)) }
                    addrs.append(a)
                }
            }
            withUnsafeMutableBytes(of: &f.pointee.routes) { d in routes.withUnsafeBytes { d.copyMemory(from: $0) } }
            withUnsafeMutableBytes(of: &f.pointee.neigh) { d in neigh.withUnsafeBytes { d.copyMemory(from: $0) } }
            withUnsafeMutableBytes(of: &f.pointee.if_addrs) { d in addrs.withUnsafeBytes { d.copyMemory(from: $0) } }
            f.pointee.n_routes = UInt32(routes.count)
            f.pointee.n_neigh = UInt32(neigh.count)
            f.pointee.n_if_addrs = UInt32(addrs.count)
        }
        return r
    }

    /// The pipeline of worker `queue` over the region, built the way xpf-worker builds it.
    public static func makePipeline(_ r: ShmRegion, queue: Int) -> Pipeline {
        // A live worker as far as generation bookkeeping goes.
        xpf_store_release_u32(xpf_wb_state(r.worker(queue)), UInt32(XPF_WORKER_RUNNING.rawValue))
        var p = try! Pipeline.forWorker(region: r, queue: queue).pipeline  // Safe: the fixture publishes a valid snapshot
        p.nowMs = UInt32(truncatingIfNeeded: monotonicNanos() / 1_000_000)
        p.nowS = UInt32(truncatingIfNeeded: monotonicNanos() / 1_000_000_000)
        return p
    }
}
