#if canImport(Glibc)
import Glibc
#endif
import CXPF
import XCTest
@testable import Shared

/// `xpfctl feasibility`'s rules (Sources/Shared/Feasibility/FeasibilityRules.swift) on the
/// facts of machines the lab does not have: a healthy 8-queue NIC is all ok, and each test
/// spoils one fact and checks that exactly its line turns, with the reason and the fix.
/// The probes themselves are exercised on veth/dummy by Tests/integration/feasibility_test.sh.
final class FeasibilityTests: XCTestCase {
    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    static let frame = FrameGeometry(frameSize: 2048)
    /// RXH bits of `sdfn`: both addresses, both port halves.
    static let sdfn = UInt64(XPF_FEAS_RXH_IP_SRC | XPF_FEAS_RXH_IP_DST | XPF_FEAS_RXH_L4_B_0_1 | XPF_FEAS_RXH_L4_B_2_3)
    static let sd = UInt64(XPF_FEAS_RXH_IP_SRC | XPF_FEAS_RXH_IP_DST)

    /// An 8-queue NIC on NUMA node 0 with everything right.
    static func nic() -> InterfaceFacts {
        var f = InterfaceFacts(name: "eth1", ifindex: 4)
        f.driver = "ice"
        f.bus = "0000:3b:00.0"
        f.nativeTrial = 0
        f.zeroCopyTrial = 0
        f.channels = .value(Channels(current: 8, maximum: 8, kind: "combined"))
        f.sysfsRxQueues = 8
        f.hashFields = FeasibilityRules.hashFlows.map { ($0.name, .value(sdfn)) }
        f.indirection = .value((0..<128).map { UInt32($0 % 8) })
        f.interrupts = (0..<8).map { InterruptPlacement(irq: 100 + $0, name: "ice-eth1-TxRx-\($0)", cpus: [$0]) }
        f.numaNode = 0
        f.nodeCPUs = Array(0...7)
        f.allowedCPUs = Array(0...15)
        f.mtu = 1500
        f.xpfQueues = 8
        return f
    }

    func check(_ name: String, _ f: InterfaceFacts, nativeRequired: Bool = false) throws -> FeasibilityCheck {
        let checks = FeasibilityRules.interfaceChecks(f, frame: Self.frame, nativeRequired: nativeRequired)
        return try XCTUnwrap(checks.first { $0.name == name }, "no \(name) line in \(checks.map(\.name))")
    }

    func testHealthyNICIsAllOK() {
        let checks = FeasibilityRules.interfaceChecks(Self.nic(), frame: Self.frame)
        XCTAssertEqual(checks.map(\.name), ["driver", "native-xdp", "zero-copy", "queues", "rss-hash", "rss-indirection",
                                            "irq-affinity", "numa", "mtu"])
        for c in checks { XCTAssertEqual(c.verdict, .ok, "\(c.name): \(c.value) — \(c.reason)") }
        XCTAssertFalse(checks.contains { $0.blocking })
    }

    // MARK: - XDP and AF_XDP trials

    func testNoNativeXDPIsNoButBlocksOnlyWhenNativeIsRequired() throws {
        var f = Self.nic()
        f.driver = "dummy"
        f.nativeTrial = EOPNOTSUPP
        f.nativeRefusal = "Underlying driver does not support XDP in native mode"
        let c = try check("native-xdp", f)
        XCTAssertEqual(c.verdict, .no)
        XCTAssertEqual(c.value, "no")
        XCTAssertTrue(c.reason.contains("driver dummy has no native XDP"), c.reason)
        XCTAssertTrue(c.reason.contains("generic"), c.reason)
        XCTAssertFalse(c.blocking)
        let required = try check("native-xdp", f, nativeRequired: true)
        XCTAssertTrue(required.blocking)
        XCTAssertTrue(required.fix?.contains("xdp-mode auto") ?? false, "\(String(describing: required.fix))")
    }

    func testADriverRefusalQuotesTheKernel() throws {
        var f = Self.nic()
        f.driver = "virtio_net"
        f.nativeTrial = EOPNOTSUPP
        f.nativeRefusal = "virtio_net: Can't set XDP while host is implementing GRO_HW/CSUM, disable GRO_HW/CSUM first"
        let c = try check("native-xdp", f)
        XCTAssertEqual(c.verdict, .no)
        XCTAssertTrue(c.reason.contains("the kernel says: virtio_net: Can't set XDP"), c.reason)
    }

    func testALeftoverTrialProgramBlocks() throws {
        var f = Self.nic()
        f.nativeDetachFailure = EBUSY
        let c = try check("native-xdp", f)
        XCTAssertEqual(c.verdict, .no)
        XCTAssertTrue(c.blocking)
        XCTAssertEqual(c.fix, "ip link set dev eth1 xdpdrv off")
    }

