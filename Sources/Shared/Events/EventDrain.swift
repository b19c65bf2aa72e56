// Security events, supervisor side: xpfd drains every worker's event ring
// (EventEmitter writes them) and turns each record into an RTFlowRecord — indices
// resolved to the names of the configuration generation that decided the session — for
// the SyslogRouter. Readers skip types they do not know.
import CXPF

public final class EventDrain {
    @usableFromInline var consumers: [RingConsumer<xpf_event>]
    /// Events read from the rings, known types only.
    public private(set) var drained: UInt64 = 0
    /// Entries of a type this build does not know, skipped.
    public private(set) var skipped: UInt64 = 0

    public init(region: ShmRegion) {
        consumers = (0..<region.queues).map {
            let w = region.worker($0)
            return RingConsumer(header: xpf_wb_event_ring(w), entries: xpf_wb_event_entries(w))
        }
    }

    /// Reads up to `budget` events of each worker, oldest first, and hands each known one
    /// to `body`. Returns how many it read.
    @discardableResult
    public func drain(budget: UInt32, _ body: (UnsafePointer<xpf_event>) -> Void) -> Int {
        var n = 0
        for q in consumers.indices {
            let (first, count) = consumers[q].peek(budget)  // acquire: the entries the producer submitted
            for i in 0..<count {
                let e = consumers[q].entry(first &+ i)
                let type = e.pointee.hdr.type
                if type == 0 || type >= UInt8(XPF_EV_TYPE_COUNT.rawValue) {
                    skipped &+= 1
                    continue
                }
                drained &+= 1
                body(e)
            }
            consumers[q].release(count)  // the producer may reuse them
            n += Int(count)
        }
        return n
    }
}

/// The names one configuration generation gives an event's indices, resolved once when
/// xpfd adopts the generation, so that resolving an event copies no model: zones, the
/// zone of each interface, policies by id, NAT rules in NAT_RULES order.
final class GenerationNames {
    let generation: UInt32
    /// For the rarer kinds' lookups (filters, pools).
    let model: ConfigModel
    let zones: [String]
    /// By interface index (a dataplane interface's index is its slot); nil: in no zone.
    let zoneOfInterface: [String?]
    let policies: [String]
    let natRules: [String]
    /// What the snapshot's FILTERS and TERMS indices name (interface-specific copies
    /// included, which the model has once).
    let filterRecords: FilterRecordNames

    init(generation: UInt32, model: ConfigModel) {
        self.generation = generation
        self.model = model
        filterRecords = FilterRecordNames(model)
        zones = model.zones.map(\.name)
        zoneOfInterface = model.interfaces.indices.map { i in model.zoneIndex(ofInterface: i).map { model.zones[$0].name } }
        policies = model.policies.all.map(\.name)  // POLICIES index = policy id = `all` order
        // NAT_RULES: the rules of source, destination, then static rule sets (SnapshotWriter.encodeNAT).
        natRules = (model.nat.sourceRuleSets + model.nat.destinationRuleSets + model.nat.staticRuleSets)
            .flatMap(\.rules).map(\.name)
    }
}

/// What an event's indices mean: interface slots, and per configuration generation the
/// names of its zones, policies and other objects.
public struct EventNames {
    public var hostName: String
    /// Dataplane interface names by slot.
    public var interfaces: [String]
    /// Recent generations, by the low 32 bits of the generation (what a session records);
    /// the newest is used for an event of a generation no longer kept.
    var generations: [GenerationNames] = []
    public static let keptGenerations = 8

    public init(hostName: String, interfaces: [String]) {
        self.hostName = hostName
        self.interfaces = interfaces
    }

    /// Records the model of a newly published generation.
    public mutating func adopt(generation: UInt64, model: ConfigModel) {
        generations.append(GenerationNames(generation: UInt32(truncatingIfNeeded: generation), model: model))
        if generations.count > Self.keptGenerations { generations.removeFirst(generations.count - Self.keptGenerations) }
    }

    func names(_ generation: UInt32) -> GenerationNames? {
        generations.last { $0.generation == generation } ?? generations.last
    }

