import XCTest
import CXPF
@testable import Shared

// Tests for Sources/Shared/Pipeline/Forward.swift + Route.swift: the per-packet
// forwarding decision of a worker, driven exactly as Sources/Worker/main.swift drives it
// (region → config/FIB followers → Pipeline), with crafted Ethernet frames.
//
// Lab: slot 0 = "lan" (ifindex 2, 10.10.1.0/24, fd00:1::/64), slot 1 = "wan" (ifindex 3,
// 10.10.2.0/24, fd00:2::/64, default via 10.10.2.254).

/// Frame builders (big-endian fields, real checksums). Shared with ICMPErrorTests.
enum Frames {
    static let lanMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x01, 0x01]
    static let wanMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x02, 0x01]
    static let clientMAC: [UInt8] = [0x02, 0xCC, 0x00, 0x00, 0x01, 0x0A]     // 10.10.1.10 / fd00:1::10
    static let serverMAC: [UInt8] = [0x02, 0xAA, 0x00, 0x00, 0x02, 0x02]     // 10.10.2.2 / fd00:2::2
    static let server6MAC: [UInt8] = [0x02, 0xAA, 0x00, 0x00, 0x06, 0x02]    // fd00:2::2
    static let gatewayMAC: [UInt8] = [0x02, 0xEE, 0x00, 0x00, 0x02, 0xFE]    // 10.10.2.254

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    static func be32(_ v: UInt32) -> [UInt8] { be16(UInt16(v >> 16)) + be16(UInt16(v & 0xFFFF)) }
    static func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> UInt32 {
        UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }
    /// fdXX:Y::Z as 16 bytes.
    static func v6(_ net: UInt16, _ host: UInt16) -> [UInt8] {
        [0xFD, 0x00] + be16(net) + [UInt8](repeating: 0, count: 10) + be16(host)
    }

    static func ethernet(dst: [UInt8], src: [UInt8], type: UInt16) -> [UInt8] { dst + src + be16(type) }

    static func udp(_ sport: UInt16, _ dport: UInt16, payload: [UInt8]) -> [UInt8] {
        be16(sport) + be16(dport) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
    }

    static func tcp(_ sport: UInt16, _ dport: UInt16, flags: UInt8, seq: UInt32 = 1000, ack: UInt32 = 0) -> [UInt8] {
        be16(sport) + be16(dport) + be32(seq) + be32(ack) + [0x50, flags] + be16(65535) + [0, 0] + [0, 0]
    }

    static func icmpEcho(type: UInt8, id: UInt16, seq: UInt16, payload: [UInt8] = Array("xpf-ping".utf8)) -> [UInt8] {
        var b: [UInt8] = [type, 0, 0, 0] + be16(id) + be16(seq) + payload
        if type == 8 || type == 0 {  // ICMPv4: checksum over the message
            let c = b.withUnsafeBytes { internetChecksum($0.baseAddress!, count: b.count) }
            b[2] = UInt8(c >> 8); b[3] = UInt8(c & 0xFF)
        }
        return b
    }

    /// Fills the L4 checksum (TCP 16, UDP 6, ICMPv6 2) of an IPv4/IPv6 datagram in place.
    static func fillL4Checksum(_ ip: inout [UInt8], family: UInt8) {
        let hl = family == 4 ? Int(ip[0] & 0xF) * 4 : 40
        let proto = family == 4 ? ip[9] : ip[6]
        let off: Int
        switch proto {
        case 6: off = 16
        case 17: off = 6
        case 58: off = 2
        default: return
        }
        let l4Len = ip.count - hl
        ip[hl + off] = 0; ip[hl + off + 1] = 0
        var c = ip.withUnsafeBytes { b -> UInt16 in
            family == 4 ? l4ChecksumV4(ipHeader: b.baseAddress!, proto: proto, l4: b.baseAddress! + hl, l4Length: l4Len)
                : l4ChecksumV6(ipHeader: b.baseAddress!, proto: proto, l4: b.baseAddress! + hl, l4Length: l4Len)
        }
        if c == 0 && proto == 17 { c = 0xFFFF }
        ip[hl + off] = UInt8(c >> 8); ip[hl + off + 1] = UInt8(c & 0xFF)
    }

    static func ipv4(src: UInt32, dst: UInt32, proto: UInt8, l4: [UInt8], ttl: UInt8 = 64, totalLength: UInt16? = nil) -> [UInt8] {
        var h: [UInt8] = [0x45, 0] + be16(totalLength ?? UInt16(20 + l4.count)) + be16(0x4242) + be16(0x4000)
        h += [ttl, proto, 0, 0] + be32(src) + be32(dst)
        let c = h.withUnsafeBytes { internetChecksum($0.baseAddress!, count: 20) }
        h[10] = UInt8(c >> 8); h[11] = UInt8(c & 0xFF)
        var ip = h + l4
        fillL4Checksum(&ip, family: 4)
        return ip
    }

    static func ipv6(src: [UInt8], dst: [UInt8], nextHeader: UInt8, l4: [UInt8], hopLimit: UInt8 = 64) -> [UInt8] {
        var ip = be32(0x6000_0000) + be16(UInt16(l4.count)) + [nextHeader, hopLimit] + src + dst + l4
        fillL4Checksum(&ip, family: 6)
        return ip
    }

    /// Ethernet + IPv4 as a client on the LAN sends it to the firewall.
    static func frame4(src: UInt32, dst: UInt32, proto: UInt8, l4: [UInt8], ttl: UInt8 = 64,
                       from: [UInt8] = clientMAC, to: [UInt8] = lanMAC) -> [UInt8] {
        ethernet(dst: to, src: from, type: 0x0800) + ipv4(src: src, dst: dst, proto: proto, l4: l4, ttl: ttl)
    }

    static func frame6(src: [UInt8], dst: [UInt8], nextHeader: UInt8, l4: [UInt8], hopLimit: UInt8 = 64,
                       from: [UInt8] = clientMAC, to: [UInt8] = lanMAC) -> [UInt8] {
        ethernet(dst: to, src: from, type: 0x86DD) + ipv6(src: src, dst: dst, nextHeader: nextHeader, l4: l4, hopLimit: hopLimit)
    }
}

fileprivate extension Array where Element == UInt8 {
    func be16(_ at: Int) -> UInt16 { UInt16(self[at]) << 8 | UInt16(self[at + 1]) }
}

final class ForwardTests: XCTestCase {
    typealias F = Frames
    let fx = ShmTestFixture()
    var region: ShmRegion!
    var egress: UnsafeMutablePointer<EgressInterface>!
    var pipeline: Pipeline!
    var counters = WorkerCounters()
    /// The park request of the last `run` / each frame of the last `runBatch`.
    var park = ParkRequest()
    var parks: [ParkRequest] = []
    var configFollower: SnapshotFollower!
    var fibFollower: SnapshotFollower!

    static let client4 = F.v4(10, 10, 1, 10)
    static let server4 = F.v4(10, 10, 2, 2)
    static let client6 = F.v6(1, 0x10)
    static let server6 = F.v6(2, 2)
    static let lanIfindex: UInt32 = 2
    static let wanIfindex: UInt32 = 3

    override func setUpWithError() throws {
        continueAfterFailure = false
        region = try fx.region("fwd", queues: 1, interfaces: 2, sessionCapacity: 1024)
        try Self.setUpInterfaces(region)
        // A real compiled snapshot, as xpfd publishes it (the worker validates it).
        try region.publishConfig(Self.snapshot(udp: 60))
        try region.publishFIB { Self.fillFIB($0, gatewayKnown: false) }
        (pipeline, egress) = Self.makePipeline(region, &configFollower, &fibFollower)
        pipeline.nowMs = 5_000
        pipeline.nowS = 3_000_000   // > 49.7 days of uptime: beyond what the ms clock can express
        counters = WorkerCounters()
    }

