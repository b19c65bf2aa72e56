// xpfctl: the packet trace (issue 9 §1) — `xpfctl trace [filters]` (every stage's decision
// for each matching packet) and `xpfctl monitor security packet-drop [filters]` (one line
// per dropped packet, as Junos prints them). xpfd arms the workers and relays their records
// (Sources/Supervisor/Traces.swift); names come from the region and its running
// configuration snapshot.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CXPF
import Shared

/// Set by SIGINT while a trace runs: the loop then stops the trace and exits.
nonisolated(unsafe) var traceInterrupted: sig_atomic_t = 0

struct TraceOptions: ParsableArguments {
    @Option(name: .long, help: "Stop after N packets (1-\(XPF_TRACE_RING_SIZE)).")
    var count: Int = 10
    @Option(name: .long, help: "Stop after S seconds even when fewer packets matched (0: wait for the count or Ctrl-C).")
    var timeout: Double = 0
    @Argument(help: "Filters: \(TraceFilter.usage)")
    var filters: [String] = []

    func validate() throws {
        guard (1...Int(XPF_TRACE_RING_SIZE)).contains(count) else { throw ValidationError("--count must be 1-\(XPF_TRACE_RING_SIZE)") }
        guard timeout >= 0 else { throw ValidationError("--timeout must not be negative") }
        do { _ = try TraceFilter(words: filters) } catch { throw ValidationError("\(error)") }
    }
}

/// Arms a trace through xpfd (then calls `armed`), hands each record to `emit` as it
/// arrives, and stops it at the count, the timeout or Ctrl-C.
func runTrace(_ common: Common, _ o: TraceOptions, dropsOnly: Bool, armed: () -> Void = {}, emit: (TracedPacket) -> Void) throws {
    let reply = try control(common.stateDir, (["trace-start", String(o.count), dropsOnly ? "drops" : "all"] + o.filters).joined(separator: " "))
    let started = reply.split(separator: " ")
    guard started.count >= 2, started[0] == "trace", let id = UInt32(started[1]) else { print(reply); throw ExitCode(1) }
    armed()
    signal(SIGINT) { _ in traceInterrupted = 1 }
    let pollIntervalUs: UInt32 = 100_000
    let deadline = o.timeout > 0 ? monotonicNanos() + UInt64(o.timeout * 1e9) : UInt64.max
    while true {
        let poll = try control(common.stateDir, "trace-poll \(id)")
        let lines = poll.split(separator: "\n")
        guard let status = lines.first, status.hasPrefix("trace \(id) ") else { print(poll); throw ExitCode(1) }
        for l in lines.dropFirst() { if let r = TracedPacket(line: l) { emit(r) } }
        let state = status.split(separator: " ")[2]
        if state == "replaced" { print("trace \(id) was replaced by a newer one"); throw ExitCode(1) }
        if state != "active" { return }
        if traceInterrupted != 0 || monotonicNanos() >= deadline {
            _ = try control(common.stateDir, "trace-stop \(id)")
            return
        }
        usleep(pollIntervalUs)
    }
}

/// Names for a record's indices, from the region (interfaces) and the snapshot running when
/// the record is printed.
struct TraceNames {
    let region: ShmRegion  // mapped as long as the names are used
    let interfaces: [String]
    var view: ConfigSnapshotView { region.configView(slot: region.current(.config).slot) }

    init(_ region: ShmRegion) {
        self.region = region
        interfaces = (0..<region.interfaceCount).map { stringFromCArray(region.iface($0).name) }
    }

    func interface(_ slot: UInt8) -> String { Int(slot) < interfaces.count ? interfaces[Int(slot)] : "slot \(slot)" }
    func zone(_ z: UInt32) -> String {
        let v = view
        return z == XPF_CFG_NONE ? "(no zone)" : Int(z) < v.zones.count ? v.string(at: v.zone(Int(z)).name) ?? "#\(z)" : "#\(z)"
    }
    func policy(_ id: UInt16) -> String {
        if id == UInt16(XPF_SESS_POLICY_DEFAULT) { return PolicyIdentity.defaultPolicyName }
        let v = view
        let name = Int(id) < v.policies.count ? v.string(at: v.policy(Int(id)).name) : nil
        return "\(name ?? "?")(\(id))"
    }
}

