import XCTest
import CXPF
@testable import Shared

/// Firewall filter counters that survive commits (Sources/Shared/Status/FilterCounts.swift,
/// driven by PolicyHitCounts; issue 10 §4): xpfd's counts per term and per named counter
/// over a real region whose worker blocks and struct xpf_filter_hits rows are written here
/// as workers write them (state, seen generation with release; FilterCounters.count, the
/// worker's own call, in the running snapshot's bank), and the text of `show firewall`.
final class FilterCountsTests: XCTestCase {
    let fx = ShmTestFixture()

    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    override func tearDown() {
        fx.removeAll()
        super.tearDown()
    }

    /// Filter `edge` (inet, on fw0's input): `extra` terms first (each counting into
    /// `extra-hits`), then web and ssh sharing counter `allowed`, then `rest` counting
    /// `dropped`; an inet6 filter `edge` too (term all, counter v6); and `spare` (inet,
    /// attached nowhere, no counter).
    static func config(extra: [String] = [], spare: Bool = true) -> String {
        let extraTerms = extra.map { "term \($0) { from { protocol udp; } then { count extra-hits; accept; } }" }
            .joined(separator: "\n")
        return """
        system dataplane interfaces [ fw0 fw1 ];
        interfaces fw0 unit 0 family inet filter input edge;
        interfaces fw0 unit 0 family inet6 filter input edge;
        firewall {
            family inet {
                filter edge {
                    \(extraTerms)
                    term web { from { protocol tcp; destination-port 80; } then { count allowed; accept; } }
                    term ssh { from { protocol tcp; destination-port 22; } then { count allowed; accept; } }
                    term rest { then { count dropped; discard; } }
                }
                \(spare ? "filter spare { term only { then accept; } }" : "")
            }
            family inet6 {
                filter edge { term all { then { count v6; accept; } } }
            }
        }
        """
    }

    static func model(extra: [String] = [], spare: Bool = true) throws -> ConfigModel {
        try ConfigModel.load(text: config(extra: extra, spare: spare), file: "t").1
    }

    static func term(_ name: String, family: ConfigModel.Family = .inet, filter: String = "edge") -> FilterCountIdentity {
        FilterCountIdentity(.term, family: family, filter: filter, name: name)
    }

    static func counter(_ name: String, family: ConfigModel.Family = .inet, filter: String = "edge") -> FilterCountIdentity {
        FilterCountIdentity(.counter, family: family, filter: filter, name: name)
    }

    /// Worker `q` as a worker process shows itself: state, then the generation it runs.
    private func setWorker(_ r: ShmRegion, _ q: Int, _ state: xpf_worker_state, seen: UInt64) {
        let w = r.worker(q)
        xpf_store_release_u64(xpf_wb_config_seen(w), seen)
        xpf_store_release_u32(xpf_wb_state(w), UInt32(state.rawValue))
    }

    /// The row (TERMS or COUNTERS index) of `identity` in the running snapshot, as the
    /// worker finds it: the term's record, or its `counter` field.
    private func row(_ r: ShmRegion, _ identity: FilterCountIdentity) -> Int {
        let view = r.configView(slot: r.current(.config).slot)
        for (fi, f) in view.filters.enumerated()
            where view.string(at: f.name) == identity.filter && f.family == (identity.family == .inet ? 4 : 6)
        {
            for t in Int(f.terms.first)..<Int(f.terms.first + f.terms.count) {
                let rec = view.term(t)
                XCTAssertEqual(Int(rec.filter), fi)
                if identity.kind == .term, view.string(at: rec.name) == identity.name { return t }
                if identity.kind == .counter, rec.counter != XPF_CFG_NONE,
                   view.string(at: view.counter(Int(rec.counter)).name) == identity.name { return Int(rec.counter) }
            }
        }
        XCTFail("\(identity) is not in the running snapshot")
        return -1
    }

    /// Worker `q` counts `n` packets of `bytes` each for `identity` (in `bank`, default the
    /// running snapshot's), with the worker's own call.
    private func count(_ r: ShmRegion, _ q: Int, _ identity: FilterCountIdentity, _ n: Int = 1, bytes: UInt64 = 100,
                       bank b: UInt32? = nil, row fixedRow: Int? = nil)
    {
        let table: FilterCounters.Table = identity.kind == .term ? .term : .counter
        let rows = FilterCounters.rows(r.filterHits(q), table, bank: b ?? r.configSnapshot.pointee.policy_bank)
        let at = fixedRow ?? row(r, identity)
        for _ in 0..<n { FilterCounters.count(rows, at, bytes: bytes) }
    }

