// xpfctl: firewall filter counters and policer counts (issue 10 §4, §5) — `show firewall
// [filter F] [counter C]`, `clear firewall [all | filter F]`. xpfd keeps the counts
// (FilterCounts.swift), FirewallListing writes them.
import ArgumentParser
import Shared

struct FirewallShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firewall",
        abstract: "Firewall filter counters: each filter's named counters, its policers' counts and (an xpf extension) each term's count.",
        discussion: """
            `xpfctl show firewall [filter F [counter C]] [--json]`. Every filter of the running configuration (or every \
            family's filter F), as Junos prints it: "Filter: F", then "Counters:" with a Name, Bytes, Packets line per \
            named counter (`then count C`: one per filter and name, shared by the terms that name it), then \
            "Policers:" with a line per policer instance — "P-T" for policer P of term T, "P" for a filter-specific \
            policer (one instance for the filter) — counting the packets a two-color policer found out of profile, \
            and two lines for a three-color policer, "P-T (red)" and "P-T (yellow)", counting what it marked red and \
            yellow (green is not counted); then — not in Junos — "Terms:" with the same columns for every term (the \
            packets the term matched, whatever its actions). An interface-specific filter is listed once per \
            attachment, "F-IFL-i" / "F-IFL-o" (e.g. edge-fw0.0-i), with its own counters and policer instances. Bytes \
            are those of the IP datagram. `counter C` prints that counter only. A filter name that both families use \
            says which one: "Filter: F (inet6)". Counts are summed over the workers, since the last `clear firewall`; \
            they follow a filter across commits while its family, name and the term's, counter's or policer \
            instance's name stay (a removed one is gone). --json: {"filters": [{"name", "family", "counters": \
            [{"name", "bytes", "packets"}], "policers": [{"name", "color": "out-of-profile" | "red" | "yellow", \
            "bytes", "packets"}], "terms": [{"name", "bytes", "packets"}]}]}. An unknown filter or counter is an \
            error (exit 1).
            """)
    @OptionGroup var common: Common
    @Flag(name: .long, help: "JSON output.")
    var json = false
    @Argument(help: "Optional: filter F, then optional counter C.")
    var words: [String] = []

    static let usage = "usage: xpfctl show firewall [filter F [counter C]]"

    func run() throws {
        var filter: String?, counter: String?
        switch words.count {
        case 0: break
        case 2 where words[0] == "filter": filter = words[1]
        case 4 where words[0] == "filter" && words[2] == "counter": (filter, counter) = (words[1], words[3])
        default: throw ValidationError(Self.usage)
        }
        let reply = try control(common.stateDir, "show-firewall")
        guard let all = FirewallFilterCounts.parse(reply: reply) else { print(reply); throw ExitCode(1) }
        let chosen: [FirewallFilterCounts]
        do { chosen = try FirewallListing.select(all, filter: filter, counter: counter) } catch {
            print("error: \(error)")
            throw ExitCode(1)
        }
        guard json else {
            print(chosen.isEmpty ? "no firewall filters in the running configuration" : FirewallListing.text(chosen))
            return
        }
        print(FirewallListing.json(chosen))
    }
}

struct ClearFirewall: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "firewall",
        abstract: "Start firewall filter counters (and the policers' and terms' counts) from zero.",
        discussion: "`xpfctl clear firewall [all]` clears every filter's named counters, policer counts and term counts, `xpfctl clear firewall filter F` those of every family's filter F (an unknown filter is an error; an interface-specific filter's copies go by their names, F-IFL-i / F-IFL-o). The policers' buckets are left as they are: only the counts start again. xpfd keeps the counts; `show firewall` shows what was counted since. /metrics is not reset (Prometheus counters only grow).")
    @OptionGroup var common: Common
    @Argument(help: "all (the default), or filter F.")
    var words: [String] = []

    func run() throws {
        switch words.count {
        case 0: try runControl(common.stateDir, "clear-firewall")
        case 1 where words[0] == "all": try runControl(common.stateDir, "clear-firewall")
        case 2 where words[0] == "filter": try runControl(common.stateDir, "clear-firewall filter \(words[1])")
        default: throw ValidationError("usage: xpfctl clear firewall [all | filter F]")
        }
    }
}
