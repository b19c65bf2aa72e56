// Hot-path L2/L3/L4 header parser for the worker pipeline (SPEC ).
//
// Rules this file keeps (it runs once per packet):
//   * no allocation, no ARC, no Foundation, no existentials, no unspecialised generics;
//   * everything the worker calls is `@inlinable` so it is specialised/inlined into the
//     worker's loop across the module boundary;
//   * every read from the frame is preceded by a bounds check against the frame length
//     (or against an end offset that was itself checked to be <= the frame length).
//     Multi-byte fields are read with `loadUnaligned` because frame data in the UMEM is
//     only guaranteed to be byte-aligned (the Ethernet header is 14 bytes, VLAN adds 4).
//
// Verdict policy (which verdict a malformed packet gets):
//   * `.truncated`    the frame is too short for a fixed-size header: Ethernet (14), the
//                     VLAN tag (4), the fixed IPv4 header (20) or the fixed IPv6 header (40);
//   * `.notIP`        the ethertype (after at most one VLAN tag) is neither IPv4 nor IPv6,
//                     including a second (QinQ) tag;
//   * `.badIPHeader`  wrong version nibble, IPv4 IHL < 5 or IHL*4 beyond the frame, an IPv6
//                     extension header that runs past the end of the datagram, or more than
//                     `ParseConst.ipv6MaxExtensionHeaders` (8) extension headers;
//   * `.badLength`    IPv4 total length < IHL*4 or > bytes available; IPv6 40 + payload
//                     length > bytes available;
//   * `.badL4Header`  TCP/UDP/ICMP header too short or internally inconsistent.
//   * `.unsupportedVersion` is not produced by this parser (version mismatches are
//     `.badIPHeader` as specifies); the case is kept for callers/counters.
// On a non-`.ok` verdict the fields of `ParsedPacket` are only partially filled in and must
// not be used for forwarding decisions.

/// Result of `parseFrame`. Raw values are stable (used as counter indices).
public enum ParseVerdict: UInt8 {
    case ok = 0, truncated, badIPHeader, badLength, badL4Header, notIP, unsupportedVersion
}

/// Parsed header fields of one frame. A plain value with no references: the worker keeps one
/// per batch slot and `parseFrame` overwrites all of it for every packet.
public struct ParsedPacket {
    /// 4 or 6; 0 if the frame is not IP.
    public var family: UInt8
    /// L4 protocol number (for IPv6: the next header after the extension-header chain).
    public var proto: UInt8
    /// Full Tag Control Information (PCP | DEI | VID) of the VLAN tag; 0 if untagged.
    /// Use `vlanTCI & 0x0FFF` for the VLAN id. A priority tag can have VID 0, hence `hasVLAN`.
    public var vlanTCI: UInt16
    public var hasVLAN: Bool
    /// Ethertype after the (optional) VLAN tag, host order. Set even for `.notIP` frames so
    /// the caller can recognise e.g. ARP (0x0806).
    public var etherType: UInt16
    /// Offset of the IP header in the frame.
    public var l3Offset: Int
    /// Offset of the L4 header (valid when `!isNonFirstFragment`). For IPv6 this is after the
    /// extension headers. For non-first fragments it is the offset of the fragment payload.
    public var l4Offset: Int
    /// IPv4 total length / IPv6 40 + payload length. Always <= frame length - `l3Offset`;
    /// bytes past `l3Offset + l3Length` are Ethernet padding.
    public var l3Length: Int
    /// TTL (v4) / hop limit (v6).
    public var ttl: UInt8
    /// DSCP (upper six bits of TOS / traffic class).
    public var dscp: UInt8
    /// Any fragment: v4 MF set or offset != 0; v6 has a fragment header (even an atomic one).
    public var isFragment: Bool
    /// Fragment offset != 0: there is no L4 header in this packet.
    public var isNonFirstFragment: Bool
    /// Host order. TCP/UDP ports; ICMP/ICMPv6: `icmpKeyPorts` (the identifier and its
    /// successor for an echo, in an order that tells request from reply; type << 8 |
    /// code twice for any other message); else 0.
    public var srcPort: UInt16
    public var dstPort: UInt16
    /// TCP flags byte (CWR ECE URG ACK PSH RST SYN FIN); 0 for non-TCP.
    public var tcpFlags: UInt8
    public var icmpType: UInt8
    public var icmpCode: UInt8

