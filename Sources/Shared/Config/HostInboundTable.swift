// Host-inbound traffic: what one dataplane interface admits to the box's own
// addresses, as the XDP program checks it on every host-bound packet. This file is the one
// place that decides what a system service or host protocol lets in: xpfd writes exactly
// `HostInboundTable.record` into the program's `host_inbound` map (layout and rules in
// xpf_bpf_abi.h). `admits` applies the same rules as the program's C matcher; both are run
// against one corpus of cases (Tests/bpf/host_inbound_corpus.txt: HostInboundCorpusTests
// here, Tests/bpf/xdp_test.c through the loaded program).

import CXPF

public struct HostInboundTable: Sendable, Equatable {
    /// One admitted (IP protocol, families, destination port range) — for ICMP and ICMPv6
    /// the "ports" are message types; protocols without ports use the whole range.
    public struct Entry: Sendable, Equatable, CustomStringConvertible {
        public var ipProtocol: UInt8
        /// `XPF_HOST_INBOUND_FAMILY_INET` / `_INET6` bits.
        public var families: UInt8
        public var ports: ClosedRange<UInt16>

        public init(ipProtocol: UInt8, families: UInt8, ports: ClosedRange<UInt16>) {
            self.ipProtocol = ipProtocol
            self.families = families
            self.ports = ports
        }

        /// `PROTOCOL FAMILIES FIRST LAST`, the corpus file's form.
        public var description: String { "\(ipProtocol) \(families) \(ports.lowerBound) \(ports.upperBound)" }
    }

    /// The interface is in a zone. An interface in no zone admits nothing (Junos).
    public var inZone: Bool
    /// Sorted by protocol, families and first port; overlapping and adjacent ranges merged.
    public var entries: [Entry]
    /// Destination ports of replies to connections the box itself opened: the kernel's
    /// `ip_local_port_range`, read by xpfd (a reply is admitted only on a flow the box
    /// opened, `Packet.boxFlow`).
    public var replyPorts: ClosedRange<UInt16>

    public static let inet = UInt8(XPF_HOST_INBOUND_FAMILY_INET)
    public static let inet6 = UInt8(XPF_HOST_INBOUND_FAMILY_INET6)
    public static let bothFamilies = inet | inet6
    public static let maxEntries = Int(XPF_HOST_INBOUND_MAX_ENTRIES)
    public static let maxExtensionHeaders = Int(XPF_HOST_INBOUND_MAX_EXT_HEADERS)
    /// Linux's default `net.ipv4.ip_local_port_range` (it applies to IPv6 too).
    public static let defaultReplyPorts: ClosedRange<UInt16> = 32768...60999
    static let anyPort: ClosedRange<UInt16> = 0...UInt16.max

    /// Protocol numbers the rules name.
    public static let icmp: UInt8 = 1, tcp: UInt8 = 6, udp: UInt8 = 17, icmp6: UInt8 = 58
    /// ICMPv4 echo reply and the errors the kernel must see (destination unreachable —
    /// path MTU discovery's "fragmentation needed" —, source quench, time exceeded,
    /// parameter problem); ICMPv6 errors 1–4 (packet too big is 2) and echo reply.
    public static let icmpAlwaysAdmitted: Set<UInt16> = [0, 3, 4, 11, 12]
    public static let icmp6AlwaysAdmitted: Set<UInt16> = [1, 2, 3, 4, 129]
    /// Bytes of the L4 header the rules read: TCP up to its flags byte, UDP's ports, the ICMP type.
    public static let tcpBytesNeeded = 14, udpBytesNeeded = 4, icmpBytesNeeded = 1
    static let tcpACK: UInt8 = 0x10

    public init(inZone: Bool, entries: [Entry], replyPorts: ClosedRange<UInt16> = defaultReplyPorts) {
        self.inZone = inZone
        self.entries = entries
        self.replyPorts = replyPorts
    }

    /// The table of a zone's (or an interface's own) `host-inbound-traffic`; `nil` is an
    /// interface in no zone.
    public init(_ hostInbound: ConfigModel.HostInbound?, replyPorts: ClosedRange<UInt16> = defaultReplyPorts) {
        guard let hostInbound else {
            self.init(inZone: false, entries: [], replyPorts: replyPorts)
            return
        }
        var raw: [Entry] = []
        for service in hostInbound.systemServices {
            for t in service.traffic {
                raw += Self.ranges(of: t.ports).map {
                    Entry(ipProtocol: t.ipProtocol, families: Self.families(of: t.ipProtocol), ports: $0)
                }
            }
        }
        for proto in hostInbound.protocols { raw += proto.hostTraffic }
        self.init(inZone: true, entries: Self.merged(raw), replyPorts: replyPorts)
    }

