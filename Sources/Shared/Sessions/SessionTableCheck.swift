// The session table's consistency checker (`xpfctl debug check sessions`, the crash
// tests). It only reads, so it runs against a live dataplane from another process.
//
// What it checks (the invariants SessionTable.pml proves for the protocol):
//   - every index slot that is neither empty nor a tombstone refers to a record inside
//     the table that is LIVE, whose key in the slot's direction has the slot's tag, and
//     that a lookup reaches: within the probe bound from the key's start bucket, with
//     no empty slot before it;
//   - every LIVE record is indexed in both directions, exactly once each;
//   - no BUSY record in the partition of a worker that is not running (a kill leaves
//     one; the restarted worker repairs it before it reports RUNNING).
//
// A running table changes under the checker, so one observation never convicts:
//   - a slot or record is judged only from reads bracketed by two equal loads of the
//     record's state word (the seqlock readers use; the slot is re-read in between);
//     a word that changed means the record moved on: not an error;
//   - a suspicious slot or LIVE record is re-examined up to `attempts` times, `pause`
//     apart; it is an error only if every attempt finds it wrong;
//   - a BUSY record (or a slot referring to one) of a running owner is an operation in
//     flight. It is an error only when the owner has visibly moved on — its progress
//     word (the worker heartbeat, stored at the top of each loop iteration; an insert
//     or remove never spans two; for a partition xpfd's keeper owns, the queue's
//     counters' sequence) changed — while the record stayed BUSY with the same sequence.
import CXPF
#if canImport(Glibc)
import Glibc
#endif

/// How the checker sees the worker owning a partition.
public struct SessionOwnerStatus {
    /// STARTING or RUNNING with a live process: its BUSY record may be in flight.
    public var running: Bool
    /// Changes whenever the owner starts another loop iteration (its heartbeat).
    public var progress: UInt64
    public init(running: Bool, progress: UInt64) {
        self.running = running
        self.progress = progress
    }
}

/// What `SessionTable.check` found.
public struct SessionTableReport {
    public var capacity = 0
    public var partitions = 0
    /// Records by state, as the scan met them.
    public var live = 0, free = 0, busy = 0
    /// Index slots: referring to a record, tombstones, empty.
    public var slotsUsed = 0, tombstones = 0, slotsEmpty = 0
    /// BUSY records of running owners, and slots referring to them: operations in flight.
    public var inFlight = 0
    /// Observations that changed while they were re-examined (the table moved on).
    public var transient = 0
    /// The first `SessionTable.maxReportedErrors` errors, in scan order.
    public var errors: [String] = []
    public var errorCount = 0
    public var isConsistent: Bool { errorCount == 0 }

    mutating func error(_ message: String) {
        errorCount += 1
        if errors.count < SessionTable.maxReportedErrors { errors.append(message) }
    }
}

extension SessionTable {
    /// Errors kept in a report (the count goes on).
    public static let maxReportedErrors = 50
    /// Times a suspicious slot or record is examined before it is called an error.
    public static let checkAttempts = 5
    /// Pause between two examinations, microseconds.
    public static let checkPauseMicros: UInt32 = 2_000

