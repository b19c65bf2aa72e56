import XCTest
import CXPF
@testable import Shared

// Tests for `ICMPError.allowed` (Sources/Shared/Pipeline/ICMPError.swift): when the
// dataplane may answer a packet with an ICMP error at all. RFC 1812 §4.3.2.7 (IPv4) and
// RFC 4443 §2.4(e) (IPv6) forbid errors about ICMP errors (and ICMPv6 redirects), about
// non-first fragments, about packets to a multicast or broadcast address or sent as a
// link-layer multicast/broadcast, and about packets whose source does not name one host.
//
// One row per rule, IPv4 and IPv6, each driven through the real path: the frame is
// built on the wire, parsed by `parseFrame`, checked with `allowed`, then run with TTL /
// hop limit 1 through `Pipeline.process` (an ICMP time exceeded goes back out of the
// ingress interface, or the packet is a plain TTL drop) and with a normal TTL through
// `Pipeline.hostUnreachable` (the parked-frame path). Fixtures are ForwardTests': the
// LAN interface (slot 0) carries 10.10.1.1 and fd00:1::1, the sources of the errors.

final class ICMPErrorTests: PipelineTestCase {
    typealias F = Frames

    /// ICMP / ICMPv6 message types the rows use.
    enum ICMPType {
        static let echoReplyV4: UInt8 = 0
        static let unreachableV4: UInt8 = 3
        static let redirectV4: UInt8 = 5
        static let echoRequestV4: UInt8 = 8
        static let timeExceededV4: UInt8 = 11
        static let timestampV4: UInt8 = 13
        static let unreachableV6: UInt8 = 1
        static let timeExceededV6: UInt8 = 3
        static let echoRequestV6: UInt8 = 128
        static let echoReplyV6: UInt8 = 129
        static let redirectV6: UInt8 = 137
    }

    static let protoICMP: UInt8 = 1
    static let protoUDP: UInt8 = 17
    static let protoICMPv6: UInt8 = 58
    static let ext6Fragment: UInt8 = 44
    static let expiringTTL: UInt8 = 1
    static let ingress: UInt8 = 0
    /// A fragment offset (8-byte units) well inside a datagram.
    static let middleFragmentOffset: UInt16 = 185
    static let fragmentID: UInt32 = 0x0BAD_F00D
    static let ipv4MoreFragments: UInt16 = 0x2000
    static let ethernetHeaderLength = 14

    static let client4 = ForwardTests.client4
    static let server4 = ForwardTests.server4
    static let client6 = ForwardTests.client6
    static let server6 = ForwardTests.server6
    static let broadcastMAC: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
    static let ipv4MulticastMAC: [UInt8] = [0x01, 0x00, 0x5E, 0x00, 0x00, 0x01]
    static let ipv6MulticastMAC: [UInt8] = [0x33, 0x33, 0x00, 0x00, 0x00, 0x01]

    /// An IPv6 address from its eight 16-bit groups.
    static func v6(_ groups: UInt16...) -> [UInt8] { groups.flatMap { F.be16($0) } }

    override class var regionName: String { "icmperr" }

    // MARK: frames

    /// A UDP datagram's L4 bytes.
    static var udp: [UInt8] { F.udp(33434, 33435, payload: Array("icmp-error-rules".utf8)) }

    /// An ICMP error message quoting an IP header and 8 bytes (the content does not matter).
    static func icmpError(type: UInt8, code: UInt8) -> [UInt8] {
        [type, code, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0x45, count: 28)
    }

    /// An informational ICMP/ICMPv6 message of `type` (echo layout: id, sequence, data).
    static func icmpQuery(type: UInt8) -> [UInt8] { F.icmpEcho(type: type, id: 0x4242, seq: 7) }

    static func frame4(src: UInt32 = client4, dst: UInt32 = server4, proto: UInt8 = protoUDP, l4: [UInt8] = udp,
                       ttl: UInt8, to mac: [UInt8] = F.lanMAC) -> [UInt8] {
        F.frame4(src: src, dst: dst, proto: proto, l4: l4, ttl: ttl, to: mac)
    }

    /// An IPv4 fragment: the fragment word set (DF cleared) and the header checksum redone.
    static func fragment4(offset: UInt16, more: Bool, ttl: UInt8) -> [UInt8] {
        var f = frame4(ttl: ttl)
        let word = offset | (more ? ipv4MoreFragments : 0)
        let ip = ethernetHeaderLength
        f[ip + 6] = UInt8(word >> 8); f[ip + 7] = UInt8(word & 0xFF)
        f[ip + 10] = 0; f[ip + 11] = 0
        let c = f.withUnsafeBytes { internetChecksum($0.baseAddress! + ip, count: 20) }
        f[ip + 10] = UInt8(c >> 8); f[ip + 11] = UInt8(c & 0xFF)
        return f
    }