    /// What model interface `interface` admits: its zone's setting, or the interface's own
    /// (`ConfigModel.Zone.hostInbound(forInterface:)`) — of its security zone or of the
    /// management functional zone —, or nothing outside every zone.
    public static func forInterface(_ interface: Int, of model: ConfigModel,
                                    replyPorts: ClosedRange<UInt16> = defaultReplyPorts) -> HostInboundTable
    {
        var zone = model.zoneIndex(ofInterface: interface).map { model.zones[$0] }
        if zone == nil, let management = model.managementZone, management.interfaces.contains(interface) {
            zone = management
        }
        return HostInboundTable(zone?.hostInbound(forInterface: interface), replyPorts: replyPorts)
    }

    /// ICMP carries family in its protocol number; everything else applies to both.
    static func families(of ipProtocol: UInt8) -> UInt8 {
        ipProtocol == icmp ? inet : ipProtocol == icmp6 ? inet6 : bothFamilies
    }

    /// Consecutive ports as ranges (traceroute's 101 ports are one entry).
    static func ranges(of ports: [UInt16]) -> [ClosedRange<UInt16>] {
        var out: [ClosedRange<UInt16>] = []
        for p in ports.sorted() {
            if let last = out.last, last.upperBound == p || (last.upperBound < UInt16.max && last.upperBound + 1 == p) {
                out[out.count - 1] = last.lowerBound...p
            } else {
                out.append(p...p)
            }
        }
        return out
    }

    /// Sorts and merges entries of one protocol and family set whose ranges overlap or touch.
    static func merged(_ raw: [Entry]) -> [Entry] {
        let sorted = raw.sorted {
            ($0.ipProtocol, $0.families, $0.ports.lowerBound, $0.ports.upperBound)
                < ($1.ipProtocol, $1.families, $1.ports.lowerBound, $1.ports.upperBound)
        }
        var out: [Entry] = []
        for e in sorted {
            if let last = out.last, last.ipProtocol == e.ipProtocol, last.families == e.families,
               Int(e.ports.lowerBound) <= Int(last.ports.upperBound) + 1
            {
                out[out.count - 1].ports = last.ports.lowerBound...max(last.ports.upperBound, e.ports.upperBound)
            } else {
                out.append(e)
            }
        }
        return out
    }

    /// The map value xpfd writes for this table. Every configuration fits: all services and
    /// all protocols together need fewer than `maxEntries` entries (HostInboundTableTests).
    public var record: xpf_host_inbound {
        precondition(entries.count <= Self.maxEntries, "host-inbound table of \(entries.count) entries")
        var r = xpf_host_inbound()
        r.flags = inZone ? XPF_HOST_INBOUND_F_ZONE : 0
        r.n_entries = UInt32(entries.count)
        r.reply_port_first = replyPorts.lowerBound
        r.reply_port_last = replyPorts.upperBound
        withUnsafeMutableBytes(of: &r.entries) { raw in
            // Safe: `entries` is a C array of maxEntries records and count <= maxEntries (above).
            let slots = raw.bindMemory(to: xpf_host_inbound_entry.self)
            for (i, e) in entries.enumerated() {
                slots[i] = xpf_host_inbound_entry(protocol: e.ipProtocol, families: e.families,
                                                  port_first: e.ports.lowerBound, port_last: e.ports.upperBound, pad: 0)
            }
        }
        return r
    }

    // MARK: The matcher (the C one is host_inbound_admits in bpf/xpf_xdp.c)

    /// A host-bound packet as the XDP program sees it.
    public struct Packet: Sendable, Equatable {
        public var family: ConfigModel.Family
        /// The upper-layer protocol (after IPv6 extension headers).
        public var ipProtocol: UInt8
        /// TCP/UDP destination port, ICMP/ICMPv6 type; ignored for other protocols.
        public var port: UInt16
        public var tcpFlags: UInt8
        /// A fragment with a non-zero offset.
        public var laterFragment: Bool
        /// IPv6 extension headers before the upper layer (a later fragment: up to and
        /// including its fragment header).
        public var extensionHeaders: Int
        /// Bytes of the upper-layer header present: in the frame and inside the IP packet
        /// as its header declares (padding after a tiny fragment is not header).
        public var l4Bytes: Int
        /// The packet belongs to a flow the box opened: its tuple, reversed, is in the
        /// program's host_flows map (recorded by the TC egress program).
        public var boxFlow: Bool

