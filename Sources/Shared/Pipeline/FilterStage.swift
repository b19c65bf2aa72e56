// Firewall filter stages (issue 10; ): the input filter of the interface
// a packet arrived on and the output filter of the interface it leaves by, `firewall family
// inet|inet6 filter F` attached as `interfaces IF unit 0 family inet|inet6 filter
// input|output F` — or a list, `input-list|output-list [ F… ]`, one FILTERS record whose
// members are evaluated in order as one filter (the packet's family picks the filter).
//
// Every path, every packet: the input filter runs on every packet the worker
// handles — first packets and session hits alike — first on either path, right after the
// session lookup and before the hop limit; the output filter on every packet that is to be
// sent, after the session is installed or found and accounted, before the rewrite
// (Process.swift). Nothing a filter decides is stored in the session. A filter whose terms
// read a field outside the session key (DSCP, TCP flags, fragment bits, ICMP type/code,
// loss priority, packet length) is evaluated on every packet, and so is one with a `next
// term` term (the memo holds one deciding term, a chain applies several). One whose terms
// read only addresses, protocol and ports
// decides the same for every packet of a session direction, so on a session hit the
// worker may take its decision from its private memo (`FilterMemo`), stamped with the
// session instance, the filter and the policy epoch — which every commit that adds,
// changes or removes a filter advances: from the next packet of every flow, the new filters
// decide.
//
// Terms are tried in order and the first whose every condition holds decides — unless it
// says `next term`: then its other actions apply and the search goes on; a list's member
// that decides nothing hands the packet to the next member. A packet no term decides is
// discarded (Junos's implicit discard, `filter_discard`). A condition on
// ports, TCP flags or ICMP type/code holds only for a packet that carries that header: a
// TCP/UDP (ICMP, TCP) packet that is not a non-first fragment. Address conditions hold when
// the longest entry containing the address is not an `except` entry. The matched term
// counts the packet (per term, and under its `count` name), rewrites DSCP (`then dscp`),
// then its terminal action: accept (on to the next stage), discard (`filter_discard`), or
// reject (Reject.swift: the reason's ICMP unreachable, or a RST for `tcp-reset`, out of the
// ingress interface; `filter_reject` when the reply went out, else a plain discard). `log` /
// `syslog` emit a FILTER_LOG event naming the action the wire saw: reject only when the
// reply went out (R-5.2's rule for policies, applied here too).
//
// Host-bound traffic never reaches a worker (the XDP program passes it to the kernel), so
// lo0's filter and the input filter on traffic to the box are not applied here.
import CXPF

/// The filter indices (FILTERS, or XPF_CFG_NONE) of every interface slot, copied from the
/// running snapshot when the pipeline adopts it, so the no-filter path of a packet is one
/// load of a flag. Owned by one pipeline; rewritten between batches only.
public struct FilterAttachments {
    /// Per slot: inet input, inet output, inet6 input, inet6 output.
    @usableFromInline static let perSlot = 4
    @usableFromInline let table: UnsafeMutablePointer<UInt32>
    /// Some interface has a filter.
    @usableFromInline var any = false
    /// The running bank's term and named-counter rows of this worker's xpf_filter_hits, and
    /// the running snapshot's TERMS: resolved by `load`, which runs before any packet, so
    /// counting a term costs no bank or section lookup.
    @usableFromInline var termRows: UnsafeMutablePointer<xpf_filter_count>?
    @usableFromInline var counterRows: UnsafeMutablePointer<xpf_filter_count>?
    @usableFromInline var terms: UnsafeRawPointer?
    /// Set in an entry whose filter has a term reading a per-packet field: its
    /// decision is never memoized. FILTERS indices stay far below it.
    @usableFromInline static let perPacket: UInt32 = 1 << 31

    public init() {
        // Lives as long as the pipeline that holds it (one per worker).
        table = .allocate(capacity: Int(XPF_MAX_IFACES) * Self.perSlot)
        table.initialize(repeating: XPF_CFG_NONE, count: Int(XPF_MAX_IFACES) * Self.perSlot)
    }

    /// Reads the attachments of `view`'s interfaces (at most XPF_MAX_IFACES slots).
    mutating func load(_ view: ConfigSnapshotView, hits: UnsafeMutablePointer<xpf_filter_hits>) {
        let bank = view.head.pointee.policy_bank
        termRows = FilterCounters.rows(hits, .term, bank: bank)
        counterRows = FilterCounters.rows(hits, .counter, bank: bank)
        terms = view.base + Int(view.section(XPF_CFG_SEC_TERMS).offset)
        any = false
        let interfaces = view.interfaces
        for slot in 0..<Int(XPF_MAX_IFACES) {
            let row = table + slot * Self.perSlot
            guard slot < interfaces.count else {
                row.update(repeating: XPF_CFG_NONE, count: Self.perSlot)
                continue
            }
            let r = interfaces[slot]
            (row[0], row[1], row[2], row[3]) = (r.filter_in4, r.filter_out4, r.filter_in6, r.filter_out6)
            for k in 0..<Self.perSlot where row[k] != XPF_CFG_NONE {
                any = true
                if view.filter(Int(row[k])).flags & UInt8(XPF_CFG_FILTER_PER_PACKET.rawValue) != 0 { row[k] |= Self.perPacket }
            }
        }
    }

