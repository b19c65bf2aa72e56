import Dispatch
import XCTest
import CXPF
import Shared
@testable import XPFMetrics
#if canImport(Glibc)
import Glibc
#endif

// Tests for Sources/XPFMetrics/MetricsExporter.swift: the exposition xpfd serves on
// /metrics (R-12.3), rendered from a real region through the status model xpf-top uses.
// The lab test (Tests/integration/metrics_test.sh) parses the served text with
// prometheus_client's parser during traffic.

final class MetricsExporterTests: XCTestCase {
    var region: ShmRegion!
    var path = ""
    static let interfaceNames = ["fw-in0", "fw-out0"]

    override func setUpWithError() throws {
        continueAfterFailure = false
        path = "/dev/shm/xpf-test-\(getpid())-metrics-\(UInt32.random(in: 0...UInt32.max))"
        let g = ShmGeometry(queues: 2, interfaces: Self.interfaceNames.count, umemFrames: 16, sessionCapacity: 1024)
        region = try ShmRegion.create(path: path, geometry: g, supervisorPid: getpid())
        for (slot, name) in Self.interfaceNames.enumerated() {
            var i = xpf_iface()
            copyCString(name, into: &i.name)
            region.setIface(slot, i)
        }
    }

    override func tearDown() {
        region = nil
        unlink(path)
    }

    /// Publishes `stats` as queue `q`'s counters, the way a worker does after each batch.
    func publish(_ q: Int, _ stats: xpf_worker_stats) {
        withUnsafePointer(to: stats) { WorkerStatsIO.publish(region.worker(q), $0) }
    }

