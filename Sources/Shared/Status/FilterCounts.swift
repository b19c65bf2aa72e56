// Firewall filter counters that survive commits (`show firewall`, `clear firewall`, /metrics;
// issue 10 §4, §5).
//
// Workers count per term, per named counter (`then count C`) and per policer instance (what
// it found out of profile or marked red, and what it marked yellow) in struct
// xpf_filter_hits (Pipeline/FilterCounters.swift): rows indexed by TERMS, COUNTERS and
// POLICER_INSTANCES index, banked with the policy ids. An index means something only under
// one configuration, and a commit that changes filters, policers or their attachments starts
// a new policy epoch, which flips the bank. So
// the filter rows follow exactly the policy hit counters' protocol (PolicyHitCounts.swift):
// PolicyHitCounts drives this type — `flipped()` right after it published a flip,
// `harvest()` once every live worker acknowledged that generation (its acquire load of
// config_generation_seen makes the workers' last counts in the old bank visible), before
// the next flip may reuse the bank. The harvest also fills that bank's policer buckets
// (struct xpf_policer_buckets, banked the same way) again: the next configuration that
// polices in the bank starts every instance with a full bucket, never with the state an
// instance of the same index had under the old one. xpfd keeps the lasting counts per
// identity:
//
//   a term     (family, filter name, term name)
//   a counter  (family, filter name, counter name)
//   a policer  (family, filter name, instance name, color: out of profile for a two-color
//              instance; red and yellow for a three-color one)
//
// so a filter's counts go on across commits that renumber its rows, and a filter, term,
// counter or policer instance removed is gone for good (written again later, it starts from
// zero, as on Junos).
//
// `clear firewall` cannot zero a bank a worker writes: it remembers each identity's lifetime
// count at that moment (`clearedAt`), and `show firewall` prints the lifetime count minus
// that. /metrics exports the lifetime counts (Prometheus counters only grow). Only xpfd runs
// this type; it is single-threaded.
import CXPF

/// What a firewall count belongs to, across commits.
public struct FilterCountIdentity: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// A term's own count: every packet the term matched.
        case term
        /// A named counter (`then count C`), shared by the filter's terms that name it.
        case counter
        /// A policer instance's count of one color.
        case policer(PolicerColor)
    }

    public var kind: Kind
    public var family: ConfigModel.Family
    public var filter: String
    /// The term's or the counter's name, or the policer instance's ("P-T": policer P of
    /// term T; "P": a filter-specific policer).
    public var name: String

    public init(_ kind: Kind, family: ConfigModel.Family, filter: String, name: String) {
        self.kind = kind
        self.family = family
        self.filter = filter
        self.name = name
    }
}

/// What a policer instance counts (enum xpf_policer_row): the packets a two-color policer
/// found out of profile (row OUT), or a three-color one marked red (row OUT) or yellow (row
/// YELLOW). Green packets are not counted (Junos neither). The raw value is the name
/// `show firewall --json`, the control reply and /metrics give it.
public enum PolicerColor: String, Sendable {
    case outOfProfile = "out-of-profile"
    case red
    case yellow

    /// The row of the instance's counts (xpf_filter_hits.policer) this color is counted in.
    var row: xpf_policer_row { self == .yellow ? XPF_POLICER_ROW_YELLOW : XPF_POLICER_ROW_OUT }

    /// The colors an instance counts: two-color out of profile; three-color red, yellow.
    static func counted(threeColor: Bool) -> [PolicerColor] { threeColor ? [.red, .yellow] : [.outOfProfile] }
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

