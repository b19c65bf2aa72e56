// Session stage: lookup of the packet's flow in this worker's partition
// (both directions of every session are indexed), installation of a new session on the
// first path, and the per-packet accounting of a session (counters, last seen, TCP state).
import CXPF

/// Where a session record's interface slots lie: if_in then if_out, adjacent bytes.
@usableFromInline enum SessionSides {
    @inlinable static var offset: Int { MemoryLayout<xpf_session>.offset(of: \xpf_session.if_in)! }
}

extension Pipeline {
    /// Looks the flow up; when found, sets `p.session` and `p.direction` and returns true.
    /// `guess`: the prefetch ring slot whose guessed key and hash may be this packet's.
    @inlinable @inline(__always)  // the fast path is one function (a call per stage measured ~35 instructions/packet)
    mutating func lookupSession(_ p: inout Packet, guess: Int) -> Bool {
        // Reuse the prefetch stage's hash when its guessed key is exactly this key.
        p.hash = withUnsafePointer(to: &p.key) { k in
            if guess >= 0 {
                let g = guesses + (guess & (Self.guessSlots - 1))  // Safe: masked into the ring
                if g.pointee.hash != 0, SessionTable.keysEqual(k, Self.guessKey(g)) { return g.pointee.hash }
            }
            return SessionTable.hash(k)
        }
        guard let hit = withUnsafePointer(to: &p.key, { partition.table.lookup($0, hash: p.hash) }) else { return false }
        p.session = hit.index
        p.direction = hit.direction
        return true
    }

    /// Installs the session of a first packet, both directions, with the policy stage's
    /// verdict, and emits its create event when the policy logs session-init. A full
    /// table fails closed: the packet is dropped.
    @inlinable @inline(__always)  // one function with the stages it runs (calls measured ~90 instructions/first packet)
    mutating func installSession(_ p: inout Packet, counters: inout WorkerCounters) -> PacketAction? {
        var rev = p.key.tuple
        rev.src = p.key.tuple.dst
        rev.dst = p.key.tuple.src
        rev.sport = p.key.tuple.dport
        rev.dport = p.key.tuple.sport
        let tcpState = p.parsed.proto == ParseConst.protoTCP ? UInt8(XPF_TCP_INITIAL.rawValue) : UInt8(XPF_TCP_NONE.rawValue)
        let (gen, ms, s, egress, policy) = (generation, nowMs, nowS, p.egress, p.policy)
        let verdict = PolicyVerdict(action: UInt8(XPF_POLICY_PERMIT.rawValue), policy: policy, flags: p.policyFlags)
        guard let index = withUnsafePointer(to: &p.key, {
            partition.insert(forward: $0, reverse: rev, generation: gen, nowMs: ms, nowS: s,
                             ifIn: p.ingress, ifOut: egress, tcpState: tcpState, policy: policy, flags: verdict.sessionFlags)
        }) else {
            tableFull(p, counters: &counters)
            return .drop(XPF_DROP_SESSION_FULL)
        }
        counters.s.sessions_created &+= 1
        p.session = index
        p.direction = 0
        if p.policyFlags & UInt8(XPF_CFG_POL_LOG_INIT.rawValue) != 0 {
            emitSessionEvent(XPF_EV_SESSION_CREATE, index: index, reason: XPF_CLOSE_NONE, counters: &counters)
        }
        return nil
    }

    /// The checks a packet of an established session passes once routed, before it is
    /// forwarded: it arrives and leaves by its session's sides, and the session's verdict
    /// is the running policy epoch's. Both hold for nearly every packet: one 16-bit load,
    /// a compare and the epoch compare; anything else goes to `sessionSlowChecks`.
    @inlinable @inline(__always)  // the fast path is one function (a call per stage measured ~35 instructions/packet)
    mutating func sessionChecks(_ p: inout Packet, counters: inout WorkerCounters) -> PacketAction? {
        let rec = partition.table.records + p.session
        let sides = Self.sides(rec, direction: p.direction)
        // One branch for both: the sides' difference, or the sign bit of a stale generation.
        let stale = UInt32(bitPattern: Int32(bitPattern: xpf_sess_generation_relaxed(rec) &- policyEpoch)) >> 31
        if UInt32((UInt16(p.ingress) | UInt16(p.egress) << 8) ^ sides) | stale == 0 { return nil }
        return sessionSlowChecks(&p, sides: sides, counters: &counters)
    }