    func testAnotherProgramIsReportedAndNotTouched() throws {
        var f = Self.nic()
        f.attached = AttachedXDP(programId: 77, mode: "generic", ownedByXpf: false)
        f.nativeTrial = nil
        f.zeroCopyTrial = nil
        let p = try check("xdp-program", f)
        XCTAssertEqual(p.verdict, .warn)
        XCTAssertEqual(p.value, "id 77 (generic)")
        XCTAssertEqual(p.fix, "ip link set dev eth1 xdp off, then run feasibility again")
        XCTAssertEqual(try check("native-xdp", f).value, "not tried")
        XCTAssertEqual(try check("zero-copy", f).value, "not tried")
    }

    func testWithheldTrialsSayWhy() throws {
        var f = Self.nic()
        f.nativeTrial = nil
        f.zeroCopyTrial = nil
        f.trialsWithheld = "--no-trials"
        for name in ["native-xdp", "zero-copy"] {
            let c = try check(name, f)
            XCTAssertEqual(c.verdict, .warn)
            XCTAssertEqual(c.value, "not tried")
            XCTAssertEqual(c.reason, "--no-trials")
            XCTAssertEqual(c.fix, "xpfctl feasibility eth1")
        }
    }

    func testXpfsOwnNativeProgramAnswersNativeXDP() throws {
        var f = Self.nic()
        f.attached = AttachedXDP(programId: 12, mode: "native", ownedByXpf: true)
        f.nativeTrial = nil
        f.zeroCopyTrial = nil
        XCTAssertEqual(try check("xdp-program", f).verdict, .ok)
        let n = try check("native-xdp", f)
        XCTAssertEqual(n.verdict, .ok)
        XCTAssertEqual(n.value, "yes")
        XCTAssertTrue(try check("zero-copy", f).reason.contains("xpf's workers hold the queues"))
    }

    func testNoZeroCopyFallsBackToCopyMode() throws {
        var f = Self.nic()
        f.driver = "veth"
        f.zeroCopyTrial = EOPNOTSUPP
        f.copyTrial = 0
        let zc = try check("zero-copy", f)
        XCTAssertEqual(zc.verdict, .no)
        XCTAssertFalse(zc.blocking)
        XCTAssertTrue(zc.reason.contains("driver veth has no AF_XDP zero-copy"), zc.reason)
        XCTAssertEqual(try check("af-xdp-copy", f).verdict, .ok)
        f.copyTrial = EINVAL
        let copy = try check("af-xdp-copy", f)
        XCTAssertEqual(copy.verdict, .no)
        XCTAssertTrue(copy.blocking)
    }

    // MARK: - Queues and RSS

    func testUnusedChannelsNameEthtoolL() throws {
        var f = Self.nic()
        f.channels = .value(Channels(current: 4, maximum: 8, kind: "combined"))
        f.xpfQueues = 4
        let c = try check("queues", f)
        XCTAssertEqual(c.verdict, .warn)
        XCTAssertEqual(c.value, "4 of 8 combined")
        XCTAssertEqual(c.fix, "ethtool -L eth1 combined 8, then `system dataplane queues 8` (or leave queues unset)")
    }

    func testMoreXpfQueuesThanChannelsBlocks() throws {
        var f = Self.nic()
        f.channels = .value(Channels(current: 4, maximum: 8, kind: "combined"))
        f.xpfQueues = 6
        let c = try check("queues", f)
        XCTAssertEqual(c.verdict, .no)
        XCTAssertTrue(c.blocking)
        XCTAssertEqual(c.fix, "ethtool -L eth1 combined 6")
        f.xpfQueues = 12
        XCTAssertEqual(try check("queues", f).fix, "system dataplane queues 4")
    }

    func testAddressOnlyUDPHashNamesRxFlowHash() throws {
        var f = Self.nic()
        f.hashFields = [("tcp4", .value(Self.sdfn)), ("udp4", .value(Self.sd)), ("tcp6", .value(Self.sdfn)), ("udp6", .value(Self.sd))]
        let c = try check("rss-hash", f)
        XCTAssertEqual(c.verdict, .warn)
        XCTAssertEqual(c.value, "tcp4 sdfn, udp4 sd, tcp6 sdfn, udp6 sd")
        XCTAssertEqual(c.fix, "ethtool -N eth1 rx-flow-hash udp4 sdfn; ethtool -N eth1 rx-flow-hash udp6 sdfn")
    }

