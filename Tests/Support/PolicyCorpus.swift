// Random security-policy configurations and packets for the policy lookup's differential
// test (Tests/SharedTests/PolicyMatchTests.swift) and benchmark (tools/xpf-bench
// --policies), plus the reference: a plain linear matcher written over ConfigModel, in
// Junos order, independent of the snapshot and its classifier.
import CXPF
import Shared

public enum PolicyCorpus {
    public typealias M = ConfigModel

    /// SplitMix64: seeded, reproducible across runs and platforms.
    public struct RNG: RandomNumberGenerator {
        var state: UInt64
        public init(seed: UInt64) { state = seed }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476C_E5B9_E477
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// What a random configuration looks like.
    public struct Shape: Sendable {
        public var zones: Int
        /// Policies per zone pair: every pair gets a share of `pairPolicies`, except that
        /// `onePair` puts them all in zone 0 → zone 1.
        public var pairPolicies: Int
        public var onePair: Bool
        public var globalPolicies: Int
        /// Mix both families (else IPv4 only).
        public var mixedFamilies: Bool
        /// Custom applications besides the predefined ones.
        public var customApplications: Int

        public init(zones: Int = 4, pairPolicies: Int, onePair: Bool = false, globalPolicies: Int = 0,
                    mixedFamilies: Bool = true, customApplications: Int = 40)
        {
            self.zones = zones
            self.pairPolicies = pairPolicies
            self.onePair = onePair
            self.globalPolicies = globalPolicies
            self.mixedFamilies = mixedFamilies
            self.customApplications = customApplications
        }
    }

    static let protocols: [UInt8] = [6, 17, 6, 17, 1, 58, 47, 132]
    /// Ports a range starts or ends at: well-known ones and the edges of the space, so
    /// ranges touch and overlap.
    static let portAnchors: [UInt16] = [0, 1, 21, 22, 53, 80, 443, 1023, 1024, 8080, 8443, 32768, 65534, 65535]

    static func port(_ rng: inout RNG) -> UInt16 {
        rng.next() % 2 == 0 ? portAnchors.randomElement(using: &rng)! : UInt16.random(in: 0...65535, using: &rng)
    }

    static func portRange(_ rng: inout RNG) -> ClosedRange<UInt16> {
        switch rng.next() % 4 {
        case 0: return M.ApplicationTerm.anyPort
        case 1: let p = port(&rng); return p...p
        default:
            let a = port(&rng), b = port(&rng)
            return min(a, b)...max(a, b)
        }
    }

    static func application(_ n: Int, _ rng: inout RNG) -> M.Application {
        let terms = (0..<Int.random(in: 1...3, using: &rng)).map { _ -> M.ApplicationTerm in
            let proto = protocols.randomElement(using: &rng)!
            if proto == 1 || proto == 58 {
                let type: UInt8? = rng.next() % 3 == 0 ? nil : UInt8.random(in: 0...10, using: &rng)
                let code: UInt8? = rng.next() % 3 == 0 ? UInt8.random(in: 0...3, using: &rng) : nil
                return M.ApplicationTerm(ipProtocol: proto, icmpType: type, icmpCode: code)
            }
            if proto == 47 { return M.ApplicationTerm(ipProtocol: proto) }
            return M.ApplicationTerm(ipProtocol: proto, sourcePorts: rng.next() % 4 == 0 ? portRange(&rng) : M.ApplicationTerm.anyPort,
                                     destinationPorts: portRange(&rng))
        }
        return M.Application(name: "app\(n)", terms: terms)
    }

    /// Anchors prefixes are cut from, so that random prefixes nest and overlap.
    static let v4Anchors: [UInt32] = [0x0A00_0000, 0x0A01_0200, 0x0AFF_FFFF, 0xC0A8_0100, 0xC0A8_01FF, 0xAC10_0000, 0xCB00_7100]
    static let v6Anchors: [(UInt64, UInt64)] = [(0xFD00_0000_0000_0001, 0), (0xFD00_0000_0000_0001, 0xFFFF), (0x2001_0DB8_0000_0000, 1),
                                                (0x2001_0DB8_FFFF_0000, 0x8000_0000_0000_0000)]

