import Foundation
import XCTest

@testable import Shared

/// What each good corpus file compiles to (issue 3): every field that matters, asserted
/// either one by one or by comparing whole values built here.
final class ConfigModelTests: XCTestCase {
    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    typealias M = ConfigModel

    // MARK: - Helpers

    private func p(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> M.Prefix {
        guard let (prefix, _) = M.Prefix.parse(text) else {
            XCTFail("bad prefix \(text)", file: file, line: line)
            return .all(.inet)
        }
        return prefix
    }

    private func ip(_ text: String) -> M.IPAddress { M.IPAddress(text)! }

    private func range(_ low: String, _ high: String) -> M.AddressRange { M.AddressRange(low: ip(low), high: ip(high)) }

    private func ifAddr(_ text: String) -> M.InterfaceAddress {
        let parts = text.split(separator: "/")
        return M.InterfaceAddress(address: ip(String(parts[0])), prefixLength: Int(parts[1])!)
    }

    private func load(_ name: String) throws -> ConfigModel { try ConfigCorpusTests.load(name).1 }

    private func app(_ model: ConfigModel, _ name: String) -> Int { model.applicationIndex(name)! }

    private let predefinedCount = ConfigModel.predefinedApplications.count

    // MARK: - Interfaces

    func testInterfaces() throws {
        let m = try load("good/interfaces.conf")
        XCTAssertEqual(m.dataplane.interfaces, ["ge0", "ge1", "ge2"])
        XCTAssertEqual(m.filters.map(\.name), ["edge-in", "edge-out", "protect-re", "edge6-in"])
        XCTAssertEqual(m.filters.map(\.family), [.inet, .inet, .inet, .inet6])
        XCTAssertEqual(m.interfaces, [
            // Dataplane interfaces first, in `system dataplane interfaces` order.
            M.Interface(name: "ge0", isDataplane: true, inetAddresses: [ifAddr("10.0.0.1/24"), ifAddr("10.0.1.1/24")],
                        inet6Addresses: [ifAddr("fd00::1/64")]),
            M.Interface(name: "ge1", description: "uplink to the ISP", isDataplane: true,
                        inetAddresses: [ifAddr("198.51.100.2/30")], inet6Addresses: [ifAddr("2001:db8:ffff::2/64")],
                        inetInputFilters: [0], inetOutputFilters: [1], inet6InputFilters: [3]),
            M.Interface(name: "ge2", isDataplane: true),
            M.Interface(name: "lo0", isDataplane: false, inetAddresses: [ifAddr("192.0.2.1/32")], inetInputFilters: [2]),
        ])
        let ge1 = m.interfaces[1]
        XCTAssertEqual(ge1.addresses(.inet6).first?.network, p("2001:db8:ffff::/64"))
        XCTAssertEqual(ge1.inputFilters(.inet), [0])
        XCTAssertEqual(ge1.outputFilters(.inet6), [])
        XCTAssertEqual(m.interfaceIndex("lo0"), 3)
    }

    // MARK: - Zones

    func testZonesAndHostInbound() throws {
        let m = try load("good/zones.conf")
        XCTAssertEqual(m.screens.map(\.name), ["lan-screen"])
        XCTAssertEqual(m.screens[0].checks, [.landAttack])
        let allButTelnetAndFTP = M.SystemService.allCases.filter { $0 != .telnet && $0 != .ftp }
        XCTAssertEqual(m.zones, [
            M.Zone(name: "trust", description: "inside hosts", interfaces: [0, 2],
                   hostInbound: M.HostInbound(systemServices: [.dns, .ping, .ssh], protocols: [.ospf]),
                   interfaceHostInbound: [2: M.HostInbound(systemServices: allButTelnetAndFTP)], screen: 0),
            M.Zone(name: "untrust", interfaces: [1], hostInbound: M.HostInbound(systemServices: [.ping])),
            M.Zone(name: "dmz", interfaces: [3], hostInbound: M.HostInbound(protocols: M.HostProtocol.allCases)),
            M.Zone(name: "empty"),
        ])
        XCTAssertEqual(m.interfaces.map(\.name), ["eth0", "eth1", "eth2", "eth3"])
        XCTAssertEqual(m.zoneIndex(ofInterface: 2), 0)
        XCTAssertEqual(m.zoneIndex(ofInterface: 3), 2)
        // The interface's own setting replaces the zone's; others get the zone's.
        XCTAssertEqual(m.zones[0].hostInbound(forInterface: 2).systemServices, allButTelnetAndFTP)
        XCTAssertEqual(m.zones[0].hostInbound(forInterface: 0).systemServices, [.dns, .ping, .ssh])
    }

    // MARK: - Address books

    func testAddressBooks() throws {
        let m = try load("good/address-books.conf")
        XCTAssertEqual(m.zones.map(\.name), ["inside", "dmz"])
        XCTAssertEqual(m.zones.map(\.addressBook), [2, nil])
        XCTAssertEqual(m.addressBooks, [
            M.AddressBook(name: "global", kind: .global, addresses: [
                M.Address(name: "dns1", prefixes: [p("192.0.2.53/32")]),
                M.Address(name: "dns2", prefixes: [p("2001:db8::53/128")]),
                // Host bits cleared.
                M.Address(name: "mgmt-net", prefixes: [p("10.99.0.0/16")]),
            ], addressSets: [
                M.AddressSet(name: "dns-servers", prefixes: [p("192.0.2.53/32"), p("2001:db8::53/128")]),
            ]),
            M.AddressBook(name: "servers", kind: .named, description: "server farm", zones: [1], addresses: [
                M.Address(name: "web1", prefixes: [p("10.10.0.10/32")]),
                M.Address(name: "web2", prefixes: [p("10.10.0.11/32")]),
                // 10.10.1.1 to 10.10.1.6, exactly.
                M.Address(name: "pool1", prefixes: [p("10.10.1.1/32"), p("10.10.1.2/31"), p("10.10.1.4/31"),
                                                    p("10.10.1.6/32")]),
            ], addressSets: [
                M.AddressSet(name: "web", prefixes: [p("10.10.0.10/32"), p("10.10.0.11/32")]),
                M.AddressSet(name: "everything", prefixes: [
                    p("10.10.0.10/32"), p("10.10.0.11/32"), p("10.10.1.1/32"), p("10.10.1.2/31"), p("10.10.1.4/31"),
                    p("10.10.1.6/32"),
                ]),
            ]),
            M.AddressBook(name: "inside", kind: .zone(0), zones: [0], addresses: [
                M.Address(name: "lan", prefixes: [p("10.0.0.0/8")]),
            ], addressSets: [
                M.AddressSet(name: "lan-and-more", prefixes: [p("10.0.0.0/8")]),
            ]),
        ])
    }

    // MARK: - Applications

    func testApplications() throws {
        let m = try load("good/applications.conf")
        let user = Array(m.applications.dropFirst(predefinedCount))
        XCTAssertTrue(m.applications.prefix(predefinedCount).allSatisfy(\.isPredefined))
        XCTAssertEqual(user, [
            M.Application(name: "web-alt", description: "HTTP on 8080-8081",
                          terms: [M.ApplicationTerm(ipProtocol: 6, destinationPorts: 8080...8081)]),
            M.Application(name: "dns-high-port", terms: [
                M.ApplicationTerm(ipProtocol: 17, sourcePorts: 1024...65535, destinationPorts: 53...53,
                                  inactivityTimeout: 30),
            ]),
            M.Application(name: "ping4", terms: [M.ApplicationTerm(ipProtocol: 1, icmpType: 8, icmpCode: 0)]),
            M.Application(name: "ping6", terms: [M.ApplicationTerm(ipProtocol: 58, icmpType: 128)]),
            M.Application(name: "gre-tunnel", terms: [M.ApplicationTerm(ipProtocol: 47)]),
            M.Application(name: "dns-both", terms: [
                M.ApplicationTerm(name: "udp", ipProtocol: 17, destinationPorts: 53...53),
                M.ApplicationTerm(name: "tcp", ipProtocol: 6, destinationPorts: 53...53),
            ]),
        ])
        let http = app(m, "junos-http"), https = app(m, "junos-https"), webAlt = app(m, "web-alt")
        XCTAssertEqual(m.applicationSets, [
            M.ApplicationSet(name: "web-apps", applications: [http, https, webAlt]),
            // Flattened in the order written, without repeating junos-http.
            M.ApplicationSet(name: "all-apps", applications: [http, https, webAlt, app(m, "ping4")]),
        ])
    }

    func testPredefinedApplications() {
        let apps = Dictionary(uniqueKeysWithValues: ConfigModel.predefinedApplications.map { ($0.name, $0.terms) })
        XCTAssertEqual(apps["any"], [M.ApplicationTerm(ipProtocol: nil)])
        XCTAssertEqual(apps["junos-http"], [M.ApplicationTerm(ipProtocol: 6, destinationPorts: 80...80)])
        XCTAssertEqual(apps["junos-https"], [M.ApplicationTerm(ipProtocol: 6, destinationPorts: 443...443)])
        XCTAssertEqual(apps["junos-ssh"], [M.ApplicationTerm(ipProtocol: 6, destinationPorts: 22...22)])
        XCTAssertEqual(apps["junos-dns-udp"], [M.ApplicationTerm(ipProtocol: 17, destinationPorts: 53...53)])
        XCTAssertEqual(apps["junos-dns-tcp"], [M.ApplicationTerm(ipProtocol: 6, destinationPorts: 53...53)])
        XCTAssertEqual(apps["junos-icmp-all"], [M.ApplicationTerm(ipProtocol: 1)])
        XCTAssertEqual(apps["junos-icmp6-all"], [M.ApplicationTerm(ipProtocol: 58)])
        XCTAssertEqual(apps["junos-ping"]?.map(\.icmpType), [8, 128])
        XCTAssertEqual(ConfigModel.predefinedApplications.first?.name, "any")
    }

    // MARK: - Policies

    func testPolicies() throws {
        let m = try load("good/policies.conf")
        XCTAssertEqual(m.zones.map(\.name), ["trust", "untrust", "dmz"])
        let any = [M.Prefix.all(.inet), .all(.inet6)]
        let anyApp = app(m, "any")
        XCTAssertEqual(m.policies.zonePairs, [
            M.ZonePairPolicies(fromZone: 0, toZone: 1, policies: [
                M.Policy(id: 0, name: "deny-bad", sourceAddresses: any, destinationAddresses: [p("203.0.113.0/24")],
                         applications: [anyApp], action: .deny, logSessionInit: true),
                M.Policy(id: 1, name: "allow-out", sourceAddresses: [p("10.10.1.0/24")], destinationAddresses: any,
                         applications: [app(m, "junos-http"), app(m, "junos-https"), app(m, "junos-dns-udp")],
                         action: .permit, logSessionInit: true, logSessionClose: true, count: true),
            ]),
            M.ZonePairPolicies(fromZone: 0, toZone: 2, policies: [
                // `servers` is a set of the dmz book, seen as a destination (to-zone dmz).
                M.Policy(id: 2, name: "admin-ssh", sourceAddresses: [p("10.10.1.5/32")],
                         destinationAddresses: [p("10.30.0.10/32")], applications: [app(m, "junos-ssh")],
                         action: .permit),
            ]),
            M.ZonePairPolicies(fromZone: 1, toZone: 2, policies: [
                M.Policy(id: 3, name: "reject-rest", sourceAddresses: [.all(.inet)],
                         destinationAddresses: [p("10.30.0.10/32"), .all(.inet6)], applications: [anyApp],
                         action: .reject),
            ]),
        ])
        XCTAssertEqual(m.policies.global, [
            M.Policy(id: 4, name: "no-telnet", sourceAddresses: any, destinationAddresses: any,
                     applications: [app(m, "junos-telnet")], action: .deny),
            M.Policy(id: 5, name: "dmz-ping", sourceAddresses: any, destinationAddresses: [p("203.0.113.0/24")],
                     applications: [app(m, "junos-ping")], fromZones: [0, 1], toZones: [2], action: .permit),
        ])
        XCTAssertEqual(m.policies.defaultPolicy, .permitAll)
        XCTAssertEqual(m.policies.all.map(\.id), Array(0...5))
        XCTAssertEqual(m.policies.evaluationOrder(from: 0, to: 2).map(\.name), ["admin-ssh", "no-telnet", "dmz-ping"])
        XCTAssertEqual(m.policies.evaluationOrder(from: 1, to: 0).map(\.name), ["no-telnet"])
    }

    // MARK: - Filters

    func testFilters() throws {
        let m = try load("good/filters.conf")
        XCTAssertEqual(m.prefixLists, [
            M.PrefixList(name: "mgmt", prefixes: [p("10.99.0.0/16"), p("192.0.2.0/24"), p("2001:db8:99::/48")]),
            M.PrefixList(name: "blocked", prefixes: [p("198.51.100.0/24")]),
        ])
        XCTAssertEqual(m.policers, [M.Policer(name: "limit-1m", bandwidthLimit: 1_000_000, burstSizeLimit: 15_000,
                                              discard: true)])
        XCTAssertEqual(m.threeColorPolicers, [
            M.ThreeColorPolicer(name: "gold", rates: .singleRate(committedInformationRate: 10_000_000,
                                                                committedBurstSize: 100_000, excessBurstSize: 200_000),
                                colorAware: true, discardHighLossPriority: true),
        ])
        XCTAssertEqual(m.filters.map(\.name), ["edge-in", "edge6", "empty"])
        XCTAssertEqual(m.filters.map(\.family), [.inet, .inet6, .inet6])
        XCTAssertEqual(m.filterIndex("edge6", family: .inet6), 1)
        XCTAssertNil(m.filterIndex("edge6", family: .inet))

        let synNotAck = M.TCPFlagsExpression.and(.bits(0x02), .not(.bits(0x10)))
        let mgmtV4 = [M.PrefixMatch(p("10.99.0.0/16")), M.PrefixMatch(p("192.0.2.0/24"))]
        XCTAssertEqual(m.filters[0].terms, [
            M.FilterTerm(
                name: "block-lists",
                match: M.FilterMatch(sourceAddresses: [M.PrefixMatch(p("198.51.100.0/24"))],
                                     destinationAddresses: [M.PrefixMatch(p("0.0.0.0/0")),
                                                            M.PrefixMatch(p("10.0.0.0/8"), except: true)]),
                action: M.FilterAction(terminal: .reject(.tcpReset), count: "blocked-hits", log: true)),
            M.FilterTerm(
                name: "mgmt-ssh",
                match: M.FilterMatch(
                    sourceAddresses: [M.PrefixMatch(p("10.99.0.0/16")), M.PrefixMatch(p("10.99.5.0/24"), except: true)]
                        + mgmtV4,
                    protocols: [6], destinationPorts: [22...22, 830...830, 8000...8100],
                    tcpFlags: M.TCPFlagsMatch(text: "syn & !ack", expression: synNotAck)),
                action: M.FilterAction(terminal: .accept, syslog: true)),
            M.FilterTerm(
                name: "voice",
                match: M.FilterMatch(protocols: [17, 132], sourcePorts: [16384...32767], ports: [5060...5060],
                                     dscp: [46, 34, 40, 10]),
                action: M.FilterAction(terminal: .accept, policer: 0, forwardingClass: "expedited-forwarding",
                                       dscp: 26, lossPriority: .low)),
            M.FilterTerm(
                name: "pings",
                match: M.FilterMatch(protocols: [1], icmpTypes: [8, 0, 3], icmpCodes: [0]),
                action: M.FilterAction(count: "pings", threeColorPolicer: 0)),
            M.FilterTerm(
                name: "frags",
                match: M.FilterMatch(addresses: [M.PrefixMatch(p("10.0.0.0/8"))]
                    + mgmtV4.map { M.PrefixMatch($0.prefix, except: true) }, isFragment: true),
                action: M.FilterAction(terminal: .discard)),
            M.FilterTerm(
                name: "first-frags",
                match: M.FilterMatch(tcpFlags: M.TCPFlagsMatch(text: "(syn & !ack) & (ack | rst)",
                                                               expression: .and(synNotAck, .or(.bits(0x10), .bits(0x04)))),
                                     firstFragment: true),
                action: M.FilterAction(terminal: .reject(.administrativelyProhibited))),
            M.FilterTerm(name: "last"),
        ])
        XCTAssertEqual(m.filters[1].terms, [
            M.FilterTerm(name: "nd", match: M.FilterMatch(protocols: [58], icmpTypes: [135, 136, 134])),
            M.FilterTerm(name: "mgmt", match: M.FilterMatch(sourceAddresses: [M.PrefixMatch(p("2001:db8:99::/48"))],
                                                            protocols: [6], dscp: [10])),
            M.FilterTerm(name: "rest", action: M.FilterAction(terminal: .discard, count: "v6-dropped")),
        ])
        XCTAssertEqual(m.filters[2].terms, [])
        // R-4.5: terms on per-packet fields are flagged for per-packet evaluation.
        XCTAssertEqual(m.filters[0].terms.map(\.match.usesPerPacketFields),
                       [false, true, true, true, true, true, false])
    }

    func testTCPFlagsExpressionsEvaluate() throws {
        func parse(_ text: String) throws -> M.TCPFlagsExpression {
            try TCPFlagsParser.parse(ConfigValue(text: text, location: SourceLocation(file: "t", line: 1, column: 1),
                                                 keyword: "tcp-flags"))
        }
        let syn: UInt8 = 0x02, ack: UInt8 = 0x10, fin: UInt8 = 0x01, rst: UInt8 = 0x04
        let initial = try parse("syn & !ack")
        XCTAssertTrue(initial.matches(syn))
        XCTAssertFalse(initial.matches(syn | ack))
        // `&` binds tighter than `|`; parentheses override.
        XCTAssertTrue(try parse("fin | syn & ack").matches(fin))
        XCTAssertFalse(try parse("(fin | syn) & ack").matches(fin))
        XCTAssertTrue(try parse("!(syn|fin|rst)").matches(ack))
        XCTAssertTrue(try parse("0x12").matches(syn | ack))
        XCTAssertFalse(try parse("0x12").matches(syn))
        XCTAssertTrue(try parse("rst").matches(rst | ack))
        for (bad, problem) in [("", "empty expression"), ("syn &", "expression ends too early"),
                               ("syn ack", "unexpected 'ack'"), ("(syn", "missing ')'"), ("syn)", "unexpected ')'"),
                               ("0x100", "unknown flag '0x100' (expected fin, syn, rst, push, ack, urgent, ece, cwr or a number)")]
        {
            XCTAssertThrowsError(try parse(bad), bad) { error in
                XCTAssertEqual((error as? ConfigError)?.message,
                               "invalid tcp-flags \(JunosNode.quoted(bad).hasPrefix("\"") ? JunosNode.quoted(bad) : "'\(bad)'"): \(problem)")
            }
        }
    }

