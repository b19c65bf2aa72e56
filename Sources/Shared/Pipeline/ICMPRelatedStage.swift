// ICMP error stage (issue 9 §3): an ICMP / ICMPv6 error (`isICMPError`: unreachable,
// source quench, time exceeded, parameter problem; packet too big) is related traffic,
// not a flow of its own. It is forwarded only when the packet it quotes belongs to an
// existing session, and it never creates one.
//
//   * The quote (`parseQuotedPacket`, Parse.swift): the embedded IP header, of the
//     error's own family, with 8 bytes of its data; its flow key — family, protocol,
//     addresses, ports as the parser keys the packet itself (`icmpKeyPorts` for ICMP)
//     — is looked up as it stands in the session table. Either direction of a
//     session matches: an error may be about a packet of the initiator or of the
//     responder.
//   * The error must travel toward the quoted packet's source (its destination is the
//     quote's source address). A quote of a known flow sent to any other host is not
//     about that flow — an off-path sender could otherwise aim errors at any host by
//     quoting a session it has guessed.
//   * A malformed quote (too short, wrong version or family, bad IHL, an extension
//     header chain that runs out) is dropped
//     `icmp_unmatched`, not `parse`: the error's own headers parsed, and a quote that is
//     not a packet cannot be about a session — to an operator it is one more unrelated
//     error. IPv6 extension headers in the quote are walked as the parser walks the
//     packet's own; a quoted non-first fragment keys with ports 0, as the parser keys one.
//   * A matched error goes on as a transit packet routed by its own destination: route;
//     zones (an interface in no zone drops it, `zone_none`, as every packet); no policy
//     lookup of its own — its session was admitted — but when a commit has changed the
//     policies since the session was decided, the session is re-checked first, as its
//     own next packet would be (PolicyStage.swift: no longer permitted → closed, the
//     error dropped `policy_change`); then rewrite (MACs and TTL / hop limit; the
//     message itself is not touched). It is not accounted to the session (no packet or
//     byte counts, no last-seen update, no TCP state): an error must not keep a session
//     alive, and the session's counters stay those of its flow. (Junos counts errors on
//     the session; with NAT, a later issue translates the quote through it.)
//
// It runs first on the first path (Process.swift). An error never reaches the fast
// path: its own key (ICMP, type << 8 | code in both ports) is never installed, because
// no error creates a session and no other message has that key. For the same reason a
// quote of an ICMP error (forged: no error is sent about one) matches nothing.
import CXPF

extension Pipeline {
    /// For an ICMP error, its whole fate: `.drop(XPF_DROP_ICMP_UNMATCHED)` unless the
    /// packet it quotes belongs to a session, else the route and rewrite stages' action.
    /// nil for every other packet (one or two compares), which goes on down the first path.
    /// The caller counts the drop, as for every `.drop`.
    @inlinable @inline(__always)  // the type test inlines into firstPath; an error's work is out of line
    mutating func icmpErrorStage(_ p: inout Packet, counters: inout WorkerCounters) -> PacketAction? {
        let proto = p.parsed.family == 4 ? ParseConst.protoICMP : ParseConst.protoICMPv6
        guard p.parsed.proto == proto, !p.parsed.isNonFirstFragment,
              isICMPError(family: p.parsed.family, type: p.parsed.icmpType) else { return nil }
        return forwardRelatedError(&p, counters: &counters)
    }

    /// An ICMP error: forwarded when it is about a session's packet and travels toward
    /// that packet's source; no session is created or accounted.
    @inline(never)  // only ICMP errors come here
    @usableFromInline
    mutating func forwardRelatedError(_ p: inout Packet, counters: inout WorkerCounters) -> PacketAction {
        guard let s = quotedSession(p) else { return .drop(XPF_DROP_ICMP_UNMATCHED) }
        if let done = routeStage(&p) { return done }
        if let done = zoneStage(&p) { return done }
        // It travels against the quoted packet: arrives where that packet left, leaves
        // where it arrived — the sides of the opposite direction.
        let sides = Self.sides(partition.table.records + s.index, direction: s.direction ^ 1)
        if let done = sideCheck(ingress: p.ingress, egress: p.egress, sides: sides) { return done }
        if isStale(partition.table.records + s.index) {
            p.session = s.index
            if let done = recheckSession(&p, counters: &counters) { return done }
        }
        if let done = outputFilterStage(&p, hit: false, counters: &counters) { return done }  // an error is not its session's packet
        return rewriteStage(&p)
    }

    /// The session (record index, and the direction the quoted packet travelled in it)
    /// of the packet the ICMP error `p` quotes, when the quote parses and the error is
    /// addressed to the quoted packet's source; else nil.
    @usableFromInline
    func quotedSession(_ p: Packet) -> (index: Int, direction: UInt32)? {
        var q = QuotedPacket()
        guard parseQuotedPacket(UnsafeRawPointer(p.frame), error: p.parsed, into: &q) else { return nil }
        let quoted = UnsafeRawPointer(p.frame + q.l3Offset)
        // Safe: parseQuotedPacket checked the quoted IP header whole; the parser, the error's.
        let toSource: Bool
        if p.parsed.family == 4 {
            toSource = quoted.loadUnaligned(fromByteOffset: ParseConst.ipv4SourceOffset, as: UInt32.self)
                == p.destination.loadUnaligned(as: UInt32.self)
        } else {
            let s = quoted + ParseConst.ipv6SourceOffset, d = p.destination
            toSource = s.loadUnaligned(as: UInt64.self) == d.loadUnaligned(as: UInt64.self)
                && s.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == d.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        }
        guard toSource else { return nil }
        var key = FlowKey()
        Self.fillKey(&key, family: p.parsed.family, proto: q.proto, l3: quoted, sport: q.srcPort.bigEndian,
                     dport: q.dstPort.bigEndian)
        return withUnsafePointer(to: &key) { partition.table.lookup($0) }
    }
}
