// Internet checksum (RFC 1071) and incremental updates (RFC 1624) for the worker pipeline
// (SPEC ). Hot path: no allocation, no ARC, no Foundation; all `@inlinable`.
//
// Byte-order convention used by EVERY function in this file:
//   16/32-bit field values and checksums are passed and returned as host integers holding the
//   value of the big-endian (network-order) field, i.e. what `UInt16(bigEndian: load)` /
//   `UInt32(bigEndian: load)` yields. To write a checksum back to a packet store
//   `checksum.bigEndian`. (The one's-complement sum commutes with byte swapping, so the
//   incremental functions would also be correct if a caller passed everything consistently in
//   raw memory order - but mixing the two orders is wrong, so stick to the convention.)
//
// Pointers passed here are NOT bounds-checked: callers pass pointers/lengths they have
// already validated (e.g. via `parseFrame`).

// MARK: - Full checksum

/// One's-complement sum of `count` bytes at `p` plus `initial`, folded to 16 bits but NOT
/// complemented (network-order semantics). An odd trailing byte is padded with a zero byte
/// on the right, as RFC 1071 specifies. Use it to chain partial sums (e.g. pseudo header +
/// segment); `initial` may be any unfolded 32-bit partial sum in network-order semantics.
@inlinable
public func onesComplementSum(_ p: UnsafeRawPointer, count: Int, initial: UInt32 = 0) -> UInt16 {
    // Sum in native byte order, 8 bytes at a time, with end-around carry. This equals the sum
    // of big-endian 16-bit words up to a final byte swap (RFC 1071 sect. 2(B)), and because
    // 2^16 == 1 (mod 0xFFFF), a 64-bit one's-complement sum folds to the 16-bit one.
    var acc: UInt64 = 0
    var i = 0
    while i &+ 8 <= count {
        let w = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        let (s, carry) = acc.addingReportingOverflow(w)
        acc = s &+ (carry ? 1 : 0)   // cannot overflow again: s <= 2^64 - 2 when carry set
        i &+= 8
    }
    // Tail of 0-7 bytes. Each 16-bit word only needs to land in some 16-bit lane (every lane
    // weighs 1 modulo 0xFFFF), so summing native loads into `tail` is fine; `tail` < 2^34.
    var tail: UInt64 = 0
    if count &- i >= 4 {
        tail &+= UInt64(p.loadUnaligned(fromByteOffset: i, as: UInt32.self))
        i &+= 4
    }
    if count &- i >= 2 {
        tail &+= UInt64(p.loadUnaligned(fromByteOffset: i, as: UInt16.self))
        i &+= 2
    }
    if count &- i >= 1 {
        // The lone byte is the FIRST byte of a 16-bit word whose second byte is 0. In native
        // order on a little-endian machine that is the low byte; on big-endian the high one.
        let b = UInt16(p.load(fromByteOffset: i, as: UInt8.self))
        tail &+= UInt64(UInt16(bigEndian: b << 8))
    }
    let (s, carry) = acc.addingReportingOverflow(tail)
    acc = s &+ (carry ? 1 : 0)

    // Fold 64 -> 32 -> 16 bits with end-around carry. A nonzero sum never folds to 0, so
    // (as with a 16-bit-at-a-time sum) only all-zero data yields 0x0000 rather than 0xFFFF.
    var folded = (acc >> 32) &+ (acc & 0xFFFF_FFFF)          // <= 2^33 - 2
    folded = (folded >> 32) &+ (folded & 0xFFFF_FFFF)        // <= 2^32
    folded = (folded >> 16) &+ (folded & 0xFFFF)             // <= 0x1FFFF
    folded = (folded >> 16) &+ (folded & 0xFFFF)             // <= 0x10000
    folded = (folded >> 16) &+ (folded & 0xFFFF)             // <= 0xFFFF
    // Native -> network-order semantics, then add `initial` (already network semantics).
    let native = UInt16(truncatingIfNeeded: folded)
    return checksumFold(UInt32(native.bigEndian) &+ checksumFold32(initial))
}

/// Internet checksum of `count` bytes at `p`: complement of the one's-complement sum of the
/// data (plus `initial`, a partial sum such as `pseudoHeaderSumV4`). Returns the value in
/// network-order semantics: store it with `.bigEndian`. Verifying a received header/segment:
/// the checksum computed over data that includes its checksum field is 0.
@inlinable
public func internetChecksum(_ p: UnsafeRawPointer, count: Int, initial: UInt32 = 0) -> UInt16 {
    ~onesComplementSum(p, count: count, initial: initial)
}

