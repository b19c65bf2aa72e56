import CXPF
@testable import Shared

/// Rebuilds a `ConfigModel` from a configuration snapshot, using only what the snapshot
/// carries and only through `ConfigSnapshotView`'s accessors; and projects a compiled
/// model onto the same information (`carried`), so the two compare field by field.
///
/// What the snapshot does not carry, and `carried` therefore drops: descriptions,
/// address books and application sets (resolved into policies), prefix lists (resolved
/// into filter terms), syslog destinations (xpfd's business), the dataplane knobs that
/// shape the region (fixed for its life), the text of tcp-flags expressions. What it
/// carries in a canonical form, and `carried` normalises alike: protocol / DSCP / ICMP
/// lists as sorted sets; tcp-flags as their truth table; policer rates in whole bytes.
enum SnapshotModelReader {
    typealias M = ConfigModel

    // MARK: Projection of a model

    static func carried(_ m: M) -> M {
        let dp = m.dataplane
        let dataplane = DataplaneConfig(interfaces: dp.interfaces, batchSize: dp.batchSize,
                                        neighborHoldMs: dp.neighborHoldMs, timeouts: dp.timeouts, busyPoll: dp.busyPoll)

        let zones = m.zones.map {
            M.Zone(name: $0.name, interfaces: $0.interfaces, hostInbound: $0.hostInbound,
                   interfaceHostInbound: $0.interfaceHostInbound, screen: $0.screen)
        }
        let applications = m.applications.map { M.Application(name: $0.name, isPredefined: $0.isPredefined, terms: $0.terms) }
        func policy(_ p: M.Policy) -> M.Policy {
            var p = p
            p.description = nil
            return p
        }
        // Zone pairs: what a worker sees is each pair's policies in order; an empty
        // context says nothing, and adjacent contexts of one pair read as one list.
        var pairs: [M.ZonePairPolicies] = []
        for pair in m.policies.zonePairs where !pair.policies.isEmpty {
            if let last = pairs.last, last.fromZone == pair.fromZone, last.toZone == pair.toZone {
                pairs[pairs.count - 1].policies += pair.policies.map(policy)
            } else {
                pairs.append(M.ZonePairPolicies(fromZone: pair.fromZone, toZone: pair.toZone,
                                                policies: pair.policies.map(policy)))
            }
        }
        let policies = M.Policies(zonePairs: pairs, global: m.policies.global.map(policy),
                                  defaultPolicy: m.policies.defaultPolicy)
        // The snapshot holds a filter once, but an interface-specific one once per attachment
        // (none when it is attached nowhere), after the others, in attachment order: the
        // reader gives them back in that order, so the projection orders them alike.
        var order = m.filters.indices.filter { !m.filters[$0].interfaceSpecific }
        for interface in m.interfaces {
            for family in [M.Family.inet, .inet6] {
                for f in interface.inputFilters(family) + interface.outputFilters(family)
                where m.filters[f].interfaceSpecific && !order.contains(f) {
                    order.append(f)
                }
            }
        }
        let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        let filters = order.map { m.filters[$0] }.map { f in
            M.Filter(name: f.name, family: f.family, terms: f.terms.map { t in
                var match = t.match
                match.protocols = match.protocols.map(sortedSet)
                match.dscp = match.dscp.map(sortedSet)
                match.icmpTypes = match.icmpTypes.map(sortedSet)
                match.icmpCodes = match.icmpCodes.map(sortedSet)
                match.tcpFlags = match.tcpFlags.map { flags in canonicalFlags { flags.matches($0) } }
                match.lossPriorities = match.lossPriorities.map { lps in M.LossPriority.allCases.filter { lps.contains($0) } }
                return M.FilterTerm(name: t.name, match: match, action: t.action)
            }, interfaceSpecific: f.interfaceSpecific)
        }
        func renumbered(_ attached: [Int]) -> [Int] { attached.map { position[$0]! } }
        let interfaces = m.interfaces.map {
            M.Interface(name: $0.name, isDataplane: $0.isDataplane, inetAddresses: $0.inetAddresses,
                        inet6Addresses: $0.inet6Addresses, inetInputFilters: renumbered($0.inetInputFilters),
                        inetOutputFilters: renumbered($0.inetOutputFilters), inet6InputFilters: renumbered($0.inet6InputFilters),
                        inet6OutputFilters: renumbered($0.inet6OutputFilters))
        }
        let policers = m.policers.map { p -> M.Policer in
            var p = p
            p.bandwidthLimit = p.bandwidthLimit / 8 * 8
            return p
        }
        let threeColor = m.threeColorPolicers.map { p -> M.ThreeColorPolicer in
            var p = p
            switch p.rates {
            case let .singleRate(cir, cbs, ebs):
                p.rates = .singleRate(committedInformationRate: cir / 8 * 8, committedBurstSize: cbs, excessBurstSize: ebs)
            case let .twoRate(cir, cbs, pir, pbs):
                p.rates = .twoRate(committedInformationRate: cir / 8 * 8, committedBurstSize: cbs,
                                   peakInformationRate: pir / 8 * 8, peakBurstSize: pbs)
            }
            return p
        }
        var nat = m.nat
        nat.sourcePools = nat.sourcePools.map { var p = $0; p.description = nil; return p }
        nat.destinationPools = nat.destinationPools.map { var p = $0; p.description = nil; return p }
        func ruleSets(_ sets: [M.NATRuleSet]) -> [M.NATRuleSet] {
            sets.map { s in
                M.NATRuleSet(name: s.name, from: s.from, to: s.to, rules: s.rules.map { r in
                    var match = r.match
                    match.protocols = sortedSet(match.protocols)
                    return M.NATRule(name: r.name, match: match, action: r.action)
                })
            }
        }
        nat.sourceRuleSets = ruleSets(nat.sourceRuleSets)
        nat.destinationRuleSets = ruleSets(nat.destinationRuleSets)
        nat.staticRuleSets = ruleSets(nat.staticRuleSets)
        return M(dataplane: dataplane, flow: M.Flow(timeouts: dp.timeouts, synFloodProtectionMode: m.flow.synFloodProtectionMode,
                                                      noSynCheck: m.flow.noSynCheck, noSequenceCheck: m.flow.noSequenceCheck),
                 interfaces: interfaces, zones: zones, applications: applications, policies: policies, filters: filters,
                 policers: policers, threeColorPolicers: threeColor, screens: m.screens, nat: nat,
                 portMirroring: m.portMirroring)
    }

