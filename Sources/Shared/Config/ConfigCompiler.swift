// From a parsed tree to a `ConfigModel`: defaults, ranges, and every rule between
// statements (references, uniqueness, overlaps). Sections are compiled in dependency order
// (what is referred to before what refers to it), so each reference is resolved by a
// lookup in a table built earlier; the first problem is thrown as a `ConfigError` at the
// value or statement that causes it.
//
// Decisions where Junos and the SPEC leave room, recorded where they are implemented:
// - An interface a zone (or NAT rule, or mirror) names must be defined under `interfaces`
//   or listed in `system dataplane interfaces`; `fw0.0` (Junos's unit 0 spelling) names
//   `fw0` when no interface is literally called `fw0.0`.
// - Prefixes that match addresses (address book, filters, prefix lists, NAT matches,
//   fast-path allowlist) may have host bits set: they are cleared, as Junos does. Interface
//   addresses keep theirs (the host part is the point).
// - A NAT pool with no address, or without an address of the family of the traffic a rule
//   sends to it, commits: makes those runtime exceptions (pool-empty,
//   pool-wrong-family). A reference to an undefined pool, a malformed or reversed port
//   range, and source pools sharing an address are commit errors.

struct ConfigCompiler {
    typealias Family = ConfigModel.Family
    typealias Prefix = ConfigModel.Prefix

    let root: Scope
    var model: ConfigModel

    /// Name → index tables, filled as sections are compiled.
    var interfaceIndex: [String: Int] = [:]
    var zoneIndex: [String: Int] = [:]
    var screenIndex: [String: Int] = [:]
    var prefixListIndex: [String: Int] = [:]
    var policerIndex: [String: Int] = [:]
    var threeColorPolicerIndex: [String: Int] = [:]
    /// Filters are per family: `inet` and `inet6` filters may share a name.
    var filterIndex: [Family: [String: Int]] = [.inet: [:], .inet6: [:]]
    var applicationIndex: [String: Int] = [:]
    var applicationSetIndex: [String: Int] = [:]
    var sourcePoolIndex: [String: Int] = [:]
    var destinationPoolIndex: [String: Int] = [:]
    /// Index of the global address book, when there is one.
    var globalBook: Int?
    var nextPolicyID = 0

    init(tree: JunosTree) {
        root = Scope(node: tree.root, path: [])
        model = ConfigModel(dataplane: DataplaneConfig(interfaces: []))
    }

    mutating func compile() throws -> ConfigModel {
        // The dataplane first: its errors (e.g. no interfaces at all) are the most basic.
        model.dataplane = try DataplaneConfig.compileDataplane(root)
        let security = root.scope("security")
        try compileFlow(security.scope("flow"))
        try compilePrefixLists(root.scope("policy-options"))
        let firewall = root.scope("firewall")
        try compilePolicers(firewall)
        try compileThreeColorPolicers(firewall)
        try compileFilters(firewall)
        try compileInterfaces(root.scope("interfaces"))
        try compileScreens(security.scope("screen"))
        try compileZones(security.scope("zones"))
        try compileAddressBooks(security)
        try compileApplications(root.scope("applications"))
        try compilePolicies(security.scope("policies"))
        try compileNAT(security.scope("nat"))
        try compilePortMirroring(root.scope("forwarding-options").scope("port-mirroring"))
        try compileSyslog(root.scope("system").scope("syslog"))
        try compileServices(root.scope("system").scope("services"))
        try compileSecurityLog(security.scope("log"))
        return model
    }

    // MARK: - System services

    mutating func compileServices(_ services: Scope) throws {
        if let listen = services.scope("prometheus").value("listen") {
            guard let address = ConfigModel.ListenAddress(listen.text) else {
                throw listen.error("prometheus listen \(listen.shown) must be ADDRESS:PORT (127.0.0.1:9464; IPv6 in brackets and quotes, \"[::1]:9464\")")
            }
            model.services.prometheusListen = address
        }
    }

    // MARK: - Flow

    mutating func compileFlow(_ flow: Scope) throws {
        model.flow.timeouts = model.dataplane.timeouts
        if let mode = flow.value("syn-flood-protection-mode") {
            model.flow.synFloodProtectionMode = ConfigModel.SynFloodProtectionMode(rawValue: mode.text)
        }
        let tcp = flow.scope("tcp-session")
        model.flow.noSynCheck = tcp.flag("no-syn-check") != nil
        model.flow.noSequenceCheck = tcp.flag("no-sequence-check") != nil
    }

