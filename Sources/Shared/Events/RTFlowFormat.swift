// RT_FLOW lines exactly as an SRX writes them (R-9.3), formatted by hand into a reused byte
// buffer: no Foundation, no String per field (integers and addresses are written digit by
// digit; names are copied from their UTF-8 storage).
//
// Two forms, both without a trailing newline (the writers add the framing: '\n' in files,
// one datagram per line on sockets):
//
// Structured (RFC 5424; `structured-data` in `system syslog`, `format sd-syslog` in
// `security log`):
//   <14>1 2026-11-30T03:30:00.123+00:00 fw1 RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.129 source-address="10.0.0.1" …]
// followed, unless `brief`, by one space and the legacy message text (an SRX repeats the
// English text after the structured part; `structured-data { brief; }` and the security
// log stream leave it out).
//
// Legacy (BSD style; `file` without `structured-data`):
//   Nov 30 03:30:00 fw1 RT_FLOW: RT_FLOW_SESSION_CREATE: session created 10.0.0.1/1234->10.0.0.2/80 0x0 None …
// with `<PRI>` in front when sent to a host or socket (RFC 3164), without it in files.
//
// Facts this follows (from SRX lines of releases 15.1 and later, SD-ID
// junos@2636.1.1.1.2.129): RT_FLOW goes out as facility user, severity info (`<14>`); the
// PROCID is `-`; CREATE/CLOSE/DENY field names and order are those of the issue (R-9.3);
// the connection tag is `"0"` in structured data and `0x0` in the text; the text form writes
// `user(roles)` and `packets(bytes)` pairs; screen texts read `ATTACK source: A:P,
// destination: A:P, zone name: Z, interface name: I, action: X`. IPv6 addresses are written
// in RFC 5952 form (recent SRX releases do; some old ones wrote all eight groups in full).
//
// Decisions where Junos gives no RT_FLOW line:
// - Filter log: Junos's `then syslog` writes `PFE_FW_SYSLOG_IP` from the PFE (message source
//   `fpc0`, facility firewall, severity info) with the text
//   `FW: IFACE A|D|R PROTO SRC DST SPORT DPORT (N packets)`. xpf writes the same text with
//   single spaces (Junos pads columns; parsers split on white space). Junos has no SD
//   parameters for it, so the structured form carries SD `-` and the text as MSG (also when
//   brief). Filter and term names are not in the Junos line and are not written.
// - natException / tableFull: xpf's own MSGIDs XPF_NAT_EXCEPTION and XPF_SESSION_TABLE_FULL,
//   APP-NAME `xpfd`, SD `-`, severity warning; the text says what ran out.
//
// Cost (`xpf-bench --rtflow 1000000`, release, this 2-core VM shared with other builds,
// load 4–5): 450–610 k CREATE/CLOSE lines per second formatted and written to a file (about
// 1.7–2.2 µs per 815-byte line, one write(2) per 256 lines), against 1.8–2.6 M for a plain
// loop writing fixed lines of the same length (ratio 0.2–0.3). Escaping scans before it
// copies, and decimals go two digits per division: the first version (byte-wise escaping,
// one digit per division, three appends per SD-PARAM head) ran at 363 k. The timestamp
// text is rebuilt (localtime_r) only when the second changes.

#if canImport(Glibc)
import Glibc
#endif

// MARK: - priorities

/// RFC 5424 §6.2.1 facility and severity numbers; PRI = facility × 8 + severity.
public enum SyslogPriority {
    public static let facilityUser: UInt8 = 1
    /// The wire facility of Junos's `firewall` facility as observed on PFE_FW_SYSLOG_IP lines.
    public static let facilityLocal5: UInt8 = 21
    public static let severityWarning: UInt8 = 4
    public static let severityInfo: UInt8 = 6

    /// `<14>`: RT_FLOW_SESSION_CREATE/CLOSE/DENY (Junos: facility user, severity info).
    public static let rtFlow = facilityUser * 8 + severityInfo
    /// `<12>`: RT_SCREEN_* (user.warning; see RTFlowTests for the open point on screens).
    public static let screen = facilityUser * 8 + severityWarning
    /// `<174>`: PFE_FW_SYSLOG_IP (local5.info).
    public static let filterLog = facilityLocal5 * 8 + severityInfo
    /// `<12>`: xpf's exception lines (user.warning).
    public static let exception = facilityUser * 8 + severityWarning
}

