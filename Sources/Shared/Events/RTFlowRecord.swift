// One security event in resolved form: what xpfd's drain hands the syslog formatters
// (RTFlowFormat.swift) after it has decoded a ring record and looked up every id (zone,
// policy, interface, NAT rule) by name. Nothing here touches shared memory; the record is
// an ordinary value, filled by the drain (one reused instance per ring pass) and read by
// the formatters.
//
// Values that Junos writes when there is nothing to say are named constants below, each
// with the field(s) it stands in. They come from SRX lines as an SRX writes them (release
// 15.1 and later, SD-ID `junos@2636.1.1.1.2.129`): an untranslated flow has
// `src-nat-rule-type="N/A" src-nat-rule-name="N/A"` and NAT addresses/ports equal to the
// originals; a flow matching no predefined application has `service-name="None"`; without
// application identification `application="UNKNOWN" nested-application="UNKNOWN"
// encrypted="UNKNOWN"`; without user identification `username="N/A" roles="N/A"`;
// `connection-tag="0"` (written `0x0` in the text form); `icmp-type="0"` for non-ICMP
// denies.

/// Strings Junos writes for absent values (see the file header for which field uses which).
public enum JunosAbsent {
    /// NAT rule types and names of an untranslated flow, username, roles, sub-categories.
    public static let notApplicable = "N/A"
    /// `service-name` of a flow that matched no predefined (`junos-*`) or configured application.
    public static let none = "None"
    /// `application`, `nested-application`, `encrypted` without application identification.
    public static let unknown = "UNKNOWN"
}

/// The words Junos uses in `reason` (CLOSE: how the session ended; DENY: what the policy did)
/// and in NAT rule types. xpf writes exactly these spellings.
public enum JunosReason {
    public static let tcpFIN = "TCP FIN"
    public static let tcpRST = "TCP RST"
    public static let idleTimeout = "idle Timeout"
    public static let clear = "clear"
    public static let agedOut = "aged out"
    public static let policyChange = "policy change"
    /// DENY for `deny` (silent drop) and for `reject` when no RST/ICMP went out.
    public static let deniedByPolicy = "Denied by policy"
    /// DENY only when the RST or ICMP unreachable really was sent.
    public static let rejectedByPolicy = "Rejected by policy"

    public static let sourceRule = "source rule"
    public static let destinationRule = "destination rule"
    public static let staticRule = "static rule"
}

/// One event, every name resolved. Fields a kind does not use keep their defaults and are
/// not written for that kind; the formatter's per-kind field lists say which are used.
public struct RTFlowRecord: Sendable {
    /// The event kinds of. The first five have Junos lines; `natException` and
    /// `tableFull` have no RT_FLOW line in Junos and get xpf's own text line.
    public enum Kind: UInt8, Sendable, CaseIterable {
        case sessionCreate, sessionClose, sessionDeny, screenDrop, filterLog, natException, tableFull
    }

    public var kind: Kind
    /// CLOCK_REALTIME in nanoseconds when the event happened (the worker's stamp, not the
    /// drain's), formatted with milliseconds and the process's UTC offset.
    public var realtimeNanos: UInt64
    /// The HOSTNAME header field (xpfd's `system host-name`, else gethostname).
    public var hostName: String

    // MARK: flow (CREATE, CLOSE, DENY, screen, filter log)

    /// Addresses as the packet carried them (the client's view). Kept as 128-bit values and
    /// formatted by hand (dotted quad; RFC 5952 for IPv6), so no String per event.
    public var sourceAddress: ConfigModel.IPAddress
    /// TCP/UDP port as the session key holds it (for ICMP: the key's identifier/type
    /// fields); 0 for protocols without ports.
    public var sourcePort: UInt16
    public var destinationAddress: ConfigModel.IPAddress
    public var destinationPort: UInt16
    /// `protocol-id`: the IP protocol number.
    public var protocolID: UInt8
    /// DENY `icmp-type`: the ICMP type for ICMP/ICMPv6, else 0.
    public var icmpType: UInt8
    /// `connection-tag`, `nat-connection-tag`: 0 unless a tunnel tags the flow.
    public var connectionTag: UInt32
    public var natConnectionTag: UInt32
    /// `service-name`: the matched application (`junos-http`, …) or `None`.
    public var serviceName: String

    // MARK: NAT (CREATE, CLOSE): equal to the originals when nothing was translated

    public var natSourceAddress: ConfigModel.IPAddress
    public var natSourcePort: UInt16
    public var natDestinationAddress: ConfigModel.IPAddress
    public var natDestinationPort: UInt16
    /// `source rule`, `static rule` or `N/A`.
    public var sourceNATRuleType: String
    /// The rule's name, or `N/A`.
    public var sourceNATRuleName: String
    /// `destination rule`, `static rule` or `N/A`.
    public var destinationNATRuleType: String
    public var destinationNATRuleName: String

    // MARK: policy and zones

    public var policyName: String
    public var sourceZoneName: String
    public var destinationZoneName: String
    /// `session-id-32`: the session's id (decimal). DENY: 0, as Junos writes for a flow that
    /// never became a session.
    public var sessionID: UInt64

