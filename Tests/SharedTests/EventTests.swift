// Security events through the real paths (issue 8): the pipeline emits into the worker's
// event ring (EventEmitter), EventDrain reads the ring as xpfd does, EventNames resolves
// the record. Checked field by field: the flow, interfaces, session id, counters, close
// reasons (idle, TCP FIN, TCP RST, clear), table full, a full ring's drops and the
// sequence gap they leave, unknown types skipped.
import CXPF
import Shared
import XCTest

final class EventTests: XCTestCase {
    typealias F = Frames
    let fx = ShmTestFixture()
    var region: ShmRegion!
    var pipeline: Pipeline!
    var counters = WorkerCounters()
    var drain: EventDrain!
    var names = EventNames(hostName: "fw-test", interfaces: ["lan", "wan"])
    static let client4 = F.v4(10, 10, 1, 10)
    static let server4 = F.v4(10, 10, 2, 2)
    static let udpTimeoutS = 60

    override func setUpWithError() throws {
        continueAfterFailure = false
        try makeRegion(capacity: 1024)
    }

    func makeRegion(capacity: Int) throws {
        region = try fx.region("ev", queues: 1, interfaces: 2, sessionCapacity: capacity)
        try ForwardTests.setUpInterfaces(region)
        try region.publishConfig(ForwardTests.snapshot(udp: Self.udpTimeoutS))
        try region.publishFIB { ForwardTests.fillFIB($0, gatewayKnown: false) }
        var cf: SnapshotFollower?, ff: SnapshotFollower?
        (pipeline, _) = ForwardTests.makePipeline(region, &cf, &ff)
        pipeline.nowMs = 5_000
        pipeline.nowS = 100
        pipeline.nowRealtimeNs = 1_796_000_000_123_000_000
        counters = WorkerCounters()
        drain = EventDrain(region: region)
    }

    override func tearDown() {
        pipeline = nil
        region = nil
        fx.removeAll()
        super.tearDown()
    }

    @discardableResult
    func send(_ frame: [UInt8], ingress: UInt8 = 0) -> PacketAction {
        var buf = frame + [UInt8](repeating: 0, count: 64)
        return buf.withUnsafeMutableBytes { pipeline.process(frame: $0.baseAddress!, length: frame.count, ingress: ingress, counters: &counters) }
    }

    /// Every event the ring holds now: (header, resolved record).
    func drained() -> [(xpf_event_hdr, RTFlowRecord?)] {
        var out: [(xpf_event_hdr, RTFlowRecord?)] = []
        drain.drain(budget: UInt32(XPF_EVENT_RING_SIZE)) { e in out.append((e.pointee.hdr, names.record(e))) }
        return out
    }