    // MARK: - Interfaces

    mutating func compileInterfaces(_ interfaces: Scope) throws {
        for (i, name) in model.dataplane.interfaces.enumerated() {
            model.interfaces.append(ConfigModel.Interface(name: name, isDataplane: true))
            interfaceIndex[name] = i
        }
        // Where each address was configured first, to refuse one address on two interfaces.
        var addressOwner: [ConfigModel.IPAddress: String] = [:]
        for stanza in interfaces.scopes("interface") {
            let name = stanza.name
            try DataplaneConfig.checkInterfaceName(name, at: stanza.nameLocation)
            let index = interfaceIndex[name] ?? {
                model.interfaces.append(ConfigModel.Interface(name: name, isDataplane: false))
                interfaceIndex[name] = model.interfaces.count - 1
                return model.interfaces.count - 1
            }()
            var interface = model.interfaces[index]
            interface.description = stanza.value("description")?.text
            for unit in stanza.scopes("unit") {
                let (number, location) = try unit.nameNumber(in: 0...16385)
                // Logical units other than 0 would be VLAN subinterfaces, which xpf does not
                // model: refusing them beats silently ignoring their addresses and filters.
                guard number == 0 else {
                    throw ConfigError("unit \(number) is not supported: xpf configures unit 0 only", at: location)
                }
                for familyScope in unit.scopes("family") {
                    let family = Family(rawValue: familyScope.name)!
                    for address in familyScope.scopes("address") {
                        let value = address.nameValue()
                        guard let (prefix, _) = Prefix.parse(value.text),
                              let ip = ConfigModel.IPAddress(String(value.text.split(separator: "/")[0]))
                        else { throw value.error("invalid address \(value.shown) for 'address'") }
                        guard ip.family == family else {
                            throw value.error("\(ip.family.addressName) address \(value.shown) under family \(family)")
                        }
                        if let owner = addressOwner[ip] {
                            throw value.error("address \(ip) is already configured on interface '\(owner)'")
                        }
                        addressOwner[ip] = name
                        let a = ConfigModel.InterfaceAddress(address: ip, prefixLength: prefix.length)
                        if family == .inet { interface.inetAddresses.append(a) } else { interface.inet6Addresses.append(a) }
                    }
                    let filter = familyScope.scope("filter")
                    let input = try attachedFilters(filter, "input", family: family)
                    let output = try attachedFilters(filter, "output", family: family)
                    if family == .inet {
                        interface.inetInputFilters = input
                        interface.inetOutputFilters = output
                    } else {
                        interface.inet6InputFilters = input
                        interface.inet6OutputFilters = output
                    }
                }
            }
            model.interfaces[index] = interface
        }
    }

    /// `filter { input F; }` or `filter { input-list [ F… ]; }` (`direction` "input" or
    /// "output"): the filters in evaluation order (the parser keeps a list's values once
    /// each); Junos refuses both forms on one unit family.
    func attachedFilters(_ filter: Scope, _ direction: String, family: Family) throws -> [Int] {
        let list = filter.values(direction + "-list")
        if let single = filter.value(direction) {
            if let first = list.first {
                throw first.error("'\(direction)' and '\(direction)-list' are both set; use one of them")
            }
            return [try resolveFilter(single, family: family)]
        }
        return try list.map { try resolveFilter($0, family: family) }
    }

    func resolveFilter(_ value: ConfigValue, family: Family) throws -> Int {
        guard let index = filterIndex[family]?[value.text] else {
            throw value.error("undefined firewall filter \(value.shown) (family \(family))")
        }
        return index
    }

    /// An interface named by a zone, NAT rule-set or mirror: a known interface, or its
    /// Junos unit-0 spelling `NAME.0`.
    func resolveInterface(_ value: ConfigValue) throws -> Int {
        if let index = interfaceIndex[value.text] { return index }
        if value.text.hasSuffix(".0"), let index = interfaceIndex[String(value.text.dropLast(2))] { return index }
        throw value.error(
            "undefined interface \(value.shown) (define it under 'interfaces' or list it in 'system dataplane interfaces')")
    }

