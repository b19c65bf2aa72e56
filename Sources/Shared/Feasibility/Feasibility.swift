// `xpfctl feasibility`: what this machine and each NIC can do for xpf. Facts are
// gathered by FeasibilityProbe (sysfs, procfs, ethtool ioctls, trial attach/bind); the
// rules here turn facts into verdict lines — pure functions, so the unit tests drive them
// with the facts of machines the lab does not have (a multi-queue NIC, skewed RSS, IRQs on
// one core, a far NUMA node, jumbo frames).
import CXPF

/// ok: fine for xpf; warn: works, but slower or worth a look; no: the capability is
/// absent (blocking when xpf cannot run without it).
public enum FeasibilityVerdict: String, Sendable {
    case ok, warn, no
}

/// One verdict line: what was checked, what was found, why that verdict, and the knob or
/// command that changes it.
public struct FeasibilityCheck: Sendable, Equatable {
    public var name: String
    public var verdict: FeasibilityVerdict
    /// The finding in a few words ("yes", "2 of 8 channels", "6.1.0-18-amd64").
    public var value: String
    public var reason: String
    public var fix: String?
    /// xpf cannot run on this machine or interface while this stays so.
    public var blocking: Bool

    public init(_ name: String, _ verdict: FeasibilityVerdict, _ value: String, _ reason: String,
                fix: String? = nil, blocking: Bool = false)
    {
        self.name = name
        self.verdict = verdict
        self.value = value
        self.reason = reason
        self.fix = fix
        self.blocking = blocking
    }
}

/// What the kernel offers, as read from the running system.
public struct KernelFacts: Sendable {
    public var release: String
    /// CONFIG_* → value ("y", "m", …); nil when no config could be read.
    public var config: [String: String]?
    public var configSource: String?
    /// socket(AF_XDP): 0 or -errno.
    public var afXdpSocket: Int32
    /// /proc/sys/net/core/bpf_jit_enable; nil when the file is absent (no JIT built in).
    public var jitEnable: Int?
    public var btf: Bool
    public var bpffsMounted: Bool
    public var root: Bool

    public init(release: String, config: [String: String]?, configSource: String?, afXdpSocket: Int32,
                jitEnable: Int?, btf: Bool, bpffsMounted: Bool, root: Bool)
    {
        self.release = release
        self.config = config
        self.configSource = configSource
        self.afXdpSocket = afXdpSocket
        self.jitEnable = jitEnable
        self.btf = btf
        self.bpffsMounted = bpffsMounted
        self.root = root
    }
}

/// The outcome of a probe that can fail: the value, or the errno (positive) that refused it.
public enum ProbeResult<T: Sendable>: Sendable {
    case value(T)
    case failed(Int32)
}

/// An XDP program already on an interface.
public struct AttachedXDP: Sendable, Equatable {
    public var programId: UInt32
    /// "native", "generic" or "offload".
    public var mode: String
    /// xpfd of the state directory attached it (the interface is in its region).
    public var ownedByXpf: Bool
    public init(programId: UInt32, mode: String, ownedByXpf: Bool) {
        self.programId = programId; self.mode = mode; self.ownedByXpf = ownedByXpf
    }
}

public struct Channels: Sendable, Equatable {
    public var current: Int
    public var maximum: Int
    /// "combined" or "rx": what the driver counts queues in (the ethtool -L word).
    public var kind: String
    public init(current: Int, maximum: Int, kind: String) { self.current = current; self.maximum = maximum; self.kind = kind }
}

public struct InterruptPlacement: Sendable, Equatable {
    public var irq: Int
    public var name: String
    public var cpus: [Int]
    public init(irq: Int, name: String, cpus: [Int]) { self.irq = irq; self.name = name; self.cpus = cpus }
}

/// What one interface offers.
public struct InterfaceFacts: Sendable {
    public var name: String
    /// 0: the interface does not exist in this network namespace.
    public var ifindex: UInt32
    public var driver: String?
    public var bus: String?
    public var attached: AttachedXDP?
    /// Trial attach of an XDP_PASS program in driver mode: 0 or errno; nil when not tried
    /// (a program is attached).
    public var nativeTrial: Int32?
    /// The kernel's words when it refused the trial (extack: "virtio_net: Can't set XDP
    /// while host is implementing GRO_HW/CSUM, …"); nil when it gave none.
    public var nativeRefusal: String?
    /// The trial program could not be detached (errno): left attached, the operator must act.
    public var nativeDetachFailure: Int32?
    /// Why no trial was run on an interface without an XDP program ("--no-trials", "carries
    /// the default route"); nil when trials ran or a program is attached.
    public var trialsWithheld: String?
    /// Trial AF_XDP bind with XDP_ZEROCOPY on queue 0: 0 or errno; nil when not tried.
    public var zeroCopyTrial: Int32?
    /// Trial bind in copy mode (only when zero-copy failed): 0 or errno.
    public var copyTrial: Int32?
    public var channels: ProbeResult<Channels>
    /// rx queues in sysfs (/sys/class/net/IF/queues/rx-*).
    public var sysfsRxQueues: Int
    /// Flow type name (tcp4, udp4, tcp6, udp6) → RXH_* bits or the errno.
    public var hashFields: [(flow: String, result: ProbeResult<UInt64>)]
    public var indirection: ProbeResult<[UInt32]>
    public var interrupts: [InterruptPlacement]
    /// -1: no NUMA node (virtual devices, single-node machines).
    public var numaNode: Int
    public var nodeCPUs: [Int]
    public var allowedCPUs: [Int]
    public var mtu: Int
    /// Queues xpf runs (or would run) on this interface; nil when unknown.
    public var xpfQueues: Int?

    public init(name: String, ifindex: UInt32) {
        self.name = name
        self.ifindex = ifindex
        channels = .failed(0)
        sysfsRxQueues = 0
        hashFields = []
        indirection = .failed(0)
        interrupts = []
        numaNode = -1
        nodeCPUs = []
        allowedCPUs = []
        mtu = 0
    }
}

/// The dataplane's frame geometry the MTU is judged against.
public struct FrameGeometry: Sendable, Equatable {
    /// UMEM frame size (ShmGeometry.frameSize, the header's frame_size when xpfd runs).
    public var frameSize: Int
    /// Bytes before the packet in each frame: the kernel's XDP headroom plus the UMEM's
    /// frame_headroom (0 in xpf).
    public var headroom: Int
    /// Ethernet header plus one VLAN tag: what a frame carries beyond the MTU.
    public static let linkOverhead = 14 + 4

    public init(frameSize: Int, headroom: Int = Int(XPF_FEAS_XDP_HEADROOM)) {
        self.frameSize = frameSize
        self.headroom = headroom
    }

    /// The largest packet a frame holds, link header included (xpf has no multi-buffer XDP:
    /// a packet is one frame).
    public var maxFrame: Int { frameSize - headroom }
    /// The largest MTU whose packets fit one frame.
    public var maxMTU: Int { maxFrame - Self.linkOverhead }
}
