// xpfctl: operator commands (R-12.2). Reads shared memory for `show` and `debug check`,
// talks to xpfd's control socket for `commit`.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CXPF
import Shared

struct Common: ParsableArguments {
    @Option(name: .long, help: "xpfd's state directory.")
    var stateDir: String = "/run/xpf"
}

/// Sends one request line to xpfd and returns its reply.
func control(_ stateDir: String, _ request: String) throws -> String {
    let path = "\(stateDir)/xpfd.sock"
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw XPFError("socket: errno \(xpf_errno())") }
    defer { close(fd) }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    copyCString(path, into: &addr.sun_path)
    let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
    guard r == 0 else { throw XPFError("cannot reach xpfd at \(path): \(String(cString: strerror(xpf_errno()))) — is xpfd running with --state-dir \(stateDir)?") }
    var tv = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    let line = request + "\n"
    _ = line.withCString { write(fd, $0, strlen($0)) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return String(decoding: out, as: UTF8.self).trimmingWhitespace()
}

/// Sends one request, prints xpfd's reply, and exits 1 when the reply is an error.
func runControl(_ stateDir: String, _ request: String) throws {
    let reply = try control(stateDir, request)
    print(reply)
    if reply.hasPrefix("error") { throw ExitCode(1) }
}

func absolutePath(_ p: String) -> String {
    if p.hasPrefix("/") { return p }
    var buf = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buf, 4096) != nil else { return p }
    return String(cString: buf) + "/" + p
}

struct Commit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a configuration and publish it as a new generation.",
        discussion: "`xpfctl commit [FILE]` commits FILE (default: xpfd's --config file). `xpfctl commit check [FILE]` validates only. An invalid configuration never replaces the running one.")
    @OptionGroup var common: Common
    @Argument(help: "`check` to validate only, then an optional FILE.")
    var words: [String] = []

    func run() throws {
        var w = words
        var check = false
        if w.first == "check" { check = true; w.removeFirst() }
        guard w.count <= 1 else { throw ValidationError("usage: xpfctl commit [check] [FILE]") }
        let req = (check ? "commit-check" : "commit") + (w.first.map { " " + absolutePath($0) } ?? "")
        try runControl(common.stateDir, req)
    }
}

struct Rollback: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Commit a previous configuration again (0 = the running one, 1 = the one before, …; 50 are kept).")
    @OptionGroup var common: Common
    @Argument(help: "How many commits back.")
    var n: Int

    func run() throws {
        try runControl(common.stateDir, "rollback \(n)")
    }
}

struct Clear: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Clear dataplane state.", subcommands: [ClearSecurity.self, ClearFirewall.self])
}

struct ClearSecurity: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "security", abstract: "Security state.", subcommands: [ClearFlow.self, ClearPolicies.self])
}

struct ClearFlow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "flow", abstract: "Flow state.", subcommands: [ClearSession.self])
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show dataplane state.",
        subcommands: [SecurityShow.self, FirewallShow.self, DataplaneShow.self, ConfigurationShow.self, SystemShow.self,
                      LogShow.self, ExceptionsShow.self])
}

