// xpfctl: security policies (issue 9 §2) — `show security policies [from-zone A to-zone B]
// [detail]`, `show security policies hit-count`, `clear security policies hit-count`.
import ArgumentParser
import Shared

struct PoliciesShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policies",
        abstract: "The running security policies and their hit counts.",
        discussion: "`xpfctl show security policies [from-zone A to-zone B] [detail]` lists the policies (the default subcommand, `list`); `xpfctl show security policies hit-count [--json]` counts their hits.",
        subcommands: [PolicyListShow.self, PolicyHitCountShow.self], defaultSubcommand: PolicyListShow.self)
}

/// The default of `show security policies` (its words go here unless the first is `hit-count`).
struct PolicyListShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "The running security policies, as Junos lists them.",
        discussion: "`xpfctl show security policies [from-zone A to-zone B] [detail]`: the zone pairs' lists in configuration order, then the junos-host contexts (to the box, then from it; `to-zone junos-host` or `from-zone junos-host` names one), then the global list (only the pair's list when one is named). Index is the policy id (the index of its hit counter, and what a session records); Sequence number its position in its list. `detail` adds the prefixes the addresses resolve to and every term of every application, and for a `then count` policy its statistics: input (from the initiator) and output bytes and packets of its sessions, closed ones (kept by xpfd across commits) and live ones (read from their records), active sessions, session deletions and policy lookups (hits). Read from xpfd's running configuration.")
    @OptionGroup var common: Common
    @Argument(help: "Optional: from-zone A to-zone B, then optional detail.")
    var words: [String] = []

    func run() throws {
        var w = words
        let detail = w.last == "detail"
        if detail { w.removeLast() }
        var from: String?, to: String?
        if !w.isEmpty {
            guard w.count == 4, w[0] == "from-zone", w[2] == "to-zone" else {
                throw ValidationError("usage: xpfctl show security policies [from-zone A to-zone B] [detail]")
            }
            (from, to) = (w[1], w[3])
        }
        let text = try control(common.stateDir, "show-configuration")
        if text.hasPrefix("error") { print(text); throw ExitCode(1) }
        let (tree, model) = try ConfigModel.load(text: text, file: "running configuration")
        let listing = PolicyListing(tree: tree, model: model)
        var statistics: [Int: PolicyListing.Statistics] = [:]
        if detail && model.policies.all.contains(where: \.count) {
            let reply = try control(common.stateDir, "show-policy-hit-count")
            guard let rows = PolicyHitCount.parse(reply: reply) else { print(reply); throw ExitCode(1) }
            let region = try DataplaneStatus.openRegion(stateDir: common.stateDir)
            statistics = listing.statistics(rows: rows, sessions: SessionListing.all(region), names: SessionNames(region))
        }
        print(try listing.text(from: from, to: to, detail: detail, statistics: statistics))
    }
}

struct PolicyHitCountShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hit-count",
        abstract: "How many flows each running policy (and the default policy) matched.",
        discussion: "A hit is a first packet (or a re-check after a commit) that the policy matched, summed over the workers. Counts follow a policy across commits while its zone pair and name stay (global policies: the name); a removed policy's count is gone. `clear security policies hit-count` starts every count from zero.")
    @OptionGroup var common: Common
    @Flag(name: .long, help: "JSON output.")
    var json = false

    func run() throws {
        let reply = try control(common.stateDir, "show-policy-hit-count")
        guard let rows = PolicyHitCount.parse(reply: reply) else { print(reply); throw ExitCode(1) }
        guard json else { print(PolicyListing.hitCountText(rows)); return }
        var j = JSONWriter()
        j.beginObject()
        j.beginArray("policies")
        for (i, r) in rows.enumerated() {
            j.beginObject()
            j.field("index", i + 1)
            j.field("from_zone", r.fromZone); j.field("to_zone", r.toZone); j.field("name", r.identity.name)
            j.field("policy_count", r.count)
            j.endObject()
        }
        j.endArray()
        j.endObject()
        print(j.text)
    }
}

struct ClearPolicies: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "policies", abstract: "Security policy state.",
                                                    subcommands: [ClearPolicyHitCount.self, ClearPolicyStatistics.self])
}

struct ClearPolicyStatistics: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "statistics",
        abstract: "Start every `then count` policy's statistics (traffic of closed sessions) from zero.",
        discussion: "Hit counts (Policy lookups) are kept: `clear security policies hit-count` clears those. Live sessions' traffic is in their records and is not cleared.")
    @OptionGroup var common: Common

    func run() throws {
        try runControl(common.stateDir, "clear-policy-statistics")
    }
}

struct ClearPolicyHitCount: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hit-count",
        abstract: "Start every policy's hit count from zero.",
        discussion: "xpfd keeps the counts; `show security policies hit-count` shows what was counted since.")
    @OptionGroup var common: Common

    func run() throws {
        try runControl(common.stateDir, "clear-policy-hit-count")
    }
}
