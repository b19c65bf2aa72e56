// Commit history in the state directory (R-11.1): every committed configuration is
// kept as canonical hierarchical text, newest first for `rollback N`, at most 50.
//
//   DIR/commits/NNNNNNNN.conf   the configuration of commit NNNNNNNN
//   DIR/commits/history         one line per commit: seq<TAB>generation<TAB>unix-seconds<TAB>source
#if canImport(Glibc)
import Glibc
#endif
import Shared

struct CommitRecord {
    var seq: Int
    var generation: UInt64
    var time: Int
    var source: String
}

final class CommitStore {
    static let keep = 50
    let dir: String
    private(set) var records: [CommitRecord] = []   // oldest first

    init(stateDir: String) throws {
        dir = "\(stateDir)/commits"
        try makeDirectories(dir, mode: 0o700)
        if let text = readWholeFile("\(dir)/history") {
            for line in text.split(separator: "\n") {
                let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                guard f.count >= 4, let seq = Int(f[0]), let gen = UInt64(f[1]), let t = Int(f[2]) else { continue }
                if access(path(seq), R_OK) == 0 { records.append(CommitRecord(seq: seq, generation: gen, time: t, source: f[3])) }
            }
        }
    }

    func path(_ seq: Int) -> String {
        let s = String(seq)
        return "\(dir)/\(String(repeating: "0", count: max(0, 8 - s.count)))\(s).conf"
    }

    /// Records a committed configuration; prunes beyond the last 50.
    func record(text: String, generation: UInt64, source: String) throws {
        let seq = (records.last?.seq ?? 0) + 1
        try writeWholeFile(path(seq), text, mode: 0o600)
        records.append(CommitRecord(seq: seq, generation: generation, time: Int(realtimeNanos() / 1_000_000_000), source: source))
        while records.count > Self.keep { unlink(path(records.removeFirst().seq)) }
        let history = records.map { "\($0.seq)\t\($0.generation)\t\($0.time)\t\($0.source)" }.joined(separator: "\n") + "\n"
        try writeWholeFile("\(dir)/history", history, mode: 0o600)
    }

    /// The configuration text of `rollback n` (0 = the running one, 1 = the one before, …).
    func text(rollback n: Int) throws -> String {
        guard n >= 0 && n < records.count else {
            throw XPFError("rollback \(n): only \(records.count) commit\(records.count == 1 ? "" : "s") are kept (0…\(max(records.count - 1, 0)))")
        }
        let rec = records[records.count - 1 - n]
        guard let t = readWholeFile(path(rec.seq)) else { throw XPFError("rollback \(n): cannot read \(path(rec.seq))") }
        return t
    }

    /// `show system commit`: newest first, Junos style.
    func listing() -> String {
        var lines: [String] = []
        for (i, r) in records.reversed().enumerated() {
            var t = time_t(r.time)
            var tmv = tm()
            gmtime_r(&t, &tmv)
            var buf = [CChar](repeating: 0, count: 64)
            strftime(&buf, 64, "%Y-%m-%d %H:%M:%S UTC", &tmv)
            lines.append("\(i)   \(String(cString: buf)) generation \(r.generation) via \(r.source)")
        }
        return lines.isEmpty ? "no commits" : lines.joined(separator: "\n")
    }
}
