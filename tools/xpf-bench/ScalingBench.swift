// Scaling across worker processes (issue 11 §4): 1..N processes, each pinned to its own
// CPU, each running the worker's batch function over its own flows and partition of one
// shared session table — the workers of N queues, without the AF_XDP rings. Each child
// measures its window's packets, wall time and the CPU time it got (CLOCK_THREAD_CPUTIME_ID)
// and writes them to a result file beside the region; the parent adds them up.
//
// Scaling efficiency at N is pps(N) / (N × pps(1)). Where it falls below
// `ScalingRun.stopsBelow`, the run says why, from the children's own accounting: a child
// that began its window more than `ScalingRun.lateShare` of it after the common start ran
// partly alone, so the step is marked and not judged (its sum is not N workers at once); a worker
// that got less than `cpuStarved` of its CPU was not running (the CPUs are shared with other
// work, or there are fewer than N); workers that each had their CPU but each forwarded less
// than alone are slowed by what they share (the session table's memory and caches).
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared
import XPFTestSupport

/// One child's window.
struct ScalingSample {
    var packets: UInt64
    var wallNs: UInt64
    var cpuNs: UInt64
    /// How long after the common start the child's window began.
    var lateNs: UInt64

    var pps: Double { wallNs == 0 ? 0 : Double(packets) / (Double(wallNs) / 1e9) }
    /// The share of the window the child was on its CPU.
    var cpuShare: Double { wallNs == 0 ? 0 : Double(cpuNs) / Double(wallNs) }
}

func scalingResultPath(_ region: String, _ queue: Int) -> String { "\(region).result\(queue)" }

func threadCPUNanos() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

func scalingChild(region path: String, queue: Int, cpu: Int, startNs: UInt64, durationMs: Int) -> Never {
    _ = xpf_pin_to_cpu(Int32(cpu))
    do {
        let r = try ShmRegion.attach(path: path, writable: true)
        var p = LabFixture.makePipeline(r, queue: queue)
        let f = Frames(kind: .udp4, count: flows, portBase: 1024, srcHost: UInt8(2 + queue))
        var c = WorkerCounters()
        let actions = UnsafeMutablePointer<PacketAction>.allocate(capacity: 64)
        runPass(&p, f, &c, actions)  // install this worker's sessions
        while monotonicNanos() < startNs { usleep(200) }
        var packets: UInt64 = 0
        var passes = 0
        let (t0, cpu0) = (monotonicNanos(), threadCPUNanos())
        let end = t0 + UInt64(durationMs) * 1_000_000
        let hitsBefore = c.s.session_hits
        while monotonicNanos() < end {
            runPass(&p, f, &c, actions)
            packets += UInt64(f.count)
            passes += 1
            if passes % 200 == 0 { f.restore() }
        }
        let (t1, cpu1) = (monotonicNanos(), threadCPUNanos())
        guard c.s.session_hits - hitsBefore >= packets else { die("scaling child \(queue): packets missed their sessions") }
        let text = "\(packets) \(t1 - t0) \(cpu1 - cpu0) \(t0 &- startNs)\n"
        guard let file = fopen(scalingResultPath(path, queue), "w") else { die("scaling child \(queue): cannot write its result") }
        fputs(text, file)
        fclose(file)
        exit(0)
    } catch { die("scaling child: \(error)") }
}

/// `procs` worker processes on one table, each on its own CPU (cycling through the allowed
/// ones), each forwarding its own flows for `durationMs`.
func scaling(procs: Int, durationMs: Int) throws -> (pps: Double, samples: [ScalingSample]) {
    let path = tmpRegionPath("scale\(procs)")
    _ = try LabFixture.makeRegion(path: path, queues: procs, capacity: 65_536 * procs)
    defer {
        unlink(path)
        for q in 0..<procs { unlink(scalingResultPath(path, q)) }
    }
    var cpus = [Int32](repeating: 0, count: 64)
    let ncpu = Int(cpus.withUnsafeMutableBufferPointer { xpf_allowed_cpus($0.baseAddress, 64) })
    let start = monotonicNanos() + 500_000_000
    var pids: [pid_t] = []
    for q in 0..<procs {
        let argv = [executablePath(), "--scaling-child", path, "\(q)", "\(cpus[q % max(ncpu, 1)])", "\(start)", "\(durationMs)"]
        pids.append(try spawnProcess(argv))
    }
    for pid in pids {
        var st: Int32 = 0
        waitpid(pid, &st, 0)
        if st != 0 { throw XPFError("scaling child exited with status \(st)") }
    }
    var samples: [ScalingSample] = []
    for q in 0..<procs {
        guard let text = readWholeFile(scalingResultPath(path, q)) else { throw XPFError("scaling child \(q) left no result") }
        let f = text.split(separator: " ").compactMap { UInt64(String($0).trimmingWhitespace()) }
        guard f.count == 4, f[0] > 0, f[1] > 0 else { throw XPFError("scaling child \(q): unreadable result '\(text)'") }
        samples.append(ScalingSample(packets: f[0], wallNs: f[1], cpuNs: f[2], lateNs: f[3]))
    }
    return (samples.reduce(0) { $0 + $1.pps }, samples)
}

/// The 1..N runs and what they say.
struct ScalingRun {
    struct Step {
        var workers: Int
        var pps: Double
        var samples: [ScalingSample]
        var efficiency: Double
        var why: String
        /// Every child began within lateShare of the window after the common start: the
        /// windows overlapped, and the sum is N workers at once.
        var overlapped: Bool
    }

