// The control socket (DIR/xpfd.sock): one request line per connection, one reply.
// Not on the packet path; xpfctl speaks to it.
//   commit [PATH]        validate and publish PATH (default: the --config file)
//   commit-check [PATH]  validate only
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared

final class ControlServer {
    let fd: Int32
    let path: String

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = try sysCall("socket(AF_UNIX)") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        guard path.utf8.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw XPFError("control socket path too long: \(path)") }
        copyCString(path, into: &addr.sun_path)
        _ = try withUnsafePointer(to: &addr) { p in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp in
                try sysCall("bind(\(path))") { bind(fd, sp, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        }
        chmod(path, 0o600)
        try sysCall("listen") { listen(fd, 16) }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// Serves every pending connection with `handle` (request line → reply text).
    func serve(_ handle: (String) -> String) {
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { return }
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            _ = fcntl(c, F_SETFL, 0)  // accepted sockets inherit O_NONBLOCK on some systems; reads use SO_RCVTIMEO
            var tv = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var buf = [UInt8](repeating: 0, count: 4096)
            var got = 0
            while got < buf.count {
                let n = buf.withUnsafeMutableBytes { read(c, $0.baseAddress! + got, $0.count - got) }
                if n <= 0 { break }
                got += n
                if buf[0..<got].contains(10) { break }
            }
            let line = String(decoding: buf[0..<got].prefix { $0 != 10 }, as: UTF8.self)
            let reply = handle(line) + "\n"
            _ = reply.withCString { write(c, $0, strlen($0)) }
            close(c)
        }
    }
}