    func interfaceName(_ slot: UInt8) -> String {
        Int(slot) < interfaces.count ? interfaces[Int(slot)] : JunosAbsent.notApplicable
    }

    /// The zone name for an event: the one it names, else the zone of the interface.
    func zoneName(_ zone: UInt16, interface slot: UInt8, in names: GenerationNames?) -> String {
        guard let names else { return JunosAbsent.notApplicable }
        if zone != .max, Int(zone) < names.zones.count { return names.zones[Int(zone)] }
        guard Int(slot) < names.zoneOfInterface.count, let z = names.zoneOfInterface[Int(slot)] else { return JunosAbsent.notApplicable }
        return z
    }

    static func address(_ family: UInt8, _ bytes: UnsafeRawPointer) -> ConfigModel.IPAddress {
        if family == 4 { return .init(v4: UInt32(bigEndian: bytes.loadUnaligned(as: UInt32.self))) }
        return .init(v6High: UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)),
                     low: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }

    static let closeReasons: [String] = [
        JunosAbsent.notApplicable, JunosReason.tcpFIN, JunosReason.tcpRST, JunosReason.idleTimeout,
        JunosReason.clear, JunosReason.agedOut, JunosReason.policyChange,
    ]

    /// Junos's `attack-name` and RT_SCREEN_* class of each screen check (enum
    /// xpf_screen_check order).
    public static let screenAttacks: [(RTFlowRecord.ScreenClass, String)] = [
        (.tcp, "SYN flood!"), (.icmp, "ICMP flood!"), (.udp, "UDP flood!"), (.tcp, "Port scan!"),
        (.icmp, "Address sweep!"), (.tcp, "Land attack!"), (.icmp, "Ping of Death!"), (.ip, "Teardrop attack!"),
        (.tcp, "SYN and FIN bits!"), (.tcp, "No TCP flag!"), (.tcp, "FIN but no ACK bit!"), (.tcp, "WinNuke attack!"),
        (.ip, "IP source route option!"), (.tcp, "SYN fragment!"), (.tcp, "SYN flood!"),
        (.ip, "Src IP session limit!"), (.ip, "Dst IP session limit!"), (.icmp, "ICMP fragment!"),
    ]
    /// Filter term terminal actions (enum xpf_term_terminal order), as Junos logs them.
    static let filterActions = ["accept", "discard", "reject"]
    /// What a NAT exception's failure means (enum xpf_nat_failure, from 1).
    static let natFailures = ["", "pool exhausted: no free address or port", "egress interface has no address of the family",
                              "pool has no address of the packet's family"]

    /// The resolved record of an event; nil for a type this build has no record for.
    public func record(_ e: UnsafePointer<xpf_event>) -> RTFlowRecord? {
        let kind: RTFlowRecord.Kind
        switch UInt32(e.pointee.hdr.type) {
        case XPF_EV_SESSION_CREATE.rawValue: kind = .sessionCreate
        case XPF_EV_SESSION_CLOSE.rawValue: kind = .sessionClose
        case XPF_EV_SESSION_DENY.rawValue: kind = .sessionDeny
        case XPF_EV_SCREEN_DROP.rawValue: kind = .screenDrop
        case XPF_EV_FILTER_LOG.rawValue: kind = .filterLog
        case XPF_EV_NAT_EXCEPTION.rawValue: kind = .natException
        case XPF_EV_TABLE_FULL.rawValue: kind = .tableFull
        default: return nil
        }
        let payload = UnsafeRawPointer(e) + MemoryLayout<xpf_event_hdr>.size
        let f = payload.assumingMemoryBound(to: xpf_event_flow.self).pointee
        let fwd = payload + MemoryLayout<xpf_event_flow>.offset(of: \xpf_event_flow.fwd)!
        let nat = payload + MemoryLayout<xpf_event_flow>.offset(of: \xpf_event_flow.nat)!
        let tupleDst = MemoryLayout<xpf_event_tuple>.offset(of: \xpf_event_tuple.dst)!
        let names = names(f.generation)
        var r = RTFlowRecord(kind: kind, realtimeNanos: f.realtime_ns, hostName: hostName)
        r.sourceAddress = Self.address(f.family, fwd)
        r.destinationAddress = Self.address(f.family, fwd + tupleDst)
        r.sourcePort = UInt16(bigEndian: f.fwd.sport)
        r.destinationPort = UInt16(bigEndian: f.fwd.dport)
        r.natSourceAddress = Self.address(f.family, nat)
        r.natDestinationAddress = Self.address(f.family, nat + tupleDst)
        r.natSourcePort = UInt16(bigEndian: f.nat.sport)
        r.natDestinationPort = UInt16(bigEndian: f.nat.dport)
        r.protocolID = f.proto
        r.icmpType = f.icmp_type
        r.sessionID = UInt64(f.session_id)
        r.interfaceName = interfaceName(f.if_in)
        r.sourceZoneName = zoneName(f.from_zone, interface: f.if_in, in: names)
        r.destinationZoneName = zoneName(f.to_zone, interface: f.if_out, in: names)
        if f.policy != XPF_CFG_NONE, let policies = names?.policies, Int(f.policy) < policies.count {
            r.policyName = policies[Int(f.policy)]
        }
        r.worker = UInt32(f.queue)
        switch kind {
        case .sessionClose:
            r.reason = Int(f.reason) < Self.closeReasons.count ? Self.closeReasons[Int(f.reason)] : JunosAbsent.notApplicable
            r.packetsFromClient = f.packets.0
            r.packetsFromServer = f.packets.1
            r.bytesFromClient = f.bytes.0
            r.bytesFromServer = f.bytes.1
            r.elapsedSeconds = UInt64(f.elapsed_s)
        case .sessionDeny:
            r.reason = f.reason == UInt8(XPF_DENY_REJECT_SENT.rawValue) ? JunosReason.rejectedByPolicy : JunosReason.deniedByPolicy
        case .tableFull:
            r.detail = "new flow dropped"
        case .screenDrop, .filterLog, .natException:
            resolveVerdict(payload.assumingMemoryBound(to: xpf_event_verdict.self).pointee, into: &r, names: names)
        case .sessionCreate:
            break
        }
        return r
    }

    /// The verdict part of a SCREEN_DROP, FILTER_LOG or NAT_EXCEPTION record. An index
    /// the model does not have (a generation no longer kept) leaves the name `N/A`.
    func resolveVerdict(_ v: xpf_event_verdict, into r: inout RTFlowRecord, names: GenerationNames?) {
        let model = names?.model
        let object = Int(v.object), item = Int(v.item)
        switch r.kind {
        case .screenDrop:
            if item < Self.screenAttacks.count { (r.screenClass, r.attackName) = Self.screenAttacks[item] }
            r.action = v.action == UInt8(XPF_SCREEN_ALARM_ONLY.rawValue) ? "alarm-without-drop" : "drop"
        case .filterLog:
            // The interface the filter is attached to: an output filter's event carries the
            // egress (an input filter's has none), and its line names that one.
            if v.flow.if_out != UInt8.max { r.interfaceName = interfaceName(v.flow.if_out) }
            r.packetLength = UInt32(v.ip_length)
            if Int(v.action) < Self.filterActions.count { r.action = Self.filterActions[Int(v.action)] }
            guard let records = names?.filterRecords, object < records.filters.count else { break }
            r.filterName = records.filters[object]
            if item < records.terms.count { r.termName = records.terms[item] }
        case .natException:
            if Int(v.action) < Self.natFailures.count, v.action > 0 { r.detail = Self.natFailures[Int(v.action)] }
            guard let nat = model?.nat else { break }
            if v.object != XPF_CFG_NONE, let rules = names?.natRules, object < rules.count { r.ruleName = rules[object] }
            if v.item != XPF_CFG_NONE {
                switch UInt32(v.nat_kind) {
                case XPF_NAT_KIND_SOURCE.rawValue where item < nat.sourcePools.count: r.poolName = nat.sourcePools[item].name
                case XPF_NAT_KIND_DESTINATION.rawValue where item < nat.destinationPools.count:
                    r.poolName = nat.destinationPools[item].name
                default: break
                }
            }
        default:
            break
        }
    }
}
