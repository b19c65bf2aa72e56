// Spawning, reaping, restarting and watching workers (R-1.1, R-1.7).
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared

final class WorkerManager {
    struct Slot {
        var pid: Int32 = 0
        var core: Int
        var node: Int
        var restarts = 0
        var recentStarts: [UInt64] = []   // monotonic ns of recent spawns (crash-loop backoff)
        var restartAt: UInt64 = 0         // when a backed-off restart is due (0 = none)
        var failed = false                // exit code 2: configuration/ABI error, not restarted
        var spawnedAt: UInt64 = 0
        /// Beyond `system dataplane queues`: no worker runs (one still running is being
        /// stopped); xpfd keeps the partition (`keepers`) once it is reaped.
        var parked = false
    }

    let region: ShmRegion
    let workerBinary: String
    let shmPath: String
    let rxRing: Int
    let txRing: Int
    var slots: [Slot]
    /// The keeper of each queue's partition while the queue is parked (PartitionKeeper.swift);
    /// built at the queue's first park, re-attached at later ones.
    var keepers: [PartitionKeeper?]
    var stopping = false

    /// A worker whose heartbeat is older than this is killed and restarted.
    static let heartbeatTimeoutNs: UInt64 = 2_000_000_000
    static let startTimeoutNs: UInt64 = 10_000_000_000

    init(region: ShmRegion, workerBinary: String, shmPath: String, plan: [(core: Int, node: Int)], rxRing: Int, txRing: Int) {
        self.region = region
        self.workerBinary = workerBinary
        self.shmPath = shmPath
        self.rxRing = rxRing
        self.txRing = txRing
        slots = plan.map { Slot(core: $0.core, node: $0.node) }
        keepers = Array(repeating: nil, count: plan.count)
    }

    /// Queues with a worker (running, starting or restarting): the others are parked.
    var activeQueues: Int { slots.filter { !$0.parked }.count }

    func spawn(_ q: Int) {
        let now = monotonicNanos()
        let block = region.worker(q)
        block.pointee.core = Int32(slots[q].core)
        block.pointee.numa_node = Int32(slots[q].node)
        // STARTING before the child exists: generation slots stay protected for it
        // (Model: Shm/Generations.pml). The clear fields stay: a pending clear is honoured.
        xpf_store_release_u64(xpf_wb_config_seen(block), 0)
        xpf_store_release_u64(xpf_wb_fib_seen(block), 0)
        xpf_store_release_u32(xpf_wb_state(block), UInt32(XPF_WORKER_STARTING.rawValue))
        let args = [workerBinary, "--shm", shmPath, "--queue", "\(q)", "--core", "\(slots[q].core)",
                    "--node", "\(slots[q].node)", "--rx-ring", "\(rxRing)", "--tx-ring", "\(txRing)"]
        let pid: pid_t
        do { pid = try spawnProcess(args) } catch {
            logLine("xpfd", "spawning worker for queue \(q) failed: \(error); retrying in 1 s")
            xpf_store_release_u32(xpf_wb_state(block), UInt32(XPF_WORKER_EXITED.rawValue))
            slots[q].restartAt = now + 1_000_000_000
            return
        }
        slots[q].pid = pid
        slots[q].spawnedAt = now
        slots[q].restartAt = 0
        slots[q].recentStarts = slots[q].recentStarts.filter { now - $0 < 10_000_000_000 } + [now]
        block.pointee.pid = pid
        logLine("xpfd", "worker for queue \(q) started: pid \(pid), core \(slots[q].core), node \(slots[q].node)")
    }

    /// Starts the workers of queues 0..<active and parks the rest.
    func startAll(active: Int) {
        for q in slots.indices {
            if q < active { spawn(q) } else { slots[q].parked = true; keep(q) }
        }
    }

    /// xpfd takes over queue q's partition (its worker, if it had one, is reaped): a parked
    /// queue's (state PARKED), or that of a worker that failed for good (exit code 2: state
    /// FAILED; never restarted, so nobody else would age or clear its sessions). A partition
    /// kept already stays kept.
    private func keep(_ q: Int, state: xpf_worker_state = XPF_WORKER_PARKED) {
        // No process runs for the queue: tools must not take the reaped worker's pid (the
        // kernel may give it to another process) or its heartbeat for a live one's.
        let block = region.worker(q)
        block.pointee.pid = 0
        block.pointee.core = -1
        block.pointee.numa_node = -1
        xpf_store_relaxed_u64(xpf_wb_heartbeat(block), 0)
        do {
            if let k = keepers[q] {
                if !k.attached { k.attach() }
            } else {
                keepers[q] = try PartitionKeeper(region: region, queue: q)
            }
            xpf_store_release_u32(xpf_wb_state(block), UInt32(state.rawValue))
        } catch {
            // Cannot happen for a validated published configuration; said, and the queue
            // shows FAILED: its sessions stay (matching, never aged or cleared) until a
            // worker of the queue runs again.
            xpf_store_release_u32(xpf_wb_state(block), UInt32(XPF_WORKER_FAILED.rawValue))
            logLine("xpfd", "queue \(q) has no worker and xpfd cannot keep its partition: \(error); its sessions are not aged until a worker of the queue runs")
        }
    }

