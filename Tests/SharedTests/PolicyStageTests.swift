// Zones and security policies on the worker's real packet path (issue 9 §2, §5,
// frames through Pipeline.process over a region with a compiled
// configuration published as xpfd publishes it, then the session table, the hit
// counters in shared memory, the drop reasons and the events xpfd would drain.
//
// Lab: fw0 (slot 0, "lan") in zone trust, fw1 (slot 1, "wan") in zone untrust; the
// client 10.10.1.10 behind fw0, the server 10.10.2.2 behind fw1 (ForwardTests' FIB).
import CXPF
import Shared
import XCTest

final class PolicyStageTests: ConfiguredPipelineTestCase {
    override class var regionName: String { "pol" }
    override class var configFile: String { "policy-tests" }
    static let trustUntrust = "security-zone trust { interfaces { fw0.0; } } security-zone untrust { interfaces { fw1.0; } }"

    /// The configuration: the dataplane, the zones (`zones`) and `policies`.
    static func text(policies: String, zones: String = trustUntrust, udpTimeout: Int = 60) -> String {
        """
        system { dataplane { interfaces [ fw0 fw1 ]; batch-size 64; neighbor-hold-time 1000; } }
        applications {
            application udp-9999 { protocol udp; destination-port 9999; }
            application udp-7777 { protocol udp; destination-port 7777; inactivity-timeout 5; }
            application tcp-7778 { protocol tcp; destination-port 7778; inactivity-timeout 3600; }
        }
        security {
            flow { udp-timeout \(udpTimeout); }
            address-book { global {
                address server 10.10.2.2/32;
                address other 10.10.2.3/32;
                address server6 fd00:2::2/128;
                address-set servers { address server; address server6; }
            } }
            zones { \(zones) }
            policies { \(policies) }
        }
        """
    }

    /// A region of `queues` partitions running `policies`; the pipeline of queue 0.
    func start(_ policies: String, zones: String = trustUntrust, queues: Int = 1) throws {
        try start(config: Self.text(policies: policies, zones: zones), queues: queues)
    }

    /// Publishes a new configuration as xpfd's commit does (the policy epoch stays when
    /// nothing a session depends on changed) and switches queue 0's pipeline to it.
    func commit(_ policies: String, zones: String = trustUntrust, udpTimeout: Int = 60) throws {
        try commit(config: Self.text(policies: policies, zones: zones, udpTimeout: udpTimeout))
    }

    /// Hit counter `id` of queue `q`'s bank `bank` (default: the running snapshot's).
    func hits(_ id: Int, queue q: Int = 0, bank: UInt32? = nil) -> UInt64 {
        counter(id, XPF_PC_HITS, queue: q, bank: bank)
    }

    /// Word `word` of policy `id`'s counters in queue `q`'s bank `bank` (default: the running snapshot's).
    func counter(_ id: Int, _ word: xpf_policy_counter_word, queue q: Int = 0, bank: UInt32? = nil) -> UInt64 {
        let b = bank ?? region.configSnapshot.pointee.policy_bank
        return xpf_load_relaxed_u64(PolicyCounters.counter(PolicyCounters.bank(region.policyHits(q), b), id, word))
    }

    func policyID(_ name: String) -> Int { running.policies.all.firstIndex { $0.name == name }! }

    func tcp(_ sport: UInt16, _ dport: UInt16, flags: UInt8 = TCPFlag.syn, toClient: Bool = false) -> [UInt8] {
        toClient ? F.frame4(src: Self.server4, dst: Self.client4, proto: 6, l4: F.tcp(dport, sport, flags: flags))
            : F.frame4(src: Self.client4, dst: Self.server4, proto: 6, l4: F.tcp(sport, dport, flags: flags))
    }

    func udp(_ sport: UInt16, _ dport: UInt16, to dst: UInt32 = server4, toClient: Bool = false) -> [UInt8] {
        toClient ? F.frame4(src: Self.server4, dst: Self.client4, proto: 17, l4: F.udp(dport, sport, payload: [1, 2, 3]))
            : F.frame4(src: Self.client4, dst: dst, proto: 17, l4: F.udp(sport, dport, payload: [1, 2, 3]))
    }

    func session(_ proto: UInt8, _ sport: UInt16, _ dport: UInt16, dst: UInt32 = server4) -> UnsafeMutablePointer<xpf_session>? {
        var k = FlowKey()
        k.family = 4
        k.proto = proto
        withUnsafeMutableBytes(of: &k.tuple.src) { $0.copyBytes(from: F.be32(Self.client4)) }
        withUnsafeMutableBytes(of: &k.tuple.dst) { $0.copyBytes(from: F.be32(dst)) }
        k.tuple.sport = sport.bigEndian
        k.tuple.dport = dport.bigEndian
        return region.sessionTable.lookup(&k).map { region.sessions + $0.index }
    }

