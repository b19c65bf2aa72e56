// Reading a `JunosTree` for the compiler: `Scope` walks active statements (inactive ones
// are invisible), `ConfigValue` turns one written value into a number, prefix, port range…
// with an error at that value when it is not one. Messages name the statement the value
// belongs to, as the operator wrote it.

/// A container being compiled, or the place where it would be: an absent or inactive
/// container reads as empty, and remembers the innermost existing ancestor so that a
/// missing required statement can be reported there.
struct Scope {
    /// The active node, nil when absent or inactive.
    var node: JunosNode?
    /// Statement words from the top, for messages.
    var path: [String]
    /// The node's location, or the nearest active ancestor's.
    var location: SourceLocation

    init(node: JunosNode, path: [String]) {
        self.node = node
        self.path = path
        self.location = node.location
    }

    private init(node: JunosNode?, path: [String], location: SourceLocation) {
        self.node = node
        self.path = path
        self.location = location
    }

    /// Inactive statements (and everything under them) are invisible to the compiler.
    private func active(_ keyword: String) -> JunosNode? {
        node?.children.first { $0.keyword == keyword && !$0.isInactive }
    }

    func scope(_ keyword: String) -> Scope {
        let child = active(keyword)
        return Scope(node: child, path: path + [keyword], location: child?.location ?? location)
    }

    /// Every active instance of a named statement (or implicit entry), in the order written.
    func scopes(_ keyword: String) -> [Scope] {
        guard let node else { return [] }
        return node.children.filter { $0.keyword == keyword && !$0.isInactive }.map { child in
            Scope(node: child, path: path + child.headWords, location: child.location)
        }
    }

    /// Every active instance of any of `keywords`, interleaved in the order written
    /// (`application A; application-set S; application B;`).
    func scopes(anyOf keywords: Set<String>) -> [Scope] {
        guard let node else { return [] }
        return node.children.filter { keywords.contains($0.keyword) && !$0.isInactive }.map { child in
            Scope(node: child, path: path + child.headWords, location: child.location)
        }
    }

    /// The first two active children, in the order written, whose keywords are in
    /// `keywords`: statements that exclude each other, reported at the second.
    func conflict(among keywords: Set<String>) -> (first: JunosNode, second: JunosNode)? {
        let found = (node?.children ?? []).filter { !$0.isInactive && keywords.contains($0.keyword) }
        return found.count > 1 ? (found[0], found[1]) : nil
    }

    /// The first identity word of a named instance.
    var name: String { node?.names.first ?? "" }

    /// Where the instance's first identity word was written.
    var nameLocation: SourceLocation { node?.nameLocations.first ?? location }

    /// The identity word `index` as a value, e.g. the `B` of `from-zone A to-zone B` is index 2.
    /// `keyword` is how messages name it (the statement's keyword by default).
    func nameValue(_ index: Int = 0, keyword: String? = nil) -> ConfigValue {
        ConfigValue(text: node?.names[index] ?? "", location: node?.nameLocations[index] ?? location,
                    keyword: keyword ?? node?.keyword ?? "")
    }

    /// A numeric name (`unit 0`, `queue 3`) in a range.
    func nameNumber(in range: ClosedRange<Int>) throws -> (Int, SourceLocation) {
        let value = nameValue()
        return (try value.number(in: range), value.location)
    }

    /// An active leaf with at least one value (the schema guarantees one for parsed trees).
    func leaf(_ keyword: String) -> JunosNode? {
        guard let leaf = active(keyword), !leaf.values.isEmpty else { return nil }
        return leaf
    }

    /// The value of a single-valued leaf.
    func value(_ keyword: String) -> ConfigValue? {
        leaf(keyword).map { ConfigValue(text: $0.values[0], location: $0.valueLocations[0], keyword: keyword) }
    }

    /// The values of a list, empty when absent.
    func values(_ keyword: String) -> [ConfigValue] {
        guard let leaf = leaf(keyword) else { return [] }
        return zip(leaf.values, leaf.valueLocations).map { ConfigValue(text: $0, location: $1, keyword: keyword) }
    }

    /// An active flag (or empty container used as one).
    func flag(_ keyword: String) -> JunosNode? { active(keyword) }