    static func frame6(src: [UInt8] = client6, dst: [UInt8] = server6, nextHeader: UInt8 = protoUDP, l4: [UInt8] = udp,
                       hopLimit: UInt8, to mac: [UInt8] = F.lanMAC) -> [UInt8] {
        F.frame6(src: src, dst: dst, nextHeader: nextHeader, l4: l4, hopLimit: hopLimit, to: mac)
    }

    /// An IPv6 datagram with a fragment header in front of the UDP bytes.
    static func fragment6(offset: UInt16, more: Bool, hopLimit: UInt8) -> [UInt8] {
        let header = [protoUDP, 0] + F.be16(offset << 3 | (more ? 1 : 0)) + F.be32(fragmentID)
        return frame6(nextHeader: ext6Fragment, l4: header + udp, hopLimit: hopLimit)
    }

    // MARK: the table

    struct Row {
        let name: String
        let family: UInt8
        /// Builds the frame with the given TTL / hop limit.
        let frame: (UInt8) -> [UInt8]
        /// Whether an ICMP error about it may be sent.
        let allowed: Bool
    }

    static let normalTTL: UInt8 = 64

    static let rows: [Row] = [
        // IPv4 (RFC 1812 §4.3.2.7)
        Row(name: "v4 unicast UDP", family: 4, frame: { frame4(ttl: $0) }, allowed: true),
        Row(name: "v4 first fragment", family: 4, frame: { fragment4(offset: 0, more: true, ttl: $0) }, allowed: true),
        Row(name: "v4 last fragment", family: 4, frame: { fragment4(offset: middleFragmentOffset, more: false, ttl: $0) }, allowed: false),
        Row(name: "v4 middle fragment", family: 4, frame: { fragment4(offset: middleFragmentOffset, more: true, ttl: $0) }, allowed: false),
        Row(name: "v4 echo request", family: 4, frame: { frame4(proto: protoICMP, l4: icmpQuery(type: ICMPType.echoRequestV4), ttl: $0) }, allowed: true),
        Row(name: "v4 echo reply", family: 4, frame: { frame4(proto: protoICMP, l4: icmpQuery(type: ICMPType.echoReplyV4), ttl: $0) }, allowed: true),
        Row(name: "v4 timestamp request", family: 4, frame: { frame4(proto: protoICMP, l4: icmpQuery(type: ICMPType.timestampV4), ttl: $0) }, allowed: true),
        Row(name: "v4 ICMP unreachable (an error)", family: 4, frame: { frame4(proto: protoICMP, l4: icmpError(type: ICMPType.unreachableV4, code: 1), ttl: $0) }, allowed: false),
        Row(name: "v4 ICMP time exceeded (an error)", family: 4, frame: { frame4(proto: protoICMP, l4: icmpError(type: ICMPType.timeExceededV4, code: 0), ttl: $0) }, allowed: false),
        Row(name: "v4 ICMP redirect (an error)", family: 4, frame: { frame4(proto: protoICMP, l4: icmpError(type: ICMPType.redirectV4, code: 1), ttl: $0) }, allowed: false),
        Row(name: "v4 to 224.0.0.1", family: 4, frame: { frame4(dst: F.v4(224, 0, 0, 1), ttl: $0) }, allowed: false),
        Row(name: "v4 to 239.1.2.3", family: 4, frame: { frame4(dst: F.v4(239, 1, 2, 3), ttl: $0) }, allowed: false),
        Row(name: "v4 to 255.255.255.255", family: 4, frame: { frame4(dst: F.v4(255, 255, 255, 255), ttl: $0) }, allowed: false),
        Row(name: "v4 from 0.0.0.0", family: 4, frame: { frame4(src: 0, ttl: $0) }, allowed: false),
        Row(name: "v4 from 0.1.2.3 (network zero)", family: 4, frame: { frame4(src: F.v4(0, 1, 2, 3), ttl: $0) }, allowed: false),
        Row(name: "v4 from 127.0.0.1", family: 4, frame: { frame4(src: F.v4(127, 0, 0, 1), ttl: $0) }, allowed: false),
        Row(name: "v4 from 127.8.9.10", family: 4, frame: { frame4(src: F.v4(127, 8, 9, 10), ttl: $0) }, allowed: false),
        Row(name: "v4 from 224.0.0.5 (multicast)", family: 4, frame: { frame4(src: F.v4(224, 0, 0, 5), ttl: $0) }, allowed: false),
        Row(name: "v4 from 240.0.0.1 (class E)", family: 4, frame: { frame4(src: F.v4(240, 0, 0, 1), ttl: $0) }, allowed: false),
        Row(name: "v4 from 255.255.255.255", family: 4, frame: { frame4(src: F.v4(255, 255, 255, 255), ttl: $0) }, allowed: false),
        Row(name: "v4 link-layer broadcast", family: 4, frame: { frame4(ttl: $0, to: broadcastMAC) }, allowed: false),
        Row(name: "v4 link-layer multicast", family: 4, frame: { frame4(ttl: $0, to: ipv4MulticastMAC) }, allowed: false),
        // IPv6 (RFC 4443 §2.4(e))
        Row(name: "v6 unicast UDP", family: 6, frame: { frame6(hopLimit: $0) }, allowed: true),
        Row(name: "v6 first fragment", family: 6, frame: { fragment6(offset: 0, more: true, hopLimit: $0) }, allowed: true),
        Row(name: "v6 last fragment", family: 6, frame: { fragment6(offset: middleFragmentOffset, more: false, hopLimit: $0) }, allowed: false),
        Row(name: "v6 middle fragment", family: 6, frame: { fragment6(offset: middleFragmentOffset, more: true, hopLimit: $0) }, allowed: false),
        Row(name: "v6 echo request", family: 6, frame: { frame6(nextHeader: protoICMPv6, l4: icmpQuery(type: ICMPType.echoRequestV6), hopLimit: $0) }, allowed: true),
        Row(name: "v6 echo reply", family: 6, frame: { frame6(nextHeader: protoICMPv6, l4: icmpQuery(type: ICMPType.echoReplyV6), hopLimit: $0) }, allowed: true),
        Row(name: "v6 ICMPv6 unreachable (an error)", family: 6, frame: { frame6(nextHeader: protoICMPv6, l4: icmpError(type: ICMPType.unreachableV6, code: 3), hopLimit: $0) }, allowed: false),
        Row(name: "v6 ICMPv6 time exceeded (an error)", family: 6, frame: { frame6(nextHeader: protoICMPv6, l4: icmpError(type: ICMPType.timeExceededV6, code: 0), hopLimit: $0) }, allowed: false),
        Row(name: "v6 ICMPv6 redirect", family: 6, frame: { frame6(nextHeader: protoICMPv6, l4: icmpError(type: ICMPType.redirectV6, code: 0), hopLimit: $0) }, allowed: false),
        Row(name: "v6 to ff02::1", family: 6, frame: { frame6(dst: v6(0xFF02, 0, 0, 0, 0, 0, 0, 1), hopLimit: $0) }, allowed: false),
        Row(name: "v6 to ff0e::101", family: 6, frame: { frame6(dst: v6(0xFF0E, 0, 0, 0, 0, 0, 0, 0x101), hopLimit: $0) }, allowed: false),
        Row(name: "v6 from ::", family: 6, frame: { frame6(src: v6(0, 0, 0, 0, 0, 0, 0, 0), hopLimit: $0) }, allowed: false),
        Row(name: "v6 from ::1", family: 6, frame: { frame6(src: v6(0, 0, 0, 0, 0, 0, 0, 1), hopLimit: $0) }, allowed: false),
        Row(name: "v6 from ff02::1 (multicast)", family: 6, frame: { frame6(src: v6(0xFF02, 0, 0, 0, 0, 0, 0, 1), hopLimit: $0) }, allowed: false),
        Row(name: "v6 link-layer multicast", family: 6, frame: { frame6(hopLimit: $0, to: ipv6MulticastMAC) }, allowed: false),
        Row(name: "v6 link-layer broadcast", family: 6, frame: { frame6(hopLimit: $0, to: broadcastMAC) }, allowed: false),
    ]