    static let webPolicies = """
        from-zone trust to-zone untrust {
            policy no-telnet { match { source-address any; destination-address any; application junos-telnet; }
                               then { deny; log { session-init; } } }
            policy web { match { source-address any; destination-address servers; application junos-http; }
                         then { permit; log { session-init; session-close; } } }
            policy refuse-dns { match { source-address any; destination-address any; application junos-dns-udp; }
                                then { reject; log { session-init; } } }
            policy quiet-udp { match { source-address any; destination-address server; application udp-9999; }
                               then { permit; } }
        }
        """

    // MARK: permit, deny, reject, default

    func testAPermittedFlowIsInstalledWithItsPolicyCountedAndLoggedWithNames() throws {
        try start(Self.webPolicies)
        let (a, _) = send(tcp(40000, 80))
        XCTAssertEqual(a.kind, .transmit)
        XCTAssertEqual(a.egress, 1)
        let rec = try XCTUnwrap(session(6, 40000, 80))
        XCTAssertEqual(rec.pointee.policy, UInt16(policyID("web")))
        XCTAssertEqual(rec.pointee.flags, UInt8(XPF_SESS_LOG_CLOSE.rawValue), "web logs session-close")
        XCTAssertEqual(hits(policyID("web")), 1)
        XCTAssertEqual(hits(policyID("no-telnet")), 0)
        let ev = events()
        XCTAssertEqual(ev.count, 1)
        XCTAssertEqual(ev[0].kind, .sessionCreate)
        XCTAssertEqual(ev[0].policyName, "web")
        XCTAssertEqual([ev[0].sourceZoneName, ev[0].destinationZoneName], ["trust", "untrust"])
        XCTAssertEqual(ev[0].interfaceName, "lan")
        // The server's answer belongs to the session: no policy, no further hit.
        XCTAssertEqual(send(tcp(40000, 80, flags: TCPFlag.syn | TCPFlag.ack, toClient: true), ingress: 1).0.kind, .transmit)
        XCTAssertEqual(hits(policyID("web")), 1)
    }

    func testAPolicyWithoutLogEmitsNoCreateOrCloseEvent() throws {
        try start(Self.webPolicies)
        XCTAssertEqual(send(udp(40001, 9999)).0.kind, .transmit)
        let rec = try XCTUnwrap(session(17, 40001, 9999))
        XCTAssertEqual(rec.pointee.policy, UInt16(policyID("quiet-udp")))
        XCTAssertEqual(rec.pointee.flags, 0)
        pipeline.nowMs &+= 61_000
        XCTAssertEqual(pipeline.ageSessions(budget: 1024, counters: &counters), 1)
        XCTAssertNil(session(17, 40001, 9999))
        XCTAssertEqual(events().count, 0, "quiet-udp logs nothing")
    }

    func testDenyDropsSilentlyCountsAndLogsWhatItDid() throws {
        try start(Self.webPolicies)
        let (a, out) = send(tcp(40002, 23))
        assertDrop(a, XPF_DROP_POLICY_DENY)
        XCTAssertEqual(out, tcp(40002, 23), "nothing answered")
        XCTAssertNil(session(6, 40002, 23))
        XCTAssertEqual(hits(policyID("no-telnet")), 1)
        let ev = events()
        XCTAssertEqual(ev.count, 1)
        XCTAssertEqual(ev[0].kind, .sessionDeny)
        XCTAssertEqual(ev[0].policyName, "no-telnet")
        XCTAssertEqual(ev[0].reason, JunosReason.deniedByPolicy)
        XCTAssertEqual([ev[0].sourceZoneName, ev[0].destinationZoneName], ["trust", "untrust"])
        XCTAssertEqual([ev[0].sourcePort, ev[0].destinationPort], [40002, 23])
        XCTAssertEqual(ev[0].sessionID, 0)
    }

