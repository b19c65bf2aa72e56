// xpf-bench --rtflow LINES: xpfd's syslog path (issue 8): RT_FLOW CREATE/CLOSE records routed
// through SyslogRouter to one structured-data file — format + one write(2) per drain pass of
// `rtflowBatch` lines — against a same-run baseline that writes the same number of equally
// long fixed lines with a plain copy loop and the same batching. Prints lines/s of both and
// their ratio (median of `rtflowRuns` runs); the target is ≥ 300 000 lines/s.
#if canImport(Glibc)
import Glibc
#endif
import Shared

/// Lines per flush: one drain pass.
let rtflowBatch = 256
let rtflowRuns = 5

func rtflowBench(lines: Int) -> Never {
    var template = Array("/tmp/xpf-bench-rtflow-XXXXXX".utf8CString)
    guard let d = mkdtemp(&template) else { die("mkdtemp failed") }
    let dir = String(cString: d)
    /// Removes the output (up to a gigabyte) before dying: exit() runs no defer.
    func fail(_ message: String) -> Never {
        _ = spawnAndWait(["/bin/rm", "-rf", dir])
        die(message)
    }
    let everything = ConfigModel.SyslogContent(
        selectors: [.init(facility: .any, severity: .any)], structuredData: true, brief: true)
    var create = RTFlowRecord(kind: .sessionCreate, realtimeNanos: realtimeNanos(), hostName: "fw1")
    create.sourceAddress = ConfigModel.IPAddress("10.0.1.10")!
    create.sourcePort = 43210
    create.destinationAddress = ConfigModel.IPAddress("192.0.2.80")!
    create.destinationPort = 443
    create.protocolID = 6
    create.serviceName = "junos-https"
    create.setUntranslated()
    create.policyName = "trust-to-untrust"
    create.sourceZoneName = "trust"
    create.destinationZoneName = "untrust"
    create.interfaceName = "ge-0/0/1.0"
    var close = create
    close.kind = .sessionClose
    close.reason = JunosReason.tcpFIN
    close.packetsFromClient = 12
    close.bytesFromClient = 1480
    close.packetsFromServer = 10
    close.bytesFromServer = 14_000
    close.elapsedSeconds = 3
    var records = [create, close]

    var formatted: [Double] = []
    var baseline: [Double] = []
    for run in 0..<rtflowRuns {
        let name = "rtflow-\(run)"
        let router: SyslogRouter
        do {
            router = try SyslogRouter(syslog: .init(files: [.init(name: name, content: everything)]), logDirectory: dir,
                                      defaultRotation: SyslogFileRotation(files: 1, size: Int.max / 2), report: { print($0) })
        } catch { fail("\(error)") }
        let start = realtimeNanos()
        let t0 = monotonicNanos()
        for i in 0..<lines {
            records[i & 1].sessionID = UInt64(i)
            records[i & 1].realtimeNanos = start &+ UInt64(i) &* 1000
            router.route(records[i & 1], now: t0)
            if i % rtflowBatch == rtflowBatch - 1 { router.flush(now: t0) }
        }
        router.flush(now: t0)
        let t1 = monotonicNanos()
        let s = router.statistics[0]
        guard s.written == UInt64(lines), s.failed == 0 else { fail("rtflow: written \(s.written), failed \(s.failed)") }
        var st = stat()
        guard stat(dir + "/" + name, &st) == 0 else { fail("rtflow: no output file") }
        unlink(dir + "/" + name)  // each run writes about 800 MB per million lines
        formatted.append(Double(lines) / (Double(t1 - t0) / 1e9))

        // Baseline: fixed lines of the same mean length, same batching, plain loop.
        let mean = Int(st.st_size) / lines
        let fixed = [UInt8](repeating: UInt8(ascii: "x"), count: mean - 1) + [UInt8(ascii: "\n")]
        let fd = open(dir + "/baseline-\(run)", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { fail("rtflow: cannot open the baseline file") }
        var buf = [UInt8]()
        buf.reserveCapacity(rtflowBatch * mean)
        let t2 = monotonicNanos()
        for i in 0..<lines {
            buf.append(contentsOf: fixed)
            if i % rtflowBatch == rtflowBatch - 1 || i == lines - 1 {
                _ = buf.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                buf.removeAll(keepingCapacity: true)
            }
        }
        let t3 = monotonicNanos()
        Glibc.close(fd)
        unlink(dir + "/baseline-\(run)")
        baseline.append(Double(lines) / (Double(t3 - t2) / 1e9))
        if run == 0 { print("rtflow: \(mean) bytes per line (CREATE and CLOSE alternating, sd-syslog brief)") }
    }
    rmdir(dir)
    let f = median(formatted), b = median(baseline)
    print("rtflow: format+write \(Int(f)) lines/s (\(Int(1e9 / f)) ns/line); baseline \(Int(b)) lines/s; ratio \((f / b * 1000).rounded() / 1000)")
    exit(0)
}
