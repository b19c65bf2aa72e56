// xpfctl: `show security flow session [filters] [--json]` and `clear security flow session
// [filters]` (R-4.1, issue 9 §3).
import ArgumentParser
import Shared

struct SessionShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session",
        abstract: "List sessions from the shared-memory session table.",
        discussion: "Filters (Junos words, any combination): source-prefix P, destination-prefix P, protocol NAME|N, source-port N, destination-port N (the tuple as the first packet carried it), from-zone Z, to-zone Z (the zones of the session's ingress and egress interfaces), policy NAME (`default-policy` for sessions the default policy admitted). Each session shows its policy (name/index), zones, generation, Timeout (seconds left before it ages out), Idle (seconds since its last packet) and TCP state. Names come from the running configuration: a session decided before the last commit that changed policies, zones or applications shows `N/A (awaiting re-check)` until its next packet re-checks it, and matches no `policy` filter.")
    @OptionGroup var common: Common
    @Flag(name: .long, help: "JSON output.")
    var json = false
    @Argument(help: "Filters: \(SessionFilter.usage)")
    var filters: [String] = []

    func run() throws {
        let filter: SessionFilter
        do { filter = try SessionFilter(words: filters) } catch { throw ValidationError("\(error)") }
        let region = try DataplaneStatus.openRegion(stateDir: common.stateDir)
        let names = SessionNames(region)
        let sessions = SessionListing.all(region).filter { filter.matches($0, names: names) }
        print(SessionListing.render(sessions, region: region, names: names, json: json))
    }
}

struct ClearSession: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "session",
        abstract: "Remove sessions (both directions) from the session table: every one, or those the filters match.",
        discussion: "Filters as for `show security flow session` (the same words, names resolved under the running configuration): \(SessionFilter.usage). Each worker removes the matching sessions of its own partition between two batches, each with an RT_FLOW_SESSION_CLOSE (reason clear) when its policy logs session-close; packets of a cleared flow start a new session. xpfd waits for every partition: a worker that is down is restarted and clears its partition before its first batch, and xpfd clears the partition of a worker that failed for good itself. A clear is refused while a worker still sweeps an earlier one that timed out.")
    @OptionGroup var common: Common
    @Argument(help: "Filters: \(SessionFilter.usage)")
    var filters: [String] = []

    func run() throws {
        do { _ = try SessionFilter(words: filters) } catch { throw ValidationError("\(error)") }
        try runControl(common.stateDir, (["clear-sessions"] + filters).joined(separator: " "))
    }
}
