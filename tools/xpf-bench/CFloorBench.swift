// The C floor (issue 9, "Performance"): the session-hit frames through plain C doing only
// parse, 5-tuple lookup in an open-addressing table of the session table's capacity, MAC
// rewrite and TTL decrement (Sources/CBenchFloor). xpf's session hit is reported against
// it: xpf / C floor for ns and for instructions per packet, measured in the same run.
#if canImport(Glibc)
import Glibc
#endif
import CBenchFloor
import CXPF
import Shared
import XPFTestSupport

/// Egress slot of 10.10.2.2 in the lab fixture (fw1), where xpf's session hit sends the frames.
let cFloorEgress: UInt16 = 1
/// Frames per call, as the worker's batch size in the fixture.
let cFloorBatch = 64

/// The C floor over `flows` frames of the session-hit scenario, its table built (both
/// directions of every flow, as xpf installs a session) before anything is timed.
final class CFloor {
    let table: OpaquePointer
    let frames: Frames
    let verdicts: UnsafeMutablePointer<UInt8>
    let egress: UnsafeMutablePointer<UInt16>
    /// Frames transmitted by the last pass.
    private(set) var transmitted = 0

    init(flows: Int, capacity: Int) throws {
        frames = Frames(kind: .udp4, count: flows, portBase: 1024)
        guard let t = xpf_cfloor_create(UInt32(capacity)) else { throw XPFError("C floor: no table of \(capacity) slots") }
        table = t
        verdicts = .allocate(capacity: cFloorBatch)
        egress = .allocate(capacity: cFloorBatch)
        let macs = LabFixture.serverMAC + LabFixture.fw1MAC
        let installed = macs.withUnsafeBufferPointer {
            // Safe: the frame buffer and descriptors live as long as `frames`; the table copies the MACs.
            xpf_cfloor_install(t, frames.buf.assumingMemoryBound(to: UInt8.self), frames.descs, UInt32(flows), cFloorEgress,
                               $0.baseAddress)
        }
        guard installed == flows else { throw XPFError("C floor installed \(installed) of \(flows) flows") }
    }

    deinit {
        xpf_cfloor_destroy(table)
        verdicts.deallocate()
        egress.deallocate()
    }

    /// Every frame once, in batches of `cFloorBatch` (as runPass feeds xpf).
    @inline(never)
    func pass() {
        var i = 0, tx = 0
        while i < frames.count {
            let n = min(cFloorBatch, frames.count - i)
            // Safe: descs + i .. + n are within the frames' descriptor array; verdicts/egress hold a batch.
            tx += Int(xpf_cfloor_batch(table, frames.buf.assumingMemoryBound(to: UInt8.self), frames.descs + i, UInt32(n),
                                       verdicts, egress))
            i += n
        }
        transmitted = tx
    }

    /// ns/packet over passes of the installed flows, frames restored before each pass.
    func sessionHit(runs: Int) -> Double {
        timePasses(runs: runs, packets: frames.count, { pass() }, between: { frames.restore() })
    }

    /// xpf / C floor in ns per packet from alternating passes (one xpf pass over `xpf`'s
    /// frames, then one C-floor pass, each from restored frames of the same count): the median
    /// of the per-pair ratios, so load that comes and goes on a shared machine hits both alike.
    func pairedRatio(xpf: Scenario, runs: Int) -> Double {
        var ratios: [Double] = []
        for _ in 0..<runs {
            xpf.frames.restore()
            let t0 = monotonicNanos()
            xpf.pass()
            let t1 = monotonicNanos()
            frames.restore()
            let t2 = monotonicNanos()
            pass()
            let t3 = monotonicNanos()
            ratios.append(Double(t1 - t0) / Double(max(t3 - t2, 1)))
        }
        return median(ratios)
    }

    /// After one pass from pristine frames: does every frame equal what xpf's session hit made
    /// of it (`xpf`: frames of the same flows after one xpf pass), with a valid IPv4 header
    /// checksum, and did every frame go out on the expected egress?
    func matches(xpf: Frames) -> Bool {
        frames.restore()
        pass()
        guard transmitted == frames.count, xpf.count == frames.count else { return false }
        let ipOffset = 14, ipHeaderLength = 20
        for i in 0..<frames.count {
            let mine = frames.buf + i * Frames.stride, theirs = xpf.buf + i * Frames.stride
            guard memcmp(mine, theirs, frames.length) == 0,
                  internetChecksum(mine + ipOffset, count: ipHeaderLength) == 0 else { return false }
        }
        // The last batch's verdicts: every frame transmitted on fw1.
        let last = frames.count - (frames.count - 1) / cFloorBatch * cFloorBatch
        return (0..<last).allSatisfy { verdicts[$0] == UInt8(XPF_CFLOOR_TX) && egress[$0] == cFloorEgress }
    }
}

/// The callgrind child of the `c_floor` scenario: `packets` packets through the C floor,
/// counted from the first timed pass as callgrindChild counts xpf's session hit.
func cFloorCallgrindChild(_ packets: Int) -> Never {
    do {
        let f = try CFloor(flows: flows, capacity: cFloorCapacity)
        let done = countedPasses(f.frames, packets: packets, f.pass)
        exit(done == packets && f.transmitted == f.frames.count ? 0 : 3)
    } catch { die("\(error)") }
}

/// Capacity of the C floor's table: the session-hit scenario's session table capacity.
let cFloorCapacity = 65536
