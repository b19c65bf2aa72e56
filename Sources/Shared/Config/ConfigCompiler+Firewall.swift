// Stateless filtering (R-6.x) and screens (R-7.x): prefix lists, policers, filters, and
// `security screen`.

extension ConfigCompiler {
    // MARK: - Prefix lists

    mutating func compilePrefixLists(_ policyOptions: Scope) throws {
        for stanza in policyOptions.scopes("prefix-list") {
            var prefixes: [Prefix] = []
            for entry in stanza.scopes("prefix") {
                let prefix = try entry.nameValue(keyword: "prefix-list").prefix()
                if !prefixes.contains(prefix) { prefixes.append(prefix) }
            }
            prefixListIndex[stanza.name] = model.prefixLists.count
            model.prefixLists.append(ConfigModel.PrefixList(name: stanza.name, prefixes: prefixes))
        }
    }

    // MARK: - Policers

    /// Bits per second a policer may be given: 8 kbit/s (Junos's floor) to 1 Tbit/s.
    static let bandwidthRange: ClosedRange<UInt64> = 8_000...1_000_000_000_000
    /// Bytes of burst: one full-size frame to 100 GB (Junos's ceiling).
    static let burstRange: ClosedRange<UInt64> = 1_500...100_000_000_000

    mutating func compilePolicers(_ firewall: Scope) throws {
        for stanza in firewall.scopes("policer") {
            let exceeding = stanza.scope("if-exceeding")
            guard let bandwidth = exceeding.value("bandwidth-limit") else { throw exceeding.missing("bandwidth-limit") }
            guard let burst = exceeding.value("burst-size-limit") else { throw exceeding.missing("burst-size-limit") }
            let then = stanza.scope("then")
            let discard = then.flag("discard") != nil
            let lossPriority = then.value("loss-priority").flatMap { ConfigModel.LossPriority(rawValue: $0.text) }
            let forwardingClass = then.value("forwarding-class")?.text
            guard discard || lossPriority != nil || forwardingClass != nil else {
                throw ConfigError("policer '\(stanza.name)' has no action: expected discard, loss-priority or "
                    + "forwarding-class in 'then'", at: then.location)
            }
            policerIndex[stanza.name] = model.policers.count
            model.policers.append(ConfigModel.Policer(
                name: stanza.name, bandwidthLimit: try bandwidth.scaled(in: Self.bandwidthRange, unit: "bits per second"),
                burstSizeLimit: try burst.scaled(in: Self.burstRange, unit: "bytes"), discard: discard,
                lossPriority: lossPriority, forwardingClass: forwardingClass,
                filterSpecific: stanza.flag("filter-specific") != nil))
        }
    }

    mutating func compileThreeColorPolicers(_ firewall: Scope) throws {
        for stanza in firewall.scopes("three-color-policer") {
            let single = stanza.scope("single-rate"), two = stanza.scope("two-rate")
            let rates: ConfigModel.ThreeColorPolicer.Rates
            let mode: Scope
            if let (_, second) = stanza.conflict(among: ["single-rate", "two-rate"]) {
                throw ConfigError("three-color-policer '\(stanza.name)' has both single-rate and two-rate",
                                  at: second.location)
            }
            switch (single.node, two.node) {
            case (.some, .some):
                preconditionFailure("reported above")
            case (nil, nil):
                throw ConfigError("three-color-policer '\(stanza.name)' needs single-rate or two-rate",
                                  at: stanza.location)
            case (.some, nil):
                mode = single
                rates = .singleRate(committedInformationRate: try rate(single, "committed-information-rate"),
                                    committedBurstSize: try size(single, "committed-burst-size"),
                                    excessBurstSize: try size(single, "excess-burst-size"))
            case (nil, .some):
                mode = two
                let cir = try rate(two, "committed-information-rate")
                let pir = try rate(two, "peak-information-rate")
                // RFC 2698: the peak rate is at least the committed rate.
                if pir < cir {
                    throw two.value("peak-information-rate")!.error(
                        "peak-information-rate \(two.value("peak-information-rate")!.text) is below "
                            + "committed-information-rate \(two.value("committed-information-rate")!.text)")
                }
                rates = .twoRate(committedInformationRate: cir, committedBurstSize: try size(two, "committed-burst-size"),
                                 peakInformationRate: pir, peakBurstSize: try size(two, "peak-burst-size"))
            }
            if let (_, second) = mode.conflict(among: ["color-aware", "color-blind"]) {
                throw ConfigError("three-color-policer '\(stanza.name)' is both color-aware and color-blind",
                                  at: second.location)
            }
            let discard = stanza.scope("action").scopes("loss-priority")
                .contains { $0.scope("then").flag("discard") != nil }
            threeColorPolicerIndex[stanza.name] = model.threeColorPolicers.count
            model.threeColorPolicers.append(ConfigModel.ThreeColorPolicer(
                name: stanza.name, rates: rates, colorAware: mode.flag("color-aware") != nil,
                discardHighLossPriority: discard, filterSpecific: stanza.flag("filter-specific") != nil))
        }
    }

