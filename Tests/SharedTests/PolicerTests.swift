// The policers' metering (Pipeline/Policer.swift) against independent references: a
// token bucket in bytes, RFC 2697's srTCM and RFC 2698's trTCM written as the RFCs state
// them (tokens in nano-bytes, refilled by elapsed time at each arrival), on random
// arrivals, sizes and precolors. The rates are chosen so the fixed-point costs are exact
// (1e9 / rate ns a byte, a whole number of ticks), so every decision must agree. Then
// threads sharing one instance (under ThreadSanitizer in tools/test): the swaps neither
// lose nor double-spend a token.
import CXPF
import Foundation
import Shared
import XCTest
import XPFTestSupport

final class PolicerTests: XCTestCase {
    /// Bytes per second whose cost is exact: 1 000 and 500 ns a byte.
    static let cir: UInt64 = 1_000_000, pir: UInt64 = 2_000_000
    static let nanoBytesPerByte: Int64 = 1_000_000_000
    /// Arrivals start here (a monotonic clock is far from 0; the excess bucket of a fresh
    /// srTCM is full once that much time has run).
    static let startNs: UInt64 = 10_000_000_000

    override func setUp() {
        continueAfterFailure = false
    }

    static func ticks(ns: UInt64) -> UInt64 { ns << UInt64(XPF_POLICER_TICK_SHIFT) }

    func testCostsAndDepths() {
        // 1e9 ns × 64 ticks × 256 / rate.
        XCTAssertEqual(Policing.cost(bytesPerSecond: Self.cir), 16_384_000)
        XCTAssertEqual(Policing.cost(bytesPerSecond: Self.pir), 8_192_000)
        XCTAssertEqual(Policing.ticks(1500, Policing.cost(bytesPerSecond: Self.cir)), Self.ticks(ns: 1_500_000))
        // The slowest rate (8 kbit/s) and the largest IP datagram stay below 2^64; the
        // fastest (1 Tbit/s) keeps a cost above 100 (better than 1 % resolution).
        let slow = Policing.cost(bytesPerSecond: 1_000)
        XCTAssertEqual(Policing.ticks(65_535, slow), Self.ticks(ns: 65_535 * 1_000_000))
        let fastest = Policing.cost(bytesPerSecond: 125_000_000_000)
        XCTAssertGreaterThan(fastest, 100)
        // The fraction bits count: 1 500 bytes at 1 Tbit/s take 12 ns = 768 ticks, not 0.
        XCTAssertEqual(Policing.ticks(1500, fastest), (1500 * fastest) >> UInt64(XPF_POLICER_COST_SHIFT))
        XCTAssertEqual(Double(Policing.ticks(1500, fastest)), 768, accuracy: 768 * 0.01)
        XCTAssertEqual(Policing.depth(bytes: 15_000, cost: 16_384_000), Self.ticks(ns: 15_000_000))
        XCTAssertEqual(Policing.depth(bytes: 100_000_000_000, cost: slow), XPF_POLICER_MAX_TICKS)  // clamped
    }

    // MARK: references

    /// A token bucket as the RFCs describe one: tokens in nano-bytes (rate B/s adds `rate`
    /// a nanosecond), `depth` bytes.
    struct Bucket {
        var tokens: Int64
        let rate: Int64, depth: Int64

        init(rate: UInt64, depthBytes: UInt64) {
            self.rate = Int64(rate)
            depth = Int64(depthBytes) * PolicerTests.nanoBytesPerByte
            tokens = depth
        }

        /// Adds `ns` of tokens; returns the nano-bytes that did not fit.
        mutating func fill(_ ns: Int64) -> Int64 { add(ns * rate) }

        /// Adds `nanoBytes`; returns what did not fit.
        mutating func add(_ nanoBytes: Int64) -> Int64 {
            let room = depth - tokens
            if nanoBytes <= room { tokens += nanoBytes; return 0 }
            tokens = depth
            return nanoBytes - room
        }

        func has(_ bytes: Int) -> Bool { tokens >= Int64(bytes) * PolicerTests.nanoBytesPerByte }
        mutating func take(_ bytes: Int) { tokens -= Int64(bytes) * PolicerTests.nanoBytesPerByte }
    }

    /// RFC 2697 §3: C and E filled at CIR, E only by what overflows C.
    struct SrTCM {
        var c: Bucket, e: Bucket
        mutating func color(_ bytes: Int, elapsed: Int64, pre: Policing.Color) -> Policing.Color {
            _ = e.add(c.fill(elapsed))  // what overflows C
            if pre == .green && c.has(bytes) { c.take(bytes); return .green }
            if pre != .red && e.has(bytes) { e.take(bytes); return .yellow }
            return .red
        }
    }

    /// RFC 2698 §3: P at PIR, C at CIR.
    struct TrTCM {
        var c: Bucket, p: Bucket
        mutating func color(_ bytes: Int, elapsed: Int64, pre: Policing.Color) -> Policing.Color {
            _ = c.fill(elapsed)
            _ = p.fill(elapsed)
            if pre == .red || !p.has(bytes) { return .red }
            if pre == .yellow || !c.has(bytes) { p.take(bytes); return .yellow }
            p.take(bytes)
            c.take(bytes)
            return .green
        }
    }

