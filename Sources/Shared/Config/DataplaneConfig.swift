// The part of the configuration xpf uses today (R-11.2): the `system dataplane` knobs and
// the `security flow` timeouts, compiled from a `JunosTree` into a validated value with
// every default filled in. Syntax (which statements exist, value types) lives in the schema
// below; meaning (ranges, defaults, rules between statements) lives in `compile`.

// MARK: - Schema

extension JunosSchema {
    /// Every statement xpf accepts. To support a new statement, add its entry here and read
    /// it in a compiler; the parser, printers and `set` form follow from the entry.
    /// Names are Junos's where Junos has the statement; the dataplane knobs and the flow
    /// timeouts are xpf's own.
    public static let xpf: JunosSchema = .root([
        .container("system", [
            .leaf("host-name", .string),
            .container("dataplane", [
                .list("interfaces", .string),
                .leaf("queues", .number),
                .leaf("batch-size", .number),
                .leaf("rx-ring", .number),
                .leaf("tx-ring", .number),
                .leaf("umem-frames", .number),
                .leaf("xdp-mode", .choice(DataplaneConfig.XDPMode.allCases.map(\.rawValue))),
                .leaf("session-table-size", .number),
                .leaf("neighbor-hold-time", .number),
            ]),
        ]),
        .container("security", [
            .container("flow", [
                .container("tcp-session", [
                    .leaf("established-timeout", .number),
                    .leaf("closing-timeout", .number),
                    .leaf("initial-timeout", .number),
                ]),
                .leaf("udp-timeout", .number),
                .leaf("icmp-timeout", .number),
                .leaf("other-timeout", .number),
            ]),
        ]),
    ])
}

// MARK: - Compiled configuration

/// The dataplane's configuration, validated, with defaults applied. A value of this type is
/// always usable: `compile` refuses anything that would not run.
public struct DataplaneConfig: Sendable, Equatable {
    public enum XDPMode: String, Sendable, CaseIterable {
        /// Driver mode; fails if the driver lacks XDP support.
        case native
        /// SKB mode; works everywhere, slowest.
        case generic
        /// Native when the driver supports it, generic otherwise.
        case auto
    }

    /// Idle timeouts in seconds, after which a session is removed.
    public struct FlowTimeouts: Sendable, Equatable {
        public var tcpEstablished: Int
        public var tcpClosing: Int
        public var tcpInitial: Int
        public var udp: Int
        public var icmp: Int
        public var other: Int

        public init(tcpEstablished: Int = 1800, tcpClosing: Int = 30, tcpInitial: Int = 20,
                    udp: Int = 60, icmp: Int = 60, other: Int = 60)
        {
            self.tcpEstablished = tcpEstablished
            self.tcpClosing = tcpClosing
            self.tcpInitial = tcpInitial
            self.udp = udp
            self.icmp = icmp
            self.other = other
        }
    }

    // Limits, with the reason for each where it is not just "a sane bound".
    /// Interfaces per dataplane: every worker opens one socket per interface on its queue.
    public static let maxInterfaces = 16
    /// Linux IFNAMSIZ is 16 including the terminating NUL.
    public static let maxInterfaceNameLength = 15
    public static let queuesRange = 1...64
    /// Frames taken from a ring per poll; the pipeline's batch arrays are sized by this.
    public static let batchSizeRange = 1...256
    /// AF_XDP ring sizes must be powers of two.
    public static let ringSizeRange = 64...8192
    /// UMEM frame counts are powers of two (frame index masking); 2^20 frames is 4 GiB of
    /// 4 KiB frames per worker, far beyond any lab.
    public static let umemFramesRange = 64...(1 << 20)
    public static let defaultUMEMFrames = 8192
    public static let sessionTableSizeRange = 1024...20_000_000
    public static let neighborHoldMsRange = 10...10_000
    public static let timeoutRange = 1...86_400

    public var hostName: String?
    /// Dataplane interfaces, in configuration order.
    public var interfaces: [String]
    /// How many queues (and so workers) per interface; nil = every queue the interface has.
    public var queues: Int?
    public var batchSize: Int
    public var rxRing: Int
    public var txRing: Int
    /// UMEM frames per worker (one UMEM shared by the worker's sockets on every interface).
    public var umemFrames: Int
    public var xdpMode: XDPMode
    /// Session table capacity (entries).
    public var sessionTableSize: Int
    /// How long a frame may wait for neighbour resolution before it is dropped, in ms.
    public var neighborHoldMs: Int
    public var timeouts: FlowTimeouts