    private func rate(_ scope: Scope, _ keyword: String) throws -> UInt64 {
        guard let value = scope.value(keyword) else { throw scope.missing(keyword) }
        return try value.scaled(in: Self.bandwidthRange, unit: "bits per second")
    }

    private func size(_ scope: Scope, _ keyword: String) throws -> UInt64 {
        guard let value = scope.value(keyword) else { throw scope.missing(keyword) }
        return try value.scaled(in: Self.burstRange, unit: "bytes")
    }

    // MARK: - Filters

    mutating func compileFilters(_ firewall: Scope) throws {
        for familyScope in firewall.scopes("family") {
            let family = Family(rawValue: familyScope.name)!
            for stanza in familyScope.scopes("filter") {
                var terms: [ConfigModel.FilterTerm] = []
                for term in stanza.scopes("term") {
                    terms.append(ConfigModel.FilterTerm(
                        name: term.name, match: try filterMatch(term.scope("from"), family: family),
                        action: try filterAction(term.scope("then"), term: term.name)))
                }
                filterIndex[family]![stanza.name] = model.filters.count
                model.filters.append(ConfigModel.Filter(name: stanza.name, family: family, terms: terms,
                                                        interfaceSpecific: stanza.flag("interface-specific") != nil))
            }
        }
    }