    /// Every row through the parser and `ICMPError.allowed`. A failing row reports one
    /// line and the table goes on (bounded: one line per row).
    func testAllowedFollowsRFC1812AndRFC4443() {
        for row in Self.rows {
            let f = row.frame(Self.normalTTL)
            var p = ParsedPacket()
            let verdict = f.withUnsafeBytes { parseFrame($0.baseAddress!, length: f.count, into: &p) }
            guard verdict == .ok, p.family == row.family else {
                XCTFail("\(row.name): parsed as \(verdict), family \(p.family)")
                continue
            }
            let allowed = f.withUnsafeBytes { ICMPError.allowed(frame: $0.baseAddress!, parsed: p) }
            XCTAssertEqual(allowed, row.allowed, "\(row.name): an ICMP error \(row.allowed ? "is" : "is not") allowed")
        }
    }

    /// Every row with TTL / hop limit 1 through `Pipeline.process`: a time exceeded back to
    /// the sender out of the ingress interface where allowed, otherwise a plain TTL drop
    /// with the frame untouched.
    func testTimeExceededIsSentOnlyWhereAllowed() {
        for row in Self.rows {
            pipeline.icmpLimit = ICMPRateLimit()  // the rows test the rules, not the rate limit
            let sentBefore = counters.s.icmp_errors_sent
            let f = row.frame(Self.expiringTTL)
            var buf = f + [UInt8](repeating: 0, count: ForwardTests.frameHeadroom)
            let a = buf.withUnsafeMutableBytes {
                pipeline.process(frame: $0.baseAddress!, length: f.count, ingress: Self.ingress, counters: &counters)
            }
            if row.allowed {
                guard a.kind == .transmit, a.egress == Self.ingress else {
                    XCTFail("\(row.name): expected a time exceeded out of the ingress interface, got \(a.kind) (reason \(a.reason))")
                    continue
                }
                assertICMPError(Array(buf[0..<Int(a.length)]), original: f, family: row.family,
                                type: row.family == 4 ? ICMPError.timeExceededV4 : ICMPError.timeExceededV6, row.name)
                XCTAssertEqual(counters.s.icmp_errors_sent, sentBefore + 1, row.name)
            } else {
                guard a.kind == .drop, a.reason == UInt8(XPF_DROP_TTL.rawValue) else {
                    XCTFail("\(row.name): expected a plain TTL drop, got \(a.kind) (reason \(a.reason))")
                    continue
                }
                XCTAssertEqual(Array(buf[0..<f.count]), f, "\(row.name): a dropped frame is not rewritten")
                XCTAssertEqual(counters.s.icmp_errors_sent, sentBefore, row.name)
            }
        }
        XCTAssertEqual(counters.s.icmp_errors_limited, 0)
    }

