// Policers (issue 10 §5, R-6.3): `then policer P` (single-rate two-color) and `then
// three-color-policer single-rate|two-rate T` (RFC 2697 srTCM, RFC 2698 trTCM) in a filter
// term, run on every packet the term matches (never memoized: FilterStage sees
// XPF_TA_POLICE). One instance is shared by every worker — its buckets sit in shared
// memory (struct xpf_policer_bucket) — so the configured rate holds for the sum of the
// queues, whichever queues a flow's packets arrive on.
//
// A bucket is kept as GCRA's theoretical arrival time (TAT) in ticks of CLOCK_MONOTONIC
// (XPF_POLICER_TICK_SHIFT): a packet of n bytes costs n × cost ticks, and fits when
// max(TAT, now) + cost − now ≤ depth (the burst size in ticks); it then moves TAT to
// max(TAT, now) + cost. That is the token bucket of rate r and depth B exactly, kept in
// one word that needs no refill step: an update is one compare-and-swap, and a failed
// swap (another worker's packet went first) decides again on what it read.
//
//   two-color   TAT of the bandwidth-limit / burst-size-limit bucket; out of profile:
//               discard, or loss-priority / forwarding-class set (the packet goes on).
//   srTCM       C: TAT at CIR over CBS; E: tokens (ticks at CIR) up to EBS, which fill
//               only while C is full (RFC 2697's overflow): at each packet the time C has
//               been full since its TAT moves into E. Green if C has room, else yellow
//               if E has, else red.
//   trTCM       C: TAT at CIR over CBS, P: TAT at PIR over PBS. Red if P has no room;
//               else yellow (P taken) if C has none; else green (both taken).
//
// A three-color policer's pair changes by one 16-byte swap. Color-aware policers take
// the packet's loss priority as its color so far (low: green, medium-low and medium-high:
// yellow, high: red) and never lower it (RFC 2697/2698 color-aware mode); color-blind ones
// ignore it. The color becomes the packet's loss priority (green low, yellow medium-high,
// red high), which a later filter term can match (`from loss-priority`) and a color-aware
// policer of the output filter reads; red is discarded with `loss-priority high then
// discard`. Every instance counts what it found out of profile or marked red, and what
// it marked yellow (xpf_filter_hits.policer, `show firewall`).
import CXPF

/// The arithmetic of policers, shared by the snapshot encoder (costs, depths) and the
/// filter stage (metering).
public enum Policing {
    /// A packet's color, and the loss priority it stands for.
    public enum Color: UInt8 {
        case green = 0, yellow, red
    }

    /// Ticks in a second: 1e9 ns × 2^XPF_POLICER_TICK_SHIFT.
    public static let ticksPerSecond: UInt64 = 1_000_000_000 << UInt64(XPF_POLICER_TICK_SHIFT)

    /// Ticks one byte takes at `bytesPerSecond` (> 0), fixed point with
    /// XPF_POLICER_COST_SHIFT fraction bits, rounded, at least 1.
    public static func cost(bytesPerSecond: UInt64) -> UInt64 {
        precondition(bytesPerSecond > 0, "a policer rate is at least 1000 bytes/s (the compiler's floor)")
        let scaled = ticksPerSecond.multipliedFullWidth(by: 1 << UInt64(XPF_POLICER_COST_SHIFT))
        let (q, r) = bytesPerSecond.dividingFullWidth(scaled)
        return max(1, q + (r >= bytesPerSecond - r ? 1 : 0))
    }

    /// A bucket of `bytes` in ticks at `cost`, clamped to XPF_POLICER_MAX_TICKS.
    public static func depth(bytes: UInt64, cost: UInt64) -> UInt64 {
        let (hi, lo) = bytes.multipliedFullWidth(by: cost)
        let shift = UInt64(XPF_POLICER_COST_SHIFT)
        guard hi >> shift == 0 else { return XPF_POLICER_MAX_TICKS }
        return min(XPF_POLICER_MAX_TICKS, hi << (64 - shift) | lo >> shift)
    }

    /// Ticks `bytes` take at `cost` (no overflow: see XPF_POLICER_COST_SHIFT).
    @inlinable
    public static func ticks(_ bytes: Int, _ cost: UInt64) -> UInt64 {
        (UInt64(truncatingIfNeeded: bytes) &* cost) &>> UInt64(XPF_POLICER_COST_SHIFT)  // &>> binds tighter than &*
    }

    /// Bank `bank` of `all`: XPF_MAX_POLICER_INSTANCES buckets (the workers' and xpfd's view).
    public static func bank(_ all: UnsafeMutablePointer<xpf_policer_buckets>, _ bank: UInt32)
        -> UnsafeMutablePointer<xpf_policer_bucket>
    {
        // Safe: struct xpf_policer_buckets is two banks of XPF_MAX_POLICER_INSTANCES buckets
        // (Swift does not import an array that large); bank & 1 picks one.
        UnsafeMutableRawPointer(all).assumingMemoryBound(to: xpf_policer_bucket.self) + Int(bank & 1) * Int(XPF_MAX_POLICER_INSTANCES)
    }

