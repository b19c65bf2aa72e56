// The interactive terminal of xpf-top: raw mode (termios) on stdin while the live view
// runs, the alternate screen on stdout, keys read with poll() whose timeout is the time
// left until the next refresh (no busy loop), and the terminal given back on every exit
// path: `q`, SIGINT / SIGTERM / SIGHUP (their handler only sets a flag, HAProxy-style; the
// main loop sees it when poll() returns EINTR) and a thrown error (`deinit`).
#if canImport(Glibc)
import Glibc
#endif

/// Set by the signal handlers, read by the main loop (a sig_atomic_t: the only thing a
/// handler may write).
nonisolated(unsafe) var interrupted: sig_atomic_t = 0

/// SIGINT, SIGTERM and SIGHUP only set `interrupted`. signal() on glibc installs them with
/// SA_RESTART, which never restarts poll(): it returns EINTR and the loop ends.
func catchTerminationSignals() {
    for s in [SIGINT, SIGTERM, SIGHUP] { signal(s) { _ in interrupted = 1 } }
}

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
        guard isatty(STDIN_FILENO) == 1, tcgetattr(STDIN_FILENO, &saved) == 0 else { return nil }
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        // Safe: c_cc is NCCS (32) bytes; VMIN and VTIME are indices below it. A read after
        // poll() said readable returns at least one byte at once.
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0 else { return nil }
        write(Escape.alternateScreenOn + Escape.cursorHide)
    }

    deinit { restore() }

    /// Gives the terminal back as it was (idempotent).
    func restore() {
        guard !restored else { return }
        restored = true
        write(Escape.cursorShow + Escape.alternateScreenOff)
        _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
    }

    /// Waits up to `timeoutMs` for input; the bytes read (empty on timeout or a signal).
    func readKeys(timeoutMs: Int32) -> [UInt8] {
        var fds = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        guard poll(&fds, 1, max(timeoutMs, 0)) > 0, fds.revents & Int16(POLLIN | POLLHUP) != 0 else { return [] }
        var buf = [UInt8](repeating: 0, count: Self.readChunk)
        let n = buf.withUnsafeMutableBytes { Glibc.read(STDIN_FILENO, $0.baseAddress, $0.count) }
        // End of input (the terminal went away) reads as `q`.
        if n == 0 { return [UInt8(ascii: "q")] }
        return n > 0 ? Array(buf[0..<n]) : []
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
