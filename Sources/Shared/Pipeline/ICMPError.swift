// ICMP errors the dataplane sends itself (R-3.3 time exceeded; later host
// unreachable and reject): built in place in the offending frame's UMEM buffer
// and sent back out of the interface it arrived on. The kernel cannot do it for us:
// with its forwarding off it answers nothing for transit packets.
//
// Never in reply to (RFC 1812 4.3.2.7, RFC 4443 2.4(e)): an ICMP error (or an ICMPv6
// redirect), a non-first fragment, a packet to a multicast/broadcast address or sent as
// a link-layer multicast/broadcast, or from an address that does not name one host.
// Rate limiting is the caller's. Tests/SharedTests/ICMPErrorTests.swift has one row per rule.
import CXPF

public enum ICMPError {
    /// (type, code) pairs.
    public static let timeExceededV4: (UInt8, UInt8) = (11, 0)
    public static let timeExceededV6: (UInt8, UInt8) = (3, 0)
    public static let hostUnreachableV4: (UInt8, UInt8) = (3, 1)
    public static let addressUnreachableV6: (UInt8, UInt8) = (1, 3)

    /// Whether RFC 1812 / RFC 4443 allow an error about this packet.
    @inlinable
    public static func allowed(frame: UnsafeRawPointer, parsed p: ParsedPacket) -> Bool {
        let ethernetGroupBit: UInt8 = 0x01      // I/G bit of the destination MAC: multicast or broadcast
        let icmpv6Informational: UInt8 = 128    // ICMPv6 types below are errors
        let icmpv6Redirect: UInt8 = 137
        if p.isNonFirstFragment { return false }
        if frame.load(as: UInt8.self) & ethernetGroupBit != 0 { return false }               // link-layer multicast, broadcast
        let l3 = frame + p.l3Offset
        if p.family == 4 {
            if p.proto == 1 && !(p.icmpType == 0 || p.icmpType == 8 || (13...18).contains(p.icmpType)) { return false }
            let src = UInt32(bigEndian: l3.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
            let dst = UInt32(bigEndian: l3.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
            if dst >> 28 == 0xE || dst == 0xFFFF_FFFF { return false }                       // multicast, broadcast
            if src >> 24 == 0 || src >> 24 == 127 || src >> 28 >= 0xE { return false }       // network 0, loopback, class D/E
            return true
        }
        if p.proto == 58 && (p.icmpType < icmpv6Informational || p.icmpType == icmpv6Redirect) { return false }
        if l3.load(fromByteOffset: 24, as: UInt8.self) == 0xFF { return false }              // multicast destination
        let srcHi = l3.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        let srcLo = l3.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
        if srcHi == 0 && (srcLo == 0 || UInt64(bigEndian: srcLo) == 1) { return false }      // :: and ::1
        if l3.load(fromByteOffset: 8, as: UInt8.self) == 0xFF { return false }               // multicast source
        return true
    }

    /// Link layer of a reply built in place: addressed to the frame's sender (its source
    /// MAC) from the ingress interface's MAC (`ingressMAC`, 6 bytes); a VLAN tag stays.
    /// 4 + 2 byte moves: a 6-byte copyMemory becomes a memcpy call.
    @inlinable
    public static func returnToSender(frame: UnsafeMutableRawPointer, ingressMAC: UnsafeRawPointer) {
        // Safe: every frame the parser accepted has at least a 14-byte Ethernet header.
        let peer0 = frame.loadUnaligned(fromByteOffset: 6, as: UInt32.self)
        let peer1 = frame.loadUnaligned(fromByteOffset: 10, as: UInt16.self)
        frame.storeBytes(of: peer0, as: UInt32.self)
        frame.storeBytes(of: peer1, toByteOffset: 4, as: UInt16.self)
        frame.storeBytes(of: ingressMAC.loadUnaligned(as: UInt32.self), toByteOffset: 6, as: UInt32.self)
        frame.storeBytes(of: ingressMAC.loadUnaligned(fromByteOffset: 4, as: UInt16.self), toByteOffset: 10, as: UInt16.self)
    }

    /// Rewrites the frame into an ICMP error (type, code) from `source` (4 or 16 bytes)
    /// to the packet's sender, addressed at link level to the sender's MAC from
    /// `ingressMAC` (6 bytes). The VLAN tag, if any, stays. Returns the new frame length,
    /// which never exceeds the old one plus 48 bytes; the UMEM frame has room for it.
    @inlinable
    public static func build(frame: UnsafeMutableRawPointer, parsed p: ParsedPacket, type: UInt8, code: UInt8,
                             source: UnsafeRawPointer, ingressMAC: UnsafeRawPointer) -> Int {
        returnToSender(frame: frame, ingressMAC: ingressMAC)
        let l3 = frame + p.l3Offset
        if p.family == 4 {
            // Quote the original IP header and the first 8 bytes of its payload.
            let ihl = Int(l3.load(as: UInt8.self) & 0x0F) * 4
            let quoted = ihl + min(8, p.l3Length - ihl)
            (l3 + 28).copyMemory(from: l3, byteCount: quoted)  // Safe: memmove semantics; 28 + quoted ≤ 96 bytes
            let q = l3 + 28
            let total = 28 + quoted
            l3.storeBytes(of: UInt32(0x45C0_0000 | UInt32(total)).bigEndian, as: UInt32.self)  // version, IHL, TOS 0xC0, length
            l3.storeBytes(of: UInt32(0).bigEndian, toByteOffset: 4, as: UInt32.self)           // id, flags, fragment
            l3.storeBytes(of: UInt32(0x4001_0000).bigEndian, toByteOffset: 8, as: UInt32.self) // TTL 64, ICMP, checksum 0
            l3.storeBytes(of: source.loadUnaligned(as: UInt32.self), toByteOffset: 12, as: UInt32.self)
            l3.storeBytes(of: q.loadUnaligned(fromByteOffset: 12, as: UInt32.self), toByteOffset: 16, as: UInt32.self)
            l3.storeBytes(of: internetChecksum(l3, count: 20).bigEndian, toByteOffset: 10, as: UInt16.self)
            let icmp = l3 + 20
            icmp.storeBytes(of: UInt32(UInt32(type) << 24 | UInt32(code) << 16).bigEndian, as: UInt32.self)
            icmp.storeBytes(of: UInt32(0), toByteOffset: 4, as: UInt32.self)
            icmp.storeBytes(of: internetChecksum(icmp, count: 8 + quoted).bigEndian, toByteOffset: 2, as: UInt16.self)
            return p.l3Offset + total
        }
        // IPv6: quote as much of the original as keeps the error within the minimum MTU.
        let quoted = min(p.l3Length, 1280 - 48)
        (l3 + 48).copyMemory(from: l3, byteCount: quoted)  // Safe: memmove semantics; the frame grows by 48 at most
        let q = l3 + 48
        l3.storeBytes(of: UInt32(0x6000_0000).bigEndian, as: UInt32.self)
        l3.storeBytes(of: UInt16(8 + quoted).bigEndian, toByteOffset: 4, as: UInt16.self)
        l3.storeBytes(of: UInt16(58 << 8 | 64).bigEndian, toByteOffset: 6, as: UInt16.self)   // next header ICMPv6, hop limit 64
        (l3 + 8).copyMemory(from: source, byteCount: 16)
        (l3 + 24).copyMemory(from: q + 8, byteCount: 16)
        let icmp = l3 + 40
        icmp.storeBytes(of: UInt32(UInt32(type) << 24 | UInt32(code) << 16).bigEndian, as: UInt32.self)
        icmp.storeBytes(of: UInt32(0), toByteOffset: 4, as: UInt32.self)
        icmp.storeBytes(of: l4ChecksumV6(ipHeader: l3, proto: 58, l4: icmp, l4Length: 8 + quoted).bigEndian,
                        toByteOffset: 2, as: UInt16.self)
        return p.l3Offset + 48 + quoted
    }
}

/// A token bucket for ICMP errors per worker (like the kernel's icmp_ratelimit): at most
/// `perSecond` on average, bursts of `burst`.
public struct ICMPRateLimit {
    public var perSecond: UInt32 = 100
    public var burst: UInt32 = 20
    @usableFromInline var tokens: UInt32 = 20
    @usableFromInline var lastMs: UInt32 = 0
    public init() {}

    @inlinable
    public mutating func take(nowMs: UInt32) -> Bool {
        let elapsed = nowMs &- lastMs
        if elapsed >= 1000 / max(perSecond, 1) {
            let add = UInt64(elapsed) * UInt64(perSecond) / 1000
            tokens = UInt32(min(UInt64(burst), UInt64(tokens) + add))
            lastMs = nowMs
        }
        if tokens == 0 { return false }
        tokens -= 1
        return true
    }
}

extension Pipeline {
    /// TTL / hop limit exhausted: the packet is dropped and counted; in its place
    /// an ICMP time exceeded goes back out of the ingress interface (see `icmpError`).
    @inline(never)  // cold path
    @usableFromInline
    mutating func timeExceeded(_ p: inout Packet, counters: inout WorkerCounters) -> PacketAction {
        let (type, code) = p.parsed.family == 4 ? ICMPError.timeExceededV4 : ICMPError.timeExceededV6
        guard let length = icmpError(frame: p.frame, parsed: p.parsed, ingress: p.ingress, type: type, code: code,
                                     counters: &counters) else {
            return .drop(XPF_DROP_TTL)
        }
        // The original packet is still a TTL drop; the caller counts drops only for .drop.
        counters.drop(UInt8(XPF_DROP_TTL.rawValue))
        return PacketAction(kind: .transmit, egress: p.ingress, length: length)
    }

    /// A parked frame whose next hop never resolved: rewrites it into an ICMP
    /// host unreachable for its sender; returns the new length, or nil when no error may
    /// be sent (the caller then just frees the frame). The drop is the caller's to count.
    @inline(never)  // cold path
    public mutating func hostUnreachable(frame: UnsafeMutableRawPointer, length: Int, ingress: UInt8,
                                         counters: inout WorkerCounters) -> UInt32? {
        var parsed = ParsedPacket()
        guard parseFrame(UnsafeRawPointer(frame), length: length, into: &parsed) == .ok else { return nil }
        let (type, code) = parsed.family == 4 ? ICMPError.hostUnreachableV4 : ICMPError.addressUnreachableV6
        return icmpError(frame: frame, parsed: parsed, ingress: ingress, type: type, code: code, counters: &counters)
    }

    /// Rewrites the frame (`parsed` describes it) into an ICMP error sent back out of the
    /// ingress interface, from that interface's address, when the RFCs allow one and the
    /// worker's rate limit has room. Returns the new frame length, or nil.
    @usableFromInline
    mutating func icmpError(frame: UnsafeMutableRawPointer, parsed: ParsedPacket, ingress: UInt8, type: UInt8, code: UInt8,
                            counters: inout WorkerCounters) -> UInt32? {
        guard Int(ingress) < interfaceCount, ICMPError.allowed(frame: UnsafeRawPointer(frame), parsed: parsed),
              let source = fib.interfaceAddress(slot: ingress, family: parsed.family) else { return nil }
        guard icmpLimit.take(nowMs: nowMs) else {
            counters.s.icmp_errors_limited &+= 1
            return nil
        }
        let length = ICMPError.build(frame: frame, parsed: parsed, type: type, code: code, source: source,
                                     ingressMAC: interfaceMAC(slot: ingress))
        counters.s.icmp_errors_sent &+= 1
        return UInt32(length)
    }

    /// The MAC address (6 bytes) of interface `slot` (< interfaceCount): the link-level
    /// source of the replies the dataplane sends itself (ICMP errors, Reject.swift's RST).
    @usableFromInline
    func interfaceMAC(slot: UInt8) -> UnsafeRawPointer {
        UnsafeRawPointer(interfaces + Int(slot)) + MemoryLayout<EgressInterface>.offset(of: \EgressInterface.mac)!
    }
}
