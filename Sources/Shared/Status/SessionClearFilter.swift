// `clear security flow session FILTERS` (issue 9 §3): the filters of `show security flow
// session` (SessionFilter) compiled into the fixed record a worker evaluates on each
// session of its partition (struct xpf_clear_filter, in its worker block; the writer and
// reader protocol is in xpf_abi.h). Names are resolved by xpfd under the running
// snapshot, as `show` resolves them: a zone becomes the bitmap of its interface slots (fixed
// for the region's life), a policy name the ids it has in the running policy epoch.
import CXPF

extension SessionFilter {
    /// This filter for the workers, zone and policy names resolved under `names`' snapshot.
    /// Throws when a policy name has more ids than the record holds.
    public func clearFilter(names: SessionNames) throws -> xpf_clear_filter {
        var f = xpf_clear_filter()
        let bytes = FlowWords.addressBytes
        if let p = sourcePrefix {
            f.match |= XPF_CLEAR_SRC_PREFIX.rawValue
            (f.src_family, f.src_len, f.src) = (p.family, UInt8(p.len), bytes(p))
        }
        if let p = destinationPrefix {
            f.match |= XPF_CLEAR_DST_PREFIX.rawValue
            (f.dst_family, f.dst_len, f.dst) = (p.family, UInt8(p.len), bytes(p))
        }
        if let proto {
            f.match |= XPF_CLEAR_PROTO.rawValue
            f.proto = proto
        }
        if let sourcePort {
            f.match |= XPF_CLEAR_SRC_PORT.rawValue
            f.sport = sourcePort
        }
        if let destinationPort {
            f.match |= XPF_CLEAR_DST_PORT.rawValue
            f.dport = destinationPort
        }
        func slots(_ zone: String) -> UInt16 {
            var bits: UInt16 = 0
            for slot in 0..<min(names.view.interfaces.count, Int(XPF_MAX_IFACES)) where names.zone(ofSlot: UInt8(slot)) == zone {
                bits |= 1 << slot
            }
            return bits
        }
        if let fromZone {
            f.match |= XPF_CLEAR_IF_IN.rawValue
            f.if_in = slots(fromZone)
        }
        if let toZone {
            f.match |= XPF_CLEAR_IF_OUT.rawValue
            f.if_out = slots(toZone)
        }
        if let policy {
            f.match |= XPF_CLEAR_POLICY.rawValue
            f.policy_epoch = names.view.head.pointee.policy_epoch
            var ids = names.view.policies.indices.filter { names.view.string(at: names.view.policy($0).name) == policy }
            if policy == PolicyIdentity.defaultPolicyName { ids.append(Int(XPF_SESS_POLICY_DEFAULT)) }
            guard ids.count <= Int(XPF_CLEAR_MAX_POLICIES) else {
                throw XPFError("policy '\(policy)' names \(ids.count) policies; a clear filter holds at most \(XPF_CLEAR_MAX_POLICIES)")
            }
            f.n_policies = UInt16(ids.count)
            withUnsafeMutableBytes(of: &f.policies) { raw in
                for (i, id) in ids.enumerated() { raw.storeBytes(of: UInt16(id), toByteOffset: i * 2, as: UInt16.self) }
            }
        }
        return f
    }
}

extension xpf_clear_filter {
    /// Whether session `rec` matches (every condition set in `match` holds). For the owner
    /// of the record, whose key fields cannot change under it; policy and generation are
    /// relaxed loads (a re-check by another worker may rewrite them: the clear then goes
    /// by either verdict).
    @inlinable
    /// `runningEpoch`: the policy epoch the sweeping process runs (the ids of a policy
    /// condition mean that policy only in `policy_epoch`).
    public func matches(_ rec: UnsafeMutablePointer<xpf_session>, runningEpoch: UInt32) -> Bool {
        let m = match
        if m == 0 { return true }
        let r = rec.pointee
        if m & XPF_CLEAR_PROTO.rawValue != 0 && r.proto != proto { return false }
        if m & XPF_CLEAR_SRC_PORT.rawValue != 0 && UInt16(bigEndian: r.fwd.sport) != sport { return false }
        if m & XPF_CLEAR_DST_PORT.rawValue != 0 && UInt16(bigEndian: r.fwd.dport) != dport { return false }
        if m & XPF_CLEAR_IF_IN.rawValue != 0 && !Self.has(if_in, r.if_in) { return false }
        if m & XPF_CLEAR_IF_OUT.rawValue != 0 && !Self.has(if_out, r.if_out) { return false }
        if m & XPF_CLEAR_SRC_PREFIX.rawValue != 0
            && !Self.contains(src, length: src_len, family: src_family, r.fwd.src, of: r.family) { return false }
        if m & XPF_CLEAR_DST_PREFIX.rawValue != 0
            && !Self.contains(dst, length: dst_len, family: dst_family, r.fwd.dst, of: r.family) { return false }
        if m & XPF_CLEAR_POLICY.rawValue != 0 {
            // Decided in another epoch than the one the ids belong to — before it, or after
            // a commit during this sweep: its id means something else.
            if runningEpoch != policy_epoch || Int32(bitPattern: xpf_sess_generation(rec) &- policy_epoch) < 0 {
                return false
            }
            let id = xpf_sess_policy(rec)
            let n = Int(n_policies)
            let listed = withUnsafeBytes(of: policies) { raw in
                // Safe: n_policies ≤ XPF_CLEAR_MAX_POLICIES (clearFilter); min() guards a foreign writer.
                (0..<min(n, Int(XPF_CLEAR_MAX_POLICIES))).contains { raw.load(fromByteOffset: $0 * 2, as: UInt16.self) == id }
            }
            if !listed { return false }
        }
        return true
    }

    /// Whether interface slot `slot` is in `bitmap` (if_in / if_out).
    @inlinable
    static func has(_ bitmap: UInt16, _ slot: UInt8) -> Bool { Int(slot) < UInt16.bitWidth && bitmap >> slot & 1 != 0 }

    /// Whether address `a` of `aFamily` lies in the prefix `p`/`length` of `family` (16-byte
    /// network-order addresses, IPv4 in the first 4).
    @inlinable
    static func contains<T>(_ p: T, length: UInt8, family: UInt8, _ a: T, of aFamily: UInt8) -> Bool {
        guard family == aFamily else { return false }
        return withUnsafeBytes(of: p) { pb in
            withUnsafeBytes(of: a) { ab in
                var bits = Int(length)
                var i = 0
                while bits > 0 && i < pb.count {
                    let mask: UInt8 = bits >= 8 ? 0xff : ~(0xff >> UInt8(bits))
                    if pb[i] & mask != ab[i] & mask { return false }
                    bits -= 8
                    i += 1
                }
                return true
            }
        }
    }
}
