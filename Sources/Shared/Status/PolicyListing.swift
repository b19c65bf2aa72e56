// `show security policies [from-zone A to-zone B] [detail]` and the text of
// `show security policies hit-count`, as Junos prints them (R-12.2, issue 9 §2).
//
// The running configuration (xpfd's `show-configuration`) compiled again: the model gives
// the policies in id order (the index of their hit counter and of a session's policy)
// with their resolved prefixes and applications; the tree gives the names the operator
// wrote (address-book entries and sets, application sets), which the model has resolved.

import CXPF

public struct PolicyListing {
    public let tree: JunosTree
    public let model: ConfigModel

    public init(tree: JunosTree, model: ConfigModel) {
        self.tree = tree
        self.model = model
    }

    /// One policy as listed: where it is evaluated and what the operator wrote in `match`.
    public struct Entry {
        public var policy: ConfigModel.Policy
        /// nil for a global policy.
        public var fromZone: String?
        public var toZone: String?
        /// 1-based position in its list (Junos' sequence number).
        public var sequence: Int
        public var sourceNames: [String]
        public var destinationNames: [String]
        public var applicationNames: [String]
    }

    /// The zone-pair lists in configuration order, then the `to-zone junos-host` and the
    /// `from-zone junos-host` lists (only the pair `from` → `to` when both are given), then,
    /// without a pair, the global list.
    /// Throws for a zone the configuration does not define.
    public func entries(from: String? = nil, to: String? = nil) throws -> [Entry] {
        /// `junosHost` stands for the box's own zone, which has no index.
        let junosHost = -1
        var wanted: (Int, Int)?
        if let from, let to {
            func index(_ zone: String) throws -> Int {
                if zone == ConfigModel.junosHostZoneName { return junosHost }
                guard let z = model.zoneIndex(zone) else { throw XPFError("zone '\(zone)' is not defined") }
                return z
            }
            wanted = (try index(from), try index(to))
        }
        var out: [Entry] = []
        let pairs = model.policies.zonePairs.map { ($0.fromZone, $0.toZone, $0.policies) }
            + model.policies.toHost.map { ($0.zone, junosHost, $0.policies) }
            + model.policies.fromHost.map { (junosHost, $0.zone, $0.policies) }
        func name(_ zone: Int) -> String { zone == junosHost ? ConfigModel.junosHostZoneName : model.zones[zone].name }
        for (fromZone, toZone, policies) in pairs {
            if let wanted, wanted != (fromZone, toZone) { continue }
            let (f, t) = (name(fromZone), name(toZone))
            let context = policiesNode?.children("from-zone").filter { !$0.isInactive && $0.names == [f, "to-zone", t] } ?? []
            for (i, p) in policies.enumerated() {
                out.append(entry(p, from: f, to: t, sequence: i + 1, node: policyNode(p.name, in: context)))
            }
        }
        if wanted == nil {
            let context = policiesNode?.children("global").filter { !$0.isInactive } ?? []
            for (i, p) in model.policies.global.enumerated() {
                out.append(entry(p, from: nil, to: nil, sequence: i + 1, node: policyNode(p.name, in: context)))
            }
        }
        return out
    }

    var policiesNode: JunosNode? {
        tree.root.children("security").first { !$0.isInactive }?.children("policies").first { !$0.isInactive }
    }

    func policyNode(_ name: String, in contexts: [JunosNode]) -> JunosNode? {
        for c in contexts {
            if let p = c.children("policy").first(where: { !$0.isInactive && $0.name == name }) { return p }
        }
        return nil
    }

    func entry(_ p: ConfigModel.Policy, from: String?, to: String?, sequence: Int, node: JunosNode?) -> Entry {
        let match = node?.children("match").first { !$0.isInactive }
        func written(_ keyword: String) -> [String]? {
            let values = match?.children(keyword).filter { !$0.isInactive }.flatMap(\.values) ?? []
            return values.isEmpty ? nil : values
        }
        // The tree always has them for a compiled policy; the resolved form is the fallback.
        return Entry(policy: p, fromZone: from, toZone: to, sequence: sequence,
                     sourceNames: written("source-address") ?? p.sourceAddresses.map(\.description),
                     destinationNames: written("destination-address") ?? p.destinationAddresses.map(\.description),
                     applicationNames: written("application") ?? p.applications.map { model.applications[$0].name })
    }

