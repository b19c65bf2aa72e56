import XCTest
import CXPF
@testable import Shared
#if canImport(Glibc)
import Glibc
#endif

// Tests for Sources/Shared/Events: RT_FLOW formatting (RTFlowFormat.swift) and the syslog
// destinations (SyslogWriters.swift), issue 8 items 2 and 5. Every structured line is parsed
// back as RFC 5424 (header, SD-ID, each SD-PARAM name in order and value); legacy lines are
// compared whole. Writers are driven through SyslogRouter, the drain's entry point, against
// real files and sockets.

// MARK: - the field lists of R-9.3 (the specification the formatter must follow)

private let createFields = [
    "source-address", "source-port", "destination-address", "destination-port", "connection-tag",
    "service-name", "nat-source-address", "nat-source-port", "nat-destination-address",
    "nat-destination-port", "nat-connection-tag", "src-nat-rule-type", "src-nat-rule-name",
    "dst-nat-rule-type", "dst-nat-rule-name", "protocol-id", "policy-name", "source-zone-name",
    "destination-zone-name", "session-id-32", "username", "roles", "packet-incoming-interface",
    "application", "nested-application", "encrypted",
]

private let closeFields = ["reason"] + createFields[..<createFields.firstIndex(of: "session-id-32")!] + [
    "session-id-32", "packets-from-client", "bytes-from-client", "packets-from-server",
    "bytes-from-server", "elapsed-time", "application", "nested-application", "username", "roles",
    "packet-incoming-interface", "encrypted",
]

private let denyFields = [
    "source-address", "source-port", "destination-address", "destination-port", "connection-tag",
    "service-name", "protocol-id", "icmp-type", "policy-name", "source-zone-name",
    "destination-zone-name", "application", "nested-application", "username", "roles",
    "packet-incoming-interface", "encrypted", "reason", "session-id-32",
]

private let screenPortFields = [
    "attack-name", "source-address", "source-port", "destination-address", "destination-port",
    "source-zone-name", "interface-name", "action",
]

// MARK: - an RFC 5424 reader (RFC 5424 §6 ABNF, the parts Junos uses)

private struct Parsed5424 {
    var priority = -1
    var version = ""
    var timestamp = ""
    var host = ""
    var appName = ""
    var procID = ""
    var msgID = ""
    var sdID: String?
    var params: [(name: String, value: String)] = []
    var message: String?

    func value(_ name: String) -> String? { params.first { $0.name == name }?.value }
}

private func parse5424(_ line: String, file: StaticString = #filePath, line l: UInt = #line) -> Parsed5424? {
    var p = Parsed5424()
    var s = Substring(line)
    guard s.first == "<", let close = s.firstIndex(of: ">"), let pri = Int(s[s.index(after: s.startIndex)..<close]) else {
        return nil
    }
    p.priority = pri
    s = s[s.index(after: close)...]
    func token() -> String? {
        guard let sp = s.firstIndex(of: " ") else { return nil }
        defer { s = s[s.index(after: sp)...] }
        return String(s[..<sp])
    }
    guard let v = token(), let ts = token(), let h = token(), let a = token(), let pid = token(), let m = token() else {
        return nil
    }
    (p.version, p.timestamp, p.host, p.appName, p.procID, p.msgID) = (v, ts, h, a, pid, m)
    if s.first == "-" {
        s = s.dropFirst()
    } else {
        guard s.first == "[" else { return nil }
        s = s.dropFirst()
        guard let sp = s.firstIndex(where: { $0 == " " || $0 == "]" }) else { return nil }
        p.sdID = String(s[..<sp])
        s = s[sp...]
        while s.first == " " {
            s = s.dropFirst()
            guard let eq = s.firstIndex(of: "=") else { return nil }
            let name = String(s[..<eq])
            s = s[s.index(after: eq)...]
            guard s.first == "\"" else { return nil }
            s = s.dropFirst()
            var value = ""
            while let c = s.first, c != "\"" {
                s = s.dropFirst()
                if c == "\\", let next = s.first, next == "\"" || next == "\\" || next == "]" {
                    value.append(next)
                    s = s.dropFirst()
                } else {
                    guard c != "]" else { return nil } // RFC 5424: `]` must be escaped
                    value.append(c)
                }
            }
            guard s.first == "\"" else { return nil }
            s = s.dropFirst()
            p.params.append((name, value))
        }
        guard s.first == "]" else { return nil }
        s = s.dropFirst()
    }
    if s.first == " " { p.message = String(s.dropFirst()) } else if !s.isEmpty { return nil }
    return p
}

// MARK: - helpers

private func ipv4(_ s: String) -> ConfigModel.IPAddress { ConfigModel.IPAddress(s)! }

/// 2026-11-30T03:30:00.123Z in realtime nanoseconds.
private let stampNanos: UInt64 = {
    var t = tm()
    t.tm_year = 2026 - 1900
    t.tm_mon = 10
    t.tm_mday = 30
    t.tm_hour = 3
    t.tm_min = 30
    return UInt64(timegm(&t)) * 1_000_000_000 + 123_456_789
}()

/// Runs `body` with TZ set to `zone`, restoring the old TZ after.
private func withTimeZone<T>(_ zone: String, _ body: () throws -> T) rethrows -> T {
    let old = getenv("TZ").map { String(cString: $0) }
    setenv("TZ", zone, 1)
    tzset()
    defer {
        if let o = old { setenv("TZ", o, 1) } else { unsetenv("TZ") }
        tzset()
    }
    return try body()
}

private func text(_ b: SyslogLineBuffer) -> String { String(decoding: b.bytes, as: UTF8.self) }