extension RTFlowRecord.Kind {
    /// The `system syslog` facility whose selectors admit this kind.
    public var facility: ConfigModel.SyslogFacility {
        self == .filterLog ? .firewall : .user
    }

    /// The severity the selectors compare against.
    public var severity: ConfigModel.SyslogSeverity {
        switch self {
        case .sessionCreate, .sessionClose, .sessionDeny, .filterLog: return .info
        case .screenDrop, .natException, .tableFull: return .warning
        }
    }

    /// PRI (facility × 8 + severity) as written in `<PRI>`.
    public var priority: UInt8 {
        switch self {
        case .sessionCreate, .sessionClose, .sessionDeny: return SyslogPriority.rtFlow
        case .screenDrop: return SyslogPriority.screen
        case .filterLog: return SyslogPriority.filterLog
        case .natException, .tableFull: return SyslogPriority.exception
        }
    }
}

// MARK: - the byte buffer

/// A growable byte buffer reused across lines: `reset()` keeps the storage, so after the
/// first few events formatting allocates nothing.
public final class SyslogLineBuffer {
    public private(set) var count = 0
    private var capacity: Int
    private var base: UnsafeMutablePointer<UInt8>

    public static let defaultCapacity = 4096
    /// Longest decimal UInt64 (18 446 744 073 709 551 615).
    private static let maxDecimalDigits = 20

    public init(capacity: Int = SyslogLineBuffer.defaultCapacity) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// The bytes written since the last reset.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    public func reset() { count = 0 }

    @inline(__always)
    private func reserve(_ n: Int) {
        if count + n > capacity { grow(to: count + n) }
    }

    @inline(never)
    private func grow(to needed: Int) {
        var c = capacity
        while c < needed { c *= 2 }
        let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
        // Safe: `fresh` has c >= needed > count bytes; the old storage holds count bytes.
        fresh.update(from: base, count: count)
        base.deallocate()
        base = fresh
        capacity = c
    }

    @inline(__always)
    public func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    public func append(_ raw: UnsafeRawBufferPointer) {
        guard let src = raw.baseAddress, raw.count > 0 else { return }
        reserve(raw.count)
        // Safe: reserve made room for raw.count bytes after count.
        UnsafeMutableRawPointer(base + count).copyMemory(from: src, byteCount: raw.count)
        count += raw.count
    }

    /// ` NAME="`: the start of one SD-PARAM, in one reservation.
    @inline(__always)
    public func appendParameterHead(_ name: StaticString) {
        let n = name.utf8CodeUnitCount
        reserve(n + 3)
        var c = count
        base[c] = UInt8(ascii: " ")
        c += 1
        // Safe: reserve made room for n + 3 bytes.
        (base + c).update(from: name.utf8Start, count: n)
        c += n
        base[c] = UInt8(ascii: "=")
        base[c + 1] = UInt8(ascii: "\"")
        count = c + 2
    }

