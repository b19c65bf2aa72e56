// junos-host policies (R-5.4, issue 9 §4): `security policies from-zone Z to-zone junos-host`
// as the XDP program applies them to host-bound packets that zone Z's host-inbound-traffic
// admitted through a service or protocol entry, and `from-zone junos-host to-zone Z` as the
// TC egress program applies them to the packets the box sends into Z that open a
// connection. This file is the one place that turns a zone's policies into the programs'
// table: xpfd writes `JunosHostTable.record` into the `junos_host` / `junos_host_out` maps
// beside the host-inbound table of every interface of the zone (layout and rules in
// xpf_bpf_abi.h). `decide` applies the same rules as the program's C matcher; both
// run one corpus (Tests/bpf/junos_host_corpus.txt: JunosHostCorpusTests here,
// Tests/bpf/xdp_test.c through the loaded program).
//
// The lookup is a bitmap intersection, not a scan of policies: every distinct prefix and
// application term of the zone's policies is checked once against the packet, giving one
// bit set of matching prefixes per address and one of matching terms; the first policy
// whose own bit sets meet all three decides. A packet costs two passes over at most 128
// prefixes (source, destination), one over at most 64 terms and one over at most 64
// policies, none nested; the program runs them as bpf_loop callbacks (as bounded loops
// they exceeded the verifier's budget). Bigger contexts are refused at commit (`problem`).

import CXPF

public struct JunosHostTable: Sendable, Equatable {
    public typealias Prefix = ConfigModel.Prefix

    /// One distinct application term: what a packet's protocol, ports and ICMP type/code
    /// must be (ConfigModel.ApplicationTerm without its name and timeout).
    public struct Term: Sendable, Hashable, CustomStringConvertible {
        /// nil: the predefined `any`.
        public var ipProtocol: UInt8?
        public var sourcePorts: ClosedRange<UInt16>
        public var destinationPorts: ClosedRange<UInt16>
        public var icmpType: UInt8?
        public var icmpCode: UInt8?

        public init(ipProtocol: UInt8?, sourcePorts: ClosedRange<UInt16> = ConfigModel.ApplicationTerm.anyPort,
                    destinationPorts: ClosedRange<UInt16> = ConfigModel.ApplicationTerm.anyPort,
                    icmpType: UInt8? = nil, icmpCode: UInt8? = nil)
        {
            self.ipProtocol = ipProtocol
            self.sourcePorts = sourcePorts
            self.destinationPorts = destinationPorts
            self.icmpType = icmpType
            self.icmpCode = icmpCode
        }

        init(_ t: ConfigModel.ApplicationTerm) {
            self.init(ipProtocol: t.ipProtocol, sourcePorts: t.sourcePorts, destinationPorts: t.destinationPorts,
                      icmpType: t.icmpType, icmpCode: t.icmpCode)
        }

        /// `PROTOCOL|any SPORT-SPORT DPORT-DPORT TYPE|- CODE|-`, the corpus file's form.
        public var description: String {
            func opt(_ v: UInt8?) -> String { v.map { String($0) } ?? "-" }
            return "\(ipProtocol.map { String($0) } ?? "any") \(sourcePorts.lowerBound)-\(sourcePorts.upperBound) "
                + "\(destinationPorts.lowerBound)-\(destinationPorts.upperBound) \(opt(icmpType)) \(opt(icmpCode))"
        }

        /// As the transit lookup's application term check (PolicyTables.term(_:matches:)).
        func matches(_ p: Packet) -> Bool {
            if let proto = ipProtocol, proto != p.ipProtocol { return false }
            guard sourcePorts.contains(p.sourcePort), destinationPorts.contains(p.destinationPort) else { return false }
            if icmpType != nil || icmpCode != nil {
                guard p.isICMP else { return false }
                if let t = icmpType, t != p.icmpType { return false }
                if let c = icmpCode, c != p.icmpCode { return false }
            }
            return true
        }
    }

    /// One policy as index sets into `prefixes` and `terms`.
    public struct Rule: Sendable, Equatable {
        public var name: String
        public var sources: [Int]
        public var destinations: [Int]
        public var terms: [Int]
        public var permit: Bool
    }

    /// The zone has a `from-zone Z to-zone junos-host` context; without one nothing here applies.
    public var hasPolicies: Bool
    /// `default-policy permit-all`: what a packet no policy matches gets.
    public var defaultPermit: Bool
    public var prefixes: [Prefix]
    public var terms: [Term]
    public var rules: [Rule]

    public static let maxPrefixes = Int(XPF_JUNOS_HOST_MAX_PREFIXES)
    public static let maxTerms = Int(XPF_JUNOS_HOST_MAX_TERMS)
    public static let maxPolicies = Int(XPF_JUNOS_HOST_MAX_POLICIES)
    static let wordBits = 64