    private func raw(_ r: ShmRegion, _ q: Int, _ table: FilterCounters.Table, bank: UInt32, _ row: Int) -> FilterTraffic {
        let n = FilterCounters.read(FilterCounters.rows(r.filterHits(q), table, bank: bank), row)
        return FilterTraffic(packets: n.packets, bytes: n.bytes)
    }

    /// What `show firewall` would print for `identity` now.
    private func shown(_ c: PolicyHitCounts, _ identity: FilterCountIdentity) -> FilterTraffic? {
        let f = c.filters.counts().first { $0.name == identity.filter && $0.family == identity.family }
        return (identity.kind == .term ? f?.terms : f?.counters)?.first { $0.name == identity.name }?.traffic
    }

    private func traffic(_ packets: UInt64, _ bytes: UInt64) -> FilterTraffic { FilterTraffic(packets: packets, bytes: bytes) }

    /// A region running generation 1 of `model` with `queues` RUNNING workers on it.
    private func running(_ tag: String, _ model: ConfigModel, queues: Int) throws -> (ShmRegion, PolicyHitCounts) {
        let r = try fx.region(tag, queues: queues)
        let g = try r.publishConfig(ConfigSnapshotImage(model))
        for q in 0..<queues { setWorker(r, q, XPF_WORKER_RUNNING, seen: g) }
        return (r, PolicyHitCounts(region: r, model: model))
    }

    /// Publishes `model` as xpfd's commit does (a filter change starts a new policy epoch).
    @discardableResult
    private func commit(_ c: inout PolicyHitCounts, _ model: ConfigModel, running old: ConfigModel) throws -> UInt64 {
        try c.publish(ConfigSnapshotImage(model), model: model, samePolicies: model.decidesSessions(as: old))
    }

    func testTheLayoutNamesEveryTermAndCounterRowOfTheSnapshot() throws {
        let m = try Self.model(extra: ["x"])
        let (r, c) = try running("layout", m, queues: 1)
        let l = c.filters.current
        XCTAssertEqual(l.terms, [Self.term("x"), Self.term("web"), Self.term("ssh"), Self.term("rest"),
                                 Self.term("only", filter: "spare"), Self.term("all", family: .inet6)])
        XCTAssertEqual(l.counters, [Self.counter("extra-hits"), Self.counter("allowed"), Self.counter("dropped"),
                                    Self.counter("v6", family: .inet6)], "one row per (filter, name): web and ssh share allowed")
        XCTAssertEqual(l.filters.map(\.name), ["edge", "spare", "edge"])
        XCTAssertEqual(l.filters.map(\.family), [.inet, .inet, .inet6])
        XCTAssertEqual(l.filters.map(\.counters), [[0, 1, 2], [], [3]])
        XCTAssertEqual(l.filters.map(\.terms), [0..<4, 4..<5, 5..<6])
        for (i, t) in l.terms.enumerated() { XCTAssertEqual(row(r, t), i, "\(t) is the row the worker counts in") }
        XCTAssertEqual(row(r, Self.counter("v6", family: .inet6)), 3)
    }

