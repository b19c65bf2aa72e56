// The reply a `reject` policy or filter term sends, built in place in the offending frame's UMEM
// buffer and sent back out of the interface it arrived on, as ICMPError.swift does:
//   * TCP (unless the segment is itself a RST): a RST the client's stack accepts
//     (RFC 9293 §3.10.7.1 "If the connection does not exist (CLOSED)"): to a segment
//     with ACK, <SEQ=SEG.ACK><CTL=RST>; otherwise <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
//     It comes "from" the server the client tried to reach: addresses and ports swapped.
//   * everything else: ICMP destination unreachable, administratively prohibited (ICMPv4
//     3/13, RFC 1812 §5.2.7.1; ICMPv6 1/1, RFC 4443 §3.1) from the ingress interface's
//     address, built by ICMPError.build. A filter term's `reject REASON` picks the code
//     (RejectReply.filter) and sends a RST only for `tcp-reset`.
// Both obey ICMPError.allowed (no reply to an ICMP error, a non-first fragment, a
// multicast/broadcast packet or a source that is not one host). Only the ICMP reply
// spends the worker's ICMP rate limit (RFC 1812 §4.3.2.8 limits ICMP errors): a RST is
// no larger than the segment it answers and goes to the same source, as a closed port's
// RST from any host does. The policy and filter stages call `Pipeline.reject`; the event
// may say `reject` only when `Rejection.replySent`.
// Tests/SharedTests/RejectTests.swift checks every field of both replies.
import CXPF

public enum Reject {
    /// (type, code): destination unreachable, communication administratively prohibited.
    public static let adminProhibitedV4: (type: UInt8, code: UInt8) = (3, 13)
    public static let adminProhibitedV6: (type: UInt8, code: UInt8) = (1, 1)
    // Computed (not `static let`) so they fold to immediates in inlined code, as ParseConst's.
    /// TTL / hop limit of a RST (Linux's default ip_default_ttl and hop_limit).
    @inlinable public static var resetTTL: UInt8 { 64 }
    @inlinable static var ipv4HeaderLength: Int { 20 }
    @inlinable static var ipv6HeaderLength: Int { 40 }
    /// A TCP header without options (data offset 5 words).
    @inlinable static var tcpHeaderLength: Int { 20 }
    @inlinable static var tcpDataOffsetNoOptions: UInt8 { 0x50 }
    /// IPv4 version 4, IHL 5, TOS 0; then id 0 with Don't Fragment (as Linux's nf_reject).
    @inlinable static var ipv4VersionIHL: UInt32 { 0x4500_0000 }
    @inlinable static var ipv4DontFragment: UInt32 { 0x0000_4000 }
    /// IPv6 version 6, traffic class 0, flow label 0.
    @inlinable static var ipv6Version: UInt32 { 0x6000_0000 }

    /// Whether a RST may answer this TCP segment: never a RST to a RST (RFC 9293
    /// §3.10.7.1), and the address rules of ICMP errors (which also refuse non-first
    /// fragments: they carry no TCP header to answer).
    @inlinable
    public static func resetAllowed(frame: UnsafeRawPointer, parsed p: ParsedPacket) -> Bool {
        ICMPError.allowed(frame: frame, parsed: p) && p.tcpFlags & TCPFlag.rst == 0
    }

