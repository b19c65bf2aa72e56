import Foundation
import XCTest

@testable import Shared

/// The Junos front end and the dataplane knobs it compiles to. Every case
/// goes through `DataplaneConfig.load` or `JunosTree.parse`, the paths xpfd and xpfctl use.
final class ConfigTests: XCTestCase {
    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    // MARK: - Corpus

    /// Every knob set, in the hierarchical form, with both comment kinds, quoted strings
    /// with escapes and a list. (Inactive statements have their own test: with every knob
    /// set there is no room for one here, since a second single-valued statement is a
    /// duplicate whether or not it is inactive.)
    static let fullHierarchical = """
        /* Lab firewall.
           Block comments may span lines. */
        system {
            host-name "edge \\"1\\""; # a quoted string with escapes
            dataplane {
                interfaces [ fw0 fw1 eth0.100 ];
                queues 4;
                batch-size 128;
                rx-ring 4096;
                tx-ring 1024;
                umem-frames 32768;
                xdp-mode native;
                session-table-size 65536;
                neighbor-hold-time 250;
            }
        }
        security {
            flow {
                tcp-session {
                    established-timeout 3600;
                    closing-timeout 10;
                    initial-timeout 5;
                }
                udp-timeout 90;
                icmp-timeout 15;
                other-timeout 45;
            }
        }
        """

    /// The same configuration in the set form, reached through deletes, a replaced value,
    /// a deactivate/activate pair and a deactivated statement.
    static let fullSet = """
        # Lab firewall, as set commands.
        set system host-name "edge \\"1\\""
        set system dataplane interfaces fw0
        set system dataplane interfaces [ fw1 eth0.100 ]
        set system dataplane interfaces fw9          /* removed again below */
        set system dataplane queues 4
        set system dataplane batch-size 32
        set system dataplane batch-size 128          # a later set replaces
        set system dataplane rx-ring 4096
        set system dataplane tx-ring 1024
        set system dataplane umem-frames 32768
        set system dataplane xdp-mode native
        set system dataplane session-table-size 65536
        set system dataplane neighbor-hold-time 250

        set security flow tcp-session established-timeout 3600
        set security flow tcp-session closing-timeout 10
        set security flow tcp-session initial-timeout 5
        set security flow udp-timeout 90
        set security flow icmp-timeout 15
        set security flow other-timeout 45
        set security flow other-timeout 7
        deactivate security flow other-timeout
        activate security flow other-timeout
        delete security flow other-timeout
        set security flow other-timeout 45
        delete system dataplane interfaces fw9
        """

    // MARK: - Good configurations

    func testHierarchicalConfigurationCompilesEveryKnob() throws {
        let (_, config) = try DataplaneConfig.load(text: Self.fullHierarchical, file: "full.conf")
        assertConfig(
            config, hostName: "edge \"1\"", interfaces: ["fw0", "fw1", "eth0.100"], queues: 4, batchSize: 128,
            rxRing: 4096, txRing: 1024, umemFrames: 32768, xdpMode: .native, sessionTableSize: 65536,
            neighborHoldMs: 250,
            timeouts: (tcpEstablished: 3600, tcpClosing: 10, tcpInitial: 5, udp: 90, icmp: 15, other: 45))
    }

    func testSetFormCompilesEveryKnobAfterDeletesAndReplacements() throws {
        let (tree, config) = try DataplaneConfig.load(text: Self.fullSet, file: "full.set")
        assertConfig(
            config, hostName: "edge \"1\"", interfaces: ["fw0", "fw1", "eth0.100"], queues: 4, batchSize: 128,
            rxRing: 4096, txRing: 1024, umemFrames: 32768, xdpMode: .native, sessionTableSize: 65536,
            neighborHoldMs: 250,
            timeouts: (tcpEstablished: 3600, tcpClosing: 10, tcpInitial: 5, udp: 90, icmp: 15, other: 45))
        XCTAssertEqual(tree.node(at: ["security", "flow", "other-timeout"])?.isInactive, false)
    }