    /// `management` where a policy names a zone: the functional zone carries no transit.
    func refuseFunctionalZone(_ value: ConfigValue) throws {
        if value.text == ConfigModel.managementZoneName {
            throw value.error("functional-zone management cannot be named in a policy: it carries no transit traffic")
        }
    }

    func resolveZone(_ value: ConfigValue) throws -> Int {
        guard let index = zoneIndex[value.text] else { throw value.error("undefined zone \(value.shown)") }
        return index
    }

    // MARK: - Zones

    /// Names that mean something else where zones are named (global policies, the box's own
    /// zone, the functional zone).
    static let reservedZoneNames: Set<String> = ["any", ConfigModel.junosHostZoneName, ConfigModel.managementZoneName]

    mutating func compileZones(_ zones: Scope) throws {
        // Which zone each interface joined first, to refuse an interface in two zones.
        var owner: [Int: String] = [:]
        for stanza in zones.scopes("security-zone") {
            let name = stanza.name
            if Self.reservedZoneNames.contains(name) {
                throw stanza.nameValue().error("zone name '\(name)' is reserved")
            }
            var zone = try zoneInterfaces(stanza, name: name, owner: &owner)
            if let screen = stanza.value("screen") {
                guard let index = screenIndex[screen.text] else { throw screen.error("undefined screen \(screen.shown)") }
                zone.screen = index
            }
            zoneIndex[name] = model.zones.count
            model.zones.append(zone)
        }
        // The schema admits only `management`.
        if let stanza = zones.scopes("functional-zone").first {
            model.managementZone = try zoneInterfaces(stanza, name: stanza.name, owner: &owner)
        }
    }

    /// A zone's description, host-inbound-traffic and interfaces (each with its own
    /// host-inbound-traffic, if any); `owner` refuses an interface in two zones.
    private func zoneInterfaces(_ stanza: Scope, name: String, owner: inout [Int: String]) throws -> ConfigModel.Zone {
        var zone = ConfigModel.Zone(name: name, description: stanza.value("description")?.text)
        zone.hostInbound = try hostInbound(stanza.scope("host-inbound-traffic"))
        for entry in stanza.scope("interfaces").scopes("interface") {
            let value = entry.nameValue(keyword: "interfaces")
            let index = try resolveInterface(value)
            if let other = owner[index] {
                let interface = model.interfaces[index].name
                throw value.error(other == name
                    ? "interface '\(interface)' is listed twice in zone '\(name)'"
                    : "interface '\(interface)' is already in zone '\(other)'")
            }
            owner[index] = name
            zone.interfaces.append(index)
            let own = entry.scope("host-inbound-traffic")
            if own.node != nil { zone.interfaceHostInbound[index] = try hostInbound(own) }
        }
        return zone
    }

    /// `system-services` / `protocols` entries: `all` expands to every service, then each
    /// entry adds its service, or removes it when marked `except`. Returned in the
    /// enumeration's order so equal settings compare equal however they were written.
    func hostInbound(_ scope: Scope) throws -> ConfigModel.HostInbound {
        func resolve<E: RawRepresentable & CaseIterable & Hashable>(_ container: Scope, _ keyword: String, _: E.Type)
            -> [E] where E.RawValue == String
        {
            let entries = container.scopes(keyword)
            var set = Set<E>()
            if entries.contains(where: { $0.name == "all" && $0.flag("except") == nil }) { set = Set(E.allCases) }
            for entry in entries where entry.name != "all" {
                guard let e = E(rawValue: entry.name) else { continue }  // the schema admits only known names
                if entry.flag("except") != nil { set.remove(e) } else { set.insert(e) }
            }
            return E.allCases.filter { set.contains($0) }
        }
        return ConfigModel.HostInbound(
            systemServices: resolve(scope.scope("system-services"), "service", ConfigModel.SystemService.self),
            protocols: resolve(scope.scope("protocols"), "protocol", ConfigModel.HostProtocol.self))
    }

    // MARK: - Address books

    static let predefinedAddresses: [String: [Prefix]] = [
        "any": [.all(.inet), .all(.inet6)],
        "any-ipv4": [.all(.inet)],
        "any-ipv6": [.all(.inet6)],
    ]

