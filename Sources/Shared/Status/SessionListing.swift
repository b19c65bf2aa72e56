// Reading sessions out of shared memory for xpfctl (and tests): a consistent copy of
// each LIVE record, checked against its seq_state before and after the copy.
#if canImport(Glibc)
import Glibc
#endif
import CXPF

public struct SessionInfo: Sendable {
    public var id: Int                 // record index + 1
    public var record: xpf_session     // a consistent copy
    public var idleMs: UInt32
    public var ageS: UInt32
    public var timeoutS: UInt32

    /// Seconds until the session ages out if no packet comes (Junos' Timeout).
    public var remainingS: UInt32 { timeoutS > idleMs / 1000 ? timeoutS - idleMs / 1000 : 0 }
}

public enum SessionListing {
    /// Every live session, in record order.
    public static func all(_ region: ShmRegion) -> [SessionInfo] {
        let table = region.sessionTable
        let view = region.configView(slot: region.current(.config).slot)
        let now = monotonicNanos()
        let nowMs = UInt32(truncatingIfNeeded: now / 1_000_000)
        let nowS = UInt32(truncatingIfNeeded: now / 1_000_000_000)
        var out: [SessionInfo] = []
        for i in 0..<table.capacity {
            let rec = table.records + i
            let s1 = xpf_sess_load_state(rec)
            if s1 & 3 != UInt32(XPF_SESS_LIVE.rawValue) { continue }
            var copy = rec.pointee
            copy.packets = (xpf_sess_packets(rec, 0), xpf_sess_packets(rec, 1))
            copy.bytes = (xpf_sess_bytes(rec, 0), xpf_sess_bytes(rec, 1))
            xpf_fence_acquire()
            if xpf_sess_load_state(rec) != s1 { continue }  // reused while we copied
            // Another worker may have stamped last_seen a moment after our clock read.
            let idle = UInt32(max(0, Int32(bitPattern: nowMs &- copy.last_seen_ms)))
            let t = view.sessionIdleTimeout(copy)  // the application's inactivity-timeout, if its policy's sets one
            out.append(SessionInfo(id: i + 1, record: copy, idleMs: idle, ageS: nowS &- copy.created_s, timeoutS: t))
        }
        return out
    }

    public static func protocolName(_ p: UInt8) -> String {
        switch p {
        case 1: return "icmp"
        case 6: return "tcp"
        case 17: return "udp"
        case 58: return "icmpv6"
        default: return "\(p)"
        }
    }

    public static func protocolNumber(_ s: String) -> UInt8? {
        switch s.lowercased() {
        case "icmp": return 1
        case "tcp": return 6
        case "udp": return 17
        case "icmpv6", "icmp6": return 58
        default: return UInt8(s)
        }
    }
}

/// The policy a session runs under, named from the running configuration snapshot.
public enum SessionPolicy: Equatable, Sendable {
    /// POLICIES id `id` of the running snapshot permitted it.
    case policy(id: Int, name: String)
    /// No policy matched and `default-policy permit-all` admitted it.
    case defaultPolicy
    /// Decided under a generation older than the running policy epoch: its policy id
    /// belongs to that generation, and its next packet (or the ageing sweep) re-checks it
    /// (R-4.4).
    case awaitingRecheck
    /// An id the running snapshot has no policy for (a record read while it changed).
    case unknown(id: Int)

    /// The name `show security flow session` prints and its `policy` filter compares.
    public var name: String {
        switch self {
        case .policy(_, let name): return name
        case .defaultPolicy: return PolicyIdentity.defaultPolicyName
        case .awaitingRecheck: return "N/A (awaiting re-check)"
        case .unknown(let id): return "#\(id)"
        }
    }

    /// The policy id, when the running snapshot gives it a meaning.
    public var id: Int? {
        switch self {
        case .policy(let id, _): return id
        case .defaultPolicy: return Int(XPF_SESS_POLICY_DEFAULT)
        case .awaitingRecheck, .unknown: return nil
        }
    }

    /// JSON `policy_state`.
    public var state: String {
        switch self {
        case .policy: return "policy"
        case .defaultPolicy: return "default-policy"
        case .awaitingRecheck: return "awaiting-recheck"
        case .unknown: return "unknown"
        }
    }
}

/// Names of a session's policy and zones under one configuration snapshot (the running
/// one for xpfctl). Indices from a record are checked before use: a tool reads records
/// that workers change under it.
public struct SessionNames {
    public let view: ConfigSnapshotView

    public init(view: ConfigSnapshotView) { self.view = view }

    /// The running configuration of `region`.
    public init(_ region: ShmRegion) { view = region.configView(slot: region.current(.config).slot) }

