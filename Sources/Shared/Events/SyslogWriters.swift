// Where RT_FLOW lines go and what happens when a destination fails (issue 8 item 5).
//
// xpfd's drain calls `SyslogRouter.route(record)` per event and `flush()` once per pass.
// `route` formats each line form a destination needs at most once per event and appends it
// to that destination's batch; `flush` hands each batch to the kernel: one write(2) per file
// per pass, one send(2) per line (a datagram is one syslog message) on sockets.
//
// Nothing here waits for a peer or throws once built: sockets are non-blocking; a file
// gets one bounded write(2) per pass (O_NONBLOCK means nothing for regular files, so slow
// storage can still delay xpfd's loop by that one write — never a worker); a destination that fails counts
// the lines it could not deliver (`failed`, `lastError`), says so ONCE in xpfd's log per
// failure episode (and once when it works again), and a file or unix socket that cannot be
// opened is retried at most once per second. A batch never grows past
// `SyslogDestination.maxBatchBytes`: `route` flushes early rather than allocating without
// bound when the drain is slow to call `flush`.
//
// Selection follows `system syslog`: a destination takes an event when its selectors admit
// the event's facility and severity (a selector naming the facility overrides `any`; `none`
// admits nothing) and, if it has `match`, the POSIX extended regular expression matches the
// line as formatted for it. `structured-data` selects the RFC 5424 form, `brief` drops the
// English text after it; otherwise the legacy BSD form.
//
// File rotation (`files N size S`): before a batch would take the file past S bytes the file
// is renamed NAME.0 (NAME.0 → NAME.1 …, the oldest, NAME.{N-1}, is removed) and a new NAME
// is opened. Junos gzips its archives (NAME.0.gz); xpf keeps them uncompressed so rotation is
// two renames and no compression work on the drain's core. A batch is never split, so a file
// exceeds S by less than one batch.

#if canImport(Glibc)
import Glibc
#endif
import CXPF

// MARK: - statistics

/// Counters of one destination (what `xpfctl show log statistics` shows). Written only by
/// the drain (xpfd's main loop); lines, not bytes.
public struct SyslogDestinationStatistics: Sendable, Equatable {
    /// `file NAME`, `host ADDRESS:PORT`, `socket PATH`, `stream NAME`.
    public var name: String
    /// Lines the kernel accepted.
    public var written: UInt64 = 0
    /// Lines dropped: destination closed, write/send error, or retry pause.
    public var failed: UInt64 = 0
    /// errno of the latest failure; 0 if none yet.
    public var lastError: Int32 = 0

    public init(name: String) { self.name = name }
}

/// Which line form a destination receives.
public enum SyslogLineFormat: Sendable, Equatable {
    /// BSD style (`file` without `structured-data`; `security log format syslog`).
    case legacy
    /// RFC 5424 with the English text after the structured data.
    case structured
    /// RFC 5424 without the text (`structured-data { brief; }`, `format sd-syslog` streams).
    case structuredBrief
}

/// Size rotation of a file destination: keep `files` archives of at most about `size` bytes.
public struct SyslogFileRotation: Sendable, Equatable {
    public var files: Int
    public var size: Int

    public init(files: Int, size: Int) {
        self.files = max(files, 1)
        self.size = max(size, 1)
    }

    /// xpf's default when the configuration says nothing: 10 archives of 1 MiB (Junos's
    /// defaults vary by platform and release).
    public static let `default` = SyslogFileRotation(files: 10, size: 1 << 20)
}

// MARK: - selection

/// Which events one destination takes: selectors and the optional `match` expression.
final class SyslogSelection {
    private let admittedKinds: [Bool]
    /// regcomp'd `match`, nil without one. Owned here: regfree in deinit.
    private var regex: UnsafeMutablePointer<regex_t>?