    static func sortedSet(_ values: [UInt8]) -> [UInt8] { Array(Set(values)).sorted() }

    /// A tcp-flags condition by its truth table: the text is the table in hex, so two
    /// conditions compare equal exactly when they accept the same flag bytes.
    static func canonicalFlags(_ accepts: (UInt8) -> Bool) -> M.TCPFlagsMatch {
        let table = (0..<256).map { accepts(UInt8($0)) ? "1" : "0" }.joined()
        return M.TCPFlagsMatch(text: table, expression: .bits(0))
    }

    // MARK: Reconstruction from a snapshot

    static func address<T>(_ family: UInt8, _ field: T) -> M.IPAddress {
        let b = withUnsafeBytes(of: field) { Array($0) }
        precondition(b.count == 16)
        func word(_ bytes: ArraySlice<UInt8>) -> UInt64 { bytes.reduce(0) { $0 << 8 | UInt64($1) } }
        if family == 4 { return M.IPAddress(v4: UInt32(word(b[0..<4]))) }
        return M.IPAddress(v6High: word(b[0..<8]), low: word(b[8..<16]))
    }

    static func prefix(_ p: xpf_cfg_prefix) -> M.Prefix { M.Prefix(address(p.family, p.addr), length: Int(p.length)) }

    static func addressRange(_ r: xpf_cfg_addr_range) -> M.AddressRange {
        M.AddressRange(low: address(r.family, r.low), high: address(r.family, r.high))
    }

    static func family(_ f: UInt8) -> M.Family { f == 4 ? .inet : .inet6 }

    static func optional(_ i: UInt32) -> Int? { i == XPF_CFG_NONE ? nil : Int(i) }