    /// The table of one zone's `to-zone junos-host` policies (`nil`: the zone has none).
    /// Prefixes and terms are numbered in first-use order, each once.
    public init(policies: [ConfigModel.Policy]?, applications: [ConfigModel.Application], defaultPermit: Bool) {
        hasPolicies = policies != nil
        self.defaultPermit = defaultPermit
        prefixes = []
        terms = []
        rules = []
        var prefixIndex: [Prefix: Int] = [:], termIndex: [Term: Int] = [:]
        func index<K: Hashable>(_ k: K, _ map: inout [K: Int], _ list: inout [K]) -> Int {
            if let i = map[k] { return i }
            map[k] = list.count
            list.append(k)
            return list.count - 1
        }
        for p in policies ?? [] {
            let sources = p.sourceAddresses.map { index($0, &prefixIndex, &prefixes) }
            let destinations = p.destinationAddresses.map { index($0, &prefixIndex, &prefixes) }
            var ts: [Int] = []
            for a in p.applications {
                for t in applications[a].terms {
                    let i = index(Term(t), &termIndex, &terms)
                    if !ts.contains(i) { ts.append(i) }
                }
            }
            rules.append(Rule(name: p.name, sources: sources, destinations: destinations, terms: ts,
                              permit: p.action == .permit))
        }
    }

    /// Which of an interface's two tables: traffic arriving for the box (`from-zone Z to-zone
    /// junos-host`, the XDP program's `junos_host`) or the box's own packets leaving
    /// (`from-zone junos-host to-zone Z`, the TC egress program's `junos_host_out`).
    public enum Direction: Sendable {
        case toHost, fromHost
    }

    /// What the interface with model index `interface` applies in `direction`: its security
    /// zone's junos-host policies. Interfaces in no zone, or in the management zone, have
    /// none (their host-inbound table decides alone; their outgoing packets pass).
    public static func forInterface(_ interface: Int, of model: ConfigModel, _ direction: Direction) -> JunosHostTable {
        let zone = model.zoneIndex(ofInterface: interface)
        let policies = zone.flatMap { direction == .toHost ? model.policies.toHost(from: $0) : model.policies.fromHost(to: $0) }
        return JunosHostTable(policies: policies, applications: model.applications,
                              defaultPermit: model.policies.defaultPolicy == .permitAll)
    }

    /// Why the table does not fit the program's, or nil.
    public var problem: String? {
        if rules.count > Self.maxPolicies { return "\(rules.count) policies (at most \(Self.maxPolicies))" }
        if prefixes.count > Self.maxPrefixes {
            return "\(prefixes.count) distinct address prefixes (at most \(Self.maxPrefixes))"
        }
        if terms.count > Self.maxTerms { return "\(terms.count) distinct application terms (at most \(Self.maxTerms))" }
        return nil
    }

    // MARK: The matcher (the C one is junos_host_permits in bpf/xpf_xdp.c)

    /// A host-bound packet as the program sees it once host-inbound-traffic admitted it.
    public struct Packet: Sendable, Equatable {
        public var source: ConfigModel.IPAddress
        public var destination: ConfigModel.IPAddress
        public var ipProtocol: UInt8
        /// TCP/UDP ports; 0 for other protocols.
        public var sourcePort: UInt16
        public var destinationPort: UInt16
        /// ICMP / ICMPv6 type and code; 0 for other protocols.
        public var icmpType: UInt8
        public var icmpCode: UInt8

        public init(source: ConfigModel.IPAddress, destination: ConfigModel.IPAddress, ipProtocol: UInt8,
                    sourcePort: UInt16 = 0, destinationPort: UInt16 = 0, icmpType: UInt8 = 0, icmpCode: UInt8 = 0)
        {
            self.source = source
            self.destination = destination
            self.ipProtocol = ipProtocol
            self.sourcePort = sourcePort
            self.destinationPort = destinationPort
            self.icmpType = icmpType
            self.icmpCode = icmpCode
        }

        var isICMP: Bool { ipProtocol == PolicyKey.icmpProtocol || ipProtocol == PolicyKey.icmp6Protocol }
    }

    /// What decides a packet: a policy (index into `rules`), or the default policy.
    public enum Decision: Equatable {
        case policy(Int)
        case defaultPolicy
    }

