import Foundation
import XCTest
import CXPF
@testable import Shared

/// The compiled configuration in shared memory (issue 3): ConfigSnapshotWriter /
/// ConfigSnapshotImage encode a ConfigModel into xpf_config_abi.h's sections,
/// ConfigSnapshotView reads them back, validate() refuses corrupt snapshots, and a
/// commit through a real region reaches a worker-side follower.
final class SnapshotTests: XCTestCase {
    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    typealias M = ConfigModel
    let fx = ShmTestFixture()

    override func tearDown() {
        fx.removeAll()
        super.tearDown()
    }

    static let defaultConfigPath = ConfigCorpusTests.corpus.deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("config/xpf.conf").path

    /// Every good corpus file and the shipped default configuration.
    func corpus() throws -> [(name: String, model: M)] {
        var out = try ConfigCorpusTests.files("good").map { ($0.name, try M.load(text: $0.text, file: $0.name).1) }
        let text = try String(contentsOfFile: Self.defaultConfigPath, encoding: .utf8)
        out.append(("config/xpf.conf", try M.load(text: text, file: "config/xpf.conf").1))
        return out
    }

    /// Compares a rebuilt model with the projection of the original part by part, so a
    /// failure names the part.
    func assertCarried(_ rebuilt: M, _ model: M, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        let expected = SnapshotModelReader.carried(model)
        XCTAssertEqual(rebuilt.dataplane, expected.dataplane, "\(name): dataplane", file: file, line: line)
        XCTAssertEqual(rebuilt.flow, expected.flow, "\(name): flow", file: file, line: line)
        XCTAssertEqual(rebuilt.interfaces, expected.interfaces, "\(name): interfaces", file: file, line: line)
        XCTAssertEqual(rebuilt.zones, expected.zones, "\(name): zones", file: file, line: line)
        XCTAssertEqual(rebuilt.applications, expected.applications, "\(name): applications", file: file, line: line)
        XCTAssertEqual(rebuilt.policies, expected.policies, "\(name): policies", file: file, line: line)
        XCTAssertEqual(rebuilt.filters.count, expected.filters.count, "\(name): filters", file: file, line: line)
        for (a, b) in zip(rebuilt.filters, expected.filters) {
            XCTAssertEqual(a.name, b.name, "\(name): filter name", file: file, line: line)
            XCTAssertEqual(a.family, b.family, "\(name): filter \(b.name) family", file: file, line: line)
            XCTAssertEqual(a.terms.count, b.terms.count, "\(name): filter \(b.name) terms", file: file, line: line)
            for (s, t) in zip(a.terms, b.terms) {
                XCTAssertEqual(s.name, t.name, "\(name): term name", file: file, line: line)
                XCTAssertEqual(s.match, t.match, "\(name): filter \(b.name) term \(t.name) match", file: file, line: line)
                XCTAssertEqual(s.action, t.action, "\(name): filter \(b.name) term \(t.name) action", file: file, line: line)
            }
        }
        XCTAssertEqual(rebuilt.policers, expected.policers, "\(name): policers", file: file, line: line)
        XCTAssertEqual(rebuilt.threeColorPolicers, expected.threeColorPolicers, "\(name): three-color policers", file: file, line: line)
        XCTAssertEqual(rebuilt.screens, expected.screens, "\(name): screens", file: file, line: line)
        XCTAssertEqual(rebuilt.nat.sourcePools, expected.nat.sourcePools, "\(name): source pools", file: file, line: line)
        XCTAssertEqual(rebuilt.nat.destinationPools, expected.nat.destinationPools, "\(name): destination pools", file: file, line: line)
        XCTAssertEqual(rebuilt.nat.sourceRuleSets, expected.nat.sourceRuleSets, "\(name): source NAT", file: file, line: line)
        XCTAssertEqual(rebuilt.nat.destinationRuleSets, expected.nat.destinationRuleSets, "\(name): destination NAT", file: file, line: line)
        XCTAssertEqual(rebuilt.nat.staticRuleSets, expected.nat.staticRuleSets, "\(name): static NAT", file: file, line: line)
        XCTAssertEqual(rebuilt.portMirroring, expected.portMirroring, "\(name): port mirroring", file: file, line: line)
        XCTAssertEqual(rebuilt, expected, "\(name): whole model", file: file, line: line)
    }

    // MARK: - Round trips

    func testEveryGoodConfigurationRoundTripsThroughTheSnapshot() throws {
        let files = try corpus()
        XCTAssertGreaterThanOrEqual(files.count, 15)
        for (name, model) in files {
            let image = try ConfigSnapshotImage(model)
            XCTAssertLessThanOrEqual(image.size, ShmGeometry.configSlotSize, name)
            try image.withView { view in
                XCTAssertNoThrow(try view.validate(), name)
                XCTAssertEqual(view.size, image.size, name)
                assertCarried(SnapshotModelReader.model(from: view), model, name)
                try assertDirectFields(view, model, name)
            }
        }
    }