    func testRejectAnswersUDPWithAdministrativelyProhibitedAndSaysSo() throws {
        try start(Self.webPolicies)
        let (a, out) = send(udp(40003, 53, to: F.v4(10, 10, 2, 9)))
        XCTAssertEqual(a.kind, .transmit)
        XCTAssertEqual(a.egress, 0, "back out of the ingress interface")
        XCTAssertEqual(out[23], 1, "ICMP")
        XCTAssertEqual([out[34], out[35]], [Reject.adminProhibitedV4.0, Reject.adminProhibitedV4.1])
        XCTAssertEqual(Array(out[30..<34]), F.be32(Self.client4), "to the client")
        XCTAssertEqual(Array(out[26..<30]), F.be32(F.v4(10, 10, 1, 1)), "from the ingress interface's address")
        XCTAssertEqual(counters.s.drops.14, 1, "counted as policy_reject")
        XCTAssertEqual(hits(policyID("refuse-dns")), 1)
        let ev = events()
        XCTAssertEqual(ev.map(\.kind), [.sessionDeny])
        XCTAssertEqual(ev[0].reason, JunosReason.rejectedByPolicy, "the ICMP went out")
        XCTAssertEqual(ev[0].policyName, "refuse-dns")
    }

    func testRejectAnswersTCPWithAReset() throws {
        try start("from-zone trust to-zone untrust { policy r { match { source-address any; destination-address any; application any; } then { reject; } } }")
        let (a, out) = send(tcp(40004, 22))
        XCTAssertEqual(a.kind, .transmit)
        XCTAssertEqual(a.egress, 0)
        XCTAssertEqual(out[23], 6)
        XCTAssertEqual(out[47] & (TCPFlag.rst | TCPFlag.ack), TCPFlag.rst | TCPFlag.ack, "RST+ACK to a SYN")
        XCTAssertEqual(Array(out[26..<30]), F.be32(Self.server4), "from the server the client tried to reach")
        XCTAssertEqual(Array(out[34..<38]), F.be16(22) + F.be16(40004), "ports swapped")
        XCTAssertEqual(events().count, 0, "no log option: no event")
    }

    func testDefaultPolicyDeniesUnlessPermitAllAndCountsUnderItsOwnID() throws {
        try start(Self.webPolicies)
        let untrustToTrust = send(F.frame4(src: Self.server4, dst: Self.client4, proto: 17, l4: F.udp(5000, 6000, payload: [1])), ingress: 1)
        assertDrop(untrustToTrust.0, XPF_DROP_POLICY_DENY)
        XCTAssertEqual(hits(Int(XPF_SESS_POLICY_DEFAULT)), 1)
        XCTAssertEqual(events().count, 0, "the default policy does not log")
        try start(Self.webPolicies + " default-policy permit-all;")
        let (a, _) = send(F.frame4(src: Self.server4, dst: Self.client4, proto: 17, l4: F.udp(5000, 6000, payload: [1])), ingress: 1)
        XCTAssertEqual(a.kind, .transmit)
        XCTAssertEqual(hits(Int(XPF_SESS_POLICY_DEFAULT)), 1)
    }

    func testGlobalPoliciesComeAfterTheZonePairAndHonourTheirZoneLists() throws {
        try start("""
            from-zone trust to-zone untrust { policy pair-deny { match { source-address any; destination-address any; application junos-ssh; } then { deny; } } }
            global {
                policy from-untrust { match { source-address any; destination-address any; application any; from-zone untrust; } then { permit; } }
                policy all-ssh { match { source-address any; destination-address any; application junos-ssh; } then { permit; } }
            }
            """)
        assertDrop(send(tcp(40005, 22)).0, XPF_DROP_POLICY_DENY)  // the pair's own list first
        XCTAssertEqual(hits(policyID("pair-deny")), 1)
        XCTAssertEqual(hits(policyID("all-ssh")), 0)
        assertDrop(send(tcp(40006, 80)).0, XPF_DROP_POLICY_DENY)  // global from-untrust does not apply to trust
        XCTAssertEqual(hits(Int(XPF_SESS_POLICY_DEFAULT)), 1)
        let back = F.frame4(src: Self.server4, dst: Self.client4, proto: 6, l4: F.tcp(6000, 80, flags: TCPFlag.syn))
        XCTAssertEqual(send(back, ingress: 1).0.kind, .transmit)
        XCTAssertEqual(hits(policyID("from-untrust")), 1)
    }

    func testAddressSetsMatchBothFamilies() throws {
        try start(Self.webPolicies)
        XCTAssertEqual(send(F.frame6(src: Self.client6, dst: Self.server6, nextHeader: 6, l4: F.tcp(40007, 80, flags: TCPFlag.syn))).0.kind,
                       .transmit, "server6 is in the set")
        assertDrop(send(tcp(40008, 80).replacing(at: 30, with: F.be32(F.v4(10, 10, 2, 3)))).0, XPF_DROP_POLICY_DENY)
    }

    func testAnInterfaceInNoZoneDrops() throws {
        try start(Self.webPolicies.replacingOccurrences(of: "untrust", with: "trust"),
                  zones: "security-zone trust { interfaces { fw0.0; } }")
        assertDrop(send(tcp(40009, 80)).0, XPF_DROP_ZONE_NONE)
        XCTAssertNil(session(6, 40009, 80))
    }