    func testOmittedKnobsTakeTheirDefaults() throws {
        let (_, config) = try DataplaneConfig.load(text: "system { dataplane { interfaces fw0; } }", file: "min.conf")
        assertConfig(
            config, hostName: nil, interfaces: ["fw0"], queues: nil, batchSize: 64, rxRing: 2048, txRing: 2048,
            umemFrames: 8192, xdpMode: .auto, sessionTableSize: 1_000_000, neighborHoldMs: 1000,
            timeouts: (tcpEstablished: 1800, tcpClosing: 30, tcpInitial: 20, udp: 60, icmp: 60, other: 60))
        XCTAssertEqual(config, DataplaneConfig(interfaces: ["fw0"]))
    }

    func testDefaultUMEMGrowsToCoverEveryRingOfEveryInterface() throws {
        // 3 × (2048 + 2048) = 12288 frames needed; the default rounds up to a power of two.
        let (_, three) = try DataplaneConfig.load(
            text: "system dataplane interfaces [ a b c ];", file: "umem.conf")
        XCTAssertEqual(three.umemFrames, 16384)
        // Exactly the minimum is accepted when it is a power of two.
        let (_, exact) = try DataplaneConfig.load(
            text: "system dataplane { interfaces [ a b ]; umem-frames 8192; }", file: "umem.conf")
        XCTAssertEqual(exact.umemFrames, 8192)
        XCTAssertEqual(DataplaneConfig.minimumUMEMFrames(interfaces: 3, rxRing: 2048, txRing: 2048), 12288)
    }

    func testTheDefaultConfigurationFileIsTheLabConfiguration() throws {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config/xpf.conf")
        let text = try String(contentsOf: url, encoding: .utf8)
        let (tree, config) = try DataplaneConfig.load(text: text, file: "config/xpf.conf")
        assertConfig(
            config, hostName: "xpf-lab", interfaces: ["fw0", "fw1"], queues: nil, batchSize: 64, rxRing: 2048,
            txRing: 2048, umemFrames: 8192, xdpMode: .auto, sessionTableSize: 65536, neighborHoldMs: 1000,
            timeouts: (tcpEstablished: 1800, tcpClosing: 30, tcpInitial: 20, udp: 60, icmp: 60, other: 60))
        // The timeouts are spelled out in the file, not left to the defaults.
        for path in [["security", "flow", "tcp-session", "established-timeout"],
                     ["security", "flow", "tcp-session", "closing-timeout"],
                     ["security", "flow", "tcp-session", "initial-timeout"],
                     ["security", "flow", "udp-timeout"], ["security", "flow", "icmp-timeout"],
                     ["security", "flow", "other-timeout"]]
        {
            XCTAssertNotNil(tree.node(at: path), path.joined(separator: " "))
        }
    }

    func testBracesMayBeOmittedAroundASingleStatement() throws {
        let collapsed = try JunosTree.parse(
            text: "system dataplane interfaces [ fw0 fw1 ];\nsecurity flow tcp-session initial-timeout 9;",
            file: "a.conf")
        let braced = try JunosTree.parse(text: """
            system { dataplane { interfaces [ fw0 fw1 ]; } }
            security { flow { tcp-session { initial-timeout 9; } } }
            """, file: "b.conf")
        XCTAssertEqual(collapsed, braced)
        // A container written twice is one container.
        let merged = try JunosTree.parse(
            text: "system { dataplane interfaces fw0; } system { dataplane { interfaces fw1; } }", file: "c.conf")
        XCTAssertEqual(merged.node(at: ["system", "dataplane", "interfaces"])?.values, ["fw0", "fw1"])
        XCTAssertEqual(merged.root.children.count, 1)
    }

