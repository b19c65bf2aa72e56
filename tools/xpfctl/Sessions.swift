// xpfctl: `show security flow session [filters] [--json]` (R-4.1, issue 9 §3).
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