    func testAnEchoGoesTheWayItsSessionWasOpenedAndOtherTypesAreTheirOwnFlows() throws {
        try start("global { policy ping { match { source-address any; destination-address any; application junos-icmp-ping; } then { permit; } } }")
        let request = F.frame4(src: Self.client4, dst: Self.server4, proto: 1, l4: F.icmpEcho(type: ICMPEcho.requestV4, id: 7, seq: 1))
        XCTAssertEqual(send(request).0.kind, .transmit)
        let reply = F.frame4(src: Self.server4, dst: Self.client4, proto: 1, l4: F.icmpEcho(type: ICMPEcho.replyV4, id: 7, seq: 1))
        XCTAssertEqual(send(reply, ingress: 1).0.kind, .transmit)
        let ping = policyID("ping")
        XCTAssertEqual(hits(ping), 1, "the reply was a session hit")
        // A reply from the initiator or a request from the responder is no packet of that
        // session: a first packet of its own, which junos-icmp-ping (echo requests) does
        // not match — also for the identifier whose key is the mirror of 7's.
        for id: UInt16 in [7, 8, 6] {
            let replyFromClient = F.frame4(src: Self.client4, dst: Self.server4, proto: 1, l4: F.icmpEcho(type: ICMPEcho.replyV4, id: id, seq: 2))
            assertDrop(send(replyFromClient).0, XPF_DROP_POLICY_DENY)
        }
        let requestFromServer = F.frame4(src: Self.server4, dst: Self.client4, proto: 1, l4: F.icmpEcho(type: ICMPEcho.requestV4, id: 7, seq: 3))
        XCTAssertEqual(send(requestFromServer, ingress: 1).0.kind, .transmit, "a new echo session the other way (global policy)")
        XCTAssertEqual(hits(ping), 2)
        XCTAssertEqual(hits(Int(XPF_SESS_POLICY_DEFAULT)), 3)
        // A timestamp request (13) is not an echo: its own flow, which the policy refuses.
        let timestamp = F.frame4(src: Self.client4, dst: Self.server4, proto: 1, l4: [13, 0, 0, 0, 0, 7, 0, 1] + [UInt8](repeating: 0, count: 12))
        assertDrop(send(timestamp).0, XPF_DROP_POLICY_DENY)
    }

    func testAReCheckSeesTheEchoTypeTheSessionWasOpenedWith() throws {
        try start("global { policy any-icmp { match { source-address any; destination-address any; application any; } then { permit; } } }")
        let reply = F.frame4(src: Self.client4, dst: Self.server4, proto: 1, l4: F.icmpEcho(type: ICMPEcho.replyV4, id: 9, seq: 1))
        let request = F.frame4(src: Self.client4, dst: Self.server4, proto: 1, l4: F.icmpEcho(type: ICMPEcho.requestV4, id: 9, seq: 1))
        XCTAssertEqual(send(reply).0.kind, .transmit)
        XCTAssertEqual(send(request).0.kind, .transmit)
        try commit("global { policy ping { match { source-address any; destination-address any; application junos-icmp-ping; } then { permit; } } }")
        assertDrop(send(reply).0, XPF_DROP_POLICY_CHANGE)
        XCTAssertEqual(send(request).0.kind, .transmit, "the request session is still permitted")
    }

    // MARK: the session's sides

    func testAPacketWithASessionsTupleFromAnotherZoneIsNoPacketOfIt() throws {
        try start(Self.webPolicies)
        XCTAssertEqual(send(tcp(40030, 80)).0.kind, .transmit)
        // The server's answer, but arriving from the trust side (a spoof from the LAN).
        assertDrop(send(tcp(40030, 80, flags: TCPFlag.syn | TCPFlag.ack, toClient: true), ingress: 0).0, XPF_DROP_SESSION_ZONE)
        // The client's own tuple arriving from the untrust side.
        assertDrop(send(tcp(40030, 80, flags: TCPFlag.ack), ingress: 1).0, XPF_DROP_SESSION_ZONE)
        let rec = try XCTUnwrap(session(6, 40030, 80), "the session is left as it is")
        XCTAssertEqual(rec.pointee.packets.1, 0, "nothing counted on it")
        // From the right sides, both directions go on.
        XCTAssertEqual(send(tcp(40030, 80, flags: TCPFlag.syn | TCPFlag.ack, toClient: true), ingress: 1).0.kind, .transmit)
        XCTAssertEqual(send(tcp(40030, 80, flags: TCPFlag.ack)).0.kind, .transmit)
    }

