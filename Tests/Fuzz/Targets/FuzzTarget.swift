// Fuzz targets (issue 7): each takes arbitrary bytes, drives real xpf code with them and
// checks invariants. A target returns nil when every invariant held and a description of
// the broken one otherwise; memory errors are AddressSanitizer's to catch (the fuzz build
// is `-sanitize=fuzzer,address`). The same functions run under libFuzzer (xpf-fuzz, see
// tools/fuzz) and in the unit suite, which replays the seeds and every input that once
// failed (Tests/Fuzz/regressions/TARGET/) — so a crash found once stays a test.

public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `parseFrame` on an arbitrary frame (exactly sized: a read past the end faults).
    case parse
    /// `Pipeline.processBatch` (the worker's batch function) on arbitrary batches of frames
    /// against the lab fixture's configuration, FIB and session table.
    case pipeline
    /// The Junos lexer, parser and compiler, the snapshot encoder and a `display set` round trip.
    case junos
    /// `ConfigSnapshotView.validate` on hostile snapshot bytes, then every accessor.
    case snapshot
    /// The event codec as xpfd reads it (EventNames.record) and every syslog line form.
    case events

    /// Runs one input. Nil: every invariant held.
    public func run(_ data: UnsafeRawBufferPointer) -> String? {
        switch self {
        case .parse: return ParseTarget.run(data)
        case .pipeline: return PipelineTarget.shared.run(data)
        case .junos: return ConfigTargets.junos(data)
        case .snapshot: return ConfigTargets.snapshot(data)
        case .events: return EventTarget.run(data)
        }
    }

    /// Inputs every run starts from, built from the same packets and configurations the
    /// unit tests use. `configCorpus` is the directory of configuration files
    /// (Tests/SharedTests/ConfigCorpus), used by the configuration targets.
    public func seeds(configCorpus: String?) -> [[UInt8]] {
        switch self {
        case .parse: return SeedFrames.all
        case .pipeline: return PipelineTarget.seeds
        case .junos: return ConfigTargets.junosSeeds(corpus: configCorpus)
        case .snapshot: return ConfigTargets.snapshotSeeds(corpus: configCorpus)
        case .events: return EventTarget.seeds
        }
    }
}