private func sampleCreate() -> RTFlowRecord {
    var r = RTFlowRecord(kind: .sessionCreate, realtimeNanos: stampNanos, hostName: "fw1")
    r.sourceAddress = ipv4("10.0.1.10")
    r.sourcePort = 43210
    r.destinationAddress = ipv4("192.0.2.80")
    r.destinationPort = 80
    r.protocolID = 6
    r.serviceName = "junos-http"
    r.natSourceAddress = ipv4("198.51.100.7")
    r.natSourcePort = 20001
    r.natDestinationAddress = ipv4("192.0.2.80")
    r.natDestinationPort = 80
    r.sourceNATRuleType = JunosReason.sourceRule
    r.sourceNATRuleName = "snat-out"
    r.policyName = "trust-to-untrust"
    r.sourceZoneName = "trust"
    r.destinationZoneName = "untrust"
    r.sessionID = 4_000_000_123
    r.interfaceName = "ge-0/0/1.0"
    return r
}

private func sampleClose() -> RTFlowRecord {
    var r = sampleCreate()
    r.kind = .sessionClose
    r.reason = JunosReason.tcpFIN
    r.packetsFromClient = 7
    r.bytesFromClient = 512
    r.packetsFromServer = 5
    r.bytesFromServer = 9001
    r.elapsedSeconds = 42
    return r
}

private func sampleDeny() -> RTFlowRecord {
    var r = RTFlowRecord(kind: .sessionDeny, realtimeNanos: stampNanos, hostName: "fw1")
    r.sourceAddress = ipv4("10.0.1.10")
    r.sourcePort = 0
    r.destinationAddress = ipv4("192.0.2.9")
    r.destinationPort = 0
    r.protocolID = 1
    r.icmpType = 8
    r.serviceName = "icmp"
    r.policyName = "deny-all"
    r.sourceZoneName = "trust"
    r.destinationZoneName = "untrust"
    r.interfaceName = "ge-0/0/1.0"
    r.reason = JunosReason.deniedByPolicy
    return r
}

private func sampleScreen(_ c: RTFlowRecord.ScreenClass) -> RTFlowRecord {
    var r = RTFlowRecord(kind: .screenDrop, realtimeNanos: stampNanos, hostName: "fw1")
    r.screenClass = c
    r.attackName = "SYN flood!"
    r.sourceAddress = ipv4("203.0.113.5")
    r.sourcePort = 40001
    r.destinationAddress = ipv4("10.0.1.10")
    r.destinationPort = 443
    r.protocolID = 17
    r.sourceZoneName = "untrust"
    r.interfaceName = "ge-0/0/0.0"
    r.action = "drop"
    return r
}

final class RTFlowTests: XCTestCase {
    override func setUp() { continueAfterFailure = false }

    /// Formats `r` in the structured form, parses it and checks the header.
    private func structured(_ r: RTFlowRecord, brief: Bool = true, app: String, msgID: String, pri: Int) -> Parsed5424 {
        let f = RTFlowFormatter()
        let b = SyslogLineBuffer()
        f.appendStructured(r, brief: brief, to: b)
        let line = text(b)
        guard let p = parse5424(line) else {
            XCTFail("not RFC 5424: \(line)")
            return Parsed5424()
        }
        XCTAssertEqual(p.priority, pri)
        XCTAssertEqual(p.version, "1")
        XCTAssertEqual(p.host, "fw1")
        XCTAssertEqual(p.appName, app)
        XCTAssertEqual(p.procID, "-")
        XCTAssertEqual(p.msgID, msgID)
        return p
    }

    private func assertParams(_ p: Parsed5424, _ expected: [(String, String)], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(p.sdID, "junos@2636.1.1.1.2.129", file: file, line: line)
        XCTAssertEqual(p.params.map(\.name), expected.map(\.0), "SD-PARAM names and order", file: file, line: line)
        for (got, want) in zip(p.params, expected) {
            XCTAssertEqual(got.value, want.1, "value of \(want.0)", file: file, line: line)
        }
    }

    // MARK: structured form, field by field

    func testCreateStructuredFieldByField() {
        let p = withTimeZone("UTC0") { structured(sampleCreate(), app: "RT_FLOW", msgID: "RT_FLOW_SESSION_CREATE", pri: 14) }
        XCTAssertEqual(p.timestamp, "2026-11-30T03:30:00.123+00:00")
        XCTAssertNil(p.message, "brief: no text after the structured data")
        XCTAssertEqual(p.params.map(\.name), createFields)
        assertParams(p, [
            ("source-address", "10.0.1.10"), ("source-port", "43210"), ("destination-address", "192.0.2.80"),
            ("destination-port", "80"), ("connection-tag", "0"), ("service-name", "junos-http"),
            ("nat-source-address", "198.51.100.7"), ("nat-source-port", "20001"),
            ("nat-destination-address", "192.0.2.80"), ("nat-destination-port", "80"), ("nat-connection-tag", "0"),
            ("src-nat-rule-type", "source rule"), ("src-nat-rule-name", "snat-out"), ("dst-nat-rule-type", "N/A"),
            ("dst-nat-rule-name", "N/A"), ("protocol-id", "6"), ("policy-name", "trust-to-untrust"),
            ("source-zone-name", "trust"), ("destination-zone-name", "untrust"), ("session-id-32", "4000000123"),
            ("username", "N/A"), ("roles", "N/A"), ("packet-incoming-interface", "ge-0/0/1.0"),
            ("application", "UNKNOWN"), ("nested-application", "UNKNOWN"), ("encrypted", "UNKNOWN"),
        ])
    }