    /// `Action: permit, log, count` — the action and the flags Junos lists after it.
    static func action(_ p: ConfigModel.Policy) -> String {
        var words = [p.action.rawValue]
        if p.logSessionInit || p.logSessionClose { words.append("log") }
        if p.count { words.append("count") }
        return words.joined(separator: ", ")
    }

    func zoneList(_ zones: [Int]?) -> String {
        zones.map { $0.map { model.zones[$0].name }.joined(separator: ", ") } ?? "any"
    }

    /// A `then count` policy's statistics in `show security policies detail`: its closed
    /// sessions' traffic and its hits (xpfd's counts, which follow the policy across
    /// commits) plus the traffic of its live sessions (read from their records).
    public struct Statistics: Equatable, Sendable {
        public var counts: PolicyCounts
        public var activeSessions: Int
        public var live: PolicyCounts

        public init(counts: PolicyCounts, activeSessions: Int = 0, live: PolicyCounts = PolicyCounts()) {
            self.counts = counts
            self.activeSessions = activeSessions
            self.live = live
        }

        /// Adds live session `r` (decided by this policy under the running epoch).
        public mutating func add(live r: xpf_session) {
            activeSessions += 1
            live.inputPackets &+= r.packets.0
            live.outputPackets &+= r.packets.1
            live.inputBytes &+= r.bytes.0
            live.outputBytes &+= r.bytes.1
        }

        var lines: [String] {
            let total = counts &+ live
            return ["  Policy statistics:",
                    "    Input  bytes       : \(total.inputBytes)",
                    "    Output bytes       : \(total.outputBytes)",
                    "    Input  packets     : \(total.inputPackets)",
                    "    Output packets     : \(total.outputPackets)",
                    "    Active sessions    : \(activeSessions)",
                    "    Session deletions  : \(counts.closedSessions)",
                    "    Policy lookups     : \(counts.hits)"]
        }
    }

    /// The statistics of every `then count` transit policy, by policy id: `rows` (xpfd's
    /// counts by identity) and the live sessions `sessions` of the running snapshot.
    public func statistics(rows: [PolicyHitCount], sessions: [SessionInfo], names: SessionNames) -> [Int: Statistics] {
        let byIdentity = Dictionary(rows.map { ($0.identity, $0.counts) }, uniquingKeysWith: { a, _ in a })
        let counting = Set(model.policies.all.filter(\.count).map(\.id))
        var out: [Int: Statistics] = [:]
        for (id, identity) in PolicyIdentity.all(model) where counting.contains(id) {
            out[id] = Statistics(counts: byIdentity[identity] ?? PolicyCounts())
        }
        for s in sessions where s.record.flags & UInt8(XPF_SESS_COUNT.rawValue) != 0 {
            if let id = names.policy(of: s.record).id, out[id] != nil { out[id]!.add(live: s.record) }
        }
        return out
    }

