import Foundation
import XCTest
import CXPF
@testable import Shared

// Tests for Sources/Shared/Pipeline/Reject.swift: the reply a `reject` policy sends
// (R-5.2). Frames are built on the wire (Frames, ForwardTests.swift), parsed by
// `parseFrame` as the parse stage does, and handed to `Pipeline.reject` — the entry
// point the policy stage calls. Every field of the reply is checked against values this
// file computes on its own: sequence numbers are literals worked out from the segment
// by hand (RFC 9293 §3.10.7.1), checksums are summed here from the bytes (not by
// Checksum.swift), and `testScapyDecodesEveryReply` has scapy (a second, independent
// implementation of the headers) decode each reply and recompute its checksums.
// Fixtures are ForwardTests': the LAN interface (slot 0, MAC 02:00:00:00:01:01) carries
// 10.10.1.1 and fd00:1::1, the sources of the ICMP replies.

final class RejectTests: PipelineTestCase {
    typealias F = Frames

    static let ingress: UInt8 = 0
    /// An interface slot beyond the worker's interfaces (ForwardTests sets up two).
    static let unknownIngress: UInt8 = 5
    /// Stands in for the policy stage's reject drop reason (the ABI's list grows with it).
    static let reason = XPF_DROP_UNSUPPORTED
    static let ethernetHeaderLength = 14
    static let vlanTagLength = 4
    static let resetTTL: UInt8 = 64

    static let protoICMP: UInt8 = 1
    static let protoTCP: UInt8 = 6
    static let protoUDP: UInt8 = 17
    static let protoGRE: UInt8 = 47
    static let protoICMPv6: UInt8 = 58
    static let ext6DestinationOptions: UInt8 = 60
    static let ext6Fragment: UInt8 = 44