    func testUnsupportedRSSIsAVerdict() throws {
        var f = Self.nic()
        f.hashFields = FeasibilityRules.hashFlows.map { ($0.name, .failed(EOPNOTSUPP)) }
        f.indirection = .failed(EOPNOTSUPP)
        XCTAssertEqual(try check("rss-hash", f).verdict, .warn)
        XCTAssertEqual(try check("rss-hash", f).value, "not supported")
        XCTAssertEqual(try check("rss-indirection", f).verdict, .warn)
        // veth has no RSS by design: the sender's tx queue picks the rx queue.
        f.driver = "veth"
        XCTAssertEqual(try check("rss-hash", f).verdict, .ok)
        XCTAssertTrue(try check("rss-indirection", f).reason.contains("veth has no RSS"))
        f.driver = "ice"
        // One queue: nothing to spread, so not supported is fine.
        f.channels = .value(Channels(current: 1, maximum: 1, kind: "combined"))
        f.sysfsRxQueues = 1
        XCTAssertEqual(try check("rss-hash", f).verdict, .ok)
        XCTAssertEqual(try check("rss-indirection", f).verdict, .ok)
    }

    func testSkewedIndirectionNamesEthtoolX() throws {
        var f = Self.nic()
        f.indirection = .value((0..<128).map { $0 < 64 ? 0 : UInt32($0 % 8) })
        let c = try check("rss-indirection", f)
        XCTAssertEqual(c.verdict, .warn)
        XCTAssertTrue(c.reason.contains("queue 0 gets 72 entries"), c.reason)
        XCTAssertEqual(c.fix, "ethtool -X eth1 equal 8")
        f.indirection = .value((0..<128).map { UInt32($0 % 4) })
        let narrow = try check("rss-indirection", f)
        XCTAssertTrue(narrow.reason.contains("4 of 8 queues"), narrow.reason)
        XCTAssertEqual(narrow.fix, "ethtool -X eth1 equal 8")
    }

    // MARK: - IRQs, NUMA, MTU

    func testInterruptsOnOneCoreWarn() throws {
        var f = Self.nic()
        f.interrupts = (0..<8).map { InterruptPlacement(irq: 100 + $0, name: "eth1-TxRx-\($0)", cpus: [0]) }
        let c = try check("irq-affinity", f)
        XCTAssertEqual(c.verdict, .warn)
        XCTAssertTrue(c.reason.contains("all 8 interrupts on CPU 0"), c.reason)
        XCTAssertTrue(c.fix?.contains("smp_affinity_list") ?? false)
    }

    func testInterruptsOffTheNICsNodeWarn() throws {
        var f = Self.nic()
        f.interrupts[3].cpus = [12]
        let c = try check("irq-affinity", f)
        XCTAssertEqual(c.verdict, .warn)
        XCTAssertTrue(c.reason.contains("1 of 8 interrupts may run outside NUMA node 0"), c.reason)
    }

    func testVirtualInterfaceHasNoInterruptsAndNoNode() throws {
        var f = Self.nic()
        f.interrupts = []
        f.numaNode = -1
        XCTAssertEqual(try check("irq-affinity", f).value, "no interrupts")
        XCTAssertEqual(try check("numa", f).value, "none")
        XCTAssertEqual(try check("numa", f).verdict, .ok)
    }

    func testNodeWithoutAllowedCPUsWarns() throws {
        var f = Self.nic()
        f.numaNode = 1
        f.nodeCPUs = Array(8...15)
        f.allowedCPUs = Array(0...7)
        f.interrupts = []
        let c = try check("numa", f)
        XCTAssertEqual(c.verdict, .warn)
        XCTAssertTrue(c.reason.contains("none of node 1's CPUs (8-15) is allowed (0-7)"), c.reason)
    }

    func testJumboMTUDoesNotFitAFrame() throws {
        XCTAssertEqual(Self.frame.maxFrame, 1792)
        XCTAssertEqual(Self.frame.maxMTU, 1774)
        var f = Self.nic()
        f.mtu = 1774
        XCTAssertEqual(try check("mtu", f).verdict, .ok)
        f.mtu = 1775
        let c = try check("mtu", f)
        XCTAssertEqual(c.verdict, .no)
        XCTAssertTrue(c.blocking)
        XCTAssertEqual(c.fix, "ip link set dev eth1 mtu 1774")
    }

    func testMissingInterfaceBlocks() {
        let checks = FeasibilityRules.interfaceChecks(InterfaceFacts(name: "nope0", ifindex: 0), frame: Self.frame)
        XCTAssertEqual(checks.count, 1)
        XCTAssertEqual(checks[0].verdict, .no)
        XCTAssertTrue(checks[0].blocking)
    }

    // MARK: - Kernel

