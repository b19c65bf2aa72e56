// Publication of immutable snapshots by an atomic swap.
//
// A published word holds `generation << 8 | slot`. The publisher (xpfd only) writes
// a complete snapshot into a free slot and store-releases the word; a worker
// load-acquires the word between batches (never inside one), switches, and
// store-releases the generation it now runs into its block. The slot holding
// generation g may be rewritten only when every live worker has published a seen
// generation > g: a worker that has loaded the word but not yet published the new
// generation still shows an older one, which keeps its slot and every newer one
// protected.
//
// Model: Shm/Generations.pml (tools/model-check): publish/freeSlot/oldestSeen and the
// follower, with lagging, refusing, dying and restarted workers.
import CXPF

public enum SnapshotKind: Sendable { case config, fib }

extension xpf_config_snapshot {
    /// Idle timeout in seconds of a session by protocol and TCP state: the one
    /// rule that ageing (workers) and `show security flow session` (xpfctl) share.
    @inlinable
    public func idleTimeout(proto: UInt8, tcpState: UInt8) -> UInt32 {
        switch proto {
        case 6:
            switch tcpState {
            case UInt8(XPF_TCP_ESTABLISHED.rawValue): return timeout_tcp_established
            case UInt8(XPF_TCP_FIN_INITIATOR.rawValue), UInt8(XPF_TCP_FIN_RESPONDER.rawValue),
                 UInt8(XPF_TCP_FIN_BOTH.rawValue), UInt8(XPF_TCP_CLOSING.rawValue): return timeout_tcp_closing
            default: return timeout_tcp_initial  // INITIAL, SYN_ACK
            }
        case 17: return timeout_udp
        case 1, 58: return timeout_icmp
        default: return timeout_other
        }
    }

    /// `idleTimeout` in milliseconds (the unit of ageing's clock).
    @inlinable
    public func idleTimeoutMs(proto: UInt8, tcpState: UInt8) -> UInt32 {
        idleTimeout(proto: proto, tcpState: tcpState) &* 1000
    }
}

public struct PublishError: Error, CustomStringConvertible {
    public let description: String
}

extension ShmRegion {
    func word(_ kind: SnapshotKind) -> UnsafeMutablePointer<UInt64> {
        kind == .config ? configCurrentWord : fibCurrentWord
    }

    func slotCount(_ kind: SnapshotKind) -> Int { Int(kind == .config ? XPF_CONFIG_SLOTS : XPF_FIB_SLOTS) }

    func slotGeneration(_ kind: SnapshotKind, _ slot: Int) -> UInt64 {
        kind == .config ? configSlot(slot).pointee.generation : fibSlot(slot).pointee.version
    }

    /// (generation, slot) currently published.
    public func current(_ kind: SnapshotKind) -> (generation: UInt64, slot: Int) {
        let w = xpf_load_acquire_u64(word(kind))  // pairs with publish()'s release
        return (w >> 8, Int(w & 0xff))
    }

    /// The oldest generation a live worker may still be reading (UInt64.max with none).
    public func oldestSeen(_ kind: SnapshotKind) -> UInt64 {
        var oldest = UInt64.max
        for q in 0..<queues {
            let w = worker(q)
            let st = xpf_load_acquire_u32(xpf_wb_state(w))
            guard st == UInt32(XPF_WORKER_STARTING.rawValue) || st == UInt32(XPF_WORKER_RUNNING.rawValue) else { continue }
            let seen = xpf_load_acquire_u64(kind == .config ? xpf_wb_config_seen(w) : xpf_wb_fib_seen(w))
            oldest = min(oldest, seen)
        }
        return oldest
    }

    /// A slot no live worker can be reading, or nil.
    public func freeSlot(_ kind: SnapshotKind) -> Int? {
        let cur = current(kind)
        let oldest = oldestSeen(kind)
        for s in 0..<slotCount(kind) where s != cur.slot || cur.generation == 0 {
            let g = slotGeneration(kind, s)
            if g == 0 || g < oldest { return s }
        }
        return nil
    }

