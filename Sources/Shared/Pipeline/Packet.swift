// What the stages know about the packet in hand (issue 9 §1): one value passed to every
// stage by `inout`, and dead once the frame's action is decided. The batch driver reuses
// one such value for every packet (`Pipeline.scratch`: starting a packet sets only what
// no stage is sure to write, so a session hit pays no per-packet initialization of the
// whole state); each stage writes the fields it owns before any later stage reads them.
import CXPF

/// A frame waiting for its next hop's link-layer address: which neighbour to
/// resolve. Valid when the action is `.park`; the I/O loop queues the frame under it.
public struct ParkRequest {
    public var family: UInt8 = 0
    public var ifindex: UInt32 = 0
    /// The next hop's address in `.src` (IPv4 in the first 4 of 16 bytes).
    public var nexthop = xpf_flow_tuple()
    public init() {}
}

public struct Packet {
    /// The frame (rewritten in place when it is sent), its length and the logical
    /// interface it arrived on (an interface slot: unit 0 is the only unit today); set
    /// by `init` or `start` only.
    public var frame: UnsafeMutableRawPointer
    public var length: Int
    public var ingress: UInt8
    /// Set by the parse stage (every field: parseFrame overwrites the whole value).
    public var parsed = ParsedPacket()
    /// The flow key (ports in network order, as on the wire) and its hash.
    public var key = FlowKey()
    public var hash: UInt64 = 0
    /// Set by the route stage: the egress interface slot, and the FIB route when the
    /// decision did not come from the next-hop cache (then `hop` is set instead).
    public var egress: UInt8 = 0
    public var route: UnsafeMutablePointer<xpf_route>? = nil
    public var hop: UnsafeMutablePointer<NextHopEntry>? = nil
    /// Set by the session stage: the record and the direction the packet travels in it.
    public var session = 0
    public var direction: UInt32 = 0
    /// Set by the zone stage (first path): the ZONES indices of the ingress and egress
    /// interfaces.
    public var fromZone = 0
    public var toZone = 0
    /// Set by the policy stage when it permits: the policy's id (XPF_SESS_POLICY_DEFAULT:
    /// the default policy) and its flags (enum xpf_cfg_policy_flags; 0 for the default).
    public var policy: UInt16 = 0
    public var policyFlags: UInt8 = 0
    /// The packet's loss priority (enum xpf_loss_priority): low when the input filter
    /// stage starts it, then as filter terms (`then loss-priority`) and policers mark it;
    /// read by filter terms (`from loss-priority`) and color-aware policers. Meaningful
    /// only while some interface has a filter.
    public var lossPriority = UInt8(XPF_LP_LOW.rawValue)
    /// The packet's forwarding class, a string of the running snapshot (NONE: best-effort),
    /// kept alike: set by `then forwarding-class` and policers, read by `from
    /// forwarding-class`.
    public var forwardingClass = XPF_CFG_NONE
    /// Set by the rewrite stage when the next hop is not resolved yet.
    public var park = ParkRequest()
    /// The trace record of this packet (Trace.swift): set by the traced batch driver for a
    /// packet its filter matched, nil for every other packet. Only the decisions that leave
    /// no other mark in the packet record into it (`traceVerdict`, `traceRecheck`).
    public var trace: UnsafeMutablePointer<xpf_trace_record>? = nil

    @inlinable
    public init(frame: UnsafeMutableRawPointer, length: Int, ingress: UInt8) {
        self.frame = frame
        self.length = length
        self.ingress = ingress
    }

    /// Starts the next packet in a reused value: the frame, and the route stage's
    /// either-or outputs (the other fields are written by their stage before use).
    @inlinable
    public mutating func start(frame: UnsafeMutableRawPointer, length: Int, ingress: UInt8) {
        self.frame = frame
        self.length = length
        self.ingress = ingress
        route = nil
        hop = nil
    }

    /// The IP header.
    @inlinable var l3: UnsafeMutableRawPointer { frame + parsed.l3Offset }

    /// The destination address in the IP header (4 or 16 bytes).
    @inlinable var destination: UnsafeRawPointer {
        UnsafeRawPointer(l3) + (parsed.family == 4 ? ParseConst.ipv4DestinationOffset : ParseConst.ipv6DestinationOffset)
    }
}
