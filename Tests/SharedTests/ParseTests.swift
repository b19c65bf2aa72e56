import XCTest
@testable import Shared

// Tests for Sources/Shared/Pipeline/Parse.swift (SPEC ).
// Frames are built byte by byte by `ParseFixture` and parsed from an exactly-sized heap copy,
// so an out-of-bounds read is caught when the tests run under AddressSanitizer. Note: build
// optimised for that (`swift test -c release --sanitize=address`); at -Onone the frame loads
// go through the stdlib's unspecialised `load(fromByteOffset:as:)`, which is not instrumented.

/// Frame builders. Multi-byte values are written big-endian. (A fileprivate namespace so the
/// helper names cannot clash with other test files of the target.)
fileprivate enum ParseFixture {
    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    static func be32(_ v: UInt32) -> [UInt8] { be16(UInt16(v >> 16)) + be16(UInt16(v & 0xFFFF)) }

    static let dstMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01]
    static let srcMAC: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02]

    /// Ethernet header; `tags` are (TPID, TCI) pairs inserted before the final ethertype.
    static func ethernet(_ etherType: UInt16, tags: [(UInt16, UInt16)] = []) -> [UInt8] {
        var b = dstMAC + srcMAC
        for (tpid, tci) in tags { b += be16(tpid) + be16(tci) }
        return b + be16(etherType)
    }

    /// IPv4 header + payload. `totalLength`/`ihl` override the computed values (for malformed
    /// frames); the header checksum is filled in over the header as built.
    static func ipv4(proto: UInt8, payload: [UInt8], options: [UInt8] = [], tos: UInt8 = 0,
                     ttl: UInt8 = 64, flagsFragment: UInt16 = 0x4000, version: UInt8 = 4,
                     ihl: UInt8? = nil, totalLength: UInt16? = nil,
                     src: UInt32 = 0xC0A8_0001, dst: UInt32 = 0x0A00_0002) -> [UInt8] {
        precondition(options.count % 4 == 0)
        let headerLength = 20 + options.count
        var h: [UInt8] = [version << 4 | (ihl ?? UInt8(headerLength / 4)), tos]
        h += be16(totalLength ?? UInt16(headerLength + payload.count))
        h += be16(0x1C46)                       // identification
        h += be16(flagsFragment)
        h += [ttl, proto] + [0, 0]              // checksum filled below
        h += be32(src) + be32(dst) + options
        let sum = h.withUnsafeBytes { internetChecksum($0.baseAddress!, count: h.count) }
        h[10] = UInt8(sum >> 8); h[11] = UInt8(sum & 0xFF)
        return h + payload
    }

    /// IPv6 header + payload (`payload` includes any extension headers).
    static func ipv6(nextHeader: UInt8, payload: [UInt8], trafficClass: UInt8 = 0,
                     flowLabel: UInt32 = 0x12345, hopLimit: UInt8 = 64, version: UInt8 = 6,
                     payloadLength: UInt16? = nil) -> [UInt8] {
        let first = UInt32(version) << 28 | UInt32(trafficClass) << 20 | (flowLabel & 0xFFFFF)
        var h = be32(first) + be16(payloadLength ?? UInt16(payload.count)) + [nextHeader, hopLimit]
        h += [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [0x01]   // 2001:db8::1
        h += [0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [0x02]   // 2001:db8::2
        return h + payload
    }

    /// Generic IPv6 extension header of `units` * 8 + 8 bytes (HBH/routing/dest-opts layout).
    static func ext6(next: UInt8, units: UInt8 = 0) -> [UInt8] {
        // PadN option filling the rest; content is irrelevant to the parser.
        var b: [UInt8] = [next, units, 0x01, UInt8(Int(units) * 8 + 4)]
        b += [UInt8](repeating: 0, count: Int(units) * 8 + 4)
        return b
    }

    /// IPv6 fragment header. `offset` in 8-byte units.
    static func frag6(next: UInt8, offset: UInt16, more: Bool, id: UInt32 = 0xDEADBEEF) -> [UInt8] {
        [next, 0] + be16(offset << 3 | (more ? 1 : 0)) + be32(id)
    }

    /// IPv6 AH header with payload-length field `len` ((len + 2) * 4 bytes in total).
    static func ah6(next: UInt8, len: UInt8 = 4) -> [UInt8] {
        var b: [UInt8] = [next, len, 0, 0]
        b += [UInt8](repeating: 0xAB, count: (Int(len) + 2) * 4 - 4)
        return b
    }

    static func tcp(sport: UInt16, dport: UInt16, flags: UInt8, options: [UInt8] = [],
                    dataOffset: UInt8? = nil, payload: [UInt8] = []) -> [UInt8] {
        precondition(options.count % 4 == 0)
        var b = be16(sport) + be16(dport) + be32(1000) + be32(2000)
        b += [(dataOffset ?? UInt8((20 + options.count) / 4)) << 4, flags]
        b += be16(65535) + [0, 0] + [0, 0]      // window, checksum, urgent pointer
        return b + options + payload
    }

    static func udp(sport: UInt16, dport: UInt16, payload: [UInt8] = [], length: UInt16? = nil) -> [UInt8] {
        be16(sport) + be16(dport) + be16(length ?? UInt16(8 + payload.count)) + [0, 0] + payload
    }

    /// ICMP / ICMPv6 message: type, code, checksum(0), then `rest`.
    static func icmp(type: UInt8, code: UInt8 = 0, rest: [UInt8]) -> [UInt8] {
        [type, code, 0, 0] + rest
    }

    static func echo(type: UInt8, id: UInt16, seq: UInt16 = 1) -> [UInt8] {
        icmp(type: type, rest: be16(id) + be16(seq) + Array("ping".utf8))
    }

    /// The reference good TCP/IPv4 frame used by the truncation test: 14 + 20 + 24 + 6 bytes.
    static func tcp4Frame() -> [UInt8] {
        ethernet(0x0800) + ipv4(proto: 6, payload: tcp(sport: 40000, dport: 22, flags: 0x02,
                                                        options: [0x02, 0x04, 0x05, 0xB4],
                                                        payload: Array("hello!".utf8)),
                                tos: 0x10, ttl: 63)
    }

    /// Parses `bytes[0..<length]` (default: all) from an exactly-sized heap copy.
    static func parse(_ bytes: [UInt8], length: Int? = nil) -> (ParseVerdict, ParsedPacket) {
        let n = length ?? bytes.count
        // Exactly `n` bytes, so any overread is a heap-buffer-overflow under ASan.
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: max(n, 1))
        defer { buffer.deallocate() }
        for i in 0..<max(n, 0) { buffer[i] = bytes[i] }
        var p = ParsedPacket()
        let verdict = parseFrame(UnsafeRawPointer(buffer), length: n, into: &p)
        return (verdict, p)
    }
}

