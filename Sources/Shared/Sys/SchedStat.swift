// The scheduler's accounting of a thread (/proc/thread-self/schedstat): "RUN WAIT SLICES\n",
// ns spent on a CPU, ns spent runnable waiting for one (preempted, or throttled by a cgroup
// CPU quota), and timeslices run. A worker reads it with its socket statistics, every
// WorkerControl.publishIntervalNs (xpf_abi.h, struct xpf_worker_socket_stats).
#if canImport(Glibc)
import Glibc
#endif

public enum SchedStat {
    /// The file of the calling thread.
    public static let path = "/proc/thread-self/schedstat"
    /// The line is three decimal numbers of at most 20 digits, with separators.
    static let bufferSize = 80

    /// RUN and WAIT: the first two space-separated decimal numbers of a schedstat line, or
    /// nil when the line does not start with two (or a number overflows 64 bits).
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> (run: UInt64, wait: UInt64)? {
        var values: (UInt64, UInt64) = (0, 0)
        var field = 0, digits = 0
        for b in bytes {
            if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") {
                let current = field == 0 ? values.0 : values.1
                let (m, o1) = current.multipliedReportingOverflow(by: 10)
                let (v, o2) = m.addingReportingOverflow(UInt64(b - UInt8(ascii: "0")))
                if o1 || o2 { return nil }
                if field == 0 { values.0 = v } else { values.1 = v }
                digits += 1
            } else if digits > 0 && (b == UInt8(ascii: " ") || b == UInt8(ascii: "\n")) {
                field += 1
                digits = 0
                if field == 2 { return values }
            } else {
                return nil
            }
        }
        return nil
    }

    /// Reads RUN and WAIT from `fd` (the file kept open: read from offset 0 each time).
    public static func read(_ fd: Int32) -> (run: UInt64, wait: UInt64)? {
        guard fd >= 0 else { return nil }
        return withUnsafeTemporaryAllocation(byteCount: bufferSize, alignment: 1) { buf in
            let n = pread(fd, buf.baseAddress, bufferSize, 0)
            guard n > 0 else { return nil }
            return parse(UnsafeRawBufferPointer(rebasing: buf[..<n]))
        }
    }
}