struct ExceptionsShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exceptions",
        abstract: "Recent exceptions of every worker (R-9.4): a full session table, NAT pool failures.",
        discussion: "Each worker keeps its last 64 exceptions in shared memory; repeats of the same kind, rule and pool within a second are counted on one line. Oldest first, merged by time.")
    @OptionGroup var common: Common
    @Flag(name: .long, help: "JSON output.")
    var json = false

    func run() throws {
        let region = try DataplaneStatus.openRegion(stateDir: common.stateDir)
        let view = region.configView(slot: region.current(.config).slot)
        func name(_ i: UInt32, _ lookup: (Int) -> UInt32) -> String {
            i == XPF_CFG_NONE ? "-" : view.string(at: lookup(Int(i))) ?? "#\(i)"
        }
        func flow(_ e: ExceptionEntry) -> String {
            let src = formatAddress(family: e.family, e.flow.src), dst = formatAddress(family: e.family, e.flow.dst)
            return "\(src)/\(UInt16(bigEndian: e.flow.sport))->\(dst)/\(UInt16(bigEndian: e.flow.dport)) proto \(e.proto)"
        }
        let formatter = RTFlowFormatter(), stamp = SyslogLineBuffer()
        func time(_ ns: UInt64) -> String {  // RFC 3339 with milliseconds, as in the RT_FLOW lines
            stamp.reset()
            formatter.appendTimestamp(ns, to: stamp)
            return String(decoding: stamp.bytes, as: UTF8.self)
        }
        let list = region.exceptions()
        var j = JSONWriter()
        if json { j.beginObject(); j.beginArray("exceptions") }
        for e in list {
            let rule = name(e.rule) { view.natRule($0).name }
            let pool = e.kind == UInt16(XPF_EXC_TABLE_FULL.rawValue) ? "-" : name(e.pool) { view.sourcePool($0).name }
            if json {
                j.beginObject()
                j.field("time_ns", e.lastNs); j.field("first_time_ns", e.firstNs); j.field("worker", e.worker)
                j.field("kind", e.kindName); j.field("rule", rule); j.field("pool", pool); j.field("count", UInt64(e.count))
                j.field("generation", UInt64(e.generation)); j.field("flow", flow(e))
                j.endObject()
            } else {
                print("\(time(e.lastNs)) worker \(e.worker) \(e.kindName) rule \(rule) pool \(pool) count \(e.count): \(flow(e))")
            }
        }
        if json { j.endArray(); j.endObject(); print(j.text) } else if list.isEmpty { print("no exceptions") }
    }
}

struct LogShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "log", abstract: "Security event logging.", subcommands: [LogStatisticsShow.self])
}

struct LogStatisticsShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "statistics",
        abstract: "Events emitted, dropped and drained, and lines written per syslog destination.",
        discussion: "Every security event a worker emits is either written to its event ring, then drained by xpfd, or dropped because the ring was full (counted): emitted = drained + skipped (unknown types) + dropped once xpfd has caught up (this command drains first). Events over `security log rate-cap` are suppressed before the ring and counted as rate-limited (not emitted). Per destination: lines written and lines that failed (unreachable host, full disk, unopenable file), with the last error.")
    @OptionGroup var common: Common

    func run() throws {
        try runControl(common.stateDir, "show-log-statistics")
    }
}

struct ConfigurationShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "configuration",
        abstract: "Print the running configuration.",
        discussion: "`xpfctl show configuration` prints the hierarchical form; `xpfctl show configuration '|' display set` (or `display set`) prints set commands.")
    @OptionGroup var common: Common
    @Argument(help: "Optional: | display set")
    var pipe: [String] = []

    func run() throws {
        let words = pipe.filter { $0 != "|" }
        guard words.isEmpty || words == ["display", "set"] else { throw ValidationError("only `| display set` is supported after show configuration") }
        try runControl(common.stateDir, words.isEmpty ? "show-configuration" : "show-configuration set")
    }
}

struct SystemShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "system", abstract: "System state.", subcommands: [CommitShow.self])
}

struct CommitShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "commit", abstract: "Commit history (newest first), with generation numbers.")
    @OptionGroup var common: Common
    func run() throws { print(try control(common.stateDir, "show-commits")) }
}

struct SecurityShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "security", abstract: "Security state.", subcommands: [FlowShow.self, PoliciesShow.self])
}

struct FlowShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "flow", abstract: "Flow state.",
                                                    subcommands: [SessionShow.self, FlowStatisticsShow.self])
}

