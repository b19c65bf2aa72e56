import XCTest
import CXPF
@testable import Shared

/// `show security flow session` (Sources/Shared/Status/SessionListing.swift, issue 9 §3):
/// sessions read out of a real region, named (policy, zones) from the running snapshot,
/// filtered and rendered as xpfctl prints them.
final class SessionListingTests: XCTestCase {
    let fx = ShmTestFixture()

    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    override func tearDown() {
        fx.removeAll()
        super.tearDown()
    }

    /// fw2 is in no zone.
    static func config(extraPolicy: Bool = false) -> String {
        """
        system dataplane interfaces [ fw0 fw1 fw2 ];
        security {
            zones {
                security-zone trust { interfaces fw0; }
                security-zone untrust { interfaces fw1; }
            }
            policies {
                from-zone trust to-zone untrust {
                    \(extraPolicy ? "policy first { match { source-address any; destination-address any; application junos-ssh; } then deny; }" : "")
                    policy web { match { source-address any; destination-address any; application junos-http; } then permit; }
                    policy dns { match { source-address any; destination-address any; application junos-dns-udp; } then permit; }
                }
                default-policy permit-all;
            }
        }
        """
    }

    static let webID: UInt16 = 0, dnsID: UInt16 = 1
    static let (trustSlot, untrustSlot, noZoneSlot): (UInt8, UInt8, UInt8) = (0, 1, 2)

    private func region() throws -> ShmRegion {
        let r = try fx.region("listing", queues: 1, interfaces: 3)
        for (slot, name) in ["fw0", "fw1", "fw2"].enumerated() {
            var i = xpf_iface()
            copyCString(name, into: &i.name)
            r.setIface(slot, i)
        }
        try r.publishConfig(ConfigSnapshotImage(try ConfigModel.load(text: Self.config(), file: "t").1))
        return r
    }

    /// Inserts a session of generation `generation` decided by `policy`; returns its id (index + 1).
    @discardableResult
    private func add(_ r: ShmRegion, _ partition: inout SessionPartition, _ key: FlowKey, policy: UInt16,
                     generation: UInt64, ifIn: UInt8 = trustSlot, ifOut: UInt8 = untrustSlot,
                     tcpState: UInt8 = UInt8(XPF_TCP_NONE.rawValue)) throws -> Int {
        var k = key
        let nowMs = UInt32(truncatingIfNeeded: monotonicNanos() / 1_000_000)
        let idx = try XCTUnwrap(partition.insert(forward: &k, reverse: SessionTestKeys.reversed(k).tuple, generation: generation,
                                                 nowMs: nowMs, ifIn: ifIn, ifOut: ifOut, tcpState: tcpState, policy: policy))
        return idx + 1
    }

    private func partition(_ r: ShmRegion) -> SessionPartition {
        SessionPartition(table: r.sessionTable, queue: 0, queues: 1)
    }

    func testPolicyAndZonesAreNamedFromTheRunningSnapshot() throws {
        let r = try region()
        var p = partition(r)
        defer { p.release() }
        let g1 = r.current(.config).generation
        let web = try add(r, &p, SessionTestKeys.v4(0x0A00_0001, 0xC000_020A, 40000, 80, proto: 6), policy: Self.webID, generation: g1)
        let dflt = try add(r, &p, SessionTestKeys.v4(0x0A00_0001, 0xC000_020A, 40001, 9999), policy: UInt16(XPF_SESS_POLICY_DEFAULT),
                           generation: g1, ifOut: Self.noZoneSlot)
        let names = SessionNames(r)
        let byID = Dictionary(uniqueKeysWithValues: SessionListing.all(r).map { ($0.id, $0) })
        XCTAssertEqual(names.policy(of: try XCTUnwrap(byID[web]).record), .policy(id: 0, name: "web"))
        XCTAssertEqual(names.policy(of: try XCTUnwrap(byID[dflt]).record), .defaultPolicy)
        XCTAssertEqual(names.zone(ofSlot: Self.trustSlot), "trust")
        XCTAssertEqual(names.zone(ofSlot: Self.untrustSlot), "untrust")
        XCTAssertNil(names.zone(ofSlot: Self.noZoneSlot), "an interface in no zone")
        XCTAssertNil(names.zone(ofSlot: 200), "a slot the snapshot does not have")

        // A commit that changes the policies starts a new policy epoch: ids of the older
        // generation mean nothing under it (here id 0 is `first` now) until the re-check.
        let m2 = try ConfigModel.load(text: Self.config(extraPolicy: true), file: "t").1
        let g2 = try r.publishConfig(ConfigSnapshotImage(m2), samePolicies: false)
        let rechecked = try add(r, &p, SessionTestKeys.v4(0x0A00_0002, 0xC000_020A, 40002, 80, proto: 6), policy: 1, generation: g2)
        let names2 = SessionNames(r)
        let after = Dictionary(uniqueKeysWithValues: SessionListing.all(r).map { ($0.id, $0) })
        XCTAssertEqual(names2.policy(of: try XCTUnwrap(after[web]).record), .awaitingRecheck)
        XCTAssertEqual(names2.policy(of: try XCTUnwrap(after[rechecked]).record), .policy(id: 1, name: "web"))
        // One that keeps the epoch keeps the names.
        let g3 = try r.publishConfig(ConfigSnapshotImage(m2), samePolicies: true)
        XCTAssertGreaterThan(g3, g2)
        XCTAssertEqual(SessionNames(r).policy(of: try XCTUnwrap(after[rechecked]).record), .policy(id: 1, name: "web"))
    }