    // MARK: - Policers

    /// `next term` is a terminal of its own, `packet-length` values and ranges, and
    /// `input-list` / `output-list` the attachment's filters in order (`input` one).
    func testNextTermPacketLengthAndFilterLists() throws {
        let m = try load("good/filter-lists.conf")
        XCTAssertEqual(m.filters.map(\.name), ["mark", "small-only", "mark6", "big6"])
        XCTAssertEqual(m.filters[0].terms.map(\.action.terminal), [.nextTerm, .nextTerm])
        XCTAssertEqual(m.filters[0].terms[0].action,
                       M.FilterAction(terminal: .nextTerm, count: "seen", lossPriority: .mediumHigh))
        XCTAssertEqual(m.filters[1].terms[0].match, M.FilterMatch(packetLengths: [20...576, 1500...1500]))
        XCTAssertTrue(m.filters[1].terms[0].match.usesPerPacketFields, "packet length is not in the session key")
        XCTAssertEqual(m.filters[3].terms[0].match.packetLengths, [1281...65535])
        let fw0 = m.interfaces[0], fw1 = m.interfaces[1]
        XCTAssertEqual(fw0.inputFilters(.inet), [0, 1])
        XCTAssertEqual(fw0.inputFilters(.inet6), [2, 3])
        XCTAssertEqual(fw0.outputFilters(.inet), [])
        XCTAssertEqual(fw1.inputFilters(.inet), [1])
        XCTAssertEqual(fw1.outputFilters(.inet), [1, 0])
        // The order of a list decides: reordering it is a filter change (a new policy epoch).
        let text = try String(contentsOf: ConfigCorpusTests.corpus.appendingPathComponent("good/filter-lists.conf"),
                              encoding: .utf8)
        let reordered = try M.load(text: text.replacingOccurrences(of: "output-list [ small-only mark ]",
                                                                   with: "output-list [ mark small-only ]"),
                                   file: "reordered").1
        XCTAssertEqual(reordered.interfaces[1].outputFilters(.inet), [0, 1])
        XCTAssertFalse(m.decidesSessions(as: reordered))
    }

