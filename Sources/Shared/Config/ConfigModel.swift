// The compiled configuration (issue 3): every statement of the Junos subset xpf implements,
// validated and resolved. Names are resolved to indices into the model's arrays (zones,
// interfaces, applications, filters, policers, pools, screens) or to values (address-book
// names to prefixes, port names to numbers, DSCP names to code points, rate units to bits
// per second). A `ConfigModel` is therefore self-contained: the dataplane never looks a
// name up, and a value of this type always describes a configuration that commits.
//
// Parsing and the grammar live in JunosTree.swift and ConfigSchema.swift; the rules that
// turn a tree into this model live in ConfigCompiler*.swift.

public struct ConfigModel: Sendable, Equatable {
    /// `system dataplane`, `system host-name` and the flow timeouts.
    public var dataplane: DataplaneConfig
    /// `security flow`.
    public var flow: Flow
    /// Every interface the configuration knows. Indices `0..<dataplane.interfaces.count` are
    /// the dataplane interfaces in their `system dataplane interfaces` order; interfaces
    /// defined only under `interfaces` (e.g. `lo0`) follow in the order written.
    public var interfaces: [Interface]
    public var zones: [Zone]
    /// `security zones functional-zone management`: interfaces for managing the box. It is
    /// not a security zone: no policy names it and no transit enters or leaves through its
    /// interfaces (they are in no zone for the pipeline: `zone_none`); only its
    /// `host-inbound-traffic` applies, to traffic addressed to the box.
    public var managementZone: Zone?
    /// The global book (when written), named books, then the zones' own books.
    public var addressBooks: [AddressBook]
    /// The predefined applications (`any`, `junos-*`) first, then user-defined ones.
    public var applications: [Application]
    public var applicationSets: [ApplicationSet]
    public var policies: Policies
    public var prefixLists: [PrefixList]
    public var filters: [Filter]
    public var policers: [Policer]
    public var threeColorPolicers: [ThreeColorPolicer]
    public var screens: [Screen]
    public var nat: NAT
    public var portMirroring: PortMirroring
    public var syslog: Syslog
    public var securityLog: SecurityLog
    public var services: Services

    public init(dataplane: DataplaneConfig, flow: Flow = Flow(), interfaces: [Interface] = [], zones: [Zone] = [],
                managementZone: Zone? = nil, addressBooks: [AddressBook] = [], applications: [Application] = ConfigModel.predefinedApplications,
                applicationSets: [ApplicationSet] = [], policies: Policies = Policies(), prefixLists: [PrefixList] = [],
                filters: [Filter] = [], policers: [Policer] = [], threeColorPolicers: [ThreeColorPolicer] = [],
                screens: [Screen] = [], nat: NAT = NAT(), portMirroring: PortMirroring = PortMirroring(),
                syslog: Syslog = Syslog(), securityLog: SecurityLog = SecurityLog(), services: Services = Services())
    {
        self.dataplane = dataplane
        self.flow = flow
        self.interfaces = interfaces
        self.zones = zones
        self.managementZone = managementZone
        self.addressBooks = addressBooks
        self.applications = applications
        self.applicationSets = applicationSets
        self.policies = policies
        self.prefixLists = prefixLists
        self.filters = filters
        self.policers = policers
        self.threeColorPolicers = threeColorPolicers
        self.screens = screens
        self.nat = nat
        self.portMirroring = portMirroring
        self.syslog = syslog
        self.securityLog = securityLog
        self.services = services
    }

    // MARK: Entry points

    /// Parses either form (hierarchical, or set commands when the first command is one) and
    /// compiles. The tree is returned too: it is what `show configuration` prints.
    public static func load(text: String, file: String) throws -> (JunosTree, ConfigModel) {
        let tree = try JunosTree.parse(text: text, file: file, schema: .xpf)
        return (tree, try compile(tree))
    }

    /// Validates the tree's active statements, resolves every reference and fills in
    /// defaults. The first problem found is thrown as a `ConfigError` located at the
    /// offending value or statement.
    public static func compile(_ tree: JunosTree) throws -> ConfigModel {
        var compiler = ConfigCompiler(tree: tree)
        return try compiler.compile()
    }

    // MARK: Lookups (for tools and tests; the dataplane uses indices)

    public func interfaceIndex(_ name: String) -> Int? { interfaces.firstIndex { $0.name == name } }
    public func zoneIndex(_ name: String) -> Int? { zones.firstIndex { $0.name == name } }
    /// The only functional zone Junos has.
    public static let managementZoneName = "management"
    /// Junos' built-in zone of the box itself, named as a policy's `to-zone`.
    public static let junosHostZoneName = "junos-host"
    public func applicationIndex(_ name: String) -> Int? { applications.firstIndex { $0.name == name } }
    public func filterIndex(_ name: String, family: Family) -> Int? {
        filters.firstIndex { $0.name == name && $0.family == family }
    }
    public func screenIndex(_ name: String) -> Int? { screens.firstIndex { $0.name == name } }
    /// Whether `other` decides every session as this configuration does: the
    /// same interfaces (their indices are what zones and sessions refer to), zones,
    /// applications and policies (address books and application sets are resolved into
    /// the policies, the default policy is part of them), and the same firewall filters
    /// attached to the same interfaces (prefix lists are resolved into the terms) and the
    /// same policers: filter term, counter and policer instance indices are banked with
    /// the policy ids (xpf_filter_hits, xpf_policer_buckets). A commit that changes none of these keeps the policy epoch: no
    /// session is re-checked and the counters' bank stays.
    public func decidesSessions(as other: ConfigModel) -> Bool {
        var mine = policies, theirs = other.policies
        (mine.toHost, mine.fromHost) = ([], [])  // the box's own traffic has no sessions
        (theirs.toHost, theirs.fromHost) = ([], [])
        func attachments(_ m: ConfigModel) -> [[[Int]]] {
            m.interfaces.map { [$0.inetInputFilters, $0.inetOutputFilters, $0.inet6InputFilters, $0.inet6OutputFilters] }
        }
        return interfaces.map(\.name) == other.interfaces.map(\.name) && zones == other.zones
            && applications == other.applications && mine == theirs
            && filters == other.filters && attachments(self) == attachments(other)
            && policers == other.policers && threeColorPolicers == other.threeColorPolicers
    }

