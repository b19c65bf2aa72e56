// Packet trace (issue 9 §1): each stage's decision for the packets an operator asked about
// (`xpfctl trace`, `xpfctl monitor security packet-drop`), VPP's trace behind an unlikely
// branch. The ABI (filter, record, stage names, the ring in the worker block) is in
// xpf_abi.h; xpfd's side (arming, draining) is Status/TraceControl.swift.
//
//   * Off — the filter's count is 0, or this worker recorded it all — `processBatch` pays
//     one load and one predictable branch per batch (`trace.remaining`); nothing per
//     packet. The stages carry no trace code of their own on the hot path: the one field
//     `Packet.trace` is nil, and only the cold, out-of-line decisions that leave no trace
//     in the packet (a deny / reject verdict, a re-check) look at it.
//   * On, `processBatchTraced` takes the whole batch: per frame it parses a private copy of
//     the headers to match the filter (the stages may rewrite the frame later; the record
//     keeps the flow as it arrived), reserves a ring entry for a matching frame, runs the
//     same `process` as every packet, and then derives each stage's decision from what
//     the stages left in the `Packet`, the action, and the session counters (a lookup
//     counts a hit or a miss; neither moved: the parse stage decided). No allocation.
//   * A record is submitted (and counted against the filter's count) unless the filter
//     asks for drops only and the packet was sent or parked; a full ring refuses it
//     (counted in the ring's `dropped`) and the packet goes on untraced.
//
// Cost when on: a second parse per frame and a record per matching frame; not measured
// beyond the tests — a trace is for an operator watching a few packets. A matching frame
// also gets a clock read before `process`, one as each stage ends and one after: its record
// says how long the pipeline took for it (`process_ns`) and each stage's share (`stage_ns`,
// StageClock.swift): the sampled per-stage cost of issue 11 §1.
import CXPF

/// A worker's side of the trace: the filter it adopted from its worker block and what it
/// may still record under it.
public struct PacketTracer {
    @usableFromInline let block: UnsafeMutablePointer<xpf_worker_block>?
    @usableFromInline var ring: RingProducer<xpf_trace_record>?
    /// The trace_seq whose filter this worker adopted.
    @usableFromInline var seen: UInt64 = 0
    @usableFromInline var filter = xpf_trace_filter()
    /// The clock of traced packets' times (process_ns, stage_ns): CLOCK_MONOTONIC ns; tests
    /// put a counter in its place, so what each stage is charged is exact.
    public var clock: @convention(c) () -> UInt64 = { monotonicNanos() }
    /// Records this worker may still write under the adopted filter; 0 = tracing is off.
    public internal(set) var remaining: UInt32 = 0

    /// No worker block: never traces (a pipeline built without a region).
    public init() {
        block = nil
        ring = nil
    }

    /// The trace of the worker owning `block`; it adopts an armed filter at its first `follow()`.
    public init(block: UnsafeMutablePointer<xpf_worker_block>) {
        self.block = block
        ring = RingProducer(header: xpf_wb_trace_ring(block), entries: xpf_wb_trace_entries(block))
    }

    /// Between batches: adopts the filter xpfd armed since the last call (xpf_abi.h, struct
    /// xpf_trace_filter: the reader's half of the trace_seq seqlock). A filter caught mid-write
    /// is left for the next call.
    public mutating func follow() {
        guard let block else { return }
        let seq = xpf_load_acquire_u64(xpf_wb_trace_seq(block))  // pairs with xpfd's release of the even seq
        if seq == seen || seq & 1 != 0 { return }
        let copy = xpf_wb_trace_filter(block).pointee
        xpf_fence_acquire()  // the copy happens before the re-load below
        guard xpf_load_relaxed_u64(xpf_wb_trace_seq(block)) == seq else { return }
        seen = seq
        filter = copy
        remaining = min(copy.count, UInt32(XPF_TRACE_RING_SIZE))
    }
}

