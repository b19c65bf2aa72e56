// Policers on the worker's real packet path (issue 10 §5, R-6.3), over FilterTestCase's
// harness: what a term's policer lets through, discards or marks on first packets and
// session hits, what later terms and the output filter see of its marking, which terms,
// filters and attachments share an instance, and that a commit starts full buckets.
// The metering itself is checked against the RFCs in PolicerTests.
import CXPF
import Shared
import XCTest

final class PolicerStageTests: FilterTestCase {
    /// The IP datagram length of `big` frames: what a policer meters.
    static let datagram = 1_000
    static let udpHeader = 8, ipv4Header = 20
    /// 8 kbit/s is 1 000 bytes a second; 1 500 bytes of burst hold one datagram, not two.
    static let slow = "if-exceeding { bandwidth-limit 8k; burst-size-limit 1500; }"
    static let second: UInt64 = 1_000_000_000
    /// Far from 0, as CLOCK_MONOTONIC is (a fresh srTCM's excess bucket is full by then).
    static let startNs: UInt64 = 100 * second

    /// A UDP datagram of `datagram` bytes from the client to the server.
    func big(_ sport: UInt16 = 40000, _ dport: UInt16 = 9999) -> [UInt8] {
        let payload = [UInt8](repeating: 0x5A, count: Self.datagram - Self.ipv4Header - Self.udpHeader)
        return F.frame4(src: Self.client4, dst: Self.server4, proto: 17, l4: F.udp(sport, dport, payload: payload))
    }

    func startPolicing(filters: String, attach: String) throws {
        try start(filters: filters, attach: attach)
        pipeline.nowNs = Self.startNs
    }

    /// The running snapshot's policer instance names, in POLICER_INSTANCES order.
    func instanceNames() -> [String] {
        let view = region.configView(slot: region.current(.config).slot)
        return view.policerInstances.map { view.string(at: $0.name) ?? "?" }
    }

    /// The running snapshot's FILTERS names and COUNTERS names.
    func filterNames() -> [String] {
        let view = region.configView(slot: region.current(.config).slot)
        return view.filters.map { view.string(at: $0.name) ?? "?" }
    }

    func counterNames() -> [String] {
        let view = region.configView(slot: region.current(.config).slot)
        return view.counters.map { view.string(at: $0.name) ?? "?" }
    }

    /// Instance `instance`'s row `row` (packets, bytes) in the running bank.
    func policerCount(_ instance: Int, _ row: xpf_policer_row) -> (packets: UInt64, bytes: UInt64) {
        let rows = FilterCounters.rows(region.filterHits(0), .policer, bank: region.configSnapshot.pointee.policy_bank)
        return FilterCounters.read(rows, instance * Int(XPF_POLICER_ROWS.rawValue) + Int(row.rawValue))
    }

    // MARK: - two-color

    /// Out of profile is discarded on the first packet of a flow and on a session hit alike
    /// (a policing term is never memoized), one instance serves every flow the term
    /// matches, the term counts every packet it matched, and time refills the bucket.
    func testOutOfProfileIsDiscardedOnFirstPacketsAndSessionHits() throws {
        try startPolicing(filters: """
            policer p { \(Self.slow) then discard; }
            family inet { filter f { term t { from { protocol udp; } then { policer p; accept; } } term rest { then accept; } } }
            """, attach: Self.input("f"))
        XCTAssertEqual(instanceNames(), ["p-t"])
        assertForwarded(send(big()).0)                                         // first packet: in the burst
        assertDrop(send(big()).0, XPF_DROP_POLICER_DISCARD)                    // session hit: out
        assertDrop(send(big(40001)).0, XPF_DROP_POLICER_DISCARD)               // another flow, same instance
        XCTAssertEqual(policerCount(0, XPF_POLICER_ROW_OUT).packets, 2)
        XCTAssertEqual(policerCount(0, XPF_POLICER_ROW_OUT).bytes, 2 * UInt64(Self.datagram))
        XCTAssertEqual(policerCount(0, XPF_POLICER_ROW_YELLOW).packets, 0)
        pipeline.nowNs += Self.second  // 1 000 bytes more
        assertForwarded(send(big()).0)
        assertDrop(send(big()).0, XPF_DROP_POLICER_DISCARD)
        XCTAssertEqual(termCount("f", "t").packets, 5)  // the term counts what it matched, policed or not
        XCTAssertEqual(termCount("f", "rest").packets, 0)
    }

