import XCTest
import CXPF
@testable import Shared

// Tests for Sources/Shared/Pipeline/ICMPRelatedStage.swift and `parseQuotedPacket`
// (Parse.swift): an ICMP / ICMPv6 error is forwarded only when the packet it quotes
// belongs to a session, travelling toward that packet's source; otherwise it is dropped
// `icmp_unmatched`. It never creates a session and does not touch the one it matches.
//
// Frames are built on the wire (Frames, ForwardTests.swift): sessions are set up by
// running their first packet through the pipeline; an error quotes a packet of that
// flow as a router or host would (ICMPv4: its IP header and 8 bytes, RFC 792; ICMPv6:
// the whole packet, RFC 4443). A forwarded error is compared byte for byte with the
// same error built again with the next hop's MACs and TTL / hop limit one lower (the
// IPv4 header checksum recomputed from scratch), so nothing else may change.
// Fixtures are ForwardTests': LAN slot 0 (client 10.10.1.10, fd00:1::10), WAN slot 1
// (server 10.10.2.2, fd00:2::2).

final class ICMPRelatedTests: PipelineTestCase {
    typealias F = Frames

    override class var regionName: String { "icmprel" }

    static let lan: UInt8 = 0
    static let wan: UInt8 = 1
    static let ttl: UInt8 = 64
    static let forwardedTTL: UInt8 = ttl - 1
    static let ethernetHeaderLength = 14
    static let ipv4HeaderLength = 20
    /// What an ICMPv4 error quotes of the invoking packet's data (RFC 792).
    static let quotedData = 8

    static let protoICMP: UInt8 = 1
    static let protoTCP: UInt8 = 6
    static let protoUDP: UInt8 = 17
    static let protoICMPv6: UInt8 = 58
    static let ext6DestinationOptions: UInt8 = 60

    static let client4 = ForwardTests.client4
    static let server4 = ForwardTests.server4
    static let gateway4 = F.v4(10, 10, 2, 254)
    static let lanRouter4 = F.v4(10, 10, 1, 254)
    static let otherHost4 = F.v4(10, 10, 1, 20)
    static let client6 = ForwardTests.client6
    static let server6 = ForwardTests.server6
    static let wanRouter6 = F.v6(2, 0xFE)
    static let otherHost6 = F.v6(1, 0x20)

    /// ICMP / ICMPv6 (type, code) of the errors the cases send.
    enum Message {
        static let portUnreachable4: (UInt8, UInt8) = (3, 3)
        static let hostUnreachable4: (UInt8, UInt8) = (3, 1)
        static let fragmentationNeeded4: (UInt8, UInt8) = (3, 4)
        static let sourceQuench4: (UInt8, UInt8) = (4, 0)
        static let timeExceeded4: (UInt8, UInt8) = (11, 0)
        static let parameterProblem4: (UInt8, UInt8) = (12, 0)
        static let portUnreachable6: (UInt8, UInt8) = (1, 4)
        static let packetTooBig6: (UInt8, UInt8) = (2, 0)
        static let timeExceeded6: (UInt8, UInt8) = (3, 0)
        static let parameterProblem6: (UInt8, UInt8) = (4, 0)
        static let echoRequest4: UInt8 = 8
        static let echoReply4: UInt8 = 0
        static let echoRequest6: UInt8 = 128
        static let echoReply6: UInt8 = 129
    }
    /// The next-hop MTU a "fragmentation needed" / "packet too big" carries.
    static let reportedMTU: UInt32 = 1280

    // MARK: frames

    /// An IPv4 header's first bytes as an ICMPv4 error quotes them: header + 8 bytes.
    static func quote4(_ ip: [UInt8]) -> [UInt8] { Array(ip.prefix(Int(ip[0] & 0x0F) * 4 + quotedData)) }

    /// The ICMP message of an error: type, code, checksum, 4 bytes (`rest`), the quote.
    /// ICMPv4 checksums are filled here; ICMPv6 ones by `Frames.ipv6` (pseudo header).
    static func icmpError(_ message: (UInt8, UInt8), rest: UInt32 = 0, quote: [UInt8], family: UInt8) -> [UInt8] {
        var m = [message.0, message.1, 0, 0] + F.be32(rest) + quote
        if family == 4 {
            let c = m.withUnsafeBytes { internetChecksum($0.baseAddress!, count: m.count) }
            m[2] = UInt8(c >> 8); m[3] = UInt8(c & 0xFF)
        }
        return m
    }

