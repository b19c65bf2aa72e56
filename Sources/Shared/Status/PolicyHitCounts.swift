// Policy hit counts that survive commits (`show security policies hit-count`, issue 9 §2).
//
// Workers count in shared memory by policy id (struct xpf_policy_hits: one row per
// worker and bank, relaxed, single writer). A policy id is an index into one
// configuration's POLICIES, so it changes meaning with every new policy epoch; that is
// why a new epoch flips the bank (ShmRegion.publishConfig). xpfd keeps the lasting count
// per policy *identity* (zone pair and name; global and name; the default policy):
//
//   flip published (generation g, bank b' = b ^ 1)
//     → every live worker acknowledges a generation ≥ g (config_generation_seen, release)
//     → xpfd (acquire on that word, so the workers' last counts in b are visible) adds
//       bank b of every worker to its totals under the OLD configuration's identities and
//       zeroes bank b (relaxed stores)
//     → only then may a commit publish the next flip (back to b): its store-release of
//       config_current orders the zeroes before any worker's first count in b.
//
// A worker that has not acknowledged g may still count in b, so b is neither read for
// good nor zeroed while one lags; a commit that would flip back to b before that is
// refused (`flipBlocker`, `publish`). Until the harvest, readers add the unharvested bank under the
// old identities, so the count an operator sees never drops. `clear` resets the totals
// and remembers the banks' present sums as a baseline (xpfd cannot zero a bank a worker
// writes). Only xpfd runs this type; it is single-threaded.
//
// The firewall filter counters (struct xpf_filter_hits) are banked with the policy ids, so
// the same flip, the same lagging-worker rule and the same harvest cover their rows: this
// type drives `filters` (FilterCounts.swift) at each flip and each harvest.
#if canImport(Glibc)
import Glibc
#endif
import CXPF

/// What a hit count belongs to, across commits: the same zone pair and name (or global
/// and name, or the default policy) is the same counter even when its id changes.
public struct PolicyIdentity: Hashable, Sendable {
    public enum Scope: Hashable, Sendable {
        case zonePair(from: String, to: String)
        case global
        case defaultPolicy
    }

    public var scope: Scope
    public var name: String

    public init(scope: Scope, name: String) {
        self.scope = scope
        self.name = name
    }

    /// The name the default policy's row carries.
    public static let defaultPolicyName = "default-policy"
    public static let defaultPolicy = PolicyIdentity(scope: .defaultPolicy, name: defaultPolicyName)

    /// Every counter id of `model` with its identity, in id order, the default policy
    /// (XPF_SESS_POLICY_DEFAULT) last.
    public static func all(_ model: ConfigModel) -> [(id: Int, identity: PolicyIdentity)] {
        var out: [(id: Int, identity: PolicyIdentity)] = []
        for pair in model.policies.zonePairs {
            let scope = Scope.zonePair(from: model.zones[pair.fromZone].name, to: model.zones[pair.toZone].name)
            for p in pair.policies { out.append((p.id, PolicyIdentity(scope: scope, name: p.name))) }
        }
        for p in model.policies.global { out.append((p.id, PolicyIdentity(scope: .global, name: p.name))) }
        out.append((Int(XPF_SESS_POLICY_DEFAULT), .defaultPolicy))
        return out
    }
}

/// A policy's counters (struct xpf_policy_counters) as summed and kept by xpfd: its hits,
/// and the traffic of its closed sessions when it says `then count`.
public struct PolicyCounts: Equatable, Sendable {
    public var hits: UInt64 = 0
    /// Forward (input: from the initiator) and reverse (output) direction.
    public var inputPackets: UInt64 = 0, outputPackets: UInt64 = 0
    public var inputBytes: UInt64 = 0, outputBytes: UInt64 = 0
    public var closedSessions: UInt64 = 0

    public init(hits: UInt64 = 0, inputPackets: UInt64 = 0, outputPackets: UInt64 = 0, inputBytes: UInt64 = 0,
                outputBytes: UInt64 = 0, closedSessions: UInt64 = 0)
    {
        self.hits = hits
        self.inputPackets = inputPackets
        self.outputPackets = outputPackets
        self.inputBytes = inputBytes
        self.outputBytes = outputBytes
        self.closedSessions = closedSessions
    }

