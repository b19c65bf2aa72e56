// The flow words that `show / clear security flow session` (SessionFilter) and `trace` /
// `monitor security packet-drop` (TraceFilter) share: a flow's source and destination
// prefix, protocol and ports, in Junos' spelling, parsed in one place.
import CXPF

/// A prefix as the tools parse it: family, address bytes (4 or 16), length.
public typealias FilterPrefix = (family: UInt8, addr: [UInt8], len: Int)

public struct FlowWords {
    public var sourcePrefix: FilterPrefix?
    public var destinationPrefix: FilterPrefix?
    public var proto: UInt8?
    public var sourcePort: UInt16?
    public var destinationPort: UInt16?

    public static let usage = "source-prefix P | destination-prefix P | protocol X | source-port N | destination-port N"

    public init() {}

    /// Takes `keyword value` when `keyword` is one of these words (false: another one).
    /// Throws for a value the word cannot take.
    public mutating func take(_ keyword: String, _ v: String) throws -> Bool {
        func prefix() throws -> FilterPrefix {
            guard let p = parsePrefix(v) else { throw XPFError("bad prefix '\(v)'") }
            return p
        }
        func port() throws -> UInt16 {
            guard let p = UInt16(v) else { throw XPFError("bad port '\(v)'") }
            return p
        }
        switch keyword {
        case "source-prefix": sourcePrefix = try prefix()
        case "destination-prefix": destinationPrefix = try prefix()
        case "protocol":
            guard let p = SessionListing.protocolNumber(v) else { throw XPFError("bad protocol '\(v)'") }
            proto = p
        case "source-port": sourcePort = try port()
        case "destination-port": destinationPort = try port()
        default: return false
        }
        return true
    }

    /// Parses `KEYWORD VALUE` pairs: these words, and the caller's (`other` takes one or
    /// returns false). `usage` names every word in the error for an unknown one.
    public static func parse(_ words: [String], usage: String, example: String,
                             other: (String, String) throws -> Bool) throws -> FlowWords {
        guard words.count % 2 == 0 else { throw XPFError("filters come in pairs, e.g. `\(example)`") }
        var flow = FlowWords()
        for i in stride(from: 0, to: words.count, by: 2) {
            guard try flow.take(words[i], words[i + 1]) || other(words[i], words[i + 1]) else {
                throw XPFError("unknown filter '\(words[i])' (filters: \(usage))")
            }
        }
        return flow
    }

    /// A prefix's address as the 16 bytes of an ABI record (IPv4 in the first 4).
    public static func addressBytes(_ p: FilterPrefix) -> (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                                                          UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) {
        var t = xpf_flow_tuple().src
        withUnsafeMutableBytes(of: &t) { $0.copyBytes(from: p.addr) }
        return t
    }
}
