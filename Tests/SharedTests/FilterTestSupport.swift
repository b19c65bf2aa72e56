// The harness of the suites that drive firewall filters through a worker's real pipeline
// (FilterStageTests, PolicerStageTests, FilterChainTests), over ConfiguredPipelineTestCase
// (PipelineTestSupport.swift): a region running a compiled configuration, frames through
// Pipeline.process, then the action, the frame sent, the drop reasons, the counters in
// shared memory (xpf_filter_hits) and the FILTER_LOG events xpfd would drain.
//
// Lab as PolicyStageTests: fw0 (slot 0, "lan") in trust, fw1 (slot 1, "wan") in untrust,
// a permit-all policy; the client 10.10.1.10 behind fw0, the server 10.10.2.2 behind fw1.
import CXPF
import Shared
import XCTest

/// No tests of its own: the suites above subclass it.
class FilterTestCase: ConfiguredPipelineTestCase {
    override class var regionName: String { "flt" }
    override class var configFile: String { "filter-tests" }
    static let ipOffset = 14
    static let dscpEF: UInt8 = 46

    /// The configuration: `filters` under `firewall`, attached by `attach` (interface
    /// stanzas), a permit-all policy from trust to untrust.
    static func text(filters: String, attach: String) -> String {
        """
        system { dataplane { interfaces [ fw0 fw1 ]; batch-size 64; neighbor-hold-time 1000; } }
        interfaces { \(attach) }
        policy-options { prefix-list servers { 10.10.2.0/24; fd00:2::/64; } }
        firewall { \(filters) }
        security {
            zones { security-zone trust { interfaces { fw0.0; } } security-zone untrust { interfaces { fw1.0; } } }
            policies { from-zone trust to-zone untrust { policy all { match { source-address any;
                destination-address any; application any; } then { permit; } } } }
        }
        """
    }

    static func input(_ filter: String, family: String = "inet") -> String {
        "fw0 { unit 0 { family \(family) { filter { input \(filter); } } } }"
    }

    static func output(_ filter: String) -> String { "fw1 { unit 0 { family inet { filter { output \(filter); } } } }" }

    func start(filters: String = "", attach: String = "") throws {
        try start(config: Self.text(filters: filters, attach: attach))
    }

    /// Publishes a new configuration as xpfd's commit does and switches the pipeline to it.
    func commit(filters: String, attach: String) throws {
        try commit(config: Self.text(filters: filters, attach: attach))
    }

    // MARK: frames

    /// IPv4 `frame` with DSCP `dscp` (ECN bits `ecn`), its header checksum redone.
    static func withDSCP(_ frame: [UInt8], _ dscp: UInt8, ecn: UInt8 = 0) -> [UInt8] {
        var f = frame
        f[ipOffset + 1] = dscp << 2 | ecn
        refreshChecksum(&f)
        return f
    }

    static func refreshChecksum(_ f: inout [UInt8]) {
        f[ipOffset + 10] = 0
        f[ipOffset + 11] = 0
        let c = f.withUnsafeBytes { internetChecksum($0.baseAddress! + ipOffset, count: 20) }
        f[ipOffset + 10] = UInt8(c >> 8)
        f[ipOffset + 11] = UInt8(c & 0xFF)
    }

    static func headerChecksumOK(_ f: [UInt8]) -> Bool {
        f.withUnsafeBytes { internetChecksum($0.baseAddress! + ipOffset, count: 20) } == 0
    }

    func udp(_ sport: UInt16 = 40000, _ dport: UInt16 = 9999, dscp: UInt8 = 0, src: UInt32 = client4) -> [UInt8] {
        Self.withDSCP(F.frame4(src: src, dst: Self.server4, proto: 17, l4: F.udp(sport, dport, payload: [1, 2, 3])), dscp)
    }

    func tcp(_ sport: UInt16, _ dport: UInt16, flags: UInt8, seq: UInt32 = 1000) -> [UInt8] {
        F.frame4(src: Self.client4, dst: Self.server4, proto: 6, l4: F.tcp(sport, dport, flags: flags, seq: seq))
    }

    func ping(type: UInt8 = ICMPEcho.requestV4) -> [UInt8] {
        F.frame4(src: Self.client4, dst: Self.server4, proto: 1, l4: F.icmpEcho(type: type, id: 7, seq: 1))
    }

    /// The record index of the UDP session client:sport -> server:dport, if any.
    func sessionIndex(_ sport: UInt16, _ dport: UInt16) -> Int? {
        var k = FlowKey()
        k.family = 4
        k.proto = 17
        withUnsafeMutableBytes(of: &k.tuple.src) { $0.copyBytes(from: F.be32(Self.client4)) }
        withUnsafeMutableBytes(of: &k.tuple.dst) { $0.copyBytes(from: F.be32(Self.server4)) }
        k.tuple.sport = sport.bigEndian
        k.tuple.dport = dport.bigEndian
        return region.sessionTable.lookup(&k)?.index
    }

    // MARK: checks

    /// Packets and bytes of term `term` of filter `filter` (by name) in the running bank.
    func termCount(_ filter: String, _ term: String) -> (packets: UInt64, bytes: UInt64) {
        let f = running.filters.firstIndex { $0.name == filter }!
        let row = running.filters[..<f].reduce(0) { $0 + $1.terms.count } + running.filters[f].terms.firstIndex { $0.name == term }!
        return FilterCounters.read(FilterCounters.rows(region.filterHits(0), .term, bank: region.configSnapshot.pointee.policy_bank), row)
    }

    /// Packets and bytes of named counter `index` (COUNTERS order) in the running bank.
    func counterCount(_ index: Int) -> (packets: UInt64, bytes: UInt64) {
        FilterCounters.read(FilterCounters.rows(region.filterHits(0), .counter, bank: region.configSnapshot.pointee.policy_bank), index)
    }
}