    /// `then loss-priority high` lets out-of-profile packets on, marked: an output filter
    /// matching `from loss-priority high` sees exactly those.
    func testOutOfProfileMarkedHighIsSeenByTheOutputFilter() throws {
        try startPolicing(filters: """
            policer p { \(Self.slow) then loss-priority high; }
            family inet { filter in { term t { then { policer p; accept; } } }
                          filter out { term high { from { loss-priority high; } then { count high; accept; } }
                                       term low { from { loss-priority low; } then { count low; accept; } } } }
            """, attach: Self.input("in") + " " + Self.output("out"))
        for _ in 0..<3 { assertForwarded(send(big()).0) }
        XCTAssertEqual(termCount("out", "low").packets, 1)
        XCTAssertEqual(termCount("out", "high").packets, 2)
        XCTAssertEqual(policerCount(0, XPF_POLICER_ROW_OUT).packets, 2)
    }

    /// Forwarding classes: a term's `then forwarding-class` and a policer's out-of-profile
    /// one mark the packet; an output filter's `from forwarding-class` sees the mark, and
    /// an unmarked packet is best-effort (Junos's default class).
    func testForwardingClassesMarkedByTermsAndPolicersAreMatched() throws {
        try startPolicing(filters: """
            policer p { \(Self.slow) then forwarding-class assured-forwarding; }
            family inet { filter in { term ef { from { destination-port 1000; } then { forwarding-class expedited-forwarding; accept; } }
                                      term af { from { destination-port 2000; } then { policer p; accept; } }
                                      term rest { then accept; } }
                          filter out { term ef { from { forwarding-class expedited-forwarding; } then { count ef; accept; } }
                                       term af { from { forwarding-class assured-forwarding; } then { count af; accept; } }
                                       term be { from { forwarding-class best-effort; } then { count be; accept; } } } }
            """, attach: Self.input("in") + " " + Self.output("out"))
        assertForwarded(send(big(40000, 1000)).0)  // marked expedited-forwarding
        assertForwarded(send(big(40000, 2000)).0)  // in profile: best-effort
        assertForwarded(send(big(40000, 2000)).0)  // out of profile: assured-forwarding
        assertForwarded(send(big(40000, 3000)).0)  // unmarked: best-effort
        XCTAssertEqual(termCount("out", "ef").packets, 1)
        XCTAssertEqual(termCount("out", "af").packets, 1)
        XCTAssertEqual(termCount("out", "be").packets, 2)
        XCTAssertEqual(policerCount(0, XPF_POLICER_ROW_OUT).packets, 1)
    }

    // MARK: - instances

    /// Junos makes one instance per term; `filter-specific` one per filter.
    func testFilterSpecificTermsShareOneInstance() throws {
        func run(_ specific: Bool) throws -> (PacketAction, PacketAction) {
            try startPolicing(filters: """
                policer p { \(specific ? "filter-specific; " : "")\(Self.slow) then discard; }
                family inet { filter f { term a { from { destination-port 1000; } then { policer p; accept; } }
                                         term b { from { destination-port 2000; } then { policer p; accept; } } } }
                """, attach: Self.input("f"))
            return (send(big(40000, 1000)).0, send(big(40000, 2000)).0)
        }
        var (a, b) = try run(false)
        XCTAssertEqual(instanceNames(), ["p-a", "p-b"])
        assertForwarded(a)
        assertForwarded(b)  // its own bucket
        tearDown()
        (a, b) = try run(true)
        XCTAssertEqual(instanceNames(), ["p"])
        assertForwarded(a)
        assertDrop(b, XPF_DROP_POLICER_DISCARD)  // the bucket term a spent
    }

    /// `interface-specific`: each attachment runs its own copy of the filter, named as
    /// Junos names it, with its own counters and policer instances. Without it, a packet
    /// through the same filter as input of fw0 and output of fw1 meets one instance twice.
    func testInterfaceSpecificFilterIsCopiedPerAttachment() throws {
        let filters = { (specific: Bool) in """
            policer p { \(Self.slow) then discard; }
            family inet { filter f { \(specific ? "interface-specific; " : "")term t { then { count c; policer p; accept; } } } }
            """ }
        try startPolicing(filters: filters(true), attach: Self.input("f") + " " + Self.output("f"))
        XCTAssertEqual(filterNames(), ["f-fw0.0-i", "f-fw1.0-o"])
        XCTAssertEqual(counterNames(), ["c-fw0.0-i", "c-fw1.0-o"])
        XCTAssertEqual(instanceNames(), ["p-t-fw0.0-i", "p-t-fw1.0-o"])
        assertForwarded(send(big()).0)
        XCTAssertEqual(counterCount(0).packets, 1)
        XCTAssertEqual(counterCount(1).packets, 1)
        tearDown()
        try startPolicing(filters: filters(false), attach: Self.input("f") + " " + Self.output("f"))
        XCTAssertEqual(filterNames(), ["f"])
        XCTAssertEqual(instanceNames(), ["p-t"])
        assertDrop(send(big()).0, XPF_DROP_POLICER_DISCARD)  // 2 000 bytes against 1 500 of burst
        XCTAssertEqual(counterCount(0).packets, 2)           // counted on the way in and on the way out
    }

