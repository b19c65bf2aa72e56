// `security log rate-cap` (issue 8, R-9.1): a worker's token bucket per (event kind, zone
// of the ingress interface) in front of its event ring, through the real paths — the
// configuration compiled and published, the worker's pipeline built and re-configured as
// xpf-worker does when it adopts a generation, first packets and ageing emitting, the
// drain reading the ring. Checked: the cap per zone and per kind, refill at the cap, the
// burst of one second, suppressed events counted (not emitted, no sequence number taken),
// a commit that keeps the cap keeps the buckets' credit, one that changes it refills them,
// cap 0 suppresses everything, no cap suppresses nothing.
import CXPF
import Shared
import XCTest

final class EventRateCapTests: ConfiguredPipelineTestCase {
    override class var regionName: String { "cap" }
    override class var configFile: String { "rate-cap-tests" }
    static let udpTimeoutS = 60

    /// fw0 (slot 0) in zone trust, fw1 (slot 1) in zone untrust; `rateCap` nil: no statement.
    static func text(rateCap: Int?) -> String {
        """
        system { dataplane { interfaces [ fw0 fw1 ]; batch-size 64; neighbor-hold-time 1000; } }
        security {
            log { \(rateCap.map { "rate-cap \($0);" } ?? "") }
            flow { udp-timeout \(udpTimeoutS); }
        }
        \(ForwardTests.securityText)
        """
    }

    static func config(rateCap: Int?) throws -> ConfigSnapshotImage {
        try ConfigSnapshotImage(ConfigModel.load(text: text(rateCap: rateCap), file: configFile).1)
    }

    func start(rateCap: Int?) throws {
        try start(config: Self.text(rateCap: rateCap))
        pipeline.nowRealtimeNs = 1_796_000_000_123_000_000
    }

    /// A commit as xpf-worker adopts it between batches (Sources/Worker/main.swift).
    func commit(rateCap: Int?) throws {
        try region.publishConfig(Self.config(rateCap: rateCap))
        guard let s = configFollower.peek() else { return XCTFail("no new generation") }
        try region.configView(slot: s).validate()
        configFollower.acknowledge()
        pipeline.adopt(config: region.configSlot(s), generation: configFollower.generation)
        pipeline.events.configure(region.configView(slot: s), nowMs: pipeline.nowMs)
    }