    static func kernel() -> KernelFacts {
        KernelFacts(release: "6.1.0-18-amd64",
                    config: ["CONFIG_BPF_SYSCALL": "y", "CONFIG_XDP_SOCKETS": "y", "CONFIG_BPF_JIT": "y"],
                    configSource: "/boot/config-6.1.0-18-amd64", afXdpSocket: 0, jitEnable: 1, btf: true,
                    bpffsMounted: true, root: true)
    }

    func kernelCheck(_ name: String, _ k: KernelFacts) throws -> FeasibilityCheck {
        try XCTUnwrap(FeasibilityRules.kernelChecks(k).first { $0.name == name })
    }

    func testHealthyKernelIsAllOK() {
        let checks = FeasibilityRules.kernelChecks(Self.kernel())
        XCTAssertEqual(checks.map(\.name), ["kernel", "kernel-config", "af-xdp", "bpf-jit", "btf", "bpffs", "privileges"])
        for c in checks { XCTAssertEqual(c.verdict, .ok, "\(c.name): \(c.reason)") }
    }

    func testOldKernelAndMissingOptionsBlock() throws {
        var k = Self.kernel()
        k.release = "5.4.0-150-generic"
        XCTAssertTrue(try kernelCheck("kernel", k).blocking)
        k.release = "5.10.0"
        XCTAssertEqual(try kernelCheck("kernel", k).verdict, .ok)
        k.config?["CONFIG_XDP_SOCKETS"] = nil
        let c = try kernelCheck("kernel-config", k)
        XCTAssertEqual(c.verdict, .no)
        XCTAssertEqual(c.value, "CONFIG_XDP_SOCKETS not set")
        XCTAssertTrue(c.blocking)
        k.afXdpSocket = -EAFNOSUPPORT
        XCTAssertTrue(try kernelCheck("af-xdp", k).blocking)
    }

    func testJITOffNamesTheSysctl() throws {
        var k = Self.kernel()
        k.jitEnable = 0
        let c = try kernelCheck("bpf-jit", k)
        XCTAssertEqual(c.verdict, .warn)
        XCTAssertEqual(c.fix, "sysctl -w net.core.bpf_jit_enable=1")
        // Another network namespace has no net.core.bpf_jit_enable: the config answers.
        k.jitEnable = nil
        k.config?["CONFIG_BPF_JIT_ALWAYS_ON"] = "y"
        XCTAssertEqual(try kernelCheck("bpf-jit", k).verdict, .ok)
    }

    func testNotRootBlocks() throws {
        var k = Self.kernel()
        k.root = false
        XCTAssertTrue(try kernelCheck("privileges", k).blocking)
    }

    // MARK: - Parsers

    func testParsers() {
        XCTAssertTrue(FeasibilityRules.kernelVersion("6.18.44-fc-v657")! == (6, 18))
        XCTAssertNil(FeasibilityRules.kernelVersion("custom"))
        let config = FeasibilityRules.parseKernelConfig("#\n# CONFIG_DUMMY is not set\nCONFIG_VETH=y\nCONFIG_NR_CPUS=64\n")
        XCTAssertEqual(config, ["CONFIG_VETH": "y", "CONFIG_NR_CPUS": "64"])
        XCTAssertEqual(FeasibilityRules.parseCPUList("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11])
        XCTAssertNil(FeasibilityRules.parseCPUList("3-1"))
        XCTAssertNil(FeasibilityRules.parseCPUList("x"))
        XCTAssertEqual(FeasibilityRules.cpuListText([8, 0, 1, 2, 3, 10, 11]), "0-3,8,10-11")
        XCTAssertEqual(FeasibilityRules.hashLetters(Self.sdfn), "sdfn")
    }

    func testInterruptsOfAnInterface() {
        let text = """
                       CPU0       CPU1
              26:          0          8  IO-APIC   4-edge      ttyS0
              38:          0    1262106 PCI-MSIX-0000:00:02.0   1-edge      virtio1-input.0
              39:         10          0 PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0
              40:         10          0 PCI-MSIX-0000:00:03.0   2-edge      virtio2-output.0
              51:          5          5 PCI-MSI 1572864-edge      eth3-TxRx-0
             NMI:          0          0   Non-maskable interrupts
            """
        let all = FeasibilityRules.parseInterrupts(text)
        XCTAssertEqual(all[39], "virtio2-input.0")
        XCTAssertNil(all.values.first { $0.contains("Non-maskable") })
        XCTAssertEqual(FeasibilityRules.interfaceInterrupts(all, deviceIRQs: [], names: ["eth0", "virtio2"]), [39, 40])
        XCTAssertEqual(FeasibilityRules.interfaceInterrupts(all, deviceIRQs: [26], names: ["eth3"]), [26, 51])
    }
}
