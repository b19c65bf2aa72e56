// The state of one worker's pipeline and the values its stages share: what the I/O
// loop does with a frame (PacketAction), the per-batch counters (WorkerCounters), the
// egress interfaces, and `Pipeline` itself — the configuration, FIB, session partition
// and event paths a worker runs against. The stages are in their own files (see
// Process.swift for their order); what they know about the packet in hand travels in
// a `Packet` (Packet.swift), never in fields of `Pipeline`.
//
// Everything here runs per packet: no allocation, no ARC, counters in the caller's
// locals (`WorkerCounters`) flushed once per batch.
import CXPF

/// TCP header flag bits (RFC 9293; ECE and CWR RFC 3168).
public enum TCPFlag {
    public static let fin: UInt8 = 0x01
    public static let syn: UInt8 = 0x02
    public static let rst: UInt8 = 0x04
    public static let psh: UInt8 = 0x08
    public static let ack: UInt8 = 0x10
    public static let urg: UInt8 = 0x20
    public static let ece: UInt8 = 0x40
    public static let cwr: UInt8 = 0x80
}

/// What the I/O loop must do with a frame.
public struct PacketAction {
    public enum Kind: UInt8 { case transmit, drop, park }
    public var kind: Kind
    public var egress: UInt8        // iface slot (transmit, park)
    public var reason: UInt8        // enum xpf_drop_reason (drop)
    public var length: UInt32       // transmit: the frame's new length, 0 = unchanged
    public init(kind: Kind, egress: UInt8 = 0, reason: UInt8 = 0, length: UInt32 = 0) {
        self.kind = kind; self.egress = egress; self.reason = reason; self.length = length
    }
    @inlinable public static func drop(_ r: xpf_drop_reason) -> PacketAction { PacketAction(kind: .drop, reason: UInt8(r.rawValue)) }
}

/// Per-worker counters kept in locals during a batch (mirror of xpf_worker_stats).
public struct WorkerCounters {
    public var s = xpf_worker_stats()
    public init() {}

    /// Adds to element `i` of a counter array (a C array of UInt64 imports as a tuple;
    /// its length is a power of two: 16 drop reasons, 16 interface slots).
    @inlinable
    public static func add<T>(_ array: inout T, _ i: Int, _ n: UInt64) {
        withUnsafeMutableBytes(of: &array) { raw in
            let p = raw.baseAddress!.assumingMemoryBound(to: UInt64.self)
            p[i & (raw.count / 8 - 1)] &+= n  // Safe: masked into the array's own length
        }
    }

    /// Sets element `i` of a per-interface counter array (64-bit elements).
    @inlinable
    public static func set<T>(_ array: inout T, _ i: Int, _ v: UInt64) {
        withUnsafeMutableBytes(of: &array) { raw in
            let p = raw.baseAddress!.assumingMemoryBound(to: UInt64.self)
            p[i & (raw.count / 8 - 1)] = v  // Safe: masked into the array's own length
        }
    }

    /// Element `i` of a per-interface counter array (64-bit elements).
    @inlinable
    public static func get<T>(_ array: T, _ i: Int) -> UInt64 {
        withUnsafeBytes(of: array) { $0.load(fromByteOffset: (i & ($0.count / 8 - 1)) * 8, as: UInt64.self) }
    }

    /// Sets element `i` of a per-interface gauge array.
    @inlinable
    public static func set<T>(_ array: inout T, _ i: Int, _ v: UInt32) {
        withUnsafeMutableBytes(of: &array) { raw in
            let p = raw.baseAddress!.assumingMemoryBound(to: UInt32.self)
            p[i & (Int(XPF_MAX_IFACES) - 1)] = v  // Safe: masked into the 16 interface slots
        }
    }
    @inlinable public mutating func drop(_ reason: UInt8) { Self.add(&s.drops, Int(reason), 1) }
}

/// Egress interface data a worker needs per packet (copied from the header at start).
public struct EgressInterface {
    public var ifindex: UInt32 = 0
    public var mac: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0)
    public var mtu: UInt16 = 1500
    public init() {}
}

