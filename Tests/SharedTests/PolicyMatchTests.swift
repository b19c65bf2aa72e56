import XCTest
import CXPF
@testable import Shared
import XPFTestSupport

/// Security policy lookup (R-5.1, issue 9 §2): ConfigSnapshotView.matchPolicy over the
/// classifier compiled into the snapshot at commit — Junos order, every match dimension —
/// and a differential test against a linear matcher over the model.
final class PolicyMatchTests: XCTestCase {
    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    typealias M = ConfigModel

    // MARK: Hand-written configuration

    static let config = """
    system dataplane interfaces [ fw0 fw1 fw2 ];
    applications {
        application web-alt { protocol tcp; destination-port 8000-8080; inactivity-timeout 90; }
        application dns-from-53 { protocol udp; source-port 53; destination-port 1024-65535; }
        application unreach-port { protocol icmp; icmp-type 3; icmp-code 3; }
        application echo6 { protocol icmp6; icmp-type 128; }
        application-set web-set { application junos-http; application web-alt; }
    }
    security {
        zones {
            security-zone trust {
                interfaces fw0;
                address-book {
                    address lan 10.1.0.0/16;
                    address host5 10.1.0.5/32;
                    address lan6 2001:db8:1::/48;
                    address-set lans { address lan; address lan6; }
                }
            }
            security-zone untrust { interfaces fw1; }
            security-zone dmz {
                interfaces fw2;
                address-book {
                    address web 192.0.2.10/32;
                    address web6 2001:db8:2::10/128;
                    address-set webs { address web; address web6; }
                }
            }
        }
        policies {
            from-zone trust to-zone dmz {
                policy host5-denied {
                    match { source-address host5; destination-address any; application any; }
                    then deny;
                }
                policy web {
                    match { source-address lans; destination-address webs; application web-set; }
                    then permit;
                }
                policy v4-ssh {
                    match { source-address any-ipv4; destination-address any; application junos-ssh; }
                    then permit;
                }
                policy v6-ping {
                    match { source-address any-ipv6; destination-address any-ipv6; application echo6; }
                    then permit;
                }
            }
            from-zone trust to-zone untrust {
                policy dns {
                    match { source-address any; destination-address any; application [ junos-dns-udp dns-from-53 ]; }
                    then permit;
                }
                policy unreachable {
                    match { source-address any; destination-address any; application unreach-port; }
                    then permit;
                }
            }
            global {
                policy g-telnet {
                    match { source-address any; destination-address any; application junos-telnet; }
                    then reject;
                }
                policy g-from-untrust {
                    match { source-address any; destination-address any; application junos-http; from-zone untrust; to-zone [ dmz trust ]; }
                    then permit;
                }
                policy g-ping {
                    match { source-address any; destination-address any; application junos-ping; }
                    then permit;
                }
            }
        }
    }
    """

    var model: M!
    var image: ConfigSnapshotImage!

    override func setUpWithError() throws {
        model = try M.load(text: Self.config, file: "policy-match").1
        image = try ConfigSnapshotImage(model)
    }

    func zone(_ name: String) -> Int { model.zones.firstIndex { $0.name == name }! }
    func policy(_ name: String) -> Int { model.policies.all.first { $0.name == name }!.id }

    /// APP_TERMS index of application `name`'s term `n`.
    func term(_ name: String, _ n: Int = 0) -> Int {
        let a = model.applications.firstIndex { $0.name == name }!
        return model.applications[..<a].reduce(0) { $0 + $1.terms.count } + n
    }

    static func v4(_ s: String) -> [UInt8] { PolicyCorpus.bytes16(M.IPAddress(s)!) }

    func key(_ src: String, _ dst: String, proto: UInt8, sport: UInt16 = 40000, dport: UInt16 = 0, type: UInt8 = 0,
             code: UInt8 = 0) -> PolicyKey
    {
        let s = M.IPAddress(src)!, d = M.IPAddress(dst)!
        return PolicyKey(family: s.family == .inet ? 4 : 6, proto: proto, src: PolicyCorpus.bytes16(s),
                         dst: PolicyCorpus.bytes16(d), sport: sport, dport: dport, icmpType: type, icmpCode: code)
    }

