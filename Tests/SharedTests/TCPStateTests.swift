// Tests for Sources/Shared/Pipeline/TCPStage.swift through the real packet path
// (Pipeline.process / processBatch over a published snapshot, as a worker runs it): the
// TCP state machine of a session and the timeout each state gets when the session ages
// (ageSessions), Junos' default tcp-session check (a first packet that is not a SYN is
// dropped `tcp_not_syn`: no session, no event), `no-syn-check` admitting it, and the
// `tcp-session no-syn-check / no-sequence-check` knobs from text to the snapshot's flags.
import CXPF
import XCTest
@testable import Shared

final class TCPStateTests: XCTestCase {
    typealias F = Frames
    let fx = ShmTestFixture()
    var region: ShmRegion!
    var pipeline: Pipeline!
    var counters = WorkerCounters()
    var drain: EventDrain!
    static let client4 = F.v4(10, 10, 1, 10)
    static let server4 = F.v4(10, 10, 2, 2)
    static let serverPort: UInt16 = 443
    // The timeouts of `snapshot` (seconds).
    static let initialS: UInt32 = 20
    static let establishedS: UInt32 = 1800
    static let closingS: UInt32 = 10
    static let ack = TCPFlag.ack, syn = TCPFlag.syn, fin = TCPFlag.fin, rst = TCPFlag.rst, psh = TCPFlag.psh

    override func setUpWithError() throws {
        continueAfterFailure = false
        try makePipeline(noSynCheck: false)
    }

    override func tearDown() {
        pipeline = nil
        region = nil
        fx.removeAll()
        super.tearDown()
    }

    static func snapshot(noSynCheck: Bool) throws -> ConfigSnapshotImage {
        let text = """
        system { dataplane { interfaces [ fw0 fw1 ]; batch-size 64; neighbor-hold-time 1000; } }
        security { flow { tcp-session { established-timeout \(establishedS); closing-timeout \(closingS);
                                        initial-timeout \(initialS); \(noSynCheck ? "no-syn-check;" : "") } } }
        \(ForwardTests.securityText)
        """
        return try ConfigSnapshotImage(ConfigModel.load(text: text, file: "tcp-state-tests").1)
    }

    func makePipeline(noSynCheck: Bool) throws {
        region = try fx.region(noSynCheck ? "tcpn" : "tcp", queues: 1, interfaces: 2, sessionCapacity: 1024)
        try ForwardTests.setUpInterfaces(region)
        try region.publishConfig(Self.snapshot(noSynCheck: noSynCheck))
        try region.publishFIB { ForwardTests.fillFIB($0, gatewayKnown: false) }
        var cf: SnapshotFollower?, ff: SnapshotFollower?
        (pipeline, _) = ForwardTests.makePipeline(region, &cf, &ff)
        pipeline.nowMs = 5_000
        pipeline.nowS = 100
        counters = WorkerCounters()
        drain = EventDrain(region: region)
    }

    // MARK: helpers

    /// Client → server (LAN, ingress 0): the initiator's direction.
    func c2s(_ sport: UInt16, _ flags: UInt8) -> [UInt8] {
        F.frame4(src: Self.client4, dst: Self.server4, proto: 6, l4: F.tcp(sport, Self.serverPort, flags: flags))
    }

    /// Server → client (WAN, ingress 1): the responder's direction.
    func s2c(_ sport: UInt16, _ flags: UInt8) -> [UInt8] {
        F.frame4(src: Self.server4, dst: Self.client4, proto: 6, l4: F.tcp(Self.serverPort, sport, flags: flags),
                 from: F.serverMAC, to: F.wanMAC)
    }

    /// One frame through `Pipeline.process`; a drop is counted as the worker's loop counts it.
    @discardableResult
    func send(_ frame: [UInt8], ingress: UInt8) -> PacketAction {
        var buf = frame + [UInt8](repeating: 0, count: ForwardTests.frameHeadroom)
        let a = buf.withUnsafeMutableBytes {
            pipeline.process(frame: $0.baseAddress!, length: frame.count, ingress: ingress, counters: &counters)
        }
        if a.kind == .drop { counters.drop(a.reason) }
        return a
    }