    /// What the symmetric projection cannot show: values checked against the model's own
    /// semantics (evaluation order, effective host-inbound, truth tables, per-packet flags,
    /// counters, derived rates, mirror wiring).
    func assertDirectFields(_ v: ConfigSnapshotView, _ m: M, _ name: String) throws {
        let h = v.head.pointee
        XCTAssertEqual(h.n_sections, UInt32(XPF_CFG_SEC_COUNT.rawValue), name)
        XCTAssertEqual(h.batch_size, UInt32(m.dataplane.batchSize), name)
        XCTAssertEqual(h.timeout_tcp_initial, UInt32(m.dataplane.timeouts.tcpInitial), name)
        XCTAssertEqual(h.timeout_tcp_established, UInt32(m.dataplane.timeouts.tcpEstablished), name)
        XCTAssertEqual(h.timeout_tcp_closing, UInt32(m.dataplane.timeouts.tcpClosing), name)
        XCTAssertEqual(h.timeout_udp, UInt32(m.dataplane.timeouts.udp), name)
        XCTAssertEqual(h.timeout_icmp, UInt32(m.dataplane.timeouts.icmp), name)
        XCTAssertEqual(h.timeout_other, UInt32(m.dataplane.timeouts.other), name)
        XCTAssertEqual(h.neigh_hold_ms, UInt32(m.dataplane.neighborHoldMs), name)
        XCTAssertEqual(v.dataplaneInterfaceCount, m.dataplane.interfaces.count, name)
        XCTAssertEqual(v.loopbackInterface, m.interfaceIndex("lo0"), name)
        XCTAssertEqual(v.interfaces.count, m.interfaces.count, name)

        // Interfaces: zone, effective host-inbound, mirror instance.
        for (i, interface) in m.interfaces.enumerated() {
            let r = v.interface(slot: i)
            XCTAssertEqual(v.string(at: r.name), interface.name, name)
            let zone = m.zoneIndex(ofInterface: i)
            XCTAssertEqual(SnapshotModelReader.optional(r.zone), zone, "\(name): \(interface.name) zone")
            let effective = zone.map { m.zones[$0].hostInbound(forInterface: i) } ?? M.HostInbound()
            XCTAssertEqual(SnapshotModelReader.hostInbound(services: r.host_services, protocols: r.host_protocols), effective,
                           "\(name): \(interface.name) host-inbound")
            let mirror = m.portMirroring.instances.firstIndex { $0.ingress.contains(i) }
            XCTAssertEqual(SnapshotModelReader.optional(r.mirror), mirror, "\(name): \(interface.name) mirror")
        }

        // Policies: for every pair, the view's evaluation order is the model's.
        XCTAssertEqual(v.policies.count, m.policies.all.count, name)
        for from in m.zones.indices {
            for to in m.zones.indices {
                var ids = Array(v.policies(from: from, to: to))
                ids += v.globalPolicies.filter { v.globalPolicy(v.policy($0), appliesFrom: from, to: to) }
                XCTAssertEqual(ids, m.policies.evaluationOrder(from: from, to: to).map(\.id),
                               "\(name): policies \(m.zones[from].name) → \(m.zones[to].name)")
                for id in v.policies(from: from, to: to) {
                    XCTAssertEqual(v.policy(id).from_zone, UInt32(from), name)
                    XCTAssertEqual(v.policy(id).to_zone, UInt32(to), name)
                }
            }
        }
        // Policy → application terms: every term of every application, in order.
        for p in m.policies.all {
            let expected = p.applications.flatMap { m.applications[$0].terms }
            let terms = v.applicationTerms(of: v.policy(p.id)).map { v.applicationTerm(Int($0)) }
            XCTAssertEqual(terms.count, expected.count, "\(name): policy \(p.name) terms")
            for (t, e) in zip(terms, expected) {
                XCTAssertEqual(t.flags & UInt8(XPF_CFG_AT_ANY_PROTO.rawValue) != 0, e.ipProtocol == nil, name)
                XCTAssertEqual(t.proto, e.ipProtocol ?? 0, name)
                XCTAssertEqual(t.dport_low...t.dport_high, e.destinationPorts, name)
            }
        }

        // Filters: per-packet flags, truth tables, counters.
        var counters: [String] = []
        for copy in SnapshotModelReader.filterRecords(v) {
            let fr = v.filter(copy.record)
            let f = copy.record
            let filter = try XCTUnwrap(m.filterIndex(copy.name, family: fr.family == 6 ? .inet6 : .inet).map { m.filters[$0] },
                                       "\(name): record \(f) names a filter of the model")
            XCTAssertEqual(copy.interfaceSpecific, filter.interfaceSpecific, "\(name): \(copy.name) interface-specific")
            let terms = v.terms(of: fr)
            // A `next term` chain is never memoized either.
            XCTAssertEqual(fr.flags & UInt8(XPF_CFG_FILTER_PER_PACKET.rawValue) != 0,
                           filter.terms.contains { $0.match.usesPerPacketFields || $0.action.terminal == .nextTerm },
                           "\(name): filter \(filter.name) per-packet")
            for (t, term) in filter.terms.enumerated() {
                let r = terms[t]
                XCTAssertEqual(r.filter, UInt32(f), name)
                XCTAssertEqual(r.match & XPF_TM_PER_PACKET.rawValue != 0, term.match.usesPerPacketFields,
                               "\(name): term \(term.name) per-packet")
                if let flags = term.match.tcpFlags {
                    for b in 0...255 {
                        XCTAssertEqual(v.setContains(r.tcp_flags, UInt8(b)), flags.matches(UInt8(b)),
                                       "\(name): term \(term.name) tcp-flags \(flags.text) for 0x\(String(b, radix: 16))")
                    }
                } else {
                    XCTAssertEqual(r.tcp_flags, XPF_CFG_NONE, name)
                }
                if let c = term.action.count {
                    let counter = v.counter(Int(r.counter))
                    XCTAssertEqual(v.string(at: counter.name), c + copy.suffix, name)
                    XCTAssertEqual(counter.filter, UInt32(f), name)
                    counters.append("\(f)/\(c)")
                } else {
                    XCTAssertEqual(r.counter, XPF_CFG_NONE, name)
                }
            }
        }
        XCTAssertEqual(v.counters.count, Set(counters).count, "\(name): one counter per (filter, name)")

        for (i, p) in m.policers.enumerated() {
            XCTAssertEqual(v.policer(i).rate, p.bandwidthLimit / 8, "\(name): policer \(p.name) bytes/s")
        }
        for (i, s) in m.screens.enumerated() {
            let r = v.screen(i)
            XCTAssertEqual(r.checks, s.checkBits, name)
            XCTAssertEqual(Int(r.port_scan_pps), s.portScanPerSecond, name)
            XCTAssertEqual(Int(r.ip_sweep_pps), s.ipSweepPerSecond, name)
        }
        // NAT rules know their set.
        for kind in ConfigSnapshotView.NATKind.allCases {
            for (s, set) in v.natRuleSets(kind).enumerated() {
                for rule in v.natRules(of: set) { XCTAssertEqual(rule.rule_set, UInt32(s), name) }
            }
        }
        // Mirror outputs name a dataplane slot when they are one.
        for (i, instance) in m.portMirroring.instances.enumerated() {
            for (o, output) in instance.outputs.enumerated() {
                let r = v.outputs(of: v.mirror(i))[o]
                let slot = m.dataplane.interfaces.firstIndex(of: output.interface)
                    ?? m.dataplane.interfaces.firstIndex(of: String(output.interface.dropLast(2))).flatMap {
                        output.interface.hasSuffix(".0") ? $0 : nil
                    }
                XCTAssertEqual(SnapshotModelReader.optional(r.slot), slot, "\(name): mirror output \(output.interface)")
            }
        }
    }

