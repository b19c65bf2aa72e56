// Frames waiting for neighbour resolution: a worker's bounded, private queue of
// UMEM frames whose next hop has no link-layer address yet. A frame is parked before any
// rewrite; one request per next hop goes to xpfd (the worker's request ring), repeated
// every `reaskMs` while frames wait; a frame is sent once the FIB snapshot knows its
// neighbour, and dropped (`neigh_timeout`, its sender told with an ICMP host
// unreachable) at its deadline. A full queue drops the new frame (`neigh_queue_full`).
//
// The worker loop (Sources/Worker/main.swift) owns one; the queue never touches a socket:
// the caller passes what sends (`stage`), frees (`free`) and asks (`ask`), so tests drive
// it over a region and a pipeline alone (Tests/SharedTests/WorkerLoopTests.swift).
import CXPF

public struct ParkQueue {
    /// One parked frame: its UMEM address and length, where it goes, the next hop to
    /// resolve (address in `.src`), its deadline and when it was last asked for.
    @usableFromInline struct Parked {
        var addr: UInt64 = 0
        var len: UInt32 = 0
        var egress: UInt8 = 0
        var ingress: UInt8 = 0
        var family: UInt8 = 0
        var ifindex: UInt32 = 0
        var nexthop = xpf_flow_tuple()
        var deadlineMs: UInt32 = 0
        var requestedMs: UInt32 = 0
    }

    public static let capacity = 256
    /// How often a still-unresolved next hop is asked for again.
    public static let reaskMs: UInt32 = 250
    @usableFromInline let parked: UnsafeMutablePointer<Parked>
    public private(set) var count = 0

    public init() {
        parked = .allocate(capacity: Self.capacity)  // lives as long as the worker
        parked.initialize(repeating: Parked(), count: Self.capacity)
    }

    /// Parks the frame at `addr` (its action said `.park`, `request` names the next hop)
    /// until `nowMs + holdMs`. Asks for the next hop unless a frame already waits for it.
    public mutating func park(addr: UInt64, len: UInt32, egress: UInt8, ingress: UInt8, request: ParkRequest,
                              nowMs: UInt32, holdMs: UInt32, counters: inout WorkerCounters,
                              free: (UInt64) -> Void, ask: (xpf_neigh_request) -> Void) {
        guard count < Self.capacity else {
            free(addr)
            counters.drop(UInt8(XPF_DROP_NEIGH_QUEUE_FULL.rawValue))
            return
        }
        var p = Parked()
        p.addr = addr; p.len = len; p.egress = egress; p.ingress = ingress
        p.family = request.family; p.ifindex = request.ifindex; p.nexthop = request.nexthop
        p.deadlineMs = nowMs &+ holdMs
        p.requestedMs = nowMs
        var already = false
        for i in 0..<count where parked[i].ifindex == p.ifindex && parked[i].family == p.family
            && withUnsafeBytes(of: parked[i].nexthop.src, { a in withUnsafeBytes(of: p.nexthop.src) { a.elementsEqual($0) } }) {
            already = true
            break
        }
        if !already { ask(Self.request(p)) }
        parked[count] = p
        count += 1
        counters.s.neigh_parked &+= 1
    }

    /// Sends the frames whose neighbour the running FIB knows (rewritten by the
    /// pipeline), drops (counted) those past their deadline — answered with a host
    /// unreachable where the RFCs and the rate limit allow — and asks again for the
    /// rest every `reaskMs`. `umem`: the frames' area.
    public mutating func service(nowMs: UInt32, pipeline: inout Pipeline, umem: UnsafeMutableRawPointer,
                                 counters: inout WorkerCounters, stage: (UInt8, UInt64, UInt32) -> Void,
                                 free: (UInt64) -> Void, ask: (xpf_neigh_request) -> Void) {
        var i = 0
        while i < count {
            let p = parked[i]
            let frame = umem + Int(p.addr)
            let sent = withUnsafeBytes(of: p.nexthop.src) {
                pipeline.resolveParked(frame: frame, length: Int(p.len), egress: p.egress, family: p.family,
                                       ifindex: p.ifindex, nexthop: $0.baseAddress!)
            }
            if sent {
                stage(p.egress, p.addr, p.len)
                counters.s.neigh_sent &+= 1
            } else if Int32(bitPattern: nowMs &- p.deadlineMs) >= 0 {
                counters.drop(UInt8(XPF_DROP_NEIGH_TIMEOUT.rawValue))
                if let len = pipeline.hostUnreachable(frame: frame, length: Int(p.len), ingress: p.ingress, counters: &counters) {
                    stage(p.ingress, p.addr, len)
                } else {
                    free(p.addr)
                }
            } else {
                if nowMs &- p.requestedMs >= Self.reaskMs {
                    ask(Self.request(p))
                    parked[i].requestedMs = nowMs
                }
                i += 1
                continue
            }
            count -= 1
            parked[i] = parked[count]
        }
    }

    static func request(_ p: Parked) -> xpf_neigh_request {
        var r = xpf_neigh_request()
        r.family = p.family
        r.iface_slot = p.egress
        r.ifindex = p.ifindex
        r.addr = p.nexthop.src
        return r
    }
}
