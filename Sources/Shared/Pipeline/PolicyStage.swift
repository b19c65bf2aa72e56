// Zone and policy stages on the first path, and the re-check of an
// established session whose verdict a later commit may have changed.
//
// Zones: the ingress zone is the zone of the interface the packet arrived on, the egress
// zone that of the interface the route chose; an interface in no zone drops the packet
// (`zone_none`), as an SRX does. Policy: the compiled classifier (Policy/PolicyMatch.swift)
// finds the first matching policy of the zone pair, then of the global list; none →
// `default-policy`. Every first packet's decision counts a hit for the policy that made it
// (the default policy under XPF_SESS_POLICY_DEFAULT) in this worker's bank of
// xpf_policy_hits; a re-check does not (hits count flows, as Junos' hit count does).
//
// permit → the session is installed with the policy's id and its `log session-close`
// flag (SessionStage.installSession; the create event only with `log session-init`).
// deny → silent drop (`policy_deny`); reject → Pipeline.reject answers with a TCP RST or
// an ICMP administratively prohibited (`policy_reject`). A deny or reject policy with
// `log session-init` emits RT_FLOW_SESSION_DENY whose reason says reject only when the
// reply went out.
//
// Re-check: a session records the generation whose policy decided it; when the running
// snapshot's policy epoch is newer (a commit changed zones, policies or applications),
// the next packet of the session — on any worker — runs the same decision again for the
// session's forward flow. Still permitted: the session takes the new verdict (policy id,
// log flag) and generation. Not permitted: the session is marked POLICY_CLOSED, the
// packet dropped (`policy_change`), and the owner removes it with a close event, reason
// "policy change" (its own packet or its next ageing pass, EventEmitter.ageSessions).
import CXPF

/// What the policies decided for a flow.
@frozen
public struct PolicyVerdict {
    /// enum xpf_policy_action.
    public var action: UInt8
    /// The deciding policy's id, or XPF_SESS_POLICY_DEFAULT.
    public var policy: UInt16
    /// Its enum xpf_cfg_policy_flags (0 for the default policy).
    public var flags: UInt8

    @inlinable
    public init(action: UInt8, policy: UInt16, flags: UInt8) {
        self.action = action
        self.policy = policy
        self.flags = flags
    }

    @inlinable public var permits: Bool { action == UInt8(XPF_POLICY_PERMIT.rawValue) }
    /// The session flags a permitted session carries (XPF_SESS_LOG_CLOSE, XPF_SESS_COUNT).
    @inlinable public var sessionFlags: UInt8 {
        (flags & UInt8(XPF_CFG_POL_LOG_CLOSE.rawValue) != 0 ? UInt8(XPF_SESS_LOG_CLOSE.rawValue) : 0)
            | (flags & UInt8(XPF_CFG_POL_COUNT.rawValue) != 0 ? UInt8(XPF_SESS_COUNT.rawValue) : 0)
    }

    /// Every session flag a verdict sets or clears.
    @inlinable public static var verdictFlags: UInt8 { UInt8(XPF_SESS_LOG_CLOSE.rawValue | XPF_SESS_COUNT.rawValue) }
}

/// The ICMP echo types (Parse.swift's icmpKeyPorts keys a request and a reply apart).
public enum ICMPEcho {
    public static let requestV4: UInt8 = 8
    public static let replyV4: UInt8 = 0
    public static let requestV6: UInt8 = 128
    public static let replyV6: UInt8 = 129
}

extension Pipeline {
    /// The zones of the ingress and egress interfaces; a packet crossing an interface in
    /// no zone ends here.
    @inlinable @inline(__always)  // one function with the first path's other stages
    func zoneStage(_ p: inout Packet) -> PacketAction? {
        let v = configView
        let from = v.interface(slot: Int(p.ingress)).zone
        let to = v.interface(slot: Int(p.egress)).zone
        guard from != XPF_CFG_NONE, to != XPF_CFG_NONE else { return .drop(XPF_DROP_ZONE_NONE) }
        p.fromZone = Int(from)
        p.toZone = Int(to)
        return nil
    }

