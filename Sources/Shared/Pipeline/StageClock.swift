// Per-stage clocks of a traced packet (issue 11 §1: the cost of each stage, sampled). The
// stage order (Process.swift) is written once, generic over a clock that marks the end of
// each stage (`lap`):
//   * NoStageClock, every untraced packet's: `lap` is empty and the pipeline is
//     specialized for it, so the hot path reads no clock and has no instruction more;
//   * TracedStageClock, a traced packet's (processBatchTraced, Trace.swift): one
//     CLOCK_MONOTONIC read (PacketTracer.clock) as each stage ends, the time since the
//     previous read added to that stage in the packet's trace record
//     (xpf_trace_record.stage_ns). Each figure therefore includes one clock read (~20 ns of
//     vDSO here). What a stage is charged is the time of its step in Process.swift, which
//     is not quite the record's `stages` (the decisions): a stage that only checked
//     whether it applied — the ICMP error stage for a packet that is no ICMP error, a
//     filter stage of an interface without a filter — has the time of that check though
//     `stages` does not list it, and a session hit's check of its sides, with the re-check
//     it may make (RECHECK in `stages`), and its accounting are charged to `session`.
// The first path is out of line for the hot path's sake (Pipeline.firstPath); the clock
// picks the copy of it that is specialized for itself (`firstPath` below).
import CXPF

@usableFromInline
protocol StageClock {
    /// Stage `stage` ended now.
    mutating func lap(_ stage: xpf_trace_stage)
    /// The first path, timed by this clock.
    mutating func firstPath(_ pipeline: inout Pipeline, _ p: inout Packet, counters: inout WorkerCounters) -> PacketAction
}

extension StageClock {
    /// Marks `stage` ended and passes its result on, one line per stage in Process.swift:
    /// `if let done = clock.ended(STAGE, stage(&p, …)) { return done }` (the stage runs
    /// first: it is the argument).
    @inlinable @inline(__always)
    mutating func ended(_ stage: xpf_trace_stage, _ result: PacketAction?) -> PacketAction? {
        lap(stage)
        return result
    }
}

/// The untraced packet's clock: no clock at all.
@usableFromInline
struct NoStageClock: StageClock {
    @inlinable init() {}
    @inlinable @inline(__always) mutating func lap(_ stage: xpf_trace_stage) {}
    @inlinable @inline(__always)
    mutating func firstPath(_ pipeline: inout Pipeline, _ p: inout Packet, counters: inout WorkerCounters) -> PacketAction {
        pipeline.firstPath(&p, counters: &counters)
    }
}

/// A traced packet's clock: each stage's time into its trace record.
struct TracedStageClock: StageClock {
    let record: UnsafeMutablePointer<xpf_trace_record>
    /// The clock (PacketTracer.clock).
    let read: @convention(c) () -> UInt64
    /// The clock read that ended the previous stage (or began the packet).
    var last: UInt64

    mutating func lap(_ stage: xpf_trace_stage) {
        let now = read()
        withUnsafeMutableBytes(of: &record.pointee.stage_ns) { raw in
            // Safe: stage < XPF_TRACE_STAGE_COUNT, the array's length (xpf_abi.h).
            let slot = raw.baseAddress!.assumingMemoryBound(to: UInt32.self) + Int(stage.rawValue)
            slot.pointee = slot.pointee &+ UInt32(clamping: now &- last)
        }
        last = now
    }

    mutating func firstPath(_ pipeline: inout Pipeline, _ p: inout Packet, counters: inout WorkerCounters) -> PacketAction {
        pipeline.firstPathStages(&p, counters: &counters, clock: &self)
    }
}
