// Fuzz targets `junos` and `snapshot`: the configuration path from text to the bytes a
// worker trusts.
//
// junos: arbitrary text through the lexer, parser and compiler (errors are fine; crashes,
// traps and hangs are not); a configuration that compiles, printed in both forms
// (`display set` and hierarchical), must parse back to the same statements and compile to
// the same model, and must encode into a snapshot that validates.
//
// snapshot: arbitrary bytes as a configuration slot of exactly that size (reads past it
// fault under ASan). `validate()` must refuse what is inconsistent; for what it accepts,
// every accessor a worker or tool uses — every record of every section, every range and
// index stored in a record, every string, the policy lookup's tree walks — must stay
// inside the slot (and every walk must end).
import CXPF
import Shared

enum ConfigTargets {
    static func junos(_ data: UnsafeRawBufferPointer) -> String? {
        let text = String(decoding: data, as: UTF8.self)
        guard let tree = try? JunosTree.parse(text: text, file: "fuzz", schema: .xpf),
              let model = try? ConfigModel.compile(tree) else { return nil }
        // What commits is what `show configuration` prints: both forms must read back.
        // (A tree the compiler refuses may hold conflicting choices — `default-policy
        // permit-all` and `deny-all` — that the set form resolves by replacement.)
        let lines = tree.setLines()
        for (form, printed) in [("display set", lines.joined(separator: "\n")), ("hierarchical", tree.hierarchicalText())] {
            let again: JunosTree
            do { again = try JunosTree.parse(text: printed, file: form, schema: .xpf) } catch {
                return "the \(form) form of a parsed configuration does not parse: \(error)\n\(printed)"
            }
            guard again.setLines() == lines else { return "the \(form) form parses to different statements:\n\(printed)" }
        }
        if let again = try? ConfigModel.load(text: lines.joined(separator: "\n"), file: "round trip").1 {
            guard again == model else { return "the display set form compiles to a different model" }
        } else {
            return "the display set form of a valid configuration does not compile"
        }
        do {
            let image = try ConfigSnapshotImage(model)
            return image.withView { walk($0) }
        } catch let e as ConfigSnapshotError where e.description.hasPrefix("compiled configuration needs") {
            return nil  // too large for a slot: a clean refusal
        } catch {
            return "a valid configuration does not encode: \(error)"
        }
    }

    static func snapshot(_ data: UnsafeRawBufferPointer) -> String? {
        guard let base = data.baseAddress else { return nil }
        // The slot, 8-byte aligned as slots are, exactly as large as the input.
        let slot = UnsafeMutableRawPointer.allocate(byteCount: data.count, alignment: 8)
        defer { slot.deallocate() }
        slot.copyMemory(from: base, byteCount: data.count)
        let view = ConfigSnapshotView(raw: UnsafeRawPointer(slot), capacity: data.count)
        guard (try? view.validate()) != nil else { return nil }
        return walk(view)
    }

