// Firewall filter counters (struct xpf_filter_hits in xpf_abi.h): packets and bytes per
// term (TERMS index), per named counter (`then count C`, COUNTERS index) and per policer
// instance (POLICER_INSTANCES index: out of profile or red, yellow), per worker and bank. The worker counts in the filter stage (FilterStage.swift), in locals of nothing:
// one relaxed load + store per word, as the policy counters. The bank is the running
// snapshot's policy_bank (a commit that changes filters starts a new policy epoch, so term
// and counter indices never change meaning within a bank); xpfd sums, harvests and zeroes
// banks as it does the policy counters' (Status/PolicyHitCounts.swift).
import CXPF

public enum FilterCounters {
    /// Which part of struct xpf_filter_hits: per term, per named counter, or per policer
    /// instance (XPF_POLICER_ROWS rows each, enum xpf_policer_row).
    public enum Table { case term, counter, policer }

    /// Row 0 of table `table` in bank `b` (0 or 1) of `hits`: XPF_MAX_FILTER_TERMS (or
    /// _COUNTERS) records indexed by TERMS (or COUNTERS) index.
    @inlinable
    public static func rows(_ hits: UnsafeMutablePointer<xpf_filter_hits>, _ table: Table, bank b: UInt32)
        -> UnsafeMutablePointer<xpf_filter_count>
    {
        // Safe: the terms' [2][XPF_MAX_FILTER_TERMS] records start the struct, the counters'
        // [2][XPF_MAX_FILTER_COUNTERS] follow, then the policers' [2][instances × rows]
        // (static assertions in xpf_abi.h); b & 1 picks a bank.
        let first = UnsafeMutableRawPointer(hits).assumingMemoryBound(to: xpf_filter_count.self)
        switch table {
        case .term: return first + Int(b & 1) * Int(XPF_MAX_FILTER_TERMS)
        case .counter: return first + 2 * Int(XPF_MAX_FILTER_TERMS) + Int(b & 1) * Int(XPF_MAX_FILTER_COUNTERS)
        case .policer:
            return first + 2 * Int(XPF_MAX_FILTER_TERMS + XPF_MAX_FILTER_COUNTERS)
                + Int(b & 1) * Int(XPF_MAX_POLICER_INSTANCES) * Int(XPF_POLICER_ROWS.rawValue)
        }
    }

    /// Adds one packet of `bytes` to record `row` (this process alone writes it: relaxed, as
    /// readers only sum). `row` is below the table's size: SnapshotWriter refuses more
    /// terms or counters, and validate() checks every index against its section.
    @inlinable
    public static func count(_ rows: UnsafeMutablePointer<xpf_filter_count>, _ row: Int, bytes: UInt64) {
        // Safe: row < XPF_MAX_FILTER_TERMS / _COUNTERS (above); packets and bytes are the
        // record's two 64-bit words.
        let words = UnsafeMutableRawPointer(rows + row).assumingMemoryBound(to: UInt64.self)
        xpf_store_relaxed_u64(words, xpf_load_relaxed_u64(words) &+ 1)
        xpf_store_relaxed_u64(words + 1, xpf_load_relaxed_u64(words + 1) &+ bytes)
    }

    /// Record `row` as read by another process (relaxed loads: a sum, not a snapshot).
    @inlinable
    public static func read(_ rows: UnsafeMutablePointer<xpf_filter_count>, _ row: Int) -> (packets: UInt64, bytes: UInt64) {
        let words = UnsafeMutableRawPointer(rows + row).assumingMemoryBound(to: UInt64.self)
        return (xpf_load_relaxed_u64(words), xpf_load_relaxed_u64(words + 1))
    }

    /// Zeroes record `row` (xpfd, of a bank no worker counts in: see xpf_filter_hits).
    @inlinable
    public static func zero(_ rows: UnsafeMutablePointer<xpf_filter_count>, _ row: Int) {
        let words = UnsafeMutableRawPointer(rows + row).assumingMemoryBound(to: UInt64.self)
        xpf_store_relaxed_u64(words, 0)
        xpf_store_relaxed_u64(words + 1, 0)
    }
}