    /// The text of `show security policies [from-zone A to-zone B] [detail]`; `statistics`
    /// (by policy id) adds the `then count` policies' statistics to `detail`.
    public func text(from: String? = nil, to: String? = nil, detail: Bool = false,
                     statistics: [Int: Statistics] = [:]) throws -> String {
        let list = try entries(from: from, to: to)
        var lines = ["Default policy: \(model.policies.defaultPolicy.rawValue)"]
        var context: String?
        for e in list {
            let heading = e.fromZone.map { "From zone: \($0), To zone: \(e.toZone!)" } ?? "Global policies:"
            if detail {
                lines += detailLines(e)
                // Only transit policies have statistics (junos-host ids are not in `all`).
                if e.policy.count, model.policies.all.contains(where: { $0.id == e.policy.id }),
                   let st = statistics[e.policy.id]
                {
                    lines += st.lines
                }
                continue
            }
            if heading != context {
                lines.append(heading)
                context = heading
            }
            lines.append("  Policy: \(e.policy.name), State: enabled, Index: \(e.policy.id), Sequence number: \(e.sequence)")
            if e.fromZone == nil {
                lines.append("    From zones: \(zoneList(e.policy.fromZones))")
                lines.append("    To zones: \(zoneList(e.policy.toZones))")
            }
            lines.append("    Source addresses: \(e.sourceNames.joined(separator: ", "))")
            lines.append("    Destination addresses: \(e.destinationNames.joined(separator: ", "))")
            lines.append("    Applications: \(e.applicationNames.joined(separator: ", "))")
            lines.append("    Action: \(Self.action(e.policy))")
        }
        return lines.joined(separator: "\n")
    }

    /// One policy of `show security policies detail`: the names written, then what they
    /// resolve to (prefixes; every term of every application).
    func detailLines(_ e: Entry) -> [String] {
        let p = e.policy
        var lines = ["Policy: \(p.name), action-type: \(p.action.rawValue), State: enabled, Index: \(p.id)"]
        if let d = p.description { lines.append("  Description: \(d)") }
        lines.append("  Sequence number: \(e.sequence)")
        if let f = e.fromZone {
            lines.append("  From zone: \(f), To zone: \(e.toZone!)")
        } else {
            lines.append("  Global policy, From zones: \(zoneList(p.fromZones)), To zones: \(zoneList(p.toZones))")
        }
        lines.append("  Source addresses: \(e.sourceNames.joined(separator: ", "))")
        lines += p.sourceAddresses.map { "    \($0)" }
        lines.append("  Destination addresses: \(e.destinationNames.joined(separator: ", "))")
        lines += p.destinationAddresses.map { "    \($0)" }
        for a in p.applications {
            let app = model.applications[a]
            lines.append("  Application: \(app.name)")
            for t in app.terms {
                let term = t.name.map { "Term: \($0), " } ?? ""
                let proto = t.ipProtocol.map(SessionListing.protocolName) ?? "any"
                lines.append("    \(term)IP protocol: \(proto), Inactivity timeout: \(t.inactivityTimeout.map(String.init) ?? "default")")
                if let type = t.icmpType {
                    lines.append("      ICMP type: \(type), code: \(t.icmpCode.map(String.init) ?? "any")")
                } else if t.ipProtocol != nil {
                    lines.append("      Source port range: [\(t.sourcePorts.lowerBound)-\(t.sourcePorts.upperBound)]")
                    lines.append("      Destination port range: [\(t.destinationPorts.lowerBound)-\(t.destinationPorts.upperBound)]")
                }
            }
        }
        lines.append("  Action: \(Self.action(p))")
        var log: [String] = []
        if p.logSessionInit { log.append("at-create") }
        if p.logSessionClose { log.append("at-close") }
        if !log.isEmpty { lines.append("  Session log: \(log.joined(separator: ", "))") }
        return lines
    }

    /// The text of `show security policies hit-count`: Junos' columns, rows numbered from 1.
    public static func hitCountText(_ rows: [PolicyHitCount]) -> String {
        let header = ["Index", "From zone", "To zone", "Name", "Policy count"]
        let cells = rows.enumerated().map { i, r in [String(i + 1), r.fromZone, r.toZone, r.identity.name, String(r.count)] }
        let widths = header.indices.map { c in ([header[c]] + cells.map { $0[c] }).map(\.count).max()! }
        func line(_ words: [String]) -> String {
            var s = ""
            for (c, w) in words.enumerated() {
                s += c == words.count - 1 ? w : w + String(repeating: " ", count: widths[c] - w.count + columnGap)
            }
            return " " + s
        }
        return (["Logical system: root-logical-system", line(header)] + cells.map(line)
            + ["", "Number of policy: \(rows.count)"]).joined(separator: "\n")
    }

    static let columnGap = 3
}