    override func tearDown() {
        egress?.deallocate()
        pipeline = nil
        region = nil
        fx.removeAll()
        super.tearDown()
    }

    static func setUpInterfaces(_ r: ShmRegion) throws {
        for (slot, name, ifindex, mac) in [(0, "lan", lanIfindex, F.lanMAC), (1, "wan", wanIfindex, F.wanMAC)] {
            var ifc = xpf_iface()
            ifc.ifindex = ifindex
            ifc.mtu = 1500
            ifc.rx_queues = 1
            ifc.xdp_mode = UInt32(XPF_XDP_MODE_NATIVE.rawValue)
            copyCString(name, into: &ifc.name)
            withUnsafeMutableBytes(of: &ifc.mac) { $0.copyBytes(from: mac) }
            r.setIface(slot, ifc)
        }
    }

    /// Zones and policies of the forwarding tests: fw0 in trust, fw1 in untrust, and one
    /// global policy permitting (and logging) every flow either way, so these tests see
    /// forwarding and session events; PolicyStageTests test the policies themselves.
    static let securityText = """
        security {
            zones {
                security-zone trust { interfaces { fw0.0; } }
                security-zone untrust { interfaces { fw1.0; } }
            }
            policies { global { policy allow-all {
                match { source-address any; destination-address any; application any; }
                then { permit; log { session-init; session-close; } }
            } } }
        }
        """

    /// A compiled configuration snapshot with the timeouts these tests rely on.
    static func snapshot(udp: Int) throws -> ConfigSnapshotImage {
        let text = """
        system { dataplane { interfaces [ fw0 fw1 ]; batch-size 64; neighbor-hold-time 1000; } }
        security { flow { tcp-session { established-timeout 1800; closing-timeout 10; initial-timeout 20; }
                          udp-timeout \(udp); icmp-timeout 10; other-timeout 30; } }
        \(securityText)
        """
        return try ConfigSnapshotImage(ConfigModel.load(text: text, file: "forward-tests").1)
    }

    /// The worker's start-up (Sources/Worker/main.swift): egress table from the header,
    /// followers on the published words, Pipeline over partition q.
    static func makePipeline(_ region: ShmRegion, _ cf: inout SnapshotFollower?, _ ff: inout SnapshotFollower?,
                             queue: Int = 0) -> (Pipeline, UnsafeMutablePointer<EgressInterface>) {
        let (p, c, f) = try! Pipeline.forWorker(region: region, queue: queue)
        cf = c
        ff = f
        let egress = p.interfaces
        return (p, egress)
    }

    static func route(_ f: UnsafeMutablePointer<xpf_fib_snapshot>, family: UInt8, dst: [UInt8], len: UInt8,
                      flags: xpf_route_flags? = nil, gateway: [UInt8] = [], slot: UInt8, ifindex: UInt32) {
        var r = xpf_route()
        r.family = family
        r.prefix_len = len
        r.flags = flags.map { UInt8($0.rawValue) } ?? 0
        r.iface_slot = slot
        r.ifindex = ifindex
        withUnsafeMutableBytes(of: &r.dst) { $0.copyBytes(from: dst) }
        withUnsafeMutableBytes(of: &r.gateway) { $0.copyBytes(from: gateway) }
        let n = Int(f.pointee.n_routes)
        withUnsafeMutableBytes(of: &f.pointee.routes) { $0.storeBytes(of: r, toByteOffset: n * MemoryLayout<xpf_route>.stride, as: xpf_route.self) }
        f.pointee.n_routes += 1
    }

    static func neigh(_ f: UnsafeMutablePointer<xpf_fib_snapshot>, family: UInt8, addr: [UInt8], mac: [UInt8],
                      state: xpf_neigh_state, slot: UInt8, ifindex: UInt32) {
        var e = xpf_neigh()
        e.family = family
        e.state = UInt8(state.rawValue)
        e.iface_slot = slot
        e.ifindex = ifindex
        withUnsafeMutableBytes(of: &e.addr) { $0.copyBytes(from: addr) }
        withUnsafeMutableBytes(of: &e.mac) { $0.copyBytes(from: mac) }
        let n = Int(f.pointee.n_neigh)
        withUnsafeMutableBytes(of: &f.pointee.neigh) { $0.storeBytes(of: e, toByteOffset: n * MemoryLayout<xpf_neigh>.stride, as: xpf_neigh.self) }
        f.pointee.n_neigh += 1
    }

    static func b4(_ a: UInt32) -> [UInt8] { F.be32(a) }

    /// Routes sorted as xpfd sorts them: family, prefix length descending.
    static func fillFIB(_ f: UnsafeMutablePointer<xpf_fib_snapshot>, gatewayKnown: Bool) {
        let wan = wanIfindex, lan = lanIfindex
        route(f, family: 4, dst: b4(F.v4(10, 10, 1, 1)), len: 32, flags: XPF_ROUTE_LOCAL, slot: 0, ifindex: lan)
        route(f, family: 4, dst: b4(F.v4(10, 10, 9, 0)), len: 24, flags: XPF_ROUTE_BLACKHOLE, slot: 0xFF, ifindex: 0)
        route(f, family: 4, dst: b4(F.v4(10, 10, 7, 0)), len: 24, slot: 0xFF, ifindex: 9)   // a non-dataplane link
        route(f, family: 4, dst: b4(F.v4(10, 10, 2, 0)), len: 24, slot: 1, ifindex: wan)
        route(f, family: 4, dst: b4(F.v4(10, 10, 1, 0)), len: 24, slot: 0, ifindex: lan)
        route(f, family: 4, dst: b4(0), len: 0, flags: XPF_ROUTE_GATEWAY, gateway: b4(F.v4(10, 10, 2, 254)), slot: 1, ifindex: wan)
        route(f, family: 6, dst: F.v6(1, 1), len: 128, flags: XPF_ROUTE_LOCAL, slot: 0, ifindex: lan)
        route(f, family: 6, dst: F.v6(2, 0), len: 64, slot: 1, ifindex: wan)
        route(f, family: 6, dst: F.v6(1, 0), len: 64, slot: 0, ifindex: lan)
        route(f, family: 6, dst: F.v6(0x99, 0), len: 48, flags: XPF_ROUTE_BLACKHOLE, slot: 0xFF, ifindex: 0)
        neigh(f, family: 4, addr: b4(server4), mac: F.serverMAC, state: XPF_NEIGH_VALID, slot: 1, ifindex: wan)
        neigh(f, family: 4, addr: b4(F.v4(10, 10, 2, 3)), mac: [0, 0, 0, 0, 0, 0], state: XPF_NEIGH_INCOMPLETE, slot: 1, ifindex: wan)
        neigh(f, family: 4, addr: b4(F.v4(10, 10, 2, 4)), mac: [2, 0, 0, 0, 0, 4], state: XPF_NEIGH_FAILED, slot: 1, ifindex: wan)
        neigh(f, family: 4, addr: b4(client4), mac: F.clientMAC, state: XPF_NEIGH_VALID, slot: 0, ifindex: lan)
        // Same address as the server, but on the LAN link: must not be used for the WAN.
        neigh(f, family: 4, addr: b4(F.v4(10, 10, 2, 5)), mac: [2, 0, 0, 0, 0, 5], state: XPF_NEIGH_VALID, slot: 0, ifindex: lan)
        neigh(f, family: 6, addr: server6, mac: F.server6MAC, state: XPF_NEIGH_VALID, slot: 1, ifindex: wan)
        neigh(f, family: 6, addr: client6, mac: F.clientMAC, state: XPF_NEIGH_VALID, slot: 0, ifindex: lan)
        if gatewayKnown {
            neigh(f, family: 4, addr: b4(F.v4(10, 10, 2, 254)), mac: F.gatewayMAC, state: XPF_NEIGH_VALID, slot: 1, ifindex: wan)
        }
    }