    func testAnICMPErrorAboutASessionMustComeFromItsFarSide() throws {
        try start(Self.webPolicies)
        let datagram = udp(40032, 9999)
        XCTAssertEqual(send(datagram).0.kind, .transmit)
        // A port unreachable from a router beyond the server, quoting the client's
        // datagram (IP header + 8 bytes), addressed to the client.
        let quote = Array(datagram[14..<(14 + 28)])
        let error = F.frame4(src: F.v4(10, 10, 2, 77), dst: Self.client4, proto: 1, l4: [3, 3, 0, 0, 0, 0, 0, 0] + quote)
        assertDrop(send(error, ingress: 0).0, XPF_DROP_SESSION_ZONE)  // from the client's own side: spoofed
        let (a, _) = send(error, ingress: 1)
        XCTAssertEqual(a.kind, .transmit, "from the server's side")
        XCTAssertEqual(a.egress, 0)
    }

    func testARouteChangeIntoAnotherZoneStopsTheSession() throws {
        try start(Self.webPolicies)
        XCTAssertEqual(send(tcp(40031, 80)).0.kind, .transmit)
        // The server's network moves behind fw0 (zone trust): no trust -> trust policy was asked.
        try region.publishFIB { f in
            ForwardTests.route(f, family: 4, dst: ForwardTests.b4(F.v4(10, 10, 2, 0)), len: 24, slot: 0, ifindex: ForwardTests.lanIfindex)
            ForwardTests.neigh(f, family: 4, addr: ForwardTests.b4(Self.server4), mac: F.serverMAC, state: XPF_NEIGH_VALID,
                               slot: 0, ifindex: ForwardTests.lanIfindex)
        }
        pipeline.fib = FIBView(region.fibSlot(try XCTUnwrap(fibFollower.poll())))
        assertDrop(send(tcp(40031, 80, flags: TCPFlag.ack)).0, XPF_DROP_SESSION_ZONE)
        XCTAssertNotNil(session(6, 40031, 80))
    }

    // MARK: per-application inactivity timeout

    func testASessionAgesByItsApplicationsInactivityTimeout() throws {
        try start("""
            from-zone trust to-zone untrust { policy apps {
                match { source-address any; destination-address any; application [ udp-9999 udp-7777 tcp-7778 ]; }
                then { permit; } } }
            """)
        XCTAssertEqual(send(udp(40020, 7777)).0.kind, .transmit)
        XCTAssertEqual(send(udp(40021, 9999)).0.kind, .transmit)
        XCTAssertEqual(send(tcp(40022, 7778)).0.kind, .transmit)
        let listed = Dictionary(uniqueKeysWithValues: SessionListing.all(region).map { (UInt16(bigEndian: $0.record.fwd.dport), $0.timeoutS) })
        XCTAssertEqual(listed, [7777: 5, 9999: 60, 7778: 20], "udp-7777's own timeout; the others the flow's (TCP: initial, not yet established)")
        pipeline.nowMs &+= 4_000
        XCTAssertEqual(pipeline.ageSessions(budget: 1024, counters: &counters), 0)
        pipeline.nowMs &+= 2_000
        XCTAssertEqual(pipeline.ageSessions(budget: 1024, counters: &counters), 1, "udp-7777 after 5 s idle")
        XCTAssertNil(session(17, 40020, 7777))
        XCTAssertNotNil(session(17, 40021, 9999), "udp-9999 keeps the UDP timeout (60 s)")
        // Established, the TCP session takes its application's timeout.
        XCTAssertEqual(send(tcp(40022, 7778, flags: TCPFlag.syn | TCPFlag.ack, toClient: true), ingress: 1).0.kind, .transmit)
        XCTAssertEqual(send(tcp(40022, 7778, flags: TCPFlag.ack)).0.kind, .transmit)
        XCTAssertEqual(SessionListing.all(region).first { $0.record.proto == 6 }?.timeoutS, 3600)
    }

    // MARK: then count

    static let countedPolicies = """
        from-zone trust to-zone untrust {
            policy counted { match { source-address any; destination-address server; application udp-9999; }
                             then { permit; count; } }
            policy plain { match { source-address any; destination-address server; application udp-7777; }
                           then { permit; } }
        }
        """

