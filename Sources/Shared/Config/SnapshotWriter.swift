// From a `ConfigModel` to the shared-memory configuration snapshot (issue 3): the fixed
// head of `struct xpf_config_snapshot` plus the sections of xpf_config_abi.h.
//
// Encoding happens in private memory first (`ConfigSnapshotImage`): the image is sized,
// checked against the slot capacity and validated with the same `ConfigSnapshotView.
// validate()` a worker runs, and only then copied into a free slot and published. So a
// configuration that does not fit (or that the encoder got wrong) fails the commit and
// never replaces the running one; `commit check` runs the same encoding.
//
// Decisions recorded here:
// - Lists (prefixes, ports, index lists, sets, address ranges) are deduplicated: a list
//   already emitted with the same bytes is referred to again (e.g. every `any` policy
//   shares one [0.0.0.0/0, ::/0]). Readers never see the difference.
// - TCP-flag expressions become a 256-bit truth table over the flags byte (a SETS
//   record): exact for every expression and one bit test per packet, where a DNF list of
//   (mask, value) pairs would need a loop and a minimiser.
// - Protocol, DSCP and ICMP type/code lists become sets: order and duplicates in the
//   configuration do not change what matches.
// - Policer rates are bits per second in the model and bytes per second here (divided
//   by 8, rounded down).
// - Interface addresses keep their host bits (the address itself is the point); every
//   other prefix has them cleared, as the model already does.
// - `lo0` (if configured) is the loopback interface whose input filter guards host-bound
//   traffic (R-6.2): snapshot.loopback_iface.
import CXPF

/// A compiled configuration that cannot become a snapshot (too large for a slot, or an
/// internal inconsistency), or a snapshot that fails validation.
public struct ConfigSnapshotError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Writes a compiled configuration into a config slot.
public enum ConfigSnapshotWriter {
    /// Encodes `model` and writes it at `into` (a slot of `capacity` bytes): the head
    /// fields (batch size, timeouts, neighbour hold, commit time, …) and every section.
    /// Throws without touching `into` when the snapshot needs more than `capacity` bytes.
    /// Returns the bytes used. The generation is left to `ShmRegion.publishConfig`.
    @discardableResult
    public static func write(_ model: ConfigModel, into snapshot: UnsafeMutablePointer<xpf_config_snapshot>,
                             capacity: Int) throws -> Int
    {
        let image = try ConfigSnapshotImage(model, capacity: capacity)
        image.copy(into: snapshot, capacity: capacity)
        return image.size
    }
}

/// A snapshot encoded in private (8-byte aligned) memory, validated, ready to be copied
/// into a slot. Owns its buffer.
public final class ConfigSnapshotImage {
    public let bytes: UnsafeMutableRawPointer
    /// Bytes used: head + sections.
    public let size: Int

    /// Encodes and validates. Throws "compiled configuration needs N bytes, a snapshot
    /// slot holds M" when the result exceeds `capacity`.
    public init(_ model: ConfigModel, capacity: Int = ShmGeometry.configSlotSize) throws {
        var encoder = SnapshotEncoder(model: model)
        try encoder.encode()
        let layout = encoder.layout()
        guard layout.total <= capacity else {
            throw ConfigSnapshotError("compiled configuration needs \(layout.total) bytes, a snapshot slot holds \(capacity)")
        }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(layout.total, 8), alignment: 8)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: layout.total)
        encoder.emit(into: buffer, layout: layout)
        // The writer's output must be what a worker accepts; anything else is a bug here,
        // and refusing the commit beats workers refusing the generation.
        do {
            try ConfigSnapshotView(raw: UnsafeRawPointer(buffer), capacity: layout.total).validate()
        } catch {
            buffer.deallocate()
            throw ConfigSnapshotError("internal error: the encoded configuration snapshot is invalid: \(error)")
        }
        bytes = buffer
        size = layout.total
    }

    deinit { bytes.deallocate() }

    /// Runs `body` with a read-only view of the image (tools, tests). The view does not
    /// own the memory: it is valid inside `body` only, while the image is kept alive.
    public func withView<R>(_ body: (ConfigSnapshotView) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(ConfigSnapshotView(raw: UnsafeRawPointer(bytes), capacity: size)) }
    }

    /// Copies the image to `snapshot` and stamps the commit time. The caller owns the
    /// slot (a free one, inside `ShmRegion.publishConfig`); `capacity` is its size.
    public func copy(into snapshot: UnsafeMutablePointer<xpf_config_snapshot>, capacity: Int,
                     commitTime: UInt64 = realtimeNanos())
    {
        precondition(size <= capacity, "snapshot image larger than its slot")
        UnsafeMutableRawPointer(snapshot).copyMemory(from: bytes, byteCount: size)
        snapshot.pointee.commit_realtime_ns = commitTime
    }
}

extension ShmRegion {
    /// Publishes an encoded configuration as the next generation: copied into a free
    /// slot (zeroed first) and released through config_current. Returns the generation.
    /// `samePolicies`: see `publishConfig(samePolicies:_:)` (the policy epoch).
    @discardableResult
    public func publishConfig(_ image: ConfigSnapshotImage, samePolicies: Bool = false) throws -> UInt64 {
        let capacity = Int(header.pointee.config_slot_size)
        guard image.size <= capacity else {
            throw ConfigSnapshotError("compiled configuration needs \(image.size) bytes, a snapshot slot holds \(capacity)")
        }
        return try publishConfig(samePolicies: samePolicies) { image.copy(into: $0, capacity: capacity) }
    }

    /// A view of the snapshot in config slot `slot`: validate it before use; valid while
    /// this region stays mapped.
    public func configView(slot: Int) -> ConfigSnapshotView {
        ConfigSnapshotView(UnsafePointer(configSlot(slot)), capacity: Int(header.pointee.config_slot_size))
    }
}

// MARK: - Encoder

/// Records of one section under construction, with list deduplication.
struct SectionBuilder<Record> {
    var records: [Record] = []
    private var lists: [[UInt8]: UInt32] = [:]

    var count: UInt32 { UInt32(records.count) }

    mutating func append(_ r: Record) -> UInt32 {
        records.append(r)
        return UInt32(records.count - 1)
    }