    static func error4(from src: UInt32, to dst: UInt32, _ message: (UInt8, UInt8), rest: UInt32 = 0, quote: [UInt8],
                       ttl: UInt8 = ttl, macs: ([UInt8], [UInt8])) -> [UInt8] {
        F.ethernet(dst: macs.1, src: macs.0, type: 0x0800)
            + F.ipv4(src: src, dst: dst, proto: protoICMP, l4: icmpError(message, rest: rest, quote: quote, family: 4), ttl: ttl)
    }

    static func error6(from src: [UInt8], to dst: [UInt8], _ message: (UInt8, UInt8), rest: UInt32 = 0, quote: [UInt8],
                       hopLimit: UInt8 = ttl, macs: ([UInt8], [UInt8])) -> [UInt8] {
        F.ethernet(dst: macs.1, src: macs.0, type: 0x86DD)
            + F.ipv6(src: src, dst: dst, nextHeader: protoICMPv6, l4: icmpError(message, rest: rest, quote: quote, family: 6),
                     hopLimit: hopLimit)
    }

    static func udp4(_ src: UInt32, _ dst: UInt32, _ sport: UInt16, _ dport: UInt16) -> [UInt8] {
        F.ipv4(src: src, dst: dst, proto: protoUDP, l4: F.udp(sport, dport, payload: Array("related".utf8)))
    }
    static func syn4(_ src: UInt32, _ dst: UInt32, _ sport: UInt16, _ dport: UInt16) -> [UInt8] {
        F.ipv4(src: src, dst: dst, proto: protoTCP, l4: F.tcp(sport, dport, flags: TCPFlag.syn))
    }
    static func synAck4(_ src: UInt32, _ dst: UInt32, _ sport: UInt16, _ dport: UInt16) -> [UInt8] {
        F.ipv4(src: src, dst: dst, proto: protoTCP, l4: F.tcp(sport, dport, flags: TCPFlag.syn | TCPFlag.ack, seq: 9000, ack: 1001))
    }
    static func echo4(_ src: UInt32, _ dst: UInt32, type: UInt8, id: UInt16) -> [UInt8] {
        F.ipv4(src: src, dst: dst, proto: protoICMP, l4: F.icmpEcho(type: type, id: id, seq: 1))
    }
    static func udp6(_ src: [UInt8], _ dst: [UInt8], _ sport: UInt16, _ dport: UInt16) -> [UInt8] {
        F.ipv6(src: src, dst: dst, nextHeader: protoUDP, l4: F.udp(sport, dport, payload: Array("related".utf8)))
    }
    static func syn6(_ src: [UInt8], _ dst: [UInt8], _ sport: UInt16, _ dport: UInt16) -> [UInt8] {
        F.ipv6(src: src, dst: dst, nextHeader: protoTCP, l4: F.tcp(sport, dport, flags: TCPFlag.syn))
    }
    static func echo6(_ src: [UInt8], _ dst: [UInt8], type: UInt8, id: UInt16) -> [UInt8] {
        F.ipv6(src: src, dst: dst, nextHeader: protoICMPv6, l4: F.icmpEcho(type: type, id: id, seq: 1))
    }
    /// A UDP datagram behind a destination-options header (8 bytes of PadN): `lengthUnits`
    /// is its Hdr Ext Len (0 = 8 bytes; more claims bytes the datagram may not have).
    static func udp6WithOptions(_ src: [UInt8], _ dst: [UInt8], _ sport: UInt16, _ dport: UInt16, lengthUnits: UInt8 = 0) -> [UInt8] {
        let padN: UInt8 = 1
        let options: [UInt8] = [protoUDP, lengthUnits, padN, 4, 0, 0, 0, 0]
        return F.ipv6(src: src, dst: dst, nextHeader: ext6DestinationOptions,
                      l4: options + F.udp(sport, dport, payload: Array("related".utf8)))
    }

