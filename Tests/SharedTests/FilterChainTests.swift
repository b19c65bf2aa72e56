// `then next term`, `from packet-length` and `filter input-list / output-list` on the
// worker's real packet path (issue 10 item 1), over FilterTestCase's harness
// (FilterTestSupport.swift): first packets and session hits, counters in shared memory,
// FILTER_LOG events.
import CXPF
import Shared
import XCTest

final class FilterChainTests: FilterTestCase {
    /// A UDP datagram client → server whose IP length is 20 + 8 + `payload` bytes.
    func udp(payload: Int, sport: UInt16 = 40000) -> [UInt8] {
        F.frame4(src: Self.client4, dst: Self.server4, proto: 17,
                 l4: F.udp(sport, 9999, payload: [UInt8](repeating: 7, count: payload)))
    }

    /// The IPv6 one: payload length 8 + `payload`, so a packet length of 48 + `payload`.
    func udp6(payload: Int, sport: UInt16 = 40000) -> [UInt8] {
        F.frame6(src: Self.client6, dst: Self.server6, nextHeader: 17,
                 l4: F.udp(sport, 9999, payload: [UInt8](repeating: 7, count: payload)))
    }

    static func attach(inet: String = "", inet6: String = "", fw1: String = "") -> String {
        "fw0 { unit 0 { family inet { filter { \(inet) } } family inet6 { filter { \(inet6) } } } } "
            + "fw1 { unit 0 { family inet { filter { \(fw1) } } } }"
    }

    // MARK: - next term

    /// A `next term` term counts (its term and its `count`) and lets the search go on, on
    /// first packets and on every session hit: the filter is never memoized as the one
    /// deciding term (the memo would skip the counting term on hits). Past the last term,
    /// the implicit discard.
    func testNextTermCountsAndGoesOnOnEverySessionHit() throws {
        try start(filters: """
            family inet { filter f {
                term seen { from { destination-port 9999; } then { count seen; next term; } }
                term udp { from { protocol udp; } then accept; } } }
            """, attach: Self.input("f"))
        for _ in 0..<4 { assertForwarded(send(udp()).0) }
        XCTAssertEqual(counters.s.session_hits, 3)
        let tcp = tcp(40001, 9999, flags: TCPFlag.syn)
        assertDrop(send(tcp).0, XPF_DROP_FILTER_DISCARD)
        XCTAssertEqual(termCount("f", "seen").packets, 5, "every packet passed through the next-term term, hits included")
        XCTAssertEqual(termCount("f", "seen").bytes, 4 * UInt64(udp().count - Self.ipOffset) + UInt64(tcp.count - Self.ipOffset))
        XCTAssertEqual(counterCount(0).packets, 5)
        XCTAssertEqual(termCount("f", "udp").packets, 4)
    }

    /// A chain's modifiers act: the DSCP rewrite of a `next term` term is on the forwarded
    /// packet (checksum updated), and the loss priority it sets is what the output filter sees.
    func testNextTermModifiersApply() throws {
        try start(filters: """
            family inet {
                filter mark { term m { then { dscp af11; loss-priority high; next term; } } term t { then accept; } }
                filter out { term high { from { loss-priority high; } then discard; } term rest { then accept; } }
            }
            """, attach: Self.attach(inet: "input mark;"))
        let (a, out) = send(udp())
        assertForwarded(a)
        XCTAssertEqual(out[Self.ipOffset + 1] >> 2, 10, "af11")
        XCTAssertTrue(Self.headerChecksumOK(out))
        try commit(filters: """
            family inet {
                filter mark { term m { then { dscp af11; loss-priority high; next term; } } term t { then accept; } }
                filter out { term high { from { loss-priority high; } then discard; } term rest { then accept; } }
            }
            """, attach: Self.attach(inet: "input mark;", fw1: "output out;"))
        assertDrop(send(udp()).0, XPF_DROP_FILTER_DISCARD)
        XCTAssertEqual(termCount("out", "high").packets, 1)
    }