    func testCloseStructuredFieldByField() {
        let p = withTimeZone("UTC0") { structured(sampleClose(), app: "RT_FLOW", msgID: "RT_FLOW_SESSION_CLOSE", pri: 14) }
        XCTAssertEqual(p.params.map(\.name), closeFields)
        assertParams(p, [
            ("reason", "TCP FIN"), ("source-address", "10.0.1.10"), ("source-port", "43210"),
            ("destination-address", "192.0.2.80"), ("destination-port", "80"), ("connection-tag", "0"),
            ("service-name", "junos-http"), ("nat-source-address", "198.51.100.7"), ("nat-source-port", "20001"),
            ("nat-destination-address", "192.0.2.80"), ("nat-destination-port", "80"), ("nat-connection-tag", "0"),
            ("src-nat-rule-type", "source rule"), ("src-nat-rule-name", "snat-out"), ("dst-nat-rule-type", "N/A"),
            ("dst-nat-rule-name", "N/A"), ("protocol-id", "6"), ("policy-name", "trust-to-untrust"),
            ("source-zone-name", "trust"), ("destination-zone-name", "untrust"), ("session-id-32", "4000000123"),
            ("packets-from-client", "7"), ("bytes-from-client", "512"), ("packets-from-server", "5"),
            ("bytes-from-server", "9001"), ("elapsed-time", "42"), ("application", "UNKNOWN"),
            ("nested-application", "UNKNOWN"), ("username", "N/A"), ("roles", "N/A"),
            ("packet-incoming-interface", "ge-0/0/1.0"), ("encrypted", "UNKNOWN"),
        ])
    }

    func testDenyStructuredFieldByField() {
        var r = sampleDeny()
        r.reason = JunosReason.rejectedByPolicy
        let p = withTimeZone("UTC0") { structured(r, app: "RT_FLOW", msgID: "RT_FLOW_SESSION_DENY", pri: 14) }
        XCTAssertEqual(p.params.map(\.name), denyFields)
        assertParams(p, [
            ("source-address", "10.0.1.10"), ("source-port", "0"), ("destination-address", "192.0.2.9"),
            ("destination-port", "0"), ("connection-tag", "0"), ("service-name", "icmp"), ("protocol-id", "1"),
            ("icmp-type", "8"), ("policy-name", "deny-all"), ("source-zone-name", "trust"),
            ("destination-zone-name", "untrust"), ("application", "UNKNOWN"), ("nested-application", "UNKNOWN"),
            ("username", "N/A"), ("roles", "N/A"), ("packet-incoming-interface", "ge-0/0/1.0"),
            ("encrypted", "UNKNOWN"), ("reason", "Rejected by policy"), ("session-id-32", "0"),
        ])
    }

    func testScreenStructuredPerClass() {
        let tcp = structured(sampleScreen(.tcp), app: "RT_IDS", msgID: "RT_SCREEN_TCP", pri: 12)
        XCTAssertEqual(tcp.params.map(\.name), screenPortFields)
        assertParams(tcp, [
            ("attack-name", "SYN flood!"), ("source-address", "203.0.113.5"), ("source-port", "40001"),
            ("destination-address", "10.0.1.10"), ("destination-port", "443"), ("source-zone-name", "untrust"),
            ("interface-name", "ge-0/0/0.0"), ("action", "drop"),
        ])
        let udp = structured(sampleScreen(.udp), app: "RT_IDS", msgID: "RT_SCREEN_UDP", pri: 12)
        XCTAssertEqual(udp.params.map(\.name), screenPortFields)
        let ip = structured(sampleScreen(.ip), app: "RT_IDS", msgID: "RT_SCREEN_IP", pri: 12)
        assertParams(ip, [
            ("attack-name", "SYN flood!"), ("source-address", "203.0.113.5"), ("destination-address", "10.0.1.10"),
            ("protocol-id", "17"), ("source-zone-name", "untrust"), ("interface-name", "ge-0/0/0.0"), ("action", "drop"),
        ])
        let icmp = structured(sampleScreen(.icmp), app: "RT_IDS", msgID: "RT_SCREEN_ICMP", pri: 12)
        XCTAssertEqual(icmp.params.map(\.name), [
            "attack-name", "source-address", "destination-address", "source-zone-name", "interface-name", "action",
        ])
    }

    /// Non-brief structured data is followed by the legacy text, as an SRX writes it.
    func testStructuredWithoutBriefAppendsText() throws {
        try withTimeZone("UTC0") {
            let f = RTFlowFormatter()
            let b = SyslogLineBuffer()
            f.appendStructured(sampleClose(), brief: false, to: b)
            let p = try XCTUnwrap(parse5424(text(b)))
            XCTAssertEqual(p.params.count, closeFields.count)
            let t = SyslogLineBuffer()
            f.appendText(sampleClose(), to: t)
            XCTAssertEqual(p.message, text(t))
            XCTAssertTrue(p.message!.hasPrefix("session closed TCP FIN: 10.0.1.10/43210->192.0.2.80/80 0x0 junos-http"))
        }
    }