    /// Whether xpfd keeps queue q's partition now (parked, or its worker failed for good).
    func kept(_ q: Int) -> Bool { keepers[q]?.attached == true }

    /// One housekeeping pass of every kept partition's keeper (xpfd's loop, and while a
    /// clear waits).
    func keepPartitions() {
        for k in keepers { k?.pass() }
    }

    /// `system dataplane queues n` by commit (issue 11 §6): stops the workers of queues
    /// n and above (SIGTERM, SIGKILL after `graceNs`, then at most `killNs` more: a worker
    /// the kernel holds is left to a later reap, which hands its partition over), each one's
    /// partition passing to a keeper as it is reaped, and starts workers for parked queues
    /// below n (their keeper detached first), waiting up to `startNs` for them to run or
    /// fail. `whileWaiting` runs between polls (the event drain). Returns one line per queue
    /// changed. Nothing here restarts a worker (no `tick`): one that dies while this waits
    /// is restarted by xpfd's loop, after it has seen any SIGTERM of its own.
    /// Model: Shm/QueuePark.pml (tools/model-check).
    func setActive(_ n: Int, graceNs: UInt64 = 2_000_000_000, killNs: UInt64 = 1_000_000_000,
                   startNs: UInt64 = 5_000_000_000, whileWaiting: () -> Void) -> [String] {
        precondition(n >= 1 && n <= slots.count, "queues \(n) outside the region's \(slots.count)")
        var lines: [String] = []
        var stopped: [Int] = []
        for q in n..<slots.count where !slots[q].parked {
            slots[q].parked = true
            slots[q].restartAt = 0
            if slots[q].pid > 0 {
                kill(slots[q].pid, SIGTERM)
                stopped.append(q)
            } else {
                keep(q)  // no worker (restarting, or failed for good: kept already)
                lines.append("queue \(q) parked (it had no worker)")
            }
        }
        func waitStopped(until deadline: UInt64) {
            while stopped.contains(where: { slots[$0].pid > 0 }) && monotonicNanos() < deadline {
                reap()
                whileWaiting()
                usleep(1_000)
            }
        }
        waitStopped(until: monotonicNanos() + graceNs)
        for q in stopped where slots[q].pid > 0 {
            logLine("xpfd", "worker for queue \(q) (pid \(slots[q].pid)) did not stop within \(graceNs / 1_000_000) ms; killing it")
            kill(slots[q].pid, SIGKILL)
        }
        waitStopped(until: monotonicNanos() + killNs)  // SIGKILL: reaped at once, unless the kernel holds it
        for q in stopped {
            lines.append(slots[q].pid == 0 ? "queue \(q) parked: its worker stopped, xpfd keeps its sessions"
                : "WARNING: queue \(q) parked, but its worker (pid \(slots[q].pid)) has not exited yet: xpfd keeps its sessions once it has")
        }
        var started: [Int] = []
        for q in 0..<n where slots[q].parked {
            if slots[q].pid > 0 {
                // The worker a shrink stopped has not exited: a second process must not own
                // the partition. Left parked; a commit after it is reaped starts the queue.
                lines.append("WARNING: queue \(q) not started: its previous worker (pid \(slots[q].pid)) has not exited yet")
                continue
            }
            keepers[q]?.detach()
            slots[q].parked = false
            slots[q].failed = false
            slots[q].recentStarts = []
            spawn(q)
            started.append(q)
        }
        let deadline = monotonicNanos() + startNs
        func running(_ q: Int) -> Bool { xpf_load_acquire_u32(xpf_wb_state(region.worker(q))) == UInt32(XPF_WORKER_RUNNING.rawValue) }
        while !started.allSatisfy({ running($0) || slots[$0].failed }) && monotonicNanos() < deadline {
            reap()
            whileWaiting()
            usleep(1_000)
        }
        for q in started {
            lines.append(running(q) ? "queue \(q) started: worker pid \(slots[q].pid)"
                : slots[q].failed ? "WARNING: queue \(q)'s worker failed (exit code 2, see the log) and is not restarted: xpfd keeps its sessions"
                : "WARNING: queue \(q)'s worker is not running yet (see the log)")
        }
        return lines
    }