    func testPolicers() throws {
        let m = try load("good/policers.conf")
        XCTAssertEqual(m.policers, [
            M.Policer(name: "p-plain", bandwidthLimit: 64_000, burstSizeLimit: 1_500, discard: true),
            M.Policer(name: "p-gig", bandwidthLimit: 2_000_000_000, burstSizeLimit: 1_000_000, discard: false,
                      lossPriority: .high, forwardingClass: "best-effort", filterSpecific: true),
        ])
        XCTAssertEqual(m.threeColorPolicers, [
            M.ThreeColorPolicer(name: "srtcm", rates: .singleRate(committedInformationRate: 5_000_000,
                                                                 committedBurstSize: 50_000, excessBurstSize: 100_000)),
            M.ThreeColorPolicer(name: "trtcm", rates: .twoRate(committedInformationRate: 10_000_000,
                                                              committedBurstSize: 64_000, peakInformationRate: 20_000_000,
                                                              peakBurstSize: 128_000),
                                discardHighLossPriority: true, filterSpecific: true),
        ])
        let policeIn = try XCTUnwrap(m.filterIndex("police-in", family: .inet).map { m.filters[$0] })
        XCTAssertTrue(policeIn.interfaceSpecific)
        XCTAssertEqual(policeIn.terms.map(\.action.policer), [1, nil])
        XCTAssertEqual(policeIn.terms.map(\.action.threeColorPolicer), [nil, 1])
        let byColor = try XCTUnwrap(m.filterIndex("by-color", family: .inet).map { m.filters[$0] })
        XCTAssertFalse(byColor.interfaceSpecific)
        XCTAssertEqual(byColor.terms[0].match.lossPriorities, [.high, .mediumHigh])
        XCTAssertTrue(byColor.terms[0].match.usesPerPacketFields)  // R-4.5: the loss priority is no session key
    }

