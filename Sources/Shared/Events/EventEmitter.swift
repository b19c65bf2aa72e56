// Security events, worker side: the one non-blocking `emit` every stage
// reports through. A worker writes fixed-size records (xpf_event_abi.h) into its own
// SPSC event ring in its worker block; xpfd drains them (EventDrain) into RT_FLOW syslog.
//
// emit never blocks and never allocates: a full ring drops the event and counts it
// (stats.events_dropped). Every event — written or dropped — takes the next sequence
// number, which is the worker's running count of events (stats.events_emitted, continued
// across restarts like every counter), so a reader tells drops from gaps in sequences.
//
// Before the ring, `security log rate-cap` (EventRateLimiter): a token bucket per (event
// kind, zone of the ingress interface) keeps one noisy source from filling the ring. An
// event over the cap is suppressed and counted (stats.events_rate_limited); it takes no
// sequence number, so sequence gaps still mean ring drops only.
import CXPF

public struct EventEmitter {
    @usableFromInline var ring: RingProducer<xpf_event>
    public let queue: UInt8
    /// Uncapped until `configure` reads a configuration's `rate-cap`.
    public var limiter: EventRateLimiter

    public init(block: UnsafeMutablePointer<xpf_worker_block>, queue: Int) {
        ring = RingProducer(header: xpf_wb_event_ring(block), entries: xpf_wb_event_entries(block))
        self.queue = UInt8(truncatingIfNeeded: queue)
        limiter = EventRateLimiter()
    }

    /// Takes the rate cap and the interfaces' zones of a configuration generation (between
    /// batches, when the worker adopts it).
    public mutating func configure(_ config: ConfigSnapshotView, nowMs: UInt32) {
        limiter.configure(config, nowMs: nowMs)
    }

    /// Entries free in the ring now (for work that paces itself to the drain, like a clear;
    /// never for the packet path, which drops and counts instead).
    public mutating func freeEntries() -> Int { Int(ring.reserve(UInt32(XPF_EVENT_RING_SIZE)).count) }

    /// Emits one event of `type` about a packet or session that arrived on interface slot
    /// `ingress` (whose zone the rate cap counts it against): `fill` writes every payload
    /// field the type uses.
    @inlinable
    public mutating func emit(_ type: xpf_event_type, ingress: UInt8, nowMs: UInt32, length: Int,
                              counters: inout WorkerCounters, fill: (UnsafeMutableRawPointer) -> Void) {
        if limiter.capped && !limiter.admit(type, ingress: ingress, nowMs: nowMs) {
            counters.s.events_rate_limited &+= 1
            return
        }
        counters.s.events_emitted &+= 1
        let (index, got) = ring.reserve(1)
        if got == 0 {
            counters.s.events_dropped &+= 1
            return
        }
        let e = ring.entry(index)
        e.pointee.hdr.length = UInt32(length)
        e.pointee.hdr.type = UInt8(type.rawValue)
        e.pointee.hdr.sequence = counters.s.events_emitted
        fill(UnsafeMutableRawPointer(e) + MemoryLayout<xpf_event_hdr>.size)
        ring.submit(1)  // release: the entry before the producer index (the drain acquires)
    }
}

/// `security log rate-cap` in a worker: one token bucket per (event kind, zone of the
/// ingress interface), each holding one second's worth of events and refilled at the cap.
/// Interface slots in the same zone share a row of buckets (a slot outside every zone
/// shares the row of the other zone-less slots), so there are at most XPF_MAX_IFACES rows
/// and the buckets are allocated once, by the first `configure` with a cap, never on the
/// packet path; they live as long as the worker. Worker-private memory.
public struct EventRateLimiter {
    @usableFromInline struct Bucket {
        @usableFromInline var credit: UInt64 = 0   // thousandths of an event
        @usableFromInline var lastMs: UInt32 = 0   // CLOCK_MONOTONIC ms of the last refill (wrapping)
    }
    /// Credit one event costs; a cap of `rate` events/s refills `rate` of these per ms.
    @usableFromInline static let creditPerEvent: UInt64 = 1000
    @usableFromInline static let rows = Int(XPF_MAX_IFACES)
    @usableFromInline static let kinds = Int(XPF_EV_TYPE_COUNT.rawValue)

