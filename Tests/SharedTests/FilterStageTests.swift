// Firewall filters on the worker's real packet path (issue 10; ), over
// FilterTestCase's harness (FilterTestSupport.swift).
import CXPF
import Shared
import XCTest

final class FilterStageTests: FilterTestCase {
    // MARK: - tests

    /// The filter runs on session hits, not only on first packets: DSCP is outside the
    /// session key, so a flow whose first packets carried DSCP 0 loses its later
    /// DSCP 46 packets to `from { dscp ef; } then discard` — and DSCP 0 ones still pass.
    func testDSCPChangeMidFlowIsFilteredOnTheSessionHit() throws {
        try start(filters: """
            family inet { filter no-ef { term ef { from { dscp ef; } then discard; } term rest { then accept; } } }
            """, attach: Self.input("no-ef"))
        assertForwarded(send(udp()).0)  // first packet: session installed
        XCTAssertEqual(counters.s.sessions_created, 1)
        assertForwarded(send(udp()).0)
        XCTAssertEqual(counters.s.session_hits, 1)
        assertDrop(send(udp(dscp: Self.dscpEF)).0, XPF_DROP_FILTER_DISCARD)
        XCTAssertEqual(counters.s.session_hits, 2, "its session was found; the filter ended it on the fast path")
        assertForwarded(send(udp()).0)
        let rec = region.sessions + (try XCTUnwrap(sessionIndex(40000, 9999)))
        XCTAssertEqual(xpf_sess_packets(rec, 0), 3, "the discarded packet is not the session's")
        XCTAssertEqual(termCount("no-ef", "ef").packets, 1)
        XCTAssertEqual(termCount("no-ef", "rest").packets, 3)
    }

    /// A commit that adds a filter applies from the next packet of an established flow;
    /// removing it lets the flow through again.
    func testFilterAddedByCommitStopsAnEstablishedFlow() throws {
        let filters = "family inet { filter stop { term udp { from { protocol udp; destination-port 9999; } then discard; } term rest { then accept; } } }"
        try start(filters: filters)
        assertForwarded(send(udp()).0)
        assertForwarded(send(udp()).0)
        try commit(filters: filters, attach: Self.input("stop"))
        assertDrop(send(udp()).0, XPF_DROP_FILTER_DISCARD)
        assertForwarded(send(udp(40000, 9998)).0)  // another flow, not matched
        try commit(filters: filters, attach: "")
        assertForwarded(send(udp()).0)
        XCTAssertEqual(counters.s.sessions_created, 2, "the discarded flow's session stayed")
    }

    /// No term matches → discarded (Junos's implicit discard).
    func testNoMatchingTermDiscards() throws {
        try start(filters: "family inet { filter tcp-only { term t { from { protocol tcp; } then accept; } } }",
                  attach: Self.input("tcp-only"))
        assertDrop(send(udp()).0, XPF_DROP_FILTER_DISCARD)
        assertForwarded(send(tcp(40001, 80, flags: TCPFlag.syn)).0)
        XCTAssertEqual(dropCount(XPF_DROP_FILTER_DISCARD), 0, "drops are counted by the I/O loop from the action")
    }

