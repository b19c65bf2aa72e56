// Fuzz target `parse`: the frame parser on arbitrary bytes. libFuzzer hands the
// input in an exactly sized heap buffer, so any read past the frame is an ASan report.
// Invariants of an accepted frame: every offset the parser reports lies inside the frame
// and the fields agree with the bytes they were read from.
import Shared

enum ParseTarget {
    static let ethernetHeader = 14
    static let vlanTag = 4
    static let ipv4Header = 20
    static let ipv6Header = 40
    static let tcpHeader = 20
    static let udpHeader = 8
    static let icmpEchoHeader = 8

    static func run(_ data: UnsafeRawBufferPointer) -> String? {
        var p = ParsedPacket()
        guard let base = data.baseAddress else {
            var empty: UInt8 = 0
            return withUnsafeBytes(of: &empty) { parseFrame($0.baseAddress!, length: 0, into: &p) } == .truncated
                ? nil : "an empty frame was not reported truncated"
        }
        let verdict = parseFrame(base, length: data.count, into: &p)
        guard verdict == .ok else { return nil }
        return check(p, frame: data)
    }

    /// The invariants of a frame `parseFrame` accepted (also used by the pipeline target).
    static func check(_ p: ParsedPacket, frame data: UnsafeRawBufferPointer) -> String? {
        let n = data.count
        guard p.family == 4 || p.family == 6 else { return "accepted frame with family \(p.family)" }
        let expectedL3 = ethernetHeader + (p.hasVLAN ? vlanTag : 0)
        guard p.l3Offset == expectedL3 else { return "l3Offset \(p.l3Offset), expected \(expectedL3)" }
        let minHeader = p.family == 4 ? ipv4Header : ipv6Header
        guard p.l3Length >= minHeader, p.l3Offset + p.l3Length <= n else {
            return "l3Length \(p.l3Length) at \(p.l3Offset) does not fit a \(n)-byte frame"
        }
        let end = p.l3Offset + p.l3Length
        guard p.l4Offset >= p.l3Offset + minHeader, p.l4Offset <= end else {
            return "l4Offset \(p.l4Offset) outside the datagram [\(p.l3Offset + minHeader), \(end)]"
        }
        let ttlOffset = p.l3Offset + (p.family == 4 ? 8 : 7)
        guard data[ttlOffset] == p.ttl else { return "ttl \(p.ttl) is not the header's \(data[ttlOffset])" }
        guard p.isFragment || !p.isNonFirstFragment else { return "non-first fragment that is not a fragment" }
        if p.isNonFirstFragment {
            guard p.srcPort == 0 && p.dstPort == 0 && p.tcpFlags == 0 else { return "ports on a non-first fragment" }
            return nil
        }
        let available = end - p.l4Offset
        let icmp: UInt8 = p.family == 4 ? 1 : 58
        switch p.proto {
        case 6:
            guard available >= tcpHeader else { return "TCP header of \(available) bytes accepted" }
            guard p.tcpFlags == data[p.l4Offset + 13] else { return "TCP flags differ from the header" }
        case 17:
            guard available >= udpHeader else { return "UDP header of \(available) bytes accepted" }
        case icmp:
            let isEcho = p.family == 4 ? (p.icmpType == 0 || p.icmpType == 8) : (p.icmpType == 128 || p.icmpType == 129)
            if isEcho { guard available >= icmpEchoHeader else { return "ICMP echo of \(available) bytes accepted" } }
            guard data[p.l4Offset] == p.icmpType else { return "ICMP type differs from the header" }
            let identifier = isEcho ? UInt16(data[p.l4Offset + 4]) << 8 | UInt16(data[p.l4Offset + 5]) : 0
            let ports = icmpKeyPorts(family: p.family, type: p.icmpType, code: p.icmpCode, identifier: identifier)
            guard (p.srcPort, p.dstPort) == ports else { return "ICMP key ports \((p.srcPort, p.dstPort)), expected \(ports)" }
            if let problem = checkQuote(p, frame: data) { return problem }
        default:
            guard p.srcPort == 0 && p.dstPort == 0 else { return "ports for protocol \(p.proto)" }
        }
        if p.proto == 6 || p.proto == 17 {
            let sport = UInt16(data[p.l4Offset]) << 8 | UInt16(data[p.l4Offset + 1])
            guard sport == p.srcPort else { return "source port \(p.srcPort) is not the header's \(sport)" }
        }
        return nil
    }

    /// The quote of an accepted ICMP error (`parseQuotedPacket`, ICMPRelatedStage): when
    /// it parses, its header lies inside the error's datagram. ASan reports any read
    /// past the frame.
    static func checkQuote(_ p: ParsedPacket, frame data: UnsafeRawBufferPointer) -> String? {
        guard isICMPError(family: p.family, type: p.icmpType), !p.isNonFirstFragment else { return nil }
        var q = QuotedPacket()
        guard parseQuotedPacket(data.baseAddress!, error: p, into: &q) else { return nil }
        let minHeader = p.family == 4 ? ipv4Header : ipv6Header
        guard q.l3Offset > p.l4Offset, q.l3Offset + minHeader <= p.l3Offset + p.l3Length else {
            return "quote at \(q.l3Offset) outside the error's datagram"
        }
        return nil
    }
}
