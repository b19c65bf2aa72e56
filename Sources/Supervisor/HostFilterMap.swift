// xpfd's side of the XDP program's firewall filters on host-bound traffic (issue 10; layout,
// banks and rules in xpf_bpf_abi.h, "Firewall filters on host-bound traffic"): it writes a
// bank's `HostFilterTable` and policers, folds the program's counts into `show firewall`
// and turns its log records into FILTER_LOG events. HostInboundMap drives it, with the
// host-inbound tables, in the bank the program does not read.
//
// Counts: the program counts per bank in host_filter_hits, rows by pool index. xpfd keeps
// what each bank's rows mean (the identity — family, filter, term / counter / policer
// instance and color — of the table installed there) and, before it writes a bank again,
// adds the bank's rows to `totals` and zeroes them. That bank was switched away from one
// install earlier: the program reads the bank word once per packet, so only a packet that
// read it before that switch — an XDP run of microseconds, against commits milliseconds
// apart — could still count there (as HostInboundMap's tables are rewritten). `counts()`
// is totals plus both banks' rows now; FilterCounts adds them to the rows of the same
// identity, so `show firewall`, `clear firewall` and /metrics see one count per term,
// counter and policer whether workers or the program counted it.
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared

final class HostFilterMap {
    let filtersFd: Int32
    let hitsFd: Int32
    let policersFd: Int32
    /// The log ring's reader (nil: the ring could not be mapped; logs are then lost, said once).
    let log: OpaquePointer?
    /// One map value, written into the bank being installed (too large for the stack).
    let value = UnsafeMutablePointer<xpf_host_filters>.allocate(capacity: 1)

    /// What a bank's rows count for: the identities of the table installed there.
    struct Rows {
        var terms: [FilterCountIdentity] = []
        var counters: [FilterCountIdentity] = []
        /// Per pool policer: row 0's identity (out of profile, or red), then row 1's (yellow).
        var policers: [[FilterCountIdentity]] = []
        /// Identities a later configuration removed: their rows are zeroed when the bank is
        /// harvested but not added (a filter, term or counter written again later starts
        /// from zero, as on Junos and in the workers' FilterCounts).
        var discard: Set<FilterCountIdentity> = []

        var all: Set<FilterCountIdentity> { Set(terms + counters + policers.flatMap { $0 }) }
    }
    var installed: [Rows?] = Array(repeating: nil, count: Int(XPF_HOST_INBOUND_BANKS))
    /// Counts of banks harvested, by identity (lifetime).
    var totals: [FilterCountIdentity: FilterTraffic] = [:]

    init(filtersFd: Int32, hitsFd: Int32, policersFd: Int32, logFd: Int32) {
        self.filtersFd = filtersFd
        self.hitsFd = hitsFd
        self.policersFd = policersFd
        log = xpf_hf_log_open(logFd)
        if log == nil { logLine("xpfd", "host_filter_log: cannot map the ring (\(SysError("ring_buffer__new", xpf_errno()))); filter logs of host-bound traffic are lost") }
    }

    deinit {
        xpf_hf_log_close(log)
        value.deallocate()
    }

    /// Writes `table` (computed from `view`, the snapshot about to be published) and its
    /// policers, with full buckets, into bank `bank`, after folding that bank's counts into
    /// `totals`. The caller switches the bank word afterwards.
    func install(_ table: HostFilterTable, view: ConfigSnapshotView, bank: UInt32) throws {
        try harvest(bank)
        let ids = FilterCounts.identities(view)
        // What the configuration being installed still has: everything else is gone for good,
        // from the totals now and from the other bank (the running one, counting until the
        // switch) when it is harvested. Pruned by the snapshot's identities, as FilterCounts
        // keeps its own: a filter detached from lo0 but still defined keeps its counts.
        let live = Set(ids.terms + ids.counters + ids.policers.flatMap { $0 })
        totals = totals.filter { live.contains($0.key) }
        let other = Int((bank + 1) % UInt32(XPF_HOST_INBOUND_BANKS))
        if var rows = installed[other] {
            rows.discard.formUnion(rows.all.subtracting(live))
            installed[other] = rows
        }
        var rows = Rows()
        rows.terms = table.terms.map { ids.terms[Int($0.snapshot_term)] }
        rows.counters = table.counterSources.map { ids.counters[$0] }
        rows.policers = table.policerSources.map { ids.policers[$0] }
        for (i, p) in table.policers.enumerated() {
            var key = bank * UInt32(XPF_HF_MAX_POLICERS) + UInt32(i)
            var v = p
            if bpf_map_update_elem(policersFd, &key, &v, 0) != 0 { throw SysError("host_filter_policers update", xpf_errno()) }
        }
        table.write(into: value)
        var key = bank
        if bpf_map_update_elem(filtersFd, &key, value, 0) != 0 { throw SysError("host_filters update", xpf_errno()) }
        installed[Int(bank)] = rows
        rateCap.configure(view, nowMs: UInt32(truncatingIfNeeded: monotonicNanos() / Self.nsPerMs))
    }

