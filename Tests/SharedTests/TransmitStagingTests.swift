// The transmit stage (Pipeline/Transmit.swift) over TX rings laid out as libxdp lays them
// (producer/consumer words, descriptor array, cached indices), with no socket: the kernel's
// side is played by moving the consumer word.
import CXPF
import Shared
import XCTest

/// A libxdp TX ring in private memory: `size` descriptors, consumer moved by the test.
final class FakeTXRing {
    let ring = UnsafeMutablePointer<xsk_ring_prod>.allocate(capacity: 1)
    let producer = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    let consumer = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    let flags = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    let descs: UnsafeMutablePointer<xdp_desc>
    let size: UInt32

    init(size: UInt32) {
        self.size = size
        descs = .allocate(capacity: Int(size))
        descs.initialize(repeating: xdp_desc(), count: Int(size))
        producer.pointee = 0; consumer.pointee = 0; flags.pointee = 0
        // As xsk_socket__create fills it: cached_cons runs `size` ahead of the consumer.
        ring.initialize(to: xsk_ring_prod(cached_prod: 0, cached_cons: size, mask: size - 1, size: size,
                                          producer: producer, consumer: consumer,
                                          ring: UnsafeMutableRawPointer(descs), flags: flags))
    }

    /// The kernel sends `n` descriptors.
    func consume(_ n: UInt32) { consumer.pointee &+= n }

    deinit {
        ring.deallocate(); producer.deallocate(); consumer.deallocate(); flags.deallocate(); descs.deallocate()
    }
}

final class TransmitStagingTests: XCTestCase {
    override func setUp() { continueAfterFailure = false }

    /// More frames for one egress than its staging holds (two full batches from two
    /// interfaces plus ICMP errors, as one worker loop can produce): the staging flushes
    /// the egress into its TX ring instead of writing past its storage, and what the ring
    /// cannot take is freed and counted — each frame exactly once.
    func testStagingMoreThanCapacityFlushesInsteadOfOverflowing() {
        let tx0 = FakeTXRing(size: 16), tx1 = FakeTXRing(size: 16)
        var staging = TransmitStaging(rings: [tx0.ring, tx1.ring], capacity: 4)
        var counters = WorkerCounters()
        var freed: [UInt64] = []
        for i in 0..<10 {
            staging.stage(1, addr: UInt64(i) * 2048, len: 60 + UInt32(i), counters: &counters) { freed.append($0) }
            XCTAssertLessThanOrEqual(staging.staged(1), 4)
        }
        XCTAssertEqual(tx1.producer.pointee, 8, "two flushes of 4 while staging")
        staging.flushAll(counters: &counters) { freed.append($0) }
        XCTAssertEqual(tx1.producer.pointee, 10)
        XCTAssertEqual(tx0.producer.pointee, 0, "nothing for the other egress")
        XCTAssertEqual(freed, [])
        for i in 0..<10 {
            XCTAssertEqual(tx1.descs[i].addr, UInt64(i) * 2048)
            XCTAssertEqual(tx1.descs[i].len, 60 + UInt32(i))
            XCTAssertEqual(tx1.descs[i].options, 0)
        }
        XCTAssertEqual(staging.outstanding[1], 10)
        XCTAssertEqual(staging.outstanding[0], 0)
        XCTAssertEqual(counters.s.tx_packets, 10)
        XCTAssertEqual(counters.s.tx_bytes, (0..<10).reduce(0) { $0 + 60 + UInt64($1) })
        XCTAssertEqual(counters.s.if_tx_packets.1, 10)
        XCTAssertEqual(counters.s.drops.4, 0, "tx_full")
    }

    /// A TX ring one slot short of the staged batch: libxdp's reserve is all-or-nothing,
    /// so the flush must ask for what fits — all but one frame go out, one is dropped.
    func testFlushIntoARingOneSlotShortSendsAllThatFit() {
        let tx = FakeTXRing(size: 8)
        var staging = TransmitStaging(rings: [tx.ring], capacity: 64)
        var counters = WorkerCounters()
        var freed: [UInt64] = []
        for i in 0..<4 { staging.stage(0, addr: UInt64(i) * 2048, len: 64, counters: &counters) { freed.append($0) } }
        staging.flushAll(counters: &counters) { freed.append($0) }
        XCTAssertEqual(tx.producer.pointee, 4)
        // The kernel has not sent anything: 4 slots left, 5 staged.
        for i in 4..<9 { staging.stage(0, addr: UInt64(i) * 2048, len: 64, counters: &counters) { freed.append($0) } }
        staging.flushAll(counters: &counters) { freed.append($0) }
        XCTAssertEqual(tx.producer.pointee, 8, "the four that fit went out")
        XCTAssertEqual(freed, [8 * 2048], "the one that did not fit was freed")
        XCTAssertEqual(counters.s.drops.4, 1, "and counted tx_full")
        XCTAssertEqual(counters.s.tx_packets, 8)
        XCTAssertEqual(staging.outstanding[0], 8)
        XCTAssertEqual((4..<8).map { tx.descs[$0].addr }, (4..<8).map { UInt64($0) * 2048 })
        // Once the kernel consumed some, the ring takes more (cached consumer refreshed).
        tx.consume(3)
        for i in 9..<12 { staging.stage(0, addr: UInt64(i) * 2048, len: 64, counters: &counters) { freed.append($0) } }
        staging.flushAll(counters: &counters) { freed.append($0) }
        XCTAssertEqual(tx.producer.pointee, 11)
        XCTAssertEqual(freed.count, 1)
        XCTAssertEqual((0..<3).map { tx.descs[$0].addr }, (9..<12).map { UInt64($0) * 2048 }, "wrapped to the start")
    }

    /// A full ring takes nothing: every staged frame is freed and counted, none leaks.
    func testFlushIntoAFullRingFreesEveryFrame() {
        let tx = FakeTXRing(size: 4)
        var staging = TransmitStaging(rings: [tx.ring], capacity: 8)
        var counters = WorkerCounters()
        var freed: [UInt64] = []
        for i in 0..<12 { staging.stage(0, addr: UInt64(i), len: 64, counters: &counters) { freed.append($0) } }
        staging.flushAll(counters: &counters) { freed.append($0) }
        XCTAssertEqual(tx.producer.pointee, 4)
        XCTAssertEqual(freed, (4..<12).map { UInt64($0) })
        XCTAssertEqual(counters.s.drops.4, 8)
        XCTAssertEqual(counters.s.tx_packets + counters.s.drops.4, 12, "every frame sent or dropped, once")
    }
}