struct FlowStatisticsShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "statistics",
        abstract: "Packets received, transmitted and dropped by each worker, drops by reason.",
        discussion: "Reasons and their meanings come from the dataplane's one list (XPF_DROP_REASONS), the same names xpf-top and /metrics use. Counters are cumulative since the region was created (a restarted worker continues them).")
    @OptionGroup var common: Common
    @Flag(name: .long, help: "JSON output.")
    var json = false
    static let reasonWidth = 19, countWidth = 13  // text columns

    func run() throws {
        let region = try DataplaneStatus.openRegion(stateDir: common.stateDir)
        let stats = (0..<region.queues).map { WorkerStatsIO.read(region.worker($0)) }
        func total(_ f: (xpf_worker_stats) -> UInt64) -> UInt64 { stats.reduce(0) { $0 &+ f($1) } }
        // Host-bound packets the XDP program refused (host-inbound-traffic and junos-host
        // policies, R-5.4) and the box's own packets the TC egress program refused: never
        // reach a worker, so they are counted in the programs' map; nil if it is unreadable.
        let xdp = DataplaneStatus.read(region).xdp
        let hostInboundDenied = xdp?[Int(XPF_XDP_DROP_HOST_INBOUND.rawValue)]
        let hostPolicyDenied = xdp?[Int(XPF_XDP_DROP_HOST_POLICY.rawValue)]
        let hostOutboundDenied = xdp?[Int(XPF_XDP_DROP_HOST_OUTBOUND.rawValue)]
        // Host-bound packets the firewall filters (the interface's input filter, lo0's)
        // discarded, their policers discarded, or rejected with a reply.
        let hostFilterDiscarded = xdp?[Int(XPF_XDP_DROP_HOST_FILTER.rawValue)]
        let hostPolicerDiscarded = xdp?[Int(XPF_XDP_DROP_HOST_POLICER.rawValue)]
        let hostRejected = xdp?[Int(XPF_XDP_TX_HOST_REJECT.rawValue)]
        if json {
            var j = JSONWriter()
            j.beginObject()
            j.beginArray("workers")
            for (q, st) in stats.enumerated() {
                j.beginObject()
                j.field("queue", q)
                j.field("rx_packets", st.rx_packets); j.field("tx_packets", st.tx_packets)
                j.field("sessions_created", st.sessions_created); j.field("sessions_closed", st.sessions_closed)
                j.beginObject("drops")
                for r in dropReasons { j.field(r.name, st.drop(r.index)) }
                j.endObject()
                j.endObject()
            }
            j.endArray()
            j.beginObject("drops")
            for r in dropReasons { j.field(r.name, total { $0.drop(r.index) }) }
            j.endObject()
            if let hostInboundDenied { j.field("host_inbound_denied", hostInboundDenied) }
            if let hostPolicyDenied { j.field("host_policy_denied", hostPolicyDenied) }
            if let hostOutboundDenied { j.field("host_outbound_denied", hostOutboundDenied) }
            if let hostFilterDiscarded { j.field("host_filter_discarded", hostFilterDiscarded) }
            if let hostPolicerDiscarded { j.field("host_policer_discarded", hostPolicerDiscarded) }
            if let hostRejected { j.field("host_filter_rejected", hostRejected) }
            j.endObject()
            print(j.text)
            return
        }
        print("Packets received: \(total(\.rx_packets)), transmitted: \(total(\.tx_packets)), dropped: \(total(\.totalDrops))")
        print("Sessions created: \(total(\.sessions_created)), closed: \(total(\.sessions_closed))")
        for (q, st) in stats.enumerated() {
            print("  queue \(q): received \(st.rx_packets), transmitted \(st.tx_packets), dropped \(st.totalDrops)")
        }
        print("Drops by reason:")
        for r in dropReasons {
            let n = total { $0.drop(r.index) }
            func column(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
            print("  " + column(r.name, Self.reasonWidth) + column(String(n), Self.countWidth) + r.meaning)
        }
        if let hostInboundDenied {
            print("Host-bound packets refused by host-inbound-traffic (XDP): \(hostInboundDenied)")
        }
        if let hostPolicyDenied {
            print("Host-bound packets refused by junos-host policies (XDP): \(hostPolicyDenied)")
        }
        if let hostOutboundDenied {
            print("The box's own packets refused by from junos-host policies (TC egress): \(hostOutboundDenied)")
        }
        if let hostFilterDiscarded, let hostPolicerDiscarded, let hostRejected {
            print("Host-bound packets discarded by firewall filters (XDP): \(hostFilterDiscarded), by their policers: "
                + "\(hostPolicerDiscarded), rejected with a reply: \(hostRejected)")
        }
    }
}

