import XCTest
import CXPF
@testable import Shared

/// Policy hit counts that survive commits (Sources/Shared/Status/PolicyHitCounts.swift,
/// issue 9 §2): xpfd's totals per policy identity over a real region whose worker blocks
/// and hit-counter banks are written here as workers write them (state, seen generation
/// with release; hits[bank][id] with relaxed stores).
final class PolicyHitCountsTests: XCTestCase {
    let fx = ShmTestFixture()

    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    override func tearDown() {
        fx.removeAll()
        super.tearDown()
    }

    /// A configuration with `pair` as the trust → untrust list (policy names, in order)
    /// and one global policy, default permit-all.
    static func config(_ pair: [String], global: String = "g-any") -> String {
        let policies = pair.map { name in
            "policy \(name) { match { source-address any; destination-address any; application any; } then permit; }"
        }.joined(separator: "\n")
        return """
        system dataplane interfaces [ fw0 fw1 ];
        security {
            zones {
                security-zone trust { interfaces fw0; }
                security-zone untrust { interfaces fw1; }
            }
            policies {
                from-zone trust to-zone untrust {
                \(policies)
                }
                from-zone untrust to-zone trust {
                    policy back { match { source-address any; destination-address any; application any; } then deny; }
                }
                global {
                    policy \(global) { match { source-address any; destination-address any; application any; } then permit; }
                }
                default-policy permit-all;
            }
        }
        """
    }

    static func model(_ pair: [String], global: String = "g-any") throws -> ConfigModel {
        try ConfigModel.load(text: config(pair, global: global), file: "t").1
    }

    static func pairIdentity(_ name: String, from: String = "trust", to: String = "untrust") -> PolicyIdentity {
        PolicyIdentity(scope: .zonePair(from: from, to: to), name: name)
    }

    /// Worker `q` as a worker process shows itself: state, then the generation it runs.
    private func setWorker(_ r: ShmRegion, _ q: Int, _ state: xpf_worker_state, seen: UInt64) {
        let w = r.worker(q)
        xpf_store_release_u64(xpf_wb_config_seen(w), seen)
        xpf_store_release_u32(xpf_wb_state(w), UInt32(state.rawValue))
    }

    /// Worker `q` counts `n` hits of policy `id` in `bank` (default: the running snapshot's).
    private func hit(_ r: ShmRegion, _ q: Int, _ id: Int, _ n: UInt64 = 1, bank b: UInt32? = nil) {
        let bank = PolicyCounters.bank(r.policyHits(q), b ?? r.configSnapshot.pointee.policy_bank)
        PolicyCounters.add(PolicyCounters.counter(bank, id, XPF_PC_HITS), n)
    }

    private func raw(_ r: ShmRegion, _ q: Int, bank: UInt32, _ id: Int) -> UInt64 {
        xpf_load_relaxed_u64(PolicyCounters.counter(PolicyCounters.bank(r.policyHits(q), bank), id, XPF_PC_HITS))
    }

    private func count(_ c: PolicyHitCounts, _ identity: PolicyIdentity) -> UInt64? {
        c.counts().first { $0.identity == identity }?.count
    }

    /// A region running generation 1 of `model` with `queues` RUNNING workers on it.
    private func running(_ tag: String, _ model: ConfigModel, queues: Int) throws -> (ShmRegion, PolicyHitCounts) {
        let r = try fx.region(tag, queues: queues)
        let g = try r.publishConfig(ConfigSnapshotImage(model))
        for q in 0..<queues { setWorker(r, q, XPF_WORKER_RUNNING, seen: g) }
        return (r, PolicyHitCounts(region: r, model: model))
    }

    func testIdentitiesFollowIdOrderWithTheDefaultPolicyLast() throws {
        let m = try Self.model(["a", "b"])
        let ids = PolicyIdentity.all(m)
        XCTAssertEqual(ids.map(\.id), [0, 1, 2, 3, Int(XPF_SESS_POLICY_DEFAULT)])
        XCTAssertEqual(ids.map(\.identity), [Self.pairIdentity("a"), Self.pairIdentity("b"),
                                             Self.pairIdentity("back", from: "untrust", to: "trust"),
                                             PolicyIdentity(scope: .global, name: "g-any"), .defaultPolicy])
    }