    /// Events per second, or XPF_EVENT_RATE_UNCAPPED.
    public private(set) var rate: UInt32 = XPF_EVENT_RATE_UNCAPPED
    @usableFromInline var burst: UInt64 = 0
    /// The row of each interface slot, then kinds × rows buckets; nil until the first
    /// cap. The emitter is copied around: copies share this memory, which is never freed.
    @usableFromInline var storage: UnsafeMutableRawPointer?
    @usableFromInline static let bucketsOffset =
        (rows + MemoryLayout<Bucket>.alignment - 1) / MemoryLayout<Bucket>.alignment * MemoryLayout<Bucket>.alignment

    public init() {}

    @inlinable public var capped: Bool { rate != XPF_EVENT_RATE_UNCAPPED }

    /// Takes a generation's cap and zones. Buckets start full when the cap or any slot's
    /// zone changed (a decision of the old configuration does not carry over); otherwise
    /// they keep their credit, so a commit does not refill them.
    public mutating func configure(_ config: ConfigSnapshotView, nowMs: UInt32) {
        let newRate = config.head.pointee.event_rate_cap
        var changed = newRate != rate
        rate = newRate
        guard capped else { return }
        if storage == nil {
            let bytes = Self.bucketsOffset + Self.kinds * Self.rows * MemoryLayout<Bucket>.stride
            let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: MemoryLayout<Bucket>.alignment)
            raw.initializeMemory(as: UInt8.self, repeating: 0, count: Self.rows)
            (raw + Self.bucketsOffset).initializeMemory(as: Bucket.self, repeating: Bucket(), count: Self.kinds * Self.rows)
            storage = raw
            changed = true
        }
        let rows = storage!.assumingMemoryBound(to: UInt8.self)  // Safe: initialized as UInt8 above
        let slots = min(config.dataplaneInterfaceCount, Self.rows)
        func zone(_ slot: Int) -> UInt32 { slot < slots ? config.interface(slot: slot).zone : XPF_CFG_NONE }
        for slot in 0..<Self.rows {
            // The first slot with the same zone (or the first zone-less slot) names the row.
            let row = UInt8((0..<slot).first { zone($0) == zone(slot) } ?? slot)
            if rows[slot] != row { changed = true; rows[slot] = row }
        }
        guard changed else { return }
        burst = UInt64(rate) * Self.creditPerEvent
        let buckets = (storage! + Self.bucketsOffset).assumingMemoryBound(to: Bucket.self)  // Safe: initialized above
        for i in 0..<(Self.kinds * Self.rows) { buckets[i] = Bucket(credit: burst, lastMs: nowMs) }
    }

    /// Whether one more event of `type` from interface slot `ingress` fits the cap now;
    /// takes its credit when it does.
    /// Only while `capped` (which implies the storage exists).
    @inlinable
    public func admit(_ type: xpf_event_type, ingress: UInt8, nowMs: UInt32) -> Bool {
        // Safe: storage exists once a cap was configured, and holds the rows as UInt8 then
        // the buckets; the kind is masked below kinds (XPF_EV_TYPE_COUNT, a power of two),
        // the slot below rows (XPF_MAX_IFACES, a power of two), and rows hold row numbers.
        let base = storage.unsafelyUnwrapped
        let row = Int(base.load(fromByteOffset: Int(ingress) & (Self.rows - 1), as: UInt8.self))
        let b = (base + Self.bucketsOffset).assumingMemoryBound(to: Bucket.self)
            + ((Int(type.rawValue) & (Self.kinds - 1)) * Self.rows + row)
        // Refill once per millisecond at most: events of one worker loop share its clock.
        if nowMs != b.pointee.lastMs {
            let elapsed = UInt64(nowMs &- b.pointee.lastMs)
            b.pointee.lastMs = nowMs
            b.pointee.credit = min(burst, b.pointee.credit &+ elapsed &* UInt64(rate))
        }
        guard b.pointee.credit >= Self.creditPerEvent else { return false }
        b.pointee.credit &-= Self.creditPerEvent
        return true
    }
}