extension xpf_trace_filter {
    /// Whether a frame that arrived on `ingress` matches: `parsed`/`key` are its headers and
    /// flow key, nil when it did not parse (then only a filter without address, protocol
    /// and port conditions matches). Ports match TCP and UDP only.
    @usableFromInline
    func matches(ingress: UInt8, key: FlowKey?, parsed: ParsedPacket) -> Bool {
        let m = match
        if m & XPF_TRACE_IF_IN.rawValue != 0 && !xpf_clear_filter.has(if_in, ingress) { return false }
        let packetConditions = XPF_TRACE_SRC_PREFIX.rawValue | XPF_TRACE_DST_PREFIX.rawValue | XPF_TRACE_PROTO.rawValue
            | XPF_TRACE_SRC_PORT.rawValue | XPF_TRACE_DST_PORT.rawValue
        guard let key else { return m & packetConditions == 0 }
        if m & XPF_TRACE_PROTO.rawValue != 0 && key.proto != proto { return false }
        if m & (XPF_TRACE_SRC_PORT.rawValue | XPF_TRACE_DST_PORT.rawValue) != 0 {
            guard PacketTrace.hasPorts(key.proto), !parsed.isNonFirstFragment else { return false }
            if m & XPF_TRACE_SRC_PORT.rawValue != 0 && parsed.srcPort != sport { return false }
            if m & XPF_TRACE_DST_PORT.rawValue != 0 && parsed.dstPort != dport { return false }
        }
        if m & XPF_TRACE_SRC_PREFIX.rawValue != 0
            && !xpf_clear_filter.contains(src, length: src_len, family: src_family, key.tuple.src, of: key.family) { return false }
        if m & XPF_TRACE_DST_PREFIX.rawValue != 0
            && !xpf_clear_filter.contains(dst, length: dst_len, family: dst_family, key.tuple.dst, of: key.family) { return false }
        return true
    }
}

/// Constants and helpers of the trace.
public enum PacketTrace {
    /// Protocols whose ports the parser reads, and a filter matches (TCP, UDP).
    @inlinable
    public static func hasPorts(_ proto: UInt8) -> Bool { proto == ParseConst.protoTCP || proto == ParseConst.protoUDP }

    /// ICMP or ICMPv6 (a record's type and code mean something).
    @inlinable
    public static func isICMP(_ proto: UInt8) -> Bool { proto == ParseConst.protoICMP || proto == ParseConst.protoICMPv6 }

    /// xpf_trace_record.decided while no stage has decided yet (no stage has this value).
    public static let undecided = UInt8(XPF_TRACE_STAGE_COUNT.rawValue)

    /// The stage bit of `s` in xpf_trace_record.stages.
    @inlinable
    public static func bit(_ s: xpf_trace_stage) -> UInt16 { 1 << UInt16(s.rawValue) }

    /// The drop reasons the route stage decides.
    static func isRouteDrop(_ r: UInt8) -> Bool {
        r == UInt8(XPF_DROP_NO_ROUTE.rawValue) || r == UInt8(XPF_DROP_BLACKHOLE.rawValue)
            || r == UInt8(XPF_DROP_NOT_DATAPLANE.rawValue) || r == UInt8(XPF_DROP_TOO_BIG.rawValue)
    }
}

// MARK: recorders (the cold decisions that leave no trace in the Packet)

extension Packet {
    /// The policies refused the flow (PolicyStage.refuse): the deciding policy and action.
    @inlinable @inline(__always)
    func traceVerdict(_ v: PolicyVerdict) {
        guard let t = trace else { return }
        t.pointee.stages |= PacketTrace.bit(XPF_TRACE_POLICY)
        t.pointee.policy = v.policy
        t.pointee.policy_action = v.action
        t.pointee.decided = UInt8(XPF_TRACE_POLICY.rawValue)
    }

    /// A firewall filter ran (FilterStage.swift): its stage, and the decision when it ended
    /// the packet (a discard, or a reject answered or not).
    @inlinable @inline(__always)
    func traceFilter(output: Bool, dropped: Bool) {
        guard let t = trace else { return }
        let s = output ? XPF_TRACE_FILTER_OUT : XPF_TRACE_FILTER_IN
        t.pointee.stages |= PacketTrace.bit(s)
        if dropped { t.pointee.decided = UInt8(s.rawValue) }
    }