    /// Writes a new configuration generation and publishes it. `fill` writes every
    /// field but the generation and the policy epoch and bank. `samePolicies`: the new
    /// configuration decides every session as the running one does
    /// (`ConfigModel.decidesSessions(as:)`), so the policy epoch and hit-counter bank
    /// stay; otherwise the new generation starts a policy epoch (sessions are re-checked,
    /// ) and the bank flips. Returns the new generation.
    @discardableResult
    public func publishConfig(samePolicies: Bool = false, _ fill: (UnsafeMutablePointer<xpf_config_snapshot>) -> Void) throws -> UInt64 {
        let running = current(.config).generation == 0 ? nil : configSnapshot.pointee
        return try publish(.config) { slot, gen in
            let p = configSlot(slot)
            UnsafeMutableRawPointer(p).initializeMemory(as: UInt8.self, repeating: 0, count: Int(header.pointee.config_slot_size))
            fill(p)
            p.pointee.generation = gen
            if samePolicies, let running {
                p.pointee.policy_epoch = running.policy_epoch
                p.pointee.policy_bank = running.policy_bank
            } else {
                p.pointee.policy_epoch = UInt32(truncatingIfNeeded: gen)
                p.pointee.policy_bank = running.map { $0.policy_bank ^ 1 } ?? 0
            }
        }
    }

    /// Writes a new FIB version and publishes it. Returns the new version.
    @discardableResult
    public func publishFIB(_ fill: (UnsafeMutablePointer<xpf_fib_snapshot>) -> Void) throws -> UInt64 {
        try publish(.fib) { slot, ver in
            let p = fibSlot(slot)
            p.pointee.n_routes = 0
            p.pointee.n_neigh = 0
            p.pointee.n_if_addrs = 0
            fill(p)
            p.pointee.version = ver
        }
    }

    private func publish(_ kind: SnapshotKind, write: (Int, UInt64) -> Void) throws -> UInt64 {
        guard let slot = freeSlot(kind) else {
            throw PublishError(description: "no free \(kind) slot: a live worker has not moved past generation \(oldestSeen(kind)) yet")
        }
        let gen = current(kind).generation + 1
        write(slot, gen)
        xpf_store_release_u64(word(kind), gen << 8 | UInt64(slot))  // pairs with workers' acquire
        return gen
    }

    public var configSnapshot: UnsafeMutablePointer<xpf_config_snapshot> { configSlot(current(.config).slot) }
    public var fibSnapshot: UnsafeMutablePointer<xpf_fib_snapshot> { fibSlot(current(.fib).slot) }
}

/// A worker's view of a published snapshot: reloads only when the word changed.
public struct SnapshotFollower {
    @usableFromInline let word: UnsafeMutablePointer<UInt64>
    @usableFromInline let seen: UnsafeMutablePointer<UInt64>
    @usableFromInline var lastWord: UInt64 = .max

    public init(word: UnsafeMutablePointer<UInt64>, seen: UnsafeMutablePointer<UInt64>) {
        self.word = word
        self.seen = seen
    }

    @usableFromInline var pendingWord: UInt64 = .max
    @usableFromInline var refusedWord: UInt64 = .max

    /// Call between batches. Returns the new slot when the published word changed,
    /// after recording the new generation as seen.
    @inlinable
    public mutating func poll() -> Int? {
        guard let s = peek() else { return nil }
        acknowledge()
        return s
    }

    /// Call between batches: the slot of a newly published generation, without
    /// adopting it yet (the caller validates first). Nil if nothing new, or if the
    /// new word is one the caller refused.
    @inlinable
    public mutating func peek() -> Int? {
        let w = xpf_load_acquire_u64(word)  // pairs with the publisher's release
        if w == lastWord || w == refusedWord { return nil }
        pendingWord = w
        return Int(w & 0xff)
    }

    /// Adopts the generation returned by `peek`: from now on the worker reads its slot.
    @inlinable
    public mutating func acknowledge() {
        lastWord = pendingWord
        xpf_store_release_u64(seen, lastWord >> 8)  // read by the publisher before slot reuse
    }

    /// Whether the caller runs the published generation (it adopted the word published now).
    public var isCurrent: Bool { xpf_load_acquire_u64(word) == lastWord }

    /// Refuses the generation returned by `peek`: the worker keeps the one it runs, and
    /// because it does not acknowledge, the refused slot and its own stay protected.
    @inlinable
    public mutating func refuse() { refusedWord = pendingWord }

    /// The generation returned by the last `peek`.
    public var pendingGeneration: UInt64 { pendingWord >> 8 }

    public var generation: UInt64 { lastWord >> 8 }
}