/// Bytes of an event that carries a flow payload (R-9.2 `length`).
public let flowEventLength = MemoryLayout<xpf_event_hdr>.size + MemoryLayout<xpf_event_flow>.size

/// Bytes of a SCREEN_DROP, FILTER_LOG or NAT_EXCEPTION event (R-9.2 `length`).
public let verdictEventLength = MemoryLayout<xpf_event_hdr>.size + MemoryLayout<xpf_event_verdict>.size

/// A packet's flow as a verdict event reports it (SCREEN_DROP, FILTER_LOG, NAT_EXCEPTION):
/// the stage that decides fills it from the packet it holds.
public struct PacketFlow {
    public var family: UInt8 = 0
    public var proto: UInt8 = 0
    public var icmpType: UInt8 = 0
    public var ingress: UInt8 = 0
    public var egress: UInt8 = .max
    public var fromZone: UInt16 = .max
    public var toZone: UInt16 = .max
    /// The deciding policy (POLICIES id) or XPF_CFG_NONE, and (DENY) enum xpf_deny_action.
    public var policy: UInt32 = XPF_CFG_NONE
    public var reason: UInt8 = 0
    /// As on the wire: addresses in network order (IPv4 in the first 4 bytes), ports in
    /// network byte order.
    public var tuple = xpf_flow_tuple()
    public init() {}
}

/// The encoder of payloads about a packet rather than a session: TABLE_FULL (the flow
/// alone) and SCREEN_DROP, FILTER_LOG, NAT_EXCEPTION (the flow, then a verdict, struct
/// xpf_event_verdict). EventNames is the decoder.
public enum VerdictEvent {
    /// Writes a flow payload (struct xpf_event_flow) without a session: id, policy and
    /// counters zero, `nat` equal to the flow.
    @inlinable
    public static func writeFlow(_ payload: UnsafeMutableRawPointer, flow: PacketFlow, realtimeNs: UInt64, generation: UInt64,
                                 queue: UInt8) {
        let f = payload.assumingMemoryBound(to: xpf_event_flow.self)  // Safe: the entry's union holds an xpf_event_flow
        f.pointee = xpf_event_flow()  // every field a packet event leaves unset is zero
        f.pointee.realtime_ns = realtimeNs
        f.pointee.generation = UInt32(truncatingIfNeeded: generation)
        f.pointee.family = flow.family
        f.pointee.proto = flow.proto
        f.pointee.if_in = flow.ingress
        f.pointee.if_out = flow.egress
        f.pointee.icmp_type = flow.icmpType
        f.pointee.queue = queue
        f.pointee.policy = flow.policy
        f.pointee.reason = flow.reason
        f.pointee.from_zone = flow.fromZone
        f.pointee.to_zone = flow.toZone
        withUnsafeBytes(of: flow.tuple) { t in
            (payload + MemoryLayout<xpf_event_flow>.offset(of: \xpf_event_flow.fwd)!).copyMemory(from: t.baseAddress!, byteCount: t.count)
            (payload + MemoryLayout<xpf_event_flow>.offset(of: \xpf_event_flow.nat)!).copyMemory(from: t.baseAddress!, byteCount: t.count)
        }
    }

    /// Writes a whole verdict payload: the flow part (`writeFlow`), then what decided.
    @inlinable
    public static func write(_ payload: UnsafeMutableRawPointer, flow: PacketFlow, realtimeNs: UInt64, generation: UInt64,
                             queue: UInt8, object: UInt32, item: UInt32, action: UInt8, ipLength: UInt16 = 0,
                             natKind: UInt8 = 0) {
        writeFlow(payload, flow: flow, realtimeNs: realtimeNs, generation: generation, queue: queue)
        let v = payload.assumingMemoryBound(to: xpf_event_verdict.self)  // Safe: the entry's union holds an xpf_event_verdict
        v.pointee.object = object
        v.pointee.item = item
        v.pointee.action = action
        v.pointee.ip_length = ipLength
        v.pointee.nat_kind = natKind
        v.pointee.reserved = 0
    }
}

