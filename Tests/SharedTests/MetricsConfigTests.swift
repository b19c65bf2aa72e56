import XCTest

@testable import Shared

/// `system services prometheus listen ADDRESS:PORT;`: where xpfd serves /metrics.
/// Parsed and compiled through `ConfigModel.load`, the path `commit` and `commit check` take.
final class MetricsConfigTests: XCTestCase {
    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    private func load(_ listen: String?) throws -> ConfigModel {
        let services = listen.map { "system services prometheus listen \($0);\n" } ?? ""
        return try ConfigModel.load(text: "system dataplane interfaces fw0;\n" + services, file: "t.conf").1
    }

    private func error(_ listen: String) -> String {
        do {
            _ = try load(listen)
            return "(no error)"
        } catch {
            return "\(error)"
        }
    }

    func testOffWhenAbsent() throws {
        XCTAssertNil(try load(nil).services.prometheusListen)
    }

    func testIPv4AndBracketedIPv6Addresses() throws {
        let v4 = try XCTUnwrap(try load("127.0.0.1:9464").services.prometheusListen)
        XCTAssertEqual(v4.address, ConfigModel.IPAddress("127.0.0.1"))
        XCTAssertEqual(v4.port, 9464)
        XCTAssertEqual(v4.description, "127.0.0.1:9464")
        // Brackets start a list in Junos syntax, so an IPv6 address is written in quotes.
        let v6 = try XCTUnwrap(try load("\"[::1]:9465\"").services.prometheusListen)
        XCTAssertEqual(v6.address, ConfigModel.IPAddress("::1"))
        XCTAssertEqual(v6.port, 9465)
        XCTAssertEqual(v6.description, "[::1]:9465")
    }

    func testTheSetFormAndShowConfigurationRoundTrip() throws {
        let text = "system dataplane interfaces fw0;\nsystem services prometheus listen \"[::1]:9464\";\n"
        let (tree, model) = try ConfigModel.load(text: text, file: "t.conf")
        let again = try ConfigModel.load(text: tree.setLines().joined(separator: "\n"), file: "set").1
        XCTAssertEqual(again.services, model.services)
        let hierarchical = try ConfigModel.load(text: tree.hierarchicalText(), file: "show").1
        XCTAssertEqual(hierarchical.services, model.services)
    }

    func testInvalidAddressesFailWithTheirLocation() {
        let expected = "must be ADDRESS:PORT (127.0.0.1:9464; IPv6 in brackets and quotes, \"[::1]:9464\")"
        // (as written, as the message shows it: a value that needs its quotes keeps them)
        for (bad, shown) in [("127.0.0.1", "'127.0.0.1'"), ("127.0.0.1:0", "'127.0.0.1:0'"),
                             ("127.0.0.1:65536", "'127.0.0.1:65536'"), ("127.0.0.1:94x4", "'127.0.0.1:94x4'"), ("127.0.0.1:+9464", "'127.0.0.1:+9464'"),
                             ("localhost:9464", "'localhost:9464'"), ("300.0.0.1:9464", "'300.0.0.1:9464'"),
                             ("\"::1:9464\"", "'::1:9464'"), ("\"[127.0.0.1]:9464\"", "\"[127.0.0.1]:9464\""),
                             ("\"[::1]9464\"", "\"[::1]9464\""), ("\"[::1]:\"", "\"[::1]:\"")] {
            XCTAssertEqual(error(bad), "t.conf:2:35: error: prometheus listen \(shown) \(expected)", bad)
        }
    }

    func testUnknownServiceStatementsAreRefused() {
        XCTAssertTrue(error("127.0.0.1:9464; port 1").contains("t.conf:2:"), error("127.0.0.1:9464; port 1"))
    }
}