    /// Selectors only (`content.match` compiled); throws for an expression regcomp rejects.
    init(content: ConfigModel.SyslogContent) throws {
        admittedKinds = RTFlowRecord.Kind.allCases.map { Self.admits(content.selectors, $0.facility, $0.severity) }
        if let pattern = content.match {
            let re = UnsafeMutablePointer<regex_t>.allocate(capacity: 1)
            let rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB)
            guard rc == 0 else {
                re.deallocate()
                throw XPFError("syslog match \"\(pattern)\": not a valid regular expression (regcomp \(rc))")
            }
            regex = re
        }
    }

    /// The security log's events (RT_FLOW and RT_IDS), no selectors, no expression: what a
    /// `security log` stream or file receives. Filter logs and xpf's exception lines go
    /// through `system syslog` only.
    init(securityLog: Void) {
        admittedKinds = RTFlowRecord.Kind.allCases.map {
            $0 == .sessionCreate || $0 == .sessionClose || $0 == .sessionDeny || $0 == .screenDrop
        }
    }

    deinit {
        if let re = regex {
            regfree(re)
            re.deallocate()
        }
    }

    func admits(_ kind: RTFlowRecord.Kind) -> Bool { admittedKinds[Int(kind.rawValue)] }

    var hasMatch: Bool { regex != nil }

    /// The line as a C string for regexec: glibc honours REG_STARTEND, but sanitizer
    /// runtimes intercept regexec and read the subject up to its NUL, so it gets one.
    private var subject: [CChar] = []

    /// Whether `match` finds the expression in `line`.
    func matches(_ line: UnsafeRawBufferPointer) -> Bool {
        guard let re = regex else { return true }
        subject.removeAll(keepingCapacity: true)
        subject.append(contentsOf: line.lazy.map { CChar(bitPattern: $0) })
        subject.append(0)
        return regexec(re, subject, 0, nil, 0) == 0
    }

    /// Junos selector semantics: selectors naming `facility` override those naming `any`;
    /// the event passes when its severity is at least as severe as the selector's level;
    /// `none` passes nothing, `any` everything.
    static func admits(_ selectors: [ConfigModel.SyslogSelector], _ facility: ConfigModel.SyslogFacility,
                       _ severity: ConfigModel.SyslogSeverity) -> Bool
    {
        let specific = selectors.filter { $0.facility == facility }
        let applicable = specific.isEmpty ? selectors.filter { $0.facility == .any } : specific
        return applicable.contains { level($0.severity) >= level(severity) }
    }

    /// emergency 0 … info 6, `any` 7 (debug and up), `none` -1 (below everything).
    private static func level(_ s: ConfigModel.SyslogSeverity) -> Int {
        switch s {
        case .emergency: return 0
        case .alert: return 1
        case .critical: return 2
        case .error: return 3
        case .warning: return 4
        case .notice: return 5
        case .info: return 6
        case .any: return 7
        case .none: return -1
        }
    }
}

// MARK: - destinations

/// One destination: its batch, selection, counters and failure reporting. Subclasses
/// deliver the batch (`deliver`).
public class SyslogDestination {
    /// A batch past this many bytes is delivered at once, from `route`.
    public static let maxBatchBytes = 1 << 20
    /// Closed files and unix sockets are reopened at most this often.
    public static let reopenIntervalNanos: UInt64 = 1_000_000_000

    public private(set) var statistics: SyslogDestinationStatistics
    let selection: SyslogSelection
    let format: SyslogLineFormat
    /// Lines waiting for `deliver`; each ends at the offset in `lineEnds`.
    let batch = SyslogLineBuffer(capacity: 1 << 16)
    var lineEnds: [Int] = []
    /// Inside a failure episode: the failure was reported; recovery will be, once.
    private var failing = false
    /// Monotonic ns of the latest failure (recovery is reported only after a quiet second,
    /// so a UDP peer that refuses every other datagram does not flap in the log).
    private var lastFailure: UInt64 = 0
    /// The `now` of the flush in progress.
    private var flushTime: UInt64 = 0
    private let report: (String) -> Void

    init(name: String, selection: SyslogSelection, format: SyslogLineFormat, report: @escaping (String) -> Void) {
        statistics = SyslogDestinationStatistics(name: name)
        self.selection = selection
        self.format = format
        self.report = report
        lineEnds.reserveCapacity(4096)
    }

    /// Files end each line with '\n'; datagram sockets send lines as they are.
    var appendsNewline: Bool { false }

    func enqueue(_ line: UnsafeRawBufferPointer, now: UInt64) {
        batch.append(line)
        if appendsNewline { batch.append(UInt8(ascii: "\n")) }
        lineEnds.append(batch.count)
        if batch.count >= Self.maxBatchBytes { flush(now: now) }
    }

    func flush(now: UInt64) {
        guard !lineEnds.isEmpty else { return }
        flushTime = now
        deliver(now: now)
        batch.reset()
        lineEnds.removeAll(keepingCapacity: true)
        if failing && now &- lastFailure >= Self.reopenIntervalNanos {
            failing = false
            report("syslog \(statistics.name): delivering again")
        }
    }