    /// The loss priority (enum xpf_loss_priority) a color stands for.
    @inlinable
    public static func lossPriority(_ c: Color) -> UInt8 {
        switch c {
        case .green: return UInt8(XPF_LP_LOW.rawValue)
        case .yellow: return UInt8(XPF_LP_MEDIUM_HIGH.rawValue)
        case .red: return UInt8(XPF_LP_HIGH.rawValue)
        }
    }

    /// The color a loss priority stands for (color-aware policers).
    @inlinable
    public static func color(lossPriority lp: UInt8) -> Color {
        if lp >= UInt8(XPF_LP_HIGH.rawValue) { return .red }
        return lp >= UInt8(XPF_LP_MEDIUM_LOW.rawValue) ? .yellow : .green
    }

    /// Single-rate two-color: whether `bytes` fit the bucket whose TAT is `word` at `now`
    /// (ticks); takes them if so. Lock-free: a failed swap means another worker's packet
    /// went first, and the loop decides again on the TAT that one left.
    @inlinable
    public static func conforms(_ word: UnsafeMutablePointer<UInt64>, now: UInt64, cost: UInt64, depth: UInt64) -> Bool {
        var tat = xpf_load_relaxed_u64(word)
        while true {
            let next = max(tat, now) &+ cost
            if next &- now > depth { return false }
            if xpf_cas_u64(word, tat, next) { return true }
            tat = xpf_load_relaxed_u64(word)
        }
    }

    /// Three-color (`p`: the TC_POLICERS record): the color of `bytes` at `now` (ticks),
    /// `pre` the packet's color so far (green unless color-aware). The pair `w` changes by
    /// one 16-byte swap, which also re-reads it whole when it fails.
    @inlinable
    public static func color(_ w: UnsafeMutablePointer<UInt64>, now: UInt64, bytes: Int, _ p: UnsafePointer<xpf_cfg_tc_policer>,
                      pre: Color) -> Color {
        // Plain loads may tear between the two words; the swap then fails and returns the pair.
        var (w0, w1) = (xpf_load_relaxed_u64(w), xpf_load_relaxed_u64(w + 1))
        let twoRate = p.pointee.flags & XPF_CFG_TCP_TWO_RATE.rawValue != 0
        let cCost = ticks(bytes, p.pointee.c_cost), cDepth = p.pointee.c_depth, xDepth = p.pointee.x_depth
        let pCost = twoRate ? ticks(bytes, p.pointee.p_cost) : 0
        while true {
            var (n0, n1) = (w0, w1)
            let color: Color
            if twoRate {
                // RFC 2698: w0 = C's TAT, w1 = P's TAT.
                let pNext = max(w1, now) &+ pCost, cNext = max(w0, now) &+ cCost
                if pre == .red || pNext &- now > xDepth {
                    color = .red
                } else if pre == .yellow || cNext &- now > cDepth {
                    (color, n1) = (.yellow, pNext)
                } else {
                    (color, n0, n1) = (.green, cNext, pNext)
                }
            } else {
                // RFC 2697: w0 = C's TAT, w1 = E's tokens (ticks at CIR). C has been full
                // since its TAT: that time's tokens overflowed into E.
                if n0 < now {
                    n1 = min(xDepth, n1 &+ (now &- n0))
                    n0 = now
                }
                if pre == .green && n0 &+ cCost &- now <= cDepth {
                    color = .green
                    n0 &+= cCost
                } else if pre != .red && n1 >= cCost {
                    color = .yellow
                    n1 &-= cCost
                } else {
                    color = .red
                }
            }
            // A red packet that moved nothing still swaps: that proves the pair it was
            // decided on was read whole.
            if xpf_cas_pair_u64(w, &w0, &w1, n0, n1) { return color }
        }
    }
}

/// What the policing of a running snapshot reads, resolved when the pipeline adopts it
/// (section bases and the bank's buckets and counter rows), so a conforming packet pays
/// no lookups. Owned by one pipeline; rewritten between batches only.
public struct PolicingTables {
    @usableFromInline var policers: UnsafeRawPointer
    @usableFromInline var threeColorPolicers: UnsafeRawPointer
    /// The running bank's buckets (XPF_MAX_POLICER_INSTANCES) and counter rows
    /// (XPF_MAX_POLICER_INSTANCES × XPF_POLICER_ROWS).
    @usableFromInline var buckets: UnsafeMutablePointer<xpf_policer_bucket>
    @usableFromInline var rows: UnsafeMutablePointer<xpf_filter_count>

    init(_ v: ConfigSnapshotView, buckets all: UnsafeMutablePointer<xpf_policer_buckets>,
         hits: UnsafeMutablePointer<xpf_filter_hits>) {
        policers = v.base + Int(v.section(XPF_CFG_SEC_POLICERS).offset)
        threeColorPolicers = v.base + Int(v.section(XPF_CFG_SEC_TC_POLICERS).offset)
        let bank = v.head.pointee.policy_bank
        buckets = Policing.bank(all, bank)
        rows = FilterCounters.rows(hits, .policer, bank: bank)
    }