    /// Each condition: a packet that matches and one that must not (the term discards,
    /// a catch-all accepts).
    func testEachConditionMatchesAndMisses() throws {
        struct Case { let from: String; let hit: [UInt8]; let miss: [UInt8] }
        let other = F.v4(10, 10, 1, 77)
        let cases: [Case] = [
            Case(from: "source-address { 10.10.1.0/24; 10.10.1.77/32 except; }", hit: udp(), miss: udp(src: other)),
            Case(from: "destination-prefix-list servers;", hit: udp(),
                 miss: F.frame4(src: Self.client4, dst: F.v4(10, 10, 3, 3), proto: 17, l4: F.udp(1, 2, payload: [0]))),
            Case(from: "address { 10.10.1.10/32; }", hit: udp(), miss: udp(src: other)),
            Case(from: "protocol udp;", hit: udp(), miss: tcp(40002, 9999, flags: TCPFlag.syn)),
            Case(from: "destination-port [ 80 9990-9999 ];", hit: udp(), miss: udp(40000, 10000)),
            Case(from: "source-port 40000;", hit: udp(), miss: udp(40001)),
            Case(from: "port 40000;", hit: udp(), miss: udp(40005, 9990)),
            Case(from: "dscp [ ef 10 ];", hit: udp(dscp: 10), miss: udp(dscp: 12)),
            Case(from: "icmp-type echo-request;", hit: ping(), miss: ping(type: ICMPEcho.replyV4)),
            Case(from: "tcp-flags \"syn & !ack\";", hit: tcp(40003, 80, flags: TCPFlag.syn),
                 miss: tcp(40004, 80, flags: TCPFlag.syn | TCPFlag.ack)),
            Case(from: "tcp-initial;", hit: tcp(40005, 80, flags: TCPFlag.syn), miss: tcp(40006, 80, flags: TCPFlag.ack)),
            Case(from: "tcp-established;", hit: tcp(40007, 80, flags: TCPFlag.ack), miss: tcp(40008, 80, flags: TCPFlag.syn)),
            // Junos: is-fragment = `fragment-offset 0 except` (trailing fragments only).
            Case(from: "is-fragment;", hit: ICMPErrorTests.fragment4(offset: 100, more: false, ttl: 64),
                 miss: ICMPErrorTests.fragment4(offset: 0, more: true, ttl: 64)),
            Case(from: "first-fragment;", hit: ICMPErrorTests.fragment4(offset: 0, more: true, ttl: 64),
                 miss: ICMPErrorTests.fragment4(offset: 100, more: true, ttl: 64)),
        ]
        for c in cases {
            try start(filters: "family inet { filter f { term t { from { \(c.from) } then discard; } term rest { then accept; } } }",
                      attach: Self.input("f"))
            XCTAssertEqual(send(c.hit).0.reason, UInt8(XPF_DROP_FILTER_DISCARD.rawValue), "\(c.from) should match")
            XCTAssertEqual(send(c.hit).0.kind, .drop, "\(c.from) should match")
            XCTAssertNotEqual(send(c.miss).0.reason, UInt8(XPF_DROP_FILTER_DISCARD.rawValue), "\(c.from) must not match")
            XCTAssertEqual(termCount("f", "t").packets, 2, c.from)
            pipeline = nil
            region = nil
            fx.removeAll()
        }
    }

    /// Ports, TCP flags and ICMP type hold only for a packet that carries that header: a
    /// non-first fragment has none (it neither matches nor is misread).
    func testNonFirstFragmentHasNoPorts() throws {
        try start(filters: """
            family inet { filter f { term ports { from { destination-port 0-65535; } then accept; } term rest { then discard; } } }
            """, attach: Self.input("f"))
        assertDrop(send(ICMPErrorTests.fragment4(offset: 100, more: false, ttl: 64)).0, XPF_DROP_FILTER_DISCARD)
        XCTAssertEqual(termCount("f", "ports").packets, 0)
        XCTAssertEqual(termCount("f", "rest").packets, 1)
    }

    /// `count C` counts packets and IP bytes per term and per named counter, shared by the
    /// filter's terms that name it, in the worker's bank of xpf_filter_hits.
    func testCountersPerTermAndNamedCounter() throws {
        try start(filters: """
            family inet { filter c { term a { from { protocol udp; } then { count both; accept; } }
                term b { from { protocol tcp; } then { count both; accept; } } term rest { then accept; } } }
            """, attach: Self.input("c"))
        let u = udp(), t = tcp(40010, 80, flags: TCPFlag.syn)
        for _ in 0..<5 { assertForwarded(send(u).0) }
        for _ in 0..<3 { _ = send(t) }
        _ = send(ping())
        let udpBytes = UInt64(u.count - Self.ipOffset), tcpBytes = UInt64(t.count - Self.ipOffset)
        XCTAssertEqual(termCount("c", "a").packets, 5)
        XCTAssertEqual(termCount("c", "a").bytes, 5 * udpBytes)
        XCTAssertEqual(termCount("c", "b").packets, 3)
        XCTAssertEqual(termCount("c", "rest").packets, 1)
        XCTAssertEqual(counterCount(0).packets, 8)
        XCTAssertEqual(counterCount(0).bytes, 5 * udpBytes + 3 * tcpBytes)
    }

