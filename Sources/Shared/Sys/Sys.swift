// Thin wrappers over libc: every call captures errno at once and throws a typed error.
#if canImport(Glibc)
import Glibc
#endif
import CXPF

/// An errno value from a failed system call, with the call's name.
public struct SysError: Error, CustomStringConvertible, Equatable {
    public let call: String
    public let errno: Int32
    public init(_ call: String, _ errno: Int32) { self.call = call; self.errno = errno }
    public var description: String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// An error with a message for the operator (exit code 2 = configuration/ABI: do not respawn).
public struct XPFError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Calls `body` until it stops failing with EINTR; throws `SysError` on -1.
@discardableResult
public func sysCall(_ name: String, _ body: () -> Int32) throws -> Int32 {
    while true {
        let r = body()
        if r >= 0 { return r }
        let e = xpf_errno()
        if e == EINTR { continue }
        throw SysError(name, e)
    }
}

/// CLOCK_MONOTONIC in nanoseconds: shared by every process on the box, so heartbeats
/// and session last-seen stamps written by one process are comparable in another.
@inline(__always)
public func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

public func realtimeNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// Writes a line to stderr (logging for daemons that run in the foreground).
public func logLine(_ who: String, _ message: String) {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    var t = ts.tv_sec
    var tmv = tm()
    gmtime_r(&t, &tmv)
    var buf = [CChar](repeating: 0, count: 32)
    strftime(&buf, 32, "%H:%M:%S", &tmv)
    let ms = ts.tv_nsec / 1_000_000
    let stamp = String(cString: buf) + "." + (ms < 10 ? "00" : ms < 100 ? "0" : "") + "\(ms)"
    let line = "\(stamp) \(who)[\(getpid())]: \(message)\n"
    _ = line.withCString { fputs($0, stderr) }
}

/// Starts `argv[0]` with `argv` (posix_spawn through xpf_spawn: empty signal mask,
/// default handlers) and returns its pid.
public func spawnProcess(_ argv: [String]) throws -> pid_t {
    var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
    cargs.append(nil)
    defer { for a in cargs { free(a) } }
    var pid: pid_t = 0
    let r = cargs.withUnsafeBufferPointer { xpf_spawn(&pid, argv[0], $0.baseAddress) }
    if r != 0 { throw SysError("posix_spawn(\(argv[0]))", -r) }
    return pid
}

/// The running binary's path (/proc/self/exe), or argv[0] if it cannot be read.
public func executablePath() -> String {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, 4095)
    guard n > 0 else { return CommandLine.arguments[0] }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

extension String {
    /// The string without leading and trailing whitespace (sysfs values, replies).
    public func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}

/// Copies a Swift string into a fixed-size C char array (NUL-terminated, truncated).
public func copyCString<T>(_ s: String, into tuple: inout T) {
    withUnsafeMutableBytes(of: &tuple) { raw in
        raw.initializeMemory(as: UInt8.self, repeating: 0)
        let bytes = Array(s.utf8.prefix(raw.count - 1))
        raw.copyBytes(from: bytes)
    }
}

/// Reads a fixed-size C char array as a Swift string.
public func stringFromCArray<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        let bytes = raw.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Whether a process with this pid exists (signal 0).
public func processAlive(_ pid: Int32) -> Bool {
    pid > 0 && (kill(pid, 0) == 0 || xpf_errno() == EPERM)
}

/// Reads a whole file as UTF-8; nil (errno set) if it cannot be read.
public func readWholeFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if xpf_errno() == EINTR { continue }; return nil }
        if n == 0 { break }
        out += buf[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

/// Writes a whole file atomically (temporary file + rename).
public func writeWholeFile(_ path: String, _ text: String, mode: mode_t = 0o644) throws {
    let tmp = "\(path).tmp.\(getpid())"
    let fd = try sysCall("open(\(tmp))") { open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
    let bytes = Array(text.utf8)
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, bytes.count - off) }
        if n < 0 { let e = xpf_errno(); close(fd); unlink(tmp); throw SysError("write(\(tmp))", e) }
        off += n
    }
    close(fd)
    try sysCall("rename(\(path))") { rename(tmp, path) }
}

/// mkdir -p.
public func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
    var cur = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        cur += "/" + part
        if mkdir(cur, mode) != 0 && xpf_errno() != EEXIST { throw SysError("mkdir(\(cur))", xpf_errno()) }
    }
}
