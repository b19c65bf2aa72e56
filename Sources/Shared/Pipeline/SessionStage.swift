// Session stage: lookup of the packet's flow in this worker's partition
// (both directions of every session are indexed), installation of a new session on the
// first path, and the per-packet accounting of a session (counters, last seen, TCP state).
import CXPF

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

    /// The check a packet of an established session passes before it is forwarded: the
    /// session's verdict is still the running policy epoch's (else the re-check,
    /// PolicyStage.swift).
    @inlinable @inline(__always)  // the fast path is one function (a call per stage measured ~35 instructions/packet)
    mutating func sessionChecks(_ p: inout Packet, counters: inout WorkerCounters) -> PacketAction? {
        if isStale(partition.table.records + p.session) { return recheckSession(&p, counters: &counters) }
        return nil
    }

    /// A packet of session `index` travelling in `direction` must arrive on the
    /// interface that side of the session uses and leave by the other one (the forward
    /// direction arrived on `if_in` and left by `if_out`): a packet with a session's tuple
    /// from elsewhere (spoofed from another zone, or rerouted into one no policy was asked
    /// about) is no packet of that session. Same interfaces: two byte compares. Different
    /// interfaces in the same zones pass (asymmetric routing inside a zone); other zones
    /// are dropped (`session_zone`), the session left as it is.
    @inlinable @inline(__always)  // the fast path is one function (a call per stage measured ~35 instructions/packet)
    func sessionSideCheck(_ p: inout Packet, session index: Int, direction: UInt32) -> PacketAction? {
        let rec = partition.table.records + index
        let (arrive, leave) = direction == 0 ? (rec.pointee.if_in, rec.pointee.if_out) : (rec.pointee.if_out, rec.pointee.if_in)
        if p.ingress == arrive && p.egress == leave { return nil }
        return sideZonesDiffer(p, arrive: arrive, leave: leave) ? .drop(XPF_DROP_SESSION_ZONE) : nil
    }

    /// Whether the packet's ingress or egress interface is in another zone than the
    /// session's interface on that side (an interface in no zone differs from every one).
    @inline(never)  // interfaces other than the session's: rare
    @usableFromInline
    func sideZonesDiffer(_ p: Packet, arrive: UInt8, leave: UInt8) -> Bool {
        let v = configView
        func zone(_ slot: UInt8) -> UInt32 { v.interface(slot: Int(slot)).zone }
        let (pin, pout, sin, sout) = (zone(p.ingress), zone(p.egress), zone(arrive), zone(leave))
        return pin == XPF_CFG_NONE || pout == XPF_CFG_NONE || pin != sin || pout != sout
    }

    /// Counts the packet in its session and moves the TCP state on (TCPStage.swift).
    @inlinable @inline(__always)  // the fast path is one function (a call per stage measured ~35 instructions/packet)
    mutating func accountSession(_ p: inout Packet) {
        let rec = partition.table.records + p.session
        xpf_sess_touch(rec, p.direction, nowMs, UInt64(p.length))
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
