// A worker's read-only view of a configuration snapshot (xpf_config_abi.h): typed,
// zero-copy accessors over the slot's memory, usable on the packet path (no allocation,
// no reference counting; everything @inlinable so accessors compile to loads).
//
// Contract: call `validate()` once when switching to a snapshot (SnapshotValidate.swift).
// It proves the section table lies inside the slot with the record sizes of this build
// and that every stored index, range and string offset points inside its target section.
// After that, accessors only re-check indices that come from the caller
// (`Records.subscript` traps on an index outside the list): a corrupt snapshot is refused
// cleanly at the switch, and nothing ever reads outside the slot.
import CXPF

public struct ConfigSnapshotView {
    /// The snapshot start (a config slot, or a private image).
    public let base: UnsafeRawPointer
    /// Bytes readable from `base` (the slot size).
    public let capacity: Int

    @inlinable
    public init(raw base: UnsafeRawPointer, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    @inlinable
    public init(_ snapshot: UnsafePointer<xpf_config_snapshot>, capacity: Int) {
        self.init(raw: UnsafeRawPointer(snapshot), capacity: capacity)
    }

    /// The fixed head. Reading a field through `pointee` loads that field only.
    @inlinable
    public var head: UnsafePointer<xpf_config_snapshot> { base.assumingMemoryBound(to: xpf_config_snapshot.self) }

    // MARK: Records

    /// A list of fixed-size records inside one section: a random-access collection that
    /// loads records by value.
    @frozen
    public struct Records<Element>: RandomAccessCollection {
        @usableFromInline let start: UnsafeRawPointer
        public let count: Int

        @inlinable
        init(start: UnsafeRawPointer, count: Int) {
            self.start = start
            self.count = count
        }

        @inlinable public var startIndex: Int { 0 }
        @inlinable public var endIndex: Int { count }

        @inlinable
        public subscript(i: Int) -> Element {
            precondition(UInt(bitPattern: i) < UInt(bitPattern: count), "configuration snapshot record index out of range")
            return start.load(fromByteOffset: i &* MemoryLayout<Element>.stride, as: Element.self)
        }
    }

    @inlinable
    public func section(_ id: xpf_cfg_section_id) -> xpf_cfg_section {
        base.load(fromByteOffset: Int(XPF_CFG_SECTION_TABLE_OFFSET) &+ Int(id.rawValue) &* MemoryLayout<xpf_cfg_section>.stride,
                  as: xpf_cfg_section.self)
    }

    /// Every record of a section.
    @inlinable
    public func records<T>(_ id: xpf_cfg_section_id, as _: T.Type = T.self) -> Records<T> {
        let s = section(id)
        return Records(start: base + Int(s.offset), count: Int(s.count))
    }

    /// The records `range` names inside a section.
    @inlinable
    public func records<T>(_ id: xpf_cfg_section_id, _ range: xpf_cfg_range, as _: T.Type = T.self) -> Records<T> {
        let s = section(id)
        let end: UInt64 = UInt64(range.first) &+ UInt64(range.count)
        precondition(end <= UInt64(s.count), "configuration snapshot range out of section")
        let offset: Int = Int(s.offset) &+ Int(range.first) &* MemoryLayout<T>.stride
        return Records(start: base + offset, count: Int(range.count))
    }

    @inlinable
    func record<T>(_ id: xpf_cfg_section_id, _ index: Int, as _: T.Type = T.self) -> T {
        records(id, as: T.self)[index]
    }

    // MARK: Head

    @inlinable public var generation: UInt64 { head.pointee.generation }
    @inlinable public var size: Int { Int(head.pointee.size) }
    @inlinable public var flags: UInt32 { head.pointee.flags }
    /// XPF_POLICY_PERMIT or XPF_POLICY_DENY.
    @inlinable public var defaultPolicy: UInt32 { head.pointee.default_policy }
    @inlinable public var dataplaneInterfaceCount: Int { Int(head.pointee.n_dataplane_ifaces) }
    /// IFACES index of lo0, or nil.
    @inlinable public var loopbackInterface: Int? {
        let i = head.pointee.loopback_iface
        return i == XPF_CFG_NONE ? nil : Int(i)
    }

    // MARK: Shared lists

    /// u32 entries of an index list.
    @inlinable public func indices(_ r: xpf_cfg_range) -> Records<UInt32> { records(XPF_CFG_SEC_INDICES, r) }
    @inlinable public func prefix(_ i: Int) -> xpf_cfg_prefix { record(XPF_CFG_SEC_PREFIXES, i) }
    @inlinable public func prefixes(_ r: xpf_cfg_range) -> Records<xpf_cfg_prefix> { records(XPF_CFG_SEC_PREFIXES, r) }
    @inlinable public func portRanges(_ r: xpf_cfg_range) -> Records<xpf_cfg_port_range> { records(XPF_CFG_SEC_PORT_RANGES, r) }
    @inlinable public func addressRange(_ i: Int) -> xpf_cfg_addr_range { record(XPF_CFG_SEC_ADDR_RANGES, i) }
    @inlinable public func addressRanges(_ r: xpf_cfg_range) -> Records<xpf_cfg_addr_range> { records(XPF_CFG_SEC_ADDR_RANGES, r) }

    /// Whether `value` is in set `set` (a SETS index; the caller handles XPF_CFG_NONE,
    /// which means "no condition").
    @inlinable
    public func setContains(_ set: UInt32, _ value: UInt8) -> Bool {
        let s = section(XPF_CFG_SEC_SETS)
        precondition(set < s.count, "configuration snapshot set index out of range")
        let word = base.load(fromByteOffset: Int(s.offset) &+ Int(set) &* MemoryLayout<xpf_cfg_set>.stride
                                 &+ Int(value >> 6) &* 8, as: UInt64.self)
        return word >> UInt64(value & 63) & 1 != 0
    }

    // MARK: Interfaces and zones

    @inlinable public var interfaces: Records<xpf_cfg_iface> { records(XPF_CFG_SEC_IFACES) }
    /// The interface in a dataplane slot (or any IFACES index).
    @inlinable public func interface(slot: Int) -> xpf_cfg_iface { record(XPF_CFG_SEC_IFACES, slot) }
    @inlinable public var zones: Records<xpf_cfg_zone> { records(XPF_CFG_SEC_ZONES) }
    @inlinable public func zone(_ i: Int) -> xpf_cfg_zone { record(XPF_CFG_SEC_ZONES, i) }

    // MARK: Applications and policies

    @inlinable public var applications: Records<xpf_cfg_application> { records(XPF_CFG_SEC_APPLICATIONS) }
    @inlinable public func application(_ i: Int) -> xpf_cfg_application { record(XPF_CFG_SEC_APPLICATIONS, i) }
    @inlinable public var applicationTerms: Records<xpf_cfg_app_term> { records(XPF_CFG_SEC_APP_TERMS) }
    @inlinable public func applicationTerm(_ i: Int) -> xpf_cfg_app_term { record(XPF_CFG_SEC_APP_TERMS, i) }
    @inlinable public func terms(of a: xpf_cfg_application) -> Records<xpf_cfg_app_term> { records(XPF_CFG_SEC_APP_TERMS, a.terms) }

    /// Every policy in id order (the index is the policy id and hit-counter index).
    @inlinable public var policies: Records<xpf_cfg_policy> { records(XPF_CFG_SEC_POLICIES) }
    @inlinable public func policy(_ i: Int) -> xpf_cfg_policy { record(XPF_CFG_SEC_POLICIES, i) }

    /// The policy ids of the (from, to) zone pair's own list, in order (empty when the
    /// pair has none). Zones are ZONES indices.
    @inlinable
    public func policies(from: Int, to: Int) -> Range<Int> {
        let n = section(XPF_CFG_SEC_ZONES).count
        precondition(UInt(bitPattern: from) < UInt(n) && UInt(bitPattern: to) < UInt(n), "zone index out of range")
        let r: xpf_cfg_range = record(XPF_CFG_SEC_ZONE_PAIRS, from &* Int(n) &+ to)
        return Int(r.first)..<Int(r.first &+ r.count)
    }

    /// The global policies' ids, in order; each applies when `globalPolicy(_:applies…)`.
    @inlinable
    public var globalPolicies: Range<Int> {
        let r = head.pointee.global_policies
        return Int(r.first)..<Int(r.first &+ r.count)
    }

    /// Whether a global policy's `match from-zone / to-zone` admits the pair.
    @inlinable
    public func globalPolicy(_ p: xpf_cfg_policy, appliesFrom from: Int, to: Int) -> Bool {
        let f = UInt32(p.flags)
        if f & XPF_CFG_POL_ANY_FROM.rawValue == 0 && !indices(p.from_zones).contains(UInt32(truncatingIfNeeded: from)) {
            return false
        }
        if f & XPF_CFG_POL_ANY_TO.rawValue == 0 && !indices(p.to_zones).contains(UInt32(truncatingIfNeeded: to)) {
            return false
        }
        return true
    }

    @inlinable public func sourceAddresses(of p: xpf_cfg_policy) -> Records<xpf_cfg_prefix> { prefixes(p.src) }
    @inlinable public func destinationAddresses(of p: xpf_cfg_policy) -> Records<xpf_cfg_prefix> { prefixes(p.dst) }
    /// APP_TERMS indices of every term of every application the policy names.
    @inlinable public func applicationTerms(of p: xpf_cfg_policy) -> Records<UInt32> { indices(p.app_terms) }

    // MARK: Filters and policers

    @inlinable public var filters: Records<xpf_cfg_filter> { records(XPF_CFG_SEC_FILTERS) }
    @inlinable public func filter(_ i: Int) -> xpf_cfg_filter { record(XPF_CFG_SEC_FILTERS, i) }
    @inlinable public func terms(of f: xpf_cfg_filter) -> Records<xpf_cfg_term> { records(XPF_CFG_SEC_TERMS, f.terms) }
    @inlinable public func term(_ i: Int) -> xpf_cfg_term { record(XPF_CFG_SEC_TERMS, i) }
    @inlinable public var counters: Records<xpf_cfg_counter> { records(XPF_CFG_SEC_COUNTERS) }
    @inlinable public func counter(_ i: Int) -> xpf_cfg_counter { record(XPF_CFG_SEC_COUNTERS, i) }
    @inlinable public var policers: Records<xpf_cfg_policer> { records(XPF_CFG_SEC_POLICERS) }
    @inlinable public func policer(_ i: Int) -> xpf_cfg_policer { record(XPF_CFG_SEC_POLICERS, i) }
    @inlinable public var threeColorPolicers: Records<xpf_cfg_tc_policer> { records(XPF_CFG_SEC_TC_POLICERS) }
    @inlinable public func threeColorPolicer(_ i: Int) -> xpf_cfg_tc_policer { record(XPF_CFG_SEC_TC_POLICERS, i) }
    @inlinable public var policerInstances: Records<xpf_cfg_policer_instance> { records(XPF_CFG_SEC_POLICER_INSTANCES) }

    // MARK: Screens

    @inlinable public var screens: Records<xpf_cfg_screen> { records(XPF_CFG_SEC_SCREENS) }
    @inlinable public func screen(_ i: Int) -> xpf_cfg_screen { record(XPF_CFG_SEC_SCREENS, i) }

    // MARK: NAT

    public enum NATKind: Sendable, CaseIterable {
        case source, destination, `static`

        @inlinable
        public var section: xpf_cfg_section_id {
            switch self {
            case .source: return XPF_CFG_SEC_SNAT_RULE_SETS
            case .destination: return XPF_CFG_SEC_DNAT_RULE_SETS
            case .static: return XPF_CFG_SEC_STATIC_RULE_SETS
            }
        }
    }

    @inlinable public var sourcePools: Records<xpf_cfg_snat_pool> { records(XPF_CFG_SEC_SNAT_POOLS) }
    @inlinable public func sourcePool(_ i: Int) -> xpf_cfg_snat_pool { record(XPF_CFG_SEC_SNAT_POOLS, i) }
    @inlinable public var destinationPools: Records<xpf_cfg_dnat_pool> { records(XPF_CFG_SEC_DNAT_POOLS) }
    @inlinable public func destinationPool(_ i: Int) -> xpf_cfg_dnat_pool { record(XPF_CFG_SEC_DNAT_POOLS, i) }
    @inlinable public func natRuleSets(_ kind: NATKind) -> Records<xpf_cfg_nat_rule_set> { records(kind.section) }
    @inlinable public func natRules(of set: xpf_cfg_nat_rule_set) -> Records<xpf_cfg_nat_rule> { records(XPF_CFG_SEC_NAT_RULES, set.rules) }
    @inlinable public func natRule(_ i: Int) -> xpf_cfg_nat_rule { record(XPF_CFG_SEC_NAT_RULES, i) }

    // MARK: Port mirroring

    @inlinable public var mirrors: Records<xpf_cfg_mirror> { records(XPF_CFG_SEC_MIRRORS) }
    @inlinable public func mirror(_ i: Int) -> xpf_cfg_mirror { record(XPF_CFG_SEC_MIRRORS, i) }
    @inlinable public func outputs(of m: xpf_cfg_mirror) -> Records<xpf_cfg_mirror_output> { records(XPF_CFG_SEC_MIRROR_OUTPUTS, m.outputs) }

    // MARK: Strings (logs, tools; allocates)

    /// The name at a string offset; nil for XPF_CFG_NONE or an offset outside the table.
    public func string(at offset: UInt32) -> String? {
        let s = section(XPF_CFG_SEC_STRINGS)
        guard offset != XPF_CFG_NONE, offset < s.count else { return nil }
        let start = base + Int(s.offset) + Int(offset)
        var n = 0
        while n < Int(s.count - offset) && start.load(fromByteOffset: n, as: UInt8.self) != 0 { n += 1 }
        return String(decoding: UnsafeRawBufferPointer(start: start, count: n), as: UTF8.self)
    }
}

/// Addresses and flags of records, for code that reads them without the view.
extension xpf_cfg_prefix {
    /// The 16 address bytes (network order; IPv4 in the first 4).
    @inlinable public var addressBytes: [UInt8] { withUnsafeBytes(of: addr) { Array($0) } }
    @inlinable public var isExcept: Bool { UInt32(flags) & XPF_CFG_PREFIX_EXCEPT.rawValue != 0 }
}