    /// Sends `count` first packets (new UDP flows from consecutive source ports) from the
    /// client side (slot 0, zone trust) or the server side (slot 1, zone untrust).
    func newFlows(_ count: Int, fromPort: UInt16, serverSide: Bool = false) {
        for i in 0..<count {
            let sport = fromPort + UInt16(i)
            var frame = serverSide
                ? F.frame4(src: Self.server4, dst: Self.client4, proto: 17, l4: F.udp(sport, 6000, payload: [1]),
                           from: F.serverMAC, to: F.wanMAC)
                : F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(sport, 5001, payload: [1]))
            frame += [UInt8](repeating: 0, count: 64)
            let action = frame.withUnsafeMutableBytes {
                pipeline.process(frame: $0.baseAddress!, length: $0.count - 64, ingress: serverSide ? 1 : 0, counters: &counters)
            }
            XCTAssertEqual(action.kind, .transmit, "flow \(sport) is forwarded whether or not its event is")
        }
    }

    /// Events in the ring now, by type, with their sequence numbers and ingress slots.
    func drained() -> [(type: UInt8, sequence: UInt64, ingress: UInt8, sport: UInt16)] {
        var out: [(UInt8, UInt64, UInt8, UInt16)] = []
        drain.drain(budget: UInt32(XPF_EVENT_RING_SIZE)) { e in
            let f = UnsafeRawPointer(e + 0).advanced(by: MemoryLayout<xpf_event_hdr>.size)
                .assumingMemoryBound(to: xpf_event_flow.self)  // Safe: session events carry a flow payload
            out.append((e.pointee.hdr.type, e.pointee.hdr.sequence, f.pointee.if_in, UInt16(bigEndian: f.pointee.fwd.sport)))
        }
        return out
    }

    static let create = UInt8(XPF_EV_SESSION_CREATE.rawValue)
    static let close = UInt8(XPF_EV_SESSION_CLOSE.rawValue)

    func testCapHoldsPerZoneRefillsAtTheRateAndBurstsOneSecond() throws {
        try start(rateCap: 3)
        newFlows(10, fromPort: 40000)
        var ev = drained()
        XCTAssertEqual(ev.map(\.type), [Self.create, Self.create, Self.create], "the cap's burst: one second's worth")
        XCTAssertEqual(ev.map(\.sport), [40000, 40001, 40002], "the first events of the second pass")
        XCTAssertEqual(ev.map(\.sequence), [1, 2, 3], "suppressed events take no sequence number")
        XCTAssertEqual(counters.s.sessions_created, 10, "the flows are forwarded and get sessions all the same")
        XCTAssertEqual(counters.s.events_emitted, 3)
        XCTAssertEqual(counters.s.events_rate_limited, 7)
        XCTAssertEqual(counters.s.events_dropped, 0)

        // Another zone has its own bucket.
        newFlows(5, fromPort: 41000, serverSide: true)
        ev = drained()
        XCTAssertEqual(ev.map(\.ingress), [1, 1, 1])
        XCTAssertEqual(counters.s.events_rate_limited, 9)

        // Refill at 3 events/s: 333 ms is not yet one event, 334 ms is.
        pipeline.nowMs &+= 333
        newFlows(1, fromPort: 42000)
        XCTAssertEqual(drained().count, 0)
        pipeline.nowMs &+= 1
        newFlows(2, fromPort: 42001)
        ev = drained()
        XCTAssertEqual(ev.map(\.sport), [42001], "one event's credit after 1/3 s (the 333 ms were not lost)")

        // A long quiet spell fills the bucket to one second's worth, no more.
        pipeline.nowMs &+= 60_000
        newFlows(6, fromPort: 43000)
        XCTAssertEqual(drained().count, 3)
        XCTAssertEqual(counters.s.events_emitted, 3 + 3 + 1 + 3)
        XCTAssertEqual(counters.s.events_rate_limited, 9 + 2 + 3)
        XCTAssertEqual(counters.s.sessions_created, 10 + 5 + 3 + 6)
    }

    func testKindsHaveTheirOwnBuckets() throws {
        try start(rateCap: 2)
        newFlows(4, fromPort: 40000)  // creates: 2 of 4 pass, the create bucket is empty now
        XCTAssertEqual(drained().count, 2)
        // All four go idle: close events draw on the close bucket of the zone, still full.
        pipeline.nowMs &+= UInt32(Self.udpTimeoutS * 1000 + 1)
        pipeline.nowS &+= UInt32(Self.udpTimeoutS + 1)
        XCTAssertEqual(pipeline.ageSessions(budget: 1024, counters: &counters), 4, "every idle session goes, logged or not")
        let ev = drained()
        XCTAssertEqual(ev.map(\.type), [Self.close, Self.close], "two closes: the close bucket's burst")
        XCTAssertEqual(counters.s.events_rate_limited, 2 + 2)
    }

    func testACommitKeepsTheCreditUnlessTheCapChanges() throws {
        try start(rateCap: 2)
        newFlows(3, fromPort: 40000)
        XCTAssertEqual(drained().count, 2)
        try commit(rateCap: 2)  // same cap, same zones: the empty bucket stays empty
        newFlows(3, fromPort: 41000)
        XCTAssertEqual(drained().count, 0, "a commit that changes nothing does not refill the buckets")
        try commit(rateCap: 4)  // a new cap: buckets start full at the new rate
        newFlows(6, fromPort: 42000)
        XCTAssertEqual(drained().count, 4)
        try commit(rateCap: nil)  // no cap
        newFlows(50, fromPort: 43000)
        XCTAssertEqual(drained().count, 50)
        XCTAssertEqual(counters.s.events_rate_limited, 1 + 3 + 2)
    }

    func testCapZeroSuppressesEveryEventAndNoCapNone() throws {
        try start(rateCap: 0)
        newFlows(20, fromPort: 40000)
        XCTAssertEqual(drained().count, 0)
        XCTAssertEqual(counters.s.events_emitted, 0)
        XCTAssertEqual(counters.s.events_rate_limited, 20)
        XCTAssertEqual(counters.s.sessions_created, 20)
        tearDown()
        try start(rateCap: nil)
        newFlows(300, fromPort: 40000)
        XCTAssertEqual(drained().count, 300)
        XCTAssertEqual(counters.s.events_rate_limited, 0)
    }

    func testConfigurationRangeAndSnapshot() throws {
        try Self.config(rateCap: 7).withView { v in XCTAssertEqual(v.head.pointee.event_rate_cap, 7) }
        try Self.config(rateCap: nil).withView { v in XCTAssertEqual(v.head.pointee.event_rate_cap, XPF_EVENT_RATE_UNCAPPED) }
        XCTAssertThrowsError(try Self.config(rateCap: 1_000_001)) { e in
            XCTAssertTrue("\(e)".contains("rate-cap"), "\(e)")
        }
        let (_, model) = try ConfigModel.load(
            text: "system { dataplane { interfaces [ fw0 ]; } } security { log { rate-cap 250; } }", file: "t")
        XCTAssertEqual(model.securityLog.rateCap, 250)
    }
}