    // MARK: - Screens

    func testScreens() throws {
        let m = try load("good/screens.conf")
        XCTAssertEqual(m.flow.synFloodProtectionMode, .synCookie)
        XCTAssertEqual(m.screens, [
            // Every R-7.1 check, syn-cookie included (syn-flood + syn-cookie protection mode).
            M.Screen(name: "full", checks: Set(M.ScreenCheck.allCases), icmpFloodThreshold: 500, udpFloodThreshold: 2000,
                     synFlood: M.SynFlood(attackThreshold: 300, alarmThreshold: 1000, sourceThreshold: 50,
                                          destinationThreshold: 5000, timeout: 10),
                     portScanThreshold: 3000, ipSweepThreshold: 2000, sessionLimitSource: 100,
                     sessionLimitDestination: 5000),
            M.Screen(name: "defaults", checks: [.icmpFlood, .ipSweep, .synFlood, .synCookie, .portScan, .udpFlood],
                     alarmWithoutDrop: true),
            M.Screen(name: "minimal", checks: [.landAttack]),
        ])
        XCTAssertEqual(m.screens[0].checkBits, (1 << 18) - 1)
        XCTAssertEqual(m.screens[1].synFlood, M.SynFlood(attackThreshold: 200, alarmThreshold: 512, sourceThreshold: 4000,
                                                         destinationThreshold: 4000, timeout: 20))
        XCTAssertEqual(m.screens[1].icmpFloodThreshold, 1000)
        XCTAssertEqual(m.screens[1].portScanThreshold, 5000)
        XCTAssertEqual(m.screens[1].portScanPerSecond, 2000)
        XCTAssertEqual(m.screens[0].ipSweepPerSecond, 5000)
        XCTAssertEqual(m.zones.map(\.screen), [0, 2])
    }

    func testScreenCheckNamesAndBitsAreStable() {
        // R-7.1's list, in its order: the raw value is the bit number, append-only.
        XCTAssertEqual(M.ScreenCheck.allCases.map(\.name), [
            "syn-flood", "icmp-flood", "udp-flood", "port-scan", "ip-sweep", "land-attack", "ping-of-death", "teardrop",
            "tcp-syn-fin", "tcp-no-flag", "tcp-fin-no-ack", "winnuke", "ip-source-route", "syn-frag", "syn-cookie",
            "session-limit-src", "session-limit-dst", "icmp-fragment",
        ])
        XCTAssertEqual(M.ScreenCheck.allCases.map(\.rawValue), Array(0..<18))
        XCTAssertEqual(M.ScreenCheck.icmpFragment.bit, 1 << 17)
    }

    // MARK: - NAT