    public func policy(of r: xpf_session) -> SessionPolicy {
        // Stale when its generation is older than the policy epoch (signed 32-bit difference,
        // as the worker compares them).
        if Int32(bitPattern: r.generation &- view.head.pointee.policy_epoch) < 0 { return .awaitingRecheck }
        let id = Int(r.policy)
        if r.policy == UInt16(XPF_SESS_POLICY_DEFAULT) { return .defaultPolicy }
        guard id < view.policies.count, let name = view.string(at: view.policy(id).name) else { return .unknown(id: id) }
        return .policy(id: id, name: name)
    }

    /// The zone of interface slot `slot`, or nil when it is in none.
    public func zone(ofSlot slot: UInt8) -> String? {
        guard Int(slot) < view.interfaces.count else { return nil }
        let z = view.interface(slot: Int(slot)).zone
        guard z != XPF_CFG_NONE, Int(z) < view.zones.count else { return nil }
        return view.string(at: view.zone(Int(z)).name)
    }
}

/// The filters of `show security flow session` (Junos words, any combination; every one
/// given must hold). Addresses and ports are the forward tuple's, as the first packet
/// carried them; zones are those of the session's ingress and egress interfaces, and the
/// policy its name (`default-policy` for the default), under the running snapshot.
public struct SessionFilter {
    public var sourcePrefix: FilterPrefix?
    public var destinationPrefix: FilterPrefix?
    public var proto: UInt8?
    public var sourcePort: UInt16?
    public var destinationPort: UInt16?
    public var fromZone: String?
    public var toZone: String?
    public var policy: String?

    public static let usage = FlowWords.usage + " | from-zone Z | to-zone Z | policy NAME"

    public init() {}

    /// Parses `KEYWORD VALUE` pairs.
    public init(words: [String]) throws {
        var (fromZone, toZone, policy): (String?, String?, String?) = (nil, nil, nil)
        let flow = try FlowWords.parse(words, usage: Self.usage, example: "destination-port 5001") { keyword, v in
            switch keyword {
            case "from-zone": fromZone = v
            case "to-zone": toZone = v
            case "policy": policy = v
            default: return false
            }
            return true
        }
        (sourcePrefix, destinationPrefix, proto) = (flow.sourcePrefix, flow.destinationPrefix, flow.proto)
        (sourcePort, destinationPort) = (flow.sourcePort, flow.destinationPort)
        (self.fromZone, self.toZone, self.policy) = (fromZone, toZone, policy)
    }

    public func matches(_ s: SessionInfo, names: SessionNames) -> Bool {
        let r = s.record
        if let proto, r.proto != proto { return false }
        if let sourcePrefix, !prefixContains(sourcePrefix, family: r.family, withUnsafeBytes(of: r.fwd.src) { Array($0) }) { return false }
        if let destinationPrefix, !prefixContains(destinationPrefix, family: r.family, withUnsafeBytes(of: r.fwd.dst) { Array($0) }) { return false }
        if let sourcePort, UInt16(bigEndian: r.fwd.sport) != sourcePort { return false }
        if let destinationPort, UInt16(bigEndian: r.fwd.dport) != destinationPort { return false }
        if let fromZone, names.zone(ofSlot: r.if_in) != fromZone { return false }
        if let toZone, names.zone(ofSlot: r.if_out) != toZone { return false }
        if let policy {
            let p = names.policy(of: r)
            // A session awaiting its re-check has no policy under the running snapshot.
            if p.id == nil || p.name != policy { return false }
        }
        return true
    }
}