    func client(_ sport: UInt16, _ flags: UInt8, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(send(c2s(sport, flags), ingress: 0).kind, .transmit, file: file, line: line)
    }

    func server(_ sport: UInt16, _ flags: UInt8, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(send(s2c(sport, flags), ingress: 1).kind, .transmit, file: file, line: line)
    }

    func session(_ sport: UInt16) -> UnsafeMutablePointer<xpf_session>? {
        var k = FlowKey()
        k.family = 4
        k.proto = 6
        withUnsafeMutableBytes(of: &k.tuple.src) { $0.copyBytes(from: F.be32(Self.client4)) }
        withUnsafeMutableBytes(of: &k.tuple.dst) { $0.copyBytes(from: F.be32(Self.server4)) }
        k.tuple.sport = sport.bigEndian
        k.tuple.dport = Self.serverPort.bigEndian
        return region.sessionTable.lookup(&k).map { region.sessions + $0.index }
    }

    func assertState(_ sport: UInt16, _ state: xpf_tcp_state, _ what: String = "", file: StaticString = #filePath, line: UInt = #line) {
        guard let rec = session(sport) else { return XCTFail("\(what): no session for port \(sport)", file: file, line: line) }
        let got = rec.pointee.tcp_state
        XCTAssertEqual(got, UInt8(state.rawValue),
                       "\(what): expected \(String(cString: xpf_tcp_state_name(state.rawValue))), got \(xpf_tcp_state_name(UInt32(got)).map { String(cString: $0) } ?? "\(got)")",
                       file: file, line: line)
    }

    /// The only live session, idle from now, survives `timeoutS` seconds to the
    /// millisecond and is aged out one millisecond later (with one close event).
    func assertAgesOutAfter(_ timeoutS: UInt32, _ what: String = "", file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(pipeline.partition.liveCount, 1, what, file: file, line: line)
        _ = drained()
        pipeline.nowMs &+= timeoutS * 1000
        XCTAssertEqual(pipeline.ageSessions(budget: 1024, counters: &counters), 0, "\(what): alive at its timeout", file: file, line: line)
        pipeline.nowMs &+= 1
        XCTAssertEqual(pipeline.ageSessions(budget: 1024, counters: &counters), 1, "\(what): aged out past its timeout", file: file, line: line)
        XCTAssertEqual(pipeline.partition.liveCount, 0, what, file: file, line: line)
        XCTAssertEqual(drained().map { $0.type }, [UInt8(XPF_EV_SESSION_CLOSE.rawValue)], what, file: file, line: line)
    }

    func drained() -> [xpf_event_hdr] {
        var out: [xpf_event_hdr] = []
        drain.drain(budget: UInt32(XPF_EVENT_RING_SIZE)) { out.append($0.pointee.hdr) }
        return out
    }

    func timeoutS(_ state: xpf_tcp_state) -> UInt32 {
        pipeline.timeoutMs(proto: 6, tcpState: UInt8(state.rawValue)) / 1000
    }

    // MARK: state machine and timeouts

    func testEveryStateMapsToItsTimeout() {
        XCTAssertEqual(timeoutS(XPF_TCP_INITIAL), Self.initialS)
        XCTAssertEqual(timeoutS(XPF_TCP_SYN_ACK), Self.initialS)
        XCTAssertEqual(timeoutS(XPF_TCP_ESTABLISHED), Self.establishedS)
        for s in [XPF_TCP_FIN_INITIATOR, XPF_TCP_FIN_RESPONDER, XPF_TCP_FIN_BOTH, XPF_TCP_CLOSING] {
            XCTAssertEqual(timeoutS(s), Self.closingS, String(cString: xpf_tcp_state_name(s.rawValue)))
        }
        XCTAssertEqual(String(cString: xpf_tcp_state_name(XPF_TCP_SYN_ACK.rawValue)), "syn-ack")
    }