    /// Below this efficiency a step no longer scales.
    static let stopsBelow = 0.8
    /// A worker on its CPU for less than this share of the window was not running.
    static let cpuStarved = 0.9
    /// Each worker slower than alone by more than this: slowed by what they share.
    static let sharedSlowdown = 0.9
    /// A child that began its window later than this share of it after the common start
    /// ran partly alone: its step is not judged.
    static let lateShare = 0.1

    var steps: [Step] = []
    /// The first judged step below stopsBelow.
    var stopsAt: Int? { steps.first { $0.overlapped && $0.efficiency < Self.stopsBelow }?.workers }

    /// Nil when the children's windows overlapped; else why the step is not judged.
    static func late(_ samples: [ScalingSample], windowNs: UInt64) -> String? {
        guard let (q, worst) = samples.enumerated().map({ ($0.offset, $0.element.lateNs) }).max(by: { $0.1 < $1.1 }),
              Double(worst) > lateShare * Double(windowNs) else { return nil }
        return "not judged: worker \(q) began its window \(worst / 1_000_000) ms after the common start (more than "
            + "\(Int(lateShare * 100))% of the \(windowNs / 1_000_000) ms window), so the workers did not run all at once"
    }

    static func why(_ samples: [ScalingSample], solo: Double) -> String {
        let minShare = samples.map(\.cpuShare).min() ?? 0
        let perWorker = samples.map(\.pps).min() ?? 0
        if minShare < cpuStarved {
            return "a worker was on its CPU \(Int((minShare * 100).rounded()))% of the time: the CPUs are shared (other work, or fewer CPUs than workers)"
        }
        if solo > 0 && perWorker < sharedSlowdown * solo {
            return "every worker had its CPU (≥ \(Int((minShare * 100).rounded()))%) but forwarded \(Int((perWorker / solo * 100).rounded()))% of one alone: "
                + "slowed by what they share (the session table's memory and caches)"
        }
        return "each worker forwards as fast as one alone"
    }
}

func scalingBench(quick: Bool, smoke: Bool, jsonPath: String?) -> Never {
    var cpus = [Int32](repeating: 0, count: 64)
    let ncpu = Int(cpus.withUnsafeMutableBufferPointer { xpf_allowed_cpus($0.baseAddress, 64) })
    let maxWorkers = max(2, min(ncpu, 8))
    let durationMs = smoke ? 200 : quick ? 1000 : 3000
    var run = ScalingRun()
    do {
        for n in 1...maxWorkers {
            let (pps, samples) = try scaling(procs: n, durationMs: durationMs)
            let solo = run.steps.first?.pps ?? pps
            let efficiency = solo > 0 ? pps / (Double(n) * solo) : 0
            let late = ScalingRun.late(samples, windowNs: UInt64(durationMs) * 1_000_000)
            run.steps.append(.init(workers: n, pps: pps, samples: samples, efficiency: efficiency,
                                   why: late ?? (n == 1 ? "one worker, alone" : ScalingRun.why(samples, solo: solo)),
                                   overlapped: late == nil))
        }
    } catch { die("--scaling: \(error)") }
    print("scaling across worker processes on one session table (\(ncpu) CPUs allowed, \(durationMs) ms per step)")
    print("workers         pps   per worker  efficiency  CPU share (min)  why")
    for s in run.steps {
        let share = s.samples.map(\.cpuShare).min() ?? 0
        print(String(repeating: " ", count: max(0, 7 - "\(s.workers)".count)) + "\(s.workers)"
            + pad(human(s.pps), 12) + pad(human(s.pps / Double(s.workers)), 13) + pad(String(format2(s.efficiency)), 12)
            + pad("\(Int((share * 100).rounded()))%", 17) + "  " + s.why)
    }
    print(run.stopsAt.map { "stops scaling at \($0) workers (efficiency below \(ScalingRun.stopsBelow))" }
          ?? "scales to \(maxWorkers) workers (efficiency ≥ \(ScalingRun.stopsBelow) at every step)")
    if let jsonPath {
        var j = JSONWriter()
        j.beginObject()
        j.field("cpus_allowed", ncpu)
        j.field("duration_ms", durationMs)
        j.beginArray("steps")
        for s in run.steps {
            j.beginObject()
            j.field("workers", s.workers); j.field("pps", s.pps); j.field("efficiency", s.efficiency)
            j.beginArray("cpu_share")
            for x in s.samples { j.field(nil, x.cpuShare) }
            j.endArray()
            j.beginArray("late_ms")
            for x in s.samples { j.field(nil, Double(x.lateNs) / 1e6) }
            j.endArray()
            j.field("overlapped", s.overlapped)
            j.field("why", s.why)
            j.endObject()
        }
        j.endArray()
        if let at = run.stopsAt { j.field("stops_at", at) } else { j.null("stops_at") }
        j.endObject()
        guard let f = fopen(jsonPath, "w") else { die("cannot write \(jsonPath)") }
        fputs(j.text + "\n", f)
        fclose(f)
    }
    // --smoke is a functional check: every step forwarded.
    let ok = run.steps.allSatisfy { $0.pps > 0 }
    print(ok ? "1 passed, 0 failed" : "0 passed, 1 failed")
    exit(ok ? 0 : 1)
}

func pad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
func format2(_ v: Double) -> Double { (v * 100).rounded() / 100 }

func human(_ v: Double) -> String {
    let units = ["", "k", "M", "G"]
    var x = v, i = 0
    while x >= 1000 && i < units.count - 1 { x /= 1000; i += 1 }
    return i == 0 ? String(Int(x.rounded())) : "\((x * 10).rounded() / 10) \(units[i])"
}