    static func tcPolicer(twoRate: Bool, cbs: UInt64, xbs: UInt64) -> xpf_cfg_tc_policer {
        var r = xpf_cfg_tc_policer()
        r.cir = cir
        r.cbs = cbs
        r.c_cost = Policing.cost(bytesPerSecond: cir)
        r.c_depth = Policing.depth(bytes: cbs, cost: r.c_cost)
        if twoRate {
            r.flags = XPF_CFG_TCP_TWO_RATE.rawValue
            (r.pir, r.pbs) = (pir, xbs)
            r.p_cost = Policing.cost(bytesPerSecond: pir)
            r.x_depth = Policing.depth(bytes: xbs, cost: r.p_cost)
        } else {
            r.ebs = xbs
            r.p_cost = r.c_cost
            r.x_depth = Policing.depth(bytes: xbs, cost: r.c_cost)
        }
        return r
    }

    /// Random arrivals (mostly 0–3 µs apart, far above the rates, with pauses: so every
    /// color occurs) and sizes, seeded (a failure names a reproducible run).
    struct Arrivals: Sequence, IteratorProtocol {
        var rng: PolicyCorpus.RNG
        var left: Int
        mutating func next() -> (gapNs: UInt64, bytes: Int, pre: Policing.Color)? {
            guard left > 0 else { return nil }
            left -= 1
            let pre: Policing.Color = [.green, .green, .yellow, .red][Int(rng.next() % 4)]
            // Mostly back to back, now and then a pause of up to 40 ms that refills the
            // buckets (an srTCM's excess bucket fills only after the committed one did).
            let gap = rng.next() % 100 == 0 ? rng.next() % 40_000_000 : rng.next() % 3_000
            return (gap, 64 + Int(rng.next() % 1_437), pre)
        }
    }

    // MARK: against the references

    func testTwoColorIsATokenBucket() {
        let cost = Policing.cost(bytesPerSecond: Self.cir), depthBytes: UInt64 = 15_000
        let depth = Policing.depth(bytes: depthBytes, cost: cost)
        var word: UInt64 = 0
        var reference = Bucket(rate: Self.cir, depthBytes: depthBytes)
        var now = Self.startNs
        var conforming = 0, n = 0
        for a in Arrivals(rng: .init(seed: 0x2C0), left: 20_000) {
            now += a.gapNs
            _ = reference.fill(Int64(a.gapNs))
            let expected = reference.has(a.bytes)
            if expected { reference.take(a.bytes) }
            let got = Policing.conforms(&word, now: Self.ticks(ns: now), cost: Policing.ticks(a.bytes, cost), depth: depth)
            guard got == expected else { return XCTFail("arrival \(n) (\(a.bytes) B at \(now) ns): \(got), reference \(expected)") }
            if got { conforming += 1 }
            n += 1
        }
        // Offered ~ 1 GB/s against 1 MB/s: both outcomes occur in bulk.
        XCTAssertGreaterThan(conforming, 100)
        XCTAssertLessThan(conforming, n - 100)
    }

    func testSingleRateThreeColorIsRFC2697() {
        for aware in [false, true] {
            let p = Self.tcPolicer(twoRate: false, cbs: 10_000, xbs: 20_000)
            var pair: (UInt64, UInt64) = (0, 0)
            var reference = SrTCM(c: Bucket(rate: Self.cir, depthBytes: 10_000), e: Bucket(rate: Self.cir, depthBytes: 20_000))
            checkAgainst(p, &pair, aware: aware, seed: aware ? 0xA2 : 0xB2) { reference.color($0, elapsed: $1, pre: $2) }
        }
    }

    func testTwoRateThreeColorIsRFC2698() {
        for aware in [false, true] {
            let p = Self.tcPolicer(twoRate: true, cbs: 10_000, xbs: 20_000)
            var pair: (UInt64, UInt64) = (0, 0)
            var reference = TrTCM(c: Bucket(rate: Self.cir, depthBytes: 10_000), p: Bucket(rate: Self.pir, depthBytes: 20_000))
            checkAgainst(p, &pair, aware: aware, seed: aware ? 0xA3 : 0xB3) { reference.color($0, elapsed: $1, pre: $2) }
        }
    }

    /// 20 000 arrivals through `p` and `reference` (bytes, elapsed ns, precolor): the same
    /// color each time; every color occurs.
    func checkAgainst(_ p: xpf_cfg_tc_policer, _ pair: inout (UInt64, UInt64), aware: Bool, seed: UInt64,
                      reference: (Int, Int64, Policing.Color) -> Policing.Color) {
        var record = p
        var now = Self.startNs
        var seen: [Policing.Color: Int] = [:]
        var n = 0
        withUnsafeMutableBytes(of: &pair) { raw in
            let w = raw.baseAddress!.assumingMemoryBound(to: UInt64.self)
            for a in Arrivals(rng: .init(seed: seed), left: 20_000) {
                now += a.gapNs
                let pre = aware ? a.pre : .green
                let expected = reference(a.bytes, Int64(a.gapNs), pre)
                let got = Policing.color(w, now: Self.ticks(ns: now), bytes: a.bytes, &record, pre: pre)
                guard got == expected else {
                    return XCTFail("\(aware ? "color-aware" : "color-blind") arrival \(n) (\(a.bytes) B, \(pre)): \(got), reference \(expected)")
                }
                seen[got, default: 0] += 1
                n += 1
            }
        }
        for c in [Policing.Color.green, .yellow, .red] { XCTAssertGreaterThan(seen[c] ?? 0, 100, "\(c) (aware: \(aware))") }
    }