    /// A commit that changes a policer starts a new epoch, whose bank's buckets are full.
    func testCommitChangingThePolicerStartsFullBuckets() throws {
        let filters = { (rate: String) in """
            policer p { if-exceeding { bandwidth-limit \(rate); burst-size-limit 1500; } then discard; }
            family inet { filter f { term t { then { policer p; accept; } } } }
            """ }
        try startPolicing(filters: filters("8k"), attach: Self.input("f"))
        assertForwarded(send(big()).0)
        assertDrop(send(big()).0, XPF_DROP_POLICER_DISCARD)
        try commit(filters: filters("16k"), attach: Self.input("f"))
        assertForwarded(send(big()).0)  // no time has passed: a full bucket
        assertDrop(send(big()).0, XPF_DROP_POLICER_DISCARD)
        pipeline.nowNs += Self.second / 2  // 16 kbit/s: 1 000 bytes in half a second
        assertForwarded(send(big()).0)
    }

    // MARK: - three-color

    /// The output filter's view of a three-color policer: `from loss-priority` per color.
    static let byColor = """
        filter out { term red { from { loss-priority high; } then { count red; accept; } }
                     term yellow { from { loss-priority medium-high; } then { count yellow; accept; } }
                     term green { from { loss-priority low; } then { count green; accept; } } }
        """

    /// srTCM at 8 kbit/s, CBS and EBS of 1 500 bytes: green, yellow, then red — marked, or
    /// dropped with `loss-priority high then discard`; counted per instance either way.
    func testSingleRateThreeColorMarksAndDiscardsRed() throws {
        for discard in [false, true] {
            try startPolicing(filters: """
                three-color-policer t { single-rate { committed-information-rate 8k; committed-burst-size 1500;
                    excess-burst-size 1500; } \(discard ? "action { loss-priority high then discard; }" : "") }
                family inet { filter in { term t { then { three-color-policer { single-rate t; } accept; } } } \(Self.byColor) }
                """, attach: Self.input("in") + " " + Self.output("out"))
            assertForwarded(send(big()).0)
            assertForwarded(send(big()).0)
            let third = send(big()).0
            XCTAssertEqual(termCount("out", "green").packets, 1)
            XCTAssertEqual(termCount("out", "yellow").packets, 1)
            if discard {
                assertDrop(third, XPF_DROP_POLICER_DISCARD)
                XCTAssertEqual(termCount("out", "red").packets, 0)
            } else {
                assertForwarded(third)
                XCTAssertEqual(termCount("out", "red").packets, 1)
            }
            XCTAssertEqual(policerCount(0, XPF_POLICER_ROW_YELLOW).packets, 1)
            XCTAssertEqual(policerCount(0, XPF_POLICER_ROW_OUT).packets, 1)
            tearDown()
        }
    }

    /// trTCM at CIR 8k / PIR 16k, CBS and PBS 1 500: green, then red (P holds 500 bytes);
    /// a quarter of a second later P holds 1 000, C only 750: yellow.
    func testTwoRateThreeColor() throws {
        try startPolicing(filters: """
            three-color-policer t { two-rate { committed-information-rate 8k; committed-burst-size 1500;
                peak-information-rate 16k; peak-burst-size 1500; } }
            family inet { filter in { term t { then { three-color-policer { two-rate t; } accept; } } } \(Self.byColor) }
            """, attach: Self.input("in") + " " + Self.output("out"))
        for _ in 0..<2 { assertForwarded(send(big()).0) }
        XCTAssertEqual([termCount("out", "green").packets, termCount("out", "yellow").packets, termCount("out", "red").packets],
                       [1, 0, 1])  // the second: P (1 500) cannot hold 2 000
        pipeline.nowNs += Self.second / 4
        assertForwarded(send(big()).0)
        XCTAssertEqual(termCount("out", "yellow").packets, 1)
    }

