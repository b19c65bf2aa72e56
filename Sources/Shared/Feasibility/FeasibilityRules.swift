// The verdict rules of `xpfctl feasibility` and the parsers of the texts they read
// (kernel release, kernel config, CPU lists, /proc/interrupts). Pure: facts in, lines out.
#if canImport(Glibc)
import Glibc
#endif
import CXPF

public enum FeasibilityRules {
    /// xpf's workers bind one UMEM to sockets on several interfaces (XDP_SHARED_UMEM across
    /// devices and queues), which Linux has since 5.10.
    public static let minimumKernel = (major: 5, minor: 10)
    /// Shown per line at most, so a 128-queue NIC stays readable.
    public static let listLimit = 8

    // MARK: - Parsers

    /// "6.1.0-18-amd64" → (6, 1).
    public static func kernelVersion(_ release: String) -> (major: Int, minor: Int)? {
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        return parts.count == 2 ? (parts[0], parts[1]) : nil
    }

    /// A kernel .config: `CONFIG_X=v` lines; `# CONFIG_X is not set` lines are left out.
    public static func parseKernelConfig(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("CONFIG_") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            out[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return out
    }

    /// "0-3,8,10-11" → [0, 1, 2, 3, 8, 10, 11]; nil when malformed.
    public static func parseCPUList(_ text: String) -> [Int]? {
        var out: [Int] = []
        for part in text.trimmingWhitespace().split(separator: ",") {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false)
            guard let lo = Int(ends[0]), ends.count <= 2 else { return nil }
            let hi = ends.count == 2 ? Int(ends[1]) : lo
            guard let hi, hi >= lo else { return nil }
            out += Array(lo...hi)
        }
        return out
    }