    /// A session's first packet as the client sends it from the LAN.
    static func fromLAN(_ ip: [UInt8]) -> [UInt8] {
        F.ethernet(dst: F.lanMAC, src: F.clientMAC, type: ip[0] >> 4 == 4 ? 0x0800 : 0x86DD) + ip
    }

    static let fromWAN4 = (F.serverMAC, F.wanMAC), fromWANRouter4 = (F.gatewayMAC, F.wanMAC)
    static let fromWAN6 = (F.server6MAC, F.wanMAC)
    static let fromLANHost = (F.clientMAC, F.lanMAC)
    static let toClient = (F.lanMAC, F.clientMAC), toServer4 = (F.wanMAC, F.serverMAC), toServer6 = (F.wanMAC, F.server6MAC)

    // MARK: driving the pipeline

    /// Runs one frame through the worker's pipeline (`process`: parse, session lookup, and
    /// on a miss the first path, whose first stage is the ICMP error stage); returns the
    /// action and the frame afterwards.
    func run(_ frame: [UInt8], ingress: UInt8) -> (PacketAction, [UInt8]) {
        var buf = frame + [UInt8](repeating: 0, count: ForwardTests.frameHeadroom)
        let a = buf.withUnsafeMutableBytes {
            pipeline.process(frame: $0.baseAddress!, length: frame.count, ingress: ingress, counters: &counters)
        }
        return (a, Array(buf[0..<(a.length == 0 ? frame.count : Int(a.length))]))
    }

    /// Runs a session's first packet from the LAN; it must be forwarded and create a session.
    func openSession(_ ip: [UInt8], _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        let created = counters.s.sessions_created
        let (a, _) = run(Self.fromLAN(ip), ingress: Self.lan)
        XCTAssertEqual(a.kind, .transmit, "\(name): the session's first packet (reason \(dropReasonName(Int(a.reason))))",
                       file: file, line: line)
        XCTAssertEqual(counters.s.sessions_created, created + 1, "\(name): its session", file: file, line: line)
    }

    func assertUnmatched(_ frame: [UInt8], ingress: UInt8, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        let (live, created) = (pipeline.partition.liveCount, counters.s.sessions_created)
        let (a, out) = run(frame, ingress: ingress)
        XCTAssertEqual(a.kind, .drop, "\(name): dropped", file: file, line: line)
        XCTAssertEqual(a.reason, UInt8(XPF_DROP_ICMP_UNMATCHED.rawValue),
                       "\(name): icmp_unmatched, got \(dropReasonName(Int(a.reason)))", file: file, line: line)
        XCTAssertEqual(out, frame, "\(name): a dropped frame is not rewritten", file: file, line: line)
        XCTAssertEqual(pipeline.partition.liveCount, live, "\(name): no session created", file: file, line: line)
        XCTAssertEqual(counters.s.sessions_created, created, "\(name): no session created", file: file, line: line)
    }

    // MARK: matched errors

    /// One error about a packet of a flow.
    struct Case {
        let name: String
        /// The flow's first packet (IP datagram), sent by the client from the LAN.
        let session: [UInt8]
        /// The error as it arrives, on `ingress`, and as it must leave, by `egress`.
        let error: [UInt8]
        let ingress: UInt8
        let forwarded: [UInt8]
        let egress: UInt8
        /// The direction, in its session, of the packet the error quotes.
        let quotedDirection: UInt32
    }

