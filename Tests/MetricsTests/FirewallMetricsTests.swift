import XCTest
import CXPF
@testable import Shared
@testable import XPFMetrics
#if canImport(Glibc)
import Glibc
#endif

// /metrics' firewall filter series (issue 10 §4, §5): xpfd's FilterCounts over a real region
// (counted with the worker's own FilterCounters.count, committed through PolicyHitCounts as
// xpfd commits), handed to the exporter as xpfd hands them (SupervisorMetrics.firewall).
final class FirewallMetricsTests: XCTestCase {
    var region: ShmRegion!
    var path = ""
    var counts: PolicyHitCounts!
    var model: ConfigModel!

    /// Filter `edge` (inet): web (three-color policer `tc`: instance tc-web, POLICER_INSTANCES
    /// 0) and ssh sharing counter `allowed`, then `rest` (two-color `p`: instance p-rest, 1);
    /// filter `gone` (inet6, counter `c6`, instance p-all, 2) unless `withGone` is false.
    static func config(withGone: Bool = true) -> String {
        """
        system dataplane interfaces [ fw0 fw1 ];
        interfaces fw0 unit 0 family inet filter input edge;
        firewall {
            policer p { if-exceeding { bandwidth-limit 8k; burst-size-limit 1500; } then discard; }
            three-color-policer tc {
                two-rate { committed-information-rate 8k; committed-burst-size 1500; peak-information-rate 16k; peak-burst-size 3000; }
            }
            family inet {
                filter edge {
                    term web {
                        from { protocol tcp; destination-port 80; }
                        then { count allowed; three-color-policer { two-rate tc; } accept; }
                    }
                    term ssh { from { protocol tcp; destination-port 22; } then { count allowed; accept; } }
                    term rest { then { policer p; discard; } }
                }
            }
            \(withGone ? "family inet6 { filter gone { term all { then { count c6; policer p; accept; } } } }" : "")
        }
        """
    }

    /// xpf_filter_hits.policer records (instance × XPF_POLICER_ROWS + enum xpf_policer_row).
    static let tcWebRed = Int(XPF_POLICER_ROW_OUT.rawValue), tcWebYellow = Int(XPF_POLICER_ROW_YELLOW.rawValue)
    static let pRest = Int(XPF_POLICER_ROWS.rawValue) + Int(XPF_POLICER_ROW_OUT.rawValue)
    static let pAll = 2 * Int(XPF_POLICER_ROWS.rawValue) + Int(XPF_POLICER_ROW_OUT.rawValue)

    override func setUpWithError() throws {
        continueAfterFailure = false
        path = "/dev/shm/xpf-test-\(getpid())-fwmetrics-\(UInt32.random(in: 0...UInt32.max))"
        let g = ShmGeometry(queues: 2, interfaces: 2, umemFrames: 16, sessionCapacity: 1024)
        region = try ShmRegion.create(path: path, geometry: g, supervisorPid: getpid())
        model = try ConfigModel.load(text: Self.config(), file: "t").1
        let gen = try region.publishConfig(ConfigSnapshotImage(model))
        for q in 0..<2 { running(q, gen) }
        counts = PolicyHitCounts(region: region, model: model)
    }

    override func tearDown() {
        counts = nil
        region = nil
        unlink(path)
    }

    /// Worker `q` runs generation `gen` (as a worker shows it: seen generation, then state).
    func running(_ q: Int, _ gen: UInt64) {
        let w = region.worker(q)
        xpf_store_release_u64(xpf_wb_config_seen(w), gen)
        xpf_store_release_u32(xpf_wb_state(w), UInt32(XPF_WORKER_RUNNING.rawValue))
    }

    /// Worker `q` counts `n` packets of `bytes` in row `row` of `table`, running bank.
    func count(_ q: Int, _ table: FilterCounters.Table, _ row: Int, _ n: Int, bytes: UInt64) {
        let rows = FilterCounters.rows(region.filterHits(q), table, bank: region.configSnapshot.pointee.policy_bank)
        for _ in 0..<n { FilterCounters.count(rows, row, bytes: bytes) }
    }