    /// Appends `rs` as one list, or refers to an identical list emitted before.
    mutating func list(_ rs: [Record]) -> xpf_cfg_range {
        if rs.isEmpty { return xpf_cfg_range(first: 0, count: 0) }
        let key = rs.withUnsafeBytes { Array($0) }
        if let first = lists[key] { return xpf_cfg_range(first: first, count: UInt32(rs.count)) }
        let first = UInt32(records.count)
        records += rs
        lists[key] = first
        return xpf_cfg_range(first: first, count: UInt32(rs.count))
    }

    /// One record, deduplicated like a list of one.
    mutating func shared(_ r: Record) -> UInt32 { list([r]).first }
}

struct SnapshotEncoder {
    typealias M = ConfigModel
    static let none = XPF_CFG_NONE

    let model: ConfigModel
    var head = xpf_config_snapshot()

    var strings: [UInt8] = [0]
    var stringOffsets: [String: UInt32] = ["": 0]
    var indices = SectionBuilder<UInt32>()
    var prefixes = SectionBuilder<xpf_cfg_prefix>()
    var portRanges = SectionBuilder<xpf_cfg_port_range>()
    var sets = SectionBuilder<xpf_cfg_set>()
    var addrRanges = SectionBuilder<xpf_cfg_addr_range>()
    var ifaces: [xpf_cfg_iface] = []
    var zones: [xpf_cfg_zone] = []
    var applications: [xpf_cfg_application] = []
    var appTerms: [xpf_cfg_app_term] = []
    var policies: [xpf_cfg_policy] = []
    var zonePairs: [xpf_cfg_range] = []
    var filters: [xpf_cfg_filter] = []
    var terms: [xpf_cfg_term] = []
    var counters: [xpf_cfg_counter] = []
    var counterIndex: [CounterKey: UInt32] = [:]
    var policers: [xpf_cfg_policer] = []
    var tcPolicers: [xpf_cfg_tc_policer] = []
    var policerInstances: [xpf_cfg_policer_instance] = []
    var screens: [xpf_cfg_screen] = []
    var snatPools: [xpf_cfg_snat_pool] = []
    var dnatPools: [xpf_cfg_dnat_pool] = []
    var ruleSets: [[xpf_cfg_nat_rule_set]] = [[], [], []]  // source, destination, static
    var natRules: [xpf_cfg_nat_rule] = []
    var mirrors: [xpf_cfg_mirror] = []
    var mirrorOutputs: [xpf_cfg_mirror_output] = []
    var policyClassifier = PolicyClassifierSections()

    struct CounterKey: Hashable {
        var filter: Int
        var name: String
    }

    init(model: ConfigModel) { self.model = model }

    // MARK: Values

    static func u32(_ v: Int?) -> UInt32 { v.map { UInt32(truncatingIfNeeded: $0) } ?? none }

    mutating func string(_ s: String) -> UInt32 {
        if let off = stringOffsets[s] { return off }
        let off = UInt32(strings.count)
        strings += s.utf8
        strings.append(0)
        stringOffsets[s] = off
        return off
    }

    mutating func string(_ s: String?) -> UInt32 { s.map { string($0) } ?? Self.none }

    /// A forwarding class as the dataplane compares it: its string, but NONE for
    /// best-effort, the class of a packet nothing classified.
    mutating func forwardingClass(_ name: String) -> UInt32 {
        name == M.FilterMatch.defaultForwardingClass ? Self.none : string(name)
    }

    static func family(_ f: M.Family) -> UInt8 { f == .inet ? 4 : 6 }

    /// An address into a 16-byte field: network byte order, IPv4 in the first 4 bytes.
    static func store<T>(_ a: M.IPAddress, into field: inout T) {
        let b = a.bytes
        withUnsafeMutableBytes(of: &field) { raw in
            precondition(raw.count == 16)
            for i in 0..<16 { raw[i] = i < b.count ? b[i] : 0 }
        }
    }

    static func prefixRecord(_ address: M.IPAddress, length: Int, except: Bool = false) -> xpf_cfg_prefix {
        var r = xpf_cfg_prefix()
        r.family = family(address.family)
        r.length = UInt8(length)
        r.flags = except ? UInt8(XPF_CFG_PREFIX_EXCEPT.rawValue) : 0
        store(address, into: &r.addr)
        return r
    }

    mutating func prefixList(_ ps: [M.Prefix]) -> xpf_cfg_range {
        prefixes.list(ps.map { Self.prefixRecord($0.address, length: $0.length) })
    }

    mutating func prefixMatches(_ ps: [M.PrefixMatch]?) -> xpf_cfg_range {
        prefixes.list((ps ?? []).map { Self.prefixRecord($0.prefix.address, length: $0.prefix.length, except: $0.except) })
    }

    mutating func ports(_ rs: [ClosedRange<UInt16>]?) -> xpf_cfg_range {
        portRanges.list((rs ?? []).map { xpf_cfg_port_range(low: $0.lowerBound, high: $0.upperBound) })
    }

    mutating func indexList(_ xs: [Int]) -> xpf_cfg_range { indices.list(xs.map { UInt32($0) }) }

    static func setRecord(_ contains: (UInt8) -> Bool) -> xpf_cfg_set {
        var r = xpf_cfg_set()
        withUnsafeMutableBytes(of: &r.bits) { raw in
            for v in 0..<256 where contains(UInt8(v)) {
                let word = raw.load(fromByteOffset: (v >> 6) * 8, as: UInt64.self) | 1 << UInt64(v & 63)
                raw.storeBytes(of: word, toByteOffset: (v >> 6) * 8, as: UInt64.self)
            }
        }
        return r
    }

    /// A set of byte values, or NONE for no condition.
    mutating func set(_ values: [UInt8]?) -> UInt32 {
        guard let values else { return Self.none }
        let members = Set(values)
        return sets.shared(Self.setRecord { members.contains($0) })
    }

    static func addrRange(_ r: M.AddressRange) -> xpf_cfg_addr_range {
        var a = xpf_cfg_addr_range()
        a.family = family(r.family)
        store(r.low, into: &a.low)
        store(r.high, into: &a.high)
        return a
    }