    private func filterMatch(_ from: Scope, family: Family) throws -> ConfigModel.FilterMatch {
        var match = ConfigModel.FilterMatch()

        /// `source-address` entries plus the entries of `source-prefix-list`'s lists: one
        /// condition on the source address (nil when neither is written).
        func addresses(_ keyword: String, lists: String) throws -> [ConfigModel.PrefixMatch]? {
            let direct = from.scope(keyword), named = from.scope(lists)
            guard direct.node != nil || named.node != nil else { return nil }
            var out: [ConfigModel.PrefixMatch] = []
            for entry in direct.scopes("entry") {
                let prefix = try entry.nameValue(keyword: keyword).prefix(inFilterOf: family)
                out.append(ConfigModel.PrefixMatch(prefix, except: entry.flag("except") != nil))
            }
            for entry in named.scopes("entry") {
                let value = entry.nameValue(keyword: lists)
                guard let index = prefixListIndex[value.text] else {
                    throw value.error("undefined prefix-list \(value.shown)")
                }
                // A list may hold both families; a filter uses the entries of its own.
                for prefix in model.prefixLists[index].prefixes where prefix.family == family {
                    out.append(ConfigModel.PrefixMatch(prefix, except: entry.flag("except") != nil))
                }
            }
            return out
        }
        match.sourceAddresses = try addresses("source-address", lists: "source-prefix-list")
        match.destinationAddresses = try addresses("destination-address", lists: "destination-prefix-list")
        match.addresses = try addresses("address", lists: "prefix-list")

        /// Junos spells some inet6 conditions differently; xpf accepts the inet spelling in
        /// both families but refuses the inet6 one in an inet filter.
        func inet6Only(_ keyword: String, insteadOf inet: String) throws -> [ConfigValue] {
            let values = from.values(keyword)
            if family == .inet, let first = values.first {
                throw first.error("'\(keyword)' is for family inet6 filters; family inet uses '\(inet)'")
            }
            return values
        }
        let protocols = from.values("protocol") + (try inet6Only("next-header", insteadOf: "protocol"))
        if !protocols.isEmpty { match.protocols = try protocols.map { try $0.ipProtocol() } }
        let dscp = from.values("dscp") + (try inet6Only("traffic-class", insteadOf: "dscp"))
        if !dscp.isEmpty { match.dscp = try dscp.map { try $0.dscp() } }

        func ports(_ keyword: String) throws -> [ClosedRange<UInt16>]? {
            let values = from.values(keyword)
            return values.isEmpty ? nil : try values.map { try $0.portRange() }
        }
        match.sourcePorts = try ports("source-port")
        match.destinationPorts = try ports("destination-port")
        match.ports = try ports("port")
        let icmpTypes = from.values("icmp-type")
        if !icmpTypes.isEmpty { match.icmpTypes = try icmpTypes.map { try $0.icmpType(family) } }
        let icmpCodes = from.values("icmp-code")
        if !icmpCodes.isEmpty { match.icmpCodes = try icmpCodes.map { try $0.byte(what: "ICMP code") } }

        // `tcp-initial` and `tcp-established` are Junos shorthands for flag expressions;
        // several flag conditions must all hold.
        var flags: [ConfigModel.TCPFlagsMatch] = []
        if let value = from.value("tcp-flags") {
            flags.append(ConfigModel.TCPFlagsMatch(text: value.text, expression: try TCPFlagsParser.parse(value)))
        }
        if from.flag("tcp-initial") != nil {
            flags.append(ConfigModel.TCPFlagsMatch(text: "syn & !ack", expression: .and(.bits(0x02), .not(.bits(0x10)))))
        }
        if from.flag("tcp-established") != nil {
            flags.append(ConfigModel.TCPFlagsMatch(text: "ack | rst", expression: .or(.bits(0x10), .bits(0x04))))
        }
        if let first = flags.first {
            match.tcpFlags = flags.dropFirst().reduce(first) { a, b in
                ConfigModel.TCPFlagsMatch(text: "(\(a.text)) & (\(b.text))", expression: .and(a.expression, b.expression))
            }
        }
        match.isFragment = from.flag("is-fragment") != nil
        match.firstFragment = from.flag("first-fragment") != nil
        let lossPriorities = from.values("loss-priority")
        if !lossPriorities.isEmpty { match.lossPriorities = lossPriorities.compactMap { ConfigModel.LossPriority(rawValue: $0.text) } }
        let classes = from.values("forwarding-class")
        if !classes.isEmpty { match.forwardingClasses = classes.map(\.text) }
        let lengths = from.values("packet-length")
        if !lengths.isEmpty { match.packetLengths = try lengths.map { try $0.packetLengthRange() } }
        return match
    }

    private func filterAction(_ then: Scope, term: String) throws -> ConfigModel.FilterAction {
        var action = ConfigModel.FilterAction()
        if let (first, second) = then.conflict(among: ["accept", "discard", "reject", "next"]) {
            // `next term` is no terminal action: Junos refuses it beside one.
            let name = { (k: String) in k == "next" ? "next term" : k }
            throw ConfigError("term '\(term)' has both \(name(first.keyword)) and \(name(second.keyword))",
                              at: second.location)
        }
        let reject = then.scope("reject")
        if let (_, second) = reject.conflict(among: Set(ConfigModel.RejectReason.allCases.map(\.rawValue))) {
            throw ConfigError("reject takes one reason", at: second.location)
        }
        if then.flag("discard") != nil {
            action.terminal = .discard
        } else if then.value("next") != nil {
            action.terminal = .nextTerm
        } else if let node = reject.node {
            // Junos's default reason is administratively-prohibited.
            let reason = node.children.first { !$0.isInactive }.flatMap { ConfigModel.RejectReason(rawValue: $0.keyword) }
            action.terminal = .reject(reason ?? .administrativelyProhibited)
        }
        action.count = then.value("count")?.text
        action.log = then.flag("log") != nil
        action.syslog = then.flag("syslog") != nil
        if let policer = then.value("policer") {
            guard let index = policerIndex[policer.text] else {
                throw policer.error("undefined policer \(policer.shown)")
            }
            action.policer = index
        }
        let threeColor = then.scope("three-color-policer")
        let single = threeColor.value("single-rate"), two = threeColor.value("two-rate")
        if let (_, second) = threeColor.conflict(among: ["single-rate", "two-rate"]) {
            throw ConfigError("three-color-policer takes single-rate or two-rate, not both", at: second.location)
        }
        if let value = single ?? two {
            guard let index = threeColorPolicerIndex[value.text] else {
                throw value.error("undefined three-color-policer \(value.shown)")
            }
            let isSingle: Bool
            if case .singleRate = model.threeColorPolicers[index].rates { isSingle = true } else { isSingle = false }
            if isSingle != (single != nil) {
                throw value.error("three-color-policer \(value.shown) is \(isSingle ? "single-rate" : "two-rate"), "
                    + "not \(isSingle ? "two-rate" : "single-rate")")
            }
            if let policer = then.value("policer") {
                throw policer.error("term '\(term)' has both a policer and a three-color-policer")
            }
            action.threeColorPolicer = index
        }
        action.forwardingClass = then.value("forwarding-class")?.text
        action.dscp = try then.value("dscp")?.dscp()
        action.lossPriority = then.value("loss-priority").flatMap { ConfigModel.LossPriority(rawValue: $0.text) }
        return action
    }

