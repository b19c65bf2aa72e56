// Security policy lookup on the packet path: which policy a first packet of a
// flow matches, in Junos order — the (from-zone, to-zone) pair's own list, then the
// global policies whose zone lists admit the pair; first match wins. nil means nothing
// matched and the caller applies `default-policy`.
//
// The lookup walks the decision tree compiled at commit (SnapshotWriter+Policy.swift,
// xpf_config_abi.h "policy lookup") to a leaf of at most a few candidate policies, then
// checks each candidate in full against its snapshot record — source and destination
// address lists, application terms, and for global policies the zone lists. The tree
// only prunes: what matches is decided by the same record check a linear scan would do,
// so the tree can only make a lookup faster, never different.
//
// Hot path: no allocation, no reference counting; loads straight from the slot after
// `validate()` proved every reference the walk follows (see `// Safe:` comments).
// Measured (xpf-bench --policies, 033afd9, one zone pair of mixed prefixes and ports):
// 203–235 instructions per lookup at 10 policies, 366–437 at 1 000, 434–546 at 10 000.
import CXPF

/// What a policy lookup reads from a packet. Addresses are 16 bytes in network order
/// (IPv4 in the first 4, the rest zero), as in `xpf_flow_tuple`, kept as two big-endian
/// words: the tree's address fields and the prefix checks compare those directly.
@frozen
public struct PolicyKey: Equatable {
    /// 4 or 6.
    public var family: UInt8
    public var proto: UInt8
    /// Source address bytes 0-7 and 8-15, each read as a big-endian u64.
    public var srcHi: UInt64, srcLo: UInt64
    public var dstHi: UInt64, dstLo: UInt64
    /// Host order. TCP, UDP and SCTP ports; 0 for protocols without ports.
    public var sport: UInt16, dport: UInt16
    /// ICMP / ICMPv6 type and code; ignored for other protocols.
    public var icmpType: UInt8, icmpCode: UInt8

    public static let icmpProtocol: UInt8 = 1
    public static let icmp6Protocol: UInt8 = 58