    static let client4 = ForwardTests.client4
    static let server4 = ForwardTests.server4
    static let client6 = ForwardTests.client6
    static let server6 = ForwardTests.server6
    static let lanAddress4 = F.be32(F.v4(10, 10, 1, 1))
    static let lanAddress6 = F.v6(1, 1)
    static let clientPort: UInt16 = 40_000
    static let serverPort: UInt16 = 443
    static let broadcastMAC: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]

    enum Flag {
        static let fin: UInt8 = 0x01, syn: UInt8 = 0x02, rst: UInt8 = 0x04, psh: UInt8 = 0x08, ack: UInt8 = 0x10
    }

    override class var regionName: String { "reject" }

    // MARK: frames

    static func tcp(flags: UInt8, seq: UInt32, ack: UInt32 = 0, payload: [UInt8] = []) -> [UInt8] {
        F.tcp(clientPort, serverPort, flags: flags, seq: seq, ack: ack) + payload
    }

    static func tcp4(flags: UInt8, seq: UInt32, ack: UInt32 = 0, payload: [UInt8] = [], to mac: [UInt8] = F.lanMAC,
                     src: UInt32 = client4) -> [UInt8] {
        F.frame4(src: src, dst: server4, proto: protoTCP, l4: tcp(flags: flags, seq: seq, ack: ack, payload: payload), to: mac)
    }

    static func tcp6(flags: UInt8, seq: UInt32, ack: UInt32 = 0, payload: [UInt8] = []) -> [UInt8] {
        F.frame6(src: client6, dst: server6, nextHeader: protoTCP, l4: tcp(flags: flags, seq: seq, ack: ack, payload: payload))
    }

    /// IPv4 with 4 bytes of options (four NOPs, IHL 6) in front of the L4 bytes.
    static func withOptions4(proto: UInt8, l4: [UInt8]) -> [UInt8] {
        let nop: UInt8 = 1
        var h: [UInt8] = [0x46, 0] + F.be16(UInt16(24 + l4.count)) + F.be16(0x4242) + F.be16(0x4000)
        h += [64, proto, 0, 0] + F.be32(client4) + F.be32(server4) + [nop, nop, nop, nop]
        h[10...11] = ArraySlice(F.be16(Self.checksum(h)))
        var ip = h + l4
        F.fillL4Checksum(&ip, family: 4)
        return F.ethernet(dst: F.lanMAC, src: F.clientMAC, type: 0x0800) + ip
    }

    /// The frame with an 802.1Q tag (VLAN `vid`) inserted after the MACs.
    static func tagged(_ f: [UInt8], vid: UInt16) -> [UInt8] {
        Array(f[0..<12]) + F.be16(0x8100) + F.be16(vid) + Array(f[12...])
    }

    /// IPv6 with a destination-options header (8 bytes of PadN) in front of the L4 bytes.
    static func withDestinationOptions6(nextHeader: UInt8, l4: [UInt8]) -> [UInt8] {
        let padN: UInt8 = 1
        let options = [nextHeader, 0, padN, 4, 0, 0, 0, 0]
        return F.frame6(src: client6, dst: server6, nextHeader: ext6DestinationOptions, l4: options + l4)
    }

    /// IPv4 fragment at `offset` (8-byte units) of a TCP datagram; header checksum redone.
    static func fragment4(offset: UInt16) -> [UInt8] {
        var f = tcp4(flags: Flag.ack, seq: 1, ack: 2, payload: [UInt8](repeating: 0x61, count: 16))
        let ip = ethernetHeaderLength
        f[ip + 6...ip + 7] = ArraySlice(F.be16(offset))
        f[ip + 10] = 0; f[ip + 11] = 0
        f[ip + 10...ip + 11] = ArraySlice(F.be16(checksum(Array(f[ip..<ip + 20]))))
        return f
    }

    /// IPv6 fragment at `offset` (8-byte units) of a TCP datagram.
    static func fragment6(offset: UInt16) -> [UInt8] {
        let header = [protoTCP, 0] + F.be16(offset << 3) + F.be32(0x0BAD_F00D)
        return F.frame6(src: client6, dst: server6, nextHeader: ext6Fragment,
                        l4: header + tcp(flags: Flag.ack, seq: 1, ack: 2))
    }

    static func udp4(to dst: UInt32 = server4, payload: Int = 24) -> [UInt8] {
        F.frame4(src: client4, dst: dst, proto: protoUDP, l4: F.udp(clientPort, 53, payload: [UInt8](repeating: 0x55, count: payload)))
    }

    static func udp6(payload: Int = 24) -> [UInt8] {
        F.frame6(src: client6, dst: server6, nextHeader: protoUDP, l4: F.udp(clientPort, 53, payload: [UInt8](repeating: 0x55, count: payload)))
    }

    // MARK: independent arithmetic

    /// RFC 1071 checksum, summed here 16 bits at a time (big-endian words, an odd last
    /// byte padded with zero): the value the field must hold when `bytes` carries it as 0.
    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i < bytes.count {
            sum += UInt32(bytes[i]) << 8 | (i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0)
            i += 2
        }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    /// The L4 checksum of `segment` (its checksum field at `field` zeroed) with the
    /// pseudo header of RFC 9293 §3.1 / RFC 8200 §8.1.
    static func l4Checksum(family: UInt8, src: [UInt8], dst: [UInt8], proto: UInt8, segment: [UInt8], field: Int) -> UInt16 {
        var s = segment
        s[field] = 0; s[field + 1] = 0
        let pseudo = family == 4
            ? src + dst + [0, proto] + F.be16(UInt16(s.count))
            : src + dst + F.be32(UInt32(s.count)) + [0, 0, 0, proto]
        return checksum(pseudo + s)
    }

    static func be16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) << 8 | UInt16(b[at + 1]) }
    static func be32(_ b: [UInt8], _ at: Int) -> UInt32 { UInt32(be16(b, at)) << 16 | UInt32(be16(b, at + 2)) }

    func dropCount(_ reason: xpf_drop_reason) -> UInt64 {
        withUnsafeBytes(of: counters.s.drops) { $0.load(fromByteOffset: Int(reason.rawValue) * 8, as: UInt64.self) }
    }

    // MARK: driving the entry point

    /// Parses the frame as the parse stage does and calls `Pipeline.reject`, as the policy
    /// stage will. Returns the result and the frame's bytes afterwards (the reply's, when
    /// one went out; the original length otherwise).
    func reject(_ frame: [UInt8], ingress: UInt8 = ingress, file: StaticString = #filePath, line: UInt = #line)
        -> (Rejection, [UInt8]) {
        var buf = frame + [UInt8](repeating: 0, count: ForwardTests.frameHeadroom)
        let r = buf.withUnsafeMutableBytes { raw -> Rejection? in
            var p = Packet(frame: raw.baseAddress!, length: frame.count, ingress: ingress)
            guard parseFrame(UnsafeRawPointer(p.frame), length: p.length, into: &p.parsed) == .ok else { return nil }
            return pipeline.reject(&p, dropReason: Self.reason, counters: &counters)
        }
        guard let r else {
            XCTFail("the test frame does not parse", file: file, line: line)
            return (Rejection(action: .drop(Self.reason), replySent: false), frame)
        }
        if r.action.kind == .transmit {
            XCTAssertTrue(r.replySent, file: file, line: line)
            XCTAssertEqual(r.action.egress, ingress, "the reply leaves by the ingress interface", file: file, line: line)
            return (r, Array(buf[0..<Int(r.action.length)]))
        }
        return (r, Array(buf[0..<frame.count]))
    }

    // MARK: TCP RST

    /// One segment and the RST that must answer it.
    struct ResetCase {
        let name: String
        let frame: [UInt8]
        let family: UInt8
        let seq: UInt32
        let ack: UInt32
        let flags: UInt8
    }

    static let data = Array("GET / HTTP/1.1\r\n\r\n".utf8)  // 18 bytes
    static let tfo = Array("0123456789".utf8)             // 10 bytes on a SYN

    /// Expected values worked out by hand from RFC 9293 §3.10.7.1: a segment with ACK gets
    /// <SEQ=SEG.ACK><CTL=RST>; one without gets <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
    /// where SEG.LEN is the data plus one for SYN and one for FIN.
    static let resetCases: [ResetCase] = [
        ResetCase(name: "v4 SYN", frame: tcp4(flags: Flag.syn, seq: 1000),
                  family: 4, seq: 0, ack: 1001, flags: Flag.rst | Flag.ack),
        ResetCase(name: "v4 SYN with 10 bytes of data", frame: tcp4(flags: Flag.syn, seq: 1000, payload: tfo),
                  family: 4, seq: 0, ack: 1011, flags: Flag.rst | Flag.ack),
        ResetCase(name: "v4 SYN at the top of sequence space", frame: tcp4(flags: Flag.syn, seq: 0xFFFF_FFFF),
                  family: 4, seq: 0, ack: 0, flags: Flag.rst | Flag.ack),
        ResetCase(name: "v4 ACK", frame: tcp4(flags: Flag.ack, seq: 5000, ack: 77_000),
                  family: 4, seq: 77_000, ack: 0, flags: Flag.rst),
        ResetCase(name: "v4 FIN|ACK", frame: tcp4(flags: Flag.fin | Flag.ack, seq: 5000, ack: 0xDEAD_BEEF),
                  family: 4, seq: 0xDEAD_BEEF, ack: 0, flags: Flag.rst),
        ResetCase(name: "v4 PSH|ACK with data", frame: tcp4(flags: Flag.psh | Flag.ack, seq: 5000, ack: 9000, payload: data),
                  family: 4, seq: 9000, ack: 0, flags: Flag.rst),
        ResetCase(name: "v4 data without ACK", frame: tcp4(flags: Flag.psh, seq: 5000, payload: data),
                  family: 4, seq: 0, ack: 5018, flags: Flag.rst | Flag.ack),
        ResetCase(name: "v4 FIN with data, no ACK", frame: tcp4(flags: Flag.fin, seq: 5000, payload: data),
                  family: 4, seq: 0, ack: 5019, flags: Flag.rst | Flag.ack),
        ResetCase(name: "v4 SYN|FIN", frame: tcp4(flags: Flag.syn | Flag.fin, seq: 300),
                  family: 4, seq: 0, ack: 302, flags: Flag.rst | Flag.ack),
        ResetCase(name: "v4 ACK with IP options", frame: withOptions4(proto: protoTCP, l4: tcp(flags: Flag.ack, seq: 1, ack: 4242, payload: data)),
                  family: 4, seq: 4242, ack: 0, flags: Flag.rst),
        ResetCase(name: "v6 SYN", frame: tcp6(flags: Flag.syn, seq: 123_456),
                  family: 6, seq: 0, ack: 123_457, flags: Flag.rst | Flag.ack),
        ResetCase(name: "v6 SYN with 10 bytes of data", frame: tcp6(flags: Flag.syn, seq: 123_456, payload: tfo),
                  family: 6, seq: 0, ack: 123_467, flags: Flag.rst | Flag.ack),
        ResetCase(name: "v6 ACK", frame: tcp6(flags: Flag.ack, seq: 10, ack: 0x8000_0001),
                  family: 6, seq: 0x8000_0001, ack: 0, flags: Flag.rst),
        ResetCase(name: "v6 FIN|ACK", frame: tcp6(flags: Flag.fin | Flag.ack, seq: 10, ack: 20),
                  family: 6, seq: 20, ack: 0, flags: Flag.rst),
        ResetCase(name: "v6 PSH|ACK with data", frame: tcp6(flags: Flag.psh | Flag.ack, seq: 10, ack: 31_337, payload: data),
                  family: 6, seq: 31_337, ack: 0, flags: Flag.rst),
        ResetCase(name: "v6 FIN with data, no ACK", frame: tcp6(flags: Flag.fin, seq: 0xFFFF_FFF0, payload: data),
                  family: 6, seq: 0, ack: 0xFFFF_FFF0 &+ 19, flags: Flag.rst | Flag.ack),
        ResetCase(name: "v6 ACK behind a destination-options header",
                  frame: withDestinationOptions6(nextHeader: protoTCP, l4: tcp(flags: Flag.ack, seq: 1, ack: 6060, payload: data)),
                  family: 6, seq: 6060, ack: 0, flags: Flag.rst),
    ]

    func testTCPIsAnsweredWithAResetTheClientAccepts() {
        for c in Self.resetCases {
            let sentBefore = counters.s.icmp_errors_sent
            let dropsBefore = dropCount(Self.reason)
            let (r, out) = reject(c.frame)
            guard r.replySent, r.action.kind == .transmit else {
                XCTFail("\(c.name): expected a RST, got \(r.action.kind)")
                continue
            }
            assertReset(out, original: c.frame, family: c.family, l3Offset: Self.ethernetHeaderLength,
                        seq: c.seq, ack: c.ack, flags: c.flags, c.name)
            XCTAssertEqual(counters.s.icmp_errors_sent, sentBefore, "\(c.name): a RST is not an ICMP error")
            XCTAssertEqual(dropCount(Self.reason), dropsBefore + 1, "\(c.name): the original packet is counted as dropped")
        }
    }

    /// A tagged frame: the reply keeps the tag.
    func testResetKeepsTheVLANTag() {
        let vid: UInt16 = 100
        let f = Self.tagged(Self.tcp4(flags: Flag.syn, seq: 7), vid: vid)
        let (r, out) = reject(f)
        XCTAssertTrue(r.replySent)
        assertReset(out, original: f, family: 4, l3Offset: Self.ethernetHeaderLength + Self.vlanTagLength,
                    seq: 0, ack: 8, flags: Flag.rst | Flag.ack, "v4 SYN on VLAN \(vid)")
        let f6 = Self.tagged(Self.tcp6(flags: Flag.ack, seq: 7, ack: 99), vid: vid)
        let (r6, out6) = reject(f6)
        XCTAssertTrue(r6.replySent)
        assertReset(out6, original: f6, family: 6, l3Offset: Self.ethernetHeaderLength + Self.vlanTagLength,
                    seq: 99, ack: 0, flags: Flag.rst, "v6 ACK on VLAN \(vid)")
    }

    /// The RST: to the client's MAC from the ingress interface's, from the server the
    /// client addressed to the client, ports swapped, TTL 64, no options, no data, window 0,
    /// checksums summed from scratch — and acceptable to the client (RFC 9293 §3.10.7.3
    /// and RFC 5961 §3.2): with ACK the RST carries exactly the client's RCV.NXT (the
    /// client's SEG.ACK); without, it acknowledges exactly the client's SND.NXT.
    func assertReset(_ out: [UInt8], original f: [UInt8], family: UInt8, l3Offset: Int, seq: UInt32, ack: UInt32,
                     flags: UInt8, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        let ipLength = family == 4 ? 20 : 40
        XCTAssertEqual(out.count, l3Offset + ipLength + 20, "\(name): IP and TCP headers only", file: file, line: line)
        guard out.count == l3Offset + ipLength + 20 else { return }
        XCTAssertEqual(Array(out[0..<6]), F.clientMAC, "\(name): to the sender's MAC", file: file, line: line)
        XCTAssertEqual(Array(out[6..<12]), F.lanMAC, "\(name): from the ingress interface's MAC", file: file, line: line)
        XCTAssertEqual(Array(out[12..<l3Offset]), Array(f[12..<l3Offset]), "\(name): ethertype (and tag) kept", file: file, line: line)
        let ip = Array(out[l3Offset..<l3Offset + ipLength])
        let tcp = Array(out[(l3Offset + ipLength)...])
        let client = family == 4 ? F.be32(Self.client4) : Self.client6
        let server = family == 4 ? F.be32(Self.server4) : Self.server6
        if family == 4 {
            XCTAssertEqual(ip[0], 0x45, "\(name): IPv4, no options", file: file, line: line)
            XCTAssertEqual(Self.be16(ip, 2), 40, "\(name): total length", file: file, line: line)
            XCTAssertEqual(Self.be16(ip, 6), 0x4000, "\(name): DF, not a fragment", file: file, line: line)
            XCTAssertEqual(ip[8], Self.resetTTL, "\(name): TTL", file: file, line: line)
            XCTAssertEqual(ip[9], Self.protoTCP, "\(name): protocol", file: file, line: line)
            XCTAssertEqual(Array(ip[12..<16]), server, "\(name): from the server", file: file, line: line)
            XCTAssertEqual(Array(ip[16..<20]), client, "\(name): to the client", file: file, line: line)
            var zeroed = ip
            zeroed[10] = 0; zeroed[11] = 0
            XCTAssertEqual(Self.be16(ip, 10), Self.checksum(zeroed), "\(name): IPv4 header checksum", file: file, line: line)
        } else {
            XCTAssertEqual(Self.be32(ip, 0), 0x6000_0000, "\(name): IPv6, traffic class and flow label 0", file: file, line: line)
            XCTAssertEqual(Self.be16(ip, 4), 20, "\(name): payload length", file: file, line: line)
            XCTAssertEqual(ip[6], Self.protoTCP, "\(name): next header TCP, no extension headers", file: file, line: line)
            XCTAssertEqual(ip[7], Self.resetTTL, "\(name): hop limit", file: file, line: line)
            XCTAssertEqual(Array(ip[8..<24]), server, "\(name): from the server", file: file, line: line)
            XCTAssertEqual(Array(ip[24..<40]), client, "\(name): to the client", file: file, line: line)
        }
        XCTAssertEqual(Self.be16(tcp, 0), Self.serverPort, "\(name): source port", file: file, line: line)
        XCTAssertEqual(Self.be16(tcp, 2), Self.clientPort, "\(name): destination port", file: file, line: line)
        XCTAssertEqual(Self.be32(tcp, 4), seq, "\(name): sequence number", file: file, line: line)
        XCTAssertEqual(Self.be32(tcp, 8), ack, "\(name): acknowledgment number", file: file, line: line)
        XCTAssertEqual(tcp[12], 0x50, "\(name): data offset 5, no options", file: file, line: line)
        XCTAssertEqual(tcp[13], flags, "\(name): flags", file: file, line: line)
        XCTAssertEqual(Self.be16(tcp, 14), 0, "\(name): window", file: file, line: line)
        XCTAssertEqual(Self.be16(tcp, 18), 0, "\(name): urgent pointer", file: file, line: line)
        XCTAssertEqual(Self.be16(tcp, 16),
                       Self.l4Checksum(family: family, src: server, dst: client, proto: Self.protoTCP, segment: tcp, field: 16),
                       "\(name): TCP checksum", file: file, line: line)
        // The client's view: what it sent, and the one RST it must take.
        var parsed = ParsedPacket()
        XCTAssertEqual(f.withUnsafeBytes { parseFrame($0.baseAddress!, length: f.count, into: &parsed) }, .ok, file: file, line: line)
        let sent = Array(f[parsed.l4Offset..<(parsed.l3Offset + parsed.l3Length)])
        let sentFlags = sent[13]
        if sentFlags & Flag.ack != 0 {
            XCTAssertEqual(Self.be32(tcp, 4), Self.be32(sent, 8), "\(name): SEG.SEQ = the client's RCV.NXT", file: file, line: line)
            XCTAssertEqual(tcp[13] & Flag.ack, 0, file: file, line: line)
        } else {
            let dataLength = sent.count - Int(sent[12] >> 4) * 4
            let sndNxt = Self.be32(sent, 4) &+ UInt32(dataLength) &+ UInt32(sentFlags & Flag.syn != 0 ? 1 : 0)
                &+ UInt32(sentFlags & Flag.fin != 0 ? 1 : 0)
            XCTAssertEqual(tcp[13] & Flag.ack, Flag.ack, file: file, line: line)
            XCTAssertEqual(Self.be32(tcp, 8), sndNxt, "\(name): SEG.ACK = the client's SND.NXT", file: file, line: line)
        }
    }

    // MARK: ICMP administratively prohibited

    struct ICMPCase {
        let name: String
        let frame: [UInt8]
        let family: UInt8
    }

    static let icmpCases: [ICMPCase] = [
        ICMPCase(name: "v4 UDP", frame: udp4(), family: 4),
        ICMPCase(name: "v4 UDP, 4 bytes of payload", frame: udp4(payload: 4), family: 4),
        ICMPCase(name: "v4 echo request", frame: F.frame4(src: client4, dst: server4, proto: protoICMP,
                                                          l4: F.icmpEcho(type: 8, id: 0x4242, seq: 1)), family: 4),
        ICMPCase(name: "v4 GRE (no L4 parsing)", frame: F.frame4(src: client4, dst: server4, proto: protoGRE,
                                                                 l4: [0, 0, 0x08, 0] + [UInt8](repeating: 0x45, count: 24)), family: 4),
        ICMPCase(name: "v4 UDP with IP options", frame: withOptions4(proto: protoUDP, l4: F.udp(clientPort, 53, payload: data)), family: 4),
        ICMPCase(name: "v4 UDP first fragment", frame: {
            var f = udp4()
            let ip = ethernetHeaderLength
            f[ip + 6...ip + 7] = ArraySlice(F.be16(0x2000))  // MF, offset 0
            f[ip + 10] = 0; f[ip + 11] = 0
            f[ip + 10...ip + 11] = ArraySlice(F.be16(checksum(Array(f[ip..<ip + 20]))))
            return f
        }(), family: 4),
        ICMPCase(name: "v6 UDP", frame: udp6(), family: 6),
        ICMPCase(name: "v6 echo request", frame: F.frame6(src: client6, dst: server6, nextHeader: protoICMPv6,
                                                          l4: F.icmpEcho(type: 128, id: 0x4242, seq: 1)), family: 6),
        ICMPCase(name: "v6 UDP of 1400 bytes (quote cut at the minimum MTU)", frame: udp6(payload: 1400 - 48), family: 6),
        ICMPCase(name: "v6 UDP behind a destination-options header",
                 frame: withDestinationOptions6(nextHeader: protoUDP, l4: F.udp(clientPort, 53, payload: data)), family: 6),
    ]

    func testOtherProtocolsGetAdministrativelyProhibited() {
        for c in Self.icmpCases {
            pipeline.icmpLimit = ICMPRateLimit()  // the rows test the reply, not the rate limit
            let sentBefore = counters.s.icmp_errors_sent
            let dropsBefore = dropCount(Self.reason)
            let (r, out) = reject(c.frame)
            guard r.replySent, r.action.kind == .transmit else {
                XCTFail("\(c.name): expected an ICMP administratively prohibited, got \(r.action.kind)")
                continue
            }
            assertAdminProhibited(out, original: c.frame, family: c.family, c.name)
            XCTAssertEqual(counters.s.icmp_errors_sent, sentBefore + 1, c.name)
            XCTAssertEqual(dropCount(Self.reason), dropsBefore + 1, "\(c.name): the original packet is counted as dropped")
        }
        XCTAssertEqual(counters.s.icmp_errors_limited, 0)
    }

    /// ICMPv4 3/13 quoting the original IP header and 8 bytes of its payload (RFC 792);
    /// ICMPv6 1/1 quoting as much as fits in 1280 bytes (RFC 4443 §2.4(c)); from the
    /// ingress interface's address to the sender; checksums summed from scratch.
    func assertAdminProhibited(_ out: [UInt8], original f: [UInt8], family: UInt8, _ name: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        let l3 = Self.ethernetHeaderLength
        XCTAssertEqual(Array(out[0..<6]), F.clientMAC, "\(name): to the sender's MAC", file: file, line: line)
        XCTAssertEqual(Array(out[6..<12]), F.lanMAC, "\(name): from the ingress interface's MAC", file: file, line: line)
        let ip = Array(out[l3...])
        let orig = Array(f[l3...])
        if family == 4 {
            let ihl = Int(orig[0] & 0x0F) * 4
            let quoted = Array(orig[0..<min(orig.count, ihl + 8)])
            XCTAssertEqual(ip.count, 20 + 8 + quoted.count, "\(name): length", file: file, line: line)
            guard ip.count == 20 + 8 + quoted.count else { return }
            XCTAssertEqual(ip[0], 0x45, file: file, line: line)
            XCTAssertEqual(Int(Self.be16(ip, 2)), ip.count, "\(name): total length", file: file, line: line)
            XCTAssertEqual(ip[8], Self.resetTTL, "\(name): TTL", file: file, line: line)
            XCTAssertEqual(ip[9], Self.protoICMP, file: file, line: line)
            XCTAssertEqual(Array(ip[12..<16]), Self.lanAddress4, "\(name): from 10.10.1.1", file: file, line: line)
            XCTAssertEqual(Array(ip[16..<20]), F.be32(Self.client4), "\(name): to the sender", file: file, line: line)
            var header = Array(ip[0..<20])
            header[10] = 0; header[11] = 0
            XCTAssertEqual(Self.be16(ip, 10), Self.checksum(header), "\(name): header checksum", file: file, line: line)
            XCTAssertEqual(ip[20], 3, "\(name): destination unreachable", file: file, line: line)
            XCTAssertEqual(ip[21], 13, "\(name): communication administratively prohibited", file: file, line: line)
            XCTAssertEqual(Self.be32(ip, 24), 0, "\(name): unused word", file: file, line: line)
            XCTAssertEqual(Array(ip[28...]), quoted, "\(name): the original header and 8 bytes", file: file, line: line)
            var icmp = Array(ip[20...])
            icmp[2] = 0; icmp[3] = 0
            XCTAssertEqual(Self.be16(ip, 22), Self.checksum(icmp), "\(name): ICMP checksum", file: file, line: line)
        } else {
            let minimumMTU = 1280
            let quoted = Array(orig[0..<min(orig.count, minimumMTU - 48)])
            XCTAssertEqual(ip.count, 40 + 8 + quoted.count, "\(name): length", file: file, line: line)
            guard ip.count == 40 + 8 + quoted.count else { return }
            XCTAssertLessThanOrEqual(ip.count, minimumMTU, file: file, line: line)
            XCTAssertEqual(ip[0] >> 4, 6, file: file, line: line)
            XCTAssertEqual(Int(Self.be16(ip, 4)), ip.count - 40, "\(name): payload length", file: file, line: line)
            XCTAssertEqual(ip[6], Self.protoICMPv6, file: file, line: line)
            XCTAssertEqual(ip[7], Self.resetTTL, "\(name): hop limit", file: file, line: line)
            XCTAssertEqual(Array(ip[8..<24]), Self.lanAddress6, "\(name): from fd00:1::1", file: file, line: line)
            XCTAssertEqual(Array(ip[24..<40]), Self.client6, "\(name): to the sender", file: file, line: line)
            XCTAssertEqual(ip[40], 1, "\(name): destination unreachable", file: file, line: line)
            XCTAssertEqual(ip[41], 1, "\(name): communication with destination administratively prohibited", file: file, line: line)
            XCTAssertEqual(Self.be32(ip, 44), 0, "\(name): unused word", file: file, line: line)
            XCTAssertEqual(Array(ip[48...]), quoted, "\(name): the invoking packet", file: file, line: line)
            let icmp = Array(ip[40...])
            XCTAssertEqual(Self.be16(ip, 42),
                           Self.l4Checksum(family: 6, src: Self.lanAddress6, dst: Self.client6, proto: Self.protoICMPv6,
                                           segment: icmp, field: 2),
                           "\(name): ICMPv6 checksum", file: file, line: line)
        }
    }

    // MARK: no reply

    static let silentCases: [(name: String, frame: [UInt8], ingress: UInt8)] = [
        ("v4 RST", tcp4(flags: Flag.rst, seq: 1), ingress),
        ("v4 RST|ACK", tcp4(flags: Flag.rst | Flag.ack, seq: 1, ack: 2), ingress),
        ("v6 RST", tcp6(flags: Flag.rst, seq: 1), ingress),
        ("v6 RST|ACK", tcp6(flags: Flag.rst | Flag.ack, seq: 1, ack: 2), ingress),
        ("v4 TCP non-first fragment", fragment4(offset: 185), ingress),
        ("v6 TCP non-first fragment", fragment6(offset: 185), ingress),
        ("v4 ICMP unreachable (an error)", F.frame4(src: client4, dst: server4, proto: protoICMP,
                                                    l4: [3, 1, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0x45, count: 28)), ingress),
        ("v4 ICMP time exceeded (an error)", F.frame4(src: client4, dst: server4, proto: protoICMP,
                                                      l4: [11, 0, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0x45, count: 28)), ingress),
        ("v6 ICMPv6 unreachable (an error)", F.frame6(src: client6, dst: server6, nextHeader: protoICMPv6,
                                                      l4: [1, 4, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0x60, count: 40)), ingress),
        ("v4 UDP to 224.0.0.251", udp4(to: F.v4(224, 0, 0, 251)), ingress),
        ("v4 UDP to 255.255.255.255", udp4(to: F.v4(255, 255, 255, 255)), ingress),
        ("v4 SYN sent as link-layer broadcast", tcp4(flags: Flag.syn, seq: 1, to: broadcastMAC), ingress),
        ("v4 SYN from 0.0.0.0", tcp4(flags: Flag.syn, seq: 1, src: 0), ingress),
        ("v4 SYN from 127.0.0.1", tcp4(flags: Flag.syn, seq: 1, src: F.v4(127, 0, 0, 1)), ingress),
        ("v4 SYN on an unknown interface slot", tcp4(flags: Flag.syn, seq: 1), unknownIngress),
        ("v4 UDP on an unknown interface slot", udp4(), unknownIngress),
    ]

    func testNoReplyWhereNoneMayBeSent() {
        for c in Self.silentCases {
            pipeline.icmpLimit = ICMPRateLimit()
            let (r, out) = reject(c.frame, ingress: c.ingress)
            XCTAssertFalse(r.replySent, c.name)
            XCTAssertEqual(r.action.kind, .drop, c.name)
            XCTAssertEqual(r.action.reason, UInt8(Self.reason.rawValue), c.name)
            XCTAssertEqual(out, c.frame, "\(c.name): the frame is not rewritten")
        }
        XCTAssertEqual(counters.s.icmp_errors_sent, 0)
        XCTAssertEqual(counters.s.icmp_errors_limited, 0)
        XCTAssertEqual(dropCount(Self.reason), 0, "a plain drop is the caller's to count")
    }

    // MARK: rate limit

    /// ICMP replies spend the worker's ICMP rate limit (burst, then suppressed and counted
    /// `icmp_errors_limited`); a RST does not spend it and goes out with the bucket empty.
    func testICMPRepliesAreRateLimitedAndResetsAreNot() {
        pipeline.nowMs = 1_000
        pipeline.icmpLimit = ICMPRateLimit()
        let burst = Int(pipeline.icmpLimit.burst)
        for i in 0..<burst {
            XCTAssertTrue(reject(Self.udp4()).0.replySent, "reply \(i + 1) of the burst")
        }
        let (r, out) = reject(Self.udp6())
        XCTAssertFalse(r.replySent, "the bucket is empty")
        XCTAssertEqual(r.action.kind, .drop)
        XCTAssertEqual(out, Self.udp6(), "a suppressed reply leaves the frame as it was")
        XCTAssertEqual(counters.s.icmp_errors_sent, UInt64(burst))
        XCTAssertEqual(counters.s.icmp_errors_limited, 1)

        let (reset, resetOut) = reject(Self.tcp4(flags: Flag.syn, seq: 41))
        XCTAssertTrue(reset.replySent, "a RST does not spend the ICMP bucket")
        assertReset(resetOut, original: Self.tcp4(flags: Flag.syn, seq: 41), family: 4, l3Offset: Self.ethernetHeaderLength,
                    seq: 0, ack: 42, flags: Flag.rst | Flag.ack, "SYN with the ICMP bucket empty")
        XCTAssertEqual(counters.s.icmp_errors_sent, UInt64(burst))
        XCTAssertEqual(counters.s.icmp_errors_limited, 1)
        XCTAssertEqual(dropCount(Self.reason), UInt64(burst + 1), "counted here only for the replies that went out")
    }

    // MARK: a second implementation: scapy

    /// Every reply of the tables above, decoded by scapy (Debian's python3-scapy): scapy
    /// recomputes each checksum (the rebuilt frame must equal ours byte for byte) and
    /// prints the fields a stack acts on, compared here with the expected values.
    func testScapyDecodesEveryReply() throws {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else { throw XCTSkip("no \(python)") }
        var lines: [String] = []
        var expected: [String] = []
        let client4 = "10.10.1.10", server4 = "10.10.2.2", client6 = "fd00:1::10", server6 = "fd00:2::2"
        for c in Self.resetCases {
            let (r, out) = reject(c.frame)
            XCTAssertTrue(r.replySent, c.name)
            lines.append(out.map { String(format: "%02x", $0) }.joined())
            let (src, dst) = c.family == 4 ? (server4, client4) : (server6, client6)
            let flags = c.flags == Flag.rst ? "R" : "RA"
            expected.append("TCP \(src) \(dst) \(Self.resetTTL) \(Self.serverPort) \(Self.clientPort) \(c.seq) \(c.ack) \(flags) 0")
        }
        for c in Self.icmpCases {
            pipeline.icmpLimit = ICMPRateLimit()
            let (r, out) = reject(c.frame)
            XCTAssertTrue(r.replySent, c.name)
            lines.append(out.map { String(format: "%02x", $0) }.joined())
            expected.append(c.family == 4 ? "ICMP 10.10.1.1 \(client4) \(Self.resetTTL) 3 13"
                                          : "ICMPv6 fd00:1::1 \(client6) \(Self.resetTTL) 1 1")
        }
        let script = """
        import sys
        from scapy.all import Ether, IP, IPv6, TCP, ICMP, ICMPv6DestUnreach
        for h in sys.stdin.read().split():
            raw = bytes.fromhex(h)
            p = Ether(raw)
            q = Ether(raw)
            ip = p[IP] if IP in p else p[IPv6]
            if IP in q: del q[IP].chksum; del q[IP].len
            else: del q[IPv6].plen
            if TCP in p:
                del q[TCP].chksum
                t = p[TCP]
                fields = ["TCP", ip.src, ip.dst, ip.ttl if IP in p else ip.hlim, t.sport, t.dport, t.seq, t.ack, str(t.flags), t.window]
                assert len(t.payload) == 0 and t.dataofs == 5, h
            elif ICMP in p:
                del q[ICMP].chksum
                fields = ["ICMP", ip.src, ip.dst, ip.ttl, p[ICMP].type, p[ICMP].code]
            else:
                del q[ICMPv6DestUnreach].cksum
                fields = ["ICMPv6", ip.src, ip.dst, ip.hlim, p[ICMPv6DestUnreach].type, p[ICMPv6DestUnreach].code]
            rebuilt = bytes(Ether(bytes(q)))
            print(" ".join(str(f) for f in fields) + ("" if rebuilt == raw else " CHECKSUM-OR-LENGTH-MISMATCH"))
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(lines.joined(separator: "\n").utf8))
        try input.fileHandleForWriting.close()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let complaint = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if complaint.contains("No module named 'scapy'") { throw XCTSkip("python3-scapy is not installed") }
        XCTAssertEqual(process.terminationStatus, 0, complaint)
        let got = printed.split(separator: "\n").map(String.init)
        XCTAssertEqual(got.count, expected.count, printed)
        for (g, e) in zip(got, expected) { XCTAssertEqual(g, e) }
    }
}