    // MARK: CLOSE counters

    public var packetsFromClient: UInt64
    public var bytesFromClient: UInt64
    public var packetsFromServer: UInt64
    public var bytesFromServer: UInt64
    /// `elapsed-time`: whole seconds from creation to close.
    public var elapsedSeconds: UInt64

    /// CLOSE `reason` (JunosReason.tcpFIN …) or DENY `reason` (deniedByPolicy / rejectedByPolicy).
    public var reason: String

    // MARK: identity and application (Junos writes N/A / UNKNOWN when not configured)

    public var username: String
    public var roles: String
    /// `packet-incoming-interface` (CREATE/CLOSE/DENY), `interface-name` (screen), the
    /// interface of the filter log line (the one the filter is attached to: the egress for an
    /// output filter): a Junos name such as `ge-0/0/1.0`.
    public var interfaceName: String
    public var application: String
    public var nestedApplication: String
    /// `Yes`, `No` or `UNKNOWN`.
    public var encrypted: String

    // MARK: screen

    /// Which RT_SCREEN_* message the screen belongs to. It is the screen's layer, not the
    /// packet's protocol: an SRX reports `IP spoofing!` on a UDP packet as RT_SCREEN_IP.
    public enum ScreenClass: UInt8, Sendable, CaseIterable {
        case tcp, udp, icmp, ip
    }

    public var screenClass: ScreenClass
    /// `attack-name`, as Junos spells it (`SYN flood!`, `Port scan!`, `IP spoofing!`).
    public var attackName: String
    /// Screen `action` (`drop`, `alarm-without-drop`) or filter action (`accept`, `discard`, `reject`).
    public var action: String

    // MARK: filter log

    public var filterName: String
    public var termName: String
    /// Length of the logged packet's IP datagram in bytes (kept for `show firewall log`;
    /// Junos's PFE_FW_SYSLOG_IP line does not carry it).
    public var packetLength: UInt32
    /// How many packets the line stands for (`(N packets)`); 1 for a per-packet event.
    public var packetCount: UInt32

    // MARK: exceptions (natException, tableFull)

    /// The worker (queue) that saw the exception.
    public var worker: UInt32
    public var ruleName: String
    public var poolName: String
    /// Free text: what ran out, or why a translation failed.
    public var detail: String

    /// A record of `kind` with every field at the value Junos writes when there is nothing:
    /// addresses 0.0.0.0, ports/counters 0, names `N/A`, `service-name` `None`,
    /// application fields `UNKNOWN`. The drain then sets what the event carries.
    public init(kind: Kind, realtimeNanos: UInt64, hostName: String) {
        self.kind = kind
        self.realtimeNanos = realtimeNanos
        self.hostName = hostName
        let zero = ConfigModel.IPAddress(v4: 0)
        sourceAddress = zero
        sourcePort = 0
        destinationAddress = zero
        destinationPort = 0
        protocolID = 0
        icmpType = 0
        connectionTag = 0
        natConnectionTag = 0
        serviceName = JunosAbsent.none
        natSourceAddress = zero
        natSourcePort = 0
        natDestinationAddress = zero
        natDestinationPort = 0
        sourceNATRuleType = JunosAbsent.notApplicable
        sourceNATRuleName = JunosAbsent.notApplicable
        destinationNATRuleType = JunosAbsent.notApplicable
        destinationNATRuleName = JunosAbsent.notApplicable
        policyName = JunosAbsent.notApplicable
        sourceZoneName = JunosAbsent.notApplicable
        destinationZoneName = JunosAbsent.notApplicable
        sessionID = 0
        packetsFromClient = 0
        bytesFromClient = 0
        packetsFromServer = 0
        bytesFromServer = 0
        elapsedSeconds = 0
        reason = JunosAbsent.notApplicable
        username = JunosAbsent.notApplicable
        roles = JunosAbsent.notApplicable
        interfaceName = JunosAbsent.notApplicable
        application = JunosAbsent.unknown
        nestedApplication = JunosAbsent.unknown
        encrypted = JunosAbsent.unknown
        screenClass = .ip
        attackName = JunosAbsent.notApplicable
        action = JunosAbsent.notApplicable
        filterName = JunosAbsent.notApplicable
        termName = JunosAbsent.notApplicable
        packetLength = 0
        packetCount = 1
        worker = 0
        ruleName = JunosAbsent.notApplicable
        poolName = JunosAbsent.notApplicable
        detail = ""
    }

    /// Sets the NAT fields equal to the originals: what Junos writes for an untranslated flow.
    public mutating func setUntranslated() {
        natSourceAddress = sourceAddress
        natSourcePort = sourcePort
        natDestinationAddress = destinationAddress
        natDestinationPort = destinationPort
        sourceNATRuleType = JunosAbsent.notApplicable
        sourceNATRuleName = JunosAbsent.notApplicable
        destinationNATRuleType = JunosAbsent.notApplicable
        destinationNATRuleName = JunosAbsent.notApplicable
    }
}
