import CXPF
import Foundation
import XCTest

@testable import Shared

/// Host-inbound tables (R-5.4): the corpus both matchers run (Tests/bpf/host_inbound_corpus.txt;
/// the C side is Tests/bpf/xdp_test.c), how a configuration resolves per interface, and the
/// map record xpfd writes.
final class HostInboundTableTests: XCTestCase {
    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    static let corpusPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../bpf/host_inbound_corpus.txt").standardizedFileURL.path

    struct Corpus {
        struct Table {
            var line: Int
            var setting: ConfigModel.HostInbound?
            var replyPorts: ClosedRange<UInt16>
            var entries: [String] = []
        }

        struct Case {
            var line: Int
            var table: String
            var packet: HostInboundTable.Packet
            var admit: Bool
        }

        var tables: [String: Table] = [:]
        var order: [String] = []
        var cases: [Case] = []
    }

    static func names<E: RawRepresentable & CaseIterable>(_ field: String, _: E.Type, line: Int) throws -> [E]
        where E.RawValue == String
    {
        if field == "-" { return [] }
        if field == "all" { return Array(E.allCases) }
        return try field.split(separator: ",").map {
            guard let e = E(rawValue: String($0)) else { throw XPFError("corpus line \(line): unknown name \($0)") }
            return e
        }
    }

    static func loadCorpus() throws -> Corpus {
        let text = try String(contentsOfFile: corpusPath, encoding: .utf8)
        var corpus = Corpus()
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = i + 1
            let f = raw.split(separator: " ").map(String.init)
            guard let kind = f.first, !kind.hasPrefix("#") else { continue }
            func number<T: FixedWidthInteger>(_ index: Int) throws -> T {
                guard index < f.count, let v = T(f[index]) else { throw XPFError("corpus line \(line): field \(index) is not a number") }
                return v
            }
            switch (kind, f.count) {
            case ("table", 7):
                let setting = f[2] == "zone"
                    ? ConfigModel.HostInbound(systemServices: try names(f[3], ConfigModel.SystemService.self, line: line),
                                              protocols: try names(f[4], ConfigModel.HostProtocol.self, line: line))
                    : nil
                corpus.tables[f[1]] = .init(line: line, setting: setting, replyPorts: try number(5)...(try number(6)))
                corpus.order.append(f[1])
            case ("entry", 6):
                guard corpus.tables[f[1]] != nil else { throw XPFError("corpus line \(line): no table \(f[1])") }
                corpus.tables[f[1]]!.entries.append(f[2...].joined(separator: " "))
            case ("case", 10), ("reply", 10):
                guard corpus.tables[f[1]] != nil else { throw XPFError("corpus line \(line): no table \(f[1])") }
                let family: ConfigModel.Family = f[2] == "4" ? .inet : .inet6
                var flags: UInt8 = 0
                let bits: [Character: UInt8] = ["F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20]
                for c in f[5] where c != "-" {
                    guard let b = bits[c] else { throw XPFError("corpus line \(line): TCP flag \(c)") }
                    flags |= b
                }
                let fragment = f[6]
                guard ["none", "first", "later"].contains(fragment), ["admit", "deny"].contains(f[9]) else {
                    throw XPFError("corpus line \(line): fragment or verdict")
                }
                let ext: Int = try number(7)
                let fragmentHeader = family == .inet6 && fragment != "none" ? 1 : 0
                let packet = HostInboundTable.Packet(
                    family: family, ipProtocol: try number(3), port: try number(4), tcpFlags: flags,
                    laterFragment: fragment == "later", extensionHeaders: ext + fragmentHeader, l4Bytes: try number(8),
                    boxFlow: kind == "reply")
                corpus.cases.append(.init(line: line, table: f[1], packet: packet, admit: f[9] == "admit"))
            default:
                throw XPFError("corpus line \(line): cannot read '\(raw)'")
            }
        }
        return corpus
    }

    /// Each `table` line's setting gives exactly the `entry` lines under it.
    func testCorpusTablesAreWhatHostInboundTableComputes() throws {
        let corpus = try Self.loadCorpus()
        XCTAssertGreaterThanOrEqual(corpus.order.count, 6)
        for name in corpus.order {
            let t = corpus.tables[name]!
            let table = HostInboundTable(t.setting, replyPorts: t.replyPorts)
            XCTAssertEqual(table.inZone, t.setting != nil)
            let computed = table.entries.map(\.description)
            XCTAssertEqual(computed, t.entries, "table \(name) (line \(t.line)); computed:\n"
                + computed.map { "entry \(name) \($0)" }.joined(separator: "\n"))
        }
    }