    func testInactiveStatementsAreKeptButIgnoredByTheCompiler() throws {
        let text = """
            system {
                inactive: host-name ignored;
                dataplane {
                    interfaces fw0;
                    inactive: batch-size 8;
                    inactive: xdp-mode generic;
                }
            }
            security {
                inactive: flow {
                    udp-timeout 5;
                    tcp-session established-timeout 7;
                }
            }
            """
        let (tree, config) = try DataplaneConfig.load(text: text, file: "inactive.conf")
        assertConfig(
            config, hostName: nil, interfaces: ["fw0"], queues: nil, batchSize: 64, rxRing: 2048, txRing: 2048,
            umemFrames: 8192, xdpMode: .auto, sessionTableSize: 1_000_000, neighborHoldMs: 1000,
            timeouts: (tcpEstablished: 1800, tcpClosing: 30, tcpInitial: 20, udp: 60, icmp: 60, other: 60))
        // Kept in the tree, and printed back in both forms.
        XCTAssertEqual(tree.node(at: ["system", "dataplane", "batch-size"])?.isInactive, true)
        XCTAssertEqual(tree.node(at: ["security", "flow"])?.isInactive, true)
        XCTAssertEqual(tree.node(at: ["security", "flow", "udp-timeout"])?.values, ["5"])
        XCTAssertTrue(tree.hierarchicalText().contains("    inactive: flow {\n"))
        XCTAssertTrue(tree.setLines().contains("deactivate security flow"))

        // An inactive required statement is as good as absent.
        XCTAssertThrowsError(try DataplaneConfig.load(
            text: "system dataplane { inactive: interfaces fw0; }", file: "x.conf")) { error in
            XCTAssertEqual("\(error)", "x.conf:1:8: error: missing required statement 'system dataplane interfaces'")
        }
    }

    func testNodesRememberWhereTheyWereWritten() throws {
        let tree = try JunosTree.parse(text: Self.fullHierarchical, file: "full.conf")
        XCTAssertEqual(tree.node(at: ["system"])?.location, SourceLocation(file: "full.conf", line: 3, column: 1))
        XCTAssertEqual(tree.node(at: ["system", "dataplane", "queues"])?.location,
                       SourceLocation(file: "full.conf", line: 7, column: 9))
        let interfaces = try XCTUnwrap(tree.node(at: ["system", "dataplane", "interfaces"]))
        XCTAssertEqual(interfaces.valueLocations.map(\.column), [22, 26, 30])

        let set = try JunosTree.parse(text: Self.fullSet, file: "full.set")
        // A replaced value takes the location of the statement that set it last.
        XCTAssertEqual(set.node(at: ["system", "dataplane", "batch-size"])?.location,
                       SourceLocation(file: "full.set", line: 8, column: 22))
    }

    // MARK: - Round trips

    func testRoundTripHierarchicalToSetToTree() throws {
        let tricky = """
            system {
                host-name "a; b { c } [ d ] # e /* f */ \\\\ \\t \\n";
                dataplane {
                    interfaces [ fw0 "" "#x" "/*y" ];
                    inactive: queues 2;
                }
                inactive: dataplane;
            }
            security flow;
            """
        for (name, text) in [("full", Self.fullHierarchical), ("set", Self.fullSet), ("tricky", tricky)] {
            let tree = try JunosTree.parse(text: text, file: name)
            let hierarchical = tree.hierarchicalText()
            let setText = tree.setLines().joined(separator: "\n")

            let fromHierarchical = try JunosTree.parse(text: hierarchical, file: name)
            let fromSet = try JunosTree.parse(text: setText, file: name)
            XCTAssertEqual(fromHierarchical, tree, name)
            XCTAssertEqual(fromSet, tree, name)
            XCTAssertEqual(fromSet.hierarchicalText(), hierarchical, name)
            XCTAssertEqual(fromHierarchical.setLines(), tree.setLines(), name)
        }
    }