    public static func &+ (a: FilterTraffic, b: FilterTraffic) -> FilterTraffic {
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

    /// A policer instance's count of one color.
    public struct PolicerRow: Equatable, Sendable {
        /// The instance's name ("P-T", or "P" for a filter-specific policer).
        public var name: String
        public var color: PolicerColor
        public var traffic: FilterTraffic

        public init(_ name: String, _ color: PolicerColor, _ traffic: FilterTraffic) {
            self.name = name
            self.color = color
            self.traffic = traffic
        }
    }

    public var family: ConfigModel.Family
    public var name: String
    /// Named counters, in the order the filter's terms first name them.
    public var counters: [Row]
    /// The filter's policer instances in the order its terms first name them, each with its
    /// colors (out of profile; or red, then yellow).
    public var policers: [PolicerRow]
    /// Every term, in order.
    public var terms: [Row]

    public init(family: ConfigModel.Family, name: String, counters: [Row], policers: [PolicerRow] = [], terms: [Row]) {
        self.family = family
        self.name = name
        self.counters = counters
        self.policers = policers
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
            /// Indices of `policers` of the filter's instances, in instance order.
            var policers: [Int] = []
        }

        var bank: UInt32
        var filters: [Filter]
        /// By TERMS index.
        var terms: [FilterCountIdentity]
        /// By COUNTERS index.
        var counters: [FilterCountIdentity]
        /// Every policer instance's counted colors, in POLICER_INSTANCES order (a three-color
        /// instance's red, then its yellow).
        var policers: [FilterCountIdentity]
        /// The xpf_filter_hits.policer record of each of `policers`: instance index ×
        /// XPF_POLICER_ROWS + its color's row.
        var policerRecords: [Int]
        /// POLICER_INSTANCES records: the buckets of the bank this configuration polices in.
        var instances: Int

        subscript(_ t: FilterCounters.Table) -> [FilterCountIdentity] {
            switch t {
            case .term: return terms
            case .counter: return counters
            case .policer: return policers
            }
        }

        /// The record of table `t` (xpf_filter_hits) entry `i` of `self[t]` is counted in:
        /// the TERMS or COUNTERS index itself, a policer color's record.
        func record(_ t: FilterCounters.Table, _ i: Int) -> Int { t == .policer ? policerRecords[i] : i }

        /// How many records of table `t` this configuration's workers may count in (a
        /// two-color instance's unlisted YELLOW record included).
        func records(_ t: FilterCounters.Table) -> Int {
            t == .policer ? instances * Int(XPF_POLICER_ROWS.rawValue) : self[t].count
        }

        /// The layout of `region`'s running snapshot (xpfd published it: it is valid).
        init(_ region: ShmRegion) { self.init(region.configView(slot: region.current(.config).slot)) }

        /// The layout of a validated snapshot.
        init(_ view: ConfigSnapshotView) {
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
            var policers: [FilterCountIdentity] = [], policerRecords: [Int] = []
            let instances = view.records(XPF_CFG_SEC_POLICER_INSTANCES, as: xpf_cfg_policer_instance.self)
            for (i, p) in instances.enumerated() {
                let f = filters[Int(p.filter)]
                for color in PolicerColor.counted(threeColor: p.flags & XPF_CFG_PI_THREE_COLOR.rawValue != 0) {
                    filters[Int(p.filter)].policers.append(policers.count)
                    policers.append(FilterCountIdentity(.policer(color), family: f.family, filter: f.name, name: name(p.name)))
                    policerRecords.append(i * Int(XPF_POLICER_ROWS.rawValue) + Int(color.row.rawValue))
                }
            }
            bank = view.head.pointee.policy_bank
            // An input-list / output-list record has no terms, counters or instances of its
            // own (its members' count in theirs): show firewall lists filters, not lists.
            let list = UInt8(XPF_CFG_FILTER_LIST.rawValue)
            self.filters = zip(view.filters, filters).filter { $0.0.flags & list == 0 }.map(\.1)
            self.counters = counters
            self.policers = policers
            self.policerRecords = policerRecords
            self.instances = instances.count
        }

        /// xpf_cfg_filter.family of an inet6 filter.
        static let inet6Family: UInt8 = 6
    }

    /// One value per listed row of the term, the counter and the policer table.
    struct PerRow<Value> {
        var term: [Value] = []
        var counter: [Value] = []
        var policer: [Value] = []

        subscript(_ t: FilterCounters.Table) -> [Value] {
            get {
                switch t {
                case .term: return term
                case .counter: return counter
                case .policer: return policer
                }
            }
            set {
                switch t {
                case .term: term = newValue
                case .counter: counter = newValue
                case .policer: policer = newValue
                }
            }
        }
    }

    static let tables: [FilterCounters.Table] = [.term, .counter, .policer]

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
    /// into dictionaries by identity); 4096 terms, 4096 counters and 4096 three-color
    /// policer instances (8192 policer rows): 3.6 ms and 8.4 ms (1.6 ms and 5.0 ms without
    /// the instances).
    var base: PerRow<FilterTraffic>
    /// Per row of the unharvested layout: the running row with the same identity, if any.
    var carried = PerRow<Int?>()

