// xpfd's stand-in for the worker of a parked queue (issue 11 §6): a queue beyond
// `system dataplane queues` has no worker, but its session partition still holds sessions
// whose packets now arrive on other queues (lookups are global). Only a partition's owner
// removes its records, so xpfd becomes the owner: it ages the partition (idle timeouts and
// the policy re-check of a new epoch, R-4.2/R-4.4), sweeps `clear security flow session`,
// and writes the queue's counters and close events into the queue's worker block — with the
// worker's own code (Pipeline.ageSessions, WorkerControl.housekeep), minus the sockets.
//
// One owner at a time: xpfd attaches a keeper only after it reaped the queue's worker
// (waitpid: the worker's every store happened before), repairing a record the worker left
// mid-operation if it was killed (SessionPartition.init) and a counters sequence it left odd
// (WorkerStatsIO.resume, as a restarted worker does), and detaches it before it spawns
// the queue's next worker; xpfd is single-threaded, so nothing runs a keeper meanwhile.
// Model: Shm/QueuePark.pml (tools/model-check).
// The keeper adopts the published configuration at the start of every pass, before it
// reads a snapshot or counts into a policy bank, and xpfd publishes only between passes, so
// it never reads a slot being rewritten nor counts into a bank being harvested.
//
// A keeper's Pipeline lives as long as xpfd (its buffers are never freed): one per queue,
// re-attached at each park.
import CXPF

public final class PartitionKeeper {
    public let region: ShmRegion
    public let queue: Int
    let block: UnsafeMutablePointer<xpf_worker_block>
    private var pipeline: Pipeline
    private var control: WorkerControl
    private var counters = WorkerCounters()
    /// Whether the keeper owns the partition now (between attach and detach).
    public private(set) var attached = false

    /// Builds the keeper of `queue` and attaches it: the caller has reaped the queue's worker.
    public init(region: ShmRegion, queue: Int) throws {
        self.region = region
        self.queue = queue
        block = region.worker(queue)
        let built = try Pipeline.forWorker(region: region, queue: queue, logName: Self.logName)  // scans (repairs) the partition
        pipeline = built.pipeline
        control = Self.control(region, queue, config: built.config, fib: built.fib)
        counters.s = WorkerStatsIO.resume(block).stats
        attached = true
    }

    /// Takes the partition over again after another worker of the queue exited.
    public func attach() {
        precondition(!attached, "queue \(queue)'s partition is kept already")
        pipeline.partition = Pipeline.takePartition(region: region, queue: queue, logName: Self.logName)
        pipeline.events = EventEmitter(block: block, queue: queue)
        // Fresh followers: the first pass adopts (and validates) the published generation.
        control = Self.control(region, queue,
                               config: SnapshotFollower(word: region.configCurrentWord, seen: xpf_wb_config_seen(block)),
                               fib: SnapshotFollower(word: region.fibCurrentWord, seen: xpf_wb_fib_seen(block)))
        counters.s = WorkerStatsIO.resume(block).stats
        attached = true
    }

    /// The log lines of a keeper name xpfd.
    static let logName = "xpfd"

    /// The between-batch control of queue `queue`, for xpfd.
    static func control(_ region: ShmRegion, _ queue: Int, config: SnapshotFollower, fib: SnapshotFollower) -> WorkerControl {
        var c = WorkerControl(region: region, queue: queue, configFollower: config, fibFollower: fib)
        c.logName = logName
        return c
    }

    /// Hands the partition back before the queue's worker is spawned: counters published,
    /// the free list dropped (the worker rebuilds it from the records).
    public func detach() {
        guard attached else { return }
        WorkerStatsIO.publish(block, &counters.s)
        pipeline.partition.release()
        attached = false
    }

    /// One pass, as a worker's between batches: adopt a new generation, a slice of a clear,
    /// a slice of ageing, the counters.
    public func pass() {
        pass(now: monotonicNanos(), realtimeNs: realtimeNanos())
    }

    /// A pass at the given clocks (tests drive time with it).
    public func pass(now: UInt64, realtimeNs: UInt64) {
        guard attached else { return }
        control.housekeep(now: now, realtimeNs: realtimeNs, pipeline: &pipeline, counters: &counters)
    }

    /// The generation the keeper runs, and the live sessions of its partition (nil while
    /// detached): what tests and tools may ask of it.
    public var generation: UInt64 { pipeline.generation }
    public var liveSessions: Int? { attached ? pipeline.partition.liveCount : nil }
}
