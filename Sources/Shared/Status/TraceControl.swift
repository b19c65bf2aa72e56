// The control side of the packet trace (issue 9 §1; the worker's side is
// Pipeline/Trace.swift, the ABI xpf_abi.h): the filter words of `xpfctl trace` and
// `xpfctl monitor security packet-drop`, their compiled form (struct xpf_trace_filter),
// xpfd's arming of every worker block and its draining of the trace rings, and the text
// form in which a record travels from xpfd to xpfctl over the control socket.
import CXPF

/// The filters of a trace (Junos words, any combination; every one given must hold): the
/// packet's addresses, protocol and ports as it arrived, and its ingress interface.
public struct TraceFilter {
    public var sourcePrefix: FilterPrefix?
    public var destinationPrefix: FilterPrefix?
    public var proto: UInt8?
    public var sourcePort: UInt16?
    public var destinationPort: UInt16?
    /// Interface names (`fw0` or `fw0.0`).
    public var interface: String?

    public static let usage = FlowWords.usage + " | interface NAME"

    public init() {}

    /// Parses `KEYWORD VALUE` pairs.
    public init(words: [String]) throws {
        var interface: String?
        let flow = try FlowWords.parse(words, usage: Self.usage, example: "destination-port 22") { keyword, v in
            guard keyword == "interface" else { return false }
            interface = v
            return true
        }
        (sourcePrefix, destinationPrefix, proto) = (flow.sourcePrefix, flow.destinationPrefix, flow.proto)
        (sourcePort, destinationPort) = (flow.sourcePort, flow.destinationPort)
        self.interface = interface
    }

    /// The filter for the workers: trace `id`, at most `count` records per worker, only
    /// drops when `dropsOnly`. `interfaces`: the region's interface names by slot. Throws
    /// for an interface the dataplane does not have.
    public func compiled(id: UInt32, count: UInt32, dropsOnly: Bool, interfaces: [String]) throws -> xpf_trace_filter {
        var f = xpf_trace_filter()
        f.id = id
        f.count = count
        if dropsOnly { f.flags |= UInt8(XPF_TRACE_DROPS_ONLY.rawValue) }
        let bytes = FlowWords.addressBytes
        if let p = sourcePrefix {
            f.match |= XPF_TRACE_SRC_PREFIX.rawValue
            (f.src_family, f.src_len, f.src) = (p.family, UInt8(p.len), bytes(p))
        }
        if let p = destinationPrefix {
            f.match |= XPF_TRACE_DST_PREFIX.rawValue
            (f.dst_family, f.dst_len, f.dst) = (p.family, UInt8(p.len), bytes(p))
        }
        if let proto {
            f.match |= XPF_TRACE_PROTO.rawValue
            f.proto = proto
        }
        if let sourcePort {
            f.match |= XPF_TRACE_SRC_PORT.rawValue
            f.sport = sourcePort
        }
        if let destinationPort {
            f.match |= XPF_TRACE_DST_PORT.rawValue
            f.dport = destinationPort
        }
        if let interface {
            // The logical unit is always 0 today (fw0.0 is fw0).
            let name = interface.hasSuffix(".0") ? String(interface.dropLast(2)) : interface
            guard let slot = interfaces.firstIndex(of: name), slot < Int(XPF_MAX_IFACES) else {
                throw XPFError("unknown interface '\(interface)' (dataplane interfaces: \(interfaces.joined(separator: ", ")))")
            }
            f.match |= XPF_TRACE_IF_IN.rawValue
            f.if_in = 1 << UInt16(slot)
        }
        return f
    }
}

/// One record as xpfd drained it: the worker (queue) that wrote it, and the record.
public struct TracedPacket {
    public var queue: Int
    public var record: xpf_trace_record

    public init(queue: Int, record: xpf_trace_record) {
        self.queue = queue
        self.record = record
    }

    /// How a record travels in a control reply: `record QUEUE HEX` (the record's bytes).
    public var line: String {
        var hex = "record \(queue) "
        withUnsafeBytes(of: record) { raw in
            for b in raw {
                hex.append(Self.digits[Int(b >> 4)])
                hex.append(Self.digits[Int(b & 0xf)])
            }
        }
        return hex
    }
    static let digits = Array("0123456789abcdef")

    /// Parses `line`'s form; nil for anything else (another line of the reply).
    public init?(line: Substring) {
        let parts = line.split(separator: " ")
        guard parts.count == 3, parts[0] == "record", let q = Int(parts[1]),
              parts[2].utf8.count == 2 * MemoryLayout<xpf_trace_record>.size else { return nil }
        var r = xpf_trace_record()
        var ok = true
        withUnsafeMutableBytes(of: &r) { raw in
            var i = 0
            var high: UInt8? = nil
            for c in parts[2].utf8 {
                guard let v = Self.nibble(c) else { ok = false; return }
                if let h = high {
                    raw[i] = h << 4 | v
                    i += 1
                    high = nil
                } else {
                    high = v
                }
            }
        }
        guard ok else { return nil }
        self.init(queue: q, record: r)
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}

extension ShmRegion {
    /// Arms `filter` in every worker block (xpfd: the writer's half of the trace_seq
    /// seqlock, xpf_abi.h). A filter with count 0 disarms. Workers adopt it between batches.
    public func armTrace(_ filter: xpf_trace_filter) {
        for q in 0..<queues {
            let w = worker(q)
            let seq = xpf_load_relaxed_u64(xpf_wb_trace_seq(w))  // only xpfd writes it
            xpf_store_relaxed_u64(xpf_wb_trace_seq(w), seq | 1)  // odd: being written
            xpf_fence_release()  // the odd seq before the filter's bytes
            xpf_wb_trace_filter(w).pointee = filter
            xpf_store_release_u64(xpf_wb_trace_seq(w), (seq | 1) &+ 1)  // pairs with the worker's acquire (PacketTracer.follow)
        }
    }
}

/// xpfd's consumer of every worker's trace ring.
public struct TraceCollector {
    var consumers: [RingConsumer<xpf_trace_record>]

    public init(region: ShmRegion) {
        consumers = (0..<region.queues).map { q in
            let w = region.worker(q)
            return RingConsumer(header: xpf_wb_trace_ring(w), entries: xpf_wb_trace_entries(w))
        }
    }

    /// Takes every record out of the rings; returns those of trace `id` (others belong to
    /// an earlier trace a worker was still recording when a new one was armed).
    public mutating func drain(id: UInt32) -> [TracedPacket] {
        var out: [TracedPacket] = []
        for q in consumers.indices {
            while let r = consumers[q].pop() {
                if r.trace_id == id { out.append(TracedPacket(queue: q, record: r)) }
            }
        }
        return out
    }
}