    /// Every case uses its own ports or identifier, so no case's session matches another's.
    static let cases: [Case] = {
        typealias M = Message
        var c: [Case] = []
        func add4(_ name: String, session: [UInt8], quoted: [UInt8], from reporter: UInt32, to target: UInt32,
                  _ message: (UInt8, UInt8), rest: UInt32 = 0, direction: UInt32) {
            let toLAN = target == client4
            let inMACs = toLAN ? (reporter == gateway4 ? fromWANRouter4 : fromWAN4) : fromLANHost
            c.append(Case(name: name, session: session,
                          error: error4(from: reporter, to: target, message, rest: rest, quote: quote4(quoted), macs: inMACs),
                          ingress: toLAN ? wan : lan,
                          forwarded: error4(from: reporter, to: target, message, rest: rest, quote: quote4(quoted), ttl: forwardedTTL,
                                            macs: toLAN ? toClient : toServer4),
                          egress: toLAN ? lan : wan, quotedDirection: direction))
        }
        func add6(_ name: String, session: [UInt8], quoted: [UInt8], from reporter: [UInt8], to target: [UInt8],
                  _ message: (UInt8, UInt8), rest: UInt32 = 0, direction: UInt32) {
            let toLAN = target == client6
            c.append(Case(name: name, session: session,
                          error: error6(from: reporter, to: target, message, rest: rest, quote: quoted, macs: toLAN ? fromWAN6 : fromLANHost),
                          ingress: toLAN ? wan : lan,
                          forwarded: error6(from: reporter, to: target, message, rest: rest, quote: quoted, hopLimit: forwardedTTL,
                                            macs: toLAN ? toClient : toServer6),
                          egress: toLAN ? lan : wan, quotedDirection: direction))
        }
        // IPv4: errors about the client's packets come back from the WAN (the server, or
        // a router on the way); errors about the server's come from the client's side.
        add4("v4 port unreachable about a UDP datagram", session: udp4(client4, server4, 40_001, 53),
             quoted: udp4(client4, server4, 40_001, 53), from: server4, to: client4, M.portUnreachable4, direction: 0)
        add4("v4 time exceeded (router) about a UDP datagram", session: udp4(client4, server4, 40_002, 53),
             quoted: udp4(client4, server4, 40_002, 53), from: gateway4, to: client4, M.timeExceeded4, direction: 0)
        add4("v4 port unreachable about a UDP reply", session: udp4(client4, server4, 40_003, 53),
             quoted: udp4(server4, client4, 53, 40_003), from: client4, to: server4, M.portUnreachable4, direction: 1)
        add4("v4 fragmentation needed (router) about a TCP SYN", session: syn4(client4, server4, 40_004, 443),
             quoted: syn4(client4, server4, 40_004, 443), from: gateway4, to: client4, M.fragmentationNeeded4,
             rest: reportedMTU, direction: 0)
        add4("v4 host unreachable (router) about a TCP SYN", session: syn4(client4, server4, 40_005, 443),
             quoted: syn4(client4, server4, 40_005, 443), from: gateway4, to: client4, M.hostUnreachable4, direction: 0)
        add4("v4 time exceeded (LAN router) about a TCP SYN-ACK", session: syn4(client4, server4, 40_006, 443),
             quoted: synAck4(server4, client4, 443, 40_006), from: lanRouter4, to: server4, M.timeExceeded4, direction: 1)
        add4("v4 parameter problem about a TCP SYN", session: syn4(client4, server4, 40_007, 443),
             quoted: syn4(client4, server4, 40_007, 443), from: server4, to: client4, M.parameterProblem4, direction: 0)
        add4("v4 source quench about a UDP datagram", session: udp4(client4, server4, 40_008, 53),
             quoted: udp4(client4, server4, 40_008, 53), from: server4, to: client4, M.sourceQuench4, direction: 0)
        add4("v4 host unreachable (router) about an echo request", session: echo4(client4, server4, type: M.echoRequest4, id: 0x0401),
             quoted: echo4(client4, server4, type: M.echoRequest4, id: 0x0401), from: gateway4, to: client4, M.hostUnreachable4,
             direction: 0)
        add4("v4 time exceeded (LAN router) about an echo reply", session: echo4(client4, server4, type: M.echoRequest4, id: 0x0402),
             quoted: echo4(server4, client4, type: M.echoReply4, id: 0x0402), from: lanRouter4, to: server4, M.timeExceeded4,
             direction: 1)
        // IPv6.
        add6("v6 port unreachable about a UDP datagram", session: udp6(client6, server6, 40_101, 53),
             quoted: udp6(client6, server6, 40_101, 53), from: server6, to: client6, M.portUnreachable6, direction: 0)
        add6("v6 port unreachable about a UDP reply", session: udp6(client6, server6, 40_102, 53),
             quoted: udp6(server6, client6, 53, 40_102), from: client6, to: server6, M.portUnreachable6, direction: 1)
        add6("v6 packet too big (router) about a TCP SYN", session: syn6(client6, server6, 40_103, 443),
             quoted: syn6(client6, server6, 40_103, 443), from: wanRouter6, to: client6, M.packetTooBig6, rest: reportedMTU,
             direction: 0)
        add6("v6 parameter problem about a TCP SYN", session: syn6(client6, server6, 40_104, 443),
             quoted: syn6(client6, server6, 40_104, 443), from: server6, to: client6, M.parameterProblem6, direction: 0)
        add6("v6 time exceeded (router) about an echo request", session: echo6(client6, server6, type: M.echoRequest6, id: 0x0601),
             quoted: echo6(client6, server6, type: M.echoRequest6, id: 0x0601), from: wanRouter6, to: client6, M.timeExceeded6,
             direction: 0)
        add6("v6 port unreachable about an echo reply", session: echo6(client6, server6, type: M.echoRequest6, id: 0x0602),
             quoted: echo6(server6, client6, type: M.echoReply6, id: 0x0602), from: client6, to: server6, M.portUnreachable6,
             direction: 1)
        add6("v6 port unreachable about a UDP datagram with a destination-options header",
             session: udp6(client6, server6, 40_105, 53), quoted: udp6WithOptions(client6, server6, 40_105, 53),
             from: server6, to: client6, M.portUnreachable6, direction: 0)
        return c
    }()