    /// One shared-memory record, read with relaxed loads (its writer is another process).
    init(_ r: UnsafeMutablePointer<xpf_policy_counters>) {
        // Safe: the record is XPF_PC_WORDS 64-bit words (static assertions in xpf_abi.h).
        let words = UnsafeMutableRawPointer(r).assumingMemoryBound(to: UInt64.self)
        func load(_ w: xpf_policy_counter_word) -> UInt64 { xpf_load_relaxed_u64(words + Int(w.rawValue)) }
        self.init(hits: load(XPF_PC_HITS), inputPackets: load(XPF_PC_PACKETS_FWD), outputPackets: load(XPF_PC_PACKETS_REV),
                  inputBytes: load(XPF_PC_BYTES_FWD), outputBytes: load(XPF_PC_BYTES_REV), closedSessions: load(XPF_PC_CLOSED))
    }

    var fields: [UInt64] { [hits, inputPackets, outputPackets, inputBytes, outputBytes, closedSessions] }

    init?(fields f: [UInt64]) {
        guard f.count == 6 else { return nil }
        self.init(hits: f[0], inputPackets: f[1], outputPackets: f[2], inputBytes: f[3], outputBytes: f[4],
                  closedSessions: f[5])
    }

    var isZero: Bool { fields.allSatisfy { $0 == 0 } }

    static func &+ (a: PolicyCounts, b: PolicyCounts) -> PolicyCounts {
        PolicyCounts(fields: zip(a.fields, b.fields).map { $0 &+ $1 })!
    }

    static func &- (a: PolicyCounts, b: PolicyCounts) -> PolicyCounts {
        PolicyCounts(fields: zip(a.fields, b.fields).map { $0 &- $1 })!
    }

    /// What `clear security policies hit-count` (the hits) or `clear security policies
    /// statistics` (the traffic) resets.
    public enum Part: Sendable {
        case hits, statistics
    }

    /// This value with `part` taken from `other`.
    func replacing(_ part: Part, from other: PolicyCounts) -> PolicyCounts {
        var out = self
        switch part {
        case .hits: out.hits = other.hits
        case .statistics:
            let hits = out.hits
            out = other
            out.hits = hits
        }
        return out
    }
}

/// One row of `show security policies hit-count` (and of the policy statistics).
public struct PolicyHitCount: Equatable, Sendable {
    public var identity: PolicyIdentity
    public var counts: PolicyCounts
    /// The hit count.
    public var count: UInt64 { counts.hits }

    public init(identity: PolicyIdentity, counts: PolicyCounts) {
        self.identity = identity
        self.counts = counts
    }

    /// The zone columns: the pair's zones, `global` for global policies, `-` for the
    /// default policy.
    public var fromZone: String {
        switch identity.scope {
        case .zonePair(let from, _): return from
        case .global: return Self.globalZone
        case .defaultPolicy: return Self.noZone
        }
    }

    public var toZone: String {
        switch identity.scope {
        case .zonePair(_, let to): return to
        case .global: return Self.globalZone
        case .defaultPolicy: return Self.noZone
        }
    }

    static let globalZone = "global", noZone = "-"

    // The control reply (xpfd → xpfctl): one row per line, tab-separated (Junos names
    // hold no tabs or newlines): kind, from zone, to zone, name, then the counts (hits,
    // input packets, output packets, input bytes, output bytes, closed sessions).
    static let zonePairKind = "pair", globalKind = "global", defaultKind = "default"
    static let separator: Character = "\t"

    /// This row as one line of the control reply.
    public var line: String {
        let fields: [String]
        switch identity.scope {
        case .zonePair(let from, let to): fields = [Self.zonePairKind, from, to, identity.name]
        case .global: fields = [Self.globalKind, "", "", identity.name]
        case .defaultPolicy: fields = [Self.defaultKind, "", "", identity.name]
        }
        return (fields + counts.fields.map(String.init)).joined(separator: String(Self.separator))
    }

    static let nameFields = 4

    /// Parses a line written by `line`; nil for anything else.
    public init?(line: Substring) {
        let f = line.split(separator: Self.separator, omittingEmptySubsequences: false).map(String.init)
        let numbers = f.dropFirst(Self.nameFields).compactMap { UInt64($0) }
        guard numbers.count == f.count - Self.nameFields, let counts = PolicyCounts(fields: numbers) else { return nil }
        switch f[0] {
        case Self.zonePairKind: identity = PolicyIdentity(scope: .zonePair(from: f[1], to: f[2]), name: f[3])
        case Self.globalKind: identity = PolicyIdentity(scope: .global, name: f[3])
        case Self.defaultKind: identity = PolicyIdentity(scope: .defaultPolicy, name: f[3])
        default: return nil
        }
        self.counts = counts
    }

