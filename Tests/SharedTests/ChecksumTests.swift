import XCTest
@testable import Shared

// Tests for Sources/Shared/Pipeline/Checksum.swift (SPEC ).
// Convention under test: values/checksums are host integers in network-order semantics
// (`UInt16(bigEndian: load)`), checksums are stored with `.bigEndian`.

/// Straightforward reference implementation: RFC 1071 sum of big-endian 16-bit words, one at
/// a time, odd byte padded on the right. (fileprivate namespace: no clashes with other files.)
fileprivate enum ChecksumRef {
    static func sum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt16 {
        var s = UInt64(initial)
        var i = 0
        while i + 1 < bytes.count {
            s += UInt64(bytes[i]) << 8 | UInt64(bytes[i + 1])
            i += 2
        }
        if i < bytes.count { s += UInt64(bytes[i]) << 8 }
        while s > 0xFFFF { s = (s >> 16) + (s & 0xFFFF) }
        return UInt16(s)
    }

    static func checksum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt16 { ~sum(bytes, initial: initial) }

    static func be16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) << 8 | UInt16(b[at + 1]) }
    static func be32(_ b: [UInt8], _ at: Int) -> UInt32 { UInt32(be16(b, at)) << 16 | UInt32(be16(b, at + 2)) }
    static func put16(_ b: inout [UInt8], _ at: Int, _ v: UInt16) { b[at] = UInt8(v >> 8); b[at + 1] = UInt8(v & 0xFF) }
    static func put32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) {
        put16(&b, at, UInt16(v >> 16)); put16(&b, at + 2, UInt16(v & 0xFFFF))
    }
}

/// Deterministic RNG (SplitMix64) so failures reproduce.
fileprivate struct ChecksumTestRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

final class ChecksumTests: XCTestCase {
    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    fileprivate typealias R = ChecksumRef

    private func cksum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt16 {
        bytes.withUnsafeBytes { internetChecksum($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!,
                                                 count: $0.count, initial: initial) }
    }