    func testHandshakeAndInitiatorCloseWalkTheStates() {
        let p: UInt16 = 50000
        client(p, Self.syn)
        assertState(p, XPF_TCP_INITIAL)
        client(p, Self.syn)                          // a retransmitted SYN changes nothing
        assertState(p, XPF_TCP_INITIAL)
        server(p, Self.syn | Self.ack)
        assertState(p, XPF_TCP_SYN_ACK)
        server(p, Self.ack | Self.psh)               // the responder's data before the ACK: still a handshake
        assertState(p, XPF_TCP_SYN_ACK)
        client(p, Self.ack)
        assertState(p, XPF_TCP_ESTABLISHED)
        client(p, Self.ack | Self.psh)
        server(p, Self.ack)
        assertState(p, XPF_TCP_ESTABLISHED)
        client(p, Self.fin | Self.ack)
        assertState(p, XPF_TCP_FIN_INITIATOR)
        server(p, Self.ack | Self.psh)               // half closed: the responder still sends
        client(p, Self.fin | Self.ack)               // the FIN again
        assertState(p, XPF_TCP_FIN_INITIATOR)
        server(p, Self.fin | Self.ack)
        assertState(p, XPF_TCP_FIN_BOTH)
        client(p, Self.ack)
        assertState(p, XPF_TCP_CLOSING)
        XCTAssertEqual(session(p)!.pointee.flags, UInt8(XPF_SESS_FIN_SEEN.rawValue | XPF_SESS_LOG_CLOSE.rawValue))
        XCTAssertEqual(counters.s.sessions_created, 1)
        assertAgesOutAfter(Self.closingS)
    }

    func testResponderCloseFirst() {
        let p: UInt16 = 50001
        client(p, Self.syn); server(p, Self.syn | Self.ack); client(p, Self.ack)
        server(p, Self.fin | Self.ack)
        assertState(p, XPF_TCP_FIN_RESPONDER)
        client(p, Self.fin | Self.ack)
        assertState(p, XPF_TCP_FIN_BOTH)
        server(p, Self.ack)
        assertState(p, XPF_TCP_CLOSING)
    }

    /// Each state's session lives exactly its state's timeout.
    func testEachStateAgesOutAfterItsTimeout() {
        typealias Step = (fromClient: Bool, flags: UInt8)
        let handshake: [Step] = [(true, Self.syn), (false, Self.syn | Self.ack), (true, Self.ack)]
        let cases: [(String, [Step], xpf_tcp_state, UInt32)] = [
            ("SYN", [(true, Self.syn)], XPF_TCP_INITIAL, Self.initialS),
            ("SYN-ACK", Array(handshake.prefix(2)), XPF_TCP_SYN_ACK, Self.initialS),
            ("established", handshake, XPF_TCP_ESTABLISHED, Self.establishedS),
            ("FIN from the initiator", handshake + [(true, Self.fin | Self.ack)], XPF_TCP_FIN_INITIATOR, Self.closingS),
            ("FIN from the responder", handshake + [(false, Self.fin | Self.ack)], XPF_TCP_FIN_RESPONDER, Self.closingS),
            ("FIN both ways", handshake + [(true, Self.fin | Self.ack), (false, Self.fin | Self.ack)], XPF_TCP_FIN_BOTH, Self.closingS),
            ("time-wait", handshake + [(true, Self.fin | Self.ack), (false, Self.fin | Self.ack), (true, Self.ack)],
             XPF_TCP_CLOSING, Self.closingS),
            ("RST after established", handshake + [(false, Self.rst)], XPF_TCP_CLOSING, Self.closingS),
        ]
        for (i, (name, steps, state, timeout)) in cases.enumerated() {
            let p = 51000 + UInt16(i)
            for s in steps { s.fromClient ? client(p, s.flags) : server(p, s.flags) }
            assertState(p, state, name)
            assertAgesOutAfter(timeout, name)
        }
    }