    /// POLICERS record `i` (validate() proved every term's index inside the section).
    @inlinable func policer(_ i: UInt32) -> UnsafePointer<xpf_cfg_policer> {
        (policers + Int(i) &* MemoryLayout<xpf_cfg_policer>.stride).assumingMemoryBound(to: xpf_cfg_policer.self)
    }

    /// TC_POLICERS record `i` (likewise).
    @inlinable func threeColorPolicer(_ i: UInt32) -> UnsafePointer<xpf_cfg_tc_policer> {
        (threeColorPolicers + Int(i) &* MemoryLayout<xpf_cfg_tc_policer>.stride).assumingMemoryBound(to: xpf_cfg_tc_policer.self)
    }

    /// The words of instance `i`'s buckets (SnapshotWriter keeps instances below
    /// XPF_MAX_POLICER_INSTANCES, and validate() every term's inside POLICER_INSTANCES).
    @inlinable func words(_ i: Int) -> UnsafeMutablePointer<UInt64> {
        UnsafeMutableRawPointer(buckets + i).assumingMemoryBound(to: UInt64.self)
    }

    /// Counts one packet of `bytes` in instance `i`'s row `row`.
    @inlinable func count(_ i: Int, _ row: xpf_policer_row, bytes: Int) {
        FilterCounters.count(rows, i &* Int(XPF_POLICER_ROWS.rawValue) &+ Int(row.rawValue), bytes: UInt64(bytes))
    }
}

extension Pipeline {
    /// Whether the packet fits term `t`'s two-color policer (`policer`, its POLICERS index);
    /// takes its bytes if so. The conforming packet's whole cost: the record, the bucket
    /// word, one swap.
    @inlinable @inline(__always)
    func conformsTwoColor(_ t: UnsafePointer<xpf_cfg_term>, _ policer: UInt32, _ p: borrowing Packet) -> Bool {
        let r = policing.policer(policer)
        return Policing.conforms(policing.words(Int(t.pointee.policer_instance)), now: nowNs &<< UInt64(XPF_POLICER_TICK_SHIFT),
                                 cost: Policing.ticks(p.parsed.l3Length, r.pointee.cost), depth: r.pointee.depth)
    }

    /// The policer of matched term `t` (XPF_TA_POLICE) on the packet: meters it against its
    /// instance (`outOfProfile`: a two-color one already found it out of profile), counts
    /// what it finds and sets the loss priority it marks. True: the packet is to be
    /// discarded (out of profile with `then discard`, or red with `loss-priority high then
    /// discard`).
    @usableFromInline
    mutating func police(_ t: UnsafePointer<xpf_cfg_term>, _ p: inout Packet, outOfProfile: Bool) -> Bool {
        let policer = t.pointee.policer
        guard policer != XPF_CFG_NONE else { return policeThreeColor(t, &p) }
        if !outOfProfile && conformsTwoColor(t, policer, p) { return false }
        return self.outOfProfile(policing.policer(policer), instance: Int(t.pointee.policer_instance), &p)
    }

    /// A packet a two-color policer found out of profile: counted; discarded, or marked
    /// (loss priority, forwarding class).
    @usableFromInline
    mutating func outOfProfile(_ r: UnsafePointer<xpf_cfg_policer>, instance: Int, _ p: inout Packet) -> Bool {
        policing.count(instance, XPF_POLICER_ROW_OUT, bytes: p.parsed.l3Length)
        if r.pointee.flags & UInt8(XPF_CFG_POLICER_DISCARD.rawValue) != 0 { return true }
        if r.pointee.loss_priority != UInt8(XPF_LP_NONE.rawValue) { p.lossPriority = r.pointee.loss_priority }
        if r.pointee.flags & UInt8(XPF_CFG_POLICER_FORWARDING_CLASS.rawValue) != 0 { p.forwardingClass = r.pointee.forwarding_class }
        return false
    }

    /// A three-color policer (the term's tc_policer) on the packet.
    @usableFromInline
    mutating func policeThreeColor(_ t: UnsafePointer<xpf_cfg_term>, _ p: inout Packet) -> Bool {
        let r = policing.threeColorPolicer(t.pointee.tc_policer)
        let instance = Int(t.pointee.policer_instance)
        let bytes = p.parsed.l3Length
        let aware = r.pointee.flags & XPF_CFG_TCP_COLOR_AWARE.rawValue != 0
        let color = Policing.color(policing.words(instance), now: nowNs &<< UInt64(XPF_POLICER_TICK_SHIFT), bytes: bytes, r,
                                   pre: aware ? Policing.color(lossPriority: p.lossPriority) : .green)
        switch color {
        case .green: break
        case .yellow: policing.count(instance, XPF_POLICER_ROW_YELLOW, bytes: bytes)
        case .red:
            policing.count(instance, XPF_POLICER_ROW_OUT, bytes: bytes)
            if r.pointee.flags & XPF_CFG_TCP_DISCARD_RED.rawValue != 0 { return true }
        }
        let marked = Policing.lossPriority(color)
        // Color-aware: never lower what the packet had (a medium-low packet stays so).
        p.lossPriority = aware ? max(p.lossPriority, marked) : marked
        return false
    }
}