    /// Checks the whole table (see the file comment). `partitions` is the number of
    /// owners (queues); `owner(q)` reports on the worker owning partition q.
    public func check(partitions: Int, attempts: Int = SessionTable.checkAttempts,
                      pauseMicros: UInt32 = SessionTable.checkPauseMicros,
                      owner: (Int) -> SessionOwnerStatus) -> SessionTableReport {
        var report = SessionTableReport()
        report.capacity = capacity
        report.partitions = partitions
        let per = capacity / max(partitions, 1)
        func partition(_ idx: Int) -> Int? { per > 0 && idx / per < partitions ? idx / per : nil }
        func ownerRunning(_ idx: Int) -> Bool { partition(idx).map { owner($0).running } ?? false }
        func retried(_ judge: () -> SlotVerdict) -> SlotVerdict {
            var v = judge()
            var n = 1
            while case .error = v, n < attempts {
                usleep(pauseMicros)
                v = judge()
                n += 1
            }
            return v
        }

        // Index: how often each (record, direction) is referred to, saturating at 255.
        var refs = [UInt8](repeating: 0, count: capacity * 2)
        for b in 0..<bucketCount {
            for i in 0..<Int(XPF_INDEX_SLOTS) {
                let v = xpf_load_acquire_u64(xpf_index_slot(buckets + b, UInt32(i)))
                if v == 0 { report.slotsEmpty += 1; continue }
                if v == XPF_INDEX_TOMBSTONE { report.tombstones += 1; continue }
                report.slotsUsed += 1
                switch retried({ judgeSlot(bucket: b, slot: i, value: v, ownerRunning: ownerRunning) }) {
                case .indexes(let ref): if refs[ref] < UInt8.max { refs[ref] += 1 }
                case .inFlight: report.inFlight += 1
                case .changed: report.transient += 1
                case .error(let message): report.error(message)
                }
            }
        }

        // Records.
        var busyOfRunning: [(index: Int, word: UInt32, progress: UInt64)] = []
        for idx in 0..<capacity {
            let rec = records + idx
            let s = xpf_sess_load_state(rec)
            switch s & 3 {
            case UInt32(XPF_SESS_FREE.rawValue):
                report.free += 1
            case UInt32(XPF_SESS_BUSY.rawValue):
                report.busy += 1
                if let q = partition(idx), case let o = owner(q), o.running {
                    busyOfRunning.append((idx, s, o.progress))
                } else if let q = partition(idx) {
                    report.error("record \(idx) is BUSY but the worker of queue \(q) that owns it is not running (a killed worker's successor frees it at start)")
                } else {
                    report.error("record \(idx) is BUSY but lies outside every partition")
                }
            case UInt32(XPF_SESS_LIVE.rawValue):
                report.live += 1
                if partition(idx) == nil { report.error("record \(idx) is LIVE but lies outside every partition") }
                if refs[idx * 2] == 1 && refs[idx * 2 + 1] == 1 { continue }
                // The scan may have passed the slots before an insert or after a remove: ask again.
                switch retried({ judgeLive(idx) }) {
                case .error(let message): report.error(message)
                case .changed: report.transient += 1
                case .indexes, .inFlight: break
                }
            default:
                report.error("record \(idx) has an invalid state word 0x\(String(s, radix: 16))")
            }
        }

        // BUSY records of running owners: in flight unless the owner moved on without them.
        for entry in busyOfRunning {
            let q = partition(entry.index)!  // Safe: only records of a partition were collected
            var verdict: SlotVerdict = .inFlight
            for n in 0..<attempts {
                if n > 0 { usleep(pauseMicros) }
                if xpf_sess_load_state(records + entry.index) != entry.word { verdict = .changed; break }
                let o = owner(q)
                if !o.running {
                    verdict = .error("record \(entry.index) is BUSY and the worker of queue \(q) stopped running")
                } else if o.progress != entry.progress {
                    verdict = .error("record \(entry.index) stayed BUSY (word 0x\(String(entry.word, radix: 16))) while the worker of queue \(q) went on to its next loop iteration")
                }
            }
            switch verdict {
            case .error(let message): report.error(message)
            case .changed: report.transient += 1
            default: report.inFlight += 1
            }
        }
        return report
    }

    enum SlotVerdict {
        case indexes(Int)   // a valid reference to (record * 2 + direction)
        case inFlight       // refers to a BUSY record of a running owner
        case changed        // the slot or record changed while it was examined
        case error(String)
    }