    static func bitmap<E: CaseIterable & Equatable>(_ members: [E]) -> UInt32 {
        var bits: UInt32 = 0
        for (n, e) in E.allCases.enumerated() where members.contains(e) { bits |= 1 << UInt32(n) }
        return bits
    }

    static func lossPriority(_ lp: M.LossPriority?) -> UInt8 {
        guard let lp else { return UInt8(XPF_LP_NONE.rawValue) }
        return UInt8(M.LossPriority.allCases.firstIndex(of: lp)! + 1)
    }

    static func policyAction(_ a: M.PolicyAction) -> UInt8 {
        switch a {
        case .permit: return UInt8(XPF_POLICY_PERMIT.rawValue)
        case .deny: return UInt8(XPF_POLICY_DENY.rawValue)
        case .reject: return UInt8(XPF_POLICY_REJECT.rawValue)
        }
    }

    // MARK: Sections

    mutating func encode() throws {
        encodeHead()
        encodeInterfacesAndZones()
        encodeApplications()
        try encodePolicies()
        encodePolicyClassifier()
        try encodeFilters()
        encodePolicersAndScreens()
        encodeNAT()
        encodeMirroring()
    }

    mutating func encodeHead() {
        let dp = model.dataplane
        head.batch_size = UInt32(dp.batchSize)
        head.timeout_tcp_initial = UInt32(dp.timeouts.tcpInitial)
        head.timeout_tcp_established = UInt32(dp.timeouts.tcpEstablished)
        head.timeout_tcp_closing = UInt32(dp.timeouts.tcpClosing)
        head.timeout_udp = UInt32(dp.timeouts.udp)
        head.timeout_icmp = UInt32(dp.timeouts.icmp)
        head.timeout_other = UInt32(dp.timeouts.other)
        head.neigh_hold_ms = UInt32(dp.neighborHoldMs)
        var flags: UInt32 = 0
        if dp.busyPoll { flags |= XPF_CFG_F_BUSY_POLL.rawValue }
        switch model.flow.synFloodProtectionMode {
        case .synCookie?: flags |= XPF_CFG_F_SYN_COOKIE.rawValue
        case .synProxy?: flags |= XPF_CFG_F_SYN_PROXY.rawValue
        case nil: break
        }
        if model.flow.noSynCheck { flags |= XPF_CFG_F_NO_SYN_CHECK.rawValue }
        if model.flow.noSequenceCheck { flags |= XPF_CFG_F_NO_SEQUENCE_CHECK.rawValue }
        head.flags = flags
        head.n_sections = UInt32(XPF_CFG_SEC_COUNT.rawValue)
        head.default_policy = model.policies.defaultPolicy == .permitAll ? XPF_POLICY_PERMIT.rawValue
            : XPF_POLICY_DENY.rawValue
        head.n_dataplane_ifaces = UInt32(model.interfaces.prefix { $0.isDataplane }.count)
        head.loopback_iface = Self.u32(model.interfaceIndex(ConfigModel.loopbackName))
        head.event_rate_cap = model.securityLog.rateCap.map { UInt32($0) } ?? XPF_EVENT_RATE_UNCAPPED
        // policy_epoch and policy_bank: stamped when published (ShmRegion.publishConfig).
    }

    mutating func encodeInterfacesAndZones() {
        for (i, interface) in model.interfaces.enumerated() {
            var r = xpf_cfg_iface()
            r.name = string(interface.name)
            r.flags = interface.isDataplane ? XPF_CFG_IF_DATAPLANE.rawValue : 0
            r.mirror = Self.none
            // The attachments: encodeFilters (which runs later) points them at their records.
            (r.filter_in4, r.filter_out4, r.filter_in6, r.filter_out6) = (Self.none, Self.none, Self.none, Self.none)
            r.zone = Self.none
            if let z = model.zoneIndex(ofInterface: i) {
                let zone = model.zones[z]
                r.zone = UInt32(z)
                let hostInbound = zone.hostInbound(forInterface: i)
                r.host_services = Self.bitmap(hostInbound.systemServices)
                r.host_protocols = Self.bitmap(hostInbound.protocols)
                if zone.interfaceHostInbound[i] != nil { r.flags |= XPF_CFG_IF_OWN_HOST_INBOUND.rawValue }
            }
            r.addrs4 = prefixes.list(interface.inetAddresses.map { Self.prefixRecord($0.address, length: $0.prefixLength) })
            r.addrs6 = prefixes.list(interface.inet6Addresses.map { Self.prefixRecord($0.address, length: $0.prefixLength) })
            ifaces.append(r)
        }
        for zone in model.zones {
            var r = xpf_cfg_zone()
            r.name = string(zone.name)
            r.screen = Self.u32(zone.screen)
            r.host_services = Self.bitmap(zone.hostInbound.systemServices)
            r.host_protocols = Self.bitmap(zone.hostInbound.protocols)
            r.ifaces = indexList(zone.interfaces)
            zones.append(r)
        }
    }

    mutating func encodeApplications() {
        for (a, app) in model.applications.enumerated() {
            var r = xpf_cfg_application()
            r.name = string(app.name)
            r.flags = app.isPredefined ? XPF_CFG_APP_PREDEFINED.rawValue : 0
            r.terms = xpf_cfg_range(first: UInt32(appTerms.count), count: UInt32(app.terms.count))
            for term in app.terms {
                var t = xpf_cfg_app_term()
                t.application = UInt32(a)
                t.name = string(term.name)
                var flags: UInt32 = 0
                if let proto = term.ipProtocol { t.proto = proto } else { flags |= XPF_CFG_AT_ANY_PROTO.rawValue }
                if let type = term.icmpType { t.icmp_type = type; flags |= XPF_CFG_AT_ICMP_TYPE.rawValue }
                if let code = term.icmpCode { t.icmp_code = code; flags |= XPF_CFG_AT_ICMP_CODE.rawValue }
                t.flags = UInt8(flags)
                t.sport_low = term.sourcePorts.lowerBound
                t.sport_high = term.sourcePorts.upperBound
                t.dport_low = term.destinationPorts.lowerBound
                t.dport_high = term.destinationPorts.upperBound
                t.timeout = UInt32(term.inactivityTimeout ?? 0)
                appTerms.append(t)
            }
            applications.append(r)
        }
    }