/// What a record says, stage by stage, in the order the stages ran.
struct TraceReport {
    let p: TracedPacket
    let n: TraceNames
    var r: xpf_trace_record { p.record }

    static func name(_ s: xpf_trace_stage) -> String { String(cString: xpf_trace_stage_name(s.rawValue)) }
    static func reasonName(_ r: UInt8) -> String { xpf_drop_reason_name(UInt32(r)).map { String(cString: $0) } ?? "reason \(r)" }
    static func reasonMeaning(_ r: UInt8) -> String { xpf_drop_reason_meaning(UInt32(r)).map { String(cString: $0) } ?? "" }
    static let policyActions = ["permit", "deny", "reject"]

    func ran(_ s: xpf_trace_stage) -> Bool { r.stages & PacketTrace.bit(s) != 0 }

    /// The stages that ran, in their order: the fast path re-checks before its route, an
    /// ICMP error after its zones.
    var stages: [xpf_trace_stage] {
        let order = r.hit != 0
            ? [XPF_TRACE_PARSE, XPF_TRACE_SESSION, XPF_TRACE_RECHECK, XPF_TRACE_ROUTE, XPF_TRACE_REWRITE]
            : [XPF_TRACE_PARSE, XPF_TRACE_SESSION, XPF_TRACE_ICMP_ERROR, XPF_TRACE_ROUTE, XPF_TRACE_TCP_CHECK, XPF_TRACE_ZONES,
               XPF_TRACE_RECHECK, XPF_TRACE_POLICY, XPF_TRACE_INSTALL, XPF_TRACE_REWRITE]
        return order.filter(ran)
    }

    var flow: String {
        if r.family == 0 { return "(not parsed) on \(n.interface(r.ingress)), \(r.length) bytes" }
        let proto = SessionListing.protocolName(r.proto)
        let src = formatAddress(family: r.family, r.flow.src), dst = formatAddress(family: r.family, r.flow.dst)
        let ports = PacketTrace.hasPorts(r.proto)
        let s = ports ? "\(src)/\(UInt16(bigEndian: r.flow.sport))" : src, d = ports ? "\(dst)/\(UInt16(bigEndian: r.flow.dport))" : dst
        let icmp = PacketTrace.isICMP(r.proto) ? " type \(r.icmp_type) code \(r.icmp_code)" : ""
        return "\(proto) \(s) -> \(d)\(icmp) on \(n.interface(r.ingress)), \(r.length) bytes"
    }

    /// The packet's fate.
    var action: String {
        switch xpf_trace_action(UInt32(r.action)) {
        case XPF_TRACE_TRANSMIT: return "transmit on \(n.interface(r.egress))"
        case XPF_TRACE_PARK: return "park for the next hop on \(n.interface(r.egress))"
        case XPF_TRACE_REPLY: return "drop \(Self.reasonName(r.reason)), reply sent on \(n.interface(r.egress))"
        default: return "drop \(Self.reasonName(r.reason))"
        }
    }

    /// One stage's decision; the deciding stage's ends with the packet's fate.
    func result(_ s: xpf_trace_stage) -> String {
        let decided = r.decided == UInt8(s.rawValue)
        let own: String?
        switch s {
        case XPF_TRACE_PARSE: own = decided ? nil : "ok"
        case XPF_TRACE_SESSION:
            own = r.hit != 0 ? "hit session \(r.session + 1) (\(r.direction == 0 ? "forward" : "reverse"))" : "miss"
        case XPF_TRACE_ICMP_ERROR: own = r.icmp_matched != 0 ? "quotes a packet of a session" : "quotes no session's packet"
        case XPF_TRACE_RECHECK: own = r.recheck_kept != 0 ? "still permitted" : "no longer permitted, session closed"
        case XPF_TRACE_ROUTE: own = decided && r.reason != UInt8(XPF_DROP_TOO_BIG.rawValue) ? nil : "egress \(n.interface(r.egress))"
        case XPF_TRACE_TCP_CHECK: own = decided ? "not a SYN" : "ok"
        case XPF_TRACE_ZONES: own = "\(n.zone(r.from_zone)) -> \(n.zone(r.to_zone))"
        case XPF_TRACE_POLICY:
            let a = Int(r.policy_action) < Self.policyActions.count ? Self.policyActions[Int(r.policy_action)] : "?"
            own = "\(n.policy(r.policy)) \(a)"
        case XPF_TRACE_INSTALL: own = decided ? "session table full" : "session \(r.session + 1)"
        default: own = nil  // rewrite: the action itself
        }
        guard decided else { return own ?? action }
        return own.map { "\($0): \(action)" } ?? action
    }