    /// What this configuration asks for that xpf's dataplane does not enforce yet, one
    /// sentence each; xpfd refuses to run such a configuration (fail closed: a filter the
    /// operator believes in must not be silently half applied). Empty: everything applies.
    /// - a filter on a non-dataplane interface other than lo0's input filter: the XDP
    ///   program runs lo0's input filter on host-bound traffic; an output filter on lo0
    ///   would apply to the box's own traffic, which the TC egress program checks against
    ///   from junos-host policies only; any other interface is not xpf's.
    public var unenforcedFeatures: [String] {
        var out: [String] = []
        for interface in interfaces where !interface.isDataplane {
            let loopback = interface.name == Self.loopbackName
            let attached = [("inet input", interface.inetInputFilters), ("inet output", interface.inetOutputFilters),
                            ("inet6 input", interface.inet6InputFilters), ("inet6 output", interface.inet6OutputFilters)]
            for (kind, indices) in attached where !(loopback && kind.hasSuffix("input")) {
                for index in indices {
                    let why = loopback ? "xpf does not filter the box's own outgoing traffic yet (from junos-host policies guard it)"
                        : "\(interface.name) is not a dataplane interface (system dataplane interfaces), so xpf sees none of its traffic"
                    out.append("interface \(interface.name): \(kind) filter '\(filters[index].name)' is not applied: \(why)")
                }
            }
        }
        return out
    }

    /// The loopback interface, whose input filter guards traffic to the box.
    public static let loopbackName = "lo0"

    /// The zone an interface belongs to, if any.
    public func zoneIndex(ofInterface interface: Int) -> Int? {
        zones.firstIndex { $0.interfaces.contains(interface) }
    }
}

// MARK: - Flow

extension ConfigModel {
    public enum SynFloodProtectionMode: String, Sendable, CaseIterable {
        /// Answer SYNs with a cookie SYN+ACK once the syn-flood attack threshold is reached.
        case synCookie = "syn-cookie"
        /// Complete the handshake on the server's behalf (Junos's default; xpf treats it as
        /// "no cookies").
        case synProxy = "syn-proxy"
    }

    public struct Flow: Sendable, Equatable {
        /// The same value as `dataplane.timeouts`, kept here too because Junos writes the
        /// timeouts under `security flow`.
        public var timeouts: DataplaneConfig.FlowTimeouts
        public var synFloodProtectionMode: SynFloodProtectionMode?
        /// `tcp-session no-syn-check`: a TCP flow may start with a packet that is not a SYN
        /// (by default such a first packet is dropped, `tcp_not_syn`).
        public var noSynCheck: Bool
        /// `tcp-session no-sequence-check`: stored only; xpf does not check TCP sequence
        /// numbers or windows yet.
        public var noSequenceCheck: Bool

        public init(timeouts: DataplaneConfig.FlowTimeouts = .init(), synFloodProtectionMode: SynFloodProtectionMode? = nil,
                    noSynCheck: Bool = false, noSequenceCheck: Bool = false) {
            self.timeouts = timeouts
            self.synFloodProtectionMode = synFloodProtectionMode
            self.noSynCheck = noSynCheck
            self.noSequenceCheck = noSequenceCheck
        }
    }
}

// MARK: - Interfaces and zones

extension ConfigModel {
    public struct Interface: Sendable, Equatable {
        public var name: String
        public var description: String?
        /// Listed in `system dataplane interfaces`: xpf attaches to it.
        public var isDataplane: Bool
        /// `unit 0 family inet address …`, in the order written (host bits kept).
        public var inetAddresses: [InterfaceAddress]
        public var inet6Addresses: [InterfaceAddress]
        /// `unit 0 family inet filter input|output F` (one filter) or `input-list|output-list
        /// [ F… ]` (the filters evaluated in order as one): indices into `filters`; empty: none.
        public var inetInputFilters: [Int]
        public var inetOutputFilters: [Int]
        public var inet6InputFilters: [Int]
        public var inet6OutputFilters: [Int]

        public init(name: String, description: String? = nil, isDataplane: Bool, inetAddresses: [InterfaceAddress] = [],
                    inet6Addresses: [InterfaceAddress] = [], inetInputFilters: [Int] = [], inetOutputFilters: [Int] = [],
                    inet6InputFilters: [Int] = [], inet6OutputFilters: [Int] = [])
        {
            self.name = name
            self.description = description
            self.isDataplane = isDataplane
            self.inetAddresses = inetAddresses
            self.inet6Addresses = inet6Addresses
            self.inetInputFilters = inetInputFilters
            self.inetOutputFilters = inetOutputFilters
            self.inet6InputFilters = inet6InputFilters
            self.inet6OutputFilters = inet6OutputFilters
        }

        public func addresses(_ family: Family) -> [InterfaceAddress] {
            family == .inet ? inetAddresses : inet6Addresses
        }

        public func inputFilters(_ family: Family) -> [Int] { family == .inet ? inetInputFilters : inet6InputFilters }
        public func outputFilters(_ family: Family) -> [Int] { family == .inet ? inetOutputFilters : inet6OutputFilters }
    }

    /// What `host-inbound-traffic` lets through to the box itself, resolved:
    /// `all` is expanded and `except` entries removed.
    public struct HostInbound: Sendable, Equatable {
        public var systemServices: [SystemService]
        public var protocols: [HostProtocol]

        public init(systemServices: [SystemService] = [], protocols: [HostProtocol] = []) {
            self.systemServices = systemServices
            self.protocols = protocols
        }
    }

    public struct Zone: Sendable, Equatable {
        public var name: String
        public var description: String?
        /// Indices into `interfaces`, in the order written.
        public var interfaces: [Int]
        public var hostInbound: HostInbound
        /// `interfaces IF { host-inbound-traffic … }`: replaces the zone's setting for that
        /// interface (Junos semantics: the interface's statement wins), keyed by interface index.
        public var interfaceHostInbound: [Int: HostInbound]
        /// Index into `screens`.
        public var screen: Int?
        /// Index into `addressBooks` of the zone's own `address-book`, if it has one.
        public var addressBook: Int?

        public init(name: String, description: String? = nil, interfaces: [Int] = [], hostInbound: HostInbound = .init(),
                    interfaceHostInbound: [Int: HostInbound] = [:], screen: Int? = nil, addressBook: Int? = nil)
        {
            self.name = name
            self.description = description
            self.interfaces = interfaces
            self.hostInbound = hostInbound
            self.interfaceHostInbound = interfaceHostInbound
            self.screen = screen
            self.addressBook = addressBook
        }