    /// Reads everything a worker or tool can reach from a validated snapshot.
    static func walk(_ v: ConfigSnapshotView) -> String? {
        var sink: UInt64 = 0
        func touch<T>(_ r: ConfigSnapshotView.Records<T>) {
            for x in r { withUnsafeBytes(of: x) { for b in $0 { sink &+= UInt64(b) } } }
        }
        func name(_ offset: UInt32) { sink &+= UInt64(v.string(at: offset)?.utf8.count ?? 0) }
        for id in 0..<XPF_CFG_SEC_COUNT.rawValue {
            let sec = v.section(xpf_cfg_section_id(rawValue: id))
            sink &+= UInt64(sec.count)
        }
        for i in v.records(XPF_CFG_SEC_IFACES, as: xpf_cfg_iface.self) {
            name(i.name); touch(v.prefixes(i.addrs4)); touch(v.prefixes(i.addrs6))
        }
        let zones = v.records(XPF_CFG_SEC_ZONES, as: xpf_cfg_zone.self)
        for z in zones {
            name(z.name)
            for slot in v.indices(z.ifaces) { sink &+= UInt64(v.interface(slot: Int(slot)).name) }
        }
        for a in v.records(XPF_CFG_SEC_APPLICATIONS, as: xpf_cfg_application.self) { name(a.name); touch(v.terms(of: a)) }
        for p in v.records(XPF_CFG_SEC_POLICIES, as: xpf_cfg_policy.self) {
            name(p.name)
            touch(v.sourceAddresses(of: p)); touch(v.destinationAddresses(of: p))
            for t in v.applicationTerms(of: p) { let term = v.applicationTerm(Int(t)); name(term.name); sink &+= UInt64(v.application(Int(term.application)).name) }
            for z in v.indices(p.from_zones) { sink &+= UInt64(v.zone(Int(z)).name) }
            for z in v.indices(p.to_zones) { sink &+= UInt64(v.zone(Int(z)).name) }
        }
        for from in 0..<zones.count {
            for to in 0..<zones.count { sink &+= UInt64(v.policies(from: from, to: to).count) }
        }
        // The policy lookup (issue 9): tree walks, leaves and every candidate's lists,
        // for packets at the snapshot's own prefixes (both families, with and without
        // ports, ICMP), over the first zones (a hostile zone count must not make this
        // quadratic walk the fuzzer's bottleneck).
        let lookupZones = min(zones.count, maxLookupZones)
        for key in policyKeys(v) {
            for from in 0..<lookupZones {
                for to in 0..<lookupZones { sink &+= UInt64(truncatingIfNeeded: v.matchPolicy(from: from, to: to, key)?.term ?? 0) }
            }
        }
        for f in v.records(XPF_CFG_SEC_FILTERS, as: xpf_cfg_filter.self) {
            name(f.name)
            for t in v.terms(of: f) {
                name(t.name); name(t.forwarding_class)
                touch(v.prefixes(t.src_addr)); touch(v.prefixes(t.dst_addr)); touch(v.prefixes(t.addr))
                touch(v.portRanges(t.src_port)); touch(v.portRanges(t.dst_port)); touch(v.portRanges(t.port))
                for set in [t.protocols, t.icmp_types, t.icmp_codes, t.tcp_flags] where set != XPF_CFG_NONE {
                    sink &+= v.setContains(set, UInt8(truncatingIfNeeded: sink)) ? 1 : 0
                }
                if t.counter != XPF_CFG_NONE { name(v.counter(Int(t.counter)).name) }
                if t.policer != XPF_CFG_NONE { name(v.policer(Int(t.policer)).name) }
                if t.tc_policer != XPF_CFG_NONE { name(v.threeColorPolicer(Int(t.tc_policer)).name) }
            }
        }
        for s in v.records(XPF_CFG_SEC_SCREENS, as: xpf_cfg_screen.self) { name(s.name) }
        for p in v.sourcePools { name(p.name); touch(v.addressRanges(p.addrs)) }
        for p in v.destinationPools { name(p.name) }
        for kind in ConfigSnapshotView.NATKind.allCases {
            for set in v.natRuleSets(kind) {
                name(set.name)
                touch(v.indices(set.from)); touch(v.indices(set.to))
                for r in v.natRules(of: set) {
                    name(r.name)
                    touch(v.prefixes(r.src_addr)); touch(v.prefixes(r.dst_addr))
                    touch(v.portRanges(r.src_port)); touch(v.portRanges(r.dst_port))
                }
            }
        }
        for m in v.records(XPF_CFG_SEC_MIRRORS, as: xpf_cfg_mirror.self) {
            name(m.name)
            for slot in v.indices(m.ingress) { sink &+= UInt64(v.interface(slot: Int(slot)).name) }
            for o in v.outputs(of: m) { name(o.iface_name) }
        }
        return sink == UInt64.max ? "unreachable" : nil  // keeps the reads from being optimised away
    }

    static let maxLookupZones = 8
    static let maxLookupPrefixes = 8

    /// Packets addressed from and to the first prefixes of the snapshot (TCP, UDP, ICMP of
    /// the prefix's family).
    static func policyKeys(_ v: ConfigSnapshotView) -> [PolicyKey] {
        let prefixes = v.records(XPF_CFG_SEC_PREFIXES, as: xpf_cfg_prefix.self).prefix(maxLookupPrefixes)
        var keys: [PolicyKey] = []
        for (n, p) in prefixes.enumerated() {
            let address = p.addressBytes
            let other = prefixes[(n + 1) % prefixes.count].addressBytes
            for proto: UInt8 in [6, 17, p.family == 4 ? 1 : 58] {
                keys.append(PolicyKey(family: p.family, proto: proto, src: address, dst: other, sport: UInt16(n), dport: 80,
                                      icmpType: 8, icmpCode: 0))
            }
        }
        return keys
    }

    static func corpusFiles(_ corpus: String?) -> [[UInt8]] {
        guard let corpus else { return [] }
        var out: [[UInt8]] = []
        for sub in ["good", "bad"] {
            let dir = corpus + "/" + sub
            for n in FuzzFiles.list(dir) where n.hasSuffix(".conf") {
                if let bytes = FuzzFiles.read(dir + "/" + n) { out.append(bytes) }
            }
        }
        return out
    }

    static func junosSeeds(corpus: String?) -> [[UInt8]] {
        corpusFiles(corpus) + [Array("set system dataplane interfaces [ fw0 fw1 ]".utf8)]
    }

    static func snapshotSeeds(corpus: String?) -> [[UInt8]] {
        corpusFiles(corpus).compactMap { bytes in
            guard let model = try? ConfigModel.load(text: String(decoding: bytes, as: UTF8.self), file: "seed").1,
                  let image = try? ConfigSnapshotImage(model) else { return nil }
            return Array(UnsafeRawBufferPointer(start: image.bytes, count: image.size))
        }
    }
}