    /// The filter of `slot` for `family` (4 or 6), input or output, with `perPacket` set
    /// when its decision must not be memoized; XPF_CFG_NONE: none.
    @inlinable
    func filter(slot: UInt8, family: UInt8, output: Bool) -> UInt32 {
        // Safe: slot & (XPF_MAX_IFACES - 1) stays inside the table (XPF_MAX_IFACES is a power of two).
        table[(Int(slot) & (Int(XPF_MAX_IFACES) - 1)) * Self.perSlot + (family == 4 ? 0 : 2) + (output ? 1 : 0)]
    }
}

/// A worker's private memo of filter decisions on session hits. A filter none of whose
/// terms reads a per-packet field (`FilterAttachments.perPacket` clear) decides from the
/// packet's addresses, protocol and ports alone, which are its session's key in its
/// direction: so the decision for (session record, direction, filter) holds for every
/// packet of that session instance, under one set of filters. An entry records the term
/// that matched (or the implicit discard), stamped with what it depends on — the record
/// and its seq_state (the session instance: a removed or reused record has another), the
/// direction, the filter, and the worker's policy epoch (every commit that changes a
/// filter or its attachment starts a new one, ConfigModel.decidesSessions). A packet whose
/// stamps all match takes the entry's term (counted, its actions applied, as if matched);
/// any other evaluates the filter and overwrites the slot. Direct-mapped, `slots` entries,
/// per worker (no other process reads it): a collision only costs an evaluation (at 10 000
/// flows filtered both ways, 20 000 entries, ~7 % of them share a slot).
/// First packets, non-first fragments and ICMP errors forwarded for a session always evaluate.
public struct FilterMemo {
    @usableFromInline static let slotBits: UInt32 = 18
    @usableFromInline static let slots = 1 << slotBits
    /// `term` of an entry whose packets no term matched (implicit discard).
    @usableFromInline static let implicitDiscard = UInt16.max
    /// Set in `term` (beside the TERMS index, below XPF_MAX_FILTER_TERMS) when the term is a
    /// plain accept — no counter, no log, no rewrite: a hit then only counts the term.
    @usableFromInline static let plainAccept: UInt16 = 0x4000
    @usableFromInline static let termMask: UInt16 = 0x3FFF

    @usableFromInline
    struct Entry {
        /// (record index << 2 | direction << 1 | output) + 1; 0: empty. Unique per record:
        /// indices stay below 2^25 (session-table-size is at most 20 M).
        @usableFromInline var tag: UInt32 = 0
        @usableFromInline var state: UInt32 = 0
        @usableFromInline var epoch: UInt32 = 0
        @usableFromInline var filter: UInt16 = 0
        /// TERMS index (with plainAccept), or implicitDiscard.
        @usableFromInline var term: UInt16 = 0

        @usableFromInline
        init(tag: UInt32 = 0, state: UInt32 = 0, epoch: UInt32 = 0, filter: UInt16 = 0, term: UInt16 = 0) {
            self.tag = tag
            self.state = state
            self.epoch = epoch
            self.filter = filter
            self.term = term
        }
    }

    @usableFromInline let entries: UnsafeMutablePointer<Entry>
    /// Not memo state, but evaluation scratch of the same owner and lifetime: the TERMS
    /// indices of the `log` / `syslog` terms a `next term` chain passed, whose events wait
    /// for the chain's outcome (evaluateFilter). XPF_MAX_FILTER_TERMS entries: a chain
    /// passes each term at most once.
    @usableFromInline let chainLogs: UnsafeMutablePointer<UInt16>

    public init() {
        // Lives as long as the pipeline that holds it (one per worker): 4 MiB + 16 KiB.
        entries = .allocate(capacity: Self.slots)
        entries.initialize(repeating: Entry(), count: Self.slots)
        chainLogs = .allocate(capacity: Int(XPF_MAX_FILTER_TERMS))
        chainLogs.initialize(repeating: 0, count: Int(XPF_MAX_FILTER_TERMS))
    }

    @inlinable
    static func tag(session: Int, direction: UInt32, output: Bool) -> UInt32 {
        (UInt32(truncatingIfNeeded: session) << 2 | direction << 1 | (output ? 1 : 0)) &+ 1
    }

    /// The slot of `tag` (Fibonacci hashing onto the table's `slotBits` bits).
    @inlinable
    func slot(_ tag: UInt32) -> UnsafeMutablePointer<Entry> {
        // Safe: the product's top slotBits bits index the 2^slotBits entries.
        entries + Int((tag &* 0x9E37_79B1) >> (32 - Self.slotBits))
    }
}

