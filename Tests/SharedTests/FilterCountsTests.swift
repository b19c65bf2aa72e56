import XCTest
import CXPF
@testable import Shared

/// Firewall filter counters that survive commits (Sources/Shared/Status/FilterCounts.swift,
/// driven by PolicyHitCounts; issue 10 §4, §5): xpfd's counts per term, per named counter and
/// per policer instance over a real region whose worker blocks and struct xpf_filter_hits
/// rows are written here as workers write them (state, seen generation with release;
/// FilterCounters.count, the worker's own call, in the running snapshot's bank) or by the
/// worker's real pipeline, and the text of `show firewall`.
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

    /// Policers: filter `edge` (inet, fw0 input) has `extra` terms first (each policing with
    /// `p`: its own instance p-NAME), then udp (`p`: instance p-udp, out of profile), tcp
    /// (three-color `tc`: instance tc-tcp, red and yellow), icmp and rest (filter-specific
    /// `shared`: one instance "shared" for both). Filter `isp` is interface-specific, on fw0's
    /// output and fw1's input: two copies, each with its own instance of `p`.
    static func policerConfig(extra: [String] = []) -> String {
        """
        system dataplane interfaces [ fw0 fw1 ];
        interfaces fw0 unit 0 family inet filter input edge;
        interfaces fw0 unit 0 family inet filter output isp;
        interfaces fw1 unit 0 family inet filter input isp;
        firewall { \(policerFirewall(extra: extra)) }
        """
    }

    /// The `firewall` stanza of `policerConfig`. `p` passes 1500 bytes at once (the bucket
    /// of a policer nobody used), then 1000 bytes a second; `tc` marks the first 1000-byte
    /// packet of a burst green, the second yellow, the third red.
    static func policerFirewall(extra: [String] = []) -> String {
        let extraTerms = extra.map { "term \($0) { from { protocol udp; source-port 7; } then { policer p; accept; } }" }
            .joined(separator: "\n")
        return """
        policer p { if-exceeding { bandwidth-limit 8k; burst-size-limit 1500; } then discard; }
        policer shared { filter-specific; if-exceeding { bandwidth-limit 8k; burst-size-limit 1500; } then discard; }
        three-color-policer tc {
            single-rate { committed-information-rate 8k; committed-burst-size 1500; excess-burst-size 1500; }
        }
        family inet {
            filter edge {
                \(extraTerms)
                term udp { from { protocol udp; } then { policer p; accept; } }
                term tcp { from { protocol tcp; } then { three-color-policer { single-rate tc; } accept; } }
                term icmp { from { protocol icmp; } then { policer shared; accept; } }
                term rest { then { policer shared; accept; } }
            }
            filter isp { interface-specific; term t { then { policer p; accept; } } }
        }
        """
    }

    static func policerModel(extra: [String] = []) throws -> ConfigModel {
        try ConfigModel.load(text: policerConfig(extra: extra), file: "t").1
    }

    static func policer(_ name: String, _ color: PolicerColor, filter: String = "edge") -> FilterCountIdentity {
        FilterCountIdentity(.policer(color), family: .inet, filter: filter, name: name)
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

    /// Bucket `instance` of `bank` of the shared policer buckets, as two words.
    private func bucket(_ r: ShmRegion, bank: UInt32, _ instance: Int) -> UnsafeMutablePointer<UInt64> {
        UnsafeMutableRawPointer(Policing.bank(r.policerBuckets, bank) + instance).assumingMemoryBound(to: UInt64.self)
    }

    private func raw(_ r: ShmRegion, _ q: Int, _ table: FilterCounters.Table, bank: UInt32, _ row: Int) -> FilterTraffic {
        let n = FilterCounters.read(FilterCounters.rows(r.filterHits(q), table, bank: bank), row)
        return FilterTraffic(packets: n.packets, bytes: n.bytes)
    }

    /// The xpf_filter_hits.policer record of `identity` in the running snapshot, as the
    /// worker finds it: its instance's POLICER_INSTANCES index × XPF_POLICER_ROWS + the row
    /// of its color.
    private func policerRecord(_ r: ShmRegion, _ identity: FilterCountIdentity) -> Int {
        let view = r.configView(slot: r.current(.config).slot)
        guard case .policer(let color) = identity.kind else { XCTFail("\(identity) is not a policer's"); return -1 }
        for (i, p) in view.records(XPF_CFG_SEC_POLICER_INSTANCES, as: xpf_cfg_policer_instance.self).enumerated()
            where view.string(at: p.name) == identity.name && view.string(at: view.filters[Int(p.filter)].name) == identity.filter
        {
            let row = color == .yellow ? XPF_POLICER_ROW_YELLOW : XPF_POLICER_ROW_OUT
            return i * Int(XPF_POLICER_ROWS.rawValue) + Int(row.rawValue)
        }
        XCTFail("\(identity) is not in the running snapshot")
        return -1
    }

    /// What `show firewall` would print for `identity` now.
    private func shown(_ c: PolicyHitCounts, _ identity: FilterCountIdentity) -> FilterTraffic? {
        let f = c.filters.counts().first { $0.name == identity.filter && $0.family == identity.family }
        switch identity.kind {
        case .term: return f?.terms.first { $0.name == identity.name }?.traffic
        case .counter: return f?.counters.first { $0.name == identity.name }?.traffic
        case .policer(let color): return f?.policers.first { $0.name == identity.name && $0.color == color }?.traffic
        }
    }

    private func traffic(_ packets: UInt64, _ bytes: UInt64) -> FilterTraffic { FilterTraffic(packets: packets, bytes: bytes) }

    /// A worker's real pipeline (queue 0) over a region with ForwardTests' interfaces and
    /// routes: it adopts each published generation as a worker does, and polices at `nowNs`.
    private struct Worker {
        var pipeline: Pipeline
        var configFollower: SnapshotFollower?
        var fibFollower: SnapshotFollower?
        var counters = WorkerCounters()

        /// A region running generation 1 of `model`, its worker RUNNING it.
        init(_ r: ShmRegion, _ model: ConfigModel) throws {
            try ForwardTests.setUpInterfaces(r)
            let g = try r.publishConfig(ConfigSnapshotImage(model))
            try r.publishFIB { f in
                ForwardTests.fillFIB(f, gatewayKnown: true)
                ForwardTests.fillLANAddresses(f)
            }
            (pipeline, _) = ForwardTests.makePipeline(r, &configFollower, &fibFollower)
            pipeline.nowMs = 5_000
            pipeline.nowS = 100
            pipeline.nowNs = 5_000_000_000
            let w = r.worker(0)
            xpf_store_release_u64(xpf_wb_config_seen(w), g)
            xpf_store_release_u32(xpf_wb_state(w), UInt32(XPF_WORKER_RUNNING.rawValue))
        }

        /// `frame` through the pipeline, from fw0.
        mutating func send(_ frame: [UInt8]) -> PacketAction {
            var buf = frame + [UInt8](repeating: 0, count: ForwardTests.frameHeadroom)
            return buf.withUnsafeMutableBytes {
                pipeline.process(frame: $0.baseAddress!, length: frame.count, ingress: 0, counters: &counters)
            }
        }

        /// Adopts the generation xpfd published last and says so (seen generation, release).
        mutating func adopt(_ r: ShmRegion) throws {
            let slot = try XCTUnwrap(configFollower?.poll())
            let g = try XCTUnwrap(configFollower).generation
            pipeline.adopt(config: r.configSlot(slot), generation: g)
            xpf_store_release_u64(xpf_wb_config_seen(r.worker(0)), g)
        }
    }

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

    /// Counts the XDP program made (host-bound traffic through the same filters) join the
    /// workers' on the row of the same identity; identities the running layout does not
    /// have are ignored; `clear firewall` covers them; the lifetime count keeps them.
    func testHostBoundCountsJoinTheRowsOfTheirIdentity() throws {
        let m = try Self.model()
        var (r, c) = try running("hostbound", m, queues: 1)
        var program: [FilterCountIdentity: FilterTraffic] = [
            Self.term("ssh"): traffic(3, 300), Self.counter("allowed"): traffic(3, 300),
            Self.term("gone", filter: "old"): traffic(7, 700),
        ]
        c.filters.hostBound = { program }
        count(r, 0, Self.term("ssh"), 2)
        XCTAssertEqual(shown(c, Self.term("ssh")), traffic(5, 500), "workers' 2 plus the program's 3")
        XCTAssertEqual(shown(c, Self.counter("allowed")), traffic(3, 300), "the program's alone (the workers counted the term only)")
        XCTAssertEqual(shown(c, Self.term("web")), traffic(0, 0))
        try c.filters.clear(filter: "edge")
        program[Self.term("ssh")] = traffic(4, 400)
        XCTAssertEqual(shown(c, Self.term("ssh")), traffic(1, 100), "only what came after the clear")
        XCTAssertEqual(c.filters.lifetimeCounts().first?.terms.first { $0.name == "ssh" }?.traffic, traffic(6, 600))
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
        var worker = try Worker(r, m1)
        var c = PolicyHitCounts(region: r, model: m1)
        func send(_ frame: [UInt8]) -> PacketAction { worker.send(frame) }
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
        _ = try c.publish(ConfigSnapshotImage(m2), model: m2, samePolicies: m2.decidesSessions(as: m1))
        try worker.adopt(r)
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

    /// Every policer instance of the snapshot is listed under its filter with the colors it
    /// counts — a two-color one out of profile, a three-color one red and yellow — at the
    /// record the worker counts it in; a filter-specific policer is one instance for the
    /// filter, and an interface-specific filter's copies each have their own.
    func testTheLayoutNamesEveryPolicerInstanceOfTheSnapshot() throws {
        let (r, c) = try running("players", try Self.policerModel(), queues: 1)
        let l = c.filters.current
        let isp0 = "isp-fw0.0-o", isp1 = "isp-fw1.0-i"
        XCTAssertEqual(l.filters.map(\.name), ["edge", isp0, isp1])
        XCTAssertEqual(l.policers, [Self.policer("p-udp", .outOfProfile), Self.policer("tc-tcp", .red),
                                    Self.policer("tc-tcp", .yellow), Self.policer("shared", .outOfProfile),
                                    Self.policer("p-t-fw0.0-o", .outOfProfile, filter: isp0),
                                    Self.policer("p-t-fw1.0-i", .outOfProfile, filter: isp1)])
        XCTAssertEqual(l.instances, 5, "icmp and rest share the filter-specific instance")
        XCTAssertEqual(l.filters.map(\.policers), [[0, 1, 2, 3], [4], [5]])
        for (i, p) in l.policers.enumerated() {
            XCTAssertEqual(l.policerRecords[i], policerRecord(r, p), "\(p) is listed at the record the worker counts in")
        }
        let view = r.configView(slot: r.current(.config).slot)
        let policing = view.records(XPF_CFG_SEC_TERMS, as: xpf_cfg_term.self).map(\.policer_instance)
        XCTAssertEqual(policing, [0, 1, 2, 2, 3, 4], "the terms' instances, as FilterStage reads them")
        XCTAssertEqual(c.filters.counts().map { $0.policers.map(\.traffic) },
                       [Array(repeating: traffic(0, 0), count: 4), [traffic(0, 0)], [traffic(0, 0)]])
    }

    /// The harvest of a bank fills its policer buckets (every word 0) along with zeroing its
    /// rows, so the configuration the next flip brings to that bank starts every instance
    /// full: it never inherits the state an instance of the same index had under the old one.
    /// Not while a lagging worker may still police there, and never the running bank's.
    func testTheHarvestFillsTheOldBanksPolicerBuckets() throws {
        let m1 = try Self.policerModel()
        var (r, c) = try running("buckets", m1, queues: 2)
        let bank1 = r.configSnapshot.pointee.policy_bank
        let instances1 = c.filters.current.instances
        // A theoretical arrival time an hour ahead: nothing fits before then.
        let farFuture: UInt64 = (5_000_000_000 + 3_600_000_000_000) << UInt64(XPF_POLICER_TICK_SHIFT)
        for i in 0..<instances1 {
            let w = bucket(r, bank: bank1, i)
            w[0] = farFuture
            w[1] = farFuture
        }
        let udp = Self.policer("p-udp", .outOfProfile), yellow = Self.policer("tc-tcp", .yellow)
        let isp = Self.policer("p-t-fw1.0-i", .outOfProfile, filter: "isp-fw1.0-i")
        let udpRecord1 = policerRecord(r, udp)
        let rows1 = FilterCounters.rows(r.filterHits(1), .policer, bank: bank1)
        FilterCounters.count(rows1, udpRecord1, bytes: 1000)
        FilterCounters.count(rows1, policerRecord(r, yellow), bytes: 900)
        FilterCounters.count(rows1, policerRecord(r, isp), bytes: 64)

        let m2 = try Self.policerModel(extra: ["x"])
        let g2 = try commit(&c, m2, running: m1)
        let bank2 = r.configSnapshot.pointee.policy_bank
        XCTAssertNotEqual(bank2, bank1)
        XCTAssertEqual(policerRecord(r, udp), udpRecord1 + Int(XPF_POLICER_ROWS.rawValue), "p-x took instance 0")
        bucket(r, bank: bank2, 0)[0] = farFuture  // a worker of generation 2 policing with p-x
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g2)
        XCTAssertFalse(c.harvestIfReady(), "queue 1 may still police in bank \(bank1)")
        for i in 0..<instances1 {
            XCTAssertEqual(bucket(r, bank: bank1, i)[0], farFuture, "instance \(i): left alone while a worker may police there")
        }
        XCTAssertEqual(shown(c, udp), traffic(1, 1000), "read under the old layout meanwhile")

        setWorker(r, 1, XPF_WORKER_RUNNING, seen: g2)
        XCTAssertTrue(c.harvestIfReady())
        for i in 0..<instances1 {
            XCTAssertEqual([bucket(r, bank: bank1, i)[0], bucket(r, bank: bank1, i)[1]], [0, 0], "instance \(i) full again")
        }
        for record in 0..<instances1 * Int(XPF_POLICER_ROWS.rawValue) {
            XCTAssertEqual(raw(r, 1, .policer, bank: bank1, record), traffic(0, 0), "record \(record) zeroed")
        }
        XCTAssertEqual(bucket(r, bank: bank2, 0)[0], farFuture, "the running bank's buckets are the workers'")
        XCTAssertEqual(shown(c, udp), traffic(1, 1000), "carried by identity")
        XCTAssertEqual(shown(c, yellow), traffic(1, 900))
        XCTAssertEqual(shown(c, isp), traffic(1, 64), "the last instance's record (a copy's, past every listed row's index)")
        XCTAssertEqual(shown(c, Self.policer("tc-tcp", .red)), traffic(0, 0))
        XCTAssertEqual(shown(c, Self.policer("p-x", .outOfProfile)), traffic(0, 0))
    }

    /// Packets the worker's real pipeline polices appear in `show firewall` under
    /// "Policers:": what a two-color policer found out of profile (and discarded), what a
    /// three-color one marked red and yellow. The counts follow the instances across
    /// commits that renumber them; the bank a commit flips back to has full buckets (the
    /// harvest filled them), so its instances police from scratch; `clear firewall filter`
    /// clears the policer rows, /metrics' lifetime counts keep them.
    func testPolicedPacketsThroughThePipelineAppearInShowFirewall() throws {
        typealias F = Frames
        let r = try fx.region("policed", queues: 1, interfaces: 2, sessionCapacity: 1024)
        func model(extra: [String] = []) throws -> ConfigModel {
            let text = FilterStageTests.text(filters: Self.policerFirewall(extra: extra), attach: FilterStageTests.input("edge"))
            return try ConfigModel.load(text: text, file: "t").1
        }
        let m1 = try model()
        var worker = try Worker(r, m1)
        var c = PolicyHitCounts(region: r, model: m1)
        let client = FilterStageTests.client4, server = FilterStageTests.server4
        // 1000-byte datagrams: the first fits p's 1500-byte bucket, the second does not.
        let datagram = 1000, ipHeader = 20, udpHeader = 8, tcpHeader = 20
        let u = F.frame4(src: client, dst: server, proto: 17,
                         l4: F.udp(40000, 9999, payload: [UInt8](repeating: 0, count: datagram - ipHeader - udpHeader)))
        func syn(_ port: UInt16) -> [UInt8] {
            F.frame4(src: client, dst: server, proto: 6,
                     l4: F.tcp(port, 80, flags: TCPFlag.syn) + [UInt8](repeating: 0, count: datagram - ipHeader - tcpHeader))
        }
        let ping = F.frame4(src: client, dst: server, proto: 1, l4: F.icmpEcho(type: ICMPEcho.requestV4, id: 7, seq: 1))
        let kB = UInt64(datagram)
        XCTAssertEqual(ping.count - FilterStageTests.ipOffset, 36, "the ping's datagram, as the icmp term counts it")
        XCTAssertEqual(worker.send(u).kind, .transmit)
        XCTAssertEqual(worker.send(u).kind, .drop, "out of profile, then discard")
        for port: UInt16 in 41000..<41003 { XCTAssertEqual(worker.send(syn(port)).kind, .transmit, "green, yellow, red: none discarded") }
        XCTAssertEqual(worker.send(ping).kind, .transmit)
        XCTAssertEqual(c.filters.counts().first?.policers, [
            .init("p-udp", .outOfProfile, traffic(1, kB)), .init("tc-tcp", .red, traffic(1, kB)),
            .init("tc-tcp", .yellow, traffic(1, kB)), .init("shared", .outOfProfile, traffic(0, 0)),
        ])
        XCTAssertEqual(FirewallListing.text(try FirewallListing.select(c.filters.counts(), filter: "edge"))
            .split(separator: "\n", omittingEmptySubsequences: false), [
                "Filter: edge",
                "Policers:",
                "Name                                                Bytes              Packets",
                "p-udp                                                1000                    1",
                "tc-tcp (red)                                         1000                    1",
                "tc-tcp (yellow)                                      1000                    1",
                "shared                                                  0                    0",
                "Terms:",
                "Name                                                Bytes              Packets",
                "udp                                                  2000                    2",
                "tcp                                                  3000                    3",
                "icmp                                                   36                    1",
                "rest                                                    0                    0",
            ])

        // A term first renumbers every instance; the new bank has never been policed in.
        let m2 = try model(extra: ["x"])
        try commit(&c, m2, running: m1)
        try worker.adopt(r)
        XCTAssertTrue(c.harvestIfReady())
        XCTAssertEqual(worker.send(u).kind, .transmit, "a new epoch's instance starts full")
        XCTAssertEqual(worker.send(u).kind, .drop)
        XCTAssertEqual(c.filters.counts().first?.policers.map(\.name), ["p-x", "p-udp", "tc-tcp", "tc-tcp", "shared"])
        XCTAssertEqual(shown(c, Self.policer("p-udp", .outOfProfile)), traffic(2, 2 * kB), "carried across the commit")
        XCTAssertEqual(shown(c, Self.policer("tc-tcp", .yellow)), traffic(1, kB))

        // Back to the first bank, whose p-udp (instance 0 there too) was left a packet from
        // empty at this very time: the harvest filled it, so the first packet fits again.
        try commit(&c, m1, running: m2)
        try worker.adopt(r)
        XCTAssertTrue(c.harvestIfReady())
        XCTAssertEqual(worker.send(u).kind, .transmit, "the reused bank's bucket was filled by the harvest")
        XCTAssertEqual(worker.send(u).kind, .drop)
        XCTAssertEqual(shown(c, Self.policer("p-udp", .outOfProfile)), traffic(3, 3 * kB))
        XCTAssertNil(shown(c, Self.policer("p-x", .outOfProfile)), "gone with its term")

        try c.filters.clear(filter: "edge")
        XCTAssertEqual(c.filters.counts().first?.policers.map(\.traffic), Array(repeating: traffic(0, 0), count: 4))
        XCTAssertEqual(worker.send(u).kind, .drop)
        XCTAssertEqual(shown(c, Self.policer("p-udp", .outOfProfile)), traffic(1, kB))
        XCTAssertEqual(c.filters.lifetimeCounts().first?.policers, [
            .init("p-udp", .outOfProfile, traffic(4, 4 * kB)), .init("tc-tcp", .red, traffic(1, kB)),
            .init("tc-tcp", .yellow, traffic(1, kB)), .init("shared", .outOfProfile, traffic(0, 0)),
        ], "the lifetime counts (/metrics) ignore the clear")
    }

    func testControlReplyRoundTrip() throws {
        let filters = [
            FirewallFilterCounts(family: .inet, name: "edge", counters: [.init("allowed", traffic(10, 840))],
                                 policers: [.init("p-web", .outOfProfile, traffic(3, 4500)), .init("tc", .red, traffic(1, 2)),
                                            .init("tc", .yellow, traffic(0, 0))],
                                 terms: [.init("web", traffic(10, 840)), .init("rest", traffic(0, 0))]),
            FirewallFilterCounts(family: .inet6, name: "empty", counters: [], terms: []),
            FirewallFilterCounts(family: .inet6, name: "edge", counters: [], terms: [.init("all", traffic(UInt64.max, 1))]),
        ]
        let reply = filters.flatMap(\.lines).joined(separator: "\n")
        XCTAssertEqual(reply, "filter\tinet\tedge\ncounter\tallowed\t10\t840\npolicer\tp-web\tout-of-profile\t3\t4500\n"
            + "policer\ttc\tred\t1\t2\npolicer\ttc\tyellow\t0\t0\nterm\tweb\t10\t840\nterm\trest\t0\t0\n"
            + "filter\tinet6\tempty\nfilter\tinet6\tedge\nterm\tall\t18446744073709551615\t1")
        XCTAssertEqual(FirewallFilterCounts.parse(reply: reply), filters)
        XCTAssertEqual(FirewallFilterCounts.parse(reply: ""), [])
        XCTAssertNil(FirewallFilterCounts.parse(reply: "error: something"))
        XCTAssertNil(FirewallFilterCounts.parse(reply: "term\tweb\t1\t2"), "a row before any filter")
        XCTAssertNil(FirewallFilterCounts.parse(reply: "filter\tinet4\tf"))
        XCTAssertNil(FirewallFilterCounts.parse(reply: "filter\tinet\tf\npolicer\tp\tgreen\t1\t2"), "green is not counted")
        XCTAssertNil(FirewallFilterCounts.parse(reply: "filter\tinet\tf\npolicer\tp\t1\t2"), "a policer row without its color")

        // The text: policers after the counters (Junos), a three-color instance's colors
        // named; `counter C` shows that counter alone.
        XCTAssertEqual(FirewallListing.text([filters[0]]).split(separator: "\n", omittingEmptySubsequences: false), [
            "Filter: edge",
            "Counters:",
            "Name                                                Bytes              Packets",
            "allowed                                               840                   10",
            "Policers:",
            "Name                                                Bytes              Packets",
            "p-web                                                4500                    3",
            "tc (red)                                                2                    1",
            "tc (yellow)                                             0                    0",
            "Terms:",
            "Name                                                Bytes              Packets",
            "web                                                   840                   10",
            "rest                                                    0                    0",
        ])
        XCTAssertEqual(try FirewallListing.select(filters, filter: "edge", counter: "allowed"), [
            FirewallFilterCounts(family: .inet, name: "edge", counters: [.init("allowed", traffic(10, 840))], terms: []),
        ])

        // --json: a color per policer row, none on counters and terms.
        XCTAssertEqual(FirewallListing.json(Array(filters[0...1])), #"{"filters":[{"name":"edge","family":"inet","#
            + #""counters":[{"name":"allowed","bytes":840,"packets":10}],"#
            + #""policers":[{"name":"p-web","color":"out-of-profile","bytes":4500,"packets":3},"#
            + #"{"name":"tc","color":"red","bytes":2,"packets":1},{"name":"tc","color":"yellow","bytes":0,"packets":0}],"#
            + #""terms":[{"name":"web","bytes":840,"packets":10},{"name":"rest","bytes":0,"packets":0}]},"#
            + #"{"name":"empty","family":"inet6","counters":[],"policers":[],"terms":[]}]}"#)
    }
}
