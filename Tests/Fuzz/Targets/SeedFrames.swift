// Frames the fuzz targets start from: the kinds of packets the unit and lab tests send
// (UDP, TCP SYN, ICMP echo and errors, fragments, VLAN tags, IPv6 extension headers, TTL 1,
// multicast and broadcast, ARP), addressed along the lab fixture's routes, with correct
// checksums so that mutations start from frames the pipeline forwards.
import Shared
import XPFTestSupport

enum SeedFrames {
    static let protoICMP: UInt8 = 1, protoTCP: UInt8 = 6, protoUDP: UInt8 = 17, protoICMPv6: UInt8 = 58
    static let extHopByHop: UInt8 = 0, extFragment: UInt8 = 44
    static let etherIPv4: [UInt8] = [0x08, 0x00], etherIPv6: [UInt8] = [0x86, 0xdd]
    static let etherVLAN: [UInt8] = [0x81, 0x00], etherARP: [UInt8] = [0x08, 0x06]
    static let tcpSYN: UInt8 = 0x02
    static let moreFragments: UInt16 = 0x2000

    static func be16(_ v: Int) -> [UInt8] { [UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }

    static func ethernet(_ type: [UInt8], vlan: Bool = false) -> [UInt8] {
        LabFixture.fw0MAC + LabFixture.clientMAC + (vlan ? etherVLAN + [0x00, 0x64] : []) + type
    }

    /// Sets the L4 checksum at `offset` in `l4` (TCP 16, UDP 6, ICMP 2) from a pseudo-header sum.
    static func checksummed(_ l4: [UInt8], at offset: Int, pseudo: UInt32?) -> [UInt8] {
        var s = l4
        let c = s.withUnsafeBytes { internetChecksum($0.baseAddress!, count: $0.count, initial: pseudo ?? 0) }
        s[offset] = UInt8(c >> 8); s[offset + 1] = UInt8(c & 0xff)
        return s
    }

    static func l4(_ proto: UInt8, sport: Int = 40000, dport: Int = 5001, icmpType: UInt8 = 8, payload: Int = 16) -> ([UInt8], Int) {
        let data = [UInt8](repeating: 0xab, count: payload)
        switch proto {
        case protoTCP:
            return (be16(sport) + be16(dport) + [0, 0, 0, 1, 0, 0, 0, 0, 0x50, tcpSYN] + be16(64240) + [0, 0, 0, 0] + data, 16)
        case protoUDP:
            return (be16(sport) + be16(dport) + be16(8 + payload) + [0, 0] + data, 6)
        default:
            return ([icmpType, 0, 0, 0] + be16(0x1234) + be16(1) + data, 2)
        }
    }

    static func ipv4(src: [UInt8], dst: [UInt8], proto: UInt8, ttl: UInt8 = 64, fragment: UInt16 = 0,
                     icmpType: UInt8 = 8, vlan: Bool = false) -> [UInt8] {
        var (seg, ck) = l4(proto, icmpType: icmpType)
        if fragment & 0x1FFF == 0 {
            let pseudo: UInt32? = proto == protoICMP ? nil : pseudoHeaderChecksumV4(
                src: UInt32(src[0]) << 24 | UInt32(src[1]) << 16 | UInt32(src[2]) << 8 | UInt32(src[3]),
                dst: UInt32(dst[0]) << 24 | UInt32(dst[1]) << 16 | UInt32(dst[2]) << 8 | UInt32(dst[3]),
                proto: proto, l4Length: UInt16(seg.count))
            seg = checksummed(seg, at: ck, pseudo: pseudo)
        }
        var ip: [UInt8] = [0x45, 0] + be16(20 + seg.count) + [0x12, 0x34] + be16(Int(fragment)) + [ttl, proto, 0, 0] + src + dst
        let c = ip.withUnsafeBytes { internetChecksum($0.baseAddress!, count: 20) }
        ip[10] = UInt8(c >> 8); ip[11] = UInt8(c & 0xff)
        return ethernet(etherIPv4, vlan: vlan) + ip + seg
    }

    static func ipv6(src: [UInt8], dst: [UInt8], proto: UInt8, hopLimit: UInt8 = 64, extensions: [UInt8] = [],
                     firstNext: UInt8? = nil, icmpType: UInt8 = 128) -> [UInt8] {
        var (seg, ck) = l4(proto, icmpType: icmpType)
        let pseudo = src.withUnsafeBytes { s in dst.withUnsafeBytes { d in
            pseudoHeaderChecksumV6(src: s.baseAddress!, dst: d.baseAddress!, proto: proto, l4Length: UInt32(seg.count))
        } }
        seg = checksummed(seg, at: ck, pseudo: pseudo)
        let payload = extensions + seg
        return ethernet(etherIPv6) + [0x60, 0, 0, 0] + be16(payload.count) + [firstNext ?? proto, hopLimit] + src + dst + payload
    }

    static let client4: [UInt8] = [10, 10, 1, 2], server4: [UInt8] = [10, 10, 2, 2]
    static var client6: [UInt8] { LabFixture.v6(2, net: 1) }
    static var server6: [UInt8] { LabFixture.v6(2, net: 2) }

    static var all: [[UInt8]] {
        var out: [[UInt8]] = []
        for proto in [protoUDP, protoTCP, protoICMP] {
            out.append(ipv4(src: client4, dst: server4, proto: proto))                       // forwarded
            out.append(ipv4(src: client4, dst: server4, proto: proto, ttl: 1))              // time exceeded
            out.append(ipv4(src: client4, dst: [10, 10, 3, 9], proto: proto))               // next hop unresolved: parks
        }
        for proto in [protoUDP, protoTCP, protoICMPv6] {
            out.append(ipv6(src: client6, dst: server6, proto: proto))
            out.append(ipv6(src: client6, dst: server6, proto: proto, hopLimit: 1))
            out.append(ipv6(src: client6, dst: LabFixture.v6(9, net: 3), proto: proto))
        }
        out.append(ipv4(src: client4, dst: server4, proto: protoUDP, vlan: true))
        out.append(ipv4(src: client4, dst: server4, proto: protoUDP, fragment: moreFragments))    // first fragment
        out.append(ipv4(src: client4, dst: server4, proto: protoUDP, fragment: 100))              // non-first fragment
        out.append(ipv4(src: client4, dst: server4, proto: protoICMP, ttl: 1, icmpType: 3))       // error about an error
        out.append(ipv4(src: client4, dst: [224, 0, 0, 1], proto: protoUDP, ttl: 1))              // multicast
        out.append(ipv4(src: client4, dst: [255, 255, 255, 255], proto: protoUDP, ttl: 1))        // broadcast
        out.append(ipv4(src: client4, dst: [10, 10, 4, 1], proto: protoUDP))                      // blackhole
        out.append(ipv4(src: client4, dst: [10, 10, 1, 1], proto: protoUDP))                      // local
        out.append(ipv4(src: client4, dst: [192, 0, 2, 1], proto: protoUDP))                      // no route
        out.append(ipv4(src: client4, dst: server4, proto: 47))                                   // GRE: no ports
        out.append(ipv6(src: client6, dst: server6, proto: protoUDP,
                        extensions: [protoUDP, 0, 0, 0, 0, 0, 0, 0], firstNext: extHopByHop))
        out.append(ipv6(src: client6, dst: server6, proto: protoUDP,
                        extensions: [protoUDP, 0, 0, 1, 0, 0, 0, 7], firstNext: extFragment))      // first fragment
        out.append(ipv6(src: client6, dst: [0xff, 0x02] + [UInt8](repeating: 0, count: 13) + [1], proto: protoUDP, hopLimit: 1))
        out.append(ethernet(etherARP) + [0, 1, 8, 0, 6, 4, 0, 1] + LabFixture.clientMAC + client4 + [0, 0, 0, 0, 0, 0] + server4)
        return out
    }
}
