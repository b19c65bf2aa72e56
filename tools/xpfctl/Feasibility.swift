// xpfctl feasibility: what this machine and each NIC can do for xpf, one verdict
// line per capability with its reason and fix. The probes and rules are in
// Sources/Shared/Feasibility; this file picks the interfaces and prints.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CXPF
import Shared

struct Feasibility: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "What this machine and each NIC can do for xpf: kernel, XDP, AF_XDP, queues, RSS, IRQs, NUMA, MTU.",
        discussion: """
            Kernel: release, config (CONFIG_BPF_SYSCALL, CONFIG_XDP_SOCKETS, CONFIG_BPF_JIT), AF_XDP sockets, the BPF \
            JIT, BTF, bpffs, privileges. Per interface: driver; native XDP (a trial XDP_PASS program attached in driver \
            mode and detached at once); AF_XDP zero-copy (a trial socket bound to queue 0 with XDP_ZEROCOPY and closed \
            at once; copy mode is tried when it fails); channels (current and maximum); RSS hash fields and \
            indirection table; IRQ-to-CPU placement; NUMA node against the allowed CPUs; MTU against xpf's UMEM frame.

            Each line is ok, warn or no, with the reason and the knob or command that changes it. An interface that \
            already has an XDP program (xpfd's or another) is not touched: the trials are skipped and said so. On some \
            drivers (i40e, ixgbe, mlx5) attaching XDP reconfigures the rings: the trial may interrupt traffic for a \
            moment on an interface in use; --no-trials only reads.

            Interfaces: those named; else `system dataplane interfaces` of --config FILE; else those of the xpfd \
            running with --state-dir; else every interface but loopback, and then no trial runs on one that \
            carries a default route (name it to try it).

            --json (version 1): {version, feasible, blocking, frame {size, max_frame, max_mtu}, kernel [checks], \
            interfaces [{name, exists, ifindex, driver, attached_xdp {program_id, mode, xpf} | null, native_xdp, \
            zero_copy, af_xdp_copy (true / false / null = not tried), channels {current, maximum, kind} | null, \
            sysfs_rx_queues, rss_hash {tcp4, udp4, tcp6, udp6: ethtool letters | null}, rss_indirection [queue] | null, \
            irqs [{irq, name, cpus}], numa_node, mtu, checks}]}; a check is {name, verdict, value, reason, fix, blocking}.

            Exit status 1 when a finding keeps xpf from running (marked blocking), 0 otherwise.
            """)
    @OptionGroup var common: Common
    @Option(name: .long, help: "Configuration file: probe its `system dataplane interfaces` against its queues and xdp-mode.")
    var config: String?
    @Flag(name: .long, help: "JSON output.")
    var json = false
    @Flag(name: .long, help: "Only read: no trial XDP attach, no trial AF_XDP bind.")
    var noTrials = false
    @Argument(help: "Interfaces to probe.")
    var interfaces: [String] = []

    /// The version of the --json document; raised when a field changes meaning or goes.
    static let jsonVersion = 1
    static let verdictWidth = 6, nameWidth = 16  // text columns

    func run() throws {
        var names = interfaces
        var queues: Int?
        var nativeRequired = false
        var frame = FrameGeometry(frameSize: ShmGeometry(queues: 1, interfaces: 1, umemFrames: 1, sessionCapacity: 1).frameSize)
        var running: Set<String> = []
        // A region that exists but does not open (an xpfd of another build: ABI or layout
        // mismatch) is said, not skipped in silence: its interfaces would look foreign.
        if access("\(common.stateDir)/shm", F_OK) == 0 {
            do {
                try readRegion(&names, &queues, &frame, &running)
            } catch {
                fputs("xpfctl: warning: xpfd's region \(common.stateDir)/shm is unreadable (\(error)); its interfaces are not recognised as xpf's\n", stderr)
            }
        }
        if let path = config {
            guard let text = readWholeFile(path) else { throw XPFError("cannot read \(path): \(String(cString: strerror(xpf_errno())))") }
            let (_, dp) = try DataplaneConfig.load(text: text, file: path)
            if names.isEmpty { names = dp.interfaces }
            queues = dp.queues
            nativeRequired = dp.xdpMode == .native
        }
        // Every interface, unasked: spare the uplinks (a trial attach may reset a NIC's rings).
        var spared: Set<String> = []
        if names.isEmpty {
            names = FeasibilityProbe.allInterfaces()
            spared = FeasibilityProbe.defaultRouteInterfaces()
        }

        let kernel = FeasibilityRules.kernelChecks(FeasibilityProbe.kernel())
        var reports: [(facts: InterfaceFacts, checks: [FeasibilityCheck])] = []
        for name in names {
            let withhold = noTrials ? "--no-trials" : spared.contains(name) ? "it carries a default route (the uplink?): trials only on interfaces named or configured" : nil
            let facts = FeasibilityProbe.interface(name, withhold: withhold, ownedByXpf: running.contains(name), xpfQueues: queues)
            reports.append((facts, FeasibilityRules.interfaceChecks(facts, frame: frame, nativeRequired: nativeRequired)))
        }
        let blocking = (kernel + reports.flatMap(\.checks)).filter(\.blocking).count
        if json {
            print(Self.jsonText(kernel: kernel, reports: reports, frame: frame, blocking: blocking))
        } else {
            print("kernel")
            kernel.forEach(Self.printLine)
            for r in reports {
                let driver = r.facts.driver.map { ", driver \($0)" } ?? ""
                print("interface \(r.facts.name)\(driver)")
                r.checks.forEach(Self.printLine)
            }
            print(blocking == 0 ? "feasible: yes" : "feasible: no (\(blocking) blocking)")
        }
        if blocking > 0 { throw ExitCode(1) }
    }

    /// The running xpfd's interfaces (its region), queues with a worker and frame size.
    func readRegion(_ names: inout [String], _ queues: inout Int?, _ frame: inout FrameGeometry, _ running: inout Set<String>) throws {
        let region = try DataplaneStatus.openRegion(stateDir: common.stateDir)
        let ifaces = (0..<region.interfaceCount).map { stringFromCArray(region.iface($0).name) }
        running = Set(ifaces)
        // The queues that run a worker: a parked one (beyond `queues`) needs no channel.
        queues = (0..<region.queues).filter {
            xpf_load_acquire_u32(xpf_wb_state(region.worker($0))) != UInt32(XPF_WORKER_PARKED.rawValue)
        }.count
        frame = FrameGeometry(frameSize: Int(region.header.pointee.frame_size))
        if names.isEmpty && config == nil { names = ifaces }
    }

    static func printLine(_ c: FeasibilityCheck) {
        func column(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(1, width - text.count)) }
        print("  " + column(c.verdict.rawValue, verdictWidth) + column(c.name, nameWidth) + c.value + " — " + c.reason
              + (c.blocking ? " [blocking]" : ""))
        if let fix = c.fix, c.verdict != .ok { print("  " + String(repeating: " ", count: verdictWidth + nameWidth) + "fix: " + fix) }
    }

    static func write(_ c: FeasibilityCheck, _ j: inout JSONWriter) {
        j.beginObject()
        j.field("name", c.name); j.field("verdict", c.verdict.rawValue); j.field("value", c.value)
        j.field("reason", c.reason)
        if let fix = c.fix { j.field("fix", fix) } else { j.null("fix") }
        j.field("blocking", c.blocking)
        j.endObject()
    }

    /// A trial's outcome: true (worked), false (refused), null (not tried).
    static func trial(_ key: String, _ errno: Int32?, _ j: inout JSONWriter) {
        if let errno { j.field(key, errno == 0) } else { j.null(key) }
    }

    static func jsonText(kernel: [FeasibilityCheck], reports: [(facts: InterfaceFacts, checks: [FeasibilityCheck])],
                         frame: FrameGeometry, blocking: Int) -> String
    {
        var j = JSONWriter()
        j.beginObject()
        j.field("version", jsonVersion)
        j.field("feasible", blocking == 0)
        j.field("blocking", blocking)
        j.beginObject("frame")
        j.field("size", frame.frameSize); j.field("max_frame", frame.maxFrame); j.field("max_mtu", frame.maxMTU)
        j.endObject()
        j.beginArray("kernel")
        for c in kernel { write(c, &j) }
        j.endArray()
        j.beginArray("interfaces")
        for (f, checks) in reports {
            j.beginObject()
            j.field("name", f.name)
            j.field("exists", f.ifindex != 0)
            j.field("ifindex", f.ifindex)
            if let d = f.driver { j.field("driver", d) } else { j.null("driver") }
            if let a = f.attached {
                j.beginObject("attached_xdp")
                j.field("program_id", a.programId); j.field("mode", a.mode); j.field("xpf", a.ownedByXpf)
                j.endObject()
            } else {
                j.null("attached_xdp")
            }
            trial("native_xdp", f.nativeTrial, &j)
            trial("zero_copy", f.zeroCopyTrial, &j)
            trial("af_xdp_copy", f.zeroCopyTrial == 0 ? 0 : f.copyTrial, &j)
            if case .value(let ch) = f.channels {
                j.beginObject("channels")
                j.field("current", ch.current); j.field("maximum", ch.maximum); j.field("kind", ch.kind)
                j.endObject()
            } else {
                j.null("channels")
            }
            j.field("sysfs_rx_queues", f.sysfsRxQueues)
            j.beginObject("rss_hash")
            for h in f.hashFields {
                if case .value(let bits) = h.result { j.field(h.flow, FeasibilityRules.hashLetters(bits)) } else { j.null(h.flow) }
            }
            j.endObject()
            if case .value(let table) = f.indirection {
                j.beginArray("rss_indirection")
                for q in table { j.field(nil, q) }
                j.endArray()
            } else {
                j.null("rss_indirection")
            }
            j.beginArray("irqs")
            for i in f.interrupts {
                j.beginObject()
                j.field("irq", i.irq); j.field("name", i.name)
                j.beginArray("cpus"); for c in i.cpus { j.field(nil, c) }; j.endArray()
                j.endObject()
            }
            j.endArray()
            j.field("numa_node", f.numaNode)
            j.field("mtu", f.mtu)
            j.beginArray("checks")
            for c in checks { write(c, &j) }
            j.endArray()
            j.endObject()
        }
        j.endArray()
        j.endObject()
        return j.text
    }
}