    /// The lookup, checked against the reference on the same packet.
    func match(_ from: String, _ to: String, _ k: PolicyKey, file: StaticString = #filePath, line: UInt = #line) -> PolicyMatch? {
        let (f, t) = (zone(from), zone(to))
        let got = image.withView { $0.matchPolicy(from: f, to: t, k) }
        XCTAssertEqual(got, PolicyCorpus.reference(model, from: f, to: t, k), "reference disagrees", file: file, line: line)
        return got
    }

    func assertMatch(_ from: String, _ to: String, _ k: PolicyKey, _ policy: String?, term: Int? = nil,
                     file: StaticString = #filePath, line: UInt = #line)
    {
        let got = match(from, to, k, file: file, line: line)
        XCTAssertEqual(got?.policy, policy.map(self.policy), "policy", file: file, line: line)
        if let term { XCTAssertEqual(got?.term, term, "application term", file: file, line: line) }
    }

    let tcp: UInt8 = 6, udp: UInt8 = 17, icmp: UInt8 = 1, icmp6: UInt8 = 58

    func testFirstMatchWinsInOrder() {
        // host5 is in lan too: the earlier deny wins, whatever the application.
        assertMatch("trust", "dmz", key("10.1.0.5", "192.0.2.10", proto: tcp, dport: 80), "host5-denied", term: term("any"))
        assertMatch("trust", "dmz", key("10.1.0.6", "192.0.2.10", proto: tcp, dport: 80), "web", term: term("junos-http"))
    }

    func testAddressSetsAndFamilies() {
        // The set holds both families' entries; each family matches its own.
        assertMatch("trust", "dmz", key("2001:db8:1:ffff::1", "2001:db8:2::10", proto: tcp, dport: 80), "web")
        assertMatch("trust", "dmz", key("10.1.255.255", "192.0.2.10", proto: tcp, dport: 80), "web")
        // Just outside lan (10.1.0.0/16) and lan6 (2001:db8:1::/48); just beside web.
        assertMatch("trust", "dmz", key("10.2.0.0", "192.0.2.10", proto: tcp, dport: 80), nil)
        assertMatch("trust", "dmz", key("10.0.255.255", "192.0.2.10", proto: tcp, dport: 80), nil)
        assertMatch("trust", "dmz", key("2001:db8:2::1", "2001:db8:2::10", proto: tcp, dport: 80), nil)
        assertMatch("trust", "dmz", key("10.1.0.6", "192.0.2.11", proto: tcp, dport: 80), nil)
        // any-ipv4 admits IPv4 only; any-ipv6 IPv6 only; `any` both.
        assertMatch("trust", "dmz", key("172.16.0.1", "198.51.100.1", proto: tcp, dport: 22), "v4-ssh")
        assertMatch("trust", "dmz", key("2001:db8:9::1", "2001:db8:9::2", proto: tcp, dport: 22), nil)
        assertMatch("trust", "dmz", key("2001:db8:9::1", "2001:db8:9::2", proto: icmp6, type: 128), "v6-ping", term: term("echo6"))
        assertMatch("trust", "dmz", key("172.16.0.1", "198.51.100.1", proto: icmp, type: 8), "g-ping", term: term("junos-ping", 0))
    }

    func testApplicationsPortsAndSets() {
        // web-set = junos-http + web-alt (8000-8080): both ends, and one past each.
        assertMatch("trust", "dmz", key("10.1.0.6", "192.0.2.10", proto: tcp, dport: 8000), "web", term: term("web-alt"))
        assertMatch("trust", "dmz", key("10.1.0.6", "192.0.2.10", proto: tcp, dport: 8080), "web", term: term("web-alt"))
        assertMatch("trust", "dmz", key("10.1.0.6", "192.0.2.10", proto: tcp, dport: 7999), nil)
        assertMatch("trust", "dmz", key("10.1.0.6", "192.0.2.10", proto: tcp, dport: 8081), nil)
        // Protocol matters: UDP to 80 is not junos-http.
        assertMatch("trust", "dmz", key("10.1.0.6", "192.0.2.10", proto: udp, dport: 80), nil)
        // Source port condition (dns-from-53): source 53 and destination 1024-65535.
        assertMatch("trust", "untrust", key("10.1.0.6", "8.8.8.8", proto: udp, sport: 53, dport: 1024), "dns", term: term("dns-from-53"))
        assertMatch("trust", "untrust", key("10.1.0.6", "8.8.8.8", proto: udp, sport: 54, dport: 1024), nil)
        assertMatch("trust", "untrust", key("10.1.0.6", "8.8.8.8", proto: udp, sport: 53, dport: 1023), nil)
        // junos-dns-udp (destination 53) is the policy's first application.
        assertMatch("trust", "untrust", key("10.1.0.6", "8.8.8.8", proto: udp, sport: 53, dport: 53), "dns", term: term("junos-dns-udp"))
    }

    func testICMPTypeAndCode() {
        assertMatch("trust", "untrust", key("10.1.0.6", "8.8.8.8", proto: icmp, type: 3, code: 3), "unreachable", term: term("unreach-port"))
        assertMatch("trust", "untrust", key("10.1.0.6", "8.8.8.8", proto: icmp, type: 3, code: 1), nil)
        assertMatch("trust", "untrust", key("10.1.0.6", "8.8.8.8", proto: icmp, type: 4, code: 3), nil)
        // ICMPv6 echo matches junos-ping's second term; an ICMPv6 type 8 does not.
        assertMatch("trust", "untrust", key("2001:db8:1::1", "2001:db8:5::1", proto: icmp6, type: 128), "g-ping", term: term("junos-ping", 1))
        assertMatch("trust", "untrust", key("2001:db8:1::1", "2001:db8:5::1", proto: icmp6, type: 8), nil)
    }

    func testGlobalPoliciesComeAfterThePairAndHonourZoneLists() {
        // Telnet: no pair policy matches, the first global one does — in every pair.
        assertMatch("trust", "dmz", key("10.9.0.1", "192.0.2.10", proto: tcp, dport: 23), "g-telnet", term: term("junos-telnet"))
        assertMatch("dmz", "dmz", key("10.9.0.1", "192.0.2.10", proto: tcp, dport: 23), "g-telnet")
        // HTTP: the pair's `web` comes first for lan; g-from-untrust admits untrust → dmz/trust only.
        assertMatch("untrust", "dmz", key("10.9.0.1", "192.0.2.10", proto: tcp, dport: 80), "g-from-untrust")
        assertMatch("untrust", "trust", key("10.9.0.1", "10.1.0.1", proto: tcp, dport: 80), "g-from-untrust")
        assertMatch("untrust", "untrust", key("10.9.0.1", "10.1.0.1", proto: tcp, dport: 80), nil)
        assertMatch("dmz", "trust", key("10.9.0.1", "10.1.0.1", proto: tcp, dport: 80), nil)
        // A pair with no policies of its own goes straight to the global list.
        assertMatch("dmz", "untrust", key("10.9.0.1", "8.8.8.8", proto: icmp, type: 8), "g-ping")
    }

    // MARK: Differential

    /// Thousands of random policies (both families, nested prefixes, port ranges, ICMP
    /// conditions, zone pairs and zone-listed globals) and boundary-biased packets: the
    /// classifier returns exactly what the linear reference returns. Seeded: a failure
    /// names its seed and packet.
    func testClassifierAgreesWithLinearReference() throws {
        let shapes = [
            PolicyCorpus.Shape(zones: 4, pairPolicies: 3000, globalPolicies: 200),
            PolicyCorpus.Shape(zones: 2, pairPolicies: 2000, onePair: true, globalPolicies: 50),
            PolicyCorpus.Shape(zones: 3, pairPolicies: 40, globalPolicies: 10, customApplications: 5),
        ]
        for (s, shape) in shapes.enumerated() {
            let seed = UInt64(0x5EED_0000 + s)
            let model = PolicyCorpus.model(shape, seed: seed)
            let image = try ConfigSnapshotImage(model)
            var rng = PolicyCorpus.RNG(seed: seed ^ 0xFACE)
            var matched = 0
            let packets = 10_000
            let failure: String? = image.withView { view in
                for n in 0..<packets {
                    let (from, to, key) = PolicyCorpus.packet(model, &rng)
                    let expected = PolicyCorpus.reference(model, from: from, to: to, key)
                    let got = view.matchPolicy(from: from, to: to, key)
                    guard got == expected else {
                        return "seed \(seed) packet \(n): \(from)→\(to) \(key): classifier \(String(describing: got)), reference \(String(describing: expected))"
                    }
                    if got != nil { matched += 1 }
                }
                XCTAssertGreaterThan(view.section(XPF_CFG_SEC_POLICY_NODES).count, 0, "seed \(seed): the tree has inner nodes")
                return nil
            }
            if let failure { return XCTFail(failure) }
            // Both outcomes are exercised in bulk (broad policies make most packets match).
            XCTAssertGreaterThan(matched, packets / 10, "seed \(seed)")
            XCTAssertGreaterThan(packets - matched, packets / 50, "seed \(seed)")
        }
    }

    /// The benchmark's rule base (enterprise-shaped, one zone pair): the classifier agrees
    /// with the reference, the last packet finds the last policy and the miss packet none.
    func testBenchmarkRuleBaseAgreesWithReference() throws {
        let model = PolicyCorpus.benchModel(policies: 1_000)
        let image = try ConfigSnapshotImage(model)
        let (from, to) = (PolicyCorpus.benchFrom, PolicyCorpus.benchTo)
        image.withView { view in  // a failure returns at once (XCTFail then return)
            XCTAssertEqual(view.matchPolicy(from: from, to: to, PolicyCorpus.lastPacket)?.policy, 999)
            XCTAssertNil(view.matchPolicy(from: from, to: to, PolicyCorpus.missPacket))
            var rng = PolicyCorpus.RNG(seed: 0xBE4C_7E57)
            for n in 0..<5_000 {
                var (_, _, key) = PolicyCorpus.packet(model, &rng)
                key.family = 4  // the rule base is IPv4 apart from `any`
                let expected = PolicyCorpus.reference(model, from: from, to: to, key)
                guard view.matchPolicy(from: from, to: to, key) == expected else {
                    return XCTFail("packet \(n) \(key): reference \(String(describing: expected))")
                }
            }
        }
    }

    // MARK: Hostile snapshots

    /// A corrupt classifier is refused by validate() — the contract that lets the walk
    /// follow references without checks.
    func testValidateRefusesACorruptClassifier() throws {
        let model = PolicyCorpus.model(PolicyCorpus.Shape(zones: 2, pairPolicies: 200, onePair: true), seed: 7)
        func corrupted(_ change: (ConfigSnapshotView, UnsafeMutableRawPointer) -> Void) throws -> String {
            try SnapshotModelReader.validation(of: model, corruptedBy: change)
        }
        func record(_ v: ConfigSnapshotView, _ b: UnsafeMutableRawPointer, _ id: xpf_cfg_section_id, _ i: Int, _ size: Int) -> UnsafeMutableRawPointer {
            b + Int(v.section(id).offset) + i * size
        }
        let node = MemoryLayout<xpf_cfg_policy_node>.stride
        // A node pointing back at itself (a walk that never ends).
        XCTAssertTrue(try corrupted { v, b in
            record(v, b, XPF_CFG_SEC_POLICY_NODES, 0, node).storeBytes(of: 0, toByteOffset: 12, as: UInt32.self)
        }.hasSuffix("policy node 0: node 0 does not follow node 0"))
        // A node past the end, a leaf past the end, a field that does not exist.
        let nodes = try XCTUnwrap(ConfigSnapshotImage(model).withView { Int($0.section(XPF_CFG_SEC_POLICY_NODES).count) })
        XCTAssertTrue(try corrupted { v, b in
            record(v, b, XPF_CFG_SEC_POLICY_NODES, 0, node).storeBytes(of: UInt32(nodes), toByteOffset: 16, as: UInt32.self)
        }.hasSuffix("policy node 0: node \(nodes) of \(nodes)"))
        XCTAssertTrue(try corrupted { v, b in
            record(v, b, XPF_CFG_SEC_POLICY_NODES, 0, node).storeBytes(of: XPF_POLICY_REF_LEAF | 0x7FFF_FFFF, toByteOffset: 12, as: UInt32.self)
        }.contains("policy node 0: leaf 2147483647 of"))
        XCTAssertTrue(try corrupted { v, b in
            record(v, b, XPF_CFG_SEC_POLICY_NODES, 0, node).storeBytes(of: XPF_PF_COUNT.rawValue, toByteOffset: 8, as: UInt32.self)
        }.hasSuffix("policy node 0: field 8"))
        // A root past the nodes; a leaf naming a policy that does not exist; a leaf range
        // outside INDICES.
        XCTAssertTrue(try corrupted { v, b in
            record(v, b, XPF_CFG_SEC_POLICY_ROOTS, 1, 8).storeBytes(of: UInt32(nodes), as: UInt32.self)
        }.hasSuffix("policy root 1 (IPv4): node \(nodes) of \(nodes)"))
        XCTAssertTrue(try corrupted { v, b in
            let leaves = v.records(XPF_CFG_SEC_POLICY_LEAVES, as: xpf_cfg_range.self)
            let l = leaves.firstIndex { $0.count > 0 }!
            record(v, b, XPF_CFG_SEC_INDICES, Int(leaves[l].first), 4).storeBytes(of: UInt32(9999), as: UInt32.self)
        }.contains(": policy 9999 of 200"))
        XCTAssertTrue(try corrupted { v, b in
            record(v, b, XPF_CFG_SEC_POLICY_LEAVES, 1, 8).storeBytes(of: UInt32.max, toByteOffset: 4, as: UInt32.self)
        }.contains("policy leaf 1: "))
        XCTAssertEqual(try corrupted { _, _ in }, "accepted")
    }

    // MARK: Tree builder

    /// Whatever the replication budget, a leaf keeps every policy that can match a packet
    /// reaching it (the tree only prunes), and the budget bounds the leaf entries (with no
    /// room to copy, these policies stay one leaf: a linear scan, still right).
    func testTreeKeepsEveryPolicyThatCanMatchUnderAnyBudget() {
        var rng = PolicyCorpus.RNG(seed: 0x7BEE)
        func box(_ field: Int) -> PolicyBox {
            var b = PolicyBox.everything
            let low: UInt64 = UInt64.random(in: 0...1000, using: &rng)
            let high: UInt64 = low + UInt64.random(in: 0...300, using: &rng)
            let unit: UInt64 = 1 << 40
            b.lo[field] = low * unit
            b.hi[field] = high * unit + (unit - 1)
            return b
        }
        // Half the policies are "any" on one side: they must be copied to be separated.
        var rules: [PolicyTreeRule] = []
        for n in 0..<400 {
            let sources: [PolicyBox] = n % 4 == 0 ? [PolicyBox.everything] : [box(0), box(0)]
            let destinations: [PolicyBox] = n % 4 == 1 ? [PolicyBox.everything] : [box(2)]
            rules.append(PolicyTreeRule(id: UInt32(n), sources: sources, destinations: destinations, terms: [box(6)]))
        }
        for budget in [1, 2, 16] {
            var builder = PolicyTreeBuilder(rules: rules, nodeBase: 0, replicationBudget: budget)
            let root = builder.build()
            let entries = builder.leaves.reduce(0) { $0 + $1.count }
            XCTAssertLessThanOrEqual(entries, budget * rules.count + PolicyTreeBuilder.leafSize, "budget \(budget)")
            if budget > 1 { XCTAssertGreaterThan(builder.nodes.count, 0, "budget \(budget): a tree") }
            for n in 0..<2_000 {
                var point = SIMD8<UInt64>(repeating: 0)
                for f in [0, 2, 6] {
                    let value: UInt64 = UInt64.random(in: 0...1400, using: &rng)
                    point[f] = value << 40 | UInt64(n)
                }
                var ref = root
                while ref & XPF_POLICY_REF_LEAF == 0 {
                    let node = builder.nodes[Int(ref)]
                    ref = point[Int(node.field)] <= node.threshold ? node.le : node.gt
                }
                let leaf = Set(builder.leaves[Int(ref & ~XPF_POLICY_REF_LEAF)])
                let contains = { (b: PolicyBox) in all(b.lo .<= point) && all(point .<= b.hi) }
                for r in rules where r.groups.allSatisfy({ $0.contains(where: contains) }) {
                    guard leaf.contains(r.id) else { return XCTFail("budget \(budget): policy \(r.id) can match \(point) but is not in its leaf") }
                }
            }
        }
    }
}