    /// Counts made outside the workers, by identity, lifetime (`clear` leaves them): the XDP
    /// program's, of the filters applied to host-bound traffic (xpfd's HostFilterMap). Read
    /// with every listing; rows of the running layout with the same identity add them.
    public var hostBound: (() -> [FilterCountIdentity: FilterTraffic])?
    /// Where each identity of the running layout is (its table and row), for `hostBound`.
    var rowOf: [FilterCountIdentity: (table: FilterCounters.Table, row: Int)] = [:]

    /// The identities of a validated snapshot's filter rows: per TERMS index, per COUNTERS
    /// index, and per POLICER_INSTANCES index its counted colors' (out of profile; or red,
    /// then yellow) — what a count made elsewhere (the XDP program's) is folded into.
    public static func identities(_ view: ConfigSnapshotView)
        -> (terms: [FilterCountIdentity], counters: [FilterCountIdentity], policers: [[FilterCountIdentity]])
    {
        let layout = Layout(view)
        var policers: [[FilterCountIdentity]] = Array(repeating: [], count: layout.instances)
        for (i, identity) in layout.policers.enumerated() {
            policers[layout.policerRecords[i] / Int(XPF_POLICER_ROWS.rawValue)].append(identity)
        }
        return (layout.terms, layout.counters, policers)
    }

    /// Counts from now on, starting with `region`'s running configuration.
    public init(region: ShmRegion) {
        self.region = region
        current = Layout(region)
        base = PerRow()
        rebase()
    }

    /// `base` from `totals` for the running layout.
    mutating func rebase() {
        rowOf = [:]
        for t in Self.tables {
            base[t] = current[t].map { totals[$0] ?? FilterTraffic() }
            for (i, identity) in current[t].enumerated() { rowOf[identity] = (t, i) }
        }
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

    /// Adds the previous epoch's bank to the totals, zeroes its rows and fills its policer
    /// buckets. Only when no live worker counts or polices there any more
    /// (PolicyHitCounts.harvestIfReady checks that first).
    mutating func harvest() {
        guard let old = unharvested else { return }
        for t in Self.tables {
            var sums = old[t].map { _ in FilterTraffic() }
            for q in 0..<region.queues { add(old, t, q, into: &sums) }
            for (identity, n) in zip(old[t], sums) where !n.isZero {
                totals[identity] = (totals[identity] ?? FilterTraffic()) &+ n
            }
            for q in 0..<region.queues {
                // Relaxed: no worker writes this bank now; the release store of the next
                // flip's config_current publishes the zeroes to the workers that will count here.
                let rows = FilterCounters.rows(region.filterHits(q), t, bank: old.bank)
                for record in 0..<old.records(t) { FilterCounters.zero(rows, record) }
            }
        }
        // The old configuration's buckets full again (0: see xpf_policer_bucket), so the
        // next configuration's instances that police in this bank start full. Relaxed, as
        // the rows above: no worker polices in this bank now, and the next flip's release
        // store of config_current publishes the zeroes before any worker's first swap here.
        let buckets = Policing.bank(region.policerBuckets, old.bank)
        for i in 0..<old.instances {
            // Safe: i < POLICER_INSTANCES ≤ XPF_MAX_POLICER_INSTANCES (SnapshotWriter), the
            // bank's size; a bucket is two 64-bit words.
            let words = UnsafeMutableRawPointer(buckets + i).assumingMemoryBound(to: UInt64.self)
            xpf_store_relaxed_u64(words, 0)
            xpf_store_relaxed_u64(words + 1, 0)
        }
        unharvested = nil
        carried = PerRow()
        let live = Set(current.terms + current.counters + current.policers)
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
            for row in f.policers { clearedAt[current.policers[row]] = lifetime.policer[row] }
        }
    }

    /// The running filters' counts since the last `clear firewall` (`show firewall`), in
    /// configuration order.
    public func counts() -> [FirewallFilterCounts] { listing(sinceClear: true) }

    /// The running filters' counts since each identity appeared, `clear` ignored (/metrics).
    public func lifetimeCounts() -> [FirewallFilterCounts] { listing(sinceClear: false) }

