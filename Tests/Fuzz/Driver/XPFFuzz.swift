// xpf-fuzz: the fuzzing driver for the targets in Tests/Fuzz/Targets (see tools/fuzz).
//
// Built two ways. tools/fuzz builds it with `--sanitize=fuzzer --sanitize=address
// -Xswiftc -DLIBFUZZER`: libFuzzer's own main runs, and XPF_FUZZ_TARGET names the target.
// The plain build (every `swift build`) has a main of its own that writes seeds and
// replays inputs.
#if canImport(Glibc)
import Glibc
#endif
import FuzzTargets

func die(_ m: String) -> Never { fputs("xpf-fuzz: \(m)\n", stderr); exit(2) }

#if LIBFUZZER
nonisolated(unsafe) var selected = FuzzTarget.parse

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>,
                             _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    guard let name = getenv("XPF_FUZZ_TARGET").map({ String(cString: $0) }), let t = FuzzTarget(rawValue: name) else {
        die("set XPF_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map { $0.rawValue }.joined(separator: ", "))")
    }
    selected = t
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    if let failure = selected.run(UnsafeRawBufferPointer(start: data, count: size)) {
        fputs("xpf-fuzz: invariant broken (\(selected.rawValue)): \(failure)\n", stderr)
        abort()  // libFuzzer keeps the input as a crash
    }
    return 0
}
#else
let usage = """
usage: xpf-fuzz seeds TARGET DIR [CONFIG_CORPUS_DIR]
       xpf-fuzz replay TARGET FILE_OR_DIR ...

Targets: \(FuzzTarget.allCases.map { $0.rawValue }.joined(separator: ", ")).
`seeds` writes the target's seed inputs into DIR (the configuration targets read the
files of CONFIG_CORPUS_DIR/good and /bad). `replay` runs inputs once and exits non-zero
when one breaks an invariant. Fuzzing itself needs the libFuzzer build: tools/fuzz.
"""

func target(_ name: String) -> FuzzTarget {
    guard let t = FuzzTarget(rawValue: name) else { die("unknown target '\(name)'\n\(usage)") }
    return t
}

@main
enum XPFFuzz {
    static func main() {
        let args = CommandLine.arguments
        guard args.count >= 2, args[1] != "-h", args[1] != "--help" else { print(usage); exit(args.count >= 2 ? 0 : 2) }
        guard args.count >= 4 else { die(usage) }
        let t = target(args[2])
        switch args[1] {
        case "seeds":
            let seeds = t.seeds(configCorpus: args.count >= 5 ? args[4] : nil)
            for (i, s) in seeds.enumerated() where !FuzzFiles.write("\(args[3])/seed-\(t.rawValue)-\(i)", s) {
                die("cannot write \(args[3])/seed-\(t.rawValue)-\(i)")
            }
            print("xpf-fuzz: \(seeds.count) seeds for \(t.rawValue) in \(args[3])")
        case "replay":
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
            die(usage)
        }
    }
}
#endif