    func testNAT() throws {
        let m = try load("good/nat.conf")
        XCTAssertEqual(m.nat.sourcePools, [
            M.SourcePool(name: "public", addresses: [range("203.0.113.0", "203.0.113.3"),
                                                     range("203.0.113.16", "203.0.113.20"),
                                                     range("2001:db8:1::", "2001:db8:1::3")],
                         ports: .range(2000...3000), addressPersistent: true),
            M.SourcePool(name: "one-to-one", addresses: [range("198.51.100.1", "198.51.100.1")], ports: .noTranslation),
            // No address: commits, fails closed at run time (R-8.2 pool-empty).
            M.SourcePool(name: "nothing-yet", addresses: [], ports: .range(1024...65535)),
        ])
        XCTAssertEqual(m.nat.destinationPools, [
            M.DestinationPool(name: "web-server", address: range("10.0.0.80", "10.0.0.80"), port: 8080),
            M.DestinationPool(name: "server-range", address: range("10.0.0.100", "10.0.0.103")),
        ])
        XCTAssertEqual(m.nat.sourceRuleSets, [
            M.NATRuleSet(name: "trust-to-untrust", from: .zones([0]), to: .zones([1]), rules: [
                M.NATRule(name: "keep-vpn", match: M.NATMatch(sourceAddresses: [p("10.0.0.0/8")],
                                                              destinationAddresses: [p("192.0.2.0/24")]),
                          action: .off),
                M.NATRule(name: "web-out", match: M.NATMatch(sourceAddresses: [p("10.1.0.0/16"), p("10.2.0.0/16")],
                                                             destinationPorts: [80...80, 443...443], protocols: [6]),
                          action: .sourcePool(0)),
                M.NATRule(name: "rest", match: M.NATMatch(sourceAddresses: [.all(.inet)]), action: .interface),
            ]),
            M.NATRuleSet(name: "by-interface", from: .interfaces([0]), to: .interfaces([1]), rules: [
                M.NATRule(name: "ports", match: M.NATMatch(sourcePorts: [1024...65535], destinationPorts: [53...53],
                                                           protocols: [17, 6]),
                          action: .sourcePool(2)),
            ]),
        ])
        XCTAssertEqual(m.nat.destinationRuleSets, [
            M.NATRuleSet(name: "inbound", from: .zones([1]), rules: [
                M.NATRule(name: "to-web", match: M.NATMatch(destinationAddresses: [p("203.0.113.1/32")],
                                                            destinationPorts: [80...80], protocols: [6]),
                          action: .destinationPool(0)),
                M.NATRule(name: "to-range", match: M.NATMatch(destinationAddresses: [p("203.0.113.2/32")]),
                          action: .destinationPool(1)),
                M.NATRule(name: "no-nat", match: M.NATMatch(destinationAddresses: [p("203.0.113.3/32")]), action: .off),
            ]),
        ])
        XCTAssertEqual(m.nat.staticRuleSets, [
            M.NATRuleSet(name: "statics", from: .zones([1]), rules: [
                M.NATRule(name: "host", match: M.NATMatch(destinationAddresses: [p("203.0.113.50/32")]),
                          action: .staticPrefix(p("10.0.0.50/32"))),
                M.NATRule(name: "subnet", match: M.NATMatch(destinationAddresses: [p("203.0.113.64/26")]),
                          action: .staticPrefix(p("10.64.0.0/26"))),
            ]),
        ])
    }

    // MARK: - Port mirroring

    func testPortMirroring() throws {
        let m = try load("good/port-mirroring.conf")
        XCTAssertEqual(m.interfaces.map(\.name), ["fw0", "fw1", "fw2", "mirror0"])
        XCTAssertEqual(m.portMirroring.instances, [
            M.MirrorInstance(name: nil, rate: 1, ingress: [2], outputs: [M.MirrorOutput(family: .inet, interface: "mirror0")]),
            M.MirrorInstance(name: "sampled", rate: 100, maximumPacketLength: 128, ingress: [0, 1], outputs: [
                M.MirrorOutput(family: .inet, interface: "analyzer0", nextHop: ip("192.0.2.99")),
                M.MirrorOutput(family: .inet6, interface: "analyzer0", nextHop: ip("2001:db8::99")),
            ]),
            M.MirrorInstance(name: "unused", outputs: [M.MirrorOutput(family: .inet, interface: "mirror0")]),
        ])
    }

    // MARK: - Syslog

    func testSyslog() throws {
        let m = try load("good/syslog.conf")
        XCTAssertEqual(m.syslog, M.Syslog(
            hosts: [
                M.SyslogHost(address: ip("192.0.2.10"), port: 5514, sourceAddress: ip("192.0.2.1"),
                             content: M.SyslogContent(selectors: [M.SyslogSelector(facility: .any, severity: .any),
                                                                  M.SyslogSelector(facility: .security, severity: .info)],
                                                      match: "RT_FLOW", structuredData: true)),
                M.SyslogHost(address: ip("2001:db8::10"),
                             content: M.SyslogContent(selectors: [M.SyslogSelector(facility: .any, severity: .warning)])),
            ],
            files: [
                M.SyslogFile(name: "traffic-log", content: M.SyslogContent(
                    selectors: [M.SyslogSelector(facility: .any, severity: .any)],
                    match: "RT_FLOW_SESSION_(CREATE|CLOSE)", structuredData: true, brief: true)),
            ],
            sockets: [
                M.SyslogSocket(path: "/dev/log", content: M.SyslogContent(selectors: [
                    M.SyslogSelector(facility: .daemon, severity: .notice),
                    M.SyslogSelector(facility: .firewall, severity: .any),
                ])),
            ]))
        XCTAssertEqual(m.syslog.hosts[0].transport, .udp)
    }

    // MARK: - Dataplane and flow

    func testDataplaneKnobs() throws {
        let m = try load("good/dataplane.conf")
        var expected = DataplaneConfig(interfaces: ["ens1f0", "ens1f1"], hostName: "edge-01", queues: 4, maxQueues: 8, batchSize: 32,
                                       timeouts: DataplaneConfig.FlowTimeouts(tcpEstablished: 3600, udp: 30),
                                       busyPoll: true, workerCPUs: [0: 2, 1: 3, 3: 10, 6: 11])
        expected.fastPath = DataplaneConfig.FastPath(
            allowPrefixes: [p("192.0.2.0/24"), p("2001:db8:cafe::/48"), p("198.51.100.0/24")], dryRun: true)
        XCTAssertEqual(m.dataplane, expected)
        XCTAssertEqual(m.flow, M.Flow(timeouts: expected.timeouts, synFloodProtectionMode: .synProxy))
        // Without `fast-path`, there is none.
        XCTAssertNil(try load("good/zones.conf").dataplane.fastPath)
    }