    @inline(__always)
    public func append(_ s: StaticString) {
        append(UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    public func append(_ s: String) {
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { append(UnsafeRawBufferPointer($0)) }
        if done == nil { for b in s.utf8 { append(b) } }
    }

    /// An RFC 5424 PARAM-VALUE (§6.3.3): `"`, `\` and `]` get a backslash. Names rarely
    /// hold one, so the common case is one scan and one copy.
    public func appendEscaped(_ s: String) {
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { u in
            guard u.contains(where: Self.needsEscape) else {
                append(UnsafeRawBufferPointer(u))
                return
            }
            reserve(u.count * 2)
            var c = count
            for b in u {
                if Self.needsEscape(b) {
                    base[c] = UInt8(ascii: "\\")
                    c += 1
                }
                base[c] = b
                c += 1
            }
            count = c
        }
        if done == nil {
            for b in s.utf8 {
                if Self.needsEscape(b) { append(UInt8(ascii: "\\")) }
                append(b)
            }
        }
    }

    @inline(__always)
    private static func needsEscape(_ b: UInt8) -> Bool {
        b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") || b == UInt8(ascii: "]")
    }

    /// "00" "01" … "99": two digits per division in appendDecimal.
    private static let digitPairs: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

    /// `value` in decimal. Small values (ports, octets, counts) take the first branches.
    public func appendDecimal(_ value: UInt64) {
        reserve(Self.maxDecimalDigits)
        let out = base + count
        if value < 10 {
            out[0] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value)
            count += 1
            return
        }
        var digits = 2
        var limit: UInt64 = 100
        while digits < Self.maxDecimalDigits && value >= limit {
            digits += 1
            limit &*= 10
        }
        let pairs = Self.digitPairs.utf8Start
        var v = value
        var i = digits
        while v >= 100 {
            let q = v / 100
            let r = Int(v &- q &* 100) &* 2
            i -= 2
            out[i] = pairs[r]
            out[i + 1] = pairs[r + 1]
            v = q
        }
        if v >= 10 {
            let r = Int(v) &* 2
            out[0] = pairs[r]
            out[1] = pairs[r + 1]
        } else {
            out[0] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v)
        }
        count += digits
    }

    @inline(__always)
    public func appendDecimal<T: BinaryInteger>(_ value: T) { appendDecimal(UInt64(value)) }

    /// `n` as exactly `width` digits, zero padded (timestamps).
    func appendPadded(_ n: Int, width: Int) {
        reserve(width)
        var v = n
        for i in stride(from: width - 1, through: 0, by: -1) {
            base[count + i] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v % 10)
            v /= 10
        }
        count += width
    }

    /// `0x` and lowercase hex without leading zeros (the text form's connection tag).
    public func appendHex(_ value: UInt32) {
        append("0x")
        var shift = 28
        while shift > 0 && (value >> UInt32(shift)) & 0xF == 0 { shift -= 4 }
        while shift >= 0 {
            append(Self.hexDigit(UInt8(truncatingIfNeeded: (value >> UInt32(shift)) & 0xF)))
            shift -= 4
        }
    }

    @inline(__always)
    private static func hexDigit(_ d: UInt8) -> UInt8 {
        d < 10 ? UInt8(ascii: "0") + d : UInt8(ascii: "a") + d - 10
    }

    /// Dotted quad for IPv4; RFC 5952 for IPv6 (lowercase, no leading zeros, the longest run
    /// of two or more zero groups — the first of equals — as `::`). Same text as
    /// `IPAddress.description`, without building Strings.
    public func appendAddress(_ a: ConfigModel.IPAddress) {
        if a.family == .inet {
            let v = UInt32(truncatingIfNeeded: a.low)
            appendDecimal(v >> 24)
            append(UInt8(ascii: "."))
            appendDecimal((v >> 16) & 0xFF)
            append(UInt8(ascii: "."))
            appendDecimal((v >> 8) & 0xFF)
            append(UInt8(ascii: "."))
            appendDecimal(v & 0xFF)
            return
        }
        @inline(__always) func group(_ i: Int) -> UInt16 {
            let word = i < 4 ? a.high : a.low
            return UInt16(truncatingIfNeeded: word >> UInt64(48 - 16 * (i % 4)))
        }
        var bestStart = -1, bestCount = 0
        var i = 0
        while i < 8 {
            if group(i) != 0 { i += 1; continue }
            var j = i
            while j < 8 && group(j) == 0 { j += 1 }
            if j - i > bestCount && j - i >= 2 { bestStart = i; bestCount = j - i }
            i = j
        }
        i = 0
        while i < 8 {
            if i == bestStart {
                append("::")
                i += bestCount
                continue
            }
            if i > 0 && i != bestStart + bestCount { append(UInt8(ascii: ":")) }
            let g = group(i)
            var shift = 12
            while shift > 0 && (g >> UInt16(shift)) & 0xF == 0 { shift -= 4 }
            while shift >= 0 {
                append(Self.hexDigit(UInt8(truncatingIfNeeded: (g >> UInt16(shift)) & 0xF)))
                shift -= 4
            }
            i += 1
        }
    }
}