extension SessionListing {
    /// `show security flow session [filters] [--json]` over `sessions` (from `all`):
    /// interface names, owners and zone/policy names from `region`.
    public static func render(_ sessions: [SessionInfo], region: ShmRegion, names: SessionNames, json: Bool) -> String {
        let ifNames = (0..<region.interfaceCount).map { stringFromCArray(region.iface($0).name) }
        func ifname(_ s: UInt8) -> String { Int(s) < ifNames.count ? ifNames[Int(s)] : "?" }
        func zone(_ s: UInt8) -> String? { names.zone(ofSlot: s) }
        let noZone = "-"
        if json {
            var j = JSONWriter()
            j.beginObject()
            j.beginArray("sessions")
            for s in sessions {
                let r = s.record
                let policy = names.policy(of: r)
                j.beginObject()
                j.field("id", s.id)
                j.field("protocol", protocolName(r.proto))
                j.field("family", r.family)
                for (key, t, dir, ifs) in [("in", r.fwd, 0, r.if_in), ("out", r.rev, 1, r.if_out)] {
                    j.beginObject(key)
                    j.field("src", formatAddress(family: r.family, t.src)); j.field("sport", UInt16(bigEndian: t.sport))
                    j.field("dst", formatAddress(family: r.family, t.dst)); j.field("dport", UInt16(bigEndian: t.dport))
                    j.field("interface", ifname(ifs))
                    j.field("packets", dir == 0 ? r.packets.0 : r.packets.1)
                    j.field("bytes", dir == 0 ? r.bytes.0 : r.bytes.1)
                    j.endObject()
                }
                j.field("generation", r.generation)
                j.field("owner_queue", region.sessionTable.owner(of: s.id - 1, queues: region.queues))
                j.field("policy", policy.name)
                if let id = policy.id { j.field("policy_id", id) } else { j.null("policy_id") }
                j.field("policy_state", policy.state)
                if let z = zone(r.if_in) { j.field("from_zone", z) } else { j.null("from_zone") }
                if let z = zone(r.if_out) { j.field("to_zone", z) } else { j.null("to_zone") }
                j.field("tcp_state", r.tcp_state)
                if let name = xpf_tcp_state_name(UInt32(r.tcp_state)) { j.field("tcp_state_name", String(cString: name)) }
                j.field("age_s", s.ageS)
                j.field("idle_s", s.idleMs / 1000)
                j.field("timeout_s", s.timeoutS)
                j.field("remaining_s", s.remainingS)
                j.endObject()
            }
            j.endArray()
            j.field("total", sessions.count)
            j.endObject()
            return j.text
        }
        var lines: [String] = []
        for s in sessions {
            let r = s.record
            let p = protocolName(r.proto)
            let policy = names.policy(of: r)
            let state = r.tcp_state == UInt8(XPF_TCP_NONE.rawValue) ? ""
                : xpf_tcp_state_name(UInt32(r.tcp_state)).map { ", TCP state: \(String(cString: $0))" } ?? ""
            lines.append("Session ID: \(s.id), Policy name: \(policy.name)\(policy.id.map { "/\($0)" } ?? ""), "
                + "From zone: \(zone(r.if_in) ?? noZone), To zone: \(zone(r.if_out) ?? noZone), Generation: \(r.generation), "
                + "Timeout: \(s.remainingS), Idle: \(s.idleMs / 1000), Valid\(state)")
            for (label, t, dir, ifs) in [("In", r.fwd, 0, r.if_in), ("Out", r.rev, 1, r.if_out)] {
                lines.append("  \(label): \(formatAddress(family: r.family, t.src))/\(UInt16(bigEndian: t.sport)) --> \(formatAddress(family: r.family, t.dst))/\(UInt16(bigEndian: t.dport));\(p), If: \(ifname(ifs)), Pkts: \(dir == 0 ? r.packets.0 : r.packets.1), Bytes: \(dir == 0 ? r.bytes.0 : r.bytes.1)")
            }
        }
        lines.append("Total sessions: \(sessions.count)")
        return lines.joined(separator: "\n")
    }
}

/// Text form of an address held in 16 bytes (IPv4 in the first 4).
public func formatAddress(family: UInt8, _ a: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) -> String {
    var buf = [CChar](repeating: 0, count: 64)
    var copy = a
    let ok = withUnsafeBytes(of: &copy) { inet_ntop(family == 4 ? AF_INET : AF_INET6, $0.baseAddress, &buf, 64) } != nil
    return ok ? String(cString: buf) : "?"
}

/// Parses "A.B.C.D[/len]" or "v6[/len]" into (family, 16 bytes, prefix length).
public func parsePrefix(_ s: String) -> FilterPrefix? {
    let parts = s.split(separator: "/", maxSplits: 1).map(String.init)
    var bytes = [UInt8](repeating: 0, count: 16)
    let family: UInt8
    if bytes.withUnsafeMutableBytes({ inet_pton(AF_INET, parts[0], $0.baseAddress) }) == 1 { family = 4 }
    else if bytes.withUnsafeMutableBytes({ inet_pton(AF_INET6, parts[0], $0.baseAddress) }) == 1 { family = 6 }
    else { return nil }
    let maxLen = family == 4 ? 32 : 128
    let len = parts.count > 1 ? Int(parts[1]) ?? -1 : maxLen
    guard len >= 0 && len <= maxLen else { return nil }
    return (family, bytes, len)
}

/// Whether 16-byte address `a` of `family` lies in prefix `p`.
public func prefixContains(_ p: FilterPrefix, family: UInt8, _ a: [UInt8]) -> Bool {
    guard p.family == family else { return false }
    var bits = p.len
    var i = 0
    while bits > 0 {
        let m: UInt8 = bits >= 8 ? 0xff : UInt8(0xff << (8 - bits) & 0xff)
        if a[i] & m != p.addr[i] & m { return false }
        bits -= 8
        i += 1
    }
    return true
}
