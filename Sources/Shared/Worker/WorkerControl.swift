// What a worker does between batches, apart from its sockets: the heartbeat and clocks,
// adopting a newly published configuration (validated first: refused once and logged,
// the running generation kept, R-1.5) or FIB, a slice of `clear security flow session`,
// the packet trace's arming, then after the batch a slice of ageing and the
// counters' publication. The worker loop (Sources/Worker/main.swift) is
//
//   control.beginPass → per socket: peek RX, Pipeline.processBatch, stage / drop / park
//   → parked frames → TX flush and kicks → fill rings → control.endPass → poll() if idle
//
// beginPass also does the saturation accounting (issue 11 §1): the time from one pass's
// clock read to the next belongs to the earlier pass — the time it slept in poll() (two
// clock reads around the sleep, `slept(_:)`, idle passes only) is idle, the rest busy when
// it moved packets (took some from an RX ring, or kicked or completed TX: endPass's `work`
// and `txWork`), spin otherwise. So time the worker was runnable but not running (a
// preemption, a cgroup's CPU quota) goes to what it was doing — except the wait to run
// after a wake-up in poll(), which ends before the clock read that closes the sleep (idle).
//
// and everything but the AF_XDP rings lives here and in ParkQueue, so tests and the
// benchmark drive the same code over a region (Tests/SharedTests/WorkerLoopTests.swift).
import CXPF

public struct WorkerControl {
    public let region: ShmRegion
    public let queue: Int
    public let block: UnsafeMutablePointer<xpf_worker_block>
    public var configFollower: SnapshotFollower
    public var fibFollower: SnapshotFollower
    /// A clear request being swept (Model: Shm/ClearEpoch.pml): its target and the
    /// sessions removed so far. A clear runs in slices, one per pass, paced by the event
    /// ring so that every close event reaches xpfd, and ends when a sweep of the whole
    /// partition ends.
    public private(set) var clearing: (target: UInt64, removed: Int)? = nil
    var lastPublishNs: UInt64 = 0
    var lastAgeNs: UInt64 = 0

    /// What a loop pass was, apart from its sleep, for the saturation accounting
    /// (xpf_worker_stats.loop_busy_ns / loop_spin_ns; the sleep is loop_idle_ns).
    public enum Pass {
        /// It moved packets: took some from an RX ring, or kicked or completed TX.
        case busy
        /// It moved none.
        case spin
    }
    /// The clock read of the pass in progress (0: none yet), what that pass is so far, and
    /// how long it slept in poll().
    var passStartNs: UInt64 = 0
    public private(set) var pass = Pass.spin
    public private(set) var sleptNs: UInt64 = 0

    /// Records of the partition ageing examines per millisecond. Ageing is paced by the
    /// clock, not by passes: a worker making many small passes (a new flow per pass at a
    /// few hundred thousand flows per second) spent half its time reading the records'
    /// state words (docs/performance.md, new-flow rate), and an idle one, waking every
    /// 100 ms, aged almost nothing. 256 per ms sweeps a 1 M-record partition every 4 s.
    public static let ageBudget = 256
    /// At most this many records in one pass, however long the worker slept.
    public static let ageBudgetMax = 16 * ageBudget
    static let nsPerMs: UInt64 = 1_000_000
    /// An idle worker still publishes its counters this often (xpf-top's cadence).
    public static let publishIntervalNs: UInt64 = 100_000_000

    /// The program its log lines name: the worker, or xpfd keeping a parked queue.
    public var logName = "xpf-worker"

    public init(region: ShmRegion, queue: Int, configFollower: SnapshotFollower, fibFollower: SnapshotFollower) {
        self.region = region
        self.queue = queue
        block = region.worker(queue)
        self.configFollower = configFollower
        self.fibFollower = fibFollower
    }

    /// The start of a pass (between batches only). Returns whether a new FIB was adopted
    /// (parked frames may now resolve).
    public mutating func beginPass(now: UInt64, realtimeNs: UInt64, pipeline: inout Pipeline,
                                   counters: inout WorkerCounters) -> Bool {
        account(now: now, counters: &counters)
        xpf_store_relaxed_u64(xpf_wb_heartbeat(block), now)  // read by xpfd's watchdog
        let nowMs = Self.setClocks(now: now, realtimeNs: realtimeNs, pipeline: &pipeline)
        adoptConfiguration(pipeline: &pipeline, nowMs: nowMs)
        sweepClear(pipeline: &pipeline, counters: &counters)
        pipeline.trace.follow()  // a packet trace xpfd armed or disarmed (Pipeline/Trace.swift)
        if let s = fibFollower.poll() {
            pipeline.fib = FIBView(region.fibSlot(s))
            return true
        }
        return false
    }

    /// The end of a pass: a slice of ageing once a millisecond or more has passed since the
    /// last one (`ageBudget` records per millisecond elapsed, at most `ageBudgetMax`), then
    /// the counters, published when the pass did work or removed sessions, or every
    /// `publishIntervalNs` when idle.
    public mutating func endPass(now: UInt64, work: UInt32, txWork: Bool = false, pipeline: inout Pipeline, counters: inout WorkerCounters) {
        if work > 0 || txWork { pass = .busy }
        var closed = 0
        let elapsedMs = (now &- lastAgeNs) / Self.nsPerMs
        if elapsedMs > 0 {
            lastAgeNs &+= elapsedMs &* Self.nsPerMs  // whole milliseconds: the remainder counts next time
            closed = pipeline.ageSessions(budget: Int(min(elapsedMs, UInt64(Self.ageBudgetMax / Self.ageBudget))) * Self.ageBudget,
                                          counters: &counters)
            counters.s.sessions_closed &+= UInt64(closed)
        }
        if work > 0 || closed > 0 || now &- lastPublishNs > Self.publishIntervalNs {
            WorkerStatsIO.publish(block, &counters.s)
            lastPublishNs = now
        }
    }

