// The packet trace (issue 9 §1) on the worker's real batch path: a filter armed in the
// worker block as xpfd arms it (TraceFilter → ShmRegion.armTrace), adopted between batches
// (PacketTracer.follow), frames through Pipeline.processBatch, and the records drained from
// the trace ring as xpfd drains them (TraceCollector) — checked field by field.
//
// Lab: PolicyStageTests' — fw0 (slot 0, "lan") in zone trust, fw1 (slot 1, "wan") in zone
// untrust; the client 10.10.1.10 behind fw0, the server 10.10.2.2 behind fw1.
import CXPF
import Shared
import XCTest

final class TraceTests: ConfiguredPipelineTestCase {
    override class var regionName: String { "trace" }
    override class var configFile: String { "trace-tests" }
    var collector: TraceCollector!
    var traceID: UInt32 = 0
    /// The frames of one batch: a UMEM of `frameSlots` frames (allocated per test in setUp;
    /// XCTest makes an instance of every test when it only lists them).
    var umem: UnsafeMutableRawPointer!
    static let frameSlots = 16, frameSize = 2048

    static let trustUntrust = PolicyStageTests.trustUntrust
    static let policies = PolicyStageTests.webPolicies
    static let allow9999 = """
        from-zone trust to-zone untrust {
            policy quiet-udp { match { source-address any; destination-address server; application udp-9999; } then { permit; } }
        }
        """

    override func setUpWithError() throws {
        try super.setUpWithError()
        umem = UnsafeMutableRawPointer.allocate(byteCount: Self.frameSlots * Self.frameSize, alignment: 64)
    }

    override func tearDown() {
        umem?.deallocate()
        umem = nil
        super.tearDown()
    }

    func start(_ policies: String = policies, zones: String = trustUntrust) throws {
        try start(config: PolicyStageTests.text(policies: policies, zones: zones))
        pipeline.nowRealtimeNs = 1_700_000_000_123_456_789
        collector = TraceCollector(region: region)
        pipeline.trace.clock = { TraceTests.tick() }
    }

    /// The traced packets' clock in these tests: each read `clockStep` ns after the last, so
    /// a packet's time and each stage's are exact counts of the reads.
    nonisolated(unsafe) static var fakeNow: UInt64 = 0
    static let clockStep: UInt64 = 10
    static func tick() -> UInt64 {
        fakeNow += clockStep
        return fakeNow
    }

    /// Arms a trace as xpfd does and lets the worker adopt it between batches.
    func arm(_ words: [String] = [], count: UInt32 = 10, dropsOnly: Bool = false) throws {
        traceID += 1
        let f = try TraceFilter(words: words).compiled(id: traceID, count: count, dropsOnly: dropsOnly, interfaces: ["fw0", "fw1"])
        region.armTrace(f)
        pipeline.trace.follow()
    }

    /// Runs `frames` as one batch from `ingress`.
    @discardableResult
    func batch(_ frames: [[UInt8]], ingress: UInt8 = 0) -> [PacketAction] {
        precondition(frames.count <= Self.frameSlots)
        let descs = UnsafeMutablePointer<xdp_desc>.allocate(capacity: frames.count)
        let actions = UnsafeMutablePointer<PacketAction>.allocate(capacity: frames.count)
        let parks = UnsafeMutablePointer<ParkRequest>.allocate(capacity: frames.count)
        parks.initialize(repeating: ParkRequest(), count: frames.count)
        defer { descs.deallocate(); actions.deallocate(); parks.deallocate() }
        for (i, f) in frames.enumerated() {
            let addr = i * Self.frameSize
            f.withUnsafeBytes { (umem + addr).copyMemory(from: $0.baseAddress!, byteCount: f.count) }
            descs[i] = xdp_desc(addr: UInt64(addr), len: UInt32(f.count), options: 0)
        }
        pipeline.processBatch(umem: umem, descs: descs, count: frames.count, ingress: ingress, counters: &counters,
                              actions: actions, parks: parks)
        return (0..<frames.count).map { actions[$0] }
    }

    func records() -> [xpf_trace_record] { collector.drain(id: traceID).map(\.record) }

    func tcp(_ sport: UInt16, _ dport: UInt16, flags: UInt8 = TCPFlag.syn, toClient: Bool = false) -> [UInt8] {
        toClient ? F.frame4(src: Self.server4, dst: Self.client4, proto: 6, l4: F.tcp(dport, sport, flags: flags))
            : F.frame4(src: Self.client4, dst: Self.server4, proto: 6, l4: F.tcp(sport, dport, flags: flags))
    }

