// xpfd's life: configuration → shared memory → XDP attach → workers → event loop →
// orderly teardown (R-1.1 … R-1.8).
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared

struct DaemonOptions {
    var configPath: String
    var stateDir: String
    var bpfObject: String?
    var workerBinary: String?
    var logDir: String
}

/// Undo actions run in reverse order on every exit path after they were registered.
final class Teardown {
    private var actions: [(String, () -> Void)] = []
    func add(_ what: String, _ action: @escaping () -> Void) { actions.append((what, action)) }
    func run() {
        while let (_, a) = actions.popLast() { a() }
    }
}

final class Daemon {
    let opts: DaemonOptions
    let teardown = Teardown()
    var runningModel: ConfigModel!
    /// The dataplane part of the running configuration.
    var running: DataplaneConfig { runningModel.dataplane }
    var runningTree: JunosTree!
    var commits: CommitStore!
    var region: ShmRegion!
    var workers: WorkerManager!
    /// The receive queues every interface had at start: what an omitted `queues` runs (at
    /// most max-queues) — fixed, so an unrelated commit never follows a NIC's channel change.
    var queuesAtStart = 1
    var fib: FIBMirror!
    /// Security events: the workers' rings, the names their indices stand for, and the
    /// syslog destinations of the running configuration.
    var events: EventDrain!
    var eventNames: EventNames!
    var syslog: SyslogRouter!
    /// /metrics (R-12.3): started in `loop`, after the signal mask is set.
    var metrics: MetricsService?
    /// Policy hit counts per policy identity across commits (`show security policies hit-count`).
    var hitCounts: PolicyHitCounts!
    /// The packet trace xpfctl runs (Traces.swift).
    var traces: PacketTraces!
    /// The XDP program's host-inbound tables (R-5.4), rewritten on every commit.
    var hostInbound: HostInboundMap!

    init(_ opts: DaemonOptions) { self.opts = opts }