    /// A configuration with every default; `umemFrames: nil` derives it from the rings.
    public init(interfaces: [String], hostName: String? = nil, queues: Int? = nil, batchSize: Int = 64,
                rxRing: Int = 2048, txRing: Int = 2048, umemFrames: Int? = nil, xdpMode: XDPMode = .auto,
                sessionTableSize: Int = 1_000_000, neighborHoldMs: Int = 1000, timeouts: FlowTimeouts = FlowTimeouts())
    {
        self.hostName = hostName
        self.interfaces = interfaces
        self.queues = queues
        self.batchSize = batchSize
        self.rxRing = rxRing
        self.txRing = txRing
        self.umemFrames = umemFrames
            ?? Self.defaultUMEMFrames(interfaces: interfaces.count, rxRing: rxRing, txRing: txRing)
        self.xdpMode = xdpMode
        self.sessionTableSize = sessionTableSize
        self.neighborHoldMs = neighborHoldMs
        self.timeouts = timeouts
    }

    /// The UMEM rule: enough frames for every ring of every socket to be full at once,
    /// `interfaces × (rx-ring + tx-ring)`. A frame is in one place at a time (fill ring, rx
    /// ring, the worker, tx ring or completion ring), and the worker stocks a fill ring only
    /// from frames it holds, so a smaller pool would merely starve rx; this floor keeps every
    /// fill ring full while every tx ring is full too.
    public static func minimumUMEMFrames(interfaces: Int, rxRing: Int, txRing: Int) -> Int {
        interfaces * (rxRing + txRing)
    }

    /// 8192, or the smallest power of two meeting the UMEM rule when that is larger.
    public static func defaultUMEMFrames(interfaces: Int, rxRing: Int, txRing: Int) -> Int {
        var frames = defaultUMEMFrames
        let minimum = minimumUMEMFrames(interfaces: interfaces, rxRing: rxRing, txRing: txRing)
        while frames < minimum { frames *= 2 }
        return frames
    }

    /// Parses either form (hierarchical, or set commands when the first line is one) and
    /// compiles. The tree is returned too: it is what `show configuration` prints.
    public static func load(text: String, file: String) throws -> (JunosTree, DataplaneConfig) {
        let tree = try JunosTree.parse(text: text, file: file, schema: .xpf)
        return (tree, try compile(tree))
    }

    /// Validates the tree's active statements and fills in defaults. Errors point at the
    /// offending value or statement; a missing required statement is reported at the
    /// innermost container that exists.
    public static func compile(_ tree: JunosTree) throws -> DataplaneConfig {
        let root = Scope(node: tree.root, path: [])
        let system = root.scope("system")
        let dataplane = system.scope("dataplane")

        let interfaces = try compileInterfaces(dataplane)
        let queues = try dataplane.number("queues", in: queuesRange)
        let batchSize = try dataplane.number("batch-size", in: batchSizeRange) ?? 64
        let rxRing = try dataplane.number("rx-ring", in: ringSizeRange, powerOfTwo: true) ?? 2048
        let txRing = try dataplane.number("tx-ring", in: ringSizeRange, powerOfTwo: true) ?? 2048

        let minimumFrames = minimumUMEMFrames(interfaces: interfaces.count, rxRing: rxRing, txRing: txRing)
        let umemFrames: Int
        if let (frames, location) = try dataplane.numberWithLocation("umem-frames", in: umemFramesRange,
                                                                     powerOfTwo: true)
        {
            guard frames >= minimumFrames else {
                throw ConfigError(
                    "umem-frames \(frames) is below the minimum \(minimumFrames) "
                        + "(\(interfaces.count) interfaces x (rx-ring \(rxRing) + tx-ring \(txRing)))",
                    at: location)
            }
            umemFrames = frames
        } else {
            umemFrames = defaultUMEMFrames(interfaces: interfaces.count, rxRing: rxRing, txRing: txRing)
        }

        var xdpMode = XDPMode.auto
        if let leaf = dataplane.leaf("xdp-mode") {
            // The schema admits only the enum's spellings, so this cannot fail for a parsed tree.
            guard let mode = XDPMode(rawValue: leaf.values[0]) else {
                throw ConfigError("invalid xdp-mode '\(leaf.values[0])'", at: leaf.valueLocations[0])
            }
            xdpMode = mode
        }

        var hostName: String?
        if let leaf = system.leaf("host-name") {
            guard !leaf.values[0].isEmpty else {
                throw ConfigError("host-name must not be empty", at: leaf.valueLocations[0])
            }
            hostName = leaf.values[0]
        }

        let flow = root.scope("security").scope("flow")
        let tcp = flow.scope("tcp-session")
        let defaults = FlowTimeouts()
        let timeouts = FlowTimeouts(
            tcpEstablished: try tcp.number("established-timeout", in: timeoutRange) ?? defaults.tcpEstablished,
            tcpClosing: try tcp.number("closing-timeout", in: timeoutRange) ?? defaults.tcpClosing,
            tcpInitial: try tcp.number("initial-timeout", in: timeoutRange) ?? defaults.tcpInitial,
            udp: try flow.number("udp-timeout", in: timeoutRange) ?? defaults.udp,
            icmp: try flow.number("icmp-timeout", in: timeoutRange) ?? defaults.icmp,
            other: try flow.number("other-timeout", in: timeoutRange) ?? defaults.other)

        return DataplaneConfig(
            interfaces: interfaces, hostName: hostName, queues: queues, batchSize: batchSize,
            rxRing: rxRing, txRing: txRing, umemFrames: umemFrames, xdpMode: xdpMode,
            sessionTableSize: try dataplane.number("session-table-size", in: sessionTableSizeRange) ?? 1_000_000,
            neighborHoldMs: try dataplane.number("neighbor-hold-time", in: neighborHoldMsRange) ?? 1000,
            timeouts: timeouts)
    }