        public init(family: ConfigModel.Family, ipProtocol: UInt8, port: UInt16 = 0, tcpFlags: UInt8 = 0,
                    laterFragment: Bool = false, extensionHeaders: Int = 0, l4Bytes: Int = 20, boxFlow: Bool = false)
        {
            self.boxFlow = boxFlow
            self.family = family
            self.ipProtocol = ipProtocol
            self.port = port
            self.tcpFlags = tcpFlags
            self.laterFragment = laterFragment
            self.extensionHeaders = extensionHeaders
            self.l4Bytes = l4Bytes
        }
    }

    /// Whether the packet reaches the kernel: the rules of xpf_bpf_abi.h, in the program's order.
    public func admits(_ p: Packet) -> Bool {
        if p.extensionHeaders > Self.maxExtensionHeaders { return false }
        guard inZone else { return false }
        if p.laterFragment { return true }
        var port: UInt16 = 0
        switch (p.ipProtocol, p.family) {
        case (Self.tcp, _):
            guard p.l4Bytes >= Self.tcpBytesNeeded else { return false }
            port = p.port
            if p.tcpFlags & Self.tcpACK != 0 && replyPorts.contains(port) && p.boxFlow { return true }
        case (Self.udp, _):
            guard p.l4Bytes >= Self.udpBytesNeeded else { return false }
            port = p.port
            if replyPorts.contains(port) && p.boxFlow { return true }
        case (Self.icmp, .inet), (Self.icmp6, .inet6):
            guard p.l4Bytes >= Self.icmpBytesNeeded else { return false }
            port = p.port
            let always = p.family == .inet ? Self.icmpAlwaysAdmitted : Self.icmp6AlwaysAdmitted
            if always.contains(port) { return true }
        default:
            break
        }
        let bit = p.family == .inet ? Self.inet : Self.inet6
        return entries.contains { $0.ipProtocol == p.ipProtocol && $0.families & bit != 0 && $0.ports.contains(port) }
    }
}

extension ConfigModel.HostProtocol {
    /// What the protocol's packets to the box carry. Only unicast (and subnet-broadcast)
    /// packets to the box's addresses are checked: multicast — OSPF and RIP hellos, PIM,
    /// VRRP adverts, IGMP — reaches the kernel unchecked (xpf_xdp.c, PASS_CONTROL).
    /// Sessions the box opens itself (an outgoing BGP or LDP session) are admitted by the
    /// reply rule, not by these entries: their packets go to the box's ephemeral port.
    public var hostTraffic: [HostInboundTable.Entry] {
        typealias E = HostInboundTable.Entry
        let both = HostInboundTable.bothFamilies, inet = HostInboundTable.inet, inet6 = HostInboundTable.inet6
        let any = HostInboundTable.anyPort
        switch self {
        // RFC 5881 control (3784) and echo (3785), RFC 5883 multihop (4784).
        case .bfd: return [E(ipProtocol: 17, families: both, ports: 3784...3785), E(ipProtocol: 17, families: both, ports: 4784...4784)]
        case .bgp: return [E(ipProtocol: 6, families: both, ports: 179...179)]
        case .igmp: return [E(ipProtocol: 2, families: inet, ports: any)]
        // Targeted hellos (UDP) and sessions (TCP), RFC 5036.
        case .ldp: return [E(ipProtocol: 6, families: both, ports: 646...646), E(ipProtocol: 17, families: both, ports: 646...646)]
        case .ospf: return [E(ipProtocol: 89, families: inet, ports: any)]
        case .ospf3: return [E(ipProtocol: 89, families: inet6, ports: any)]
        case .pim: return [E(ipProtocol: 103, families: both, ports: any)]
        case .rip: return [E(ipProtocol: 17, families: inet, ports: 520...520)]
        case .ripng: return [E(ipProtocol: 17, families: inet6, ports: 521...521)]
        // RFC 1256 advertisement (9) and solicitation (10); ICMPv6 router discovery is
        // neighbour discovery, which stays with the kernel unchecked.
        case .routerDiscovery: return [E(ipProtocol: 1, families: inet, ports: 9...10)]
        case .vrrp: return [E(ipProtocol: 112, families: both, ports: any)]
        }
    }
}