    // MARK: - Screens

    mutating func compileScreens(_ screen: Scope) throws {
        let rates = 1...1_000_000
        let windows = 1_000...1_000_000  // microseconds, as Junos
        for stanza in screen.scopes("ids-option") {
            var s = ConfigModel.Screen(name: stanza.name, alarmWithoutDrop: stanza.flag("alarm-without-drop") != nil)
            func check(_ on: Bool, _ c: ConfigModel.ScreenCheck) { if on { s.checks.insert(c) } }
            let icmp = stanza.scope("icmp"), ip = stanza.scope("ip"), tcp = stanza.scope("tcp"), udp = stanza.scope("udp")

            let icmpFlood = icmp.scope("flood")
            check(icmpFlood.node != nil, .icmpFlood)
            s.icmpFloodThreshold = try icmpFlood.number("threshold", in: rates) ?? s.icmpFloodThreshold
            check(icmp.flag("fragment") != nil, .icmpFragment)
            let sweep = icmp.scope("ip-sweep")
            check(sweep.node != nil, .ipSweep)
            s.ipSweepThreshold = try sweep.number("threshold", in: windows) ?? s.ipSweepThreshold
            check(icmp.flag("ping-death") != nil, .pingOfDeath)

            check(ip.flag("source-route-option") != nil, .ipSourceRoute)
            check(ip.flag("tear-drop") != nil, .teardrop)

            let syn = tcp.scope("syn-flood")
            if syn.node != nil {
                s.checks.insert(.synFlood)
                // R-7.2: with syn-cookie protection the flood response is a cookie, not a drop.
                if model.flow.synFloodProtectionMode == .synCookie { s.checks.insert(.synCookie) }
                let d = ConfigModel.SynFlood()
                s.synFlood = ConfigModel.SynFlood(
                    attackThreshold: try syn.number("attack-threshold", in: rates) ?? d.attackThreshold,
                    alarmThreshold: try syn.number("alarm-threshold", in: rates) ?? d.alarmThreshold,
                    sourceThreshold: try syn.number("source-threshold", in: 4...1_000_000) ?? d.sourceThreshold,
                    destinationThreshold: try syn.number("destination-threshold", in: 4...1_000_000)
                        ?? d.destinationThreshold,
                    timeout: try syn.number("timeout", in: 1...50) ?? d.timeout)
            }
            check(tcp.flag("land") != nil, .landAttack)
            check(tcp.flag("winnuke") != nil, .winnuke)
            check(tcp.flag("syn-fin") != nil, .tcpSynFin)
            check(tcp.flag("tcp-no-flag") != nil, .tcpNoFlag)
            check(tcp.flag("fin-no-ack") != nil, .tcpFinNoAck)
            check(tcp.flag("syn-frag") != nil, .synFrag)
            let scan = tcp.scope("port-scan")
            check(scan.node != nil, .portScan)
            s.portScanThreshold = try scan.number("threshold", in: windows) ?? s.portScanThreshold

            let udpFlood = udp.scope("flood")
            check(udpFlood.node != nil, .udpFlood)
            s.udpFloodThreshold = try udpFlood.number("threshold", in: rates) ?? s.udpFloodThreshold

            let limits = stanza.scope("limit-session")
            s.sessionLimitSource = try limits.number("source-ip-based", in: rates)
            s.sessionLimitDestination = try limits.number("destination-ip-based", in: rates)
            check(s.sessionLimitSource != nil, .sessionLimitSource)
            check(s.sessionLimitDestination != nil, .sessionLimitDestination)

            screenIndex[stanza.name] = model.screens.count
            model.screens.append(s)
        }
    }
}