    /// The implicit value of a positional leaf (`pool { P; }`).
    func positional(_ keyword: String, as written: String) -> ConfigValue? {
        leaf(keyword).map { ConfigValue(text: $0.values[0], location: $0.valueLocations[0], keyword: written) }
    }

    var pathText: String { path.joined(separator: " ") }

    func pathText(appending keyword: String) -> String { (path + [keyword]).joined(separator: " ") }

    /// The error for a statement that must be present.
    func missing(_ keyword: String) -> ConfigError {
        ConfigError("missing required statement '\(pathText(appending: keyword))'", at: location)
    }

    func number(_ keyword: String, in range: ClosedRange<Int>, powerOfTwo: Bool = false) throws -> Int? {
        try numberWithLocation(keyword, in: range, powerOfTwo: powerOfTwo)?.0
    }

    func numberWithLocation(_ keyword: String, in range: ClosedRange<Int>, powerOfTwo: Bool = false) throws
        -> (Int, SourceLocation)?
    {
        guard let value = value(keyword) else { return nil }
        let n = try value.number(in: range)
        if powerOfTwo && n & (n - 1) != 0 {
            throw ConfigError("\(keyword) \(n) is not a power of two", at: value.location)
        }
        return (n, value.location)
    }
}

/// One value as written, with the keyword of the statement it belongs to (for messages).
struct ConfigValue {
    var text: String
    var location: SourceLocation
    var keyword: String

    typealias Prefix = ConfigModel.Prefix
    typealias Family = ConfigModel.Family

    /// How a message shows the value: `'x'`, or `"a b"` when it needs quotes.
    var shown: String {
        let q = JunosNode.quoted(text)
        return q.hasPrefix("\"") ? q : "'\(q)'"
    }

    func error(_ message: String) -> ConfigError { ConfigError(message, at: location) }

    func number(in range: ClosedRange<Int>) throws -> Int {
        // Digits were checked by the parser for number leaves; a value too large for Int is
        // out of range anyway.
        guard !text.isEmpty, text.unicodeScalars.allSatisfy({ $0 >= "0" && $0 <= "9" }) else {
            throw error("invalid number \(shown) for '\(keyword)'")
        }
        guard let value = Int(text), range.contains(value) else {
            throw error("\(keyword) \(text) is out of range \(range.lowerBound)..\(range.upperBound)")
        }
        return value
    }

    /// A prefix (or bare address = host prefix). Host bits are accepted and cleared, as
    /// Junos does for address matches.
    func prefix(for what: String? = nil) throws -> Prefix {
        guard let (prefix, _) = Prefix.parse(text) else {
            throw error("invalid prefix \(shown) for '\(what ?? keyword)'")
        }
        return prefix
    }

    /// A prefix of a filter of `family`.
    func prefix(inFilterOf family: Family) throws -> Prefix {
        let prefix = try self.prefix()
        guard prefix.family == family else {
            throw error("\(prefix.family.addressName) prefix \(shown) for '\(keyword)' in a family \(family) filter")
        }
        return prefix
    }

    /// A single port number in `range` (NAT pools and NAT matches write ranges as `A to B`).
    func portNumber(in range: ClosedRange<Int>) throws -> UInt16 {
        guard !text.isEmpty, text.unicodeScalars.allSatisfy({ $0 >= "0" && $0 <= "9" }) else {
            throw error("invalid port \(shown) for '\(keyword)'")
        }
        guard let n = Int(text), range.contains(n) else {
            throw error("port \(text) is out of range \(range.lowerBound)..\(range.upperBound)")
        }
        return UInt16(n)
    }

    func address(for what: String? = nil) throws -> ConfigModel.IPAddress {
        guard let address = ConfigModel.IPAddress(text) else {
            throw error("invalid address \(shown) for '\(what ?? keyword)'")
        }
        return address
    }

