// NAT (R-8.x), port mirroring, syslog destinations and the security log.

extension ConfigCompiler {
    // MARK: - NAT

    /// Ports a source pool may translate to.
    static let poolPortRange = 1...65535

    mutating func compileNAT(_ nat: Scope) throws {
        let source = nat.scope("source"), destination = nat.scope("destination")
        let allPersistent = source.flag("address-persistent") != nil

        // Source pools: every address of every pool is owned by at most one pool entry, or
        // two sessions could be given the same translated address and port.
        var owners: [(range: ConfigModel.AddressRange, pool: String, location: SourceLocation)] = []
        for stanza in source.scopes("pool") {
            var pool = ConfigModel.SourcePool(name: stanza.name, description: stanza.value("description")?.text,
                                              addresses: [], addressPersistent: allPersistent
                                                  || stanza.flag("address-persistent") != nil)
            for entry in stanza.scope("address").scopes("address-range") {
                let range = try poolRange(entry)
                for owner in owners {
                    guard let common = owner.range.firstCommonAddress(with: range) else { continue }
                    let other = owner.pool == stanza.name ? "another address of the same pool"
                        : "source NAT pool '\(owner.pool)'"
                    throw ConfigError("source NAT pool '\(stanza.name)' overlaps \(other) (\(common) is in both)",
                                      at: entry.nameLocation)
                }
                owners.append((range, stanza.name, entry.nameLocation))
                pool.addresses.append(range)
            }
            let port = stanza.scope("port")
            let ranges = port.scopes("range")
            if let (_, second) = port.conflict(among: ["no-translation", "range"]) {
                throw ConfigError("port has both no-translation and range", at: second.location)
            }
            if ranges.count > 1 {
                throw ConfigError("a source NAT pool has one port range", at: ranges[1].location)
            }
            if port.flag("no-translation") != nil {
                pool.ports = .noTranslation
            } else if let range = ranges.first {
                let low = try range.nameValue(keyword: "range").portNumber(in: Self.poolPortRange)
                let highValue = range.value("to")
                let high = try highValue?.portNumber(in: Self.poolPortRange) ?? low
                guard low <= high else {
                    throw highValue!.error("port range \(low) to \(high) is reversed")
                }
                pool.ports = .range(low...high)
            }
            sourcePoolIndex[stanza.name] = model.nat.sourcePools.count
            model.nat.sourcePools.append(pool)
        }

        for stanza in destination.scopes("pool") {
            let entries = stanza.scope("address").scopes("address-range")
            if entries.count > 1 {
                throw ConfigError("destination NAT pool '\(stanza.name)' has more than one address",
                                  at: entries[1].nameLocation)
            }
            var pool = ConfigModel.DestinationPool(name: stanza.name, description: stanza.value("description")?.text,
                                                   address: nil)
            if let entry = entries.first {
                if let port = entry.value("port"), entry.value("to") != nil {
                    throw port.error("a destination NAT pool address takes 'to' or 'port', not both")
                }
                pool.address = try poolRange(entry)
                pool.port = try entry.value("port")?.portNumber(in: Self.poolPortRange)
            }
            destinationPoolIndex[stanza.name] = model.nat.destinationPools.count
            model.nat.destinationPools.append(pool)
        }

        for stanza in source.scopes("rule-set") {
            let set = try ruleSet(stanza, hasTo: true) { rule in
                let then = rule.scope("then").scope("source-nat")
                return try natAction(then, rule: rule.name, pool: "source NAT pool", pools: sourcePoolIndex,
                                     interface: true, make: ConfigModel.NATAction.sourcePool)
            }
            model.nat.sourceRuleSets.append(set)
        }
        for stanza in destination.scopes("rule-set") {
            let set = try ruleSet(stanza, hasTo: false) { rule in
                let then = rule.scope("then").scope("destination-nat")
                return try natAction(then, rule: rule.name, pool: "destination NAT pool", pools: destinationPoolIndex,
                                     interface: false, make: ConfigModel.NATAction.destinationPool)
            }
            model.nat.destinationRuleSets.append(set)
        }
        for stanza in nat.scope("static").scopes("rule-set") {
            let set = try ruleSet(stanza, hasTo: false) { rule in
                let match = rule.scope("match")
                guard let original = match.value("destination-address") else { throw match.missing("destination-address") }
                let prefixScope = rule.scope("then").scope("static-nat").scope("prefix")
                guard let mapped = prefixScope.positional("address-prefix", as: "static-nat prefix") else {
                    throw rule.scope("then").scope("static-nat").missing("prefix")
                }
                let from = try original.prefix(), to = try mapped.prefix()
                // 1:1 NAT maps address n of one prefix onto address n of the other.
                guard from.family == to.family, from.length == to.length else {
                    throw mapped.error("static-nat prefix \(to) does not match destination-address \(from): "
                        + "static NAT maps one prefix onto another of the same family and length")
                }
                return .staticPrefix(to)
            }
            model.nat.staticRuleSets.append(set)
        }
    }

