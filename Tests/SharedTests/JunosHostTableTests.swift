import CXPF
import Foundation
import XCTest

@testable import Shared

/// junos-host policies (R-5.4): the corpus both matchers run (Tests/bpf/junos_host_corpus.txt;
/// the C side is Tests/bpf/xdp_test.c), what the compiler accepts and refuses around
/// `junos-host` and `functional-zone management`, and the map record xpfd writes.
final class JunosHostTableTests: XCTestCase {
    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    static let corpusPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../bpf/junos_host_corpus.txt").standardizedFileURL.path

    /// The fixed part of every corpus table's configuration (described in the corpus header).
    static func configuration(policies: String, defaultPermit: Bool = false, zones: String? = nil) -> String {
        """
        system { dataplane { interfaces [ fw0 fw1 fw2 ]; } }
        interfaces { fw0 { unit 0; } fw1 { unit 0; } fw2 { unit 0; } }
        applications {
            application high-udp { protocol udp; source-port 1024-65535; destination-port 5000-5010; }
            application timestamp { protocol icmp; icmp-type 13; icmp-code 0; }
        }
        security {
            address-book {
                global {
                    address admin-net 10.1.0.0/16;
                    address admin-host 10.1.2.3/32;
                    address admin6 2001:db8:a::/48;
                    address box 192.0.2.1/32;
                    address-set admins { address admin-net; address admin6; }
                }
            }
            zones {
                \(zones ?? """
                security-zone trust { interfaces { fw0.0; } }
                security-zone untrust {
                    host-inbound-traffic { system-services { all; } protocols { all; } }
                    interfaces { fw1.0; }
                }
                """)
            }
            policies {
                \(policies)
                default-policy { \(defaultPermit ? "permit-all" : "deny-all"); }
            }
        }
        """
    }

    struct Corpus {
        struct Table {
            var line: Int
            var hasPolicies: Bool
            var defaultPermit: Bool
            var config: [String] = []
            var lines: [String] = []
        }

        struct Case {
            var line: Int
            var table: String
            var packet: JunosHostTable.Packet
            var permit: Bool
        }

        var tables: [String: Table] = [:]
        var order: [String] = []
        var cases: [Case] = []
    }