/// What the packet offers the conditions of a term, read once per filter.
@frozen
public struct FilterFields {
    public var family: UInt8
    public var proto: UInt8
    /// Addresses as two big-endian words each (IPv4 in the high word's top 32 bits).
    public var srcHi: UInt64, srcLo: UInt64, dstHi: UInt64, dstLo: UInt64
    /// Host order; valid when `hasPorts`.
    public var sport: UInt16, dport: UInt16
    public var hasPorts: Bool
    public var dscp: UInt8
    /// The TCP flags byte; valid when `isTCP`.
    public var tcpFlags: UInt8
    public var isTCP: Bool
    /// ICMP / ICMPv6 type and code; valid when `isICMP`.
    public var icmpType: UInt8, icmpCode: UInt8
    public var isICMP: Bool
    /// `is-fragment`: a trailing fragment (offset not 0), as Junos defines it (an alias of
    /// `fragment-offset 0 except`); `first-fragment`: offset 0 with more to come.
    public var isTrailingFragment: Bool
    public var isFirstFragment: Bool
    /// The packet's loss priority (enum xpf_loss_priority) as the filter finds it.
    public var lossPriority: UInt8
    /// The packet's forwarding class (a string offset; NONE: best-effort) as the filter finds it.
    public var forwardingClass: UInt32
    /// `packet-length`: the IP datagram's length (IPv4 total length, IPv6 payload + 40).
    /// Clamping to 16 bits changes nothing: an IPv6 datagram longer than 65 535 bytes fits
    /// in no UMEM frame, so the parse stage never passes one.
    public var length: UInt16

