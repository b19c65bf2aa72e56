// Policy counters (struct xpf_policy_hits / xpf_policy_counters in xpf_abi.h): the hit
// count of every policy and the traffic of the sessions of `then count` policies, per
// worker and bank. The worker counts a hit in the policy stage and a closed session's
// packets and bytes wherever it removes the session (ageing, a re-check that closes it, a
// clear); xpfd's keeper does the same for a parked queue or a worker that failed for good
// (Shared/Worker/PartitionKeeper.swift). xpfd sums and keeps them
// across commits (Status/PolicyHitCounts.swift).

import CXPF

public enum PolicyCounters {
    /// Row `b` (0 or 1) of `banks`: the counters of every policy id.
    @inlinable
    public static func bank(_ banks: UnsafeMutablePointer<xpf_policy_hits>, _ b: UInt32)
        -> UnsafeMutablePointer<xpf_policy_counters>
    {
        // Safe: c is [2][XPF_MAX_POLICIES + 1] records; b & 1 picks one row.
        UnsafeMutableRawPointer(banks).assumingMemoryBound(to: xpf_policy_counters.self)
            + Int(b & 1) * (Int(XPF_MAX_POLICIES) + 1)
    }

    /// Word `word` (enum xpf_policy_counter_word) of id `id`'s record in `bank`.
    @inlinable
    public static func counter(_ bank: UnsafeMutablePointer<xpf_policy_counters>, _ id: Int, _ word: xpf_policy_counter_word)
        -> UnsafeMutablePointer<UInt64>
    {
        // Safe: ids are at most XPF_MAX_POLICIES (a 16-bit session field; SnapshotWriter
        // refuses more policies) and the record is XPF_PC_WORDS 64-bit words (static
        // assertions in xpf_abi.h).
        UnsafeMutableRawPointer(bank + id).assumingMemoryBound(to: UInt64.self) + Int(word.rawValue)
    }

    /// Adds `n` to a counter this process alone writes (relaxed: readers only sum).
    @inlinable
    public static func add(_ p: UnsafeMutablePointer<UInt64>, _ n: UInt64) {
        xpf_store_relaxed_u64(p, xpf_load_relaxed_u64(p) &+ n)
    }

    /// One more first packet matched by policy `id`.
    @inlinable
    public static func countHit(_ bank: UnsafeMutablePointer<xpf_policy_counters>, _ id: Int) {
        add(counter(bank, id, XPF_PC_HITS), 1)
    }

    /// Record `rec` is being removed: when its policy counts (XPF_SESS_COUNT) and its
    /// verdict is of the counting process's policy epoch — decided at a generation in
    /// [`epoch`, `generation`]: an older one names another policy here, a newer one (another
    /// worker re-checked it under a configuration this process does not run yet) belongs
    /// to the next epoch's bank — its policy's counters take its packets and bytes and one
    /// closed session. Called by the process removing it, before the record is freed.
    @inlinable
    public static func sessionClosed(_ rec: UnsafeMutablePointer<xpf_session>, bank: UnsafeMutablePointer<xpf_policy_counters>,
                                     epoch: UInt32, generation: UInt32)
    {
        // Acquire first: the verdict (policy, flags) stored before this generation is
        // visible to the loads that follow (xpf_shim.h, xpf_sess_generation).
        let decided = xpf_sess_generation(rec)
        guard Int32(bitPattern: decided &- epoch) >= 0, Int32(bitPattern: generation &- decided) >= 0,
              xpf_sess_flags(rec) & UInt8(XPF_SESS_COUNT.rawValue) != 0
        else { return }
        let id = Int(xpf_sess_policy(rec))
        add(counter(bank, id, XPF_PC_PACKETS_FWD), xpf_sess_packets(rec, 0))
        add(counter(bank, id, XPF_PC_PACKETS_REV), xpf_sess_packets(rec, 1))
        add(counter(bank, id, XPF_PC_BYTES_FWD), xpf_sess_bytes(rec, 0))
        add(counter(bank, id, XPF_PC_BYTES_REV), xpf_sess_bytes(rec, 1))
        add(counter(bank, id, XPF_PC_CLOSED), 1)
    }
}

extension Pipeline {
    /// Record `index` of this worker's partition is about to be removed (aged or cleared):
    /// its traffic goes to its `then count` policy's counters. A stale counted session is
    /// re-checked first, so it counts under the running epoch's policy when that still
    /// permits it (a session the new policies refuse has no policy left to count it).
    @inlinable
    func countClosed(_ index: Int) {
        let rec = partition.table.records + index
        if xpf_sess_flags(rec) & UInt8(XPF_SESS_COUNT.rawValue) != 0 && isStale(rec) { _ = recheck(index) }
        PolicyCounters.sessionClosed(rec, bank: policyHits, epoch: policyEpoch, generation: UInt32(truncatingIfNeeded: generation))
    }
}