    /// Color-aware: the packet's loss priority so far is its color, and the policer never
    /// lowers it; color-blind ignores it. The term marks medium-high before its policer
    /// runs, with a full bucket.
    func testColorAwareKeepsThePrecolor() throws {
        for aware in [false, true] {
            try startPolicing(filters: """
                three-color-policer t { single-rate { \(aware ? "color-aware" : "color-blind"); committed-information-rate 8k;
                    committed-burst-size 1500; excess-burst-size 1500; } }
                family inet { filter in { term t { then { loss-priority medium-high; three-color-policer { single-rate t; } accept; } } }
                              \(Self.byColor) }
                """, attach: Self.input("in") + " " + Self.output("out"))
            assertForwarded(send(big()).0)
            // Color-blind: green (low); color-aware: the term's medium-high makes it yellow.
            XCTAssertEqual(termCount("out", aware ? "yellow" : "green").packets, 1, "aware: \(aware)")
            XCTAssertEqual(termCount("out", aware ? "green" : "yellow").packets, 0, "aware: \(aware)")
            tearDown()
        }
    }

    // MARK: - hostile snapshots

    /// validate() refuses a policing term whose instance is missing, out of range or of the
    /// other kind, and an instance naming a policer that does not exist — the references
    /// the stage follows without checks.
    func testValidateRefusesBrokenPolicerReferences() throws {
        let (_, model) = try ConfigModel.load(text: Self.text(filters: """
            policer p { \(Self.slow) then discard; }
            three-color-policer t { single-rate { committed-information-rate 8k; committed-burst-size 1500; excess-burst-size 1500; } }
            family inet { filter f { term a { then { policer p; accept; } } term b { then { three-color-policer { single-rate t; } accept; } } } }
            """, attach: Self.input("f")), file: "hostile")
        func corrupted(_ change: (ConfigSnapshotView, UnsafeMutableRawPointer) -> Void) throws -> String {
            try SnapshotModelReader.validation(of: model, corruptedBy: change)
        }
        func term(_ v: ConfigSnapshotView, _ b: UnsafeMutableRawPointer, _ i: Int) -> UnsafeMutablePointer<xpf_cfg_term> {
            (b + Int(v.section(XPF_CFG_SEC_TERMS).offset) + i * MemoryLayout<xpf_cfg_term>.stride).assumingMemoryBound(to: xpf_cfg_term.self)
        }
        XCTAssertEqual(try corrupted { _, _ in }, "accepted")
        XCTAssertTrue(try corrupted { v, b in term(v, b, 0).pointee.policer_instance = 2 }.contains("term 0 policer instance"))
        XCTAssertTrue(try corrupted { v, b in term(v, b, 0).pointee.policer_instance = XPF_CFG_NONE }.contains("term 0 policer instance"))
        XCTAssertTrue(try corrupted { v, b in term(v, b, 0).pointee.policer_instance = 1 }.contains("of the other kind"))
        XCTAssertTrue(try corrupted { v, b in term(v, b, 1).pointee.policer = 0 }.contains("two policers"))
        XCTAssertTrue(try corrupted { v, b in term(v, b, 0).pointee.policer = XPF_CFG_NONE }.contains("no policer"))
        XCTAssertTrue(try corrupted { v, b in
            (b + Int(v.section(XPF_CFG_SEC_POLICER_INSTANCES).offset)).storeBytes(of: UInt32(7), toByteOffset: 8, as: UInt32.self)
        }.contains("policer instance 0 policer"))
    }

    /// Junos's instance names can collide: a filter-specific `p-udp` and policer `p` of term
    /// `udp`. Their counts would merge, so the snapshot refuses the pair, naming it.
    func testCollidingInstanceNamesAreRefused() throws {
        let (_, model) = try ConfigModel.load(text: Self.text(filters: """
            policer p { \(Self.slow) then discard; }
            policer p-udp { filter-specific; \(Self.slow) then discard; }
            family inet { filter f { term udp { then { policer p; accept; } } term b { then { policer p-udp; accept; } } } }
            """, attach: Self.input("f")), file: "clash")
        XCTAssertThrowsError(try ConfigSnapshotImage(model)) { error in
            XCTAssertEqual("\(error)", "firewall filter f: two policer instances are named 'p-udp'; rename a policer or a term")
        }
    }
}