    func testPrintersWriteJunosStyle() throws {
        let tree = try JunosTree.parse(text: Self.fullHierarchical, file: "full.conf")
        XCTAssertEqual(tree.hierarchicalText(), """
            system {
                host-name "edge \\"1\\"";
                dataplane {
                    interfaces [ fw0 fw1 eth0.100 ];
                    queues 4;
                    batch-size 128;
                    rx-ring 4096;
                    tx-ring 1024;
                    umem-frames 32768;
                    xdp-mode native;
                    session-table-size 65536;
                    neighbor-hold-time 250;
                }
            }
            security {
                flow {
                    tcp-session {
                        established-timeout 3600;
                        closing-timeout 10;
                        initial-timeout 5;
                    }
                    udp-timeout 90;
                    icmp-timeout 15;
                    other-timeout 45;
                }
            }

            """)
        let small = try JunosTree.parse(
            text: "system { host-name \"my fw\"; dataplane { interfaces [ fw0 fw1 ]; inactive: queues 2; } }",
            file: "s.conf")
        XCTAssertEqual(small.setLines(), [
            "set system host-name \"my fw\"",
            "set system dataplane interfaces fw0",
            "set system dataplane interfaces fw1",
            "set system dataplane queues 2",
            "deactivate system dataplane queues",
        ])
    }

    // MARK: - Set form specifics

    func testSetFormIsDetectedAfterLeadingComments() throws {
        XCTAssertTrue(JunosTree.looksLikeSetCommands("/* c */\n# c\n\nset system host-name x\n"))
        XCTAssertTrue(JunosTree.looksLikeSetCommands("delete system\n"))
        XCTAssertFalse(JunosTree.looksLikeSetCommands("system { host-name x; }\n"))
        XCTAssertFalse(JunosTree.looksLikeSetCommands("# only a comment\n"))
    }

    func testRepeatingASetLineChangesNothing() throws {
        let once = try JunosTree.parse(text: "set system dataplane interfaces fw0\n", file: "a")
        let twice = try JunosTree.parse(
            text: "set system dataplane interfaces fw0\nset system dataplane interfaces fw0\n", file: "a")
        XCTAssertEqual(once, twice)
    }

    func testAFailedSetBatchLeavesTheTreeUntouched() throws {
        var tree = try JunosTree.parse(text: "set system dataplane interfaces fw0\n", file: "a")
        let before = tree
        XCTAssertThrowsError(try tree.applySetCommands(
            text: "set system dataplane batch-size 8\ndelete system dataplane queues\n", file: "b")) { error in
            XCTAssertEqual("\(error)", "b:2:8: error: statement not found: 'system dataplane queues'")
        }
        XCTAssertEqual(tree, before)
        try tree.applySetCommands(text: "set system dataplane batch-size 8\n", file: "b")
        XCTAssertEqual(tree.node(at: ["system", "dataplane", "batch-size"])?.values, ["8"])
        // A bare `delete` empties the configuration.
        try tree.applySetCommands(text: "delete\n", file: "c")
        XCTAssertEqual(tree, JunosTree())
    }

    // MARK: - Errors

    /// A list holds each value once, in both forms (found by the junos fuzz target: a
    /// repeated value printed by `display set` read back as one, so the forms disagreed).
    func testRepeatedListValuesCountOnce() throws {
        let hierarchical = try DataplaneConfig.load(text: "system dataplane {\n    interfaces [ fw0 fw1 fw0 ];\n}\n", file: "h.conf")
        XCTAssertEqual(hierarchical.1.interfaces, ["fw0", "fw1"])
        let set = try DataplaneConfig.load(text: "set system dataplane interfaces [ fw0 fw1 fw0 ]\nset system dataplane interfaces fw1\n",
                                           file: "s.conf")
        XCTAssertEqual(set.1.interfaces, ["fw0", "fw1"])
    }