    func testCountsSumWorkersAndSurviveAFlipThatRenumbersThePolicies() throws {
        let m1 = try Self.model(["a", "b"])
        var (r, c) = try running("flip", m1, queues: 2)
        let bank1 = r.configSnapshot.pointee.policy_bank
        hit(r, 0, 0, 3)  // a
        hit(r, 1, 0, 4)  // a, other worker
        hit(r, 1, 1, 5)  // b
        hit(r, 0, Int(XPF_SESS_POLICY_DEFAULT), 2)
        XCTAssertEqual(count(c, Self.pairIdentity("a")), 7, "summed over the workers")
        XCTAssertEqual(count(c, .defaultPolicy), 2)

        // New epoch: a new policy first, so a is id 1 and b id 2 now; id 0 means "new".
        let m2 = try Self.model(["new", "a", "b"])
        XCTAssertFalse(m2.decidesSessions(as: m1))
        let g2 = try c.publish(ConfigSnapshotImage(m2), model: m2, samePolicies: false)
        let bank2 = r.configSnapshot.pointee.policy_bank
        XCTAssertNotEqual(bank2, bank1, "a new policy epoch flips the bank")
        XCTAssertEqual(c.unharvestedGeneration, g2, "workers have not switched: the old bank waits")
        XCTAssertEqual(count(c, Self.pairIdentity("a")), 7, "read under the old identities meanwhile")
        XCTAssertEqual(count(c, Self.pairIdentity("new")), 0)

        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g2)
        setWorker(r, 1, XPF_WORKER_RUNNING, seen: g2)
        XCTAssertTrue(c.harvestIfReady())
        XCTAssertNil(c.unharvestedGeneration)
        for q in 0..<2 {
            for id in [0, 1, 2, 3, Int(XPF_SESS_POLICY_DEFAULT)] {
                XCTAssertEqual(raw(r, q, bank: bank1, id), 0, "queue \(q) id \(id): the harvested bank is zeroed")
            }
        }
        hit(r, 0, 1, 10)  // a under its new id
        hit(r, 1, 0, 1)   // new
        hit(r, 0, Int(XPF_SESS_POLICY_DEFAULT), 1)
        XCTAssertEqual(c.counts(), [
            PolicyHitCount(identity: Self.pairIdentity("new"), counts: PolicyCounts(hits: 1)),
            PolicyHitCount(identity: Self.pairIdentity("a"), counts: PolicyCounts(hits: 17)),
            PolicyHitCount(identity: Self.pairIdentity("b"), counts: PolicyCounts(hits: 5)),
            PolicyHitCount(identity: Self.pairIdentity("back", from: "untrust", to: "trust"), counts: PolicyCounts(hits: 0)),
            PolicyHitCount(identity: PolicyIdentity(scope: .global, name: "g-any"), counts: PolicyCounts(hits: 0)),
            PolicyHitCount(identity: .defaultPolicy, counts: PolicyCounts(hits: 3)),
        ])

