// The grammar of xpf's configuration: every statement, its shape and value type. Syntax
// only; what the values mean (ranges, references, defaults) is the compiler's business.
//
// Spellings are Junos's wherever Junos has the statement. xpf's own statements are
// `system dataplane`, the flow timeouts under `security flow`, `system syslog
// socket`, `system services prometheus`, and `input ingress` under port mirroring
// (Junos binds mirroring through filters instead). Statements Junos has but xpf does not
// implement are left out, so they are reported as unknown rather than silently ignored.

extension JunosSchema {
    /// Every statement xpf accepts. To support a new statement, add its entry here and read
    /// it in the compiler; the parser, printers and `set` form follow from the entry.
    public static let xpf: JunosSchema = .root([
        XPFGrammar.system,
        XPFGrammar.interfaces,
        XPFGrammar.security,
        XPFGrammar.firewall,
        XPFGrammar.policyOptions,
        XPFGrammar.applications,
        XPFGrammar.forwardingOptions,
    ])
}

private enum XPFGrammar {
    static let families = JunosSchema.ValueType.choice(ConfigModel.Family.allCases.map(\.rawValue))
    static let lossPriorities = JunosSchema.ValueType.choice(ConfigModel.LossPriority.allCases.map(\.rawValue))

    // MARK: system

    static let system: JunosSchema = .container("system", [
        .leaf("host-name", .string),
        .container("syslog", [
            .named("host", syslogContent + [
                .leaf("port", .number),
                .leaf("transport", .choice(["udp"])),
                .leaf("source-address", .string),
            ]),
            .named("file", syslogContent + [
                .container("archive", [.leaf("files", .number), .leaf("size", .string)]),
            ]),
            .named("socket", syslogContent),
        ]),
        // xpf's own: `prometheus { listen ADDRESS:PORT; }` serves /metrics; an IPv6
        // address is written in quotes, `listen "[::1]:9464";` (brackets start a Junos list).
        .container("services", [
            .container("prometheus", [.leaf("listen", .string)]),
        ]),
        .container("dataplane", [
            .list("interfaces", .string),
            .leaf("queues", .number),
            .leaf("max-queues", .number),
            .leaf("batch-size", .number),
            .leaf("rx-ring", .number),
            .leaf("tx-ring", .number),
            .leaf("umem-frames", .number),
            .leaf("xdp-mode", .choice(DataplaneConfig.XDPMode.allCases.map(\.rawValue))),
            .leaf("session-table-size", .number),
            .leaf("neighbor-hold-time", .number),
            .flag("busy-poll"),
            // `queue Q cpu C;`: pin the worker of queue Q to CPU C (R-1.2 picks otherwise).
            .container("workers", [
                .named("queue", name: .number, [.leaf("cpu", .number)]).oneLiner,
            ]),
            .container("fast-path", [
                .list("allow-prefix", .string),
                .flag("dry-run"),
            ]),
        ]),
    ])

    static let syslogContent: [JunosSchema] =
        ConfigModel.SyslogFacility.allCases.map {
            .leaf($0.rawValue, .choice(ConfigModel.SyslogSeverity.allCases.map(\.rawValue)))
        } + [
            .leaf("match", .string),
            .container("structured-data", [.flag("brief")]),
        ]

    // MARK: interfaces

    static let interfaces: JunosSchema = .container("interfaces", [
        .entries("interface", [
            .leaf("description", .string),
            .named("unit", name: .number, [
                .leaf("description", .string),
                .named("family", name: families, [
                    .named("address", [.flag("primary"), .flag("preferred")]),
                    .container("filter", [
                        .leaf("input", .string),
                        .leaf("output", .string),
                        .list("input-list", .string),
                        .list("output-list", .string),
                    ]),
                ]),
            ]),
        ]),
    ])

    // MARK: security

