// xpfd's side of the packet trace (issue 9 §1): one trace at a time, armed in every worker
// block on `xpfctl trace` / `xpfctl monitor security packet-drop` and relayed to it
// (Status/TraceControl.swift; the worker's side is Pipeline/Trace.swift). Control requests:
//
//   trace-start COUNT all|drops [FILTER WORDS]   → `trace ID armed on N workers`
//   trace-poll ID    → `trace ID active|done|stopped|replaced RECEIVED/COUNT`, then one
//                      `record QUEUE HEX` line per record drained since the last poll
//   trace-stop ID    → disarms (`trace ID stopped`)
//
// A trace is done once COUNT records arrived (xpfd then disarms every worker: each one
// records at most COUNT, so the first COUNT over all of them are kept); a new trace
// replaces the running one; a trace nobody polled for `abandonAfterNs` is disarmed.
import CXPF
import Shared

final class PacketTraces {
    let region: ShmRegion
    var collector: TraceCollector
    var lastID: UInt32 = 0
    var active: (id: UInt32, count: Int, received: Int, lastPollNs: UInt64)?
    /// Why the last trace ended, by id (for its last poll).
    var ended: (id: UInt32, state: String, received: Int, count: Int)?
    /// An xpfctl that stopped polling (killed) leaves its trace armed this long at most.
    static let abandonAfterNs: UInt64 = 5_000_000_000

    init(region: ShmRegion) {
        self.region = region
        collector = TraceCollector(region: region)
    }

    func handle(_ words: [String]) -> String {
        switch words.first {
        case "trace-start":
            guard words.count >= 3, let count = Int(words[1]), count >= 1, count <= Int(XPF_TRACE_RING_SIZE),
                  words[2] == "all" || words[2] == "drops" else {
                return "error: usage: trace-start COUNT(1-\(XPF_TRACE_RING_SIZE)) all|drops [filters]"
            }
            let interfaces = (0..<region.interfaceCount).map { stringFromCArray(region.iface($0).name) }
            let filter: xpf_trace_filter
            do {
                filter = try TraceFilter(words: Array(words.dropFirst(3)))
                    .compiled(id: lastID &+ 1, count: UInt32(count), dropsOnly: words[2] == "drops", interfaces: interfaces)
            } catch { return "error: \(error)" }
            if let a = active { ended = (a.id, "replaced", a.received, a.count) }
            lastID &+= 1
            _ = collector.drain(id: 0)  // what an earlier trace left in the rings
            region.armTrace(filter)
            active = (lastID, count, 0, monotonicNanos())
            // Every block is armed: a worker started later (a restart, a parked queue's) follows it too.
            let running = (0..<region.queues).filter {
                let st = xpf_load_acquire_u32(xpf_wb_state(region.worker($0)))
                return st == UInt32(XPF_WORKER_STARTING.rawValue) || st == UInt32(XPF_WORKER_RUNNING.rawValue)
            }.count
            return "trace \(lastID) armed on \(running) workers"
        case "trace-poll":
            guard words.count == 2, let id = UInt32(words[1]) else { return "error: usage: trace-poll ID" }
            guard var a = active, a.id == id else {
                if let e = ended, e.id == id { return "trace \(id) \(e.state) \(e.received)/\(e.count)" }
                return "error: no trace \(id)"
            }
            let fresh = collector.drain(id: id).sorted { $0.record.time_ns < $1.record.time_ns }
            let kept = fresh.prefix(a.count - a.received)
            a.received += kept.count
            a.lastPollNs = monotonicNanos()
            active = a
            let done = a.received >= a.count
            if done { finish("done") }
            return (["trace \(id) \(done ? "done" : "active") \(a.received)/\(a.count)"] + kept.map(\.line)).joined(separator: "\n")
        case "trace-stop":
            guard words.count == 2, let id = UInt32(words[1]) else { return "error: usage: trace-stop ID" }
            guard let a = active, a.id == id else { return "trace \(id) not running" }
            finish("stopped")
            return "trace \(id) stopped"
        default:
            return "error: unknown trace request"
        }
    }

    /// Disarms a trace nobody polls any more (called every loop pass).
    func expire(nowNs: UInt64) {
        if let a = active, nowNs &- a.lastPollNs > Self.abandonAfterNs {
            logLine("xpfd", "trace \(a.id): no poll for \(Self.abandonAfterNs / 1_000_000_000) s, disarmed")
            finish("stopped")
        }
    }

    private func finish(_ state: String) {
        guard let a = active else { return }
        var off = xpf_trace_filter()
        off.id = a.id  // count 0: disarmed
        region.armTrace(off)
        ended = (a.id, state, a.received, a.count)
        active = nil
    }
}