    func testFiltersCombineZonesPolicyAndTuple() throws {
        let r = try region()
        var p = partition(r)
        defer { p.release() }
        let g = r.current(.config).generation
        let web = try add(r, &p, SessionTestKeys.v4(0x0A00_0001, 0xC000_020A, 40000, 80, proto: 6), policy: Self.webID, generation: g)
        let dns = try add(r, &p, SessionTestKeys.v4(0x0A00_0002, 0xC000_0235, 40001, 53), policy: Self.dnsID, generation: g)
        let back = try add(r, &p, SessionTestKeys.v4(0xC000_020A, 0x0A00_0001, 40002, 53), policy: UInt16(XPF_SESS_POLICY_DEFAULT),
                           generation: g, ifIn: Self.untrustSlot, ifOut: Self.trustSlot)
        let names = SessionNames(r)
        let all = SessionListing.all(r)
        func ids(_ words: [String]) throws -> [Int] {
            let f = try SessionFilter(words: words)
            return all.filter { f.matches($0, names: names) }.map(\.id).sorted()
        }
        XCTAssertEqual(try ids([]), [web, dns, back].sorted())
        XCTAssertEqual(try ids(["from-zone", "trust"]), [web, dns].sorted())
        XCTAssertEqual(try ids(["to-zone", "trust"]), [back])
        XCTAssertEqual(try ids(["from-zone", "trust", "to-zone", "trust"]), [])
        XCTAssertEqual(try ids(["policy", "dns"]), [dns])
        XCTAssertEqual(try ids(["policy", "default-policy"]), [back])
        XCTAssertEqual(try ids(["policy", "nope"]), [])
        XCTAssertEqual(try ids(["from-zone", "trust", "destination-port", "53"]), [dns])
        XCTAssertEqual(try ids(["protocol", "tcp", "to-zone", "untrust"]), [web])
        XCTAssertEqual(try ids(["source-prefix", "10.0.0.0/8", "policy", "web"]), [web])
        XCTAssertEqual(try ids(["destination-prefix", "10.0.0.1", "source-port", "40002"]), [back])
        XCTAssertThrowsError(try SessionFilter(words: ["policy"])) { XCTAssertTrue("\($0)".contains("pairs"), "\($0)") }
        XCTAssertThrowsError(try SessionFilter(words: ["zone", "trust"])) { XCTAssertTrue("\($0)".contains("unknown filter 'zone'"), "\($0)") }
        XCTAssertThrowsError(try SessionFilter(words: ["source-port", "x"])) { XCTAssertEqual("\($0)", "bad port 'x'") }

        // After a commit that changes policies, a session not yet re-checked matches no policy.
        let m2 = try ConfigModel.load(text: Self.config(extraPolicy: true), file: "t").1
        try r.publishConfig(ConfigSnapshotImage(m2), samePolicies: false)
        let stale = SessionNames(r)
        let f = try SessionFilter(words: ["policy", "web"])
        XCTAssertFalse(all.contains { f.matches($0, names: stale) })
        XCTAssertEqual(all.filter { try! SessionFilter(words: ["from-zone", "trust"]).matches($0, names: stale) }.count, 2,
                       "zones are still named")
    }

    func testRenderShowsPolicyZonesStateTimeoutAndIdle() throws {
        let r = try region()
        var p = partition(r)
        defer { p.release() }
        let g = r.current(.config).generation
        let id = try add(r, &p, SessionTestKeys.v4(0x0A00_0001, 0xC000_020A, 40000, 80, proto: 6), policy: Self.webID, generation: g,
                         tcpState: UInt8(XPF_TCP_ESTABLISHED.rawValue))
        var s = try XCTUnwrap(SessionListing.all(r).first)
        XCTAssertEqual(s.id, id)
        XCTAssertEqual(s.timeoutS, r.configSnapshot.pointee.timeout_tcp_established, "the established timeout")
        s.idleMs = 12_345  // fixed, so the text does not depend on the clock
        s.timeoutS = 1800
        let names = SessionNames(r)
        XCTAssertEqual(SessionListing.render([s], region: r, names: names, json: false), """
        Session ID: \(id), Policy name: web/0, From zone: trust, To zone: untrust, Generation: \(g), Timeout: 1788, Idle: 12, Valid, TCP state: established
          In: 10.0.0.1/40000 --> 192.0.2.10/80;tcp, If: fw0, Pkts: 0, Bytes: 0
          Out: 192.0.2.10/80 --> 10.0.0.1/40000;tcp, If: fw1, Pkts: 0, Bytes: 0
        Total sessions: 1
        """)
        let json = SessionListing.render([s], region: r, names: names, json: true)
        for field in ["\"policy\":\"web\"", "\"policy_id\":0", "\"policy_state\":\"policy\"", "\"from_zone\":\"trust\"",
                      "\"to_zone\":\"untrust\"", "\"tcp_state_name\":\"established\"", "\"idle_s\":12", "\"timeout_s\":1800",
                      "\"remaining_s\":1788", "\"total\":1"] {
            XCTAssertTrue(json.contains(field), "\(field) in \(json)")
        }
        s.record.if_out = Self.noZoneSlot
        s.record.generation = UInt32(truncatingIfNeeded: g) &- 1  // decided before the running policy epoch
        let stale = SessionListing.render([s], region: r, names: names, json: true)
        for field in ["\"policy\":\"N/A (awaiting re-check)\"", "\"policy_id\":null", "\"policy_state\":\"awaiting-recheck\"",
                      "\"to_zone\":null"] {
            XCTAssertTrue(stale.contains(field), "\(field) in \(stale)")
        }
        XCTAssertTrue(SessionListing.render([s], region: r, names: names, json: false)
            .hasPrefix("Session ID: \(id), Policy name: N/A (awaiting re-check), From zone: trust, To zone: -,"))
    }
}
