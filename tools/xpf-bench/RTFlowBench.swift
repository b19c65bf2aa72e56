// xpfd's event path, supervisor side (issue 8): drain + name resolution + RT_FLOW format +
// write, measured on the real code. A worker's Pipeline (the lab fixture's region) emits
// session CREATE and CLOSE events about real session records into its real event ring
// (EventEmitter via Pipeline.emitSessionEvent); the timed part is exactly xpfd's
// drainEvents(): EventDrain.drain of the whole ring, EventNames.record (interface, zone,
// policy names from a configuration with zones), SyslogRouter.route per event and one
// flush per pass to a structured-data file (`system syslog file`). The ring is refilled
// between passes, outside the timing.
//
// Baseline, in the same run and interleaved pass by pass: the very bytes that pass wrote,
// read back untimed and split into lines, copied line by line into a buffer by a plain loop
// and written with write(2) to another file of the same directory, flushing where the
// router flushes (after a line that takes the batch to SyslogDestination.maxBatchBytes,
// and at the end of the pass). ratio = real lines/s ÷ baseline lines/s.
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared

/// Configuration whose names the drain resolves and whose syslog file it writes: the lab's
/// zones (trust on fw0, untrust on fw1), a permit policy, RFC 5424 structured data. The
/// archive size is above what one run writes, so no rotation happens inside a measurement.
let rtflowConfigText = """
system { host-name xpf-bench; dataplane { interfaces [ fw0 fw1 ]; }
  syslog { file rtflow { any any; structured-data; archive { files 2; size 1g; } } } }
security { zones { security-zone trust { interfaces { fw0.0; } } security-zone untrust { interfaces { fw1.0; } } }
  policies { from-zone trust to-zone untrust { policy bench-permit {
    match { source-address any; destination-address any; application any; } then { permit; } } } } }
"""

let eventRingSize = Int(XPF_EVENT_RING_SIZE)

struct RTFlowResult {
    var linesPerS: Double
    var baselinePerS: Double
    var bytesPerLine: Int
    /// /proc/loadavg's 1-minute figure before and after: other load on the machine lowers
    /// both throughputs (the ratio less so: the passes interleave).
    var loadBefore: String
    var loadAfter: String
    var checks: [(String, Bool)]
}

func loadAverage() -> String { readWholeFile("/proc/loadavg")?.split(separator: " ").first.map(String.init) ?? "?" }

/// A worker's pipeline with `eventRingSize` installed UDP sessions and an empty event ring,
/// plus the record indices of those sessions (from their CREATE events).
final class EventFixture {
    let scenario: Scenario
    let drain: EventDrain
    var sessions: UnsafeMutableBufferPointer<Int>

    init(name: String) throws {
        scenario = try Scenario(name: name, kind: .udp4, flows: eventRingSize, capacity: 65536)
        drain = EventDrain(region: scenario.region)
        scenario.pipeline.nowRealtimeNs = realtimeNanos()
        scenario.pass()  // one CREATE per new session: exactly fills the ring
        sessions = .allocate(capacity: eventRingSize)
        var n = 0
        drain.drain(budget: UInt32(XPF_EVENT_RING_SIZE)) { e in
            if n < eventRingSize { sessions[n] = Int(e.pointee.u.flow.session_id) - 1 }
            n += 1
        }
        guard n == eventRingSize, scenario.counters.s.events_dropped == 0 else {
            throw XPFError("event fixture: \(n) CREATE events for \(eventRingSize) new sessions, \(scenario.counters.s.events_dropped) dropped")
        }
    }

    deinit { sessions.deallocate() }
}

/// Emits `count` (≤ the ring) session events, CREATE and CLOSE alternating, about the
/// fixture's sessions, with the clock of a worker loop pass taken now.
func refillRing(_ fx: EventFixture, count: Int) {
    let s = fx.scenario
    s.pipeline.nowRealtimeNs = realtimeNanos()
    s.pipeline.nowS = UInt32(truncatingIfNeeded: monotonicNanos() / 1_000_000_000)
    for i in 0..<count {
        s.pipeline.emitSessionEvent(i & 1 == 0 ? XPF_EV_SESSION_CREATE : XPF_EV_SESSION_CLOSE, index: fx.sessions[i],
                                    reason: XPF_CLOSE_IDLE, counters: &s.counters)
    }
}