    /// Hands `batch` to the kernel and accounts every line in it as written or failed.
    func deliver(now: UInt64) { fatalError("SyslogDestination.deliver is abstract") }

    func noteWritten(_ lines: Int) {
        statistics.written &+= UInt64(lines)
    }

    func noteFailed(_ lines: Int, errno: Int32, while action: String) {
        statistics.failed &+= UInt64(lines)
        statistics.lastError = errno
        lastFailure = flushTime
        if !failing {
            failing = true
            report("syslog \(statistics.name): \(action): \(String(cString: strerror(errno))) (errno \(errno)); "
                + "lines are counted as failed until it recovers")
        }
    }
}

/// `file NAME`: appended to, one write(2) per batch, rotated by size.
public final class SyslogFileDestination: SyslogDestination {
    public let path: String
    let rotation: SyslogFileRotation
    private var fd: Int32 = -1
    /// Bytes in the current file (fstat at open, then counted).
    private var size = 0
    /// Monotonic ns before which no open is tried again.
    private var nextOpen: UInt64 = 0

    private static let fileMode: mode_t = 0o640

    init(name: String, path: String, rotation: SyslogFileRotation, selection: SyslogSelection,
         format: SyslogLineFormat, report: @escaping (String) -> Void)
    {
        self.path = path
        self.rotation = rotation
        super.init(name: name, selection: selection, format: format, report: report)
    }

    deinit { if fd >= 0 { close(fd) } }

    override var appendsNewline: Bool { true }

    /// Opens the file unless it is open; false (the batch counted as failed) when the open
    /// fails or a failed one waits for its retry second (then without a syscall).
    private func open(now: UInt64) -> Bool {
        if fd >= 0 { return true }
        guard now >= nextOpen else {
            noteFailed(lineEnds.count, errno: statistics.lastError, while: "open \(path)")
            return false
        }
        nextOpen = now &+ Self.reopenIntervalNanos
        let f = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, Self.fileMode)
        if f < 0 {
            noteFailed(lineEnds.count, errno: xpf_errno(), while: "open \(path)")
            return false
        }
        var st = stat()
        size = fstat(f, &st) == 0 ? Int(st.st_size) : 0
        fd = f
        return true
    }

    /// NAME.{files-2} → NAME.{files-1} … NAME → NAME.0, then a fresh NAME.
    private func rotate(now: UInt64) {
        close(fd)
        fd = -1
        for i in stride(from: rotation.files - 2, through: 0, by: -1) {
            rename("\(path).\(i)", "\(path).\(i + 1)")
        }
        rename(path, "\(path).0")
        nextOpen = 0
        _ = open(now: now)
    }

    override func deliver(now: UInt64) {
        guard open(now: now) else { return }
        if size > 0 && size + batch.count > rotation.size {
            rotate(now: now)
            guard fd >= 0 else { return }
        }
        var done = 0
        let bytes = batch.bytes
        while done < bytes.count {
            // Safe: done < bytes.count, so the range lies inside the batch.
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n > 0 { done += n; continue }
            let e = n < 0 ? xpf_errno() : EIO
            if e == EINTR { continue }
            let whole = lineEnds.firstIndex { $0 > done } ?? lineEnds.count
            size += done
            noteWritten(whole)
            noteFailed(lineEnds.count - whole, errno: e, while: "write \(path)")
            close(fd)
            fd = -1
            nextOpen = now &+ Self.reopenIntervalNanos
            return
        }
        size += done
        noteWritten(lineEnds.count)
    }
}

/// `host ADDRESS { port P; }` (UDP, IPv4 or IPv6) and `socket PATH` (a unix datagram socket):
/// one datagram per line, never waiting (MSG_DONTWAIT): a full socket buffer is a failure.
/// An unreachable UDP port shows as ECONNREFUSED on a later send (the kernel reports the
/// ICMP error of an earlier datagram), so the datagram that drew the ICMP counts as written.
/// One send(2) per line: sendmmsg(2) would batch them, but Glibc's Swift module does not
/// declare it (it needs _GNU_SOURCE; a CXPF shim would).
public final class SyslogDatagramDestination: SyslogDestination {
    enum Peer {
        case udp(ConfigModel.IPAddress, UInt16, source: ConfigModel.IPAddress?)
        case unix(String)
    }