    mutating func encodePolicies() throws {
        let all = model.policies.all
        // A session records its policy id in 16 bits (xpf_session.policy); the last
        // value means the default policy.
        guard all.count < Int(XPF_MAX_POLICIES) else {
            throw ConfigSnapshotError("\(all.count) security policies; xpf holds at most \(Int(XPF_MAX_POLICIES) - 1)")
        }
        for (i, p) in all.enumerated() where p.id != i {
            throw ConfigSnapshotError("internal error: policy '\(p.name)' has id \(p.id) at position \(i)")
        }
        let n = model.zones.count
        zonePairs = Array(repeating: xpf_cfg_range(first: 0, count: 0), count: n * n)
        var assigned = Set<Int>()
        for pair in model.policies.zonePairs {
            let first = UInt32(policies.count)
            for p in pair.policies { policies.append(policyRecord(p, from: pair.fromZone, to: pair.toZone)) }
            // Like ConfigModel.Policies.evaluationOrder: the first context of a pair counts.
            if assigned.insert(pair.fromZone * n + pair.toZone).inserted {
                zonePairs[pair.fromZone * n + pair.toZone] = xpf_cfg_range(first: first, count: UInt32(pair.policies.count))
            }
        }
        head.global_policies = xpf_cfg_range(first: UInt32(policies.count), count: UInt32(model.policies.global.count))
        for p in model.policies.global { policies.append(policyRecord(p, from: nil, to: nil)) }
    }

    mutating func policyRecord(_ p: M.Policy, from: Int?, to: Int?) -> xpf_cfg_policy {
        var r = xpf_cfg_policy()
        r.name = string(p.name)
        r.action = Self.policyAction(p.action)
        var flags: UInt32 = 0
        if p.logSessionInit { flags |= XPF_CFG_POL_LOG_INIT.rawValue }
        if p.logSessionClose { flags |= XPF_CFG_POL_LOG_CLOSE.rawValue }
        if p.count { flags |= XPF_CFG_POL_COUNT.rawValue }
        if p.applications.contains(where: { a in model.applications[a].terms.contains { $0.inactivityTimeout != nil } }) {
            flags |= XPF_CFG_POL_APP_TIMEOUT.rawValue
        }
        r.from_zone = Self.u32(from)
        r.to_zone = Self.u32(to)
        if from == nil {
            flags |= XPF_CFG_POL_GLOBAL.rawValue
            if let zones = p.fromZones { r.from_zones = indexList(zones) } else { flags |= XPF_CFG_POL_ANY_FROM.rawValue }
            if let zones = p.toZones { r.to_zones = indexList(zones) } else { flags |= XPF_CFG_POL_ANY_TO.rawValue }
        }
        r.flags = UInt8(flags)
        r.src = prefixList(p.sourceAddresses)
        r.dst = prefixList(p.destinationAddresses)
        var termIndices: [Int] = []
        for a in p.applications {
            let range = applications[a].terms
            termIndices += (Int(range.first)..<Int(range.first + range.count))
        }
        r.app_terms = indexList(termIndices)
        return r
    }

    /// One FILTERS record: model filter `filter`, or one attachment's copy of it when the
    /// filter is interface-specific (`copy`: the interface unit's name and direction).
    struct FilterRecordPlan {
        var filter: Int
        var copy: (interface: Int, output: Bool)?
    }

    /// An interface-specific filter's attachment: (interface, family, output, model filter).
    struct FilterCopyKey: Hashable {
        var interface: Int
        var family: M.Family
        var output: Bool
        var filter: Int
    }

    /// The FILTERS records: every filter once, but an interface-specific one once per
    /// attachment instead (named `F-IFL-i` / `-o`, with its own counters and policer
    /// instances, as on Junos; one attached nowhere has no record); then one record per
    /// distinct `input-list` / `output-list` of two or more filters (XPF_CFG_FILTER_LIST,
    /// its members the records above). Then the interfaces' attachments are pointed at
    /// their records.
    /// The FILTERS records `model` encodes its filters to, in record order — every filter
    /// once, then an interface-specific one once per attachment (interfaces in order, inet
    /// before inet6, input before output) — with the record of each plain filter and of each
    /// copy. Lists come after these (encodeFilters). Event names follow the same plan
    /// (`FilterRecordNames`).
    static func filterPlans(_ model: M) -> (plans: [FilterRecordPlan], shared: [Int: Int], copies: [FilterCopyKey: Int]) {
        var plans: [FilterRecordPlan] = []
        var shared: [Int: Int] = [:]  // model filter → its record (not interface-specific)
        for (f, filter) in model.filters.enumerated() where !filter.interfaceSpecific {
            shared[f] = plans.count
            plans.append(FilterRecordPlan(filter: f))
        }
        var copies: [FilterCopyKey: Int] = [:]  // → the copy's record
        for (i, interface) in model.interfaces.enumerated() {
            for family in [M.Family.inet, .inet6] {
                for output in [false, true] {
                    for f in attached(interface, output, family) where model.filters[f].interfaceSpecific {
                        copies[FilterCopyKey(interface: i, family: family, output: output, filter: f)] = plans.count
                        plans.append(FilterRecordPlan(filter: f, copy: (i, output)))
                    }
                }
            }
        }
        return (plans, shared, copies)
    }

    static func attached(_ interface: M.Interface, _ output: Bool, _ family: M.Family) -> [Int] {
        output ? interface.outputFilters(family) : interface.inputFilters(family)
    }

    /// An interface-specific copy's suffix on its name and its counters' (Junos's naming).
    static func copySuffix(_ model: M, _ plan: FilterRecordPlan) -> String {
        plan.copy.map { "-\(model.interfaces[$0.interface].name).0-\($0.output ? "o" : "i")" } ?? ""
    }