    /// Series → value, from the text format ("name{labels} value" lines; labels as written).
    func samples(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let v = Double(line[line.index(after: space)...]) else {
                XCTFail("not a sample line: \(line)")
                return [:]
            }
            out[String(line[..<space])] = v
        }
        return out
    }

    func render(_ exporter: MetricsExporter, _ sup: SupervisorMetrics = SupervisorMetrics()) -> String {
        String(decoding: exporter.render(DataplaneStatus.read(region), sup), as: UTF8.self)
    }

    /// A distinct value for every counter of queue 1, so a swapped field shows.
    func distinctStats() -> xpf_worker_stats {
        var s = xpf_worker_stats()
        s.rx_packets = 101; s.rx_bytes = 102; s.tx_packets = 103; s.tx_bytes = 104
        s.batches = 105; s.batch_packets = 106; s.polls = 107
        s.sessions_created = 108; s.sessions_closed = 9
        s.session_hits = 110; s.session_misses = 111; s.neigh_parked = 112; s.neigh_sent = 113
        withUnsafeMutableBytes(of: &s.drops) { raw in
            raw.storeBytes(of: UInt64(114), toByteOffset: Int(XPF_DROP_NO_ROUTE.rawValue) * 8, as: UInt64.self)
            raw.storeBytes(of: UInt64(115), toByteOffset: Int(XPF_DROP_TTL.rawValue) * 8, as: UInt64.self)
        }
        s.tx_kicks = 116; s.icmp_errors_sent = 117; s.icmp_errors_limited = 118
        s.events_emitted = 119; s.events_dropped = 120; s.events_rate_limited = 126
        withUnsafeMutableBytes(of: &s.if_rx_packets) { $0.storeBytes(of: UInt64(121), toByteOffset: 8, as: UInt64.self) }
        withUnsafeMutableBytes(of: &s.if_tx_packets) { $0.storeBytes(of: UInt64(122), toByteOffset: 0, as: UInt64.self) }
        withUnsafeMutableBytes(of: &s.rx_ring_used) { $0.storeBytes(of: UInt32(123), toByteOffset: 4, as: UInt32.self) }
        withUnsafeMutableBytes(of: &s.tx_ring_used) { $0.storeBytes(of: UInt32(124), toByteOffset: 0, as: UInt32.self) }
        withUnsafeMutableBytes(of: &s.fill_ring_used) { $0.storeBytes(of: UInt32(125), toByteOffset: 4, as: UInt32.self) }
        s.loops = 127; s.loop_busy_ns = 128; s.loop_idle_ns = 129; s.loop_spin_ns = 130
        withUnsafeMutableBytes(of: &s.if_batches) { $0.storeBytes(of: UInt64(131), toByteOffset: 8, as: UInt64.self) }
        return s
    }

    /// Socket statistics (their own seqlock, xpf_worker_socket_stats), distinct values.
    func distinctSocketStats() -> xpf_worker_socket_stats {
        var s = xpf_worker_socket_stats()
        withUnsafeMutableBytes(of: &s.rx_ring_full) { $0.storeBytes(of: UInt64(132), toByteOffset: 8, as: UInt64.self) }
        withUnsafeMutableBytes(of: &s.fill_ring_empty) { $0.storeBytes(of: UInt64(133), toByteOffset: 0, as: UInt64.self) }
        withUnsafeMutableBytes(of: &s.rx_dropped) { $0.storeBytes(of: UInt64(134), toByteOffset: 8, as: UInt64.self) }
        withUnsafeMutableBytes(of: &s.tx_ring_empty) { $0.storeBytes(of: UInt64(135), toByteOffset: 0, as: UInt64.self) }
        return s
    }

    func testEveryWorkerCounterIsExportedWithQueueReasonAndInterfaceLabels() {
        publish(1, distinctStats())
        withUnsafePointer(to: distinctSocketStats()) { WorkerStatsIO.publishSocket(region.worker(1), $0) }
        let m = samples(render(MetricsExporter()))
        let q1 = "queue=\"1\""
        let expected: [String: Double] = [
            "xpf_worker_rx_packets_total{\(q1)}": 101, "xpf_worker_rx_bytes_total{\(q1)}": 102,
            "xpf_worker_tx_packets_total{\(q1)}": 103, "xpf_worker_tx_bytes_total{\(q1)}": 104,
            "xpf_worker_batches_total{\(q1)}": 105, "xpf_worker_batch_packets_total{\(q1)}": 106,
            "xpf_worker_polls_total{\(q1)}": 107,
            "xpf_worker_sessions_created_total{\(q1)}": 108, "xpf_worker_sessions_closed_total{\(q1)}": 9,
            "xpf_worker_session_hits_total{\(q1)}": 110, "xpf_worker_session_misses_total{\(q1)}": 111,
            "xpf_worker_neighbor_parked_packets_total{\(q1)}": 112, "xpf_worker_neighbor_sent_packets_total{\(q1)}": 113,
            "xpf_worker_dropped_packets_total{\(q1),reason=\"no_route\"}": 114,
            "xpf_worker_dropped_packets_total{\(q1),reason=\"ttl\"}": 115,
            "xpf_worker_dropped_packets_total{\(q1),reason=\"parse\"}": 0,
            "xpf_worker_tx_kicks_total{\(q1)}": 116,
            "xpf_worker_icmp_errors_sent_total{\(q1)}": 117, "xpf_worker_icmp_errors_limited_total{\(q1)}": 118,
            "xpf_worker_events_emitted_total{\(q1)}": 119, "xpf_worker_events_dropped_total{\(q1)}": 120, "xpf_worker_events_rate_limited_total{\(q1)}": 126,
            "xpf_worker_interface_rx_packets_total{\(q1),interface=\"fw-out0\"}": 121,
            "xpf_worker_interface_rx_packets_total{\(q1),interface=\"fw-in0\"}": 0,
            "xpf_worker_interface_tx_packets_total{\(q1),interface=\"fw-in0\"}": 122,
            "xpf_worker_rx_ring_used_descriptors{\(q1),interface=\"fw-out0\"}": 123,
            "xpf_worker_tx_ring_used_descriptors{\(q1),interface=\"fw-in0\"}": 124,
            "xpf_worker_fill_ring_used_descriptors{\(q1),interface=\"fw-out0\"}": 125,
            "xpf_worker_loops_total{\(q1)}": 127,
            "xpf_worker_loop_nanoseconds_total{\(q1),state=\"busy\"}": 128,
            "xpf_worker_loop_nanoseconds_total{\(q1),state=\"idle\"}": 129,
            "xpf_worker_loop_nanoseconds_total{\(q1),state=\"spin\"}": 130,
            "xpf_worker_interface_batches_total{\(q1),interface=\"fw-out0\"}": 131,
            "xpf_worker_socket_rx_ring_full_total{\(q1),interface=\"fw-out0\"}": 132,
            "xpf_worker_socket_fill_ring_empty_total{\(q1),interface=\"fw-in0\"}": 133,
            "xpf_worker_socket_rx_dropped_total{\(q1),interface=\"fw-out0\"}": 134,
            "xpf_worker_socket_tx_ring_empty_total{\(q1),interface=\"fw-in0\"}": 135,
            "xpf_worker_rx_packets_total{queue=\"0\"}": 0,
            "xpf_sessions_active": 99, "xpf_session_capacity": 1024,
            "xpf_worker_state{\(q1),state=\"empty\"}": 1, "xpf_worker_state{\(q1),state=\"running\"}": 0,
            "xpf_commits_total": 0,
        ]
        for (series, value) in expected.sorted(by: { $0.key < $1.key }) {
            XCTAssertEqual(m[series], value, series)
        }
        XCTAssertEqual(Set(m.keys.filter { $0.hasPrefix("xpf_worker_dropped_packets_total") }.compactMap { $0.split(separator: "reason=\"").last?.split(separator: "\"").first.map(String.init) }),
                       Set(dropReasons.map(\.name)), "one series per defined drop reason (XPF_DROP_REASONS), none for unused slots")
        XCTAssertNil(m["xpf_commit_duration_seconds"], "no commit yet, no duration")
    }

    func testEveryFamilyHasHelpAndTypeAndCountersEndInTotal() {
        publish(0, distinctStats())
        let text = render(MetricsExporter(), SupervisorMetrics(commits: 1, lastCommitSeconds: 0.25))
        let families = Set(samples(text).keys.map { String($0.prefix { $0 != "{" }) })
        XCTAssertGreaterThan(families.count, 30)
        for f in families {
            guard let typeLine = text.split(separator: "\n").first(where: { $0.hasPrefix("# TYPE \(f) ") }) else {
                return XCTFail("no TYPE line for \(f)")
            }
            XCTAssertTrue(text.contains("# HELP \(f) "), "no HELP line for \(f)")
            XCTAssertEqual(typeLine.hasSuffix(" counter"), f.hasSuffix("_total"), "\(typeLine)")
        }
    }

    func testCommitCountAndDurationFollowTheSupervisor() {
        let exporter = MetricsExporter()
        _ = render(exporter)
        var m = samples(render(exporter, SupervisorMetrics(commits: 2, lastCommitSeconds: 0.125)))
        XCTAssertEqual(m["xpf_commits_total"], 2)
        XCTAssertEqual(m["xpf_commit_duration_seconds"], 0.125)
        m = samples(render(exporter, SupervisorMetrics(commits: 3, lastCommitSeconds: 0.5)))
        XCTAssertEqual(m["xpf_commits_total"], 3)
        XCTAssertEqual(m["xpf_commit_duration_seconds"], 0.5)
    }

    /// Counters are fed from values shared memory owns: a read that comes back lower (a
    /// best-effort read of a worker stuck mid-update) must not move a counter backwards,
    /// and later growth is added on top of what was exported.
    func testCountersNeverGoBackwards() {
        let exporter = MetricsExporter()
        let series = "xpf_worker_rx_packets_total{queue=\"0\"}"
        var s = xpf_worker_stats()
        s.rx_packets = 1000
        publish(0, s)
        XCTAssertEqual(samples(render(exporter))[series], 1000)
        s.rx_packets = 400
        publish(0, s)
        XCTAssertEqual(samples(render(exporter))[series], 1000)
        s.rx_packets = 1500
        publish(0, s)
        XCTAssertEqual(samples(render(exporter))[series], 1500)
    }

    /// Scrapes run on the HTTP server's threads, several at once: they take turns on the
    /// exporter's lock, and every one renders a complete exposition (ThreadSanitizer runs
    /// this in the unit/tsan stage).
    func testConcurrentScrapesRenderWholeExpositions() {
        var s = distinctStats()
        publish(0, s)
        let exporter = MetricsExporter()
        let status = DataplaneStatus.read(region)
        let scrapesPerThread = 50
        let threads = 4
        let complete = "xpf_worker_fill_ring_used_descriptors{queue=\"1\",interface=\"fw-out0\"}"
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: threads)
        counts.initialize(repeating: 0)
        defer { counts.deallocate() }
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<scrapesPerThread {
                let text = String(decoding: exporter.render(status, SupervisorMetrics(commits: UInt64(i))), as: UTF8.self)
                // Safe: each iteration writes only its own element.
                if text.contains(complete) && text.hasSuffix("\n") { counts[t] += 1 }
            }
        }
        XCTAssertEqual(Array(counts), Array(repeating: scrapesPerThread, count: threads))
        s.rx_packets += 1
        publish(0, s)
        XCTAssertEqual(samples(render(exporter))["xpf_worker_rx_packets_total{queue=\"0\"}"], Double(s.rx_packets))
    }

    /// A worker's heartbeat age appears once it has beaten, in seconds.
    func testHeartbeatAgeOnceTheWorkerBeats() {
        let exporter = MetricsExporter()
        let series = "xpf_worker_heartbeat_age_seconds{queue=\"0\"}"
        XCTAssertNil(samples(render(exporter))[series], "no heartbeat yet")
        let beat = monotonicNanos() - 1_500_000_000  // 1.5 s ago
        xpf_store_relaxed_u64(xpf_wb_heartbeat(region.worker(0)), beat)
        let age = try? XCTUnwrap(samples(render(exporter))[series])
        XCTAssertNotNil(age)
        XCTAssertGreaterThanOrEqual(age ?? 0, 1.5)
        XCTAssertLessThan(age ?? .infinity, 60)
    }

    /// Gauges follow the value both ways.
    func testGaugesFollowTheValue() {
        let exporter = MetricsExporter()
        var s = xpf_worker_stats()
        s.sessions_created = 10
        publish(0, s)
        XCTAssertEqual(samples(render(exporter))["xpf_sessions_active"], 10)
        s.sessions_closed = 7
        publish(0, s)
        XCTAssertEqual(samples(render(exporter))["xpf_sessions_active"], 3)
    }
}
