// xpf-bench --events [--quick | --smoke] [--json FILE]: the cost of security events
// (issue 8) in one command.
//
//   events.emit_instructions           EventEmitter.emit with a one-field fill: reserve,
//                                      header, sequence, counters, submit (target ≤ 40)
//   events.emit_capped_instructions    the same with `security log rate-cap` configured (the
//                                      token bucket's check; a cap no event reaches)
//   events.session_event_instructions  Pipeline.emitSessionEvent: emit + SessionEvent.write
//                                      of a real session record (the CREATE a first packet pays)
//   pipeline.session_hit_v4_instructions / pipeline.first_packet_instructions
//                                      the pipeline scenarios of xpf-bench: a hit emits nothing;
//                                      each first packet emits a CREATE (written while the
//                                      ring has room, 2048 of the 10 000, then dropped)
//   rtflow.lines_per_s, rtflow.baseline_lines_per_s, rtflow.ratio
//                                      xpfd's drain + format + write (RTFlowBench.swift)
//
// Instructions are counted by callgrind in a child (`--callgrind emit|session_event N`) over
// exactly the events one ring holds: the ring is empty when counting starts and full when it
// stops, so no event is dropped and no drain runs inside the measured region. The count
// includes the benchmark loop around the call (counter, compare, branch; the session event
// loop also loads the record index).
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared

enum EventScenario: String {
    case emit, emitCapped = "emit_capped", sessionEvent = "session_event"
}

/// `security log rate-cap` of the capped scenario: a cap no event of one ring reaches, so
/// every event pays the token bucket's check and is admitted.
let benchRateCap = 1_000_000
let cappedConfigText = "system { dataplane { interfaces [ fw0 fw1 ]; } } security { log { rate-cap \(benchRateCap); } }"

/// What the minimal fill writes: the first payload field (realtime_ns).
let minimalFillStamp: UInt64 = 0x5EED

/// The benchmark's one call of EventEmitter.emit: an event about a packet that arrived on
/// fw0 (slot 0) in the worker loop pass of `nowMs`.
@inline(__always)
func emitMinimal(_ events: inout EventEmitter, _ counters: inout WorkerCounters, nowMs: UInt32) {
    events.emit(XPF_EV_SESSION_CREATE, ingress: 0, nowMs: nowMs, length: flowEventLength, counters: &counters) {
        $0.storeBytes(of: minimalFillStamp, as: UInt64.self)
    }
}

/// `count` minimal events, emit inlined into the loop as it is into the pipeline.
@inline(never)
func emitBatch(_ events: inout EventEmitter, _ counters: inout WorkerCounters, count: Int, nowMs: UInt32) {
    for _ in 0..<count { emitMinimal(&events, &counters, nowMs: nowMs) }
}

/// One CREATE per session in `sessions`, as a first packet emits it.
@inline(never)
func sessionEventBatch(_ p: inout Pipeline, _ counters: inout WorkerCounters, sessions: UnsafeMutableBufferPointer<Int>) {
    for index in sessions { p.emitSessionEvent(XPF_EV_SESSION_CREATE, index: index, reason: XPF_CLOSE_NONE, counters: &counters) }
}

/// Callgrind child: counts the instructions of exactly one ring of `events` events.
func eventCallgrindChild(_ scenario: EventScenario, _ events: Int) -> Never {
    guard events == eventRingSize else { die("--callgrind \(scenario.rawValue): measures exactly one ring (\(eventRingSize) events)") }
    do {
        let fx = try EventFixture(name: "cg-\(scenario.rawValue)")
        let s = fx.scenario
        s.pipeline.nowRealtimeNs = realtimeNanos()
        if scenario == .emitCapped {
            let image = try ConfigSnapshotImage(ConfigModel.load(text: cappedConfigText, file: "xpf-bench").1)
            image.withView { s.pipeline.events.configure($0, nowMs: s.pipeline.nowMs) }
            guard s.pipeline.events.limiter.capped else {
                unlink(s.region.path)
                die("--callgrind emit_capped: the rate cap is not in effect")
            }
        }
        // One event of each kind outside the region, drained: first calls (lazy binding) are not counted.
        emitMinimal(&s.pipeline.events, &s.counters, nowMs: s.pipeline.nowMs)
        s.pipeline.emitSessionEvent(XPF_EV_SESSION_CREATE, index: fx.sessions[0], reason: XPF_CLOSE_NONE, counters: &s.counters)
        fx.drain.drain(budget: UInt32(XPF_EVENT_RING_SIZE)) { _ in }
        let emittedBefore = s.counters.s.events_emitted

        xpf_callgrind_start()
        switch scenario {
        case .emit, .emitCapped: emitBatch(&s.pipeline.events, &s.counters, count: events, nowMs: s.pipeline.nowMs)
        case .sessionEvent: sessionEventBatch(&s.pipeline, &s.counters, sessions: fx.sessions)
        }
        xpf_callgrind_stop()

        // The region held every event: consecutive sequences, the expected payload, no drop.
        var n = 0, ok = true
        fx.drain.drain(budget: UInt32(XPF_EVENT_RING_SIZE)) { e in
            n += 1
            if e.pointee.hdr.sequence != emittedBefore + UInt64(n) || e.pointee.hdr.type != UInt8(XPF_EV_SESSION_CREATE.rawValue) { ok = false }
            switch scenario {
            case .emit, .emitCapped: if e.pointee.u.flow.realtime_ns != minimalFillStamp { ok = false }
            case .sessionEvent: if Int(e.pointee.u.flow.session_id) != fx.sessions[n - 1] + 1 { ok = false }
            }
        }
        unlink(s.region.path)  // exit() skips deinit
        exit(ok && n == events && s.counters.s.events_dropped == 0 && s.counters.s.events_rate_limited == 0 ? 0 : 3)
    } catch { die("\(error)") }
}

