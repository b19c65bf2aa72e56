// Firewall filters on host-bound traffic (issue 10; R-6.1–R-6.3): the ingress interface's
// input filter and lo0's, as the XDP program applies them to every packet addressed to the
// box (layout and rules in xpf_bpf_abi.h, "Firewall filters on host-bound traffic"). This
// file is the one place that turns a configuration snapshot into the program's table:
// xpfd writes `write(into:)` into the `host_filters` map (and `policers` into
// `host_filter_policers`) in the bank the program does not read, with the host-inbound
// tables, before the snapshot's generation is published.
//
// The terms are the snapshot's own records — the ones the workers match transit against —
// copied into pools of their own (the program cannot read the snapshot) with their lists
// re-based: a term's prefixes, port / length ranges, sets and forwarding classes, its
// counter and its policer instance. Each pool entry keeps the snapshot index it came from,
// so the program's counts are folded into the same `show firewall` rows as the workers'
// (HostFilterCounts in xpfd) and its logs name the filter and term the workers' would.
// Every (dataplane interface, family) gets a chain: its input filter's terms (a list's
// members' in order), then lo0's. A configuration that does not fit the pools is refused
// at commit with the count and the limit (`HostFilterTable.init` throws).
//
// `lines` renders the table in the form of Tests/bpf/host_filter_corpus.txt, which
// HostFilterTableTests compares with what it computes from the corpus's configurations and
// Tests/bpf/xdp_test.c loads into the program to run the corpus's packets.
import CXPF

public struct HostFilterTable {
    /// A configuration whose host-bound filters do not fit the program's pools.
    public struct TooLarge: Error, CustomStringConvertible {
        public var description: String
    }

    /// The snapshot's generation (logs name filters and terms by it).
    public var generation: UInt64
    public private(set) var terms: [xpf_hf_term] = []
    public private(set) var prefixes: [xpf_hf_prefix] = []
    public private(set) var ranges: [xpf_hf_range] = []
    public private(set) var sets: [xpf_hf_set] = []
    public private(set) var classes: [UInt32] = []
    public private(set) var policers: [xpf_hf_policer] = []
    /// Pool counter i counts for the snapshot's COUNTERS record counterSources[i].
    public private(set) var counterSources: [Int] = []
    /// Pool policer i is the snapshot's POLICER_INSTANCES record policerSources[i].
    public private(set) var policerSources: [Int] = []
    /// One (interface, family)'s chain: the pool terms in order, where lo0's begin, and
    /// whether the interface and lo0 have a filter at all (a filter without terms still
    /// discards everything).
    public struct Chain: Equatable {
        public var lo0Start: Int
        public var terms: [Int]
        public var interfaceFilter: Bool
        public var loopbackFilter: Bool

        var flags: UInt16 {
            UInt16((interfaceFilter ? XPF_HF_CHAIN_IFACE : 0) | (loopbackFilter ? XPF_HF_CHAIN_LO0 : 0))
        }
    }
    /// chains[slot][0: inet, 1: inet6].
    public private(set) var chains: [[Chain]] = []

    /// host_filter_hits keys (XPF_HF_ROW_* of xpf_bpf_abi.h, whose macros Swift does not
    /// import): bank `bank`'s row of pool term i, pool counter c, pool policer p's row.
    public static let rowsPerBank = Int(XPF_HF_MAX_TERMS) + Int(XPF_HF_MAX_COUNTERS) + Int(XPF_HF_MAX_POLICERS) * Int(XPF_HF_POLICER_ROWS)
    public static func termRow(bank: UInt32, _ i: Int) -> UInt32 { UInt32(Int(bank) * rowsPerBank + i) }
    public static func counterRow(bank: UInt32, _ c: Int) -> UInt32 { UInt32(Int(bank) * rowsPerBank + Int(XPF_HF_MAX_TERMS) + c) }
    public static func policerRow(bank: UInt32, _ p: Int, row: Int) -> UInt32 {
        UInt32(Int(bank) * rowsPerBank + Int(XPF_HF_MAX_TERMS) + Int(XPF_HF_MAX_COUNTERS) + p * Int(XPF_HF_POLICER_ROWS) + row)
    }

    /// Families in chain order, as xpf_cfg_filter.family writes them.
    static let families: [UInt8] = [4, 6]