        /// What reaches the box through one of the zone's interfaces.
        public func hostInbound(forInterface interface: Int) -> HostInbound {
            interfaceHostInbound[interface] ?? hostInbound
        }
    }
}

// MARK: - Address books

extension ConfigModel {
    public struct AddressBook: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            /// `security address-book global`: seen by every zone and by global policies.
            case global
            /// `security address-book NAME`: seen by the zones it is attached to.
            case named
            /// `security zones security-zone Z address-book`: seen by zone Z (an index into `zones`).
            case zone(Int)
        }

        public var name: String
        public var kind: Kind
        public var description: String?
        /// Zones (indices) that see this book: the `attach` list, or the owning zone.
        public var zones: [Int]
        public var addresses: [Address]
        public var addressSets: [AddressSet]

        public init(name: String, kind: Kind, description: String? = nil, zones: [Int] = [], addresses: [Address] = [],
                    addressSets: [AddressSet] = [])
        {
            self.name = name
            self.kind = kind
            self.description = description
            self.zones = zones
            self.addresses = addresses
            self.addressSets = addressSets
        }
    }

    public struct Address: Sendable, Equatable {
        public var name: String
        public var description: String?
        /// The prefix, or the prefixes that cover a `range-address` exactly.
        public var prefixes: [Prefix]

        public init(name: String, description: String? = nil, prefixes: [Prefix]) {
            self.name = name
            self.description = description
            self.prefixes = prefixes
        }
    }

    public struct AddressSet: Sendable, Equatable {
        public var name: String
        public var description: String?
        /// Every prefix of every member, nested sets flattened, sorted, without duplicates.
        public var prefixes: [Prefix]

        public init(name: String, description: String? = nil, prefixes: [Prefix]) {
            self.name = name
            self.description = description
            self.prefixes = prefixes
        }
    }
}

// MARK: - Applications

extension ConfigModel {
    /// One protocol/port combination of an application. Ports are ranges, `0...65535` when
    /// not restricted (which is also how Junos writes "any port").
    public struct ApplicationTerm: Sendable, Equatable {
        public var name: String?
        /// IP protocol number; nil only for the predefined `any`, which matches everything.
        public var ipProtocol: UInt8?
        public var sourcePorts: ClosedRange<UInt16>
        public var destinationPorts: ClosedRange<UInt16>
        /// ICMP / ICMPv6 type and code; nil = any.
        public var icmpType: UInt8?
        public var icmpCode: UInt8?
        /// Session idle timeout in seconds for this term; nil = the flow timeouts.
        public var inactivityTimeout: Int?

        public static let anyPort: ClosedRange<UInt16> = 0...65535

        public init(name: String? = nil, ipProtocol: UInt8?, sourcePorts: ClosedRange<UInt16> = anyPort,
                    destinationPorts: ClosedRange<UInt16> = anyPort, icmpType: UInt8? = nil, icmpCode: UInt8? = nil,
                    inactivityTimeout: Int? = nil)
        {
            self.name = name
            self.ipProtocol = ipProtocol
            self.sourcePorts = sourcePorts
            self.destinationPorts = destinationPorts
            self.icmpType = icmpType
            self.icmpCode = icmpCode
            self.inactivityTimeout = inactivityTimeout
        }
    }

    public struct Application: Sendable, Equatable {
        public var name: String
        public var description: String?
        public var isPredefined: Bool
        /// A packet matches the application when it matches any term.
        public var terms: [ApplicationTerm]

        public init(name: String, description: String? = nil, isPredefined: Bool = false, terms: [ApplicationTerm]) {
            self.name = name
            self.description = description
            self.isPredefined = isPredefined
            self.terms = terms
        }
    }

    public struct ApplicationSet: Sendable, Equatable {
        public var name: String
        public var description: String?
        /// Indices into `applications`, nested sets flattened, in first-mention order.
        public var applications: [Int]

        public init(name: String, description: String? = nil, applications: [Int]) {
            self.name = name
            self.description = description
            self.applications = applications
        }
    }
}

// MARK: - Security policies

extension ConfigModel {
    public enum PolicyAction: String, Sendable, Equatable {
        case permit
        /// Silent drop.
        case deny
        /// Drop and answer: TCP RST for TCP, ICMP administratively prohibited otherwise.
        case reject
    }

    public enum DefaultPolicy: String, Sendable, Equatable {
        case denyAll = "deny-all"
        case permitAll = "permit-all"
    }

    public struct Policy: Sendable, Equatable {
        /// Unique across all policies (zone pairs in order, then global): the index of the
        /// policy's hit counter.
        public var id: Int
        public var name: String
        public var description: String?
        /// Address-book names resolved and flattened; `any` is `0.0.0.0/0` and `::/0`.
        public var sourceAddresses: [Prefix]
        public var destinationAddresses: [Prefix]
        /// Indices into `applications`, sets flattened.
        public var applications: [Int]
        /// Global policies only: `match from-zone` / `to-zone` (indices); nil = any zone.
        public var fromZones: [Int]?
        public var toZones: [Int]?
        public var action: PolicyAction
        public var logSessionInit: Bool
        public var logSessionClose: Bool
        public var count: Bool

        public init(id: Int, name: String, description: String? = nil, sourceAddresses: [Prefix],
                    destinationAddresses: [Prefix], applications: [Int], fromZones: [Int]? = nil, toZones: [Int]? = nil,
                    action: PolicyAction, logSessionInit: Bool = false, logSessionClose: Bool = false, count: Bool = false)
        {
            self.id = id
            self.name = name
            self.description = description
            self.sourceAddresses = sourceAddresses
            self.destinationAddresses = destinationAddresses
            self.applications = applications
            self.fromZones = fromZones
            self.toZones = toZones
            self.action = action
            self.logSessionInit = logSessionInit
            self.logSessionClose = logSessionClose
            self.count = count
        }
    }

    /// One `from-zone A to-zone B` context: an ordered list, first match wins.
    public struct ZonePairPolicies: Sendable, Equatable {
        public var fromZone: Int
        public var toZone: Int
        public var policies: [Policy]

        public init(fromZone: Int, toZone: Int, policies: [Policy]) {
            self.fromZone = fromZone
            self.toZone = toZone
            self.policies = policies
        }
    }