    /// Every case: without its session the error is dropped icmp_unmatched; once the
    /// session exists, it is forwarded toward the quoted packet's source with only the
    /// MACs and TTL / hop limit changed, and no session is created either way.
    func testAnErrorIsForwardedOnlyForTheSessionOfThePacketItQuotes() {
        for c in Self.cases {
            assertUnmatched(c.error, ingress: c.ingress, "\(c.name), no session")
            openSession(c.session, c.name)
            let (live, created) = (pipeline.partition.liveCount, counters.s.sessions_created)
            let (a, out) = run(c.error, ingress: c.ingress)
            XCTAssertEqual(a.kind, .transmit, "\(c.name): forwarded (reason \(dropReasonName(Int(a.reason))))")
            XCTAssertEqual(a.egress, c.egress, "\(c.name): toward the quoted packet's source")
            XCTAssertEqual(out, c.forwarded, "\(c.name): only the MACs and TTL / hop limit change")
            XCTAssertEqual(pipeline.partition.liveCount, live, "\(c.name): no session created")
            XCTAssertEqual(counters.s.sessions_created, created, "\(c.name): no session created")
        }
    }

    /// The quote is looked up as it stands: each case's quote names its session in the
    /// direction its packet travelled (the client's packets forward, the server's reverse).
    func testTheQuoteIsLookedUpInTheDirectionItsPacketTravelled() {
        for c in Self.cases {
            openSession(c.session, c.name)
            let found = c.error.withUnsafeBytes { raw -> (index: Int, direction: UInt32)? in
                var p = Packet(frame: UnsafeMutableRawPointer(mutating: raw.baseAddress!), length: c.error.count, ingress: c.ingress)
                guard parseFrame(raw.baseAddress!, length: c.error.count, into: &p.parsed) == .ok else { return nil }
                return pipeline.quotedSession(p)
            }
            XCTAssertEqual(found?.direction, c.quotedDirection, "\(c.name): the quoted packet's direction")
        }
    }

    /// A matched error is not accounted to its session: counters, last seen and TCP state
    /// stay as the flow's own packets left them.
    func testAMatchedErrorLeavesItsSessionUntouched() throws {
        let c = try XCTUnwrap(Self.cases.first { $0.session[9] == Self.protoTCP })
        openSession(c.session, c.name)
        let s = try XCTUnwrap(c.session.withUnsafeBytes { raw -> (index: Int, direction: UInt32)? in
            var k = FlowKey()
            Pipeline.fillKey(&k, family: 4, proto: Self.protoTCP, l3: raw.baseAddress!,
                             sport: raw.loadUnaligned(fromByteOffset: Self.ipv4HeaderLength, as: UInt16.self),
                             dport: raw.loadUnaligned(fromByteOffset: Self.ipv4HeaderLength + 2, as: UInt16.self))
            return region.sessionTable.lookup(&k)
        })
        let before = region.sessions[s.index]
        let laterMs: UInt32 = 1_000
        pipeline.nowMs &+= laterMs
        let (a, _) = run(c.error, ingress: c.ingress)
        XCTAssertEqual(a.kind, .transmit, c.name)
        let after = region.sessions[s.index]
        XCTAssertEqual(after.last_seen_ms, before.last_seen_ms, "an error does not keep a session alive")
        XCTAssertEqual(after.packets.0, before.packets.0)
        XCTAssertEqual(after.packets.1, before.packets.1)
        XCTAssertEqual(after.bytes.0, before.bytes.0)
        XCTAssertEqual(after.bytes.1, before.bytes.1)
        XCTAssertEqual(after.tcp_state, before.tcp_state)
    }