    func testSYNThenRSTClosesWithinTheClosingTimeout() {
        let p: UInt16 = 52000
        client(p, Self.syn)
        server(p, Self.rst | Self.ack)               // port closed on the server
        assertState(p, XPF_TCP_CLOSING)
        XCTAssertEqual(session(p)!.pointee.flags, UInt8(XPF_SESS_RST_SEEN.rawValue | XPF_SESS_LOG_CLOSE.rawValue))
        assertAgesOutAfter(Self.closingS)            // not the initial timeout
        XCTAssertLessThan(Self.closingS, Self.initialS)
    }

    func testANewSYNOnAClosedSessionStartsOver() {
        let p: UInt16 = 52001
        client(p, Self.syn); server(p, Self.syn | Self.ack); client(p, Self.ack)
        client(p, Self.rst)
        assertState(p, XPF_TCP_CLOSING)
        client(p, Self.syn)                          // the ports reused before the session aged out
        assertState(p, XPF_TCP_INITIAL)
        XCTAssertEqual(session(p)!.pointee.flags, UInt8(XPF_SESS_LOG_CLOSE.rawValue),
                       "the old close reason is gone, the policy's log flag stays")
        server(p, Self.syn | Self.ack); client(p, Self.ack)
        assertState(p, XPF_TCP_ESTABLISHED)
        XCTAssertEqual(counters.s.sessions_created, 1)
    }

    // MARK: first packet check

    func testFirstPacketThatIsNotASYNIsDroppedWithoutASession() {
        let notSYN: [UInt8] = [Self.ack, Self.syn | Self.ack, Self.ack | Self.psh, Self.fin | Self.ack, Self.rst, Self.rst | Self.ack, 0]
        for (i, flags) in notSYN.enumerated() {
            let a = send(c2s(53000 + UInt16(i), flags), ingress: 0)
            XCTAssertEqual(a.kind, .drop, "flags \(flags)")
            XCTAssertEqual(a.reason, UInt8(XPF_DROP_TCP_NOT_SYN.rawValue), "flags \(flags): \(dropReasonName(Int(a.reason)))")
        }
        // IPv6 too, and as one batch through processBatch.
        let v6 = F.frame6(src: F.v6(1, 0x10), dst: F.v6(2, 2), nextHeader: 6, l4: F.tcp(53100, Self.serverPort, flags: Self.ack))
        XCTAssertEqual(send(v6, ingress: 0).reason, UInt8(XPF_DROP_TCP_NOT_SYN.rawValue))
        let batch = [c2s(53200, Self.ack), c2s(53201, Self.ack | Self.psh)]
        let umem = UnsafeMutableRawPointer.allocate(byteCount: 2048 * batch.count, alignment: 64)
        defer { umem.deallocate() }
        var descs: [xdp_desc] = []
        for (i, f) in batch.enumerated() {
            (umem + i * 2048).copyMemory(from: f, byteCount: f.count)
            descs.append(xdp_desc(addr: UInt64(i * 2048), len: UInt32(f.count), options: 0))
        }
        var actions = [PacketAction](repeating: PacketAction(kind: .transmit), count: batch.count)
        var parks = [ParkRequest](repeating: ParkRequest(), count: batch.count)
        pipeline.processBatch(umem: umem, descs: descs, count: batch.count, ingress: 0, counters: &counters,
                              actions: &actions, parks: &parks)
        for a in actions {
            XCTAssertEqual(a.kind, .drop)
            XCTAssertEqual(a.reason, UInt8(XPF_DROP_TCP_NOT_SYN.rawValue))
            counters.drop(a.reason)
        }
        let drops = notSYN.count + 1 + batch.count
        XCTAssertEqual(withUnsafeBytes(of: counters.s.drops) { $0.load(fromByteOffset: Int(XPF_DROP_TCP_NOT_SYN.rawValue) * 8, as: UInt64.self) },
                       UInt64(drops))
        XCTAssertEqual(counters.s.sessions_created, 0)
        XCTAssertEqual(counters.s.session_misses, UInt64(drops))
        XCTAssertEqual(pipeline.partition.liveCount, 0)
        XCTAssertNil(session(53000))
        XCTAssertEqual(drained().count, 0, "no session, no create event")
        XCTAssertEqual(dropReasonName(Int(XPF_DROP_TCP_NOT_SYN.rawValue)), "tcp_not_syn")
        // The SYN of the same flow is admitted.
        client(53000, Self.syn)
        XCTAssertEqual(drained().map { $0.type }, [UInt8(XPF_EV_SESSION_CREATE.rawValue)])
    }

