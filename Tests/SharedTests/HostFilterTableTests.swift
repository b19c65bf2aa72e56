import CXPF
import Foundation
import XCTest

@testable import Shared

/// Firewall filters on host-bound traffic (issue 10): the table xpfd writes into the XDP
/// program's host_filters map. The corpus (Tests/bpf/host_filter_corpus.txt) holds
/// configurations and the tables HostFilterTable computes from them; this test recomputes
/// every table that carries `config` lines and compares it line by line, and
/// Tests/bpf/xdp_test.c loads the same tables into the program and runs the corpus's
/// packets through it — so the packets' verdicts are those of the tables xpfd really writes.
final class HostFilterTableTests: XCTestCase {
    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    static let corpusPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../bpf/host_filter_corpus.txt").standardizedFileURL.path

    /// The table of configuration `text` (its snapshot as xpfd encodes it).
    static func table(_ text: String, file: String = "corpus") throws -> HostFilterTable {
        let model = try ConfigModel.load(text: text, file: file).1
        return try ConfigSnapshotImage(model).withView { try HostFilterTable($0, generation: 1) }
    }

    /// Every corpus table with a configuration is what HostFilterTable computes from it.
    func testCorpusTablesAreComputed() throws {
        let text = try String(contentsOfFile: Self.corpusPath, encoding: .utf8)
        var tables: [(name: String, line: Int, config: [String], lines: [String])] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("table ") {
                tables.append((String(line.dropFirst("table ".count)), i + 1, [], []))
            } else if line.hasPrefix("case ") {
                continue
            } else if !tables.isEmpty {
                if line.hasPrefix("config ") {
                    tables[tables.count - 1].config.append(String(line.dropFirst("config ".count)))
                } else {
                    tables[tables.count - 1].lines.append(line)
                }
            }
        }
        let computed = tables.filter { !$0.config.isEmpty }
        XCTAssertGreaterThanOrEqual(computed.count, 5, "the corpus's configured tables")
        for t in computed {
            let got = try Self.table(t.config.joined(separator: "\n"), file: t.name).lines
            XCTAssertEqual(got, t.lines, "table \(t.name) (line \(t.line)); computed:\n" + got.joined(separator: "\n"))
        }
    }

    /// The chains: an interface's own input filter first, then lo0's; a list's members in
    /// order as one segment; lo0's terms shared (copied once) by every interface; inet6
    /// chains apart; interfaces without a filter get lo0's alone.
    func testChainsJoinInterfaceAndLoopbackFilters() throws {
        let t = try Self.table("""
            system dataplane interfaces [ fw0 fw1 ];
            firewall {
                family inet {
                    filter a { term a1 { from { protocol tcp; } then accept; } term a2 { then discard; } }
                    filter b { term b1 { from { protocol udp; } then accept; } }
                    filter protect { term ssh { from { protocol tcp; destination-port ssh; } then { count ssh; accept; } }
                                     term rest { then { count other; discard; } } }
                }
                family inet6 filter protect6 { term all { then accept; } }
            }
            interfaces {
                fw0 unit 0 family inet filter input-list [ a b ];
                fw1 unit 0;
                lo0 unit 0 { family inet filter input protect; family inet6 filter input protect6; }
            }
            """)
        XCTAssertEqual(t.chains.count, Int(XPF_MAX_IFACES))
        // Pool order: fw0's list (a1, a2, b1), then lo0's (ssh, rest), then lo0's inet6 (all).
        XCTAssertEqual(t.chains[0][0].terms, [0, 1, 2, 3, 4])
        XCTAssertEqual(t.chains[0][0].lo0Start, 3)
        XCTAssertEqual(t.chains[1][0].terms, [3, 4])
        XCTAssertEqual(t.chains[1][0].lo0Start, 0)
        XCTAssertEqual(t.chains[0][1].terms, [5])
        XCTAssertEqual(t.chains[1][1].terms, [5])
        XCTAssertEqual(t.chains[0][1].lo0Start, 0)
        XCTAssertEqual([t.chains[0][0].interfaceFilter, t.chains[0][0].loopbackFilter], [true, true])
        XCTAssertEqual([t.chains[1][0].interfaceFilter, t.chains[1][0].loopbackFilter], [false, true])
        // Slots past the dataplane interfaces have no chain.
        XCTAssertTrue(t.chains[2].allSatisfy { $0.terms.isEmpty && !$0.interfaceFilter && !$0.loopbackFilter })
        XCTAssertEqual(t.terms.count, 6)
        XCTAssertEqual(t.counterSources.count, 2)
        XCTAssertEqual(t.terms[3].counter, 0)
        XCTAssertEqual(t.terms[4].counter, 1)
        XCTAssertEqual(t.terms[1].terminal, UInt8(XPF_HF_DISCARD))
        XCTAssertEqual(t.terms[3].dst_port.count, 1)
        XCTAssertEqual(t.ranges[Int(t.terms[3].dst_port.first)].low, 22)
        XCTAssertEqual(t.ranges[Int(t.terms[3].dst_port.first)].high, 22)
        XCTAssertFalse(t.isEmpty)
        // Without filters on host-bound paths: nothing to run.
        XCTAssertTrue(try Self.table("""
            system dataplane interfaces fw0;
            firewall family inet filter f { term t { then accept; } }
            interfaces fw1 unit 0 family inet filter input f;
            """).isEmpty)
    }

    /// A filter without terms is still a filter: its chain segment is flagged (the program
    /// runs it, and its end is the implicit discard of everything), as the workers discard
    /// everything through it.
    func testAFilterWithoutTermsIsFlaggedNotDropped() throws {
        let t = try Self.table("""
            system dataplane interfaces [ fw0 ];
            firewall family inet filter block;
            interfaces { fw0 unit 0 family inet filter input block; lo0 unit 0 family inet filter input block; }
            """)
        XCTAssertEqual(t.chains[0][0], HostFilterTable.Chain(lo0Start: 0, terms: [], interfaceFilter: true, loopbackFilter: true))
        XCTAssertFalse(t.isEmpty)
        XCTAssertEqual(t.lines, ["chain 0 inet lo0=0 filters=0x3 terms="])
        let v = UnsafeMutablePointer<xpf_host_filters>.allocate(capacity: 1)
        defer { v.deallocate() }
        t.write(into: v)
        let chain = withUnsafeBytes(of: v.pointee.chains) { $0.load(as: xpf_hf_chain.self) }
        XCTAssertEqual([chain.n, chain.flags], [0, UInt16(XPF_HF_CHAIN_IFACE | XPF_HF_CHAIN_LO0)])
    }

    /// What the program writes and reads as one value: pools and chains where the C layout
    /// has them, every other byte zero.
    func testWrittenValueHoldsPoolsAndChains() throws {
        let t = try Self.table("""
            system dataplane interfaces [ fw0 ];
            firewall family inet filter protect {
                term ssh { from { source-address { 10.0.0.0/8; 10.9.0.0/16 except; } protocol tcp; destination-port [ 22 830 ]; }
                           then { count ssh; log; accept; } }
                term rest { then reject tcp-reset; }
            }
            interfaces lo0 unit 0 family inet filter input protect;
            """)
        let v = UnsafeMutablePointer<xpf_host_filters>.allocate(capacity: 1)
        defer { v.deallocate() }
        memset(v, 0xA5, MemoryLayout<xpf_host_filters>.size)
        t.write(into: v)
        XCTAssertEqual(v.pointee.generation, 1)
        XCTAssertEqual(v.pointee.n_terms, 2)
        let chain = withUnsafeBytes(of: v.pointee.chains) { $0.load(as: xpf_hf_chain.self) }  // slot 0, inet
        XCTAssertEqual(chain.n, 2)
        XCTAssertEqual(chain.lo0_start, 0)
        XCTAssertEqual(chain.terms.0, 0)
        XCTAssertEqual(chain.terms.1, 1)
        let terms = withUnsafeBytes(of: v.pointee.terms) { Array($0.bindMemory(to: xpf_hf_term.self).prefix(2)) }
        XCTAssertEqual(terms[0].action & UInt8(XPF_HF_A_LOG), UInt8(XPF_HF_A_LOG))
        XCTAssertEqual(terms[0].match & (XPF_HF_M_SRC_ADDR | XPF_HF_M_PROTO | XPF_HF_M_DST_PORT),
                       XPF_HF_M_SRC_ADDR | XPF_HF_M_PROTO | XPF_HF_M_DST_PORT)
        XCTAssertEqual(terms[1].terminal, UInt8(XPF_HF_REJECT))
        XCTAssertEqual(terms[1].reject_reason, UInt8(XPF_HF_REJECT_TCP_RESET))
        let prefixes = withUnsafeBytes(of: v.pointee.prefixes) { Array($0.bindMemory(to: xpf_hf_prefix.self).prefix(3)) }
        XCTAssertEqual(prefixes[0].family, 4)
        XCTAssertEqual(prefixes[0].length, 8)
        XCTAssertEqual(prefixes[0].except, 0)
        XCTAssertEqual(withUnsafeBytes(of: prefixes[0].net) { Array($0) }, [10, 0, 0, 0] + Array(repeating: 0, count: 12))
        XCTAssertEqual(withUnsafeBytes(of: prefixes[0].mask) { Array($0) }, [255, 0, 0, 0] + Array(repeating: 0, count: 12))
        XCTAssertEqual(prefixes[1].except, 1)
        XCTAssertEqual(withUnsafeBytes(of: prefixes[1].mask) { Array($0) }, [255, 255, 0, 0] + Array(repeating: 0, count: 12))
        // Unused pool entries are zero, not the fill pattern.
        XCTAssertEqual(prefixes[2].family, 0)
        let other = withUnsafeBytes(of: v.pointee.chains) { $0.load(fromByteOffset: MemoryLayout<xpf_hf_chain>.stride, as: xpf_hf_chain.self) }
        XCTAssertEqual(other.n, 0, "slot 0 inet6: no filter")
    }

    /// Policer instances: a two-color one's cost, depth and out-of-profile action; a
    /// three-color one's buckets and flags; one pool entry per instance, shared by the
    /// chains that reach it.
    func testPolicersCarryTheirParameters() throws {
        let t = try Self.table("""
            system dataplane interfaces [ fw0 fw1 ];
            firewall {
                policer icmp-limit { if-exceeding { bandwidth-limit 64k; burst-size-limit 2k; } then discard; }
                policer mark { if-exceeding { bandwidth-limit 1m; burst-size-limit 15k; } then loss-priority high; }
                three-color-policer tc { two-rate { color-aware; committed-information-rate 1m; committed-burst-size 10k;
                                                    peak-information-rate 2m; peak-burst-size 20k; } action { loss-priority high then discard; } }
                family inet filter protect {
                    term icmp { from protocol icmp; then { policer icmp-limit; accept; } }
                    term web { from protocol tcp; then { policer mark; accept; } }
                    term rest { then { three-color-policer { two-rate tc; } accept; } }
                }
            }
            interfaces lo0 unit 0 family inet filter input protect;
            """)
        XCTAssertEqual(t.policers.count, 3)
        let two = t.policers[0]
        XCTAssertEqual(two.flags, XPF_HF_P_DISCARD)
        XCTAssertEqual(two.c_cost, Policing.cost(bytesPerSecond: 64_000 / 8))
        XCTAssertEqual(two.c_depth, Policing.depth(bytes: 2_000, cost: two.c_cost))
        XCTAssertEqual(t.policers[1].flags, XPF_HF_P_LOSS_PRIORITY)
        XCTAssertEqual(t.policers[1].loss_priority, UInt8(XPF_LP_HIGH.rawValue))
        let tc = t.policers[2]
        XCTAssertEqual(tc.flags, XPF_HF_P_THREE_COLOR | XPF_HF_P_TWO_RATE | XPF_HF_P_COLOR_AWARE | XPF_HF_P_DISCARD)
        XCTAssertEqual(tc.c_cost, Policing.cost(bytesPerSecond: 1_000_000 / 8))
        XCTAssertEqual(tc.x_cost, Policing.cost(bytesPerSecond: 2_000_000 / 8))
        XCTAssertEqual(tc.tat, 0, "buckets start full")
        XCTAssertEqual(t.terms.map(\.policer), [0, 1, 2])
    }

    /// A configuration that does not fit the program's pools is refused, naming the count
    /// and the limit.
    func testTooLargeIsRefused() throws {
        let terms = (0...Int(XPF_HF_MAX_TERMS)).map { "term t\($0) { from { destination-port \(1000 + $0); } then accept; }" }
        XCTAssertThrowsError(try Self.table("""
            system dataplane interfaces fw0;
            firewall family inet filter big { \(terms.joined(separator: " ")) }
            interfaces lo0 unit 0 family inet filter input big;
            """)) { error in
            XCTAssertEqual("\(error)", "the filters of interface fw0 and lo0 (family inet) have 1025 terms together; "
                + "host-bound traffic can be filtered by at most 1024")
        }
    }
}