    /// One slot, judged from reads bracketed by two equal loads of the record's word.
    func judgeSlot(bucket b: Int, slot i: Int, value v: UInt64, ownerRunning: (Int) -> Bool) -> SlotVerdict {
        let here = "index slot \(b).\(i) (0x\(String(v, radix: 16)))"
        let ref = UInt32(truncatingIfNeeded: v)
        guard ref != 0, Int((ref &- 1) >> 1) < capacity else { return .error("\(here) refers to no record of the table") }
        let idx = Int((ref &- 1) >> 1), dir = (ref &- 1) & 1
        let rec = records + idx
        let s1 = xpf_sess_load_state(rec)
        var key = self.key(of: idx, direction: dir)
        xpf_fence_acquire()  // the key loads happen before the re-loads
        let v2 = xpf_load_acquire_u64(xpf_index_slot(buckets + b, UInt32(i)))
        if v2 != v || xpf_sess_load_state(rec) != s1 { return .changed }
        switch s1 & 3 {
        case UInt32(XPF_SESS_LIVE.rawValue):
            break
        case UInt32(XPF_SESS_BUSY.rawValue):
            return ownerRunning(idx) ? .inFlight
                : .error("\(here) refers to record \(idx), BUSY, whose worker is not running")
        default:
            return .error("\(here) refers to record \(idx), which is FREE")
        }
        let h = Self.hash(&key)
        if UInt32(truncatingIfNeeded: h >> 32) != UInt32(truncatingIfNeeded: v >> 32) {
            return .error("\(here) has a tag that is not the hash of record \(idx)'s \(dir == 0 ? "forward" : "reverse") key")
        }
        // Reachable: within the probe bound, and no empty slot between the start and here.
        let start = Self.startBucket(h, bucketCount)
        let distance = (b - start + bucketCount) % bucketCount
        if distance >= maxProbe {
            return .error("\(here) lies \(distance) buckets from its key's start bucket (probe bound \(maxProbe))")
        }
        for d in 0...distance {
            let bucket = buckets + (start + d) % bucketCount
            for j in 0..<(d == distance ? i : Int(XPF_INDEX_SLOTS)) where xpf_load_acquire_u64(xpf_index_slot(bucket, UInt32(j))) == 0 {
                return .error("\(here) is unreachable: an empty slot ends its key's probe before it")
            }
        }
        return .indexes(idx * 2 + Int(dir))
    }

    /// A LIVE record whose slot count was not 1 + 1 in the scan: count its slots along
    /// each direction's probe chain, bracketed by two loads of its word.
    func judgeLive(_ idx: Int) -> SlotVerdict {
        let rec = records + idx
        let s1 = xpf_sess_load_state(rec)
        if s1 & 3 != UInt32(XPF_SESS_LIVE.rawValue) { return .changed }
        var counts = [0, 0]
        for dir in 0..<2 {
            var key = self.key(of: idx, direction: UInt32(dir))
            let h = Self.hash(&key)
            let value = UInt64(UInt32(truncatingIfNeeded: h >> 32)) << 32 | UInt64(Self.ref(idx, UInt32(dir)))
            var b = Self.startBucket(h, bucketCount)
            probe: for _ in 0..<maxProbe {
                for j in 0..<UInt32(XPF_INDEX_SLOTS) {
                    let v = xpf_load_acquire_u64(xpf_index_slot(buckets + b, j))
                    if v == 0 { break probe }
                    if v == value { counts[dir] += 1 }
                }
                b = (b + 1) % bucketCount
            }
        }
        xpf_fence_acquire()
        if xpf_sess_load_state(rec) != s1 { return .changed }
        if counts == [1, 1] { return .indexes(idx * 2) }
        return .error("record \(idx) is LIVE but indexed \(counts[0]) time(s) forward and \(counts[1]) time(s) reverse (want once each)")
    }
}

extension ShmRegion {
    /// Checks the region's session table; owners are the worker blocks (state STARTING
    /// or RUNNING with a live pid; progress = heartbeat), or xpfd's keeper for a PARKED or
    /// FAILED queue (running while xpfd lives; progress = the queue's counters' sequence,
    /// which the keeper advances after its removals, every pass that made any and every
    /// 100 ms — a remove never spans two). A FAILED queue whose keeper could not attach
    /// (xpfd logged it) leaves a BUSY record seen as in flight, not as an error.
    public func checkSessions(attempts: Int = SessionTable.checkAttempts,
                              pauseMicros: UInt32 = SessionTable.checkPauseMicros) -> SessionTableReport {
        let supervisor = header.pointee.supervisor_pid
        return sessionTable.check(partitions: queues, attempts: attempts, pauseMicros: pauseMicros) { q in
            let block = worker(q)
            let state = xpf_load_acquire_u32(xpf_wb_state(block))
            if state == UInt32(XPF_WORKER_PARKED.rawValue) || state == UInt32(XPF_WORKER_FAILED.rawValue) {
                return SessionOwnerStatus(running: processAlive(supervisor), progress: xpf_load_acquire_u64(xpf_wb_stats_seq(block)))
            }
            let live = state == UInt32(XPF_WORKER_STARTING.rawValue) || state == UInt32(XPF_WORKER_RUNNING.rawValue)
            return SessionOwnerStatus(running: live && processAlive(block.pointee.pid),
                                      progress: xpf_load_relaxed_u64(xpf_wb_heartbeat(block)))
        }
    }
}