extension ConfigValue {
    /// A `packet-length` value: `N` or `A-B`, bytes 0..65535 (an IP datagram's length).
    func packetLengthRange() throws -> ClosedRange<UInt16> {
        func length(_ word: Substring) throws -> UInt16 {
            guard !word.isEmpty, word.unicodeScalars.allSatisfy({ $0 >= "0" && $0 <= "9" }) else {
                throw error("invalid packet-length \(shown): expected a number or a range A-B")
            }
            guard let n = Int(word), n <= Int(UInt16.max) else {
                throw error("packet-length \(word) is out of range 0..\(UInt16.max)")
            }
            return UInt16(n)
        }
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        let low = try length(parts[0]), high = parts.count == 2 ? try length(parts[1]) : low
        guard low <= high else { throw error("invalid packet-length range \(shown): \(low) is above \(high)") }
        return low...high
    }
}

/// `tcp-flags` expressions: flag names (fin syn rst push ack urgent ece cwr), numeric masks
/// (`0x12`, `18`), `!`, `&`, `|` and parentheses; `&` binds tighter than `|`. A name or mask
/// holds when all its bits are set.
enum TCPFlagsParser {
    typealias Expression = ConfigModel.TCPFlagsExpression

    static func parse(_ value: ConfigValue) throws -> Expression {
        var tokens: [String] = []
        var word = ""
        for c in value.text.unicodeScalars {
            switch c {
            case "!", "&", "|", "(", ")", " ", "\t":
                if !word.isEmpty { tokens.append(word); word = "" }
                if c != " " && c != "\t" { tokens.append(String(c)) }
            default:
                word.unicodeScalars.append(c)
            }
        }
        if !word.isEmpty { tokens.append(word) }
        var pos = 0
        func fail(_ problem: String) -> ConfigError {
            value.error("invalid tcp-flags \(value.shown): \(problem)")
        }
        func peek() -> String? { pos < tokens.count ? tokens[pos] : nil }
        func orExpr() throws -> Expression {
            var e = try andExpr()
            while peek() == "|" { pos += 1; e = .or(e, try andExpr()) }
            return e
        }
        func andExpr() throws -> Expression {
            var e = try unary()
            while peek() == "&" { pos += 1; e = .and(e, try unary()) }
            return e
        }
        func unary() throws -> Expression {
            guard let t = peek() else { throw fail(tokens.isEmpty ? "empty expression" : "expression ends too early") }
            pos += 1
            switch t {
            case "!": return .not(try unary())
            case "(":
                let e = try orExpr()
                guard peek() == ")" else { throw fail("missing ')'") }
                pos += 1
                return e
            case "&", "|", ")": throw fail("unexpected '\(t)'")
            default:
                if let bit = ConfigModel.tcpFlagBits[t] { return .bits(bit) }
                if let mask = number(t) { return .bits(mask) }
                throw fail("unknown flag '\(t)' (expected fin, syn, rst, push, ack, urgent, ece, cwr or a number)")
            }
        }
        let e = try orExpr()
        if let extra = peek() { throw fail("unexpected '\(extra)'") }
        return e
    }

    /// `0x12` or `18`, 1..255.
    private static func number(_ t: String) -> UInt8? {
        let n: Int?
        if t.hasPrefix("0x") { n = Int(t.dropFirst(2), radix: 16) } else { n = Int(t) }
        guard let n, (1...255).contains(n) else { return nil }
        return UInt8(n)
    }
}