/// The state one worker's pipeline runs against. Rebuilt pointers on generation switch.
public struct Pipeline {
    public var partition: SessionPartition
    public private(set) var config: UnsafeMutablePointer<xpf_config_snapshot>
    public private(set) var generation: UInt64
    public var fib: FIBView
    public var interfaces: UnsafeMutablePointer<EgressInterface>   // XPF_MAX_IFACES entries
    public var interfaceCount: Int
    public var nowMs: UInt32 = 0        // CLOCK_MONOTONIC ms (wrapping), set once per loop
    public var nowS: UInt32 = 0         // CLOCK_MONOTONIC s, set once per loop
    public var nowRealtimeNs: UInt64 = 0 // CLOCK_REALTIME ns (event timestamps), set once per loop
    public var nowNs: UInt64 = 0        // CLOCK_MONOTONIC ns (policers), set once per loop
    /// This worker's security events (Events/EventEmitter.swift) and recent exceptions
    /// (Events/ExceptionLog.swift).
    public var events: EventEmitter
    public let exceptions: ExceptionLog
    /// Guessed keys and hashes of frames a few packets ahead (see prefetchSession).
    public struct KeyGuess { public var key = FlowKey(); public var hash: UInt64 = 0 }
    public static let guessSlots = 8
    /// The stored `key` of a guess (memory there is bound to FlowKey as a stored property).
    @inlinable
    static func guessKey(_ g: UnsafeMutablePointer<KeyGuess>) -> UnsafePointer<FlowKey> {
        UnsafePointer((UnsafeMutableRawPointer(g) + MemoryLayout<KeyGuess>.offset(of: \KeyGuess.key)!).assumingMemoryBound(to: FlowKey.self))
    }
    @usableFromInline let guesses: UnsafeMutablePointer<KeyGuess> = {
        let p = UnsafeMutablePointer<KeyGuess>.allocate(capacity: Pipeline.guessSlots)  // lives as long as the pipeline
        p.initialize(repeating: KeyGuess(), count: Pipeline.guessSlots)
        return p
    }()
    @usableFromInline let nextHops = NextHopCache()
    /// The per-packet state processBatch reuses for each packet (see Packet.swift).
    @usableFromInline let scratch: UnsafeMutablePointer<Packet> = {
        let p = UnsafeMutablePointer<Packet>.allocate(capacity: 1)  // lives as long as the pipeline
        p.initialize(to: Packet(frame: UnsafeMutableRawPointer(p), length: 0, ingress: 0))  // no frame yet
        return p
    }()
    public var icmpLimit = ICMPRateLimit()
    /// The running snapshot's policy epoch (see xpf_config_snapshot.policy_epoch): a
    /// session whose generation is older is re-checked at its next packet.
    public private(set) var policyEpoch: UInt32 = 0
    /// This worker's policy counters (struct xpf_policy_hits); `policyHits` is the bank the
    /// running snapshot counts in (XPF_MAX_POLICIES + 1 records, by policy id).
    @usableFromInline let policyHitBanks: UnsafeMutablePointer<xpf_policy_hits>
    @usableFromInline var policyHits: UnsafeMutablePointer<xpf_policy_counters>
    /// This worker's firewall filter counters (struct xpf_filter_hits, both banks; the
    /// running snapshot's policy_bank picks one: FilterCounters.swift).
    @usableFromInline let filterHitBanks: UnsafeMutablePointer<xpf_filter_hits>
    /// Every worker's policer buckets (struct xpf_policer_buckets, both banks; Policer.swift).
    @usableFromInline let policerBuckets: UnsafeMutablePointer<xpf_policer_buckets>
    /// The running snapshot's policers, its bank's buckets and counter rows (Policer.swift).
    @usableFromInline var policing: PolicingTables
    /// The running snapshot's filter attachments per interface slot (FilterStage.swift).
    @usableFromInline var filters = FilterAttachments()
    /// This worker's memo of filter decisions on session hits (FilterStage.swift).
    @usableFromInline let filterMemo = FilterMemo()
    /// The packet trace this worker follows (Trace.swift); off unless xpfd armed one.
    public var trace: PacketTracer

    public init(partition: SessionPartition, config: UnsafeMutablePointer<xpf_config_snapshot>, generation: UInt64,
                fib: FIBView, interfaces: UnsafeMutablePointer<EgressInterface>, interfaceCount: Int, events: EventEmitter,
                exceptions: ExceptionLog, policyHits: UnsafeMutablePointer<xpf_policy_hits>,
                filterHits: UnsafeMutablePointer<xpf_filter_hits>, policers: UnsafeMutablePointer<xpf_policer_buckets>,
                trace: PacketTracer = PacketTracer()) {
        self.partition = partition
        self.trace = trace
        self.events = events
        self.exceptions = exceptions
        self.config = config
        self.generation = generation
        self.fib = fib
        self.interfaces = interfaces
        self.interfaceCount = interfaceCount
        policyHitBanks = policyHits
        self.policyHits = PolicyCounters.bank(policyHits, config.pointee.policy_bank)
        policyEpoch = config.pointee.policy_epoch
        filterHitBanks = filterHits
        policerBuckets = policers
        policing = PolicingTables(ConfigSnapshotView(UnsafePointer(config), capacity: Int(config.pointee.size)),
                                  buckets: policers, hits: filterHits)
        filters.load(configView, hits: filterHitBanks)
    }