    /// A `then count` policy's sessions carry XPF_SESS_COUNT and, when they close (ageing,
    /// clear), add their packets and bytes per direction and one deletion to the policy's
    /// counters; a policy without `count` gets nothing but its hits.
    func testAThenCountPolicyTakesItsClosedSessionsTraffic() throws {
        try start(Self.countedPolicies)
        let out = udp(40030, 9999), back = udp(40030, 9999, toClient: true)
        XCTAssertEqual(send(out).0.kind, .transmit)
        XCTAssertEqual(send(out).0.kind, .transmit)
        XCTAssertEqual(send(back, ingress: 1).0.kind, .transmit)
        XCTAssertEqual(send(udp(40031, 7777)).0.kind, .transmit)
        let rec = try XCTUnwrap(session(17, 40030, 9999))
        XCTAssertEqual(rec.pointee.flags, UInt8(XPF_SESS_COUNT.rawValue))
        XCTAssertEqual(try XCTUnwrap(session(17, 40031, 7777)).pointee.flags, 0)
        let id = policyID("counted")
        XCTAssertEqual(counter(id, XPF_PC_CLOSED), 0, "nothing closed yet: live traffic stays in the record")
        let (inBytes, outBytes) = (rec.pointee.bytes.0, rec.pointee.bytes.1)
        XCTAssertEqual([rec.pointee.packets.0, rec.pointee.packets.1], [2, 1])
        pipeline.nowMs &+= 61_000
        XCTAssertEqual(pipeline.ageSessions(budget: 1024, counters: &counters), 2, "both sessions idle past their timeouts")
        XCTAssertNil(session(17, 40030, 9999))
        XCTAssertEqual(counter(id, XPF_PC_PACKETS_FWD), 2)
        XCTAssertEqual(counter(id, XPF_PC_PACKETS_REV), 1)
        XCTAssertEqual(counter(id, XPF_PC_BYTES_FWD), inBytes)
        XCTAssertEqual(counter(id, XPF_PC_BYTES_REV), outBytes)
        XCTAssertEqual(inBytes, 2 * UInt64(out.count), "the frames' bytes, as the session counts them")
        XCTAssertEqual(counter(id, XPF_PC_CLOSED), 1)
        XCTAssertEqual(counter(id, XPF_PC_HITS), 1)
        let plain = policyID("plain")
        XCTAssertEqual([counter(plain, XPF_PC_HITS), counter(plain, XPF_PC_CLOSED), counter(plain, XPF_PC_PACKETS_FWD)], [1, 0, 0])
        // A clear counts too.
        XCTAssertEqual(send(udp(40032, 9999)).0.kind, .transmit)
        XCTAssertEqual(pipeline.clearSessions(counters: &counters).removed, 1)
        XCTAssertEqual(counter(id, XPF_PC_CLOSED), 2)
        XCTAssertEqual(counter(id, XPF_PC_PACKETS_FWD), 3)
    }

    /// A re-check replaces the verdict's flags (XPF_SESS_LOG_CLOSE, XPF_SESS_COUNT) with
    /// the new policy's, whichever were set before.
    func testARecheckReplacesTheVerdictFlags() throws {
        try start(Self.countedPolicies)
        XCTAssertEqual(send(udp(40040, 9999)).0.kind, .transmit)
        let rec = try XCTUnwrap(session(17, 40040, 9999))
        let (count, logClose) = (UInt8(XPF_SESS_COUNT.rawValue), UInt8(XPF_SESS_LOG_CLOSE.rawValue))
        XCTAssertEqual(rec.pointee.flags, count)
        for (then, want) in [("then { permit; log { session-close; } }", logClose),
                             ("then { permit; count; log { session-close; } }", count | logClose),
                             ("then { permit; }", UInt8(0)),
                             ("then { permit; count; }", count)] {
            try commit(Self.countedPolicies.replacingOccurrences(of: "then { permit; count; }", with: then))
            XCTAssertEqual(send(udp(40040, 9999)).0.kind, .transmit)
            XCTAssertEqual(rec.pointee.flags, want, then)
        }
    }