public enum SessionEvent {
    /// Writes the flow payload of a session event from record `index`: the flow as the
    /// client sent it, as translated (the reverse tuple seen from the client's side), the
    /// interfaces, the policy, and the counters and lifetime (for a close). The owner
    /// reads its own record, whose key cannot change under it.
    @inlinable
    public static func write(_ payload: UnsafeMutableRawPointer, table: SessionTable, index: Int,
                             reason: xpf_close_reason, realtimeNs: UInt64, nowS: UInt32, queue: UInt8) {
        let rec = table.records + index
        let f = payload.assumingMemoryBound(to: xpf_event_flow.self)  // Safe: the entry's union holds an xpf_event_flow
        var family: UInt8 = 0, proto: UInt8 = 0
        var fwd = xpf_flow_tuple(), rev = xpf_flow_tuple()
        xpf_sess_load_key(rec, 0, &family, &proto, &fwd)
        xpf_sess_load_key(rec, 1, &family, &proto, &rev)
        var nat = xpf_flow_tuple()
        nat.src = rev.dst; nat.dst = rev.src; nat.sport = rev.dport; nat.dport = rev.sport
        f.pointee.realtime_ns = realtimeNs
        f.pointee.session_id = UInt32(truncatingIfNeeded: index + 1)
        f.pointee.generation = rec.pointee.generation
        f.pointee.family = family
        f.pointee.proto = proto
        f.pointee.if_in = rec.pointee.if_in
        f.pointee.if_out = rec.pointee.if_out
        f.pointee.reason = UInt8(reason.rawValue)
        f.pointee.icmp_type = 0
        f.pointee.queue = queue
        f.pointee.reserved = 0
        let policy = xpf_sess_policy(rec)
        f.pointee.policy = policy == UInt16(XPF_SESS_POLICY_DEFAULT) ? XPF_CFG_NONE : UInt32(policy)
        // Zones: xpfd names those of if_in / if_out under the record's generation.
        f.pointee.from_zone = .max
        f.pointee.to_zone = .max
        // Safe: xpf_event_tuple and xpf_flow_tuple have the same 36-byte layout.
        withUnsafeBytes(of: fwd) { (payload + MemoryLayout<xpf_event_flow>.offset(of: \xpf_event_flow.fwd)!).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        withUnsafeBytes(of: nat) { (payload + MemoryLayout<xpf_event_flow>.offset(of: \xpf_event_flow.nat)!).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        f.pointee.elapsed_s = nowS &- rec.pointee.created_s
        f.pointee.reserved2 = 0
        f.pointee.packets = (xpf_sess_packets(rec, 0), xpf_sess_packets(rec, 1))
        f.pointee.bytes = (xpf_sess_bytes(rec, 0), xpf_sess_bytes(rec, 1))
    }

    /// Whether record `index`'s policy logs session-close.
    @inlinable
    public static func logsClose(_ table: SessionTable, _ index: Int) -> Bool {
        xpf_sess_flags(table.records + index) & UInt8(XPF_SESS_LOG_CLOSE.rawValue) != 0
    }

    /// Why an expiring session closes: TCP RST / FIN when the session saw one, else idle.
    @inlinable
    public static func ageingReason(_ table: SessionTable, _ index: Int) -> xpf_close_reason {
        let flags = xpf_sess_flags(table.records + index)
        if flags & UInt8(XPF_SESS_RST_SEEN.rawValue) != 0 { return XPF_CLOSE_TCP_RST }
        if flags & UInt8(XPF_SESS_FIN_SEEN.rawValue) != 0 { return XPF_CLOSE_TCP_FIN }
        return XPF_CLOSE_IDLE
    }
}

extension Pipeline {
    /// Emits a session event about record `index` (create after an insert; close).
    @inlinable
    public mutating func emitSessionEvent(_ type: xpf_event_type, index: Int, reason: xpf_close_reason,
                                          counters: inout WorkerCounters) {
        let (table, now, s, q) = (partition.table, nowRealtimeNs, nowS, events.queue)
        let ingress = table.records[index].if_in
        events.emit(type, ingress: ingress, nowMs: nowMs, length: flowEventLength, counters: &counters) {
            SessionEvent.write($0, table: table, index: index, reason: reason, realtimeNs: now, nowS: s, queue: q)
        }
    }

    /// The close event of record `index` when its policy logs session-close
    /// (XPF_SESS_LOG_CLOSE).
    @inlinable
    public mutating func emitClose(_ index: Int, reason: xpf_close_reason, counters: inout WorkerCounters) {
        guard SessionEvent.logsClose(partition.table, index) else { return }
        emitSessionEvent(XPF_EV_SESSION_CLOSE, index: index, reason: reason, counters: &counters)
    }

    /// Ages a slice of this worker's partition: removes up to `budget` examined
    /// sessions past their idle timeout, and those a newer policy epoch no longer permits
    /// (re-checked here when no packet did it, R-4.4), each with one close event (when
    /// its policy logs session-close) and its traffic added to its policy's counters (when
    /// the policy counts). Returns how many.
    @inlinable
    public mutating func ageSessions(budget: Int, counters: inout WorkerCounters) -> Int {
        let (table, view) = (partition.table, configView)
        var partition = self.partition
        defer { self.partition = partition }
        return partition.age(nowMs: nowMs, budget: budget,
                             timeoutMs: { rec in
                                 view.sessionIdleTimeout(proto: rec.pointee.proto, tcpState: xpf_sess_tcp_state(rec),
                                                         generation: xpf_sess_generation(rec), policy: xpf_sess_policy(rec)) {
                                     table.key(of: rec - table.records, direction: 0)  // the owner's own record
                                 } &* 1000
                             },
                             keep: { index in
                                 let rec = table.records + index
                                 return !isStale(rec) || recheck(index)
                             }) { index, expired in
            countClosed(index)
            emitClose(index, reason: expired ? SessionEvent.ageingReason(table, index) : XPF_CLOSE_POLICY, counters: &counters)
        }
    }

    /// Records a `clear security flow session` examines per slice at most.
    public static let clearSlice = 1024

    /// One slice of `clear security flow session` for this worker's partition: the
    /// sessions among the next records that `f` matches (a copy of the worker block's
    /// clear_filter, constant until the worker stores clear_done; by default every
    /// session) go, each with a close event (reason `clear`). A slice examines no more
    /// records than the event ring has room for, so no close event is dropped while xpfd
    /// drains. Returns how many it removed and whether the partition is done.
    public mutating func clearSessions(filter f: xpf_clear_filter = xpf_clear_filter(),
                                       counters: inout WorkerCounters) -> (removed: Int, finished: Bool) {
        var events = self.events
        defer { self.events = events }
        var partition = self.partition
        defer { self.partition = partition }
        let budget = min(Self.clearSlice, events.freeEntries())
        let (table, now, s, q, ms, epoch) = (partition.table, nowRealtimeNs, nowS, events.queue, nowMs, policyEpoch)
        return partition.removeSlice(budget: budget, matching: { f.matches(table.records + $0, runningEpoch: epoch) }) { index in
            countClosed(index)
            guard SessionEvent.logsClose(table, index) else { return }
            events.emit(XPF_EV_SESSION_CLOSE, ingress: table.records[index].if_in, nowMs: ms, length: flowEventLength,
                        counters: &counters) {
                SessionEvent.write($0, table: table, index: index, reason: XPF_CLOSE_CLEAR, realtimeNs: now, nowS: s, queue: q)
            }
        }
    }
}
