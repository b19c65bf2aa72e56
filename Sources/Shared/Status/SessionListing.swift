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
}

public enum SessionListing {
    /// Every live session, in record order.
    public static func all(_ region: ShmRegion) -> [SessionInfo] {
        let table = region.sessionTable
        let cfg = region.configSnapshot.pointee
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
            let t = cfg.idleTimeout(proto: copy.proto, tcpState: copy.tcp_state)
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

/// Text form of an address held in 16 bytes (IPv4 in the first 4).
public func formatAddress(family: UInt8, _ a: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) -> String {
    var buf = [CChar](repeating: 0, count: 64)
    var copy = a
    let ok = withUnsafeBytes(of: &copy) { inet_ntop(family == 4 ? AF_INET : AF_INET6, $0.baseAddress, &buf, 64) } != nil
    return ok ? String(cString: buf) : "?"
}

/// Parses "A.B.C.D[/len]" or "v6[/len]" into (family, 16 bytes, prefix length).
public func parsePrefix(_ s: String) -> (family: UInt8, addr: [UInt8], len: Int)? {
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
public func prefixContains(_ p: (family: UInt8, addr: [UInt8], len: Int), family: UInt8, _ a: [UInt8]) -> Bool {
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
