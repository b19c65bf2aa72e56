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
// mid-operation if it was killed (SessionPartition.init), and detaches it before it spawns
// the queue's next worker; xpfd is single-threaded, so nothing runs a keeper meanwhile.
// Model: Shm/QueuePark.pml (tools/model-check).
// The keeper adopts the published configuration at the start of every pass, before it
// reads a snapshot or counts into a policy bank, and xpfd publishes only between passes, so
// it never reads a slot being rewritten nor counts into a bank being harvested.
//
// A keeper's Pipeline lives as long as xpfd (its buffers are never freed): one per queue,
// re-attached at each park.
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared

final class PartitionKeeper {
    let region: ShmRegion
    let queue: Int
    let block: UnsafeMutablePointer<xpf_worker_block>
    private var pipeline: Pipeline
    private var control: WorkerControl
    private var counters = WorkerCounters()
    /// Whether the keeper owns the partition now (between attach and detach).
    private(set) var attached = false

    /// Builds the keeper of `queue` and attaches it: the caller has reaped the queue's worker.
    init(region: ShmRegion, queue: Int) throws {
        self.region = region
        self.queue = queue
        block = region.worker(queue)
        let built = try Pipeline.forWorker(region: region, queue: queue, logName: "xpfd")  // scans (repairs) the partition
        pipeline = built.pipeline
        control = WorkerControl(region: region, queue: queue, configFollower: built.config, fibFollower: built.fib)
        control.logName = "xpfd"
        counters.s = WorkerStatsIO.read(block)
        attached = true
    }

    /// Takes the partition over again after another worker of the queue exited.
    func attach() {
        precondition(!attached, "queue \(queue)'s partition is kept already")
        pipeline.partition = SessionPartition(table: region.sessionTable, queue: queue, queues: region.queues)
        if pipeline.partition.recovered > 0 {
            logLine("xpfd", "queue \(queue): repaired \(pipeline.partition.recovered) session record(s) its worker left mid-operation")
        }
        pipeline.events = EventEmitter(block: block, queue: queue)
        // Fresh followers: the first pass adopts (and validates) the published generation.
        control = WorkerControl(region: region, queue: queue,
                                configFollower: SnapshotFollower(word: region.configCurrentWord, seen: xpf_wb_config_seen(block)),
                                fibFollower: SnapshotFollower(word: region.fibCurrentWord, seen: xpf_wb_fib_seen(block)))
        control.logName = "xpfd"
        counters.s = WorkerStatsIO.read(block)  // the worker's last published counts go on
        attached = true
    }

    /// Hands the partition back before the queue's worker is spawned: counters published,
    /// the free list dropped (the worker rebuilds it from the records).
    func detach() {
        guard attached else { return }
        WorkerStatsIO.publish(block, &counters.s)
        pipeline.partition.release()
        attached = false
    }

    /// One pass, as a worker's between batches: adopt a new generation, a slice of a clear,
    /// a slice of ageing, the counters.
    func pass() {
        guard attached else { return }
        control.housekeep(now: monotonicNanos(), realtimeNs: realtimeNanos(), pipeline: &pipeline, counters: &counters)
    }
}
