// Firewall filter counters that survive commits (`show firewall`, `clear firewall`, /metrics;
// issue 10 §4).
//
// Workers count per term and per named counter (`then count C`) in struct xpf_filter_hits
// (Pipeline/FilterCounters.swift): rows indexed by TERMS and COUNTERS index, banked with the
// policy ids. An index means something only under one configuration, and a commit that
// changes filters or their attachments starts a new policy epoch, which flips the bank. So
// the filter rows follow exactly the policy hit counters' protocol (PolicyHitCounts.swift):
// PolicyHitCounts drives this type — `flipped()` right after it published a flip,
// `harvest()` once every live worker acknowledged that generation (its acquire load of
// config_generation_seen makes the workers' last counts in the old bank visible), before
// the next flip may reuse the bank. xpfd keeps the lasting counts per identity:
//
//   a term    (family, filter name, term name)
//   a counter (family, filter name, counter name)
//
// so a filter's counts go on across commits that renumber its rows, and a filter, term or
// counter removed is gone for good (written again later, it starts from zero, as on Junos).
//
// `clear firewall` cannot zero a bank a worker writes: it remembers each identity's lifetime
// count at that moment (`clearedAt`), and `show firewall` prints the lifetime count minus
// that. /metrics exports the lifetime counts (Prometheus counters only grow). Only xpfd runs
// this type; it is single-threaded.
import CXPF

/// What a firewall count belongs to, across commits.
public struct FilterCountIdentity: Hashable, Sendable {
    public enum Kind: String, Sendable {
        /// A term's own count: every packet the term matched.
        case term
        /// A named counter (`then count C`), shared by the filter's terms that name it.
        case counter
    }

    public var kind: Kind
    public var family: ConfigModel.Family
    public var filter: String
    /// The term's or the counter's name.
    public var name: String

    public init(_ kind: Kind, family: ConfigModel.Family, filter: String, name: String) {
        self.kind = kind
        self.family = family
        self.filter = filter
        self.name = name
    }
}

/// Packets and bytes (of the IP datagram, as Junos counts).
public struct FilterTraffic: Equatable, Sendable {
    public var packets: UInt64
    public var bytes: UInt64

    public init(packets: UInt64 = 0, bytes: UInt64 = 0) {
        self.packets = packets
        self.bytes = bytes
    }

    var isZero: Bool { packets == 0 && bytes == 0 }

    static func &+ (a: FilterTraffic, b: FilterTraffic) -> FilterTraffic {
        FilterTraffic(packets: a.packets &+ b.packets, bytes: a.bytes &+ b.bytes)
    }

    static func &- (a: FilterTraffic, b: FilterTraffic) -> FilterTraffic {
        FilterTraffic(packets: a.packets &- b.packets, bytes: a.bytes &- b.bytes)
    }
}

/// One filter of the running configuration and its counts: what `show firewall` prints.
public struct FirewallFilterCounts: Equatable, Sendable {
    /// A named counter's or a term's counts.
    public struct Row: Equatable, Sendable {
        public var name: String
        public var traffic: FilterTraffic

        public init(_ name: String, _ traffic: FilterTraffic) {
            self.name = name
            self.traffic = traffic
        }
    }

    public var family: ConfigModel.Family
    public var name: String
    /// Named counters, in the order the filter's terms first name them.
    public var counters: [Row]
    /// Every term, in order.
    public var terms: [Row]

    public init(family: ConfigModel.Family, name: String, counters: [Row], terms: [Row]) {
        self.family = family
        self.name = name
        self.counters = counters
        self.terms = terms
    }
}

/// xpfd's firewall filter counts per identity (see the file header for the protocol).
public struct FilterCounts {
    /// What the rows of one bank mean: the filters of the configuration that counts in it.
    struct Layout {
        struct Filter {
            var family: ConfigModel.Family
            var name: String
            /// TERMS indices, in order.
            var terms: Range<Int>
            /// COUNTERS indices of the filter's named counters, in index order.
            var counters: [Int]
        }

        var bank: UInt32
        var filters: [Filter]
        /// By TERMS index.
        var terms: [FilterCountIdentity]
        /// By COUNTERS index.
        var counters: [FilterCountIdentity]

