// Fuzz target `pipeline`: the worker's batch function (`Pipeline.processBatch`) on
// arbitrary batches of frames, against the lab fixture (configuration, FIB with valid,
// unresolved, blackhole and local routes, interface addresses, a small session table).
//
// Input: records `[h u8][length u16 BE][frame bytes]`; h bit 0 = ingress interface slot,
// bit 1 = start a new batch here, bits 2-4 = clock advance before this batch (index into
// `clockSteps`, which reach the idle timeouts). Frames sit 2 KiB apart in a UMEM-like
// buffer; the bytes after a frame's end plus the room an ICMP error may grow into
// (`ICMPError.build`: 48 bytes) are poisoned, so reads past the frame fault under ASan.
//
// The configuration is the fixture's plus firewall filters (`filterConfig`) whose terms the
// seed frames reach: every condition kind, discard, reject with a reason and tcp-reset,
// count, log, a DSCP rewrite, a two-color policer marking loss priority and a color-aware
// three-color one discarding red, on input (both families) and output; for replies a
// key-only input-list (memoized on session hits, k1 falling through to k2, which sets a
// forwarding class) and an output filter with packet-length, next term and from
// forwarding-class. The policers' buckets are refilled at the start of every input, with
// the clock.
//
// Invariants per action: a drop names a defined reason; a forwarded frame leaves on a
// dataplane interface with the egress MAC and a valid neighbour's MAC, its TTL/hop limit
// one lower, a valid IPv4 header checksum when the received one was valid, its DSCP either
// kept or the one the filter's rewrite term sets (ECN kept), and its L4 bytes untouched
// (so a valid L4 checksum stays valid); an ICMP error goes back out of the ingress
// interface to the sender's MAC, from that interface's address, with valid IP and ICMP
// checksums; a TCP reset goes back out of the ingress interface to the sender's MAC, from
// the address the segment was sent to, with RST set and valid IP and TCP checksums; a
// parked frame names a dataplane interface and, when its next hop never resolves, becomes
// such an ICMP error or is freed. Every input starts from an empty session table and a
// fixed clock, so a failure replays.
#if canImport(Glibc)
import Glibc
#endif
import CFuzz
import CXPF
import Shared
import XPFTestSupport

final class PipelineTarget {
    static let shared = PipelineTarget()

    static let frameSize = 2048
    static let maxFrames = 32
    static let maxFrameLength = 1518          // Ethernet + VLAN tag + 1500-byte MTU
    static let icmpGrowth = 48                // most an ICMP error adds to a frame
    static let sessionCapacity = 64           // small: the table fills within one input
    static let clockSteps: [UInt32] = [0, 1, 5, 20, 31, 61, 1801, 86_400]
    static let startMs: UInt32 = 1_000_000
    static let nsPerMs: UInt64 = 1_000_000
    static let interfaceCount = 2
    /// The DSCP the `mark` term rewrites to (af41).
    static let rewrittenDSCP: UInt8 = 34
    /// Filters over the seed frames' fields (SeedFrames: UDP/TCP from port 40000 to 5001,
    /// ICMP echo, fragments, IPv6 from fd00:1::2).
    static let filterConfig = LabFixture.configText + """

        interfaces {
            fw0 { unit 0 { family inet { filter { input in4; output back4; } } family inet6 { filter { input in6; } } } }
            fw1 { unit 0 { family inet { filter { input-list [ k1 k2 ]; output out4; } } } }
        }
        firewall {
            policer tiny { if-exceeding { bandwidth-limit 8k; burst-size-limit 1500; } then loss-priority high; }
            three-color-policer tcm { single-rate { color-aware; committed-information-rate 8k; committed-burst-size 1500;
                excess-burst-size 3000; } action { loss-priority high then discard; } }
            family inet {
                filter in4 {
                    term ef { from { dscp ef; } then { count ef; discard; } }
                    term sf { from { tcp-flags "syn & fin"; } then discard; }
                    term rst { from { protocol tcp; destination-port 5002; } then reject tcp-reset; }
                    term rej { from { protocol udp; destination-port 5003; } then { reject port-unreachable; log; } }
                    term ex { from { source-address { 10.10.1.0/24; 10.10.1.2/32 except; } destination-port 5004; } then discard; }
                    term police { from { protocol udp; destination-port 5005; } then { policer tiny; accept; } }
                    term mark { from { protocol udp; destination-port 5000-5999; } then { dscp af41; accept; } }
                    term pings { from { icmp-type echo-request; } then { count pings; syslog; accept; } }
                    term first { from { first-fragment; } then accept; }
                    term frags { from { is-fragment; } then discard; }
                    term rest { then accept; }
                }
                filter k1 {
                    term rst-back { from { protocol tcp; source-port 5002; } then { count rst-back; accept; } }
                }
                filter k2 {
                    term classed { from { protocol [ udp tcp icmp ]; } then { forwarding-class assured-forwarding; accept; } }
                    term rest { then accept; }
                }
                filter back4 {
                    term small { from { packet-length 0-100; } then { count small; next term; } }
                    term be { from { forwarding-class best-effort; } then { count unclassed; accept; } }
                    term rest { then accept; }
                }
                filter out4 {
                    term o { from { protocol udp; source-port 40001; } then reject host-unreachable; }
                    term hi { from { loss-priority high; } then { count high; accept; } }
                    term tcm { from { protocol tcp; } then { loss-priority medium-low; three-color-policer { single-rate tcm; } accept; } }
                    term rest { then accept; }
                }
            }
            family inet6 {
                filter in6 {
                    term tc { from { traffic-class ef; } then discard; }
                    term r { from { next-header udp; destination-port 5003; } then reject; }
                    term rest { then accept; }
                }
            }
        }
        """