    /// Runs the configuration snapshot `config` (generation `generation`) from the next
    /// packet on: between batches only, after `validate()` accepted it.
    public mutating func adopt(config: UnsafeMutablePointer<xpf_config_snapshot>, generation: UInt64) {
        self.config = config
        self.generation = generation
        policyEpoch = config.pointee.policy_epoch
        policyHits = PolicyCounters.bank(policyHitBanks, config.pointee.policy_bank)
        filters.load(configView, hits: filterHitBanks)
        policing = PolicingTables(configView, buckets: policerBuckets, hits: filterHitBanks)
    }

    /// A view of the running snapshot (its sections, for the first path's stages).
    @inlinable var configView: ConfigSnapshotView {
        ConfigSnapshotView(UnsafePointer(config), capacity: Int(config.pointee.size))
    }

    /// Writes a flow key: addresses from the IP header at `l3` (IPv4 in the first 4 of
    /// 16 bytes), ports (network order) as given.
    @inlinable
    static func fillKey(_ key: inout FlowKey, family: UInt8, proto: UInt8, l3: UnsafeRawPointer, sport: UInt16, dport: UInt16) {
        key.family = family
        key.proto = proto
        withUnsafeMutableBytes(of: &key.tuple) { t in
            let base = t.baseAddress!
            if family == 4 {
                // Safe: callers checked that bytes 12..<20 of the IPv4 header exist.
                base.storeBytes(of: l3.loadUnaligned(fromByteOffset: 12, as: UInt32.self), as: UInt32.self)
                base.storeBytes(of: 0, toByteOffset: 4, as: UInt32.self)
                base.storeBytes(of: 0, toByteOffset: 8, as: UInt64.self)
                base.storeBytes(of: l3.loadUnaligned(fromByteOffset: 16, as: UInt32.self), toByteOffset: 16, as: UInt32.self)
                base.storeBytes(of: 0, toByteOffset: 20, as: UInt32.self)
                base.storeBytes(of: 0, toByteOffset: 24, as: UInt64.self)
            } else {
                // Safe: callers checked the 40-byte fixed IPv6 header.
                base.copyMemory(from: l3 + 8, byteCount: 32)
            }
            base.storeBytes(of: sport, toByteOffset: 32, as: UInt16.self)
            base.storeBytes(of: dport, toByteOffset: 34, as: UInt16.self)
        }
    }

    /// Prefetches the session index bucket of a frame a few packets ahead and keeps the
    /// guessed key and its hash in ring slot `slot` for `process(…, guess:)`, from a
    /// guess of its key at fixed offsets (untagged IPv4 without options or IPv6 without
    /// extension headers, TCP/UDP). A wrong guess only wastes the prefetch; the real
    /// key comes from the parser.
    @inlinable @inline(__always)  // part of the batch loop (out of line it cost ~30 instructions/packet)
    public mutating func prefetchSession(frame: UnsafeRawPointer, length: Int, slot: Int) {
        let g = guesses + (slot & (Self.guessSlots - 1))  // Safe: masked into the ring
        g.pointee.hash = 0
        guard length >= 14 + 40 + 4 else { return }  // Safe: every load below is within 58 bytes
        let ethertype = UInt16(bigEndian: frame.loadUnaligned(fromByteOffset: 12, as: UInt16.self))
        let l3 = frame + 14
        let family: UInt8, proto: UInt8, l4: Int
        if ethertype == 0x0800 && l3.load(as: UInt8.self) == 0x45 {
            family = 4; proto = l3.load(fromByteOffset: 9, as: UInt8.self); l4 = 20
        } else if ethertype == 0x86DD {
            family = 6; proto = l3.load(fromByteOffset: 6, as: UInt8.self); l4 = 40
        } else { return }
        guard proto == 6 || proto == 17 else { return }
        Self.fillKey(&g.pointee.key, family: family, proto: proto, l3: l3,
                     sport: l3.loadUnaligned(fromByteOffset: l4, as: UInt16.self),
                     dport: l3.loadUnaligned(fromByteOffset: l4 + 2, as: UInt16.self))
        g.pointee.hash = partition.table.prefetch(Self.guessKey(g))
    }

    /// Idle timeout in ms for a session, from the running configuration.
    @inlinable
    public func timeoutMs(proto: UInt8, tcpState: UInt8) -> UInt32 {
        config.pointee.idleTimeoutMs(proto: proto, tcpState: tcpState)
    }
}