    static func loadCorpus() throws -> Corpus {
        let text = try String(contentsOfFile: corpusPath, encoding: .utf8)
        var corpus = Corpus()
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = i + 1
            let f = raw.split(separator: " ").map(String.init)
            guard let kind = f.first, !kind.hasPrefix("#") else { continue }
            func number<T: FixedWidthInteger>(_ index: Int) throws -> T {
                guard index < f.count, let v = T(f[index]) else { throw XPFError("corpus line \(line): field \(index) is not a number") }
                return v
            }
            func address(_ index: Int) throws -> ConfigModel.IPAddress {
                guard let a = ConfigModel.IPAddress(f[index]) else { throw XPFError("corpus line \(line): address \(f[index])") }
                return a
            }
            guard kind == "table" || corpus.tables[f.count > 1 ? f[1] : ""] != nil else {
                throw XPFError("corpus line \(line): no table")
            }
            switch (kind, f.count) {
            case ("table", 4):
                guard ["policies", "none"].contains(f[2]), ["permit", "deny"].contains(f[3]) else {
                    throw XPFError("corpus line \(line): table kind or default")
                }
                corpus.tables[f[1]] = .init(line: line, hasPolicies: f[2] == "policies", defaultPermit: f[3] == "permit")
                corpus.order.append(f[1])
            case ("config", _):
                corpus.tables[f[1]]!.config.append(f[2...].joined(separator: " "))
            case ("prefix", 4), ("term", 8), ("policy", 7):
                corpus.tables[f[1]]!.lines.append(([kind] + f[2...]).joined(separator: " "))
            case ("case", 11):
                guard ["permit", "deny"].contains(f[10]) else { throw XPFError("corpus line \(line): verdict") }
                let packet = JunosHostTable.Packet(
                    source: try address(3), destination: try address(4), ipProtocol: try number(5),
                    sourcePort: try number(6), destinationPort: try number(7), icmpType: try number(8),
                    icmpCode: try number(9))
                guard packet.source.family == (f[2] == "4" ? .inet : .inet6) else {
                    throw XPFError("corpus line \(line): family")
                }
                corpus.cases.append(.init(line: line, table: f[1], packet: packet, permit: f[10] == "permit"))
            default:
                throw XPFError("corpus line \(line): cannot read '\(raw)'")
            }
        }
        return corpus
    }

    /// Zone untrust's table (interface fw1) under a corpus table's configuration.
    static func table(_ t: Corpus.Table) throws -> JunosHostTable {
        let text = configuration(policies: t.config.joined(separator: "\n"), defaultPermit: t.defaultPermit)
        let (_, model) = try ConfigModel.load(text: text, file: "junos-host")
        return JunosHostTable.forInterface(model.interfaceIndex("fw1")!, of: model, .toHost)
    }

    /// The table's lines, in the corpus's form.
    static func lines(_ table: JunosHostTable) -> [String] {
        func list(_ indices: [Int]) -> String { indices.map(String.init).joined(separator: ",") }
        return table.prefixes.enumerated().map { "prefix \($0.offset) \($0.element)" }
            + table.terms.enumerated().map { "term \($0.offset) \($0.element)" }
            + table.rules.enumerated().map {
                "policy \($0.offset) \($0.element.permit ? "permit" : "deny") \(list($0.element.sources)) "
                    + "\(list($0.element.destinations)) \(list($0.element.terms))"
            }
    }

    /// Each table's configuration gives exactly the lines under it.
    func testCorpusTablesAreWhatJunosHostTableComputes() throws {
        let corpus = try Self.loadCorpus()
        XCTAssertGreaterThanOrEqual(corpus.order.count, 5)
        for name in corpus.order {
            let t = corpus.tables[name]!
            let table = try Self.table(t)
            XCTAssertEqual(table.hasPolicies, t.hasPolicies, "table \(name) (line \(t.line))")
            XCTAssertEqual(table.defaultPermit, t.defaultPermit, "table \(name) (line \(t.line))")
            XCTAssertNil(table.problem)
            let computed = Self.lines(table)
            XCTAssertEqual(computed, t.lines, "table \(name) (line \(t.line)); computed:\n" + computed.joined(separator: "\n"))
        }
    }

    /// Every case's verdict, through the Swift matcher (the C one runs the same file).
    func testCorpusVerdicts() throws {
        let corpus = try Self.loadCorpus()
        XCTAssertGreaterThanOrEqual(corpus.cases.count, 40)
        var permitted = 0
        for c in corpus.cases {
            let table = try Self.table(corpus.tables[c.table]!)
            let permit = table.decide(c.packet)?.permit ?? true
            XCTAssertEqual(permit, c.permit, "corpus line \(c.line): \(c.packet)")
            if c.permit { permitted += 1 }
        }
        XCTAssertGreaterThan(permitted, 15)
        XCTAssertGreaterThan(corpus.cases.count - permitted, 15)
    }

    /// The policy that decides is named: the first match, or the default.
    func testDecisionNamesThePolicy() throws {
        let corpus = try Self.loadCorpus()
        let table = try Self.table(corpus.tables["ports"]!)
        func decide(_ src: String, _ proto: UInt8, _ dport: UInt16, type: UInt8 = 0) -> JunosHostTable.Decision? {
            table.decide(.init(source: .init(src)!, destination: .init("192.0.2.1")!, ipProtocol: proto,
                               sourcePort: 2000, destinationPort: dport, icmpType: type))?.decision
        }
        XCTAssertEqual(decide("10.1.2.3", 6, 22), .policy(2))
        XCTAssertEqual(table.rules[2].name, "host-refused")
        XCTAssertEqual(decide("10.1.2.4", 6, 22), .policy(3))
        XCTAssertEqual(decide("10.9.9.9", 17, 5005), .policy(0))
        XCTAssertEqual(decide("10.9.9.9", 6, 22), .defaultPolicy)
    }

    /// junos-host policies are not transit policies: they take ids after every transit
    /// policy, are not in `all` (no hit counter, no snapshot record), and do not change
    /// the policy epoch.
    func testHostPoliciesStayOutOfTheTransitPolicies() throws {
        let transit = """
            from-zone trust to-zone untrust { policy out { match { source-address any; destination-address any; application any; } then { permit; } } }
            """
        let host = """
            from-zone untrust to-zone junos-host { policy in { match { source-address any; destination-address any; application junos-ssh; } then { permit; } } }
            """
        let (_, plain) = try ConfigModel.load(text: Self.configuration(policies: transit), file: "a")
        let (_, withHost) = try ConfigModel.load(text: Self.configuration(policies: host + "\n" + transit), file: "b")
        XCTAssertEqual(withHost.policies.all.map(\.name), ["out"])
        XCTAssertEqual(withHost.policies.all.map(\.id), [0])
        XCTAssertEqual(withHost.policies.toHost.count, 1)
        XCTAssertEqual(withHost.policies.toHost[0].zone, withHost.zoneIndex("untrust"))
        XCTAssertEqual(withHost.policies.toHost[0].policies.map(\.id), [1])
        XCTAssertTrue(withHost.decidesSessions(as: plain))
        XCTAssertNil(withHost.policies.toHost(from: withHost.zoneIndex("trust")!))
    }

    /// `from-zone junos-host to-zone Z`: the box's traffic into Z, a table of its own whose
    /// source side (the box) resolves in the global book and destination side in Z's.
    func testFromHostPolicies() throws {
        let zones = """
            security-zone trust { interfaces { fw0.0; } address-book { address ntp-servers 10.7.0.0/24; } }
            security-zone untrust { interfaces { fw1.0; } }
            """
        let out = """
            from-zone junos-host to-zone trust {
                policy to-ntp { match { source-address box; destination-address ntp-servers; application junos-ntp; } then { permit; } }
                policy no-more { match { source-address any; destination-address any; application any; } then { deny; } }
            }
            from-zone untrust to-zone junos-host { policy in { match { source-address any; destination-address any; application junos-ssh; } then { permit; } } }
            """
        let (_, model) = try ConfigModel.load(text: Self.configuration(policies: out, zones: zones), file: "out")
        let trust = model.zoneIndex("trust")!, fw0 = model.interfaceIndex("fw0")!, fw1 = model.interfaceIndex("fw1")!
        XCTAssertEqual(model.policies.fromHost.map(\.zone), [trust])
        XCTAssertEqual(model.policies.fromHost[0].policies.map(\.name), ["to-ntp", "no-more"])
        XCTAssertEqual(model.policies.fromHost[0].policies.map(\.id), [0, 1], "no transit policy here: host contexts in configuration order")
        let table = JunosHostTable.forInterface(fw0, of: model, .fromHost)
        XCTAssertEqual(Self.lines(table), [
            "prefix 0 192.0.2.1/32", "prefix 1 10.7.0.0/24", "prefix 2 0.0.0.0/0", "prefix 3 ::/0",
            "term 0 17 0-65535 123-123 - -", "term 1 any 0-65535 0-65535 - -",
            "policy 0 permit 0 1 0", "policy 1 deny 2,3 2,3 1",
        ])
        let ntp = JunosHostTable.Packet(source: .init("192.0.2.1")!, destination: .init("10.7.0.9")!, ipProtocol: 17,
                                        sourcePort: 40000, destinationPort: 123)
        XCTAssertEqual(table.decide(ntp)?.decision, .policy(0))
        var dns = ntp
        dns.destinationPort = 53
        XCTAssertEqual(table.decide(dns)?.decision, .policy(1))
        XCTAssertEqual(table.decide(dns)?.permit, false)
        // fw0's inbound table and fw1's outbound one have no policies.
        XCTAssertFalse(JunosHostTable.forInterface(fw0, of: model, .toHost).hasPolicies)
        XCTAssertFalse(JunosHostTable.forInterface(fw1, of: model, .fromHost).hasPolicies)
        XCTAssertTrue(JunosHostTable.forInterface(fw1, of: model, .toHost).hasPolicies)
    }

    /// What the compiler refuses, each with a message naming the problem.
    func testCompileErrors() throws {
        func refused(_ policies: String, zones: String? = nil, _ message: String, line: UInt = #line) {
            XCTAssertThrowsError(try ConfigModel.load(text: Self.configuration(policies: policies, zones: zones), file: "x"),
                                 line: line) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)", line: line)
            }
        }
        let rule = "match { source-address any; destination-address any; application any; } then { permit; }"
        refused("from-zone junos-host to-zone junos-host { policy p { \(rule) } }", "never leaves it")
        refused("from-zone junos-host to-zone nowhere { policy p { \(rule) } }", "undefined zone")
        refused("global { policy p { match { source-address any; destination-address any; application any; to-zone junos-host; } then { permit; } } }",
                "global policies do not apply to junos-host")
        refused("from-zone untrust to-zone management { policy p { \(rule) } }", "functional-zone management cannot be named")
        refused("from-zone nowhere to-zone junos-host { policy p { \(rule) } }", "undefined zone")
        let logged = "match { source-address any; destination-address any; application any; } then { permit; log { session-init; } }"
        refused("from-zone untrust to-zone junos-host { policy p { \(logged) } }", "'then log' is not supported on junos-host")
        let counted = "match { source-address any; destination-address any; application any; } then { permit; count; }"
        refused("from-zone junos-host to-zone untrust { policy p { \(counted) } }", "'then count' is not supported on junos-host")
        refused("", zones: "security-zone junos-host { interfaces { fw0.0; } }", "reserved")
        refused("", zones: "security-zone management { interfaces { fw0.0; } }", "reserved")
        refused("", zones: """
            security-zone trust { interfaces { fw0.0; } }
            functional-zone management { interfaces { fw0.0; } }
            """, "already in zone 'trust'")
        // More policies than the program's table holds.
        let many = (0...JunosHostTable.maxPolicies).map { "policy p\($0) { \(rule) }" }.joined(separator: " ")
        refused("from-zone untrust to-zone junos-host { \(many) }", "\(JunosHostTable.maxPolicies + 1) policies (at most")
        // More distinct prefixes than it holds (address-book names only reach it with a big book).
        var table = JunosHostTable(policies: [], applications: ConfigModel.predefinedApplications, defaultPermit: false)
        table.prefixes = (0...JunosHostTable.maxPrefixes).map { ConfigModel.Prefix(.init(v4: UInt32($0)), length: 32) }
        XCTAssertEqual(table.problem, "\(JunosHostTable.maxPrefixes + 1) distinct address prefixes (at most \(JunosHostTable.maxPrefixes))")
    }

    /// functional-zone management: its host-inbound-traffic applies to its interfaces; they
    /// are in no security zone (transit through them drops zone_none) and have no
    /// junos-host policies.
    func testManagementZone() throws {
        let zones = """
            security-zone trust { host-inbound-traffic { system-services { ping; } } interfaces { fw0.0; } }
            functional-zone management {
                host-inbound-traffic { system-services { ssh; } }
                interfaces { fw2.0; }
            }
            """
        let host = "from-zone trust to-zone junos-host { policy p { match { source-address any; destination-address any; application any; } then { deny; } } }"
        let (_, model) = try ConfigModel.load(text: Self.configuration(policies: host, zones: zones), file: "m")
        let fw2 = model.interfaceIndex("fw2")!
        XCTAssertEqual(model.managementZone?.interfaces, [fw2])
        XCTAssertNil(model.zoneIndex(ofInterface: fw2))
        XCTAssertEqual(model.zones.map(\.name), ["trust"])
        let ssh = HostInboundTable.Packet(family: .inet, ipProtocol: 6, port: 22, tcpFlags: 0x02)
        let ping = HostInboundTable.Packet(family: .inet, ipProtocol: 1, port: 8)
        let management = HostInboundTable.forInterface(fw2, of: model)
        XCTAssertEqual([management.admits(ssh), management.admits(ping)], [true, false])
        XCTAssertFalse(JunosHostTable.forInterface(fw2, of: model, .toHost).hasPolicies)
        XCTAssertTrue(JunosHostTable.forInterface(model.interfaceIndex("fw0")!, of: model, .toHost).hasPolicies)
    }

    /// The map value: flags, counts, prefixes as network/mask words, terms, policy bit sets.
    func testRecordEncoding() throws {
        let corpus = try Self.loadCorpus()
        let table = try Self.table(corpus.tables["ports"]!)
        var r = table.record
        XCTAssertEqual(r.flags, XPF_JUNOS_HOST_F_POLICIES)
        XCTAssertEqual([r.n_prefixes, r.n_terms, r.n_policies], [5, 3, 4])
        let prefixes = withUnsafeBytes(of: &r.prefixes) { Array($0.bindMemory(to: xpf_junos_host_prefix.self)) }
        // 192.0.2.1/32: the address bytes and a 4-byte mask, in network order.
        withUnsafeBytes(of: prefixes[1].net) { XCTAssertEqual(Array($0), [192, 0, 2, 1] + [UInt8](repeating: 0, count: 12)) }
        withUnsafeBytes(of: prefixes[1].mask) { XCTAssertEqual(Array($0), [255, 255, 255, 255] + [UInt8](repeating: 0, count: 12)) }
        XCTAssertEqual(prefixes[1].family, 4)
        // 10.1.0.0/16.
        withUnsafeBytes(of: prefixes[4].mask) { XCTAssertEqual(Array($0.prefix(4)), [255, 255, 0, 0]) }
        XCTAssertEqual(prefixes[2].family, 6)
        let terms = withUnsafeBytes(of: &r.terms) { Array($0.bindMemory(to: xpf_junos_host_term.self)) }
        XCTAssertEqual(terms[1].flags, UInt8(XPF_JUNOS_HOST_TERM_ICMP_TYPE | XPF_JUNOS_HOST_TERM_ICMP_CODE))
        XCTAssertEqual([terms[1].protocol, terms[1].icmp_type, terms[1].icmp_code], [1, 13, 0])
        XCTAssertEqual(terms[2].flags, UInt8(XPF_JUNOS_HOST_TERM_ANY_PROTO))
        XCTAssertEqual([terms[0].sport_first, terms[0].sport_last, terms[0].dport_first, terms[0].dport_last],
                       [1024, 65535, 5000, 5010])
        let policies = withUnsafeBytes(of: &r.policies) { Array($0.bindMemory(to: xpf_junos_host_policy.self)) }
        XCTAssertEqual([policies[1].src.0, policies[1].src.1, policies[1].dst.0, policies[1].terms], [0b101, 0, 0b101, 0b10])
        XCTAssertEqual(policies[2].action, 0)
        XCTAssertEqual(policies[3].action, XPF_JUNOS_HOST_PERMIT)
        XCTAssertTrue(policies[4...].allSatisfy { $0.terms == 0 && $0.src.0 == 0 })
        XCTAssertEqual(try Self.table(corpus.tables["open-default"]!).record.flags,
                       XPF_JUNOS_HOST_F_POLICIES | XPF_JUNOS_HOST_F_DEFAULT_PERMIT)
        XCTAssertEqual(try Self.table(corpus.tables["none"]!).record.flags, 0)
    }

    /// Bit sets past the first word: prefix 64 and above in src[1] / dst[1], term 63 in the
    /// top bit (the corpus tables are smaller).
    func testRecordBitsPastTheFirstWord() {
        var table = JunosHostTable(policies: [], applications: ConfigModel.predefinedApplications, defaultPermit: false)
        table.prefixes = (0..<JunosHostTable.maxPrefixes).map { ConfigModel.Prefix(.init(v4: UInt32($0) << 8), length: 24) }
        table.terms = (0..<JunosHostTable.maxTerms).map { JunosHostTable.Term(ipProtocol: 6, destinationPorts: UInt16($0)...UInt16($0)) }
        table.rules = [JunosHostTable.Rule(name: "high", sources: [64, 127], destinations: [1, 65], terms: [0, 63], permit: true)]
        var r = table.record
        XCTAssertEqual([r.n_prefixes, r.n_terms, r.n_policies], [128, 64, 1])
        let p = withUnsafeBytes(of: &r.policies) { $0.bindMemory(to: xpf_junos_host_policy.self)[0] }
        XCTAssertEqual([p.src.0, p.src.1], [0, 1 | 1 << 63])
        XCTAssertEqual([p.dst.0, p.dst.1], [1 << 1, 1 << 1])
        XCTAssertEqual(p.terms, 1 | 1 << 63)
        // The matcher agrees: prefix 127 (0.0.127.0/24) and term 63 (TCP 63).
        let packet = JunosHostTable.Packet(source: .init("0.0.127.9")!, destination: .init("0.0.1.1")!, ipProtocol: 6,
                                           destinationPort: 63)
        XCTAssertEqual(table.decide(packet)?.decision, .policy(0))
    }
}