    let region: ShmRegion
    var pipeline: Pipeline
    let umem: UnsafeMutableRawPointer
    let descs: UnsafeMutablePointer<xdp_desc>
    let actions: UnsafeMutablePointer<PacketAction>
    let parks: UnsafeMutablePointer<ParkRequest>
    var counters = WorkerCounters()

    private init() {
        let path = "/dev/shm/xpf-fuzz-\(getpid())"
        // Safe to force: the fixture's configuration and FIB are fixed and valid.
        region = try! LabFixture.makeRegion(path: path, queues: 1, capacity: Self.sessionCapacity, edgeCases: true,
                                            config: Self.filterConfig)
        unlink(path)  // the mapping stays; nothing is left in /dev/shm when the fuzzer exits
        pipeline = LabFixture.makePipeline(region, queue: 0)
        umem = .allocate(byteCount: Self.maxFrames * Self.frameSize, alignment: 4096)
        umem.initializeMemory(as: UInt8.self, repeating: 0, count: Self.maxFrames * Self.frameSize)
        descs = .allocate(capacity: Self.maxFrames)
        actions = .allocate(capacity: Self.maxFrames)
        actions.initialize(repeating: PacketAction(kind: .drop), count: Self.maxFrames)
        parks = .allocate(capacity: Self.maxFrames)
        parks.initialize(repeating: ParkRequest(), count: Self.maxFrames)
    }

    struct Record { var ingress: UInt8; var newBatch: Bool; var step: Int; var bytes: [UInt8] }

    static func records(_ d: UnsafeRawBufferPointer) -> [Record] {
        var out: [Record] = []
        var i = 0
        while i + 3 <= d.count && out.count < maxFrames {
            let h = d[i]
            let declared = Int(d[i + 1]) << 8 | Int(d[i + 2])
            let len = min(declared, maxFrameLength, d.count - i - 3)
            out.append(Record(ingress: h & 1, newBatch: h & 2 != 0, step: Int(h >> 2) & 7,
                              bytes: Array(d[(i + 3)..<(i + 3 + len)])))
            i += 3 + len
        }
        return out
    }