    /// /proc/interrupts → IRQ number → its name (the last column: "eth0-TxRx-3",
    /// "virtio2-input.0", "mlx5_comp0@pci:0000:03:00.0"). Lines of non-numbered interrupts
    /// (NMI, LOC, …) are left out.
    public static func parseInterrupts(_ text: String) -> [Int: String] {
        var out: [Int: String] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0].hasSuffix(":"), let irq = Int(fields[0].dropLast()) else { continue }
            out[irq] = String(fields[fields.count - 1])
        }
        return out
    }

    /// The interrupts of one interface: those of its device (msi_irqs), and those whose name
    /// names the interface or its device ("eth0-…", "virtio2-…").
    public static func interfaceInterrupts(_ all: [Int: String], deviceIRQs: [Int], names: [String]) -> [Int] {
        let device = Set(deviceIRQs)
        return all.keys.filter { irq in
            device.contains(irq) || names.contains { n in all[irq]!.hasPrefix(n + "-") || all[irq]! == n }  // Safe: irq is a key of all
        }.sorted()
    }

    // MARK: - Kernel

    public static func kernelChecks(_ k: KernelFacts) -> [FeasibilityCheck] {
        var out: [FeasibilityCheck] = []
        if let (major, minor) = kernelVersion(k.release) {
            let need = "\(minimumKernel.major).\(minimumKernel.minor)"
            if (major, minor) < minimumKernel {
                out.append(FeasibilityCheck("kernel", .no, k.release,
                                            "xpf's workers share one UMEM between interfaces (XDP_SHARED_UMEM across devices), Linux \(need) or later",
                                            fix: "boot a kernel ≥ \(need) (Debian 12: 6.1)", blocking: true))
            } else {
                out.append(FeasibilityCheck("kernel", .ok, k.release, "Linux \(need) or later"))
            }
        } else {
            out.append(FeasibilityCheck("kernel", .warn, k.release, "release not understood; cannot compare with \(minimumKernel.major).\(minimumKernel.minor)"))
        }
        out.append(kernelConfigCheck(k))
        switch k.afXdpSocket {
        case 0:
            out.append(FeasibilityCheck("af-xdp", .ok, "yes", "socket(AF_XDP) opens"))
        case -EAFNOSUPPORT:
            out.append(FeasibilityCheck("af-xdp", .no, "no", "socket(AF_XDP) fails: the kernel has no AF_XDP",
                                        fix: "a kernel built with CONFIG_XDP_SOCKETS=y", blocking: true))
        default:
            out.append(FeasibilityCheck("af-xdp", .warn, "unknown", "socket(AF_XDP) fails: \(errnoText(-k.afXdpSocket))",
                                        fix: "run as root"))
        }
        switch k.jitEnable {
        case 1:
            out.append(FeasibilityCheck("bpf-jit", .ok, "enabled", "net.core.bpf_jit_enable = 1: the XDP program runs as native code"))
        case 2:
            out.append(FeasibilityCheck("bpf-jit", .warn, "debug", "net.core.bpf_jit_enable = 2 logs every compiled program",
                                        fix: "sysctl -w net.core.bpf_jit_enable=1"))
        case .some(let v):
            out.append(FeasibilityCheck("bpf-jit", .warn, "disabled", "net.core.bpf_jit_enable = \(v): the XDP program is interpreted, several times slower",
                                        fix: "sysctl -w net.core.bpf_jit_enable=1"))
        case nil where k.config?["CONFIG_BPF_JIT_ALWAYS_ON"] == "y":
            out.append(FeasibilityCheck("bpf-jit", .ok, "always on", "CONFIG_BPF_JIT_ALWAYS_ON=y"))
        case nil where k.config?["CONFIG_BPF_JIT"] == "y":
            // net.core.bpf_jit_enable exists in the initial network namespace only.
            out.append(FeasibilityCheck("bpf-jit", .warn, "built in", "CONFIG_BPF_JIT=y, but net.core.bpf_jit_enable is not visible from this network namespace",
                                        fix: "check from the host: sysctl net.core.bpf_jit_enable (1 = on)"))
        case nil:
            out.append(FeasibilityCheck("bpf-jit", .warn, "absent", "no /proc/sys/net/core/bpf_jit_enable: the kernel has no BPF JIT, the XDP program is interpreted",
                                        fix: "a kernel built with CONFIG_BPF_JIT=y"))
        }
        out.append(k.btf
            ? FeasibilityCheck("btf", .ok, "yes", "/sys/kernel/btf/vmlinux present (bpftool, CO-RE programs)")
            : FeasibilityCheck("btf", .warn, "no", "no /sys/kernel/btf/vmlinux: xpf's XDP object does not need it, but bpftool's and libxdp's introspection do",
                               fix: "a kernel built with CONFIG_DEBUG_INFO_BTF=y"))
        out.append(k.bpffsMounted
            ? FeasibilityCheck("bpffs", .ok, "mounted", "a bpf filesystem is mounted (/sys/fs/bpf)")
            : FeasibilityCheck("bpffs", .warn, "not mounted", "xpf does not pin objects, but libxdp and bpftool expect /sys/fs/bpf",
                               fix: "mount -t bpf bpf /sys/fs/bpf (tools/setup does)"))
        out.append(k.root
            ? FeasibilityCheck("privileges", .ok, "root", "trial attach and bind need CAP_NET_ADMIN, CAP_BPF and CAP_NET_RAW")
            : FeasibilityCheck("privileges", .no, "not root", "trial attach and bind need CAP_NET_ADMIN, CAP_BPF and CAP_NET_RAW; xpfd needs them too",
                               fix: "run as root", blocking: true))
        return out
    }

    /// The kernel options xpf depends on, and what their absence costs.
    static let requiredOptions = ["CONFIG_BPF_SYSCALL", "CONFIG_XDP_SOCKETS"]
    static let recommendedOptions = ["CONFIG_BPF_JIT"]

    static func kernelConfigCheck(_ k: KernelFacts) -> FeasibilityCheck {
        guard let config = k.config, let source = k.configSource else {
            return FeasibilityCheck("kernel-config", .warn, "unreadable",
                                    "neither /proc/config.gz nor /boot/config-\(k.release): CONFIG_ options not checked (the trials below still tell)",
                                    fix: "modprobe configs")
        }
        func enabled(_ o: String) -> Bool { config[o] == "y" }
        let missing = requiredOptions.filter { !enabled($0) }
        if !missing.isEmpty {
            return FeasibilityCheck("kernel-config", .no, missing.map { "\($0) not set" }.joined(separator: ", "),
                                    "\(source): xpf needs \(requiredOptions.map { "\($0)=y" }.joined(separator: ", "))",
                                    fix: "a kernel built with " + missing.map { "\($0)=y" }.joined(separator: " "), blocking: true)
        }
        let weak = recommendedOptions.filter { !enabled($0) }
        if !weak.isEmpty {
            return FeasibilityCheck("kernel-config", .warn, weak.map { "\($0) not set" }.joined(separator: ", "),
                                    "\(source): without a JIT the XDP program is interpreted",
                                    fix: "a kernel built with " + weak.map { "\($0)=y" }.joined(separator: " "))
        }
        return FeasibilityCheck("kernel-config", .ok, (requiredOptions + recommendedOptions).map { "\($0)=y" }.joined(separator: " "),
                                "\(source)")
    }

    // MARK: - Interfaces

    public static func interfaceChecks(_ f: InterfaceFacts, frame: FrameGeometry, nativeRequired: Bool = false) -> [FeasibilityCheck] {
        guard f.ifindex != 0 else {
            return [FeasibilityCheck("interface", .no, "missing", "\(f.name) does not exist in this network namespace",
                                     fix: "create it or correct `system dataplane interfaces`", blocking: true)]
        }
        var out: [FeasibilityCheck] = []
        out.append(f.driver.map { d in
            FeasibilityCheck("driver", .ok, d, f.bus.map { $0.isEmpty ? "no bus address (virtual device)" : "bus \($0)" } ?? "ethtool -i")
        } ?? FeasibilityCheck("driver", .warn, "unknown", "ETHTOOL_GDRVINFO refused and no /sys/class/net/\(f.name)/device/driver"))
        if let a = f.attached { out.append(attachedCheck(f.name, a)) }
        out.append(nativeCheck(f, required: nativeRequired))
        out += afXdpChecks(f)
        out.append(queueCheck(f))
        out.append(hashCheck(f))
        out.append(indirectionCheck(f))
        out.append(interruptCheck(f))
        out.append(numaCheck(f))
        out.append(mtuCheck(f, frame: frame))
        return out
    }

    static func attachedCheck(_ name: String, _ a: AttachedXDP) -> FeasibilityCheck {
        if a.ownedByXpf {
            return FeasibilityCheck("xdp-program", .ok, "xpf (id \(a.programId), \(a.mode))",
                                    "xpfd's program is attached: trials that would disturb it are skipped")
        }
        return FeasibilityCheck("xdp-program", .warn, "id \(a.programId) (\(a.mode))",
                                "another XDP program is attached; not touched, so the trials are skipped (xpfd replaces it at start)",
                                fix: "ip link set dev \(name) xdp off, then run feasibility again")
    }

    /// The kernel's extack for a driver without XDP (dev_xdp_attach, net/core/dev.c).
    static let noNativeXDP = "does not support XDP in native mode"

    static func nativeCheck(_ f: InterfaceFacts, required: Bool) -> FeasibilityCheck {
        let fallback = "xpf falls back to generic (SKB) mode with `system dataplane xdp-mode auto`: correct, several times slower"
        guard let trial = f.nativeTrial else {
            if let a = f.attached, a.mode == "native" {
                return FeasibilityCheck("native-xdp", .ok, "yes", "a program is attached in native mode")
            }
            guard let a = f.attached else {
                return FeasibilityCheck("native-xdp", .warn, "not tried", f.trialsWithheld ?? "no trial was run",
                                        fix: "xpfctl feasibility \(f.name)")
            }
            return FeasibilityCheck("native-xdp", .warn, "not tried", "a program is attached (\(a.mode) mode); a trial would replace it")
        }
        if let e = f.nativeDetachFailure {
            return FeasibilityCheck("native-xdp", .no, "trial program left attached",
                                    "attached, but detaching the trial program failed: \(errnoText(e))",
                                    fix: "ip link set dev \(f.name) xdpdrv off", blocking: true)
        }
        let kernelSays = f.nativeRefusal.map { "the kernel says: \($0); " } ?? ""
        switch trial {
        case 0:
            return FeasibilityCheck("native-xdp", .ok, "yes", "a trial XDP program attached in driver mode (and was detached)")
        case EPERM, EACCES:
            return FeasibilityCheck("native-xdp", .warn, "unknown", "trial attach refused: \(errnoText(trial))", fix: "run as root")
        case EOPNOTSUPP where f.nativeRefusal.map { $0.contains(noNativeXDP) } ?? true:
            return FeasibilityCheck("native-xdp", .no, "no", "driver \(f.driver ?? "?") has no native XDP; " + fallback,
                                    fix: required ? "`system dataplane xdp-mode auto`, or a NIC whose driver has XDP" : "a NIC whose driver has XDP (ice, i40e, ixgbe, mlx5, virtio_net, veth, …)",
                                    blocking: required)
        default:
            return FeasibilityCheck("native-xdp", .no, "no", "driver \(f.driver ?? "?") refused the trial program: \(errnoText(trial)); \(kernelSays)" + fallback,
                                    fix: f.nativeRefusal == nil ? "dmesg | tail names the driver's reason (an MTU above its XDP limit, too few queues for XDP_TX, …)"
                                        : "remove the condition the kernel names, then run feasibility again",
                                    blocking: required)
        }
    }

    static func afXdpChecks(_ f: InterfaceFacts) -> [FeasibilityCheck] {
        guard let zc = f.zeroCopyTrial else {
            guard let a = f.attached else {
                return [FeasibilityCheck("zero-copy", .warn, "not tried", f.trialsWithheld ?? "no trial was run",
                                         fix: "xpfctl feasibility \(f.name)")]
            }
            let why = a.ownedByXpf ? "xpf's workers hold the queues" : "an XDP program is attached"
            return [FeasibilityCheck("zero-copy", .warn, "not tried", "\(why); a trial bind could disturb it")]
        }
        if zc == 0 {
            return [FeasibilityCheck("zero-copy", .ok, "yes", "a trial AF_XDP socket bound queue 0 with XDP_ZEROCOPY (and was closed)")]
        }
        var out: [FeasibilityCheck] = []
        let reason: String
        switch zc {
        case EOPNOTSUPP: reason = "driver \(f.driver ?? "?") has no AF_XDP zero-copy: xpf's sockets run in copy mode (one copy per packet each way)"
        case EBUSY: reason = "queue 0 already has an AF_XDP socket (another program, or xpf's workers)"
        default: reason = "the zero-copy bind failed: \(errnoText(zc))"
        }
        out.append(FeasibilityCheck("zero-copy", .no, "no", reason,
                                    fix: zc == EBUSY ? "stop the program that holds queue 0, then run feasibility again"
                                        : "a NIC whose driver has AF_XDP zero-copy (ice, i40e, ixgbe, igc, mlx5, …)"))
        switch f.copyTrial {
        case 0?:
            out.append(FeasibilityCheck("af-xdp-copy", .ok, "yes", "a trial AF_XDP socket bound queue 0 in copy mode"))
        case let e?:
            out.append(FeasibilityCheck("af-xdp-copy", .no, "no", "no AF_XDP socket binds here, even in copy mode: \(errnoText(e))",
                                        fix: e == EBUSY ? "stop the program that holds queue 0" : nil, blocking: e != EBUSY))
        case nil:
            break
        }
        return out
    }

    static func queueCheck(_ f: InterfaceFacts) -> FeasibilityCheck {
        let using = f.xpfQueues.map { ", xpf uses \($0)" } ?? ""
        guard case .value(let ch) = f.channels, ch.maximum > 0 else {
            var why = "no channel counts"
            if case .failed(let e) = f.channels, e != 0 { why = "ETHTOOL_GCHANNELS: \(errnoText(e))" }
            return FeasibilityCheck("queues", f.sysfsRxQueues > 1 ? .ok : .warn, "\(f.sysfsRxQueues) rx (sysfs)",
                                    "\(why); \(f.sysfsRxQueues) rx queues in /sys/class/net/\(f.name)/queues\(using)",
                                    fix: f.sysfsRxQueues > 1 ? nil : "one queue means one worker for this interface")
        }
        let value = "\(ch.current) of \(ch.maximum) \(ch.kind)"
        if let q = f.xpfQueues, q > ch.current {
            return FeasibilityCheck("queues", .no, value, "xpf would run \(q) queues, the NIC has \(ch.current) channels",
                                    fix: q <= ch.maximum ? "ethtool -L \(f.name) \(ch.kind) \(q)" : "system dataplane queues \(ch.current)",
                                    blocking: true)
        }
        if ch.current < ch.maximum {
            return FeasibilityCheck("queues", .warn, value, "\(ch.maximum - ch.current) more channels are available\(using): each is one more worker",
                                    fix: "ethtool -L \(f.name) \(ch.kind) \(ch.maximum), then `system dataplane queues \(ch.maximum)` (or leave queues unset)")
        }
        if ch.maximum == 1 {
            return FeasibilityCheck("queues", .warn, value, "one channel: one worker serves this interface\(using)",
                                    fix: "a multi-queue NIC (or veth with numtxqueues/numrxqueues) to scale past one core")
        }
        return FeasibilityCheck("queues", .ok, value, "every channel in use\(using)")
    }

    /// The flow types whose RSS hash decides which queue a flow lands on.
    public static let hashFlows: [(name: String, type: UInt32)] = [
        ("tcp4", UInt32(XPF_FEAS_TCP_V4_FLOW)), ("udp4", UInt32(XPF_FEAS_UDP_V4_FLOW)),
        ("tcp6", UInt32(XPF_FEAS_TCP_V6_FLOW)), ("udp6", UInt32(XPF_FEAS_UDP_V6_FLOW)),
    ]
    static let ipBoth = UInt64(XPF_FEAS_RXH_IP_SRC | XPF_FEAS_RXH_IP_DST)
    static let portsBoth = UInt64(XPF_FEAS_RXH_L4_B_0_1 | XPF_FEAS_RXH_L4_B_2_3)

    /// RXH_* bits in ethtool's letters (`ethtool -N IF rx-flow-hash udp4 sdfn`).
    public static func hashLetters(_ bits: UInt64) -> String {
        let letters: [(Int, Character)] = [
            (XPF_FEAS_RXH_L2DA, "m"), (XPF_FEAS_RXH_VLAN, "v"), (XPF_FEAS_RXH_L3_PROTO, "t"),
            (XPF_FEAS_RXH_IP_SRC, "s"), (XPF_FEAS_RXH_IP_DST, "d"),
            (XPF_FEAS_RXH_L4_B_0_1, "f"), (XPF_FEAS_RXH_L4_B_2_3, "n"),
        ]
        let s = String(letters.filter { bits & UInt64($0.0) != 0 }.map { $0.1 })
        return s.isEmpty ? "none" : s
    }

    static func hashCheck(_ f: InterfaceFacts) -> FeasibilityCheck {
        var known: [(String, UInt64)] = []
        var firstError: Int32?
        for h in f.hashFields {
            switch h.result {
            case .value(let bits): known.append((h.flow, bits))
            case .failed(let e): firstError = firstError ?? e
            }
        }
        guard multiQueue(f) else {
            return FeasibilityCheck("rss-hash", .ok, known.isEmpty ? "not supported" : known.map { "\($0.0) \(hashLetters($0.1))" }.joined(separator: ", "),
                                    "one queue, nothing to spread")
        }
        if known.isEmpty, f.driver == "veth" {
            return FeasibilityCheck("rss-hash", .ok, "not supported", vethSpreading)
        }
        guard !known.isEmpty else {
            let why = firstError.map { "ETHTOOL_GRXFH: \(errnoText($0))" } ?? "not read"
            return FeasibilityCheck("rss-hash", .warn, "not supported", "\(why): which fields spread flows over queues is unknown")
        }
        let value = known.map { "\($0.0) \(hashLetters($0.1))" }.joined(separator: ", ")
        let ipOnly = known.filter { $0.1 & ipBoth == ipBoth && $0.1 & portsBoth != portsBoth }.map(\.0)
        let noIP = known.filter { $0.1 & ipBoth != ipBoth }.map(\.0)
        if !noIP.isEmpty {
            return FeasibilityCheck("rss-hash", .warn, value, "\(noIP.joined(separator: ", ")) not hashed on both addresses: flows pile onto few queues",
                                    fix: noIP.map { "ethtool -N \(f.name) rx-flow-hash \($0) sdfn" }.joined(separator: "; "))
        }
        if !ipOnly.isEmpty {
            return FeasibilityCheck("rss-hash", .warn, value,
                                    "\(ipOnly.joined(separator: ", ")) hashed on addresses only: all flows between two hosts share one queue (one worker)",
                                    fix: ipOnly.map { "ethtool -N \(f.name) rx-flow-hash \($0) sdfn" }.joined(separator: "; "))
        }
        return FeasibilityCheck("rss-hash", .ok, value, "addresses and ports: flows spread over the queues")
    }

    /// veth has no RSS: a frame arrives on the rx queue of the peer's tx queue it was sent
    /// on, which the sender's CPU picks (XPS): spreading is the senders' business.
    static let vethSpreading = "veth has no RSS: a frame lands on the rx queue matching the tx queue the peer sent it on (the sending CPU picks it)"

    static func multiQueue(_ f: InterfaceFacts) -> Bool {
        if case .value(let ch) = f.channels, ch.current > 1 { return true }
        return f.sysfsRxQueues > 1
    }

    static func indirectionCheck(_ f: InterfaceFacts) -> FeasibilityCheck {
        let table: [UInt32]
        switch f.indirection {
        case .failed where f.driver == "veth" && multiQueue(f):
            return FeasibilityCheck("rss-indirection", .ok, "not supported", vethSpreading)
        case .failed(let e):
            let why = e != 0 ? "ETHTOOL_GRSSH: \(errnoText(e))" : "not read"
            return FeasibilityCheck("rss-indirection", multiQueue(f) ? .warn : .ok, "not supported",
                                    multiQueue(f) ? "\(why): how hash values map to queues is unknown" : "\(why); one queue, nothing to spread")
        case .value(let t):
            table = t
        }
        guard !table.isEmpty else {
            return FeasibilityCheck("rss-indirection", multiQueue(f) ? .warn : .ok, "no table", "the driver reports no indirection table")
        }
        var share: [UInt32: Int] = [:]
        for q in table { share[q, default: 0] += 1 }
        let queues = share.keys.sorted()
        let value = "\(table.count) entries over \(queues.count) queues"
        var current = queues.count
        if case .value(let ch) = f.channels, ch.current > 0 { current = ch.current }
        let target = min(current, f.xpfQueues ?? current)
        if queues.count < target {
            return FeasibilityCheck("rss-indirection", .warn, value, "the table sends traffic to \(queues.count) of \(target) queues: the others' workers idle",
                                    fix: "ethtool -X \(f.name) equal \(target)")
        }
        let most = share.values.max()!, least = share.values.min()!  // Safe: the table is not empty
        // Equal spreading of a table over n queues leaves at most one entry of difference.
        if most - least > 1 {
            let heavy = share.filter { $0.value == most }.keys.sorted().prefix(listLimit).map(String.init).joined(separator: ",")
            return FeasibilityCheck("rss-indirection", .warn, value,
                                    "uneven: queue \(heavy) gets \(most) entries, another \(least): its worker gets \(most * 100 / table.count)% of flows",
                                    fix: "ethtool -X \(f.name) equal \(queues.count)")
        }
        return FeasibilityCheck("rss-indirection", .ok, value, "evenly spread")
    }

    static func interruptCheck(_ f: InterfaceFacts) -> FeasibilityCheck {
        guard !f.interrupts.isEmpty else {
            return FeasibilityCheck("irq-affinity", .ok, "no interrupts", "no device interrupts (a virtual interface: the sender's CPU does the work)")
        }
        let shown = f.interrupts.prefix(listLimit).map { "\($0.irq)→\(cpuListText($0.cpus))" }.joined(separator: " ")
            + (f.interrupts.count > listLimit ? " …" : "")
        let firstCPUs = Set(f.interrupts.compactMap { $0.cpus.count == 1 ? $0.cpus[0] : nil })
        let pinned = f.interrupts.filter { $0.cpus.count == 1 }.count == f.interrupts.count
        if f.numaNode >= 0, !f.nodeCPUs.isEmpty {
            let node = Set(f.nodeCPUs)
            let far = f.interrupts.filter { !$0.cpus.allSatisfy(node.contains) }
            if !far.isEmpty {
                return FeasibilityCheck("irq-affinity", .warn, shown,
                                        "\(far.count) of \(f.interrupts.count) interrupts may run outside NUMA node \(f.numaNode) (CPUs \(cpuListText(f.nodeCPUs)))",
                                        fix: "echo CPU > /proc/irq/N/smp_affinity_list with CPUs of node \(f.numaNode) (irqbalance --banirq=N, or stop irqbalance)")
            }
        }
        if pinned, f.interrupts.count > 1, firstCPUs.count == 1, f.allowedCPUs.count > 1 {
            return FeasibilityCheck("irq-affinity", .warn, shown,
                                    "all \(f.interrupts.count) interrupts on CPU \(firstCPUs.first!): that core handles every queue's interrupts",  // Safe: count == 1
                                    fix: "spread them over the node's CPUs, one queue's interrupt per core: echo C > /proc/irq/N/smp_affinity_list (irqbalance --banirq=N, or stop irqbalance)")
        }
        return FeasibilityCheck("irq-affinity", .ok, shown, pinned ? "each interrupt on one CPU" : "interrupts may run on several CPUs each (irqbalance picks)")
    }

    static func numaCheck(_ f: InterfaceFacts) -> FeasibilityCheck {
        guard f.numaNode >= 0 else {
            return FeasibilityCheck("numa", .ok, "none", "no NUMA node (virtual device or single-node machine): workers run on any allowed CPU")
        }
        let allowed = Set(f.allowedCPUs)
        let usable = f.nodeCPUs.filter(allowed.contains)
        if usable.isEmpty {
            return FeasibilityCheck("numa", .warn, "node \(f.numaNode)",
                                    "none of node \(f.numaNode)'s CPUs (\(cpuListText(f.nodeCPUs))) is allowed (\(cpuListText(f.allowedCPUs))): workers run on another node, every packet crosses the interconnect",
                                    fix: "allow node \(f.numaNode)'s CPUs (taskset/cpuset of xpfd) or `system dataplane workers queue Q cpu C`")
        }
        if let q = f.xpfQueues, q > usable.count {
            return FeasibilityCheck("numa", .warn, "node \(f.numaNode)",
                                    "\(q) queues but \(usable.count) CPUs on node \(f.numaNode) (\(cpuListText(usable))): workers share cores",
                                    fix: "system dataplane queues \(usable.count)")
        }
        return FeasibilityCheck("numa", .ok, "node \(f.numaNode)", "workers are placed on node \(f.numaNode)'s CPUs \(cpuListText(usable))")
    }

    static func mtuCheck(_ f: InterfaceFacts, frame: FrameGeometry) -> FeasibilityCheck {
        let value = "MTU \(f.mtu), frame \(frame.frameSize)"
        if f.mtu > frame.maxMTU {
            return FeasibilityCheck("mtu", .no, value,
                                    "a \(frame.frameSize)-byte UMEM frame holds \(frame.maxFrame) bytes after the kernel's \(frame.headroom)-byte headroom, and xpf has no multi-buffer XDP: packets over MTU \(frame.maxMTU) are dropped",
                                    fix: "ip link set dev \(f.name) mtu \(frame.maxMTU)", blocking: true)
        }
        return FeasibilityCheck("mtu", .ok, value, "a full-size packet (\(f.mtu) + \(FrameGeometry.linkOverhead) bytes of Ethernet and VLAN header) fits one frame (up to MTU \(frame.maxMTU))")
    }

    // MARK: - Text

    /// "0-3,8" from [0, 1, 2, 3, 8].
    public static func cpuListText(_ cpus: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        let s = cpus.sorted()
        while i < s.count {
            var j = i
            while j + 1 < s.count, s[j + 1] == s[j] + 1 { j += 1 }
            parts.append(i == j ? "\(s[i])" : "\(s[i])-\(s[j])")
            i = j + 1
        }
        return parts.isEmpty ? "-" : parts.joined(separator: ",")
    }

    static func errnoText(_ e: Int32) -> String {
        "\(String(cString: strerror(e))) (errno \(e))"
    }
}