    /// What the dataplane does not enforce yet is named, so xpfd refuses the configuration
    /// instead of running it half applied: an output filter on lo0 (the box's own traffic).
    /// lo0's input filter is enforced now (the XDP program runs it on host-bound traffic),
    /// and an attached filter that polices is enforced (Policer.swift): neither is refused.
    func testUnenforcedFeaturesAreNamed() throws {
        XCTAssertEqual(try load("good/srx-edge.conf").unenforcedFeatures, [])
        let lo0Output = try ConfigModel.load(text: """
            system dataplane interfaces fw0;
            firewall family inet filter out { term t { then accept; } }
            interfaces lo0 unit 0 family inet filter output out;
            """, file: "lo0-output").1
        XCTAssertEqual(lo0Output.unenforcedFeatures, [
            "interface lo0: inet output filter 'out' is not applied: xpf does not filter the box's own outgoing traffic yet "
                + "(from junos-host policies guard it)",
        ])
        // Any filter on another interface xpf does not run on is refused: nothing would apply it.
        let mgmt = try ConfigModel.load(text: """
            system dataplane interfaces fw0;
            firewall family inet filter protect-mgmt { term t { then discard; } }
            interfaces mgmt0 unit 0 family inet filter input protect-mgmt;
            """, file: "mgmt").1
        XCTAssertEqual(mgmt.unenforcedFeatures, [
            "interface mgmt0: inet input filter 'protect-mgmt' is not applied: mgmt0 is not a dataplane interface "
                + "(system dataplane interfaces), so xpf sees none of its traffic",
        ])
        let policed = try ConfigModel.load(text: """
            system dataplane interfaces fw0;
            firewall { policer slow { if-exceeding { bandwidth-limit 1m; burst-size-limit 15k; } then discard; }
                family inet filter f { term t { then { policer slow; accept; } } } }
            interfaces fw0 unit 0 family inet filter input f;
            """, file: "policed").1
        XCTAssertEqual(policed.unenforcedFeatures, [])
        // Defined but not attached: nothing runs, nothing to refuse.
        XCTAssertEqual(try load("good/filters.conf").unenforcedFeatures, [])
        XCTAssertEqual(try load("good/zones.conf").unenforcedFeatures, [])
    }

    // MARK: - The big one and the set form

    func testRealisticEdgeFirewall() throws {
        let m = try load("good/srx-edge.conf")
        XCTAssertEqual(m.dataplane.hostName, "branch-fw-1")
        XCTAssertEqual(m.dataplane.sessionTableSize, 2_000_000)
        XCTAssertEqual(m.dataplane.xdpMode, .native)
        XCTAssertEqual(m.dataplane.timeouts.icmp, 10)
        XCTAssertEqual(m.dataplane.fastPath?.allowPrefixes, [p("10.20.0.0/24")])
        XCTAssertEqual(m.interfaces.map(\.name), ["wan0", "lan0", "lan1", "dmz0", "lo0"])
        XCTAssertEqual(m.interfaces.map(\.isDataplane), [true, true, true, true, false])
        XCTAssertEqual(m.interfaces[0].description, "ISP A")
        XCTAssertEqual(m.interfaces[0].inetAddresses, [ifAddr("203.0.113.2/29")])
        XCTAssertEqual(m.interfaces[0].inetInputFilters.map { m.filters[$0].name }, ["wan-in"])
        XCTAssertEqual(m.interfaces[0].inet6InputFilters.map { m.filters[$0].name }, ["wan6-in"])
        XCTAssertEqual(m.interfaces[3].inetOutputFilters.map { m.filters[$0].name }, ["dmz-out"])
        XCTAssertEqual(m.interfaces[4].inetInputFilters.map { m.filters[$0].name }, ["protect-host"])

        XCTAssertEqual(m.zones.map(\.name), ["staff", "guests", "dmz", "internet"])
        // `lan0.0` is Junos's unit-0 spelling of lan0.
        XCTAssertEqual(m.zones.map(\.interfaces), [[1], [2], [3], [0]])
        XCTAssertEqual(m.zones[0].hostInbound.systemServices, [.dhcp, .ntp, .ping, .ssh])
        XCTAssertEqual(m.zones[3].hostInbound, M.HostInbound())
        XCTAssertEqual(m.zones[3].hostInbound(forInterface: 0).systemServices, [.ike, .ping])
        XCTAssertEqual(m.zones[3].screen.map { m.screens[$0].name }, "internet-screen")
        XCTAssertEqual(m.screens[0].checks, [.pingOfDeath, .icmpFlood, .ipSourceRoute, .teardrop, .synFlood, .synCookie,
                                             .landAttack, .portScan, .udpFlood, .sessionLimitSource])
        XCTAssertEqual(m.screens[0].udpFloodThreshold, 5000)

        let all = m.policies.all
        XCTAssertEqual(all.map(\.name), ["staff-web", "staff-dns", "staff-to-servers", "guest-web", "published-services",
                                         "deny-internet-telnet"])
        XCTAssertEqual(all[0].sourceAddresses, [p("10.10.0.0/24"), p("2001:db8:10::/64")])
        XCTAssertEqual(all[1].destinationAddresses, [p("8.8.8.8/32"), p("9.9.9.9/32")])
        XCTAssertEqual(all[2].applications, [app(m, "junos-https"), app(m, "junos-ssh"), app(m, "mail")])
        XCTAssertEqual(all[3].applications, [app(m, "junos-http"), app(m, "junos-https")])
        XCTAssertEqual(all[3].destinationAddresses, [.all(.inet)])
        XCTAssertEqual(all[4].destinationAddresses, [p("172.16.0.10/32"), p("172.16.0.25/32")])
        XCTAssertEqual(all[5].fromZones, [3])
        XCTAssertNil(all[5].toZones)
        XCTAssertEqual(all[5].action, .reject)
        XCTAssertEqual(m.policies.defaultPolicy, .denyAll)
        XCTAssertEqual(m.applications[app(m, "mail")].terms, [M.ApplicationTerm(ipProtocol: 6, destinationPorts: 25...25)])

        XCTAssertEqual(m.nat.sourcePools, [M.SourcePool(name: "isp-a", addresses: [range("203.0.113.3", "203.0.113.6")])])
        XCTAssertEqual(m.nat.sourceRuleSets.first?.from, .zones([0, 1]))
        XCTAssertEqual(m.nat.sourceRuleSets.first?.rules.map(\.action), [.sourcePool(0), .interface])
        XCTAssertEqual(m.nat.destinationPools, [M.DestinationPool(name: "smtp", address: range("172.16.0.25", "172.16.0.25"),
                                                                  port: 25)])
        XCTAssertEqual(m.nat.staticRuleSets.first?.rules.first?.action, .staticPrefix(p("172.16.0.10/32")))
        XCTAssertEqual(m.portMirroring.instances, [
            M.MirrorInstance(name: "ids-tap", rate: 10, ingress: [3], outputs: [M.MirrorOutput(family: .inet, interface: "tap0")]),
        ])
        XCTAssertEqual(m.syslog.hosts.map(\.address), [ip("10.20.0.5")])
        XCTAssertEqual(m.syslog.files.map(\.name), ["messages", "traffic"])

        let protect = m.filters[m.filterIndex("protect-host", family: .inet)!]
        XCTAssertEqual(protect.terms.map(\.name), ["mgmt", "ping", "bgp-and-ntp", "deny-rest"])
        XCTAssertEqual(protect.terms[0].match.destinationPorts, [22...22, 830...830])
        XCTAssertEqual(protect.terms[0].action.policer.map { m.policers[$0].name }, "mgmt-limit")
        XCTAssertEqual(protect.terms[1].match.icmpTypes, [8, 0, 3, 11])
        XCTAssertEqual(protect.terms[2].match.ports, [179...179, 123...123])
        XCTAssertEqual(protect.terms[3].action, M.FilterAction(terminal: .discard, count: "host-denied", syslog: true))
        let wanIn = m.filters[m.filterIndex("wan-in", family: .inet)!]
        XCTAssertEqual(wanIn.terms[0].match.sourceAddresses?.count, 7)
    }