    /// `reject REASON`: the reason's ICMP unreachable out of the ingress interface, from its
    /// address; `tcp-reset`: a RST; a plain `reject` of TCP is ICMP (not a RST, unlike a policy).
    func testRejectReasonsOnTheWire() throws {
        let rows: [(reason: String, packet: [UInt8], icmpCode: UInt8?)] = [
            ("", udp(), 13), ("host-unreachable", udp(), 1), ("port-unreachable", udp(), 3),
            ("network-unreachable", udp(), 0), ("", tcp(40020, 80, flags: TCPFlag.syn), 13),
            ("tcp-reset", tcp(40021, 80, flags: TCPFlag.syn, seq: 5000), nil),
        ]
        for row in rows {
            try start(filters: "family inet { filter r { term t { then reject \(row.reason); } } }", attach: Self.input("r"))
            let (a, out) = send(row.packet)
            XCTAssertEqual(a.kind, .transmit, "reject \(row.reason)")
            XCTAssertEqual(a.egress, 0, "the reply leaves by the ingress interface")
            XCTAssertEqual(Array(out[0..<6]), F.clientMAC)
            // ICMP from the ingress interface's address; a RST from the server the client tried to reach.
            let source = row.icmpCode == nil ? Self.server4 : F.v4(10, 10, 1, 1)
            XCTAssertEqual(Array(out[Self.ipOffset + 12..<Self.ipOffset + 20]), F.be32(source) + F.be32(Self.client4))
            XCTAssertTrue(Self.headerChecksumOK(out))
            let l4 = Self.ipOffset + 20
            if let code = row.icmpCode {
                XCTAssertEqual(out[Self.ipOffset + 9], 1, "reject \(row.reason): ICMP")
                XCTAssertEqual(out[l4], 3)
                XCTAssertEqual(out[l4 + 1], code, "reject \(row.reason)")
            } else {
                XCTAssertEqual(out[Self.ipOffset + 9], 6, "tcp-reset: TCP")
                XCTAssertEqual(out[l4 + 13], TCPFlag.rst | TCPFlag.ack)
                XCTAssertEqual(Array(out[l4 + 8..<l4 + 12]), F.be32(5001), "ACK = SEG.SEQ + 1 for a SYN")
            }
            XCTAssertEqual(dropCount(XPF_DROP_FILTER_REJECT), 1, "the packet itself is dropped as filter_reject")
            pipeline = nil
            region = nil
            fx.removeAll()
        }
    }

    /// IPv6: an inet6 filter rejects with ICMPv6 destination unreachable, administratively
    /// prohibited; an inet filter never sees IPv6 traffic.
    func testFamiliesAreSeparate() throws {
        try start(filters: """
            family inet { filter v4 { term t { then discard; } } }
            family inet6 { filter v6 { term t { from { next-header udp; } then reject; } term rest { then accept; } } }
            """, attach: "fw0 { unit 0 { family inet { filter { input v4; } } family inet6 { filter { input v6; } } } }")
        assertDrop(send(udp()).0, XPF_DROP_FILTER_DISCARD)
        let u6 = F.frame6(src: Self.client6, dst: Self.server6, nextHeader: 17, l4: F.udp(40000, 9999, payload: [1]))
        let (a, out) = send(u6)
        XCTAssertEqual(a.kind, .transmit)
        XCTAssertEqual(a.egress, 0)
        XCTAssertEqual(out[Self.ipOffset + 6], 58, "ICMPv6")
        XCTAssertEqual(Array(out[Self.ipOffset + 40..<Self.ipOffset + 42]), [1, 1], "destination unreachable, administratively prohibited")
        let t6 = F.frame6(src: Self.client6, dst: Self.server6, nextHeader: 6, l4: F.tcp(40000, 80, flags: TCPFlag.syn))
        XCTAssertEqual(send(t6).0.kind, .transmit, "an IPv6 SYN passes the inet6 filter (and the inet filter does not apply)")
        XCTAssertEqual(send(t6).0.egress, 1)
    }

