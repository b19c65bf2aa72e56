// Validation of a configuration snapshot, run once when a worker switches to it (and by
// xpfd on every image it is about to publish). Cold path: it walks every record.
//
// What it proves, so that the view's accessors can index without reading outside the
// slot: the head's size and section count; every section lies inside `size` (itself
// inside the slot), starts 8-byte aligned after the head and has this build's record
// size; the string table ends in a NUL (every offset reads a terminated string); every
// index, range and string offset stored in any record points inside its target
// section; index lists hold valid indices; enumerated fields hold known values.
import CXPF

extension ConfigSnapshotView {
    /// Record size of each section in this build, by section id.
    public static let recordSizes: [Int] = {
        var sizes = Array(repeating: 0, count: Int(XPF_CFG_SEC_COUNT.rawValue))
        func set<T>(_ id: xpf_cfg_section_id, _: T.Type) { sizes[Int(id.rawValue)] = MemoryLayout<T>.stride }
        set(XPF_CFG_SEC_STRINGS, UInt8.self)
        set(XPF_CFG_SEC_INDICES, UInt32.self)
        set(XPF_CFG_SEC_PREFIXES, xpf_cfg_prefix.self)
        set(XPF_CFG_SEC_PORT_RANGES, xpf_cfg_port_range.self)
        set(XPF_CFG_SEC_SETS, xpf_cfg_set.self)
        set(XPF_CFG_SEC_ADDR_RANGES, xpf_cfg_addr_range.self)
        set(XPF_CFG_SEC_IFACES, xpf_cfg_iface.self)
        set(XPF_CFG_SEC_ZONES, xpf_cfg_zone.self)
        set(XPF_CFG_SEC_APPLICATIONS, xpf_cfg_application.self)
        set(XPF_CFG_SEC_APP_TERMS, xpf_cfg_app_term.self)
        set(XPF_CFG_SEC_POLICIES, xpf_cfg_policy.self)
        set(XPF_CFG_SEC_ZONE_PAIRS, xpf_cfg_range.self)
        set(XPF_CFG_SEC_FILTERS, xpf_cfg_filter.self)
        set(XPF_CFG_SEC_TERMS, xpf_cfg_term.self)
        set(XPF_CFG_SEC_COUNTERS, xpf_cfg_counter.self)
        set(XPF_CFG_SEC_POLICERS, xpf_cfg_policer.self)
        set(XPF_CFG_SEC_TC_POLICERS, xpf_cfg_tc_policer.self)
        set(XPF_CFG_SEC_SCREENS, xpf_cfg_screen.self)
        set(XPF_CFG_SEC_SNAT_POOLS, xpf_cfg_snat_pool.self)
        set(XPF_CFG_SEC_DNAT_POOLS, xpf_cfg_dnat_pool.self)
        set(XPF_CFG_SEC_SNAT_RULE_SETS, xpf_cfg_nat_rule_set.self)
        set(XPF_CFG_SEC_DNAT_RULE_SETS, xpf_cfg_nat_rule_set.self)
        set(XPF_CFG_SEC_STATIC_RULE_SETS, xpf_cfg_nat_rule_set.self)
        set(XPF_CFG_SEC_NAT_RULES, xpf_cfg_nat_rule.self)
        set(XPF_CFG_SEC_MIRRORS, xpf_cfg_mirror.self)
        set(XPF_CFG_SEC_MIRROR_OUTPUTS, xpf_cfg_mirror_output.self)
        set(XPF_CFG_SEC_POLICY_ROOTS, xpf_cfg_policy_root.self)
        set(XPF_CFG_SEC_POLICY_NODES, xpf_cfg_policy_node.self)
        set(XPF_CFG_SEC_POLICY_LEAVES, xpf_cfg_range.self)
        set(XPF_CFG_SEC_POLICER_INSTANCES, xpf_cfg_policer_instance.self)
        return sizes
    }()