        subscript(_ t: FilterCounters.Table) -> [FilterCountIdentity] { t == .term ? terms : counters }

        /// The layout of `region`'s running snapshot (xpfd published it: it is valid).
        init(_ region: ShmRegion) {
            let view = region.configView(slot: region.current(.config).slot)
            func name(_ offset: UInt32) -> String { view.string(at: offset) ?? "#\(offset)" }
            var filters = view.filters.map { f in
                Filter(family: f.family == Self.inet6Family ? .inet6 : .inet, name: name(f.name),
                       terms: Int(f.terms.first)..<Int(f.terms.first + f.terms.count), counters: [])
            }
            var counters: [FilterCountIdentity] = []
            for (i, c) in view.counters.enumerated() {
                filters[Int(c.filter)].counters.append(i)
                let f = filters[Int(c.filter)]
                counters.append(FilterCountIdentity(.counter, family: f.family, filter: f.name, name: name(c.name)))
            }
            terms = view.records(XPF_CFG_SEC_TERMS, as: xpf_cfg_term.self).map { t in
                let f = filters[Int(t.filter)]
                return FilterCountIdentity(.term, family: f.family, filter: f.name, name: name(t.name))
            }
            bank = view.head.pointee.policy_bank
            self.filters = filters
            self.counters = counters
        }

        /// xpf_cfg_filter.family of an inet6 filter.
        static let inet6Family: UInt8 = 6
    }

    /// One value per row of the term table and of the counter table.
    struct PerRow<Value> {
        var term: [Value]
        var counter: [Value]

        subscript(_ t: FilterCounters.Table) -> [Value] {
            get { t == .term ? term : counter }
            set { if t == .term { term = newValue } else { counter = newValue } }
        }
    }

    static let tables: [FilterCounters.Table] = [.term, .counter]

    let region: ShmRegion
    var current: Layout
    /// The previous epoch's layout while some live worker may still count in its bank.
    var unharvested: Layout?
    /// Counts collected from harvested banks, by identity (lifetime: `clear` leaves them).
    var totals: [FilterCountIdentity: FilterTraffic] = [:]
    /// Each identity's lifetime count at the last `clear firewall` that covered it.
    var clearedAt: [FilterCountIdentity: FilterTraffic] = [:]
    /// Per row of the running layout: its identity's total (what `totals` holds for it), so
    /// a read adds banks to arrays instead of hashing names. xpfd reads once a second for
    /// /metrics: with 8192 terms and 8192 counters on 4 queues, a debug build took 1.5 ms
    /// for the row sums and 5.5 ms for the whole listing (178 ms when every read summed
    /// into dictionaries by identity).
    var base: PerRow<FilterTraffic>
    /// Per row of the unharvested layout: the running row with the same identity, if any.
    var carried = PerRow<Int?>(term: [], counter: [])

    /// Counts from now on, starting with `region`'s running configuration.
    public init(region: ShmRegion) {
        self.region = region
        current = Layout(region)
        base = PerRow(term: [], counter: [])
        rebase()
    }

    /// `base` from `totals` for the running layout.
    mutating func rebase() {
        for t in Self.tables { base[t] = current[t].map { totals[$0] ?? FilterTraffic() } }
    }

    /// PolicyHitCounts published a flip: the running layout's bank waits for its harvest,
    /// the new snapshot's layout counts from now on.
    mutating func flipped() {
        let old = current
        unharvested = old
        current = Layout(region)
        for t in Self.tables {
            var row: [FilterCountIdentity: Int] = [:]
            for (i, identity) in current[t].enumerated() { row[identity] = i }
            carried[t] = old[t].map { row[$0] }
        }
        rebase()
    }