    /// One `from-zone Z to-zone junos-host` or `from-zone junos-host to-zone Z` context:
    /// policies for traffic between zone Z and the box itself, checked by the BPF programs
    /// (JunosHostTable.swift) — to the box on host-bound packets Z's host-inbound-traffic
    /// admitted, from the box on the packets it sends through Z's interfaces.
    public struct HostPolicies: Sendable, Equatable {
        public var zone: Int
        public var policies: [Policy]

        public init(zone: Int, policies: [Policy]) {
            self.zone = zone
            self.policies = policies
        }
    }

    public struct Policies: Sendable, Equatable {
        public var zonePairs: [ZonePairPolicies]
        /// Consulted after the zone pair's own list.
        public var global: [Policy]
        /// When nothing matches (R-5.1: deny unless configured).
        public var defaultPolicy: DefaultPolicy
        /// `to-zone junos-host` and `from-zone junos-host` contexts. Their policies' ids
        /// follow every policy of `all` (they have no session and no hit counter in the
        /// workers).
        public var toHost: [HostPolicies]
        public var fromHost: [HostPolicies]

        public init(zonePairs: [ZonePairPolicies] = [], global: [Policy] = [], defaultPolicy: DefaultPolicy = .denyAll,
                    toHost: [HostPolicies] = [], fromHost: [HostPolicies] = [])
        {
            self.zonePairs = zonePairs
            self.global = global
            self.defaultPolicy = defaultPolicy
            self.toHost = toHost
            self.fromHost = fromHost
        }

        /// Every policy the workers decide transit with, in `id` order.
        public var all: [Policy] { zonePairs.flatMap(\.policies) + global }

        /// The `to-zone junos-host` policies of traffic from zone `from`, or nil when the zone
        /// has no such context (host-inbound-traffic alone decides).
        public func toHost(from: Int) -> [Policy]? { toHost.first { $0.zone == from }?.policies }
        /// The `from-zone junos-host` policies of the box's traffic into zone `to`, or nil
        /// when the zone has no such context (the box's packets pass).
        public func fromHost(to: Int) -> [Policy]? { fromHost.first { $0.zone == to }?.policies }

        /// The policies for traffic from one zone to another, in evaluation order (the pair's
        /// list, then the global policies that apply to the pair).
        public func evaluationOrder(from: Int, to: Int) -> [Policy] {
            let pair = zonePairs.first { $0.fromZone == from && $0.toZone == to }?.policies ?? []
            return pair + global.filter {
                ($0.fromZones?.contains(from) ?? true) && ($0.toZones?.contains(to) ?? true)
            }
        }
    }
}

// MARK: - Firewall filters, prefix lists, policers

extension ConfigModel {
    public struct PrefixList: Sendable, Equatable {
        public var name: String
        /// In the order written, host bits cleared, duplicates removed; both families may appear.
        public var prefixes: [Prefix]

        public init(name: String, prefixes: [Prefix]) {
            self.name = name
            self.prefixes = prefixes
        }
    }

    /// One address condition entry: Junos matches the longest entry containing the address;
    /// an `except` entry that wins means "no match".
    public struct PrefixMatch: Sendable, Equatable {
        public var prefix: Prefix
        public var except: Bool

        public init(_ prefix: Prefix, except: Bool = false) {
            self.prefix = prefix
            self.except = except
        }
    }

    /// `tcp-flags "syn & !ack"`: the text as written (for display) and its parsed form.
    public struct TCPFlagsMatch: Sendable, Equatable {
        public var text: String
        public var expression: TCPFlagsExpression

        public init(text: String, expression: TCPFlagsExpression) {
            self.text = text
            self.expression = expression
        }

        public func matches(_ flags: UInt8) -> Bool { expression.matches(flags) }
    }

    public indirect enum TCPFlagsExpression: Sendable, Equatable {
        /// True when every bit of the mask is set (a single flag, or a numeric mask).
        case bits(UInt8)
        case not(TCPFlagsExpression)
        case and(TCPFlagsExpression, TCPFlagsExpression)
        case or(TCPFlagsExpression, TCPFlagsExpression)

        public func matches(_ flags: UInt8) -> Bool {
            switch self {
            case .bits(let mask): return flags & mask == mask
            case .not(let e): return !e.matches(flags)
            case .and(let a, let b): return a.matches(flags) && b.matches(flags)
            case .or(let a, let b): return a.matches(flags) || b.matches(flags)
            }
        }
    }

    /// A term's `from`: every condition present must hold; nil = no condition on that field.
    /// Address conditions merge `*-address` entries with the entries of the named prefix
    /// lists (of the filter's family).
    public struct FilterMatch: Sendable, Equatable {
        public var sourceAddresses: [PrefixMatch]?
        public var destinationAddresses: [PrefixMatch]?
        /// `address` / `prefix-list`: source or destination.
        public var addresses: [PrefixMatch]?
        /// `protocol` (inet) or `next-header` (inet6).
        public var protocols: [UInt8]?
        public var sourcePorts: [ClosedRange<UInt16>]?
        public var destinationPorts: [ClosedRange<UInt16>]?
        /// `port`: source or destination.
        public var ports: [ClosedRange<UInt16>]?
        /// `dscp` (inet) or `traffic-class` (inet6): 6-bit code points.
        public var dscp: [UInt8]?
        public var icmpTypes: [UInt8]?
        public var icmpCodes: [UInt8]?
        /// `tcp-flags`, or `tcp-initial` / `tcp-established` spelled as their expressions.
        public var tcpFlags: TCPFlagsMatch?
        public var isFragment: Bool
        public var firstFragment: Bool
        /// `loss-priority`: the packet's loss priority as an earlier filter term or policer
        /// left it (low when nothing set it).
        public var lossPriorities: [LossPriority]?
        /// `packet-length`: the IP datagram's length (IPv4 total length, IPv6 payload length
        /// + 40), values and ranges.
        public var packetLengths: [ClosedRange<UInt16>]?
        /// `forwarding-class`: the packet's forwarding class as an earlier filter term or
        /// policer set it (`best-effort` when nothing did, Junos's default).
        public var forwardingClasses: [String]?

