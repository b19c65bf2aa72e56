// The dataplane's own knobs (R-11.2): `system dataplane` and the `security flow` timeouts,
// compiled into a validated value with every default filled in. This is the part of
// `ConfigModel` that sizes shared memory and the workers; the grammar is in
// ConfigSchema.swift, and `load`/`compile` here run the whole model's validation, so a
// configuration the daemon accepts is one that commits.

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
    /// How many queues (and so workers) per interface; nil = every queue the interface has
    /// (at most `maxQueues`). A commit may change it within `maxQueues`.
    public var queues: Int?
    /// `max-queues`: the queues the shared memory is laid out for (a worker block, UMEM slice
    /// and session partition each), fixed while xpfd runs; nil = as many as `queues` starts
    /// with. Queues beyond `queues` are parked: no worker, their partition kept by xpfd.
    public var maxQueues: Int?
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
    /// `busy-poll`: idle workers spin instead of sleeping in poll() (R-3.4), for latency.
    public var busyPoll: Bool
    /// `workers { queue Q cpu C; }`: CPU for the worker of queue Q; queues not listed are
    /// placed automatically (R-1.2).
    public var workerCPUs: [Int: Int]
    /// `fast-path { … }` (R-2.3); nil when not configured (no fast path).
    public var fastPath: FastPath?

    /// The XDP fast path's allowlist: a packet whose source or destination is in one of the
    /// prefixes is forwarded in the kernel.
    public struct FastPath: Sendable, Equatable {
        /// Host bits cleared, duplicates removed, in the order written.
        public var allowPrefixes: [ConfigModel.Prefix]
        /// Count what would be forwarded, forward nothing.
        public var dryRun: Bool

        public init(allowPrefixes: [ConfigModel.Prefix], dryRun: Bool = false) {
            self.allowPrefixes = allowPrefixes
            self.dryRun = dryRun
        }
    }

    /// A configuration with every default; `umemFrames: nil` derives it from the rings.
    public init(interfaces: [String], hostName: String? = nil, queues: Int? = nil, maxQueues: Int? = nil, batchSize: Int = 64,
                rxRing: Int = 2048, txRing: Int = 2048, umemFrames: Int? = nil, xdpMode: XDPMode = .auto,
                sessionTableSize: Int = 1_000_000, neighborHoldMs: Int = 1000, timeouts: FlowTimeouts = FlowTimeouts(),
                busyPoll: Bool = false, workerCPUs: [Int: Int] = [:], fastPath: FastPath? = nil)
    {
        self.hostName = hostName
        self.interfaces = interfaces
        self.queues = queues
        self.maxQueues = maxQueues
        self.batchSize = batchSize
        self.rxRing = rxRing
        self.txRing = txRing
        self.umemFrames = umemFrames
            ?? Self.defaultUMEMFrames(interfaces: interfaces.count, rxRing: rxRing, txRing: txRing)
        self.xdpMode = xdpMode
        self.sessionTableSize = sessionTableSize
        self.neighborHoldMs = neighborHoldMs
        self.timeouts = timeouts
        self.busyPoll = busyPoll
        self.workerCPUs = workerCPUs
        self.fastPath = fastPath
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
    /// compiles the whole configuration (`ConfigModel.load`): a file with a dangling policy
    /// reference is refused here too. The tree is returned: it is what `show configuration` prints.
    public static func load(text: String, file: String) throws -> (JunosTree, DataplaneConfig) {
        let (tree, model) = try ConfigModel.load(text: text, file: file)
        return (tree, model.dataplane)
    }

    /// The dataplane part of `ConfigModel.compile(tree)` (which validates everything).
    public static func compile(_ tree: JunosTree) throws -> DataplaneConfig {
        try ConfigModel.compile(tree).dataplane
    }

    /// Reads `system dataplane`, `system host-name` and the flow timeouts. Errors point at
    /// the offending value or statement; a missing required statement is reported at the
    /// innermost container that exists.
    static func compileDataplane(_ root: Scope) throws -> DataplaneConfig {
        let system = root.scope("system")
        let dataplane = system.scope("dataplane")

        let interfaces = try compileInterfaces(dataplane)
        let queues = try dataplane.number("queues", in: queuesRange)
        let maxQueues = try dataplane.numberWithLocation("max-queues", in: queuesRange)
        if let (m, location) = maxQueues, let queues, queues > m {
            throw ConfigError("queues \(queues) is more than max-queues \(m): the shared memory is laid out for max-queues workers",
                              at: location)
        }
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
            interfaces: interfaces, hostName: hostName, queues: queues, maxQueues: maxQueues?.0, batchSize: batchSize,
            rxRing: rxRing, txRing: txRing, umemFrames: umemFrames, xdpMode: xdpMode,
            sessionTableSize: try dataplane.number("session-table-size", in: sessionTableSizeRange) ?? 1_000_000,
            neighborHoldMs: try dataplane.number("neighbor-hold-time", in: neighborHoldMsRange) ?? 1000,
            timeouts: timeouts,
            busyPoll: dataplane.flag("busy-poll") != nil,
            workerCPUs: try compileWorkers(dataplane.scope("workers"), queues: maxQueues.map { ("max-queues", $0.0) }
                                               ?? queues.map { ("queues", $0) }),
            fastPath: try compileFastPath(dataplane.scope("fast-path")))
    }

    /// CPU numbers Linux can have (CONFIG_NR_CPUS tops out at 8192).
    public static let cpuRange = 0...8191

    /// `queues`: the statement that numbers the queues (max-queues, else queues) and its value.
    private static func compileWorkers(_ workers: Scope, queues: (keyword: String, count: Int)?) throws -> [Int: Int] {
        var cpus: [Int: Int] = [:]
        for queue in workers.scopes("queue") {
            let (q, location) = try queue.nameNumber(in: 0...(queuesRange.upperBound - 1))
            if let (keyword, count) = queues, q >= count {
                throw ConfigError("queue \(q) does not exist: '\(keyword) \(count)' numbers them 0..\(count - 1)",
                                  at: location)
            }
            guard let cpu = try queue.number("cpu", in: cpuRange) else {
                throw ConfigError("missing required statement '\(queue.pathText(appending: "cpu"))'", at: queue.location)
            }
            cpus[q] = cpu
        }
        return cpus
    }

    private static func compileFastPath(_ fastPath: Scope) throws -> FastPath? {
        guard fastPath.node != nil else { return nil }
        var prefixes: [ConfigModel.Prefix] = []
        for value in fastPath.values("allow-prefix") {
            let prefix = try value.prefix(for: "allow-prefix")
            if !prefixes.contains(prefix) { prefixes.append(prefix) }
        }
        return FastPath(allowPrefixes: prefixes, dryRun: fastPath.flag("dry-run") != nil)
    }

    private static func compileInterfaces(_ dataplane: Scope) throws -> [String] {
        guard let leaf = dataplane.leaf("interfaces") else {
            throw ConfigError("missing required statement '\(dataplane.pathText(appending: "interfaces"))'",
                              at: dataplane.location)
        }
        guard leaf.values.count <= maxInterfaces else {
            throw ConfigError("too many interfaces: \(leaf.values.count) (at most \(maxInterfaces))", at: leaf.location)
        }
        // A list holds each value once (JunosTree): a repeated interface is listed once.
        for (name, location) in zip(leaf.values, leaf.valueLocations) {
            try checkInterfaceName(name, at: location)
        }
        return leaf.values
    }

    /// Linux's rules for a device name, so a name that can never exist is refused at commit.
    static func checkInterfaceName(_ name: String, at location: SourceLocation) throws {
        guard name.unicodeScalars.count <= maxInterfaceNameLength else {
            throw ConfigError("interface name '\(name)' is longer than \(maxInterfaceNameLength) characters",
                              at: location)
        }
        // dev_valid_name(): not empty, not "." or "..", no '/', ':' or whitespace.
        let invalid = name.isEmpty || name == "." || name == ".."
            || name.unicodeScalars.contains { $0 == "/" || $0 == ":" || $0.properties.isWhitespace }
        guard !invalid else {
            throw ConfigError("invalid interface name \(ConfigValue(text: name, location: location, keyword: "").shown)",
                              at: location)
        }
    }
}