    /// Every row with a normal TTL through the parked-frame path: a host (address)
    /// unreachable where allowed, nothing otherwise.
    func testHostUnreachableIsBuiltOnlyWhereAllowed() {
        for row in Self.rows {
            pipeline.icmpLimit = ICMPRateLimit()
            let f = row.frame(Self.normalTTL)
            var buf = f + [UInt8](repeating: 0, count: ForwardTests.frameHeadroom)
            let length = buf.withUnsafeMutableBytes {
                pipeline.hostUnreachable(frame: $0.baseAddress!, length: f.count, ingress: Self.ingress, counters: &counters)
            }
            if row.allowed {
                guard let length else {
                    XCTFail("\(row.name): expected a host unreachable, got none")
                    continue
                }
                assertICMPError(Array(buf[0..<Int(length)]), original: f, family: row.family,
                                type: row.family == 4 ? ICMPError.hostUnreachableV4 : ICMPError.addressUnreachableV6, row.name)
            } else {
                guard length == nil else {
                    XCTFail("\(row.name): expected no error, got a \(length!)-byte one")
                    continue
                }
                XCTAssertEqual(Array(buf[0..<f.count]), f, "\(row.name): the frame is not rewritten")
            }
        }
    }

    /// The error frame: to the sender's MAC and address, from the ingress interface's,
    /// with the expected (type, code) and valid checksums.
    func assertICMPError(_ out: [UInt8], original f: [UInt8], family: UInt8, type: (UInt8, UInt8), _ name: String,
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Array(out[0..<6]), Array(f[6..<12]), "\(name): to the sender's MAC", file: file, line: line)
        XCTAssertEqual(Array(out[6..<12]), F.lanMAC, "\(name): from the ingress interface's MAC", file: file, line: line)
        let ip = Array(out[Self.ethernetHeaderLength...])
        let orig = Array(f[Self.ethernetHeaderLength...])
        if family == 4 {
            XCTAssertEqual(Array(ip[12..<16]), F.be32(F.v4(10, 10, 1, 1)), "\(name): from 10.10.1.1", file: file, line: line)
            XCTAssertEqual(Array(ip[16..<20]), Array(orig[12..<16]), "\(name): to the sender", file: file, line: line)
            XCTAssertEqual(ip[20], type.0, name, file: file, line: line)
            XCTAssertEqual(ip[21], type.1, name, file: file, line: line)
            XCTAssertEqual(ip.withUnsafeBytes { internetChecksum($0.baseAddress!, count: 20) }, 0, name, file: file, line: line)
            XCTAssertEqual(ip.withUnsafeBytes { internetChecksum($0.baseAddress! + 20, count: ip.count - 20) }, 0, name, file: file, line: line)
        } else {
            XCTAssertEqual(Array(ip[8..<24]), F.v6(1, 1), "\(name): from fd00:1::1", file: file, line: line)
            XCTAssertEqual(Array(ip[24..<40]), Array(orig[8..<24]), "\(name): to the sender", file: file, line: line)
            XCTAssertEqual(ip[40], type.0, name, file: file, line: line)
            XCTAssertEqual(ip[41], type.1, name, file: file, line: line)
            XCTAssertEqual(ip.withUnsafeBytes {
                l4ChecksumV6(ipHeader: $0.baseAddress!, proto: Self.protoICMPv6, l4: $0.baseAddress! + 40, l4Length: ip.count - 40)
            }, 0, name, file: file, line: line)
        }
    }
}