        public init(sourceAddresses: [PrefixMatch]? = nil, destinationAddresses: [PrefixMatch]? = nil,
                    addresses: [PrefixMatch]? = nil, protocols: [UInt8]? = nil, sourcePorts: [ClosedRange<UInt16>]? = nil,
                    destinationPorts: [ClosedRange<UInt16>]? = nil, ports: [ClosedRange<UInt16>]? = nil,
                    dscp: [UInt8]? = nil, icmpTypes: [UInt8]? = nil, icmpCodes: [UInt8]? = nil,
                    tcpFlags: TCPFlagsMatch? = nil, isFragment: Bool = false, firstFragment: Bool = false,
                    lossPriorities: [LossPriority]? = nil, packetLengths: [ClosedRange<UInt16>]? = nil,
                    forwardingClasses: [String]? = nil)
        {
            self.forwardingClasses = forwardingClasses
            self.lossPriorities = lossPriorities
            self.packetLengths = packetLengths
            self.sourceAddresses = sourceAddresses
            self.destinationAddresses = destinationAddresses
            self.addresses = addresses
            self.protocols = protocols
            self.sourcePorts = sourcePorts
            self.destinationPorts = destinationPorts
            self.ports = ports
            self.dscp = dscp
            self.icmpTypes = icmpTypes
            self.icmpCodes = icmpCodes
            self.tcpFlags = tcpFlags
            self.isFragment = isFragment
            self.firstFragment = firstFragment
        }

        /// True when the term looks at a per-packet field that is not part of the session
        /// key (DSCP, TCP flags, fragment bits, ICMP type/code, loss priority, packet length,
        /// forwarding class): says such a term must be evaluated on every packet, never
        /// cached in a session decision.
        public var usesPerPacketFields: Bool {
            dscp != nil || tcpFlags != nil || isFragment || firstFragment || icmpTypes != nil || icmpCodes != nil
                || lossPriorities != nil || packetLengths != nil || forwardingClasses != nil
        }
        /// The forwarding class of a packet nothing classified (Junos's default classifier).
        public static let defaultForwardingClass = "best-effort"
    }

    public enum RejectReason: String, Sendable, CaseIterable {
        case administrativelyProhibited = "administratively-prohibited"
        case addressUnreachable = "address-unreachable"
        case beyondScope = "beyond-scope"
        case fragmentationNeeded = "fragmentation-needed"
        case hostProhibited = "host-prohibited"
        case hostUnknown = "host-unknown"
        case hostUnreachable = "host-unreachable"
        case networkProhibited = "network-prohibited"
        case networkUnknown = "network-unknown"
        case networkUnreachable = "network-unreachable"
        case noRoute = "no-route"
        case portUnreachable = "port-unreachable"
        case protocolUnreachable = "protocol-unreachable"
        case sourceRouteFailed = "source-route-failed"
        case tcpReset = "tcp-reset"
    }

    public enum FilterTerminal: Sendable, Equatable {
        case accept
        case discard
        /// `reject` without a reason is administratively-prohibited (Junos's default).
        case reject(RejectReason)
        /// `next term`: no terminal action — the term's other actions apply and the search
        /// goes on with the next term (past the last one: the implicit discard, or in a
        /// filter list the next filter).
        case nextTerm
    }

    public enum LossPriority: String, Sendable, CaseIterable {
        case low
        case mediumLow = "medium-low"
        case mediumHigh = "medium-high"
        case high
    }

    public struct FilterAction: Sendable, Equatable {
        /// A term without `accept`, `discard`, `reject` or `next term` accepts (Junos semantics).
        public var terminal: FilterTerminal
        public var count: String?
        public var log: Bool
        public var syslog: Bool
        /// Index into `policers`.
        public var policer: Int?
        /// Index into `threeColorPolicers`.
        public var threeColorPolicer: Int?
        public var forwardingClass: String?
        /// DSCP rewrite, a 6-bit code point.
        public var dscp: UInt8?
        public var lossPriority: LossPriority?

        public init(terminal: FilterTerminal = .accept, count: String? = nil, log: Bool = false, syslog: Bool = false,
                    policer: Int? = nil, threeColorPolicer: Int? = nil, forwardingClass: String? = nil,
                    dscp: UInt8? = nil, lossPriority: LossPriority? = nil)
        {
            self.terminal = terminal
            self.count = count
            self.log = log
            self.syslog = syslog
            self.policer = policer
            self.threeColorPolicer = threeColorPolicer
            self.forwardingClass = forwardingClass
            self.dscp = dscp
            self.lossPriority = lossPriority
        }
    }

    public struct FilterTerm: Sendable, Equatable {
        public var name: String
        public var match: FilterMatch
        public var action: FilterAction

        public init(name: String, match: FilterMatch = .init(), action: FilterAction = .init()) {
            self.name = name
            self.match = match
            self.action = action
        }
    }

    /// First matching term wins; no match discards.
    public struct Filter: Sendable, Equatable {
        public var name: String
        public var family: Family
        public var terms: [FilterTerm]

        /// `interface-specific`: every attachment (interface unit and direction) gets its own
        /// copy, with its own counters and policer instances, named `F-IFL-i` / `F-IFL-o`
        /// as on Junos; without it, every attachment shares them.
        public var interfaceSpecific: Bool

        public init(name: String, family: Family, terms: [FilterTerm], interfaceSpecific: Bool = false) {
            self.name = name
            self.family = family
            self.terms = terms
            self.interfaceSpecific = interfaceSpecific
        }
    }

    /// Single-rate two-color token bucket.
    public struct Policer: Sendable, Equatable {
        public var name: String
        /// Bits per second.
        public var bandwidthLimit: UInt64
        /// Bytes.
        public var burstSizeLimit: UInt64
        /// What happens to out-of-profile packets.
        public var discard: Bool
        public var lossPriority: LossPriority?
        public var forwardingClass: String?
        /// `filter-specific`: the terms of one filter that name it share one instance;
        /// without it (Junos's default) each term has its own.
        public var filterSpecific: Bool

        public init(name: String, bandwidthLimit: UInt64, burstSizeLimit: UInt64, discard: Bool,
                    lossPriority: LossPriority? = nil, forwardingClass: String? = nil, filterSpecific: Bool = false)
        {
            self.filterSpecific = filterSpecific
            self.name = name
            self.bandwidthLimit = bandwidthLimit
            self.burstSizeLimit = burstSizeLimit
            self.discard = discard
            self.lossPriority = lossPriority
            self.forwardingClass = forwardingClass
        }
    }