    // MARK: zones and policies

    /// Publishes `security` (zones and policies) with ForwardTests' dataplane and switches
    /// the pipeline to it, as a worker does between batches.
    func commit(security: String) throws {
        let text = """
            system { dataplane { interfaces [ fw0 fw1 ]; batch-size 64; neighbor-hold-time 1000; } }
            security { \(security) }
            """
        let (_, model) = try ConfigModel.load(text: text, file: "icmp-related-tests")
        try region.publishConfig(ConfigSnapshotImage(model))
        let slot = try XCTUnwrap(configFollower.poll())
        pipeline.adopt(config: region.configSlot(slot), generation: configFollower.generation)
    }

    static let trustUntrust = "zones { security-zone trust { interfaces { fw0.0; } } security-zone untrust { interfaces { fw1.0; } } }"
    static let permitTrustToUntrust = """
        policies { from-zone trust to-zone untrust { policy out {
            match { source-address any; destination-address any; application any; } then { permit; } } } }
        """

    /// An error needs no policy of its own: a commit that leaves its session permitted
    /// (now by a zone-pair policy, none from untrust to trust) lets it through; one
    /// that no longer permits the session closes the session and drops the error
    /// `policy_change`, as the session's own next packet would be.
    func testAnErrorFollowsItsSessionThroughAPolicyChange() throws {
        let c = Self.cases[0]  // v4 port unreachable from the server about the client's UDP datagram
        openSession(c.session, c.name)
        try commit(security: Self.trustUntrust + Self.permitTrustToUntrust)
        let (a, out) = run(c.error, ingress: c.ingress)
        XCTAssertEqual(a.kind, .transmit, "still permitted: reason \(dropReasonName(Int(a.reason)))")
        XCTAssertEqual(out, c.forwarded)

        try commit(security: Self.trustUntrust)  // no policies: default deny
        let (live, closed) = (pipeline.partition.liveCount, counters.s.sessions_closed)
        let (b, _) = run(c.error, ingress: c.ingress)
        XCTAssertEqual(b.kind, .drop)
        XCTAssertEqual(b.reason, UInt8(XPF_DROP_POLICY_CHANGE.rawValue), dropReasonName(Int(b.reason)))
        XCTAssertEqual(pipeline.partition.liveCount, live - 1, "the session is closed")
        XCTAssertEqual(counters.s.sessions_closed, closed + 1)
        // Its session gone, the same error is unrelated.
        assertUnmatched(c.error, ingress: c.ingress, "\(c.name), after the session closed")
    }

    /// An error arriving on an interface in no zone is dropped `zone_none`, as every
    /// packet crossing such an interface is, even when it matches a session.
    func testAnErrorThroughAnInterfaceInNoZoneIsDropped() throws {
        let c = Self.cases[0]
        openSession(c.session, c.name)
        try commit(security: "zones { security-zone trust { interfaces { fw0.0; } } } " + Self.permitTrustToUntrust
                   .replacingOccurrences(of: "from-zone trust to-zone untrust", with: "from-zone trust to-zone trust"))
        let (a, _) = run(c.error, ingress: c.ingress)
        XCTAssertEqual(a.kind, .drop)
        XCTAssertEqual(a.reason, UInt8(XPF_DROP_ZONE_NONE.rawValue), dropReasonName(Int(a.reason)))
    }

    // MARK: quotes that match nothing