    @inlinable
    public init() {
        family = 0; proto = 0; vlanTCI = 0; hasVLAN = false; etherType = 0
        l3Offset = 0; l4Offset = 0; l3Length = 0
        ttl = 0; dscp = 0; isFragment = false; isNonFirstFragment = false
        srcPort = 0; dstPort = 0; tcpFlags = 0; icmpType = 0; icmpCode = 0
    }

    /// Bytes from the L4 header to the end of the IP datagram (excludes Ethernet padding).
    @inlinable
    public var l4Length: Int { l3Offset + l3Length - l4Offset }
}

// MARK: - Wire constants and loads

/// Protocol numbers and ethertypes used by the parser. Computed properties (not `static let`)
/// so they fold to immediates in inlined code without lazy-global access.
@usableFromInline
internal enum ParseConst {
    @inlinable static var etherTypeIPv4: UInt16 { 0x0800 }
    @inlinable static var etherTypeIPv6: UInt16 { 0x86DD }
    @inlinable static var etherTypeVLAN: UInt16 { 0x8100 }   // 802.1Q
    @inlinable static var etherTypeQinQ: UInt16 { 0x88A8 }   // 802.1ad service tag
    @inlinable static var ethernetHeaderLength: Int { 14 }
    @inlinable static var vlanTagLength: Int { 4 }
    /// Where the addresses sit in the IP headers (RFC 791, RFC 8200).
    @inlinable static var ipv4SourceOffset: Int { 12 }
    @inlinable static var ipv4DestinationOffset: Int { 16 }
    @inlinable static var ipv6SourceOffset: Int { 8 }
    @inlinable static var ipv6DestinationOffset: Int { 24 }

    @inlinable static var protoICMP: UInt8 { 1 }
    @inlinable static var protoTCP: UInt8 { 6 }
    @inlinable static var protoUDP: UInt8 { 17 }
    @inlinable static var protoICMPv6: UInt8 { 58 }

    // IPv6 extension headers we walk.
    @inlinable static var ext6HopByHop: UInt8 { 0 }
    @inlinable static var ext6Routing: UInt8 { 43 }
    @inlinable static var ext6Fragment: UInt8 { 44 }
    @inlinable static var ext6AH: UInt8 { 51 }
    /// The M (more fragments) bit of the IPv6 fragment header's offset word.
    @inlinable static var ipv6MoreFragments: UInt16 { 0x0001 }
    @inlinable static var ext6DestOpts: UInt8 { 60 }

    /// An ICMP / ICMPv6 error's own header: type, code, checksum, 4 bytes (unused, pointer
    /// or MTU); the quoted packet follows (RFC 792, RFC 4443 §3).
    @inlinable static var icmpErrorHeaderLength: Int { 8 }
    /// What an error must quote of the invoking packet's data after its IP header(s)
    /// (RFC 792: "the first 64 bits"): every port and identifier a flow key holds.
    @inlinable static var quotedDataMinimum: Int { 8 }

    /// Upper bound on walked IPv6 extension headers: a crafted chain must not make the
    /// per-packet cost unbounded. Real traffic uses 0-3.
    @inlinable static var ipv6MaxExtensionHeaders: Int { 8 }
}

/// Raw big-endian loads. Callers MUST have bounds-checked `offset + size <= length` first;
/// these helpers only exist so each load site reads as one short expression.
@usableFromInline
internal enum WireLoad {
    @inlinable @inline(__always)
    static func u8(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        p.load(fromByteOffset: offset, as: UInt8.self)
    }