    /// RFC 2697 (single-rate) and RFC 2698 (two-rate) three-color markers. Rates in
    /// bits per second, sizes in bytes.
    public struct ThreeColorPolicer: Sendable, Equatable {
        public enum Rates: Sendable, Equatable {
            case singleRate(committedInformationRate: UInt64, committedBurstSize: UInt64, excessBurstSize: UInt64)
            case twoRate(committedInformationRate: UInt64, committedBurstSize: UInt64, peakInformationRate: UInt64,
                         peakBurstSize: UInt64)
        }

        public var name: String
        public var rates: Rates
        /// color-aware: honour the color a packet already has; color-blind (default): ignore it.
        public var colorAware: Bool
        /// `action { loss-priority high then discard; }`: drop red packets instead of marking them.
        public var discardHighLossPriority: Bool
        /// `filter-specific`, as Policer's.
        public var filterSpecific: Bool

        public init(name: String, rates: Rates, colorAware: Bool = false, discardHighLossPriority: Bool = false,
                    filterSpecific: Bool = false)
        {
            self.filterSpecific = filterSpecific
            self.name = name
            self.rates = rates
            self.colorAware = colorAware
            self.discardHighLossPriority = discardHighLossPriority
        }
    }
}

// MARK: - Screens

extension ConfigModel {
    /// The screen checks of. The raw value is the check's stable bit number (the order
    /// of, append-only); `name` is what logs and counters call it.
    public enum ScreenCheck: Int, Sendable, CaseIterable, CustomStringConvertible {
        case synFlood = 0, icmpFlood, udpFlood, portScan, ipSweep, landAttack, pingOfDeath, teardrop, tcpSynFin,
             tcpNoFlag, tcpFinNoAck, winnuke, ipSourceRoute, synFrag, synCookie, sessionLimitSource,
             sessionLimitDestination, icmpFragment

        public var name: String {
            switch self {
            case .synFlood: return "syn-flood"
            case .icmpFlood: return "icmp-flood"
            case .udpFlood: return "udp-flood"
            case .portScan: return "port-scan"
            case .ipSweep: return "ip-sweep"
            case .landAttack: return "land-attack"
            case .pingOfDeath: return "ping-of-death"
            case .teardrop: return "teardrop"
            case .tcpSynFin: return "tcp-syn-fin"
            case .tcpNoFlag: return "tcp-no-flag"
            case .tcpFinNoAck: return "tcp-fin-no-ack"
            case .winnuke: return "winnuke"
            case .ipSourceRoute: return "ip-source-route"
            case .synFrag: return "syn-frag"
            case .synCookie: return "syn-cookie"
            case .sessionLimitSource: return "session-limit-src"
            case .sessionLimitDestination: return "session-limit-dst"
            case .icmpFragment: return "icmp-fragment"
            }
        }

        public var bit: UInt32 { 1 << UInt32(rawValue) }
        public var description: String { name }
    }

    /// `tcp syn-flood` thresholds: SYNs per second (Junos meanings and defaults).
    public struct SynFlood: Sendable, Equatable {
        /// SYNs per second to one destination address and port before the flood response
        /// (drop, or SYN cookies when `security flow syn-flood-protection-mode syn-cookie`).
        public var attackThreshold: Int
        /// SYNs per second before an alarm is logged.
        public var alarmThreshold: Int
        /// SYNs per second from one source address.
        public var sourceThreshold: Int
        /// SYNs per second to one destination address.
        public var destinationThreshold: Int
        /// Seconds a half-open connection is kept in the proxy/cookie state.
        public var timeout: Int

        public init(attackThreshold: Int = 200, alarmThreshold: Int = 512, sourceThreshold: Int = 4000,
                    destinationThreshold: Int = 4000, timeout: Int = 20)
        {
            self.attackThreshold = attackThreshold
            self.alarmThreshold = alarmThreshold
            self.sourceThreshold = sourceThreshold
            self.destinationThreshold = destinationThreshold
            self.timeout = timeout
        }
    }

    public struct Screen: Sendable, Equatable {
        public var name: String
        public var checks: Set<ScreenCheck>
        /// `alarm-without-drop`: log what the checks find, drop nothing.
        public var alarmWithoutDrop: Bool
        /// ICMP packets per second to one destination.
        public var icmpFloodThreshold: Int
        /// UDP packets per second to one destination.
        public var udpFloodThreshold: Int
        public var synFlood: SynFlood
        /// As in Junos: 10 different ports from one source within this many microseconds is a scan.
        public var portScanThreshold: Int
        /// As in Junos: 10 ICMP echo requests from one source to different destinations
        /// within this many microseconds is a sweep.
        public var ipSweepThreshold: Int
        /// Concurrent sessions per source / destination address.
        public var sessionLimitSource: Int?
        public var sessionLimitDestination: Int?

        public static let defaultFloodThreshold = 1000
        public static let defaultScanThreshold = 5000

        public init(name: String, checks: Set<ScreenCheck> = [], alarmWithoutDrop: Bool = false,
                    icmpFloodThreshold: Int = defaultFloodThreshold, udpFloodThreshold: Int = defaultFloodThreshold,
                    synFlood: SynFlood = .init(), portScanThreshold: Int = defaultScanThreshold,
                    ipSweepThreshold: Int = defaultScanThreshold, sessionLimitSource: Int? = nil,
                    sessionLimitDestination: Int? = nil)
        {
            self.name = name
            self.checks = checks
            self.alarmWithoutDrop = alarmWithoutDrop
            self.icmpFloodThreshold = icmpFloodThreshold
            self.udpFloodThreshold = udpFloodThreshold
            self.synFlood = synFlood
            self.portScanThreshold = portScanThreshold
            self.ipSweepThreshold = ipSweepThreshold
            self.sessionLimitSource = sessionLimitSource
            self.sessionLimitDestination = sessionLimitDestination
        }

        /// The checks as a bit set (bit n = `ScreenCheck(rawValue: n)`).
        public var checkBits: UInt32 { checks.reduce(0) { $0 | $1.bit } }

        /// reads every rate threshold per second; scans and sweeps are written as
        /// Junos windows (10 events in N µs), which is 10,000,000 / N events per second.
        public var portScanPerSecond: Int { 10_000_000 / max(portScanThreshold, 1) }
        public var ipSweepPerSecond: Int { 10_000_000 / max(ipSweepThreshold, 1) }
    }
}

// MARK: - NAT