    /// Every case's verdict, through the Swift matcher (the C one runs the same file).
    func testCorpusVerdicts() throws {
        let corpus = try Self.loadCorpus()
        XCTAssertGreaterThanOrEqual(corpus.cases.count, 100)
        var admitted = 0
        for c in corpus.cases {
            let t = corpus.tables[c.table]!
            let table = HostInboundTable(t.setting, replyPorts: t.replyPorts)
            XCTAssertEqual(table.admits(c.packet), c.admit, "corpus line \(c.line): \(c.packet)")
            if c.admit { admitted += 1 }
        }
        // Both verdicts are well represented.
        XCTAssertGreaterThan(admitted, 30)
        XCTAssertGreaterThan(corpus.cases.count - admitted, 30)
    }

    /// `all` services and protocols together fit the program's table.
    func testEverythingFitsTheMapTable() {
        let all = HostInboundTable(ConfigModel.HostInbound(systemServices: ConfigModel.SystemService.allCases,
                                                           protocols: ConfigModel.HostProtocol.allCases))
        XCTAssertLessThanOrEqual(all.entries.count, HostInboundTable.maxEntries)
        XCTAssertGreaterThan(all.entries.count, 20)
    }

    /// A zone's setting, an interface's own override, and an interface in no zone.
    func testPerInterfaceResolution() throws {
        let text = """
            system { dataplane { interfaces [ fw0 fw1 fw2 ]; } }
            interfaces { fw0 { unit 0; } fw1 { unit 0; } fw2 { unit 0; } }
            security {
                zones {
                    security-zone trust {
                        host-inbound-traffic { system-services { ping; ssh; } }
                        interfaces {
                            fw0.0;
                            fw1.0 { host-inbound-traffic { system-services { http; } protocols { bgp; } } }
                        }
                    }
                }
            }
            """
        let (_, model) = try ConfigModel.load(text: text, file: "host-inbound")
        let ssh = HostInboundTable.Packet(family: .inet, ipProtocol: 6, port: 22, tcpFlags: 0x02)
        let http = HostInboundTable.Packet(family: .inet, ipProtocol: 6, port: 80, tcpFlags: 0x02)
        let bgp = HostInboundTable.Packet(family: .inet6, ipProtocol: 6, port: 179, tcpFlags: 0x02)
        let fw0 = HostInboundTable.forInterface(model.interfaceIndex("fw0")!, of: model)
        let fw1 = HostInboundTable.forInterface(model.interfaceIndex("fw1")!, of: model)
        let fw2 = HostInboundTable.forInterface(model.interfaceIndex("fw2")!, of: model)
        XCTAssertEqual([fw0.admits(ssh), fw0.admits(http), fw0.admits(bgp)], [true, false, false])
        XCTAssertEqual([fw1.admits(ssh), fw1.admits(http), fw1.admits(bgp)], [false, true, true])
        XCTAssertEqual(fw2, HostInboundTable(inZone: false, entries: []))
        XCTAssertFalse(fw2.admits(HostInboundTable.Packet(family: .inet, ipProtocol: 1, port: 3)))
    }

    /// The map value carries the flags, reply ports and entries, nothing past them.
    func testRecordEncoding() {
        let table = HostInboundTable(ConfigModel.HostInbound(systemServices: [.ssh, .traceroute]), replyPorts: 1000...2000)
        var r = table.record
        XCTAssertEqual(r.flags, XPF_HOST_INBOUND_F_ZONE)
        XCTAssertEqual(r.n_entries, UInt32(table.entries.count))
        XCTAssertEqual(r.reply_port_first, 1000)
        XCTAssertEqual(r.reply_port_last, 2000)
        let stored = withUnsafeBytes(of: &r.entries) { raw in Array(raw.bindMemory(to: xpf_host_inbound_entry.self)) }
        XCTAssertEqual(stored.count, HostInboundTable.maxEntries)
        for (i, e) in table.entries.enumerated() {
            XCTAssertEqual([stored[i].protocol, stored[i].families], [e.ipProtocol, e.families])
            XCTAssertEqual(stored[i].port_first...stored[i].port_last, e.ports)
        }
        XCTAssertTrue(stored[table.entries.count...].allSatisfy { $0.protocol == 0 && $0.port_last == 0 })
        XCTAssertEqual(HostInboundTable(nil).record.flags, 0)
    }
}