    func udp(_ sport: UInt16, _ dport: UInt16, ttl: UInt8 = 64) -> [UInt8] {
        F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(sport, dport, payload: [1, 2, 3]), ttl: ttl)
    }

    func stages(_ s: [xpf_trace_stage]) -> UInt16 { s.reduce(0) { $0 | PacketTrace.bit($1) } }
    func zone(_ name: String) -> UInt32 { UInt32(running.zones.firstIndex { $0.name == name }!) }
    func policyID(_ name: String) -> UInt16 { UInt16(running.policies.all.firstIndex { $0.name == name }!) }
    func sessionIndex(_ proto: UInt8, _ sport: UInt16, _ dport: UInt16) -> UInt32? {
        var k = FlowKey()
        k.family = 4
        k.proto = proto
        withUnsafeMutableBytes(of: &k.tuple.src) { $0.copyBytes(from: F.be32(Self.client4)) }
        withUnsafeMutableBytes(of: &k.tuple.dst) { $0.copyBytes(from: F.be32(Self.server4)) }
        k.tuple.sport = sport.bigEndian
        k.tuple.dport = dport.bigEndian
        return region.sessionTable.lookup(&k).map { UInt32($0.index) }
    }

    /// The flow fields every record of a client → server packet carries.
    func assertFlow(_ r: xpf_trace_record, proto: UInt8, sport: UInt16, dport: UInt16, ingress: UInt8 = 0, reversed: Bool = false,
                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.trace_id, traceID, file: file, line: line)
        XCTAssertEqual(r.time_ns, pipeline.nowRealtimeNs, file: file, line: line)
        XCTAssertEqual(r.generation, UInt32(truncatingIfNeeded: pipeline.generation), file: file, line: line)
        XCTAssertEqual([r.family, r.proto, r.ingress], [4, proto, ingress], file: file, line: line)
        let (s, d) = reversed ? (Self.server4, Self.client4) : (Self.client4, Self.server4)
        XCTAssertEqual(withUnsafeBytes(of: r.flow.src) { Array($0[0..<4]) }, F.be32(s), file: file, line: line)
        XCTAssertEqual(withUnsafeBytes(of: r.flow.dst) { Array($0[0..<4]) }, F.be32(d), file: file, line: line)
        XCTAssertEqual([UInt16(bigEndian: r.flow.sport), UInt16(bigEndian: r.flow.dport)], reversed ? [dport, sport] : [sport, dport],
                       file: file, line: line)
    }

    // MARK: each stage's decision

    func testAPermittedFirstPacketShowsEveryStageOfTheFirstPath() throws {
        try start()
        try arm()
        let a = batch([tcp(40000, 80)])
        XCTAssertEqual(a[0].kind, .transmit)
        let r = try XCTUnwrap(records().first)
        assertFlow(r, proto: 6, sport: 40000, dport: 80)
        XCTAssertEqual(r.tcp_flags, TCPFlag.syn)
        XCTAssertEqual(r.stages, stages([XPF_TRACE_PARSE, XPF_TRACE_SESSION, XPF_TRACE_ROUTE, XPF_TRACE_TCP_CHECK, XPF_TRACE_ZONES,
                                         XPF_TRACE_POLICY, XPF_TRACE_INSTALL, XPF_TRACE_REWRITE]))
        XCTAssertEqual(r.hit, 0)
        XCTAssertEqual(r.egress, 1)
        XCTAssertEqual([r.from_zone, r.to_zone], [zone("trust"), zone("untrust")])
        XCTAssertEqual(r.policy, policyID("web"))
        XCTAssertEqual(r.policy_action, UInt8(XPF_POLICY_PERMIT.rawValue))
        XCTAssertEqual(r.session, try XCTUnwrap(sessionIndex(6, 40000, 80)))
        XCTAssertEqual(r.decided, UInt8(XPF_TRACE_REWRITE.rawValue))
        XCTAssertEqual(r.action, UInt8(XPF_TRACE_TRANSMIT.rawValue))
        XCTAssertEqual([r.reason, r.recheck_kept, r.icmp_matched], [0, 0, 0])
        // Each step of the first path charged to its stage, one clock read each (StageClock.swift):
        // parse and its TTL check, the lookup and the session's accounting, a step each for the
        // rest — the ICMP error and filter stages' checks too, though they decided nothing.
        assertStageTimes(r, steps: [XPF_TRACE_PARSE: 2, XPF_TRACE_SESSION: 2, XPF_TRACE_FILTER_IN: 1, XPF_TRACE_ICMP_ERROR: 1,
                                    XPF_TRACE_ROUTE: 1, XPF_TRACE_TCP_CHECK: 1, XPF_TRACE_ZONES: 1, XPF_TRACE_POLICY: 1,
                                    XPF_TRACE_INSTALL: 1, XPF_TRACE_FILTER_OUT: 1, XPF_TRACE_REWRITE: 1])
    }

    /// Per-stage clocks with the tests' clock (a read every `clockStep` ns): each stage is
    /// charged `clockStep` per step of it in `steps`, no other stage anything, and the
    /// packet's time is every step's plus the read after the last.
    func assertStageTimes(_ r: xpf_trace_record, steps: [xpf_trace_stage: Int], file: StaticString = #filePath, line: UInt = #line) {
        let ns = withUnsafeBytes(of: r.stage_ns) { Array($0.bindMemory(to: UInt32.self)) }
        XCTAssertEqual(ns.count, Int(XPF_TRACE_STAGE_COUNT.rawValue), file: file, line: line)
        let want = (0..<ns.count).map { UInt32(steps[xpf_trace_stage(UInt32($0))] ?? 0) * UInt32(Self.clockStep) }
        XCTAssertEqual(ns, want, "stage_ns by stage number", file: file, line: line)
        XCTAssertEqual(UInt64(r.process_ns), (UInt64(steps.values.reduce(0, +)) + 1) * Self.clockStep, file: file, line: line)
    }

    func testASessionHitShowsTheFastPath() throws {
        try start()
        batch([tcp(40000, 80)])  // untraced: installs the session
        try arm()
        let a = batch([tcp(40000, 80, flags: TCPFlag.syn | TCPFlag.ack, toClient: true)], ingress: 1)
        XCTAssertEqual(a[0].kind, .transmit)
        let r = try XCTUnwrap(records().first)
        assertFlow(r, proto: 6, sport: 40000, dport: 80, ingress: 1, reversed: true)
        XCTAssertEqual(r.stages, stages([XPF_TRACE_PARSE, XPF_TRACE_SESSION, XPF_TRACE_ROUTE, XPF_TRACE_REWRITE]))
        XCTAssertEqual(r.hit, 1)
        XCTAssertEqual(r.session, try XCTUnwrap(sessionIndex(6, 40000, 80)))
        XCTAssertEqual(r.direction, 1, "the server's answer travels the session's reverse direction")
        XCTAssertEqual(r.egress, 0)
        XCTAssertEqual(r.decided, UInt8(XPF_TRACE_REWRITE.rawValue))
        XCTAssertEqual(r.action, UInt8(XPF_TRACE_TRANSMIT.rawValue))
        XCTAssertEqual([r.from_zone, r.to_zone, UInt32(r.policy)], [0, 0, 0], "no zones or policy on the fast path")
        // The fast path's steps: the lookup, the check of the session's sides and its accounting
        // charged to the session; no first-path stage.
        assertStageTimes(r, steps: [XPF_TRACE_PARSE: 2, XPF_TRACE_SESSION: 3, XPF_TRACE_FILTER_IN: 1, XPF_TRACE_ROUTE: 1,
                                    XPF_TRACE_FILTER_OUT: 1, XPF_TRACE_REWRITE: 1])
    }

    func testAPolicyDenyNamesThePolicyAndDrops() throws {
        try start()
        try arm()
        let a = batch([tcp(40002, 23)])
        XCTAssertEqual(a[0].kind, .drop)
        let r = try XCTUnwrap(records().first)
        assertFlow(r, proto: 6, sport: 40002, dport: 23)
        XCTAssertEqual(r.stages, stages([XPF_TRACE_PARSE, XPF_TRACE_SESSION, XPF_TRACE_ROUTE, XPF_TRACE_TCP_CHECK, XPF_TRACE_ZONES,
                                         XPF_TRACE_POLICY]))
        XCTAssertEqual([r.from_zone, r.to_zone], [zone("trust"), zone("untrust")])
        XCTAssertEqual(r.policy, policyID("no-telnet"))
        XCTAssertEqual(r.policy_action, UInt8(XPF_POLICY_DENY.rawValue))
        XCTAssertEqual(r.decided, UInt8(XPF_TRACE_POLICY.rawValue))
        XCTAssertEqual(r.action, UInt8(XPF_TRACE_DROP.rawValue))
        XCTAssertEqual(r.reason, UInt8(XPF_DROP_POLICY_DENY.rawValue))
        XCTAssertEqual(r.session, 0, "nothing installed")
    }

    func testARejectIsADropAnsweredOutOfTheIngress() throws {
        try start()
        try arm()
        let a = batch([udp(40003, 53)])
        XCTAssertEqual(a[0].kind, .transmit, "the ICMP administratively prohibited goes out")
        let r = try XCTUnwrap(records().first)
        assertFlow(r, proto: 17, sport: 40003, dport: 53)
        XCTAssertEqual(r.stages, stages([XPF_TRACE_PARSE, XPF_TRACE_SESSION, XPF_TRACE_ROUTE, XPF_TRACE_ZONES, XPF_TRACE_POLICY]))
        XCTAssertEqual(r.policy, policyID("refuse-dns"))
        XCTAssertEqual(r.policy_action, UInt8(XPF_POLICY_REJECT.rawValue))
        XCTAssertEqual(r.decided, UInt8(XPF_TRACE_POLICY.rawValue))
        XCTAssertEqual(r.action, UInt8(XPF_TRACE_REPLY.rawValue))
        XCTAssertEqual(r.reason, UInt8(XPF_DROP_POLICY_REJECT.rawValue))
        XCTAssertEqual(r.egress, 0, "the reply leaves by the ingress interface")
    }

    func testAnInterfaceInNoZoneDropsAtTheZonesStage() throws {
        try start("", zones: "security-zone trust { interfaces { fw0.0; } }")
        try arm()
        batch([udp(40004, 9999)])
        let r = try XCTUnwrap(records().first)
        XCTAssertEqual(r.stages, stages([XPF_TRACE_PARSE, XPF_TRACE_SESSION, XPF_TRACE_ROUTE, XPF_TRACE_ZONES]))
        XCTAssertEqual(r.egress, 1)
        XCTAssertEqual([r.from_zone, r.to_zone], [zone("trust"), XPF_CFG_NONE])
        XCTAssertEqual(r.decided, UInt8(XPF_TRACE_ZONES.rawValue))
        XCTAssertEqual(r.action, UInt8(XPF_TRACE_DROP.rawValue))
        XCTAssertEqual(r.reason, UInt8(XPF_DROP_ZONE_NONE.rawValue))
        XCTAssertEqual(r.stages & PacketTrace.bit(XPF_TRACE_POLICY), 0, "no policy lookup")
    }

    func testATTLDropIsDecidedByTheParseStageAndAnswered() throws {
        try start()
        try arm()
        let a = batch([udp(40005, 9999, ttl: 1)])
        XCTAssertEqual(a[0].kind, .transmit, "time exceeded goes back")
        let r = try XCTUnwrap(records().first)
        assertFlow(r, proto: 17, sport: 40005, dport: 9999)
        XCTAssertEqual(r.stages, stages([XPF_TRACE_PARSE, XPF_TRACE_SESSION]), "the hop limit is checked after the lookup")
        XCTAssertEqual(r.decided, UInt8(XPF_TRACE_PARSE.rawValue))
        XCTAssertEqual(r.action, UInt8(XPF_TRACE_REPLY.rawValue))
        XCTAssertEqual(r.reason, UInt8(XPF_DROP_TTL.rawValue))
        XCTAssertEqual(r.egress, 0)
    }

    func testARecheckAfterACommitThatClosesTheSession() throws {
        try start(Self.allow9999)
        batch([udp(40006, 9999)])
        let index = try XCTUnwrap(sessionIndex(17, 40006, 9999))
        // A commit that no longer permits the flow: a new policy epoch.
        running = try ConfigModel.load(text: PolicyStageTests.text(policies: ""), file: "trace-tests").1
        try region.publishConfig(ConfigSnapshotImage(running))
        let slot = try XCTUnwrap(configFollower.poll())
        pipeline.adopt(config: region.configSlot(slot), generation: configFollower.generation)
        try arm()
        let a = batch([udp(40006, 9999)])
        XCTAssertEqual(a[0].kind, .drop)
        let r = try XCTUnwrap(records().first)
        assertFlow(r, proto: 17, sport: 40006, dport: 9999)
        XCTAssertEqual(r.stages, stages([XPF_TRACE_PARSE, XPF_TRACE_SESSION, XPF_TRACE_ROUTE, XPF_TRACE_RECHECK]))
        XCTAssertEqual([r.hit, r.direction], [1, 0])
        XCTAssertEqual(r.session, index)
        XCTAssertEqual(r.recheck_kept, 0)
        XCTAssertEqual(r.decided, UInt8(XPF_TRACE_RECHECK.rawValue))
        XCTAssertEqual(r.action, UInt8(XPF_TRACE_DROP.rawValue))
        XCTAssertEqual(r.reason, UInt8(XPF_DROP_POLICY_CHANGE.rawValue))
        XCTAssertNil(sessionIndex(17, 40006, 9999), "the owner removed it")
    }

    func testARecheckThatKeepsTheSessionGoesOnToTheRoute() throws {
        try start(Self.allow9999)
        batch([udp(40007, 9999)])
        try region.publishConfig(ConfigSnapshotImage(running))  // the same policies, but a new policy epoch
        let slot = try XCTUnwrap(configFollower.poll())
        pipeline.adopt(config: region.configSlot(slot), generation: configFollower.generation)
        try arm()
        XCTAssertEqual(batch([udp(40007, 9999)])[0].kind, .transmit)
        let r = try XCTUnwrap(records().first)
        XCTAssertEqual(r.stages, stages([XPF_TRACE_PARSE, XPF_TRACE_SESSION, XPF_TRACE_RECHECK, XPF_TRACE_ROUTE, XPF_TRACE_REWRITE]))
        XCTAssertEqual(r.recheck_kept, 1)
        XCTAssertEqual(r.decided, UInt8(XPF_TRACE_REWRITE.rawValue))
        XCTAssertEqual(r.action, UInt8(XPF_TRACE_TRANSMIT.rawValue))
    }

    func testAnICMPErrorShowsWhetherItQuotesASession() throws {
        typealias R = ICMPRelatedTests
        try start()
        let packet = udp(40050, 9999)
        let error = R.error4(from: Self.server4, to: Self.client4, R.Message.portUnreachable4,
                             quote: R.quote4(Array(packet[R.ethernetHeaderLength...])), macs: R.fromWAN4)
        try arm(["protocol", "icmp"])
        batch([error], ingress: 1)  // before the flow's session
        batch([packet])             // the session (UDP: not traced)
        batch([error], ingress: 1)
        let rs = records()
        XCTAssertEqual(rs.count, 2)
        let unmatched = rs[0], matched = rs[1]
        for r in rs {
            XCTAssertEqual([r.family, r.proto, r.ingress, r.icmp_type, r.icmp_code],
                           [4, R.protoICMP, 1, R.Message.portUnreachable4.0, R.Message.portUnreachable4.1])
        }
        XCTAssertEqual(unmatched.stages, stages([XPF_TRACE_PARSE, XPF_TRACE_SESSION, XPF_TRACE_ICMP_ERROR]))
        XCTAssertEqual([unmatched.hit, unmatched.icmp_matched], [0, 0])
        XCTAssertEqual(unmatched.decided, UInt8(XPF_TRACE_ICMP_ERROR.rawValue))
        XCTAssertEqual(unmatched.action, UInt8(XPF_TRACE_DROP.rawValue))
        XCTAssertEqual(unmatched.reason, UInt8(XPF_DROP_ICMP_UNMATCHED.rawValue))
        XCTAssertEqual(matched.stages, stages([XPF_TRACE_PARSE, XPF_TRACE_SESSION, XPF_TRACE_ICMP_ERROR, XPF_TRACE_ROUTE,
                                               XPF_TRACE_ZONES, XPF_TRACE_REWRITE]))
        XCTAssertEqual([matched.hit, matched.icmp_matched], [0, 1])
        XCTAssertEqual(matched.egress, 0, "toward the quoted packet's source")
        XCTAssertEqual([matched.from_zone, matched.to_zone], [zone("untrust"), zone("trust")])
        XCTAssertEqual(matched.decided, UInt8(XPF_TRACE_REWRITE.rawValue))
        XCTAssertEqual(matched.action, UInt8(XPF_TRACE_TRANSMIT.rawValue))
        XCTAssertEqual(matched.stages & PacketTrace.bit(XPF_TRACE_POLICY), 0, "an error needs no policy of its own")
    }

    // MARK: the filter and the count

    func testOnlyMatchingPacketsAreRecorded() throws {
        try start()
        try arm(["protocol", "tcp", "destination-port", "80", "destination-prefix", "10.10.2.0/24", "interface", "fw0.0"])
        batch([udp(40010, 80), tcp(40011, 23), tcp(40012, 80)])
        batch([tcp(40013, 80)], ingress: 1)  // another interface
        let rs = records()
        XCTAssertEqual(rs.count, 1)
        assertFlow(rs[0], proto: 6, sport: 40012, dport: 80)
        try arm(["source-prefix", "10.10.9.0/24"])
        batch([tcp(40014, 80)])
        XCTAssertEqual(records().count, 0)
    }

    func testTheCountStopsTheTrace() throws {
        try start()
        try arm(["destination-port", "9999"], count: 2)
        batch((0..<5).map { udp(41000 + UInt16($0), 9999) })
        let rs = records()
        XCTAssertEqual(rs.map { UInt16(bigEndian: $0.flow.sport) }, [41000, 41001])
        XCTAssertEqual(pipeline.trace.remaining, 0, "off: processBatch takes the untraced loop again")
        batch([udp(41005, 9999)])
        XCTAssertEqual(records().count, 0)
    }

    func testDropsOnlyRecordsDropsAndCountsThem() throws {
        try start()
        try arm(count: 2, dropsOnly: true)
        batch([tcp(40020, 80), tcp(40021, 23), udp(40022, 9999), udp(40023, 53), tcp(40024, 23)])
        let rs = records()
        XCTAssertEqual(rs.map { UInt16(bigEndian: $0.flow.sport) }, [40021, 40023], "the deny and the reject; sent packets skipped")
        XCTAssertEqual(rs.map(\.reason), [UInt8(XPF_DROP_POLICY_DENY.rawValue), UInt8(XPF_DROP_POLICY_REJECT.rawValue)])
    }

    func testADisarmedOrNeverArmedWorkerRecordsNothing() throws {
        try start()
        batch([tcp(40030, 80)])
        XCTAssertEqual(records().count, 0)
        try arm(count: 5)
        var off = xpf_trace_filter()
        off.id = traceID
        region.armTrace(off)  // count 0, as xpfd disarms
        pipeline.trace.follow()
        XCTAssertEqual(pipeline.trace.remaining, 0)
        batch([tcp(40031, 80)])
        XCTAssertEqual(records().count, 0)
    }

    func testFilterWordsCompileAsXpfdArmsThem() throws {
        let f = try TraceFilter(words: ["protocol", "udp", "source-prefix", "10.10.1.0/24", "destination-port", "53",
                                        "interface", "fw1"]).compiled(id: 7, count: 3, dropsOnly: true, interfaces: ["fw0", "fw1"])
        XCTAssertEqual([f.id, f.count], [7, 3])
        XCTAssertEqual(f.match, XPF_TRACE_PROTO.rawValue | XPF_TRACE_SRC_PREFIX.rawValue | XPF_TRACE_DST_PORT.rawValue
                       | XPF_TRACE_IF_IN.rawValue)
        XCTAssertEqual([f.proto, f.src_family, f.src_len, f.flags], [17, 4, 24, UInt8(XPF_TRACE_DROPS_ONLY.rawValue)])
        XCTAssertEqual(withUnsafeBytes(of: f.src) { Array($0[0..<4]) }, [10, 10, 1, 0])
        XCTAssertEqual([f.dport, f.if_in], [53, 0b10])
        XCTAssertThrowsError(try TraceFilter(words: ["interface", "fw9"]).compiled(id: 1, count: 1, dropsOnly: false,
                                                                                    interfaces: ["fw0", "fw1"]))
        XCTAssertThrowsError(try TraceFilter(words: ["zone", "trust"]))
        XCTAssertThrowsError(try TraceFilter(words: ["destination-port"]))
        XCTAssertThrowsError(try TraceFilter(words: ["destination-port", "70000"]))
    }

    func testARecordTravelsToXpfctlUnchanged() throws {
        try start()
        try arm()
        batch([tcp(40040, 23)])
        let p = try XCTUnwrap(collector.drain(id: traceID).first)
        let back = try XCTUnwrap(TracedPacket(line: Substring(p.line)))
        XCTAssertEqual(back.queue, p.queue)
        XCTAssertTrue(withUnsafeBytes(of: back.record) { a in withUnsafeBytes(of: p.record) { a.elementsEqual($0) } })
    }
}