    /// Section names for messages, by section id.
    public static let sectionNames = [
        "strings", "indices", "prefixes", "port-ranges", "sets", "address-ranges", "interfaces", "zones",
        "applications", "application-terms", "policies", "zone-pairs", "filters", "terms", "counters", "policers",
        "three-color-policers", "screens", "source-pools", "destination-pools", "source-rule-sets",
        "destination-rule-sets", "static-rule-sets", "nat-rules", "mirrors", "mirror-outputs",
        "policy-roots", "policy-nodes", "policy-leaves", "policer-instances",
    ]

    /// Throws a `ConfigSnapshotError` naming the first problem; see the file comment for
    /// what a snapshot that passes guarantees.
    public func validate() throws {
        var validator = SnapshotValidator(view: self)
        try validator.run()
        try validatePolicyClassifier()
    }
}

private struct SnapshotValidator {
    let view: ConfigSnapshotView
    var counts: [UInt32] = []

    init(view: ConfigSnapshotView) { self.view = view }

    func fail(_ what: String) -> ConfigSnapshotError { ConfigSnapshotError("invalid configuration snapshot: \(what)") }

    func name(_ id: xpf_cfg_section_id) -> String { ConfigSnapshotView.sectionNames[Int(id.rawValue)] }

    func count(_ id: xpf_cfg_section_id) -> UInt32 { counts[Int(id.rawValue)] }

    mutating func run() throws {
        let headSize = MemoryLayout<xpf_config_snapshot>.size
        guard Int(bitPattern: view.base) % 8 == 0 else { throw fail("snapshot start is not 8-byte aligned") }
        guard view.capacity >= headSize else { throw fail("slot of \(view.capacity) bytes cannot hold the \(headSize)-byte head") }
        let h = view.head.pointee
        guard h.n_sections == UInt32(XPF_CFG_SEC_COUNT.rawValue) else {
            throw fail("\(h.n_sections) sections, this build expects \(XPF_CFG_SEC_COUNT.rawValue)")
        }
        guard Int(h.size) >= headSize, Int(h.size) <= view.capacity else {
            throw fail("size \(h.size) outside \(headSize)...\(view.capacity)")
        }
        for id in 0..<Int(XPF_CFG_SEC_COUNT.rawValue) {
            let sid = xpf_cfg_section_id(rawValue: UInt32(id))
            let s = view.section(sid)
            let expected = ConfigSnapshotView.recordSizes[id]
            guard Int(s.record_size) == expected else {
                throw fail("section \(name(sid)): record size \(s.record_size), this build's is \(expected)")
            }
            guard s.offset % 8 == 0, Int(s.offset) >= headSize,
                  UInt64(s.offset) + UInt64(s.count) * UInt64(s.record_size) <= UInt64(h.size)
            else {
                throw fail("section \(name(sid)): \(s.count) records of \(s.record_size) bytes at offset \(s.offset) "
                    + "do not fit in \(h.size) bytes (or are misaligned)")
            }
            counts.append(s.count)
        }
        try checkHead(h)
        try checkStrings()
        try checkRecords()
    }

    func checkHead(_ h: xpf_config_snapshot) throws {
        guard h.default_policy == XPF_POLICY_PERMIT.rawValue || h.default_policy == XPF_POLICY_DENY.rawValue else {
            throw fail("default policy \(h.default_policy)")
        }
        guard h.n_dataplane_ifaces <= count(XPF_CFG_SEC_IFACES) else {
            throw fail("\(h.n_dataplane_ifaces) dataplane interfaces, \(count(XPF_CFG_SEC_IFACES)) interface records")
        }
        try index(h.loopback_iface, XPF_CFG_SEC_IFACES, "loopback interface", optional: true)
        try range(h.global_policies, XPF_CFG_SEC_POLICIES, "global policies")
        let zones = UInt64(count(XPF_CFG_SEC_ZONES))
        guard UInt64(count(XPF_CFG_SEC_ZONE_PAIRS)) == zones * zones else {
            throw fail("\(count(XPF_CFG_SEC_ZONE_PAIRS)) zone pairs for \(zones) zones")
        }
    }

