import CXPF
import XCTest
@testable import Shared

/// `show security policies` and the hit-count table (Sources/Shared/Status/PolicyListing.swift):
/// the running configuration's policies as Junos lists them.
final class PolicyListingTests: XCTestCase {
    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    static let config = """
    system dataplane interfaces [ fw0 fw1 fw2 ];
    applications {
        application web-alt { protocol tcp; destination-port 8000-8080; inactivity-timeout 90; }
        application-set web-set { application junos-http; application web-alt; }
    }
    security {
        address-book global { address srv 192.0.2.10/32; }
        zones {
            security-zone trust {
                interfaces fw0;
                address-book {
                    address lan 10.1.0.0/16;
                    address lan6 2001:db8:1::/48;
                    address-set lans { address lan; address lan6; }
                }
            }
            security-zone untrust { interfaces fw1; }
            security-zone dmz { interfaces fw2; }
        }
        policies {
            from-zone trust to-zone untrust {
                policy web {
                    match { source-address lans; destination-address any; application web-set; }
                    then { permit; log { session-init; session-close; } count; }
                }
                inactive: policy off {
                    match { source-address any; destination-address any; application any; }
                    then permit;
                }
                policy ping {
                    description "echo only";
                    match { source-address any-ipv4; destination-address any; application junos-icmp-ping; }
                    then reject;
                }
            }
            from-zone untrust to-zone dmz {
                policy srv {
                    match { source-address any; destination-address srv; application junos-ssh; }
                    then permit;
                }
            }
            from-zone trust to-zone junos-host {
                policy mgmt {
                    match { source-address lans; destination-address any; application junos-ssh; }
                    then permit;
                }
            }
            global {
                policy g-deny {
                    match { source-address any; destination-address any; application any; from-zone [ untrust dmz ]; }
                    then deny;
                }
            }
            default-policy permit-all;
        }
    }
    """

    func listing() throws -> PolicyListing {
        let (tree, model) = try ConfigModel.load(text: Self.config, file: "t")
        return PolicyListing(tree: tree, model: model)
    }

    func testListsEveryPolicyWithTheNamesWrittenInJunosOrder() throws {
        XCTAssertEqual(try listing().text(), """
        Default policy: permit-all
        From zone: trust, To zone: untrust
          Policy: web, State: enabled, Index: 0, Sequence number: 1
            Source addresses: lans
            Destination addresses: any
            Applications: web-set
            Action: permit, log, count
          Policy: ping, State: enabled, Index: 1, Sequence number: 2
            Source addresses: any-ipv4
            Destination addresses: any
            Applications: junos-icmp-ping
            Action: reject
        From zone: untrust, To zone: dmz
          Policy: srv, State: enabled, Index: 2, Sequence number: 1
            Source addresses: any
            Destination addresses: srv
            Applications: junos-ssh
            Action: permit
        From zone: trust, To zone: junos-host
          Policy: mgmt, State: enabled, Index: 4, Sequence number: 1
            Source addresses: lans
            Destination addresses: any
            Applications: junos-ssh
            Action: permit
        Global policies:
          Policy: g-deny, State: enabled, Index: 3, Sequence number: 1
            From zones: untrust, dmz
            To zones: any
            Source addresses: any
            Destination addresses: any
            Applications: any
            Action: deny
        """)
    }

    func testAZonePairListsOnlyItsOwnPolicies() throws {
        let l = try listing()
        XCTAssertEqual(try l.entries(from: "untrust", to: "dmz").map(\.policy.name), ["srv"])
        XCTAssertEqual(try l.entries(from: "dmz", to: "trust").map(\.policy.name), [], "a pair without a list")
        XCTAssertEqual(try l.entries(from: "trust", to: "junos-host").map(\.policy.name), ["mgmt"], "the box's own zone")
        XCTAssertThrowsError(try l.entries(from: "nope", to: "dmz")) { XCTAssertEqual("\($0)", "zone 'nope' is not defined") }
    }

    func testDetailResolvesAddressesAndApplications() throws {
        let text = try listing().text(from: "trust", to: "untrust", detail: true)
        XCTAssertEqual(text, """
        Default policy: permit-all
        Policy: web, action-type: permit, State: enabled, Index: 0
          Sequence number: 1
          From zone: trust, To zone: untrust
          Source addresses: lans
            10.1.0.0/16
            2001:db8:1::/48
          Destination addresses: any
            0.0.0.0/0
            ::/0
          Application: junos-http
            IP protocol: tcp, Inactivity timeout: default
              Source port range: [0-65535]
              Destination port range: [80-80]
          Application: web-alt
            IP protocol: tcp, Inactivity timeout: 90
              Source port range: [0-65535]
              Destination port range: [8000-8080]
          Action: permit, log, count
          Session log: at-create, at-close
        Policy: ping, action-type: reject, State: enabled, Index: 1
          Description: echo only
          Sequence number: 2
          From zone: trust, To zone: untrust
          Source addresses: any-ipv4
            0.0.0.0/0
          Destination addresses: any
            0.0.0.0/0
            ::/0
          Application: junos-icmp-ping
            IP protocol: icmp, Inactivity timeout: default
              ICMP type: 8, code: any
          Action: reject
        """)
    }

    /// `detail` adds a `then count` policy's statistics: xpfd's counts (closed sessions,
    /// hits) plus the live sessions' traffic; policies without `count` show none.
    func testDetailShowsStatisticsOfCountedPolicies() throws {
        let l = try listing()
        let web = try XCTUnwrap(l.model.policies.all.first { $0.name == "web" })
        XCTAssertTrue(web.count)
        var st = PolicyListing.Statistics(counts: PolicyCounts(hits: 9, inputPackets: 4, outputPackets: 3, inputBytes: 400,
                                                               outputBytes: 300, closedSessions: 2))
        var live = xpf_session()
        live.packets = (1, 2)
        live.bytes = (100, 200)
        st.add(live: live)
        let text = try l.text(from: "trust", to: "untrust", detail: true, statistics: [web.id: st])
        XCTAssertTrue(text.contains("""
              Policy statistics:
                Input  bytes       : 500
                Output bytes       : 500
                Input  packets     : 5
                Output packets     : 5
                Active sessions    : 1
                Session deletions  : 2
                Policy lookups     : 9
            """), text)
        XCTAssertEqual(text.components(separatedBy: "Policy statistics:").count, 2, "only web counts")
    }

    func testHitCountTableHasJunosColumns() {
        let rows = [
            PolicyHitCount(identity: PolicyIdentity(scope: .zonePair(from: "trust", to: "untrust"), name: "web"), counts: PolicyCounts(hits: 1234)),
            PolicyHitCount(identity: PolicyIdentity(scope: .global, name: "g-deny"), counts: PolicyCounts(hits: 0)),
            PolicyHitCount(identity: .defaultPolicy, counts: PolicyCounts(hits: 7)),
        ]
        XCTAssertEqual(PolicyListing.hitCountText(rows), """
        Logical system: root-logical-system
         Index   From zone   To zone   Name             Policy count
         1       trust       untrust   web              1234
         2       global      global    g-deny           0
         3       -           -         default-policy   7

        Number of policy: 3
        """)
    }
}
