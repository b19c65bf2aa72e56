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