    /// The output filter of the egress interface runs on first packets and session hits.
    func testOutputFilterOnEveryPacket() throws {
        try start(filters: """
            family inet { filter out { term ef { from { dscp ef; } then discard; } term rest { then accept; } } }
            """, attach: Self.output("out"))
        assertForwarded(send(udp()).0)
        assertDrop(send(udp(dscp: Self.dscpEF)).0, XPF_DROP_FILTER_DISCARD)
        XCTAssertEqual(counters.s.session_hits, 1, "the output filter ran after the session lookup")
        assertDrop(send(udp(40001, 9999, dscp: Self.dscpEF)).0, XPF_DROP_FILTER_DISCARD)
        XCTAssertEqual(counters.s.sessions_created, 2, "the first path ran up to the output filter")
        assertForwarded(send(udp()).0)
    }

    /// An output filter's log line names the interface the filter is attached to (the egress).
    func testOutputFilterLogNamesTheEgress() throws {
        try start(filters: "family inet { filter out { term t { then { log; discard; } } } }", attach: Self.output("out"))
        assertDrop(send(udp()).0, XPF_DROP_FILTER_DISCARD)
        let e = events()
        XCTAssertEqual(e.map(\.kind), [.filterLog])
        XCTAssertEqual(e.map(\.interfaceName), ["wan"])
        XCTAssertEqual(e.map(\.action), ["discard"])
    }

    /// `then dscp N`: the forwarded packet carries the new code point, its ECN bits and a
    /// valid header checksum.
    func testDSCPRewrite() throws {
        try start(filters: "family inet { filter mark { term t { then { dscp ef; accept; } } } }", attach: Self.input("mark"))
        let (a, out) = send(Self.withDSCP(udp(), 0, ecn: 1))
        assertForwarded(a)
        XCTAssertEqual(out[Self.ipOffset + 1], Self.dscpEF << 2 | 1)
        XCTAssertTrue(Self.headerChecksumOK(out), "header checksum after DSCP rewrite and TTL decrement")
        XCTAssertEqual(out[Self.ipOffset + 8], 63, "TTL decremented")
    }

    /// `log`: one FILTER_LOG event per packet naming the filter, the term and the action the
    /// wire saw — reject only when the ICMP went out; a reject that may not answer (an ICMP
    /// error is never answered) is logged as a discard.
    func testLogNamesWhatTheWireSaw() throws {
        try start(filters: """
            family inet { filter lg { term d { from { protocol udp; } then { log; discard; } }
                term r { from { protocol icmp; } then { syslog; reject; } } term rest { then accept; } } }
            """, attach: Self.input("lg"))
        _ = send(udp())
        XCTAssertEqual(send(ping()).0.kind, .transmit)
        let error = F.frame4(src: Self.client4, dst: Self.server4, proto: 1, l4: ICMPErrorTests.icmpError(type: 3, code: 3))
        assertDrop(send(error).0, XPF_DROP_FILTER_DISCARD)
        let e = events()
        XCTAssertEqual(e.count, 3)
        XCTAssertEqual(e.map(\.kind), [.filterLog, .filterLog, .filterLog])
        XCTAssertEqual(e.map(\.filterName), ["lg", "lg", "lg"])
        XCTAssertEqual(e.map(\.termName), ["d", "r", "r"])
        XCTAssertEqual(e.map(\.action), ["discard", "reject", "discard"])
        XCTAssertEqual(e[0].protocolID, 17)
        XCTAssertEqual(e[0].sourcePort, 40000)
        XCTAssertEqual(e[0].destinationPort, 9999)
        XCTAssertEqual(e[0].interfaceName, "lan")
        XCTAssertEqual(e[0].packetLength, UInt32(udp().count - Self.ipOffset))
    }

    /// A log line names the record that logged: an interface-specific filter's copy (its
    /// Junos name, `F-IFL-i` / `-o`) and its term — though the snapshot's records and terms
    /// are numbered differently from the model's filters (the copies come after the plain
    /// filter written after them). `plain`'s term goes on (next term) into the list's next
    /// member.
    func testLogOfAnInterfaceSpecificCopyNamesTheCopy() throws {
        try start(filters: """
            family inet { filter both { interface-specific; term seen { then { log; accept; } } }
                          filter plain { term first { from { protocol tcp; } then accept; } term udp { then { log; next term; } } } }
            """, attach: "fw0 { unit 0 { family inet { filter { input-list [ plain both ]; } } } } " + Self.output("both"))
        assertForwarded(send(udp()).0)
        let e = events()
        // The chain term's line comes once the chain has decided (what the wire saw).
        XCTAssertEqual(e.map(\.filterName), ["both-fw0.0-i", "plain", "both-fw1.0-o"])
        XCTAssertEqual(e.map(\.termName), ["seen", "udp", "seen"])
        XCTAssertEqual(e.map(\.action), ["accept", "accept", "accept"])
    }

