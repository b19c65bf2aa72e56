// Addresses and prefixes as the configuration writes them: parsed from text without
// Foundation or libc (so the compiler stays a pure function of its input), printed in the
// canonical forms (dotted quad; RFC 5952 for IPv6), with the set arithmetic the compiler
// needs (containment, overlap, range-to-prefix decomposition).

extension ConfigModel {
    public enum Family: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case inet
        case inet6

        public var bitCount: Int { self == .inet ? 32 : 128 }
        /// How a message names addresses of the family.
        public var addressName: String { self == .inet ? "IPv4" : "IPv6" }
        public var description: String { rawValue }
    }

    /// An IPv4 or IPv6 address. The 128 bits are `high:low`; an IPv4 address is the low
    /// 32 bits of `low` (`high` is 0), so both families share the arithmetic below.
    public struct IPAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
        public let family: Family
        public let high: UInt64
        public let low: UInt64

        public init(v4: UInt32) {
            family = .inet
            high = 0
            low = UInt64(v4)
        }

        public init(v6High high: UInt64, low: UInt64) {
            family = .inet6
            self.high = high
            self.low = low
        }

        fileprivate init(family: Family, _ bits: Bits128) {
            self.family = family
            high = bits.high
            low = bits.low
        }

        fileprivate var bits: Bits128 { Bits128(high: high, low: low) }

        /// The IPv4 address as a host-order integer; nil for IPv6.
        public var v4: UInt32? { family == .inet ? UInt32(truncatingIfNeeded: low) : nil }

        /// Network byte order: 4 bytes for IPv4, 16 for IPv6.
        public var bytes: [UInt8] {
            switch family {
            case .inet: return (0..<4).map { UInt8(truncatingIfNeeded: low >> (24 - 8 * UInt64($0))) }
            case .inet6:
                return (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64($0))) }
                    + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64($0))) }
            }
        }

        /// Parses a dotted quad or an IPv6 address (with `::` and an embedded dotted quad);
        /// nil for anything else, including IPv6 zone suffixes, which a configuration has no use for.
        public init?(_ text: String) {
            if text.contains(":") {
                guard let bits = Self.parseV6(Array(text.unicodeScalars)) else { return nil }
                self.init(family: .inet6, bits)
            } else {
                guard let v4 = Self.parseV4(Array(text.unicodeScalars)[...]) else { return nil }
                self.init(v4: v4)
            }
        }

        public static func < (a: IPAddress, b: IPAddress) -> Bool {
            if a.family != b.family { return a.family == .inet }
            return a.bits < b.bits
        }

        public var description: String {
            switch family {
            case .inet:
                return bytes.map { String($0) }.joined(separator: ".")
            case .inet6:
                let groups = (0..<8).map { i -> UInt16 in
                    let word = i < 4 ? high : low
                    return UInt16(truncatingIfNeeded: word >> (48 - 16 * UInt64(i % 4)))
                }
                // RFC 5952: the longest run (the first of equals) of two or more zero groups becomes `::`.
                var best = (start: -1, count: 0)
                var i = 0
                while i < 8 {
                    guard groups[i] == 0 else { i += 1; continue }
                    var j = i
                    while j < 8 && groups[j] == 0 { j += 1 }
                    if j - i > best.count && j - i >= 2 { best = (i, j - i) }
                    i = j
                }
                let hex = groups.map { String($0, radix: 16) }
                if best.start < 0 { return hex.joined(separator: ":") }
                return hex[..<best.start].joined(separator: ":") + "::"
                    + hex[(best.start + best.count)...].joined(separator: ":")
            }
        }

        private static func parseV4(_ s: ArraySlice<Unicode.Scalar>) -> UInt32? {
            var parts: [UInt32] = []
            var current: UInt32 = 0
            var digits = 0
            for c in s {
                if c == "." {
                    guard digits > 0 else { return nil }
                    parts.append(current)
                    current = 0
                    digits = 0
                } else if c >= "0" && c <= "9" {
                    // No leading zeros: `010` is octal to some tools and decimal to others.
                    if digits == 1 && current == 0 { return nil }
                    current = current * 10 + (c.value - 48)
                    digits += 1
                    guard current <= 255 else { return nil }
                } else {
                    return nil
                }
            }
            guard digits > 0 else { return nil }
            parts.append(current)
            guard parts.count == 4 else { return nil }
            return parts.reduce(0) { $0 << 8 | $1 }
        }

        private static func parseV6(_ s: [Unicode.Scalar]) -> Bits128? {
            // Split at `::` (at most one), then parse each side's colon-separated groups;
            // the last group of the address may be a dotted quad (two groups' worth).
            var doubleColon: Int?
            var i = 0
            while i + 1 < s.count {
                if s[i] == ":" && s[i + 1] == ":" {
                    guard doubleColon == nil else { return nil }
                    doubleColon = i
                    i += 2
                } else {
                    i += 1
                }
            }
            func groups(_ part: ArraySlice<Unicode.Scalar>, mayEndInV4: Bool) -> [UInt16]? {
                if part.isEmpty { return [] }
                var out: [UInt16] = []
                let fields = part.split(separator: ":", omittingEmptySubsequences: false)
                for (n, field) in fields.enumerated() {
                    if n == fields.count - 1 && mayEndInV4 && field.contains(".") {
                        guard let v4 = parseV4(field) else { return nil }
                        out.append(UInt16(v4 >> 16))
                        out.append(UInt16(v4 & 0xffff))
                        continue
                    }
                    guard (1...4).contains(field.count) else { return nil }
                    var value: UInt16 = 0
                    for c in field {
                        guard let d = hexValue(c) else { return nil }
                        value = value << 4 | UInt16(d)
                    }
                    out.append(value)
                }
                return out
            }
            var all: [UInt16]
            if let dc = doubleColon {
                guard let head = groups(s[..<dc], mayEndInV4: false),
                      let tail = groups(s[(dc + 2)...], mayEndInV4: true),
                      head.count + tail.count <= 7
                else { return nil }
                all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
            } else {
                guard let g = groups(s[...], mayEndInV4: true), g.count == 8 else { return nil }
                all = g
            }
            var bits = Bits128(high: 0, low: 0)
            for (n, g) in all.enumerated() {
                if n < 4 { bits.high |= UInt64(g) << (48 - 16 * UInt64(n)) } else { bits.low |= UInt64(g) << (48 - 16 * UInt64(n - 4)) }
            }
            return bits
        }

        private static func hexValue(_ c: Unicode.Scalar) -> Int? {
            switch c {
            case "0"..."9": return Int(c.value - 48)
            case "a"..."f": return Int(c.value - 97 + 10)
            case "A"..."F": return Int(c.value - 65 + 10)
            default: return nil
            }
        }
    }

    /// A network: an address with its host bits cleared, and a length.
    public struct Prefix: Sendable, Hashable, Comparable, CustomStringConvertible {
        public let address: IPAddress
        public let length: Int

        /// Clears the host bits of `address` (so any address inside the network may be given).
        public init(_ address: IPAddress, length: Int) {
            precondition(length >= 0 && length <= address.family.bitCount, "prefix length out of range")
            self.address = IPAddress(family: address.family,
                                     address.bits & Bits128.networkMask(length, of: address.family))
            self.length = length
        }

        /// `A/L`, or a bare address meaning the host itself. `hostBitsSet` tells whether the
        /// text had bits beyond the length (the prefix is normalised either way).
        public static func parse(_ text: String) -> (prefix: Prefix, hostBitsSet: Bool)? {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2, let address = IPAddress(String(parts[0])) else { return nil }
            var length = address.family.bitCount
            if parts.count == 2 {
                let l = parts[1]
                guard !l.isEmpty, l.count <= 3, l.unicodeScalars.allSatisfy({ $0 >= "0" && $0 <= "9" }),
                      let n = Int(l), n <= address.family.bitCount, !(l.count > 1 && l.first == "0")
                else { return nil }
                length = n
            }
            let prefix = Prefix(address, length: length)
            return (prefix, prefix.address != address)
        }

        /// Every address of a family: `0.0.0.0/0` or `::/0`.
        public static func all(_ family: Family) -> Prefix {
            Prefix(family == .inet ? IPAddress(v4: 0) : IPAddress(v6High: 0, low: 0), length: 0)
        }

        public var family: Family { address.family }

        public var first: IPAddress { address }
        public var last: IPAddress {
            IPAddress(family: family, address.bits | ~Bits128.networkMask(length, of: family) & Bits128.familyMask(family))
        }

        public func contains(_ a: IPAddress) -> Bool {
            a.family == family && a.bits & Bits128.networkMask(length, of: family) == address.bits
        }

        public func contains(_ p: Prefix) -> Bool { p.length >= length && contains(p.address) }

        public func overlaps(_ p: Prefix) -> Bool { contains(p) || p.contains(self) }

        public var range: AddressRange { AddressRange(low: first, high: last) }

        public static func < (a: Prefix, b: Prefix) -> Bool {
            a.address != b.address ? a.address < b.address : a.length < b.length
        }

        public var description: String { "\(address)/\(length)" }
    }

    /// An inclusive range of addresses of one family, e.g. a NAT pool's `A to B`.
    public struct AddressRange: Sendable, Hashable, CustomStringConvertible {
        public let low: IPAddress
        public let high: IPAddress

        public init(low: IPAddress, high: IPAddress) {
            precondition(low.family == high.family && low <= high, "invalid address range")
            self.low = low
            self.high = high
        }

        public var family: Family { low.family }

        public func contains(_ a: IPAddress) -> Bool { a.family == family && low <= a && a <= high }

        public func overlaps(_ r: AddressRange) -> Bool {
            r.family == family && !(high < r.low || r.high < low)
        }

        /// The first address that both ranges hold, if any.
        public func firstCommonAddress(with r: AddressRange) -> IPAddress? {
            overlaps(r) ? max(low, r.low) : nil
        }

        /// Number of addresses, saturating at `UInt64.max` (an IPv6 range can hold more).
        public var count: UInt64 {
            let d = high.bits - low.bits
            return d.high != 0 || d.low == .max ? .max : d.low + 1
        }

        /// The fewest prefixes that cover exactly this range, in address order.
        public var prefixes: [Prefix] {
            var out: [Prefix] = []
            var start = low.bits
            let end = high.bits
            let width = family.bitCount
            while true {
                // The largest block aligned at `start` that does not run past `end`. `start`
                // is aligned to the block, so `start + size - 1` cannot wrap.
                func blockLast(_ size: Int) -> Bits128 { size == 128 ? ~Bits128.zero : start + ((Bits128.one << size) - Bits128.one) }
                var size = min(start.trailingZeroBitCount, width)
                while size > 0 && end < blockLast(size) { size -= 1 }
                out.append(Prefix(IPAddress(family: family, start), length: width - size))
                let last = blockLast(size)
                if !(last < end) { break }
                start = last + Bits128.one
            }
            return out
        }

        public var description: String { low == high ? "\(low)" : "\(low) to \(high)" }
    }

    /// An interface's own address: host bits are the point, so they are kept.
    public struct InterfaceAddress: Sendable, Hashable, CustomStringConvertible {
        public let address: IPAddress
        public let prefixLength: Int

        public init(address: IPAddress, prefixLength: Int) {
            self.address = address
            self.prefixLength = prefixLength
        }

        public var family: Family { address.family }
        /// The connected network.
        public var network: Prefix { Prefix(address, length: prefixLength) }
        public var description: String { "\(address)/\(prefixLength)" }
    }
}