    static func prefix(_ family: M.Family, _ rng: inout RNG) -> M.Prefix {
        if family == .inet {
            let anchor = v4Anchors.randomElement(using: &rng)! ^ UInt32(rng.next() % 4 == 0 ? rng.next() & 0xFFFF : 0)
            return M.Prefix(M.IPAddress(v4: anchor), length: Int.random(in: 8...32, using: &rng))
        }
        let (hi, lo) = v6Anchors.randomElement(using: &rng)!
        let address = M.IPAddress(v6High: hi ^ (rng.next() % 4 == 0 ? rng.next() & 0xFFFF_FFFF : 0), low: lo)
        return M.Prefix(address, length: [16, 32, 48, 56, 64, 65, 96, 112, 127, 128].randomElement(using: &rng)!)
    }

    static let anyV4 = M.Prefix(M.IPAddress(v4: 0), length: 0)
    static let anyV6 = M.Prefix(M.IPAddress(v6High: 0, low: 0), length: 0)

    static func addresses(_ shape: Shape, _ rng: inout RNG) -> [M.Prefix] {
        let roll = rng.next() % 20
        if roll < 3 { return [anyV4, anyV6] }  // any
        if roll == 3 { return [anyV4] }        // any-ipv4
        if roll == 4 && shape.mixedFamilies { return [anyV6] }  // any-ipv6
        return (0..<Int.random(in: 1...3, using: &rng)).map { _ in
            prefix(shape.mixedFamilies && rng.next() % 3 == 0 ? .inet6 : .inet, &rng)
        }
    }

    static func zoneList(_ zones: Int, _ rng: inout RNG) -> [Int]? {
        rng.next() % 3 == 0 ? nil : (0..<zones).filter { _ in rng.next() % 2 == 0 }
    }

    /// A configuration of `shape`, the same for the same seed.
    public static func model(_ shape: Shape, seed: UInt64) -> M {
        var rng = RNG(seed: seed)
        var applications = M.predefinedApplications
        for n in 0..<shape.customApplications { applications.append(application(n, &rng)) }
        let zones = (0..<shape.zones).map { M.Zone(name: "z\($0)") }
        var id = 0
        func policy(fromZones: [Int]? = nil, toZones: [Int]? = nil) -> M.Policy {
            defer { id += 1 }
            let apps = rng.next() % 10 == 0 ? [0]  // any
                : (0..<Int.random(in: 1...3, using: &rng)).map { _ in Int.random(in: 1..<applications.count, using: &rng) }
            let action: M.PolicyAction = [.permit, .deny, .reject].randomElement(using: &rng)!
            return M.Policy(id: id, name: "p\(id)", sourceAddresses: addresses(shape, &rng),
                            destinationAddresses: addresses(shape, &rng), applications: apps, fromZones: fromZones,
                            toZones: toZones, action: action)
        }
        var pairs: [M.ZonePairPolicies] = []
        if shape.onePair {
            pairs.append(M.ZonePairPolicies(fromZone: 0, toZone: 1, policies: (0..<shape.pairPolicies).map { _ in policy() }))
        } else {
            var left = shape.pairPolicies
            for from in 0..<shape.zones {
                for to in 0..<shape.zones where left > 0 && rng.next() % 4 != 0 {
                    let n = min(left, Int.random(in: 0...max(1, shape.pairPolicies / 4), using: &rng))
                    left -= n
                    pairs.append(M.ZonePairPolicies(fromZone: from, toZone: to, policies: (0..<n).map { _ in policy() }))
                }
            }
        }
        let global = (0..<shape.globalPolicies).map { _ in
            policy(fromZones: zoneList(shape.zones, &rng), toZones: zoneList(shape.zones, &rng))
        }
        return M(dataplane: DataplaneConfig(interfaces: ["fw0", "fw1"]), zones: zones, applications: applications,
                 policies: M.Policies(zonePairs: pairs, global: global))
    }