    static let security: JunosSchema = .container("security", [
        .container("log", [
            .leaf("mode", .choice(ConfigModel.SecurityLog.Mode.allCases.map(\.rawValue))),
            .leaf("format", .choice(ConfigModel.SecurityLog.Format.allCases.map(\.rawValue))),
            .named("stream", [
                .leaf("format", .choice(ConfigModel.SecurityLog.Format.allCases.map(\.rawValue))),
                .container("host", [.positional("address", .string), .leaf("port", .number)]),
            ]),
            .container("file", [.leaf("name", .string), .leaf("size", .number), .leaf("files", .number)]),
            .leaf("rate-cap", .number),
        ]),
        .container("flow", [
            .container("tcp-session", [
                .leaf("established-timeout", .number),
                .leaf("closing-timeout", .number),
                .leaf("initial-timeout", .number),
                .flag("no-syn-check"),
                .flag("no-sequence-check"),
            ]),
            .leaf("udp-timeout", .number),
            .leaf("icmp-timeout", .number),
            .leaf("other-timeout", .number),
            .leaf("syn-flood-protection-mode",
                  .choice(ConfigModel.SynFloodProtectionMode.allCases.map(\.rawValue))),
        ]),
        .container("zones", [
            .named("security-zone", [
                .leaf("description", .string),
                .container("interfaces", [.entries("interface", [hostInboundTraffic])]),
                hostInboundTraffic,
                .leaf("screen", .string),
                .container("address-book", addressBookContents),
            ]),
            .named("functional-zone", name: .choice([ConfigModel.managementZoneName]), [
                .leaf("description", .string),
                .container("interfaces", [.entries("interface", [hostInboundTraffic])]),
                hostInboundTraffic,
            ]),
        ]),
        // `address-book { global { … } NAME { … attach zone Z; } }`: books are entries.
        .container("address-book", [
            .entries("book", addressBookContents + [
                .container("attach", [.list("zone", .string)]),
            ]),
        ]),
        .container("screen", [
            .named("ids-option", [
                .flag("alarm-without-drop"),
                .container("icmp", [
                    threshold("flood"),
                    .flag("fragment"),
                    threshold("ip-sweep"),
                    .flag("ping-death"),
                ]),
                .container("ip", [
                    .flag("source-route-option"),
                    .flag("tear-drop"),
                ]),
                .container("tcp", [
                    .container("syn-flood", [
                        .leaf("alarm-threshold", .number),
                        .leaf("attack-threshold", .number),
                        .leaf("source-threshold", .number),
                        .leaf("destination-threshold", .number),
                        .leaf("timeout", .number),
                    ]),
                    .flag("land"),
                    .flag("winnuke"),
                    .flag("syn-fin"),
                    .flag("tcp-no-flag"),
                    .flag("fin-no-ack"),
                    .flag("syn-frag"),
                    threshold("port-scan"),
                ]),
                .container("udp", [threshold("flood")]),
                .container("limit-session", [
                    .leaf("source-ip-based", .number),
                    .leaf("destination-ip-based", .number),
                ]),
            ]),
        ]),
        .container("policies", [
            .named("from-zone", keys: [.value(.string), .keyword("to-zone"), .value(.string)], [
                policy(global: false),
            ]),
            .container("global", [policy(global: true)]),
            .container("default-policy", [.flag("permit-all"), .flag("deny-all")]).oneLiner
                .choice("permit-all", "deny-all"),
        ]),
        nat,
    ])

    /// `flood;`, `flood threshold N;`.
    static func threshold(_ keyword: String) -> JunosSchema {
        .container(keyword, [.leaf("threshold", .number)]).oneLiner
    }

    static let hostInboundTraffic: JunosSchema = .container("host-inbound-traffic", [
        .container("system-services", [
            .entries("service", name: .choice(["all"] + ConfigModel.SystemService.allCases.map(\.rawValue)),
                     [.flag("except")]).oneLiner,
        ]),
        .container("protocols", [
            .entries("protocol", name: .choice(["all"] + ConfigModel.HostProtocol.allCases.map(\.rawValue)),
                     [.flag("except")]).oneLiner,
        ]),
    ])

    static let addressBookContents: [JunosSchema] = [
        .leaf("description", .string),
        .named("address", [
            .positional("ip-prefix", .string),
            .leaf("description", .string),
            .named("range-address", [.leaf("to", .string)]).oneLiner.single,
        ]).oneLiner.choice("ip-prefix", "range-address"),
        .named("address-set", [
            .leaf("description", .string),
            .named("address", []),
            .named("address-set", []),
        ]),
    ]