// MARK: - Folding helpers

/// Folds a 32-bit one's-complement partial sum to 16 bits (end-around carry), without
/// complementing. Result is in 0...0xFFFF.
@inlinable @inline(__always)
public func checksumFold(_ sum: UInt32) -> UInt16 {
    var s = (sum >> 16) &+ (sum & 0xFFFF)   // <= 0x1FFFE
    s = (s >> 16) &+ (s & 0xFFFF)           // <= 0xFFFF
    return UInt16(truncatingIfNeeded: s)
}

/// `checksumFold` widened back to UInt32 so it can be added to other partial sums safely.
@inlinable @inline(__always)
internal func checksumFold32(_ sum: UInt32) -> UInt32 {
    UInt32(checksumFold(sum))
}

// MARK: - Incremental update (RFC 1624)

/// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for a 16-bit field changing from `old` (m) to
/// `new` (m'). `checksum` is the current checksum field value HC. All three values and the
/// result are in network-order semantics (`UInt16(bigEndian: load)`; store with `.bigEndian`).
///
/// Eqn. 3 (unlike RFC 1141's eqn. 2) gives the same result as a full recomputation, including
/// the 0x0000 / 0xFFFF cases, for any header whose other words are not all zero.
///
/// Note for UDP over IPv4: a checksum field of 0 means "no checksum"; callers must not update
/// it, and must store 0xFFFF if an updated UDP checksum comes out as 0 (RFC 768).
@inlinable
public func checksumUpdate16(_ checksum: UInt16, old: UInt16, new: UInt16) -> UInt16 {
    let sum = UInt32(~checksum) &+ UInt32(~old) &+ UInt32(new)
    return ~checksumFold(sum)
}

/// RFC 1624 eqn. 3 for a 32-bit field (e.g. an IPv4 address or a TCP sequence number), treated
/// as two 16-bit words. Network-order semantics (`UInt32(bigEndian: load)`).
@inlinable
public func checksumUpdate32(_ checksum: UInt16, old: UInt32, new: UInt32) -> UInt16 {
    // Max 5 * 0xFFFF: no UInt32 overflow.
    let sum = UInt32(~checksum)
        &+ (~old >> 16) &+ (~old & 0xFFFF)
        &+ (new >> 16) &+ (new & 0xFFFF)
    return ~checksumFold(sum)
}

/// RFC 1624 eqn. 3 for a 128-bit field (an IPv6 address): `old` and `new` each point at 16
/// bytes in wire (network) order, e.g. the address in the packet and the replacement. The
/// two may not overlap if the caller overwrites `old` afterwards; reading happens first.
@inlinable
public func checksumUpdate128(_ checksum: UInt16, old: UnsafeRawPointer, new: UnsafeRawPointer) -> UInt16 {
    // Max 1 + 16 terms of <= 0xFFFF: no UInt32 overflow.
    var sum = UInt32(~checksum)
    var i = 0
    while i < 16 {
        let o = UInt16(bigEndian: old.loadUnaligned(fromByteOffset: i, as: UInt16.self))
        let n = UInt16(bigEndian: new.loadUnaligned(fromByteOffset: i, as: UInt16.self))
        sum &+= UInt32(~o) &+ UInt32(n)
        i &+= 2
    }
    return ~checksumFold(sum)
}

// MARK: - TTL / hop limit

/// Decrements the TTL of the IPv4 header at `ipHeader` (>= 20 bytes, already validated) and
/// updates its header checksum incrementally over the TTL|protocol word (bytes 8-9).
/// Does nothing if TTL is already 0 (wrapping to 255 would be worse than not forwarding);
/// the caller is expected to check `ttl > 1` before forwarding at all.
@inlinable
public func decrementTTLv4(_ ipHeader: UnsafeMutableRawPointer) {
    let ttlWordOffset = 8        // TTL(1) | protocol(1)
    let checksumOffset = 10
    let old = UInt16(bigEndian: ipHeader.loadUnaligned(fromByteOffset: ttlWordOffset, as: UInt16.self))
    guard old >= 0x0100 else { return }   // TTL == 0
    let new = old &- 0x0100
    let checksum = UInt16(bigEndian: ipHeader.loadUnaligned(fromByteOffset: checksumOffset, as: UInt16.self))
    ipHeader.storeBytes(of: new.bigEndian, toByteOffset: ttlWordOffset, as: UInt16.self)
    ipHeader.storeBytes(of: checksumUpdate16(checksum, old: old, new: new).bigEndian,
                        toByteOffset: checksumOffset, as: UInt16.self)
}