    static func members<E: CaseIterable>(_ bits: UInt32, _: E.Type) -> [E] {
        E.allCases.enumerated().filter { bits & 1 << UInt32($0.offset) != 0 }.map(\.element)
    }

    static func hostInbound(services: UInt32, protocols: UInt32) -> M.HostInbound {
        M.HostInbound(systemServices: members(services, M.SystemService.self),
                      protocols: members(protocols, M.HostProtocol.self))
    }

    static func lossPriority(_ v: UInt8) -> M.LossPriority? { v == 0 ? nil : M.LossPriority.allCases[Int(v) - 1] }
    /// enum xpf_loss_priority's value of `lp`.
    static func lossPriorityValue(_ lp: M.LossPriority) -> UInt8 { UInt8(M.LossPriority.allCases.firstIndex(of: lp)! + 1) }

    /// One FILTERS record that holds a filter (lists are skipped): the filter's name as
    /// written — an interface-specific copy's suffix ("-IFL-i" / "-IFL-o", IFL one of the
    /// snapshot's interfaces, unit 0) taken off — and that suffix.
    struct FilterRecord {
        var record: Int
        var name: String
        var suffix: String
        var interfaceSpecific: Bool
    }

    /// What validate() says of `model`'s snapshot once `change` has corrupted its bytes:
    /// "accepted", or the error.
    static func validation(of model: M, corruptedBy change: (ConfigSnapshotView, UnsafeMutableRawPointer) -> Void) throws
        -> String
    {
        let image = try ConfigSnapshotImage(model)
        image.withView { change($0, image.bytes) }
        do {
            try image.withView { try $0.validate() }
            return "accepted"
        } catch { return "\(error)" }
    }

    static func filterRecords(_ v: ConfigSnapshotView) -> [FilterRecord] {
        let suffixes = v.interfaces.flatMap { i in ["i", "o"].map { "-\(v.string(at: i.name) ?? "").0-\($0)" } }
        return v.filters.enumerated().compactMap { record, f in
            guard f.flags & UInt8(XPF_CFG_FILTER_LIST.rawValue) == 0 else { return nil }
            let name = v.string(at: f.name) ?? ""
            guard f.flags & UInt8(XPF_CFG_FILTER_INTERFACE_SPECIFIC.rawValue) != 0,
                  let suffix = suffixes.first(where: { name.hasSuffix($0) }) else {
                return FilterRecord(record: record, name: name, suffix: "", interfaceSpecific: false)
            }
            return FilterRecord(record: record, name: String(name.dropLast(suffix.count)), suffix: suffix, interfaceSpecific: true)
        }
    }

    static func policyAction(_ v: UInt8) -> M.PolicyAction {
        switch UInt32(v) {
        case XPF_POLICY_PERMIT.rawValue: return .permit
        case XPF_POLICY_DENY.rawValue: return .deny
        default: return .reject
        }
    }