    /// A key-only filter's decision is memoized per session and direction: later packets
    /// count in the same term without evaluating; a commit that changes the filter, and a
    /// new session in a reused record, are decided afresh.
    func testMemoizedDecisionsFollowTheFilterAndTheSession() throws {
        let pass = "family inet { filter f { term web { from { protocol udp; destination-port 9999; } then accept; } term rest { then discard; } } }"
        let stop = "family inet { filter f { term web { from { protocol udp; destination-port 9999; } then discard; } term rest { then accept; } } }"
        try start(filters: pass, attach: Self.input("f"))
        for _ in 0..<4 { assertForwarded(send(udp()).0) }
        XCTAssertEqual(termCount("f", "web").packets, 4, "first packet evaluated, hits from the memo, every one counted")
        try commit(filters: stop, attach: Self.input("f"))
        assertDrop(send(udp()).0, XPF_DROP_FILTER_DISCARD)
        XCTAssertEqual(termCount("f", "web").packets, 1, "the new epoch's bank, the new decision")
        try commit(filters: pass, attach: Self.input("f"))
        let before = termCount("f", "web").packets  // the bank flipped back: xpfd would have harvested it
        assertForwarded(send(udp()).0)
        XCTAssertEqual(termCount("f", "web").packets, before + 1)
    }

    /// A memoized decision belongs to one session instance: when the record is reused by
    /// another flow, that flow's session hits are decided on their own.
    func testMemoDoesNotOutliveTheSession() throws {
        try start(filters: "family inet { filter f { term a { from { destination-port 9999; } then accept; } term b { then accept; } } }",
                  attach: Self.input("f"))
        assertForwarded(send(udp(40000, 9999)).0)
        assertForwarded(send(udp(40000, 9999)).0)  // a hit: memoized as term a
        let index = try XCTUnwrap(sessionIndex(40000, 9999))
        pipeline.partition.removeAll()
        assertForwarded(send(udp(40001, 9998)).0)  // a new flow in the same record
        XCTAssertEqual(sessionIndex(40001, 9998), index, "the record is reused")
        assertForwarded(send(udp(40001, 9998)).0)  // its hit
        XCTAssertEqual(termCount("f", "a").packets, 2)
        XCTAssertEqual(termCount("f", "b").packets, 2, "the reused record's flow matched b, hit included")
    }

    /// A filter with a per-packet condition is never memoized: the memo would
    /// freeze the first packet's DSCP.
    func testPerPacketFilterIsEvaluatedOnEveryHit() throws {
        try start(filters: "family inet { filter f { term ef { from { dscp ef; } then discard; } term rest { then accept; } } }",
                  attach: Self.input("f") + " " + Self.output("f"))
        assertForwarded(send(udp()).0)
        assertForwarded(send(udp()).0)
        assertDrop(send(udp(dscp: Self.dscpEF)).0, XPF_DROP_FILTER_DISCARD)
        assertForwarded(send(udp()).0)
    }

    /// A commit that changes only a filter starts a new policy epoch: term and counter
    /// indices are banked with the policy ids.
    func testFilterChangeFlipsTheCounterBank() throws {
        try start(filters: "family inet { filter f { term t { then accept; } } }", attach: Self.input("f"))
        let bank = region.configSnapshot.pointee.policy_bank
        try commit(filters: "family inet { filter f { term t { then accept; } } }", attach: Self.input("f"))
        XCTAssertEqual(region.configSnapshot.pointee.policy_bank, bank, "nothing changed: the bank stays")
        try commit(filters: "family inet { filter f { term u { then accept; } } }", attach: Self.input("f"))
        XCTAssertNotEqual(region.configSnapshot.pointee.policy_bank, bank, "a changed filter flips it")
    }
}