    func time() -> String {
        let s = time_t(r.time_ns / 1_000_000_000)
        var tm = tm()
        var copy = s
        localtime_r(&copy, &tm)
        let us = r.time_ns / 1000 % 1_000_000
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let frac = String(us), pad = String(repeating: "0", count: 6 - frac.count)
        return "\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)).\(pad)\(frac)"
    }

    /// Each stage's time, in stage order, for the stages that took any (xpf_trace_record.stage_ns).
    var stageTimes: [(name: String, ns: UInt32)] {
        withUnsafeBytes(of: r.stage_ns) { raw in
            (0..<Int(XPF_TRACE_STAGE_COUNT.rawValue)).compactMap { i in
                let ns = raw.load(fromByteOffset: i * MemoryLayout<UInt32>.size, as: UInt32.self)
                return ns == 0 ? nil : (Self.name(xpf_trace_stage(UInt32(i))), ns)
            }
        }
    }

    /// `xpfctl trace`'s text: a heading line, then a line per stage.
    var text: String {
        var lines = ["\(time()) queue \(p.queue) generation \(r.generation): \(flow)"]
        for s in stages { lines.append("  \(Self.name(s)): \(result(s))") }
        lines.append("  action: \(action) (pipeline \(r.process_ns) ns)")
        let times = stageTimes
        if !times.isEmpty { lines.append("  stage times: " + times.map { "\($0.name) \($0.ns) ns" }.joined(separator: ", ")) }
        return lines.joined(separator: "\n")
    }

    /// `xpfctl trace --json`: one object per packet (one line each).
    var json: String {
        var j = JSONWriter()
        j.beginObject()
        j.field("queue", p.queue); j.field("time_ns", r.time_ns); j.field("generation", r.generation)
        j.field("family", r.family); j.field("protocol", SessionListing.protocolName(r.proto))
        if r.family != 0 {
            j.field("src", formatAddress(family: r.family, r.flow.src)); j.field("sport", UInt16(bigEndian: r.flow.sport))
            j.field("dst", formatAddress(family: r.family, r.flow.dst)); j.field("dport", UInt16(bigEndian: r.flow.dport))
        }
        j.field("ingress", n.interface(r.ingress)); j.field("length", r.length)
        j.beginArray("stages")
        for s in stages {
            j.beginObject()
            j.field("stage", Self.name(s)); j.field("result", result(s)); j.field("decided", r.decided == UInt8(s.rawValue))
            j.endObject()
        }
        j.endArray()
        let kinds = ["transmit", "drop", "park", "reply"]
        j.field("action", Int(r.action) < kinds.count ? kinds[Int(r.action)] : "?")
        if r.action == UInt8(XPF_TRACE_DROP.rawValue) || r.action == UInt8(XPF_TRACE_REPLY.rawValue) {
            j.field("reason", Self.reasonName(r.reason))
        }
        if r.action != UInt8(XPF_TRACE_DROP.rawValue) { j.field("egress", n.interface(r.egress)) }
        if ran(XPF_TRACE_SESSION) && (r.hit != 0 || ran(XPF_TRACE_INSTALL)) && r.decided != UInt8(XPF_TRACE_INSTALL.rawValue) {
            j.field("session", r.session + 1)
        }
        if ran(XPF_TRACE_POLICY) { j.field("policy", n.policy(r.policy)) }
        j.field("process_ns", r.process_ns)
        j.beginObject("stage_ns")
        for t in stageTimes { j.field(t.name, t.ns) }
        j.endObject()
        j.endObject()
        return j.text
    }