    static func model(from v: ConfigSnapshotView) -> M {
        let h = v.head.pointee
        func str(_ off: UInt32) -> String { v.string(at: off) ?? "<none>" }
        func has(_ flags: some BinaryInteger, _ bit: UInt32) -> Bool { UInt32(flags) & bit != 0 }
        func setMembers(_ set: UInt32) -> [UInt8] { (0..<256).map { UInt8($0) }.filter { v.setContains(set, $0) } }

        let timeouts = DataplaneConfig.FlowTimeouts(
            tcpEstablished: Int(h.timeout_tcp_established), tcpClosing: Int(h.timeout_tcp_closing),
            tcpInitial: Int(h.timeout_tcp_initial), udp: Int(h.timeout_udp), icmp: Int(h.timeout_icmp),
            other: Int(h.timeout_other))
        let dataplaneNames = v.interfaces.prefix(v.dataplaneInterfaceCount).map { str($0.name) }
        let dataplane = DataplaneConfig(interfaces: Array(dataplaneNames), batchSize: Int(h.batch_size),
                                        neighborHoldMs: Int(h.neigh_hold_ms), timeouts: timeouts,
                                        busyPoll: has(h.flags, XPF_CFG_F_BUSY_POLL.rawValue))
        let synMode: M.SynFloodProtectionMode? = has(h.flags, XPF_CFG_F_SYN_COOKIE.rawValue) ? .synCookie
            : has(h.flags, XPF_CFG_F_SYN_PROXY.rawValue) ? .synProxy : nil

        /// A forwarding class as the snapshot keeps it: a string, NONE for best-effort.
        func forwardingClass(_ offset: UInt32) -> String {
            offset == XPF_CFG_NONE ? M.FilterMatch.defaultForwardingClass : str(offset)
        }
        // FILTERS records → model filters: an interface-specific filter's copies are one.
        let records = filterRecords(v)
        var modelIndex: [Int: Int] = [:]       // record → model filter
        var firstRecords: [Int] = []           // model filter → its first record
        var specific: [String: Int] = [:]      // "family/name" of an interface-specific filter → model filter
        for r in records {
            let key = "\(v.filter(r.record).family)/\(r.name)"
            if r.interfaceSpecific, let f = specific[key] {
                modelIndex[r.record] = f
                continue
            }
            modelIndex[r.record] = firstRecords.count
            if r.interfaceSpecific { specific[key] = firstRecords.count }
            firstRecords.append(r.record)
        }
        /// An attachment's filters: none, one, or an input-list / output-list record's members.
        func attached(_ f: UInt32) -> [Int] {
            guard let f = optional(f) else { return [] }
            let r = v.filter(f)
            return (has(r.flags, XPF_CFG_FILTER_LIST.rawValue) ? v.indices(r.members).map { Int($0) } : [f]).map { modelIndex[$0]! }
        }
        let interfaces = v.interfaces.map { r in
            M.Interface(
                name: str(r.name), isDataplane: has(r.flags, XPF_CFG_IF_DATAPLANE.rawValue),
                inetAddresses: v.prefixes(r.addrs4).map { M.InterfaceAddress(address: address($0.family, $0.addr), prefixLength: Int($0.length)) },
                inet6Addresses: v.prefixes(r.addrs6).map { M.InterfaceAddress(address: address($0.family, $0.addr), prefixLength: Int($0.length)) },
                inetInputFilters: attached(r.filter_in4), inetOutputFilters: attached(r.filter_out4),
                inet6InputFilters: attached(r.filter_in6), inet6OutputFilters: attached(r.filter_out6))
        }
        let zones = v.zones.enumerated().map { z, r in
            var own: [Int: M.HostInbound] = [:]
            for (i, iface) in v.interfaces.enumerated() where iface.zone == UInt32(z) && has(iface.flags, XPF_CFG_IF_OWN_HOST_INBOUND.rawValue) {
                own[i] = hostInbound(services: iface.host_services, protocols: iface.host_protocols)
            }
            return M.Zone(name: str(r.name), interfaces: v.indices(r.ifaces).map { Int($0) },
                          hostInbound: hostInbound(services: r.host_services, protocols: r.host_protocols),
                          interfaceHostInbound: own, screen: optional(r.screen))
        }
        let applications = v.applications.map { a in
            M.Application(name: str(a.name), isPredefined: has(a.flags, XPF_CFG_APP_PREDEFINED.rawValue),
                          terms: v.terms(of: a).map { t in
                              M.ApplicationTerm(
                                  name: v.string(at: t.name),
                                  ipProtocol: has(t.flags, XPF_CFG_AT_ANY_PROTO.rawValue) ? nil : t.proto,
                                  sourcePorts: t.sport_low...t.sport_high, destinationPorts: t.dport_low...t.dport_high,
                                  icmpType: has(t.flags, XPF_CFG_AT_ICMP_TYPE.rawValue) ? t.icmp_type : nil,
                                  icmpCode: has(t.flags, XPF_CFG_AT_ICMP_CODE.rawValue) ? t.icmp_code : nil,
                                  inactivityTimeout: t.timeout == 0 ? nil : Int(t.timeout))
                          })
        }

        func policy(_ id: Int) -> M.Policy {
            let p = v.policy(id)
            var apps: [Int] = []
            for t in v.applicationTerms(of: p) {
                let a = Int(v.applicationTerm(Int(t)).application)
                if apps.last != a { apps.append(a) }
            }
            return M.Policy(
                id: id, name: str(p.name), sourceAddresses: v.sourceAddresses(of: p).map(prefix),
                destinationAddresses: v.destinationAddresses(of: p).map(prefix), applications: apps,
                fromZones: has(p.flags, XPF_CFG_POL_GLOBAL.rawValue) && !has(p.flags, XPF_CFG_POL_ANY_FROM.rawValue)
                    ? v.indices(p.from_zones).map { Int($0) } : nil,
                toZones: has(p.flags, XPF_CFG_POL_GLOBAL.rawValue) && !has(p.flags, XPF_CFG_POL_ANY_TO.rawValue)
                    ? v.indices(p.to_zones).map { Int($0) } : nil,
                action: policyAction(p.action), logSessionInit: has(p.flags, XPF_CFG_POL_LOG_INIT.rawValue),
                logSessionClose: has(p.flags, XPF_CFG_POL_LOG_CLOSE.rawValue), count: has(p.flags, XPF_CFG_POL_COUNT.rawValue))
        }
        var pairs: [M.ZonePairPolicies] = []
        for id in 0..<v.globalPolicies.lowerBound {
            let p = v.policy(id)
            let from = Int(p.from_zone), to = Int(p.to_zone)
            if let last = pairs.last, last.fromZone == from, last.toZone == to {
                pairs[pairs.count - 1].policies.append(policy(id))
            } else {
                pairs.append(M.ZonePairPolicies(fromZone: from, toZone: to, policies: [policy(id)]))
            }
        }
        let policies = M.Policies(zonePairs: pairs, global: v.globalPolicies.map(policy),
                                  defaultPolicy: v.defaultPolicy == XPF_POLICY_PERMIT.rawValue ? .permitAll : .denyAll)

        let filters = firstRecords.map { record in
            let f = v.filter(record)
            let copy = records.first { $0.record == record }!
            /// A counter's name as written (a copy's counters carry the copy's suffix).
            func counterName(_ c: Int) -> String { String(str(v.counter(c).name).dropLast(copy.suffix.count)) }
            return M.Filter(name: copy.name, family: family(f.family), terms: v.terms(of: f).map { t in
                func present(_ bit: xpf_term_match) -> Bool { t.match & bit.rawValue != 0 }
                func addresses(_ bit: xpf_term_match, _ r: xpf_cfg_range) -> [M.PrefixMatch]? {
                    present(bit) ? v.prefixes(r).map { M.PrefixMatch(prefix($0), except: $0.isExcept) } : nil
                }
                func ports(_ bit: xpf_term_match, _ r: xpf_cfg_range) -> [ClosedRange<UInt16>]? {
                    present(bit) ? v.portRanges(r).map { $0.low...$0.high } : nil
                }
                func set(_ bit: xpf_term_match, _ s: UInt32) -> [UInt8]? { present(bit) ? setMembers(s) : nil }
                let match = M.FilterMatch(
                    sourceAddresses: addresses(XPF_TM_SRC_ADDR, t.src_addr),
                    destinationAddresses: addresses(XPF_TM_DST_ADDR, t.dst_addr),
                    addresses: addresses(XPF_TM_ADDR, t.addr),
                    protocols: set(XPF_TM_PROTO, t.protocols),
                    sourcePorts: ports(XPF_TM_SRC_PORT, t.src_port), destinationPorts: ports(XPF_TM_DST_PORT, t.dst_port),
                    ports: ports(XPF_TM_PORT, t.port),
                    dscp: present(XPF_TM_DSCP) ? (0..<64).filter { t.dscp >> UInt64($0) & 1 != 0 }.map { UInt8($0) } : nil,
                    icmpTypes: set(XPF_TM_ICMP_TYPE, t.icmp_types), icmpCodes: set(XPF_TM_ICMP_CODE, t.icmp_codes),
                    tcpFlags: present(XPF_TM_TCP_FLAGS) ? canonicalFlags { v.setContains(t.tcp_flags, $0) } : nil,
                    isFragment: present(XPF_TM_IS_FRAGMENT), firstFragment: present(XPF_TM_FIRST_FRAGMENT),
                    lossPriorities: present(XPF_TM_LOSS_PRIORITY)
                        ? M.LossPriority.allCases.filter { t.loss_priorities >> Self.lossPriorityValue($0) & 1 != 0 } : nil,
                    packetLengths: ports(XPF_TM_PACKET_LENGTH, t.packet_length),
                    forwardingClasses: present(XPF_TM_FORWARDING_CLASS) ? v.indices(t.forwarding_classes).map(forwardingClass) : nil)
                let terminal: M.FilterTerminal
                switch UInt32(t.terminal) {
                case XPF_TERM_ACCEPT.rawValue: terminal = .accept
                case XPF_TERM_DISCARD.rawValue: terminal = .discard
                case XPF_TERM_NEXT.rawValue: terminal = .nextTerm
                default: terminal = .reject(M.RejectReason.allCases[Int(t.reject_reason)])
                }
                let action = M.FilterAction(
                    terminal: terminal, count: optional(t.counter).map(counterName),
                    log: has(t.action, XPF_TA_LOG.rawValue), syslog: has(t.action, XPF_TA_SYSLOG.rawValue),
                    policer: optional(t.policer), threeColorPolicer: optional(t.tc_policer),
                    forwardingClass: has(t.action, XPF_TA_FORWARDING_CLASS.rawValue) ? forwardingClass(t.forwarding_class) : nil,
                    dscp: has(t.action, XPF_TA_DSCP.rawValue) ? t.dscp_rewrite : nil,
                    lossPriority: lossPriority(t.loss_priority))
                return M.FilterTerm(name: str(t.name), match: match, action: action)
            }, interfaceSpecific: copy.interfaceSpecific)
        }
        let policers = v.policers.map { p in
            M.Policer(name: str(p.name), bandwidthLimit: p.rate * 8, burstSizeLimit: p.burst,
                      discard: has(p.flags, XPF_CFG_POLICER_DISCARD.rawValue), lossPriority: lossPriority(p.loss_priority),
                      forwardingClass: has(p.flags, XPF_CFG_POLICER_FORWARDING_CLASS.rawValue) ? forwardingClass(p.forwarding_class) : nil,
                      filterSpecific: has(p.flags, XPF_CFG_POLICER_FILTER_SPECIFIC.rawValue))
        }
        let threeColor = v.threeColorPolicers.map { p in
            M.ThreeColorPolicer(
                name: str(p.name),
                rates: has(p.flags, XPF_CFG_TCP_TWO_RATE.rawValue)
                    ? .twoRate(committedInformationRate: p.cir * 8, committedBurstSize: p.cbs,
                               peakInformationRate: p.pir * 8, peakBurstSize: p.pbs)
                    : .singleRate(committedInformationRate: p.cir * 8, committedBurstSize: p.cbs, excessBurstSize: p.ebs),
                colorAware: has(p.flags, XPF_CFG_TCP_COLOR_AWARE.rawValue),
                discardHighLossPriority: has(p.flags, XPF_CFG_TCP_DISCARD_RED.rawValue),
                filterSpecific: has(p.flags, XPF_CFG_TCP_FILTER_SPECIFIC.rawValue))
        }
        let screens = v.screens.map { s in
            M.Screen(name: str(s.name),
                     checks: Set(M.ScreenCheck.allCases.filter { s.checks & $0.bit != 0 }),
                     alarmWithoutDrop: has(s.flags, XPF_CFG_SCREEN_ALARM_WITHOUT_DROP.rawValue),
                     icmpFloodThreshold: Int(s.icmp_flood_pps), udpFloodThreshold: Int(s.udp_flood_pps),
                     synFlood: M.SynFlood(attackThreshold: Int(s.syn_attack_pps), alarmThreshold: Int(s.syn_alarm_pps),
                                          sourceThreshold: Int(s.syn_source_pps),
                                          destinationThreshold: Int(s.syn_destination_pps), timeout: Int(s.syn_timeout_s)),
                     portScanThreshold: Int(s.port_scan_window_us), ipSweepThreshold: Int(s.ip_sweep_window_us),
                     sessionLimitSource: optional(s.session_limit_src), sessionLimitDestination: optional(s.session_limit_dst))
        }

        var nat = M.NAT()
        nat.sourcePools = v.sourcePools.map { p in
            M.SourcePool(name: str(p.name), addresses: v.addressRanges(p.addrs).map(addressRange),
                         ports: has(p.flags, XPF_CFG_SNAT_NO_PORT_TRANSLATION.rawValue) ? .noTranslation : .range(p.port_low...p.port_high),
                         addressPersistent: has(p.flags, XPF_CFG_SNAT_ADDRESS_PERSISTENT.rawValue))
        }
        nat.destinationPools = v.destinationPools.map { p in
            M.DestinationPool(name: str(p.name), address: optional(p.addr).map { addressRange(v.addressRange($0)) },
                              port: has(p.flags, XPF_CFG_DNAT_PORT.rawValue) ? p.port : nil)
        }
        func context(_ kind: UInt8, _ r: xpf_cfg_range) -> M.NATContext? {
            let list = v.indices(r).map { Int($0) }
            switch UInt32(kind) {
            case XPF_NAT_CTX_ZONES.rawValue: return .zones(list)
            case XPF_NAT_CTX_IFACES.rawValue: return .interfaces(list)
            default: return nil
            }
        }
        func ruleSets(_ kind: ConfigSnapshotView.NATKind) -> [M.NATRuleSet] {
            v.natRuleSets(kind).map { s in
                M.NATRuleSet(name: str(s.name), from: context(s.from_kind, s.from)!, to: context(s.to_kind, s.to),
                             rules: v.natRules(of: s).map { r in
                                 let action: M.NATAction
                                 switch UInt32(r.action) {
                                 case XPF_NAT_OFF.rawValue: action = .off
                                 case XPF_NAT_INTERFACE.rawValue: action = .interface
                                 case XPF_NAT_SOURCE_POOL.rawValue: action = .sourcePool(Int(r.target))
                                 case XPF_NAT_DESTINATION_POOL.rawValue: action = .destinationPool(Int(r.target))
                                 default: action = .staticPrefix(prefix(v.prefix(Int(r.target))))
                                 }
                                 let match = M.NATMatch(
                                     sourceAddresses: v.prefixes(r.src_addr).map(prefix),
                                     destinationAddresses: v.prefixes(r.dst_addr).map(prefix),
                                     sourcePorts: v.portRanges(r.src_port).map { $0.low...$0.high },
                                     destinationPorts: v.portRanges(r.dst_port).map { $0.low...$0.high },
                                     protocols: r.protocols == XPF_CFG_NONE ? [] : setMembers(r.protocols))
                                 return M.NATRule(name: str(r.name), match: match, action: action)
                             })
            }
        }
        nat.sourceRuleSets = ruleSets(.source)
        nat.destinationRuleSets = ruleSets(.destination)
        nat.staticRuleSets = ruleSets(.static)

        let mirrors = v.mirrors.map { m in
            M.MirrorInstance(name: v.string(at: m.name), rate: Int(m.rate),
                             maximumPacketLength: m.max_packet_length == 0 ? nil : Int(m.max_packet_length),
                             ingress: v.indices(m.ingress).map { Int($0) },
                             outputs: v.outputs(of: m).map { o in
                                 M.MirrorOutput(family: family(o.family), interface: str(o.iface_name),
                                                nextHop: has(o.flags, XPF_CFG_MIRROR_NEXT_HOP.rawValue) ? address(o.family, o.next_hop) : nil)
                             })
        }

        return M(dataplane: dataplane, flow: M.Flow(timeouts: timeouts, synFloodProtectionMode: synMode,
                                                      noSynCheck: has(h.flags, XPF_CFG_F_NO_SYN_CHECK.rawValue),
                                                      noSequenceCheck: has(h.flags, XPF_CFG_F_NO_SEQUENCE_CHECK.rawValue)),
                 interfaces: interfaces, zones: zones, applications: applications, policies: policies, filters: filters,
                 policers: policers, threeColorPolicers: threeColor, screens: screens, nat: nat,
                 portMirroring: M.PortMirroring(instances: mirrors))
    }
}