    /// The table of `view`'s configuration (a validated snapshot) for the program.
    public init(_ view: ConfigSnapshotView, generation: UInt64) throws {
        self.generation = generation
        var builder = Builder(view: view)
        let lo0 = view.loopbackInterface.map { view.interface(slot: $0) }
        let dataplane = min(view.dataplaneInterfaceCount, Int(XPF_MAX_IFACES))
        for slot in 0..<Int(XPF_MAX_IFACES) {
            var perFamily: [Chain] = []
            for family in Self.families {
                var chain: [Int] = []
                var own = XPF_CFG_NONE, loopback = XPF_CFG_NONE
                if slot < dataplane {
                    let i = view.interface(slot: slot)
                    own = family == 4 ? i.filter_in4 : i.filter_in6
                    if let lo0 { loopback = family == 4 ? lo0.filter_in4 : lo0.filter_in6 }
                }
                chain += try builder.filterTerms(own)
                let lo0Start = chain.count
                chain += try builder.filterTerms(loopback)
                if chain.count > Int(XPF_HF_MAX_CHAIN) {
                    throw TooLarge(description: "the filters of interface \(view.string(at: view.interface(slot: slot).name) ?? "#\(slot)") "
                        + "and lo0 (family \(family == 4 ? "inet" : "inet6")) have \(chain.count) terms together; "
                        + "host-bound traffic can be filtered by at most \(XPF_HF_MAX_CHAIN)")
                }
                perFamily.append(Chain(lo0Start: lo0Start, terms: chain, interfaceFilter: own != XPF_CFG_NONE,
                                       loopbackFilter: loopback != XPF_CFG_NONE))
            }
            chains.append(perFamily)
        }
        try builder.checkLimits()
        terms = builder.terms
        prefixes = builder.prefixes
        ranges = builder.ranges
        sets = builder.sets
        classes = builder.classes
        policers = builder.policers
        counterSources = builder.counterSources
        policerSources = builder.policerSources
    }