    func testNoSynCheckAdmitsAFlowPickedUpMidStream() throws {
        pipeline = nil
        fx.removeAll()
        try makePipeline(noSynCheck: true)
        let p: UInt16 = 54000
        client(p, Self.ack | Self.psh)
        XCTAssertEqual(counters.s.sessions_created, 1)
        XCTAssertEqual(drained().map { $0.type }, [UInt8(XPF_EV_SESSION_CREATE.rawValue)])
        assertState(p, XPF_TCP_INITIAL)
        client(p, Self.ack | Self.psh)                // the initiator alone: no handshake yet
        assertState(p, XPF_TCP_INITIAL)
        server(p, Self.ack)                          // an ACK each way
        assertState(p, XPF_TCP_ESTABLISHED)
        assertAgesOutAfter(Self.establishedS)
    }

    // MARK: configuration

    /// `flags` of the snapshot head xpfd would publish for `model`.
    static func headFlags(_ model: ConfigModel) throws -> UInt32 {
        let image = try ConfigSnapshotImage(model)
        return withExtendedLifetime(image) { image.bytes.load(as: xpf_config_snapshot.self).flags }  // the image owns the bytes
    }

    func testTCPSessionKnobsReachTheSnapshotFlags() throws {
        let base = "set system dataplane interfaces [ fw0 fw1 ]\n"
        let forms = [
            "system dataplane interfaces [ fw0 fw1 ];\nsecurity { flow { tcp-session { no-syn-check; no-sequence-check; } } }",
            base + "set security flow tcp-session no-syn-check\nset security flow tcp-session no-sequence-check\n",
        ]
        for text in forms {
            let model = try ConfigModel.load(text: text, file: "tcp.conf").1
            XCTAssertTrue(model.flow.noSynCheck, text)
            XCTAssertTrue(model.flow.noSequenceCheck, text)
            let flags = try Self.headFlags(model)
            XCTAssertEqual(flags & XPF_CFG_F_NO_SYN_CHECK.rawValue, XPF_CFG_F_NO_SYN_CHECK.rawValue, text)
            XCTAssertEqual(flags & XPF_CFG_F_NO_SEQUENCE_CHECK.rawValue, XPF_CFG_F_NO_SEQUENCE_CHECK.rawValue, text)
        }
        let one = try ConfigModel.load(text: base + "set security flow tcp-session no-sequence-check\n", file: "seq.conf").1
        XCTAssertFalse(one.flow.noSynCheck)
        XCTAssertTrue(one.flow.noSequenceCheck)
        let plain = try ConfigModel.load(text: base, file: "plain.conf").1
        XCTAssertFalse(plain.flow.noSynCheck)
        XCTAssertFalse(plain.flow.noSequenceCheck)
        let flags = try Self.headFlags(plain)
        XCTAssertEqual(flags & (XPF_CFG_F_NO_SYN_CHECK.rawValue | XPF_CFG_F_NO_SEQUENCE_CHECK.rawValue), 0)
        XCTAssertThrowsError(try ConfigModel.load(text: base + "set security flow tcp-session no-syn-check yes\n", file: "bad.conf"))
    }
}