    /// The pass's clocks into the pipeline (event timestamps: one clock read per pass).
    /// Returns the monotonic milliseconds.
    static func setClocks(now: UInt64, realtimeNs: UInt64, pipeline: inout Pipeline) -> UInt32 {
        let nowMs = UInt32(truncatingIfNeeded: now / 1_000_000)
        pipeline.nowMs = nowMs
        pipeline.nowNs = now
        pipeline.nowS = UInt32(truncatingIfNeeded: now / 1_000_000_000)
        pipeline.nowRealtimeNs = realtimeNs
        return nowMs
    }

    /// What a parked queue's keeper (xpfd, Shared/Worker/PartitionKeeper.swift) does in place
    /// of a worker's pass: the clocks, a new configuration, a slice of a clear, a slice of
    /// ageing and the counters — no saturation accounting, heartbeat, trace or FIB (no
    /// packet passes; the loop fields of a parked block keep the worker's last values).
    /// A keeper that refused the published generation does nothing: the slot of the one it
    /// ran is not protected from reuse (Generations.swift counts live workers only), so it
    /// must not read it; xpfd validated the generation, so this is corruption, said once.
    public mutating func housekeep(now: UInt64, realtimeNs: UInt64, pipeline: inout Pipeline, counters: inout WorkerCounters) {
        let nowMs = Self.setClocks(now: now, realtimeNs: realtimeNs, pipeline: &pipeline)
        adoptConfiguration(pipeline: &pipeline, nowMs: nowMs)
        guard configFollower.isCurrent else { return }
        sweepClear(pipeline: &pipeline, counters: &counters)
        endPass(now: now, work: 0, pipeline: &pipeline, counters: &counters)
    }

    /// Saturation accounting, with the pass's one clock read: the time since the previous
    /// pass began goes to what that pass was — its sleep to idle, the rest to busy or
    /// spin — and a new pass begins.
    mutating func account(now: UInt64, counters: inout WorkerCounters) {
        if passStartNs != 0 {
            let elapsed = now &- passStartNs
            let idle = min(sleptNs, elapsed)
            counters.s.loop_idle_ns &+= idle
            switch pass {
            case .busy: counters.s.loop_busy_ns &+= elapsed - idle
            case .spin: counters.s.loop_spin_ns &+= elapsed - idle
            }
        }
        passStartNs = now
        pass = .spin
        sleptNs = 0
        counters.s.loops &+= 1
    }

    /// The pass slept `ns` in poll() (measured around the call by the worker).
    public mutating func slept(_ ns: UInt64) { sleptNs &+= ns }

    /// poll() timeouts of an idle pass: frames wait for TX completion, frames wait for a
    /// neighbour, or nothing waits (the heartbeat and idle publication cadence).
    public static let pollTxOutstandingMs: Int32 = 1
    public static let pollParkedMs: Int32 = 5
    public static let pollIdleMs: Int32 = 100

    /// After a pass: how long to sleep in poll() (ms), or nil to begin the next pass at
    /// once. A pass sleeps only when it found no packet and no clear is being swept, and
    /// the running configuration does not set `busy-poll` (XPF_CFG_F_BUSY_POLL, R-3.4:
    /// idle workers spin for latency, and their passes count as spin, not idle). The
    /// worker measures the sleep and reports it with `slept(_:)`.
    public func idleSleep(work: UInt32, txOutstanding: Bool, parked: Int, pipeline: inout Pipeline) -> Int32? {
        guard work == 0, clearing == nil, pipeline.config.pointee.flags & XPF_CFG_F_BUSY_POLL.rawValue == 0 else { return nil }
        return txOutstanding ? Self.pollTxOutstandingMs : parked > 0 ? Self.pollParkedMs : Self.pollIdleMs
    }

    /// A newly published configuration: validated before it is adopted. One that does
    /// not validate is refused once (logged), and the worker keeps the generation it runs.
    mutating func adoptConfiguration(pipeline: inout Pipeline, nowMs: UInt32) {
        guard let s = configFollower.peek() else { return }
        do {
            try region.configView(slot: s).validate()
            configFollower.acknowledge()
            pipeline.adopt(config: region.configSlot(s), generation: configFollower.generation)
            pipeline.events.configure(region.configView(slot: s), nowMs: nowMs)
        } catch {
            configFollower.refuse()
            logLine(logName, "queue \(queue): refusing configuration generation \(configFollower.pendingGeneration): \(error); still running generation \(pipeline.generation)")
        }
    }

    /// `clear security flow session`: only the owner frees its records.
    mutating func sweepClear(pipeline: inout Pipeline, counters: inout WorkerCounters) {
        let requested = xpf_load_acquire_u64(xpf_wb_clear_requested(block))  // pairs with xpfd's release
        if clearing == nil && requested != xpf_load_relaxed_u64(xpf_wb_clear_done(block)) { clearing = (requested, 0) }
        guard let (target, removed) = clearing else { return }
        // The filter: written by xpfd before its release of clear_requested (acquired
        // above), constant until our clear_done (xpf_abi.h, struct xpf_clear_filter).
        let slice = pipeline.clearSessions(filter: xpf_wb_clear_filter(block).pointee, counters: &counters)
        counters.s.sessions_closed &+= UInt64(slice.removed)
        clearing = (target, removed + slice.removed)
        if slice.finished {
            WorkerStatsIO.publish(block, &counters.s)
            xpf_store_release_u64(xpf_wb_clear_done(block), target)  // read by xpfd after the removals
            logLine(logName, "queue \(queue): cleared \(removed + slice.removed) sessions")
            clearing = nil
        }
    }
}
