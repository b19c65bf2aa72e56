// The order of a worker's stages (SPEC §3), the Junos / VPP way: every packet is parsed
// and looked up in the session table; a packet of a known session takes the fast path,
// the first packet of a flow the first path, which decides and installs the session.
//
//   parse ─ session lookup ─┬─ hit:  fast path
//                            └─ miss: first path
//   each path starts with the input filter and the hop limit, then [screen]:
//   fast path:  route (cached next hop) ─ session checks (the session's sides: ingress
//               and egress in its zones; policy epoch → re-check) ─ [session NAT]
//               ─ account ─ output filter ─ [mirror] ─ rewrite ─ send
//   first path: ICMP error (forwarded only for a session: ICMPRelatedStage) ─
//               [destination NAT] ─ route ─ TCP first-packet check ─ zones ─ policy
//               ─ [source NAT] ─ install ─ account ─ output filter ─ [mirror] ─ rewrite
//               ─ send
//   (account moves a TCP session's state on: TCPStage.swift)
//
// Bracketed stages belong to later issues (screens, NAT, mirroring): each gets its file
// beside these and its call where the bracket stands. One file per stage: ParseStage
// (and the hop-limit check), FilterStage (input and output filters), SessionStage,
// ICMPRelatedStage, TCPStage, RouteStage, PolicyStage (zones, policy, re-check),
// RewriteStage (and ICMPError / Reject for the replies a stage answers with). A stage takes the packet (`Packet`, per-packet state) by inout and the batch's
// counters; it returns the action when the packet's fate is decided there.
import CXPF

extension Pipeline {
    /// Decides what to do with one frame and rewrites it in place when it is to be sent.
    /// For `.park`, `park` names the next hop to resolve.
    @inlinable
    public mutating func process(frame: UnsafeMutableRawPointer, length: Int, ingress: UInt8, counters: inout WorkerCounters,
                                 guess: Int = -1, park: inout ParkRequest) -> PacketAction {
        var p = Packet(frame: frame, length: length, ingress: ingress)
        let action = process(&p, counters: &counters, guess: guess)
        if action.kind == .park { park = p.park }
        return action
    }

    /// The stages in order, untimed (every untraced packet). `guess`: the prefetch ring slot
    /// of this packet, or -1.
    @inlinable @inline(__always)
    mutating func process(_ p: inout Packet, counters: inout WorkerCounters, guess: Int) -> PacketAction {
        var clock = NoStageClock()
        return process(&p, counters: &counters, guess: guess, clock: &clock)
    }

    /// The stages in order, each marked on `clock` as it ends (StageClock.swift).
    @inlinable @inline(__always)  // one function with the batch loop (a call per packet measured 31 instructions)
    mutating func process<C: StageClock>(_ p: inout Packet, counters: inout WorkerCounters, guess: Int,
                                         clock: inout C) -> PacketAction {
        if let done = clock.ended(XPF_TRACE_PARSE, parseStage(&p, counters: &counters)) { return done }
        let hit = lookupSession(&p, guess: guess)
        clock.lap(XPF_TRACE_SESSION)
        if hit {
            counters.s.session_hits &+= 1
            return fastPath(&p, counters: &counters, clock: &clock)
        }
        counters.s.session_misses &+= 1
        return clock.firstPath(&self, &p, counters: &counters)
    }

    /// A packet of an existing session.
    @inlinable @inline(__always)  // the fast path is one function (a call per stage measured ~35 instructions/packet)
    mutating func fastPath<C: StageClock>(_ p: inout Packet, counters: inout WorkerCounters, clock: inout C) -> PacketAction {
        if let done = clock.ended(XPF_TRACE_FILTER_IN, inputFilterStage(&p, hit: true, counters: &counters)) { return done }
        if let done = clock.ended(XPF_TRACE_PARSE, hopLimitCheck(&p, counters: &counters)) { return done }
        if let done = clock.ended(XPF_TRACE_ROUTE, routeStage(&p)) { return done }
        // The session's sides (and a re-check) are charged to the session stage.
        if let done = clock.ended(XPF_TRACE_SESSION, sessionChecks(&p, counters: &counters)) { return done }
        accountSession(&p)
        clock.lap(XPF_TRACE_SESSION)
        if let done = clock.ended(XPF_TRACE_FILTER_OUT, outputFilterStage(&p, hit: true, counters: &counters)) { return done }
        let action = rewriteStage(&p)
        clock.lap(XPF_TRACE_REWRITE)
        return action
    }

    /// The first packet of a flow, untimed: out of the fast path's way (inlined, it cost
    /// session hits ~8 instructions); its stages inline here.
    @inline(never)
    @usableFromInline
    mutating func firstPath(_ p: inout Packet, counters: inout WorkerCounters) -> PacketAction {
        var clock = NoStageClock()
        return firstPathStages(&p, counters: &counters, clock: &clock)
    }

    /// The first path's stages: decides, installs the session (both directions), then goes
    /// on as the fast path does.
    @inline(__always)
    mutating func firstPathStages<C: StageClock>(_ p: inout Packet, counters: inout WorkerCounters, clock: inout C) -> PacketAction {
        if let done = clock.ended(XPF_TRACE_FILTER_IN, inputFilterStage(&p, hit: false, counters: &counters)) { return done }
        if let done = clock.ended(XPF_TRACE_PARSE, hopLimitCheck(&p, counters: &counters)) { return done }
        // An ICMP error is forwarded for the session of the packet it quotes, or dropped.
        if let done = clock.ended(XPF_TRACE_ICMP_ERROR, icmpErrorStage(&p, counters: &counters)) { return done }
        if let done = clock.ended(XPF_TRACE_ROUTE, routeStage(&p)) { return done }
        if let done = clock.ended(XPF_TRACE_TCP_CHECK, tcpFirstPacketCheck(&p)) { return done }
        if let done = clock.ended(XPF_TRACE_ZONES, zoneStage(&p)) { return done }
        if let done = clock.ended(XPF_TRACE_POLICY, policyStage(&p, counters: &counters)) { return done }
        if let done = clock.ended(XPF_TRACE_INSTALL, installSession(&p, counters: &counters)) { return done }
        accountSession(&p)
        clock.lap(XPF_TRACE_SESSION)
        if let done = clock.ended(XPF_TRACE_FILTER_OUT, outputFilterStage(&p, hit: false, counters: &counters)) { return done }
        let action = rewriteStage(&p)
        clock.lap(XPF_TRACE_REWRITE)
        return action
    }
}