// MARK: - the formatter

/// Formats records into lines. One per drain (it caches the current second's timestamp
/// text); not shared between threads.
public final class RTFlowFormatter {
    /// The SD-ID an SRX writes on RT_FLOW and RT_IDS structured data.
    public static let sdID: StaticString = "junos@2636.1.1.1.2.129"
    /// RFC 5424 VERSION.
    static let version: StaticString = "1"
    static let nilValue = UInt8(ascii: "-")

    private static let nanosPerSecond: UInt64 = 1_000_000_000
    private static let nanosPerMilli: UInt64 = 1_000_000
    private static let secondsPerMinute = 60
    private static let minutesPerHour = 60
    private static let tmYearBase = 1900
    private static let monthNames: [StaticString] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]

    /// The second the cached texts describe (-1: none yet).
    private var cachedSecond = -1
    /// `YYYY-MM-DDTHH:MM:SS` of cachedSecond, local time.
    private let rfc3339Stamp = SyslogLineBuffer(capacity: 64)
    /// `+HH:MM` / `-HH:MM` of cachedSecond.
    private let offsetStamp = SyslogLineBuffer(capacity: 64)
    /// `Mmm dd HH:MM:SS` (day space-padded) of cachedSecond.
    private let bsdStamp = SyslogLineBuffer(capacity: 64)
    /// Protocol names for the filter log text (`tcp`, `udp`, `ospf`; else the number).
    private let protocolNames: [String?]

    public init() {
        var names = [String?](repeating: nil, count: 256)
        for (name, number) in ConfigModel.protocolNumbers where names[Int(number)] == nil {
            names[Int(number)] = name
        }
        protocolNames = names
    }

    // MARK: timestamps

    private func refreshStamps(second: Int) {
        guard second != cachedSecond else { return }
        cachedSecond = second
        var t = time_t(second)
        var tmv = tm()
        localtime_r(&t, &tmv)
        rfc3339Stamp.reset()
        rfc3339Stamp.appendPadded(Int(tmv.tm_year) + Self.tmYearBase, width: 4)
        rfc3339Stamp.append(UInt8(ascii: "-"))
        rfc3339Stamp.appendPadded(Int(tmv.tm_mon) + 1, width: 2)
        rfc3339Stamp.append(UInt8(ascii: "-"))
        rfc3339Stamp.appendPadded(Int(tmv.tm_mday), width: 2)
        rfc3339Stamp.append(UInt8(ascii: "T"))
        appendClock(tmv, to: rfc3339Stamp)
        offsetStamp.reset()
        Self.appendUTCOffset(seconds: Int(tmv.tm_gmtoff), to: offsetStamp)
        bsdStamp.reset()
        bsdStamp.append(Self.monthNames[Int(tmv.tm_mon)])
        bsdStamp.append(UInt8(ascii: " "))
        if tmv.tm_mday < 10 { bsdStamp.append(UInt8(ascii: " ")) }
        bsdStamp.appendDecimal(UInt64(tmv.tm_mday))
        bsdStamp.append(UInt8(ascii: " "))
        appendClock(tmv, to: bsdStamp)
    }

    private func appendClock(_ tmv: tm, to out: SyslogLineBuffer) {
        out.appendPadded(Int(tmv.tm_hour), width: 2)
        out.append(UInt8(ascii: ":"))
        out.appendPadded(Int(tmv.tm_min), width: 2)
        out.append(UInt8(ascii: ":"))
        out.appendPadded(Int(tmv.tm_sec), width: 2)
    }

    /// RFC 3339 `time-numoffset`: `+HH:MM` or `-HH:MM` (UTC is `+00:00`, as an SRX writes it).
    static func appendUTCOffset(seconds: Int, to out: SyslogLineBuffer) {
        out.append(UInt8(ascii: seconds < 0 ? "-" : "+"))
        let minutes = abs(seconds) / secondsPerMinute
        out.appendPadded(minutes / minutesPerHour, width: 2)
        out.append(UInt8(ascii: ":"))
        out.appendPadded(minutes % minutesPerHour, width: 2)
    }

    /// `2026-11-30T03:30:00.123+00:00` for `realtimeNanos` in the process's time zone.
    public func appendTimestamp(_ realtimeNanos: UInt64, to out: SyslogLineBuffer) {
        refreshStamps(second: Int(realtimeNanos / Self.nanosPerSecond))
        out.append(rfc3339Stamp.bytes)
        out.append(UInt8(ascii: "."))
        out.appendPadded(Int(realtimeNanos % Self.nanosPerSecond / Self.nanosPerMilli), width: 3)
        out.append(offsetStamp.bytes)
    }

    /// `Nov 30 03:30:00` (BSD syslog, RFC 3164 §4.1.2) for `realtimeNanos`, local time.
    public func appendBSDTimestamp(_ realtimeNanos: UInt64, to out: SyslogLineBuffer) {
        refreshStamps(second: Int(realtimeNanos / Self.nanosPerSecond))
        out.append(bsdStamp.bytes)
    }

    // MARK: names per kind

    /// RFC 5424 APP-NAME; in the legacy form, the tag before the first colon.
    public static func appName(_ r: RTFlowRecord) -> StaticString {
        switch r.kind {
        case .sessionCreate, .sessionClose, .sessionDeny: return "RT_FLOW"
        case .screenDrop: return "RT_IDS"
        case .filterLog: return "fpc0"
        case .natException, .tableFull: return "xpfd"
        }
    }

    /// RFC 5424 MSGID: the Junos event name.
    public static func messageID(_ r: RTFlowRecord) -> StaticString {
        switch r.kind {
        case .sessionCreate: return "RT_FLOW_SESSION_CREATE"
        case .sessionClose: return "RT_FLOW_SESSION_CLOSE"
        case .sessionDeny: return "RT_FLOW_SESSION_DENY"
        case .screenDrop:
            switch r.screenClass {
            case .tcp: return "RT_SCREEN_TCP"
            case .udp: return "RT_SCREEN_UDP"
            case .icmp: return "RT_SCREEN_ICMP"
            case .ip: return "RT_SCREEN_IP"
            }
        case .filterLog: return "PFE_FW_SYSLOG_IP"
        case .natException: return "XPF_NAT_EXCEPTION"
        case .tableFull: return "XPF_SESSION_TABLE_FULL"
        }
    }

    // MARK: structured form

    /// Appends the RFC 5424 line for `r` (no newline). `brief` leaves out the text after the
    /// structured data.
    public func appendStructured(_ r: RTFlowRecord, brief: Bool, to out: SyslogLineBuffer) {
        out.append(UInt8(ascii: "<"))
        out.appendDecimal(r.kind.priority)
        out.append(UInt8(ascii: ">"))
        out.append(Self.version)
        out.append(UInt8(ascii: " "))
        appendTimestamp(r.realtimeNanos, to: out)
        out.append(UInt8(ascii: " "))
        if r.hostName.isEmpty { out.append(Self.nilValue) } else { out.append(r.hostName) }
        out.append(UInt8(ascii: " "))
        out.append(Self.appName(r))
        out.append(" - ")
        out.append(Self.messageID(r))
        out.append(UInt8(ascii: " "))
        switch r.kind {
        case .sessionCreate, .sessionClose, .sessionDeny, .screenDrop:
            out.append(UInt8(ascii: "["))
            out.append(Self.sdID)
            appendParameters(r, to: out)
            out.append(UInt8(ascii: "]"))
            if !brief {
                out.append(UInt8(ascii: " "))
                appendText(r, to: out)
            }
        case .filterLog, .natException, .tableFull:
            // No Junos SD parameters exist for these: SD is NILVALUE and the text is the MSG.
            out.append(Self.nilValue)
            out.append(UInt8(ascii: " "))
            appendText(r, to: out)
        }
    }

    @inline(__always)
    private func param(_ name: StaticString, _ value: String, _ out: SyslogLineBuffer) {
        out.appendParameterHead(name)
        out.appendEscaped(value)
        out.append(UInt8(ascii: "\""))
    }

    @inline(__always)
    private func param<T: BinaryInteger>(_ name: StaticString, _ value: T, _ out: SyslogLineBuffer) {
        out.appendParameterHead(name)
        out.appendDecimal(value)
        out.append(UInt8(ascii: "\""))
    }

    @inline(__always)
    private func param(_ name: StaticString, _ value: ConfigModel.IPAddress, _ out: SyslogLineBuffer) {
        out.appendParameterHead(name)
        out.appendAddress(value)
        out.append(UInt8(ascii: "\""))
    }

    /// The SD-PARAMs, names and order as an SRX writes them (R-9.3).
    private func appendParameters(_ r: RTFlowRecord, to o: SyslogLineBuffer) {
        switch r.kind {
        case .sessionCreate:
            appendFlowHead(r, o)
            appendNAT(r, o)
            param("protocol-id", r.protocolID, o)
            param("policy-name", r.policyName, o)
            param("source-zone-name", r.sourceZoneName, o)
            param("destination-zone-name", r.destinationZoneName, o)
            param("session-id-32", r.sessionID, o)
            param("username", r.username, o)
            param("roles", r.roles, o)
            param("packet-incoming-interface", r.interfaceName, o)
            param("application", r.application, o)
            param("nested-application", r.nestedApplication, o)
            param("encrypted", r.encrypted, o)
        case .sessionClose:
            param("reason", r.reason, o)
            appendFlowHead(r, o)
            appendNAT(r, o)
            param("protocol-id", r.protocolID, o)
            param("policy-name", r.policyName, o)
            param("source-zone-name", r.sourceZoneName, o)
            param("destination-zone-name", r.destinationZoneName, o)
            param("session-id-32", r.sessionID, o)
            param("packets-from-client", r.packetsFromClient, o)
            param("bytes-from-client", r.bytesFromClient, o)
            param("packets-from-server", r.packetsFromServer, o)
            param("bytes-from-server", r.bytesFromServer, o)
            param("elapsed-time", r.elapsedSeconds, o)
            param("application", r.application, o)
            param("nested-application", r.nestedApplication, o)
            param("username", r.username, o)
            param("roles", r.roles, o)
            param("packet-incoming-interface", r.interfaceName, o)
            param("encrypted", r.encrypted, o)
        case .sessionDeny:
            appendFlowHead(r, o)
            param("protocol-id", r.protocolID, o)
            param("icmp-type", r.icmpType, o)
            param("policy-name", r.policyName, o)
            param("source-zone-name", r.sourceZoneName, o)
            param("destination-zone-name", r.destinationZoneName, o)
            param("application", r.application, o)
            param("nested-application", r.nestedApplication, o)
            param("username", r.username, o)
            param("roles", r.roles, o)
            param("packet-incoming-interface", r.interfaceName, o)
            param("encrypted", r.encrypted, o)
            param("reason", r.reason, o)
            param("session-id-32", r.sessionID, o)
        case .screenDrop:
            param("attack-name", r.attackName, o)
            param("source-address", r.sourceAddress, o)
            if r.screenClass == .tcp || r.screenClass == .udp { param("source-port", r.sourcePort, o) }
            param("destination-address", r.destinationAddress, o)
            if r.screenClass == .tcp || r.screenClass == .udp { param("destination-port", r.destinationPort, o) }
            if r.screenClass == .ip { param("protocol-id", r.protocolID, o) }
            param("source-zone-name", r.sourceZoneName, o)
            param("interface-name", r.interfaceName, o)
            param("action", r.action, o)
        case .filterLog, .natException, .tableFull:
            break
        }
    }

    /// source-address … service-name: the head CREATE, CLOSE and DENY share.
    private func appendFlowHead(_ r: RTFlowRecord, _ o: SyslogLineBuffer) {
        param("source-address", r.sourceAddress, o)
        param("source-port", r.sourcePort, o)
        param("destination-address", r.destinationAddress, o)
        param("destination-port", r.destinationPort, o)
        param("connection-tag", r.connectionTag, o)
        param("service-name", r.serviceName, o)
    }

    private func appendNAT(_ r: RTFlowRecord, _ o: SyslogLineBuffer) {
        param("nat-source-address", r.natSourceAddress, o)
        param("nat-source-port", r.natSourcePort, o)
        param("nat-destination-address", r.natDestinationAddress, o)
        param("nat-destination-port", r.natDestinationPort, o)
        param("nat-connection-tag", r.natConnectionTag, o)
        param("src-nat-rule-type", r.sourceNATRuleType, o)
        param("src-nat-rule-name", r.sourceNATRuleName, o)
        param("dst-nat-rule-type", r.destinationNATRuleType, o)
        param("dst-nat-rule-name", r.destinationNATRuleName, o)
    }

    // MARK: legacy form

    /// Appends the BSD-style line for `r` (no newline): `[<PRI>]Mmm dd HH:MM:SS HOST TAG:
    /// MSGID: text`. Files get it without the priority, hosts and sockets with it.
    public func appendLegacy(_ r: RTFlowRecord, withPriority: Bool, to out: SyslogLineBuffer) {
        if withPriority {
            out.append(UInt8(ascii: "<"))
            out.appendDecimal(r.kind.priority)
            out.append(UInt8(ascii: ">"))
        }
        appendBSDTimestamp(r.realtimeNanos, to: out)
        out.append(UInt8(ascii: " "))
        out.append(r.hostName)
        out.append(UInt8(ascii: " "))
        out.append(Self.appName(r))
        // Junos writes the PFE's message source without a colon: `fpc0 PFE_FW_SYSLOG_IP: …`.
        if r.kind != .filterLog { out.append(UInt8(ascii: ":")) }
        out.append(UInt8(ascii: " "))
        out.append(Self.messageID(r))
        out.append(": ")
        appendText(r, to: out)
    }

    @inline(__always)
    private func endpoint(_ a: ConfigModel.IPAddress, _ port: UInt16, _ o: SyslogLineBuffer) {
        o.appendAddress(a)
        o.append(UInt8(ascii: "/"))
        o.appendDecimal(port)
    }

    @inline(__always)
    private func word(_ s: String, _ o: SyslogLineBuffer) {
        o.append(UInt8(ascii: " "))
        o.append(s)
    }

    @inline(__always)
    private func number<T: BinaryInteger>(_ v: T, _ o: SyslogLineBuffer) {
        o.append(UInt8(ascii: " "))
        o.appendDecimal(v)
    }

    /// `user(roles)`
    private func identity(_ r: RTFlowRecord, _ o: SyslogLineBuffer) {
        word(r.username, o)
        o.append(UInt8(ascii: "("))
        o.append(r.roles)
        o.append(UInt8(ascii: ")"))
    }

    /// `SRC/SP->DST/DP 0xTAG SERVICE`
    private func flowText(_ r: RTFlowRecord, _ o: SyslogLineBuffer) {
        endpoint(r.sourceAddress, r.sourcePort, o)
        o.append("->")
        endpoint(r.destinationAddress, r.destinationPort, o)
        o.append(UInt8(ascii: " "))
        o.appendHex(r.connectionTag)
        word(r.serviceName, o)
    }

    /// ` NSRC/NSP->NDST/NDP 0xTAG TYPE NAME TYPE NAME`
    private func natText(_ r: RTFlowRecord, _ o: SyslogLineBuffer) {
        o.append(UInt8(ascii: " "))
        endpoint(r.natSourceAddress, r.natSourcePort, o)
        o.append("->")
        endpoint(r.natDestinationAddress, r.natDestinationPort, o)
        o.append(UInt8(ascii: " "))
        o.appendHex(r.natConnectionTag)
        word(r.sourceNATRuleType, o)
        word(r.sourceNATRuleName, o)
        word(r.destinationNATRuleType, o)
        word(r.destinationNATRuleName, o)
    }

    /// The English message text: the legacy line's body and what follows non-brief
    /// structured data.
    public func appendText(_ r: RTFlowRecord, to o: SyslogLineBuffer) {
        switch r.kind {
        case .sessionCreate:
            o.append("session created ")
            flowText(r, o)
            natText(r, o)
            number(r.protocolID, o)
            word(r.policyName, o)
            word(r.sourceZoneName, o)
            word(r.destinationZoneName, o)
            number(r.sessionID, o)
            identity(r, o)
            word(r.interfaceName, o)
            word(r.application, o)
            word(r.nestedApplication, o)
            word(r.encrypted, o)
        case .sessionClose:
            o.append("session closed ")
            o.append(r.reason)
            o.append(": ")
            flowText(r, o)
            natText(r, o)
            number(r.protocolID, o)
            word(r.policyName, o)
            word(r.sourceZoneName, o)
            word(r.destinationZoneName, o)
            number(r.sessionID, o)
            number(r.packetsFromClient, o)
            o.append(UInt8(ascii: "("))
            o.appendDecimal(r.bytesFromClient)
            o.append(UInt8(ascii: ")"))
            number(r.packetsFromServer, o)
            o.append(UInt8(ascii: "("))
            o.appendDecimal(r.bytesFromServer)
            o.append(UInt8(ascii: ")"))
            number(r.elapsedSeconds, o)
            word(r.application, o)
            word(r.nestedApplication, o)
            identity(r, o)
            word(r.interfaceName, o)
            word(r.encrypted, o)
        case .sessionDeny:
            o.append("session denied ")
            flowText(r, o)
            number(r.protocolID, o)
            o.append(UInt8(ascii: "("))
            o.appendDecimal(r.icmpType)
            o.append(UInt8(ascii: ")"))
            word(r.policyName, o)
            word(r.sourceZoneName, o)
            word(r.destinationZoneName, o)
            word(r.application, o)
            word(r.nestedApplication, o)
            identity(r, o)
            word(r.interfaceName, o)
            word(r.encrypted, o)
            word(r.reason, o)
            number(r.sessionID, o)
        case .screenDrop:
            o.append(r.attackName)
            o.append(" source: ")
            o.appendAddress(r.sourceAddress)
            let ports = r.screenClass == .tcp || r.screenClass == .udp
            if ports {
                o.append(UInt8(ascii: ":"))
                o.appendDecimal(r.sourcePort)
            }
            o.append(", destination: ")
            o.appendAddress(r.destinationAddress)
            if ports {
                o.append(UInt8(ascii: ":"))
                o.appendDecimal(r.destinationPort)
            }
            if r.screenClass == .ip {
                o.append(", protocol-id: ")
                o.appendDecimal(r.protocolID)
            }
            o.append(", zone name: ")
            o.append(r.sourceZoneName)
            o.append(", interface name: ")
            o.append(r.interfaceName)
            o.append(", action: ")
            o.append(r.action)
        case .filterLog:
            o.append("FW: ")
            o.append(r.interfaceName)
            o.append(UInt8(ascii: " "))
            o.append(Self.filterActionLetter(r.action))
            o.append(UInt8(ascii: " "))
            if let name = protocolNames[Int(r.protocolID)] { o.append(name) } else { o.appendDecimal(r.protocolID) }
            o.append(UInt8(ascii: " "))
            o.appendAddress(r.sourceAddress)
            o.append(UInt8(ascii: " "))
            o.appendAddress(r.destinationAddress)
            number(r.sourcePort, o)
            number(r.destinationPort, o)
            o.append(" (")
            o.appendDecimal(r.packetCount)
            o.append(" packets)")
        case .natException:
            o.append("NAT exception: worker ")
            o.appendDecimal(r.worker)
            o.append(" rule ")
            o.append(r.ruleName)
            o.append(" pool ")
            o.append(r.poolName)
            o.append(": ")
            o.append(r.detail)
        case .tableFull:
            o.append("session table full: worker ")
            o.appendDecimal(r.worker)
            o.append(": ")
            o.append(r.detail)
        }
    }

    /// Junos's filter-log action letters: A accept, D discard, R reject.
    static func filterActionLetter(_ action: String) -> UInt8 {
        switch action {
        case "accept": return UInt8(ascii: "A")
        case "reject": return UInt8(ascii: "R")
        default: return UInt8(ascii: "D")
        }
    }
}