    func listing(sinceClear: Bool) -> [FirewallFilterCounts] {
        let lifetime = self.lifetime()
        func traffic(_ t: FilterCounters.Table, _ i: Int) -> FilterTraffic {
            let n = lifetime[t][i]
            guard sinceClear, let start = clearedAt[current[t][i]] else { return n }
            return n &- start
        }
        func row(_ t: FilterCounters.Table, _ i: Int) -> FirewallFilterCounts.Row { .init(current[t][i].name, traffic(t, i)) }
        func policer(_ i: Int) -> FirewallFilterCounts.PolicerRow {
            let identity = current.policers[i]
            guard case .policer(let color) = identity.kind else { preconditionFailure("\(identity) in the policer table") }
            return .init(identity.name, color, traffic(.policer, i))
        }
        return current.filters.map { f in
            FirewallFilterCounts(family: f.family, name: f.name, counters: f.counters.map { row(.counter, $0) },
                                 policers: f.policers.map(policer), terms: f.terms.map { row(.term, $0) })
        }
    }

    /// Every running row's count since its identity appeared: harvested (`base`), plus the
    /// unharvested bank's row of the same identity, plus the running bank, plus the XDP
    /// program's count of the same identity (`hostBound`).
    func lifetime() -> PerRow<FilterTraffic> {
        var out = base
        for (identity, n) in hostBound?() ?? [:] {
            if let (t, row) = rowOf[identity] { out[t][row] = out[t][row] &+ n }
        }
        for t in Self.tables {
            for q in 0..<region.queues {
                add(current, t, q, into: &out[t])
                if let old = unharvested {
                    var sums = old[t].map { _ in FilterTraffic() }
                    add(old, t, q, into: &sums)
                    for (i, n) in sums.enumerated() { if let to = carried[t][i] { out[t][to] = out[t][to] &+ n } }
                }
            }
        }
        return out
    }

    /// Adds worker `q`'s records of table `t` in `layout`'s bank to `sums` (one per entry of
    /// `layout[t]`).
    func add(_ layout: Layout, _ t: FilterCounters.Table, _ q: Int, into sums: inout [FilterTraffic]) {
        let rows = FilterCounters.rows(region.filterHits(q), t, bank: layout.bank)
        for i in sums.indices {
            let n = FilterCounters.read(rows, layout.record(t, i))  // single writer: that worker
            sums[i] = sums[i] &+ FilterTraffic(packets: n.packets, bytes: n.bytes)
        }
    }
}

// MARK: - Control reply and text

extension FirewallFilterCounts {
    // The control reply (xpfd → xpfctl): one line per filter, then one per named counter, per
    // policer instance's color and per term of that filter, tab-separated (Junos names hold
    // no tabs or newlines):
    //   filter  FAMILY  NAME
    //   counter NAME    PACKETS  BYTES
    //   policer NAME    COLOR    PACKETS  BYTES     (COLOR: a PolicerColor raw value)
    //   term    NAME    PACKETS  BYTES
    static let filterKind = "filter", counterKind = "counter", policerKind = "policer", termKind = "term"
    static let separator: Character = "\t"

    /// This filter as lines of the control reply.
    public var lines: [String] {
        let s = String(Self.separator)
        func row(_ kind: String, _ name: String, _ color: PolicerColor?, _ n: FilterTraffic) -> String {
            ([kind, name] + (color.map { [$0.rawValue] } ?? []) + [String(n.packets), String(n.bytes)]).joined(separator: s)
        }
        return [[Self.filterKind, family.rawValue, name].joined(separator: s)]
            + counters.map { row(Self.counterKind, $0.name, nil, $0.traffic) }
            + policers.map { row(Self.policerKind, $0.name, $0.color, $0.traffic) }
            + terms.map { row(Self.termKind, $0.name, nil, $0.traffic) }
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
            case policerKind:
                guard f.count == 5, let color = PolicerColor(rawValue: f[2]), let packets = UInt64(f[3]),
                      let bytes = UInt64(f[4]), !out.isEmpty else { return nil }
                out[out.count - 1].policers.append(PolicerRow(f[1], color, FilterTraffic(packets: packets, bytes: bytes)))
            default: return nil
            }
        }
        return out
    }
}

/// `show firewall [filter F] [counter C] [--json]` as Junos prints it, with the terms' own
/// counts added (an xpf extension).
public enum FirewallListing {
    static func unknownFilter(_ name: String) -> XPFError {
        XPFError("no firewall filter \(name) in the running configuration")
    }