    /// Adds the previous epoch's bank to the totals and zeroes its rows. Only when no live
    /// worker counts there any more (PolicyHitCounts.harvestIfReady checks that first).
    mutating func harvest() {
        guard let old = unharvested else { return }
        for t in Self.tables {
            var sums = old[t].map { _ in FilterTraffic() }
            for q in 0..<region.queues { add(bank: old.bank, t, q, into: &sums) }
            for (identity, n) in zip(old[t], sums) where !n.isZero {
                totals[identity] = (totals[identity] ?? FilterTraffic()) &+ n
            }
            for q in 0..<region.queues {
                // Relaxed: no worker writes this bank now; the release store of the next
                // flip's config_current publishes the zeroes to the workers that will count here.
                let rows = FilterCounters.rows(region.filterHits(q), t, bank: old.bank)
                for row in old[t].indices { FilterCounters.zero(rows, row) }
            }
        }
        unharvested = nil
        carried = PerRow(term: [], counter: [])
        let live = Set(current.terms + current.counters)
        totals = totals.filter { live.contains($0.key) }
        clearedAt = clearedAt.filter { live.contains($0.key) }
        rebase()
    }

    /// `clear firewall all` (`filter` nil) or `clear firewall filter F` (every family's
    /// filter F): those counts start again from zero. Throws when no filter is named `filter`.
    public mutating func clear(filter: String? = nil) throws {
        let chosen = current.filters.filter { filter == nil || $0.name == filter }
        if let filter, chosen.isEmpty { throw FirewallListing.unknownFilter(filter) }
        let lifetime = self.lifetime()
        for f in chosen {
            for row in f.terms { clearedAt[current.terms[row]] = lifetime.term[row] }
            for row in f.counters { clearedAt[current.counters[row]] = lifetime.counter[row] }
        }
    }

    /// The running filters' counts since the last `clear firewall` (`show firewall`), in
    /// configuration order.
    public func counts() -> [FirewallFilterCounts] { listing(sinceClear: true) }

    /// The running filters' counts since each identity appeared, `clear` ignored (/metrics).
    public func lifetimeCounts() -> [FirewallFilterCounts] { listing(sinceClear: false) }

    func listing(sinceClear: Bool) -> [FirewallFilterCounts] {
        let lifetime = self.lifetime()
        func row(_ t: FilterCounters.Table, _ i: Int) -> FirewallFilterCounts.Row {
            let identity = current[t][i]
            var n = lifetime[t][i]
            if sinceClear, let start = clearedAt[identity] { n = n &- start }
            return .init(identity.name, n)
        }
        return current.filters.map { f in
            FirewallFilterCounts(family: f.family, name: f.name, counters: f.counters.map { row(.counter, $0) },
                                 terms: f.terms.map { row(.term, $0) })
        }
    }

    /// Every running row's count since its identity appeared: harvested (`base`), plus the
    /// unharvested bank's row of the same identity, plus the running bank.
    func lifetime() -> PerRow<FilterTraffic> {
        var out = base
        for t in Self.tables {
            for q in 0..<region.queues {
                add(bank: current.bank, t, q, into: &out[t])
                if let old = unharvested {
                    var sums = old[t].map { _ in FilterTraffic() }
                    add(bank: old.bank, t, q, into: &sums)
                    for (i, n) in sums.enumerated() { if let to = carried[t][i] { out[t][to] = out[t][to] &+ n } }
                }
            }
        }
        return out
    }

    /// Adds worker `q`'s rows of table `t` in `bank` to `sums` (one per row).
    func add(bank: UInt32, _ t: FilterCounters.Table, _ q: Int, into sums: inout [FilterTraffic]) {
        let rows = FilterCounters.rows(region.filterHits(q), t, bank: bank)
        for i in sums.indices {
            let n = FilterCounters.read(rows, i)  // single writer: that worker
            sums[i] = sums[i] &+ FilterTraffic(packets: n.packets, bytes: n.bytes)
        }
    }
}

// MARK: - Control reply and text

extension FirewallFilterCounts {
    // The control reply (xpfd → xpfctl): one line per filter, then one per named counter and
    // per term of that filter, tab-separated (Junos names hold no tabs or newlines):
    //   filter  FAMILY  NAME
    //   counter NAME    PACKETS  BYTES
    //   term    NAME    PACKETS  BYTES
    static let filterKind = "filter", counterKind = "counter", termKind = "term"
    static let separator: Character = "\t"

