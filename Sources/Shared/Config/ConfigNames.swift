// The names Junos lets an operator write instead of numbers, and the predefined objects
// (applications, host-inbound services) every configuration may refer to. Numbers come
// from the IANA registries; the spellings are Junos's.

extension ConfigModel {
    // MARK: Host-inbound traffic

    /// `host-inbound-traffic system-services`: services of the box itself. `all` is written
    /// by operators but expands to every case here.
    public enum SystemService: String, Sendable, CaseIterable {
        case bootp, dhcp, dhcpv6, dns, ftp, http, https, ike, netconf, ntp, ping, snmp
        case snmpTrap = "snmp-trap"
        case ssh, telnet, tftp, traceroute

        /// What the service lets in: (IP protocol, destination ports) per family; ICMP
        /// services list ICMP types as "ports". Used by host-inbound enforcement.
        public var traffic: [(ipProtocol: UInt8, ports: [UInt16])] {
            switch self {
            case .bootp, .dhcp: return [(17, [67, 68])]
            case .dhcpv6: return [(17, [546, 547])]
            case .dns: return [(17, [53]), (6, [53])]
            case .ftp: return [(6, [21])]
            case .http: return [(6, [80])]
            case .https: return [(6, [443])]
            case .ike: return [(17, [500, 4500])]
            case .netconf: return [(6, [830])]
            case .ntp: return [(17, [123])]
            case .ping: return [(1, [8]), (58, [128])]
            case .snmp: return [(17, [161])]
            case .snmpTrap: return [(17, [162])]
            case .ssh: return [(6, [22])]
            case .telnet: return [(6, [23])]
            case .tftp: return [(17, [69])]
            case .traceroute: return [(17, Array(33434...33534)), (1, [8]), (58, [128])]
            }
        }
    }

    /// `host-inbound-traffic protocols`: routing and control protocols of the box itself.
    public enum HostProtocol: String, Sendable, CaseIterable {
        case bfd, bgp, igmp, ldp, ospf, ospf3, pim, rip, ripng
        case routerDiscovery = "router-discovery"
        case vrrp
    }

    // MARK: Syslog

    public enum SyslogFacility: String, Sendable, CaseIterable {
        case any, authorization, daemon, firewall, kernel, security, user
        case changeLog = "change-log"
        case interactiveCommands = "interactive-commands"
    }

    /// Most to least severe; `any` selects everything, `none` nothing.
    public enum SyslogSeverity: String, Sendable, CaseIterable {
        case emergency, alert, critical, error, warning, notice, info, any, none
    }

    // MARK: Numbers for names

    /// IP protocol names accepted wherever a protocol is written (filters, applications, NAT).
    static let protocolNumbers: [String: UInt8] = [
        "hop-by-hop": 0, "icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "egp": 8, "udp": 17, "ipv6": 41,
        "routing": 43, "fragment": 44, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51, "icmp6": 58,
        "no-next-header": 59, "dstopts": 60, "ospf": 89, "pim": 103, "vrrp": 112, "sctp": 132,
    ]

    /// Port names accepted wherever a port is written.
    static let portNumbers: [String: UInt16] = [
        "ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "bootps": 67,
        "bootpc": 68, "tftp": 69, "http": 80, "kerberos-sec": 88, "pop3": 110, "sunrpc": 111, "ident": 113,
        "nntp": 119, "ntp": 123, "netbios-ns": 137, "netbios-dgm": 138, "netbios-ssn": 139, "imap": 143,
        "snmp": 161, "snmptrap": 162, "bgp": 179, "ldap": 389, "https": 443, "microsoft-ds": 445,
        "isakmp": 500, "syslog": 514, "rip": 520, "ripng": 521, "ldaps": 636, "netconf": 830, "imaps": 993,
        "pop3s": 995, "radius": 1812, "radacct": 1813, "bfd": 3784,
    ]

