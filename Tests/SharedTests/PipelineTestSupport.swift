// Test conveniences over the pipeline's public entry points.
import CXPF
import Shared

extension Pipeline {
    /// `process` for tests that do not look at a park request.
    mutating func process(frame: UnsafeMutableRawPointer, length: Int, ingress: UInt8, counters: inout WorkerCounters) -> PacketAction {
        var park = ParkRequest()
        return process(frame: frame, length: length, ingress: ingress, counters: &counters, park: &park)
    }
}