    func testErrorTexts() {
        let cases: [(name: String, text: String, error: String)] = [
            ("unknown statement, hierarchical",
             "system {\n    dataplane {\n        interfaces fw0;\n        foo 1;\n    }\n}\n",
             "x.conf:4:9: error: unknown statement 'foo' under 'system dataplane'"),
            ("unknown statement, top level", "sytem { }\n",
             "x.conf:1:1: error: unknown statement 'sytem' at top level"),
            ("unknown statement, set form",
             "set system dataplane interfaces fw0\nset system dataplane foo 1\n",
             "x.conf:2:22: error: unknown statement 'foo' under 'system dataplane'"),
            ("missing ';' (reported where it belongs)",
             "system {\n    dataplane {\n        interfaces fw0;\n        batch-size 64\n        rx-ring 2048;\n    }\n}\n",
             "x.conf:4:22: error: expected ';' after 'batch-size 64'"),
            ("block after a leaf", "system { host-name x { } }\n",
             "x.conf:1:21: error: expected ';' after 'host-name x'"),
            ("unclosed brace (reported at the brace)",
             "system {\n    dataplane {\n        interfaces fw0;\n    }\n",
             "x.conf:1:8: error: missing '}' to close 'system'"),
            ("extra closing brace", "system {\n    dataplane {\n        interfaces fw0;\n    }\n}\n}\n",
             "x.conf:6:1: error: unexpected '}' with no matching '{'"),
            ("stray ';'", "system { ; }\n", "x.conf:1:10: error: expected a statement under 'system', found ';'"),
            ("string where a statement belongs", "system \"x\" { }\n",
             "x.conf:1:8: error: expected '{' or ';' after 'system', found \"x\""),
            ("bad number", "system dataplane {\n    interfaces fw0;\n    batch-size 6x4;\n}\n",
             "x.conf:3:16: error: invalid number '6x4' for 'batch-size'"),
            ("negative number", "system dataplane {\n    interfaces fw0;\n    batch-size -1;\n}\n",
             "x.conf:3:16: error: invalid number '-1' for 'batch-size'"),
            ("number beyond 64 bits",
             "system dataplane { interfaces fw0; session-table-size 99999999999999999999999; }\n",
             "x.conf:1:55: error: invalid number '99999999999999999999999' for 'session-table-size'"),
            ("bad keyword value", "system dataplane { interfaces fw0; xdp-mode fast; }\n",
             "x.conf:1:45: error: invalid value 'fast' for 'xdp-mode': expected native, generic or auto"),
            ("missing value", "system dataplane { interfaces fw0; batch-size; }\n",
             "x.conf:1:46: error: missing value for 'batch-size'"),
            ("list for a single value", "system dataplane { interfaces fw0; batch-size [ 1 2 ]; }\n",
             "x.conf:1:47: error: 'batch-size' takes one value, not a list"),
            ("empty list", "system dataplane { interfaces [ ]; }\n",
             "x.conf:1:31: error: empty list for 'interfaces'"),
            ("unclosed list", "system dataplane { interfaces [ fw0 fw1; }\n",
             "x.conf:1:31: error: missing ']' to close the list of 'interfaces'"),
            ("duplicate statement", "system dataplane { interfaces fw0; batch-size 1; batch-size 2; }\n",
             "x.conf:1:50: error: duplicate statement 'batch-size' (first at line 1, column 36)"),
            ("duplicate statement, one inactive",
             "system dataplane { interfaces fw0; batch-size 1; inactive: batch-size 2; }\n",
             "x.conf:1:60: error: duplicate statement 'batch-size' (first at line 1, column 36)"),
            ("inactive statements are still checked against the schema",
             "system dataplane interfaces fw0;\nsecurity { inactive: idp { } }\n",
             "x.conf:2:22: error: unknown statement 'idp' under 'security'"),
            ("unterminated comment (reported where it opens)", "system {\n    /* never closed\n    dataplane;\n}\n",
             "x.conf:2:5: error: unterminated comment"),
            ("unterminated string (reported where it opens)", "system {\n    host-name \"fw1;\n}\n",
             "x.conf:2:15: error: unterminated string"),
            ("invalid escape", "system host-name \"a\\qb\";\n",
             "x.conf:1:20: error: invalid escape '\\q' in string"),
            ("value out of range", "system dataplane {\n    interfaces fw0;\n    batch-size 1000;\n}\n",
             "x.conf:3:16: error: batch-size 1000 is out of range 1..256"),
            ("value out of range, beyond Int",
             "system dataplane { interfaces fw0; session-table-size 9999999999999999999; }\n",
             "x.conf:1:55: error: session-table-size 9999999999999999999 is out of range 1024..20000000"),
            ("queues out of range", "system dataplane { interfaces fw0; queues 0; }\n",
             "x.conf:1:43: error: queues 0 is out of range 1..64"),
            ("timeout out of range",
             "system dataplane interfaces fw0;\nsecurity flow tcp-session established-timeout 0;\n",
             "x.conf:2:47: error: established-timeout 0 is out of range 1..86400"),
            ("neighbor hold out of range", "system dataplane { interfaces fw0; neighbor-hold-time 5; }\n",
             "x.conf:1:55: error: neighbor-hold-time 5 is out of range 10..10000"),
            ("ring not a power of two", "system dataplane {\n    interfaces fw0;\n    rx-ring 1000;\n}\n",
             "x.conf:3:13: error: rx-ring 1000 is not a power of two"),
            ("ring out of range", "system dataplane { interfaces fw0; tx-ring 16384; }\n",
             "x.conf:1:44: error: tx-ring 16384 is out of range 64..8192"),
            ("umem below the rule", "system dataplane {\n    interfaces [ fw0 fw1 ];\n    umem-frames 4096;\n}\n",
             "x.conf:3:17: error: umem-frames 4096 is below the minimum 8192 "
                 + "(2 interfaces x (rx-ring 2048 + tx-ring 2048))"),
            ("umem not a power of two", "system dataplane { interfaces fw0; umem-frames 10000; }\n",
             "x.conf:1:48: error: umem-frames 10000 is not a power of two"),
            ("interface name too long", "system dataplane interfaces abcdefghijklmnop;\n",
             "x.conf:1:29: error: interface name 'abcdefghijklmnop' is longer than 15 characters"),
            ("interface name Linux refuses", "system dataplane interfaces \"a b\";\n",
             "x.conf:1:29: error: invalid interface name \"a b\""),
            ("too many interfaces", "system dataplane interfaces [ a b c d e f g h i j k l m n o p q ];\n",
             "x.conf:1:18: error: too many interfaces: 17 (at most 16)"),
            ("missing interfaces (reported at dataplane)", "system dataplane { batch-size 1; }\n",
             "x.conf:1:8: error: missing required statement 'system dataplane interfaces'"),
            ("missing everything", "",
             "x.conf:1:1: error: missing required statement 'system dataplane interfaces'"),
            ("empty host name", "system { host-name \"\"; dataplane interfaces fw0; }\n",
             "x.conf:1:20: error: host-name must not be empty"),
            ("set: missing value", "set system dataplane interfaces fw0\nset system dataplane batch-size\n",
             "x.conf:2:32: error: missing value for 'batch-size'"),
            ("set: extra value", "set system dataplane batch-size 1 2\n",
             "x.conf:1:35: error: unexpected '2' after 'system dataplane batch-size 1'"),
            ("set: ';' is not part of a set line", "set system dataplane interfaces fw0;\n",
             "x.conf:1:36: error: unexpected ';' after 'system dataplane interfaces fw0'"),
            ("set: unknown command", "set system dataplane interfaces fw0\nsett system\n",
             "x.conf:2:1: error: unknown command 'sett': expected 'set', 'delete', 'activate' or 'deactivate'"),
            ("set: nothing to set", "set\n", "x.conf:1:4: error: missing statement after 'set'"),
            ("set: delete what is not there", "set system dataplane interfaces fw0\ndelete system dataplane queues\n",
             "x.conf:2:8: error: statement not found: 'system dataplane queues'"),
            ("set: delete a value that is not there",
             "set system dataplane interfaces fw0\ndelete system dataplane interfaces fw9\n",
             "x.conf:2:8: error: statement not found: 'system dataplane interfaces fw9'"),
            ("set: deactivate one value",
             "set system dataplane interfaces fw0\ndeactivate system dataplane interfaces fw0\n",
             "x.conf:2:40: error: cannot deactivate a single value of 'interfaces'"),
        ]
        for c in cases {
            XCTAssertThrowsError(try DataplaneConfig.load(text: c.text, file: "x.conf"), c.name) { error in
                XCTAssertEqual("\(error)", c.error, c.name)
                XCTAssertTrue(error is ConfigError, c.name)
            }
        }
    }