    func testCountsSumWorkersAndSurviveAFlipThatRenumbersTheRows() throws {
        let m1 = try Self.model()
        var (r, c) = try running("flip", m1, queues: 2)
        let bank1 = r.configSnapshot.pointee.policy_bank
        count(r, 0, Self.term("web"), 3, bytes: 60)
        count(r, 1, Self.term("web"), 2, bytes: 1500)
        count(r, 0, Self.counter("allowed"), 3, bytes: 60)
        count(r, 1, Self.counter("allowed"), 2, bytes: 1500)
        count(r, 1, Self.term("ssh"), 1, bytes: 52)
        count(r, 1, Self.counter("allowed"), 1, bytes: 52)
        count(r, 0, Self.counter("v6", family: .inet6), 4, bytes: 80)
        XCTAssertEqual(shown(c, Self.term("web")), traffic(5, 3180), "summed over the workers")
        XCTAssertEqual(shown(c, Self.counter("allowed")), traffic(6, 3232), "web's and ssh's packets")
        XCTAssertEqual(shown(c, Self.counter("v6", family: .inet6)), traffic(4, 320), "the other family's edge apart")
        XCTAssertEqual(shown(c, Self.term("rest")), traffic(0, 0))

        // A term added first: every inet edge row moves by one, the counters too.
        let m2 = try Self.model(extra: ["new"])
        XCTAssertFalse(m2.decidesSessions(as: m1), "a filter change starts a new policy epoch")
        let g2 = try commit(&c, m2, running: m1)
        let bank2 = r.configSnapshot.pointee.policy_bank
        XCTAssertNotEqual(bank2, bank1)
        XCTAssertEqual(row(r, Self.term("web")), 1)
        XCTAssertEqual(c.unharvestedGeneration, g2, "workers have not switched: the old bank waits")
        XCTAssertEqual(shown(c, Self.term("web")), traffic(5, 3180), "read under the old layout meanwhile")
        XCTAssertEqual(shown(c, Self.term("new")), traffic(0, 0), "row 0 of the old bank was web's, not new's")

        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g2)
        setWorker(r, 1, XPF_WORKER_RUNNING, seen: g2)
        XCTAssertTrue(c.harvestIfReady())
        for q in 0..<2 {
            for t in 0..<6 { XCTAssertEqual(raw(r, q, .term, bank: bank1, t), traffic(0, 0), "queue \(q) term row \(t) zeroed") }
            for k in 0..<4 { XCTAssertEqual(raw(r, q, .counter, bank: bank1, k), traffic(0, 0), "queue \(q) counter row \(k) zeroed") }
        }
        count(r, 0, Self.term("web"), 1, bytes: 40)
        count(r, 0, Self.counter("allowed"), 1, bytes: 40)
        count(r, 1, Self.term("new"), 2, bytes: 10)
        count(r, 1, Self.counter("extra-hits"), 2, bytes: 10)
        XCTAssertEqual(c.filters.counts(), [
            FirewallFilterCounts(family: .inet, name: "edge",
                                 counters: [.init("extra-hits", traffic(2, 20)), .init("allowed", traffic(7, 3272)),
                                            .init("dropped", traffic(0, 0))],
                                 terms: [.init("new", traffic(2, 20)), .init("web", traffic(6, 3220)),
                                         .init("ssh", traffic(1, 52)), .init("rest", traffic(0, 0))]),
            FirewallFilterCounts(family: .inet, name: "spare", counters: [], terms: [.init("only", traffic(0, 0))]),
            FirewallFilterCounts(family: .inet6, name: "edge", counters: [.init("v6", traffic(4, 320))],
                                 terms: [.init("all", traffic(0, 0))]),
        ])