    /// Encodes records in the input format (seeds).
    static func encode(_ frames: [(ingress: UInt8, step: Int, bytes: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        for f in frames {
            out += [f.ingress | UInt8(f.step) << 2, UInt8(f.bytes.count >> 8), UInt8(f.bytes.count & 0xff)] + f.bytes
        }
        return out
    }

    static var seeds: [[UInt8]] {
        let frames = SeedFrames.all
        var out = frames.map { encode([(0, 0, $0)]) }
        // A flow and its reply (session hit in the reverse direction), then the same packet
        // again after the flow's idle timeout (aged out, re-created).
        let udp = SeedFrames.ipv4(src: SeedFrames.client4, dst: SeedFrames.server4, proto: SeedFrames.protoUDP)
        var reply = SeedFrames.ipv4(src: SeedFrames.server4, dst: SeedFrames.client4, proto: SeedFrames.protoUDP)
        reply.replaceSubrange(0..<12, with: LabFixture.fw1MAC + LabFixture.serverMAC)
        out.append(encode([(0, 0, udp), (1, 0, reply), (0, 5, udp)]))
        out.append(encode(frames.map { (0, 0, $0) }))
        return out
    }

    func run(_ data: UnsafeRawBufferPointer) -> String? {
        let recs = Self.records(data)
        pipeline.nowMs = Self.startMs
        pipeline.nowS = Self.startMs / 1000
        pipeline.nowNs = UInt64(Self.startMs) * Self.nsPerMs
        pipeline.icmpLimit = ICMPRateLimit()
        // Full buckets (zero), so a failure replays.
        UnsafeMutableRawPointer(region.policerBuckets).initializeMemory(as: UInt8.self, repeating: 0,
                                                                         count: MemoryLayout<xpf_policer_buckets>.size)
        defer {
            _ = pipeline.clearSessions(counters: &counters)
            xpf_fuzz_unpoison(umem, Self.maxFrames * Self.frameSize)
        }
        var start = 0
        while start < recs.count {
            var end = start + 1
            while end < recs.count && recs[end].ingress == recs[start].ingress && !recs[end].newBatch { end += 1 }
            if let failure = runBatch(recs, start..<end) { return failure }
            start = end
        }
        return nil
    }

    private func runBatch(_ recs: [Record], _ range: Range<Int>) -> String? {
        let step = Self.clockSteps[recs[range.lowerBound].step]
        pipeline.nowMs &+= step &* 1000
        pipeline.nowS &+= step
        pipeline.nowNs &+= UInt64(step) * 1000 * Self.nsPerMs
        let ingress = recs[range.lowerBound].ingress
        for (j, k) in range.enumerated() {
            let slot = umem + k * Self.frameSize
            let bytes = recs[k].bytes
            xpf_fuzz_unpoison(slot, Self.frameSize)
            slot.copyMemory(from: bytes, byteCount: bytes.count)
            let tail = bytes.count + Self.icmpGrowth
            xpf_fuzz_poison(slot + tail, Self.frameSize - tail)
            descs[j] = xdp_desc(addr: UInt64(k * Self.frameSize), len: UInt32(bytes.count), options: 0)
        }
        let rxBefore = counters.s.rx_packets
        pipeline.processBatch(umem: umem, descs: descs, count: range.count, ingress: ingress,
                              counters: &counters, actions: actions, parks: parks)
        if counters.s.rx_packets &- rxBefore != UInt64(range.count) { return "rx_packets did not count the batch" }
        for (j, k) in range.enumerated() {
            let frame = umem + Int(descs[j].addr)
            if let failure = check(actions[j], park: parks[j], frame: frame, original: recs[k].bytes, ingress: ingress) {
                return "frame \(k): \(failure)"
            }
        }
        _ = pipeline.ageSessions(budget: Self.sessionCapacity, counters: &counters)
        return nil
    }

    private func check(_ a: PacketAction, park: ParkRequest, frame: UnsafeMutableRawPointer, original: [UInt8],
                       ingress: UInt8) -> String? {
        switch a.kind {
        case .drop:
            guard xpf_drop_reason_name(UInt32(a.reason)) != nil else {
                return "drop with undefined reason \(a.reason)"
            }
            return nil
        case .transmit where a.length != 0:
            guard a.egress == ingress else { return "reply sent out of \(a.egress), not the ingress \(ingress)" }
            var p = ParsedPacket()
            if parseFrame(frame, length: Int(a.length), into: &p) == .ok && p.proto == SeedFrames.protoTCP {
                return checkReset(frame: frame, length: Int(a.length), original: original, ingress: ingress)
            }
            return checkICMPError(frame: frame, length: Int(a.length), original: original, ingress: ingress)
        case .transmit:
            return checkForwarded(frame: frame, original: original, egress: a.egress)
        case .park:
            guard Int(a.egress) < Self.interfaceCount else { return "parked for egress \(a.egress)" }
            var p = ParsedPacket()
            let family = original.withUnsafeBytes { parseFrame($0.baseAddress!, length: $0.count, into: &p) == .ok ? p.family : 0 }
            guard park.family == family, park.ifindex != 0 else {
                return "park request (family \(park.family), ifindex \(park.ifindex)) is not this frame's next hop"
            }
            // As the worker does at the hold deadline: the next hop never resolved.
            guard let length = pipeline.hostUnreachable(frame: frame, length: original.count, ingress: ingress,
                                                        counters: &counters) else { return nil }
            return checkICMPError(frame: frame, length: Int(length), original: original, ingress: ingress)
        }
    }

    private func checkForwarded(frame: UnsafeMutableRawPointer, original: [UInt8], egress: UInt8) -> String? {
        guard Int(egress) < Self.interfaceCount else { return "forwarded to slot \(egress)" }
        let out = UnsafeRawBufferPointer(start: frame, count: original.count)
        let egressMAC = egress == 0 ? LabFixture.fw0MAC : LabFixture.fw1MAC
        guard Array(out[6..<12]) == egressMAC else { return "source MAC is not the egress interface's" }
        let dmac = Array(out[0..<6])
        guard dmac == LabFixture.clientMAC || dmac == LabFixture.serverMAC else { return "destination MAC is no neighbour's" }
        var p = ParsedPacket(), q = ParsedPacket()
        guard parseFrame(frame, length: original.count, into: &p) == .ok else { return "forwarded frame does not parse" }
        let parsedIn = original.withUnsafeBytes { parseFrame($0.baseAddress!, length: $0.count, into: &q) }
        guard parsedIn == .ok else { return "a frame the parser refuses was forwarded" }
        if let failure = ParseTarget.check(p, frame: out) { return "forwarded frame: \(failure)" }
        guard p.ttl == q.ttl &- 1 else { return "TTL \(q.ttl) became \(p.ttl)" }
        if p.family == 4 {
            let ihl = Int(original[p.l3Offset] & 0x0F) * 4
            let validIn = original.withUnsafeBytes { internetChecksum($0.baseAddress! + p.l3Offset, count: ihl) } == 0
            let validOut = internetChecksum(frame + p.l3Offset, count: ihl) == 0
            if validIn && !validOut { return "IPv4 header checksum broken by forwarding" }
        }
        // Forwarding rewrites the MACs, the TTL/hop limit and the IPv4 header checksum, and
        // the `mark` term the IPv4 DSCP: every other byte is the packet's own business.
        let ttlOffset = p.l3Offset + (p.family == 4 ? 8 : 7)
        var expected = Array(original[12..<ttlOffset])
        if p.family == 4 {
            let tos = p.l3Offset + 1 - 12, ecnMask: UInt8 = 0x03
            let marked = Self.rewrittenDSCP << 2 | expected[tos] & ecnMask
            if out[p.l3Offset + 1] == marked { expected[tos] = marked }
        }
        guard Array(out[12..<ttlOffset]) == expected else { return "bytes before the TTL changed" }
        let headerEnd = p.l3Offset + (p.family == 4 ? 12 : 8)
        guard Array(out[headerEnd...]) == Array(original[headerEnd...]) else { return "bytes past the IP TTL changed" }
        return nil
    }

    /// A filter's `reject tcp-reset`: a RST from the address the segment went to, back to its sender.
    private func checkReset(frame: UnsafeMutableRawPointer, length: Int, original: [UInt8], ingress: UInt8) -> String? {
        guard length <= original.count, length <= Self.frameSize else { return "TCP reset of \(length) bytes" }
        var p = ParsedPacket(), q = ParsedPacket()
        guard parseFrame(frame, length: length, into: &p) == .ok else { return "TCP reset does not parse" }
        guard original.withUnsafeBytes({ parseFrame($0.baseAddress!, length: $0.count, into: &q) }) == .ok,
              q.proto == SeedFrames.protoTCP, q.tcpFlags & TCPFlag.rst == 0 else { return "a RST answers no TCP segment" }
        let out = UnsafeRawBufferPointer(start: frame, count: length)
        if let failure = ParseTarget.check(p, frame: out) { return "TCP reset: \(failure)" }
        guard Array(out[0..<6]) == Array(original[6..<12]) else { return "TCP reset not addressed to the sender's MAC" }
        let ingressMAC = ingress == 0 ? LabFixture.fw0MAC : LabFixture.fw1MAC
        guard Array(out[6..<12]) == ingressMAC else { return "TCP reset not from the ingress MAC" }
        guard p.tcpFlags & TCPFlag.rst != 0 else { return "reply to TCP is neither a RST nor an ICMP error" }
        guard p.srcPort == q.dstPort, p.dstPort == q.srcPort else { return "TCP reset ports not swapped" }
        let l3 = frame + p.l3Offset, l4Length = p.l3Offset + p.l3Length - p.l4Offset
        let addressLength = p.family == 4 ? 4 : 16, srcOffset = p.family == 4 ? 12 : 8
        let sentFrom = Array(out[(p.l3Offset + srcOffset)..<(p.l3Offset + srcOffset + addressLength)])
        let wentTo = Array(original[(q.l3Offset + srcOffset + addressLength)..<(q.l3Offset + srcOffset + 2 * addressLength)])
        guard sentFrom == wentTo else { return "TCP reset not from the address the segment went to" }
        if p.family == 4 {
            guard internetChecksum(l3, count: 20) == 0 else { return "TCP reset's IP checksum invalid" }
            guard l4ChecksumV4(ipHeader: l3, proto: SeedFrames.protoTCP, l4: frame + p.l4Offset, l4Length: l4Length) == 0 else {
                return "TCP reset's checksum invalid"
            }
        } else {
            guard l4ChecksumV6(ipHeader: l3, proto: SeedFrames.protoTCP, l4: frame + p.l4Offset, l4Length: l4Length) == 0 else {
                return "TCP reset's checksum invalid"
            }
        }
        return nil
    }

    private func checkICMPError(frame: UnsafeMutableRawPointer, length: Int, original: [UInt8], ingress: UInt8) -> String? {
        guard length <= original.count + Self.icmpGrowth, length <= Self.frameSize else { return "ICMP error of \(length) bytes" }
        var p = ParsedPacket()
        guard parseFrame(frame, length: length, into: &p) == .ok else { return "ICMP error does not parse" }
        let out = UnsafeRawBufferPointer(start: frame, count: length)
        if let failure = ParseTarget.check(p, frame: out) { return "ICMP error: \(failure)" }
        guard Array(out[0..<6]) == Array(original[6..<12]) else { return "ICMP error not addressed to the sender's MAC" }
        let ingressMAC = ingress == 0 ? LabFixture.fw0MAC : LabFixture.fw1MAC
        guard Array(out[6..<12]) == ingressMAC else { return "ICMP error not from the ingress MAC" }
        let l3 = frame + p.l3Offset
        let l4Length = p.l3Offset + p.l3Length - p.l4Offset
        if p.family == 4 {
            guard p.proto == SeedFrames.protoICMP, p.icmpType == 11 || p.icmpType == 3 else { return "not an ICMP error" }
            guard internetChecksum(l3, count: 20) == 0 else { return "ICMP error's IP checksum invalid" }
            guard internetChecksum(frame + p.l4Offset, count: l4Length) == 0 else { return "ICMP checksum invalid" }
            let src = Array(out[(p.l3Offset + 12)..<(p.l3Offset + 16)])
            guard src == (ingress == 0 ? [10, 10, 1, 1] : [10, 10, 2, 1]) else { return "ICMP error from \(src)" }
        } else {
            guard p.proto == SeedFrames.protoICMPv6, p.icmpType == 3 || p.icmpType == 1 else { return "not an ICMPv6 error" }
            guard l4ChecksumV6(ipHeader: l3, proto: SeedFrames.protoICMPv6, l4: frame + p.l4Offset, l4Length: l4Length) == 0 else {
                return "ICMPv6 checksum invalid"
            }
            let src = Array(out[(p.l3Offset + 8)..<(p.l3Offset + 24)])
            guard src == LabFixture.v6(1, net: ingress + 1) else { return "ICMPv6 error from \(src)" }
        }
        return nil
    }
}
