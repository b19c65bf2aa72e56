import XCTest

@testable import Shared

/// The grammar features issue 3 added to the front end: statements without a keyword
/// (entries and positional values), `[ … ]` entry lists, one-line printing, Junos choices
/// and single-instance statements in the `set` form.
final class ConfigGrammarTests: XCTestCase {
    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    /// A small schema shaped like the Junos statements that need each feature.
    static let schema = JunosSchema.root([
        .container("zone", [
            .container("interfaces", [.entries("interface", [.flag("trusted")]).oneLiner]),
        ]),
        .named("prefix-list", [.entries("prefix")]),
        .named("address", [.positional("ip-prefix", .string), .leaf("description", .string)]).oneLiner,
        .container("then", [
            .flag("permit"),
            .flag("deny"),
            .container("pool", [.positional("pool-name", .string)]).oneLiner,
            .container("port", [.named("range", name: .number, [.leaf("to", .number)]).oneLiner.single]).oneLiner,
        ]).choice("permit", "deny", "pool"),
        .container("services", [.entries("service", name: .choice(["ssh", "ping"]))]),
    ])

    private func parse(_ text: String) throws -> JunosTree {
        try JunosTree.parse(text: text, file: "g.conf", schema: Self.schema)
    }

    func testEntriesAndPositionalValuesInBothForms() throws {
        let hierarchical = try parse("""
            zone {
                interfaces {
                    fw0;
                    fw1 trusted;
                    "odd name";
                }
            }
            prefix-list lan {
                10.0.0.0/8;
                192.168.0.0/16;
            }
            address web 10.0.0.1/32;
            address db {
                description "the database";
                10.0.0.2/32;
            }
            then pool { p1; }
            """)
        let interfaces = try XCTUnwrap(hierarchical.node(at: ["zone", "interfaces"]))
        XCTAssertEqual(interfaces.children.map(\.names), [["fw0"], ["fw1"], ["odd name"]])
        XCTAssertEqual(interfaces.children.map(\.keyword), ["interface", "interface", "interface"])
        XCTAssertEqual(interfaces.children[1].children.map(\.keyword), ["trusted"])
        XCTAssertEqual(hierarchical.node(at: ["prefix-list", "lan"])?.children.map(\.names),
                       [["10.0.0.0/8"], ["192.168.0.0/16"]])
        XCTAssertEqual(hierarchical.node(at: ["address", "web", "ip-prefix"])?.values, ["10.0.0.1/32"])
        XCTAssertEqual(hierarchical.node(at: ["then", "pool", "pool-name"])?.values, ["p1"])
        // An entry's location is where its name was written.
        XCTAssertEqual(interfaces.children[1].location, SourceLocation(file: "g.conf", line: 4, column: 9))
        XCTAssertEqual(interfaces.children[1].nameLocations, [SourceLocation(file: "g.conf", line: 4, column: 9)])

        XCTAssertEqual(hierarchical.setLines(), [
            "set zone interfaces fw0",
            "set zone interfaces fw1 trusted",
            "set zone interfaces \"odd name\"",
            "set prefix-list lan 10.0.0.0/8",
            "set prefix-list lan 192.168.0.0/16",
            "set address web 10.0.0.1/32",
            "set address db description \"the database\"",
            "set address db 10.0.0.2/32",
            "set then pool p1",
        ])
        XCTAssertEqual(hierarchical.hierarchicalText(), """
            zone {
                interfaces {
                    fw0;
                    fw1 trusted;
                    "odd name";
                }
            }
            prefix-list lan {
                10.0.0.0/8;
                192.168.0.0/16;
            }
            address web 10.0.0.1/32;
            address db {
                description "the database";
                10.0.0.2/32;
            }
            then {
                pool p1;
            }

            """)
        let fromSet = try parse(hierarchical.setLines().joined(separator: "\n"))
        XCTAssertEqual(fromSet, hierarchical)
        XCTAssertEqual(try parse(hierarchical.hierarchicalText()), hierarchical)
    }

    func testBracketedEntryLists() throws {
        let listed = try parse("zone interfaces [ fw0 fw1 fw0 ];\nservices [ ssh ping ];")
        let written = try parse("zone { interfaces { fw0; fw1; } }\nservices { ssh; ping; }")
        XCTAssertEqual(listed, written)
        var tree = try parse("set zone interfaces [ fw0 fw1 fw2 ]\nset services ssh")
        XCTAssertEqual(tree.node(at: ["zone", "interfaces"])?.children.map(\.name), ["fw0", "fw1", "fw2"])
        try tree.applySetCommands(text: "delete zone interfaces [ fw0 fw2 ]\ndeactivate services [ ssh ]", file: "d",
                                  schema: Self.schema)
        XCTAssertEqual(tree.node(at: ["zone", "interfaces"])?.children.map(\.name), ["fw1"])
        XCTAssertEqual(tree.node(at: ["services", "service", "ssh"])?.isInactive, true)
        XCTAssertEqual(tree.setLines(), ["set zone interfaces fw1", "set services ssh", "deactivate services ssh"])

        for (text, error) in [
            ("zone interfaces [ ];", "g.conf:1:17: error: empty list for 'interfaces'"),
            ("zone interfaces [ fw0 ", "g.conf:1:17: error: missing ']' to close the list of 'interfaces'"),
            ("zone interfaces [ fw0 ] { }", "g.conf:1:24: error: expected ';' after 'zone interfaces [ fw0 ]'"),
            ("services [ ssh telnet ];", "g.conf:1:16: error: invalid value 'telnet' for 'services': expected ssh or ping"),
            ("set zone interfaces fw0\ndelete zone interfaces [ fw0 fw9 ]",
             "g.conf:2:8: error: statement not found: 'zone interfaces fw9'"),
        ] {
            XCTAssertThrowsError(try parse(text), text) { XCTAssertEqual("\($0)", error, text) }
        }
    }