    /// Copies the pools and chains into the map value (every other byte zero).
    public func write(into r: UnsafeMutablePointer<xpf_host_filters>) {
        UnsafeMutableRawPointer(r).initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<xpf_host_filters>.size)
        r.pointee.generation = UInt32(truncatingIfNeeded: generation)
        r.pointee.n_terms = UInt32(terms.count)
        // Safe (each block): the C arrays hold XPF_HF_MAX_* records and init() refused
        // any pool larger than its array.
        func fill<T>(_ field: UnsafeMutableRawPointer, _ values: [T]) {
            let slots = field.assumingMemoryBound(to: T.self)
            for (i, v) in values.enumerated() { slots[i] = v }
        }
        let base = UnsafeMutableRawPointer(r)
        fill(base + MemoryLayout<xpf_host_filters>.offset(of: \.terms)!, terms)
        fill(base + MemoryLayout<xpf_host_filters>.offset(of: \.prefixes)!, prefixes)
        fill(base + MemoryLayout<xpf_host_filters>.offset(of: \.ranges)!, ranges)
        fill(base + MemoryLayout<xpf_host_filters>.offset(of: \.sets)!, sets)
        fill(base + MemoryLayout<xpf_host_filters>.offset(of: \.classes)!, classes)
        let chainBase = (base + MemoryLayout<xpf_host_filters>.offset(of: \.chains)!).assumingMemoryBound(to: xpf_hf_chain.self)
        for (slot, perFamily) in chains.enumerated() {
            for (f, chain) in perFamily.enumerated() {
                let c = chainBase + slot * Self.families.count + f
                c.pointee.n = UInt16(chain.terms.count)
                c.pointee.lo0_start = UInt16(chain.lo0Start)
                c.pointee.flags = chain.flags
                let at = UnsafeMutableRawPointer(c) + MemoryLayout<xpf_hf_chain>.offset(of: \.terms)!
                fill(at, chain.terms.map { UInt16($0) })
            }
        }
    }

    /// Whether no chain has a filter: then host-bound packets meet none.
    public var isEmpty: Bool { chains.allSatisfy { $0.allSatisfy { $0.flags == 0 } } }

    // MARK: Building

    struct Builder {
        let view: ConfigSnapshotView
        var terms: [xpf_hf_term] = []
        var prefixes: [xpf_hf_prefix] = []
        var ranges: [xpf_hf_range] = []
        var sets: [xpf_hf_set] = []
        var classes: [UInt32] = []
        var policers: [xpf_hf_policer] = []
        var counterSources: [Int] = []
        var policerSources: [Int] = []
        // Snapshot index → pool index, so what several chains share is copied once.
        var termOf: [Int: Int] = [:]
        var setOf: [UInt32: UInt16] = [:]
        var counterOf: [UInt32: UInt16] = [:]
        var policerOf: [UInt32: UInt16] = [:]
        var prefixListOf: [UInt64: xpf_hf_ref] = [:]
        var rangeListOf: [UInt64: xpf_hf_ref] = [:]
        var classListOf: [UInt64: xpf_hf_ref] = [:]

        init(view: ConfigSnapshotView) { self.view = view }

        /// The pool terms of FILTERS record `filter` (a list: its members' terms in order);
        /// none for XPF_CFG_NONE.
        mutating func filterTerms(_ filter: UInt32) throws -> [Int] {
            guard filter != XPF_CFG_NONE else { return [] }
            let record = view.filter(Int(filter))
            let members = record.flags & UInt8(XPF_CFG_FILTER_LIST.rawValue) != 0
                ? view.indices(record.members).map { view.filter(Int($0)) } : [record]
            var out: [Int] = []
            for m in members {
                for t in Int(m.terms.first)..<Int(m.terms.first + m.terms.count) { out.append(try term(t)) }
            }
            return out
        }

        /// The pool index of TERMS record `index`, copied on first use.
        mutating func term(_ index: Int) throws -> Int {
            if let i = termOf[index] { return i }
            let t = view.term(index)
            var r = xpf_hf_term()
            r.dscp = t.dscp
            r.match = t.match & ~XPF_TM_PER_PACKET.rawValue  // the workers' memo flag, not a condition
            r.filter = t.filter
            r.snapshot_term = UInt32(index)
            r.forwarding_class = t.forwarding_class == XPF_CFG_NONE ? XPF_HF_CLASS_BEST_EFFORT : t.forwarding_class
            r.src_addr = prefixList(t.src_addr)
            r.dst_addr = prefixList(t.dst_addr)
            r.addr = prefixList(t.addr)
            r.src_port = rangeList(t.src_port)
            r.dst_port = rangeList(t.dst_port)
            r.port = rangeList(t.port)
            r.packet_length = rangeList(t.packet_length)
            r.classes = classList(t.forwarding_classes)
            r.protocols = set(t.protocols)
            r.icmp_types = set(t.icmp_types)
            r.icmp_codes = set(t.icmp_codes)
            r.tcp_flags = set(t.tcp_flags)
            r.counter = counter(t.counter)
            r.policer = policer(t.policer_instance)
            r.terminal = t.terminal
            r.reject_reason = t.reject_reason
            r.action = t.action
            r.dscp_rewrite = t.dscp_rewrite
            r.loss_priority = t.loss_priority
            r.loss_priorities = t.loss_priorities
            termOf[index] = terms.count
            terms.append(r)
            return terms.count - 1
        }

        static func key(_ r: xpf_cfg_range) -> UInt64 { UInt64(r.first) << 32 | UInt64(r.count) }

        /// References grow past 16 bits only in pools init() refuses; clamped meanwhile.
        static func ref(_ first: Int, _ count: Int) -> xpf_hf_ref {
            xpf_hf_ref(first: UInt16(clamping: first), count: UInt16(clamping: count))
        }

        /// Pool reference of snapshot list `r`, its records appended to `pool` on first use
        /// (`known` remembers the lists already copied).
        static func copy<T>(_ r: xpf_cfg_range, into pool: inout [T], known: inout [UInt64: xpf_hf_ref], _ records: () -> [T]) -> xpf_hf_ref {
            guard r.count > 0 else { return xpf_hf_ref() }
            if let ref = known[key(r)] { return ref }
            let ref = Self.ref(pool.count, Int(r.count))
            pool += records()
            known[key(r)] = ref
            return ref
        }

        mutating func prefixList(_ r: xpf_cfg_range) -> xpf_hf_ref {
            Self.copy(r, into: &prefixes, known: &prefixListOf) { view.prefixes(r).map(Self.prefix) }
        }

        mutating func rangeList(_ r: xpf_cfg_range) -> xpf_hf_ref {
            Self.copy(r, into: &ranges, known: &rangeListOf) { view.portRanges(r).map { xpf_hf_range(low: $0.low, high: $0.high) } }
        }

        mutating func classList(_ r: xpf_cfg_range) -> xpf_hf_ref {
            Self.copy(r, into: &classes, known: &classListOf) {
                view.indices(r).map { $0 == XPF_CFG_NONE ? XPF_HF_CLASS_BEST_EFFORT : $0 }
            }
        }

        /// Pool index of snapshot record `index` (XPF_HF_NONE for XPF_CFG_NONE), `add` run
        /// to append it to its pool the first time (`known` remembers the indices given).
        static func intern(_ index: UInt32, _ known: inout [UInt32: UInt16], next: Int, _ add: () -> Void) -> UInt16 {
            guard index != XPF_CFG_NONE else { return UInt16(XPF_HF_NONE) }
            if let i = known[index] { return i }
            let i = UInt16(clamping: next)
            add()
            known[index] = i
            return i
        }

        mutating func set(_ s: UInt32) -> UInt16 {
            let view = view
            return Self.intern(s, &setOf, next: sets.count) {
                sets.append(xpf_hf_set(bits: view.records(XPF_CFG_SEC_SETS, xpf_cfg_range(first: s, count: 1), as: xpf_cfg_set.self)[0].bits))
            }
        }

        mutating func counter(_ c: UInt32) -> UInt16 {
            Self.intern(c, &counterOf, next: counterSources.count) { counterSources.append(Int(c)) }
        }

        mutating func policer(_ instance: UInt32) -> UInt16 {
            let view = view
            return Self.intern(instance, &policerOf, next: policerSources.count) {
                policerSources.append(Int(instance))
                policers.append(Self.policer(view, view.policerInstances[Int(instance)]))
            }
        }

        /// A policer instance's parameters as the program's record; its state starts zero
        /// (buckets full).
        static func policer(_ view: ConfigSnapshotView, _ instance: xpf_cfg_policer_instance) -> xpf_hf_policer {
            var r = xpf_hf_policer()
            if instance.flags & XPF_CFG_PI_THREE_COLOR.rawValue != 0 {
                let p = view.threeColorPolicer(Int(instance.policer))
                r.flags = XPF_HF_P_THREE_COLOR
                if p.flags & XPF_CFG_TCP_TWO_RATE.rawValue != 0 { r.flags |= XPF_HF_P_TWO_RATE }
                if p.flags & XPF_CFG_TCP_COLOR_AWARE.rawValue != 0 { r.flags |= XPF_HF_P_COLOR_AWARE }
                if p.flags & XPF_CFG_TCP_DISCARD_RED.rawValue != 0 { r.flags |= XPF_HF_P_DISCARD }
                (r.c_cost, r.c_depth, r.x_cost, r.x_depth) = (p.c_cost, p.c_depth, p.p_cost, p.x_depth)
            } else {
                let p = view.policer(Int(instance.policer))
                if p.flags & UInt8(XPF_CFG_POLICER_DISCARD.rawValue) != 0 { r.flags |= XPF_HF_P_DISCARD }
                if p.loss_priority != UInt8(XPF_LP_NONE.rawValue) {
                    r.flags |= XPF_HF_P_LOSS_PRIORITY
                    r.loss_priority = p.loss_priority
                }
                if p.flags & UInt8(XPF_CFG_POLICER_FORWARDING_CLASS.rawValue) != 0 {
                    r.flags |= XPF_HF_P_FORWARDING_CLASS
                    r.forwarding_class = p.forwarding_class == XPF_CFG_NONE ? XPF_HF_CLASS_BEST_EFFORT : p.forwarding_class
                }
                (r.c_cost, r.c_depth) = (p.cost, p.depth)
            }
            return r
        }

        /// Network and mask as four words each in network order (IPv4 in word 0), as the
        /// program compares raw loads of the packet's addresses.
        static func prefix(_ p: xpf_cfg_prefix) -> xpf_hf_prefix {
            var r = xpf_hf_prefix()
            var mask = [UInt8](repeating: 0, count: 16)
            for bit in 0..<Int(p.length) { mask[bit / 8] |= 0x80 >> UInt8(bit % 8) }
            withUnsafeBytes(of: p.addr) { address in
                withUnsafeMutableBytes(of: &r.net) { raw in for i in 0..<16 { raw[i] = address[i] & mask[i] } }
            }
            withUnsafeMutableBytes(of: &r.mask) { raw in for i in 0..<16 { raw[i] = mask[i] } }
            r.family = p.family
            r.length = p.length
            r.except = p.flags & UInt8(XPF_CFG_PREFIX_EXCEPT.rawValue) != 0 ? 1 : 0
            return r
        }

        func checkLimits() throws {
            let pools: [(String, Int, Int)] = [
                ("terms", terms.count, Int(XPF_HF_MAX_TERMS)), ("address prefixes", prefixes.count, Int(XPF_HF_MAX_PREFIXES)),
                ("port and length ranges", ranges.count, Int(XPF_HF_MAX_RANGES)),
                ("protocol, ICMP and TCP flag sets", sets.count, Int(XPF_HF_MAX_SETS)),
                ("forwarding classes", classes.count, Int(XPF_HF_MAX_CLASSES)), ("counters", counterSources.count, Int(XPF_HF_MAX_COUNTERS)),
                ("policer instances", policerSources.count, Int(XPF_HF_MAX_POLICERS)),
            ]
            for (what, n, limit) in pools where n > limit {
                throw TooLarge(description: "the filters applied to host-bound traffic (input filters of the dataplane "
                    + "interfaces and lo0) have \(n) \(what); the XDP program holds at most \(limit)")
            }
        }
    }
}