    /// A pool entry: `A/P` (every address of the prefix), or `A to B` (prefix lengths, if
    /// written, are ignored: the addresses bound the range, as in Junos).
    private func poolRange(_ entry: Scope) throws -> ConfigModel.AddressRange {
        let first = entry.nameValue(keyword: "address")
        guard let (prefix, _) = Prefix.parse(first.text) else {
            throw first.error("invalid address \(first.shown) for 'address'")
        }
        guard let toValue = entry.value("to") else { return prefix.range }
        let low = try Self.addressPart(first), high = try Self.addressPart(toValue)
        guard low.family == high.family else {
            throw toValue.error("address range mixes \(low.family.addressName) and \(high.family.addressName)")
        }
        guard low <= high else { throw toValue.error("address range \(low) to \(high) is reversed") }
        return ConfigModel.AddressRange(low: low, high: high)
    }

    /// The address of `A` or `A/P`.
    private static func addressPart(_ value: ConfigValue) throws -> ConfigModel.IPAddress {
        guard Prefix.parse(value.text) != nil,
              let address = ConfigModel.IPAddress(String(value.text.split(separator: "/")[0]))
        else { throw value.error("invalid address \(value.shown) for '\(value.keyword)'") }
        return address
    }

    private func natAction(_ then: Scope, rule: String, pool: String, pools: [String: Int], interface: Bool,
                           make: (Int) -> ConfigModel.NATAction) throws -> ConfigModel.NATAction
    {
        guard then.node != nil else { throw ConfigError("missing required statement '\(then.pathText)'", at: then.location) }
        if let (first, second) = then.conflict(among: ["off", "interface", "pool"]) {
            throw ConfigError("rule '\(rule)' has both \(first.keyword) and \(second.keyword)", at: second.location)
        }
        if then.flag("off") != nil { return .off }
        if interface && then.flag("interface") != nil { return .interface }
        let poolScope = then.scope("pool")
        guard poolScope.node != nil else {
            throw ConfigError("rule '\(rule)' has no translation: expected "
                + (interface ? "off, interface or pool" : "off or pool"), at: then.location)
        }
        guard let name = poolScope.positional("pool-name", as: "pool") else {
            throw ConfigError("missing pool name after '\(poolScope.pathText)'", at: poolScope.location)
        }
        guard let index = pools[name.text] else { throw name.error("undefined \(pool) \(name.shown)") }
        return make(index)
    }

    private func ruleSet(_ stanza: Scope, hasTo: Bool,
                                  action: (Scope) throws -> ConfigModel.NATAction) throws -> ConfigModel.NATRuleSet
    {
        guard let from = try natContext(stanza.scope("from")) else { throw stanza.missing("from") }
        var to: ConfigModel.NATContext?
        if hasTo {
            guard let context = try natContext(stanza.scope("to")) else { throw stanza.missing("to") }
            to = context
        }
        var rules: [ConfigModel.NATRule] = []
        for rule in stanza.scopes("rule") {
            let match = rule.scope("match")
            var m = ConfigModel.NATMatch()
            m.sourceAddresses = try match.values("source-address").map { try $0.prefix() }
            m.destinationAddresses = try match.values("destination-address").map { try $0.prefix() }
            m.protocols = try match.values("protocol").map { try $0.ipProtocol() }
            m.sourcePorts = try natPorts(match.scope("source-port"))
            m.destinationPorts = try natPorts(match.scope("destination-port"))
            rules.append(ConfigModel.NATRule(name: rule.name, description: rule.value("description")?.text, match: m,
                                             action: try action(rule)))
        }
        return ConfigModel.NATRuleSet(name: stanza.name, description: stanza.value("description")?.text, from: from,
                                      to: to, rules: rules)
    }