    /// The rows of a control reply (`lines`), or nil when a line is not a row.
    public static func parse(reply: String) -> [PolicyHitCount]? {
        var rows: [PolicyHitCount] = []
        for l in reply.split(separator: "\n") {
            guard let r = PolicyHitCount(line: l) else { return nil }
            rows.append(r)
        }
        return rows
    }
}

/// xpfd's hit counts per policy identity (see the file header for the protocol).
public struct PolicyHitCounts {
    /// The counters of one policy epoch: a bank, and what each counter id means under it.
    struct Epoch {
        var bank: UInt32
        /// The generation that flipped to the next epoch (0 while this one runs): every live
        /// worker must have acknowledged it before the bank is harvested.
        var endedBy: UInt64 = 0
        var ids: [(id: Int, identity: PolicyIdentity)]
        /// Sums of the bank at the last `clear`, by counter id (absent = 0).
        var baseline: [Int: PolicyCounts] = [:]
    }

    let region: ShmRegion
    var current: Epoch
    /// The previous epoch's bank while some live worker may still count in it.
    var unharvested: Epoch?
    /// Counts collected from harvested banks (minus what `clear` discarded).
    var totals: [PolicyIdentity: PolicyCounts] = [:]
    /// The firewall filter counters of the same banks (`show firewall`, `clear firewall`).
    public var filters: FilterCounts

    /// Counts from now on, starting with the running generation (`region`'s published
    /// configuration, compiled from `model`).
    public init(region: ShmRegion, model: ConfigModel) {
        self.region = region
        let running = region.configSnapshot.pointee
        current = Epoch(bank: running.policy_bank, ids: PolicyIdentity.all(model))
        filters = FilterCounts(region: region)
    }

    /// The generation every live worker must run before the previous epoch's bank can be
    /// harvested, or nil when nothing waits.
    public var unharvestedGeneration: UInt64? { unharvested?.endedBy }

    /// Why a flip of the bank cannot be published now, or nil when it can. Harvests first
    /// if it can. A flip reuses the previous epoch's bank: it must be harvested and zeroed,
    /// which needs every live worker past the generation that left it.
    public mutating func flipBlocker() -> String? {
        harvestIfReady()
        guard let old = unharvested else { return nil }
        let lagging = laggingQueues(behind: old.endedBy).map(String.init).joined(separator: ", ")
        return "policy hit counts and firewall filter counters of the previous policy epoch are not collected yet: the worker of queue(s) \(lagging) still runs a generation before \(old.endedBy); commit again once it has switched or restarted"
    }

    /// Waits (polling, `whileWaiting` between polls) until the previous epoch's bank is
    /// harvested or `timeoutNs` passes; returns whether nothing waits any more. Before a
    /// flip: workers that were STARTING or slow when the last flip was published usually
    /// catch up within milliseconds.
    public mutating func awaitHarvest(timeoutNs: UInt64, whileWaiting: () -> Void = {}) -> Bool {
        let deadline = monotonicNanos() + timeoutNs
        while !harvestIfReady() {
            if monotonicNanos() >= deadline { return false }
            whileWaiting()
            usleep(Self.pollIntervalUs)
        }
        return true
    }

    static let pollIntervalUs: UInt32 = 200

    /// Publishes `image` (compiled from `model`) as the next generation, as
    /// `ShmRegion.publishConfig(_:samePolicies:)` does, and follows the policy epoch: a
    /// flip (`samePolicies` false) is refused with the reason while the previous epoch's
    /// bank is not harvested (`flipBlocker`); after a flip, the running epoch's counters
    /// wait for their harvest under its identities. Returns the new generation.
    public mutating func publish(_ image: ConfigSnapshotImage, model: ConfigModel, samePolicies: Bool) throws -> UInt64 {
        if !samePolicies, let why = flipBlocker() { throw PublishError(description: why) }
        let generation = try region.publishConfig(image, samePolicies: samePolicies)
        let bank = region.configSnapshot.pointee.policy_bank
        if bank != current.bank {
            current.endedBy = generation
            unharvested = current
            current = Epoch(bank: bank, ids: PolicyIdentity.all(model))
            filters.flipped()
            harvestIfReady()
        }
        return generation
    }