    /// The filters `show firewall [filter F] [counter C]` prints: every one, every family's
    /// filter F, or its counter C only (no policers or terms then). Throws for an unknown
    /// filter or counter.
    public static func select(_ filters: [FirewallFilterCounts], filter: String? = nil, counter: String? = nil) throws
        -> [FirewallFilterCounts]
    {
        guard let filter else { return filters }
        var chosen = filters.filter { $0.name == filter }
        if chosen.isEmpty { throw unknownFilter(filter) }
        guard let counter else { return chosen }
        for i in chosen.indices {
            chosen[i].counters = chosen[i].counters.filter { $0.name == counter }
            chosen[i].policers = []
            chosen[i].terms = []
        }
        chosen = chosen.filter { !$0.counters.isEmpty }
        if chosen.isEmpty { throw XPFError("firewall filter \(filter) has no counter \(counter)") }
        return chosen
    }

    /// Junos' columns: names left, bytes right-aligned to column 57, packets to column 78.
    /// A block per filter, blank lines between; "Counters:" when the filter has named
    /// counters, "Policers:" when it has policer instances (as Junos, after the counters: a
    /// two-color instance's out-of-profile count under its name, "P-T"; a three-color one's
    /// red and yellow counts as "P-T (red)" and "P-T (yellow)"), "Terms:" (xpf) when terms
    /// are listed. A name that both families use for a filter says which one: "Filter: F
    /// (inet6)".
    public static func text(_ filters: [FirewallFilterCounts]) -> String {
        var names: [String: Int] = [:]
        for f in filters { names[f.name, default: 0] += 1 }
        var blocks: [String] = []
        for f in filters {
            var lines = ["Filter: \(f.name)" + (names[f.name]! > 1 ? " (\(f.family))" : "")]
            let policers = f.policers.map { FirewallFilterCounts.Row(policerName($0), $0.traffic) }
            for (title, rows) in [("Counters:", f.counters), ("Policers:", policers), ("Terms:", f.terms)] where !rows.isEmpty {
                lines.append(title)
                lines.append(line("Name", "Bytes", "Packets"))
                for r in rows { lines.append(line(r.name, String(r.traffic.bytes), String(r.traffic.packets))) }
            }
            blocks.append(lines.joined(separator: "\n"))
        }
        return blocks.joined(separator: "\n\n")
    }

    /// `show firewall --json`: {"filters": [{"name", "family", "counters": [{"name", "bytes",
    /// "packets"}], "policers": [{"name", "color" (a PolicerColor raw value), "bytes",
    /// "packets"}], "terms": [{"name", "bytes", "packets"}]}]}, in the order of `filters`.
    public static func json(_ filters: [FirewallFilterCounts]) -> String {
        var j = JSONWriter()
        func rows(_ key: String, _ rows: [(name: String, color: PolicerColor?, traffic: FilterTraffic)]) {
            j.beginArray(key)
            for r in rows {
                j.beginObject()
                j.field("name", r.name)
                if let color = r.color { j.field("color", color.rawValue) }
                j.field("bytes", r.traffic.bytes); j.field("packets", r.traffic.packets)
                j.endObject()
            }
            j.endArray()
        }
        j.beginObject()
        j.beginArray("filters")
        for f in filters {
            j.beginObject()
            j.field("name", f.name); j.field("family", f.family.rawValue)
            rows("counters", f.counters.map { ($0.name, nil, $0.traffic) })
            rows("policers", f.policers.map { ($0.name, $0.color, $0.traffic) })
            rows("terms", f.terms.map { ($0.name, nil, $0.traffic) })
            j.endObject()
        }
        j.endArray()
        j.endObject()
        return j.text
    }

    /// A policer row's name in the text: the instance's, and a three-color one's color.
    static func policerName(_ p: FirewallFilterCounts.PolicerRow) -> String {
        p.color == .outOfProfile ? p.name : "\(p.name) (\(p.color.rawValue))"
    }

    /// Where the Bytes column ends, and the width of the Packets column after it (Junos).
    static let bytesColumnEnd = 57, packetsWidth = 21

    static func line(_ name: String, _ bytes: String, _ packets: String) -> String {
        let gap = max(1, bytesColumnEnd - name.count - bytes.count)
        return name + String(repeating: " ", count: gap) + bytes
            + String(repeating: " ", count: max(1, packetsWidth - packets.count)) + packets
    }
}