    /// `80`, `http`, or `1024-65535`. Port 0 is accepted: Junos writes "any port" as
    /// `0-65535`, and a filter may match port 0 on purpose.
    func portRange() throws -> ClosedRange<UInt16> {
        if ConfigModel.portNumbers[text] == nil {
            // Port names contain dashes too (`ftp-data`): split where both sides are ports.
            for dash in text.indices where text[dash] == "-" {
                let left = String(text[..<dash]), right = String(text[text.index(after: dash)...])
                guard Self.isPort(left) && Self.isPort(right) else { continue }
                let low = try port(left), high = try port(right)
                guard low <= high else {
                    throw error("invalid port range \(shown) for '\(keyword)': \(low) is above \(high)")
                }
                return low...high
            }
        }
        let p = try port(text)
        return p...p
    }

    /// A port name, or digits (whether in range is `port`'s to say).
    private static func isPort(_ word: String) -> Bool {
        ConfigModel.portNumbers[word] != nil
            || !word.isEmpty && word.unicodeScalars.allSatisfy { $0 >= "0" && $0 <= "9" }
    }

    private func port(_ word: String) throws -> UInt16 {
        if let named = ConfigModel.portNumbers[word] { return named }
        guard !word.isEmpty, word.unicodeScalars.allSatisfy({ $0 >= "0" && $0 <= "9" }) else {
            throw error("invalid port \(shown) for '\(keyword)': expected a number, a range A-B or a port name")
        }
        guard let n = Int(word), n <= 65535 else {
            throw error("port \(word) is out of range 0..65535")
        }
        return UInt16(n)
    }

    /// A protocol name or number 0..255.
    func ipProtocol() throws -> UInt8 {
        if let named = ConfigModel.protocolNumbers[text] { return named }
        guard !text.isEmpty, text.unicodeScalars.allSatisfy({ $0 >= "0" && $0 <= "9" }), let n = Int(text), n <= 255
        else {
            throw error("invalid protocol \(shown) for '\(keyword)': expected a name (tcp, udp, icmp, …) or a number 0..255")
        }
        return UInt8(n)
    }

    /// A DSCP name or number 0..63.
    func dscp() throws -> UInt8 {
        if let named = ConfigModel.dscpValues[text] { return named }
        guard !text.isEmpty, text.unicodeScalars.allSatisfy({ $0 >= "0" && $0 <= "9" }), let n = Int(text), n <= 63
        else {
            throw error("invalid DSCP value \(shown) for '\(keyword)': expected be, ef, af11..af43, cs0..cs7 or 0..63")
        }
        return UInt8(n)
    }

    /// An ICMP (inet) or ICMPv6 (inet6) type by name, or a number 0..255.
    func icmpType(_ family: Family) throws -> UInt8 {
        let names = family == .inet ? ConfigModel.icmpTypes : ConfigModel.icmp6Types
        if let named = names[text] { return named }
        return try byte(what: family == .inet ? "ICMP type" : "ICMPv6 type")
    }

    /// A number 0..255 (ICMP codes have no names worth spelling).
    func byte(what: String) throws -> UInt8 {
        guard !text.isEmpty, text.unicodeScalars.allSatisfy({ $0 >= "0" && $0 <= "9" }), let n = Int(text), n <= 255
        else {
            throw error("invalid \(what) \(shown) for '\(keyword)'")
        }
        return UInt8(n)
    }

    /// A rate or size with an optional decimal unit: `10m` = 10,000,000, `15k` = 15,000
    /// (Junos units are powers of ten), in `range`.
    func scaled(in range: ClosedRange<UInt64>, unit: String) throws -> UInt64 {
        var digits = Substring(text)
        var multiplier: UInt64 = 1
        switch digits.last {
        case "k", "K": multiplier = 1_000
        case "m", "M": multiplier = 1_000_000
        case "g", "G": multiplier = 1_000_000_000
        default: break
        }
        if multiplier != 1 { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.unicodeScalars.allSatisfy({ $0 >= "0" && $0 <= "9" }), let n = UInt64(digits)
        else {
            throw error("invalid value \(shown) for '\(keyword)': expected a number with an optional k, m or g suffix")
        }
        let (value, overflow) = n.multipliedReportingOverflow(by: multiplier)
        guard !overflow, range.contains(value) else {
            throw error("\(keyword) \(text) is out of range \(range.lowerBound)..\(range.upperBound) \(unit)")
        }
        return value
    }
}