    /// The policies' verdict on a first packet; permit leaves `p.policy` /
    /// `p.policyFlags` for the session, deny and reject end the packet here.
    @inlinable @inline(__always)  // one function with the first path's other stages
    mutating func policyStage(_ p: inout Packet, counters: inout WorkerCounters) -> PacketAction? {
        let key = PolicyKey(family: p.key.family, proto: p.key.proto, tuple: p.key.tuple,
                            icmpType: p.parsed.icmpType, icmpCode: p.parsed.icmpCode)
        let verdict = decide(from: p.fromZone, to: p.toZone, key)
        if verdict.permits {
            p.policy = verdict.policy
            p.policyFlags = verdict.flags
            return nil
        }
        return refuse(&p, verdict, counters: &counters)
    }

    /// The verdict for a flow from zone `from` to zone `to`; `countHit`: counted as a hit
    /// of the policy that decided it (a new flow; a re-check of a session is not one).
    @inlinable
    func decide(from: Int, to: Int, _ key: PolicyKey, countHit: Bool = true) -> PolicyVerdict {
        let v = configView
        let verdict: PolicyVerdict
        if let m = v.matchPolicy(from: from, to: to, key) {
            let r = v.policy(m.policy)
            verdict = PolicyVerdict(action: r.action, policy: UInt16(truncatingIfNeeded: m.policy), flags: r.flags)
        } else {
            let permit = config.pointee.default_policy == XPF_POLICY_PERMIT.rawValue
            verdict = PolicyVerdict(action: UInt8(permit ? XPF_POLICY_PERMIT.rawValue : XPF_POLICY_DENY.rawValue),
                                    policy: UInt16(XPF_SESS_POLICY_DEFAULT), flags: 0)
        }
        if countHit {
            PolicyCounters.countHit(policyHits, Int(verdict.policy))  // this worker is the only writer
        }
        return verdict
    }

    /// A deny or reject verdict: the drop, or the reject's reply, and the deny event when
    /// the policy logs session-init.
    @inline(never)  // out of the permit path's way
    @usableFromInline
    mutating func refuse(_ p: inout Packet, _ verdict: PolicyVerdict, counters: inout WorkerCounters) -> PacketAction {
        p.traceVerdict(verdict)
        // The event's flow comes from the key and parse results, which a reject's reply
        // (built over the frame) leaves alone.
        var flow = PacketFlow()
        flow.family = p.key.family
        flow.proto = p.key.proto
        flow.icmpType = p.parsed.icmpType
        flow.ingress = p.ingress
        flow.egress = p.egress
        flow.fromZone = UInt16(truncatingIfNeeded: p.fromZone)
        flow.toZone = UInt16(truncatingIfNeeded: p.toZone)
        flow.tuple = p.key.tuple
        flow.policy = verdict.policy == UInt16(XPF_SESS_POLICY_DEFAULT) ? XPF_CFG_NONE : UInt32(verdict.policy)
        let action: PacketAction
        if verdict.action == UInt8(XPF_POLICY_REJECT.rawValue) {
            let r = reject(&p, dropReason: XPF_DROP_POLICY_REJECT, counters: &counters)
            action = r.action
            flow.reason = UInt8(r.replySent ? XPF_DENY_REJECT_SENT.rawValue : XPF_DENY_DROPPED.rawValue)
        } else {
            action = .drop(XPF_DROP_POLICY_DENY)
            flow.reason = UInt8(XPF_DENY_DROPPED.rawValue)
        }
        if verdict.flags & UInt8(XPF_CFG_POL_LOG_INIT.rawValue) != 0 {
            let (now, gen, q) = (nowRealtimeNs, generation, events.queue)
            events.emit(XPF_EV_SESSION_DENY, ingress: p.ingress, nowMs: nowMs, length: flowEventLength, counters: &counters) {
                VerdictEvent.writeFlow($0, flow: flow, realtimeNs: now, generation: gen, queue: q)
            }
        }
        return action
    }

    // MARK: re-check

    /// Whether session record `rec` was decided under an older policy epoch than the
    /// running one (signed difference: generations wrap at 32 bits).
    @inlinable @inline(__always)  // one compare per session hit
    func isStale(_ rec: UnsafeMutablePointer<xpf_session>) -> Bool {
        Int32(bitPattern: xpf_sess_generation_relaxed(rec) &- policyEpoch) < 0  // a compare: no verdict read after it
    }