    func commit(withGone: Bool) throws {
        let next = try ConfigModel.load(text: Self.config(withGone: withGone), file: "t").1
        let gen = try counts.publish(ConfigSnapshotImage(next), model: next, samePolicies: next.decidesSessions(as: model))
        model = next
        for q in 0..<2 { running(q, gen) }
        XCTAssertTrue(counts.harvestIfReady())
    }

    func render(_ exporter: MetricsExporter) -> String {
        String(decoding: exporter.render(DataplaneStatus.read(region), SupervisorMetrics(firewall: counts.filters.lifetimeCounts())),
               as: UTF8.self)
    }

    func firewallLines(_ text: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { $0.contains("xpf_firewall_") }.sorted()
    }

    func testCountersPolicersAndTermsAreExportedWithFamilyFilterAndNameLabels() throws {
        count(0, .counter, 0, 6, bytes: 84)   // allowed
        count(1, .counter, 0, 4, bytes: 84)
        count(0, .term, 0, 6, bytes: 84)      // web
        count(1, .term, 1, 4, bytes: 84)      // ssh
        count(1, .term, 2, 1, bytes: 1500)    // rest
        count(0, .counter, 1, 2, bytes: 40)   // c6
        count(0, .policer, Self.tcWebRed, 1, bytes: 84)
        count(1, .policer, Self.tcWebRed, 2, bytes: 84)
        count(1, .policer, Self.tcWebYellow, 3, bytes: 84)
        count(0, .policer, Self.pRest, 7, bytes: 1500)
        XCTAssertEqual(firewallLines(render(MetricsExporter())), [
            "# HELP xpf_firewall_counter_bytes_total Bytes (IP datagrams) a firewall filter counter (then count) counted, every worker, since it appeared (not reset by clear firewall).",
            "# HELP xpf_firewall_counter_packets_total Packets a firewall filter counter (then count) counted, every worker, since it appeared (not reset by clear firewall).",
            "# HELP xpf_firewall_policer_bytes_total Bytes (IP datagrams) a firewall filter's policer instance found out of profile (two-color) or marked red or yellow (three-color; color label), every worker, since it appeared (not reset by clear firewall).",
            "# HELP xpf_firewall_policer_packets_total Packets a firewall filter's policer instance found out of profile (two-color) or marked red or yellow (three-color; color label), every worker, since it appeared (not reset by clear firewall).",
            "# HELP xpf_firewall_term_bytes_total Bytes (IP datagrams) a firewall filter term matched, every worker, since it appeared (not reset by clear firewall).",
            "# HELP xpf_firewall_term_packets_total Packets a firewall filter term matched, every worker, since it appeared (not reset by clear firewall).",
            "# TYPE xpf_firewall_counter_bytes_total counter",
            "# TYPE xpf_firewall_counter_packets_total counter",
            "# TYPE xpf_firewall_policer_bytes_total counter",
            "# TYPE xpf_firewall_policer_packets_total counter",
            "# TYPE xpf_firewall_term_bytes_total counter",
            "# TYPE xpf_firewall_term_packets_total counter",
            "xpf_firewall_counter_bytes_total{family=\"inet\",filter=\"edge\",counter=\"allowed\"} 840",
            "xpf_firewall_counter_bytes_total{family=\"inet6\",filter=\"gone\",counter=\"c6\"} 80",
            "xpf_firewall_counter_packets_total{family=\"inet\",filter=\"edge\",counter=\"allowed\"} 10",
            "xpf_firewall_counter_packets_total{family=\"inet6\",filter=\"gone\",counter=\"c6\"} 2",
            "xpf_firewall_policer_bytes_total{family=\"inet\",filter=\"edge\",policer=\"p-rest\",color=\"out-of-profile\"} 10500",
            "xpf_firewall_policer_bytes_total{family=\"inet\",filter=\"edge\",policer=\"tc-web\",color=\"red\"} 252",
            "xpf_firewall_policer_bytes_total{family=\"inet\",filter=\"edge\",policer=\"tc-web\",color=\"yellow\"} 252",
            "xpf_firewall_policer_bytes_total{family=\"inet6\",filter=\"gone\",policer=\"p-all\",color=\"out-of-profile\"} 0",
            "xpf_firewall_policer_packets_total{family=\"inet\",filter=\"edge\",policer=\"p-rest\",color=\"out-of-profile\"} 7",
            "xpf_firewall_policer_packets_total{family=\"inet\",filter=\"edge\",policer=\"tc-web\",color=\"red\"} 3",
            "xpf_firewall_policer_packets_total{family=\"inet\",filter=\"edge\",policer=\"tc-web\",color=\"yellow\"} 3",
            "xpf_firewall_policer_packets_total{family=\"inet6\",filter=\"gone\",policer=\"p-all\",color=\"out-of-profile\"} 0",
            "xpf_firewall_term_bytes_total{family=\"inet\",filter=\"edge\",term=\"rest\"} 1500",
            "xpf_firewall_term_bytes_total{family=\"inet\",filter=\"edge\",term=\"ssh\"} 336",
            "xpf_firewall_term_bytes_total{family=\"inet\",filter=\"edge\",term=\"web\"} 504",
            "xpf_firewall_term_bytes_total{family=\"inet6\",filter=\"gone\",term=\"all\"} 0",
            "xpf_firewall_term_packets_total{family=\"inet\",filter=\"edge\",term=\"rest\"} 1",
            "xpf_firewall_term_packets_total{family=\"inet\",filter=\"edge\",term=\"ssh\"} 4",
            "xpf_firewall_term_packets_total{family=\"inet\",filter=\"edge\",term=\"web\"} 6",
            "xpf_firewall_term_packets_total{family=\"inet6\",filter=\"gone\",term=\"all\"} 0",
        ])
    }