    /// A `next term` term's log names the action the wire saw at the end of the chain:
    /// discard, accept, reject — and the implicit discard.
    func testNextTermLogsNameWhatTheWireSaw() throws {
        try start(filters: """
            family inet { filter f {
                term l { then { log; next term; } }
                term d { from { protocol udp; } then discard; }
                term r { from { protocol icmp; } then reject; }
                term a { from { protocol tcp; destination-port 80; } then accept; } } }
            """, attach: Self.input("f"))
        assertDrop(send(udp()).0, XPF_DROP_FILTER_DISCARD)
        XCTAssertEqual(send(ping()).0.kind, .transmit, "the reject's ICMP")
        assertForwarded(send(tcp(40001, 80, flags: TCPFlag.syn)).0)
        assertDrop(send(tcp(40002, 22, flags: TCPFlag.syn)).0, XPF_DROP_FILTER_DISCARD)
        let e = events()
        XCTAssertEqual(e.map(\.kind), [.filterLog, .filterLog, .filterLog, .filterLog])
        XCTAssertEqual(e.map(\.termName), ["l", "l", "l", "l"])
        XCTAssertEqual(e.map(\.action), ["discard", "reject", "accept", "discard"])
        XCTAssertEqual(e.map(\.protocolID), [17, 1, 6, 6])
        XCTAssertEqual(e[2].destinationPort, 80)
    }

    /// A `next term` term's policer meters; out of profile with `discard`, it ends the
    /// chain (`policer_discard`), and the chain's log says discard; in profile the chain goes on.
    func testNextTermPolicerDiscardEndsTheChain() throws {
        try start(filters: """
            policer slow { if-exceeding { bandwidth-limit 8k; burst-size-limit 1500; } then discard; }
            family inet { filter f {
                term p { then { policer slow; log; next term; } }
                term t { then { count passed; accept; } } } }
            """, attach: Self.input("f"))
        let big = udp(payload: 1000)  // 1 028 bytes: the burst holds one
        assertForwarded(send(big).0)
        assertDrop(send(big).0, XPF_DROP_POLICER_DISCARD)
        XCTAssertEqual(termCount("f", "p").packets, 2)
        XCTAssertEqual(termCount("f", "t").packets, 1, "the discarded packet went no further")
        XCTAssertEqual(events().map(\.action), ["accept", "discard"])
    }

    // MARK: - packet-length

    /// `packet-length` is the IP datagram's length — IPv4 total length, IPv6 payload length
    /// + 40 — values and ranges; a per-packet field: a flow whose packets grow meets
    /// the condition on its session hits, and small ones still pass.
    func testPacketLengthBothFamiliesAndMidFlow() throws {
        try start(filters: """
            family inet { filter f { term exact { from { packet-length [ 31 100-200 ]; } then discard; } term rest { then accept; } } }
            family inet6 { filter f6 { term exact { from { packet-length 49; } then discard; } term rest { then accept; } } }
            """, attach: Self.attach(inet: "input f;", inet6: "input f6;"))
        assertForwarded(send(udp(payload: 2)).0)  // 30 bytes
        assertForwarded(send(udp(payload: 2)).0)  // a session hit
        assertDrop(send(udp(payload: 3)).0, XPF_DROP_FILTER_DISCARD)  // 31, on the hit
        assertForwarded(send(udp(payload: 4)).0)  // 32
        assertDrop(send(udp(payload: 150)).0, XPF_DROP_FILTER_DISCARD)  // 178
        assertForwarded(send(udp(payload: 300)).0)  // 328
        XCTAssertEqual(counters.s.sessions_created, 1)
        XCTAssertEqual(termCount("f", "exact").packets, 2)
        XCTAssertEqual(termCount("f", "exact").bytes, 31 + 178)
        XCTAssertEqual(send(udp6(payload: 0)).0.egress, 1)  // 48
        assertDrop(send(udp6(payload: 1)).0, XPF_DROP_FILTER_DISCARD)  // 49, on the hit
        XCTAssertEqual(send(udp6(payload: 2)).0.egress, 1)  // 50
        XCTAssertEqual(termCount("f6", "exact").packets, 1)
    }

    // MARK: - filter lists

    static let listFilters = """
        family inet {
            filter a { term web { from { protocol tcp; destination-port 80; } then { count web; accept; } }
                       term block { from { destination-port 9999; } then discard; } }
            filter b { term udp { from { protocol udp; } then { count udp; log; accept; } } }
            filter mark { term m { then { count marked; next term; } } }
        }
        """