// MARK: - The corpus's text form

extension HostFilterTable {
    /// The table as Tests/bpf/host_filter_corpus.txt writes it (format in that file's header).
    public var lines: [String] {
        var out: [String] = []
        func ref(_ name: String, _ r: xpf_hf_ref) -> String? { r.count == 0 ? nil : "\(name)=\(r.first)+\(r.count)" }
        func set(_ name: String, _ s: UInt16) -> String? { s == UInt16(XPF_HF_NONE) ? nil : "\(name)=\(s)" }
        func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
        func cls(_ c: UInt32) -> String { c == XPF_HF_CLASS_BEST_EFFORT ? "be" : String(c) }
        let terminals = ["accept", "discard", "reject", "next"]
        for (i, t) in terms.enumerated() {
            var f = ["term \(i)", "terminal=\(Int(t.terminal) < terminals.count ? terminals[Int(t.terminal)] : String(t.terminal))",
                     "action=\(hex(UInt64(t.action)))", "match=\(hex(UInt64(t.match)))", "filter=\(t.filter)",
                     "sterm=\(t.snapshot_term)"]
            f += [ref("src", t.src_addr), ref("dst", t.dst_addr), ref("addr", t.addr), ref("sport", t.src_port),
                  ref("dport", t.dst_port), ref("port", t.port), ref("len", t.packet_length), ref("classes", t.classes),
                  set("proto", t.protocols), set("itype", t.icmp_types), set("icode", t.icmp_codes),
                  set("flags", t.tcp_flags)].compactMap { $0 }
            if t.match & XPF_HF_M_DSCP != 0 { f.append("dscp=\(hex(t.dscp))") }
            if t.match & XPF_HF_M_LOSS_PRIORITY != 0 { f.append("lps=\(hex(UInt64(t.loss_priorities)))") }
            if let c = set("counter", t.counter) { f.append(c) }
            if let p = set("policer", t.policer) { f.append(p) }
            if t.action & UInt8(XPF_HF_A_DSCP) != 0 { f.append("rewrite=\(t.dscp_rewrite)") }
            if t.action & UInt8(XPF_HF_A_LOSS_PRIORITY) != 0 { f.append("lp=\(t.loss_priority)") }
            if t.action & UInt8(XPF_HF_A_FORWARDING_CLASS) != 0 { f.append("fc=\(cls(t.forwarding_class))") }
            if t.terminal == UInt8(XPF_HF_REJECT) { f.append("reject=\(t.reject_reason)") }
            out.append(f.joined(separator: " "))
        }
        for (i, p) in prefixes.enumerated() {
            let words = withUnsafeBytes(of: p.net) { Array($0) }
            let address = p.family == 4 ? ConfigModel.IPAddress(v4: words.prefix(4).reduce(0) { $0 << 8 | UInt32($1) })
                : ConfigModel.IPAddress(v6High: words.prefix(8).reduce(0) { $0 << 8 | UInt64($1) },
                                        low: words.dropFirst(8).reduce(0) { $0 << 8 | UInt64($1) })
            out.append("prefix \(i) \(p.family) \(address)/\(p.length)" + (p.except != 0 ? " except" : ""))
        }
        for (i, r) in ranges.enumerated() { out.append("range \(i) \(r.low) \(r.high)") }
        for (i, s) in sets.enumerated() {
            let w = s.bits
            out.append("set \(i) \(hex(w.0)) \(hex(w.1)) \(hex(w.2)) \(hex(w.3))")
        }
        for (i, c) in classes.enumerated() { out.append("class \(i) \(cls(c))") }
        for (i, p) in policers.enumerated() {
            out.append("policer \(i) flags=\(hex(UInt64(p.flags))) c_cost=\(p.c_cost) c_depth=\(p.c_depth) "
                + "x_cost=\(p.x_cost) x_depth=\(p.x_depth) lp=\(p.loss_priority) fc=\(cls(p.forwarding_class))")
        }
        let familyNames = ["inet", "inet6"]
        for (slot, perFamily) in chains.enumerated() {
            for (f, chain) in perFamily.enumerated() where chain.flags != 0 {
                out.append("chain \(slot) \(familyNames[f]) lo0=\(chain.lo0Start) filters=\(hex(UInt64(chain.flags))) terms="
                    + chain.terms.map(String.init).joined(separator: ","))
            }
        }
        return out
    }
}