    /// The shipped configuration, spot-checked through the view's accessors.
    func testDefaultConfigurationInTheSnapshot() throws {
        let text = try String(contentsOfFile: Self.defaultConfigPath, encoding: .utf8)
        let model = try M.load(text: text, file: "config/xpf.conf").1
        let image = try ConfigSnapshotImage(model)
        try image.withView { v in
            try v.validate()
            XCTAssertEqual(v.interfaces.map { v.string(at: $0.name) }, ["fw0", "fw1"])
            XCTAssertEqual(v.zones.map { v.string(at: $0.name) }, ["trust", "untrust"])
            let trust = v.zone(0), untrust = v.zone(1)
            XCTAssertEqual(trust.host_services, 1 << XPF_HOST_SVC_PING.rawValue | 1 << XPF_HOST_SVC_SSH.rawValue)
            XCTAssertEqual(trust.screen, XPF_CFG_NONE)
            XCTAssertEqual(untrust.screen, 0)
            XCTAssertEqual(v.interface(slot: 0).zone, 0)
            XCTAssertEqual(v.interface(slot: 1).zone, 1)
            XCTAssertEqual(v.interface(slot: 0).host_services, trust.host_services)
            XCTAssertEqual(v.interface(slot: 1).host_services, 0)
            XCTAssertEqual(v.interface(slot: 0).filter_in4, XPF_CFG_NONE)
            let addrs = v.prefixes(v.interface(slot: 1).addrs4)
            XCTAssertEqual(addrs.count, 1)
            XCTAssertEqual(addrs[0].length, 24)
            XCTAssertEqual(Array(addrs[0].addressBytes.prefix(4)), [10, 10, 2, 1], "interface addresses keep their host bits")
            let screen = v.screen(0)
            XCTAssertEqual(v.string(at: screen.name), "untrust-screen")
            let bits: [xpf_screen_check] = [XPF_SCREEN_PING_OF_DEATH, XPF_SCREEN_IP_SOURCE_ROUTE, XPF_SCREEN_TEARDROP,
                                            XPF_SCREEN_LAND_ATTACK, XPF_SCREEN_TCP_SYN_FIN, XPF_SCREEN_TCP_NO_FLAG,
                                            XPF_SCREEN_TCP_FIN_NO_ACK, XPF_SCREEN_WINNUKE]
            XCTAssertEqual(screen.checks, bits.reduce(0) { $0 | 1 << $1.rawValue })
            XCTAssertEqual(v.policies(from: 0, to: 1), 0..<1)
            XCTAssertEqual(v.policies(from: 1, to: 0), 0..<0)
            XCTAssertEqual(v.globalPolicies, 1..<1)
            XCTAssertEqual(v.defaultPolicy, XPF_POLICY_DENY.rawValue)
            let allow = v.policy(0)
            XCTAssertEqual(v.string(at: allow.name), "allow-out")
            XCTAssertEqual(UInt32(allow.action), XPF_POLICY_PERMIT.rawValue)
            XCTAssertEqual(UInt32(allow.flags), XPF_CFG_POL_LOG_INIT.rawValue | XPF_CFG_POL_LOG_CLOSE.rawValue)
            XCTAssertEqual(v.sourceAddresses(of: allow).map { "\($0.family)/\($0.length)" }, ["4/0", "6/0"])
            XCTAssertEqual(allow.src.first, allow.dst.first, "identical prefix lists are stored once")
            let terms = v.applicationTerms(of: allow)
            XCTAssertEqual(terms.count, 1)
            XCTAssertEqual(v.string(at: v.application(Int(v.applicationTerm(Int(terms[0])).application)).name), "any")
            XCTAssertEqual(v.head.pointee.timeout_tcp_established, 1800)
            XCTAssertEqual(v.head.pointee.batch_size, 64)
            XCTAssertEqual(v.filters.count, 0)
            XCTAssertEqual(v.mirrors.count, 0)
        }
    }

    /// ConfigSnapshotWriter.write (the API xpfd's predecessor of fillSnapshot became)
    /// writes the image's bytes and returns their count.
    func testWriteIntoASlotReturnsTheBytesUsed() throws {
        let model = try ConfigCorpusTests.load("good/srx-edge.conf").1
        let capacity = ShmGeometry.configSlotSize
        let slot = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        defer { slot.deallocate() }
        slot.initializeMemory(as: UInt8.self, repeating: 0xEE, count: capacity)
        let used = try ConfigSnapshotWriter.write(model, into: slot.assumingMemoryBound(to: xpf_config_snapshot.self),
                                                  capacity: capacity)
        let image = try ConfigSnapshotImage(model)
        XCTAssertEqual(used, image.size)
        XCTAssertEqual(used % 8, 0)
        let view = ConfigSnapshotView(raw: slot, capacity: capacity)
        try view.validate()
        XCTAssertNotEqual(view.head.pointee.commit_realtime_ns, 0, "the commit time is stamped")
        XCTAssertEqual(slot.load(fromByteOffset: used, as: UInt8.self), 0xEE, "nothing is written past the snapshot")
        // Byte for byte the image, but for the commit time.
        let timeOffset = MemoryLayout<xpf_config_snapshot>.offset(of: \xpf_config_snapshot.commit_realtime_ns)!
        let written = Array(UnsafeRawBufferPointer(start: slot, count: used))
        let encoded = withExtendedLifetime(image) { Array(UnsafeRawBufferPointer(start: image.bytes, count: image.size)) }
        XCTAssertEqual(written[..<timeOffset], encoded[..<timeOffset])
        XCTAssertEqual(written[(timeOffset + 8)...], encoded[(timeOffset + 8)...])
        assertCarried(SnapshotModelReader.model(from: view), model, "srx-edge")
    }

    func testStringsAreDeduplicatedAndNoneIsNil() throws {
        let model = try ConfigCorpusTests.load("good/filters.conf").1
        try ConfigSnapshotImage(model).withView { v in
            XCTAssertEqual(v.string(at: 0), "", "offset 0 is the empty string")
            XCTAssertNil(v.string(at: XPF_CFG_NONE))
            XCTAssertNil(v.string(at: UInt32(v.section(XPF_CFG_SEC_STRINGS).count)))
            let names = v.filters.map(\.name)
            XCTAssertEqual(names.map { v.string(at: $0) }, ["edge-in", "edge6", "empty"])
            // Two `accept`-only terms share nothing but their names; equal names share offsets.
            let table = v.records(XPF_CFG_SEC_STRINGS, as: UInt8.self)
            let strings = String(decoding: Array(table), as: UTF8.self).split(separator: "\0").map(String.init)
            XCTAssertEqual(strings.count, Set(strings).count, "each string is stored once")
        }
    }

    // MARK: - Capacity

    /// Distinct prefixes that cannot fit in a slot (24 bytes each).
    static let oversizePrefixes = ShmGeometry.configSlotSize / MemoryLayout<xpf_cfg_prefix>.stride + 1000

    /// A model whose snapshot cannot fit: one filter term with more distinct prefixes than a slot holds.
    func oversizeModel() throws -> M {
        var model = try ConfigCorpusTests.load("good/filters.conf").1
        var entries: [M.PrefixMatch] = []
        for i in 0..<Self.oversizePrefixes {
            entries.append(M.PrefixMatch(M.Prefix(M.IPAddress(v4: 0x0A00_0000 | UInt32(i) << 8), length: 24)))
        }
        model.filters[0].terms.append(M.FilterTerm(name: "huge", match: M.FilterMatch(sourceAddresses: entries)))
        return model
    }