    func checkStrings() throws {
        let n = count(XPF_CFG_SEC_STRINGS)
        guard n >= 1 else { throw fail("empty string table") }
        let table = view.records(XPF_CFG_SEC_STRINGS, as: UInt8.self)
        guard table[0] == 0, table[Int(n) - 1] == 0 else { throw fail("string table does not start and end with NUL") }
    }

    // MARK: Reference checks

    func index(_ i: UInt32, _ target: xpf_cfg_section_id, _ what: @autoclosure () -> String, optional: Bool = false) throws {
        if optional && i == XPF_CFG_NONE { return }
        guard i < count(target) else { throw fail("\(what()): index \(i) outside \(name(target)) (\(count(target)))") }
    }

    func range(_ r: xpf_cfg_range, _ target: xpf_cfg_section_id, _ what: @autoclosure () -> String) throws {
        guard UInt64(r.first) + UInt64(r.count) <= UInt64(count(target)) else {
            throw fail("\(what()): \(r.first)+\(r.count) outside \(name(target)) (\(count(target)))")
        }
    }

    /// A range of INDICES whose entries index `target`.
    func indexList(_ r: xpf_cfg_range, _ target: xpf_cfg_section_id, _ what: @autoclosure () -> String) throws {
        try range(r, XPF_CFG_SEC_INDICES, what())
        for i in view.indices(r) { try index(i, target, what()) }
    }

    func string(_ off: UInt32, _ what: @autoclosure () -> String, optional: Bool = false) throws {
        if optional && off == XPF_CFG_NONE { return }
        guard off < count(XPF_CFG_SEC_STRINGS) else { throw fail("\(what()): string offset \(off) outside the table") }
    }

    func enumValue(_ v: UInt32, below limit: UInt32, _ what: @autoclosure () -> String) throws {
        guard v < limit else { throw fail("\(what()): value \(v)") }
    }

    func family(_ f: UInt8, _ what: @autoclosure () -> String) throws {
        guard f == 4 || f == 6 else { throw fail("\(what()): family \(f)") }
    }

