// xpf-fuzz: the fuzzing driver for the targets in Tests/Fuzz/Targets (see tools/fuzz).
#if canImport(Glibc)
import Glibc
#endif
import CFuzz
import FuzzTargets

let usage = """
usage: xpf-fuzz TARGET [libFuzzer options] [CORPUS_DIR ...]
       xpf-fuzz seeds TARGET DIR [CONFIG_CORPUS_DIR]
       xpf-fuzz replay TARGET FILE_OR_DIR ...

Targets: \(FuzzTarget.allCases.map { $0.rawValue }.joined(separator: ", ")).
The first form runs libFuzzer (a `--sanitize=fuzzer --sanitize=address` build; use
tools/fuzz). `seeds` writes the target's seed inputs into DIR (configuration targets
read the files of CONFIG_CORPUS_DIR/good and /bad). `replay` runs inputs once in any
build and exits non-zero when one breaks an invariant.
"""

func die(_ m: String) -> Never { fputs("xpf-fuzz: \(m)\n", stderr); exit(2) }

func target(_ name: String) -> FuzzTarget {
    guard let t = FuzzTarget(rawValue: name) else { die("unknown target '\(name)'\n\(usage)") }
    return t
}

nonisolated(unsafe) var selected = FuzzTarget.parse

let args = CommandLine.arguments
guard args.count >= 2, args[1] != "-h", args[1] != "--help" else { print(usage); exit(args.count >= 2 ? 0 : 2) }

switch args[1] {
case "seeds":
    guard args.count >= 4 else { die(usage) }
    let t = target(args[2])
    let seeds = t.seeds(configCorpus: args.count >= 5 ? args[4] : nil)
    for (i, s) in seeds.enumerated() where !FuzzFiles.write("\(args[3])/seed-\(t.rawValue)-\(i)", s) {
        die("cannot write \(args[3])/seed-\(t.rawValue)-\(i)")
    }
    print("xpf-fuzz: \(seeds.count) seeds for \(t.rawValue) in \(args[3])")
case "replay":
    guard args.count >= 4 else { die(usage) }
    let t = target(args[2])
    var files: [String] = []
    for a in args[3...] {
        let inDir = FuzzFiles.list(a)
        files += inDir.isEmpty ? [a] : inDir.map { a + "/" + $0 }
    }
    var failed = 0
    for f in files {
        guard let bytes = FuzzFiles.read(f) else { die("cannot read \(f)") }
        if let failure = bytes.withUnsafeBytes({ t.run($0) }) {
            print("FAIL \(f): \(failure)")
            failed += 1
        }
    }
    print("xpf-fuzz: replayed \(files.count) inputs through \(t.rawValue)")
    print("\(files.count - failed) passed, \(failed) failed")
    exit(failed == 0 ? 0 : 1)
default:
    selected = target(args[1])
    // libFuzzer sees the remaining arguments (its options and corpus directories).
    var cargs: [UnsafeMutablePointer<CChar>?] = [strdup(args[0])] + args[2...].map { strdup($0) }
    let rc = xpf_fuzz_run_driver(Int32(cargs.count), &cargs) { data, size in
        let input = UnsafeRawBufferPointer(start: data, count: size)
        if let failure = selected.run(input) {
            fputs("xpf-fuzz: invariant broken (\(selected.rawValue)): \(failure)\n", stderr)
            abort()  // libFuzzer saves the input as a crash
        }
        return 0
    }
    if rc == -1 { die("built without libFuzzer: build with tools/fuzz (swift build --sanitize=fuzzer --sanitize=address)") }
    exit(rc)
}