    mutating func encodeFilters() throws {
        let (plans, shared, copies) = Self.filterPlans(model)
        func attached(_ interface: M.Interface, _ output: Bool, _ family: M.Family) -> [Int] {
            Self.attached(interface, output, family)
        }
        // Term, counter and policer instance indices are rows of every worker's counters
        // (xpf_filter_hits).
        let termCount = plans.reduce(0) { $0 + model.filters[$1.filter].terms.count }
        guard termCount <= Int(XPF_MAX_FILTER_TERMS) else {
            throw ConfigSnapshotError("\(termCount) firewall filter terms; xpf holds at most \(XPF_MAX_FILTER_TERMS)")
        }
        var recordNames: [String] = []
        for (record, plan) in plans.enumerated() {
            let filter = model.filters[plan.filter]
            let suffix = Self.copySuffix(model, plan)
            var r = xpf_cfg_filter()
            recordNames.append(filter.name + suffix)
            r.name = string(filter.name + suffix)
            r.family = Self.family(filter.family)
            if plan.copy != nil { r.flags |= UInt8(XPF_CFG_FILTER_INTERFACE_SPECIFIC.rawValue) }
            r.terms = xpf_cfg_range(first: UInt32(terms.count), count: UInt32(filter.terms.count))
            var filterSpecific: [PolicerKey: UInt32] = [:]
            let firstInstance = policerInstances.count
            for term in filter.terms {
                var t = termRecord(term, filter: record, counterSuffix: suffix)
                t.policer_instance = policerInstance(term, record: record, suffix: suffix, shared: &filterSpecific)
                // A `next term` chain applies several terms, which the session-hit memo (one
                // term per entry) cannot replay: such a filter is evaluated on every packet.
                if t.match & XPF_TM_PER_PACKET.rawValue != 0 || t.terminal == UInt8(XPF_TERM_NEXT.rawValue) {
                    r.flags |= UInt8(XPF_CFG_FILTER_PER_PACKET.rawValue)
                }
                terms.append(t)
            }
            filters.append(r)
            // Junos's names can collide (filter-specific `p-udp` and policer `p` of term
            // `udp`); their counts would merge in show firewall and /metrics.
            var names = Set<UInt32>()  // string offsets: one per distinct string
            for instance in policerInstances[firstInstance...] where !names.insert(instance.name).inserted {
                let name = stringOffsets.first { $0.value == instance.name }?.key ?? "?"
                throw ConfigSnapshotError("firewall filter \(filter.name + suffix): two policer instances are named "
                    + "'\(name)'; rename a policer or a term")
            }
        }
        guard counters.count <= Int(XPF_MAX_FILTER_COUNTERS) else {
            throw ConfigSnapshotError("\(counters.count) firewall filter counters; xpf holds at most \(XPF_MAX_FILTER_COUNTERS)")
        }
        guard policerInstances.count <= Int(XPF_MAX_POLICER_INSTANCES) else {
            throw ConfigSnapshotError("\(policerInstances.count) policer instances (one per term naming a policer, one per "
                + "filter for a filter-specific one); xpf holds at most \(XPF_MAX_POLICER_INSTANCES)")
        }
        var lists: [[Int]: Int] = [:]  // members' records → the list's record
        for (i, interface) in model.interfaces.enumerated() {
            func record(_ family: M.Family, _ output: Bool) -> UInt32 {
                let members = attached(interface, output, family).map {
                    shared[$0] ?? copies[FilterCopyKey(interface: i, family: family, output: output, filter: $0)]!
                }
                guard let first = members.first else { return Self.none }
                if members.count == 1 { return UInt32(first) }
                if let list = lists[members] { return UInt32(list) }
                lists[members] = filters.count
                var r = xpf_cfg_filter()
                r.name = string(members.map { recordNames[$0] }.joined(separator: "+"))
                r.family = Self.family(family)
                r.flags = UInt8(XPF_CFG_FILTER_LIST.rawValue)
                    | members.reduce(0) { $0 | filters[$1].flags & UInt8(XPF_CFG_FILTER_PER_PACKET.rawValue) }
                r.terms = xpf_cfg_range(first: 0, count: 0)
                r.members = indexList(members)
                filters.append(r)
                return UInt32(filters.count - 1)
            }
            ifaces[i].filter_in4 = record(.inet, false)
            ifaces[i].filter_out4 = record(.inet, true)
            ifaces[i].filter_in6 = record(.inet6, false)
            ifaces[i].filter_out6 = record(.inet6, true)
        }
    }

    /// A policer a term names: two-color (POLICERS) or three-color (TC_POLICERS) index.
    struct PolicerKey: Hashable {
        var threeColor: Bool
        var index: Int
    }

    /// The POLICER_INSTANCES index of the policer `term` names in FILTERS record `record`
    /// (NONE: it names none): the record's shared instance for a filter-specific policer,
    /// else the term's own — named `P` or `P-T` (plus an interface-specific copy's suffix).
    mutating func policerInstance(_ term: M.FilterTerm, record: Int, suffix: String, shared: inout [PolicerKey: UInt32])
        -> UInt32
    {
        let key: PolicerKey
        let name: String, filterSpecific: Bool
        if let p = term.action.policer {
            key = PolicerKey(threeColor: false, index: p)
            (name, filterSpecific) = (model.policers[p].name, model.policers[p].filterSpecific)
        } else if let p = term.action.threeColorPolicer {
            key = PolicerKey(threeColor: true, index: p)
            (name, filterSpecific) = (model.threeColorPolicers[p].name, model.threeColorPolicers[p].filterSpecific)
        } else {
            return Self.none
        }
        if filterSpecific, let instance = shared[key] { return instance }
        let instance = UInt32(policerInstances.count)
        policerInstances.append(xpf_cfg_policer_instance(
            name: string((filterSpecific ? name : name + "-" + term.name) + suffix), filter: UInt32(record),
            policer: UInt32(key.index), flags: key.threeColor ? XPF_CFG_PI_THREE_COLOR.rawValue : 0))
        if filterSpecific { shared[key] = instance }
        return instance
    }