/// 128-bit unsigned arithmetic for address math, without relying on `UInt128` (whose
/// availability is platform-gated). Only what the functions above need.
struct Bits128: Hashable, Comparable {
    var high: UInt64
    var low: UInt64

    static let zero = Bits128(high: 0, low: 0)
    static let one = Bits128(high: 0, low: 1)

    static func < (a: Bits128, b: Bits128) -> Bool { a.high != b.high ? a.high < b.high : a.low < b.low }

    static func & (a: Bits128, b: Bits128) -> Bits128 { Bits128(high: a.high & b.high, low: a.low & b.low) }
    static func | (a: Bits128, b: Bits128) -> Bits128 { Bits128(high: a.high | b.high, low: a.low | b.low) }
    static prefix func ~ (a: Bits128) -> Bits128 { Bits128(high: ~a.high, low: ~a.low) }

    /// Wrapping addition and subtraction (callers guard against wrap where it matters).
    static func + (a: Bits128, b: Bits128) -> Bits128 {
        let (low, carry) = a.low.addingReportingOverflow(b.low)
        return Bits128(high: a.high &+ b.high &+ (carry ? 1 : 0), low: low)
    }

    static func - (a: Bits128, b: Bits128) -> Bits128 {
        let (low, borrow) = a.low.subtractingReportingOverflow(b.low)
        return Bits128(high: a.high &- b.high &- (borrow ? 1 : 0), low: low)
    }

    static func << (a: Bits128, n: Int) -> Bits128 {
        if n <= 0 { return a }
        if n >= 128 { return .zero }
        if n >= 64 { return Bits128(high: a.low << UInt64(n - 64), low: 0) }
        return Bits128(high: a.high << UInt64(n) | a.low >> UInt64(64 - n), low: a.low << UInt64(n))
    }

    var trailingZeroBitCount: Int {
        low != 0 ? low.trailingZeroBitCount : high != 0 ? 64 + high.trailingZeroBitCount : 128
    }

    /// All ones in the family's width: 32 bits for IPv4, 128 for IPv6.
    static func familyMask(_ family: ConfigModel.Family) -> Bits128 {
        family == .inet ? Bits128(high: 0, low: 0xffff_ffff) : ~zero
    }

    /// The top `length` bits of the family's width set.
    static func networkMask(_ length: Int, of family: ConfigModel.Family) -> Bits128 {
        let width = family.bitCount
        let hostBits = width - length
        let host = hostBits == 128 ? ~zero : (one << hostBits) - one
        return familyMask(family) & ~host
    }
}
