// Test conveniences over the pipeline's public entry points.
import CXPF
import Shared
import XCTest

extension Pipeline {
    /// `process` for tests that do not look at a park request.
    mutating func process(frame: UnsafeMutableRawPointer, length: Int, ingress: UInt8, counters: inout WorkerCounters) -> PacketAction {
        var park = ParkRequest()
        return process(frame: frame, length: length, ingress: ingress, counters: &counters, park: &park)
    }
}

/// Suites that drive single frames through a worker's pipeline over ForwardTests' fixture:
/// two interfaces (lan, wan), the LAN interface's addresses in the FIB (the sources of the
/// replies the dataplane builds), the gateway resolved.
class PipelineTestCase: XCTestCase {
    /// The shared-memory region's name (unique per suite).
    class var regionName: String { "pipeline" }

    let fx = ShmTestFixture()
    var region: ShmRegion!
    var pipeline: Pipeline!
    var egress: UnsafeMutablePointer<EgressInterface>!
    var counters = WorkerCounters()
    var configFollower: SnapshotFollower!
    var fibFollower: SnapshotFollower!

    override func setUpWithError() throws {
        continueAfterFailure = false
        region = try fx.region(Self.regionName, queues: 1, interfaces: 2, sessionCapacity: 1024)
        try ForwardTests.setUpInterfaces(region)
        try region.publishConfig(ForwardTests.snapshot(udp: 60))
        try region.publishFIB { f in
            ForwardTests.fillFIB(f, gatewayKnown: true)
            ForwardTests.fillLANAddresses(f)
        }
        (pipeline, egress) = ForwardTests.makePipeline(region, &configFollower, &fibFollower)
        counters = WorkerCounters()
    }

    override func tearDown() {
        egress?.deallocate()
        pipeline = nil
        region = nil
        fx.removeAll()
        super.tearDown()
    }
}

/// Suites that drive frames through a worker's pipeline over a region running a compiled
/// configuration published as xpfd publishes it: ForwardTests' interfaces and FIB (the LAN
/// interface's addresses in it, the gateway resolved), the pipeline of queue 0, then the
/// action, the frame sent, the drop counters and the events xpfd would drain, named as
/// xpfd names them. Each test starts the region with its own configuration text.
class ConfiguredPipelineTestCase: XCTestCase {
    typealias F = Frames
    /// The shared-memory region's name (unique per suite).
    class var regionName: String { "configured" }
    /// The file name configuration errors are reported against.
    class var configFile: String { "pipeline-tests" }
    /// The pipeline's clocks when a test starts.
    static let startMs: UInt32 = 5_000, startS: UInt32 = 100

    static let client4 = ForwardTests.client4, server4 = ForwardTests.server4
    static let client6 = ForwardTests.client6, server6 = ForwardTests.server6

    let fx = ShmTestFixture()
    var region: ShmRegion!
    var pipeline: Pipeline!
    var configFollower: SnapshotFollower!
    var fibFollower: SnapshotFollower!
    var counters = WorkerCounters()
    var running: ConfigModel!
    var drain: EventDrain!
    var names = EventNames(hostName: "fw-test", interfaces: ["lan", "wan"])

    override func setUpWithError() throws {
        continueAfterFailure = false
    }

    override func tearDown() {
        pipeline = nil
        region = nil
        fx.removeAll()
        super.tearDown()
    }

    /// A region of `queues` partitions running the configuration `text`; the pipeline of queue 0.
    func start(config text: String, queues: Int = 1) throws {
        region = try fx.region(Self.regionName, queues: queues, interfaces: 2, sessionCapacity: 1024)
        try ForwardTests.setUpInterfaces(region)
        running = try ConfigModel.load(text: text, file: Self.configFile).1
        let gen = try region.publishConfig(ConfigSnapshotImage(running))
        names.adopt(generation: gen, model: running)
        try region.publishFIB { f in
            ForwardTests.fillFIB(f, gatewayKnown: true)
            ForwardTests.fillLANAddresses(f)  // the source of the ICMP a reject sends
        }
        (pipeline, _) = ForwardTests.makePipeline(region, &configFollower, &fibFollower)
        pipeline.nowMs = Self.startMs
        pipeline.nowS = Self.startS
        counters = WorkerCounters()
        drain = EventDrain(region: region)
    }

    /// Publishes the configuration `text` as xpfd's commit does (the policy epoch stays when
    /// nothing a session depends on changed) and switches queue 0's pipeline to it.
    func commit(config text: String) throws {
        let model = try ConfigModel.load(text: text, file: Self.configFile).1
        let gen = try region.publishConfig(ConfigSnapshotImage(model), samePolicies: model.decidesSessions(as: running))
        names.adopt(generation: gen, model: model)
        running = model
        let slot = try XCTUnwrap(configFollower.poll())
        pipeline.adopt(config: region.configSlot(slot), generation: configFollower.generation)
    }

    /// Runs `frame` from `ingress`: the action and the frame as the pipeline left it.
    func send(_ frame: [UInt8], ingress: UInt8 = 0) -> (PacketAction, [UInt8]) {
        var buf = frame + [UInt8](repeating: 0, count: ForwardTests.frameHeadroom)
        let a = buf.withUnsafeMutableBytes {
            pipeline.process(frame: $0.baseAddress!, length: frame.count, ingress: ingress, counters: &counters)
        }
        return (a, Array(buf[0..<(a.length == 0 ? frame.count : Int(a.length))]))
    }

    /// The events in the rings now, as xpfd's drain names them.
    func events() -> [RTFlowRecord] {
        var out: [RTFlowRecord] = []
        drain.drain(budget: UInt32(XPF_EVENT_RING_SIZE)) { e in if let r = names.record(e) { out.append(r) } }
        return out
    }

    func dropCount(_ reason: xpf_drop_reason) -> UInt64 {
        withUnsafeBytes(of: counters.s.drops) { $0.load(fromByteOffset: Int(reason.rawValue) * 8, as: UInt64.self) }
    }

    func assertDrop(_ a: PacketAction, _ reason: xpf_drop_reason, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.kind, .drop, "expected a drop (\(dropReasonName(Int(reason.rawValue))))", file: file, line: line)
        XCTAssertEqual(a.reason, UInt8(reason.rawValue),
                       "expected \(dropReasonName(Int(reason.rawValue))), got \(dropReasonName(Int(a.reason)))", file: file, line: line)
    }

    func assertForwarded(_ a: PacketAction, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.kind, .transmit, "expected a forward, got \(a.kind) reason \(a.reason)", file: file, line: line)
        XCTAssertEqual(a.egress, 1, file: file, line: line)
    }
}
