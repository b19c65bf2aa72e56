import XCTest
import CXPF
@testable import Shared

/// `clear security flow session FILTERS` (Sources/Shared/Status/SessionClearFilter.swift,
/// issue 9 §3): the filter xpfd compiles for the workers removes, through the worker's own
/// clear (Pipeline.clearSessions), exactly the sessions `show security flow session` lists
/// with the same words — over ForwardTests' zones (trust = fw0, untrust = fw1) and its one
/// global policy `allow-all` (id 0).
final class SessionClearTests: PipelineTestCase {
    override class var regionName: String { "clear" }

    static let trust: UInt8 = 0, untrust: UInt8 = 1
    static let allowAll: UInt16 = 0

    /// Sessions of every kind the filters tell apart: family, protocol, ports, zones, policy
    /// (a permitting policy, the default policy) and whether it was decided in the running
    /// policy epoch.
    func populate() throws {
        let g = pipeline.generation
        let rows: [(FlowKey, UInt8, UInt8, UInt16, UInt64)] = [
            (SessionTestKeys.v4(0x0A00_0001, 0xC000_0201, 40001, 80, proto: 6), Self.trust, Self.untrust, Self.allowAll, g),
            (SessionTestKeys.v4(0x0A00_0002, 0xC000_0202, 40002, 53), Self.trust, Self.untrust, Self.allowAll, g),
            (SessionTestKeys.v4(0xC000_0203, 0x0A00_0003, 40003, 53), Self.untrust, Self.trust, UInt16(XPF_SESS_POLICY_DEFAULT), g),
            (SessionTestKeys.v4(0xC000_0204, 0x0A00_0004, 40004, 22, proto: 6), Self.untrust, Self.trust, Self.allowAll, 0),  // stale
            (SessionTestKeys.v6(1, 2, 40005, 443, proto: 6), Self.trust, Self.untrust, Self.allowAll, g),
            (SessionTestKeys.v6(3, 4, 40006, 53), Self.untrust, Self.untrust, UInt16(XPF_SESS_POLICY_DEFAULT), g),
        ]
        for (key, ifIn, ifOut, policy, generation) in rows {
            var k = key
            XCTAssertNotNil(pipeline.partition.insert(forward: &k, reverse: SessionTestKeys.reversed(k).tuple, generation: generation,
                                                      nowMs: pipeline.nowMs, ifIn: ifIn, ifOut: ifOut, tcpState: 0, policy: policy))
        }
        XCTAssertEqual(SessionListing.all(region).count, rows.count)
    }

    /// Runs the worker's clear with `words` until its sweep ends; returns the sessions it
    /// removed (by source port) and those `show` with the same words lists beforehand.
    func clear(_ words: [String]) throws -> (removed: Set<UInt16>, shown: Set<UInt16>) {
        _ = pipeline.partition.removeAll()
        try populate()
        let names = SessionNames(region)
        let filter = try SessionFilter(words: words)
        func ports(_ s: [SessionInfo]) -> Set<UInt16> { Set(s.map { UInt16(bigEndian: $0.record.fwd.sport) }) }
        let before = SessionListing.all(region)
        let shown = ports(before.filter { filter.matches($0, names: names) })
        let compiled = try filter.clearFilter(names: names)
        var removed = 0
        for _ in 0..<8 {  // bounded: a partition of 1024 records is one slice
            let slice = pipeline.clearSessions(filter: compiled, counters: &counters)
            removed += slice.removed
            if slice.finished { break }
        }
        let gone = ports(before).subtracting(ports(SessionListing.all(region)))
        XCTAssertEqual(removed, gone.count, "\(words): the slices count what they removed")
        return (gone, shown)
    }

    func testAClearRemovesExactlyWhatShowListsWithTheSameFilters() throws {
        let cases: [([String], Set<UInt16>)] = [
            ([], [40001, 40002, 40003, 40004, 40005, 40006]),
            (["from-zone", "trust"], [40001, 40002, 40005]),
            (["to-zone", "trust"], [40003, 40004]),
            (["from-zone", "untrust", "to-zone", "untrust"], [40006]),
            (["policy", "allow-all"], [40001, 40002, 40005]),  // 40004 awaits its re-check
            (["policy", "default-policy"], [40003, 40006]),
            (["policy", "nope"], []),
            (["from-zone", "nope"], []),
            (["protocol", "tcp", "from-zone", "untrust"], [40004]),
            (["source-prefix", "10.0.0.0/8"], [40001, 40002]),
            (["destination-prefix", "10.0.0.3/32"], [40003]),
            (["source-prefix", "fd00:0:0:1::/64", "protocol", "udp"], [40006]),
            (["destination-port", "53", "to-zone", "untrust"], [40002, 40006]),
            (["source-port", "40005"], [40005]),
        ]
        for (words, want) in cases {
            let r = try clear(words)
            XCTAssertEqual(r.shown, want, "show \(words)")
            XCTAssertEqual(r.removed, r.shown, "clear \(words) removes what show lists")
        }
    }

    func testAPolicyNameWithTooManyIdsIsRefused() throws {
        // One name in more lists than the record holds ids for.
        var text = "system dataplane interfaces [ fw0 fw1 ]; security { zones {"
        let zones = 9  // 9 × 9 zone pairs (with fw0/fw1 in two of them) > XPF_CLEAR_MAX_POLICIES
        for z in 0..<zones { text += " security-zone z\(z) { \(z < 2 ? "interfaces fw\(z);" : "") }" }
        text += " } policies {"
        for a in 0..<zones {
            for b in 0..<zones {
                text += " from-zone z\(a) to-zone z\(b) { policy same { match { source-address any; destination-address any; application any; } then permit; } }"
            }
        }
        text += " } }"
        try region.publishConfig(ConfigSnapshotImage(ConfigModel.load(text: text, file: "t").1))
        let names = SessionNames(region)
        XCTAssertThrowsError(try SessionFilter(words: ["policy", "same"]).clearFilter(names: names)) {
            XCTAssertEqual("\($0)", "policy 'same' names 81 policies; a clear filter holds at most 64")
        }
        XCTAssertNoThrow(try SessionFilter(words: ["from-zone", "z1"]).clearFilter(names: names))
    }
}