    /// Random value biased towards the RFC 1624 edge cases 0x0000 and 0xFFFF.
    private func edgy16(_ rng: inout ChecksumTestRNG) -> UInt16 {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return 0x0000
        case 1: return 0xFFFF
        default: return UInt16.random(in: 0...0xFFFF, using: &rng)
        }
    }

    private func edgy32(_ rng: inout ChecksumTestRNG) -> UInt32 {
        UInt32(edgy16(&rng)) << 16 | UInt32(edgy16(&rng))
    }

    /// A random valid IPv4 header (IHL 5...15) with a correct checksum.
    private func randomIPv4Header(_ rng: inout ChecksumTestRNG, ttl: UInt8) -> [UInt8] {
        let ihl = Int.random(in: 5...15, using: &rng)
        var h = (0..<ihl * 4).map { _ in UInt8.random(in: 0...255, using: &rng) }
        h[0] = 0x40 | UInt8(ihl)
        h[8] = ttl
        R.put16(&h, 10, 0)
        R.put16(&h, 10, R.checksum(h))
        return h
    }

    // MARK: - Full checksum

    func testRFC1071Example() {
        // RFC 1071 sect. 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
        let bytes: [UInt8] = [0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7]
        let s = bytes.withUnsafeBytes { onesComplementSum($0.baseAddress!, count: 8) }
        XCTAssertEqual(s, 0xDDF2)
        XCTAssertEqual(cksum(bytes), 0x220D)
    }

    func testKnownIPv4Header() {
        // Classic example header 192.168.0.1 -> 192.168.0.199, UDP; checksum 0xB861.
        var h: [UInt8] = [0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                          0x00, 0x00, 0xC0, 0xA8, 0x00, 0x01, 0xC0, 0xA8, 0x00, 0xC7]
        XCTAssertEqual(cksum(h), 0xB861)
        R.put16(&h, 10, 0xB861)
        XCTAssertEqual(cksum(h), 0)   // verifying a correct header gives 0
    }

    func testOddLengthAndEdgeBuffers() {
        XCTAssertEqual(cksum([]), 0xFFFF)
        XCTAssertEqual(cksum([0x01]), ~UInt16(0x0100))
        XCTAssertEqual(cksum([0x12, 0x34, 0x56]), ~UInt16(0x1234 + 0x5600))
        XCTAssertEqual(cksum([UInt8](repeating: 0, count: 33)), 0xFFFF)
        // All-ones data sums to 0xFFFF (negative zero), checksum 0.
        XCTAssertEqual(cksum([UInt8](repeating: 0xFF, count: 64)), 0x0000)
        XCTAssertEqual(cksum([UInt8](repeating: 0xFF, count: 1501)), R.checksum([UInt8](repeating: 0xFF, count: 1501)))
        // `initial` is folded in.
        XCTAssertEqual(cksum([0x00, 0x01], initial: 0x0001_FFFF), ~UInt16(0x0002))
    }

    func testMatchesReferenceOnRandomUnalignedBuffers() {
        var rng = ChecksumTestRNG(state: 1)
        for _ in 0..<3000 where !hasFailed {
            let count = Int.random(in: 0...300, using: &rng)
            let shift = Int.random(in: 0..<8, using: &rng)   // exercise unaligned starts
            let bytes = (0..<count + shift).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let initial = Bool.random(using: &rng) ? 0 : UInt32.random(in: 0...UInt32.max, using: &rng)
            let data = Array(bytes[shift...])
            let got = bytes.withUnsafeBytes {
                internetChecksum($0.baseAddress! + shift, count: count, initial: initial)
            }
            XCTAssertEqual(got, R.checksum(data, initial: initial), "count \(count) shift \(shift)")
        }
    }

    // MARK: - Incremental update

    func testRFC1624Example() {
        // RFC 1624 sect. 4: HC = 0xDD2F, m = 0x5555 -> m' = 0x3285. Recomputation gives 0x0000;
        // eqn. 2 wrongly gives 0xFFFF; eqn. 3 must give 0x0000.
        XCTAssertEqual(checksumUpdate16(0xDD2F, old: 0x5555, new: 0x3285), 0x0000)
    }

    func testDecrementTTLv4RandomHeaders() {
        var rng = ChecksumTestRNG(state: 2)
        for _ in 0..<5000 where !hasFailed {
            let ttl = UInt8.random(in: 2...255, using: &rng)
            var h = randomIPv4Header(&rng, ttl: ttl)
            let before = h
            h.withUnsafeMutableBytes { decrementTTLv4($0.baseAddress!) }
            XCTAssertEqual(h[8], ttl - 1)
            XCTAssertEqual(cksum(h), 0, "header must verify after decrement")
            // Bit-exact equality with a full recomputation.
            var zeroed = h
            R.put16(&zeroed, 10, 0)
            XCTAssertEqual(R.be16(h, 10), R.checksum(zeroed))
            // Nothing else changed.
            for i in 0..<h.count where i != 8 && i != 10 && i != 11 { XCTAssertEqual(h[i], before[i]) }
        }
    }

    func testDecrementTTLv4EdgeTTLs() {
        var rng = ChecksumTestRNG(state: 3)
        // TTL 1 -> 0 is allowed (caller decides whether to forward); header still verifies.
        var h = randomIPv4Header(&rng, ttl: 1)
        h.withUnsafeMutableBytes { decrementTTLv4($0.baseAddress!) }
        XCTAssertEqual(h[8], 0)
        XCTAssertEqual(cksum(h), 0)
        // TTL 0 is left alone rather than wrapped to 255.
        let zero = randomIPv4Header(&rng, ttl: 0)
        var z = zero
        z.withUnsafeMutableBytes { decrementTTLv4($0.baseAddress!) }
        XCTAssertEqual(z, zero)
        // Unaligned header (e.g. after a 14-byte Ethernet header).
        var frame = [UInt8](repeating: 0xEE, count: 14) + randomIPv4Header(&rng, ttl: 64)
        frame.withUnsafeMutableBytes { decrementTTLv4($0.baseAddress! + 14) }
        XCTAssertEqual(frame[14 + 8], 63)
        XCTAssertEqual(cksum(Array(frame[14...])), 0)
    }

    func testDecrementHopLimitV6() {
        var h = [UInt8](repeating: 0x11, count: 40)
        h[7] = 64
        h.withUnsafeMutableBytes { decrementHopLimitV6($0.baseAddress!) }
        XCTAssertEqual(h[7], 63)
        XCTAssertEqual(h.enumerated().filter { $0.offset != 7 }.allSatisfy { $0.element == 0x11 }, true)
        h[7] = 0
        h.withUnsafeMutableBytes { decrementHopLimitV6($0.baseAddress!) }
        XCTAssertEqual(h[7], 0)
    }

    func testUpdate16MatchesRecomputation() {
        var rng = ChecksumTestRNG(state: 4)
        for _ in 0..<20_000 where !hasFailed {
            let words = Int.random(in: 1...32, using: &rng)
            // Data words themselves also often 0x0000/0xFFFF.
            var b = [UInt8](repeating: 0, count: words * 2)
            for w in 0..<words { R.put16(&b, 2 * w, edgy16(&rng)) }
            let hc = R.checksum(b)
            let at = 2 * Int.random(in: 0..<words, using: &rng)
            let old = R.be16(b, at)
            let new = edgy16(&rng)
            R.put16(&b, at, new)
            let incremental = checksumUpdate16(hc, old: old, new: new)
            let full = R.checksum(b)
            if b.allSatisfy({ $0 == 0 }) {
                // The one case eqn. 3 and recomputation differ in representation: all-zero
                // data; both are one's-complement zero.
                XCTAssertEqual(full, 0xFFFF)
                XCTAssertEqual(incremental, 0x0000)
            } else {
                XCTAssertEqual(incremental, full, "old \(old) new \(new) words \(words)")
            }
        }
    }

    func testUpdate16InsideIPv4Header() {
        // The checksum field lives inside the summed data, as in real headers: update the
        // identification field, including 0x0000/0xFFFF values.
        var rng = ChecksumTestRNG(state: 5)
        for _ in 0..<5000 where !hasFailed {
            var h = randomIPv4Header(&rng, ttl: UInt8.random(in: 0...255, using: &rng))
            let old = R.be16(h, 4)
            let new = edgy16(&rng)
            R.put16(&h, 4, new)
            R.put16(&h, 10, checksumUpdate16(R.be16(h, 10), old: old, new: new))
            XCTAssertEqual(cksum(h), 0)
            var zeroed = h
            R.put16(&zeroed, 10, 0)
            XCTAssertEqual(R.be16(h, 10), R.checksum(zeroed))
        }
    }

    func testUpdate32AddressRewrite() {
        var rng = ChecksumTestRNG(state: 6)
        for _ in 0..<5000 where !hasFailed {
            var h = randomIPv4Header(&rng, ttl: 64)
            let at = Bool.random(using: &rng) ? 12 : 16       // source or destination address
            let old = R.be32(h, at)
            let new = edgy32(&rng)
            R.put32(&h, at, new)
            R.put16(&h, 10, checksumUpdate32(R.be16(h, 10), old: old, new: new))
            XCTAssertEqual(cksum(h), 0)
            var zeroed = h
            R.put16(&zeroed, 10, 0)
            XCTAssertEqual(R.be16(h, 10), R.checksum(zeroed))
        }
        // Random buffers, checksum kept outside the data.
        for _ in 0..<10_000 where !hasFailed {
            let words = Int.random(in: 2...32, using: &rng)
            var b = [UInt8](repeating: 0, count: words * 2)
            for w in 0..<words { R.put16(&b, 2 * w, edgy16(&rng)) }
            let hc = R.checksum(b)
            let at = 2 * Int.random(in: 0..<(words - 1), using: &rng)
            let old = R.be32(b, at)
            let new = edgy32(&rng)
            R.put32(&b, at, new)
            let incremental = checksumUpdate32(hc, old: old, new: new)
            if b.allSatisfy({ $0 == 0 }) {
                XCTAssertEqual(incremental, 0x0000)
            } else {
                XCTAssertEqual(incremental, R.checksum(b))
            }
        }
    }

    func testUpdate128IPv6AddressRewriteInL4Checksum() {
        var rng = ChecksumTestRNG(state: 7)
        for _ in 0..<3000 where !hasFailed {
            // IPv6 header + UDP segment with a valid checksum.
            var pkt = (0..<40 + 8 + Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            pkt[0] = 0x60
            let l4Length = pkt.count - 40
            R.put16(&pkt, 4, UInt16(l4Length))
            pkt[6] = 17
            R.put16(&pkt, 40 + 4, UInt16(l4Length))
            R.put16(&pkt, 40 + 6, 0)
            let cs = pkt.withUnsafeBytes { l4ChecksumV6(ipHeader: $0.baseAddress!, proto: 17,
                                                        l4: $0.baseAddress! + 40, l4Length: l4Length) }
            R.put16(&pkt, 40 + 6, cs)

            // Rewrite the source address; new addresses are often all-zero / all-ones.
            let newAddr: [UInt8] = (0..<16).map { _ in
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: return 0x00
                case 1: return 0xFF
                default: return UInt8.random(in: 0...255, using: &rng)
                }
            }
            let updated = pkt.withUnsafeBytes { raw in
                newAddr.withUnsafeBytes { na in
                    checksumUpdate128(cs, old: raw.baseAddress! + 8, new: na.baseAddress!)
                }
            }
            pkt.replaceSubrange(8..<24, with: newAddr)
            R.put16(&pkt, 40 + 6, 0)
            let full = pkt.withUnsafeBytes { l4ChecksumV6(ipHeader: $0.baseAddress!, proto: 17,
                                                          l4: $0.baseAddress! + 40, l4Length: l4Length) }
            XCTAssertEqual(updated, full)
            // And the updated segment verifies.
            R.put16(&pkt, 40 + 6, updated)
            let verify = pkt.withUnsafeBytes { l4ChecksumV6(ipHeader: $0.baseAddress!, proto: 17,
                                                            l4: $0.baseAddress! + 40, l4Length: l4Length) }
            XCTAssertEqual(verify, 0)
        }
    }

    // MARK: - Pseudo headers

    func testPseudoHeaderV4AgainstExplicitBytes() {
        var rng = ChecksumTestRNG(state: 8)
        for _ in 0..<2000 where !hasFailed {
            let segLen = Int.random(in: 8...200, using: &rng)   // odd lengths included
            var pkt = (0..<20 + segLen).map { _ in UInt8.random(in: 0...255, using: &rng) }
            pkt[0] = 0x45
            let proto: UInt8 = Bool.random(using: &rng) ? 6 : 17
            pkt[9] = proto
            // Explicit pseudo header: src dst 0 proto len, then the segment.
            let pseudo = Array(pkt[12..<20]) + [0, proto, UInt8(segLen >> 8), UInt8(segLen & 0xFF)]
            let want = R.checksum(pseudo + Array(pkt[20...]))
            let got = pkt.withUnsafeBytes { l4ChecksumV4(ipHeader: $0.baseAddress!, proto: proto,
                                                         l4: $0.baseAddress! + 20, l4Length: segLen) }
            XCTAssertEqual(got, want)
            let partial = pseudoHeaderChecksumV4(src: R.be32(pkt, 12), dst: R.be32(pkt, 16), proto: proto,
                                                 l4Length: UInt16(segLen))
            XCTAssertEqual(checksumFold(partial), R.sum(pseudo))
        }
    }

    func testPseudoHeaderV6AgainstExplicitBytes() {
        var rng = ChecksumTestRNG(state: 9)
        for _ in 0..<2000 where !hasFailed {
            let segLen = Int.random(in: 8...200, using: &rng)
            var pkt = (0..<40 + segLen).map { _ in UInt8.random(in: 0...255, using: &rng) }
            pkt[0] = 0x60
            let proto: UInt8 = [6, 17, 58].randomElement(using: &rng)!
            let pseudo = Array(pkt[8..<40]) + [0, 0, UInt8(segLen >> 8), UInt8(segLen & 0xFF), 0, 0, 0, proto]
            let want = R.checksum(pseudo + Array(pkt[40...]))
            let got = pkt.withUnsafeBytes { l4ChecksumV6(ipHeader: $0.baseAddress!, proto: proto,
                                                         l4: $0.baseAddress! + 40, l4Length: segLen) }
            XCTAssertEqual(got, want)
        }
    }

    func testL4ChecksumV4RoundTrip() {
        // Build a UDP/IPv4 datagram, fill in its checksum, then it verifies to 0.
        var pkt: [UInt8] = [0x45, 0, 0, 33, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]
        pkt += [0x30, 0x39, 0x00, 0x35, 0x00, 0x0D, 0x00, 0x00] + Array("hello".utf8)   // odd length
        let cs = pkt.withUnsafeBytes { l4ChecksumV4(ipHeader: $0.baseAddress!, proto: 17,
                                                    l4: $0.baseAddress! + 20, l4Length: 13) }
        R.put16(&pkt, 26, cs)
        let verify = pkt.withUnsafeBytes { l4ChecksumV4(ipHeader: $0.baseAddress!, proto: 17,
                                                        l4: $0.baseAddress! + 20, l4Length: 13) }
        XCTAssertEqual(verify, 0)
    }
}