    // MARK: Packets

    /// 16 network-order bytes of an address (IPv4 zero-padded).
    public static func bytes16(_ a: M.IPAddress) -> [UInt8] { a.bytes + [UInt8](repeating: 0, count: 16 - a.bytes.count) }

    static func address(_ a: M.IPAddress, plus delta: Int64) -> M.IPAddress {
        if a.family == .inet { return M.IPAddress(v4: UInt32(truncatingIfNeeded: Int64(a.v4!) &+ delta)) }
        let low = a.low &+ UInt64(bitPattern: delta)
        let carry: UInt64 = delta >= 0 ? (low < a.low ? 1 : 0) : (low > a.low ? ~0 : 0)
        return M.IPAddress(v6High: a.high &+ carry, low: low)
    }

    /// An address at or just beyond an edge of `p`, or inside it.
    static func address(near p: M.Prefix, _ rng: inout RNG) -> M.IPAddress {
        switch rng.next() % 5 {
        case 0: return p.address
        case 1: return p.last
        case 2: return address(p.address, plus: -1)
        case 3: return address(p.last, plus: 1)
        default:
            let size = p.address.family.bitCount - p.length
            let offset = size == 0 ? 0 : Int64(bitPattern: rng.next() >> UInt64(64 - min(size, 62)))
            return address(p.address, plus: offset)
        }
    }

    static func port(near r: ClosedRange<UInt16>, _ rng: inout RNG) -> UInt16 {
        switch rng.next() % 5 {
        case 0: return r.lowerBound
        case 1: return r.upperBound
        case 2: return r.lowerBound &- 1
        case 3: return r.upperBound &+ 1
        default: return UInt16.random(in: r, using: &rng)
        }
    }

    /// A packet for a random zone pair, usually aimed at the edges of one policy it may
    /// meet (so that it lands on, or just off, every kind of boundary).
    public static func packet(_ model: M, _ rng: inout RNG) -> (from: Int, to: Int, key: PolicyKey) {
        let zones = model.zones.count
        var from = Int.random(in: 0..<zones, using: &rng), to = Int.random(in: 0..<zones, using: &rng)
        if rng.next() % 2 == 0, let pair = model.policies.zonePairs.randomElement(using: &rng) {
            (from, to) = (pair.fromZone, pair.toZone)
        }
        let order = model.policies.evaluationOrder(from: from, to: to)
        let target = rng.next() % 8 == 0 ? nil : order.randomElement(using: &rng)
        let family: M.Family = target?.sourceAddresses.randomElement(using: &rng)?.address.family
            ?? (rng.next() % 2 == 0 ? .inet : .inet6)
        func pick(_ list: [M.Prefix]?) -> M.IPAddress {
            if let p = list?.filter({ $0.address.family == family }).randomElement(using: &rng) { return address(near: p, &rng) }
            return address(near: prefix(family, &rng), &rng)
        }
        let src = pick(target?.sourceAddresses), dst = pick(target?.destinationAddresses)
        var proto = protocols.randomElement(using: &rng)!
        var sport = port(&rng), dport = port(&rng)
        var type = UInt8.random(in: 0...10, using: &rng), code = UInt8.random(in: 0...3, using: &rng)
        if let app = target?.applications.randomElement(using: &rng),
           let term = model.applications[app].terms.randomElement(using: &rng)
        {
            proto = term.ipProtocol ?? protocols.randomElement(using: &rng)!
            sport = port(near: term.sourcePorts, &rng)
            dport = port(near: term.destinationPorts, &rng)
            if let t = term.icmpType { type = rng.next() % 4 == 0 ? t &+ 1 : t }
            if let c = term.icmpCode { code = rng.next() % 4 == 0 ? c &- 1 : c }
        }
        let key = PolicyKey(family: family == .inet ? 4 : 6, proto: proto, src: bytes16(src), dst: bytes16(dst),
                            sport: sport, dport: dport, icmpType: type, icmpCode: code)
        return (from, to, key)
    }