    /// A session decided under an older policy epoch was decided again (PolicyStage.recheckSession).
    @inlinable @inline(__always)
    func traceRecheck(kept: Bool) {
        guard let t = trace else { return }
        t.pointee.stages |= PacketTrace.bit(XPF_TRACE_RECHECK)
        t.pointee.recheck_kept = kept ? 1 : 0
        if !kept { t.pointee.decided = UInt8(XPF_TRACE_RECHECK.rawValue) }
    }
}

// MARK: the traced batch

extension Pipeline {
    /// `processBatch` while this worker traces: the same stages for every frame, and a
    /// record for each frame the filter matches (see the header of this file).
    @inline(never)  // out of the untraced batch's way
    @usableFromInline
    mutating func processBatchTraced(umem: UnsafeMutableRawPointer, descs: UnsafePointer<xdp_desc>, count: Int,
                                     ingress: UInt8, counters: inout WorkerCounters,
                                     actions: UnsafeMutablePointer<PacketAction>, parks: UnsafeMutablePointer<ParkRequest>) {
        for k in 0..<count {
            let d = descs[k]
            counters.s.rx_packets &+= 1
            counters.s.rx_bytes &+= UInt64(d.len)
            // Safe: descriptors come from the kernel (or the tests) and lie inside `umem`.
            let frame = umem + Int(d.addr)
            scratch.pointee.start(frame: frame, length: Int(d.len), ingress: ingress)
            let record = trace.remaining > 0 ? beginRecord(frame: frame, length: Int(d.len), ingress: ingress) : nil
            scratch.pointee.trace = record
            let (hits, misses) = (counters.s.session_hits, counters.s.session_misses)
            let action: PacketAction
            if let record {
                // Clock reads for traced packets only: one before, one as each stage ends
                // (StageClock.swift), one after.
                let started = trace.clock()
                var clock = TracedStageClock(record: record, read: trace.clock, last: started)
                action = process(&scratch.pointee, counters: &counters, guess: -1, clock: &clock)
                record.pointee.process_ns = UInt32(clamping: trace.clock() &- started)
            } else {
                action = process(&scratch.pointee, counters: &counters, guess: -1)
            }
            scratch.pointee.trace = nil
            if let record {
                let lookedUp = counters.s.session_hits != hits || counters.s.session_misses != misses
                finishRecord(record, scratch.pointee, action, lookedUp: lookedUp, hit: counters.s.session_hits != hits)
            }
            if action.kind == .park { parks[k] = scratch.pointee.park }
            actions[k] = action
        }
    }

    /// The ring entry for a frame the filter matches, with its flow filled in; nil when it
    /// does not match or the ring is full.
    @usableFromInline
    mutating func beginRecord(frame: UnsafeMutableRawPointer, length: Int, ingress: UInt8)
        -> UnsafeMutablePointer<xpf_trace_record>? {
        var parsed = ParsedPacket()
        var key = FlowKey()
        let ok = parseFrame(UnsafeRawPointer(frame), length: length, into: &parsed) == .ok
        if ok {
            Self.fillKey(&key, family: parsed.family, proto: parsed.proto, l3: UnsafeRawPointer(frame + parsed.l3Offset),
                         sport: parsed.srcPort.bigEndian, dport: parsed.dstPort.bigEndian)
        }
        guard trace.ring != nil, trace.filter.matches(ingress: ingress, key: ok ? key : nil, parsed: parsed) else { return nil }
        let (index, n) = trace.ring!.reserve(1)  // Safe: checked above
        guard n == 1 else {
            let dropped = xpf_ring_dropped(xpf_wb_trace_ring(trace.block!))  // Safe: a ring implies a block
            xpf_store_relaxed_u64(dropped, xpf_load_relaxed_u64(dropped) &+ 1)  // only this worker writes it
            return nil
        }
        let r = trace.ring!.entry(index)
        r.pointee = xpf_trace_record()
        r.pointee.decided = PacketTrace.undecided
        r.pointee.time_ns = nowRealtimeNs
        r.pointee.trace_id = trace.filter.id
        r.pointee.generation = UInt32(truncatingIfNeeded: generation)
        r.pointee.ingress = ingress
        r.pointee.length = UInt16(clamping: length)
        if ok {
            r.pointee.family = key.family
            r.pointee.proto = key.proto
            r.pointee.flow = key.tuple
            r.pointee.tcp_flags = parsed.tcpFlags
            r.pointee.icmp_type = parsed.icmpType
            r.pointee.icmp_code = parsed.icmpCode
        }
        return r
    }