    /// Term `term` of FILTERS record `filter`; its `count` names the counter `name + counterSuffix`.
    mutating func termRecord(_ term: M.FilterTerm, filter: Int, counterSuffix: String) -> xpf_cfg_term {
        var t = xpf_cfg_term()
        let m = term.match
        t.name = string(term.name)
        t.filter = UInt32(filter)
        var match: UInt32 = 0
        func flag(_ present: Bool, _ bit: xpf_term_match) { if present { match |= bit.rawValue } }
        flag(m.sourceAddresses != nil, XPF_TM_SRC_ADDR)
        flag(m.destinationAddresses != nil, XPF_TM_DST_ADDR)
        flag(m.addresses != nil, XPF_TM_ADDR)
        flag(m.protocols != nil, XPF_TM_PROTO)
        flag(m.sourcePorts != nil, XPF_TM_SRC_PORT)
        flag(m.destinationPorts != nil, XPF_TM_DST_PORT)
        flag(m.ports != nil, XPF_TM_PORT)
        flag(m.dscp != nil, XPF_TM_DSCP)
        flag(m.icmpTypes != nil, XPF_TM_ICMP_TYPE)
        flag(m.icmpCodes != nil, XPF_TM_ICMP_CODE)
        flag(m.tcpFlags != nil, XPF_TM_TCP_FLAGS)
        flag(m.isFragment, XPF_TM_IS_FRAGMENT)
        flag(m.firstFragment, XPF_TM_FIRST_FRAGMENT)
        flag(m.lossPriorities != nil, XPF_TM_LOSS_PRIORITY)
        flag(m.forwardingClasses != nil, XPF_TM_FORWARDING_CLASS)
        flag(m.packetLengths != nil, XPF_TM_PACKET_LENGTH)
        flag(m.usesPerPacketFields, XPF_TM_PER_PACKET)
        t.match = match
        t.src_addr = prefixMatches(m.sourceAddresses)
        t.dst_addr = prefixMatches(m.destinationAddresses)
        t.addr = prefixMatches(m.addresses)
        t.src_port = ports(m.sourcePorts)
        t.dst_port = ports(m.destinationPorts)
        t.port = ports(m.ports)
        t.packet_length = ports(m.packetLengths)
        t.protocols = set(m.protocols)
        t.icmp_types = set(m.icmpTypes)
        t.icmp_codes = set(m.icmpCodes)
        t.tcp_flags = m.tcpFlags.map { flags in sets.shared(Self.setRecord { flags.matches($0) }) } ?? Self.none
        for code in m.dscp ?? [] { t.dscp |= 1 << UInt64(code & 63) }
        for lp in m.lossPriorities ?? [] { t.loss_priorities |= 1 << Self.lossPriority(lp) }
        // Classes as string offsets (the strings are stored once, so equal names have equal
        // offsets); best-effort, a packet's class until something sets one, as NONE.
        t.forwarding_classes = indices.list((m.forwardingClasses ?? []).map { forwardingClass($0) })

        let a = term.action
        switch a.terminal {
        case .accept: t.terminal = UInt8(XPF_TERM_ACCEPT.rawValue)
        case .discard: t.terminal = UInt8(XPF_TERM_DISCARD.rawValue)
        case .reject(let reason):
            t.terminal = UInt8(XPF_TERM_REJECT.rawValue)
            t.reject_reason = UInt8(M.RejectReason.allCases.firstIndex(of: reason)!)
        case .nextTerm: t.terminal = UInt8(XPF_TERM_NEXT.rawValue)
        }
        var action: UInt32 = 0
        if a.log { action |= XPF_TA_LOG.rawValue }
        if a.syslog { action |= XPF_TA_SYSLOG.rawValue }
        if let dscp = a.dscp { action |= XPF_TA_DSCP.rawValue; t.dscp_rewrite = dscp }
        if a.policer != nil || a.threeColorPolicer != nil { action |= XPF_TA_POLICE.rawValue }
        if a.lossPriority != nil { action |= XPF_TA_LOSS_PRIORITY.rawValue }
        if a.forwardingClass != nil { action |= XPF_TA_FORWARDING_CLASS.rawValue }
        t.action = UInt8(action)
        t.loss_priority = Self.lossPriority(a.lossPriority)
        t.counter = Self.none
        if let name = a.count {
            let key = CounterKey(filter: filter, name: name)
            if let c = counterIndex[key] {
                t.counter = c
            } else {
                t.counter = UInt32(counters.count)
                counterIndex[key] = t.counter
                counters.append(xpf_cfg_counter(name: string(name + counterSuffix), filter: UInt32(filter)))
            }
        }
        t.policer = Self.u32(a.policer)
        t.tc_policer = Self.u32(a.threeColorPolicer)
        t.forwarding_class = a.forwardingClass.map { forwardingClass($0) } ?? Self.none
        return t
    }

    mutating func encodePolicersAndScreens() {
        for p in model.policers {
            var r = xpf_cfg_policer()
            r.name = string(p.name)
            r.rate = p.bandwidthLimit / 8
            r.burst = p.burstSizeLimit
            r.cost = Policing.cost(bytesPerSecond: r.rate)
            r.depth = Policing.depth(bytes: r.burst, cost: r.cost)
            r.flags = p.discard ? UInt8(XPF_CFG_POLICER_DISCARD.rawValue) : 0
            if p.filterSpecific { r.flags |= UInt8(XPF_CFG_POLICER_FILTER_SPECIFIC.rawValue) }
            r.loss_priority = Self.lossPriority(p.lossPriority)
            r.forwarding_class = p.forwardingClass.map { forwardingClass($0) } ?? Self.none
            if p.forwardingClass != nil { r.flags |= UInt8(XPF_CFG_POLICER_FORWARDING_CLASS.rawValue) }
            policers.append(r)
        }
        for p in model.threeColorPolicers {
            var r = xpf_cfg_tc_policer()
            r.name = string(p.name)
            var flags: UInt32 = 0
            switch p.rates {
            case let .singleRate(cir, cbs, ebs):
                r.cir = cir / 8
                r.cbs = cbs
                r.ebs = ebs
            case let .twoRate(cir, cbs, pir, pbs):
                flags |= XPF_CFG_TCP_TWO_RATE.rawValue
                r.cir = cir / 8
                r.cbs = cbs
                r.pir = pir / 8
                r.pbs = pbs
            }
            r.c_cost = Policing.cost(bytesPerSecond: r.cir)
            r.c_depth = Policing.depth(bytes: r.cbs, cost: r.c_cost)
            if flags & XPF_CFG_TCP_TWO_RATE.rawValue != 0 {
                r.p_cost = Policing.cost(bytesPerSecond: r.pir)
                r.x_depth = Policing.depth(bytes: r.pbs, cost: r.p_cost)
            } else {
                r.p_cost = r.c_cost
                r.x_depth = Policing.depth(bytes: r.ebs, cost: r.c_cost)
            }
            if p.colorAware { flags |= XPF_CFG_TCP_COLOR_AWARE.rawValue }
            if p.discardHighLossPriority { flags |= XPF_CFG_TCP_DISCARD_RED.rawValue }
            if p.filterSpecific { flags |= XPF_CFG_TCP_FILTER_SPECIFIC.rawValue }
            r.flags = flags
            tcPolicers.append(r)
        }
        for s in model.screens {
            var r = xpf_cfg_screen()
            r.name = string(s.name)
            r.checks = s.checkBits
            r.flags = s.alarmWithoutDrop ? XPF_CFG_SCREEN_ALARM_WITHOUT_DROP.rawValue : 0
            r.icmp_flood_pps = UInt32(s.icmpFloodThreshold)
            r.udp_flood_pps = UInt32(s.udpFloodThreshold)
            r.syn_attack_pps = UInt32(s.synFlood.attackThreshold)
            r.syn_alarm_pps = UInt32(s.synFlood.alarmThreshold)
            r.syn_source_pps = UInt32(s.synFlood.sourceThreshold)
            r.syn_destination_pps = UInt32(s.synFlood.destinationThreshold)
            r.syn_timeout_s = UInt32(s.synFlood.timeout)
            r.port_scan_window_us = UInt32(s.portScanThreshold)
            r.port_scan_pps = UInt32(s.portScanPerSecond)
            r.ip_sweep_window_us = UInt32(s.ipSweepThreshold)
            r.ip_sweep_pps = UInt32(s.ipSweepPerSecond)
            r.session_limit_src = Self.u32(s.sessionLimitSource)
            r.session_limit_dst = Self.u32(s.sessionLimitDestination)
            screens.append(r)
        }
    }