    // MARK: helpers

    /// Room after a frame, as a UMEM frame has: an ICMP error built in place grows the
    /// frame by up to 48 bytes (ICMPError.build).
    static let frameHeadroom = 128

    /// Runs one frame through the pipeline; returns the action and the frame afterwards
    /// (its new length when the pipeline rewrote it into another packet).
    func run(_ frame: [UInt8], ingress: UInt8 = 0) -> (PacketAction, [UInt8]) {
        var buf = frame + [UInt8](repeating: 0, count: Self.frameHeadroom)
        park = ParkRequest()
        let a = buf.withUnsafeMutableBytes {
            pipeline.process(frame: $0.baseAddress!, length: frame.count, ingress: ingress, counters: &counters, park: &park)
        }
        return (a, Array(buf[0..<(a.length == 0 ? frame.count : Int(a.length))]))
    }

    func assertTransmit(_ a: PacketAction, egress: UInt8, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.kind, .transmit, "reason \(a.reason)", file: file, line: line)
        XCTAssertEqual(a.egress, egress, file: file, line: line)
    }

    func assertDrop(_ a: PacketAction, _ reason: xpf_drop_reason, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.kind, .drop, file: file, line: line)
        XCTAssertEqual(a.reason, UInt8(reason.rawValue), "expected \(dropReasonName(Int(reason.rawValue))), got \(dropReasonName(Int(a.reason)))", file: file, line: line)
    }

    /// Rewritten frame: MACs, TTL-1 with a valid header checksum, everything else untouched.
    func assertForwardedV4(_ before: [UInt8], _ after: [UInt8], dstMAC: [UInt8], srcMAC: [UInt8],
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(after.count, before.count, file: file, line: line)
        XCTAssertEqual(Array(after[0..<6]), dstMAC, "dst MAC = neighbour's", file: file, line: line)
        XCTAssertEqual(Array(after[6..<12]), srcMAC, "src MAC = egress interface's", file: file, line: line)
        XCTAssertEqual(after[12..<14], before[12..<14], file: file, line: line)
        XCTAssertEqual(after[14 + 8], before[14 + 8] - 1, "TTL decremented", file: file, line: line)
        // Full recompute: the header with its checksum sums to zero, and a fresh checksum
        // over the header (checksum zeroed) equals the stored one.
        let hdr = Array(after[14..<34])
        XCTAssertEqual(hdr.withUnsafeBytes { internetChecksum($0.baseAddress!, count: 20) }, 0, "IPv4 header checksum valid", file: file, line: line)
        var z = hdr; z[10] = 0; z[11] = 0
        XCTAssertEqual(z.withUnsafeBytes { internetChecksum($0.baseAddress!, count: 20) }, hdr.be16(10), file: file, line: line)
        // Only TTL and checksum changed in L3; L4 untouched and its checksum still valid.
        for i in 14..<after.count where i != 22 && i != 24 && i != 25 {
            if after[i] != before[i] { XCTFail("byte \(i) changed", file: file, line: line); break }
        }
        let ip = Array(after[14...])
        if ip[9] == 6 || ip[9] == 17 {
            XCTAssertEqual(ip.withUnsafeBytes { l4ChecksumV4(ipHeader: $0.baseAddress!, proto: ip[9], l4: $0.baseAddress! + 20, l4Length: ip.count - 20) }, 0,
                           "L4 checksum still valid", file: file, line: line)
        }
    }

    func assertForwardedV6(_ before: [UInt8], _ after: [UInt8], dstMAC: [UInt8], srcMAC: [UInt8],
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(after.count, before.count, file: file, line: line)
        XCTAssertEqual(Array(after[0..<6]), dstMAC, file: file, line: line)
        XCTAssertEqual(Array(after[6..<12]), srcMAC, file: file, line: line)
        XCTAssertEqual(after[14 + 7], before[14 + 7] - 1, "hop limit decremented", file: file, line: line)
        for i in 12..<after.count where i != 21 {
            if after[i] != before[i] { XCTFail("byte \(i) changed", file: file, line: line); break }
        }
        let ip = Array(after[14...])
        XCTAssertEqual(ip.withUnsafeBytes { l4ChecksumV6(ipHeader: $0.baseAddress!, proto: ip[6], l4: $0.baseAddress! + 40, l4Length: ip.count - 40) }, 0,
                       "L4 checksum still valid", file: file, line: line)
    }

    var records: UnsafeMutablePointer<xpf_session> { region.sessions }

    func sessionIndex(_ family: UInt8, _ proto: UInt8, src: [UInt8], dst: [UInt8], sport: UInt16, dport: UInt16) -> (index: Int, direction: UInt32)? {
        var k = FlowKey()
        k.family = family
        k.proto = proto
        withUnsafeMutableBytes(of: &k.tuple.src) { $0.copyBytes(from: src) }
        withUnsafeMutableBytes(of: &k.tuple.dst) { $0.copyBytes(from: dst) }
        k.tuple.sport = sport.bigEndian
        k.tuple.dport = dport.bigEndian
        return region.sessionTable.lookup(&k)
    }

    // MARK: IPv4

    /// Runs frames as one RX batch through processBatch (prefetch and key-guess stage
    /// included), as the worker's poll loop does; `parks` gets the batch's park requests.
    func runBatch(_ frames: [[UInt8]]) -> [PacketAction] {
        let stride = 2048
        let umem = UnsafeMutableRawPointer.allocate(byteCount: stride * frames.count, alignment: 64)
        defer { umem.deallocate() }
        var descs: [xdp_desc] = []
        for (i, f) in frames.enumerated() {
            (umem + i * stride).copyMemory(from: f, byteCount: f.count)
            descs.append(xdp_desc(addr: UInt64(i * stride), len: UInt32(f.count), options: 0))
        }
        var actions = [PacketAction](repeating: PacketAction(kind: .drop), count: frames.count)
        parks = [ParkRequest](repeating: ParkRequest(), count: frames.count)
        actions.withUnsafeMutableBufferPointer { a in
            parks.withUnsafeMutableBufferPointer { pk in
                descs.withUnsafeBufferPointer { d in
                    pipeline.processBatch(umem: umem, descs: d.baseAddress!, count: frames.count, ingress: 0,
                                          counters: &counters, actions: a.baseAddress!, parks: pk.baseAddress!)
                }
            }
        }
        return actions
    }

    func testBatchReusesAGuessedHashOnlyWhenTheGuessIsTheRealKey() {
        // The prefetch stage guesses each key at fixed offsets and the lookup reuses its
        // hash only when the real key is the same. A non-first fragment is guessed with
        // "ports" read from its payload while its real key has ports 0: reusing that hash
        // would miss the session and create a new one on every packet.
        var frag = F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(5555, 6666, payload: Array(repeating: 1, count: 16)))
        frag[14 + 6] = 0x00; frag[14 + 7] = 0xB9   // fragment offset 185 × 8, MF clear
        frag[14 + 10] = 0; frag[14 + 11] = 0
        let c = frag[14..<34].withUnsafeBytes { internetChecksum($0.baseAddress!, count: 20) }
        frag[14 + 10] = UInt8(c >> 8); frag[14 + 11] = UInt8(c & 0xFF)
        let plain = F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(7777, 53, payload: []))
        var frames: [[UInt8]] = []
        for _ in 0..<6 { frames += [frag, plain] }
        for a in runBatch(frames) { assertTransmit(a, egress: 1) }
        for a in runBatch(frames) { assertTransmit(a, egress: 1) }
        XCTAssertEqual(counters.s.sessions_created, 2, "one session per flow, however the batch guessed")
        XCTAssertEqual(counters.s.session_misses, 2)
        XCTAssertEqual(counters.s.session_hits, 22)
        XCTAssertNotNil(sessionIndex(4, 17, src: Self.b4(Self.client4), dst: Self.b4(Self.server4), sport: 0, dport: 0),
                        "the fragment's session is keyed without ports")
    }

    func testNextHopCacheNeverOutlivesItsFIBVersion() throws {
        // Forwarding decisions are cached per destination and stamped with the FIB
        // version: a new FIB (neighbour MAC changed, route withdrawn) must take effect on
        // the very next packet.
        let f = F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(41000, 53, payload: []))
        var (a, out) = run(f)
        assertTransmit(a, egress: 1)
        assertForwardedV4(f, out, dstMAC: F.serverMAC, srcMAC: F.wanMAC)
        (a, out) = run(f)  // served from the cache
        assertForwardedV4(f, out, dstMAC: F.serverMAC, srcMAC: F.wanMAC)

        let newMAC: [UInt8] = [0x02, 0xBB, 0, 0, 0x02, 0x02]
        try region.publishFIB { fib in
            Self.route(fib, family: 4, dst: Self.b4(F.v4(10, 10, 2, 0)), len: 24, slot: 1, ifindex: Self.wanIfindex)
            Self.neigh(fib, family: 4, addr: Self.b4(Self.server4), mac: newMAC, state: XPF_NEIGH_VALID, slot: 1, ifindex: Self.wanIfindex)
        }
        pipeline.fib = FIBView(region.fibSlot(fibFollower.poll()!))
        (a, out) = run(f)
        assertTransmit(a, egress: 1)
        assertForwardedV4(f, out, dstMAC: newMAC, srcMAC: F.wanMAC)

        try region.publishFIB { fib in
            Self.neigh(fib, family: 4, addr: Self.b4(Self.server4), mac: newMAC, state: XPF_NEIGH_VALID, slot: 1, ifindex: Self.wanIfindex)
        }
        pipeline.fib = FIBView(region.fibSlot(fibFollower.poll()!))
        (a, _) = run(f)
        XCTAssertEqual(a.kind, .drop)
        XCTAssertEqual(a.reason, UInt8(XPF_DROP_NO_ROUTE.rawValue), "a withdrawn route drops at once, cache or not")
    }

    func testUDPv4CreatesSessionThenHitsItAndRepliesHitDirection1() {
        let f = F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(40000, 53, payload: Array(repeating: 7, count: 30)))
        let (a, out) = run(f, ingress: 0)
        assertTransmit(a, egress: 1)
        assertForwardedV4(f, out, dstMAC: F.serverMAC, srcMAC: F.wanMAC)
        XCTAssertEqual(counters.s.session_misses, 1)
        XCTAssertEqual(counters.s.sessions_created, 1)
        XCTAssertEqual(counters.s.session_hits, 0)

        guard let s = sessionIndex(4, 17, src: Self.b4(Self.client4), dst: Self.b4(Self.server4), sport: 40000, dport: 53) else {
            return XCTFail("no session")
        }
        XCTAssertEqual(s.direction, 0)
        var rec = records[s.index]
        XCTAssertEqual(rec.seq_state & 3, UInt32(XPF_SESS_LIVE.rawValue))
        XCTAssertEqual(rec.family, 4)
        XCTAssertEqual(rec.proto, 17)
        XCTAssertEqual(rec.if_in, 0)
        XCTAssertEqual(rec.if_out, 1)
        XCTAssertEqual(rec.policy, 0, "the permitting policy: allow-all, id 0")
        XCTAssertEqual(rec.generation, 1, "the config generation that decided it")
        XCTAssertEqual(rec.last_seen_ms, 5_000)
        XCTAssertEqual(rec.created_s, 3_000_000)
        XCTAssertEqual(rec.tcp_state, UInt8(XPF_TCP_NONE.rawValue))
        XCTAssertEqual(rec.packets.0, 1)
        XCTAssertEqual(rec.bytes.0, UInt64(f.count), "bytes count the whole frame")
        XCTAssertEqual(rec.packets.1, 0)

        // Same flow again (a fresh copy of the original frame).
        pipeline.nowMs = 6_000
        pipeline.nowS = 3_000_001
        let (a2, out2) = run(f, ingress: 0)
        assertTransmit(a2, egress: 1)
        assertForwardedV4(f, out2, dstMAC: F.serverMAC, srcMAC: F.wanMAC)
        XCTAssertEqual(counters.s.session_misses, 1)
        XCTAssertEqual(counters.s.sessions_created, 1, "a session is created once")
        XCTAssertEqual(counters.s.session_hits, 1)
        rec = records[s.index]
        XCTAssertEqual(rec.packets.0, 2)
        XCTAssertEqual(rec.bytes.0, UInt64(2 * f.count))
        XCTAssertEqual(rec.last_seen_ms, 6_000)
        XCTAssertEqual(rec.created_s, 3_000_000, "a hit does not change the creation time")

        // The reply, arriving on the WAN.
        pipeline.nowMs = 6_500
        let reply = F.frame4(src: Self.server4, dst: Self.client4, proto: 17, l4: F.udp(53, 40000, payload: [1, 2, 3, 4]),
                             ttl: 60, from: F.serverMAC, to: F.wanMAC)
        let (a3, out3) = run(reply, ingress: 1)
        assertTransmit(a3, egress: 0)
        assertForwardedV4(reply, out3, dstMAC: F.clientMAC, srcMAC: F.lanMAC)
        XCTAssertEqual(counters.s.session_hits, 2)
        XCTAssertEqual(counters.s.sessions_created, 1, "replies do not create sessions")
        XCTAssertEqual(sessionIndex(4, 17, src: Self.b4(Self.server4), dst: Self.b4(Self.client4), sport: 53, dport: 40000)?.direction, 1)
        rec = records[s.index]
        XCTAssertEqual(rec.packets.0, 2)
        XCTAssertEqual(rec.packets.1, 1)
        XCTAssertEqual(rec.bytes.1, UInt64(reply.count))
        XCTAssertEqual(rec.last_seen_ms, 6_500)
        XCTAssertEqual(pipeline.partition.liveCount, 1)

        // Another source port is another session.
        let other = F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(40001, 53, payload: []))
        assertTransmit(run(other).0, egress: 1)
        XCTAssertEqual(counters.s.sessions_created, 2)
        XCTAssertEqual(pipeline.partition.liveCount, 2)
    }

    func testTCPv4SessionTracksHandshakeAndClose() {
        let syn = F.frame4(src: Self.client4, dst: Self.server4, proto: 6, l4: F.tcp(50000, 443, flags: 0x02))
        let (a, out) = run(syn)
        assertTransmit(a, egress: 1)
        assertForwardedV4(syn, out, dstMAC: F.serverMAC, srcMAC: F.wanMAC)
        guard let s = sessionIndex(4, 6, src: Self.b4(Self.client4), dst: Self.b4(Self.server4), sport: 50000, dport: 443) else {
            return XCTFail("no session")
        }
        XCTAssertEqual(records[s.index].tcp_state, UInt8(XPF_TCP_INITIAL.rawValue))
        // SYN-ACK from the server (TCPStateTests has every state).
        let synAck = F.frame4(src: Self.server4, dst: Self.client4, proto: 6, l4: F.tcp(443, 50000, flags: 0x12, ack: 1001),
                              from: F.serverMAC, to: F.wanMAC)
        let (a2, out2) = run(synAck, ingress: 1)
        assertTransmit(a2, egress: 0)
        assertForwardedV4(synAck, out2, dstMAC: F.clientMAC, srcMAC: F.lanMAC)
        XCTAssertEqual(records[s.index].tcp_state, UInt8(XPF_TCP_SYN_ACK.rawValue))
        XCTAssertEqual(records[s.index].packets.1, 1)
        // Data (ACKing the SYN-ACK): established; then FIN from the client.
        assertTransmit(run(F.frame4(src: Self.client4, dst: Self.server4, proto: 6, l4: F.tcp(50000, 443, flags: 0x18))).0, egress: 1)
        XCTAssertEqual(records[s.index].tcp_state, UInt8(XPF_TCP_ESTABLISHED.rawValue))
        assertTransmit(run(F.frame4(src: Self.client4, dst: Self.server4, proto: 6, l4: F.tcp(50000, 443, flags: 0x11))).0, egress: 1)
        XCTAssertEqual(records[s.index].tcp_state, UInt8(XPF_TCP_FIN_INITIATOR.rawValue))
        XCTAssertEqual(records[s.index].packets.0, 3)
        XCTAssertEqual(counters.s.sessions_created, 1)
        XCTAssertEqual(counters.s.session_hits, 3)
        // The configured timeouts apply per state.
        XCTAssertEqual(pipeline.timeoutMs(proto: 6, tcpState: UInt8(XPF_TCP_CLOSING.rawValue)), 10_000)
        XCTAssertEqual(pipeline.timeoutMs(proto: 6, tcpState: UInt8(XPF_TCP_ESTABLISHED.rawValue)), 1_800_000)
        XCTAssertEqual(pipeline.timeoutMs(proto: 6, tcpState: UInt8(XPF_TCP_INITIAL.rawValue)), 20_000)
        XCTAssertEqual(pipeline.timeoutMs(proto: 17, tcpState: 0), 60_000)
        XCTAssertEqual(pipeline.timeoutMs(proto: 1, tcpState: 0), 10_000)
        XCTAssertEqual(pipeline.timeoutMs(proto: 58, tcpState: 0), 10_000)
        XCTAssertEqual(pipeline.timeoutMs(proto: 47, tcpState: 0), 30_000)
    }

    func testICMPv4EchoAndReplyShareASession() {
        let req = F.frame4(src: Self.client4, dst: Self.server4, proto: 1, l4: F.icmpEcho(type: 8, id: 0x1234, seq: 1))
        let (a, out) = run(req)
        assertTransmit(a, egress: 1)
        assertForwardedV4(req, out, dstMAC: F.serverMAC, srcMAC: F.wanMAC)
        XCTAssertEqual(Array(out[34...]), Array(req[34...]), "the ICMP message is not touched")
        let s = sessionIndex(4, 1, src: Self.b4(Self.client4), dst: Self.b4(Self.server4), sport: 0x1234, dport: 0x1235)
        XCTAssertNotNil(s, "echo sessions are keyed on the identifier (a request: it and its successor)")
        let rep = F.frame4(src: Self.server4, dst: Self.client4, proto: 1, l4: F.icmpEcho(type: 0, id: 0x1234, seq: 1),
                           from: F.serverMAC, to: F.wanMAC)
        let (a2, out2) = run(rep, ingress: 1)
        assertTransmit(a2, egress: 0)
        assertForwardedV4(rep, out2, dstMAC: F.clientMAC, srcMAC: F.lanMAC)
        XCTAssertEqual(counters.s.sessions_created, 1)
        XCTAssertEqual(counters.s.session_hits, 1)
        XCTAssertEqual(records[s!.index].packets.1, 1)
        // Another identifier: another session.
        assertTransmit(run(F.frame4(src: Self.client4, dst: Self.server4, proto: 1, l4: F.icmpEcho(type: 8, id: 0x1235, seq: 1))).0, egress: 1)
        XCTAssertEqual(counters.s.sessions_created, 2)
    }

    func testTTLv4DecrementKeepsChecksumValidAcrossManyValues() {
        // Different TTLs and addresses exercise the incremental update's carries; a full
        // recompute must agree every time.
        for ttl in [2, 3, 16, 64, 128, 255] as [UInt8] {
            for sport in [1, 0xFFFF, 0x8000] as [UInt16] {
                let f = F.frame4(src: Self.client4 &+ UInt32(ttl), dst: Self.server4, proto: 17,
                                 l4: F.udp(sport, 9, payload: [ttl]), ttl: ttl)
                let (a, out) = run(f)
                assertTransmit(a, egress: 1)
                assertForwardedV4(f, out, dstMAC: F.serverMAC, srcMAC: F.wanMAC)
            }
        }
    }

    func testGatewayRouteUsesGatewayNeighbourAndParksUntilResolved() throws {
        // 8.8.8.8 via the default route: next hop 10.10.2.254, not yet in the FIB.
        let f = F.frame4(src: Self.client4, dst: F.v4(8, 8, 8, 8), proto: 17, l4: F.udp(33333, 53, payload: [9, 9]))
        var (a, out) = run(f)
        XCTAssertEqual(a.kind, .park)
        XCTAssertEqual(a.egress, 1)
        XCTAssertEqual(park.family, 4)
        XCTAssertEqual(park.ifindex, Self.wanIfindex)
        XCTAssertEqual(withUnsafeBytes(of: park.nexthop.src) { Array($0) }, Self.b4(F.v4(10, 10, 2, 254)) + [UInt8](repeating: 0, count: 12),
                       "the gateway, not the destination, is the next hop")
        XCTAssertEqual(out, f, "a parked frame is not rewritten yet")
        XCTAssertEqual(counters.s.sessions_created, 1, "the session exists while the frame waits")

        // Retrying before the FIB knows the neighbour: still waiting, frame untouched.
        var nh = park.nexthop.src
        let ifx = park.ifindex, fam = park.family, eg = a.egress
        var ok = out.withUnsafeMutableBytes { b in
            withUnsafeBytes(of: &nh) { pipeline.resolveParked(frame: b.baseAddress!, length: b.count, egress: eg, family: fam, ifindex: ifx, nexthop: $0.baseAddress!) }
        }
        XCTAssertFalse(ok)
        XCTAssertEqual(out, f)

        // xpfd publishes a FIB with the gateway resolved; the worker switches between batches.
        try region.publishFIB { Self.fillFIB($0, gatewayKnown: true) }
        let s = fibFollower.poll()
        XCTAssertNotNil(s)
        pipeline.fib = FIBView(region.fibSlot(s!))
        ok = out.withUnsafeMutableBytes { b in
            withUnsafeBytes(of: &nh) { pipeline.resolveParked(frame: b.baseAddress!, length: b.count, egress: eg, family: fam, ifindex: ifx, nexthop: $0.baseAddress!) }
        }
        XCTAssertTrue(ok)
        assertForwardedV4(f, out, dstMAC: F.gatewayMAC, srcMAC: F.wanMAC)

        // New frames of the flow now go straight out via the gateway.
        (a, out) = run(f)
        assertTransmit(a, egress: 1)
        assertForwardedV4(f, out, dstMAC: F.gatewayMAC, srcMAC: F.wanMAC)
        XCTAssertEqual(counters.s.session_hits, 1)
    }

    func testUnknownIncompleteOrFailedNeighbourParksWithTheDestinationAsNextHop() {
        for (host, why) in [(UInt8(3), "INCOMPLETE"), (4, "FAILED"), (77, "absent"), (5, "known only on another link")] {
            let dst = F.v4(10, 10, 2, host)
            let f = F.frame4(src: Self.client4, dst: dst, proto: 17, l4: F.udp(1234, 5678, payload: [host]))
            let (a, out) = run(f)
            XCTAssertEqual(a.kind, .park, why)
            XCTAssertEqual(a.egress, 1, why)
            XCTAssertEqual(park.family, 4)
            XCTAssertEqual(park.ifindex, Self.wanIfindex)
            XCTAssertEqual(withUnsafeBytes(of: park.nexthop.src) { Array($0) }, Self.b4(dst) + [UInt8](repeating: 0, count: 12), why)
            XCTAssertEqual(out, f, "\(why): not rewritten")
        }
    }

    func testDropsTTLNoRouteBlackholeLocalNonDataplaneTooBig() {
        let udp = F.udp(1, 2, payload: [0])
        // TTL 1 and 0: the box may not forward it.
        for ttl in [UInt8(1), 0] {
            let f = F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: udp, ttl: ttl)
            let (a, out) = run(f)
            assertDrop(a, XPF_DROP_TTL)
            XCTAssertEqual(out, f, "a dropped frame is not modified")
        }
        XCTAssertEqual(counters.s.sessions_created, 0, "no session for a TTL drop")
        assertDrop(run(F.frame4(src: Self.client4, dst: F.v4(10, 10, 9, 1), proto: 17, l4: udp)).0, XPF_DROP_BLACKHOLE)
        assertDrop(run(F.frame4(src: Self.client4, dst: F.v4(10, 10, 1, 1), proto: 17, l4: udp)).0, XPF_DROP_NOT_DATAPLANE)
        assertDrop(run(F.frame4(src: Self.client4, dst: F.v4(10, 10, 7, 1), proto: 17, l4: udp)).0, XPF_DROP_NOT_DATAPLANE)
        // Larger than the egress MTU (1500): 1501-byte datagram.
        let big = F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(1, 2, payload: [UInt8](repeating: 0, count: 1501 - 28)))
        assertDrop(run(big).0, XPF_DROP_TOO_BIG)
        let fits = F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(1, 2, payload: [UInt8](repeating: 0, count: 1500 - 28)))
        assertTransmit(run(fits).0, egress: 1)
        XCTAssertEqual(counters.s.sessions_created, 1, "only the forwarded packet made a session")
        XCTAssertEqual(counters.s.session_misses, 7, "every parsed packet is looked up (the session lookup comes before "
                       + "the hop limit and the route): the two TTL drops, blackhole, two not-dataplane, too big, and the "
                       + "one that fits")
        // No IPv6 default route: an unrouted v6 destination.
        let v6 = F.frame6(src: Self.client6, dst: [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [1], nextHeader: 17, l4: udp)
        assertDrop(run(v6).0, XPF_DROP_NO_ROUTE)
        assertDrop(run(F.frame6(src: Self.client6, dst: F.v6(0x99, 1), nextHeader: 17, l4: udp)).0, XPF_DROP_BLACKHOLE)
        assertDrop(run(F.frame6(src: Self.client6, dst: F.v6(1, 1), nextHeader: 17, l4: udp)).0, XPF_DROP_NOT_DATAPLANE)
        assertDrop(run(F.frame6(src: Self.client6, dst: Self.server6, nextHeader: 17, l4: udp, hopLimit: 1)).0, XPF_DROP_TTL)
        XCTAssertEqual(counters.s.sessions_created, 1)
    }

    /// The LAN interface's (slot 0) addresses: 10.10.1.1, a link-local and fd00:1::1 —
    /// the sources of ICMP errors sent out of it.
    static func fillLANAddresses(_ f: UnsafeMutablePointer<xpf_fib_snapshot>) {
        let addrs: [(UInt8, [UInt8])] = [(4, b4(F.v4(10, 10, 1, 1))), (6, [0xFE, 0x80] + [UInt8](repeating: 0, count: 13) + [1]), (6, F.v6(1, 1))]
        withUnsafeMutableBytes(of: &f.pointee.if_addrs) { raw in
            let a = raw.baseAddress!.assumingMemoryBound(to: xpf_if_addr.self)
            for (i, (fam, addr)) in addrs.enumerated() {
                a[i] = xpf_if_addr()
                a[i].family = fam; a[i].iface_slot = 0; a[i].ifindex = lanIfindex
                withUnsafeMutableBytes(of: &a[i].addr) { $0.copyBytes(from: addr + [UInt8](repeating: 0, count: 16 - addr.count)) }
            }
        }
        f.pointee.n_if_addrs = UInt32(addrs.count)
    }

    /// The usual FIB plus the LAN interface's addresses, adopted by the pipeline.
    func publishFIBWithLANAddresses() throws {
        try region.publishFIB { f in
            Self.fillFIB(f, gatewayKnown: true)
            Self.fillLANAddresses(f)
        }
        pipeline.fib = FIBView(region.fibSlot(fibFollower.poll()!))
    }

    func testUnresolvedNextHopAnswersWithICMPHostUnreachable() throws {
        // a frame parked for a next hop that never resolves becomes an ICMP host
        // unreachable for its sender, sent back out of the ingress interface.
        try publishFIBWithLANAddresses()
        let f = F.frame4(src: Self.client4, dst: F.v4(10, 10, 2, 3), proto: 17, l4: F.udp(4000, 53, payload: [7, 7]))
        var buf = f + [UInt8](repeating: 0, count: Self.frameHeadroom)
        let a = buf.withUnsafeMutableBytes { pipeline.process(frame: $0.baseAddress!, length: f.count, ingress: 0, counters: &counters) }
        XCTAssertEqual(a.kind, .park, "10.10.2.3's neighbour entry is INCOMPLETE")
        let len = buf.withUnsafeMutableBytes { pipeline.hostUnreachable(frame: $0.baseAddress!, length: f.count, ingress: 0, counters: &counters) }
        let n = try XCTUnwrap(len)
        XCTAssertEqual(Int(n), 14 + 20 + 8 + 28)
        let ip = Array(buf[14..<Int(n)])
        XCTAssertEqual(Array(buf[0..<6]), F.clientMAC)
        XCTAssertEqual(Array(ip[12..<16]), Self.b4(F.v4(10, 10, 1, 1)))
        XCTAssertEqual(Array(ip[16..<20]), Self.b4(Self.client4))
        XCTAssertEqual(ip[20], 3); XCTAssertEqual(ip[21], 1, "host unreachable")
        XCTAssertEqual(ip.withUnsafeBytes { internetChecksum($0.baseAddress!, count: 20) }, 0)
        XCTAssertEqual(ip.withUnsafeBytes { internetChecksum($0.baseAddress! + 20, count: ip.count - 20) }, 0)
        XCTAssertEqual(Array(ip[28...]), Array(f[14..<42]), "quotes the parked, unmodified packet")
        XCTAssertEqual(counters.s.icmp_errors_sent, 1)
    }

    func testTTLExpiryAnswersWithICMPTimeExceededFromTheIngressAddress() throws {
        // with an address on the ingress interface, a TTL-1 packet is answered with
        // an ICMP time exceeded sent back out of that interface (the drop is still counted).
        try publishFIBWithLANAddresses()

        let f4 = F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(33434, 33435, payload: Array(repeating: 9, count: 24)), ttl: 1)
        var buf = f4 + [UInt8](repeating: 0, count: Self.frameHeadroom)
        var a = buf.withUnsafeMutableBytes { pipeline.process(frame: $0.baseAddress!, length: f4.count, ingress: 0, counters: &counters) }
        XCTAssertEqual(a.kind, .transmit)
        XCTAssertEqual(a.egress, 0, "back out of the ingress interface")
        XCTAssertEqual(Int(a.length), 14 + 20 + 8 + 28, "IP + ICMP headers, then the quoted IP header and 8 bytes")
        var out = Array(buf[0..<Int(a.length)])
        XCTAssertEqual(Array(out[0..<6]), F.clientMAC, "to the sender's MAC")
        XCTAssertEqual(Array(out[6..<12]), F.lanMAC, "from the ingress interface's MAC")
        var ip = Array(out[14...])
        XCTAssertEqual(ip[0], 0x45); XCTAssertEqual(ip[8], 64, "TTL"); XCTAssertEqual(ip[9], 1, "ICMP")
        XCTAssertEqual(Array(ip[12..<16]), Self.b4(F.v4(10, 10, 1, 1)), "from the ingress interface's address")
        XCTAssertEqual(Array(ip[16..<20]), Self.b4(Self.client4), "to the sender")
        XCTAssertEqual(ip.withUnsafeBytes { internetChecksum($0.baseAddress!, count: 20) }, 0, "IPv4 header checksum")
        XCTAssertEqual(ip[20], 11); XCTAssertEqual(ip[21], 0, "time exceeded in transit")
        XCTAssertEqual(ip.withUnsafeBytes { internetChecksum($0.baseAddress! + 20, count: ip.count - 20) }, 0, "ICMP checksum")
        XCTAssertEqual(Array(ip[28...]), Array(f4[14..<(14 + 28)]), "quotes the original IP header and 8 bytes")
        XCTAssertEqual(counters.s.icmp_errors_sent, 1)
        XCTAssertEqual(counters.s.drop(Int(XPF_DROP_TTL.rawValue)), 1, "the expired packet still counts as a TTL drop")
        XCTAssertEqual(counters.s.sessions_created, 0)

        let f6 = F.frame6(src: Self.client6, dst: Self.server6, nextHeader: 17, l4: F.udp(33434, 33435, payload: [1, 2, 3]), hopLimit: 1)
        buf = f6 + [UInt8](repeating: 0, count: Self.frameHeadroom)
        a = buf.withUnsafeMutableBytes { pipeline.process(frame: $0.baseAddress!, length: f6.count, ingress: 0, counters: &counters) }
        XCTAssertEqual(a.kind, .transmit)
        XCTAssertEqual(Int(a.length), f6.count + 48)
        out = Array(buf[0..<Int(a.length)])
        ip = Array(out[14...])
        XCTAssertEqual(ip[6], 58); XCTAssertEqual(ip[7], 64)
        XCTAssertEqual(Array(ip[8..<24]), F.v6(1, 1), "a global address, not the link-local one")
        XCTAssertEqual(Array(ip[24..<40]), Self.client6)
        XCTAssertEqual(ip[40], 3); XCTAssertEqual(ip[41], 0)
        XCTAssertEqual(ip.withUnsafeBytes { l4ChecksumV6(ipHeader: $0.baseAddress!, proto: 58, l4: $0.baseAddress! + 40, l4Length: ip.count - 40) }, 0, "ICMPv6 checksum")
        XCTAssertEqual(Array(ip[48...]), Array(f6[14...]), "quotes the whole original packet")

        // Never an error about an error.
        let err = F.frame4(src: Self.client4, dst: Self.server4, proto: 1, l4: [3, 1, 0, 0, 0, 0, 0, 0] + Array(f4[14..<42]), ttl: 1)
        assertDrop(run(err).0, XPF_DROP_TTL)
        XCTAssertEqual(counters.s.icmp_errors_sent, 2)

        // Rate limit: a burst of 20, then suppressed (counted).
        for _ in 0..<30 { _ = run(f4) }
        XCTAssertEqual(counters.s.icmp_errors_sent, 20, "the burst allows 20 errors in one instant, 2 were sent already")
        XCTAssertEqual(counters.s.icmp_errors_limited, 12)
    }

    func testNoRouteWhenTheFIBIsEmpty() throws {
        try region.publishFIB { _ in }
        pipeline.fib = FIBView(region.fibSlot(fibFollower.poll()!))
        let f = F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(1, 2, payload: []))
        assertDrop(run(f).0, XPF_DROP_NO_ROUTE)
        XCTAssertEqual(counters.s.sessions_created, 0)
    }

    func testMalformedFramesDropAsParseAndNonIPAsUnsupported() {
        let good = F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(1, 2, payload: [1, 2, 3]))
        // Truncated in the IP header.
        assertDrop(run(Array(good.prefix(30))).0, XPF_DROP_PARSE)
        // Truncated Ethernet.
        assertDrop(run(Array(good.prefix(10))).0, XPF_DROP_PARSE)
        // IHL 4.
        var badIHL = good; badIHL[14] = 0x44
        assertDrop(run(badIHL).0, XPF_DROP_PARSE)
        // Total length beyond the frame.
        var badLen = good; badLen[16] = 0x05; badLen[17] = 0xDC
        assertDrop(run(badLen).0, XPF_DROP_PARSE)
        // UDP length < 8.
        var badUDP = good; badUDP[38] = 0; badUDP[39] = 4
        assertDrop(run(badUDP).0, XPF_DROP_PARSE)
        // Version 6 in an IPv4 ethertype.
        var badVer = good; badVer[14] = 0x65
        assertDrop(run(badVer).0, XPF_DROP_PARSE)
        // ARP: not IP.
        let arp = F.ethernet(dst: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], src: F.clientMAC, type: 0x0806) + [UInt8](repeating: 0, count: 28)
        assertDrop(run(arp).0, XPF_DROP_UNSUPPORTED)
        XCTAssertEqual(counters.s.sessions_created, 0)
        XCTAssertEqual(counters.s.session_misses, 0, "a malformed frame never reaches the session table")
    }

    // MARK: IPv6

    func testUDPv6ForwardsWithHopLimitDecrementAndSession() {
        let f = F.frame6(src: Self.client6, dst: Self.server6, nextHeader: 17, l4: F.udp(40000, 53, payload: Array("query".utf8)))
        let (a, out) = run(f)
        assertTransmit(a, egress: 1)
        assertForwardedV6(f, out, dstMAC: F.server6MAC, srcMAC: F.wanMAC)
        XCTAssertEqual(out[21], 63)
        XCTAssertEqual(counters.s.sessions_created, 1)
        guard let s = sessionIndex(6, 17, src: Self.client6, dst: Self.server6, sport: 40000, dport: 53) else { return XCTFail("no session") }
        XCTAssertEqual(records[s.index].family, 6)
        XCTAssertEqual(records[s.index].packets.0, 1)
        XCTAssertEqual(records[s.index].bytes.0, UInt64(f.count))
        // The same addresses' IPv4-looking prefix does not alias an IPv4 session.
        XCTAssertNil(sessionIndex(4, 17, src: Self.client6, dst: Self.server6, sport: 40000, dport: 53))

        let reply = F.frame6(src: Self.server6, dst: Self.client6, nextHeader: 17, l4: F.udp(53, 40000, payload: Array("answer".utf8)),
                             hopLimit: 255, from: F.server6MAC, to: F.wanMAC)
        let (a2, out2) = run(reply, ingress: 1)
        assertTransmit(a2, egress: 0)
        assertForwardedV6(reply, out2, dstMAC: F.clientMAC, srcMAC: F.lanMAC)
        XCTAssertEqual(out2[21], 254)
        XCTAssertEqual(counters.s.session_hits, 1)
        XCTAssertEqual(records[s.index].packets.1, 1)
        XCTAssertEqual(records[s.index].bytes.1, UInt64(reply.count))
    }

    func testTCPv6AndICMPv6Echo() {
        let syn = F.frame6(src: Self.client6, dst: Self.server6, nextHeader: 6, l4: F.tcp(50505, 22, flags: 0x02))
        let (a, out) = run(syn)
        assertTransmit(a, egress: 1)
        assertForwardedV6(syn, out, dstMAC: F.server6MAC, srcMAC: F.wanMAC)
        let st = sessionIndex(6, 6, src: Self.client6, dst: Self.server6, sport: 50505, dport: 22)
        XCTAssertEqual(records[st!.index].tcp_state, UInt8(XPF_TCP_INITIAL.rawValue))

        let ping = F.frame6(src: Self.client6, dst: Self.server6, nextHeader: 58, l4: F.icmpEcho(type: 128, id: 77, seq: 1))
        let (a2, out2) = run(ping)
        assertTransmit(a2, egress: 1)
        assertForwardedV6(ping, out2, dstMAC: F.server6MAC, srcMAC: F.wanMAC)
        let pong = F.frame6(src: Self.server6, dst: Self.client6, nextHeader: 58, l4: F.icmpEcho(type: 129, id: 77, seq: 1),
                            from: F.server6MAC, to: F.wanMAC)
        let (a3, out3) = run(pong, ingress: 1)
        assertTransmit(a3, egress: 0)
        assertForwardedV6(pong, out3, dstMAC: F.clientMAC, srcMAC: F.lanMAC)
        XCTAssertEqual(counters.s.sessions_created, 2)
        XCTAssertEqual(counters.s.session_hits, 1)
        let si = sessionIndex(6, 58, src: Self.server6, dst: Self.client6, sport: 78, dport: 77)  // a reply's key
        XCTAssertEqual(si?.direction, 1)
        XCTAssertEqual(records[si!.index].packets.0, 1)
        XCTAssertEqual(records[si!.index].packets.1, 1)
    }

    func testEveryParkedFrameOfABatchNamesItsOwnNextHop() {
        // Three frames of one batch wait for three different neighbours (two hosts on the
        // connected WAN link, one via the unresolved gateway), with a forwarded frame
        // between: each park request must name its own frame's next hop, not the batch's
        // last one (a frame queued under another neighbour would be sent to that host).
        let hosts: [UInt8] = [3, 77]
        var frames = hosts.map { F.frame4(src: Self.client4, dst: F.v4(10, 10, 2, $0), proto: 17, l4: F.udp(1000 + UInt16($0), 53, payload: [$0])) }
        frames.insert(F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(999, 53, payload: [1])), at: 1)
        frames.append(F.frame4(src: Self.client4, dst: F.v4(8, 8, 8, 8), proto: 17, l4: F.udp(998, 53, payload: [2])))
        let actions = runBatch(frames)
        XCTAssertEqual(actions.map(\.kind), [.park, .transmit, .park, .park])
        let wanted = [F.v4(10, 10, 2, 3), 0, F.v4(10, 10, 2, 77), F.v4(10, 10, 2, 254)]
        for k in [0, 2, 3] {
            XCTAssertEqual(parks[k].family, 4)
            XCTAssertEqual(parks[k].ifindex, Self.wanIfindex)
            XCTAssertEqual(withUnsafeBytes(of: parks[k].nexthop.src) { Array($0) }, Self.b4(wanted[k]) + [UInt8](repeating: 0, count: 12),
                           "frame \(k) waits for its own next hop")
        }
    }

    func testIPv6UnknownNeighbourParksWithFullAddress() {
        let dst = F.v6(2, 0x33)
        let f = F.frame6(src: Self.client6, dst: dst, nextHeader: 17, l4: F.udp(1, 2, payload: [1]))
        let (a, out) = run(f)
        XCTAssertEqual(a.kind, .park)
        XCTAssertEqual(a.egress, 1)
        XCTAssertEqual(park.family, 6)
        XCTAssertEqual(park.ifindex, Self.wanIfindex)
        XCTAssertEqual(withUnsafeBytes(of: park.nexthop.src) { Array($0) }, dst)
        XCTAssertEqual(out, f)
    }

    // MARK: configuration switch, full table

    func testSessionRecordsTheGenerationThatDecidedIt() throws {
        try region.publishConfig(Self.snapshot(udp: 5))
        let slot = configFollower.poll()!
        pipeline.adopt(config: region.configSlot(slot), generation: configFollower.generation)
        XCTAssertEqual(pipeline.generation, 2)
        XCTAssertEqual(region.worker(0).pointee.config_generation_seen, 2)
        XCTAssertEqual(pipeline.timeoutMs(proto: 17, tcpState: 0), 5_000)
        assertTransmit(run(F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(7, 7, payload: []))).0, egress: 1)
        let s = sessionIndex(4, 17, src: Self.b4(Self.client4), dst: Self.b4(Self.server4), sport: 7, dport: 7)!
        XCTAssertEqual(records[s.index].generation, 2)
    }

    func testFullSessionTableDropsNewFlowsButForwardsExistingOnes() throws {
        // A region whose single partition holds 2 sessions.
        let small = try fx.region("fwdsmall", queues: 1, interfaces: 2, sessionCapacity: 2)
        try Self.setUpInterfaces(small)
        try small.publishConfig(Self.snapshot(udp: 60))
        try small.publishFIB { Self.fillFIB($0, gatewayKnown: true) }
        var cf: SnapshotFollower?, ff: SnapshotFollower?
        let (p, eg) = Self.makePipeline(small, &cf, &ff)
        defer { eg.deallocate() }
        pipeline = p
        let flows = (1...3).map { F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(UInt16(1000 + $0), 53, payload: [])) }
        assertTransmit(run(flows[0]).0, egress: 1)
        assertTransmit(run(flows[1]).0, egress: 1)
        let (a, out) = run(flows[2])
        assertDrop(a, XPF_DROP_SESSION_FULL)
        XCTAssertEqual(out, flows[2], "dropped, not rewritten")
        XCTAssertEqual(counters.s.sessions_created, 2)
        XCTAssertEqual(counters.s.session_misses, 3)
        // Existing flows go on, both directions.
        assertTransmit(run(flows[0]).0, egress: 1)
        let reply = F.frame4(src: Self.server4, dst: Self.client4, proto: 17, l4: F.udp(53, 1002, payload: []), from: F.serverMAC, to: F.wanMAC)
        assertTransmit(run(reply, ingress: 1).0, egress: 0)
        XCTAssertEqual(counters.s.session_hits, 2)
    }
}