/// Decrements the hop limit (byte 7) of the IPv6 header at `ipHeader`. IPv6 has no header
/// checksum, and the hop limit is not in the L4 pseudo header, so nothing else changes.
/// Does nothing if the hop limit is already 0.
@inlinable
public func decrementHopLimitV6(_ ipHeader: UnsafeMutableRawPointer) {
    let hopLimit = ipHeader.load(fromByteOffset: 7, as: UInt8.self)
    guard hopLimit != 0 else { return }
    ipHeader.storeBytes(of: hopLimit &- 1, toByteOffset: 7, as: UInt8.self)
}

// MARK: - Pseudo headers

/// Partial (unfolded, uncomplemented) sum of the IPv4 pseudo header (RFC 793/768):
/// src(4) dst(4) zero(1) proto(1) L4 length(2). Addresses in network-order semantics
/// (`UInt32(bigEndian: load)`), `l4Length` in bytes. Pass the result as `initial` to
/// `internetChecksum` over the L4 segment (with its checksum field zeroed to compute, or as
/// received to verify -> 0).
@inlinable
public func pseudoHeaderChecksumV4(src: UInt32, dst: UInt32, proto: UInt8, l4Length: UInt16) -> UInt32 {
    // 6 terms of <= 0xFFFF: no overflow.
    (src >> 16) &+ (src & 0xFFFF) &+ (dst >> 16) &+ (dst & 0xFFFF)
        &+ UInt32(proto) &+ UInt32(l4Length)
}

/// Partial sum of the IPv6 pseudo header (RFC 8200 sect. 8.1): src(16) dst(16)
/// upper-layer length(4) zero(3) next header(1). `src`/`dst` point at 16-byte addresses in
/// wire order (normally inside the IPv6 header). `proto` is the upper-layer protocol (after
/// extension headers); `l4Length` the upper-layer packet length.
@inlinable
public func pseudoHeaderChecksumV6(src: UnsafeRawPointer, dst: UnsafeRawPointer,
                                   proto: UInt8, l4Length: UInt32) -> UInt32 {
    // 16 address words + 3 more terms of <= 0xFFFF: no overflow.
    var sum = (l4Length >> 16) &+ (l4Length & 0xFFFF) &+ UInt32(proto)
    var i = 0
    while i < 16 {
        sum &+= UInt32(UInt16(bigEndian: src.loadUnaligned(fromByteOffset: i, as: UInt16.self)))
        sum &+= UInt32(UInt16(bigEndian: dst.loadUnaligned(fromByteOffset: i, as: UInt16.self)))
        i &+= 2
    }
    return sum
}

/// Full TCP/UDP/ICMPv6-style checksum of an L4 segment carried in IPv4: pseudo header (built
/// from the addresses at `ipHeader` + 12 / + 16) plus `l4Length` bytes at `l4`.
/// Result in network-order semantics. For UDP, a result of 0 must be sent as 0xFFFF.
@inlinable
public func l4ChecksumV4(ipHeader: UnsafeRawPointer, proto: UInt8,
                         l4: UnsafeRawPointer, l4Length: Int) -> UInt16 {
    let src = UInt32(bigEndian: ipHeader.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
    let dst = UInt32(bigEndian: ipHeader.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
    let pseudo = pseudoHeaderChecksumV4(src: src, dst: dst, proto: proto,
                                        l4Length: UInt16(truncatingIfNeeded: l4Length))
    return internetChecksum(l4, count: l4Length, initial: pseudo)
}

/// As `l4ChecksumV4` for IPv6: addresses at `ipHeader` + 8 / + 24.
@inlinable
public func l4ChecksumV6(ipHeader: UnsafeRawPointer, proto: UInt8,
                         l4: UnsafeRawPointer, l4Length: Int) -> UInt16 {
    let pseudo = pseudoHeaderChecksumV6(src: ipHeader + 8, dst: ipHeader + 24, proto: proto,
                                        l4Length: UInt32(truncatingIfNeeded: l4Length))
    return internetChecksum(l4, count: l4Length, initial: pseudo)
}