    func testSetFormConfiguration() throws {
        let (tree, m) = try ConfigCorpusTests.load("good/set-form.conf")
        // The later `set` replaced the address; the deactivated policy is kept but ignored.
        XCTAssertEqual(m.addressBooks[0].addresses, [M.Address(name: "lan", prefixes: [p("10.0.0.0/16")])])
        XCTAssertEqual(m.policies.all.map(\.name), ["out"])
        XCTAssertEqual(tree.node(at: ["security", "policies", "from-zone", "trust", "to-zone", "untrust", "policy", "old"])?
            .isInactive, true)
        XCTAssertEqual(m.zones.map(\.interfaces), [[0], [1]])
        XCTAssertEqual(m.zones[0].hostInbound.systemServices, [.ping])
        XCTAssertEqual(m.filters, [M.Filter(name: "f", family: .inet, terms: [
            M.FilterTerm(name: "t", match: M.FilterMatch(sourceAddresses: [M.PrefixMatch(p("10.0.0.0/8"), except: true)],
                                                         protocols: [6]),
                         action: M.FilterAction(terminal: .discard)),
        ])])
        XCTAssertEqual(m.interfaces[1].inetInputFilters, [0])
        XCTAssertEqual(m.nat.sourceRuleSets.first?.rules.first?.action, .interface)
    }

    // MARK: - The default configuration

    func testTheShippedConfigurationIsTheIssuesDefault() throws {
        let url = ConfigCorpusTests.corpus.deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/xpf.conf")
        let (tree, m) = try ConfigModel.load(text: try String(contentsOf: url, encoding: .utf8), file: "config/xpf.conf")
        XCTAssertEqual(m.interfaces, [
            M.Interface(name: "fw0", isDataplane: true, inetAddresses: [ifAddr("10.10.1.1/24")],
                        inet6Addresses: [ifAddr("fd00:1::1/64")]),
            M.Interface(name: "fw1", isDataplane: true, inetAddresses: [ifAddr("10.10.2.1/24")],
                        inet6Addresses: [ifAddr("fd00:2::1/64")]),
        ])
        XCTAssertEqual(m.zones, [
            M.Zone(name: "trust", interfaces: [0], hostInbound: M.HostInbound(systemServices: [.ping, .ssh])),
            M.Zone(name: "untrust", interfaces: [1], screen: 0),
        ])
        XCTAssertEqual(m.screens.map(\.name), ["untrust-screen"])
        XCTAssertEqual(m.screens[0].checks, [.pingOfDeath, .ipSourceRoute, .teardrop, .landAttack, .tcpSynFin, .tcpNoFlag,
                                             .tcpFinNoAck, .winnuke])
        XCTAssertEqual(m.policies, M.Policies(zonePairs: [
            M.ZonePairPolicies(fromZone: 0, toZone: 1, policies: [
                M.Policy(id: 0, name: "allow-out", sourceAddresses: [.all(.inet), .all(.inet6)],
                         destinationAddresses: [.all(.inet), .all(.inet6)], applications: [app(m, "any")],
                         action: .permit, logSessionInit: true, logSessionClose: true),
            ]),
        ]))
        // And it round-trips like the corpus.
        let again = try ConfigModel.load(text: tree.setLines().joined(separator: "\n"), file: "set")
        XCTAssertEqual(again.1, m)
    }

    // MARK: - Values

    private func value(_ text: String, _ keyword: String = "destination-port") -> ConfigValue {
        ConfigValue(text: text, location: SourceLocation(file: "v", line: 1, column: 1), keyword: keyword)
    }

    private func assertError(_ body: @autoclosure () throws -> Any, _ message: String, line: UInt = #line) {
        XCTAssertThrowsError(try body(), line: line) { error in
            XCTAssertEqual((error as? ConfigError)?.message, message, line: line)
        }
    }

    func testPortsByNumberNameAndRange() throws {
        XCTAssertEqual(try value("80").portRange(), 80...80)
        XCTAssertEqual(try value("http").portRange(), 80...80)
        XCTAssertEqual(try value("0-65535").portRange(), 0...65535)
        XCTAssertEqual(try value("1024-2048").portRange(), 1024...2048)
        // Names with dashes, alone and in ranges.
        XCTAssertEqual(try value("ftp-data").portRange(), 20...20)
        XCTAssertEqual(try value("ftp-data-ssh").portRange(), 20...22)
        XCTAssertEqual(try value("domain-1024").portRange(), 53...1024)
        assertError(try value("ssh-ftp-data").portRange(),
                    "invalid port range 'ssh-ftp-data' for 'destination-port': 22 is above 20")
        assertError(try value("65536").portRange(), "port 65536 is out of range 0..65535")
        assertError(try value("80-65536").portRange(), "port 65536 is out of range 0..65535")
        for bad in ["htp", "-5", "80-", "http-", "8o"] {
            assertError(try value(bad).portRange(), "invalid port '\(bad)' for 'destination-port': "
                + "expected a number, a range A-B or a port name")
        }
        XCTAssertEqual(try value("1024", "range").portNumber(in: 1...65535), 1024)
        assertError(try value("0", "range").portNumber(in: 1...65535), "port 0 is out of range 1..65535")
    }