    /// Completes `r` from what the stages left in `p` and the packet's `action`, and submits
    /// it unless the filter wants drops only and the packet was not dropped. `lookedUp`: the
    /// session lookup ran (the parse stage passed the packet on); `hit`: it found a session.
    /// The stage order followed here is Process.swift's (and ICMPRelatedStage's for an error).
    @usableFromInline
    mutating func finishRecord(_ t: UnsafeMutablePointer<xpf_trace_record>, _ p: Packet, _ action: PacketAction,
                               lookedUp: Bool, hit: Bool) {
        func ran(_ s: xpf_trace_stage) { t.pointee.stages |= PacketTrace.bit(s) }
        func decided(_ s: xpf_trace_stage) {
            ran(s)
            t.pointee.decided = UInt8(s.rawValue)
        }
        // Sent or parked: no drop reason (UInt8.max matches none).
        let reason = action.kind == .drop ? action.reason : UInt8.max
        func dropped(_ r: xpf_drop_reason) -> Bool { reason == UInt8(r.rawValue) }
        // A recorder named the deciding stage already: a refusing policy, a closing re-check.
        // A filter's decision is kept apart: the stages before an output filter ran as usual.
        let stage = t.pointee.decided == PacketTrace.undecided ? nil : xpf_trace_stage(UInt32(t.pointee.decided))
        let filterDecided = stage == XPF_TRACE_FILTER_IN || stage == XPF_TRACE_FILTER_OUT ? stage : nil
        let recorded = filterDecided == nil ? stage : nil
        ran(XPF_TRACE_PARSE)
        if !lookedUp {
            decided(XPF_TRACE_PARSE)
        } else {
            ran(XPF_TRACE_SESSION)
            if hit {
                t.pointee.hit = 1
                t.pointee.session = UInt32(truncatingIfNeeded: p.session)
                t.pointee.direction = UInt8(truncatingIfNeeded: p.direction)
            }
            // Each path starts with the input filter (its bit is set when it ran) and the hop limit.
            if filterDecided == XPF_TRACE_FILTER_IN {
                // it ended the packet
            } else if p.parsed.ttl <= 1 {
                decided(XPF_TRACE_PARSE)  // no hop left: answered with a time exceeded, or dropped as `ttl`
            } else if hit {
                // The fast path: route → the session's sides → [re-check] → rewrite. A
                // closing re-check (recorded) ran after the route.
                if recorded != nil { ran(XPF_TRACE_ROUTE) }
                if recorded == nil {
                    if PacketTrace.isRouteDrop(reason) {
                        decided(XPF_TRACE_ROUTE)
                    } else {
                        ran(XPF_TRACE_ROUTE)
                        decided(dropped(XPF_DROP_SESSION_ZONE) ? XPF_TRACE_ZONES : XPF_TRACE_REWRITE)
                    }
                }
            } else if isRelatedError(p.parsed) {
                // ICMPRelatedStage: matched → route → zones (and the session's sides) → [re-check] → rewrite.
                ran(XPF_TRACE_ICMP_ERROR)
                if dropped(XPF_DROP_ICMP_UNMATCHED) {
                    decided(XPF_TRACE_ICMP_ERROR)
                } else {
                    t.pointee.icmp_matched = 1
                    if PacketTrace.isRouteDrop(reason) {
                        decided(XPF_TRACE_ROUTE)
                    } else {
                        ran(XPF_TRACE_ROUTE)
                        if dropped(XPF_DROP_ZONE_NONE) || dropped(XPF_DROP_SESSION_ZONE) { decided(XPF_TRACE_ZONES) } else {
                            ran(XPF_TRACE_ZONES)
                            if recorded == nil { decided(XPF_TRACE_REWRITE) }
                        }
                    }
                }
            } else if PacketTrace.isRouteDrop(reason) {
                // The first path: route → TCP check → zones → policy → install → rewrite.
                decided(XPF_TRACE_ROUTE)
            } else {
                ran(XPF_TRACE_ROUTE)
                if p.parsed.proto == ParseConst.protoTCP { ran(XPF_TRACE_TCP_CHECK) }
                if dropped(XPF_DROP_TCP_NOT_SYN) {
                    decided(XPF_TRACE_TCP_CHECK)
                } else if dropped(XPF_DROP_ZONE_NONE) {
                    decided(XPF_TRACE_ZONES)
                } else {
                    ran(XPF_TRACE_ZONES)
                    if recorded == nil {  // permitted (a refusal was recorded with its policy)
                        ran(XPF_TRACE_POLICY)
                        t.pointee.policy = p.policy
                        t.pointee.policy_action = UInt8(XPF_POLICY_PERMIT.rawValue)
                        if dropped(XPF_DROP_SESSION_FULL) { decided(XPF_TRACE_INSTALL) } else {
                            ran(XPF_TRACE_INSTALL)
                            t.pointee.session = UInt32(truncatingIfNeeded: p.session)
                            decided(XPF_TRACE_REWRITE)
                        }
                    }
                }
            }
        }
        // The output filter ends a packet after the stages above ran: it decided, not the rewrite.
        if filterDecided == XPF_TRACE_FILTER_OUT {
            t.pointee.stages &= ~PacketTrace.bit(XPF_TRACE_REWRITE)
            t.pointee.decided = UInt8(XPF_TRACE_FILTER_OUT.rawValue)
        }
        let stages = t.pointee.stages
        if stages & PacketTrace.bit(XPF_TRACE_ZONES) != 0 {
            let v = configView
            t.pointee.from_zone = v.interface(slot: Int(p.ingress)).zone
            t.pointee.to_zone = v.interface(slot: Int(p.egress)).zone
        }
        // The route's egress, when it chose one (it also does before a too_big drop).
        if stages & PacketTrace.bit(XPF_TRACE_ROUTE) != 0
            && (t.pointee.decided != UInt8(XPF_TRACE_ROUTE.rawValue) || dropped(XPF_DROP_TOO_BIG)) {
            t.pointee.egress = p.egress
        }
        // A frame sent when the parse stage (time exceeded), the policy stage or a filter
        // (reject) decided is the packet's drop answered with a reply out of the ingress interface.
        let replyFor: xpf_drop_reason? = t.pointee.decided == UInt8(XPF_TRACE_PARSE.rawValue) ? XPF_DROP_TTL
            : t.pointee.decided == UInt8(XPF_TRACE_POLICY.rawValue) ? XPF_DROP_POLICY_REJECT
            : t.pointee.decided == UInt8(XPF_TRACE_FILTER_IN.rawValue) || t.pointee.decided == UInt8(XPF_TRACE_FILTER_OUT.rawValue)
            ? XPF_DROP_FILTER_REJECT : nil
        switch action.kind {
        case .transmit where replyFor != nil:
            t.pointee.action = UInt8(XPF_TRACE_REPLY.rawValue)
            t.pointee.reason = UInt8(replyFor!.rawValue)  // Safe: checked by the case
            t.pointee.egress = action.egress
        case .transmit: t.pointee.action = UInt8(XPF_TRACE_TRANSMIT.rawValue)
        case .park: t.pointee.action = UInt8(XPF_TRACE_PARK.rawValue)
        case .drop:
            t.pointee.action = UInt8(XPF_TRACE_DROP.rawValue)
            t.pointee.reason = action.reason
        }
        let wasDropped = t.pointee.action == UInt8(XPF_TRACE_DROP.rawValue) || t.pointee.action == UInt8(XPF_TRACE_REPLY.rawValue)
        if trace.filter.flags & UInt8(XPF_TRACE_DROPS_ONLY.rawValue) != 0 && !wasDropped {
            return  // not submitted: the next match reserves the same entry
        }
        trace.ring!.submit(1)  // Safe: beginRecord reserved the entry from this ring
        trace.remaining -= 1
    }

    /// Whether the first path hands `p` to the ICMP error stage (icmpErrorStage's test).
    func isRelatedError(_ p: ParsedPacket) -> Bool {
        let icmp = p.family == 4 ? ParseConst.protoICMP : ParseConst.protoICMPv6
        return p.proto == icmp && !p.isNonFirstFragment && isICMPError(family: p.family, type: p.icmpType)
    }
}