    func testFilterLogAndExceptionsHaveNilSDAndText() {
        var r = RTFlowRecord(kind: .filterLog, realtimeNanos: stampNanos, hostName: "fw1")
        r.interfaceName = "ge-0/0/1.0"
        r.action = "discard"
        r.protocolID = 6
        r.sourceAddress = ipv4("10.0.1.10")
        r.destinationAddress = ipv4("192.0.2.80")
        r.sourcePort = 1234
        r.destinationPort = 22
        let p = structured(r, brief: true, app: "fpc0", msgID: "PFE_FW_SYSLOG_IP", pri: 174)
        XCTAssertNil(p.sdID)
        XCTAssertEqual(p.message, "FW: ge-0/0/1.0 D tcp 10.0.1.10 192.0.2.80 1234 22 (1 packets)")
        r.action = "accept"
        r.protocolID = 89
        r.packetCount = 3
        XCTAssertEqual(structured(r, app: "fpc0", msgID: "PFE_FW_SYSLOG_IP", pri: 174).message,
                       "FW: ge-0/0/1.0 A ospf 10.0.1.10 192.0.2.80 1234 22 (3 packets)")
        r.protocolID = 253
        r.action = "reject"
        XCTAssertEqual(structured(r, app: "fpc0", msgID: "PFE_FW_SYSLOG_IP", pri: 174).message,
                       "FW: ge-0/0/1.0 R 253 10.0.1.10 192.0.2.80 1234 22 (3 packets)")

        var n = RTFlowRecord(kind: .natException, realtimeNanos: stampNanos, hostName: "fw1")
        n.worker = 3
        n.ruleName = "snat-out"
        n.poolName = "pool-a"
        n.detail = "no free port"
        let np = structured(n, app: "xpfd", msgID: "XPF_NAT_EXCEPTION", pri: 12)
        XCTAssertNil(np.sdID)
        XCTAssertEqual(np.message, "NAT exception: worker 3 rule snat-out pool pool-a: no free port")
        var t = RTFlowRecord(kind: .tableFull, realtimeNanos: stampNanos, hostName: "fw1")
        t.worker = 1
        t.detail = "1048576 sessions"
        XCTAssertEqual(structured(t, app: "xpfd", msgID: "XPF_SESSION_TABLE_FULL", pri: 12).message,
                       "session table full: worker 1: 1048576 sessions")
    }

    // MARK: escaping, addresses, timestamps