    func testNamedNumbers() throws {
        XCTAssertEqual(try ["tcp", "udp", "icmp", "icmp6", "gre", "esp", "ospf", "0", "255"].map { try value($0).ipProtocol() },
                       [6, 17, 1, 58, 47, 50, 89, 0, 255])
        assertError(try value("256", "protocol").ipProtocol(),
                    "invalid protocol '256' for 'protocol': expected a name (tcp, udp, icmp, …) or a number 0..255")
        XCTAssertEqual(try ["be", "cs0", "cs1", "cs7", "af11", "af12", "af13", "af21", "af33", "af41", "af43", "ef", "63"]
            .map { try value($0).dscp() }, [0, 0, 8, 56, 10, 12, 14, 18, 30, 34, 38, 46, 63])
        assertError(try value("64", "dscp").dscp(),
                    "invalid DSCP value '64' for 'dscp': expected be, ef, af11..af43, cs0..cs7 or 0..63")
        XCTAssertEqual(try value("echo-request").icmpType(.inet), 8)
        XCTAssertEqual(try value("echo-request").icmpType(.inet6), 128)
        XCTAssertEqual(try value("time-exceeded").icmpType(.inet), 11)
        XCTAssertEqual(try value("time-exceeded").icmpType(.inet6), 3)
        XCTAssertEqual(try value("255").icmpType(.inet), 255)
        assertError(try value("packet-too-big", "icmp-type").icmpType(.inet),
                    "invalid ICMP type 'packet-too-big' for 'icmp-type'")
        let rates: ClosedRange<UInt64> = 1...UInt64.max
        XCTAssertEqual(try ["64000", "15k", "10m", "2g", "10M"].map { try value($0).scaled(in: rates, unit: "b") },
                       [64_000, 15_000, 10_000_000, 2_000_000_000, 10_000_000])
        assertError(try value("1.5m", "bandwidth-limit").scaled(in: rates, unit: "b"),
                    "invalid value '1.5m' for 'bandwidth-limit': expected a number with an optional k, m or g suffix")
        assertError(try value("99999999999g", "bandwidth-limit").scaled(in: rates, unit: "b"),
                    "bandwidth-limit 99999999999g is out of range 1..18446744073709551615 b")
    }

    // MARK: - Addresses

    func testAddressesParseAndPrintCanonically() {
        let cases: [(String, String)] = [
            ("10.0.0.1", "10.0.0.1"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
            ("2001:DB8::1", "2001:db8::1"), ("::", "::"), ("::1", "::1"), ("1::", "1::"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
            ("fe80:0:0:1:0:0:0:1", "fe80:0:0:1::1"), ("::ffff:192.0.2.1", "::ffff:c000:201"),
            ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"), ("1:0:3:4:5:6:7:8", "1:0:3:4:5:6:7:8"),
        ]
        for (text, canonical) in cases {
            XCTAssertEqual(M.IPAddress(text)?.description, canonical, text)
        }
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", "a.b.c.d", ":::", "1::2::3",
                    "1:2:3:4:5:6:7:8:9", "12345::", "g::1", "1:2:3:4:5:6:7", "fe80::1%eth0", "1.2.3.4:80"]
        {
            XCTAssertNil(M.IPAddress(bad), bad)
        }
        XCTAssertEqual(M.IPAddress("192.0.2.1")?.v4, 0xC000_0201)
        XCTAssertEqual(M.IPAddress("192.0.2.1")?.bytes, [192, 0, 2, 1])
        XCTAssertEqual(M.IPAddress("2001:db8::1")?.bytes, [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1])
        XCTAssertLessThan(ip("255.255.255.255"), ip("::"))
    }

    func testPrefixesNormaliseAndCompare() {
        XCTAssertEqual(M.Prefix.parse("10.1.2.3/8")?.prefix.description, "10.0.0.0/8")
        XCTAssertEqual(M.Prefix.parse("10.1.2.3/8")?.hostBitsSet, true)
        XCTAssertEqual(M.Prefix.parse("10.0.0.0/8")?.hostBitsSet, false)
        XCTAssertEqual(M.Prefix.parse("2001:db8::1/32")?.prefix.description, "2001:db8::/32")
        XCTAssertEqual(M.Prefix.parse("2001:db8::1")?.prefix.description, "2001:db8::1/128")
        XCTAssertEqual(M.Prefix.parse("10.0.0.1")?.prefix.length, 32)
        for bad in ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/08", "10.0.0.0/-1", "::/129", "x/8", "10.0.0.0/8/8"] {
            XCTAssertNil(M.Prefix.parse(bad), bad)
        }
        let net = p("10.0.0.0/8")
        XCTAssertTrue(net.contains(ip("10.255.255.255")))
        XCTAssertFalse(net.contains(ip("11.0.0.0")))
        XCTAssertFalse(net.contains(ip("::a00:1")))
        XCTAssertTrue(net.contains(p("10.1.0.0/16")))
        XCTAssertFalse(p("10.1.0.0/16").contains(net))
        XCTAssertTrue(p("10.1.0.0/16").overlaps(net))
        XCTAssertEqual(net.last, ip("10.255.255.255"))
        XCTAssertEqual(p("::/0").last, ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
        XCTAssertEqual(p("0.0.0.0/0").last, ip("255.255.255.255"))
        XCTAssertEqual(p("2001:db8::/64").last, ip("2001:db8::ffff:ffff:ffff:ffff"))
    }

    func testRangesBecomeTheFewestCoveringPrefixes() {
        XCTAssertEqual(range("10.0.0.0", "10.0.0.255").prefixes, [p("10.0.0.0/24")])
        XCTAssertEqual(range("10.0.0.1", "10.0.0.1").prefixes, [p("10.0.0.1/32")])
        XCTAssertEqual(range("10.0.0.1", "10.0.0.6").prefixes,
                       [p("10.0.0.1/32"), p("10.0.0.2/31"), p("10.0.0.4/31"), p("10.0.0.6/32")])
        XCTAssertEqual(range("0.0.0.0", "255.255.255.255").prefixes, [p("0.0.0.0/0")])
        XCTAssertEqual(range("255.255.255.254", "255.255.255.255").prefixes, [p("255.255.255.254/31")])
        XCTAssertEqual(range("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").prefixes, [p("::/0")])
        XCTAssertEqual(range("2001:db8::ffff:ffff:ffff:ffff", "2001:db8:0:1::1").prefixes,
                       [p("2001:db8::ffff:ffff:ffff:ffff/128"), p("2001:db8:0:1::/127")])
        XCTAssertEqual(range("10.0.0.0", "10.0.0.255").count, 256)
        XCTAssertEqual(range("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").count, .max)
        XCTAssertEqual(range("10.0.0.0", "10.0.0.9").firstCommonAddress(with: range("10.0.0.5", "10.0.1.0")),
                       ip("10.0.0.5"))
        XCTAssertNil(range("10.0.0.0", "10.0.0.9").firstCommonAddress(with: range("10.0.0.10", "10.0.0.11")))
    }
}