        // A commit that changes no filter keeps the bank and the counts.
        let g3 = try commit(&c, m2, running: m2)
        XCTAssertEqual(r.configSnapshot.pointee.policy_bank, bank2)
        XCTAssertNil(c.unharvestedGeneration)
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g3)
        setWorker(r, 1, XPF_WORKER_RUNNING, seen: g3)
        XCTAssertEqual(shown(c, Self.term("web")), traffic(6, 3220))

        // Back to the first bank without `new` and `spare`: nothing counted twice, and the
        // removed ones are gone for good (no row, no total kept once harvested).
        let m3 = try Self.model(spare: false)
        let g4 = try commit(&c, m3, running: m2)
        XCTAssertEqual(r.configSnapshot.pointee.policy_bank, bank1)
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g4)
        setWorker(r, 1, XPF_WORKER_RUNNING, seen: g4)
        count(r, 1, Self.term("web"), 1, bytes: 100)
        XCTAssertEqual(shown(c, Self.term("web")), traffic(7, 3320))
        XCTAssertNil(shown(c, Self.term("new")))
        XCTAssertTrue(c.harvestIfReady())
        XCTAssertEqual(shown(c, Self.term("web")), traffic(7, 3320))
        XCTAssertNil(c.filters.totals[Self.term("new")])
        XCTAssertNil(c.filters.totals[Self.counter("extra-hits")])
        XCTAssertEqual(c.filters.counts().map(\.name), ["edge", "edge"])

        // Written again, a removed term starts from zero.
        let m4 = try Self.model(extra: ["new"], spare: false)
        let g5 = try commit(&c, m4, running: m3)
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g5)
        setWorker(r, 1, XPF_WORKER_RUNNING, seen: g5)
        XCTAssertTrue(c.harvestIfReady())
        XCTAssertEqual(shown(c, Self.term("new")), traffic(0, 0))
        XCTAssertEqual(shown(c, Self.term("web")), traffic(7, 3320))
    }

    func testALaggingWorkerKeepsTheOldFilterRowsAndRefusesTheNextFlip() throws {
        let m1 = try Self.model()
        var (r, c) = try running("lag", m1, queues: 2)
        let bank1 = r.configSnapshot.pointee.policy_bank
        let webRow1 = row(r, Self.term("web")), droppedRow1 = row(r, Self.counter("dropped"))
        count(r, 1, Self.term("web"), 6)
        let m2 = try Self.model(extra: ["new"])
        let g2 = try commit(&c, m2, running: m1)
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g2)
        // Queue 1 still runs generation 1: it may count in the old bank at any moment.
        XCTAssertFalse(c.harvestIfReady())
        count(r, 1, Self.term("web"), 1, bank: bank1, row: webRow1)
        count(r, 1, Self.counter("dropped"), 2, bank: bank1, row: droppedRow1)
        XCTAssertEqual(raw(r, 1, .term, bank: bank1, webRow1), traffic(7, 700), "not zeroed while a worker may count in it")
        XCTAssertEqual(shown(c, Self.term("web")), traffic(7, 700))
        XCTAssertEqual(shown(c, Self.counter("dropped")), traffic(2, 200))

        let m3 = try Self.model(extra: ["new", "newer"])
        XCTAssertThrowsError(try commit(&c, m3, running: m2)) { e in
            XCTAssertTrue("\(e)".contains("firewall filter counters of the previous policy epoch are not collected yet"), "\(e)")
            XCTAssertTrue("\(e)".contains("queue(s) 1 still runs a generation before \(g2)"), "\(e)")
        }
        XCTAssertEqual(r.current(.config).generation, g2, "nothing was published")

        setWorker(r, 1, XPF_WORKER_RUNNING, seen: g2)
        XCTAssertNil(c.flipBlocker(), "harvested once the worker switched")
        XCTAssertEqual(raw(r, 1, .term, bank: bank1, webRow1), traffic(0, 0))
        XCTAssertEqual(raw(r, 1, .counter, bank: bank1, droppedRow1), traffic(0, 0))
        let g3 = try commit(&c, m3, running: m2)
        XCTAssertEqual(r.configSnapshot.pointee.policy_bank, bank1)
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g3)
        setWorker(r, 1, XPF_WORKER_RUNNING, seen: g3)
        XCTAssertTrue(c.harvestIfReady())
        XCTAssertEqual(shown(c, Self.term("web")), traffic(7, 700))
        XCTAssertEqual(shown(c, Self.counter("dropped")), traffic(2, 200))
    }

    func testClearAllOrOneFilterWhileABankIsUnharvested() throws {
        let m1 = try Self.model()
        var (r, c) = try running("clear", m1, queues: 2)
        let bank1 = r.configSnapshot.pointee.policy_bank
        let webRow1 = row(r, Self.term("web"))
        count(r, 0, Self.term("web"), 5)
        count(r, 0, Self.counter("v6", family: .inet6), 3)
        count(r, 0, Self.term("only", filter: "spare"), 2)
        let m2 = try Self.model(extra: ["new"])
        let g2 = try commit(&c, m2, running: m1)
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g2)  // queue 1 lags: bank 1 unharvested
        count(r, 0, Self.term("web"), 2)  // new bank

        XCTAssertThrowsError(try c.filters.clear(filter: "nope")) { e in
            XCTAssertEqual("\(e)", "no firewall filter nope in the running configuration")
        }
        try c.filters.clear(filter: "edge")
        XCTAssertEqual(shown(c, Self.term("web")), traffic(0, 0), "harvested or not")
        XCTAssertEqual(shown(c, Self.counter("v6", family: .inet6)), traffic(0, 0), "every family's filter edge")
        XCTAssertEqual(shown(c, Self.term("only", filter: "spare")), traffic(2, 200), "another filter keeps its counts")

        count(r, 1, Self.term("web"), 1, bank: bank1, row: webRow1)  // the lagging worker, once more
        count(r, 0, Self.term("web"), 1)
        XCTAssertEqual(shown(c, Self.term("web")), traffic(2, 200))
        setWorker(r, 1, XPF_WORKER_RUNNING, seen: g2)
        XCTAssertTrue(c.harvestIfReady())
        XCTAssertEqual(shown(c, Self.term("web")), traffic(2, 200), "the harvest adds only what came after the clear")
        XCTAssertEqual(c.filters.lifetimeCounts().first?.terms.first { $0.name == "web" }?.traffic, traffic(9, 900),
                       "the lifetime count (/metrics) ignores the clear")

        try c.filters.clear()
        XCTAssertEqual(c.filters.counts().flatMap { $0.terms + $0.counters }.map(\.traffic.packets), Array(repeating: 0, count: 10))
        count(r, 1, Self.term("only", filter: "spare"), 1)
        XCTAssertEqual(shown(c, Self.term("only", filter: "spare")), traffic(1, 100))
    }

    func testShowFirewallText() throws {
        let m = try Self.model()
        let (r, c) = try running("text", m, queues: 1)
        count(r, 0, Self.counter("allowed"), 10, bytes: 84)
        count(r, 0, Self.term("web"), 10, bytes: 84)
        count(r, 0, Self.counter("dropped"), 1, bytes: 1_234_567_890_123)
        let all = c.filters.counts()
        XCTAssertEqual(FirewallListing.text(all).split(separator: "\n", omittingEmptySubsequences: false), [
            "Filter: edge (inet)",
            "Counters:",
            "Name                                                Bytes              Packets",
            "allowed                                               840                   10",
            "dropped                                     1234567890123                    1",
            "Terms:",
            "Name                                                Bytes              Packets",
            "web                                                   840                   10",
            "ssh                                                     0                    0",
            "rest                                                    0                    0",
            "",
            "Filter: spare",
            "Terms:",
            "Name                                                Bytes              Packets",
            "only                                                    0                    0",
            "",
            "Filter: edge (inet6)",
            "Counters:",
            "Name                                                Bytes              Packets",
            "v6                                                      0                    0",
            "Terms:",
            "Name                                                Bytes              Packets",
            "all                                                     0                    0",
        ])
        XCTAssertEqual(FirewallListing.text(try FirewallListing.select(all, filter: "spare")),
                       "Filter: spare\nTerms:\nName                                                Bytes              Packets\n"
                       + "only                                                    0                    0")
        XCTAssertEqual(FirewallListing.text(try FirewallListing.select(all, filter: "edge", counter: "allowed")),
                       "Filter: edge\nCounters:\nName                                                Bytes              Packets\n"
                       + "allowed                                               840                   10",
                       "only the counter, and only the family that has it")
        XCTAssertThrowsError(try FirewallListing.select(all, filter: "nope")) { e in
            XCTAssertEqual("\(e)", "no firewall filter nope in the running configuration")
        }
        XCTAssertThrowsError(try FirewallListing.select(all, filter: "spare", counter: "allowed")) { e in
            XCTAssertEqual("\(e)", "firewall filter spare has no counter allowed")
        }
        let long = String(repeating: "n", count: 60)
        XCTAssertEqual(FirewallListing.text([FirewallFilterCounts(family: .inet, name: "f", counters: [.init(long, traffic(1, 2))], terms: [])]),
                       "Filter: f\nCounters:\nName                                                Bytes              Packets\n"
                       + long + " 2                    1", "a long name keeps a space before the columns")
    }

    /// Packets through the worker's real pipeline (FilterStage counting in the running bank)
    /// appear in `show firewall`, and keep counting across a commit that renumbers the
    /// filter's rows, once the worker switched and xpfd harvested the old bank.
    func testPacketsThroughThePipelineAppearInShowFirewall() throws {
        typealias F = Frames
        let r = try fx.region("pkts", queues: 1, interfaces: 2, sessionCapacity: 1024)
        try ForwardTests.setUpInterfaces(r)
        let rest = "term udp { from { protocol udp; } then { count hits; accept; } } "
            + "term tcp { from { protocol tcp; } then { count hits; accept; } } term rest { then { count dropped; discard; } }"
        let icmp = "term icmp { from { protocol icmp; } then { count dropped; discard; } } "
        func model(_ terms: String) throws -> ConfigModel {
            let text = FilterStageTests.text(filters: "family inet { filter edge { \(terms) } }", attach: FilterStageTests.input("edge"))
            return try ConfigModel.load(text: text, file: "t").1
        }
        let m1 = try model(rest)
        let g1 = try r.publishConfig(ConfigSnapshotImage(m1))
        try r.publishFIB { f in
            ForwardTests.fillFIB(f, gatewayKnown: true)
            ForwardTests.fillLANAddresses(f)
        }
        var configFollower: SnapshotFollower?, fibFollower: SnapshotFollower?
        var (pipeline, _) = ForwardTests.makePipeline(r, &configFollower, &fibFollower)
        pipeline.nowMs = 5_000
        pipeline.nowS = 100
        var workerCounters = WorkerCounters()
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g1)
        var c = PolicyHitCounts(region: r, model: m1)
        func send(_ frame: [UInt8]) -> PacketAction {
            var buf = frame + [UInt8](repeating: 0, count: ForwardTests.frameHeadroom)
            return buf.withUnsafeMutableBytes {
                pipeline.process(frame: $0.baseAddress!, length: frame.count, ingress: 0, counters: &workerCounters)
            }
        }
        let client = FilterStageTests.client4, server = FilterStageTests.server4
        let u = F.frame4(src: client, dst: server, proto: 17, l4: F.udp(40000, 9999, payload: [1, 2, 3]))
        let t = F.frame4(src: client, dst: server, proto: 6, l4: F.tcp(40001, 80, flags: TCPFlag.syn))
        let p = F.frame4(src: client, dst: server, proto: 1, l4: F.icmpEcho(type: ICMPEcho.requestV4, id: 7, seq: 1))
        let ipOffset = FilterStageTests.ipOffset
        let ub = UInt64(u.count - ipOffset), tb = UInt64(t.count - ipOffset), pb = UInt64(p.count - ipOffset)
        for _ in 0..<4 { XCTAssertEqual(send(u).kind, .transmit) }
        XCTAssertEqual(send(t).kind, .transmit)
        for _ in 0..<2 { XCTAssertEqual(send(p).kind, .drop) }
        XCTAssertEqual(c.filters.counts(), [
            FirewallFilterCounts(family: .inet, name: "edge",
                                 counters: [.init("hits", traffic(5, 4 * ub + tb)), .init("dropped", traffic(2, 2 * pb))],
                                 terms: [.init("udp", traffic(4, 4 * ub)), .init("tcp", traffic(1, tb)), .init("rest", traffic(2, 2 * pb))]),
        ])
        XCTAssertEqual(try FirewallListing.text(FirewallListing.select(c.filters.counts(), filter: "edge", counter: "hits")),
                       "Filter: edge\nCounters:\nName                                                Bytes              Packets\n"
                       + "hits" + String(repeating: " ", count: 50) + "\(4 * ub + tb)                    5")

        // A term first: every row moves; the worker switches, xpfd harvests the old bank.
        let m2 = try model(icmp + rest)
        let g2 = try c.publish(ConfigSnapshotImage(m2), model: m2, samePolicies: m2.decidesSessions(as: m1))
        let slot = try XCTUnwrap(configFollower?.poll())
        pipeline.adopt(config: r.configSlot(slot), generation: try XCTUnwrap(configFollower).generation)
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g2)
        XCTAssertTrue(c.harvestIfReady())
        XCTAssertEqual(send(u).kind, .transmit, "a session hit: the filter counts it too")
        XCTAssertEqual(send(p).kind, .drop)
        XCTAssertEqual(c.filters.counts(), [
            FirewallFilterCounts(family: .inet, name: "edge",
                                 counters: [.init("dropped", traffic(3, 3 * pb)), .init("hits", traffic(6, 5 * ub + tb))],
                                 terms: [.init("icmp", traffic(1, pb)), .init("udp", traffic(5, 5 * ub)), .init("tcp", traffic(1, tb)),
                                         .init("rest", traffic(2, 2 * pb))]),
        ])
    }

    func testControlReplyRoundTrip() throws {
        let filters = [
            FirewallFilterCounts(family: .inet, name: "edge", counters: [.init("allowed", traffic(10, 840))],
                                 terms: [.init("web", traffic(10, 840)), .init("rest", traffic(0, 0))]),
            FirewallFilterCounts(family: .inet6, name: "empty", counters: [], terms: []),
            FirewallFilterCounts(family: .inet6, name: "edge", counters: [], terms: [.init("all", traffic(UInt64.max, 1))]),
        ]
        let reply = filters.flatMap(\.lines).joined(separator: "\n")
        XCTAssertEqual(reply, "filter\tinet\tedge\ncounter\tallowed\t10\t840\nterm\tweb\t10\t840\nterm\trest\t0\t0\n"
            + "filter\tinet6\tempty\nfilter\tinet6\tedge\nterm\tall\t18446744073709551615\t1")
        XCTAssertEqual(FirewallFilterCounts.parse(reply: reply), filters)
        XCTAssertEqual(FirewallFilterCounts.parse(reply: ""), [])
        XCTAssertNil(FirewallFilterCounts.parse(reply: "error: something"))
        XCTAssertNil(FirewallFilterCounts.parse(reply: "term\tweb\t1\t2"), "a row before any filter")
        XCTAssertNil(FirewallFilterCounts.parse(reply: "filter\tinet4\tf"))
    }
}