    /// `input-list [ a b ]`: a's terminal action ends the list (b never sees the packet); a
    /// packet no term of a matches goes on to b; past b, the implicit discard. Counters and
    /// logs stay each filter's own, on first packets and session hits (memoized: both
    /// filters read only key fields).
    func testInputListFirstTerminalWinsAndFallsThrough() throws {
        try start(filters: Self.listFilters, attach: Self.attach(inet: "input-list [ a b ];"))
        for _ in 0..<3 { assertForwarded(send(tcp(40001, 80, flags: TCPFlag.syn)).0) }  // 2 session hits
        for _ in 0..<2 { assertDrop(send(udp()).0, XPF_DROP_FILTER_DISCARD) }  // a's block, though b accepts UDP
        for _ in 0..<4 { assertForwarded(send(udp(40002, 9998)).0) }  // past a, b accepts: 3 session hits
        assertDrop(send(tcp(40003, 22, flags: TCPFlag.syn)).0, XPF_DROP_FILTER_DISCARD)  // past a and b
        XCTAssertEqual(counters.s.session_hits, 2 + 3)
        XCTAssertEqual(termCount("a", "web").packets, 3)
        XCTAssertEqual(termCount("a", "block").packets, 2)
        XCTAssertEqual(termCount("b", "udp").packets, 4)
        XCTAssertEqual(counterCount(0).packets, 3, "a's web")
        XCTAssertEqual(counterCount(1).packets, 4, "b's udp")
        let e = events()
        XCTAssertEqual(e.map(\.filterName), ["b", "b", "b", "b"], "the log names the member, not the list")
        XCTAssertEqual(e.map(\.action), ["accept", "accept", "accept", "accept"])
    }

    /// `output-list`, and `next term` at a member's last term: the search goes on into the
    /// next member; a list with a `next term` member is evaluated on every packet.
    func testOutputListWithNextTermIntoTheNextFilter() throws {
        try start(filters: Self.listFilters, attach: Self.attach(fw1: "output-list [ mark b ];"))
        for _ in 0..<3 { assertForwarded(send(udp()).0) }
        assertDrop(send(tcp(40001, 80, flags: TCPFlag.syn)).0, XPF_DROP_FILTER_DISCARD)
        XCTAssertEqual(counters.s.session_hits, 2)
        XCTAssertEqual(termCount("mark", "m").packets, 4)
        XCTAssertEqual(termCount("b", "udp").packets, 3)
        XCTAssertEqual(counterCount(2).packets, 4, "mark's marked")
        XCTAssertEqual(events().map(\.interfaceName), ["wan", "wan", "wan"])
    }

    /// A list with a per-packet member is evaluated on every packet: DSCP 46 mid-flow
    /// meets the first filter's term on a session hit.
    func testListWithAPerPacketMemberOnSessionHits() throws {
        try start(filters: """
            family inet { filter no-ef { term ef { from { dscp ef; } then discard; } }
                filter rest { term t { then accept; } } }
            """, attach: Self.attach(inet: "input-list [ no-ef rest ];"))
        assertForwarded(send(udp()).0)
        assertForwarded(send(udp()).0)
        assertDrop(send(udp(dscp: Self.dscpEF)).0, XPF_DROP_FILTER_DISCARD)
        assertForwarded(send(udp()).0)
        XCTAssertEqual(counters.s.session_hits, 3)
        XCTAssertEqual(termCount("rest", "t").packets, 3)
    }

    /// A commit that changes a list (its order) starts a new policy epoch: an established
    /// flow meets the new order on its next packet.
    func testCommitReorderingAListTakesEffectMidFlow() throws {
        let filters = """
            family inet { filter stop { term t { from { protocol udp; } then discard; } }
                filter pass { term t { then accept; } } }
            """
        try start(filters: filters, attach: Self.attach(inet: "input-list [ pass stop ];"))
        assertForwarded(send(udp()).0)
        assertForwarded(send(udp()).0)
        try commit(filters: filters, attach: Self.attach(inet: "input-list [ stop pass ];"))
        assertDrop(send(udp()).0, XPF_DROP_FILTER_DISCARD)
        XCTAssertEqual(counters.s.session_hits, 2)
    }
}