    static func shmPath(stateDir: String) -> String {
        let base = stateDir.split(separator: "/").last.map(String.init) ?? "xpf"
        let safe = String(base.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        return "/dev/shm/xpf-\(safe)"
    }

    static func selfDirectory() -> String {
        let path = executablePath()
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }

    /// The XDP object: --bpf-object, $XPF_BPF_OBJECT, next to the binary, or bpf/build/
    /// of the source tree the binary was built in (walking up from the binary).
    func findBPFObject() throws -> String {
        if let p = opts.bpfObject { return p }
        if let p = getenv("XPF_BPF_OBJECT") { return String(cString: p) }
        var dir = Self.selfDirectory()
        var candidates = ["\(dir)/xpf_xdp.o"]
        for _ in 0..<5 {
            dir = String(dir[..<(dir.lastIndex(of: "/") ?? dir.startIndex)])
            if dir.isEmpty { break }
            candidates.append("\(dir)/bpf/build/xpf_xdp.o")
        }
        candidates.append("/usr/local/lib/xpf/xpf_xdp.o")
        for c in candidates where access(c, R_OK) == 0 { return c }
        throw XPFError("XDP object xpf_xdp.o not found (looked in: \(candidates.joined(separator: ", "))); run `make -C bpf` or pass --bpf-object")
    }

    func readConfig(_ path: String) throws -> String {
        guard let text = readWholeFile(path) else { throw XPFError("cannot read configuration \(path): \(String(cString: strerror(xpf_errno())))") }
        return text
    }

    /// Parses and compiles the whole configuration (every reference checked), and refuses
    /// one that asks for what the dataplane does not enforce yet (`unenforcedFeatures`).
    func compileConfig(text: String, file: String) throws -> (JunosTree, ConfigModel) {
        let (tree, model) = try ConfigModel.load(text: text, file: file)
        let unenforced = model.unenforcedFeatures
        guard unenforced.isEmpty else {
            throw XPFError("\(file): not enforced by this version of xpf, so not run: " + unenforced.joined(separator: "; "))
        }
        return (tree, model)
    }

    /// How many queues configuration `c` runs (`queues`, else every receive queue the
    /// interfaces had at start, at most max-queues), checked against the region and — when
    /// the count changes — the interfaces as they are now: a queue beyond max-queues has no
    /// place in the shared memory, and a worker cannot bind to a queue an interface does not
    /// have (`ethtool -L` first). A commit that keeps the count looks at no interface.
    func queueCount(_ c: DataplaneConfig) throws -> Int {
        let n = c.queues ?? min(queuesAtStart, region.queues)
        if n > region.queues {
            throw XPFError("system dataplane queues \(n) is more than the \(region.queues) queues the shared memory is laid out for: "
                + "raise system dataplane max-queues to \(n) (requires restarting xpfd)")
        }
        if n == workers.activeQueues { return n }
        let infos = try c.interfaces.map { try InterfaceInfo.resolve($0) }
        if let bad = infos.first(where: { $0.rxQueues < n }) {
            throw XPFError("system dataplane queues \(n): interface \(bad.name) has only \(bad.rxQueues) receive queues "
                + "(ethtool -L \(bad.name) combined \(n) first)")
        }
        return n
    }

    /// Fields of a configuration that are fixed for the life of the region, each with its
    /// running and its new value and why it cannot change while xpfd runs. `queues` is not
    /// one of them: it changes by commit within max-queues (WorkerManager.setActive).
    func restartOnlyDifferences(_ a: DataplaneConfig, _ b: DataplaneConfig) -> [String] {
        var d: [String] = []
        func differs<T: Equatable>(_ name: String, _ x: T, _ y: T, _ why: String) {
            if x != y { d.append("\(name) (\(x) → \(y)): \(why)") }
        }
        differs("interfaces", a.interfaces.joined(separator: " "), b.interfaces.joined(separator: " "),
                "the XDP program, each worker's sockets and the shared memory's interface slots are set up for them at start")
        if let m = b.maxQueues, m != region.queues {
            differs("max-queues", region.queues, m,
                    "each queue has a worker block, a UMEM slice and a session partition laid out in shared memory at start")
        }
        differs("rx-ring", a.rxRing, b.rxRing, "the workers' rings and the UMEM they need are sized at start")
        differs("tx-ring", a.txRing, b.txRing, "the workers' rings and the UMEM they need are sized at start")
        differs("umem-frames", a.umemFrames, b.umemFrames, "each worker's UMEM slice is laid out in shared memory at start")
        differs("xdp-mode", a.xdpMode.rawValue, b.xdpMode.rawValue, "the XDP program is attached in that mode at start")
        differs("session-table-size", a.sessionTableSize, b.sessionTableSize, "the session table is laid out in shared memory at start")
        return d
    }

    /// `commit` / `commit check` / `rollback` / SIGHUP: an invalid configuration never
    /// replaces the running one (R-11.1). After publishing, workers are nudged and the
    /// reply says how long it took until every live worker ran the new generation.
    func commit(text: String, file: String, source: String, checkOnly: Bool) -> String {
        let started = monotonicNanos()
        do {
            let (tree, model) = try compileConfig(text: text, file: file)
            let c = model.dataplane
            let diff = restartOnlyDifferences(running, c)
            if !diff.isEmpty {
                return "error: changing " + diff.joined(separator: "; ") + " — requires restarting xpfd; nothing was committed"
            }
            let queues = try queueCount(c)
            // Encoded (and validated) before anything is published: a configuration whose
            // snapshot does not fit a slot fails `commit check` and `commit` alike.
            let image = try ConfigSnapshotImage(model, capacity: Int(region.header.pointee.config_slot_size))
            // The new syslog destinations too (a `match` expression regcomp refuses fails
            // here), before anything is published.
            let syslogChanged = model.syslog != runningModel.syslog || model.securityLog != runningModel.securityLog
            let router = syslogChanged ? try makeSyslogRouter(model) : nil
            // The XDP program's filters of host-bound traffic, for the generation about to be
            // published (a configuration too large for its pools fails here).
            let hostFilters = try image.withView { try HostFilterTable($0, generation: region.current(.config).generation + 1) }
            if checkOnly { return "configuration check succeeds" }
            // The queue count's refusals came first (queueCount); nothing below refuses it.
            // A new policy epoch reuses the bank of the one before: its counts are collected
            // first, once every worker left it (PolicyHitCounts.publish refuses otherwise).
            let samePolicies = model.decidesSessions(as: runningModel)
            if !samePolicies {
                _ = hitCounts.awaitHarvest(timeoutNs: 1_000_000_000) {
                    drainEvents()
                    workers.reap()  // a worker that died meanwhile no longer counts as lagging
                }
                // Refused before anything changes (the host-inbound tables below included).
                if let why = hitCounts.flipBlocker() { throw XPFError(why) }
            }
            // Host-inbound tables before the generation: once a commit is reported complete
            // (or a worker runs its generation) no host-bound packet is admitted by the old
            // host-inbound-traffic — a removed service refuses the next packet, of an
            // established connection too. A failed publish puts the running tables back.
            try image.withView { try hostInbound.install(model, hostFilters: hostFilters, view: $0) }
            let t0 = monotonicNanos()
            let gen: UInt64
            do {
                gen = try hitCounts.publish(image, model: model, samePolicies: samePolicies)
                precondition(gen == hostFilters.generation, "host-bound filters installed for generation \(hostFilters.generation), published \(gen)")
            } catch {
                // The running tables back; a failure to restore them is said, not swallowed
                // (the new tables would stay in force under the old generation).
                let running = region.configView(slot: region.current(.config).slot)
                do {
                    try hostInbound.install(runningModel, hostFilters: HostFilterTable(running, generation: running.generation),
                                            view: running)
                } catch let restore {
                    logLine("xpfd", "commit failed and the running host-bound tables could not be restored: \(restore)")
                    throw XPFError("\(error); and the running host-inbound tables and filters could not be restored: \(restore)")
                }
                throw error
            }
            // The new generation's names before any of its events is drained (the workers
            // emit under it as soon as they switch, while xpfd waits below).
            eventNames.adopt(generation: gen, model: model)
            let switched = workers.awaitGeneration(gen, timeoutNs: 1_000_000_000) { drainEvents() }
            let t1 = monotonicNanos()
            eventNames.hostName = hostName(model)
            if let router {
                drainEvents()  // what the old destinations were due, before they go
                syslog = router
            }
            runningModel = model
            runningTree = tree
            try commits.record(text: tree.hierarchicalText(), generation: gen, source: source)
            metrics?.recordCommit(seconds: Double(monotonicNanos() - started) / 1e9)
            metrics?.configure(model.services.prometheusListen)
            publishFirewallMetrics()
            let how = switched.all ? "all \(switched.count) workers switched in \(formatMs(t1 - t0)) ms" : "WARNING: \(switched.count - switched.lagging) of \(switched.count) workers switched within 1 s"
            logLine("xpfd", "committed \(file) (\(source)) as generation \(gen); \(how)")
            // The queue count last: the workers it starts run the new generation from their
            // first batch, and those it stops leave their sessions to xpfd's keepers.
            var reply = "commit complete, generation \(gen) (\(how))"
            let active = workers.activeQueues
            if queues != active {
                var changes = workers.setActive(queues) { drainEvents() }
                // What RSS still asks of the old count (xpfd leaves the NIC's table to the operator).
                let tables = c.interfaces.compactMap { name -> (name: String, table: [UInt32])? in
                    if case .value(let t) = FeasibilityProbe.indirection(name) { return (name, t) }
                    return nil
                }
                changes += QueueSteering.notes(tables: tables, queues: queues)
                logLine("xpfd", "queues \(active) → \(queues): " + changes.joined(separator: "; "))
                reply += "\nqueues \(active) → \(queues): " + changes.joined(separator: "; ")
            }
            return reply
        } catch {
            return Self.errorReply(error)
        }
    }

    /// Control replies that failed start with "error: "; a configuration error keeps
    /// its FILE:LINE:COL so the operator can find the statement.
    static func errorReply(_ error: Error) -> String {
        if let e = error as? ConfigError { return "error: \(e.file):\(e.line):\(e.column): \(e.message)" }
        return "error: \(error)"
    }

    func commitFile(path: String?, source: String, checkOnly: Bool) -> String {
        let p = path ?? opts.configPath
        do { return commit(text: try readConfig(p), file: p, source: source, checkOnly: checkOnly) } catch { return "error: \(error)" }
    }

    func formatMs(_ ns: UInt64) -> String {
        let tenths = (ns + 50_000) / 100_000
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// The control protocol: one request line, one reply (possibly several lines).
    func handleControl(_ line: String) -> String {
        let words = line.split(separator: " ").map(String.init)
        switch words.first {
        case "commit": return commitFile(path: words.count > 1 ? words[1] : nil, source: "xpfctl commit", checkOnly: false)
        case "commit-check": return commitFile(path: words.count > 1 ? words[1] : nil, source: "xpfctl commit check", checkOnly: true)
        case "rollback":
            guard words.count == 2, let n = Int(words[1]) else { return "error: usage: rollback N" }
            do { return commit(text: try commits.text(rollback: n), file: "rollback \(n)", source: "rollback \(n)", checkOnly: false) }
            catch { return "error: \(error)" }
        case "show-configuration":
            return words.count > 1 && words[1] == "set" ? runningTree.setLines().joined(separator: "\n") : runningTree.hierarchicalText()
        case "show-commits": return commits.listing()
        case "clear-sessions":
            // Optional filters, as `show security flow session` takes them (SessionFilter).
            let names = SessionNames(region)
            let filter: SessionFilter, compiled: xpf_clear_filter
            do {
                filter = try SessionFilter(words: Array(words.dropFirst()))
                compiled = try filter.clearFilter(names: names)
            } catch { return "error: \(error)" }
            func matching() -> Int { SessionListing.all(region).filter { filter.matches($0, names: names) }.count }
            let before = matching()
            let r: (partitions: Int, lagging: Int)
            do { r = try workers.clearSessions(filter: compiled, timeoutNs: 2_000_000_000) { drainEvents() } } catch { return "error: \(error)" }
            let after = matching()
            if r.lagging > 0 {
                return "error: \(r.lagging) of \(r.partitions) worker partitions were not cleared within 2 s (worker restarting or hung); \(max(0, before - after)) of \(before) sessions cleared"
            }
            // Traffic goes on: new flows may already have new sessions.
            let cleared = max(0, before - after)
            logLine("xpfd", "cleared \(cleared) sessions")
            return "\(cleared) sessions cleared"
        case "show-log-statistics": return logStatistics()
        case "show-policy-hit-count": return hitCounts.counts().map(\.line).joined(separator: "\n")
        case "clear-policy-hit-count":
            hitCounts.clear(.hits)
            return "policy hit counts cleared"
        case "clear-policy-statistics":
            hitCounts.clear(.statistics)
            return "policy statistics cleared"
        case "show-firewall": return hitCounts.filters.counts().flatMap(\.lines).joined(separator: "\n")
        case "clear-firewall":
            // clear-firewall [filter NAME]: every filter, or every family's filter NAME.
            let name = words.count > 2 && words[1] == "filter" ? words.dropFirst(2).joined(separator: " ") : nil
            guard words.count == 1 || name != nil else { return "error: usage: clear-firewall [filter NAME]" }
            do { try hitCounts.filters.clear(filter: name) } catch { return Self.errorReply(error) }
            return name.map { "firewall filter \($0) counters cleared" } ?? "firewall counters cleared"
        case "trace-start", "trace-poll", "trace-stop": return traces.handle(words)
        case "ping": return "pong \(getpid())"
        default: return "error: unknown request '\(line)'"
        }
    }

    func run() -> Int32 {
        defer { teardown.run() }
        do {
            try start()
        } catch {
            logLine("xpfd", "\(error)")
            return 2
        }
        return loop()
    }

    private func start() throws {
        xpf_quiet_libbpf()
        try makeDirectories(opts.stateDir)
        let pidPath = "\(opts.stateDir)/xpfd.pid"
        if let old = readWholeFile(pidPath).flatMap({ Int32($0.trimmingWhitespace()) }), old != getpid(), processAlive(old),
           readWholeFile("/proc/\(old)/comm")?.hasPrefix("xpfd") == true {
            throw XPFError("another xpfd (pid \(old)) runs with state directory \(opts.stateDir)")
        }
        try writeWholeFile(pidPath, "\(getpid())\n")
        teardown.add("pid file") { unlink(pidPath) }

        let initialText = try readConfig(opts.configPath)
        (runningTree, runningModel) = try compileConfig(text: initialText, file: opts.configPath)
        commits = try CommitStore(stateDir: opts.stateDir)
        let infos = try running.interfaces.map { try InterfaceInfo.resolve($0) }
        let available = infos.map(\.rxQueues).min() ?? 1
        queuesAtStart = available
        let queues = running.queues ?? min(available, running.maxQueues ?? Int(XPF_MAX_QUEUES))
        if let bad = infos.first(where: { $0.rxQueues < queues }) {
            throw XPFError("system dataplane queues \(queues): interface \(bad.name) has only \(bad.rxQueues) receive queues")
        }
        // The region is laid out for max-queues: a worker block, UMEM slice and session
        // partition each; those beyond `queues` are parked until a commit raises it.
        let maxQueues = running.maxQueues ?? queues
        let capacity = max(maxQueues, running.sessionTableSize / maxQueues * maxQueues)
        let geometry = ShmGeometry(queues: maxQueues, interfaces: infos.count, umemFrames: running.umemFrames, sessionCapacity: capacity)
        let shmPath = Self.shmPath(stateDir: opts.stateDir)
        region = try ShmRegion.create(path: shmPath, geometry: geometry, supervisorPid: getpid())
        teardown.add("shared memory") { unlink(shmPath) }
        let link = "\(opts.stateDir)/shm"
        unlink(link)
        try sysCall("symlink(\(link))") { symlink(shmPath, link) }
        teardown.add("shm link") { unlink(link) }

        // XDP program: load (verifier), fill maps, attach to every interface.
        let objPath = try findBPFObject()
        var bpf = xpf_bpf()
        var err = [CChar](repeating: 0, count: 512)
        if xpf_bpf_open(objPath, &bpf, &err, 512) != 0 { throw XPFError(String(cString: err)) }
        let bpfBox = UnsafeMutablePointer<xpf_bpf>.allocate(capacity: 1)
        bpfBox.initialize(to: bpf)
        teardown.add("bpf object") { xpf_bpf_close(bpfBox); bpfBox.deallocate() }
        var slotOf: [UInt32: UInt8] = [:]
        for (slot, info) in infos.enumerated() {
            var k = info.ifindex
            var v = xpf_if_slot(slot: UInt32(slot), flags: 0)
            if bpf_map_update_elem(bpf.if_slots_fd, &k, &v, 0) != 0 { throw SysError("if_slots update", xpf_errno()) }
            slotOf[info.ifindex] = UInt8(slot)
        }
        region.header.pointee.xskmap_id = bpf.xsks_id
        region.header.pointee.counters_map_id = bpf.counters_id
        region.header.pointee.batch_size_max = 256
        region.header.pointee.rx_ring_size = UInt32(running.rxRing)
        region.header.pointee.tx_ring_size = UInt32(running.txRing)
        fib = FIBMirror(region: region, slotOf: slotOf, localAddrsFd: bpf.local_addrs_fd)
        try fib.refreshIfDirty()  // local_addrs must be right before the program sees traffic
        let hostFilters = HostFilterMap(filtersFd: bpf.host_filters_fd, hitsFd: bpf.host_filter_hits_fd,
                                        policersFd: bpf.host_filter_policers_fd, logFd: bpf.host_filter_log_fd)
        hostInbound = HostInboundMap(tablesFd: bpf.host_inbound_fd, junosHostFd: bpf.junos_host_fd,
                                     junosHostOutFd: bpf.junos_host_out_fd, bankFd: bpf.host_inbound_bank_fd,
                                     filters: hostFilters, interfaceCount: infos.count)
        // Likewise what host-bound traffic each interface admits and filters; the snapshot is
        // the one published below, as generation 1 of this region.
        let startImage = try ConfigSnapshotImage(runningModel, capacity: Int(region.header.pointee.config_slot_size))
        let startGeneration = region.current(.config).generation + 1
        try startImage.withView { view in
            try hostInbound.install(runningModel, hostFilters: HostFilterTable(view, generation: startGeneration), view: view)
        }

        for (slot, info) in infos.enumerated() {
            _ = xpf_xdp_detach(Int32(info.ifindex))  // a stale program from a crashed run
            let modes: [Int32] = running.xdpMode == .native ? [1] : running.xdpMode == .generic ? [2] : [1, 2]
            var attached: Int32 = 0
            var lastErr: Int32 = 0
            for m in modes {
                let r = xpf_xdp_attach(Int32(info.ifindex), bpf.prog_fd, m)
                if r == 0 { attached = m; break }
                lastErr = -r
                if m == 1 && modes.count > 1 { logLine("xpfd", "\(info.name): native XDP refused (\(SysError("attach", -r))); trying generic") }
            }
            if attached == 0 { throw XPFError("cannot attach XDP to \(info.name): \(SysError("bpf_xdp_attach", lastErr))") }
            let ifindex = Int32(info.ifindex)
            teardown.add("xdp \(info.name)") { _ = xpf_xdp_detach(ifindex) }
            // The box's own packets leaving here meet the from junos-host policies.
            let tc = xpf_tc_attach(ifindex, bpf.tc_prog_fd)
            if tc != 0 { throw XPFError("cannot attach the TC egress filter to \(info.name): \(SysError("bpf_tc_attach", -tc))") }
            teardown.add("tc egress \(info.name)") { _ = xpf_tc_detach(ifindex) }
            var ifc = xpf_iface()
            ifc.ifindex = info.ifindex
            ifc.xdp_mode = UInt32(attached)
            copyCString(info.name, into: &ifc.name)
            withUnsafeMutableBytes(of: &ifc.mac) { $0.copyBytes(from: info.mac) }
            ifc.mtu = UInt16(clamping: info.mtu)
            ifc.rx_queues = UInt32(info.rxQueues)
            region.setIface(slot, ifc)
            logLine("xpfd", "\(info.name) (ifindex \(info.ifindex)): XDP attached in \(attached == 1 ? "native" : "generic") mode, \(info.rxQueues) rx queues")
        }

        let gen = try region.publishConfig(startImage)
        precondition(gen == startGeneration, "the first generation is the one the host-bound filters were installed for")
        events = EventDrain(region: region)
        // Events name the logical interface, as Junos does (`ge-0/0/0.0`): unit 0 is the only
        // unit the dataplane has.
        eventNames = EventNames(hostName: hostName(runningModel), interfaces: infos.map { $0.name + ".0" })
        eventNames.adopt(generation: gen, model: runningModel)
        hitCounts = PolicyHitCounts(region: region, model: runningModel)
        hitCounts.filters.hostBound = { [hostFilters] in hostFilters.counts() }
        traces = PacketTraces(region: region)
        syslog = try makeSyslogRouter(runningModel)
        try commits.record(text: runningTree.hierarchicalText(), generation: gen, source: "xpfd start (\(opts.configPath))")
        xpf_store_release_u32(&region.header.pointee.state, UInt32(XPF_SHM_RUNNING.rawValue))
        let workerBinary = opts.workerBinary ?? "\(Self.selfDirectory())/xpf-worker"
        guard access(workerBinary, X_OK) == 0 else { throw XPFError("worker binary \(workerBinary) not found or not executable") }
        workers = WorkerManager(region: region, workerBinary: workerBinary, shmPath: shmPath,
                                plan: planCores(queues: maxQueues, numaNode: infos[0].numaNode),
                                rxRing: running.rxRing, txRing: running.txRing)
        teardown.add("workers") { [unowned self] in self.workers.stopAll() }
        logLine("xpfd", "configuration \(opts.configPath) is generation \(gen); starting \(queues) workers"
            + (maxQueues > queues ? " (max-queues \(maxQueues): \(maxQueues - queues) parked)" : ""))
        workers.startAll(active: queues)
    }

    /// The HOSTNAME of syslog lines: `system host-name`, else the kernel's host name.
    func hostName(_ model: ConfigModel) -> String {
        if let n = model.dataplane.hostName { return n }
        var buf = [CChar](repeating: 0, count: 256)
        return gethostname(&buf, buf.count) == 0 ? String(cString: buf) : "xpf"
    }

    /// The syslog destinations of a configuration (files in the log directory).
    func makeSyslogRouter(_ model: ConfigModel) throws -> SyslogRouter {
        try SyslogRouter(syslog: model.syslog, securityLog: model.securityLog, logDirectory: opts.logDir)
    }

    /// Hands the firewall filter counts to /metrics: lifetime counts (`clear firewall` does
    /// not reset a Prometheus counter), as of this call — every commit and once a second in
    /// the loop, so a scrape sees counts at most a second old. Nothing while no listener is
    /// configured.
    func publishFirewallMetrics() {
        guard runningModel.services.prometheusListen != nil else { return }
        metrics?.recordFirewall(hitCounts.filters.lifetimeCounts())
    }

    /// Moves every worker's pending events to the syslog destinations; returns how many.
    /// Called every loop pass: 20 ms apart when the rings are quiet, 1 ms apart while a pass
    /// finds them busy (`busyDrain`), so a worker's 2048-entry ring absorbs ~2 M events/s
    /// instead of ~100 k — formatting and writing the lines (~500 k/s) is the limit then;
    /// each datagram destination costs one send per line, so many destinations (failing
    /// ones too) lower that; what does not fit is dropped and counted (events_dropped).
    @discardableResult
    func drainEvents() -> Int {
        var n = events.drain(budget: UInt32(XPF_EVENT_RING_SIZE)) { e in
            if let r = eventNames.record(e) { syslog.route(r) }
        }
        n += hostInbound.filters.drainLogs { e in
            if let r = eventNames.record(e) { syslog.route(r) }
        }
        syslog.flush()
        return n
    }

    /// A drain that moved this many events or more: the next pass comes after `busyPollMs`.
    static let busyDrain = Int(XPF_EVENT_RING_SIZE) / 8
    static let quietPollMs: Int32 = 20, busyPollMs: Int32 = 1

    /// `show log statistics`: every event is either written to the ring and drained, or
    /// dropped by a full ring and counted — emitted = drained + dropped + still queued.
    /// Events over `security log rate-cap` are suppressed before that, and counted apart.
    func logStatistics() -> String {
        drainEvents()
        var emitted: UInt64 = 0, dropped: UInt64 = 0, rateLimited: UInt64 = 0
        for q in 0..<region.queues {
            let s = WorkerStatsIO.read(region.worker(q))
            emitted &+= s.events_emitted
            dropped &+= s.events_dropped
            rateLimited &+= s.events_rate_limited
        }
        var lines = ["events emitted \(emitted)", "events dropped \(dropped)", "events drained \(events.drained)",
                     "events skipped \(events.skipped)", "events rate-limited \(rateLimited)"]
        // The XDP program's filter logs (host-bound traffic): a full ring is counted by the
        // program, the cap applied by xpfd as it drains them.
        let filters = hostInbound.filters
        let lost = DataplaneStatus.read(region).xdp.map { String($0[Int(XPF_XDP_HOST_LOG_LOST.rawValue)]) } ?? "unknown"
        lines.append("host-bound filter logs drained \(filters.drained), rate-limited \(filters.rateLimited), lost (ring full) \(lost)")
        for d in syslog.statistics {
            lines.append("destination \(d.name): written \(d.written), failed \(d.failed)"
                + (d.lastError != 0 ? ", last error \(String(cString: strerror(d.lastError)))" : ""))
        }
        return lines.joined(separator: "\n")
    }

    private func loop() -> Int32 {
        let signals: [Int32] = [SIGCHLD, SIGTERM, SIGINT, SIGHUP]
        let sigfd = signals.withUnsafeBufferPointer { xpf_signalfd($0.baseAddress, Int32($0.count)) }
        guard sigfd >= 0 else { logLine("xpfd", "signalfd: \(SysError("signalfd", -sigfd))"); return 1 }
        signal(SIGPIPE, SIG_IGN)
        workers.reap()  // a child may have died before the signalfd existed
        do {
            let m = try MetricsService(shmPath: Self.shmPath(stateDir: opts.stateDir))
            m.configure(runningModel.services.prometheusListen)
            teardown.add("metrics") { m.stop() }
            metrics = m
            publishFirewallMetrics()
        } catch {
            logLine("xpfd", "metrics: \(error); /metrics is not served")
        }
        let nlfd = xpf_nl_open_monitor()
        if nlfd < 0 { logLine("xpfd", "netlink monitor: \(SysError("socket", -nlfd)); FIB follows by polling only") }
        let control: ControlServer
        do { control = try ControlServer(path: "\(opts.stateDir)/xpfd.sock") } catch {
            logLine("xpfd", "control socket: \(error)")
            return 1
        }
        var fds = [pollfd(fd: sigfd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: control.fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: nlfd, events: Int16(POLLIN), revents: 0)]
        var lastPeriodicRefresh = monotonicNanos()
        var busy = false
        while true {
            _ = poll(&fds, nfds_t(fds.count), busy ? Self.busyPollMs : Self.quietPollMs)
            while true {
                let sig = xpf_signalfd_read(sigfd)
                if sig <= 0 { break }
                switch sig {
                case SIGCHLD: workers.reap()
                case SIGHUP: logLine("xpfd", "SIGHUP: \(commitFile(path: nil, source: "SIGHUP", checkOnly: false))")
                default:
                    drainEvents()  // what the workers emitted before the signal
                    logLine("xpfd", "signal \(sig): stopping")
                    xpf_store_release_u32(&region.header.pointee.state, UInt32(XPF_SHM_STOPPING.rawValue))
                    return 0
                }
            }
            if fds[1].revents != 0 {
                control.serve { handleControl($0) }
            }
            if nlfd >= 0 && fds[2].revents != 0 && xpf_nl_drain_monitor(nlfd) != 0 { fib.dirty = true }
            fib.serviceRequests()
            let now = monotonicNanos()
            traces.expire(nowNs: now)
            if now - lastPeriodicRefresh > 1_000_000_000 {
                fib.dirty = true
                publishFirewallMetrics()
                lastPeriodicRefresh = now
            }
            do { try fib.refreshIfDirty() } catch { logLine("xpfd", "FIB refresh: \(error)") }
            workers.tick()
            workers.keepPartitions()
            hitCounts.harvestIfReady()
            busy = drainEvents() >= Self.busyDrain
        }
    }
}