    mutating func compileAddressBooks(_ security: Scope) throws {
        for stanza in security.scope("address-book").scopes("book") {
            let isGlobal = stanza.name == "global"
            var zones: [Int] = []
            for zone in stanza.scope("attach").values("zone") {
                if isGlobal {
                    throw zone.error("the global address book is seen by every zone and cannot be attached")
                }
                let index = try resolveZone(zone)
                if !zones.contains(index) { zones.append(index) }
            }
            let book = try addressBook(stanza, name: stanza.name, kind: isGlobal ? .global : .named, zones: zones)
            if isGlobal { globalBook = model.addressBooks.count }
            model.addressBooks.append(book)
        }
        for (z, zone) in root.scope("security").scope("zones").scopes("security-zone").enumerated() {
            let stanza = zone.scope("address-book")
            guard stanza.node != nil else { continue }
            model.zones[z].addressBook = model.addressBooks.count
            model.addressBooks.append(try addressBook(stanza, name: zone.name, kind: .zone(z), zones: [z]))
        }
    }

    private func addressBook(_ stanza: Scope, name: String, kind: ConfigModel.AddressBook.Kind, zones: [Int]) throws
        -> ConfigModel.AddressBook
    {
        let bookName: String
        switch kind {
        case .global: bookName = "the global address book"
        case .named: bookName = "address book '\(name)'"
        case .zone: bookName = "the address book of zone '\(name)'"
        }
        var book = ConfigModel.AddressBook(name: name, kind: kind, description: stanza.value("description")?.text,
                                           zones: zones)
        var addressIndex: [String: Int] = [:]
        for address in stanza.scopes("address") {
            let value = address.nameValue()
            if Self.predefinedAddresses[value.text] != nil {
                throw value.error("address name '\(value.text)' is predefined")
            }
            var prefixes: [Prefix] = []
            let ipPrefix = address.positional("ip-prefix", as: "address")
            let ranges = address.scopes("range-address")
            if let (_, second) = address.conflict(among: ["ip-prefix", "range-address"]) {
                throw ConfigError("address '\(value.text)' has more than one definition: give one prefix or one range-address",
                                  at: second.location)
            }
            if let ipPrefix {
                prefixes = [try ipPrefix.prefix(for: "address \(JunosNode.quoted(value.text))")]
            } else if let range = ranges.first {
                let low = try range.nameValue().address(for: "range-address")
                guard let toValue = range.value("to") else { throw range.missing("to") }
                let high = try toValue.address(for: "range-address")
                guard low.family == high.family else {
                    throw toValue.error("range-address mixes \(low.family.addressName) and \(high.family.addressName)")
                }
                guard low <= high else { throw toValue.error("range-address \(low) to \(high) is reversed") }
                prefixes = ConfigModel.AddressRange(low: low, high: high).prefixes
            } else {
                throw value.error("address '\(value.text)' needs a prefix or a range-address")
            }
            addressIndex[value.text] = book.addresses.count
            book.addresses.append(ConfigModel.Address(name: value.text, description: address.value("description")?.text,
                                                      prefixes: prefixes))
        }

        // Address sets may contain sets of the same book: flatten depth-first, refusing cycles.
        let sets = stanza.scopes("address-set")
        var setScopes: [String: Scope] = [:]
        for set in sets {
            let value = set.nameValue()
            if addressIndex[value.text] != nil {
                throw value.error("'\(value.text)' is both an address and an address-set in \(bookName)")
            }
            if Self.predefinedAddresses[value.text] != nil {
                throw value.error("address-set name '\(value.text)' is predefined")
            }
            setScopes[value.text] = set
        }
        var flattened: [String: [Prefix]] = [:]
        func flatten(_ set: Scope, trail: [String]) throws -> [Prefix] {
            if let done = flattened[set.name] { return done }
            var prefixes = Set<Prefix>()
            for member in set.scopes(anyOf: ["address", "address-set"]) {
                let value = member.nameValue()
                if member.node!.keyword == "address" {
                    guard let index = addressIndex[value.text] else {
                        throw value.error("undefined address \(value.shown) in \(bookName)")
                    }
                    prefixes.formUnion(book.addresses[index].prefixes)
                    continue
                }
                guard let inner = setScopes[value.text] else {
                    throw value.error("undefined address-set \(value.shown) in \(bookName)")
                }
                if let start = trail.firstIndex(of: value.text) {
                    let cycle = (trail[start...] + [value.text]).joined(separator: " -> ")
                    throw value.error("address-set '\(value.text)' contains itself (\(cycle))")
                }
                prefixes.formUnion(try flatten(inner, trail: trail + [value.text]))
            }
            let result = prefixes.sorted()
            flattened[set.name] = result
            return result
        }
        for set in sets {
            book.addressSets.append(ConfigModel.AddressSet(name: set.name, description: set.value("description")?.text,
                                                           prefixes: try flatten(set, trail: [set.name])))
        }
        return book
    }

