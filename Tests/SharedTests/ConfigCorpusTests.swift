import Foundation
import XCTest

@testable import Shared

/// The configuration corpus (Tests/SharedTests/ConfigCorpus): every `bad/*.conf` must fail
/// with exactly the text of its `*.err` sidecar, and every `good/*.conf` must compile and
/// survive both round trips (hierarchical → set → hierarchical) to an equal model.
/// The good files' contents are asserted field by field in ConfigModelTests.
///
/// To (re)write the sidecars after changing a message on purpose, run the tests with
/// `XPF_UPDATE_CORPUS=1`, then review every changed `.err` file before committing.
final class ConfigCorpusTests: XCTestCase {
    override func setUp() {
        super.setUp()
        continueAfterFailure = false
    }

    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("ConfigCorpus")

    /// `(corpus-relative name, text)` of every `.conf` file in a corpus directory, sorted.
    static func files(_ directory: String) throws -> [(name: String, text: String)] {
        let dir = corpus.appendingPathComponent(directory)
        return try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".conf") }.sorted()
            .map { ("\(directory)/\($0)", try String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8)) }
    }

    /// Loads one good file by its corpus-relative name.
    static func load(_ name: String) throws -> (JunosTree, ConfigModel) {
        let text = try String(contentsOf: corpus.appendingPathComponent(name), encoding: .utf8)
        return try ConfigModel.load(text: text, file: name)
    }

    func testEveryBadConfigurationFailsWithItsExactError() throws {
        let files = try Self.files("bad")
        XCTAssertGreaterThanOrEqual(files.count, 60)
        let update = ProcessInfo.processInfo.environment["XPF_UPDATE_CORPUS"] == "1"
        for (name, text) in files {
            let sidecar = Self.corpus.appendingPathComponent(String(name.dropLast(".conf".count)) + ".err")
            var actual = "(no error)"
            do {
                _ = try ConfigModel.load(text: text, file: name)
            } catch let error as ConfigError {
                actual = error.description
            }
            if update {
                try (actual + "\n").write(to: sidecar, atomically: true, encoding: .utf8)
                continue
            }
            guard let expected = try? String(contentsOf: sidecar, encoding: .utf8) else {
                XCTFail("\(name): missing sidecar \(sidecar.lastPathComponent); it fails with: \(actual)")
                continue
            }
            XCTAssertEqual(actual, expected.trimmingCharacters(in: .newlines), name)
            // The daemon's entry point refuses it with the same text.
            XCTAssertThrowsError(try DataplaneConfig.load(text: text, file: name), name) { error in
                XCTAssertEqual("\(error)", actual, name)
            }
        }
    }

    /// Every sidecar has its configuration (a renamed `.conf` would otherwise leave a stale one).
    func testEverySidecarHasAConfiguration() throws {
        let dir = Self.corpus.appendingPathComponent("bad")
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: dir.path))
        for err in names where err.hasSuffix(".err") {
            XCTAssertTrue(names.contains(String(err.dropLast(4)) + ".conf"), err)
        }
    }

    func testEveryGoodConfigurationCompilesAndRoundTrips() throws {
        let files = try Self.files("good")
        XCTAssertGreaterThanOrEqual(files.count, 14)
        for (name, text) in files {
            let tree: JunosTree, model: ConfigModel
            do {
                (tree, model) = try ConfigModel.load(text: text, file: name)
            } catch {
                XCTFail("\(error)")
                continue
            }
            // hierarchical → set lines → tree → model
            let setText = tree.setLines().joined(separator: "\n")
            let fromSet = try ConfigModel.load(text: setText, file: name + " (set)")
            XCTAssertEqual(fromSet.0, tree, "\(name): set lines re-parse to the same tree")
            XCTAssertEqual(fromSet.1, model, "\(name): set lines compile to the same model")

            // set lines → hierarchical → tree → model
            let hierarchical = fromSet.0.hierarchicalText()
            let fromHierarchical = try ConfigModel.load(text: hierarchical, file: name + " (hierarchical)")
            XCTAssertEqual(fromHierarchical.0, tree, "\(name): hierarchical text re-parses to the same tree")
            XCTAssertEqual(fromHierarchical.1, model, "\(name): hierarchical text compiles to the same model")

            // Printing is stable: a re-parsed tree prints the same text in both forms.
            XCTAssertEqual(fromHierarchical.0.hierarchicalText(), tree.hierarchicalText(), name)
            XCTAssertEqual(fromHierarchical.0.setLines(), tree.setLines(), name)
        }
    }
}