        // A commit that decides sessions alike keeps the epoch, the bank and the counts.
        let g3 = try c.publish(ConfigSnapshotImage(m2), model: m2, samePolicies: true)
        XCTAssertEqual(r.configSnapshot.pointee.policy_bank, bank2)
        XCTAssertNil(c.unharvestedGeneration)
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g3)
        setWorker(r, 1, XPF_WORKER_RUNNING, seen: g3)
        XCTAssertEqual(count(c, Self.pairIdentity("a")), 17)

        // Flip back to the first bank: what was counted there before is not counted twice.
        let m3 = try Self.model(["a"], global: "g-other")
        let g4 = try c.publish(ConfigSnapshotImage(m3), model: m3, samePolicies: false)
        XCTAssertEqual(r.configSnapshot.pointee.policy_bank, bank1)
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g4)
        setWorker(r, 1, XPF_WORKER_RUNNING, seen: g4)
        hit(r, 1, 0, 2)
        XCTAssertEqual(count(c, Self.pairIdentity("a")), 19)
        XCTAssertEqual(count(c, PolicyIdentity(scope: .global, name: "g-other")), 0)
        XCTAssertNil(count(c, Self.pairIdentity("b")), "a removed policy has no row")
        XCTAssertTrue(c.harvestIfReady())
        XCTAssertNil(c.totals[Self.pairIdentity("b")], "and no total kept once harvested")
    }

    func testALaggingWorkerKeepsTheOldBankAndRefusesTheNextFlip() throws {
        let m1 = try Self.model(["a"])
        var (r, c) = try running("lag", m1, queues: 2)
        let bank1 = r.configSnapshot.pointee.policy_bank
        hit(r, 1, 0, 6)
        let m2 = try Self.model(["b", "a"])
        let g2 = try c.publish(ConfigSnapshotImage(m2), model: m2, samePolicies: false)
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g2)
        // Queue 1 still runs generation 1: it may count in the old bank at any moment.
        XCTAssertFalse(c.harvestIfReady())
        hit(r, 1, 0, 1, bank: bank1)  // still policy a under generation 1
        XCTAssertEqual(raw(r, 1, bank: bank1, 0), 7, "not zeroed while a worker may count in it")
        XCTAssertEqual(count(c, Self.pairIdentity("a")), 7)

        let m3 = try Self.model(["c", "b", "a"])
        XCTAssertThrowsError(try c.publish(ConfigSnapshotImage(m3), model: m3, samePolicies: false)) { e in
            XCTAssertTrue("\(e)".contains("queue(s) 1 still runs a generation before \(g2)"), "\(e)")
        }
        XCTAssertEqual(r.current(.config).generation, g2, "nothing was published")
        // A commit that keeps the policy epoch does not need the bank: it goes through.
        let g3 = try c.publish(ConfigSnapshotImage(m2), model: m2, samePolicies: true)
        XCTAssertEqual(c.unharvestedGeneration, g2)

        setWorker(r, 1, XPF_WORKER_RUNNING, seen: g3)
        XCTAssertNil(c.flipBlocker(), "harvested once the worker switched")
        XCTAssertEqual(raw(r, 1, bank: bank1, 0), 0)
        let g4 = try c.publish(ConfigSnapshotImage(m3), model: m3, samePolicies: false)
        XCTAssertEqual(r.configSnapshot.pointee.policy_bank, bank1)
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g4)
        setWorker(r, 1, XPF_WORKER_RUNNING, seen: g4)
        XCTAssertTrue(c.harvestIfReady())
        XCTAssertEqual(count(c, Self.pairIdentity("a")), 7)
    }

    func testAwaitHarvestWaitsForTheLaggingWorkerThenGivesUp() throws {
        let m1 = try Self.model(["a"])
        var (r, c) = try running("await", m1, queues: 2)
        hit(r, 0, 0, 2)
        let m2 = try Self.model(["b", "a"])
        let g2 = try c.publish(ConfigSnapshotImage(m2), model: m2, samePolicies: false)
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g2)
        setWorker(r, 1, XPF_WORKER_STARTING, seen: 0)  // spawned, not yet on any generation
        var polls = 0
        XCTAssertTrue(c.awaitHarvest(timeoutNs: 5_000_000_000) {
            polls += 1
            if polls == 3 { self.setWorker(r, 1, XPF_WORKER_RUNNING, seen: g2) }  // the worker comes up meanwhile
        })
        XCTAssertEqual(polls, 3, "harvested at the first poll after the worker switched")
        XCTAssertNil(c.unharvestedGeneration)
        XCTAssertEqual(count(c, Self.pairIdentity("a")), 2)

        let m3 = try Self.model(["c", "b", "a"])
        let g3 = try c.publish(ConfigSnapshotImage(m3), model: m3, samePolicies: false)
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g3)  // queue 1 stays on g2
        XCTAssertFalse(c.awaitHarvest(timeoutNs: 1_000_000), "gives up at the timeout")
        XCTAssertEqual(c.unharvestedGeneration, g3)
    }

    func testAStartingWorkerBlocksTheHarvestAndADeadOneDoesNot() throws {
        let m1 = try Self.model(["a"])
        var (r, c) = try running("start", m1, queues: 3)
        let bank1 = r.configSnapshot.pointee.policy_bank
        hit(r, 2, 0, 4)
        let m2 = try Self.model(["b", "a"])
        let g2 = try c.publish(ConfigSnapshotImage(m2), model: m2, samePolicies: false)
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g2)
        setWorker(r, 1, XPF_WORKER_EXITED, seen: 1)    // dead, waiting for its restart
        setWorker(r, 2, XPF_WORKER_STARTING, seen: 1)  // spawned before the flip
        XCTAssertFalse(c.harvestIfReady(), "a STARTING worker may have loaded the older word")
        XCTAssertEqual(raw(r, 2, bank: bank1, 0), 4)
        setWorker(r, 2, XPF_WORKER_FAILED, seen: 1)
        XCTAssertTrue(c.harvestIfReady(), "workers that are not live count nowhere")
        XCTAssertEqual(raw(r, 2, bank: bank1, 0), 0)
        XCTAssertEqual(count(c, Self.pairIdentity("a")), 4)
    }

    func testClearStartsEveryPolicyFromZero() throws {
        let m1 = try Self.model(["a"])
        var (r, c) = try running("clear", m1, queues: 2)
        let bank1 = r.configSnapshot.pointee.policy_bank
        hit(r, 0, 0, 5)
        let m2 = try Self.model(["b", "a"])
        let g2 = try c.publish(ConfigSnapshotImage(m2), model: m2, samePolicies: false)
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g2)  // queue 1 lags: bank 1 unharvested
        hit(r, 0, 1, 2)  // a, new bank
        hit(r, 0, Int(XPF_SESS_POLICY_DEFAULT), 9)
        XCTAssertEqual(count(c, Self.pairIdentity("a")), 7)
        c.clear(.hits)
        XCTAssertEqual(c.counts().map(\.count), [0, 0, 0, 0, 0], "every row zero, harvested or not")
        hit(r, 1, 0, 1, bank: bank1)  // the lagging worker counts a once more in the old bank
        hit(r, 0, 0, 3)  // b
        XCTAssertEqual(count(c, Self.pairIdentity("a")), 1)
        setWorker(r, 1, XPF_WORKER_RUNNING, seen: g2)
        XCTAssertTrue(c.harvestIfReady())
        XCTAssertEqual(count(c, Self.pairIdentity("a")), 1, "the harvest adds only what came after the clear")
        XCTAssertEqual(count(c, Self.pairIdentity("b")), 3)
        XCTAssertEqual(count(c, .defaultPolicy), 0)
    }

    /// The traffic words of a `then count` policy (closed sessions) follow it across a
    /// flip like its hits, and each clear resets its own part only.
    func testStatisticsFollowThePolicyAndClearApart() throws {
        let m1 = try Self.model(["a", "b"])
        var (r, c) = try running("stats", m1, queues: 1)
        let bank1 = r.configSnapshot.pointee.policy_bank
        func add(_ id: Int, _ word: xpf_policy_counter_word, _ n: UInt64, bank: UInt32) {
            PolicyCounters.add(PolicyCounters.counter(PolicyCounters.bank(r.policyHits(0), bank), id, word), n)
        }
        hit(r, 0, 0, 2)  // a
        add(0, XPF_PC_BYTES_FWD, 1500, bank: bank1)
        add(0, XPF_PC_PACKETS_REV, 3, bank: bank1)
        add(0, XPF_PC_CLOSED, 1, bank: bank1)
        func counts(_ identity: PolicyIdentity) -> PolicyCounts? { c.counts().first { $0.identity == identity }?.counts }
        XCTAssertEqual(counts(Self.pairIdentity("a")), PolicyCounts(hits: 2, outputPackets: 3, inputBytes: 1500, closedSessions: 1))
        let m2 = try Self.model(["new", "a", "b"])
        let g2 = try c.publish(ConfigSnapshotImage(m2), model: m2, samePolicies: false)
        setWorker(r, 0, XPF_WORKER_RUNNING, seen: g2)
        XCTAssertTrue(c.harvestIfReady())
        for w in 0..<Int(XPF_PC_WORDS.rawValue) {
            let word = xpf_policy_counter_word(rawValue: UInt32(w))
            XCTAssertEqual(xpf_load_relaxed_u64(PolicyCounters.counter(PolicyCounters.bank(r.policyHits(0), bank1), 0, word)), 0,
                           "word \(w) of the harvested bank is zeroed")
        }
        let bank2 = r.configSnapshot.pointee.policy_bank
        add(1, XPF_PC_BYTES_FWD, 500, bank: bank2)  // a under its new id
        XCTAssertEqual(counts(Self.pairIdentity("a"))?.inputBytes, 2000, "harvested plus running")
        c.clear(.statistics)
        XCTAssertEqual(counts(Self.pairIdentity("a")), PolicyCounts(hits: 2), "traffic cleared, hits kept")
        add(1, XPF_PC_CLOSED, 1, bank: bank2)
        hit(r, 0, 1, 1)
        c.clear(.hits)
        XCTAssertEqual(counts(Self.pairIdentity("a")), PolicyCounts(closedSessions: 1), "hits cleared, traffic kept")
    }

    func testControlReplyRoundTrip() throws {
        let rows = [
            PolicyHitCount(identity: Self.pairIdentity("web"), counts: PolicyCounts(hits: 12)),
            PolicyHitCount(identity: PolicyIdentity(scope: .global, name: "g"), counts: PolicyCounts(hits: 0)),
            PolicyHitCount(identity: .defaultPolicy, counts: PolicyCounts(hits: UInt64.max)),
        ]
        let reply = rows.map(\.line).joined(separator: "\n")
        XCTAssertEqual(reply, "pair\ttrust\tuntrust\tweb\t12\t0\t0\t0\t0\t0\nglobal\t\t\tg\t0\t0\t0\t0\t0\t0\n"
            + "default\t\t\tdefault-policy\t18446744073709551615\t0\t0\t0\t0\t0")
        XCTAssertEqual(PolicyHitCount.parse(reply: reply), rows)
        XCTAssertEqual(rows.map(\.fromZone), ["trust", "global", "-"])
        XCTAssertEqual(rows.map(\.toZone), ["untrust", "global", "-"])
        XCTAssertEqual(PolicyHitCount.parse(reply: ""), [])
        XCTAssertNil(PolicyHitCount.parse(reply: "error: something"))
    }
}