    /// The prefixes an address name stands for, as seen from `zone` (nil: a global policy,
    /// which sees only the global book). A zone sees its own book and the books attached to
    /// it; the global book is the fallback.
    func resolveAddress(_ value: ConfigValue, zone: Int?) throws -> [Prefix] {
        if let predefined = Self.predefinedAddresses[value.text] { return predefined }
        func lookup(_ book: ConfigModel.AddressBook) -> [Prefix]? {
            if let a = book.addresses.first(where: { $0.name == value.text }) { return a.prefixes }
            return book.addressSets.first(where: { $0.name == value.text })?.prefixes
        }
        if let zone {
            var found: (book: ConfigModel.AddressBook, prefixes: [Prefix])?
            for book in model.addressBooks where book.kind != .global && book.zones.contains(zone) {
                guard let prefixes = lookup(book) else { continue }
                if let first = found {
                    throw value.error("address \(value.shown) is ambiguous for zone '\(model.zones[zone].name)': "
                        + "defined in \(Self.describe(first.book)) and \(Self.describe(book))")
                }
                found = (book, prefixes)
            }
            if let found { return found.prefixes }
        }
        if let global = globalBook, let prefixes = lookup(model.addressBooks[global]) { return prefixes }
        if let zone {
            throw value.error("undefined address \(value.shown) for zone '\(model.zones[zone].name)'")
        }
        throw value.error("undefined address \(value.shown) in the global address book")
    }

    static func describe(_ book: ConfigModel.AddressBook) -> String {
        switch book.kind {
        case .global: return "the global address book"
        case .named: return "address book '\(book.name)'"
        case .zone: return "the address book of zone '\(book.name)'"
        }
    }

    // MARK: - Applications

    mutating func compileApplications(_ applications: Scope) throws {
        for (i, app) in model.applications.enumerated() { applicationIndex[app.name] = i }
        for stanza in applications.scopes("application") {
            let value = stanza.nameValue()
            if let i = applicationIndex[value.text], model.applications[i].isPredefined {
                throw value.error("application name '\(value.text)' is predefined")
            }
            let terms = stanza.scopes("term")
            let topLevel = Self.applicationFields.contains { stanza.leaf($0) != nil }
            var compiled: [ConfigModel.ApplicationTerm] = []
            if terms.isEmpty {
                compiled = [try applicationTerm(stanza, name: nil)]
            } else {
                if topLevel {
                    throw value.error("application '\(value.text)' mixes terms with protocol or port statements outside them")
                }
                for term in terms { compiled.append(try applicationTerm(term, name: term.name)) }
            }
            applicationIndex[value.text] = model.applications.count
            model.applications.append(ConfigModel.Application(
                name: value.text, description: stanza.value("description")?.text, terms: compiled))
        }

        // Sets may contain sets: flatten depth-first, refusing cycles.
        let sets = applications.scopes("application-set")
        var setScopes: [String: Scope] = [:]
        for set in sets {
            let value = set.nameValue()
            if let i = applicationIndex[value.text] {
                throw value.error(model.applications[i].isPredefined
                    ? "application-set name '\(value.text)' is predefined"
                    : "'\(value.text)' is both an application and an application-set")
            }
            setScopes[value.text] = set
        }
        var flattened: [String: [Int]] = [:]
        func flatten(_ set: Scope, trail: [String]) throws -> [Int] {
            if let done = flattened[set.name] { return done }
            var members: [Int] = []
            func add(_ i: Int) { if !members.contains(i) { members.append(i) } }
            for member in set.scopes(anyOf: ["application", "application-set"]) {
                let value = member.nameValue()
                if member.node!.keyword == "application" {
                    guard let index = applicationIndex[value.text] else {
                        throw value.error("undefined application \(value.shown)")
                    }
                    add(index)
                    continue
                }
                guard let inner = setScopes[value.text] else {
                    throw value.error("undefined application-set \(value.shown)")
                }
                if let start = trail.firstIndex(of: value.text) {
                    let cycle = (trail[start...] + [value.text]).joined(separator: " -> ")
                    throw value.error("application-set '\(value.text)' contains itself (\(cycle))")
                }
                for i in try flatten(inner, trail: trail + [value.text]) { add(i) }
            }
            flattened[set.name] = members
            return members
        }
        for set in sets {
            applicationSetIndex[set.name] = model.applicationSets.count
            model.applicationSets.append(ConfigModel.ApplicationSet(
                name: set.name, description: set.value("description")?.text,
                applications: try flatten(set, trail: [set.name])))
        }
    }