let emitInstructionTarget = 40.0

func eventsBench(quick: Bool, smoke: Bool, jsonPath: String?) -> Never {
    var results: [(String, Double?)] = []
    var checks: [(String, Bool)] = []

    let emitI = instructionsPerPacket(scenario: EventScenario.emit.rawValue, packets: eventRingSize)
    let cappedI = instructionsPerPacket(scenario: EventScenario.emitCapped.rawValue, packets: eventRingSize)
    let sessionI = instructionsPerPacket(scenario: EventScenario.sessionEvent.rawValue, packets: eventRingSize)
    let hitPackets = smoke ? 20_000 : quick ? 100_000 : 400_000
    let hitI = instructionsPerPacket(scenario: "session_hit_v4", packets: hitPackets)
    let firstI = smoke ? nil : instructionsPerPacket(scenario: "first_packet", packets: flows)
    results += [("events.emit_instructions", emitI), ("events.emit_capped_instructions", cappedI), ("events.session_event_instructions", sessionI),
                ("pipeline.session_hit_v4_instructions", hitI), ("pipeline.first_packet_instructions", firstI)]
    checks.append(("callgrind counted emit (one ring, no drop)", emitI != nil))
    checks.append(("callgrind counted emit under a rate cap (one ring, none suppressed)", cappedI != nil))
    checks.append(("callgrind counted a session event (one ring, no drop)", sessionI != nil))
    checks.append(("callgrind counted session hits", hitI != nil))

    func show(_ v: Double?) -> String { v.map { "\(($0 * 10).rounded() / 10)" } ?? "n/a (no valgrind, or the child failed)" }
    print("events: emit                          \(show(emitI)) instructions/event  target ≤ \(Int(emitInstructionTarget))")
    print("events: emit, rate cap configured     \(show(cappedI)) instructions/event  target ≤ \(Int(emitInstructionTarget))")
    print("events: session event (emit + write)  \(show(sessionI)) instructions/event")
    print("events: session hit v4 (no event)     \(show(hitI)) instructions/packet  (history: docs/performance.md)")
    if !smoke {
        print("events: first packet (a CREATE each)  \(show(firstI)) instructions/packet")
    }

    let lines = smoke ? 2 * eventRingSize : quick ? 64 * eventRingSize : 128 * eventRingSize
    let runs = smoke ? 1 : quick ? 3 : rtflowRuns
    do {
        let r = try rtflowBench(lines: lines, runs: runs)
        printRTFlow(r)
        results += [("rtflow.lines_per_s", r.linesPerS), ("rtflow.baseline_lines_per_s", r.baselinePerS),
                    ("rtflow.ratio", r.baselinePerS > 0 ? r.linesPerS / r.baselinePerS : nil),
                    ("rtflow.bytes_per_line", Double(r.bytesPerLine))]
        checks += r.checks
    } catch {
        print("rtflow: \(error)")
        checks.append(("rtflow ran", false))
    }

    if let jsonPath {
        var j = JSONWriter()
        j.beginObject()
        for (k, v) in results { if let v { j.field(k, v) } else { j.null(k) } }
        j.endObject()
        do { try writeWholeFile(jsonPath, j.text + "\n") } catch { die("\(error)") }
    }
    for (name, ok) in checks { print("\(ok ? "ok" : "not ok") - \(name)") }
    let passed = checks.filter { $0.1 }.count
    print("\(passed) passed, \(checks.count - passed) failed")
    exit(passed == checks.count ? 0 : 1)
}

/// Runs of the drain benchmark whose median is reported.
let rtflowRuns = 5