    let peer: Peer
    private var fd: Int32 = -1
    private var nextConnect: UInt64 = 0

    init(name: String, peer: Peer, selection: SyslogSelection, format: SyslogLineFormat,
         report: @escaping (String) -> Void)
    {
        self.peer = peer
        super.init(name: name, selection: selection, format: format, report: report)
    }

    deinit { if fd >= 0 { close(fd) } }

    /// A connected socket: the kernel then reports ICMP port unreachable as ECONNREFUSED on
    /// a later send (what counts an unreachable host) and filters replies by peer.
    /// Like the file's open: false (batch counted as failed) on failure or while waiting.
    private func connectSocket(now: UInt64) -> Bool {
        if fd >= 0 { return true }
        guard now >= nextConnect else {
            noteFailed(lineEnds.count, errno: statistics.lastError, while: "connect")
            return false
        }
        nextConnect = now &+ Self.reopenIntervalNanos
        let flags = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        var s: Int32 = -1
        var e: Int32 = 0
        switch peer {
        case let .udp(address, port, source):
            let family = address.family == .inet ? AF_INET : AF_INET6
            s = socket(family, flags, 0)
            if s >= 0, let src = source, Self.withSockaddr(src, 0, { bind(s, $0, $1) }) != 0 { e = xpf_errno() }
            if s >= 0 && e == 0 && Self.withSockaddr(address, port, { Glibc.connect(s, $0, $1) }) != 0 { e = xpf_errno() }
        case let .unix(path):
            s = socket(AF_UNIX, flags, 0)
            if s >= 0 {
                var addr = sockaddr_un()
                addr.sun_family = sa_family_t(AF_UNIX)
                if path.utf8.count >= MemoryLayout.size(ofValue: addr.sun_path) {
                    e = ENAMETOOLONG
                } else {
                    copyCString(path, into: &addr.sun_path)
                    let rc = withUnsafePointer(to: &addr) { p in
                        p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                        }
                    }
                    if rc != 0 { e = xpf_errno() }
                }
            }
        }
        if s < 0 { e = xpf_errno() }
        if e != 0 {
            if s >= 0 { close(s) }
            noteFailed(lineEnds.count, errno: e, while: "connect")
            return false
        }
        fd = s
        return true
    }

    /// Calls `body` with a sockaddr_in/sockaddr_in6 for `address`:`port`.
    static func withSockaddr(_ address: ConfigModel.IPAddress, _ port: UInt16,
                             _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32
    {
        if address.family == .inet {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr.s_addr = UInt32(truncatingIfNeeded: address.low).bigEndian
            return withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = port.bigEndian
        withUnsafeMutableBytes(of: &sin6.sin6_addr) { raw in
            // Safe: in6_addr is 16 bytes; high then low, each big-endian (network order).
            raw.storeBytes(of: address.high.bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: address.low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        return withUnsafePointer(to: &sin6) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
    }

    override func deliver(now: UInt64) {
        guard connectSocket(now: now) else { return }
        var start = 0
        var sent = 0
        let base = batch.bytes.baseAddress!
        for (index, end) in lineEnds.enumerated() {
            // Safe: start..<end is one line inside the batch.
            let n = send(fd, base + start, end - start, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL))
            start = end
            if n >= 0 {
                sent += 1
                continue
            }
            let e = xpf_errno()
            noteWritten(sent)
            sent = 0
            if case .unix = peer, e == ECONNREFUSED || e == ENOTCONN {
                // The receiver went away: this line and the rest fail; reconnect later
                // (at most once per second).
                noteFailed(lineEnds.count - index, errno: e, while: "send")
                close(fd)
                fd = -1
                nextConnect = now &+ Self.reopenIntervalNanos
                return
            }
            noteFailed(1, errno: e, while: "send")
        }
        noteWritten(sent)
    }
}

// MARK: - the router

/// Every configured destination, and the formatting shared between them. The drain's one
/// entry point: `route` per event, `flush` per pass, `statistics` for show commands.
public final class SyslogRouter {
    public let destinations: [SyslogDestination]
    /// Per kind (Kind.rawValue), the destinations whose selectors admit it.
    private let byKind: [[SyslogDestination]]
    private let formatter = RTFlowFormatter()
    /// The forms of the current event, each formatted on first use (index: Form.rawValue).
    private let lines: [SyslogLineBuffer]
    private var formatted: [Bool]

    private enum Form: Int, CaseIterable {
        case legacyFile, legacyWire, structured, structuredBrief
    }

    /// Builds one destination per `system syslog` file, host and socket, one per `security
    /// log` stream and one for the `security log` file (the compiler admits streams and the
    /// file only with `mode stream`). Files live in `logDirectory`; a syslog file without
    /// `archive` rotates by `defaultRotation`. Throws only for a `match` expression regcomp
    /// rejects.
    public init(syslog: ConfigModel.Syslog, securityLog: ConfigModel.SecurityLog = .init(), logDirectory: String,
                defaultRotation: SyslogFileRotation = .default,
                report: @escaping (String) -> Void = { logLine("xpfd", $0) }) throws
    {
        var all: [SyslogDestination] = []
        func form(_ c: ConfigModel.SyslogContent) -> SyslogLineFormat {
            c.structuredData ? (c.brief ? .structuredBrief : .structured) : .legacy
        }
        func form(_ f: ConfigModel.SecurityLog.Format) -> SyslogLineFormat {
            f == .sdSyslog ? .structuredBrief : .legacy
        }
        for f in syslog.files {
            let rotation = f.archive.map {
                SyslogFileRotation(files: $0.files ?? defaultRotation.files, size: $0.size.map { Int($0) } ?? defaultRotation.size)
            } ?? defaultRotation
            all.append(SyslogFileDestination(
                name: "file \(f.name)", path: logDirectory + "/" + f.name, rotation: rotation,
                selection: try SyslogSelection(content: f.content), format: form(f.content), report: report))
        }
        for h in syslog.hosts {
            all.append(SyslogDatagramDestination(
                name: "host \(ConfigModel.ListenAddress(address: h.address, port: h.port))",
                peer: .udp(h.address, h.port, source: h.sourceAddress),
                selection: try SyslogSelection(content: h.content), format: form(h.content), report: report))
        }
        for s in syslog.sockets {
            all.append(SyslogDatagramDestination(
                name: "socket \(s.path)", peer: .unix(s.path),
                selection: try SyslogSelection(content: s.content), format: form(s.content), report: report))
        }
        for s in securityLog.streams {
            all.append(SyslogDatagramDestination(
                name: "stream \(s.name)", peer: .udp(s.address, s.port, source: nil),
                selection: SyslogSelection(securityLog: ()), format: form(s.format ?? securityLog.format), report: report))
        }
        if let f = securityLog.file {
            all.append(SyslogFileDestination(
                name: "security log file \(f.name)", path: logDirectory + "/" + f.name,
                rotation: SyslogFileRotation(files: f.files, size: Int(f.size)),
                selection: SyslogSelection(securityLog: ()), format: form(securityLog.format), report: report))
        }
        destinations = all
        byKind = RTFlowRecord.Kind.allCases.map { k in all.filter { $0.selection.admits(k) } }
        lines = Form.allCases.map { _ in SyslogLineBuffer() }
        formatted = Form.allCases.map { _ in false }
    }

    public var statistics: [SyslogDestinationStatistics] { destinations.map(\.statistics) }

    /// Formats `record` for every destination that takes it and appends it to their batches.
    public func route(_ record: borrowing RTFlowRecord, now: UInt64 = monotonicNanos()) {
        let targets = byKind[Int(record.kind.rawValue)]
        guard !targets.isEmpty else { return }
        for i in formatted.indices { formatted[i] = false }
        for d in targets {
            let form: Form
            switch d.format {
            case .legacy: form = d.appendsNewline ? .legacyFile : .legacyWire
            case .structured: form = .structured
            case .structuredBrief: form = .structuredBrief
            }
            let line = lines[form.rawValue]
            if !formatted[form.rawValue] {
                formatted[form.rawValue] = true
                line.reset()
                switch form {
                case .legacyFile: formatter.appendLegacy(record, withPriority: false, to: line)
                case .legacyWire: formatter.appendLegacy(record, withPriority: true, to: line)
                case .structured: formatter.appendStructured(record, brief: false, to: line)
                case .structuredBrief: formatter.appendStructured(record, brief: true, to: line)
                }
            }
            if d.selection.hasMatch && !d.selection.matches(line.bytes) { continue }
            d.enqueue(line.bytes, now: now)
        }
    }

    /// Delivers every destination's batch.
    public func flush(now: UInt64 = monotonicNanos()) {
        for d in destinations { d.flush(now: now) }
    }
}