    func testConfigErrorCarriesItsPartsAndRendersLikeACompiler() {
        XCTAssertThrowsError(try JunosTree.parse(text: "system {\n  foo;\n}", file: "/etc/xpf.conf")) { error in
            guard let e = error as? ConfigError else { return XCTFail("not a ConfigError: \(error)") }
            XCTAssertEqual(e.file, "/etc/xpf.conf")
            XCTAssertEqual(e.line, 2)
            XCTAssertEqual(e.column, 3)
            XCTAssertEqual(e.message, "unknown statement 'foo' under 'system'")
            XCTAssertEqual(e.description, "/etc/xpf.conf:2:3: error: unknown statement 'foo' under 'system'")
        }
    }

    // MARK: - Schema growth

    /// A schema shaped like what comes next (zones, policies): named instances, a compound
    /// name and a flag, all from entries alone, through both forms and the printers.
    func testSchemaGrowsByEntriesAlone() throws {
        let schema = JunosSchema.root([
            .container("security", [
                .container("zones", [
                    .named("security-zone", [
                        .list("interfaces", .string),
                    ]),
                ]),
                .container("policies", [
                    .named("from-zone", keys: [.value(.string), .keyword("to-zone"), .value(.string)], [
                        .named("policy", [
                            .container("match", [.list("application", .string)]),
                            .container("then", [.flag("permit"), .flag("deny")]),
                        ]),
                    ]),
                ]),
            ]),
        ])
        let text = """
            security {
                zones {
                    security-zone trust interfaces fw0;
                    security-zone "un trust" {
                        interfaces [ fw1 fw2 ];
                    }
                }
                policies {
                    from-zone trust to-zone "un trust" {
                        policy allow-web {
                            match application [ http https ];
                            then permit;
                        }
                    }
                }
            }
            """
        let tree = try JunosTree.parse(text: text, file: "z.conf", schema: schema)
        let zones = try XCTUnwrap(tree.node(at: ["security", "zones"]))
        XCTAssertEqual(zones.children("security-zone").map(\.name), ["trust", "un trust"])
        XCTAssertEqual(tree.node(at: ["security", "zones", "security-zone", "un trust", "interfaces"])?.values,
                       ["fw1", "fw2"])
        let policy = try XCTUnwrap(tree.node(
            at: ["security", "policies", "from-zone", "trust", "to-zone", "un trust", "policy", "allow-web"]))
        XCTAssertEqual(policy.child("then")?.child("permit")?.kind, .leaf)

        let setLines = tree.setLines()
        XCTAssertEqual(setLines, [
            "set security zones security-zone trust interfaces fw0",
            "set security zones security-zone \"un trust\" interfaces fw1",
            "set security zones security-zone \"un trust\" interfaces fw2",
            "set security policies from-zone trust to-zone \"un trust\" policy allow-web match application http",
            "set security policies from-zone trust to-zone \"un trust\" policy allow-web match application https",
            "set security policies from-zone trust to-zone \"un trust\" policy allow-web then permit",
        ])
        let fromSet = try JunosTree.parse(text: setLines.joined(separator: "\n"), file: "z.set", schema: schema)
        XCTAssertEqual(fromSet, tree)
        XCTAssertEqual(try JunosTree.parse(text: tree.hierarchicalText(), file: "z2", schema: schema), tree)

        // Deleting one instance leaves its siblings.
        var edited = tree
        try edited.applySetCommands(text: "delete security zones security-zone trust", file: "d", schema: schema)
        XCTAssertEqual(edited.node(at: ["security", "zones"])?.children.map(\.names), [["un trust"]])

        // Errors name the instance in the path, and the compound key's keyword.
        XCTAssertThrowsError(try JunosTree.parse(
            text: "security zones security-zone dmz { host-inbound-traffic; }", file: "e", schema: schema)) { error in
            XCTAssertEqual("\(error)",
                           "e:1:36: error: unknown statement 'host-inbound-traffic' under 'security zones security-zone dmz'")
        }
        XCTAssertThrowsError(try JunosTree.parse(
            text: "security policies from-zone a into b { }", file: "e", schema: schema)) { error in
            XCTAssertEqual("\(error)", "e:1:30: error: expected 'to-zone' after 'security policies from-zone a'")
        }
        XCTAssertThrowsError(try JunosTree.parse(
            text: "security zones security-zone;", file: "e", schema: schema)) { error in
            XCTAssertEqual("\(error)", "e:1:29: error: missing name for 'security-zone'")
        }
    }