    /// Quotes of an existing session's packet made inconsistent one way at a time: each
    /// would match the session if the check it breaks were missing.
    func testMalformedQuotesAreDroppedUnmatched() {
        typealias M = Message
        let (sport, dport): (UInt16, UInt16) = (40_201, 53)
        let ip = Self.udp4(Self.client4, Self.server4, sport, dport)
        openSession(ip, "v4 UDP")
        let ip6 = Self.udp6(Self.client6, Self.server6, sport, dport)
        openSession(ip6, "v6 UDP")
        func v4(_ quote: [UInt8], to target: UInt32 = Self.client4) -> [UInt8] {
            Self.error4(from: Self.server4, to: target, M.portUnreachable4, quote: quote, macs: Self.fromWAN4)
        }
        func v6(_ quote: [UInt8], to target: [UInt8] = Self.client6) -> [UInt8] {
            Self.error6(from: Self.server6, to: target, M.portUnreachable6, quote: quote, macs: Self.fromWAN6)
        }
        func patched(_ b: [UInt8], _ at: Int, _ bytes: [UInt8]) -> [UInt8] {
            var b = b
            b.replaceSubrange(at..<at + bytes.count, with: bytes)
            return b
        }
        // The control: the well-formed quotes match.
        XCTAssertEqual(run(v4(Self.quote4(ip)), ingress: Self.wan).0.kind, .transmit, "v4 control")
        XCTAssertEqual(run(v6(ip6), ingress: Self.wan).0.kind, .transmit, "v6 control")

        let header = Self.ipv4HeaderLength
        let rows: [(String, [UInt8])] = [
            ("v4 quote with 4 bytes of data", v4(Array(ip.prefix(header + 4)))),
            ("v4 quote shorter than an IP header", v4(Array(ip.prefix(header - 1)))),
            ("v4 error with no quote", v4([])),
            ("v4 quote with version 6", v4(patched(Self.quote4(ip), 0, [0x65]))),
            // IHL 4 would take the destination address's bytes for ports: make them the
            // ports of a session, so only the IHL check stands between them.
            ("v4 quote with IHL 4", v4(patched(Self.quote4(Self.udp4(Self.client4, Self.server4, 0x0A0A, 0x0202)), 0, [0x44]))),
            ("v4 quote with IHL 15 (beyond the quote)", v4(patched(Self.quote4(ip), 0, [0x4F]))),
            ("v4 quote with total length < IHL*4", v4(patched(Self.quote4(ip), 2, F.be16(UInt16(header - 1))))),
            ("v4 error quoting an IPv6 packet", v4(ip6)),
            ("v4 error sent to another host than the quoted source", v4(Self.quote4(ip), to: Self.otherHost4)),
            ("v6 quote with 4 bytes of data", v6(Array(ip6.prefix(40 + 4)))),
            ("v6 quote shorter than an IPv6 header", v6(Array(ip6.prefix(39)))),
            ("v6 quote with version 4", v6(patched(ip6, 0, [0x40]))),
            ("v6 error quoting an IPv4 packet", v6(ip)),
            ("v6 quote whose options header runs past the quote",
             v6(Self.udp6WithOptions(Self.client6, Self.server6, sport, dport, lengthUnits: 8))),
            ("v6 quote whose options header runs past its own payload length",
             v6(patched(Self.udp6WithOptions(Self.client6, Self.server6, sport, dport), 4, F.be16(0)))),
            ("v6 error sent to another host than the quoted source", v6(ip6, to: Self.otherHost6)),
        ]
        openSession(Self.udp4(Self.client4, Self.server4, 0x0A0A, 0x0202), "v4 UDP 2570 → 514")
        for (name, frame) in rows { assertUnmatched(frame, ingress: Self.wan, name) }
        // The IPv6 options header quote is fine when it fits (the control for the rows above).
        XCTAssertEqual(run(v6(Self.udp6WithOptions(Self.client6, Self.server6, sport, dport)), ingress: Self.wan).0.kind, .transmit)
    }

    /// An error too short for its own 8-byte header parses (an ICMP header is 4 bytes)
    /// and is dropped unmatched.
    func testAnErrorShorterThanItsHeaderIsDroppedUnmatched() {
        let message = [Message.portUnreachable6.0, Message.portUnreachable6.1, 0, 0]
        let frame = F.ethernet(dst: F.wanMAC, src: F.server6MAC, type: 0x86DD)
            + F.ipv6(src: Self.server6, dst: Self.client6, nextHeader: Self.protoICMPv6, l4: message)
        assertUnmatched(frame, ingress: Self.wan, "v6 error of 4 bytes")
    }
}