    func checkRecords() throws {
        for (i, p) in view.records(XPF_CFG_SEC_PREFIXES, as: xpf_cfg_prefix.self).enumerated() {
            try family(p.family, "prefix \(i)")
            guard p.length <= (p.family == 4 ? 32 : 128) else { throw fail("prefix \(i): length \(p.length)") }
        }
        for (i, r) in view.records(XPF_CFG_SEC_PORT_RANGES, as: xpf_cfg_port_range.self).enumerated() where r.low > r.high {
            throw fail("port range \(i): \(r.low) > \(r.high)")
        }
        for (i, r) in view.records(XPF_CFG_SEC_ADDR_RANGES, as: xpf_cfg_addr_range.self).enumerated() {
            try family(r.family, "address range \(i)")
        }
        for (i, r) in view.interfaces.enumerated() {
            let what = "interface \(i)"
            try string(r.name, what)
            try index(r.zone, XPF_CFG_SEC_ZONES, what + " zone", optional: true)
            try index(r.mirror, XPF_CFG_SEC_MIRRORS, what + " mirror", optional: true)
            for f in [r.filter_in4, r.filter_out4, r.filter_in6, r.filter_out6] {
                try index(f, XPF_CFG_SEC_FILTERS, what + " filter", optional: true)
            }
            try range(r.addrs4, XPF_CFG_SEC_PREFIXES, what + " addresses")
            try range(r.addrs6, XPF_CFG_SEC_PREFIXES, what + " addresses")
        }
        for (i, z) in view.zones.enumerated() {
            try string(z.name, "zone \(i)")
            try index(z.screen, XPF_CFG_SEC_SCREENS, "zone \(i) screen", optional: true)
            try indexList(z.ifaces, XPF_CFG_SEC_IFACES, "zone \(i) interfaces")
        }
        for (i, a) in view.applications.enumerated() {
            try string(a.name, "application \(i)")
            try range(a.terms, XPF_CFG_SEC_APP_TERMS, "application \(i) terms")
        }
        for (i, t) in view.applicationTerms.enumerated() {
            try index(t.application, XPF_CFG_SEC_APPLICATIONS, "application term \(i)")
            try string(t.name, "application term \(i)", optional: true)
        }
        for (i, p) in view.policies.enumerated() {
            let what = "policy \(i)"
            try string(p.name, what)
            try enumValue(UInt32(p.action), below: 3, what + " action")
            try index(p.from_zone, XPF_CFG_SEC_ZONES, what + " from-zone", optional: true)
            try index(p.to_zone, XPF_CFG_SEC_ZONES, what + " to-zone", optional: true)
            try range(p.src, XPF_CFG_SEC_PREFIXES, what + " source addresses")
            try range(p.dst, XPF_CFG_SEC_PREFIXES, what + " destination addresses")
            try indexList(p.app_terms, XPF_CFG_SEC_APP_TERMS, what + " applications")
            try indexList(p.from_zones, XPF_CFG_SEC_ZONES, what + " from-zones")
            try indexList(p.to_zones, XPF_CFG_SEC_ZONES, what + " to-zones")
        }
        for (i, r) in view.records(XPF_CFG_SEC_ZONE_PAIRS, as: xpf_cfg_range.self).enumerated() {
            try range(r, XPF_CFG_SEC_POLICIES, "zone pair \(i)")
        }
        // Term and counter indices are rows of the workers' counters (xpf_filter_hits).
        guard count(XPF_CFG_SEC_TERMS) <= XPF_MAX_FILTER_TERMS, count(XPF_CFG_SEC_COUNTERS) <= XPF_MAX_FILTER_COUNTERS else {
            throw fail("\(count(XPF_CFG_SEC_TERMS)) filter terms and \(count(XPF_CFG_SEC_COUNTERS)) counters: at most \(XPF_MAX_FILTER_TERMS) of each")
        }
        guard count(XPF_CFG_SEC_POLICER_INSTANCES) <= XPF_MAX_POLICER_INSTANCES else {
            throw fail("\(count(XPF_CFG_SEC_POLICER_INSTANCES)) policer instances: at most \(XPF_MAX_POLICER_INSTANCES)")
        }
        let perPacket = UInt8(XPF_CFG_FILTER_PER_PACKET.rawValue), list = UInt8(XPF_CFG_FILTER_LIST.rawValue)
        for (i, f) in view.filters.enumerated() {
            try string(f.name, "filter \(i)")
            try family(f.family, "filter \(i)")
            try range(f.terms, XPF_CFG_SEC_TERMS, "filter \(i) terms")
            try indexList(f.members, XPF_CFG_SEC_FILTERS, "filter \(i) members")
            // R-4.5 and the memo: a filter whose decision the session-hit memo may replay
            // has no `next term` term (a chain of several), and a list none of whose members
            // is per-packet itself.
            for t in view.terms(of: f) where t.terminal == UInt8(XPF_TERM_NEXT.rawValue) && f.flags & perPacket == 0 {
                throw fail("filter \(i): a next term term in a filter not marked per-packet")
            }
            guard f.flags & list != 0 else {
                guard f.members.count == 0 else { throw fail("filter \(i): members but not a list") }
                continue
            }
            guard f.terms.count == 0, f.members.count > 0 else { throw fail("filter \(i): a list with terms of its own or no member") }
            // A walk passes at most this many terms: what bounds a next-term chain's logs
            // (FilterMemo.chainLogs holds XPF_MAX_FILTER_TERMS).
            var walked = 0
            for m in view.indices(f.members) {
                let member = view.filter(Int(m))
                walked += Int(member.terms.count)
                guard walked <= XPF_MAX_FILTER_TERMS else { throw fail("filter \(i): its members hold over \(XPF_MAX_FILTER_TERMS) terms") }
                guard member.flags & list == 0, member.family == f.family else {
                    throw fail("filter \(i): member \(m) is a list or of another family")
                }
                guard member.flags & perPacket == 0 || f.flags & perPacket != 0 else {
                    throw fail("filter \(i): member \(m) is per-packet, the list is not")
                }
            }
        }
        // An interface's inet filters are of family inet, its inet6 filters of inet6.
        for (i, r) in view.records(XPF_CFG_SEC_IFACES, as: xpf_cfg_iface.self).enumerated() {
            for (f, family) in [(r.filter_in4, 4), (r.filter_out4, 4), (r.filter_in6, 6), (r.filter_out6, 6)]
            where f != XPF_CFG_NONE && Int(view.filter(Int(f)).family) != family {
                throw fail("interface \(i): filter \(f) of family \(view.filter(Int(f)).family) attached as family \(family)")
            }
        }
        for (i, t) in view.records(XPF_CFG_SEC_TERMS, as: xpf_cfg_term.self).enumerated() {
            let what = "term \(i)"
            try string(t.name, what)
            for r in [t.src_addr, t.dst_addr, t.addr] { try range(r, XPF_CFG_SEC_PREFIXES, what + " addresses") }
            for r in [t.src_port, t.dst_port, t.port, t.packet_length] { try range(r, XPF_CFG_SEC_PORT_RANGES, what + " ports") }
            for s in [t.protocols, t.icmp_types, t.icmp_codes, t.tcp_flags] {
                try index(s, XPF_CFG_SEC_SETS, what + " set", optional: true)
            }
            try enumValue(UInt32(t.terminal), below: XPF_TERM_NEXT.rawValue + 1, what + " terminal action")
            try enumValue(UInt32(t.reject_reason), below: XPF_REJECT_REASON_COUNT.rawValue, what + " reject reason")
            try enumValue(UInt32(t.loss_priority), below: XPF_LP_HIGH.rawValue + 1, what + " loss priority")
            try index(t.counter, XPF_CFG_SEC_COUNTERS, what + " counter", optional: true)
            try index(t.policer, XPF_CFG_SEC_POLICERS, what + " policer", optional: true)
            try index(t.tc_policer, XPF_CFG_SEC_TC_POLICERS, what + " three-color policer", optional: true)
            try string(t.forwarding_class, what + " forwarding class", optional: true)
            // from forwarding-class: strings, or NONE for best-effort.
            try range(t.forwarding_classes, XPF_CFG_SEC_INDICES, what + " forwarding classes")
            for c in view.indices(t.forwarding_classes) { try string(c, what + " forwarding class", optional: true) }
            try index(t.filter, XPF_CFG_SEC_FILTERS, what + " filter")
            // A policing term names one policer and the instance of that policer's kind the
            // stage meters and counts in.
            if t.action & UInt8(XPF_TA_POLICE.rawValue) != 0 {
                let threeColor = t.tc_policer != XPF_CFG_NONE
                guard threeColor != (t.policer != XPF_CFG_NONE) else {
                    throw fail(what + ": polices with \(threeColor ? "two policers" : "no policer")")
                }
                try index(t.policer_instance, XPF_CFG_SEC_POLICER_INSTANCES, what + " policer instance")
                let instance = view.policerInstances[Int(t.policer_instance)]
                guard (instance.flags & XPF_CFG_PI_THREE_COLOR.rawValue != 0) == threeColor else {
                    throw fail(what + ": policer instance \(t.policer_instance) is of the other kind")
                }
            }
        }
        for (i, r) in view.policerInstances.enumerated() {
            let what = "policer instance \(i)"
            try string(r.name, what)
            try index(r.filter, XPF_CFG_SEC_FILTERS, what + " filter")
            let threeColor = r.flags & XPF_CFG_PI_THREE_COLOR.rawValue != 0
            try index(r.policer, threeColor ? XPF_CFG_SEC_TC_POLICERS : XPF_CFG_SEC_POLICERS, what + " policer")
        }
        for (i, c) in view.counters.enumerated() {
            try string(c.name, "counter \(i)")
            try index(c.filter, XPF_CFG_SEC_FILTERS, "counter \(i) filter")
        }
        for (i, p) in view.policers.enumerated() {
            try string(p.name, "policer \(i)")
            try enumValue(UInt32(p.loss_priority), below: XPF_LP_HIGH.rawValue + 1, "policer \(i) loss priority")
            try string(p.forwarding_class, "policer \(i) forwarding class", optional: true)
        }
        for (i, p) in view.threeColorPolicers.enumerated() { try string(p.name, "three-color policer \(i)") }
        for (i, s) in view.screens.enumerated() { try string(s.name, "screen \(i)") }
        for (i, p) in view.sourcePools.enumerated() {
            try string(p.name, "source pool \(i)")
            try range(p.addrs, XPF_CFG_SEC_ADDR_RANGES, "source pool \(i) addresses")
        }
        for (i, p) in view.destinationPools.enumerated() {
            try string(p.name, "destination pool \(i)")
            try index(p.addr, XPF_CFG_SEC_ADDR_RANGES, "destination pool \(i) address", optional: true)
        }
        for kind in ConfigSnapshotView.NATKind.allCases {
            for (i, s) in view.natRuleSets(kind).enumerated() {
                let what = "\(name(kind.section)) \(i)"
                try string(s.name, what)
                for (k, r) in [(s.from_kind, s.from), (s.to_kind, s.to)] {
                    switch UInt32(k) {
                    case XPF_NAT_CTX_NONE.rawValue:
                        // Empty, and still inside INDICES: readers build the (empty) list from it.
                        guard r.count == 0 else { throw fail(what + ": list without a kind") }
                        try range(r, XPF_CFG_SEC_INDICES, what + " empty list")
                    case XPF_NAT_CTX_ZONES.rawValue: try indexList(r, XPF_CFG_SEC_ZONES, what + " zones")
                    case XPF_NAT_CTX_IFACES.rawValue: try indexList(r, XPF_CFG_SEC_IFACES, what + " interfaces")
                    default: throw fail(what + ": context kind \(k)")
                    }
                }
                guard UInt32(s.from_kind) != XPF_NAT_CTX_NONE.rawValue else { throw fail(what + ": no from") }
                try range(s.rules, XPF_CFG_SEC_NAT_RULES, what + " rules")
            }
        }
        for (i, r) in view.records(XPF_CFG_SEC_NAT_RULES, as: xpf_cfg_nat_rule.self).enumerated() {
            let what = "NAT rule \(i)"
            try string(r.name, what)
            switch UInt32(r.action) {
            case XPF_NAT_OFF.rawValue, XPF_NAT_INTERFACE.rawValue:
                guard r.target == XPF_CFG_NONE else { throw fail(what + ": target without a pool") }
            case XPF_NAT_SOURCE_POOL.rawValue: try index(r.target, XPF_CFG_SEC_SNAT_POOLS, what + " pool")
            case XPF_NAT_DESTINATION_POOL.rawValue: try index(r.target, XPF_CFG_SEC_DNAT_POOLS, what + " pool")
            case XPF_NAT_STATIC_PREFIX.rawValue: try index(r.target, XPF_CFG_SEC_PREFIXES, what + " prefix")
            default: throw fail(what + ": action \(r.action)")
            }
            for p in [r.src_addr, r.dst_addr] { try range(p, XPF_CFG_SEC_PREFIXES, what + " addresses") }
            for p in [r.src_port, r.dst_port] { try range(p, XPF_CFG_SEC_PORT_RANGES, what + " ports") }
            try index(r.protocols, XPF_CFG_SEC_SETS, what + " protocols", optional: true)
        }
        for (i, m) in view.mirrors.enumerated() {
            try string(m.name, "mirror \(i)", optional: true)
            try indexList(m.ingress, XPF_CFG_SEC_IFACES, "mirror \(i) ingress")
            try range(m.outputs, XPF_CFG_SEC_MIRROR_OUTPUTS, "mirror \(i) outputs")
        }
        let dataplane = view.head.pointee.n_dataplane_ifaces
        for (i, o) in view.records(XPF_CFG_SEC_MIRROR_OUTPUTS, as: xpf_cfg_mirror_output.self).enumerated() {
            try string(o.iface_name, "mirror output \(i)")
            guard o.slot == XPF_CFG_NONE || o.slot < dataplane else { throw fail("mirror output \(i): slot \(o.slot)") }
            try family(o.family, "mirror output \(i)")
        }
    }
}