    // MARK: Reference

    /// The first policy in Junos order (the pair's list, then the global policies that
    /// apply) whose source, destination and one application term match — a linear scan
    /// over the model. `term` is the APP_TERMS index (applications' terms in order).
    public static func reference(_ model: M, from: Int, to: Int, _ key: PolicyKey) -> PolicyMatch? {
        var termBase: [Int] = []
        var n = 0
        for a in model.applications {
            termBase.append(n)
            n += a.terms.count
        }
        let src = address(key.family, key.srcHi, key.srcLo), dst = address(key.family, key.dstHi, key.dstLo)
        for p in model.policies.evaluationOrder(from: from, to: to) {
            guard p.sourceAddresses.contains(where: { $0.contains(src) }),
                  p.destinationAddresses.contains(where: { $0.contains(dst) }) else { continue }
            for a in p.applications {
                for (j, t) in model.applications[a].terms.enumerated() where termMatches(t, key) {
                    return PolicyMatch(policy: p.id, term: termBase[a] + j)
                }
            }
        }
        return nil
    }

    static func address(_ family: UInt8, _ hi: UInt64, _ lo: UInt64) -> M.IPAddress {
        family == 4 ? M.IPAddress(v4: UInt32(truncatingIfNeeded: hi >> 32)) : M.IPAddress(v6High: hi, low: lo)
    }

    static func termMatches(_ t: M.ApplicationTerm, _ key: PolicyKey) -> Bool {
        if let p = t.ipProtocol, p != key.proto { return false }
        guard t.sourcePorts.contains(key.sport), t.destinationPorts.contains(key.dport) else { return false }
        let icmp = key.proto == 1 || key.proto == 58
        if let type = t.icmpType, !icmp || type != key.icmpType { return false }
        if let code = t.icmpCode, !icmp || code != key.icmpCode { return false }
        return true
    }
}

// MARK: Benchmark configuration

extension PolicyCorpus {
    /// Zones of the benchmark configuration: all its policies are in z0 → z1.
    public static let benchFrom = 0, benchTo = 1

    /// `count` policies in one zone pair, shaped like an enterprise rule base: specific
    /// source and destination prefixes (/16 to /32 inside 10/8, 172.16/12 and
    /// 192.168/16, one or two per side), a tenth with source `any` towards a server, a
    /// tenth with destination `any` from a subnet, each with one or two applications of
    /// TCP or UDP to a port or a port range (a shared pool of 200 applications plus the
    /// junos-* ones). The last policy is the only one that matches `lastPacket`, and no
    /// policy matches `missPacket`.
    public static func benchModel(policies count: Int, seed: UInt64 = 0xBE4C) -> M {
        var rng = RNG(seed: seed)
        var applications = M.predefinedApplications
        let firstCustom = applications.count
        for n in 0..<200 {
            let proto: UInt8 = rng.next() % 3 == 0 ? 17 : 6
            let low = UInt16.random(in: 1...60000, using: &rng)
            let ports = rng.next() % 4 == 0 ? low...(low + UInt16.random(in: 1...500, using: &rng)) : low...low
            applications.append(M.Application(name: "svc\(n)", terms: [M.ApplicationTerm(ipProtocol: proto, destinationPorts: ports)]))
        }
        let lastApp = applications.count
        applications.append(M.Application(name: "last-svc", terms: [M.ApplicationTerm(ipProtocol: 6, destinationPorts: 8443...8443)]))
        let bases: [(UInt32, Int)] = [(0x0A00_0000, 8), (0xAC10_0000, 12), (0xC0A8_0000, 16)]
        func specific() -> M.Prefix {
            let (base, length) = bases.randomElement(using: &rng)!
            let address = base | UInt32(truncatingIfNeeded: rng.next()) & (UInt32.max >> UInt32(length))
            return M.Prefix(M.IPAddress(v4: address), length: Int.random(in: max(16, length)...32, using: &rng))
        }
        func side(anyChance: Bool) -> [M.Prefix] {
            if anyChance && rng.next() % 10 == 0 { return [anyV4, anyV6] }
            return (0..<Int.random(in: 1...2, using: &rng)).map { _ in specific() }
        }
        var policies: [M.Policy] = []
        for id in 0..<(count - 1) {
            let anySource = rng.next() % 2 == 0
            let apps = (0..<Int.random(in: 1...2, using: &rng)).map { _ in
                rng.next() % 8 == 0 ? Int.random(in: 1..<firstCustom, using: &rng) : Int.random(in: firstCustom..<lastApp, using: &rng)
            }
            policies.append(M.Policy(id: id, name: "p\(id)", sourceAddresses: side(anyChance: anySource),
                                     destinationAddresses: side(anyChance: !anySource), applications: apps, action: .permit))
        }
        policies.append(M.Policy(id: count - 1, name: "last", sourceAddresses: [lastSourcePrefix],
                                 destinationAddresses: [M.Prefix(M.IPAddress(v4: 0xC633_6407), length: 32)],
                                 applications: [lastApp], action: .permit))
        return M(dataplane: DataplaneConfig(interfaces: ["fw0", "fw1"]), zones: [M.Zone(name: "trust"), M.Zone(name: "untrust")],
                 applications: applications,
                 policies: M.Policies(zonePairs: [M.ZonePairPolicies(fromZone: benchFrom, toZone: benchTo, policies: policies)]))
    }

