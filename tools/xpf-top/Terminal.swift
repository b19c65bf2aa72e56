// The interactive terminal of xpf-top: raw mode (termios) on stdin while the live view
// runs, the alternate screen on stdout, keys read with poll() whose timeout is the time
// left until the next refresh (no busy loop), and the terminal given back on every exit
// path: `q`, SIGINT / SIGTERM / SIGHUP (their handler only sets a flag, HAProxy-style; the
// main loop sees it when poll() returns EINTR), a terminal that went away or fails (POLLHUP,
// POLLERR, POLLNVAL, a read error: quit rather than spin on a descriptor poll() keeps
// reporting) and a thrown error (`deinit`). ^Z (SIGTSTP) gives the terminal back before
// the process stops, and `fg` (the stop returns) takes it again, as top does.
#if canImport(Glibc)
import Glibc
#endif

/// Set by the signal handlers, read by the main loop (a sig_atomic_t: the only thing a
/// handler may write).
nonisolated(unsafe) var interrupted: sig_atomic_t = 0
/// Set by SIGTSTP's handler (^Z), cleared by the main loop once it suspended.
nonisolated(unsafe) var suspendRequested: sig_atomic_t = 0

/// SIGINT, SIGTERM and SIGHUP only set `interrupted`, SIGTSTP `suspendRequested`. signal()
/// on glibc installs them with SA_RESTART, which never restarts poll(): it returns EINTR
/// and the loop looks at the flags.
func catchTerminationSignals() {
    for s in [SIGINT, SIGTERM, SIGHUP] { signal(s) { _ in interrupted = 1 } }
    catchSuspend()
}

func catchSuspend() { signal(SIGTSTP) { _ in suspendRequested = 1 } }

/// What the escape sequences of the live view switch on and off.
enum Escape {
    static let alternateScreenOn = "\u{1B}[?1049h", alternateScreenOff = "\u{1B}[?1049l"
    static let cursorHide = "\u{1B}[?25l", cursorShow = "\u{1B}[?25h"
    static let home = "\u{1B}[H", clearToLineEnd = "\u{1B}[K", clearToScreenEnd = "\u{1B}[J"
}

/// stdin in raw mode (no line buffering, no echo; signals still generated, so ^C is a
/// SIGINT) and stdout on the alternate screen, for the lifetime of this object.
final class RawTerminal {
    private var saved = termios()
    private var restored = false

    /// Nil when stdin is not a terminal or refuses the change.
    init?() {
        guard isatty(STDIN_FILENO) == 1, tcgetattr(STDIN_FILENO, &saved) == 0, enter() else { return nil }
    }

    /// Raw mode and the alternate screen (at start, and again after a suspension).
    private func enter() -> Bool {
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        // Safe: c_cc is NCCS (32) bytes; VMIN and VTIME are indices below it. A read after
        // poll() said readable returns at least one byte at once.
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0 else { return false }
        write(Escape.alternateScreenOn + Escape.cursorHide)
        restored = false
        return true
    }

    deinit { restore() }

    /// Gives the terminal back as it was (idempotent).
    func restore() {
        guard !restored else { return }
        restored = true
        write(Escape.cursorShow + Escape.alternateScreenOff)
        _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
    }

    /// ^Z: the terminal as it was, then stop (SIGTSTP's default action); when the shell
    /// continues the process (`fg`, SIGCONT), raw mode and the alternate screen again.
    /// Returns false when the terminal refuses raw mode after the stop.
    func suspend() -> Bool {
        restore()
        signal(SIGTSTP, SIG_DFL)
        raise(SIGTSTP)  // stops here until SIGCONT
        catchSuspend()
        return enter()
    }

    /// What a wait for input gave.
    enum Input {
        case keys([UInt8])
        /// Timeout or a signal: nothing read.
        case none
        /// End of input, a hang-up or an error on stdin: the live view must end.
        case gone
    }

    /// Waits up to `timeoutMs` for input.
    func readKeys(timeoutMs: Int32) -> Input {
        var fds = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        let r = poll(&fds, 1, max(timeoutMs, 0))
        if r < 0 { return errno == EINTR ? .none : .gone }
        if r == 0 { return .none }
        if fds.revents & Int16(POLLIN) == 0 { return fds.revents & Int16(POLLERR | POLLNVAL | POLLHUP) != 0 ? .gone : .none }
        var buf = [UInt8](repeating: 0, count: Self.readChunk)
        let n = buf.withUnsafeMutableBytes { Glibc.read(STDIN_FILENO, $0.baseAddress, $0.count) }
        if n > 0 { return .keys(Array(buf[0..<n])) }
        if n < 0 && (errno == EINTR || errno == EAGAIN) { return .none }
        return .gone  // end of input (the terminal went away) or a read error
    }

    /// Columns and rows of the terminal (a fallback when it does not say).
    static func size() -> (columns: Int, rows: Int) {
        var ws = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0, ws.ws_row > 0 else {
            return (fallbackColumns, fallbackRows)
        }
        return (Int(ws.ws_col), Int(ws.ws_row))
    }

    /// Writes `s` to stdout in one go (a frame is one write: no tearing between lines).
    func write(_ s: String) {
        var bytes = Array(s.utf8)
        var off = 0
        while off < bytes.count {
            // Safe: off < count, so the base address exists and off…count lies in the buffer.
            let n = bytes.withUnsafeMutableBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress! + off, $0.count - off) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            off += n
        }
    }

    static let readChunk = 64
    static let fallbackColumns = 80, fallbackRows = 24
}

/// Whether the live view colours its output: stdout is a terminal and NO_COLOR is not set
/// (https://no-color.org: any value, even empty, turns colour off).
func colourWanted() -> Bool {
    isatty(STDOUT_FILENO) == 1 && getenv("NO_COLOR") == nil
}