    func testColorsAndLossPriorities() {
        XCTAssertEqual(Policing.lossPriority(.green), UInt8(XPF_LP_LOW.rawValue))
        XCTAssertEqual(Policing.lossPriority(.yellow), UInt8(XPF_LP_MEDIUM_HIGH.rawValue))
        XCTAssertEqual(Policing.lossPriority(.red), UInt8(XPF_LP_HIGH.rawValue))
        XCTAssertEqual(Policing.color(lossPriority: UInt8(XPF_LP_LOW.rawValue)), .green)
        XCTAssertEqual(Policing.color(lossPriority: UInt8(XPF_LP_MEDIUM_LOW.rawValue)), .yellow)
        XCTAssertEqual(Policing.color(lossPriority: UInt8(XPF_LP_MEDIUM_HIGH.rawValue)), .yellow)
        XCTAssertEqual(Policing.color(lossPriority: UInt8(XPF_LP_HIGH.rawValue)), .red)
    }

    // MARK: shared by threads

    /// Four threads spend one bucket at a frozen clock: exactly depth / size packets
    /// conform in all (a lost swap would let more through, a torn one fewer).
    func testThreadsShareOneTwoColorBucket() {
        let cost = Policing.cost(bytesPerSecond: Self.cir)
        let depth = Policing.depth(bytes: 500_000_000, cost: cost)
        let word = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        word.initialize(to: 0)
        defer { word.deallocate() }
        let now = Self.ticks(ns: Self.startNs), packet = Policing.ticks(1_000, cost)
        let total = LockedCount()
        nonisolated(unsafe) let shared = word  // Safe: the bucket word is what the threads share, through CAS only
        Self.together(threads: 4) {
            var mine = 0
            for _ in 0..<250_000 where Policing.conforms(shared, now: now, cost: packet, depth: depth) { mine += 1 }
            total.add(mine)
        }
        XCTAssertEqual(total.value, 500_000)  // 500 MB of burst, 1 000 bytes a packet
    }

    /// The same for a three-color pair (16-byte swaps): at a frozen clock exactly CBS /
    /// size green and EBS / size yellow, whatever the interleaving.
    func testThreadsShareOneThreeColorPair() {
        var p = Self.tcPolicer(twoRate: false, cbs: 2_000_000, xbs: 4_000_000)  // E full by startNs
        let pair = UnsafeMutablePointer<UInt64>.allocate(capacity: 4)  // 16-byte aligned inside
        defer { pair.deallocate() }
        let w = UnsafeMutablePointer<UInt64>(bitPattern: (UInt(bitPattern: pair) + 15) & ~15)!
        w.initialize(repeating: 0, count: 2)
        let now = Self.ticks(ns: Self.startNs)
        let green = LockedCount(), yellow = LockedCount(), red = LockedCount()
        withUnsafePointer(to: &p) { record in
            // Safe: the pair is shared through 16-byte CAS only; the record is only read.
            nonisolated(unsafe) let (pairWords, policer) = (w, record)
            Self.together(threads: 4) {
                var counts = [0, 0, 0]
                for _ in 0..<20_000 { counts[Int(Policing.color(pairWords, now: now, bytes: 1_000, policer, pre: .green).rawValue)] += 1 }
                green.add(counts[0])
                yellow.add(counts[1])
                red.add(counts[2])
            }
        }
        XCTAssertEqual(green.value, 2_000)
        XCTAssertEqual(yellow.value, 4_000)
        XCTAssertEqual(red.value, 74_000)
    }

    /// Runs `body` on `threads` threads of their own that start it at one moment (a
    /// barrier), so their swaps on one bucket interleave; returns when all are done.
    static func together(threads: Int, _ body: @escaping @Sendable () -> Void) {
        let barrier = UnsafeMutablePointer<pthread_barrier_t>.allocate(capacity: 1)
        pthread_barrier_init(barrier, nil, UInt32(threads))
        let done = DispatchGroup()
        nonisolated(unsafe) let start = barrier  // Safe: pthread barriers are made for threads to share
        for _ in 0..<threads {
            done.enter()
            Thread {
                pthread_barrier_wait(start)
                body()
                done.leave()
            }.start()
        }
        done.wait()
        pthread_barrier_destroy(barrier)
        barrier.deallocate()
    }

    final class LockedCount: @unchecked Sendable {
        private let lock = NSLock()
        private var n = 0
        func add(_ k: Int) { lock.lock(); n += k; lock.unlock() }
        var value: Int { lock.lock(); defer { lock.unlock() }; return n }
    }
}