    private static func compileInterfaces(_ dataplane: Scope) throws -> [String] {
        guard let leaf = dataplane.leaf("interfaces") else {
            throw ConfigError("missing required statement '\(dataplane.pathText(appending: "interfaces"))'",
                              at: dataplane.location)
        }
        guard leaf.values.count <= maxInterfaces else {
            throw ConfigError("too many interfaces: \(leaf.values.count) (at most \(maxInterfaces))", at: leaf.location)
        }
        var seen = Set<String>()
        for (name, location) in zip(leaf.values, leaf.valueLocations) {
            guard name.unicodeScalars.count <= maxInterfaceNameLength else {
                throw ConfigError("interface name '\(name)' is longer than \(maxInterfaceNameLength) characters",
                                  at: location)
            }
            // Linux's dev_valid_name(): not empty, not "." or "..", no '/', ':' or whitespace.
            let invalid = name.isEmpty || name == "." || name == ".."
                || name.unicodeScalars.contains { $0 == "/" || $0 == ":" || $0.properties.isWhitespace }
            guard !invalid else {
                throw ConfigError("invalid interface name \(JunosNode.quoted(name).quotedForMessage)", at: location)
            }
            guard seen.insert(name).inserted else {
                throw ConfigError("duplicate interface '\(name)'", at: location)
            }
        }
        return leaf.values
    }
}

private extension String {
    /// Wraps in single quotes unless already double-quoted: `'fw0'`, `"a b"`.
    var quotedForMessage: String { hasPrefix("\"") ? self : "'\(self)'" }
}

/// A container being compiled, or the place where it would be: an absent or inactive
/// container reads as empty, and remembers the innermost existing ancestor so that a
/// missing required statement can be reported there.
private struct Scope {
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

    /// An active leaf with at least one value (the schema guarantees one for parsed trees).
    func leaf(_ keyword: String) -> JunosNode? {
        guard let leaf = active(keyword), !leaf.values.isEmpty else { return nil }
        return leaf
    }

    func pathText(appending keyword: String) -> String { (path + [keyword]).joined(separator: " ") }

    func number(_ keyword: String, in range: ClosedRange<Int>, powerOfTwo: Bool = false) throws -> Int? {
        try numberWithLocation(keyword, in: range, powerOfTwo: powerOfTwo)?.0
    }

    func numberWithLocation(_ keyword: String, in range: ClosedRange<Int>, powerOfTwo: Bool = false) throws
        -> (Int, SourceLocation)?
    {
        guard let leaf = leaf(keyword) else { return nil }
        let text = leaf.values[0]
        let location = leaf.valueLocations[0]
        // Digits were checked by the parser; a value too large for Int is out of range anyway.
        guard text.unicodeScalars.allSatisfy({ $0 >= "0" && $0 <= "9" }), !text.isEmpty else {
            throw ConfigError("invalid number '\(text)' for '\(keyword)'", at: location)
        }
        guard let value = Int(text), range.contains(value) else {
            throw ConfigError("\(keyword) \(text) is out of range \(range.lowerBound)..\(range.upperBound)", at: location)
        }
        if powerOfTwo && value & (value - 1) != 0 {
            throw ConfigError("\(keyword) \(value) is not a power of two", at: location)
        }
        return (value, location)
    }
}