struct DataplaneShow: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dataplane", abstract: "Workers, queues, cores and XDP modes.",
                                                    subcommands: [DataplaneSummary.self, ScalingShow.self], defaultSubcommand: DataplaneSummary.self)
}

struct DataplaneSummary: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "summary", abstract: "Workers, queues, cores and XDP modes (the default).")
    @OptionGroup var common: Common

    func run() throws {
        let region = try DataplaneStatus.openRegion(stateDir: common.stateDir)
        let s = DataplaneStatus.read(region)
        print("xpfd pid \(s.supervisorPid) (\(s.supervisorAlive ? s.state : "not running")), configuration generation \(s.generation), FIB version \(s.fibVersion)")
        print("session table: \(s.sessionCapacity) sessions")
        for i in s.interfaces { print("interface \(i.name): ifindex \(i.ifindex), XDP mode \(i.xdpMode), \(i.rxQueues) rx queues") }
        for w in s.workers {
            if w.state == "parked" {
                print("queue \(w.queue): parked (beyond system dataplane queues: no worker, xpfd keeps its sessions), generation \(w.generation)")
                continue
            }
            print("queue \(w.queue): worker pid \(w.pid) \(w.state), core \(w.core), NUMA node \(w.numaNode), heartbeat \(w.heartbeatAgeMs) ms ago, generation \(w.generation), restarts \(w.restarts)")
        }
    }
}

struct Debug: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Diagnostics for operators and tests.", subcommands: [DebugCheck.self])
}

struct DebugCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Check shared-memory structures for consistency.", subcommands: [CheckSessions.self])
}

struct CheckSessions: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions",
        abstract: "Check the session table; exit 1 when it is inconsistent.",
        discussion: """
            Reads shared memory only, so it is safe on a running dataplane. Checks that every index slot refers to a LIVE \
            session whose key has the slot's tag and that a lookup reaches, that every LIVE session is indexed in both \
            directions exactly once, and that no session is left BUSY by a worker that is not running (a killed worker's \
            successor repairs it at start). A running table changes under the check: suspicious entries are examined \
            again a few times, and a BUSY session of a running worker counts as in flight unless the worker moved on \
            without finishing it.
            """)
    @OptionGroup var common: Common
    @Flag(name: .long, help: "JSON output.")
    var json = false

    func run() throws {
        let region = try DataplaneStatus.openRegion(stateDir: common.stateDir)
        let r = region.checkSessions()
        if json {
            var j = JSONWriter()
            j.beginObject()
            j.field("consistent", r.isConsistent)
            j.field("capacity", r.capacity)
            j.field("partitions", r.partitions)
            j.beginObject("records")
            j.field("live", r.live); j.field("free", r.free); j.field("busy", r.busy)
            j.endObject()
            j.beginObject("index")
            j.field("used", r.slotsUsed); j.field("tombstones", r.tombstones); j.field("empty", r.slotsEmpty)
            j.endObject()
            j.field("in_flight", r.inFlight)
            j.field("transient", r.transient)
            j.field("error_count", r.errorCount)
            j.beginArray("errors")
            for e in r.errors { j.field(nil, e) }
            j.endArray()
            j.endObject()
            print(j.text)
        } else {
            print("session table: \(r.capacity) records in \(r.partitions) partitions")
            print("records: \(r.live) live, \(r.free) free, \(r.busy) busy (\(r.inFlight) in flight)")
            print("index: \(r.slotsUsed) slots used, \(r.tombstones) tombstones, \(r.slotsEmpty) empty")
            if r.transient > 0 { print("changed while examined (not errors): \(r.transient)") }
            for e in r.errors { print("error: \(e)") }
            if r.errorCount > r.errors.count { print("… and \(r.errorCount - r.errors.count) more errors") }
            print(r.isConsistent ? "consistent" : "INCONSISTENT: \(r.errorCount) errors")
        }
        if !r.isConsistent { throw ExitCode(1) }
    }
}

struct XPFCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xpfctl",
        abstract: "Operate a running xpf dataplane.",
        subcommands: [Commit.self, Rollback.self, Show.self, Clear.self, Monitor.self, Trace.self, Feasibility.self, Debug.self])
}

XPFCtl.main()