/// `lines` RT_FLOW lines per run, `runs` runs; throughputs are medians over the runs.
func rtflowBench(lines: Int, runs: Int) throws -> RTFlowResult {
    var template = Array("/tmp/xpf-bench-rtflow-XXXXXX".utf8CString)
    guard let d = mkdtemp(&template) else { throw XPFError("mkdtemp failed") }
    let dir = String(cString: d)
    defer { _ = spawnAndWait(["/bin/rm", "-rf", dir]) }

    let model = try ConfigModel.load(text: rtflowConfigText, file: "xpf-bench").1
    let fx = try EventFixture(name: "rtflow")
    defer { unlink(fx.scenario.region.path) }
    var names = EventNames(hostName: model.dataplane.hostName ?? "xpf-bench", interfaces: ["fw0", "fw1"])
    names.adopt(generation: fx.scenario.pipeline.generation, model: model)

    let maxBatch = SyslogDestination.maxBatchBytes
    let copyBuffer = UnsafeMutableRawPointer.allocate(byteCount: 2 * maxBatch, alignment: 64)
    defer { copyBuffer.deallocate() }
    var readBack = [UInt8]()
    var lineEnds: [Int] = []
    lineEnds.reserveCapacity(eventRingSize)

    let loadBefore = loadAverage()
    var real: [Double] = [], baseline: [Double] = []
    var checks: [(String, Bool)] = []
    var totalBytes = 0, totalLines = 0
    var allWritten = true, allLines = true, sameBytes = true, wellFormed = true
    let drainedBefore = fx.drain.drained, droppedBefore = fx.scenario.counters.s.events_dropped
    for run in 0..<runs {
        let router = try SyslogRouter(syslog: model.syslog, securityLog: model.securityLog, logDirectory: dir, report: { print($0) })
        let path = dir + "/rtflow"
        let basePath = dir + "/baseline"
        let readFd = open(path, O_RDONLY | O_CREAT, 0o644)
        let baseFd = open(basePath, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0o644)
        guard readFd >= 0, baseFd >= 0 else { throw XPFError("rtflow: cannot open \(path) or \(basePath)") }
        var realNs: UInt64 = 0, baseNs: UInt64 = 0
        var done = 0, offset = 0, baseBytes = 0
        while done < lines {
            let n = min(eventRingSize, lines - done)
            refillRing(fx, count: n)

            // Timed: xpfd's drainEvents().
            let t0 = monotonicNanos()
            fx.drain.drain(budget: UInt32(XPF_EVENT_RING_SIZE)) { e in
                if let r = names.record(e) { router.route(r) }
            }
            router.flush()
            let t1 = monotonicNanos()
            realNs += t1 - t0

            // Untimed: this pass's bytes, read back and split into lines.
            var st = stat()
            guard fstat(readFd, &st) == 0 else { throw XPFError("rtflow: fstat failed") }
            let size = Int(st.st_size) - offset
            readBack = [UInt8](repeating: 0, count: size)
            let got = readBack.withUnsafeMutableBytes { pread(readFd, $0.baseAddress, size, off_t(offset)) }
            guard got == size else { throw XPFError("rtflow: read back \(got) of \(size) bytes") }
            offset += size
            lineEnds.removeAll(keepingCapacity: true)
            for (i, b) in readBack.enumerated() where b == UInt8(ascii: "\n") { lineEnds.append(i + 1) }
            if lineEnds.count != n { allLines = false }
            if !passStartsWell(readBack, lineEnds, count: n) { wellFormed = false }

            // Timed: the baseline, a plain copy loop of the same lines and the same write(2) batches.
            let t2 = monotonicNanos()
            readBack.withUnsafeBytes { src in
                var start = 0, filled = 0
                for end in lineEnds {
                    copyBuffer.advanced(by: filled).copyMemory(from: src.baseAddress! + start, byteCount: end - start)
                    filled += end - start
                    start = end
                    if filled >= maxBatch { baseBytes += write(baseFd, copyBuffer, filled); filled = 0 }
                }
                if filled > 0 { baseBytes += write(baseFd, copyBuffer, filled) }
            }
            let t3 = monotonicNanos()
            baseNs += t3 - t2
            done += n
        }
        let s = router.statistics[0]
        if s.written != UInt64(lines) || s.failed != 0 { allWritten = false }
        if baseBytes != offset { sameBytes = false }
        totalBytes += offset
        totalLines += lines
        close(readFd)
        close(baseFd)
        unlink(path)  // each run writes about 900 MB per million lines, twice
        unlink(basePath)
        real.append(Double(lines) / (Double(realNs) / 1e9))
        baseline.append(Double(lines) / (Double(baseNs) / 1e9))
        if run == 0 { print("rtflow: \(offset / lines) bytes per line (CREATE and CLOSE alternating, structured-data)") }
    }
    let drained = fx.drain.drained - drainedBefore
    let dropped = fx.scenario.counters.s.events_dropped - droppedBefore
    checks.append(("rtflow: every event drained and none dropped (\(drained) of \(lines * runs), \(dropped) dropped)",
                   drained == UInt64(lines * runs) && dropped == 0))
    checks.append(("rtflow: the router counts every line written", allWritten))
    checks.append(("rtflow: one line in the file per event", allLines))
    checks.append(("rtflow: each pass starts with a CREATE and a CLOSE line in RFC 5424 structured data", wellFormed))
    checks.append(("rtflow: the baseline wrote the same bytes", sameBytes))
    return RTFlowResult(linesPerS: median(real), baselinePerS: median(baseline),
                        bytesPerLine: totalLines > 0 ? totalBytes / totalLines : 0,
                        loadBefore: loadBefore, loadAfter: loadAverage(), checks: checks)
}

/// The first lines of a pass are the CREATE and CLOSE of `refillRing`, as RFC 5424
/// structured-data RT_FLOW lines.
func passStartsWell(_ bytes: [UInt8], _ lineEnds: [Int], count: Int) -> Bool {
    let first = lineEnds.first ?? 0
    let line0 = String(decoding: bytes[0..<first], as: UTF8.self)
    guard line0.hasPrefix("<"), line0.contains(" RT_FLOW - RT_FLOW_SESSION_CREATE [junos@") else { return false }
    guard count > 1, lineEnds.count > 1 else { return count == 1 }
    let line1 = String(decoding: bytes[first..<lineEnds[1]], as: UTF8.self)
    return line1.contains(" RT_FLOW - RT_FLOW_SESSION_CLOSE [junos@") && line1.contains("reason=\"idle Timeout\"")
}

func printRTFlow(_ r: RTFlowResult) {
    let ratio = r.baselinePerS > 0 ? r.linesPerS / r.baselinePerS : 0
    print("rtflow: drain+format+write \(Int(r.linesPerS)) lines/s (\(Int(1e9 / r.linesPerS)) ns/line); "
        + "baseline (write of the same lines) \(Int(r.baselinePerS)) lines/s; ratio \((ratio * 1000).rounded() / 1000)"
        + "  target ≥ \(rtflowTarget) lines/s (load average \(r.loadBefore) → \(r.loadAfter))")
}

let rtflowTarget = 300_000
