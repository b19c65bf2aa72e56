// The harness of the suites that drive firewall filters through a worker's real pipeline
// (FilterStageTests, PolicerStageTests): a region running a compiled configuration, frames
// through Pipeline.process, then the action, the frame sent, the drop reasons, the
// counters in shared memory (xpf_filter_hits) and the FILTER_LOG events xpfd would drain.
//
// Lab as PolicyStageTests: fw0 (slot 0, "lan") in trust, fw1 (slot 1, "wan") in untrust,
// a permit-all policy; the client 10.10.1.10 behind fw0, the server 10.10.2.2 behind fw1.
import CXPF
import Shared
import XCTest

/// No tests of its own: the suites above subclass it.
class FilterTestCase: XCTestCase {
    typealias F = Frames
    let fx = ShmTestFixture()
    var region: ShmRegion!
    var pipeline: Pipeline!
    var configFollower: SnapshotFollower!
    var fibFollower: SnapshotFollower!
    var counters = WorkerCounters()
    var running: ConfigModel!
    var drain: EventDrain!
    var names = EventNames(hostName: "fw-test", interfaces: ["lan", "wan"])

    static let client4 = ForwardTests.client4, server4 = ForwardTests.server4
    static let client6 = ForwardTests.client6, server6 = ForwardTests.server6
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

    override func setUpWithError() throws {
        continueAfterFailure = false
    }

    override func tearDown() {
        pipeline = nil
        region = nil
        fx.removeAll()
        super.tearDown()
    }

    func start(filters: String = "", attach: String = "") throws {
        region = try fx.region("flt", queues: 1, interfaces: 2, sessionCapacity: 1024)
        try ForwardTests.setUpInterfaces(region)
        running = try ConfigModel.load(text: Self.text(filters: filters, attach: attach), file: "filter-tests").1
        let gen = try region.publishConfig(ConfigSnapshotImage(running))
        names.adopt(generation: gen, model: running)
        try region.publishFIB { f in
            ForwardTests.fillFIB(f, gatewayKnown: true)
            ForwardTests.fillLANAddresses(f)  // the source of the ICMP a reject sends
        }
        (pipeline, _) = ForwardTests.makePipeline(region, &configFollower, &fibFollower)
        pipeline.nowMs = 5_000
        pipeline.nowS = 100
        counters = WorkerCounters()
        drain = EventDrain(region: region)
    }

    /// Publishes a new configuration as xpfd's commit does and switches the pipeline to it.
    func commit(filters: String, attach: String) throws {
        let model = try ConfigModel.load(text: Self.text(filters: filters, attach: attach), file: "filter-tests").1
        let gen = try region.publishConfig(ConfigSnapshotImage(model), samePolicies: model.decidesSessions(as: running))
        names.adopt(generation: gen, model: model)
        running = model
        let slot = try XCTUnwrap(configFollower.poll())
        pipeline.adopt(config: region.configSlot(slot), generation: configFollower.generation)
    }

    func send(_ frame: [UInt8], ingress: UInt8 = 0) -> (PacketAction, [UInt8]) {
        var buf = frame + [UInt8](repeating: 0, count: ForwardTests.frameHeadroom)
        let a = buf.withUnsafeMutableBytes {
            pipeline.process(frame: $0.baseAddress!, length: frame.count, ingress: ingress, counters: &counters)
        }
        return (a, Array(buf[0..<(a.length == 0 ? frame.count : Int(a.length))]))
    }

    func events() -> [RTFlowRecord] {
        var out: [RTFlowRecord] = []
        drain.drain(budget: UInt32(XPF_EVENT_RING_SIZE)) { e in if let r = names.record(e) { out.append(r) } }
        return out
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

    func assertDrop(_ a: PacketAction, _ reason: xpf_drop_reason, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.kind, .drop, "expected a drop (\(reason))", file: file, line: line)
        XCTAssertEqual(a.reason, UInt8(reason.rawValue), file: file, line: line)
    }

    func assertForwarded(_ a: PacketAction, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.kind, .transmit, "expected a forward, got \(a.kind) reason \(a.reason)", file: file, line: line)
        XCTAssertEqual(a.egress, 1, file: file, line: line)
    }

    func dropCount(_ reason: xpf_drop_reason) -> UInt64 {
        withUnsafeBytes(of: counters.s.drops) { $0.load(fromByteOffset: Int(reason.rawValue) * 8, as: UInt64.self) }
    }

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