    mutating func encodeNAT() {
        let nat = model.nat
        for pool in nat.sourcePools {
            var r = xpf_cfg_snat_pool()
            r.name = string(pool.name)
            switch pool.ports {
            case .range(let ports):
                r.port_low = ports.lowerBound
                r.port_high = ports.upperBound
            case .noTranslation:
                r.flags |= XPF_CFG_SNAT_NO_PORT_TRANSLATION.rawValue
            }
            if pool.addressPersistent { r.flags |= XPF_CFG_SNAT_ADDRESS_PERSISTENT.rawValue }
            r.addrs = addrRanges.list(pool.addresses.map(Self.addrRange))
            snatPools.append(r)
        }
        for pool in nat.destinationPools {
            var r = xpf_cfg_dnat_pool()
            r.name = string(pool.name)
            r.addr = pool.address.map { addrRanges.shared(Self.addrRange($0)) } ?? Self.none
            if let port = pool.port {
                r.flags = XPF_CFG_DNAT_PORT.rawValue
                r.port = port
            }
            dnatPools.append(r)
        }
        for (kind, sets) in [nat.sourceRuleSets, nat.destinationRuleSets, nat.staticRuleSets].enumerated() {
            for set in sets {
                var r = xpf_cfg_nat_rule_set()
                r.name = string(set.name)
                (r.from_kind, r.from) = context(set.from)
                (r.to_kind, r.to) = context(set.to)
                r.rules = xpf_cfg_range(first: UInt32(natRules.count), count: UInt32(set.rules.count))
                for rule in set.rules { natRules.append(natRule(rule, ruleSet: ruleSets[kind].count)) }
                ruleSets[kind].append(r)
            }
        }
    }

    mutating func context(_ c: M.NATContext?) -> (UInt8, xpf_cfg_range) {
        switch c {
        case nil: return (UInt8(XPF_NAT_CTX_NONE.rawValue), xpf_cfg_range(first: 0, count: 0))
        case .zones(let zs)?: return (UInt8(XPF_NAT_CTX_ZONES.rawValue), indexList(zs))
        case .interfaces(let ifs)?: return (UInt8(XPF_NAT_CTX_IFACES.rawValue), indexList(ifs))
        }
    }

    mutating func natRule(_ rule: M.NATRule, ruleSet: Int) -> xpf_cfg_nat_rule {
        var r = xpf_cfg_nat_rule()
        r.name = string(rule.name)
        r.rule_set = UInt32(ruleSet)
        r.target = Self.none
        switch rule.action {
        case .off: r.action = UInt8(XPF_NAT_OFF.rawValue)
        case .interface: r.action = UInt8(XPF_NAT_INTERFACE.rawValue)
        case .sourcePool(let p):
            r.action = UInt8(XPF_NAT_SOURCE_POOL.rawValue)
            r.target = UInt32(p)
        case .destinationPool(let p):
            r.action = UInt8(XPF_NAT_DESTINATION_POOL.rawValue)
            r.target = UInt32(p)
        case .staticPrefix(let p):
            r.action = UInt8(XPF_NAT_STATIC_PREFIX.rawValue)
            r.target = prefixes.shared(Self.prefixRecord(p.address, length: p.length))
        }
        let m = rule.match
        r.src_addr = prefixList(m.sourceAddresses)
        r.dst_addr = prefixList(m.destinationAddresses)
        r.src_port = ports(m.sourcePorts)
        r.dst_port = ports(m.destinationPorts)
        r.protocols = set(m.protocols.isEmpty ? nil : m.protocols)
        return r
    }

    mutating func encodeMirroring() {
        let dataplane = Int(head.n_dataplane_ifaces)
        /// The dataplane slot an output interface name refers to (`fw1` or `fw1.0`).
        func slot(_ name: String) -> UInt32 {
            let names = model.interfaces.prefix(dataplane).map(\.name)
            if let i = names.firstIndex(of: name) { return UInt32(i) }
            if name.hasSuffix(".0"), let i = names.firstIndex(of: String(name.dropLast(2))) { return UInt32(i) }
            return Self.none
        }
        for (m, instance) in model.portMirroring.instances.enumerated() {
            var r = xpf_cfg_mirror()
            r.name = string(instance.name)
            r.rate = UInt32(instance.rate)
            r.max_packet_length = UInt32(instance.maximumPacketLength ?? 0)
            r.ingress = indexList(instance.ingress)
            for i in instance.ingress { ifaces[i].mirror = UInt32(m) }
            r.outputs = xpf_cfg_range(first: UInt32(mirrorOutputs.count), count: UInt32(instance.outputs.count))
            for output in instance.outputs {
                var o = xpf_cfg_mirror_output()
                o.iface_name = string(output.interface)
                o.slot = slot(output.interface)
                o.family = Self.family(output.family)
                if let hop = output.nextHop {
                    o.flags = UInt8(XPF_CFG_MIRROR_NEXT_HOP.rawValue)
                    Self.store(hop, into: &o.next_hop)
                }
                mirrorOutputs.append(o)
            }
            mirrors.append(r)
        }
    }