    /// Series (counters' and policer instances' alike) follow the filters across commits;
    /// `clear firewall` does not move them back; a removed filter's series go, and written
    /// again it starts a new series from zero.
    func testSeriesSurviveCommitsAndClearAndGoWithTheirFilter() throws {
        let exporter = MetricsExporter()
        let allowed = "xpf_firewall_counter_packets_total{family=\"inet\",filter=\"edge\",counter=\"allowed\"}"
        let c6 = "xpf_firewall_counter_packets_total{family=\"inet6\",filter=\"gone\",counter=\"c6\"}"
        let yellow = "xpf_firewall_policer_packets_total{family=\"inet\",filter=\"edge\",policer=\"tc-web\",color=\"yellow\"}"
        let pAll = "xpf_firewall_policer_bytes_total{family=\"inet6\",filter=\"gone\",policer=\"p-all\",color=\"out-of-profile\"}"
        func value(_ series: String) -> String? {
            render(exporter).split(separator: "\n").first { $0.hasPrefix(series + " ") }.map { String($0.dropFirst(series.count + 1)) }
        }
        count(0, .counter, 0, 3, bytes: 100)
        count(1, .counter, 1, 5, bytes: 100)
        count(0, .policer, Self.tcWebYellow, 2, bytes: 100)
        count(1, .policer, Self.pAll, 1, bytes: 100)
        XCTAssertEqual(value(allowed), "3")
        XCTAssertEqual(value(c6), "5")
        XCTAssertEqual(value(yellow), "2")
        XCTAssertEqual(value(pAll), "100")
        try counts.filters.clear()
        XCTAssertEqual(value(allowed), "3", "clear firewall leaves /metrics alone")
        XCTAssertEqual(value(yellow), "2")

        try commit(withGone: false)
        count(1, .counter, 0, 1, bytes: 100)
        count(1, .policer, Self.tcWebYellow, 1, bytes: 100)
        XCTAssertEqual(value(allowed), "4", "harvested bank plus the new one")
        XCTAssertEqual(value(yellow), "3")
        XCTAssertNil(value(c6), "the removed filter's series are gone")
        XCTAssertNil(value(pAll))
        XCTAssertFalse(render(exporter).contains("filter=\"gone\""))

        try commit(withGone: true)
        count(0, .counter, 1, 1, bytes: 100)
        count(0, .policer, Self.pAll, 1, bytes: 40)
        XCTAssertEqual(value(c6), "1", "written again: a new series from zero")
        XCTAssertEqual(value(pAll), "40")
        XCTAssertEqual(value(allowed), "4")

        // Removed and written again between two scrapes: the exporter sees the value drop.
        try commit(withGone: false)
        try commit(withGone: true)
        XCTAssertEqual(value(c6), "0", "a count that drops starts its series again")
        XCTAssertEqual(value(pAll), "0")
        XCTAssertEqual(value(yellow), "3")
    }
}