    static let applicationFields = ["protocol", "source-port", "destination-port", "icmp-type", "icmp-code",
                                    "inactivity-timeout"]
    static let portProtocols: Set<UInt8> = [6, 17, 132]

    private func applicationTerm(_ scope: Scope, name: String?) throws -> ConfigModel.ApplicationTerm {
        guard let protocolValue = scope.value("protocol") else { throw scope.missing("protocol") }
        let proto = try protocolValue.ipProtocol()
        var term = ConfigModel.ApplicationTerm(name: name, ipProtocol: proto)
        for keyword in ["source-port", "destination-port"] {
            guard let value = scope.value(keyword) else { continue }
            guard Self.portProtocols.contains(proto) else {
                throw value.error("'\(keyword)' needs protocol tcp, udp or sctp (protocol is \(protocolValue.shown))")
            }
            let range = try value.portRange()
            if keyword == "source-port" { term.sourcePorts = range } else { term.destinationPorts = range }
        }
        for keyword in ["icmp-type", "icmp-code"] {
            guard let value = scope.value(keyword) else { continue }
            guard proto == 1 || proto == 58 else {
                throw value.error("'\(keyword)' needs protocol icmp or icmp6 (protocol is \(protocolValue.shown))")
            }
            if keyword == "icmp-type" {
                term.icmpType = try value.icmpType(proto == 1 ? .inet : .inet6)
            } else {
                term.icmpCode = try value.byte(what: "ICMP code")
            }
        }
        term.inactivityTimeout = try scope.number("inactivity-timeout", in: DataplaneConfig.timeoutRange)
        return term
    }

    /// Application names (or set names) to application indices, sets flattened, in
    /// first-mention order.
    func resolveApplications(_ values: [ConfigValue]) throws -> [Int] {
        var out: [Int] = []
        for value in values {
            let members: [Int]
            if let index = applicationIndex[value.text] {
                members = [index]
            } else if let set = applicationSetIndex[value.text] {
                members = model.applicationSets[set].applications
            } else {
                throw value.error("undefined application \(value.shown)")
            }
            for m in members where !out.contains(m) { out.append(m) }
        }
        return out
    }

    // MARK: - Policies