    /// A counted session removed while stale is re-checked first and counts under the
    /// running epoch's policy; one decided under a generation newer than this worker runs
    /// (another worker re-checked it) counts nothing here; one the new policies refuse
    /// counts nothing.
    func testAClosedSessionCountsOnlyUnderTheEpochThisWorkerRuns() throws {
        try start(Self.countedPolicies)
        XCTAssertEqual(send(udp(40041, 9999)).0.kind, .transmit)
        try commit(Self.countedPolicies.replacingOccurrences(of: "policy plain", with: "policy plain2"))
        let stale = try XCTUnwrap(session(17, 40041, 9999))
        XCTAssertLessThan(stale.pointee.generation, pipeline.policyEpoch, "no packet since the commit: stale")
        XCTAssertEqual(pipeline.clearSessions(counters: &counters).removed, 1)
        XCTAssertEqual(counter(policyID("counted"), XPF_PC_CLOSED), 1, "re-checked, then counted under the new id")
        XCTAssertEqual(counter(policyID("counted"), XPF_PC_PACKETS_FWD), 1)
        // A verdict from a generation this worker does not run yet belongs to the next bank.
        XCTAssertEqual(send(udp(40042, 9999)).0.kind, .transmit)
        let rec = try XCTUnwrap(session(17, 40042, 9999))
        xpf_sess_set_generation(rec, UInt32(truncatingIfNeeded: pipeline.generation) &+ 1)
        XCTAssertEqual(pipeline.clearSessions(counters: &counters).removed, 1)
        XCTAssertEqual(counter(policyID("counted"), XPF_PC_CLOSED), 1, "not counted in this worker's bank")
        // Refused by the new policies: closed by the ageing sweep's re-check, not counted.
        XCTAssertEqual(send(udp(40043, 9999)).0.kind, .transmit)
        try commit(Self.countedPolicies.replacingOccurrences(of: "application udp-9999", with: "application junos-http"))
        pipeline.nowMs &+= 1_000
        XCTAssertEqual(pipeline.ageSessions(budget: 1024, counters: &counters), 1)
        XCTAssertNil(session(17, 40043, 9999))
        let running = region.configSnapshot.pointee.policy_bank
        XCTAssertEqual(counter(policyID("counted"), XPF_PC_CLOSED), 0, "nothing in the running bank")
        XCTAssertEqual(counter(policyID("counted"), XPF_PC_CLOSED, bank: running ^ 1), 1, "the previous bank keeps its one")
    }

    // MARK: re-evaluation on commit

    func testACommitThatNoLongerPermitsClosesTheSessionAtItsNextPacket() throws {
        try start(Self.webPolicies)
        XCTAssertEqual(send(tcp(40010, 80)).0.kind, .transmit)
        _ = events()
        let epoch = region.configSnapshot.pointee.policy_epoch
        try commit(Self.webPolicies.replacingOccurrences(of: "application junos-http;", with: "application junos-https;"))
        XCTAssertNotEqual(region.configSnapshot.pointee.policy_epoch, epoch, "the policies changed: a new epoch")
        XCTAssertEqual(pipeline.policyEpoch, region.configSnapshot.pointee.policy_epoch)
        let (a, _) = send(tcp(40010, 80, flags: TCPFlag.ack))
        assertDrop(a, XPF_DROP_POLICY_CHANGE)
        XCTAssertNil(session(6, 40010, 80), "the owner removed it at once")
        XCTAssertEqual(counters.s.sessions_closed, 1)
        let ev = events()
        XCTAssertEqual(ev.map(\.kind), [.sessionClose])
        XCTAssertEqual(ev[0].reason, JunosReason.policyChange)
        XCTAssertEqual(ev[0].policyName, "web", "the policy that had permitted it")
        // The server's answer finds no session and untrust→trust is denied.
        assertDrop(send(tcp(40010, 80, flags: TCPFlag.ack, toClient: true), ingress: 1).0, XPF_DROP_TCP_NOT_SYN)
    }

    func testACommitThatStillPermitsTakesTheNewVerdict() throws {
        try start(Self.webPolicies)
        XCTAssertEqual(send(tcp(40011, 80)).0.kind, .transmit)
        let rec = try XCTUnwrap(session(6, 40011, 80))
        let before = rec.pointee.generation
        // A new first policy permits it without logging.
        try commit(Self.webPolicies.replacingOccurrences(of: "from-zone trust to-zone untrust {", with: """
            from-zone trust to-zone untrust {
                policy all-web { match { source-address any; destination-address any; application junos-http; } then { permit; } }
            """))
        XCTAssertEqual(send(tcp(40011, 80, flags: TCPFlag.ack)).0.kind, .transmit)
        XCTAssertEqual(rec.pointee.policy, UInt16(policyID("all-web")))
        XCTAssertEqual(rec.pointee.flags & UInt8(XPF_SESS_LOG_CLOSE.rawValue), 0, "all-web does not log session-close")
        XCTAssertGreaterThan(rec.pointee.generation, before)
        XCTAssertEqual(UInt64(rec.pointee.generation), pipeline.generation)
        XCTAssertEqual(hits(policyID("all-web")), 0, "a re-check is not a hit (hits count flows)")
        // Once re-checked, later packets are plain session hits.
        XCTAssertEqual(send(tcp(40011, 80, flags: TCPFlag.ack)).0.kind, .transmit)
        XCTAssertEqual(UInt64(rec.pointee.generation), pipeline.generation)
        XCTAssertEqual(send(tcp(40012, 80)).0.kind, .transmit, "a new flow")
        XCTAssertEqual(hits(policyID("all-web")), 1)
    }

