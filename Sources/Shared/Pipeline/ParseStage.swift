// Parse stage: the frame's L2–L4 headers (Parse.swift) and its flow key. A frame that is
// not IP or is malformed ends here; one with no hop left ends in the hop-limit check, which
// comes after the input filter (a filter that discards a flow discards its TTL-expiring
// packets too, without an ICMP time exceeded).
import CXPF

extension Pipeline {
    /// Fills `p.parsed` and `p.key`; returns the action when the packet ends here.
    @inlinable @inline(__always)  // the fast path is one function (a call per stage measured ~35 instructions/packet)
    mutating func parseStage(_ p: inout Packet, counters: inout WorkerCounters) -> PacketAction? {
        let v = parseFrame(UnsafeRawPointer(p.frame), length: p.length, into: &p.parsed)
        if v != .ok { return v == .notIP ? .drop(XPF_DROP_UNSUPPORTED) : .drop(XPF_DROP_PARSE) }
        // Ports in network order, as on the wire (and as the session key holds them).
        Self.fillKey(&p.key, family: p.parsed.family, proto: p.parsed.proto, l3: UnsafeRawPointer(p.l3),
                     sport: p.parsed.srcPort.bigEndian, dport: p.parsed.dstPort.bigEndian)
        return nil
    }

    /// A packet with no hop left is answered with an ICMP time exceeded (when allowed) and ends here.
    @inlinable @inline(__always)
    mutating func hopLimitCheck(_ p: inout Packet, counters: inout WorkerCounters) -> PacketAction? {
        p.parsed.ttl <= 1 ? timeExceeded(&p, counters: &counters) : nil
    }
}