    /// Reaps every exited child and schedules restarts. A worker that exits with code 2
    /// (configuration/ABI) is not restarted; a crash loop backs off up to 5 s.
    func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return }
            guard let q = slots.firstIndex(where: { $0.pid == pid }) else { continue }
            let exited = status & 0x7f == 0
            let code = exited ? (status >> 8) & 0xff : -1
            let sig = exited ? 0 : status & 0x7f
            slots[q].pid = 0
            let block = region.worker(q)
            if stopping { xpf_store_release_u32(xpf_wb_state(block), UInt32(XPF_WORKER_EXITED.rawValue)); continue }
            if slots[q].parked {
                // Stopped for `queues` by commit: reaped, so its partition is xpfd's now.
                keep(q)
                logLine("xpfd", "worker for queue \(q) (pid \(pid)) stopped; queue \(q) is parked")
                continue
            }
            if code == 2 {
                slots[q].failed = true
                // Never restarted: xpfd ages and clears its partition, as a parked queue's.
                keep(q, state: XPF_WORKER_FAILED)
                logLine("xpfd", "worker for queue \(q) (pid \(pid)) exited with a configuration/ABI error; not restarting (queue \(q) fails closed, xpfd keeps its sessions)")
                continue
            }
            xpf_store_release_u32(xpf_wb_state(block), UInt32(XPF_WORKER_EXITED.rawValue))
            slots[q].restarts += 1
            block.pointee.restarts = UInt32(slots[q].restarts)
            let why = exited ? "exited with code \(code)" : "was killed by signal \(sig)"
            // First restarts are immediate (R-1.7: within a second); a crash loop backs off.
            let recent = slots[q].recentStarts.count
            let delay: UInt64 = recent <= 3 ? 0 : min(5_000_000_000, UInt64(1 << min(recent - 3, 5)) * 100_000_000)
            logLine("xpfd", "worker for queue \(q) (pid \(pid)) \(why); restarting\(delay > 0 ? " in \(delay / 1_000_000) ms" : "") (queue \(q) fails closed meanwhile)")
            slots[q].restartAt = monotonicNanos() + delay
        }
    }

    /// Restarts due workers and kills hung ones. Called every supervisor tick.
    func tick() {
        if stopping { return }
        let now = monotonicNanos()
        for q in slots.indices {
            if slots[q].pid == 0 {
                if !slots[q].parked && !slots[q].failed && slots[q].restartAt != 0 && now >= slots[q].restartAt { spawn(q) }
                continue
            }
            let block = region.worker(q)
            let state = xpf_load_acquire_u32(xpf_wb_state(block))
            if state == UInt32(XPF_WORKER_RUNNING.rawValue) {
                let hb = xpf_load_relaxed_u64(xpf_wb_heartbeat(block))
                if now > hb && now - hb > Self.heartbeatTimeoutNs {
                    logLine("xpfd", "worker for queue \(q) (pid \(slots[q].pid)) missed its heartbeat for \((now - hb) / 1_000_000) ms; killing it")
                    kill(slots[q].pid, SIGKILL)
                }
            } else if state == UInt32(XPF_WORKER_STARTING.rawValue) && now - slots[q].spawnedAt > Self.startTimeoutNs {
                logLine("xpfd", "worker for queue \(q) (pid \(slots[q].pid)) did not start within 10 s; killing it")
                kill(slots[q].pid, SIGKILL)
            }
        }
    }

    /// Nudges every live worker (SIGUSR1 interrupts its poll()) and waits until each
    /// reports `generation` as seen, or the timeout passes. Returns how many live
    /// workers there are and how many still lag.
    func awaitGeneration(_ generation: UInt64, timeoutNs: UInt64, whileWaiting: () -> Void = {}) -> (all: Bool, count: Int, lagging: Int) {
        for s in slots where s.pid > 0 { kill(s.pid, SIGUSR1) }
        let deadline = monotonicNanos() + timeoutNs
        while true {
            var live = 0, lagging = 0
            for q in slots.indices {
                let w = region.worker(q)
                let st = xpf_load_acquire_u32(xpf_wb_state(w))
                guard st == UInt32(XPF_WORKER_RUNNING.rawValue) else { continue }
                live += 1
                if xpf_load_acquire_u64(xpf_wb_config_seen(w)) < generation { lagging += 1 }
            }
            if lagging == 0 || monotonicNanos() >= deadline { return (lagging == 0, live, lagging) }
            whileWaiting()
            usleep(200)
        }
    }

    /// `clear security flow session [filters]`: asks every worker to remove the sessions of
    /// its partition that `filter` matches and waits until every partition is swept. The
    /// filter goes into each worker block first (xpf_abi.h, struct xpf_clear_filter): only
    /// while that block has no clear pending or no live worker, so a worker never reads a
    /// filter being rewritten; while a live worker still sweeps an earlier request (one that
    /// timed out) a new clear is refused. Only a partition's owner frees
    /// its records, so: a RUNNING or STARTING worker answers by storing clear_done; a dead
    /// one is reaped and restarted while this waits (xpfd is single-threaded: nothing else
    /// would restart it meanwhile), and its successor honours the pending request before
    /// its first batch; a kept partition — a parked queue's, or a FAILED worker's (never
    /// restarted: xpfd took it over when it reaped the worker, recovering it as a successor
    /// would) — is swept by its keeper like a worker, run here between polls, writing the
    /// close events into that queue's event ring. `whileWaiting` runs between polls (xpfd
    /// drains the event rings there: workers clear in slices paced by their rings).
    /// Returns how many partitions there are and how many were not clear by the timeout
    /// (a worker waiting out a crash-loop backoff, or hung).
    /// Model: Shm/ClearEpoch.pml (tools/model-check).
    func clearSessions(filter: xpf_clear_filter, timeoutNs: UInt64, whileWaiting: () -> Void) throws -> (partitions: Int, lagging: Int) {
        let busy = slots.indices.filter { q in
            let w = region.worker(q)
            let st = xpf_load_acquire_u32(xpf_wb_state(w))
            // A kept partition's keeper reads the filter as a worker does (between its passes).
            let live = st == UInt32(XPF_WORKER_STARTING.rawValue) || st == UInt32(XPF_WORKER_RUNNING.rawValue) || kept(q)
            // Acquire: pairs with the worker's release of clear_done after its last read of the filter.
            return live && xpf_load_acquire_u64(xpf_wb_clear_done(w)) != xpf_load_relaxed_u64(xpf_wb_clear_requested(w))
        }
        if !busy.isEmpty {
            throw XPFError("the worker of queue(s) \(busy.map(String.init).joined(separator: ", ")) is still clearing sessions for an earlier request; try again shortly")
        }
        var want: [UInt64] = []
        for q in slots.indices {
            let w = region.worker(q)
            xpf_wb_clear_filter(w).pointee = filter  // no reader now (checked above); published by the release below
            let n = xpf_load_relaxed_u64(xpf_wb_clear_requested(w)) &+ 1
            xpf_store_release_u64(xpf_wb_clear_requested(w), n)  // pairs with the worker's acquire
            want.append(n)
        }
        for s in slots where s.pid > 0 { kill(s.pid, SIGUSR1) }  // wake idle workers
        let deadline = monotonicNanos() + timeoutNs
        while true {
            reap()
            tick()  // restarts the dead: their successors clear before their first batch
            keepPartitions()  // a kept partition's keeper sweeps it as its worker would
            var lagging = 0
            for q in slots.indices {
                let w = region.worker(q)
                if xpf_load_acquire_u64(xpf_wb_clear_done(w)) == want[q] { continue }
                lagging += 1
            }
            if lagging == 0 || monotonicNanos() >= deadline { return (slots.count, lagging) }
            whileWaiting()
            usleep(500)
        }
    }

    /// SIGTERM to every worker, wait up to `graceNs`, then SIGKILL; reaps all.
    func stopAll(graceNs: UInt64 = 2_000_000_000) {
        stopping = true
        for k in keepers { k?.detach() }  // their counters published
        for s in slots where s.pid > 0 { kill(s.pid, SIGTERM) }
        let deadline = monotonicNanos() + graceNs
        while slots.contains(where: { $0.pid > 0 }) && monotonicNanos() < deadline {
            reap()
            usleep(10_000)
        }
        for s in slots where s.pid > 0 { kill(s.pid, SIGKILL) }
        while slots.contains(where: { $0.pid > 0 }) {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, 0)
            if pid < 0 { break }
            if let q = slots.firstIndex(where: { $0.pid == pid }) { slots[q].pid = 0 }
        }
        for q in slots.indices { xpf_store_release_u32(xpf_wb_state(region.worker(q)), UInt32(XPF_WORKER_EXITED.rawValue)) }
    }
}