/// Deterministic RNG (SplitMix64) so failures reproduce.
fileprivate struct ParseTestRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

final class ParseTests: XCTestCase {
    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    fileprivate typealias F = ParseFixture

    /// Asserts EVERY field of `actual` equals `expected`.
    private func assertPacket(_ actual: ParsedPacket, _ expected: ParsedPacket,
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.family, expected.family, "family", file: file, line: line)
        XCTAssertEqual(actual.proto, expected.proto, "proto", file: file, line: line)
        XCTAssertEqual(actual.vlanTCI, expected.vlanTCI, "vlanTCI", file: file, line: line)
        XCTAssertEqual(actual.hasVLAN, expected.hasVLAN, "hasVLAN", file: file, line: line)
        XCTAssertEqual(actual.etherType, expected.etherType, "etherType", file: file, line: line)
        XCTAssertEqual(actual.l3Offset, expected.l3Offset, "l3Offset", file: file, line: line)
        XCTAssertEqual(actual.l4Offset, expected.l4Offset, "l4Offset", file: file, line: line)
        XCTAssertEqual(actual.l3Length, expected.l3Length, "l3Length", file: file, line: line)
        XCTAssertEqual(actual.ttl, expected.ttl, "ttl", file: file, line: line)
        XCTAssertEqual(actual.dscp, expected.dscp, "dscp", file: file, line: line)
        XCTAssertEqual(actual.isFragment, expected.isFragment, "isFragment", file: file, line: line)
        XCTAssertEqual(actual.isNonFirstFragment, expected.isNonFirstFragment, "isNonFirstFragment",
                       file: file, line: line)
        XCTAssertEqual(actual.srcPort, expected.srcPort, "srcPort", file: file, line: line)
        XCTAssertEqual(actual.dstPort, expected.dstPort, "dstPort", file: file, line: line)
        XCTAssertEqual(actual.tcpFlags, expected.tcpFlags, "tcpFlags", file: file, line: line)
        XCTAssertEqual(actual.icmpType, expected.icmpType, "icmpType", file: file, line: line)
        XCTAssertEqual(actual.icmpCode, expected.icmpCode, "icmpCode", file: file, line: line)
    }

    /// Expected packet with the fields every IPv4/IPv6 case sets.
    private func expected(family: UInt8, proto: UInt8, l3Offset: Int = 14, l4Offset: Int,
                          l3Length: Int, ttl: UInt8, dscp: UInt8 = 0) -> ParsedPacket {
        var e = ParsedPacket()
        e.family = family
        e.proto = proto
        e.etherType = family == 4 ? 0x0800 : 0x86DD
        e.l3Offset = l3Offset
        e.l4Offset = l4Offset
        e.l3Length = l3Length
        e.ttl = ttl
        e.dscp = dscp
        return e
    }

    // MARK: - Good IPv4 frames

    func testIPv4TCP() {
        let (v, p) = F.parse(F.tcp4Frame())
        XCTAssertEqual(v, .ok)
        var e = expected(family: 4, proto: 6, l4Offset: 34, l3Length: 20 + 24 + 6, ttl: 63, dscp: 0x10 >> 2)
        e.srcPort = 40000; e.dstPort = 22; e.tcpFlags = 0x02
        assertPacket(p, e)
        XCTAssertEqual(p.l4Length, 30)
    }

    func testIPv4UDPWithEthernetPadding() {
        // 14 + 20 + 8 + 2 = 44 bytes, padded to the 60-byte Ethernet minimum.
        var frame = F.ethernet(0x0800) + F.ipv4(proto: 17, payload: F.udp(sport: 5353, dport: 53, payload: [1, 2]),
                                                tos: 0xB8, ttl: 1)
        frame += [UInt8](repeating: 0, count: 60 - frame.count)
        let (v, p) = F.parse(frame)
        XCTAssertEqual(v, .ok)
        var e = expected(family: 4, proto: 17, l4Offset: 34, l3Length: 30, ttl: 1, dscp: 46)
        e.srcPort = 5353; e.dstPort = 53
        assertPacket(p, e)
    }

    func testIPv4ICMPEchoRequestAndReply() {
        for type: UInt8 in [8, 0] {
            let frame = F.ethernet(0x0800) + F.ipv4(proto: 1, payload: F.echo(type: type, id: 0x1234))
            let (v, p) = F.parse(frame)
            XCTAssertEqual(v, .ok)
            var e = expected(family: 4, proto: 1, l4Offset: 34, l3Length: 20 + 12, ttl: 64)
            // The identifier and its successor, in an order that tells request from reply.
            (e.srcPort, e.dstPort) = type == 8 ? (0x1234, 0x1235) : (0x1235, 0x1234)
            e.icmpType = type; e.icmpCode = 0
            assertPacket(p, e)
        }
    }

    func testIPv4ICMPNonEchoKeysItsTypeAndCode() {
        // Destination unreachable / host unreachable: only 4 bytes are required.
        let frame = F.ethernet(0x0800) + F.ipv4(proto: 1, payload: F.icmp(type: 3, code: 1, rest: []))
        let (v, p) = F.parse(frame)
        XCTAssertEqual(v, .ok)
        var e = expected(family: 4, proto: 1, l4Offset: 34, l3Length: 24, ttl: 64)
        e.icmpType = 3; e.icmpCode = 1
        e.srcPort = 3 << 8 | 1  // type << 8 | code twice: part of the flow key
        e.dstPort = 3 << 8 | 1
        assertPacket(p, e)
    }

    func testIPv4WithOptions() {
        // IHL 7: router alert (4 bytes) + NOP NOP NOP EOL.
        let options: [UInt8] = [0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00]
        let frame = F.ethernet(0x0800) + F.ipv4(proto: 17, payload: F.udp(sport: 1, dport: 2), options: options)
        let (v, p) = F.parse(frame)
        XCTAssertEqual(v, .ok)
        var e = expected(family: 4, proto: 17, l4Offset: 14 + 28, l3Length: 36, ttl: 64)
        e.srcPort = 1; e.dstPort = 2
        assertPacket(p, e)
    }

    func testIPv4UnknownProtocolIsOK() {
        let frame = F.ethernet(0x0800) + F.ipv4(proto: 47, payload: [0, 0, 0x08, 0x00])   // GRE
        let (v, p) = F.parse(frame)
        XCTAssertEqual(v, .ok)
        assertPacket(p, expected(family: 4, proto: 47, l4Offset: 34, l3Length: 24, ttl: 64))
    }

    func testIPv4FirstFragment() {
        // MF set, offset 0: L4 header parsed; the UDP length covers the whole datagram and so
        // exceeds what this fragment carries, which is fine for a fragment.
        let frame = F.ethernet(0x0800) + F.ipv4(proto: 17, payload: F.udp(sport: 7, dport: 9, payload: [0xAA],
                                                                         length: 3000),
                                                flagsFragment: 0x2000)
        let (v, p) = F.parse(frame)
        XCTAssertEqual(v, .ok)
        var e = expected(family: 4, proto: 17, l4Offset: 34, l3Length: 29, ttl: 64)
        e.isFragment = true; e.srcPort = 7; e.dstPort = 9
        assertPacket(p, e)
    }

    func testIPv4NonFirstFragmentSkipsL4() {
        // Offset 185 (* 8 = 1480), no MF: the last fragment. Payload bytes are not a header,
        // even though they would look like a bad TCP header.
        let frame = F.ethernet(0x0800) + F.ipv4(proto: 6, payload: [1, 2, 3], flagsFragment: 185)
        let (v, p) = F.parse(frame)
        XCTAssertEqual(v, .ok)
        var e = expected(family: 4, proto: 6, l4Offset: 34, l3Length: 23, ttl: 64)
        e.isFragment = true; e.isNonFirstFragment = true
        assertPacket(p, e)
    }

    // MARK: - VLAN

    func testVLANTaggedIPv4TCP() {
        for tpid: UInt16 in [0x8100, 0x88A8] {
            let frame = F.ethernet(0x0800, tags: [(tpid, 0xA064)])   // PCP 5, VID 100
                + F.ipv4(proto: 6, payload: F.tcp(sport: 1234, dport: 80, flags: 0x18))
            let (v, p) = F.parse(frame)
            XCTAssertEqual(v, .ok)
            var e = expected(family: 4, proto: 6, l3Offset: 18, l4Offset: 38, l3Length: 40, ttl: 64)
            e.hasVLAN = true; e.vlanTCI = 0xA064
            e.srcPort = 1234; e.dstPort = 80; e.tcpFlags = 0x18
            assertPacket(p, e)
        }
    }

    func testPriorityTagVID0IsStillTagged() {
        let frame = F.ethernet(0x86DD, tags: [(0x8100, 0x0000)])
            + F.ipv6(nextHeader: 59, payload: [])
        let (v, p) = F.parse(frame)
        XCTAssertEqual(v, .ok)
        var e = expected(family: 6, proto: 59, l3Offset: 18, l4Offset: 58, l3Length: 40, ttl: 64)
        e.hasVLAN = true
        assertPacket(p, e)
    }

    func testDoubleTagIsNotIP() {
        let frame = F.ethernet(0x0800, tags: [(0x88A8, 10), (0x8100, 20)])
            + F.ipv4(proto: 6, payload: F.tcp(sport: 1, dport: 2, flags: 0))
        let (v, p) = F.parse(frame)
        XCTAssertEqual(v, .notIP)
        XCTAssertEqual(p.family, 0)
        XCTAssertEqual(p.etherType, 0x8100)
    }

    func testNonIPEthertype() {
        let arp = F.ethernet(0x0806) + [UInt8](repeating: 0, count: 28)
        let (v, p) = F.parse(arp)
        XCTAssertEqual(v, .notIP)
        var e = ParsedPacket()
        e.etherType = 0x0806
        e.l3Offset = 14
        assertPacket(p, e)
    }

    func testParsedPacketIsFullyOverwritten() {
        // Reusing one ParsedPacket: fields from a previous TCP packet must not leak.
        var p = ParsedPacket()
        let tcp = F.tcp4Frame()
        tcp.withUnsafeBytes { _ = parseFrame($0.baseAddress!, length: $0.count, into: &p) }
        XCTAssertEqual(p.dstPort, 22)
        let udp = F.ethernet(0x0800) + F.ipv4(proto: 17, payload: F.udp(sport: 1, dport: 2))
        let v = udp.withUnsafeBytes { parseFrame($0.baseAddress!, length: $0.count, into: &p) }
        XCTAssertEqual(v, .ok)
        var e = expected(family: 4, proto: 17, l4Offset: 34, l3Length: 28, ttl: 64)
        e.srcPort = 1; e.dstPort = 2
        assertPacket(p, e)
    }

    // MARK: - Good IPv6 frames

    func testIPv6TCP() {
        let frame = F.ethernet(0x86DD) + F.ipv6(nextHeader: 6,
                                                payload: F.tcp(sport: 50000, dport: 443, flags: 0x11,
                                                               payload: [1, 2, 3]),
                                                trafficClass: 0xB9, hopLimit: 255)
        let (v, p) = F.parse(frame)
        XCTAssertEqual(v, .ok)
        var e = expected(family: 6, proto: 6, l4Offset: 54, l3Length: 63, ttl: 255, dscp: 46)
        e.srcPort = 50000; e.dstPort = 443; e.tcpFlags = 0x11
        assertPacket(p, e)
    }

    func testIPv6UDP() {
        let frame = F.ethernet(0x86DD) + F.ipv6(nextHeader: 17, payload: F.udp(sport: 546, dport: 547,
                                                                               payload: [9, 9, 9, 9]))
        let (v, p) = F.parse(frame)
        XCTAssertEqual(v, .ok)
        var e = expected(family: 6, proto: 17, l4Offset: 54, l3Length: 52, ttl: 64)
        e.srcPort = 546; e.dstPort = 547
        assertPacket(p, e)
    }

    func testIPv6ICMPv6Echo() {
        for type: UInt8 in [128, 129] {
            let frame = F.ethernet(0x86DD) + F.ipv6(nextHeader: 58, payload: F.echo(type: type, id: 0xBEEF))
            let (v, p) = F.parse(frame)
            XCTAssertEqual(v, .ok)
            var e = expected(family: 6, proto: 58, l4Offset: 54, l3Length: 52, ttl: 64)
            (e.srcPort, e.dstPort) = type == 128 ? (0xBEEF, 0xBEF0) : (0xBEF0, 0xBEEF)
            e.icmpType = type
            assertPacket(p, e)
        }
        // Neighbour solicitation (135): no identifier; its type is in the key.
        let ns = F.ethernet(0x86DD) + F.ipv6(nextHeader: 58, payload: F.icmp(type: 135, rest: [0, 0, 0, 0]),
                                             hopLimit: 255)
        let (v, p) = F.parse(ns)
        XCTAssertEqual(v, .ok)
        var e = expected(family: 6, proto: 58, l4Offset: 54, l3Length: 48, ttl: 255)
        e.icmpType = 135
        e.srcPort = 135 << 8  // type << 8 | code twice: part of the flow key
        e.dstPort = 135 << 8
        assertPacket(p, e)
    }

    func testICMPTypeIsOnlyParsedForMatchingFamily() {
        // Protocol 58 inside IPv4 is not ICMP: unknown protocol, nothing parsed.
        let frame = F.ethernet(0x0800) + F.ipv4(proto: 58, payload: F.echo(type: 128, id: 7))
        let (v, p) = F.parse(frame)
        XCTAssertEqual(v, .ok)
        assertPacket(p, expected(family: 4, proto: 58, l4Offset: 34, l3Length: 32, ttl: 64))
    }

    func testIPv6HopByHopAndFirstFragment() {
        // HBH (8) -> fragment (8, offset 0, M=1) -> UDP whose length covers the whole datagram.
        let payload = F.ext6(next: 44) + F.frag6(next: 17, offset: 0, more: true)
            + F.udp(sport: 4000, dport: 4001, payload: [1, 2, 3, 4], length: 5000)
        let frame = F.ethernet(0x86DD) + F.ipv6(nextHeader: 0, payload: payload)
        let (v, p) = F.parse(frame)
        XCTAssertEqual(v, .ok)
        var e = expected(family: 6, proto: 17, l4Offset: 14 + 40 + 16, l3Length: 40 + 28, ttl: 64)
        e.isFragment = true; e.srcPort = 4000; e.dstPort = 4001
        assertPacket(p, e)
    }

    func testIPv6NonFirstFragment() {
        let payload = F.ext6(next: 44) + F.frag6(next: 6, offset: 100, more: true) + [1, 2, 3]
        let frame = F.ethernet(0x86DD) + F.ipv6(nextHeader: 0, payload: payload)
        let (v, p) = F.parse(frame)
        XCTAssertEqual(v, .ok)
        var e = expected(family: 6, proto: 6, l4Offset: 14 + 40 + 16, l3Length: 40 + 19, ttl: 64)
        e.isFragment = true; e.isNonFirstFragment = true
        assertPacket(p, e)
    }

    /// An atomic fragment (a fragment header with offset 0 and M clear: the whole datagram,
    /// RFC 6946) is no fragment: a filter's `first-fragment` (offset 0 with more to come)
    /// does not match it, as the XDP program's host-bound matcher does not.
    func testIPv6AtomicFragmentIsNotAFragment() {
        let payload = F.frag6(next: 17, offset: 0, more: false) + F.udp(sport: 1, dport: 2)
        let (v, p) = F.parse(F.ethernet(0x86DD) + F.ipv6(nextHeader: 44, payload: payload))
        XCTAssertEqual(v, .ok)
        var e = expected(family: 6, proto: 17, l4Offset: 62, l3Length: 56, ttl: 64)
        e.srcPort = 1; e.dstPort = 2
        assertPacket(p, e)
    }

    func testIPv6DestOptsRoutingAHChain() {
        // dest-opts (16) -> routing (24) -> AH (24) -> TCP
        let payload = F.ext6(next: 43, units: 1) + F.ext6(next: 51, units: 2) + F.ah6(next: 6, len: 4)
            + F.tcp(sport: 9, dport: 10, flags: 0x04)
        let (v, p) = F.parse(F.ethernet(0x86DD) + F.ipv6(nextHeader: 60, payload: payload))
        XCTAssertEqual(v, .ok)
        let l4 = 14 + 40 + 16 + 24 + 24
        var e = expected(family: 6, proto: 6, l4Offset: l4, l3Length: 40 + 64 + 20, ttl: 64)
        e.srcPort = 9; e.dstPort = 10; e.tcpFlags = 0x04
        assertPacket(p, e)
    }

    func testIPv6ESPAndNoNextHeaderStopTheWalk() {
        for next: UInt8 in [50, 59] {
            let payload = F.ext6(next: next) + [UInt8](repeating: 0x77, count: 16)
            let (v, p) = F.parse(F.ethernet(0x86DD) + F.ipv6(nextHeader: 0, payload: payload))
            XCTAssertEqual(v, .ok)
            assertPacket(p, expected(family: 6, proto: next, l4Offset: 62, l3Length: 64, ttl: 64))
        }
    }

    func testIPv6ExtensionHeaderLimit() {
        func chain(_ n: Int) -> [UInt8] {
            var payload: [UInt8] = []
            for i in 0..<n { payload += F.ext6(next: i == n - 1 ? 17 : 60) }
            return F.ethernet(0x86DD) + F.ipv6(nextHeader: 60, payload: payload + F.udp(sport: 1, dport: 2))
        }
        let (v8, p8) = F.parse(chain(8))
        XCTAssertEqual(v8, .ok)
        XCTAssertEqual(p8.l4Offset, 14 + 40 + 64)
        XCTAssertEqual(p8.dstPort, 2)
        XCTAssertEqual(F.parse(chain(9)).0, .badIPHeader)
    }

    // MARK: - Malformed frames

    func testEveryTruncationOfTCPv4Frame() {
        let frame = F.tcp4Frame()
        XCTAssertEqual(F.parse(frame).0, .ok)
        for n in 0..<frame.count {
            let (v, _) = F.parse(frame, length: n)
            // < 14: no Ethernet header; < 34: no fixed IPv4 header; after that the IPv4 total
            // length (50) exceeds what is present.
            let want: ParseVerdict = n < 34 ? .truncated : .badLength
            XCTAssertEqual(v, want, "length \(n)")
        }
        XCTAssertEqual(F.parse(frame, length: -1).0, .truncated)
    }

    func testEveryTruncationOfVLANIPv6ChainFrame() {
        let payload = F.ext6(next: 44) + F.frag6(next: 6, offset: 0, more: true)
            + F.tcp(sport: 1, dport: 2, flags: 2, payload: [1])
        let frame = F.ethernet(0x86DD, tags: [(0x8100, 5)]) + F.ipv6(nextHeader: 0, payload: payload)
        XCTAssertEqual(F.parse(frame).0, .ok)
        for n in 0..<frame.count {
            let (v, _) = F.parse(frame, length: n)
            let want: ParseVerdict = n < 18 + 40 ? .truncated : .badLength
            XCTAssertEqual(v, want, "length \(n)")
        }
    }

    func testIPv4BadVersion() {
        let frame = F.ethernet(0x0800) + F.ipv4(proto: 6, payload: F.tcp(sport: 1, dport: 2, flags: 0), version: 6)
        XCTAssertEqual(F.parse(frame).0, .badIPHeader)
    }

    func testIPv4IHL4() {
        let frame = F.ethernet(0x0800) + F.ipv4(proto: 6, payload: F.tcp(sport: 1, dport: 2, flags: 0), ihl: 4)
        XCTAssertEqual(F.parse(frame).0, .badIPHeader)
    }

    func testIPv4IHLBeyondFrame() {
        // IHL 15 = 60 bytes, but only 20 + 8 bytes follow the Ethernet header.
        let frame = F.ethernet(0x0800) + F.ipv4(proto: 17, payload: F.udp(sport: 1, dport: 2), ihl: 15)
        XCTAssertEqual(F.parse(frame).0, .badIPHeader)
    }

    func testIPv4IHLOneWordBeyondHeader() {
        // IHL 6 but the datagram (and frame) holds only the fixed 20 bytes.
        let frame = F.ethernet(0x0800) + F.ipv4(proto: 59, payload: [], ihl: 6)
        XCTAssertEqual(F.parse(frame).0, .badIPHeader)
    }

    func testIPv4TotalLengthBeyondFrame() {
        let frame = F.ethernet(0x0800) + F.ipv4(proto: 17, payload: F.udp(sport: 1, dport: 2), totalLength: 29)
        XCTAssertEqual(F.parse(frame).0, .badLength)
    }

    func testIPv4TotalLengthBelowHeader() {
        let frame = F.ethernet(0x0800) + F.ipv4(proto: 17, payload: F.udp(sport: 1, dport: 2), totalLength: 19)
        XCTAssertEqual(F.parse(frame).0, .badLength)
    }

    func testTCPDataOffset3() {
        let frame = F.ethernet(0x0800) + F.ipv4(proto: 6, payload: F.tcp(sport: 1, dport: 2, flags: 0, dataOffset: 3))
        XCTAssertEqual(F.parse(frame).0, .badL4Header)
    }

    func testTCPDataOffsetBeyondPacket() {
        // Data offset 6 (24 bytes) but only the 20-byte header is in the datagram.
        let v4 = F.ethernet(0x0800) + F.ipv4(proto: 6, payload: F.tcp(sport: 1, dport: 2, flags: 0, dataOffset: 6))
        XCTAssertEqual(F.parse(v4).0, .badL4Header)
        let v6 = F.ethernet(0x86DD) + F.ipv6(nextHeader: 6, payload: F.tcp(sport: 1, dport: 2, flags: 0, dataOffset: 15))
        XCTAssertEqual(F.parse(v6).0, .badL4Header)
        // Padding after the datagram does not count as TCP header bytes.
        let padded = v4 + [UInt8](repeating: 0, count: 16)
        XCTAssertEqual(F.parse(padded).0, .badL4Header)
    }

    func testTCPHeaderShorterThan20() {
        let tcp = Array(F.tcp(sport: 1, dport: 2, flags: 0).prefix(19))
        XCTAssertEqual(F.parse(F.ethernet(0x0800) + F.ipv4(proto: 6, payload: tcp)).0, .badL4Header)
    }

    /// Every cut of the L4 header where the IP length fields agree with the cut (so the
    /// datagram ends exactly at the end of the frame): `.badL4Header`, never an overread.
    func testEveryL4HeaderPrefixIsRejected() {
        let headers: [(UInt8, [UInt8])] = [
            (6, F.tcp(sport: 1, dport: 2, flags: 2, options: [1, 1, 1, 0])),
            (17, F.udp(sport: 1, dport: 2)),
            (1, Array(F.echo(type: 8, id: 5).prefix(8))),
        ]
        for (proto, header) in headers {
            for k in 0..<header.count {
                let cut = Array(header.prefix(k))
                let v4 = F.ethernet(0x0800) + F.ipv4(proto: proto, payload: cut)
                XCTAssertEqual(F.parse(v4).0, .badL4Header, "v4 proto \(proto) cut \(k)")
                let v6 = F.ethernet(0x86DD) + F.ipv6(nextHeader: proto == 1 ? 58 : proto,
                                                     payload: proto == 1 ? [128] + cut.dropFirst() : cut)
                XCTAssertEqual(F.parse(v6).0, .badL4Header, "v6 proto \(proto) cut \(k)")
                // First fragments get no slack for a short L4 header (RFC 1858 tiny fragments).
                let frag4 = F.ethernet(0x0800) + F.ipv4(proto: proto, payload: cut, flagsFragment: 0x2000)
                XCTAssertEqual(F.parse(frag4).0, .badL4Header, "v4 first fragment proto \(proto) cut \(k)")
                let frag6 = F.ethernet(0x86DD) + F.ipv6(nextHeader: 44, payload: F.frag6(next: proto == 1 ? 58 : proto,
                                                                                         offset: 0, more: true)
                                                            + (proto == 1 ? [128] + cut.dropFirst() : cut))
                XCTAssertEqual(F.parse(frag6).0, .badL4Header, "v6 first fragment proto \(proto) cut \(k)")
            }
        }
        // ICMP non-echo needs only 4 bytes.
        for k in 0..<4 {
            let v4 = F.ethernet(0x0800) + F.ipv4(proto: 1, payload: Array([3, 1, 0, 0].prefix(k)))
            XCTAssertEqual(F.parse(v4).0, .badL4Header, "icmp cut \(k)")
        }
    }

    /// Every cut of an extension-header chain with a matching payload length: `.badIPHeader`.
    func testEveryExtensionChainPrefixIsRejected() {
        let chain = F.ext6(next: 51, units: 1) + F.ah6(next: 44, len: 4) + F.frag6(next: 59, offset: 0, more: true)
        XCTAssertEqual(F.parse(F.ethernet(0x86DD) + F.ipv6(nextHeader: 60, payload: chain)).0, .ok)
        for k in 0..<chain.count {
            let frame = F.ethernet(0x86DD) + F.ipv6(nextHeader: 60, payload: Array(chain.prefix(k)))
            XCTAssertEqual(F.parse(frame).0, .badIPHeader, "cut \(k)")
        }
    }

    func testUDPBadLengths() {
        let udpLen4 = F.ethernet(0x0800) + F.ipv4(proto: 17, payload: F.udp(sport: 1, dport: 2, length: 4))
        XCTAssertEqual(F.parse(udpLen4).0, .badL4Header)
        let udpLenBeyond = F.ethernet(0x0800) + F.ipv4(proto: 17, payload: F.udp(sport: 1, dport: 2, payload: [1],
                                                                                 length: 10))
        XCTAssertEqual(F.parse(udpLenBeyond).0, .badL4Header)
        let udp7 = Array(F.udp(sport: 1, dport: 2).prefix(7))
        XCTAssertEqual(F.parse(F.ethernet(0x86DD) + F.ipv6(nextHeader: 17, payload: udp7)).0, .badL4Header)
        // UDP length shorter than the datagram (trailing bytes) is accepted.
        let udpShort = F.ethernet(0x0800) + F.ipv4(proto: 17, payload: F.udp(sport: 1, dport: 2, payload: [1, 2],
                                                                             length: 9))
        XCTAssertEqual(F.parse(udpShort).0, .ok)
    }

    func testICMPTooShort() {
        XCTAssertEqual(F.parse(F.ethernet(0x0800) + F.ipv4(proto: 1, payload: [3, 1, 0])).0, .badL4Header)
        // Echo needs 8 bytes for the identifier.
        XCTAssertEqual(F.parse(F.ethernet(0x0800) + F.ipv4(proto: 1, payload: [8, 0, 0, 0, 0x12])).0,
                       .badL4Header)
        XCTAssertEqual(F.parse(F.ethernet(0x86DD) + F.ipv6(nextHeader: 58, payload: [128, 0, 0, 0, 1, 2, 3])).0,
                       .badL4Header)
    }

    func testIPv6BadVersionAndTruncatedHeader() {
        let bad = F.ethernet(0x86DD) + F.ipv6(nextHeader: 59, payload: [], version: 4)
        XCTAssertEqual(F.parse(bad).0, .badIPHeader)
        let short = F.ethernet(0x86DD) + Array(F.ipv6(nextHeader: 59, payload: []).prefix(39))
        XCTAssertEqual(F.parse(short).0, .truncated)
    }

    func testIPv6PayloadLengthBeyondFrame() {
        let frame = F.ethernet(0x86DD) + F.ipv6(nextHeader: 17, payload: F.udp(sport: 1, dport: 2), payloadLength: 9)
        XCTAssertEqual(F.parse(frame).0, .badLength)
    }

    func testIPv6ExtensionChainPastEnd() {
        // HBH claims 48 bytes but only 16 bytes of payload follow the fixed header.
        var hbh = F.ext6(next: 17, units: 1)
        hbh[1] = 5
        let frame = F.ethernet(0x86DD) + F.ipv6(nextHeader: 0, payload: hbh)
        XCTAssertEqual(F.parse(frame).0, .badIPHeader)
        // Fragment header cut short (fewer than 8 bytes left).
        let frag = F.ethernet(0x86DD) + F.ipv6(nextHeader: 44, payload: Array(F.frag6(next: 17, offset: 0, more: true).prefix(6)))
        XCTAssertEqual(F.parse(frag).0, .badIPHeader)
        // AH whose length runs past the end.
        let ah = F.ethernet(0x86DD) + F.ipv6(nextHeader: 51, payload: Array(F.ah6(next: 6, len: 4).prefix(20)))
        XCTAssertEqual(F.parse(ah).0, .badIPHeader)
        // Each walked header type claiming more bytes than the datagram has, followed by nothing
        // that would fail on its own (next header 59), even with a partial header present.
        for (type, header) in [(UInt8(0), F.ext6(next: 59, units: 1)), (43, F.ext6(next: 59, units: 1)),
                               (60, F.ext6(next: 59, units: 2)), (51, F.ah6(next: 59, len: 4))] {
            for keep in [8, header.count - 8, header.count - 1] {
                let cut = F.ethernet(0x86DD) + F.ipv6(nextHeader: type, payload: Array(header.prefix(keep)))
                XCTAssertEqual(F.parse(cut).0, .badIPHeader, "type \(type) keep \(keep)")
            }
        }
        // A chain that fits the frame but not the IPv6 payload length: padding is not payload.
        let inPadding = F.ethernet(0x86DD) + F.ipv6(nextHeader: 0, payload: F.ext6(next: 59), payloadLength: 4)
            + [UInt8](repeating: 0, count: 8)
        XCTAssertEqual(F.parse(inPadding).0, .badIPHeader)
    }

    // MARK: - Robustness

    /// Random mutations of valid frames: parsing never crashes or reads out of bounds (run
    /// under ASan to check the latter), and `.ok` results are self-consistent.
    func testRandomMutationsKeepInvariants() {
        var rng = ParseTestRNG(state: 0x5EED)
        let seeds: [[UInt8]] = [
            F.tcp4Frame(),
            F.ethernet(0x0800, tags: [(0x8100, 1)]) + F.ipv4(proto: 1, payload: F.echo(type: 8, id: 1),
                                                             options: [1, 1, 1, 0]),
            F.ethernet(0x86DD) + F.ipv6(nextHeader: 0, payload: F.ext6(next: 44) + F.frag6(next: 17, offset: 0, more: true)
                                            + F.udp(sport: 1, dport: 2, payload: [1, 2, 3])),
            F.ethernet(0x86DD) + F.ipv6(nextHeader: 60, payload: F.ext6(next: 51, units: 1) + F.ah6(next: 58)
                                            + F.echo(type: 129, id: 3)),
        ]
        for i in 0..<20_000 where !hasFailed {
            var frame = seeds[i % seeds.count]
            let flips = Int.random(in: 1...4, using: &rng)
            for _ in 0..<flips {
                let at = Int.random(in: 0..<frame.count, using: &rng)
                frame[at] = UInt8.random(in: 0...255, using: &rng)
            }
            let n = Int.random(in: 0...frame.count, using: &rng)
            let (v, p) = F.parse(frame, length: n)
            if v == .ok {
                XCTAssertTrue(p.family == 4 || p.family == 6)
                XCTAssertLessThanOrEqual(p.l3Offset + p.l3Length, n)
                XCTAssertLessThanOrEqual(p.l4Offset, p.l3Offset + p.l3Length)
                XCTAssertGreaterThanOrEqual(p.l4Length, 0)
                if p.isNonFirstFragment { XCTAssertTrue(p.isFragment) }
            }
        }
    }
}