    /// Which policy decides `p` (nil: the zone has no junos-host policies, the packet passes)
    /// and whether it passes — the rules of xpf_bpf_abi.h, in the program's order.
    public func decide(_ p: Packet) -> (decision: Decision, permit: Bool)? {
        guard hasPolicies else { return nil }
        let sources = Set(prefixes.indices.filter { prefixes[$0].contains(p.source) })
        let destinations = Set(prefixes.indices.filter { prefixes[$0].contains(p.destination) })
        let matching = Set(terms.indices.filter { terms[$0].matches(p) })
        for (i, r) in rules.enumerated()
            where r.sources.contains(where: sources.contains) && r.destinations.contains(where: destinations.contains)
            && r.terms.contains(where: matching.contains)
        {
            return (.policy(i), r.permit)
        }
        return (.defaultPolicy, defaultPermit)
    }

    // MARK: The program's record

    /// The map value xpfd writes. The compiler refused every configuration with a `problem`.
    public var record: xpf_junos_host {
        precondition(problem == nil, "junos-host table too large: \(problem ?? "")")
        var r = xpf_junos_host()
        r.flags = (hasPolicies ? XPF_JUNOS_HOST_F_POLICIES : 0) | (defaultPermit ? XPF_JUNOS_HOST_F_DEFAULT_PERMIT : 0)
        r.n_prefixes = UInt32(prefixes.count)
        r.n_terms = UInt32(terms.count)
        r.n_policies = UInt32(rules.count)
        withUnsafeMutableBytes(of: &r.prefixes) { raw in
            // Safe: a C array of maxPrefixes records; prefixes.count <= maxPrefixes (problem == nil).
            let slots = raw.bindMemory(to: xpf_junos_host_prefix.self)
            for (i, p) in prefixes.enumerated() { slots[i] = Self.record(p) }
        }
        withUnsafeMutableBytes(of: &r.terms) { raw in
            // Safe: as above, terms.count <= maxTerms.
            let slots = raw.bindMemory(to: xpf_junos_host_term.self)
            for (i, t) in terms.enumerated() { slots[i] = Self.record(t) }
        }
        withUnsafeMutableBytes(of: &r.policies) { raw in
            // Safe: as above, rules.count <= maxPolicies.
            let slots = raw.bindMemory(to: xpf_junos_host_policy.self)
            for (i, rule) in rules.enumerated() {
                var p = xpf_junos_host_policy()
                withUnsafeMutableBytes(of: &p.src) { Self.setBits(rule.sources, in: $0) }
                withUnsafeMutableBytes(of: &p.dst) { Self.setBits(rule.destinations, in: $0) }
                p.terms = rule.terms.reduce(0) { $0 | (1 << UInt64($1)) }
                p.action = rule.permit ? XPF_JUNOS_HOST_PERMIT : 0
                slots[i] = p
            }
        }
        return r
    }

    /// Sets bit i (word i / 64, bit i % 64) for every index.
    static func setBits(_ indices: [Int], in raw: UnsafeMutableRawBufferPointer) {
        let words = raw.bindMemory(to: UInt64.self)
        for i in indices { words[i / wordBits] |= 1 << UInt64(i % wordBits) }
    }

    /// Network and mask as 16 bytes each in network order (IPv4 in the first 4), stored
    /// as the C struct's words so the program compares raw loads of the packet's address.
    static func record(_ p: Prefix) -> xpf_junos_host_prefix {
        var r = xpf_junos_host_prefix()
        let address = p.address.bytes
        var mask = [UInt8](repeating: 0, count: address.count)
        for bit in 0..<p.length { mask[bit / 8] |= 0x80 >> UInt8(bit % 8) }
        withUnsafeMutableBytes(of: &r.net) { raw in for (i, b) in address.enumerated() { raw[i] = b } }
        withUnsafeMutableBytes(of: &r.mask) { raw in for (i, b) in mask.enumerated() { raw[i] = b } }
        r.family = p.family == .inet ? 4 : 6
        return r
    }

    static func record(_ t: Term) -> xpf_junos_host_term {
        var r = xpf_junos_host_term()
        if t.ipProtocol == nil { r.flags |= UInt8(XPF_JUNOS_HOST_TERM_ANY_PROTO) }
        r.protocol = t.ipProtocol ?? 0
        if let type = t.icmpType {
            r.flags |= UInt8(XPF_JUNOS_HOST_TERM_ICMP_TYPE)
            r.icmp_type = type
        }
        if let code = t.icmpCode {
            r.flags |= UInt8(XPF_JUNOS_HOST_TERM_ICMP_CODE)
            r.icmp_code = code
        }
        r.sport_first = t.sourcePorts.lowerBound
        r.sport_last = t.sourcePorts.upperBound
        r.dport_first = t.destinationPorts.lowerBound
        r.dport_last = t.destinationPorts.upperBound
        return r
    }
}