    func testParamValuesEscapedPerRFC5424() throws {
        var r = sampleCreate()
        r.policyName = #"a"b\c]d"#
        r.sourceZoneName = "plain[zone"
        let f = RTFlowFormatter()
        let b = SyslogLineBuffer()
        f.appendStructured(r, brief: true, to: b)
        let line = text(b)
        XCTAssertTrue(line.contains(#"policy-name="a\"b\\c\]d""#), line)
        XCTAssertTrue(line.contains(#"source-zone-name="plain[zone""#), "`[` is not escaped: \(line)")
        let p = try XCTUnwrap(parse5424(line))
        XCTAssertEqual(p.value("policy-name"), #"a"b\c]d"#)
        XCTAssertEqual(p.value("source-zone-name"), "plain[zone")
        XCTAssertEqual(p.params.map(\.name), createFields)
    }

    func testAddressesMatchCanonicalText() {
        let samples = ["0.0.0.0", "255.255.255.255", "10.0.1.10", "::", "::1", "2001:db8::1", "fe80::1:2:3:4",
                       "2001:db8:0:0:1:0:0:1", "2001:0:0:1::", "1:2:3:4:5:6:7:8", "::ffff:0:1", "2001:db8::"]
        let b = SyslogLineBuffer()
        for s in samples {
            let a = ConfigModel.IPAddress(s)!
            b.reset()
            b.appendAddress(a)
            XCTAssertEqual(text(b), a.description, s)
        }
        b.reset()
        b.appendAddress(ConfigModel.IPAddress("2001:db8:0:0:1:0:0:1")!)
        XCTAssertEqual(text(b), "2001:db8::1:0:0:1", "the first of equal zero runs becomes ::")
    }

    func testDecimalsAndHex() {
        let b = SyslogLineBuffer(capacity: 8) // small: every append must grow it correctly
        var want = ""
        for v: UInt64 in [0, 9, 10, 99, 100, 101, 999, 1000, 65535, 4_294_967_295, 9_999_999_999_999_999_999,
                          10_000_000_000_000_000_000, UInt64.max]
        {
            b.appendDecimal(v)
            b.append(UInt8(ascii: " "))
            want += "\(v) "
        }
        for v: UInt32 in [0, 0x1f, 0xdead_beef] {
            b.appendHex(v)
            b.append(UInt8(ascii: " "))
            want += "0x" + String(v, radix: 16) + " "
        }
        XCTAssertEqual(text(b), want)
    }

    func testTimestampMillisecondsAndOffsets() {
        let b = SyslogLineBuffer()
        for (zone, want) in [("UTC0", "2026-11-30T03:30:00.123+00:00"), ("IST-5:30", "2026-11-30T09:00:00.123+05:30"),
                             ("PST8", "2026-11-29T19:30:00.123-08:00"), ("NPT-5:45", "2026-11-30T09:15:00.123+05:45")]
        {
            withTimeZone(zone) {
                b.reset()
                RTFlowFormatter().appendTimestamp(stampNanos, to: b)
                XCTAssertEqual(text(b), want, zone)
            }
        }
        withTimeZone("UTC0") {
            let f = RTFlowFormatter()
            b.reset()
            f.appendTimestamp(stampNanos - 123_456_789 + 7_000_000, to: b)
            XCTAssertEqual(text(b), "2026-11-30T03:30:00.007+00:00", "milliseconds zero padded")
            b.reset()
            f.appendTimestamp(stampNanos + 1_000_000_000, to: b)
            XCTAssertEqual(text(b), "2026-11-30T03:30:01.123+00:00", "the cached second moves on")
            b.reset()
            f.appendBSDTimestamp(stampNanos - 29 * 86_400 * 1_000_000_000, to: b)
            XCTAssertEqual(text(b), "Nov  1 03:30:00", "BSD day is space padded")
        }
    }

    // MARK: legacy lines

    func testLegacyLines() {
        withTimeZone("UTC0") {
            let f = RTFlowFormatter()
            let b = SyslogLineBuffer()
            func legacy(_ r: RTFlowRecord, priority: Bool = false) -> String {
                b.reset()
                f.appendLegacy(r, withPriority: priority, to: b)
                return text(b)
            }
            XCTAssertEqual(legacy(sampleCreate()),
                           "Nov 30 03:30:00 fw1 RT_FLOW: RT_FLOW_SESSION_CREATE: session created "
                               + "10.0.1.10/43210->192.0.2.80/80 0x0 junos-http 198.51.100.7/20001->192.0.2.80/80 0x0 "
                               + "source rule snat-out N/A N/A 6 trust-to-untrust trust untrust 4000000123 N/A(N/A) "
                               + "ge-0/0/1.0 UNKNOWN UNKNOWN UNKNOWN")
            XCTAssertEqual(legacy(sampleClose(), priority: true),
                           "<14>Nov 30 03:30:00 fw1 RT_FLOW: RT_FLOW_SESSION_CLOSE: session closed TCP FIN: "
                               + "10.0.1.10/43210->192.0.2.80/80 0x0 junos-http 198.51.100.7/20001->192.0.2.80/80 0x0 "
                               + "source rule snat-out N/A N/A 6 trust-to-untrust trust untrust 4000000123 7(512) 5(9001) 42 "
                               + "UNKNOWN UNKNOWN N/A(N/A) ge-0/0/1.0 UNKNOWN")
            XCTAssertEqual(legacy(sampleDeny()),
                           "Nov 30 03:30:00 fw1 RT_FLOW: RT_FLOW_SESSION_DENY: session denied "
                               + "10.0.1.10/0->192.0.2.9/0 0x0 icmp 1(8) deny-all trust untrust UNKNOWN UNKNOWN N/A(N/A) "
                               + "ge-0/0/1.0 UNKNOWN Denied by policy 0")
            XCTAssertEqual(legacy(sampleScreen(.tcp)),
                           "Nov 30 03:30:00 fw1 RT_IDS: RT_SCREEN_TCP: SYN flood! source: 203.0.113.5:40001, "
                               + "destination: 10.0.1.10:443, zone name: untrust, interface name: ge-0/0/0.0, action: drop")
            XCTAssertEqual(legacy(sampleScreen(.ip)),
                           "Nov 30 03:30:00 fw1 RT_IDS: RT_SCREEN_IP: SYN flood! source: 203.0.113.5, "
                               + "destination: 10.0.1.10, protocol-id: 17, zone name: untrust, interface name: ge-0/0/0.0, action: drop")
            var fl = RTFlowRecord(kind: .filterLog, realtimeNanos: stampNanos, hostName: "fw1")
            fl.interfaceName = "lo0.0"
            fl.action = "discard"
            fl.protocolID = 17
            fl.sourceAddress = ipv4("10.0.0.1")
            fl.destinationAddress = ipv4("10.0.0.2")
            fl.sourcePort = 53
            fl.destinationPort = 5353
            XCTAssertEqual(legacy(fl), "Nov 30 03:30:00 fw1 fpc0 PFE_FW_SYSLOG_IP: FW: lo0.0 D udp 10.0.0.1 10.0.0.2 53 5353 (1 packets)")
            var r = sampleCreate()
            r.sourceAddress = ConfigModel.IPAddress("2001:db8::10")!
            r.destinationAddress = ConfigModel.IPAddress("2001:db8:1::80")!
            r.setUntranslated()
            r.connectionTag = 0x1f
            r.natConnectionTag = 0x1f
            XCTAssertTrue(legacy(r).contains("session created 2001:db8::10/43210->2001:db8:1::80/80 0x1f junos-http "
                    + "2001:db8::10/43210->2001:db8:1::80/80 0x1f N/A N/A N/A N/A 6 "), legacy(r))
        }
    }

    // MARK: selectors

    func testSelectorsFollowJunosSemantics() throws {
        func admitted(_ sel: [(ConfigModel.SyslogFacility, ConfigModel.SyslogSeverity)]) throws -> [RTFlowRecord.Kind] {
            let s = try SyslogSelection(content: .init(selectors: sel.map { .init(facility: $0.0, severity: $0.1) }))
            return RTFlowRecord.Kind.allCases.filter { s.admits($0) }
        }
        XCTAssertEqual(try admitted([(.any, .any)]), RTFlowRecord.Kind.allCases)
        XCTAssertEqual(try admitted([(.any, .any), (.user, .none)]), [.filterLog], "a named facility overrides any")
        XCTAssertEqual(try admitted([(.user, .info)]), [.sessionCreate, .sessionClose, .sessionDeny, .screenDrop, .natException, .tableFull])
        XCTAssertEqual(try admitted([(.user, .warning)]), [.screenDrop, .natException, .tableFull])
        XCTAssertEqual(try admitted([(.firewall, .any)]), [.filterLog])
        XCTAssertEqual(try admitted([(.any, .error)]), [])
        XCTAssertEqual(try admitted([]), [])
        XCTAssertThrowsError(try SyslogSelection(content: .init(selectors: [], match: "(unclosed")))
    }

    // MARK: writers

    private var tmpDir = ""

    private func makeTmpDir() -> String {
        var template = Array("/tmp/xpf-rtflow-XXXXXX".utf8CString)
        let p = mkdtemp(&template)!
        tmpDir = String(cString: p)
        return tmpDir
    }

    override func tearDown() {
        if !tmpDir.isEmpty {
            _ = system("rm -rf '\(tmpDir)'")
            tmpDir = ""
        }
    }

    private func readFile(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            out += buf[..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    private func fileSize(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    private static let anyAny = [ConfigModel.SyslogSelector(facility: .any, severity: .any)]

    func testFileWrittenAndRotated() throws {
        let dir = makeTmpDir()
        let rotation = SyslogFileRotation(files: 3, size: 4096)
        let router = try SyslogRouter(
            syslog: .init(files: [.init(name: "traffic", content: .init(selectors: Self.anyAny, structuredData: true, brief: true))]),
            logDirectory: dir, defaultRotation: rotation, report: { _ in })
        let path = dir + "/traffic"
        let total = 60
        for i in 0..<total {
            var r = sampleCreate()
            r.sessionID = UInt64(i)
            router.route(r)
            // One flush per 4 lines: batches of about 2.5 KB.
            if i % 4 == 3 { router.flush() }
        }
        router.flush()
        let b = SyslogLineBuffer()
        RTFlowFormatter().appendStructured(sampleCreate(), brief: true, to: b)
        let lineLength = b.count + 1
        XCTAssertEqual(router.statistics[0].written, UInt64(total))
        XCTAssertEqual(router.statistics[0].failed, 0)
        // 60 lines of ~640 bytes, 4096-byte files in batches of 4: the live file plus all 3 archives.
        for name in [path, path + ".0", path + ".1", path + ".2"] {
            let size = try XCTUnwrap(fileSize(name), "\(name) missing")
            XCTAssertLessThanOrEqual(size, rotation.size + 4 * lineLength, name)
            XCTAssertGreaterThan(size, 0, name)
        }
        XCTAssertNil(fileSize(path + ".3"), "only `files` archives are kept")
        // The newest lines are in the live file, each a valid RFC 5424 line, in order.
        let live = try XCTUnwrap(readFile(path)).split(separator: "\n").map(String.init)
        let ids = live.compactMap { parse5424($0)?.value("session-id-32") }
        XCTAssertEqual(ids.count, live.count)
        XCTAssertEqual(ids.last, String(total - 1))
        let archived = [path + ".2", path + ".1", path + ".0", path].flatMap { (readFile($0) ?? "").split(separator: "\n") }
        let allIDs = archived.compactMap { parse5424(String($0))?.value("session-id-32").flatMap { Int($0) } }
        XCTAssertEqual(allIDs, Array((total - allIDs.count)..<total), "archives hold the newest lines, oldest first")
    }

    func testUnwritableFileCountedAndRetriedOncePerSecond() throws {
        let dir = makeTmpDir() + "/not-yet"
        var reports: [String] = []
        let router = try SyslogRouter(
            syslog: .init(files: [.init(name: "f", content: .init(selectors: Self.anyAny))]),
            logDirectory: dir, report: { reports.append($0) })
        let t0: UInt64 = 1_000_000_000_000
        router.route(sampleCreate(), now: t0)
        router.route(sampleClose(), now: t0)
        router.flush(now: t0)
        var s = router.statistics[0]
        XCTAssertEqual(s.written, 0)
        XCTAssertEqual(s.failed, 2)
        XCTAssertEqual(s.lastError, ENOENT)
        XCTAssertEqual(reports.count, 1, "reported once")
        XCTAssertTrue(reports[0].contains("file f") && reports[0].contains("open"), reports[0])
        // The directory appears, but within the second no open is tried: still failing, silently.
        XCTAssertEqual(mkdir(dir, 0o755), 0)
        router.route(sampleCreate(), now: t0 + 500_000_000)
        router.flush(now: t0 + 500_000_000)
        s = router.statistics[0]
        XCTAssertEqual(s.failed, 3)
        XCTAssertEqual(s.written, 0)
        XCTAssertEqual(reports.count, 1)
        // A second after the failed open it is retried and works; recovery is reported once.
        router.route(sampleCreate(), now: t0 + 1_600_000_000)
        router.flush(now: t0 + 1_600_000_000)
        s = router.statistics[0]
        XCTAssertEqual(s.written, 1)
        XCTAssertEqual(s.failed, 3)
        XCTAssertEqual(reports.count, 2)
        XCTAssertTrue(reports[1].contains("delivering again"), reports[1])
        XCTAssertEqual(try XCTUnwrap(readFile(dir + "/f")).split(separator: "\n").count, 1)
    }

    func testFullDiskCountedNotThrown() throws {
        // /dev/full: every write fails with ENOSPC.
        guard access("/dev/full", W_OK) == 0 else { throw XCTSkip("no /dev/full") }
        var reports: [String] = []
        let router = try SyslogRouter(
            syslog: .init(files: [.init(name: "full", content: .init(selectors: Self.anyAny))]),
            logDirectory: "/dev", report: { reports.append($0) })
        router.route(sampleCreate())
        router.route(sampleClose())
        router.flush()
        XCTAssertEqual(router.statistics[0].failed, 2)
        XCTAssertEqual(router.statistics[0].written, 0)
        XCTAssertEqual(router.statistics[0].lastError, ENOSPC)
        XCTAssertEqual(reports.count, 1)
    }

    /// A bound, non-blocking UDP socket on the loopback of `family`; returns (fd, port).
    private func udpReceiver(_ family: Int32) throws -> (Int32, UInt16) {
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        let loop = family == AF_INET ? ipv4("127.0.0.1") : ConfigModel.IPAddress("::1")!
        XCTAssertEqual(SyslogDatagramDestination.withSockaddr(loop, 0) { bind(fd, $0, $1) }, 0)
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = withUnsafeBytes(of: &ss) { raw in UInt16(bigEndian: raw.load(fromByteOffset: 2, as: UInt16.self)) }
        return (fd, port)
    }

    /// Up to `count` datagrams, polling every 10 ms for at most `polls` times (2 s).
    private func receive(_ fd: Int32, count: Int, polls: Int = 200) -> [String] {
        var out: [String] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<polls where out.count < count {
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 { out.append(String(decoding: buf[..<n], as: UTF8.self)); continue }
            usleep(10_000)
        }
        return out
    }

    func testUDPHostReceivesLinesIPv4AndIPv6() throws {
        for family in [AF_INET, AF_INET6] {
            let (rx, port) = try udpReceiver(family)
            defer { close(rx) }
            let address = family == AF_INET ? ipv4("127.0.0.1") : ConfigModel.IPAddress("::1")!
            let router = try SyslogRouter(
                syslog: .init(hosts: [.init(address: address, port: port,
                                            content: .init(selectors: Self.anyAny, structuredData: true, brief: true))]),
                logDirectory: "/nonexistent", report: { _ in })
            router.route(sampleCreate())
            router.route(sampleClose())
            router.route(sampleDeny())
            router.flush()
            let got = receive(rx, count: 3)
            XCTAssertEqual(got.count, 3, "family \(family)")
            let parsed = got.compactMap { parse5424($0) }
            XCTAssertEqual(parsed.map(\.msgID), ["RT_FLOW_SESSION_CREATE", "RT_FLOW_SESSION_CLOSE", "RT_FLOW_SESSION_DENY"])
            XCTAssertEqual(parsed[0].params.map(\.name), createFields)
            XCTAssertEqual(parsed[1].params.map(\.name), closeFields)
            XCTAssertEqual(parsed[2].params.map(\.name), denyFields)
            XCTAssertFalse(got[0].hasSuffix("\n"), "one message per datagram, no newline")
            XCTAssertEqual(router.statistics[0].written, 3)
            XCTAssertEqual(router.statistics[0].name, family == AF_INET ? "host \(address):\(port)" : "host [\(address)]:\(port)",
                           "an IPv6 address in brackets, so the port reads apart")
        }
    }

    func testUnreachableUDPPortCountedAfterConnectionRefused() throws {
        let (probe, port) = try udpReceiver(AF_INET)
        close(probe) // nobody listens on `port` now: the kernel answers with port unreachable
        var reports: [String] = []
        let router = try SyslogRouter(
            syslog: .init(hosts: [.init(address: ipv4("127.0.0.1"), port: port, content: .init(selectors: Self.anyAny))]),
            logDirectory: "/nonexistent", report: { reports.append($0) })
        var flushes = 0
        while router.statistics[0].failed == 0 && flushes < 100 {
            router.route(sampleCreate())
            router.flush()
            flushes += 1
            usleep(1000)
        }
        let s = router.statistics[0]
        XCTAssertGreaterThan(s.failed, 0, "ECONNREFUSED counted within \(flushes) flushes")
        XCTAssertEqual(s.lastError, ECONNREFUSED)
        XCTAssertEqual(s.written + s.failed, UInt64(flushes), "every line is accounted for")
        // More refusals stay in the same episode: one report.
        for _ in 0..<20 {
            router.route(sampleCreate())
            router.flush()
            usleep(1000)
        }
        XCTAssertEqual(reports.count, 1, reports.joined(separator: "\n"))
    }

    func testUnixDatagramSocketReceivesLegacyLinesWithPriority() throws {
        let dir = makeTmpDir()
        let path = dir + "/log.sock"
        let rx = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        defer { close(rx) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        copyCString(path, into: &addr.sun_path)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(rx, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(rc, 0)
        let router = try SyslogRouter(
            syslog: .init(sockets: [.init(path: path, content: .init(selectors: Self.anyAny))]),
            logDirectory: dir, report: { _ in })
        router.route(sampleScreen(.tcp))
        router.flush()
        let got = receive(rx, count: 1)
        XCTAssertEqual(got.count, 1)
        XCTAssertTrue(got[0].hasPrefix("<12>"), got[0])
        XCTAssertTrue(got[0].contains(" RT_IDS: RT_SCREEN_TCP: SYN flood! source: 203.0.113.5:40001,"), got[0])
    }

    /// A unix datagram socket bound at `path` (non-blocking).
    private func unixReceiver(_ path: String) -> Int32 {
        let rx = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        copyCString(path, into: &addr.sun_path)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(rx, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(rc, 0)
        return rx
    }

    /// The local syslog daemon restarts: sends fail (counted, reported once), the socket is
    /// reconnected no sooner than a second later, and lines flow again.
    func testUnixSocketReceiverRestartReconnectsOncePerSecond() throws {
        let path = makeTmpDir() + "/log.sock"
        var rx = unixReceiver(path)
        var reports: [String] = []
        let router = try SyslogRouter(syslog: .init(sockets: [.init(path: path, content: .init(selectors: Self.anyAny))]),
                                      logDirectory: tmpDir, report: { reports.append($0) })
        let t0: UInt64 = 1_000_000_000_000
        router.route(sampleCreate(), now: t0)
        router.flush(now: t0)
        XCTAssertEqual(receive(rx, count: 1).count, 1)
        close(rx)
        unlink(path)
        router.route(sampleCreate(), now: t0)
        router.route(sampleClose(), now: t0)
        router.flush(now: t0)
        var s = router.statistics[0]
        XCTAssertEqual(s.written, 1)
        XCTAssertEqual(s.failed, 2, "the line that met the closed peer and the rest of the batch")
        XCTAssertEqual(s.lastError, ECONNREFUSED)
        rx = unixReceiver(path)
        defer { close(rx) }
        router.route(sampleCreate(), now: t0 + 500_000_000)
        router.flush(now: t0 + 500_000_000)
        s = router.statistics[0]
        XCTAssertEqual(s.failed, 3, "no reconnect within the second")
        XCTAssertEqual(receive(rx, count: 1, polls: 5).count, 0)
        router.route(sampleDeny(), now: t0 + 1_100_000_000)
        router.flush(now: t0 + 1_100_000_000)
        s = router.statistics[0]
        XCTAssertEqual(s.written, 2)
        XCTAssertEqual(s.failed, 3)
        let got = receive(rx, count: 1)
        XCTAssertEqual(got.count, 1)
        XCTAssertTrue(got[0].contains("RT_FLOW_SESSION_DENY"), got[0])
        XCTAssertEqual(reports.count, 1, reports.joined(separator: "\n"))
        router.route(sampleDeny(), now: t0 + 2_200_000_000)
        router.flush(now: t0 + 2_200_000_000)
        XCTAssertEqual(reports.count, 2)
        XCTAssertTrue(reports[1].contains("delivering again"), reports[1])
    }

    func testMatchSelectsLines() throws {
        let dir = makeTmpDir()
        let router = try SyslogRouter(
            syslog: .init(files: [
                .init(name: "closes", content: .init(selectors: Self.anyAny, match: "RT_FLOW_SESSION_CLOSE", structuredData: true)),
                .init(name: "fin", content: .init(selectors: Self.anyAny, match: "reason=\"TCP (FIN|RST)\"", structuredData: true)),
                .init(name: "all", content: .init(selectors: Self.anyAny)),
            ]),
            logDirectory: dir, report: { _ in })
        var rst = sampleClose()
        rst.reason = JunosReason.idleTimeout
        for r in [sampleCreate(), sampleClose(), sampleDeny(), rst] { router.route(r) }
        router.flush()
        let closes = try XCTUnwrap(readFile(dir + "/closes")).split(separator: "\n")
        XCTAssertEqual(closes.count, 2)
        XCTAssertTrue(closes.allSatisfy { $0.contains(" RT_FLOW_SESSION_CLOSE [") })
        let fin = try XCTUnwrap(readFile(dir + "/fin")).split(separator: "\n")
        XCTAssertEqual(fin.count, 1)
        XCTAssertEqual(parse5424(String(fin[0]))?.value("reason"), "TCP FIN")
        XCTAssertEqual(try XCTUnwrap(readFile(dir + "/all")).split(separator: "\n").count, 4)
        XCTAssertEqual(router.statistics.map(\.written), [2, 1, 4])
    }

    // MARK: configuration

    /// The corpus file's `security log` and `archive` reach the model as written.
    func testSecurityLogAndArchiveCompile() throws {
        let here = String(#filePath)
        let path = String(here[..<here.lastIndex(of: "/")!]) + "/ConfigCorpus/good/security-log.conf"
        let (_, m) = try ConfigModel.load(text: try XCTUnwrap(readFile(path)), file: "good/security-log.conf")
        XCTAssertEqual(m.syslog.files, [.init(
            name: "traffic", content: .init(selectors: Self.anyAny, match: "RT_FLOW", structuredData: true),
            archive: .init(files: 5, size: 10_000_000))])
        XCTAssertEqual(m.securityLog, ConfigModel.SecurityLog(
            mode: .stream, format: .sdSyslog,
            streams: [.init(name: "siem", address: ipv4("192.0.2.50"), port: 5514),
                      .init(name: "legacy-collector", format: .syslog, address: ConfigModel.IPAddress("2001:db8::50")!, port: 514)],
            file: .init(name: "security-events", size: 10_000_000, files: 4)))
        let router = try SyslogRouter(syslog: m.syslog, securityLog: m.securityLog, logDirectory: "/nonexistent",
                                      report: { _ in })
        XCTAssertEqual(router.statistics.map(\.name), [
            "file traffic", "stream siem", "stream legacy-collector", "security log file security-events",
        ])
        XCTAssertEqual(router.destinations.map(\.format), [.structured, .structuredBrief, .legacy, .structuredBrief])
    }

    /// Stream mode: the stream and the security log file get RT_FLOW/RT_IDS events only;
    /// a syslog file with `archive` rotates at its own size.
    func testSecurityLogStreamFileAndArchiveRotation() throws {
        let dir = makeTmpDir()
        let (rx, port) = try udpReceiver(AF_INET)
        defer { close(rx) }
        let router = try SyslogRouter(
            syslog: .init(files: [.init(name: "traffic", content: .init(selectors: Self.anyAny),
                                        archive: .init(files: 2, size: 64_000))]),
            securityLog: .init(mode: .stream, format: .sdSyslog,
                               streams: [.init(name: "s", address: ipv4("127.0.0.1"), port: port)],
                               file: .init(name: "sec", size: 1_000_000, files: 2)),
            logDirectory: dir, report: { _ in })
        var filter = RTFlowRecord(kind: .filterLog, realtimeNanos: stampNanos, hostName: "fw1")
        filter.action = "accept"
        router.route(sampleDeny())
        router.route(filter)
        router.route(RTFlowRecord(kind: .tableFull, realtimeNanos: stampNanos, hostName: "fw1"))
        router.route(sampleScreen(.tcp))
        router.flush()
        let got = receive(rx, count: 2)
        XCTAssertEqual(got.compactMap { parse5424($0)?.msgID }, ["RT_FLOW_SESSION_DENY", "RT_SCREEN_TCP"])
        XCTAssertTrue(got.allSatisfy { parse5424($0)?.message == nil }, "sd-syslog streams are brief")
        let sec = try XCTUnwrap(readFile(dir + "/sec")).split(separator: "\n").compactMap { parse5424(String($0))?.msgID }
        XCTAssertEqual(sec, ["RT_FLOW_SESSION_DENY", "RT_SCREEN_TCP"])
        XCTAssertEqual(router.statistics.map(\.written), [4, 2, 2])
        // ~330-byte legacy lines, 64 000-byte archive files: 500 lines rotate at least twice.
        for _ in 0..<50 {
            for _ in 0..<10 { router.route(sampleCreate()) }
            router.flush()
        }
        for name in ["traffic", "traffic.0", "traffic.1"] {
            let size = try XCTUnwrap(fileSize(dir + "/" + name), name)
            XCTAssertLessThanOrEqual(size, 64_000 + 10 * 400, name)
        }
        XCTAssertNil(fileSize(dir + "/traffic.2"))
    }
}