    func testImplicitStatementsCanBeDeactivatedAndDeleted() throws {
        var tree = try parse("set then pool p1\nset address web 10.0.0.1/32")
        try tree.applySetCommands(text: "deactivate then pool p1", file: "d", schema: Self.schema)
        XCTAssertEqual(tree.node(at: ["then", "pool", "pool-name"])?.isInactive, true)
        XCTAssertTrue(tree.hierarchicalText().contains("inactive: p1;"))
        XCTAssertEqual(tree.setLines().filter { $0.hasPrefix("deactivate") }, ["deactivate then pool p1"])
        XCTAssertEqual(try parse(tree.hierarchicalText()), tree)
        XCTAssertEqual(try parse(tree.setLines().joined(separator: "\n")), tree)
        try tree.applySetCommands(text: "delete address web 10.0.0.1/32", file: "d", schema: Self.schema)
        XCTAssertEqual(tree.node(at: ["address", "web"])?.children, [])
        // A positional value takes one value: a second, in a file, is a mistake.
        XCTAssertThrowsError(try parse("then pool { p1; p2; }")) { error in
            XCTAssertEqual("\(error)", "g.conf:1:17: error: 'then pool' takes one value (first at line 1, column 13)")
        }
    }

    func testSetReplacesAnExcludedChoiceAndASingleInstance() throws {
        let tree = try parse("""
            set then deny
            set then permit
            set then port range 1024 to 2047
            set then port range 3000 to 4000
            """)
        // `permit` replaced `deny`, and `pool` would replace `permit`; the port range replaced its predecessor.
        XCTAssertEqual(tree.node(at: ["then"])?.children.map(\.keyword), ["permit", "port"])
        XCTAssertEqual(tree.node(at: ["then", "port"])?.children.map(\.names), [["3000"]])
        let pooled = try parse("set then permit\nset then pool p")
        XCTAssertEqual(pooled.node(at: ["then"])?.children.map(\.keyword), ["pool"])
        // The hierarchical form keeps both, for the compiler to report.
        let both = try parse("then { deny; permit; }")
        XCTAssertEqual(both.node(at: ["then"])?.children.map(\.keyword), ["deny", "permit"])
        XCTAssertEqual(JunosSchema.xpf.child("security")?.child("policies")?.child("default-policy")?.choices,
                       [["permit-all", "deny-all"]])
    }

    func testOneLinersPrintOnOneLineOnlyWhenTheyFormAChain() throws {
        let tree = try parse("""
            then port range 1024 to 2047;
            zone interfaces {
                fw0 trusted;
                inactive: fw1 { trusted; }
            }
            """)
        XCTAssertEqual(tree.node(at: ["zone", "interfaces", "interface", "fw1"])?.isInactive, true)
        XCTAssertEqual(try parse(tree.hierarchicalText()), tree)
        // An inactive statement with children prints as a block: `inactive: fw1 trusted;`
        // would mark `trusted` when read back.
        XCTAssertEqual(tree.hierarchicalText(), """
            then {
                port range 1024 to 2047;
            }
            zone {
                interfaces {
                    fw0 trusted;
                    inactive: fw1 {
                        trusted;
                    }
                }
            }

            """)
        // A chain broken by an inactive statement, or by a second child, prints as blocks.
        let broken = try parse("address web { 10.0.0.1/32; description x; }\nthen port range 1 { inactive: to 2; }")
        XCTAssertEqual(broken.hierarchicalText(), """
            address web {
                10.0.0.1/32;
                description x;
            }
            then {
                port {
                    range 1 {
                        inactive: to 2;
                    }
                }
            }

            """)
        XCTAssertEqual(try parse(broken.hierarchicalText()), broken)
    }

    func testTheXPFSchemaAcceptsJunosSpellings() throws {
        // Spot checks of statements whose shape is easy to get wrong.
        let text = """
            set security address-book global address a 10.0.0.1/32
            set security address-book global address r range-address 10.0.0.1 to 10.0.0.9
            set security zones security-zone z interfaces fw0.0 host-inbound-traffic system-services all
            set security zones security-zone z interfaces fw0.0 host-inbound-traffic system-services ssh except
            set security nat source pool p address 203.0.113.1/32 to 203.0.113.9/32
            set security nat source pool p port range 1024 to 2047
            set security nat source rule-set rs rule r then source-nat pool p
            set security nat destination pool d address 10.0.0.1/32 port 8080
            set security nat static rule-set s rule r then static-nat prefix 10.0.0.0/24
            set firewall family inet filter f term t from source-address 10.0.0.0/8 except
            set firewall family inet filter f term t then reject tcp-reset
            set firewall three-color-policer t action loss-priority high then discard
            set forwarding-options port-mirroring instance i family inet output interface m0 next-hop 192.0.2.1
            set policy-options prefix-list l 10.0.0.0/8
            """
        let tree = try JunosTree.parse(text: text, file: "x")
        XCTAssertEqual(tree.setLines(), text.split(separator: "\n").map(String.init))
        XCTAssertEqual(try JunosTree.parse(text: tree.hierarchicalText(), file: "y"), tree)
        XCTAssertTrue(tree.hierarchicalText().contains("\n            address r range-address 10.0.0.1 to 10.0.0.9;\n"))
        XCTAssertTrue(tree.hierarchicalText().contains("\n                            ssh except;\n"))
        XCTAssertTrue(tree.hierarchicalText().contains("\n            loss-priority high then discard;\n"))
    }
}