    /// Re-decides a stale session for the packet in hand. Nil: still permitted (the
    /// record now carries the new verdict); else the packet's drop.
    @inline(never)  // once per session per policy epoch
    @usableFromInline
    mutating func recheckSession(_ p: inout Packet, counters: inout WorkerCounters) -> PacketAction? {
        let kept = recheck(p.session)
        p.traceRecheck(kept: kept)
        if kept { return nil }
        if partition.owns(p.session) {
            emitClose(p.session, reason: XPF_CLOSE_POLICY, counters: &counters)
            partition.remove(p.session)
            counters.s.sessions_closed &+= 1
        }
        return .drop(XPF_DROP_POLICY_CHANGE)
    }

    /// Runs the policies again for session `index` under the running configuration.
    /// True: permitted (verdict and generation updated). False: marked POLICY_CLOSED
    /// (also when it already was), or — on another worker's record — the record was
    /// removed or reused meanwhile (nothing written; the packet's session is gone).
    @usableFromInline
    func recheck(_ index: Int) -> Bool {
        let rec = partition.table.records + index
        let state = xpf_sess_load_state(rec)
        if state & 3 != UInt32(XPF_SESS_LIVE.rawValue) { return false }
        if xpf_sess_flags(rec) & UInt8(XPF_SESS_POLICY_CLOSED.rawValue) != 0 { return false }
        let v = configView
        let from = v.interface(slot: Int(rec.pointee.if_in)).zone
        let to = v.interface(slot: Int(rec.pointee.if_out)).zone
        var verdict: PolicyVerdict? = nil
        if from != XPF_CFG_NONE && to != XPF_CFG_NONE {
            let k = partition.table.key(of: index, direction: 0)
            verdict = decide(from: Int(from), to: Int(to), PolicyKey(session: k), countHit: false)
        }
        // Only the owner removes or reuses a record; another worker writes a verdict only
        // if the record is still the session whose interfaces and key it read. The window
        // left between this check and the stores is a few instructions: a reuse inside it
        // could give the new session the old one's policy id and log flag (both permitted
        // under the running epoch) or mark it closed (fail-closed).
        xpf_fence_acquire()
        if xpf_sess_load_state(rec) != state { return false }
        guard let verdict, verdict.permits else {
            xpf_sess_or_flags(rec, UInt8(XPF_SESS_POLICY_CLOSED.rawValue))
            return false
        }
        xpf_sess_set_policy(rec, verdict.policy)
        // The new verdict's flags replace the old one's. A reader may see a mix of both
        // verdicts' bits until the generation below is stored (release): one that acquires
        // the new generation sees the new bits (PolicyCounters.sessionClosed reads so).
        let set = verdict.sessionFlags
        if set != PolicyVerdict.verdictFlags { xpf_sess_and_flags(rec, set | ~PolicyVerdict.verdictFlags) }
        if set != 0 { xpf_sess_or_flags(rec, set) }
        xpf_sess_set_generation(rec, UInt32(truncatingIfNeeded: generation))  // release: policy and flags first
        return true
    }
}

extension PolicyKey {
    /// The key of a flow (`tuple` as in xpf_flow_tuple: ports in network order). ICMP
    /// carries no ports for the policies: its type and code are matched instead.
    @inlinable
    public init(family: UInt8, proto: UInt8, tuple: xpf_flow_tuple, icmpType: UInt8, icmpCode: UInt8) {
        let icmp = proto == PolicyKey.icmpProtocol || proto == PolicyKey.icmp6Protocol
        self = withUnsafeBytes(of: tuple) { t in
            // Safe: xpf_flow_tuple is src[16], dst[16], sport, dport.
            PolicyKey(family: family, proto: proto, src: t.baseAddress!, dst: t.baseAddress! + 16,
                      sport: icmp ? 0 : UInt16(bigEndian: tuple.sport), dport: icmp ? 0 : UInt16(bigEndian: tuple.dport),
                      icmpType: icmpType, icmpCode: icmpCode)
        }
    }
}