    // MARK: - Helpers

    /// Asserts every field of a compiled configuration, each separately so a failure names it.
    private func assertConfig(
        _ c: DataplaneConfig, hostName: String?, interfaces: [String], queues: Int?, batchSize: Int, rxRing: Int,
        txRing: Int, umemFrames: Int, xdpMode: DataplaneConfig.XDPMode, sessionTableSize: Int, neighborHoldMs: Int,
        timeouts t: (tcpEstablished: Int, tcpClosing: Int, tcpInitial: Int, udp: Int, icmp: Int, other: Int),
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(c.hostName, hostName, "hostName", file: file, line: line)
        XCTAssertEqual(c.interfaces, interfaces, "interfaces", file: file, line: line)
        XCTAssertEqual(c.queues, queues, "queues", file: file, line: line)
        XCTAssertEqual(c.batchSize, batchSize, "batchSize", file: file, line: line)
        XCTAssertEqual(c.rxRing, rxRing, "rxRing", file: file, line: line)
        XCTAssertEqual(c.txRing, txRing, "txRing", file: file, line: line)
        XCTAssertEqual(c.umemFrames, umemFrames, "umemFrames", file: file, line: line)
        XCTAssertEqual(c.xdpMode, xdpMode, "xdpMode", file: file, line: line)
        XCTAssertEqual(c.sessionTableSize, sessionTableSize, "sessionTableSize", file: file, line: line)
        XCTAssertEqual(c.neighborHoldMs, neighborHoldMs, "neighborHoldMs", file: file, line: line)
        XCTAssertEqual(c.timeouts.tcpEstablished, t.tcpEstablished, "timeouts.tcpEstablished", file: file, line: line)
        XCTAssertEqual(c.timeouts.tcpClosing, t.tcpClosing, "timeouts.tcpClosing", file: file, line: line)
        XCTAssertEqual(c.timeouts.tcpInitial, t.tcpInitial, "timeouts.tcpInitial", file: file, line: line)
        XCTAssertEqual(c.timeouts.udp, t.udp, "timeouts.udp", file: file, line: line)
        XCTAssertEqual(c.timeouts.icmp, t.icmp, "timeouts.icmp", file: file, line: line)
        XCTAssertEqual(c.timeouts.other, t.other, "timeouts.other", file: file, line: line)
    }
}