    /// DSCP code points by name (RFC 2474 class selectors, RFC 2597 AF, RFC 3246 EF).
    static let dscpValues: [String: UInt8] = {
        var table: [String: UInt8] = ["be": 0, "ef": 46]
        for n in 0...7 { table["cs\(n)"] = UInt8(n * 8) }
        for cls in 1...4 {
            for drop in 1...3 { table["af\(cls)\(drop)"] = UInt8(cls * 8 + drop * 2) }
        }
        return table
    }()

    static let icmpTypes: [String: UInt8] = [
        "echo-reply": 0, "unreachable": 3, "source-quench": 4, "redirect": 5, "echo-request": 8,
        "router-advertisement": 9, "router-solicit": 10, "time-exceeded": 11, "parameter-problem": 12,
        "timestamp": 13, "timestamp-reply": 14, "info-request": 15, "info-reply": 16, "mask-request": 17,
        "mask-reply": 18,
    ]

    static let icmp6Types: [String: UInt8] = [
        "destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
        "echo-request": 128, "echo-reply": 129, "membership-query": 130, "membership-report": 131,
        "membership-termination": 132, "router-solicit": 133, "router-advertisement": 134,
        "neighbor-solicit": 135, "neighbor-advertisement": 136, "redirect": 137,
    ]

    /// TCP flag bits by the names `tcp-flags` expressions use.
    static let tcpFlagBits: [String: UInt8] = [
        "fin": TCPFlag.fin, "syn": TCPFlag.syn, "rst": TCPFlag.rst, "push": TCPFlag.psh, "ack": TCPFlag.ack,
        "urgent": TCPFlag.urg, "ece": TCPFlag.ece, "cwr": TCPFlag.cwr,
    ]

    // MARK: Predefined applications

    /// The applications every configuration has, as Junos defines them. `any` has a single
    /// term with no protocol: it matches every packet.
    public static let predefinedApplications: [Application] = {
        func app(_ name: String, _ terms: [ApplicationTerm]) -> Application {
            Application(name: name, isPredefined: true, terms: terms)
        }
        func tcp(_ port: UInt16) -> [ApplicationTerm] { [ApplicationTerm(ipProtocol: 6, destinationPorts: port...port)] }
        func udp(_ port: UInt16) -> [ApplicationTerm] { [ApplicationTerm(ipProtocol: 17, destinationPorts: port...port)] }
        return [
            app("any", [ApplicationTerm(ipProtocol: nil)]),
            app("junos-ftp", tcp(21)),
            app("junos-ssh", tcp(22)),
            app("junos-telnet", tcp(23)),
            app("junos-smtp", tcp(25)),
            app("junos-dns-udp", udp(53)),
            app("junos-dns-tcp", tcp(53)),
            app("junos-tftp", udp(69)),
            app("junos-http", tcp(80)),
            app("junos-pop3", tcp(110)),
            app("junos-ntp", udp(123)),
            app("junos-imap", tcp(143)),
            app("junos-snmp-get", udp(161)),
            app("junos-bgp", tcp(179)),
            app("junos-ldap", tcp(389)),
            app("junos-https", tcp(443)),
            app("junos-ike", udp(500)),
            app("junos-syslog", udp(514)),
            app("junos-imaps", tcp(993)),
            app("junos-radius", udp(1812)),
            app("junos-gre", [ApplicationTerm(ipProtocol: 47)]),
            app("junos-icmp-all", [ApplicationTerm(ipProtocol: 1)]),
            app("junos-icmp-ping", [ApplicationTerm(ipProtocol: 1, icmpType: 8)]),
            app("junos-icmp6-all", [ApplicationTerm(ipProtocol: 58)]),
            app("junos-pingv6", [ApplicationTerm(ipProtocol: 58, icmpType: 128)]),
            // Both families' echo request, as one application.
            app("junos-ping", [ApplicationTerm(name: "v4", ipProtocol: 1, icmpType: 8),
                               ApplicationTerm(name: "v6", ipProtocol: 58, icmpType: 128)]),
        ]
    }()
}
