// The facts behind `xpfctl feasibility`, read from this machine: procfs, sysfs, the ethtool
// ioctls, and two trials per interface (xpf_feasibility.c) that undo themselves: an XDP_PASS
// program attached in driver mode, and an AF_XDP socket bound to queue 0. An interface that
// already has an XDP program is never touched.
#if canImport(Glibc)
import Glibc
#endif
import CXPF

public enum FeasibilityProbe {
    /// Room for the allowed-CPU list (xpf_allowed_cpus; CPU_SETSIZE is 1024).
    static let maxCPUs = 1024
    /// RSS indirection tables are at most a few thousand entries (mlx5: 2048 per context).
    static let maxIndirection = 65536
    /// The kernel's extack messages are at most 80 bytes (NETLINK_MAX_FMTMSG_LEN); room to spare.
    static let extackLength = 256
    /// /sys/class/net/IF/type of the loopback device (ARPHRD_LOOPBACK).
    static let loopbackType = "772"

    public static func kernel() -> KernelFacts {
        var u = utsname()
        uname(&u)
        let release = stringFromCArray(u.release)
        var config: [String: String]?
        var source: String?
        var buf: UnsafeMutablePointer<CChar>?
        let n = xpf_feas_read_gzip("/proc/config.gz", &buf)
        if n >= 0, let buf {
            // Safe: xpf_feas_read_gzip returned a malloc'd buffer of n bytes; freed right after.
            config = FeasibilityRules.parseKernelConfig(String(decoding: UnsafeRawBufferPointer(start: buf, count: n), as: UTF8.self))
            source = "/proc/config.gz"
            free(buf)
        } else if let text = readWholeFile("/boot/config-\(release)") {
            config = FeasibilityRules.parseKernelConfig(text)
            source = "/boot/config-\(release)"
        }
        let jit = readWholeFile("/proc/sys/net/core/bpf_jit_enable").flatMap { Int($0.trimmingWhitespace()) }
        let mounts = readWholeFile("/proc/mounts") ?? ""
        let bpffs = mounts.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(2).first == "bpf" }
        return KernelFacts(release: release, config: config, configSource: source, afXdpSocket: xpf_feas_af_xdp_socket(),
                           jitEnable: jit, btf: access("/sys/kernel/btf/vmlinux", R_OK) == 0, bpffsMounted: bpffs,
                           root: geteuid() == 0)
    }

    /// Every interface of this network namespace but loopback, sorted by name.
    public static func allInterfaces() -> [String] {
        guard let d = opendir("/sys/class/net") else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix(".") { continue }
            if readWholeFile("/sys/class/net/\(name)/type")?.trimmingWhitespace() == loopbackType { continue }
            out.append(name)
        }
        return out.sorted()
    }

    /// Interfaces that carry a default route (IPv4 or IPv6): likely the box's management
    /// uplink, which a trial attach must not reset unasked.
    public static func defaultRouteInterfaces() -> Set<String> {
        var out: Set<String> = []
        // /proc/net/route: Iface Destination(hex) …; destination 00000000 with mask 00000000.
        for line in (readWholeFile("/proc/net/route") ?? "").split(separator: "\n").dropFirst() {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if f.count > 7, f[1] == "00000000", f[7] == "00000000" { out.insert(String(f[0])) }
        }
        // /proc/net/ipv6_route: destination, prefix length, …, device last.
        for line in (readWholeFile("/proc/net/ipv6_route") ?? "").split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            if f.count == 10, f[0] == Substring(String(repeating: "0", count: 32)), f[1] == "00", f[9] != "lo" { out.insert(String(f[9])) }
        }
        return out
    }

    /// `name`'s RSS indirection table (ETHTOOL_GRXFHINDIR): the queue of each entry.
    public static func indirection(_ name: String) -> ProbeResult<[UInt32]> {
        var table = [UInt32](repeating: 0, count: maxIndirection)
        let tn = xpf_feas_rss_indirection(name, &table, UInt32(maxIndirection))
        return tn >= 0 ? .value(Array(table.prefix(Int(min(tn, Int32(maxIndirection)))))) : .failed(-tn)
    }

    /// What `name` offers. Trials (attach and bind for real) run unless `withhold` says why
    /// not, and never when an XDP program is attached. `ownedByXpf`: the running xpfd's interface.
    public static func interface(_ name: String, withhold: String?, ownedByXpf: Bool, xpfQueues: Int?) -> InterfaceFacts {
        var f = InterfaceFacts(name: name, ifindex: if_nametoindex(name))
        guard f.ifindex != 0 else { return f }
        let base = "/sys/class/net/\(name)"
        f.xpfQueues = xpfQueues
        f.mtu = Int(readWholeFile("\(base)/mtu")?.trimmingWhitespace() ?? "") ?? 0

        var driver = [CChar](repeating: 0, count: 64), bus = [CChar](repeating: 0, count: 64)
        if xpf_feas_driver(name, &driver, driver.count, &bus, bus.count) == 0 {
            f.driver = String(cString: driver)
            f.bus = String(cString: bus)
        } else if let link = readLink("\(base)/device/driver") {
            f.driver = String(link.split(separator: "/").last ?? "")
        }

        var progId: UInt32 = 0, mode: UInt8 = 0
        if xpf_xdp_query(Int32(f.ifindex), &progId, &mode) == 0, progId != 0 {
            f.attached = AttachedXDP(programId: progId, mode: attachModeName(mode), ownedByXpf: ownedByXpf)
        }
        if f.attached == nil, let withhold { f.trialsWithheld = withhold }
        if withhold == nil, f.attached == nil {
            var detach: Int32 = 0
            var reason = [CChar](repeating: 0, count: extackLength)
            let r = xpf_feas_native_xdp_trial(Int32(f.ifindex), &detach, &reason, reason.count)
            f.nativeTrial = -r
            let said = String(cString: reason)
            if r != 0 && !said.isEmpty { f.nativeRefusal = said }
            if detach != 0 { f.nativeDetachFailure = -detach }
            var zc: Int32 = 0
            f.zeroCopyTrial = -xpf_feas_xsk_trial(name, 0, UInt32(XPF_FEAS_BIND_ZEROCOPY), &zc)
            if f.zeroCopyTrial == 0 && zc == 0 { f.zeroCopyTrial = EOPNOTSUPP }  // bound, but the kernel chose copy
            if f.zeroCopyTrial != 0 {
                f.copyTrial = -xpf_feas_xsk_trial(name, 0, UInt32(XPF_FEAS_BIND_COPY), &zc)
            }
        }

        var ch = xpf_feas_channels()
        let cr = xpf_feas_channels(name, &ch)
        if cr == 0 {
            f.channels = .value(ch.max_combined > 0
                ? Channels(current: Int(ch.combined), maximum: Int(ch.max_combined), kind: "combined")
                : Channels(current: Int(ch.rx), maximum: Int(ch.max_rx), kind: "rx"))
        } else {
            f.channels = .failed(-cr)
        }
        f.sysfsRxQueues = listDirectory("\(base)/queues").filter { $0.hasPrefix("rx-") }.count

        for flow in FeasibilityRules.hashFlows {
            var bits: UInt64 = 0
            let r = xpf_feas_rss_hash_fields(name, flow.type, &bits)
            f.hashFields.append((flow.name, r == 0 ? .value(bits) : .failed(-r)))
        }
        f.indirection = indirection(name)

        // The device, and for virtio its PCI parent, which holds the MSI vectors and the node.
        let device = readLink("\(base)/device").map { String($0.split(separator: "/").last ?? "") }
        let isVirtio = device?.hasPrefix("virtio") ?? false
        let deviceDirs = device == nil ? [] : ["\(base)/device"] + (isVirtio ? ["\(base)/device/.."] : [])
        f.numaNode = deviceDirs.lazy.compactMap { readWholeFile("\($0)/numa_node").flatMap { Int($0.trimmingWhitespace()) } }.first ?? -1
        if f.numaNode >= 0 {
            f.nodeCPUs = readWholeFile("/sys/devices/system/node/node\(f.numaNode)/cpulist").flatMap(FeasibilityRules.parseCPUList) ?? []
        }
        var cpus = [Int32](repeating: 0, count: maxCPUs)
        let nc = xpf_allowed_cpus(&cpus, Int32(maxCPUs))
        f.allowedCPUs = nc > 0 ? cpus.prefix(Int(nc)).map(Int.init) : []

        let all = FeasibilityRules.parseInterrupts(readWholeFile("/proc/interrupts") ?? "")
        let msi = deviceDirs.flatMap { listDirectory("\($0)/msi_irqs").compactMap { Int($0) } }
        let names = [name] + (isVirtio ? [device!] : [])  // Safe: isVirtio implies a device
        for irq in FeasibilityRules.interfaceInterrupts(all, deviceIRQs: msi, names: names) {
            let effective = readWholeFile("/proc/irq/\(irq)/effective_affinity_list").flatMap(FeasibilityRules.parseCPUList) ?? []
            let configured = readWholeFile("/proc/irq/\(irq)/smp_affinity_list").flatMap(FeasibilityRules.parseCPUList) ?? []
            f.interrupts.append(InterruptPlacement(irq: irq, name: all[irq] ?? "", cpus: effective.isEmpty ? configured : effective))
        }
        return f
    }

    static func attachModeName(_ mode: UInt8) -> String {
        switch Int(mode) {
        case XDP_ATTACHED_DRV: return "native"
        case XDP_ATTACHED_SKB: return "generic"
        case XDP_ATTACHED_HW: return "offload"
        default: return "multiple"
        }
    }

    static func readLink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX))
        let n = readlink(path, &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func listDirectory(_ path: String) -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix(".") { out.append(name) }
        }
        return out
    }
}