    /// `monitor security packet-drop`'s line, in Junos' shape:
    /// `TIME:queue Q: SRC/SPORT-->DST/DPORT;PROTO,INTERFACE,Dropped by STAGE:WHY`.
    var dropLine: String {
        let src = r.family == 0 ? "?" : formatAddress(family: r.family, r.flow.src)
        let dst = r.family == 0 ? "?" : formatAddress(family: r.family, r.flow.dst)
        let why: String
        if r.decided == UInt8(XPF_TRACE_POLICY.rawValue) {
            why = "POLICY:\(r.policy_action == UInt8(XPF_POLICY_REJECT.rawValue) ? "Rejected" : "Denied") by policy \(n.policy(r.policy))"
        } else {
            let stage = xpf_trace_stage_name(UInt32(r.decided)).map { String(cString: $0) } ?? "?"
            why = "FLOW:\(stage): \(Self.reasonMeaning(r.reason)) (\(Self.reasonName(r.reason)))"
        }
        let ports = r.family != 0 && PacketTrace.hasPorts(r.proto)
        let s = ports ? "\(src)/\(UInt16(bigEndian: r.flow.sport))" : src, d = ports ? "\(dst)/\(UInt16(bigEndian: r.flow.dport))" : dst
        return "\(time()):queue \(p.queue): \(s)-->\(d);\(SessionListing.protocolName(r.proto)),\(n.interface(r.ingress)),Dropped by \(why)"
    }
}

struct Trace: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Trace packets through the dataplane: every stage's decision for each matching packet.",
        discussion: """
            xpfd arms every worker with the filters (any combination, every one given must hold: \(TraceFilter.usage); \
            addresses, protocol and ports as the packet arrived, ports for TCP and UDP only). Each worker records the \
            first --count packets that match, and xpfctl prints the first --count of them all as they arrive: the flow, \
            then each stage that ran in its order (parse, session lookup, ICMP error, re-check, route, TCP SYN check, \
            zones, policy, install, rewrite) with its decision, then the action. The trace stops at the count, at \
            --timeout, or on Ctrl-C; one trace runs at a time (a new one replaces it), and xpfd disarms a trace nobody \
            polls for 5 s. Zone and policy names come from the running configuration.
            """)
    @OptionGroup var common: Common
    @OptionGroup var options: TraceOptions
    @Flag(name: .long, help: "JSON output: one object per packet per line.")
    var json = false

    func run() throws {
        let names = TraceNames(try DataplaneStatus.openRegion(stateDir: common.stateDir))
        var n = 0
        try runTrace(common, options, dropsOnly: false) { p in
            let report = TraceReport(p: p, n: names)
            n += 1
            print(json ? report.json : report.text)
            fflush(stdout)
        }
        if !json && n == 0 { print("no matching packet") }
    }
}

struct Monitor: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Watch the dataplane.", subcommands: [MonitorSecurity.self])
}

struct MonitorSecurity: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "security", abstract: "Security events.",
                                                    subcommands: [MonitorPacketDrop.self])
}

struct MonitorPacketDrop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "packet-drop",
        abstract: "Print each dropped packet that matches the filters, with the stage and the reason.",
        discussion: """
            One line per dropped packet, as Junos prints them: TIME:queue Q: SRC/SPORT-->DST/DPORT;PROTOCOL,INTERFACE,\
            Dropped by POLICY:Denied by policy NAME(ID) (or Rejected by, when a RST or ICMP unreachable answered), else \
            Dropped by FLOW:STAGE: MEANING (REASON) with the reason's name from the dataplane's one list \
            (XPF_DROP_REASONS). Filters: \(TraceFilter.usage). Stops after --count drops, at --timeout, or on Ctrl-C \
            (the trace of `xpfctl trace`, recording drops only).
            """)
    @OptionGroup var common: Common
    @OptionGroup var options: TraceOptions

    func run() throws {
        let names = TraceNames(try DataplaneStatus.openRegion(stateDir: common.stateDir))
        try runTrace(common, options, dropsOnly: true, armed: {
            print("Starting packet drop:")
            fflush(stdout)
        }) { p in
            print(TraceReport(p: p, n: names).dropLine)
            fflush(stdout)
        }
    }
}