    /// Adds the previous epoch's bank (policy and filter rows) to the totals and zeroes it,
    /// if every live worker now counts in the running one. Cheap when nothing waits (xpfd
    /// calls it every loop pass). Returns whether nothing waits any more.
    @discardableResult
    public mutating func harvestIfReady() -> Bool {
        guard let old = unharvested else { return true }
        guard laggingQueues(behind: old.endedBy).isEmpty else { return false }
        for (identity, n) in sums(old) where !n.isZero { totals[identity] = (totals[identity] ?? PolicyCounts()) &+ n }
        for q in 0..<region.queues {
            let bank = PolicyCounters.bank(region.policyHits(q), old.bank)
            // Relaxed: no worker writes this bank now; the release store of the next flip's
            // config_current publishes the zeroes to the workers that will count here.
            for (id, _) in old.ids {
                // Safe: ids are below XPF_MAX_POLICIES + 1; the record is XPF_PC_WORDS words.
                let words = UnsafeMutableRawPointer(bank + id).assumingMemoryBound(to: UInt64.self)
                for w in 0..<Int(XPF_PC_WORDS.rawValue) { xpf_store_relaxed_u64(words + w, 0) }
            }
        }
        filters.harvest()
        unharvested = nil
        // Identities the running configuration no longer has are gone for good (a policy
        // written again later starts from zero, as on Junos).
        let live = Set(current.ids.map(\.identity))
        totals = totals.filter { live.contains($0.key) }
        return true
    }

    /// `clear security policies hit-count` (`.hits`) or `clear security policies
    /// statistics` (`.statistics`): that part of every policy's counts starts again from zero.
    public mutating func clear(_ part: PolicyCounts.Part) {
        totals = totals.mapValues { $0.replacing(part, from: PolicyCounts()) }
        func rebased(_ e: Epoch) -> [Int: PolicyCounts] {
            let now = bankSums(e)
            var out: [Int: PolicyCounts] = [:]
            for id in Set(now.keys).union(e.baseline.keys) {
                out[id] = (e.baseline[id] ?? PolicyCounts()).replacing(part, from: now[id] ?? PolicyCounts())
            }
            return out
        }
        current.baseline = rebased(current)
        if var old = unharvested {
            old.baseline = rebased(old)
            unharvested = old
        }
    }

    /// The running policies' counts, in id order, the default policy last.
    public func counts() -> [PolicyHitCount] {
        var pending: [PolicyIdentity: PolicyCounts] = [:]
        if let old = unharvested { pending = sums(old) }
        let running = bankSums(current)
        let zero = PolicyCounts()
        return current.ids.map { id, identity in
            let n = (totals[identity] ?? zero) &+ (pending[identity] ?? zero)
                &+ ((running[id] ?? zero) &- (current.baseline[id] ?? zero))
            return PolicyHitCount(identity: identity, counts: n)
        }
    }

    /// Queues whose live (STARTING or RUNNING) worker has not acknowledged `generation`.
    /// STARTING counts: a worker spawned before the flip may have loaded the older word.
    func laggingQueues(behind generation: UInt64) -> [Int] {
        (0..<region.queues).filter { q in
            let w = region.worker(q)
            let st = xpf_load_acquire_u32(xpf_wb_state(w))
            guard st == UInt32(XPF_WORKER_STARTING.rawValue) || st == UInt32(XPF_WORKER_RUNNING.rawValue) else { return false }
            // Acquire: pairs with the worker's release after it switched, so its last counts
            // in the old bank are visible to the reads that follow.
            return xpf_load_acquire_u64(xpf_wb_config_seen(w)) < generation
        }
    }

    /// An epoch's bank summed over the workers, by counter id (zero sums left out).
    func bankSums(_ e: Epoch) -> [Int: PolicyCounts] {
        var out: [Int: PolicyCounts] = [:]
        for q in 0..<region.queues {
            let bank = PolicyCounters.bank(region.policyHits(q), e.bank)
            for (id, _) in e.ids {
                let n = PolicyCounts(bank + id)  // single writer: that worker
                if !n.isZero { out[id] = (out[id] ?? PolicyCounts()) &+ n }
            }
        }
        return out
    }

    /// An epoch's counts since its baseline, by identity.
    func sums(_ e: Epoch) -> [PolicyIdentity: PolicyCounts] {
        let raw = bankSums(e)
        var out: [PolicyIdentity: PolicyCounts] = [:]
        for (id, identity) in e.ids { out[identity] = (raw[id] ?? PolicyCounts()) &- (e.baseline[id] ?? PolicyCounts()) }
        return out
    }
}