    func testACommitOfUnrelatedSettingsKeepsTheEpochAndReChecksNothing() throws {
        try start(Self.webPolicies)
        XCTAssertEqual(send(tcp(40012, 80)).0.kind, .transmit)
        let rec = try XCTUnwrap(session(6, 40012, 80))
        let (epoch, bank) = (region.configSnapshot.pointee.policy_epoch, region.configSnapshot.pointee.policy_bank)
        try commit(Self.webPolicies, udpTimeout: 90)
        XCTAssertEqual(pipeline.generation, 2)
        XCTAssertEqual(region.configSnapshot.pointee.policy_epoch, epoch)
        XCTAssertEqual(region.configSnapshot.pointee.policy_bank, bank)
        XCTAssertEqual(send(tcp(40012, 80, flags: TCPFlag.ack)).0.kind, .transmit)
        XCTAssertEqual(rec.pointee.generation, 1, "not re-checked: still the generation that decided it")
        XCTAssertEqual(hits(policyID("web")), 1)
    }

    func testTheHitBankFlipsWithEachPolicyEpoch() throws {
        try start(Self.webPolicies)
        XCTAssertEqual(region.configSnapshot.pointee.policy_bank, 0)
        XCTAssertEqual(send(tcp(40013, 80)).0.kind, .transmit)
        try commit(Self.webPolicies + " default-policy permit-all;")
        XCTAssertEqual(region.configSnapshot.pointee.policy_bank, 1)
        XCTAssertEqual(send(tcp(40014, 80)).0.kind, .transmit)
        XCTAssertEqual(hits(policyID("web"), bank: 0), 1)
        XCTAssertEqual(hits(policyID("web"), bank: 1), 1)
    }

    func testAnotherWorkerMarksTheSessionAndItsOwnerRemovesIt() throws {
        try start(Self.webPolicies, queues: 2)
        XCTAssertEqual(send(tcp(40015, 80)).0.kind, .transmit)
        _ = events()
        var cf1: SnapshotFollower?, ff1: SnapshotFollower?
        var other = ForwardTests.makePipeline(region, &cf1, &ff1, queue: 1).0
        try commit("")  // no policy: nothing is permitted any more
        let slot = try XCTUnwrap(cf1!.poll())
        other.adopt(config: region.configSlot(slot), generation: cf1!.generation)
        var c1 = WorkerCounters()
        let answer = tcp(40015, 80, flags: TCPFlag.ack, toClient: true)
        var buf = answer + [UInt8](repeating: 0, count: 64)
        let a = buf.withUnsafeMutableBytes { other.process(frame: $0.baseAddress!, length: answer.count, ingress: 1, counters: &c1) }
        assertDrop(a, XPF_DROP_POLICY_CHANGE)
        let rec = try XCTUnwrap(session(6, 40015, 80), "only the owner removes a record")
        XCTAssertNotEqual(rec.pointee.flags & UInt8(XPF_SESS_POLICY_CLOSED.rawValue), 0)
        assertDrop(send(tcp(40015, 80, flags: TCPFlag.ack)).0, XPF_DROP_POLICY_CHANGE)
        XCTAssertNil(session(6, 40015, 80), "the owner's own packet removed it")
        XCTAssertEqual(events().map(\.reason), [JunosReason.policyChange])
    }

    func testTheAgeingSweepReChecksIdleSessions() throws {
        try start(Self.webPolicies)
        XCTAssertEqual(send(tcp(40016, 80)).0.kind, .transmit)
        XCTAssertEqual(send(udp(40017, 9999)).0.kind, .transmit)
        _ = events()
        try commit(Self.webPolicies.replacingOccurrences(of: "application junos-http;", with: "application junos-https;"))
        XCTAssertEqual(pipeline.ageSessions(budget: 1024, counters: &counters), 1, "web no longer permits the idle TCP session")
        XCTAssertNil(session(6, 40016, 80))
        let udp = try XCTUnwrap(session(17, 40017, 9999), "quiet-udp still permits the UDP one")
        XCTAssertEqual(UInt64(udp.pointee.generation), pipeline.generation, "re-checked by the sweep")
        XCTAssertEqual(events().map(\.reason), [JunosReason.policyChange])
    }
}

extension Array where Element == UInt8 {
    /// A copy with `bytes` written at `at` (and the IPv4 header checksum left alone: the
    /// pipeline does not verify it).
    func replacing(at: Int, with bytes: [UInt8]) -> [UInt8] {
        var c = self
        c.replaceSubrange(at..<(at + bytes.count), with: bytes)
        return c
    }
}