extension ConfigModel {
    public enum PoolPorts: Sendable, Equatable {
        /// Port address translation within this range.
        case range(ClosedRange<UInt16>)
        /// `port no-translation`: addresses only, one internal host per pool address at a time.
        case noTranslation
    }

    public struct SourcePool: Sendable, Equatable {
        public static let defaultPorts: ClosedRange<UInt16> = 1024...65535

        public var name: String
        public var description: String?
        /// In the order written. May be empty, and may lack the family of a packet: both are
        /// runtime exceptions (R-8.2 pool-empty, pool-wrong-family), not commit errors.
        public var addresses: [AddressRange]
        public var ports: PoolPorts
        public var addressPersistent: Bool

        public init(name: String, description: String? = nil, addresses: [AddressRange],
                    ports: PoolPorts = .range(defaultPorts), addressPersistent: Bool = false)
        {
            self.name = name
            self.description = description
            self.addresses = addresses
            self.ports = ports
            self.addressPersistent = addressPersistent
        }
    }

    public struct DestinationPool: Sendable, Equatable {
        public var name: String
        public var description: String?
        /// nil when the pool has no address (a runtime pool-empty exception, R-8.2).
        public var address: AddressRange?
        /// The translated destination port; nil keeps the packet's port.
        public var port: UInt16?

        public init(name: String, description: String? = nil, address: AddressRange?, port: UInt16? = nil) {
            self.name = name
            self.description = description
            self.address = address
            self.port = port
        }
    }

    /// Where a rule-set applies: `from zone …` or `from interface …` (indices).
    public enum NATContext: Sendable, Equatable {
        case zones([Int])
        case interfaces([Int])
    }

    /// A rule's `match`; empty lists match anything.
    public struct NATMatch: Sendable, Equatable {
        public var sourceAddresses: [Prefix]
        public var destinationAddresses: [Prefix]
        public var sourcePorts: [ClosedRange<UInt16>]
        public var destinationPorts: [ClosedRange<UInt16>]
        public var protocols: [UInt8]

        public init(sourceAddresses: [Prefix] = [], destinationAddresses: [Prefix] = [],
                    sourcePorts: [ClosedRange<UInt16>] = [], destinationPorts: [ClosedRange<UInt16>] = [],
                    protocols: [UInt8] = [])
        {
            self.sourceAddresses = sourceAddresses
            self.destinationAddresses = destinationAddresses
            self.sourcePorts = sourcePorts
            self.destinationPorts = destinationPorts
            self.protocols = protocols
        }
    }

    public enum NATAction: Sendable, Equatable {
        /// `source-nat off` / `destination-nat off`: matched, not translated (stops the search).
        case off
        /// `source-nat interface`: the egress interface's address.
        case interface
        /// `source-nat pool P`: index into `nat.sourcePools`.
        case sourcePool(Int)
        /// `destination-nat pool P`: index into `nat.destinationPools`.
        case destinationPool(Int)
        /// `static-nat prefix P`: the rule's destination prefix maps 1:1 onto this one (same length).
        case staticPrefix(Prefix)
    }

    public struct NATRule: Sendable, Equatable {
        public var name: String
        public var description: String?
        public var match: NATMatch
        public var action: NATAction

        public init(name: String, description: String? = nil, match: NATMatch, action: NATAction) {
            self.name = name
            self.description = description
            self.match = match
            self.action = action
        }
    }

    /// Rules are tried top-down, first match wins (R-8.2: no fall-through past a matching rule).
    public struct NATRuleSet: Sendable, Equatable {
        public var name: String
        public var description: String?
        public var from: NATContext
        /// Source NAT only.
        public var to: NATContext?
        public var rules: [NATRule]

        public init(name: String, description: String? = nil, from: NATContext, to: NATContext? = nil, rules: [NATRule]) {
            self.name = name
            self.description = description
            self.from = from
            self.to = to
            self.rules = rules
        }
    }

    public struct NAT: Sendable, Equatable {
        public var sourcePools: [SourcePool]
        public var destinationPools: [DestinationPool]
        public var sourceRuleSets: [NATRuleSet]
        public var destinationRuleSets: [NATRuleSet]
        public var staticRuleSets: [NATRuleSet]

        public init(sourcePools: [SourcePool] = [], destinationPools: [DestinationPool] = [],
                    sourceRuleSets: [NATRuleSet] = [], destinationRuleSets: [NATRuleSet] = [],
                    staticRuleSets: [NATRuleSet] = [])
        {
            self.sourcePools = sourcePools
            self.destinationPools = destinationPools
            self.sourceRuleSets = sourceRuleSets
            self.destinationRuleSets = destinationRuleSets
            self.staticRuleSets = staticRuleSets
        }
    }
}

// MARK: - Port mirroring

extension ConfigModel {
    public struct MirrorOutput: Sendable, Equatable {
        public var family: Family
        /// A name, not an index: an output interface that does not exist is reported and
        /// skipped at run time, so it need not be configured.
        public var interface: String
        public var nextHop: IPAddress?

        public init(family: Family, interface: String, nextHop: IPAddress? = nil) {
            self.family = family
            self.interface = interface
            self.nextHop = nextHop
        }
    }

    public struct MirrorInstance: Sendable, Equatable {
        /// nil for the instance written directly under `port-mirroring`.
        public var name: String?
        /// Copy one packet in `rate`.
        public var rate: Int
        /// Copies are truncated to this many bytes; nil = whole packets.
        public var maximumPacketLength: Int?
        /// Indices into `interfaces`: packets received there are mirrored.
        public var ingress: [Int]
        public var outputs: [MirrorOutput]

        public init(name: String?, rate: Int = 1, maximumPacketLength: Int? = nil, ingress: [Int] = [],
                    outputs: [MirrorOutput] = [])
        {
            self.name = name
            self.rate = rate
            self.maximumPacketLength = maximumPacketLength
            self.ingress = ingress
            self.outputs = outputs
        }
    }

    public struct PortMirroring: Sendable, Equatable {
        public var instances: [MirrorInstance]

        public init(instances: [MirrorInstance] = []) { self.instances = instances }
    }
}

// MARK: - Syslog

extension ConfigModel {
    public struct SyslogSelector: Sendable, Equatable {
        public var facility: SyslogFacility
        public var severity: SyslogSeverity

        public init(facility: SyslogFacility, severity: SyslogSeverity) {
            self.facility = facility
            self.severity = severity
        }
    }