    mutating func compilePolicies(_ policies: Scope) throws {
        // junos-host contexts: (zone, context, to the box?); ids after every transit policy.
        var hostContexts: [(zone: Int, context: Scope, toHost: Bool)] = []
        for context in policies.scopes("from-zone") {
            let fromValue = context.nameValue(0, keyword: "from-zone"), toValue = context.nameValue(2, keyword: "to-zone")
            try refuseFunctionalZone(fromValue)
            try refuseFunctionalZone(toValue)
            let host = ConfigModel.junosHostZoneName
            if fromValue.text == host && toValue.text == host {
                throw toValue.error("from-zone junos-host to-zone junos-host: the box's traffic to itself never leaves it")
            }
            if fromValue.text == host || toValue.text == host {
                let zone = try resolveZone(fromValue.text == host ? toValue : fromValue)
                hostContexts.append((zone, context, toValue.text == host))
                continue
            }
            let from = try resolveZone(fromValue)
            let to = try resolveZone(toValue)
            var list: [ConfigModel.Policy] = []
            for stanza in context.scopes("policy") {
                list.append(try policy(stanza, from: from, to: to))
            }
            model.policies.zonePairs.append(ConfigModel.ZonePairPolicies(fromZone: from, toZone: to, policies: list))
        }
        for stanza in policies.scope("global").scopes("policy") {
            model.policies.global.append(try policy(stanza, from: nil, to: nil))
        }
        for (zone, context, toHost) in hostContexts {
            // The box's zone has no address book: its side's addresses come from the global book.
            let list = try context.scopes("policy").map { try policy($0, from: toHost ? zone : nil, to: toHost ? nil : zone) }
            // The BPF programs count refusals only: no events, no statistics per policy.
            for stanza in context.scopes("policy") {
                let then = stanza.scope("then")
                for keyword in ["log", "count"] {
                    if let node = then.node?.children(keyword).first(where: { !$0.isInactive }) {
                        throw ConfigError("policy '\(stanza.name)': 'then \(keyword)' is not supported on junos-host policies "
                            + "(the XDP and TC programs log nothing and count refusals only)", at: node.location)
                    }
                }
            }
            if let problem = JunosHostTable(policies: list, applications: model.applications, defaultPermit: false).problem {
                let pair = toHost ? "from-zone \(model.zones[zone].name) to-zone junos-host" : "from-zone junos-host to-zone \(model.zones[zone].name)"
                throw ConfigError("\(pair): \(problem)", at: context.location)
            }
            let entry = ConfigModel.HostPolicies(zone: zone, policies: list)
            if toHost { model.policies.toHost.append(entry) } else { model.policies.fromHost.append(entry) }
        }
        let defaults = policies.scope("default-policy")
        if let (_, second) = defaults.conflict(among: ["permit-all", "deny-all"]) {
            throw ConfigError("default-policy has both permit-all and deny-all", at: second.location)
        }
        model.policies.defaultPolicy = defaults.flag("permit-all") != nil ? .permitAll : .denyAll
    }

    /// One policy; `from`/`to` nil for a global policy (which names its zones in `match`,
    /// and sees only the global address book).
    private mutating func policy(_ stanza: Scope, from: Int?, to: Int?) throws -> ConfigModel.Policy {
        let match = stanza.scope("match")
        let isGlobal = from == nil
        var resolved: [String: [ConfigValue]] = [:]
        for keyword in ["source-address", "destination-address", "application"] {
            let values = match.values(keyword)
            if values.isEmpty { throw match.missing(keyword) }
            resolved[keyword] = values
        }
        func prefixes(_ keyword: String, zone: Int?) throws -> [Prefix] {
            var set = Set<Prefix>()
            for value in resolved[keyword]! { set.formUnion(try resolveAddress(value, zone: zone)) }
            return set.sorted()
        }
        func zones(_ keyword: String) throws -> [Int]? {
            let values = match.values(keyword)
            if values.isEmpty || values.contains(where: { $0.text == "any" }) { return nil }
            var out: [Int] = []
            for value in values {
                try refuseFunctionalZone(value)
                if value.text == ConfigModel.junosHostZoneName {
                    throw value.error("global policies do not apply to junos-host: write the policy under "
                        + "'from-zone Z to-zone junos-host'")
                }
                let z = try resolveZone(value)
                if !out.contains(z) { out.append(z) }
            }
            return out
        }

        let then = stanza.scope("then")
        if let (first, second) = then.conflict(among: ["permit", "deny", "reject"]) {
            throw ConfigError("policy '\(stanza.name)' has both \(first.keyword) and \(second.keyword)",
                              at: second.location)
        }
        let action = [ConfigModel.PolicyAction.permit, .deny, .reject].first { then.flag($0.rawValue) != nil }
        guard let action else {
            throw ConfigError("policy '\(stanza.name)' has no action: expected permit, deny or reject in 'then'",
                              at: then.location)
        }
        let log = then.scope("log")
        defer { nextPolicyID += 1 }
        return ConfigModel.Policy(
            id: nextPolicyID, name: stanza.name, description: stanza.value("description")?.text,
            sourceAddresses: try prefixes("source-address", zone: from),
            destinationAddresses: try prefixes("destination-address", zone: to),
            applications: try resolveApplications(resolved["application"]!),
            fromZones: isGlobal ? try zones("from-zone") : nil, toZones: isGlobal ? try zones("to-zone") : nil,
            action: action, logSessionInit: log.flag("session-init") != nil,
            logSessionClose: log.flag("session-close") != nil, count: then.flag("count") != nil)
    }
}