    static func policy(global: Bool) -> JunosSchema {
        var match: [JunosSchema] = [
            .list("source-address", .string),
            .list("destination-address", .string),
            .list("application", .string),
        ]
        if global { match += [.list("from-zone", .string), .list("to-zone", .string)] }
        return .named("policy", [
            .leaf("description", .string),
            .container("match", match),
            .container("then", [
                .flag("permit"),
                .flag("deny"),
                .flag("reject"),
                .container("log", [.flag("session-init"), .flag("session-close")]),
                .flag("count"),
            ]).choice("permit", "deny", "reject"),
        ])
    }

    // MARK: security nat

    static let nat: JunosSchema = .container("nat", [
        .container("source", [
            .named("pool", [
                .leaf("description", .string),
                .container("address", [.entries("address-range", [.leaf("to", .string)]).oneLiner]),
                .container("port", [
                    .flag("no-translation"),
                    .named("range", name: .number, [.leaf("to", .number)]).oneLiner.single,
                ]).oneLiner.choice("no-translation", "range"),
                .flag("address-persistent"),
            ]),
            // Junos's global form: every source pool keeps one internal host on one address.
            .flag("address-persistent"),
            .named("rule-set", [
                .leaf("description", .string),
                natContext("from"),
                natContext("to"),
                natRule(match: natMatch, then: .container("source-nat", [
                    .flag("off"),
                    .flag("interface"),
                    .container("pool", [.positional("pool-name", .string)]).oneLiner,
                ]).oneLiner.choice("off", "interface", "pool")),
            ]),
        ]),
        .container("destination", [
            .named("pool", [
                .leaf("description", .string),
                .container("address", [
                    .entries("address-range", [.leaf("to", .string), .leaf("port", .number)]).oneLiner,
                ]).oneLiner,
            ]),
            .named("rule-set", [
                .leaf("description", .string),
                natContext("from"),
                natRule(match: natMatch, then: .container("destination-nat", [
                    .flag("off"),
                    .container("pool", [.positional("pool-name", .string)]).oneLiner,
                ]).oneLiner.choice("off", "pool")),
            ]),
        ]),
        .container("static", [
            .named("rule-set", [
                .leaf("description", .string),
                natContext("from"),
                natRule(match: .container("match", [.leaf("destination-address", .string)]),
                        then: .container("static-nat", [
                            .container("prefix", [.positional("address-prefix", .string)]).oneLiner,
                        ]).oneLiner),
            ]),
        ]),
    ])

    static func natContext(_ keyword: String) -> JunosSchema {
        .container(keyword, [.list("zone", .string), .list("interface", .string)]).oneLiner.choice("zone", "interface")
    }

    static let natMatch: JunosSchema = .container("match", [
        .list("source-address", .string),
        .list("destination-address", .string),
        natPorts("source-port"),
        natPorts("destination-port"),
        .list("protocol", .string),
    ])

    /// `destination-port 80;`, `destination-port 8000 to 8080;`, or a block of those.
    static func natPorts(_ keyword: String) -> JunosSchema {
        .container(keyword, [.entries("port", name: .number, [.leaf("to", .number)]).oneLiner])
    }

    static func natRule(match: JunosSchema, then: JunosSchema) -> JunosSchema {
        .named("rule", [
            .leaf("description", .string),
            match,
            .container("then", [then]),
        ])
    }

    // MARK: firewall

    static let firewall: JunosSchema = .container("firewall", [
        .named("family", name: families, [
            .named("filter", [
                .flag("interface-specific"),
                .named("term", [filterFrom, filterThen]),
            ]),
        ]),
        .named("policer", [
            .flag("filter-specific"),
            .container("if-exceeding", [
                .leaf("bandwidth-limit", .string),
                .leaf("burst-size-limit", .string),
            ]),
            .container("then", [
                .flag("discard"),
                .leaf("loss-priority", lossPriorities),
                .leaf("forwarding-class", .string),
            ]).oneLiner,
        ]),
        .named("three-color-policer", [
            .flag("filter-specific"),
            .container("single-rate", [
                .leaf("committed-information-rate", .string),
                .leaf("committed-burst-size", .string),
                .leaf("excess-burst-size", .string),
                .flag("color-blind"),
                .flag("color-aware"),
            ]).choice("color-blind", "color-aware"),
            .container("two-rate", [
                .leaf("committed-information-rate", .string),
                .leaf("committed-burst-size", .string),
                .leaf("peak-information-rate", .string),
                .leaf("peak-burst-size", .string),
                .flag("color-blind"),
                .flag("color-aware"),
            ]).choice("color-blind", "color-aware"),
            .container("action", [
                .named("loss-priority", name: .choice(["high"]), [.container("then", [.flag("discard")])]).oneLiner,
            ]),
        ]).choice("single-rate", "two-rate"),
    ])