    /// This filter as lines of the control reply.
    public var lines: [String] {
        let s = String(Self.separator)
        func row(_ kind: String, _ r: Row) -> String {
            [kind, r.name, String(r.traffic.packets), String(r.traffic.bytes)].joined(separator: s)
        }
        return [[Self.filterKind, family.rawValue, name].joined(separator: s)]
            + counters.map { row(Self.counterKind, $0) } + terms.map { row(Self.termKind, $0) }
    }

    /// The filters of a control reply (`lines` of each, joined by newlines), or nil when a
    /// line is not one of them.
    public static func parse(reply: String) -> [FirewallFilterCounts]? {
        var out: [FirewallFilterCounts] = []
        for l in reply.split(separator: "\n") {
            let f = l.split(separator: separator, omittingEmptySubsequences: false).map(String.init)
            switch f.first {
            case filterKind:
                guard f.count == 3, let family = ConfigModel.Family(rawValue: f[1]) else { return nil }
                out.append(FirewallFilterCounts(family: family, name: f[2], counters: [], terms: []))
            case counterKind, termKind:
                guard f.count == 4, let packets = UInt64(f[2]), let bytes = UInt64(f[3]), !out.isEmpty else { return nil }
                let r = Row(f[1], FilterTraffic(packets: packets, bytes: bytes))
                if f[0] == counterKind { out[out.count - 1].counters.append(r) } else { out[out.count - 1].terms.append(r) }
            default: return nil
            }
        }
        return out
    }
}

/// `show firewall [filter F] [counter C]` as Junos prints it, with the terms' own counts
/// added (an xpf extension).
public enum FirewallListing {
    static func unknownFilter(_ name: String) -> XPFError {
        XPFError("no firewall filter \(name) in the running configuration")
    }

    /// The filters `show firewall [filter F] [counter C]` prints: every one, every family's
    /// filter F, or its counter C only (no terms then). Throws for an unknown filter or
    /// counter.
    public static func select(_ filters: [FirewallFilterCounts], filter: String? = nil, counter: String? = nil) throws
        -> [FirewallFilterCounts]
    {
        guard let filter else { return filters }
        var chosen = filters.filter { $0.name == filter }
        if chosen.isEmpty { throw unknownFilter(filter) }
        guard let counter else { return chosen }
        for i in chosen.indices {
            chosen[i].counters = chosen[i].counters.filter { $0.name == counter }
            chosen[i].terms = []
        }
        chosen = chosen.filter { !$0.counters.isEmpty }
        if chosen.isEmpty { throw XPFError("firewall filter \(filter) has no counter \(counter)") }
        return chosen
    }

    /// Junos' columns: names left, bytes right-aligned to column 57, packets to column 78.
    /// A block per filter, blank lines between; "Counters:" when the filter has named
    /// counters, "Terms:" (xpf) when terms are listed. A name that both families use for a
    /// filter says which one: "Filter: F (inet6)".
    public static func text(_ filters: [FirewallFilterCounts]) -> String {
        var names: [String: Int] = [:]
        for f in filters { names[f.name, default: 0] += 1 }
        var blocks: [String] = []
        for f in filters {
            var lines = ["Filter: \(f.name)" + (names[f.name]! > 1 ? " (\(f.family))" : "")]
            for (title, rows) in [("Counters:", f.counters), ("Terms:", f.terms)] where !rows.isEmpty {
                lines.append(title)
                lines.append(line("Name", "Bytes", "Packets"))
                for r in rows { lines.append(line(r.name, String(r.traffic.bytes), String(r.traffic.packets))) }
            }
            blocks.append(lines.joined(separator: "\n"))
        }
        return blocks.joined(separator: "\n\n")
    }

    /// Where the Bytes column ends, and the width of the Packets column after it (Junos).
    static let bytesColumnEnd = 57, packetsWidth = 21

    static func line(_ name: String, _ bytes: String, _ packets: String) -> String {
        let gap = max(1, bytesColumnEnd - name.count - bytes.count)
        return name + String(repeating: " ", count: gap) + bytes
            + String(repeating: " ", count: max(1, packetsWidth - packets.count)) + packets
    }
}