    /// A session's interfaces for a packet travelling in `direction`: where it arrives |
    /// where it leaves << 8 (the forward direction arrives on if_in and leaves by if_out,
    /// replies the other way round).
    @inlinable @inline(__always)
    static func sides(_ rec: UnsafeMutablePointer<xpf_session>, direction: UInt32) -> UInt16 {
        // Safe: if_in and if_out are adjacent bytes of the record (xpf_abi.h), read as one
        // 16-bit word: if_in | if_out << 8 (little-endian, as every target here is).
        let word = UnsafeRawPointer(rec).load(fromByteOffset: SessionSides.offset, as: UInt16.self)
        return direction == 0 ? word : word.byteSwapped
    }

    /// The side check, then the re-check of a session decided under an older policy epoch
    /// (PolicyStage.swift).
    @inline(never)  // other interfaces than the session's, or a new policy epoch: rare
    @usableFromInline
    mutating func sessionSlowChecks(_ p: inout Packet, sides: UInt16, counters: inout WorkerCounters) -> PacketAction? {
        if let done = sideCheck(ingress: p.ingress, egress: p.egress, sides: sides) { return done }
        if isStale(partition.table.records + p.session) { return recheckSession(&p, counters: &counters) }
        return nil
    }

    /// A packet of a session (or an ICMP error about one) must arrive and leave by the
    /// session's `sides` (see `sides`): a packet with a session's tuple from elsewhere
    /// (spoofed from another zone, or rerouted into one no policy was asked about) is no
    /// packet of that session. Other interfaces in the same zones pass (asymmetric
    /// routing inside a zone); another zone, or an interface in none, drops
    /// (`session_zone`), the session left as it is.
    @usableFromInline
    func sideCheck(ingress: UInt8, egress: UInt8, sides: UInt16) -> PacketAction? {
        if UInt16(ingress) | UInt16(egress) << 8 == sides { return nil }
        let v = configView
        func zone(_ slot: UInt8) -> UInt32 { v.interface(slot: Int(slot)).zone }
        let (pin, pout) = (zone(ingress), zone(egress))
        let (sin, sout) = (zone(UInt8(truncatingIfNeeded: sides)), zone(UInt8(truncatingIfNeeded: sides >> 8)))
        let differ = pin == XPF_CFG_NONE || pout == XPF_CFG_NONE || pin != sin || pout != sout
        return differ ? .drop(XPF_DROP_SESSION_ZONE) : nil
    }

    /// Counts the packet in its session and moves the TCP state on (TCPStage.swift).
    @inlinable @inline(__always)  // the fast path is one function (a call per stage measured ~35 instructions/packet)
    mutating func accountSession(_ p: inout Packet) {
        let rec = partition.table.records + p.session
        // Safe: the parser accepted the frame, so its length is at least an Ethernet header's
        // (never negative): the conversion is exact without a check.
        xpf_sess_touch(rec, p.direction, nowMs, UInt64(truncatingIfNeeded: p.length))
        if p.parsed.proto == ParseConst.protoTCP { trackTCP(rec, dir: p.direction, flags: p.parsed.tcpFlags) }
    }

    /// A first packet found no room in the session table: the flow fails closed
    /// (the caller drops it); a table-full event and an exception say so, with the
    /// packet's flow.
    @inline(never)  // cold path
    @usableFromInline
    mutating func tableFull(_ p: Packet, counters: inout WorkerCounters) {
        var flow = PacketFlow()
        flow.family = p.parsed.family
        flow.proto = p.key.proto
        flow.ingress = p.ingress
        flow.egress = p.egress
        flow.tuple = p.key.tuple
        exceptions.record(XPF_EXC_TABLE_FULL, family: flow.family, proto: flow.proto, flow: flow.tuple, generation: generation,
                          realtimeNs: nowRealtimeNs)
        let (now, gen, q) = (nowRealtimeNs, generation, events.queue)
        events.emit(XPF_EV_TABLE_FULL, ingress: p.ingress, nowMs: nowMs, length: flowEventLength, counters: &counters) {
            VerdictEvent.writeFlow($0, flow: flow, realtimeNs: now, generation: gen, queue: q)
        }
    }
}