    /// Adds bank `bank`'s rows to `totals` and zeroes them.
    func harvest(_ bank: UInt32) throws {
        guard let rows = installed[Int(bank)] else { return }
        try forEachRow(rows, bank: bank) { key, identity in
            var n = FilterTraffic()
            let r = xpf_hf_count_read(hitsFd, key, &n.packets, &n.bytes)
            if r != 0 { throw SysError("host_filter_hits read", -r) }
            if (n.packets != 0 || n.bytes != 0) && !rows.discard.contains(identity) {
                totals[identity] = (totals[identity] ?? FilterTraffic()) &+ n
            }
            let z = xpf_hf_count_zero(hitsFd, key)
            if z != 0 { throw SysError("host_filter_hits zero", -z) }
        }
        installed[Int(bank)] = nil
    }

    /// Every identity's lifetime count: harvested banks plus both banks' rows now. A row
    /// that cannot be read (it never fails for an array map) counts nothing this time.
    func counts() -> [FilterCountIdentity: FilterTraffic] {
        var out = totals
        for bank in 0..<UInt32(XPF_HOST_INBOUND_BANKS) {
            guard let rows = installed[Int(bank)] else { continue }
            try? forEachRow(rows, bank: bank) { key, identity in
                guard !rows.discard.contains(identity) else { return }
                var n = FilterTraffic()
                guard xpf_hf_count_read(hitsFd, key, &n.packets, &n.bytes) == 0, n.packets != 0 || n.bytes != 0 else { return }
                out[identity] = (out[identity] ?? FilterTraffic()) &+ n
            }
        }
        return out
    }

    /// Calls `body` with the host_filter_hits key and identity of every row of `rows`.
    func forEachRow(_ rows: Rows, bank: UInt32, _ body: (UInt32, FilterCountIdentity) throws -> Void) rethrows {
        for (i, identity) in rows.terms.enumerated() { try body(HostFilterTable.termRow(bank: bank, i), identity) }
        for (c, identity) in rows.counters.enumerated() { try body(HostFilterTable.counterRow(bank: bank, c), identity) }
        for (p, colors) in rows.policers.enumerated() {
            for (row, identity) in colors.enumerated() { try body(HostFilterTable.policerRow(bank: bank, p, row: row), identity) }
        }
    }

    /// Records drained per call: the ring holds XPF_HF_LOG_BYTES; a busy ring is drained
    /// again on the next pass of xpfd's loop (1 ms later, as the workers' event rings).
    static let drainBatch = 256
    static let nsPerMs: UInt64 = 1_000_000
    /// `security log rate-cap`, applied to the program's records as each worker applies it
    /// to its own events (per event kind and zone of the ingress interface), configured
    /// with every install.
    var rateCap = EventRateLimiter()
    /// Records the cap suppressed, and every record drained (`show log statistics`).
    private(set) var rateLimited: UInt64 = 0
    private(set) var drained: UInt64 = 0

    /// Drains the log ring: each record as the FILTER_LOG event a worker would have emitted
    /// (no worker: queue UInt8.max; the program's time is not wall-clock time, so the event
    /// is stamped now). Returns how many.
    func drainLogs(_ body: (UnsafePointer<xpf_event>) -> Void) -> Int {
        guard let log else { return 0 }
        var records = [xpf_host_filter_log](repeating: xpf_host_filter_log(), count: Self.drainBatch)
        let n = records.withUnsafeMutableBytes { Int(xpf_hf_log_drain(log, $0.baseAddress, Int32(Self.drainBatch))) }
        guard n > 0 else { return 0 }
        drained &+= UInt64(n)
        var event = xpf_event()
        let now = realtimeNanos()
        let nowMs = UInt32(truncatingIfNeeded: monotonicNanos() / Self.nsPerMs)
        for r in records.prefix(n) {
            if rateCap.capped && !rateCap.admit(XPF_EV_FILTER_LOG, ingress: r.slot, nowMs: nowMs) {
                rateLimited &+= 1
                continue
            }
            var flow = PacketFlow()
            flow.family = r.family
            flow.proto = r.protocol
            flow.icmpType = r.icmp_type
            flow.ingress = r.slot
            withUnsafeMutableBytes(of: &flow.tuple) { t in
                withUnsafeBytes(of: r.src) { t.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: 16) }
                withUnsafeBytes(of: r.dst) { (t.baseAddress! + 16).copyMemory(from: $0.baseAddress!, byteCount: 16) }
            }
            flow.tuple.sport = r.sport.bigEndian
            flow.tuple.dport = r.dport.bigEndian
            event.hdr.type = UInt8(XPF_EV_FILTER_LOG.rawValue)
            withUnsafeMutableBytes(of: &event) { raw in
                VerdictEvent.write(raw.baseAddress! + MemoryLayout<xpf_event_hdr>.size, flow: flow, realtimeNs: now,
                                   generation: UInt64(r.generation), queue: UInt8.max, object: r.filter,
                                   item: r.snapshot_term, action: r.action, ipLength: r.ip_length)
            }
            withUnsafePointer(to: &event) { body($0) }
        }
        return n
    }
}