    /// Rewrites the frame, a TCP segment `resetAllowed` admits, into the RST that answers
    /// it, addressed at link level to the sender's MAC from `ingressMAC` (6 bytes). The
    /// VLAN tag, if any, stays; IPv4 options and IPv6 extension headers go. Returns the new
    /// frame length (shorter than the old one). In a first fragment SEG.LEN counts the
    /// bytes this fragment carries: for a SYN still an acknowledgment the client accepts
    /// (RFC 9293 §3.10.7.3: ISS < SEG.ACK ≤ SND.NXT).
    @inlinable
    public static func buildTCPReset(frame: UnsafeMutableRawPointer, parsed p: ParsedPacket,
                                     ingressMAC: UnsafeRawPointer) -> Int {
        // Read every field the reply needs before the headers are overwritten.
        // Safe: parseFrame found the whole TCP header (20 bytes at least) inside the datagram
        // and resetAllowed refused non-first fragments; every store below lies within the
        // original Ethernet, IP and TCP headers, which are no shorter than the reply's.
        let segment = UnsafeRawPointer(frame + p.l4Offset)
        let sourcePort = segment.loadUnaligned(as: UInt16.self)                        // network order, copied as is
        let destinationPort = segment.loadUnaligned(fromByteOffset: 2, as: UInt16.self)
        let seq = UInt32(bigEndian: segment.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let ack = UInt32(bigEndian: segment.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        let dataOffset = Int(segment.load(fromByteOffset: 12, as: UInt8.self) >> 4) * 4
        let flags = p.tcpFlags
        // SEG.LEN: the data, plus one for SYN and one for FIN (RFC 9293 §3.4).
        let segmentLength = UInt32(truncatingIfNeeded: p.l4Length - dataOffset)
            &+ (flags & TCPFlag.syn != 0 ? 1 : 0) &+ (flags & TCPFlag.fin != 0 ? 1 : 0)

        ICMPError.returnToSender(frame: frame, ingressMAC: ingressMAC)

        // IP: from the original destination to the original source.
        let l3 = frame + p.l3Offset
        let tcp: UnsafeMutableRawPointer
        if p.family == 4 {
            let source = l3.loadUnaligned(fromByteOffset: ParseConst.ipv4SourceOffset, as: UInt32.self)
            let destination = l3.loadUnaligned(fromByteOffset: ParseConst.ipv4DestinationOffset, as: UInt32.self)
            let totalLength = UInt32(ipv4HeaderLength + tcpHeaderLength)
            l3.storeBytes(of: (ipv4VersionIHL | totalLength).bigEndian, as: UInt32.self)
            l3.storeBytes(of: ipv4DontFragment.bigEndian, toByteOffset: 4, as: UInt32.self)       // id 0, DF, offset 0
            let ttlProtocol = UInt32(resetTTL) << 24 | UInt32(ParseConst.protoTCP) << 16        // checksum 0 for now
            l3.storeBytes(of: ttlProtocol.bigEndian, toByteOffset: 8, as: UInt32.self)
            l3.storeBytes(of: destination, toByteOffset: ParseConst.ipv4SourceOffset, as: UInt32.self)
            l3.storeBytes(of: source, toByteOffset: ParseConst.ipv4DestinationOffset, as: UInt32.self)
            l3.storeBytes(of: internetChecksum(l3, count: ipv4HeaderLength).bigEndian, toByteOffset: 10, as: UInt16.self)
            tcp = l3 + ipv4HeaderLength
        } else {
            let source = (l3.loadUnaligned(fromByteOffset: ParseConst.ipv6SourceOffset, as: UInt64.self),
                          l3.loadUnaligned(fromByteOffset: ParseConst.ipv6SourceOffset + 8, as: UInt64.self))
            let destination = (l3.loadUnaligned(fromByteOffset: ParseConst.ipv6DestinationOffset, as: UInt64.self),
                               l3.loadUnaligned(fromByteOffset: ParseConst.ipv6DestinationOffset + 8, as: UInt64.self))
            l3.storeBytes(of: ipv6Version.bigEndian, as: UInt32.self)
            l3.storeBytes(of: UInt16(tcpHeaderLength).bigEndian, toByteOffset: 4, as: UInt16.self)  // payload length
            l3.storeBytes(of: ParseConst.protoTCP, toByteOffset: 6, as: UInt8.self)                // next header
            l3.storeBytes(of: resetTTL, toByteOffset: 7, as: UInt8.self)                           // hop limit
            l3.storeBytes(of: destination.0, toByteOffset: ParseConst.ipv6SourceOffset, as: UInt64.self)
            l3.storeBytes(of: destination.1, toByteOffset: ParseConst.ipv6SourceOffset + 8, as: UInt64.self)
            l3.storeBytes(of: source.0, toByteOffset: ParseConst.ipv6DestinationOffset, as: UInt64.self)
            l3.storeBytes(of: source.1, toByteOffset: ParseConst.ipv6DestinationOffset + 8, as: UInt64.self)
            tcp = l3 + ipv6HeaderLength
        }

        // TCP (RFC 9293 §3.10.7.1): no options, no data, window 0, urgent pointer 0.
        let hasACK = flags & TCPFlag.ack != 0
        let replySeq: UInt32 = hasACK ? ack : 0
        let replyAck: UInt32 = hasACK ? 0 : seq &+ segmentLength
        let replyFlags: UInt8 = hasACK ? TCPFlag.rst : TCPFlag.rst | TCPFlag.ack
        tcp.storeBytes(of: destinationPort, as: UInt16.self)
        tcp.storeBytes(of: sourcePort, toByteOffset: 2, as: UInt16.self)
        tcp.storeBytes(of: replySeq.bigEndian, toByteOffset: 4, as: UInt32.self)
        tcp.storeBytes(of: replyAck.bigEndian, toByteOffset: 8, as: UInt32.self)
        tcp.storeBytes(of: tcpDataOffsetNoOptions, toByteOffset: 12, as: UInt8.self)
        tcp.storeBytes(of: replyFlags, toByteOffset: 13, as: UInt8.self)
        tcp.storeBytes(of: UInt32(0), toByteOffset: 14, as: UInt32.self)                   // window 0, checksum 0
        tcp.storeBytes(of: UInt16(0), toByteOffset: 18, as: UInt16.self)                   // urgent pointer
        let checksum = p.family == 4
            ? l4ChecksumV4(ipHeader: l3, proto: ParseConst.protoTCP, l4: tcp, l4Length: tcpHeaderLength)
            : l4ChecksumV6(ipHeader: l3, proto: ParseConst.protoTCP, l4: tcp, l4Length: tcpHeaderLength)
        tcp.storeBytes(of: checksum.bigEndian, toByteOffset: 16, as: UInt16.self)
        return frame.distance(to: tcp) + tcpHeaderLength
    }
}

/// The reply a reject sends: a TCP RST to a TCP segment when `resetTCP`, else (and for
/// every other protocol) ICMP / ICMPv6 destination unreachable with these (type, code).
public struct RejectReply {
    public var resetTCP: Bool
    public var icmpV4: (type: UInt8, code: UInt8)
    public var icmpV6: (type: UInt8, code: UInt8)

    @inlinable
    public init(resetTCP: Bool, icmpV4: (type: UInt8, code: UInt8), icmpV6: (type: UInt8, code: UInt8)) {
        self.resetTCP = resetTCP
        self.icmpV4 = icmpV4
        self.icmpV6 = icmpV6
    }

    /// A `reject` security policy's: RST for TCP, administratively prohibited for the rest.
    @inlinable public static var policy: RejectReply {
        RejectReply(resetTCP: true, icmpV4: Reject.adminProhibitedV4, icmpV6: Reject.adminProhibitedV6)
    }

    /// ICMP destination unreachable type (RFC 792) and ICMPv6 destination unreachable (RFC 4443 §3.1).
    @usableFromInline static let unreachableV4: UInt8 = 3
    @usableFromInline static let unreachableV6: UInt8 = 1

    /// A firewall filter term's `reject REASON` (enum xpf_reject_reason; Junos's reasons).
    /// ICMPv4 codes are RFC 792 / RFC 1812 §5.2.7.1's; ICMPv6 has fewer (RFC 4443 §3.1:
    /// 0 no route, 1 administratively prohibited, 2 beyond scope, 3 address unreachable,
    /// 4 port unreachable): a reason without its own IPv6 code takes the nearest — no route
    /// for the network ones, address unreachable for the host ones, administratively
    /// prohibited otherwise. `tcp-reset` answers TCP with a RST and anything else with
    /// administratively prohibited.
    @inlinable
    public static func filter(reason: UInt8) -> RejectReply {
        let v4: UInt8, v6: UInt8
        switch UInt32(reason) {
        case XPF_REJECT_NETWORK_UNREACHABLE.rawValue, XPF_REJECT_NO_ROUTE.rawValue: (v4, v6) = (0, 0)
        case XPF_REJECT_HOST_UNREACHABLE.rawValue, XPF_REJECT_ADDRESS_UNREACHABLE.rawValue: (v4, v6) = (1, 3)
        case XPF_REJECT_PROTOCOL_UNREACHABLE.rawValue: (v4, v6) = (2, 1)
        case XPF_REJECT_PORT_UNREACHABLE.rawValue: (v4, v6) = (3, 4)
        case XPF_REJECT_FRAGMENTATION_NEEDED.rawValue: (v4, v6) = (4, 1)
        case XPF_REJECT_SOURCE_ROUTE_FAILED.rawValue: (v4, v6) = (5, 1)
        case XPF_REJECT_NETWORK_UNKNOWN.rawValue: (v4, v6) = (6, 0)
        case XPF_REJECT_HOST_UNKNOWN.rawValue: (v4, v6) = (7, 3)
        case XPF_REJECT_NETWORK_PROHIBITED.rawValue: (v4, v6) = (9, 1)
        case XPF_REJECT_HOST_PROHIBITED.rawValue: (v4, v6) = (10, 1)
        case XPF_REJECT_BEYOND_SCOPE.rawValue: (v4, v6) = (13, 2)
        default: (v4, v6) = (Reject.adminProhibitedV4.1, Reject.adminProhibitedV6.1)  // administratively-prohibited, tcp-reset
        }
        return RejectReply(resetTCP: UInt32(reason) == XPF_REJECT_TCP_RESET.rawValue,
                           icmpV4: (unreachableV4, v4), icmpV6: (unreachableV6, v6))
    }
}

/// What `Pipeline.reject` did: the action for the frame, and whether a reply (RST or
/// ICMP) really went out — the event may say `reject` only then.
public struct Rejection {
    public var action: PacketAction
    public var replySent: Bool
}

extension Pipeline {
    /// A packet a `reject` policy or filter term refuses: rewrites the frame into `reply`
    /// (a TCP RST, or an ICMP unreachable) and returns `.transmit` out of the ingress
    /// interface; or, when no reply may be sent (see Reject.swift's header) or the ICMP
    /// rate limit is exhausted (counted `icmp_errors_limited`), `.drop(dropReason)` with
    /// the frame untouched. The original packet is dropped either way: when the reply
    /// goes out, the drop is counted under `dropReason` here (the caller counts drops only
    /// for `.drop`), as `timeExceeded` does. ICMP replies count `icmp_errors_sent`.
    @inline(never)  // cold path
    public mutating func reject(_ p: inout Packet, dropReason: xpf_drop_reason, reply: RejectReply = .policy,
                                counters: inout WorkerCounters) -> Rejection {
        let length: UInt32?
        if p.parsed.proto == ParseConst.protoTCP && reply.resetTCP {
            if Int(p.ingress) < interfaceCount && Reject.resetAllowed(frame: UnsafeRawPointer(p.frame), parsed: p.parsed) {
                length = UInt32(Reject.buildTCPReset(frame: p.frame, parsed: p.parsed, ingressMAC: interfaceMAC(slot: p.ingress)))
            } else {
                length = nil
            }
        } else {
            let (type, code) = p.parsed.family == 4 ? reply.icmpV4 : reply.icmpV6
            length = icmpError(frame: p.frame, parsed: p.parsed, ingress: p.ingress, type: type, code: code, counters: &counters)
        }
        guard let length else { return Rejection(action: .drop(dropReason), replySent: false) }
        counters.drop(UInt8(dropReason.rawValue))
        return Rejection(action: PacketAction(kind: .transmit, egress: p.ingress, length: length), replySent: true)
    }
}