    public enum SyslogTransport: String, Sendable, Equatable {
        case udp
    }

    /// What every destination has: which messages (selectors and an optional `match`
    /// regular expression, kept as text) and whether to write RFC 5424 structured data.
    public struct SyslogContent: Sendable, Equatable {
        public var selectors: [SyslogSelector]
        public var match: String?
        public var structuredData: Bool
        /// `structured-data { brief; }`: no English text after the structured part.
        public var brief: Bool

        public init(selectors: [SyslogSelector] = [], match: String? = nil, structuredData: Bool = false,
                    brief: Bool = false)
        {
            self.selectors = selectors
            self.match = match
            self.structuredData = structuredData
            self.brief = brief
        }
    }

    public struct SyslogHost: Sendable, Equatable {
        public var address: IPAddress
        public var port: UInt16
        public var transport: SyslogTransport
        public var sourceAddress: IPAddress?
        public var content: SyslogContent

        public init(address: IPAddress, port: UInt16 = 514, transport: SyslogTransport = .udp,
                    sourceAddress: IPAddress? = nil, content: SyslogContent = .init())
        {
            self.address = address
            self.port = port
            self.transport = transport
            self.sourceAddress = sourceAddress
            self.content = content
        }
    }

    /// `file NAME`: a plain file name, created in xpf's log directory (as Junos puts its
    /// files under /var/log).
    public struct SyslogFile: Sendable, Equatable {
        public var name: String
        public var content: SyslogContent
        /// `archive { files N; size S; }`; nil: the writer's defaults.
        public var archive: SyslogArchive?

        public init(name: String, content: SyslogContent = .init(), archive: SyslogArchive? = nil) {
            self.name = name
            self.content = content
            self.archive = archive
        }
    }

    /// `archive { files N; size S; }` of a syslog file: past `size` bytes the file is rotated,
    /// `files` old files are kept. nil fields take the writer's defaults.
    public struct SyslogArchive: Sendable, Equatable {
        public var files: Int?
        /// Bytes (`size 1m` = 1 000 000: Junos units are powers of ten).
        public var size: UInt64?

        public init(files: Int? = nil, size: UInt64? = nil) {
            self.files = files
            self.size = size
        }
    }

    /// `socket PATH` (xpf's own statement): a local syslog daemon's unix datagram socket.
    public struct SyslogSocket: Sendable, Equatable {
        public var path: String
        public var content: SyslogContent

        public init(path: String, content: SyslogContent = .init()) {
            self.path = path
            self.content = content
        }
    }

    /// `system services` (xpf's own statements).
    public struct Services: Sendable, Equatable {
        /// `prometheus { listen ADDRESS:PORT; }`: where xpfd serves /metrics; nil: off.
        public var prometheusListen: ListenAddress?

        public init(prometheusListen: ListenAddress? = nil) {
            self.prometheusListen = prometheusListen
        }
    }

    /// A TCP listening address: `127.0.0.1:9464`, `[::1]:9464`.
    public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
        public var address: IPAddress
        public var port: UInt16

        public init(address: IPAddress, port: UInt16) {
            self.address = address
            self.port = port
        }

        /// `A.B.C.D:PORT` or `[IPV6]:PORT`, port 1 to 65535; nil for anything else.
        public init?(_ text: String) {
            let host: Substring, portText: Substring
            if text.hasPrefix("[") {
                guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
                host = text[text.index(after: text.startIndex)..<close]
                portText = text[text.index(close, offsetBy: 2)...]
            } else {
                guard let colon = text.firstIndex(of: ":"), !text[text.index(after: colon)...].contains(":") else { return nil }
                host = text[..<colon]
                portText = text[text.index(after: colon)...]
            }
            guard let address = IPAddress(String(host)),
                  text.hasPrefix("[") == (address.family == .inet6),
                  portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = UInt16(portText), port > 0
            else { return nil }
            self.init(address: address, port: port)
        }

        public var description: String { address.family == .inet6 ? "[\(address)]:\(port)" : "\(address):\(port)" }
    }

    public struct Syslog: Sendable, Equatable {
        public var hosts: [SyslogHost]
        public var files: [SyslogFile]
        public var sockets: [SyslogSocket]

        public init(hosts: [SyslogHost] = [], files: [SyslogFile] = [], sockets: [SyslogSocket] = []) {
            self.hosts = hosts
            self.files = files
            self.sockets = sockets
        }
    }

    /// `security log` (SRX): in `event` mode security events go out through `system syslog`;
    /// in `stream` mode the dataplane also sends them to every `stream` host and writes the
    /// `file`, in `format`.
    public struct SecurityLog: Sendable, Equatable {
        public enum Mode: String, Sendable, CaseIterable {
            case event, stream
        }

        /// `syslog`: the legacy text form; `sd-syslog`: RFC 5424 structured data (brief).
        public enum Format: String, Sendable, CaseIterable {
            case syslog
            case sdSyslog = "sd-syslog"
        }

        /// `stream NAME { format F; host { ADDRESS; port P; } }`
        public struct Stream: Sendable, Equatable {
            public var name: String
            /// nil: the `security log format`.
            public var format: Format?
            public var address: IPAddress
            public var port: UInt16

            public init(name: String, format: Format? = nil, address: IPAddress, port: UInt16 = 514) {
                self.name = name
                self.format = format
                self.address = address
                self.port = port
            }
        }

        /// `file { name N; size MB; files N; }`: the local security log, in the log directory.
        public struct File: Sendable, Equatable {
            public var name: String
            /// Bytes (Junos writes megabytes).
            public var size: UInt64
            public var files: Int

            public init(name: String, size: UInt64, files: Int) {
                self.name = name
                self.size = size
                self.files = files
            }
        }

        public var mode: Mode
        public var format: Format
        public var streams: [Stream]
        public var file: File?
        /// `rate-cap N`: security events per second each worker emits per (event kind,
        /// zone of the ingress interface); nil: no cap. Holds in every mode: it protects
        /// the workers' event rings, whichever way xpfd writes the events out.
        public var rateCap: Int?

        public init(mode: Mode = .event, format: Format = .syslog, streams: [Stream] = [], file: File? = nil,
                    rateCap: Int? = nil) {
            self.mode = mode
            self.format = format
            self.streams = streams
            self.file = file
            self.rateCap = rateCap
        }
    }
}