    @inlinable @inline(__always)
    static func be16(_ p: UnsafeRawPointer, _ offset: Int) -> UInt16 {
        UInt16(bigEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inlinable @inline(__always)
    static func be32(_ p: UnsafeRawPointer, _ offset: Int) -> UInt32 {
        UInt32(bigEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
}

// MARK: - Parser

/// Parses Ethernet [+ one 802.1Q/802.1ad tag] + IPv4/IPv6 [+ extension headers] + TCP/UDP/
/// ICMP/ICMPv6 headers of `frame[0..<length]` into `p` (which is fully overwritten).
/// Never reads at or beyond `frame + length`. Checksums are not verified here.
@inlinable
public func parseFrame(_ frame: UnsafeRawPointer, length: Int, into p: inout ParsedPacket) -> ParseVerdict {
    p = ParsedPacket()

    // Ethernet: dst MAC(6) src MAC(6) ethertype(2).
    guard length >= ParseConst.ethernetHeaderLength else { return .truncated }
    var etherType = WireLoad.be16(frame, 12)   // Safe: length >= 14.
    var l3 = ParseConst.ethernetHeaderLength

    if etherType == ParseConst.etherTypeVLAN || etherType == ParseConst.etherTypeQinQ {
        // Tag: TCI(2) inner ethertype(2).
        guard length >= l3 + ParseConst.vlanTagLength else { return .truncated }
        p.hasVLAN = true
        p.vlanTCI = WireLoad.be16(frame, 14)   // Safe: length >= 18.
        etherType = WireLoad.be16(frame, 16)
        l3 += ParseConst.vlanTagLength
        // A second tag (QinQ) is not supported: its 0x8100 falls through to `.notIP` below.
    }
    p.etherType = etherType
    p.l3Offset = l3

    if etherType == ParseConst.etherTypeIPv4 {
        return parseFrameIPv4(frame, length: length, into: &p)
    }
    if etherType == ParseConst.etherTypeIPv6 {
        return parseFrameIPv6(frame, length: length, into: &p)
    }
    return .notIP
}

/// IPv4 header at `p.l3Offset` (which is <= length).
@inlinable @inline(__always)
internal func parseFrameIPv4(_ frame: UnsafeRawPointer, length: Int, into p: inout ParsedPacket) -> ParseVerdict {
    let l3 = p.l3Offset
    let available = length - l3
    p.family = 4
    guard available >= 20 else { return .truncated }
    // Safe below up to l3 + 20: available >= 20.

    let versionIHL = WireLoad.u8(frame, l3)
    guard versionIHL >> 4 == 4 else { return .badIPHeader }
    let headerLength = Int(versionIHL & 0x0F) &* 4
    // IHL*4 <= available: options must be inside the frame, since L4 parsing starts after them.
    guard headerLength >= 20, headerLength <= available else { return .badIPHeader }

    let totalLength = Int(WireLoad.be16(frame, l3 + 2))
    // Trailing Ethernet padding (totalLength < available) is fine; the datagram is not.
    guard totalLength >= headerLength, totalLength <= available else { return .badLength }
    p.l3Length = totalLength

    p.dscp = WireLoad.u8(frame, l3 + 1) >> 2
    // Flags(3) | fragment offset(13): 0x2000 = MF, 0x1FFF = offset in 8-byte units.
    let fragmentWord = WireLoad.be16(frame, l3 + 6)
    let moreFragments = fragmentWord & 0x2000 != 0
    let fragmentOffset = fragmentWord & 0x1FFF
    p.isFragment = moreFragments || fragmentOffset != 0
    p.isNonFirstFragment = fragmentOffset != 0
    p.ttl = WireLoad.u8(frame, l3 + 8)
    p.proto = WireLoad.u8(frame, l3 + 9)
    p.l4Offset = l3 &+ headerLength

    if p.isNonFirstFragment { return .ok }   // Payload is the middle of some L4 datagram.
    return parseFrameL4(frame, end: l3 &+ totalLength, into: &p)
}

/// IPv6 header at `p.l3Offset` (which is <= length), then the extension-header chain.
@inlinable @inline(__always)
internal func parseFrameIPv6(_ frame: UnsafeRawPointer, length: Int, into p: inout ParsedPacket) -> ParseVerdict {
    let l3 = p.l3Offset
    let available = length - l3
    p.family = 6
    guard available >= 40 else { return .truncated }
    // Safe below up to l3 + 40: available >= 40.

    // version(4) | traffic class(8) | flow label(20)
    let firstWord = WireLoad.be32(frame, l3)
    guard firstWord >> 28 == 6 else { return .badIPHeader }
    p.dscp = UInt8(truncatingIfNeeded: firstWord >> 22) & 0x3F   // top 6 bits of traffic class

    let payloadLength = Int(WireLoad.be16(frame, l3 + 4))
    // Jumbograms (payload length 0 + hop-by-hop jumbo option) are not supported: with payload
    // length 0 the datagram is just the 40-byte header and any chain fails the checks below.
    guard 40 &+ payloadLength <= available else { return .badLength }
    p.l3Length = 40 &+ payloadLength
    p.ttl = WireLoad.u8(frame, l3 + 7)

    // Walk the chain. Every extension header lies within [offset, end) and end <= length.
    let end = l3 &+ p.l3Length
    var next = WireLoad.u8(frame, l3 + 6)
    var offset = l3 &+ 40
    guard walkIPv6ExtensionHeaders(frame, end: end, next: &next, offset: &offset, isFragment: &p.isFragment,
                                   isNonFirstFragment: &p.isNonFirstFragment) else { return .badIPHeader }
    p.proto = next
    p.l4Offset = offset

    if p.isNonFirstFragment { return .ok }
    return parseFrameL4(frame, end: end, into: &p)
}

/// Walks an IPv6 extension-header chain: `next` names the header at `offset`, and every
/// header must lie within [offset, end) (`end` <= the frame length). On return `next` is
/// the upper-layer protocol (or, for a non-first fragment, the fragmentable part's) and
/// `offset` where it starts. Returns false for a header that runs past `end` or a chain
/// longer than `ParseConst.ipv6MaxExtensionHeaders` (the caller's `.badIPHeader`). Used
/// for the packet's own header and for the packet an ICMPv6 error quotes.
@inlinable @inline(__always)
internal func walkIPv6ExtensionHeaders(_ frame: UnsafeRawPointer, end: Int, next: inout UInt8, offset: inout Int,
                                       isFragment: inout Bool, isNonFirstFragment: inout Bool) -> Bool {
    var count = 0
    walk: while true {
        switch next {
        case ParseConst.ext6HopByHop, ParseConst.ext6Routing, ParseConst.ext6DestOpts:
            // next header(1) | hdr ext len(1) in 8-octet units, not counting the first 8.
            guard count < ParseConst.ipv6MaxExtensionHeaders else { return false }
            guard end &- offset >= 8 else { return false }   // minimum size is 8
            let headerLength = (Int(WireLoad.u8(frame, offset + 1)) &+ 1) &* 8
            guard headerLength <= end &- offset else { return false }
            next = WireLoad.u8(frame, offset)
            offset &+= headerLength
            count &+= 1

        case ParseConst.ext6Fragment:
            // next header(1) | reserved(1) | offset(13) res(2) M(1) | identification(4)
            guard count < ParseConst.ipv6MaxExtensionHeaders else { return false }
            guard end &- offset >= 8 else { return false }
            let offsetAndFlags = WireLoad.be16(frame, offset + 2)
            let fragmentOffset = offsetAndFlags >> 3
            next = WireLoad.u8(frame, offset)
            offset &+= 8
            count &+= 1
            // An atomic fragment (offset 0, M clear: the whole datagram, RFC 6946) is not a
            // fragment of anything: `first-fragment` (offset 0 with more to come) and
            // `is-fragment` match it no more than they would the datagram without the header.
            isFragment = fragmentOffset != 0 || offsetAndFlags & ParseConst.ipv6MoreFragments != 0
            if fragmentOffset != 0 {
                // Non-first fragment: what follows is not a header; `next` names the protocol
                // of the fragmentable part, which is what `proto` should report.
                isNonFirstFragment = true
                break walk
            }

        case ParseConst.ext6AH:
            // next header(1) | payload len(1) in 4-octet units minus 2 | ...
            guard count < ParseConst.ipv6MaxExtensionHeaders else { return false }
            guard end &- offset >= 8 else { return false }
            let headerLength = (Int(WireLoad.u8(frame, offset + 1)) &+ 2) &* 4
            guard headerLength <= end &- offset else { return false }
            next = WireLoad.u8(frame, offset)
            offset &+= headerLength
            count &+= 1

        default:
            // Upper-layer protocol, ESP (50) or No Next Header (59): stop.
            break walk
        }
    }
    return true
}

/// L4 header at `p.l4Offset`; `end` is the end of the IP datagram (<= frame length, and
/// >= `p.l4Offset`), so `end - l4Offset` is the number of L4 bytes that may be read.
@inlinable @inline(__always)
internal func parseFrameL4(_ frame: UnsafeRawPointer, end: Int, into p: inout ParsedPacket) -> ParseVerdict {
    let l4 = p.l4Offset
    let available = end &- l4

    switch p.proto {
    case ParseConst.protoTCP:
        // sport(2) dport(2) seq(4) ack(4) data offset(4 bits)... flags(1) window(2) csum urg
        guard available >= 20 else { return .badL4Header }
        let dataOffset = Int(WireLoad.u8(frame, l4 + 12) >> 4) &* 4
        // A TCP header (with options) cut by the end of a first fragment is rejected too:
        // that is the "tiny fragment" evasion (RFC 1858).
        guard dataOffset >= 20, dataOffset <= available else { return .badL4Header }
        p.srcPort = WireLoad.be16(frame, l4)
        p.dstPort = WireLoad.be16(frame, l4 + 2)
        p.tcpFlags = WireLoad.u8(frame, l4 + 13)

    case ParseConst.protoUDP:
        // sport(2) dport(2) length(2) checksum(2)
        guard available >= 8 else { return .badL4Header }
        let udpLength = Int(WireLoad.be16(frame, l4 + 4))
        guard udpLength >= 8 else { return .badL4Header }
        // In a first fragment the UDP length covers the reassembled datagram, so it may
        // exceed what this packet carries.
        guard p.isFragment || udpLength <= available else { return .badL4Header }
        p.srcPort = WireLoad.be16(frame, l4)
        p.dstPort = WireLoad.be16(frame, l4 + 2)

    case ParseConst.protoICMP where p.family == 4,
         ParseConst.protoICMPv6 where p.family == 6:
        // type(1) code(1) checksum(2) [echo: identifier(2) sequence(2)]
        guard available >= 4 else { return .badL4Header }
        let type = WireLoad.u8(frame, l4)
        p.icmpType = type
        p.icmpCode = WireLoad.u8(frame, l4 + 1)
        let echo = isICMPEcho(family: p.family, type: type)
        if echo { guard available >= 8 else { return .badL4Header } }
        (p.srcPort, p.dstPort) = icmpKeyPorts(family: p.family, type: type, code: p.icmpCode,
                                              identifier: echo ? WireLoad.be16(frame, l4 + 4) : 0)

    default:
        break   // Unknown / unparsed L4 protocol: fine, ports stay 0.
    }
    return .ok
}

/// ICMP echo request / reply (ICMPv4 8 / 0, ICMPv6 128 / 129): keyed on the identifier.
@inlinable @inline(__always)
internal func isICMPEcho(family: UInt8, type: UInt8) -> Bool {
    family == 4 ? (type == 0 || type == 8) : (type == 128 || type == 129)
}

/// The flow key's ports of an ICMP / ICMPv6 message, so that its type is part of the key
/// and a verdict on one type never admits another:
///   echo request: (identifier, identifier + 1); echo reply: (identifier + 1, identifier)
///   (mod 2^16) — a reply matches the reverse entry of its request's session, while a
///   reply sent by the initiator or a request sent by the responder never does (a
///   request's key (a, a+1) equals a reply's (b+1, b) only if a = b+1 and b = a+1) and is
///   a flow of its own, for the policies to decide;
///   any other message: (type << 8 | code) twice — never an echo's ports, whose halves
///   always differ.
@inlinable @inline(__always)
public func icmpKeyPorts(family: UInt8, type: UInt8, code: UInt8, identifier: UInt16) -> (UInt16, UInt16) {
    let request = family == 4 ? ICMPEcho.requestV4 : ICMPEcho.requestV6
    let reply = family == 4 ? ICMPEcho.replyV4 : ICMPEcho.replyV6
    if type == request { return (identifier, identifier &+ 1) }
    if type == reply { return (identifier &+ 1, identifier) }
    let typeCode = UInt16(type) << 8 | UInt16(code)
    return (typeCode, typeCode)
}

// MARK: - The packet an ICMP error quotes

/// An ICMP error that quotes the packet it is about (ICMPRelatedStage.swift forwards it
/// only for that packet's session): ICMPv4 destination unreachable 3, source quench 4,
/// time exceeded 11, parameter problem 12 (RFC 792); ICMPv6 destination unreachable 1,
/// packet too big 2, time exceeded 3, parameter problem 4 (RFC 4443).
@inlinable @inline(__always)
public func isICMPError(family: UInt8, type: UInt8) -> Bool {
    let v4Errors: UInt32 = 1 << 3 | 1 << 4 | 1 << 11 | 1 << 12
    let v6FirstError: UInt8 = 1, v6ErrorCount: UInt8 = 4
    return family == 4 ? type < 32 && v4Errors >> UInt32(type) & 1 != 0 : type &- v6FirstError < v6ErrorCount
}

/// The packet an ICMP error quotes: where its IP header starts in the frame, its protocol
/// and its ports (host order) keyed exactly as `parseFrame` keys a packet (TCP/UDP ports;
/// ICMP: `icmpKeyPorts`; a non-first
/// fragment or another protocol: 0, 0). Addresses are read from the header at `l3Offset`.
public struct QuotedPacket {
    public var l3Offset = 0
    public var proto: UInt8 = 0
    public var srcPort: UInt16 = 0
    public var dstPort: UInt16 = 0
    @inlinable public init() {}
}

/// Parses the packet quoted by the ICMP error that `p` describes (`parseFrame` said
/// `.ok`; `isICMPError`; not a non-first fragment) into `q`, which is fully overwritten.
/// Returns false unless the quote is a consistent packet of the error's own family:
///   * its IP header whole (IPv4 20..60 bytes by IHL, IPv6 40) and `quotedDataMinimum`
///     bytes after it (after the extension headers for IPv6) within the error datagram;
///   * the version equal to the error's family;
///   * IPv4: IHL >= 5 and total length >= IHL*4; IPv6: the extension-header chain walked
///     as `parseFrame` walks it (`walkIPv6ExtensionHeaders`, at most 8 headers) within
///     both the quote and the quoted datagram's own length.
/// A quote is usually truncated (IPv4 errors carry 8 bytes of data), so the quoted L4
/// header is not checked beyond its ports. Never reads at or beyond the end of the
/// error's IP datagram.
@inlinable
public func parseQuotedPacket(_ frame: UnsafeRawPointer, error p: ParsedPacket, into q: inout QuotedPacket) -> Bool {
    q = QuotedPacket()
    let start = p.l4Offset &+ ParseConst.icmpErrorHeaderLength
    let end = p.l3Offset &+ p.l3Length   // <= the frame length: parseFrame checked it
    let available = end &- start         // may be negative: an error too short for its header
    q.l3Offset = start
    let l4: Int
    var isNonFirstFragment = false
    if p.family == 4 {
        guard available >= 20 else { return false }
        // Safe below up to start + 20: available >= 20.
        let versionIHL = WireLoad.u8(frame, start)
        guard versionIHL >> 4 == 4 else { return false }
        let headerLength = Int(versionIHL & 0x0F) &* 4
        guard headerLength >= 20, headerLength &+ ParseConst.quotedDataMinimum <= available else { return false }
        guard Int(WireLoad.be16(frame, start + 2)) >= headerLength else { return false }
        isNonFirstFragment = WireLoad.be16(frame, start + 6) & 0x1FFF != 0   // fragment offset, as parseFrameIPv4
        q.proto = WireLoad.u8(frame, start + 9)
        l4 = start &+ headerLength
    } else {
        guard available >= 40 else { return false }
        // Safe below up to start + 40: available >= 40.
        guard WireLoad.be32(frame, start) >> 28 == 6 else { return false }
        let quotedEnd = min(end, start &+ 40 &+ Int(WireLoad.be16(frame, start + 4)))
        var next = WireLoad.u8(frame, start + 6)
        var offset = start &+ 40
        var isFragment = false
        guard walkIPv6ExtensionHeaders(frame, end: quotedEnd, next: &next, offset: &offset, isFragment: &isFragment,
                                       isNonFirstFragment: &isNonFirstFragment) else { return false }
        guard ParseConst.quotedDataMinimum <= end &- offset else { return false }
        q.proto = next
        l4 = offset
    }
    if isNonFirstFragment { return true }   // no L4 header: ports 0, as parseFrame keys it
    // Safe below up to l4 + 8: checked above for both families.
    switch q.proto {
    case ParseConst.protoTCP, ParseConst.protoUDP:
        q.srcPort = WireLoad.be16(frame, l4)
        q.dstPort = WireLoad.be16(frame, l4 + 2)
    case ParseConst.protoICMP where p.family == 4,
         ParseConst.protoICMPv6 where p.family == 6:
        // A quoted error (never sent about, RFC 1812 §4.3.2.7 / RFC 4443 §2.4(e)) keys
        // like any error, a key no session holds (ICMPRelatedStage.swift).
        (q.srcPort, q.dstPort) = icmpKeyPorts(family: p.family, type: WireLoad.u8(frame, l4),
                                              code: WireLoad.u8(frame, l4 + 1), identifier: WireLoad.be16(frame, l4 + 4))
    default:
        break   // other protocols: ports 0, as parseFrame keys them
    }
    return true
}