    private func natContext(_ scope: Scope) throws -> ConfigModel.NATContext? {
        let zones = scope.values("zone"), interfaces = scope.values("interface")
        if let (_, second) = scope.conflict(among: ["zone", "interface"]) {
            throw ConfigError("'\(scope.path.last!)' takes zones or interfaces, not both", at: second.location)
        }
        if !zones.isEmpty { return .zones(try zones.map { try resolveZone($0) }) }
        if !interfaces.isEmpty { return .interfaces(try interfaces.map { try resolveInterface($0) }) }
        return nil
    }

    private func natPorts(_ scope: Scope) throws -> [ClosedRange<UInt16>] {
        try scope.scopes("port").map { entry in
            let keyword = scope.path.last!
            let low = try entry.nameValue(keyword: keyword).portNumber(in: 0...65535)
            let toValue = entry.value("to")
            let high = try toValue?.portNumber(in: 0...65535) ?? low
            guard low <= high else { throw toValue!.error("port range \(low) to \(high) is reversed") }
            return low...high
        }
    }

    // MARK: - Port mirroring

    mutating func compilePortMirroring(_ mirroring: Scope) throws {
        var instances: [(name: String?, scope: Scope)] = []
        if mirroring.scope("input").node != nil || !mirroring.scopes("family").isEmpty {
            instances.append((nil, mirroring))
        }
        for instance in mirroring.scopes("instance") { instances.append((instance.name, instance)) }

        var mirroredBy: [Int: String?] = [:]
        for (name, scope) in instances {
            let input = scope.scope("input")
            var instance = ConfigModel.MirrorInstance(
                name: name, rate: try input.number("rate", in: 1...65535) ?? 1,
                maximumPacketLength: try input.number("maximum-packet-length", in: 1...65535))
            for value in input.scope("ingress").values("interface") {
                let index = try resolveInterface(value)
                // one ingress interface, one instance; two would each want every packet.
                if let other = mirroredBy[index] {
                    let by = other.map { "instance '\($0)'" } ?? "'forwarding-options port-mirroring'"
                    throw value.error("interface '\(model.interfaces[index].name)' is already mirrored by \(by)")
                }
                mirroredBy[index] = name
                instance.ingress.append(index)
            }
            for familyScope in scope.scopes("family") {
                let family = Family(rawValue: familyScope.name)!
                for output in familyScope.scope("output").scopes("interface") {
                    var nextHop: ConfigModel.IPAddress?
                    if let value = output.value("next-hop") {
                        let address = try value.address()
                        guard address.family == family else {
                            throw value.error("\(address.family.addressName) next-hop \(value.shown) under family \(family)")
                        }
                        nextHop = address
                    }
                    instance.outputs.append(ConfigModel.MirrorOutput(family: family, interface: output.name,
                                                                     nextHop: nextHop))
                }
            }
            if !instance.ingress.isEmpty && instance.outputs.isEmpty {
                let what = name.map { "port-mirroring instance '\($0)'" } ?? "port-mirroring"
                throw ConfigError("\(what) mirrors ingress traffic but has no output (family inet|inet6 output interface)",
                                  at: scope.location)
            }
            model.portMirroring.instances.append(instance)
        }
    }

    // MARK: - Syslog

    mutating func compileSyslog(_ syslog: Scope) throws {
        for host in syslog.scopes("host") {
            let value = host.nameValue()
            guard let address = ConfigModel.IPAddress(value.text) else {
                throw value.error("syslog host \(value.shown) must be an IP address")
            }
            model.syslog.hosts.append(ConfigModel.SyslogHost(
                address: address, port: UInt16(try host.number("port", in: 1...65535) ?? 514),
                transport: .udp, sourceAddress: try host.value("source-address")?.address(),
                content: syslogContent(host)))
        }
        for file in syslog.scopes("file") {
            let value = file.nameValue()
            // Junos file names are names, not paths: they live in the log directory.
            if value.text.isEmpty || value.text == "." || value.text == ".." || value.text.contains("/") {
                throw value.error("syslog file \(value.shown) must be a file name, not a path")
            }
            model.syslog.files.append(ConfigModel.SyslogFile(
                name: value.text, content: syslogContent(file), archive: try syslogArchive(file.scope("archive"))))
        }
        for socket in syslog.scopes("socket") {
            let value = socket.nameValue()
            guard value.text.hasPrefix("/") else {
                throw value.error("syslog socket \(value.shown) must be an absolute path")
            }
            model.syslog.sockets.append(ConfigModel.SyslogSocket(path: value.text, content: syslogContent(socket)))
        }
    }