    // MARK: Layout

    /// Where each section goes (by section id), the bytes it holds, and the total size.
    struct Layout {
        var sections: [xpf_cfg_section]
        var data: [[UInt8]]
        var total: Int
    }

    /// The bytes of every section, by section id.
    func sectionData() -> [(count: Int, recordSize: Int, bytes: [UInt8])] {
        func data<T>(_ records: [T]) -> (count: Int, recordSize: Int, bytes: [UInt8]) {
            (records.count, MemoryLayout<T>.stride, records.withUnsafeBytes { Array($0) })
        }
        var out = Array(repeating: (count: 0, recordSize: 0, bytes: [UInt8]()), count: Int(XPF_CFG_SEC_COUNT.rawValue))
        func put(_ id: xpf_cfg_section_id, _ d: (count: Int, recordSize: Int, bytes: [UInt8])) { out[Int(id.rawValue)] = d }
        put(XPF_CFG_SEC_STRINGS, data(strings))
        put(XPF_CFG_SEC_INDICES, data(indices.records))
        put(XPF_CFG_SEC_PREFIXES, data(prefixes.records))
        put(XPF_CFG_SEC_PORT_RANGES, data(portRanges.records))
        put(XPF_CFG_SEC_SETS, data(sets.records))
        put(XPF_CFG_SEC_ADDR_RANGES, data(addrRanges.records))
        put(XPF_CFG_SEC_IFACES, data(ifaces))
        put(XPF_CFG_SEC_ZONES, data(zones))
        put(XPF_CFG_SEC_APPLICATIONS, data(applications))
        put(XPF_CFG_SEC_APP_TERMS, data(appTerms))
        put(XPF_CFG_SEC_POLICIES, data(policies))
        put(XPF_CFG_SEC_ZONE_PAIRS, data(zonePairs))
        put(XPF_CFG_SEC_FILTERS, data(filters))
        put(XPF_CFG_SEC_TERMS, data(terms))
        put(XPF_CFG_SEC_COUNTERS, data(counters))
        put(XPF_CFG_SEC_POLICERS, data(policers))
        put(XPF_CFG_SEC_TC_POLICERS, data(tcPolicers))
        put(XPF_CFG_SEC_POLICER_INSTANCES, data(policerInstances))
        put(XPF_CFG_SEC_SCREENS, data(screens))
        put(XPF_CFG_SEC_SNAT_POOLS, data(snatPools))
        put(XPF_CFG_SEC_DNAT_POOLS, data(dnatPools))
        put(XPF_CFG_SEC_SNAT_RULE_SETS, data(ruleSets[0]))
        put(XPF_CFG_SEC_DNAT_RULE_SETS, data(ruleSets[1]))
        put(XPF_CFG_SEC_STATIC_RULE_SETS, data(ruleSets[2]))
        put(XPF_CFG_SEC_NAT_RULES, data(natRules))
        put(XPF_CFG_SEC_MIRRORS, data(mirrors))
        put(XPF_CFG_SEC_MIRROR_OUTPUTS, data(mirrorOutputs))
        put(XPF_CFG_SEC_POLICY_ROOTS, data(policyClassifier.roots))
        put(XPF_CFG_SEC_POLICY_NODES, data(policyClassifier.nodes))
        put(XPF_CFG_SEC_POLICY_LEAVES, data(policyClassifier.leaves))
        return out
    }

    /// Sections in id order after the head, each 8-byte aligned. Sizes are computed in
    /// Int, so a configuration far beyond any slot is measured, not wrapped.
    func layout() -> Layout {
        var at = MemoryLayout<xpf_config_snapshot>.size
        var sections: [xpf_cfg_section] = []
        var data: [[UInt8]] = []
        for d in sectionData() {
            at = (at + 7) & ~7
            sections.append(xpf_cfg_section(offset: UInt32(truncatingIfNeeded: at), count: UInt32(truncatingIfNeeded: d.count),
                                            record_size: UInt32(d.recordSize), reserved: 0))
            data.append(d.bytes)
            at += d.bytes.count
        }
        return Layout(sections: sections, data: data, total: (at + 7) & ~7)
    }

    /// Writes head and sections into `base` (zeroed, `layout.total` bytes, which the
    /// caller checked against the slot, so every offset fits its u32).
    func emit(into base: UnsafeMutableRawPointer, layout: Layout) {
        var h = head
        h.size = UInt32(layout.total)
        base.storeBytes(of: h, as: xpf_config_snapshot.self)
        let table = base + Int(XPF_CFG_SECTION_TABLE_OFFSET)
        for (id, s) in layout.sections.enumerated() {
            (table + id * MemoryLayout<xpf_cfg_section>.stride).storeBytes(of: s, as: xpf_cfg_section.self)
            let bytes = layout.data[id]
            if bytes.isEmpty { continue }
            bytes.withUnsafeBytes { (base + Int(s.offset)).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
    }
}

/// What the FILTERS and TERMS records of a model's snapshot are called: a filter record's
/// name (an interface-specific copy's with its `-IFL-i` / `-o` suffix) and each term's, by
/// index — what a FILTER_LOG event's indices name (EventDrain), from the encoder's own plan.
public struct FilterRecordNames: Sendable {
    /// By FILTERS index (the filters themselves; lists, after them, are never named by an event).
    public let filters: [String]
    /// By TERMS index.
    public let terms: [String]

    public init(_ model: ConfigModel) {
        var filters: [String] = [], terms: [String] = []
        for plan in SnapshotEncoder.filterPlans(model).plans {
            let filter = model.filters[plan.filter]
            filters.append(filter.name + SnapshotEncoder.copySuffix(model, plan))
            terms += filter.terms.map(\.name)
        }
        self.filters = filters
        self.terms = terms
    }
}