    /// `benchModel` as the dataplane sees it, for first packets through the pipeline over
    /// LabFixture's region: its interfaces fw0 (slot 0) and fw1 (slot 1) exist and sit in
    /// the benchmark's from-zone and to-zone, so a frame that arrives on fw0 and is routed
    /// out of fw1 crosses the benchmark pair; `defaultPolicy` decides what no policy matches.
    public static func benchPipelineModel(policies count: Int, defaultPolicy: M.DefaultPolicy, seed: UInt64 = 0xBE4C) -> M {
        var model = benchModel(policies: count, seed: seed)
        model.interfaces = model.dataplane.interfaces.map { M.Interface(name: $0, isDataplane: true) }
        model.zones[benchFrom].interfaces = [benchFromInterface]
        model.zones[benchTo].interfaces = [benchToInterface]
        model.policies.defaultPolicy = defaultPolicy
        return model
    }

    /// The dataplane interface (slot) of each benchmark zone in `benchPipelineModel`: fw0, fw1.
    public static let benchFromInterface = 0, benchToInterface = 1

    /// Where `lastPacket`'s source may move and the last policy still match it: the last
    /// policy's source prefix, 198.18.0.0/15.
    public static let lastSourcePrefix = M.Prefix(M.IPAddress(v4: 0xC612_0000), length: 15)
    /// Where `missPacket`'s source may move and the packet still match no policy:
    /// 100.64.0.0/10 (shared address space), outside every prefix the policies name (10/8,
    /// 172.16/12, 192.168/16, the last policy's 198.18/15); the policies with source `any`
    /// name destinations there too, none of them `missPacket`'s.
    public static let missSourcePrefix = M.Prefix(M.IPAddress(v4: 0x6440_0000), length: 10)

    /// 198.18.3.4 → 198.51.100.7 TCP 8443: only the benchmark's last policy matches.
    public static let lastPacket = PolicyKey(family: 4, proto: 6, src: bytes16(M.IPAddress(v4: 0xC612_0304)),
                                             dst: bytes16(M.IPAddress(v4: 0xC633_6407)), sport: 40000, dport: 8443)
    /// 100.64.0.1 → 203.0.113.9 TCP 80: no benchmark policy matches (neither address is
    /// in a policy, and no policy has `any` on both sides).
    public static let missPacket = PolicyKey(family: 4, proto: 6, src: bytes16(M.IPAddress(v4: 0x6440_0001)),
                                             dst: bytes16(M.IPAddress(v4: 0xCB00_7109)), sport: 40000, dport: 80)
}