    /// Junos's limits for `archive`: 1 to 1000 files of 64 KB to 1 GB.
    static let archiveFiles = 1...1000
    static let archiveSize: ClosedRange<UInt64> = 64_000...1_000_000_000

    private func syslogArchive(_ archive: Scope) throws -> ConfigModel.SyslogArchive? {
        guard archive.node != nil else { return nil }
        return ConfigModel.SyslogArchive(
            files: try archive.number("files", in: Self.archiveFiles),
            size: try archive.value("size")?.scaled(in: Self.archiveSize, unit: "bytes"))
    }

    /// Limits of `security log file`: sizes in megabytes, as Junos writes them.
    static let securityLogFileMegabytes = 1...1000
    static let securityLogFiles = 1...1000
    static let bytesPerMegabyte: UInt64 = 1_000_000
    /// xpf's defaults when `security log file` leaves size or files out.
    static let defaultSecurityLogFileMegabytes = 1
    static let defaultSecurityLogFiles = 3

    /// `security log rate-cap`: events per second (per worker, event kind and zone).
    static let securityLogRateCap = 0...1_000_000

    mutating func compileSecurityLog(_ log: Scope) throws {
        var result = ConfigModel.SecurityLog()
        result.rateCap = try log.number("rate-cap", in: Self.securityLogRateCap)
        // The schema admits only the enums' spellings.
        if let mode = log.value("mode") { result.mode = ConfigModel.SecurityLog.Mode(rawValue: mode.text)! }
        if let format = log.value("format") { result.format = ConfigModel.SecurityLog.Format(rawValue: format.text)! }
        for stream in log.scopes("stream") {
            guard result.mode == .stream else {
                throw ConfigError("security log stream '\(stream.name)' needs 'security log mode stream' "
                    + "(in event mode security logs go through system syslog)", at: stream.location)
            }
            let host = stream.scope("host")
            guard let address = host.positional("address", as: "host") else { throw stream.missing("host") }
            result.streams.append(ConfigModel.SecurityLog.Stream(
                name: stream.name,
                format: stream.value("format").map { ConfigModel.SecurityLog.Format(rawValue: $0.text)! },
                address: try address.address(), port: UInt16(try host.number("port", in: 1...65535) ?? 514)))
        }
        let file = log.scope("file")
        if file.node != nil {
            guard result.mode == .stream else {
                throw ConfigError("security log file needs 'security log mode stream' "
                    + "(in event mode security logs go through system syslog)", at: file.location)
            }
            guard let name = file.value("name") else { throw file.missing("name") }
            if name.text.isEmpty || name.text == "." || name.text == ".." || name.text.contains("/") {
                throw name.error("security log file \(name.shown) must be a file name, not a path")
            }
            let megabytes = try file.number("size", in: Self.securityLogFileMegabytes) ?? Self.defaultSecurityLogFileMegabytes
            result.file = ConfigModel.SecurityLog.File(
                name: name.text, size: UInt64(megabytes) * Self.bytesPerMegabyte,
                files: try file.number("files", in: Self.securityLogFiles) ?? Self.defaultSecurityLogFiles)
        }
        model.securityLog = result
    }

    /// Selectors in the order written; the schema admits only known facility and severity names.
    private func syslogContent(_ scope: Scope) -> ConfigModel.SyslogContent {
        var content = ConfigModel.SyslogContent()
        for child in scope.node?.children ?? [] where !child.isInactive {
            guard let facility = ConfigModel.SyslogFacility(rawValue: child.keyword),
                  let severity = child.values.first.flatMap(ConfigModel.SyslogSeverity.init(rawValue:))
            else { continue }
            content.selectors.append(ConfigModel.SyslogSelector(facility: facility, severity: severity))
        }
        content.match = scope.value("match")?.text
        let structured = scope.scope("structured-data")
        content.structuredData = structured.node != nil
        content.brief = structured.flag("brief") != nil
        return content
    }
}