    /// `src` and `dst` point at 16 address bytes each (network order).
    @inlinable
    public init(family: UInt8, proto: UInt8, src: UnsafeRawPointer, dst: UnsafeRawPointer, sport: UInt16, dport: UInt16,
                icmpType: UInt8 = 0, icmpCode: UInt8 = 0)
    {
        self.family = family
        self.proto = proto
        // Safe: the caller hands 16 readable bytes per address; loadUnaligned has no
        // alignment requirement.
        srcHi = UInt64(bigEndian: src.loadUnaligned(as: UInt64.self))
        srcLo = UInt64(bigEndian: src.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        dstHi = UInt64(bigEndian: dst.loadUnaligned(as: UInt64.self))
        dstLo = UInt64(bigEndian: dst.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        self.sport = sport
        self.dport = dport
        self.icmpType = icmpType
        self.icmpCode = icmpCode
    }

    /// From 16-byte address arrays (tests, tools).
    public init(family: UInt8, proto: UInt8, src: [UInt8], dst: [UInt8], sport: UInt16 = 0, dport: UInt16 = 0,
                icmpType: UInt8 = 0, icmpCode: UInt8 = 0)
    {
        precondition(src.count == 16 && dst.count == 16, "policy key addresses are 16 bytes")
        self = src.withUnsafeBytes { s in
            dst.withUnsafeBytes { d in
                PolicyKey(family: family, proto: proto, src: s.baseAddress!, dst: d.baseAddress!, sport: sport, dport: dport,
                          icmpType: icmpType, icmpCode: icmpCode)
            }
        }
    }

    @inlinable
    public var isICMP: Bool { proto == Self.icmpProtocol || proto == Self.icmp6Protocol }

    /// The value of tree field `field` (enum xpf_policy_field). Fields past the end read 0
    /// (validated trees never ask for them).
    @inlinable
    public func field(_ field: UInt32) -> UInt64 {
        switch field {
        case XPF_PF_SRC_HI.rawValue: return srcHi
        case XPF_PF_SRC_LO.rawValue: return srcLo
        case XPF_PF_DST_HI.rawValue: return dstHi
        case XPF_PF_DST_LO.rawValue: return dstLo
        case XPF_PF_PROTO.rawValue: return UInt64(proto) &<< PolicyFieldShift.proto
        case XPF_PF_SPORT.rawValue: return UInt64(sport) &<< PolicyFieldShift.port
        case XPF_PF_DPORT.rawValue: return UInt64(dport) &<< PolicyFieldShift.port
        case XPF_PF_ICMP.rawValue:
            return isICMP ? (UInt64(icmpType) &<< 8 | UInt64(icmpCode)) &<< PolicyFieldShift.port : 0
        default: return 0
        }
    }
}

/// Where the narrow fields sit in their 64-bit tree field: at the top, so every field is
/// an unsigned 64-bit value cut by thresholds the same way.
public enum PolicyFieldShift {
    /// An 8-bit value (protocol) in the top byte.
    public static let proto: UInt64 = 56
    /// A 16-bit value (port, ICMP type·code) in the top two bytes.
    public static let port: UInt64 = 48
}

/// The policy a packet matched.
@frozen
public struct PolicyMatch: Equatable, Sendable {
    /// POLICIES index: the policy id and its hit counter.
    public var policy: Int
    /// APP_TERMS index of the policy's first application term the packet matches (its
    /// inactivity timeout applies to the session).
    public var term: Int

    @inlinable
    public init(policy: Int, term: Int) {
        self.policy = policy
        self.term = term
    }
}

/// The sections a lookup reads, resolved once per lookup (each `section()` is a load
/// from the head). Valid while the view is.
@frozen
public struct PolicyTables {
    @usableFromInline let nodes: UnsafeRawPointer
    @usableFromInline let leaves: UnsafeRawPointer
    @usableFromInline let indices: UnsafeRawPointer
    @usableFromInline let policies: UnsafeRawPointer
    @usableFromInline let prefixes: UnsafeRawPointer
    @usableFromInline let terms: UnsafeRawPointer

    @inlinable
    init(_ v: ConfigSnapshotView) {
        func at(_ id: xpf_cfg_section_id) -> UnsafeRawPointer { v.base + Int(v.section(id).offset) }
        nodes = at(XPF_CFG_SEC_POLICY_NODES)
        leaves = at(XPF_CFG_SEC_POLICY_LEAVES)
        indices = at(XPF_CFG_SEC_INDICES)
        policies = at(XPF_CFG_SEC_POLICIES)
        prefixes = at(XPF_CFG_SEC_PREFIXES)
        terms = at(XPF_CFG_SEC_APP_TERMS)
    }
}

extension ConfigSnapshotView {
    /// The first policy matching `key` for traffic from zone `from` to zone `to` (ZONES
    /// indices): the pair's list, then the applicable global policies. nil: no policy
    /// matches (the caller applies `defaultPolicy`).
    @inlinable
    public func matchPolicy(from: Int, to: Int, _ key: PolicyKey) -> PolicyMatch? {
        let zones = Int(section(XPF_CFG_SEC_ZONES).count)
        precondition(UInt(bitPattern: from) < UInt(zones) && UInt(bitPattern: to) < UInt(zones), "zone index out of range")
        let tables = PolicyTables(self)
        // Safe: validate() proved POLICY_ROOTS holds zones² + 1 records (the last is the
        // global list's), and from, to < zones.
        let roots = base + Int(section(XPF_CFG_SEC_POLICY_ROOTS).offset)
        let family = key.family == 4 ? 0 : MemoryLayout<UInt32>.stride
        let pair = roots.load(fromByteOffset: (from &* zones &+ to) &* MemoryLayout<xpf_cfg_policy_root>.stride &+ family,
                              as: UInt32.self)
        if let m = matchPolicyTree(tables, pair, key, globalFrom: nil, to: to) { return m }
        let global = roots.load(fromByteOffset: zones &* zones &* MemoryLayout<xpf_cfg_policy_root>.stride &+ family,
                                as: UInt32.self)
        return matchPolicyTree(tables, global, key, globalFrom: from, to: to)
    }

    /// The leaf (INDICES range of candidate policy ids) that tree `root` sends `key` to.
    @inlinable
    func policyLeaf(_ t: PolicyTables, _ root: UInt32, _ key: PolicyKey) -> xpf_cfg_range {
        var ref = root
        while ref & XPF_POLICY_REF_LEAF == 0 {
            // Safe: validate() proved every node reference (roots included) is below the
            // node count, every node's field below XPF_PF_COUNT, and every child node
            // index above its parent's — so this loop reads inside the section and ends.
            let node = t.nodes.load(fromByteOffset: Int(ref) &* MemoryLayout<xpf_cfg_policy_node>.stride,
                                    as: xpf_cfg_policy_node.self)
            ref = key.field(node.field) <= node.threshold ? node.le : node.gt
        }
        // Safe: validate() proved every leaf reference is below the leaf count.
        return t.leaves.load(fromByteOffset: Int(ref & ~XPF_POLICY_REF_LEAF) &* MemoryLayout<xpf_cfg_range>.stride,
                             as: xpf_cfg_range.self)
    }

    /// Walks one tree and checks its leaf's candidates in order. `globalFrom` non-nil:
    /// the global list, whose policies also need their zone lists to admit the pair.
    @inlinable
    func matchPolicyTree(_ t: PolicyTables, _ root: UInt32, _ key: PolicyKey, globalFrom: Int?, to: Int) -> PolicyMatch? {
        let leaf = policyLeaf(t, root, key)
        var i = Int(leaf.first)
        let end = i &+ Int(leaf.count)
        while i < end {
            // Safe: validate() proved each leaf range lies inside INDICES, each entry is a
            // POLICIES index, and each policy's src/dst ranges lie inside PREFIXES and its
            // app_terms inside INDICES with APP_TERMS entries.
            let id = Int(t.indices.load(fromByteOffset: i &* 4, as: UInt32.self))
            let p = t.policies + id &* MemoryLayout<xpf_cfg_policy>.stride
            i &+= 1
            if let from = globalFrom,
               !globalPolicy(p.load(as: xpf_cfg_policy.self), appliesFrom: from, to: to) { continue }
            let src = p.load(fromByteOffset: MemoryLayout<xpf_cfg_policy>.offset(of: \.src)!, as: xpf_cfg_range.self)
            guard Self.addressListMatches(t, src, key.family, key.srcHi, key.srcLo) else { continue }
            let dst = p.load(fromByteOffset: MemoryLayout<xpf_cfg_policy>.offset(of: \.dst)!, as: xpf_cfg_range.self)
            guard Self.addressListMatches(t, dst, key.family, key.dstHi, key.dstLo) else { continue }
            let terms = p.load(fromByteOffset: MemoryLayout<xpf_cfg_policy>.offset(of: \.app_terms)!, as: xpf_cfg_range.self)
            if let term = Self.matchingTerm(t, terms, key) { return PolicyMatch(policy: id, term: term) }
        }
        return nil
    }

    /// Whether an address (family, two big-endian words) lies in some prefix of `list`
    /// (PREFIXES). Prefixes of the other family never match (an IPv4 packet never matches
    /// an IPv6-only entry, nor the other way round).
    @inlinable
    static func addressListMatches(_ t: PolicyTables, _ list: xpf_cfg_range, _ family: UInt8, _ hi: UInt64, _ lo: UInt64) -> Bool {
        // Safe: the list is a validated policy's (see matchPolicyTree).
        var at = t.prefixes + Int(list.first) &* MemoryLayout<xpf_cfg_prefix>.stride
        for _ in 0..<Int(list.count) {
            let f = at.load(as: UInt8.self)
            let length = UInt64(at.load(fromByteOffset: 1, as: UInt8.self))
            if f == family {
                let pHi = UInt64(bigEndian: at.load(fromByteOffset: 8, as: UInt64.self))
                if length <= 64 {
                    // length 0 → mask 0: every address (`any`).
                    let mask: UInt64 = length == 0 ? 0 : ~0 &<< (64 &- length)
                    if (hi ^ pHi) & mask == 0 { return true }
                } else if hi == pHi {
                    let pLo = UInt64(bigEndian: at.load(fromByteOffset: 16, as: UInt64.self))
                    let mask: UInt64 = ~0 &<< (128 &- length)
                    if (lo ^ pLo) & mask == 0 { return true }
                }
            }
            at += MemoryLayout<xpf_cfg_prefix>.stride
        }
        return false
    }

    /// The first APP_TERMS index in `terms` (INDICES → APP_TERMS) that `key` matches.
    @inlinable
    static func matchingTerm(_ t: PolicyTables, _ terms: xpf_cfg_range, _ key: PolicyKey) -> Int? {
        // Safe: the list is a validated policy's (see matchPolicyTree).
        let list = t.indices + Int(terms.first) &* 4
        for n in 0..<Int(terms.count) {
            let index = Int(list.load(fromByteOffset: n &* 4, as: UInt32.self))
            let term = t.terms.load(fromByteOffset: index &* MemoryLayout<xpf_cfg_app_term>.stride, as: xpf_cfg_app_term.self)
            if Self.term(term, matches: key) { return index }
        }
        return nil
    }

    /// One application term against a packet: protocol (unless `any`), port ranges, and
    /// ICMP type / code conditions, which only an ICMP or ICMPv6 packet can meet.
    @inlinable
    public static func term(_ t: xpf_cfg_app_term, matches key: PolicyKey) -> Bool {
        let flags = UInt32(t.flags)
        if flags & XPF_CFG_AT_ANY_PROTO.rawValue == 0 && t.proto != key.proto { return false }
        guard key.sport >= t.sport_low, key.sport <= t.sport_high, key.dport >= t.dport_low, key.dport <= t.dport_high
        else { return false }
        if flags & (XPF_CFG_AT_ICMP_TYPE.rawValue | XPF_CFG_AT_ICMP_CODE.rawValue) != 0 {
            guard key.isICMP else { return false }
            if flags & XPF_CFG_AT_ICMP_TYPE.rawValue != 0 && t.icmp_type != key.icmpType { return false }
            if flags & XPF_CFG_AT_ICMP_CODE.rawValue != 0 && t.icmp_code != key.icmpCode { return false }
        }
        return true
    }
}