    @inlinable
    init(_ p: borrowing Packet) {
        lossPriority = p.lossPriority
        forwardingClass = p.forwardingClass
        let parsed = p.parsed
        length = UInt16(clamping: parsed.l3Length)
        family = parsed.family
        proto = parsed.proto
        // Safe: the parse stage filled the key's tuple: src[16], dst[16] (IPv4 in the first 4).
        (srcHi, srcLo, dstHi, dstLo) = withUnsafeBytes(of: p.key.tuple) { t in
            (UInt64(bigEndian: t.loadUnaligned(as: UInt64.self)), UInt64(bigEndian: t.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
             UInt64(bigEndian: t.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
             UInt64(bigEndian: t.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
        }
        // A non-first fragment carries no L4 header: no ports, flags or ICMP type to match.
        let l4 = !parsed.isNonFirstFragment
        hasPorts = l4 && (proto == ParseConst.protoTCP || proto == ParseConst.protoUDP)
        isTCP = l4 && proto == ParseConst.protoTCP
        isICMP = l4 && (family == 4 ? proto == ParseConst.protoICMP : proto == ParseConst.protoICMPv6)
        sport = parsed.srcPort
        dport = parsed.dstPort
        dscp = parsed.dscp
        tcpFlags = parsed.tcpFlags
        icmpType = parsed.icmpType
        icmpCode = parsed.icmpCode
        isTrailingFragment = parsed.isNonFirstFragment
        isFirstFragment = parsed.isFragment && !parsed.isNonFirstFragment
    }
}

/// The sections a filter reads, resolved once per filter run (each `section()` is a load
/// from the head). Valid while the view is; every index a term holds was proved inside
/// its section by validate(), so the loads below need no bounds checks of their own.
@frozen
public struct FilterTables {
    @usableFromInline let terms: UnsafeRawPointer
    @usableFromInline let prefixes: UnsafeRawPointer
    @usableFromInline let ports: UnsafeRawPointer
    @usableFromInline let sets: UnsafeRawPointer
    @usableFromInline let indices: UnsafeRawPointer

    @inlinable
    init(_ v: ConfigSnapshotView) {
        func at(_ id: xpf_cfg_section_id) -> UnsafeRawPointer { v.base + Int(v.section(id).offset) }
        terms = at(XPF_CFG_SEC_TERMS)
        prefixes = at(XPF_CFG_SEC_PREFIXES)
        ports = at(XPF_CFG_SEC_PORT_RANGES)
        sets = at(XPF_CFG_SEC_SETS)
        indices = at(XPF_CFG_SEC_INDICES)
    }

    /// Term record `i` (TERMS index). Its fields are read through the pointer, one load
    /// each: a term is 120 bytes, and a term that does not match reads two or three of them.
    @inlinable func term(_ i: Int) -> UnsafePointer<xpf_cfg_term> {
        // Safe: the slot holds TERMS records at this section's offset (validate()); the memory
        // is only ever read as xpf_cfg_term here.
        (terms + i &* MemoryLayout<xpf_cfg_term>.stride).assumingMemoryBound(to: xpf_cfg_term.self)
    }

    /// Whether `value` is in set `set` (a SETS index).
    @inlinable
    func setContains(_ set: UInt32, _ value: UInt8) -> Bool {
        let word = sets.load(fromByteOffset: Int(set) &* MemoryLayout<xpf_cfg_set>.stride &+ Int(value >> 6) &* 8, as: UInt64.self)
        return word >> UInt64(value & 63) & 1 != 0
    }

    /// Whether term record `t` holds for `f` (every present condition; see the file header).
    /// The cheap conditions that most often fail come first: protocol, ports, then addresses.
    @inlinable @inline(__always)  // one function with the term loop
    func termMatches(_ t: UnsafePointer<xpf_cfg_term>, _ f: FilterFields) -> Bool {
        let m = t.pointee.match
        @inline(__always) func has(_ bit: xpf_term_match) -> Bool { m & bit.rawValue != 0 }
        if has(XPF_TM_PROTO) && !setContains(t.pointee.protocols, f.proto) { return false }
        if m & (XPF_TM_SRC_PORT.rawValue | XPF_TM_DST_PORT.rawValue | XPF_TM_PORT.rawValue) != 0 {
            guard f.hasPorts else { return false }
            if has(XPF_TM_DST_PORT) && !portListMatches(t.pointee.dst_port, f.dport) { return false }
            if has(XPF_TM_SRC_PORT) && !portListMatches(t.pointee.src_port, f.sport) { return false }
            if has(XPF_TM_PORT) {
                let list = t.pointee.port
                if !portListMatches(list, f.sport) && !portListMatches(list, f.dport) { return false }
            }
        }
        if has(XPF_TM_DSCP) && t.pointee.dscp >> UInt64(f.dscp & 63) & 1 == 0 { return false }
        if has(XPF_TM_ICMP_TYPE) && !(f.isICMP && setContains(t.pointee.icmp_types, f.icmpType)) {
            return false
        }
        if has(XPF_TM_ICMP_CODE) && !(f.isICMP && setContains(t.pointee.icmp_codes, f.icmpCode)) {
            return false
        }
        if has(XPF_TM_TCP_FLAGS) && !(f.isTCP && setContains(t.pointee.tcp_flags, f.tcpFlags)) {
            return false
        }
        if has(XPF_TM_IS_FRAGMENT) && !f.isTrailingFragment { return false }
        if has(XPF_TM_FIRST_FRAGMENT) && !f.isFirstFragment { return false }
        if has(XPF_TM_LOSS_PRIORITY) && t.pointee.loss_priorities >> f.lossPriority & 1 == 0 { return false }
        if has(XPF_TM_FORWARDING_CLASS) && !indexListContains(t.pointee.forwarding_classes, f.forwardingClass) { return false }
        if has(XPF_TM_PACKET_LENGTH) && !portListMatches(t.pointee.packet_length, f.length) { return false }
        if has(XPF_TM_SRC_ADDR) && !prefixListMatches(t.pointee.src_addr, f.family, f.srcHi, f.srcLo) {
            return false
        }
        if has(XPF_TM_DST_ADDR) && !prefixListMatches(t.pointee.dst_addr, f.family, f.dstHi, f.dstLo) {
            return false
        }
        if has(XPF_TM_ADDR) {
            let list = t.pointee.addr
            if !prefixListMatches(list, f.family, f.srcHi, f.srcLo) && !prefixListMatches(list, f.family, f.dstHi, f.dstLo) {
                return false
            }
        }
        return true
    }

    /// Whether the longest entry of `list` (PREFIXES) of `family` containing the address
    /// exists and is not an `except` entry (Junos's rule for filter address conditions).
    @inlinable
    func prefixListMatches(_ list: xpf_cfg_range, _ family: UInt8, _ hi: UInt64, _ lo: UInt64) -> Bool {
        var best = -1
        var bestExcept = false
        var at = prefixes + Int(list.first) &* MemoryLayout<xpf_cfg_prefix>.stride
        for _ in 0..<Int(list.count) {
            defer { at += MemoryLayout<xpf_cfg_prefix>.stride }
            let length = Int(at.load(fromByteOffset: 1, as: UInt8.self))
            guard at.load(as: UInt8.self) == family, length > best else { continue }
            // Safe: validate() bounds every prefix length by its family (≤ 32 / ≤ 128), and
            // the address sits 8-byte aligned at offset 8 of the record.
            let pHi = UInt64(bigEndian: at.load(fromByteOffset: 8, as: UInt64.self))
            let contains: Bool
            if length <= 64 {
                let mask: UInt64 = length == 0 ? 0 : ~0 &<< UInt64(64 &- length)  // length 0: every address
                contains = (hi ^ pHi) & mask == 0
            } else {
                let pLo = UInt64(bigEndian: at.load(fromByteOffset: 16, as: UInt64.self))
                contains = hi == pHi && (lo ^ pLo) & (~0 &<< UInt64(128 &- length)) == 0
            }
            if contains {
                best = length
                bestExcept = at.load(fromByteOffset: 2, as: UInt8.self) & UInt8(XPF_CFG_PREFIX_EXCEPT.rawValue) != 0
            }
        }
        return best >= 0 && !bestExcept
    }

    /// Whether `value` is one of the INDICES entries of `list` (validate() proved the range
    /// inside INDICES).
    @inlinable
    func indexListContains(_ list: xpf_cfg_range, _ value: UInt32) -> Bool {
        var at = indices + Int(list.first) &* MemoryLayout<UInt32>.stride
        for _ in 0..<Int(list.count) {
            if at.load(as: UInt32.self) == value { return true }
            at += MemoryLayout<UInt32>.stride
        }
        return false
    }

    /// Whether `port` lies in one of the ranges of `list` (PORT_RANGES).
    @inlinable
    func portListMatches(_ list: xpf_cfg_range, _ port: UInt16) -> Bool {
        var at = ports + Int(list.first) &* MemoryLayout<xpf_cfg_port_range>.stride
        for _ in 0..<Int(list.count) {
            let r = at.load(as: xpf_cfg_port_range.self)
            if r.low <= port && port <= r.high { return true }
            at += MemoryLayout<xpf_cfg_port_range>.stride
        }
        return false
    }
}

extension Pipeline {
    /// The input filter of the packet's ingress interface, if it has one. `hit`: the
    /// packet belongs to the session `p.session` (its decision may be memoized).
    @inlinable @inline(__always)  // one load and branch per packet while no interface has a filter
    mutating func inputFilterStage(_ p: inout Packet, hit: Bool, counters: inout WorkerCounters) -> PacketAction? {
        guard _slowPath(filters.any) else { return nil }
        // Every packet starts low; the loss priority is read by filters only, and every path
        // runs this stage before the output filter.
        p.lossPriority = UInt8(XPF_LP_LOW.rawValue)
        p.forwardingClass = XPF_CFG_NONE  // best-effort
        let f = filters.filter(slot: p.ingress, family: p.parsed.family, output: false)
        if f == XPF_CFG_NONE || (hit && memoizedPlainAccept(f, p, output: false)) { return nil }
        return runFilter(f, &p, output: false, hit: hit, counters: &counters)
    }

    /// The output filter of the packet's egress interface, if it has one (`hit` as above).
    @inlinable @inline(__always)
    mutating func outputFilterStage(_ p: inout Packet, hit: Bool, counters: inout WorkerCounters) -> PacketAction? {
        guard _slowPath(filters.any) else { return nil }
        let f = filters.filter(slot: p.egress, family: p.parsed.family, output: true)
        if f == XPF_CFG_NONE || (hit && memoizedPlainAccept(f, p, output: true)) { return nil }
        return runFilter(f, &p, output: true, hit: hit, counters: &counters)
    }

    /// A session hit whose filter decision is memoized as a plain accept (the common case
    /// on an established flow): counts the term and lets the packet on, inline. False:
    /// anything else, which `runFilter` handles (it reads the memo again).
    @inlinable @inline(__always)
    func memoizedPlainAccept(_ entry: UInt32, _ p: Packet, output: Bool) -> Bool {
        guard entry & FilterAttachments.perPacket == 0, !p.parsed.isNonFirstFragment else { return false }
        let session = p.session
        let tag = FilterMemo.tag(session: session, direction: p.direction, output: output)
        let e = filterMemo.slot(tag)
        let term = e.pointee.term
        guard term != FilterMemo.implicitDiscard, term & FilterMemo.plainAccept != 0, e.pointee.tag == tag,
              e.pointee.epoch == policyEpoch, e.pointee.filter == UInt16(truncatingIfNeeded: entry) else { return false }
        // The session instance now (a record removed and reused since has another word).
        guard e.pointee.state == xpf_sess_load_state(partition.table.records + session) else { return false }
        FilterCounters.count(filters.termRows.unsafelyUnwrapped,
                             Int(term & FilterMemo.termMask), bytes: UInt64(p.parsed.l3Length))
        p.traceFilter(output: output, dropped: false)
        return true
    }

    /// Runs filter entry `entry` (FILTERS index, with FilterAttachments.perPacket) on the
    /// packet: its ingress interface's input filter, or (`output`) its egress interface's
    /// output filter — from the memo on a session hit when the filter allows it, else by
    /// evaluating its terms. Nil: accepted (the packet goes on, its DSCP perhaps rewritten);
    /// else its action.
    @inline(never)  // out of the unfiltered paths' way; small: the memo's hit is the common case
    @usableFromInline
    mutating func runFilter(_ entry: UInt32, _ p: inout Packet, output: Bool, hit: Bool,
                            counters: inout WorkerCounters) -> PacketAction? {
        let filter = Int(entry & ~FilterAttachments.perPacket)
        // A non-first fragment carries no ports: its key (ports 0) may also be that of a
        // datagram with ports 0, which the filter sees differently — never memoized.
        guard hit && entry & FilterAttachments.perPacket == 0 && !p.parsed.isNonFirstFragment else {
            return evaluateFilter(filter, &p, output: output, memo: nil, counters: &counters)
        }
        let tag = FilterMemo.tag(session: p.session, direction: p.direction, output: output)
        let e = filterMemo.slot(tag)
        // The session instance now (a record removed and reused since has another word).
        let state = xpf_sess_load_state(partition.table.records + p.session)
        guard e.pointee.tag == tag && e.pointee.state == state && e.pointee.epoch == policyEpoch
            && e.pointee.filter == UInt16(truncatingIfNeeded: filter) else {
            let fill = FilterMemo.Entry(tag: tag, state: state, epoch: policyEpoch, filter: UInt16(truncatingIfNeeded: filter))
            return evaluateFilter(filter, &p, output: output, memo: (e, fill), counters: &counters)
        }
        let term = e.pointee.term
        return applyMatch(term == FilterMemo.implicitDiscard ? nil : Int(term & FilterMemo.termMask), &p, output: output,
                          counters: &counters)
    }

    /// Evaluates filter `filter`'s terms for the packet — a list's members' terms, in order,
    /// as one filter — and applies the first match; a `next term` term on the way applies
    /// its other actions and lets the search go on (`passNextTerm`). With `memo`, first
    /// records the decision in that slot (the entry's stamps given; a filter with `next
    /// term` terms is per-packet, so a memoized search never passes one).
    @inline(never)  // the memo's miss, first packets and per-packet filters
    @usableFromInline
    mutating func evaluateFilter(_ filter: Int, _ p: inout Packet, output: Bool,
                                 memo: (slot: UnsafeMutablePointer<FilterMemo.Entry>, entry: FilterMemo.Entry)?,
                                 counters: inout WorkerCounters) -> PacketAction? {
        let v = configView
        let tables = FilterTables(v)
        let fields = FilterFields(p)
        let record = v.filter(filter)
        // A list's members, else the filter itself: one run of terms each.
        let list = record.flags & UInt8(XPF_CFG_FILTER_LIST.rawValue) != 0
        let runs = list ? Int(record.members.count) : 1
        var run = 0
        var terms = list ? v.filter(Int(v.indices(record.members)[0])).terms : record.terms
        var i = Int(terms.first), end = i + Int(terms.count)
        var match: Int? = nil
        var chainLogs = 0  // `next term` terms passed that log: filterMemo.chainLogs[0..<chainLogs]
        while true {
            // Safe: validate() proved every filter's term range (a list's members' too)
            // inside TERMS and every index a term holds inside its section. The scan stays
            // this tight loop; chains and members are handled between scans.
            while i < end && !tables.termMatches(tables.term(i), fields) { i += 1 }
            if i < end {
                let t = tables.term(i)
                guard t.pointee.terminal == UInt8(XPF_TERM_NEXT.rawValue) else {
                    match = i
                    break
                }
                if let dropped = passNextTerm(t, term: i, &p, output: output, chainLogs: &chainLogs, counters: &counters) {
                    return dropped
                }
                i += 1
                continue
            }
            run += 1
            guard run < runs else { break }
            terms = v.filter(Int(v.indices(record.members)[run])).terms
            (i, end) = (Int(terms.first), Int(terms.first) + Int(terms.count))
        }
        if let (slot, entry) = memo {
            slot.pointee = entry
            slot.pointee.term = FilterMemo.implicitDiscard
            if let i = match {
                let t = tables.term(i)
                let plain = t.pointee.terminal == UInt8(XPF_TERM_ACCEPT.rawValue) && t.pointee.action == 0
                    && t.pointee.counter == XPF_CFG_NONE
                slot.pointee.term = UInt16(truncatingIfNeeded: i) | (plain ? FilterMemo.plainAccept : 0)
            }
        }
        guard chainLogs > 0 else { return applyMatch(match, &p, output: output, counters: &counters) }
        // The chain's logs say what the wire saw, known once the deciding term has acted
        // (a reject rewrites the frame into its reply: the flow is read before).
        let before = p
        let action = applyMatch(match, &p, output: output, counters: &counters)
        let wire = action == nil ? XPF_TERM_ACCEPT : action!.kind == .drop ? XPF_TERM_DISCARD : XPF_TERM_REJECT
        logChain(chainLogs, before, output: output, wire: UInt8(wire.rawValue), counters: &counters)
        return action
    }

    /// A matched `next term` term `t` (TERMS index `term`): counted, then its loss priority,
    /// policer and DSCP rewrite applied as a deciding term's would be; its `log` / `syslog`
    /// waits in `filterMemo.chainLogs` for the action the wire sees. Non-nil: its policer
    /// discarded the packet (the chain's logs and its own then say discard).
    @inline(never)  // `next term` chains only
    @usableFromInline
    mutating func passNextTerm(_ t: UnsafePointer<xpf_cfg_term>, term: Int, _ p: inout Packet, output: Bool,
                               chainLogs: inout Int, counters: inout WorkerCounters) -> PacketAction? {
        let bytes = UInt64(p.parsed.l3Length)
        FilterCounters.count(filters.termRows.unsafelyUnwrapped, term, bytes: bytes)
        if t.pointee.counter != XPF_CFG_NONE {
            FilterCounters.count(filters.counterRows.unsafelyUnwrapped, Int(t.pointee.counter), bytes: bytes)
        }
        let actions = t.pointee.action
        // Safe: a walk only moves forward, through one filter's terms (at most TERMS' count,
        // which validate() bounds by XPF_MAX_FILTER_TERMS) or a list's members' (whose sum
        // validate() bounds likewise), so a chain holds at most chainLogs' capacity.
        if actions & UInt8(XPF_TA_LOG.rawValue | XPF_TA_SYSLOG.rawValue) != 0 {
            filterMemo.chainLogs[chainLogs] = UInt16(truncatingIfNeeded: term)
            chainLogs += 1
        }
        mark(t, &p)
        if actions & UInt8(XPF_TA_POLICE.rawValue) != 0 && police(t, &p, outOfProfile: false) {
            p.traceFilter(output: output, dropped: true)
            logChain(chainLogs, p, output: output, wire: UInt8(XPF_TERM_DISCARD.rawValue), counters: &counters)
            return .drop(XPF_DROP_POLICER_DISCARD)
        }
        if actions & UInt8(XPF_TA_DSCP.rawValue) != 0 { rewriteDSCP(&p, t.pointee.dscp_rewrite) }
        return nil
    }

    /// The FILTER_LOG events of the first `count` `next term` terms in `filterMemo.chainLogs`,
    /// for packet `p` as the chain found it, naming the action the wire saw.
    @inline(never)
    @usableFromInline
    mutating func logChain(_ count: Int, _ p: Packet, output: Bool, wire: UInt8, counters: inout WorkerCounters) {
        let flow = PacketFlow(p, egress: output ? p.egress : UInt8.max)
        let tables = FilterTables(configView)
        for k in 0..<count {
            let term = Int(filterMemo.chainLogs[k])
            logFilter(tables.term(term).pointee, term: term, flow: flow, wire: wire, p, counters: &counters)
        }
    }

    /// Counts the matched term `term` (TERMS index; nil: no term matched, the implicit
    /// discard) and applies its actions.
    @inlinable @inline(__always)
    mutating func applyMatch(_ term: Int?, _ p: inout Packet, output: Bool, counters: inout WorkerCounters) -> PacketAction? {
        guard let i = term else {
            p.traceFilter(output: output, dropped: true)
            return .drop(XPF_DROP_FILTER_DISCARD)
        }
        // Safe: `i` is a TERMS index (validate() proved every filter's range inside TERMS; a
        // memoized one was found so under the same policy epoch's configuration).
        let t = (filters.terms.unsafelyUnwrapped + i &* MemoryLayout<xpf_cfg_term>.stride).assumingMemoryBound(to: xpf_cfg_term.self)
        let bytes = UInt64(p.parsed.l3Length)
        FilterCounters.count(filters.termRows.unsafelyUnwrapped, i, bytes: bytes)
        let counter = t.pointee.counter
        if counter != XPF_CFG_NONE {
            FilterCounters.count(filters.counterRows.unsafelyUnwrapped, Int(counter), bytes: bytes)
        }
        let actions = t.pointee.action
        let accept = t.pointee.terminal == UInt8(XPF_TERM_ACCEPT.rawValue)
        // A plain accept (the common term on a session hit) needs nothing more.
        if accept && actions == 0 {
            p.traceFilter(output: output, dropped: false)
            return nil
        }
        // A policed accept with a two-color policer and nothing else: a conforming packet
        // goes on here (Policer.swift), anything else is policed out of line.
        if actions == UInt8(XPF_TA_POLICE.rawValue) && accept {
            let policer = t.pointee.policer
            if policer != XPF_CFG_NONE && conformsTwoColor(t, policer, p) {
                p.traceFilter(output: output, dropped: false)
                return nil
            }
            return policeAndApply(t, term: i, &p, output: output, outOfProfile: policer != XPF_CFG_NONE, counters: &counters)
        }
        if actions & Self.markOrPolice != 0 {
            return policeAndApply(t, term: i, &p, output: output, outOfProfile: false, counters: &counters)
        }
        return applyTerm(t.pointee, term: i, &p, output: output, counters: &counters)
    }

    /// The term actions that mark the packet or police it: handled by `policeAndApply`.
    @usableFromInline static let markOrPolice =
        UInt8(XPF_TA_LOSS_PRIORITY.rawValue | XPF_TA_FORWARDING_CLASS.rawValue | XPF_TA_POLICE.rawValue)

    /// `then loss-priority` / `then forwarding-class`: term `t` marks the packet.
    @inlinable
    func mark(_ t: UnsafePointer<xpf_cfg_term>, _ p: inout Packet) {
        let actions = t.pointee.action
        if actions & UInt8(XPF_TA_LOSS_PRIORITY.rawValue) != 0 { p.lossPriority = t.pointee.loss_priority }
        if actions & UInt8(XPF_TA_FORWARDING_CLASS.rawValue) != 0 { p.forwardingClass = t.pointee.forwarding_class }
    }

    /// Matched term `t` sets the loss priority and forwarding class (first: a color-aware
    /// policer of the same term takes the loss priority as the packet's color so far) and polices (`outOfProfile`: its
    /// two-color policer already found the packet out of profile), then its other actions.
    /// A packet the policer discards counts `policer_discard`; a `log` / `syslog` term says
    /// discard, which is what the wire saw.
    @inline(never)  // off the conforming packet's path
    @usableFromInline
    mutating func policeAndApply(_ t: UnsafePointer<xpf_cfg_term>, term: Int, _ p: inout Packet, output: Bool,
                                 outOfProfile: Bool, counters: inout WorkerCounters) -> PacketAction? {
        let actions = t.pointee.action
        mark(t, &p)
        if actions & UInt8(XPF_TA_POLICE.rawValue) != 0 && police(t, &p, outOfProfile: outOfProfile) {
            p.traceFilter(output: output, dropped: true)
            logFilter(t.pointee, term: term, flow: PacketFlow(p, egress: output ? p.egress : UInt8.max),
                      wire: UInt8(XPF_TERM_DISCARD.rawValue), p, counters: &counters)
            return .drop(XPF_DROP_POLICER_DISCARD)
        }
        if t.pointee.terminal == UInt8(XPF_TERM_ACCEPT.rawValue)
            && actions & ~Self.markOrPolice == 0 {
            p.traceFilter(output: output, dropped: false)
            return nil
        }
        return applyTerm(t.pointee, term: term, &p, output: output, counters: &counters)
    }

    /// The actions of matched term `t` (TERMS index `term`).
    @inline(never)  // discard, reject, log, DSCP rewrite: off the plain accept's path
    @usableFromInline
    mutating func applyTerm(_ t: xpf_cfg_term, term: Int, _ p: inout Packet, output: Bool,
                            counters: inout WorkerCounters) -> PacketAction? {
        let egress = output ? p.egress : UInt8.max  // an input filter's event names no egress
        let action: PacketAction?
        var wire = t.terminal  // what the wire saw (a reject without a reply is a discard)
        switch UInt32(t.terminal) {
        case XPF_TERM_ACCEPT.rawValue:
            if t.action & UInt8(XPF_TA_DSCP.rawValue) != 0 { rewriteDSCP(&p, t.dscp_rewrite) }
            action = nil
        case XPF_TERM_REJECT.rawValue:
            let flow = PacketFlow(p, egress: egress)  // before the reply overwrites the frame
            let r = reject(&p, dropReason: XPF_DROP_FILTER_REJECT, reply: .filter(reason: t.reject_reason), counters: &counters)
            if !r.replySent { wire = UInt8(XPF_TERM_DISCARD.rawValue) }
            p.traceFilter(output: output, dropped: true)
            logFilter(t, term: term, flow: flow, wire: wire, p, counters: &counters)
            return r.replySent ? r.action : .drop(XPF_DROP_FILTER_DISCARD)
        default:
            action = .drop(XPF_DROP_FILTER_DISCARD)
        }
        p.traceFilter(output: output, dropped: action != nil)
        logFilter(t, term: term, flow: PacketFlow(p, egress: egress), wire: wire, p, counters: &counters)
        return action
    }

    /// The FILTER_LOG event of a `log` / `syslog` term, naming the action the wire saw and
    /// the term's own filter (a list member's, not the list's).
    @inlinable @inline(__always)
    mutating func logFilter(_ t: xpf_cfg_term, term: Int, flow: PacketFlow, wire: UInt8, _ p: Packet,
                            counters: inout WorkerCounters) {
        guard t.action & UInt8(XPF_TA_LOG.rawValue | XPF_TA_SYSLOG.rawValue) != 0 else { return }
        let (now, gen, q, length) = (nowRealtimeNs, generation, events.queue, UInt16(clamping: p.parsed.l3Length))
        events.emit(XPF_EV_FILTER_LOG, ingress: p.ingress, nowMs: nowMs, length: verdictEventLength, counters: &counters) {
            VerdictEvent.write($0, flow: flow, realtimeNs: now, generation: gen, queue: q, object: t.filter,
                               item: UInt32(term), action: wire, ipLength: length)
        }
    }

    /// Offset of the IPv4 header checksum.
    @usableFromInline static var ipv4ChecksumOffset: Int { 10 }

    /// `then dscp N`: the upper six bits of the IPv4 TOS (header checksum updated, RFC 1624)
    /// or of the IPv6 traffic class; the ECN bits stay.
    @usableFromInline
    func rewriteDSCP(_ p: inout Packet, _ dscp: UInt8) {
        let l3 = p.l3
        // Safe: the parse stage proved the IP header (20 / 40 bytes) inside the frame.
        if p.parsed.family == 4 {
            let old = UInt16(bigEndian: l3.loadUnaligned(as: UInt16.self))  // version/IHL, TOS
            let new = old & 0xFF03 | UInt16(dscp & 63) << 2
            l3.storeBytes(of: new.bigEndian, as: UInt16.self)
            let sum = UInt16(bigEndian: l3.loadUnaligned(fromByteOffset: Self.ipv4ChecksumOffset, as: UInt16.self))
            l3.storeBytes(of: checksumUpdate16(sum, old: old, new: new).bigEndian, toByteOffset: Self.ipv4ChecksumOffset,
                          as: UInt16.self)
        } else {
            // Version (4 bits), traffic class (8), flow label (20): DSCP is bits 22...27.
            let old = UInt32(bigEndian: l3.loadUnaligned(as: UInt32.self))
            let new = old & 0xF03F_FFFF | UInt32(dscp & 63) << 22
            l3.storeBytes(of: new.bigEndian, as: UInt32.self)
        }
        p.parsed.dscp = dscp & 63
    }
}

extension PacketFlow {
    /// The flow of the packet in hand as a filter event reports it: no policy or zones.
    @inlinable
    init(_ p: Packet, egress: UInt8) {
        self.init()
        family = p.key.family
        proto = p.key.proto
        icmpType = p.parsed.icmpType
        ingress = p.ingress
        self.egress = egress
        tuple = p.key.tuple
    }
}
