// The fuzz targets (Tests/Fuzz/Targets) in the unit suite: every seed and every input that
// once broke an invariant or crashed (Tests/Fuzz/regressions/TARGET/, one file each, named
// for what it found) runs through its target on every test run, under the ASan stage too.
import FuzzTargets
import XCTest

final class FuzzReplayTests: XCTestCase {
    override func setUp() { continueAfterFailure = false }

    static let fuzzDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz").path
    static let configCorpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("ConfigCorpus").path

    func replay(_ target: FuzzTarget, minimumSeeds: Int) {
        let seeds = target.seeds(configCorpus: Self.configCorpus)
        XCTAssertGreaterThanOrEqual(seeds.count, minimumSeeds, "seeds of \(target)")
        for (i, s) in seeds.enumerated() {
            let failure = s.withUnsafeBytes { target.run($0) }
            XCTAssertNil(failure, "\(target) seed \(i)")
        }
        let dir = Self.fuzzDir + "/regressions/" + target.rawValue
        for name in FuzzFiles.list(dir) {
            let bytes = FuzzFiles.read(dir + "/" + name)
            XCTAssertNotNil(bytes, "cannot read \(dir)/\(name)")
            let failure = bytes?.withUnsafeBytes { target.run($0) }
            XCTAssertNil(failure, "\(target) regression \(name)")
        }
    }

    func testParseSeedsAndRegressions() { replay(.parse, minimumSeeds: 25) }
    func testPipelineSeedsAndRegressions() { replay(.pipeline, minimumSeeds: 25) }
    func testJunosSeedsAndRegressions() { replay(.junos, minimumSeeds: 80) }
    func testSnapshotSeedsAndRegressions() { replay(.snapshot, minimumSeeds: 10) }
    func testEventsSeedsAndRegressions() { replay(.events, minimumSeeds: 5) }
}