    func udp(_ sport: UInt16, payload: Int = 100) -> [UInt8] {
        F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(sport, 5001, payload: [UInt8](repeating: 7, count: payload)))
    }

    func testSessionCreateAndCloseCarryTheFlowTheInterfacesAndTheCounters() {
        let m = ConfigModel.IPAddress("10.10.1.10")!, s = ConfigModel.IPAddress("10.10.2.2")!
        XCTAssertEqual(send(udp(40000)).kind, .transmit)
        var ev = drained()
        XCTAssertEqual(ev.count, 1)
        XCTAssertEqual(ev[0].0.type, UInt8(XPF_EV_SESSION_CREATE.rawValue))
        XCTAssertEqual(ev[0].0.sequence, 1)
        XCTAssertEqual(Int(ev[0].0.length), MemoryLayout<xpf_event_hdr>.size + MemoryLayout<xpf_event_flow>.size)
        let c = ev[0].1!
        XCTAssertEqual(c.kind, .sessionCreate)
        XCTAssertEqual(c.realtimeNanos, 1_796_000_000_123_000_000)
        XCTAssertEqual(c.hostName, "fw-test")
        XCTAssertEqual([c.sourceAddress, c.destinationAddress, c.natSourceAddress, c.natDestinationAddress], [m, s, m, s])
        XCTAssertEqual([c.sourcePort, c.destinationPort, c.natSourcePort, c.natDestinationPort], [40000, 5001, 40000, 5001])
        XCTAssertEqual(c.protocolID, 17)
        XCTAssertEqual(c.interfaceName, "lan")
        XCTAssertNotEqual(c.sessionID, 0)
        XCTAssertEqual(counters.s.events_emitted, 1)

        // Two more from the client, one reply; then the flow goes idle past its timeout.
        send(udp(40000)); send(udp(40000, payload: 10))
        send(F.frame4(src: Self.server4, dst: Self.client4, proto: 17, l4: F.udp(5001, 40000, payload: [1, 2, 3]),
                      from: F.serverMAC, to: F.wanMAC), ingress: 1)
        XCTAssertEqual(drained().count, 0, "session hits emit nothing")
        pipeline.nowMs &+= UInt32(Self.udpTimeoutS * 1000 + 1)
        pipeline.nowS &+= 61
        XCTAssertEqual(pipeline.ageSessions(budget: 1024, counters: &counters), 1)
        ev = drained()
        XCTAssertEqual(ev.count, 1)
        XCTAssertEqual(ev[0].0.type, UInt8(XPF_EV_SESSION_CLOSE.rawValue))
        XCTAssertEqual(ev[0].0.sequence, 2)
        let x = ev[0].1!
        XCTAssertEqual(x.reason, "idle Timeout")
        XCTAssertEqual(x.sessionID, c.sessionID)
        XCTAssertEqual([x.sourceAddress, x.destinationAddress], [m, s])
        XCTAssertEqual(x.packetsFromClient, 3)
        let headers: UInt64 = 14 + 20 + 8  // Ethernet, IPv4, UDP
        XCTAssertEqual(x.bytesFromClient, 3 * headers + 100 + 100 + 10)
        XCTAssertEqual(x.packetsFromServer, 1)
        XCTAssertEqual(x.bytesFromServer, headers + 3)
        XCTAssertEqual(x.elapsedSeconds, 61)
        XCTAssertEqual(drain.drained, 2)
        XCTAssertEqual(counters.s.events_dropped, 0)
    }

    func tcpCloseReason(flags: UInt8, sport: UInt16) -> String? {
        send(F.frame4(src: Self.client4, dst: Self.server4, proto: 6, l4: F.tcp(sport, 80, flags: TCPFlag.syn)))
        send(F.frame4(src: Self.server4, dst: Self.client4, proto: 6, l4: F.tcp(80, sport, flags: TCPFlag.syn | TCPFlag.ack),
                      from: F.serverMAC, to: F.wanMAC), ingress: 1)
        send(F.frame4(src: Self.client4, dst: Self.server4, proto: 6, l4: F.tcp(sport, 80, flags: flags)))
        _ = drained()
        pipeline.nowMs &+= 10_001  // closing-timeout 10 s (ForwardTests.snapshot)
        _ = pipeline.ageSessions(budget: 1024, counters: &counters)
        let ev = drained()
        guard ev.count == 1 else { XCTFail("expected one close event, got \(ev.count)"); return nil }
        return ev[0].1?.reason
    }

    func testTCPCloseReasonsNameFINAndRST() {
        XCTAssertEqual(tcpCloseReason(flags: TCPFlag.fin | TCPFlag.ack, sport: 41000), "TCP FIN")
        XCTAssertEqual(tcpCloseReason(flags: TCPFlag.rst, sport: 41001), "TCP RST")
    }

    func testClearClosesEverySessionWithReasonClear() {
        for p in 0..<3 { send(udp(42000 + UInt16(p))) }
        _ = drained()
        let slice = pipeline.clearSessions(counters: &counters)
        XCTAssertEqual(slice.removed, 3)
        XCTAssertTrue(slice.finished, "a partition of 1024 records is one slice")
        let ev = drained()
        XCTAssertEqual(ev.map { $0.1?.reason }, ["clear", "clear", "clear"])
        XCTAssertEqual(Set(ev.compactMap { $0.1?.sourcePort }), [42000, 42001, 42002])
    }

    /// A clear examines no more records than the event ring has room for: with the ring
    /// nearly full it advances a few records per slice and drops no close event.
    func testClearPacesItselfToTheEventRing() {
        for p in 0..<8 { send(udp(46000 + UInt16(p))) }
        _ = drained()
        // Fill the ring but for 3 entries (events nobody drains yet).
        let fill = Int(XPF_EVENT_RING_SIZE) - 3
        for _ in 0..<fill { pipeline.emitSessionEvent(XPF_EV_SESSION_CREATE, index: 0, reason: XPF_CLOSE_NONE, counters: &counters) }
        let slice = pipeline.clearSessions(counters: &counters)
        XCTAssertFalse(slice.finished, "3 records examined of 1024")
        XCTAssertLessThanOrEqual(slice.removed, 3)
        XCTAssertEqual(counters.s.events_dropped, 0)
        var removed = slice.removed, passes = 1
        while passes < 64 {  // bounded: the drain below frees the ring each pass
            _ = drained()
            let s = pipeline.clearSessions(counters: &counters)
            removed += s.removed
            passes += 1
            if s.finished { break }
        }
        XCTAssertEqual(removed, 8)
        XCTAssertEqual(counters.s.events_dropped, 0)
    }

    func testTableFullEmitsTheRefusedFlow() throws {
        try makeRegion(capacity: 2)
        send(udp(43000)); send(udp(43001))
        let a = send(udp(43002))
        XCTAssertEqual(a.kind, .drop)
        XCTAssertEqual(a.reason, UInt8(XPF_DROP_SESSION_FULL.rawValue))
        let ev = drained()
        XCTAssertEqual(ev.map { $0.0.type }, [XPF_EV_SESSION_CREATE, XPF_EV_SESSION_CREATE, XPF_EV_TABLE_FULL].map { UInt8($0.rawValue) })
        let r = try XCTUnwrap(ev[2].1)
        XCTAssertEqual(r.kind, .tableFull)
        XCTAssertEqual(r.sourcePort, 43002)
        XCTAssertEqual(r.destinationAddress, ConfigModel.IPAddress("10.10.2.2")!)
        XCTAssertEqual(r.interfaceName, "lan")
        XCTAssertEqual(r.sessionID, 0)
    }

    /// a full table is an exception too, with the refused flow; repeats within a
    /// second are counted on the same entry, later ones take a new entry.
    func testTableFullIsARecentExceptionAndRepeatsAreCounted() throws {
        try makeRegion(capacity: 1)
        send(udp(45000))
        send(udp(45001)); send(udp(45002))
        var list = region.exceptions()
        XCTAssertEqual(list.count, 1)
        let e = try XCTUnwrap(list.first)
        XCTAssertEqual(e.kindName, "table-full")
        XCTAssertEqual(e.worker, 0)
        XCTAssertEqual(e.count, 2)
        XCTAssertEqual(e.family, 4)
        XCTAssertEqual(e.proto, 17)
        XCTAssertEqual(UInt16(bigEndian: e.flow.sport), 45001, "the first refused flow")
        XCTAssertEqual(UInt16(bigEndian: e.flow.dport), 5001)
        XCTAssertEqual(e.rule, XPF_CFG_NONE)
        XCTAssertEqual(e.firstNs, pipeline.nowRealtimeNs)
        pipeline.nowRealtimeNs += XPF_EXCEPTION_COALESCE_NS
        send(udp(45003))
        list = region.exceptions()
        XCTAssertEqual(list.map(\.count), [2, 1])
        XCTAssertEqual(list.last.map { UInt16(bigEndian: $0.flow.sport) }, 45003)
    }

    /// A ring nobody drains fills; every further event is dropped and counted, never
    /// waited for, and takes a sequence number, so the drain sees the gap.
    func testFullRingDropsCountsAndLeavesASequenceGap() {
        let ring = Int(XPF_EVENT_RING_SIZE)
        for p in 0..<(ring + 5) { send(udp(UInt16(10_000 + p))) }
        XCTAssertEqual(counters.s.events_emitted, UInt64(ring + 5))
        XCTAssertEqual(counters.s.events_dropped, 5)
        var ev = drained()
        XCTAssertEqual(ev.count, ring)
        XCTAssertEqual(ev.first?.0.sequence, 1)
        XCTAssertEqual(ev.last?.0.sequence, UInt64(ring))
        send(udp(9_999))
        ev = drained()
        XCTAssertEqual(ev.map { $0.0.sequence }, [UInt64(ring + 6)], "5 dropped between")
        XCTAssertEqual(counters.s.events_emitted, UInt64(drain.drained) + counters.s.events_dropped)
    }

    /// a reader skips a type it does not know and goes on with the next record.
    func testUnknownTypeIsSkipped() {
        let w = region.worker(0)
        var raw = RingProducer<xpf_event>(header: xpf_wb_event_ring(w), entries: xpf_wb_event_entries(w))
        let (i, n) = raw.reserve(1)
        XCTAssertEqual(n, 1)
        raw.entry(i).pointee.hdr.type = 200
        raw.entry(i).pointee.hdr.length = 40
        raw.submit(1)
        pipeline.events = EventEmitter(block: w, queue: 0)  // continues after the raw entry
        send(udp(44000))
        let ev = drained()
        XCTAssertEqual(drain.skipped, 1)
        XCTAssertEqual(ev.count, 1)
        XCTAssertEqual(ev[0].1?.sourcePort, 44000)
    }

    // MARK: verdict events (SCREEN_DROP, FILTER_LOG, NAT_EXCEPTION): encoder → ring → drain → names → line

    /// The SRX-like corpus configuration: screens, filters, NAT rule sets and pools.
    static func edgeModel() throws -> ConfigModel {
        let url = ConfigCorpusTests.corpus.appendingPathComponent("good/srx-edge.conf")
        return try ConfigModel.load(text: String(contentsOf: url, encoding: .utf8), file: url.path).1
    }

    /// Emits one verdict event through the worker's emitter and returns the resolved record
    /// and its RFC 5424 line.
    func verdict(_ type: xpf_event_type, _ names: EventNames, flow: PacketFlow, object: UInt32, item: UInt32,
                 action: UInt8, ipLength: UInt16 = 0, natKind: UInt8 = 0) -> (RTFlowRecord, String)? {
        let now = pipeline.nowRealtimeNs
        pipeline.events.emit(type, ingress: flow.ingress, nowMs: pipeline.nowMs, length: verdictEventLength, counters: &counters) {
            VerdictEvent.write($0, flow: flow, realtimeNs: now, generation: 7, queue: 0, object: object, item: item,
                               action: action, ipLength: ipLength, natKind: natKind)
        }
        var out: (RTFlowRecord, String)?
        drain.drain(budget: UInt32(XPF_EVENT_RING_SIZE)) { e in
            XCTAssertEqual(Int(e.pointee.hdr.length), verdictEventLength)
            guard let r = names.record(e) else { return }
            let b = SyslogLineBuffer()
            RTFlowFormatter().appendStructured(r, brief: true, to: b)
            out = (r, String(decoding: b.bytes, as: UTF8.self))
        }
        return out
    }

    func tcpFlow(ingress: UInt8) -> PacketFlow {
        var f = PacketFlow()
        f.family = 4; f.proto = 6; f.ingress = ingress; f.egress = 1
        withUnsafeMutableBytes(of: &f.tuple.src) { $0.copyBytes(from: F.be32(F.v4(198, 51, 100, 7))) }
        withUnsafeMutableBytes(of: &f.tuple.dst) { $0.copyBytes(from: F.be32(F.v4(203, 0, 113, 2))) }
        f.tuple.sport = UInt16(40001).bigEndian
        f.tuple.dport = UInt16(25).bigEndian
        return f
    }

    func testVerdictEventsDecodeEveryFieldAndResolveNames() throws {
        let model = try Self.edgeModel()
        var names = EventNames(hostName: "fw1", interfaces: ["wan0", "lan0", "lan1", "dmz0"])
        names.adopt(generation: 7, model: model)
        let src = ConfigModel.IPAddress("198.51.100.7")!, dst = ConfigModel.IPAddress("203.0.113.2")!

        // Screen: SYN flood on wan0 (zone internet), dropped.
        let screen = model.screens.firstIndex { $0.name == "internet-screen" }!
        guard let (s, sLine) = verdict(XPF_EV_SCREEN_DROP, names, flow: tcpFlow(ingress: 0), object: UInt32(screen),
                                       item: XPF_SCREEN_SYN_FLOOD.rawValue, action: UInt8(XPF_SCREEN_DROPPED.rawValue))
        else { return XCTFail("no screen record") }
        XCTAssertEqual(s.kind, .screenDrop)
        XCTAssertEqual(s.screenClass, .tcp)
        XCTAssertEqual(s.attackName, "SYN flood!")
        XCTAssertEqual(s.action, "drop")
        XCTAssertEqual([s.sourceAddress, s.destinationAddress], [src, dst])
        XCTAssertEqual([s.sourcePort, s.destinationPort], [40001, 25])
        XCTAssertEqual(s.interfaceName, "wan0")
        XCTAssertEqual(s.sourceZoneName, "internet")
        XCTAssertEqual(s.realtimeNanos, pipeline.nowRealtimeNs)
        XCTAssertTrue(sLine.contains(" RT_IDS - RT_SCREEN_TCP [junos@2636.1.1.1.2.129 attack-name=\"SYN flood!\" "
            + "source-address=\"198.51.100.7\" source-port=\"40001\" destination-address=\"203.0.113.2\" "
            + "destination-port=\"25\" source-zone-name=\"internet\" interface-name=\"wan0\" action=\"drop\"]"), sLine)
        // The class is the screen's layer, and alarm-without-drop says so.
        let alarm = verdict(XPF_EV_SCREEN_DROP, names, flow: tcpFlow(ingress: 0), object: UInt32(screen),
                            item: XPF_SCREEN_TEARDROP.rawValue, action: UInt8(XPF_SCREEN_ALARM_ONLY.rawValue))?.0
        XCTAssertEqual(alarm?.screenClass, .ip)
        XCTAssertEqual(alarm?.attackName, "Teardrop attack!")
        XCTAssertEqual(alarm?.action, "alarm-without-drop")
        XCTAssertEqual(EventNames.screenAttacks.count, Int(XPF_SCREEN_CHECK_COUNT.rawValue), "a name for every screen check")

        // Filter log: term `rest` of filter dmz-out, found by its TERMS index as the snapshot encodes it.
        let filter = model.filters.firstIndex { $0.name == "dmz-out" }!
        let termIndex = try ConfigSnapshotImage(model).withView { v in
            v.filter(filter).terms.first + UInt32(model.filters[filter].terms.firstIndex { $0.name == "rest" }!)
        }
        // dmz-out is an output filter: its event carries the egress (dmz0), and the line names it.
        var out = tcpFlow(ingress: 1)
        out.egress = 3
        guard let (fl, _) = verdict(XPF_EV_FILTER_LOG, names, flow: out, object: UInt32(filter), item: termIndex,
                                    action: UInt8(XPF_TERM_DISCARD.rawValue), ipLength: 60)
        else { return XCTFail("no filter record") }
        XCTAssertEqual(fl.kind, .filterLog)
        XCTAssertEqual([fl.filterName, fl.termName, fl.action], ["dmz-out", "rest", "discard"])
        XCTAssertEqual(fl.packetLength, 60)
        XCTAssertEqual(fl.interfaceName, "dmz0")
        XCTAssertEqual(fl.protocolID, 6)
        // An input filter's event carries no egress: the line names the ingress.
        var input = tcpFlow(ingress: 3)
        input.egress = .max
        let inputLine = verdict(XPF_EV_FILTER_LOG, names, flow: input, object: UInt32(filter), item: termIndex,
                                action: UInt8(XPF_TERM_DISCARD.rawValue), ipLength: 60)?.0
        XCTAssertEqual(inputLine?.interfaceName, "dmz0")

        // NAT exception: destination rule smtp-in, pool smtp, exhausted.
        let rule = try ConfigSnapshotImage(model).withView { v in
            v.records(XPF_CFG_SEC_DNAT_RULE_SETS, as: xpf_cfg_nat_rule_set.self)[0].rules.first
        }
        let pool = model.nat.destinationPools.firstIndex { $0.name == "smtp" }!
        guard let (n, nLine) = verdict(XPF_EV_NAT_EXCEPTION, names, flow: tcpFlow(ingress: 0), object: rule, item: UInt32(pool),
                                       action: UInt8(XPF_NAT_FAIL_POOL_EXHAUSTED.rawValue),
                                       natKind: UInt8(XPF_NAT_KIND_DESTINATION.rawValue))
        else { return XCTFail("no NAT record") }
        XCTAssertEqual(n.kind, .natException)
        XCTAssertEqual([n.ruleName, n.poolName], ["smtp-in", "smtp"])
        XCTAssertEqual(n.detail, "pool exhausted: no free address or port")
        XCTAssertTrue(nLine.contains("XPF_NAT_EXCEPTION"), nLine)
        XCTAssertTrue(nLine.contains("smtp-in") && nLine.contains("smtp"), nLine)

        // Indices of a generation no longer known resolve to N/A, never to another object.
        let stale = verdict(XPF_EV_FILTER_LOG, names, flow: tcpFlow(ingress: 3), object: 999, item: 9999,
                            action: UInt8(XPF_TERM_ACCEPT.rawValue))?.0
        XCTAssertEqual(stale?.filterName, JunosAbsent.notApplicable)
        XCTAssertEqual(stale?.termName, JunosAbsent.notApplicable)
        XCTAssertEqual(counters.s.events_emitted, 6)
        XCTAssertEqual(counters.s.events_dropped, 0)
    }

    /// SESSION_DENY: the flow payload with the deciding policy, the zones and what went out;
    /// xpfd names the policy and zones of the generation, and the reason says `reject`
    /// only when the reply was sent.
    func testDenyEventNamesThePolicyTheZonesAndWhatWentOut() throws {
        let model = try Self.edgeModel()
        var names = EventNames(hostName: "fw1", interfaces: ["wan0", "lan0", "lan1", "dmz0"])
        names.adopt(generation: 7, model: model)
        let policy = model.policies.all.firstIndex { $0.name == "staff-dns" }!
        let staff = model.zones.firstIndex { $0.name == "staff" }!, internet = model.zones.firstIndex { $0.name == "internet" }!
        var reasons: [String] = []
        for action in [XPF_DENY_DROPPED, XPF_DENY_REJECT_SENT] {
            var flow = tcpFlow(ingress: 1)
            flow.fromZone = UInt16(staff)
            flow.toZone = UInt16(internet)
            let now = pipeline.nowRealtimeNs
            pipeline.events.emit(XPF_EV_SESSION_DENY, ingress: 1, nowMs: pipeline.nowMs, length: flowEventLength, counters: &counters) {
                VerdictEvent.writeFlow($0, flow: flow, realtimeNs: now, generation: 7, queue: 0)
                let f = $0.assumingMemoryBound(to: xpf_event_flow.self)  // Safe: the entry's union holds an xpf_event_flow
                f.pointee.policy = UInt32(policy)
                f.pointee.reason = UInt8(action.rawValue)
            }
            var record: RTFlowRecord?
            drain.drain(budget: UInt32(XPF_EVENT_RING_SIZE)) { record = names.record($0) }
            let r = try XCTUnwrap(record)
            XCTAssertEqual(r.kind, .sessionDeny)
            XCTAssertEqual(r.policyName, "staff-dns")
            XCTAssertEqual([r.sourceZoneName, r.destinationZoneName], ["staff", "internet"])
            XCTAssertEqual(r.interfaceName, "lan0")
            XCTAssertEqual(r.sessionID, 0, "a denied flow never became a session")
            XCTAssertEqual([r.sourcePort, r.destinationPort], [40001, 25])
            reasons.append(r.reason)
        }
        XCTAssertEqual(reasons, [JunosReason.deniedByPolicy, JunosReason.rejectedByPolicy])
    }
}