    func testOversizeConfigurationFailsWithTheExactError() throws {
        let model = try oversizeModel()
        let needed = try ConfigSnapshotImage(model, capacity: 2 * ShmGeometry.configSlotSize).size
        XCTAssertGreaterThan(needed, Self.oversizePrefixes * 24)
        let slot = ShmGeometry.configSlotSize
        XCTAssertEqual(slot, 8 << 20)
        XCTAssertThrowsError(try ConfigSnapshotImage(model)) { error in
            XCTAssertEqual("\(error)", "compiled configuration needs \(needed) bytes, a snapshot slot holds 8388608")
        }
        // The boundary: exactly enough fits, one byte less does not.
        XCTAssertEqual(try ConfigSnapshotImage(model, capacity: needed).size, needed)
        XCTAssertThrowsError(try ConfigSnapshotImage(model, capacity: needed - 1)) { error in
            XCTAssertEqual("\(error)", "compiled configuration needs \(needed) bytes, a snapshot slot holds \(needed - 1)")
        }
        // write() refuses before touching the destination.
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: slot, alignment: 64)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0x5A, count: slot)
        XCTAssertThrowsError(try ConfigSnapshotWriter.write(model, into: buffer.assumingMemoryBound(to: xpf_config_snapshot.self),
                                                            capacity: slot))
        XCTAssertTrue(UnsafeRawBufferPointer(start: buffer, count: slot).allSatisfy { $0 == 0x5A }, "the slot is untouched")
    }

    /// xpfd's commit path (Daemon.commit: image, then publishConfig(image)): an oversize
    /// configuration throws before publication, so the running generation stays.
    func testOversizeCommitNeverReplacesTheRunningGeneration() throws {
        let r = try fx.region("cfg-oversize", queues: 1)
        let running = try ConfigCorpusTests.load("good/zones.conf").1
        let g1 = try r.publishConfig(ConfigSnapshotImage(running, capacity: Int(r.header.pointee.config_slot_size)))
        XCTAssertEqual(g1, 1)
        let before = (0..<Int(XPF_CONFIG_SLOTS)).map { Array(UnsafeRawBufferPointer(start: r.configSlot($0), count: 4096)) }
        XCTAssertThrowsError(try r.publishConfig(ConfigSnapshotImage(try oversizeModel(),
                                                                     capacity: Int(r.header.pointee.config_slot_size)))) { e in
            XCTAssertTrue("\(e)".hasPrefix("compiled configuration needs "), "\(e)")
            XCTAssertTrue("\(e)".hasSuffix(" bytes, a snapshot slot holds 8388608"), "\(e)")
        }
        // An image built for a larger slot is refused by the region too.
        let big = try ConfigSnapshotImage(try oversizeModel(), capacity: 2 * ShmGeometry.configSlotSize)
        XCTAssertThrowsError(try r.publishConfig(big)) { e in
            XCTAssertEqual("\(e)", "compiled configuration needs \(big.size) bytes, a snapshot slot holds 8388608")
        }
        XCTAssertEqual(r.current(.config).generation, 1)
        XCTAssertEqual((0..<Int(XPF_CONFIG_SLOTS)).map { Array(UnsafeRawBufferPointer(start: r.configSlot($0), count: 4096)) },
                       before, "no slot was written")
        let v = r.configView(slot: r.current(.config).slot)
        try v.validate()
        assertCarried(SnapshotModelReader.model(from: v), running, "zones.conf")
    }

    // MARK: - Commit through a region

    /// xpfd publishes generations through a real region; a worker-side follower switches
    /// between batches, validates and reads each one back.
    func testCommitThroughARegionReachesAFollowingWorker() throws {
        let r = try fx.region("cfg-commit", queues: 2)
        XCTAssertEqual(Int(r.header.pointee.config_slot_size), 8 << 20)
        let w = r.worker(1)
        xpf_store_release_u32(xpf_wb_state(w), UInt32(XPF_WORKER_RUNNING.rawValue))
        var follower = SnapshotFollower(word: r.configCurrentWord, seen: xpf_wb_config_seen(w))
        _ = follower.poll()

        let names = ["good/srx-edge.conf", "good/nat.conf", "good/filters.conf", "good/policies.conf", "good/srx-edge.conf"]
        for (n, file) in names.enumerated() {
            let model = try ConfigCorpusTests.load(file).1
            let image = try ConfigSnapshotImage(model, capacity: Int(r.header.pointee.config_slot_size))
            let t0 = realtimeNanos()
            let gen = try r.publishConfig(image)
            XCTAssertEqual(gen, UInt64(n + 1))

            guard let slot = follower.poll() else { return XCTFail("\(file): the follower saw no new generation") }
            XCTAssertEqual(follower.generation, gen)
            XCTAssertEqual(w.pointee.config_generation_seen, gen)
            let view = r.configView(slot: slot)
            XCTAssertEqual(view.capacity, 8 << 20)
            try view.validate()
            XCTAssertEqual(view.generation, gen, "\(file): the slot carries its generation")
            XCTAssertGreaterThanOrEqual(view.head.pointee.commit_realtime_ns, t0)
            XCTAssertEqual(view.size, image.size)
            assertCarried(SnapshotModelReader.model(from: view), model, file)
            // The rest of the slot is zero (publishConfig clears it before the copy).
            let tail = UnsafeRawBufferPointer(start: UnsafeRawPointer(r.configSlot(slot)) + view.size,
                                              count: (1 << 20) - view.size)
            XCTAssertTrue(tail.allSatisfy { $0 == 0 }, file)
        }
    }

    // MARK: - Validation

    /// A private, writable copy of an image to corrupt.
    final class Scratch {
        let bytes: UnsafeMutableRawPointer
        /// What the view may read (a slot of this size); the buffer itself is a full slot.
        var capacity = 1 << 20
        init(_ image: ConfigSnapshotImage) {
            bytes = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
            bytes.initializeMemory(as: UInt8.self, repeating: 0, count: capacity)
            bytes.copyMemory(from: image.bytes, byteCount: image.size)
        }
        deinit { bytes.deallocate() }
        var view: ConfigSnapshotView { ConfigSnapshotView(raw: bytes, capacity: capacity) }
        var head: UnsafeMutablePointer<xpf_config_snapshot> { bytes.assumingMemoryBound(to: xpf_config_snapshot.self) }
        func section(_ id: xpf_cfg_section_id) -> UnsafeMutablePointer<xpf_cfg_section> {
            (bytes + Int(XPF_CFG_SECTION_TABLE_OFFSET) + Int(id.rawValue) * 16).assumingMemoryBound(to: xpf_cfg_section.self)
        }
        func record<T>(_ id: xpf_cfg_section_id, _ i: Int, as _: T.Type) -> UnsafeMutablePointer<T> {
            (bytes + Int(section(id).pointee.offset) + i * MemoryLayout<T>.stride).assumingMemoryBound(to: T.self)
        }
    }

    func assertRefused(_ image: ConfigSnapshotImage, _ expected: String, capacity: Int = 1 << 20,
                       file: StaticString = #filePath, line: UInt = #line, _ corrupt: (Scratch) -> Void)
    {
        let s = Scratch(image)
        XCTAssertNoThrow(try s.view.validate(), "the copy is valid before corruption", file: file, line: line)
        s.capacity = capacity
        corrupt(s)
        XCTAssertThrowsError(try s.view.validate(), file: file, line: line) { error in
            XCTAssertTrue(error is ConfigSnapshotError, file: file, line: line)
            XCTAssertTrue("\(error)".hasPrefix("invalid configuration snapshot: "), "\(error)", file: file, line: line)
            XCTAssertTrue("\(error)".contains(expected), "\(error) should mention \(expected)", file: file, line: line)
        }
    }

    func testCorruptSectionTableIsRefused() throws {
        let image = try ConfigSnapshotImage(try ConfigCorpusTests.load("good/srx-edge.conf").1)
        assertRefused(image, "25 sections") { $0.head.pointee.n_sections = 25 }
        assertRefused(image, "size 2000000 outside") { $0.head.pointee.size = 2_000_000 }
        assertRefused(image, "size 100 outside") { $0.head.pointee.size = 100 }
        assertRefused(image, "slot of 256 bytes", capacity: 256) { _ in }
        assertRefused(image, "size \(image.size) outside", capacity: image.size - 8) { _ in }
        assertRefused(image, "section policies: record size 48") { $0.section(XPF_CFG_SEC_POLICIES).pointee.record_size = 48 }
        assertRefused(image, "section prefixes") { $0.section(XPF_CFG_SEC_PREFIXES).pointee.offset += 4 }
        assertRefused(image, "section terms") { $0.section(XPF_CFG_SEC_TERMS).pointee.count = 0xFFFF_FFFF }
        assertRefused(image, "section strings") { $0.section(XPF_CFG_SEC_STRINGS).pointee.offset = 8 }
        assertRefused(image, "section mirror-outputs") {
            $0.section(XPF_CFG_SEC_MIRROR_OUTPUTS).pointee.offset = UInt32(image.size)
            $0.section(XPF_CFG_SEC_MIRROR_OUTPUTS).pointee.count = 1
        }
        assertRefused(image, "zone pairs") { $0.section(XPF_CFG_SEC_ZONE_PAIRS).pointee.count -= 1 }
        let s = Scratch(image)
        XCTAssertThrowsError(try ConfigSnapshotView(raw: s.bytes + 4, capacity: s.capacity - 4).validate()) { error in
            XCTAssertTrue("\(error)".contains("not 8-byte aligned"), "\(error)")
        }
        assertRefused(image, "string table") {
            let s = $0.section(XPF_CFG_SEC_STRINGS).pointee
            ($0.bytes + Int(s.offset) + Int(s.count) - 1).storeBytes(of: UInt8(ascii: "x"), as: UInt8.self)
        }
    }

    func testCorruptReferencesAreRefused() throws {
        let image = try ConfigSnapshotImage(try ConfigCorpusTests.load("good/srx-edge.conf").1)
        let prefixes = image.withView { v in
            XCTAssertGreaterThan(v.policies.count, 0)
            XCTAssertGreaterThan(v.filters.count, 0)
            XCTAssertGreaterThan(v.natRuleSets(.source).count, 0)
            return UInt32(v.section(XPF_CFG_SEC_PREFIXES).count)
        }
        assertRefused(image, "policy 0 source addresses") {
            $0.record(XPF_CFG_SEC_POLICIES, 0, as: xpf_cfg_policy.self).pointee.src = xpf_cfg_range(first: prefixes, count: 1)
        }
        assertRefused(image, "policy 0 applications") {
            $0.record(XPF_CFG_SEC_POLICIES, 0, as: xpf_cfg_policy.self).pointee.app_terms.count = 0x8000_0000
        }
        assertRefused(image, "policy 0: string offset") {
            $0.record(XPF_CFG_SEC_POLICIES, 0, as: xpf_cfg_policy.self).pointee.name = 0x7FFF_FFFF
        }
        assertRefused(image, "policy 0 action") { $0.record(XPF_CFG_SEC_POLICIES, 0, as: xpf_cfg_policy.self).pointee.action = 7 }
        assertRefused(image, "term 0 counter") { $0.record(XPF_CFG_SEC_TERMS, 0, as: xpf_cfg_term.self).pointee.counter = 9999 }
        assertRefused(image, "term 0 set") { $0.record(XPF_CFG_SEC_TERMS, 0, as: xpf_cfg_term.self).pointee.protocols = 9999 }
        assertRefused(image, "interface 0 zone") { $0.record(XPF_CFG_SEC_IFACES, 0, as: xpf_cfg_iface.self).pointee.zone = 77 }
        assertRefused(image, "loopback interface") { $0.head.pointee.loopback_iface = 99 }
        assertRefused(image, "global policies") { $0.head.pointee.global_policies.count += 1 }
        assertRefused(image, "default policy") { $0.head.pointee.default_policy = XPF_POLICY_REJECT.rawValue }
        assertRefused(image, "NAT rule 0: action 9") { $0.record(XPF_CFG_SEC_NAT_RULES, 0, as: xpf_cfg_nat_rule.self).pointee.action = 9 }
        assertRefused(image, "source-rule-sets 0 zones") {
            let set = $0.record(XPF_CFG_SEC_SNAT_RULE_SETS, 0, as: xpf_cfg_nat_rule_set.self).pointee
            XCTAssertEqual(UInt32(set.from_kind), XPF_NAT_CTX_ZONES.rawValue)
            $0.record(XPF_CFG_SEC_INDICES, Int(set.from.first), as: UInt32.self).pointee = 1000
        }
        assertRefused(image, "prefix 0: length 200") {
            $0.record(XPF_CFG_SEC_PREFIXES, 0, as: xpf_cfg_prefix.self).pointee.length = 200
        }
    }

    // MARK: - ABI

    /// The Swift view of every record agrees with the C _Static_asserts (xpf_config_abi.h).
    func testLayoutMatchesTheCHeader() {
        XCTAssertEqual(XPF_ABI_VERSION, 22)
        XCTAssertEqual(XPF_CFG_SEC_COUNT.rawValue, 30)
        XCTAssertEqual(MemoryLayout<xpf_config_snapshot>.size, 96 + 16 * 30)
        XCTAssertEqual(MemoryLayout<xpf_config_snapshot>.offset(of: \xpf_config_snapshot.sections), 96)
        XCTAssertEqual(Int(XPF_CFG_SECTION_TABLE_OFFSET), 96)
        XCTAssertEqual(MemoryLayout<xpf_config_snapshot>.offset(of: \xpf_config_snapshot.neigh_hold_ms), 48)
        XCTAssertEqual(MemoryLayout<xpf_config_snapshot>.offset(of: \xpf_config_snapshot.global_policies), 72)
        XCTAssertEqual(MemoryLayout<xpf_cfg_section>.size, 16)
        XCTAssertEqual(MemoryLayout<xpf_cfg_range>.size, 8)
        XCTAssertEqual(MemoryLayout<xpf_cfg_prefix>.size, 24)
        XCTAssertEqual(MemoryLayout<xpf_cfg_prefix>.offset(of: \xpf_cfg_prefix.addr), 8)
        XCTAssertEqual(MemoryLayout<xpf_cfg_port_range>.size, 4)
        XCTAssertEqual(MemoryLayout<xpf_cfg_set>.size, 32)
        XCTAssertEqual(MemoryLayout<xpf_cfg_addr_range>.size, 40)
        XCTAssertEqual(MemoryLayout<xpf_cfg_iface>.size, 56)
        XCTAssertEqual(MemoryLayout<xpf_cfg_zone>.size, 24)
        XCTAssertEqual(MemoryLayout<xpf_cfg_application>.size, 16)
        XCTAssertEqual(MemoryLayout<xpf_cfg_app_term>.size, 24)
        XCTAssertEqual(MemoryLayout<xpf_cfg_policy>.size, 56)
        XCTAssertEqual(MemoryLayout<xpf_cfg_term>.size, 128)
        XCTAssertEqual(MemoryLayout<xpf_cfg_term>.offset(of: \xpf_cfg_term.forwarding_classes), 120)
        XCTAssertEqual(MemoryLayout<xpf_cfg_term>.offset(of: \xpf_cfg_term.packet_length), 112)
        XCTAssertEqual(MemoryLayout<xpf_cfg_term>.offset(of: \xpf_cfg_term.terminal), 80)
        XCTAssertEqual(MemoryLayout<xpf_cfg_filter>.size, 24)
        XCTAssertEqual(MemoryLayout<xpf_cfg_filter>.offset(of: \xpf_cfg_filter.members), 16)
        XCTAssertEqual(MemoryLayout<xpf_cfg_counter>.size, 8)
        XCTAssertEqual(MemoryLayout<xpf_cfg_policer>.size, 48)
        XCTAssertEqual(MemoryLayout<xpf_cfg_tc_policer>.size, 80)
        XCTAssertEqual(MemoryLayout<xpf_cfg_policer_instance>.size, 16)
        XCTAssertEqual(MemoryLayout<xpf_cfg_term>.offset(of: \xpf_cfg_term.policer_instance), 108)
        XCTAssertEqual(MemoryLayout<xpf_cfg_screen>.size, 64)
        XCTAssertEqual(MemoryLayout<xpf_cfg_snat_pool>.size, 24)
        XCTAssertEqual(MemoryLayout<xpf_cfg_dnat_pool>.size, 16)
        XCTAssertEqual(MemoryLayout<xpf_cfg_nat_rule_set>.size, 32)
        XCTAssertEqual(MemoryLayout<xpf_cfg_nat_rule>.size, 56)
        XCTAssertEqual(MemoryLayout<xpf_cfg_mirror>.size, 32)
        XCTAssertEqual(MemoryLayout<xpf_cfg_mirror_output>.size, 32)
        XCTAssertEqual(MemoryLayout<xpf_cfg_policy_root>.size, 8)
        XCTAssertEqual(MemoryLayout<xpf_cfg_policy_node>.size, 24)
        XCTAssertEqual(MemoryLayout<xpf_cfg_policy_node>.offset(of: \xpf_cfg_policy_node.le), 12)
        // Every record's size is its stride (arrays of records have no gaps), and the
        // validator's table is the same.
        let strides = [MemoryLayout<UInt8>.stride, 4, 24, 4, 32, 40, 56, 24, 16, 24, 56, 8, 24, 128, 8, 48, 80, 64, 24, 16,
                       32, 32, 32, 56, 32, 32, 8, 24, 8, 16]
        XCTAssertEqual(ConfigSnapshotView.recordSizes, strides)
        XCTAssertEqual(ConfigSnapshotView.sectionNames.count, 30)
        XCTAssertEqual(MemoryLayout<xpf_cfg_term>.stride, MemoryLayout<xpf_cfg_term>.size)
        XCTAssertEqual(MemoryLayout<xpf_cfg_tc_policer>.stride, MemoryLayout<xpf_cfg_tc_policer>.size)
        XCTAssertEqual(ShmGeometry.configSlotSize, 8 << 20)
        XCTAssertEqual(Int(XPF_CONFIG_SLOTS), 4)
    }

    /// The C enumerations that number model cases follow the model's order.
    func testEnumerationsFollowTheModel() {
        let services: [(M.SystemService, xpf_host_service)] = [
            (.bootp, XPF_HOST_SVC_BOOTP), (.dhcp, XPF_HOST_SVC_DHCP), (.dhcpv6, XPF_HOST_SVC_DHCPV6),
            (.dns, XPF_HOST_SVC_DNS), (.ftp, XPF_HOST_SVC_FTP), (.http, XPF_HOST_SVC_HTTP), (.https, XPF_HOST_SVC_HTTPS),
            (.ike, XPF_HOST_SVC_IKE), (.netconf, XPF_HOST_SVC_NETCONF), (.ntp, XPF_HOST_SVC_NTP), (.ping, XPF_HOST_SVC_PING),
            (.snmp, XPF_HOST_SVC_SNMP), (.snmpTrap, XPF_HOST_SVC_SNMP_TRAP), (.ssh, XPF_HOST_SVC_SSH),
            (.telnet, XPF_HOST_SVC_TELNET), (.tftp, XPF_HOST_SVC_TFTP), (.traceroute, XPF_HOST_SVC_TRACEROUTE),
        ]
        XCTAssertEqual(services.count, M.SystemService.allCases.count)
        XCTAssertEqual(Int(XPF_HOST_SVC_COUNT.rawValue), M.SystemService.allCases.count)
        for (s, c) in services { XCTAssertEqual(M.SystemService.allCases.firstIndex(of: s), Int(c.rawValue), "\(s)") }

        let protocols: [(M.HostProtocol, xpf_host_protocol)] = [
            (.bfd, XPF_HOST_PROTO_BFD), (.bgp, XPF_HOST_PROTO_BGP), (.igmp, XPF_HOST_PROTO_IGMP),
            (.ldp, XPF_HOST_PROTO_LDP), (.ospf, XPF_HOST_PROTO_OSPF), (.ospf3, XPF_HOST_PROTO_OSPF3),
            (.pim, XPF_HOST_PROTO_PIM), (.rip, XPF_HOST_PROTO_RIP), (.ripng, XPF_HOST_PROTO_RIPNG),
            (.routerDiscovery, XPF_HOST_PROTO_ROUTER_DISCOVERY), (.vrrp, XPF_HOST_PROTO_VRRP),
        ]
        XCTAssertEqual(Int(XPF_HOST_PROTO_COUNT.rawValue), M.HostProtocol.allCases.count)
        for (p, c) in protocols { XCTAssertEqual(M.HostProtocol.allCases.firstIndex(of: p), Int(c.rawValue), "\(p)") }

        let checks: [(M.ScreenCheck, xpf_screen_check)] = [
            (.synFlood, XPF_SCREEN_SYN_FLOOD), (.icmpFlood, XPF_SCREEN_ICMP_FLOOD), (.udpFlood, XPF_SCREEN_UDP_FLOOD),
            (.portScan, XPF_SCREEN_PORT_SCAN), (.ipSweep, XPF_SCREEN_IP_SWEEP), (.landAttack, XPF_SCREEN_LAND_ATTACK),
            (.pingOfDeath, XPF_SCREEN_PING_OF_DEATH), (.teardrop, XPF_SCREEN_TEARDROP),
            (.tcpSynFin, XPF_SCREEN_TCP_SYN_FIN), (.tcpNoFlag, XPF_SCREEN_TCP_NO_FLAG),
            (.tcpFinNoAck, XPF_SCREEN_TCP_FIN_NO_ACK), (.winnuke, XPF_SCREEN_WINNUKE),
            (.ipSourceRoute, XPF_SCREEN_IP_SOURCE_ROUTE), (.synFrag, XPF_SCREEN_SYN_FRAG),
            (.synCookie, XPF_SCREEN_SYN_COOKIE), (.sessionLimitSource, XPF_SCREEN_SESSION_LIMIT_SRC),
            (.sessionLimitDestination, XPF_SCREEN_SESSION_LIMIT_DST), (.icmpFragment, XPF_SCREEN_ICMP_FRAGMENT),
        ]
        XCTAssertEqual(Int(XPF_SCREEN_CHECK_COUNT.rawValue), M.ScreenCheck.allCases.count)
        for (s, c) in checks { XCTAssertEqual(s.rawValue, Int(c.rawValue), s.name) }

        let reasons: [(M.RejectReason, xpf_reject_reason)] = [
            (.administrativelyProhibited, XPF_REJECT_ADMINISTRATIVELY_PROHIBITED),
            (.addressUnreachable, XPF_REJECT_ADDRESS_UNREACHABLE), (.beyondScope, XPF_REJECT_BEYOND_SCOPE),
            (.fragmentationNeeded, XPF_REJECT_FRAGMENTATION_NEEDED), (.hostProhibited, XPF_REJECT_HOST_PROHIBITED),
            (.hostUnknown, XPF_REJECT_HOST_UNKNOWN), (.hostUnreachable, XPF_REJECT_HOST_UNREACHABLE),
            (.networkProhibited, XPF_REJECT_NETWORK_PROHIBITED), (.networkUnknown, XPF_REJECT_NETWORK_UNKNOWN),
            (.networkUnreachable, XPF_REJECT_NETWORK_UNREACHABLE), (.noRoute, XPF_REJECT_NO_ROUTE),
            (.portUnreachable, XPF_REJECT_PORT_UNREACHABLE), (.protocolUnreachable, XPF_REJECT_PROTOCOL_UNREACHABLE),
            (.sourceRouteFailed, XPF_REJECT_SOURCE_ROUTE_FAILED), (.tcpReset, XPF_REJECT_TCP_RESET),
        ]
        XCTAssertEqual(Int(XPF_REJECT_REASON_COUNT.rawValue), M.RejectReason.allCases.count)
        for (r, c) in reasons { XCTAssertEqual(M.RejectReason.allCases.firstIndex(of: r), Int(c.rawValue), r.rawValue) }

        let priorities: [(M.LossPriority, xpf_loss_priority)] = [
            (.low, XPF_LP_LOW), (.mediumLow, XPF_LP_MEDIUM_LOW), (.mediumHigh, XPF_LP_MEDIUM_HIGH), (.high, XPF_LP_HIGH),
        ]
        for (p, c) in priorities { XCTAssertEqual(SnapshotEncoder.lossPriority(p), UInt8(c.rawValue), p.rawValue) }
        XCTAssertEqual(SnapshotEncoder.lossPriority(nil), UInt8(XPF_LP_NONE.rawValue))
    }

    /// Specific encodings of filters.conf, named as the SPEC names them.
    func testFilterEncodings() throws {
        try ConfigSnapshotImage(try ConfigCorpusTests.load("good/filters.conf").1).withView { v in
            let edge = v.filter(0)
            XCTAssertEqual(edge.family, 4)
            let terms = Array(v.terms(of: edge))
            let byName = Dictionary(uniqueKeysWithValues: terms.map { (v.string(at: $0.name)!, $0) })
            // voice: dscp [ ef af41 cs5 10 ] is a 64-bit mask; per-packet.
            let voice = byName["voice"]!
            XCTAssertEqual(voice.dscp, 1 << 46 | 1 << 34 | 1 << 40 | 1 << 10)
            XCTAssertNotEqual(voice.match & XPF_TM_DSCP.rawValue, 0)
            XCTAssertNotEqual(voice.match & XPF_TM_PER_PACKET.rawValue, 0)
            XCTAssertTrue(v.setContains(voice.protocols, 17) && v.setContains(voice.protocols, 132))
            XCTAssertFalse(v.setContains(voice.protocols, 6))
            XCTAssertEqual(UInt32(voice.action) & XPF_TA_DSCP.rawValue, XPF_TA_DSCP.rawValue)
            XCTAssertEqual(voice.dscp_rewrite, 26, "af31")
            XCTAssertEqual(UInt32(voice.loss_priority), XPF_LP_LOW.rawValue)
            XCTAssertEqual(v.string(at: voice.forwarding_class), "expedited-forwarding")
            XCTAssertEqual(voice.policer, 0)
            XCTAssertEqual(v.policer(0).rate, 125_000, "1m bits/s is 125,000 bytes/s")
            XCTAssertEqual(v.portRanges(voice.port).map { $0.low...$0.high }, [5060...5060])
            // mgmt-ssh: tcp-flags "syn & !ack" as a truth table; TCP flags are per-packet.
            let ssh = byName["mgmt-ssh"]!
            XCTAssertTrue(v.setContains(ssh.tcp_flags, 0x02))
            XCTAssertFalse(v.setContains(ssh.tcp_flags, 0x12))
            XCTAssertTrue(v.setContains(ssh.tcp_flags, 0x03))
            XCTAssertNotEqual(ssh.match & XPF_TM_PER_PACKET.rawValue, 0)
            XCTAssertEqual(v.portRanges(ssh.dst_port).map { $0.low...$0.high }, [22...22, 830...830, 8000...8100])
            // block-lists: reject tcp-reset, except entries flagged.
            let block = byName["block-lists"]!
            XCTAssertEqual(UInt32(block.terminal), XPF_TERM_REJECT.rawValue)
            XCTAssertEqual(UInt32(block.reject_reason), XPF_REJECT_TCP_RESET.rawValue)
            XCTAssertEqual(block.match & XPF_TM_PER_PACKET.rawValue, 0, "addresses are in the session key")
            XCTAssertEqual(v.prefixes(block.dst_addr).map(\.isExcept), [false, true])
            XCTAssertEqual(v.string(at: v.counter(Int(block.counter)).name), "blocked-hits")
            // first-frags: `reject` alone is administratively-prohibited; fragment flags.
            let frags = byName["first-frags"]!
            XCTAssertEqual(UInt32(frags.reject_reason), XPF_REJECT_ADMINISTRATIVELY_PROHIBITED.rawValue)
            XCTAssertNotEqual(frags.match & XPF_TM_FIRST_FRAGMENT.rawValue, 0)
            // tcp-initial and tcp-established together: (syn & !ack) & (ack | rst).
            XCTAssertEqual((0...255).filter { v.setContains(frags.tcp_flags, UInt8($0)) }.count, 32)
            XCTAssertTrue(v.setContains(frags.tcp_flags, 0x06))
            XCTAssertFalse(v.setContains(frags.tcp_flags, 0x02))
            XCTAssertFalse(v.setContains(frags.tcp_flags, 0x14))
            // pings: three-color policer and ICMP sets.
            let pings = byName["pings"]!
            XCTAssertEqual(pings.tc_policer, 0)
            XCTAssertEqual(pings.policer, XPF_CFG_NONE)
            XCTAssertTrue(v.setContains(pings.icmp_types, 8) && v.setContains(pings.icmp_types, 0) && v.setContains(pings.icmp_types, 3))
            XCTAssertTrue(v.setContains(pings.icmp_codes, 0))
            XCTAssertFalse(v.setContains(pings.icmp_codes, 1))
            let gold = v.threeColorPolicer(0)
            XCTAssertEqual(gold.cir, 1_250_000)
            XCTAssertEqual(gold.flags, XPF_CFG_TCP_COLOR_AWARE.rawValue | XPF_CFG_TCP_DISCARD_RED.rawValue)
            // last: no conditions at all.
            XCTAssertEqual(byName["last"]!.match, 0)
            // The empty inet6 filter has no terms (a worker discards everything through it).
            XCTAssertEqual(v.filter(2).terms.count, 0)
            XCTAssertEqual(v.filter(2).family, 6)
        }
    }

    /// `next term` (a terminal value of its own, the filter per-packet), packet-length (a
    /// per-packet PORT_RANGES condition) and filter lists (one LIST record per distinct list,
    /// its members in order, per-packet when a member is; a one-filter attachment none).
    func testFilterListsNextTermAndPacketLengthEncodings() throws {
        try ConfigSnapshotImage(try ConfigCorpusTests.load("good/filter-lists.conf").1).withView { v in
            try v.validate()
            let perPacket = UInt8(XPF_CFG_FILTER_PER_PACKET.rawValue), list = UInt8(XPF_CFG_FILTER_LIST.rawValue)
            XCTAssertEqual(v.filters.map { v.string(at: $0.name)! },
                           ["mark", "small-only", "mark6", "big6", "mark+small-only", "mark6+big6", "small-only+mark"])
            let mark = v.filter(0)
            XCTAssertEqual(mark.flags, perPacket, "next term: never memoized")
            XCTAssertEqual(v.terms(of: mark).map { UInt32($0.terminal) }, [XPF_TERM_NEXT.rawValue, XPF_TERM_NEXT.rawValue])
            XCTAssertEqual(v.terms(of: mark).map { $0.match & XPF_TM_PER_PACKET.rawValue }, [0, 0])
            let small = v.terms(of: v.filter(1))[0]
            XCTAssertEqual(v.filter(1).flags, perPacket)
            XCTAssertEqual(small.match, XPF_TM_PACKET_LENGTH.rawValue | XPF_TM_PER_PACKET.rawValue)
            XCTAssertEqual(v.portRanges(small.packet_length).map { $0.low...$0.high }, [20...576, 1500...1500])
            for (record, members) in [(4, [0, 1]), (5, [2, 3]), (6, [1, 0])] {
                let r = v.filter(record)
                XCTAssertEqual(r.flags, list | perPacket, "list \(record)")
                XCTAssertEqual(r.terms.count, 0)
                XCTAssertEqual(v.indices(r.members).map { Int($0) }, members)
                XCTAssertEqual(r.family, v.filter(members[0]).family)
            }
            let fw0 = v.interface(slot: 0), fw1 = v.interface(slot: 1)
            XCTAssertEqual([fw0.filter_in4, fw0.filter_out4, fw0.filter_in6, fw0.filter_out6], [4, XPF_CFG_NONE, 5, XPF_CFG_NONE])
            XCTAssertEqual([fw1.filter_in4, fw1.filter_out4, fw1.filter_in6, fw1.filter_out6], [1, 6, XPF_CFG_NONE, XPF_CFG_NONE])
        }
        // What the memo and the list walk rely on, refused when a snapshot breaks it.
        let image = try ConfigSnapshotImage(try ConfigCorpusTests.load("good/filter-lists.conf").1)
        let perPacket = ~UInt8(XPF_CFG_FILTER_PER_PACKET.rawValue)
        assertRefused(image, "filter 0: a next term term in a filter not marked per-packet") {
            $0.record(XPF_CFG_SEC_FILTERS, 0, as: xpf_cfg_filter.self).pointee.flags &= perPacket
        }
        assertRefused(image, "filter 4: member 0 is per-packet, the list is not") {
            $0.record(XPF_CFG_SEC_FILTERS, 4, as: xpf_cfg_filter.self).pointee.flags &= perPacket
        }
        assertRefused(image, "filter 4: member 6 is a list or of another family") {
            let list = $0.record(XPF_CFG_SEC_FILTERS, 4, as: xpf_cfg_filter.self).pointee
            $0.record(XPF_CFG_SEC_INDICES, Int(list.members.first), as: UInt32.self).pointee = 6
        }
        assertRefused(image, "filter 4: a list with terms of its own or no member") {
            $0.record(XPF_CFG_SEC_FILTERS, 4, as: xpf_cfg_filter.self).pointee.members.count = 0
        }
        assertRefused(image, "filter 1: members but not a list") {
            $0.record(XPF_CFG_SEC_FILTERS, 1, as: xpf_cfg_filter.self).pointee.members = xpf_cfg_range(first: 0, count: 1)
        }
        assertRefused(image, "term 2 terminal action") {
            $0.record(XPF_CFG_SEC_TERMS, 2, as: xpf_cfg_term.self).pointee.terminal = UInt8(XPF_TERM_NEXT.rawValue + 1)
        }
        // A list of key-only filters stays memoizable.
        let text = """
            system dataplane interfaces fw0;
            interfaces fw0 unit 0 family inet filter input-list [ a b ];
            firewall family inet { filter a term t { from protocol udp; then accept; } filter b term t then accept; }
            """
        try ConfigSnapshotImage(try ConfigModel.load(text: text, file: "key-only-list").1).withView { v in
            XCTAssertEqual(v.filter(2).flags, UInt8(XPF_CFG_FILTER_LIST.rawValue))
        }
    }
}