    /// `source-address { 10.0.0.0/8; 10.1.0.0/16 except; }` and the prefix-list references,
    /// which have the same shape.
    static func addressEntries(_ keyword: String) -> JunosSchema {
        .container(keyword, [.entries("entry", [.flag("except")]).oneLiner])
    }

    static let filterFrom: JunosSchema = .container("from", [
        addressEntries("source-address"),
        addressEntries("destination-address"),
        addressEntries("address"),
        addressEntries("source-prefix-list"),
        addressEntries("destination-prefix-list"),
        addressEntries("prefix-list"),
        .list("protocol", .string),
        .list("next-header", .string),
        .list("source-port", .string),
        .list("destination-port", .string),
        .list("port", .string),
        .list("dscp", .string),
        .list("traffic-class", .string),
        .list("icmp-type", .string),
        .list("icmp-code", .string),
        .leaf("tcp-flags", .string),
        .flag("tcp-initial"),
        .flag("tcp-established"),
        .flag("is-fragment"),
        .flag("first-fragment"),
        .list("loss-priority", lossPriorities),
        .list("packet-length", .string),
        .list("forwarding-class", .string),
    ])

    static let filterThen: JunosSchema = .container("then", [
        .flag("accept"),
        .flag("discard"),
        .container("reject", ConfigModel.RejectReason.allCases.map { .flag($0.rawValue) }).oneLiner
            .choice(ConfigModel.RejectReason.allCases.map(\.rawValue)),
        .leaf("count", .string),
        .flag("log"),
        .flag("syslog"),
        .leaf("policer", .string),
        .container("three-color-policer", [
            .leaf("single-rate", .string),
            .leaf("two-rate", .string),
        ]).oneLiner.choice("single-rate", "two-rate"),
        .leaf("forwarding-class", .string),
        .leaf("dscp", .string),
        .leaf("loss-priority", lossPriorities),
        // `next term`: Junos's other `next` (`next filter`) is not in the language.
        .leaf("next", .choice(["term"])),
    ]).choice("accept", "discard", "reject", "next")

    // MARK: policy-options, applications, forwarding-options

    static let policyOptions: JunosSchema = .container("policy-options", [
        .named("prefix-list", [.entries("prefix")]),
    ])

    static let applicationFields: [JunosSchema] = [
        .leaf("protocol", .string),
        .leaf("source-port", .string),
        .leaf("destination-port", .string),
        .leaf("icmp-type", .string),
        .leaf("icmp-code", .string),
        .leaf("inactivity-timeout", .number),
    ]

    static let applications: JunosSchema = .container("applications", [
        .named("application", [.leaf("description", .string)] + applicationFields + [
            .named("term", applicationFields),
        ]),
        .named("application-set", [
            .leaf("description", .string),
            .named("application", []),
            .named("application-set", []),
        ]),
    ])

    static let mirrorInstanceContents: [JunosSchema] = [
        .container("input", [
            .leaf("rate", .number),
            .leaf("maximum-packet-length", .number),
            .container("ingress", [.list("interface", .string)]).oneLiner,
        ]),
        .named("family", name: families, [
            .container("output", [
                .named("interface", [.leaf("next-hop", .string)]).oneLiner,
            ]),
        ]),
    ]

    static let forwardingOptions: JunosSchema = .container("forwarding-options", [
        .container("port-mirroring", mirrorInstanceContents + [
            .named("instance", mirrorInstanceContents),
        ]),
    ])
}
