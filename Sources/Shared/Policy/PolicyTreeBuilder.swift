// Builds the policy decision tree of one policy list and one family at commit (cold
// path; the lookup is PolicyMatch.swift, the design docs/architecture.md "Policy lookup").
//
// A policy is a rule over the eight 64-bit fields of enum xpf_policy_field made of three
// groups — source addresses, destination addresses, application terms — and it can match
// a packet only if, in every group, one of its alternatives (a prefix; a term) contains
// the packet. Each alternative is a box: an interval per field, the whole range in the
// fields outside its group.
//
// The tree is HyperSplit-style: each node cuts one field at one threshold into `<= t`
// and `> t`; a policy goes to every side its alternatives reach (a policy spanning the
// threshold goes to both). At each node the builder picks, among the cuts whose larger
// side holds at most 3/4 of the node's policies, the one making the fewest copies (else
// the most balanced), and stops at a leaf when the node holds at most `leafSize`
// policies, when no cut separates anything (every remaining policy covers the whole
// node), at `maxDepth`, or when a cut would exceed the replication budget (leaf entries
// per policy) — then the leaf is simply longer, and the lookup scans it: slower, never
// wrong. Nodes are built breadth first, so a spent budget leaves the deepest level
// unsplit rather than one whole subtree.
import CXPF

/// One alternative of a policy: an inclusive interval per tree field.
public struct PolicyBox: Equatable, Sendable {
    public var lo: SIMD8<UInt64>
    public var hi: SIMD8<UInt64>

    public static let everything = PolicyBox(lo: SIMD8(repeating: 0), hi: SIMD8(repeating: .max))

    public init(lo: SIMD8<UInt64>, hi: SIMD8<UInt64>) {
        self.lo = lo
        self.hi = hi
    }

    /// Whether the two boxes share a point.
    func intersects(_ other: PolicyBox) -> Bool {
        !any(lo .> other.hi) && !any(hi .< other.lo)
    }

    /// The values whose top `length` bits equal `value`'s.
    static func interval(_ value: UInt64, prefix length: Int) -> ClosedRange<UInt64> {
        let mask: UInt64 = length == 0 ? 0 : ~0 << UInt64(64 - length)
        return (value & mask)...(value | ~mask)
    }

    /// An address prefix: `hi`/`lo` are the address words (big-endian), fields `hiField`
    /// and `hiField + 1`.
    static func address(hi: UInt64, lo: UInt64, length: Int, hiField: Int) -> PolicyBox {
        var box = everything
        let h = length <= 64 ? interval(hi, prefix: length) : hi...hi
        box.lo[hiField] = h.lowerBound
        box.hi[hiField] = h.upperBound
        if length > 64 {
            let l = interval(lo, prefix: length - 64)
            box.lo[hiField + 1] = l.lowerBound
            box.hi[hiField + 1] = l.upperBound
        }
        return box
    }

    /// A value range of a narrow field stored at the top of its 64-bit field.
    static func set(_ box: inout PolicyBox, field: xpf_policy_field, low: UInt64, high: UInt64, shift: UInt64) {
        let rest: UInt64 = (1 << shift) - 1
        box.lo[Int(field.rawValue)] = low << shift
        box.hi[Int(field.rawValue)] = high << shift | rest
    }

    /// The packets an application term can match (see ConfigSnapshotView.term(_:matches:)).
    static func term(_ t: xpf_cfg_app_term) -> PolicyBox {
        var box = everything
        let flags = UInt32(t.flags)
        if flags & XPF_CFG_AT_ANY_PROTO.rawValue == 0 {
            set(&box, field: XPF_PF_PROTO, low: UInt64(t.proto), high: UInt64(t.proto), shift: PolicyFieldShift.proto)
        }
        set(&box, field: XPF_PF_SPORT, low: UInt64(t.sport_low), high: UInt64(t.sport_high), shift: PolicyFieldShift.port)
        set(&box, field: XPF_PF_DPORT, low: UInt64(t.dport_low), high: UInt64(t.dport_high), shift: PolicyFieldShift.port)
        let hasType = flags & XPF_CFG_AT_ICMP_TYPE.rawValue != 0
        let hasCode = flags & XPF_CFG_AT_ICMP_CODE.rawValue != 0
        if hasType {
            // type·code sits in the top 16 bits: a type alone is the top 8.
            let low = UInt64(t.icmp_type) << 8 | (hasCode ? UInt64(t.icmp_code) : 0)
            let high = UInt64(t.icmp_type) << 8 | (hasCode ? UInt64(t.icmp_code) : 0xff)
            set(&box, field: XPF_PF_ICMP, low: low, high: high, shift: PolicyFieldShift.port)
        }
        // A code without a type leaves the field whole (the leaf check tests the code).
        return box
    }
}

/// A policy as the builder sees it: its id and its alternatives per group.
public struct PolicyTreeRule: Sendable {
    public var id: UInt32
    /// Source prefixes, destination prefixes, application terms (of the tree's family).
    public var groups: [[PolicyBox]]

    public init(id: UInt32, sources: [PolicyBox], destinations: [PolicyBox], terms: [PolicyBox]) {
        self.id = id
        groups = [sources, destinations, terms]
    }

    /// A rule with an empty group can never match.
    public var canMatch: Bool { groups.allSatisfy { !$0.isEmpty } }
}

/// The tree's records, appended to the snapshot's sections by the encoder.
public struct PolicyTreeBuilder {
    /// At most this many policies in a leaf, unless no cut separates them.
    public static let leafSize = 2
    /// Deepest path (a walk costs a few instructions per level).
    public static let maxDepth = 32
    /// Leaf entries a tree may hold per policy (a policy spanning a cut is in both
    /// sides): a cut that would exceed it is not made. Bounds the classifier to about
    /// 16 × 36 bytes per policy (index entry, leaf, node per leaf entry).
    public static let replicationBudget = 16

    /// Nodes appended here; references to them are `nodeBase + index`.
    public var nodes: [xpf_cfg_policy_node] = []
    /// Leaves (policy ids, ascending); leaf references are XPF_POLICY_REF_LEAF | index
    /// into the encoder's leaf list, which the caller maps.
    public var leaves: [[UInt32]] = []
    let nodeBase: UInt32
    let rules: [PolicyTreeRule]
    /// Leaf entries of the tree as built so far (every pending node counts its policies).
    var entries = 0
    let entryBudget: Int

    /// Builds the tree of `rules` (in evaluation order). Node references are offset by
    /// `nodeBase` (the nodes already in the section); leaf references index `leaves`.
    public init(rules: [PolicyTreeRule], nodeBase: UInt32, replicationBudget: Int = Self.replicationBudget) {
        self.rules = rules.filter(\.canMatch)
        self.nodeBase = nodeBase
        entryBudget = replicationBudget * self.rules.count + Self.leafSize
    }

    /// Builds and returns the root reference. Breadth first, so that when the budget
    /// runs out it is the deepest level that stays unsplit (many slightly longer leaves,
    /// not one subtree left as a single long one).
    public mutating func build() -> UInt32 {
        var root = XPF_POLICY_REF_LEAF
        var queue = [Pending(members: Array(rules.indices), region: .everything, depth: 0, parent: nil)]
        entries = rules.count
        var next = 0
        while next < queue.count {
            let item = queue[next]
            next += 1
            let ref: UInt32
            if let (node, left, right) = split(item) {
                ref = nodeBase + UInt32(nodes.count)
                nodes.append(node)
                let index = nodes.count - 1
                queue.append(Pending(members: left.members, region: left.region, depth: item.depth + 1, parent: (index, false)))
                queue.append(Pending(members: right.members, region: right.region, depth: item.depth + 1, parent: (index, true)))
            } else {
                leaves.append(item.members.map { rules[$0].id })
                ref = XPF_POLICY_REF_LEAF | UInt32(leaves.count - 1)
            }
            switch item.parent {
            case nil: root = ref
            case let (index, greater)?: if greater { nodes[index].gt = ref } else { nodes[index].le = ref }
            }
            queue[next - 1].members = []  // done with it
        }
        return root
    }

    /// A node still to build: its policies, region, depth, and the parent's child
    /// reference to fill in (node index, `gt` side).
    struct Pending {
        var members: [Int]
        var region: PolicyBox
        var depth: Int
        var parent: (Int, Bool)?
    }

    struct Cut {
        var field: Int
        var threshold: UInt64
        var larger: Int
        var total: Int

        /// Balanced enough (the larger side at most 3/4 of the node), then fewest copies.
        func better(than other: Cut, of n: Int) -> Bool {
            let ok = larger * 4 <= n * 3, otherOK = other.larger * 4 <= n * 3
            if ok != otherOK { return ok }
            return ok ? (total, larger) < (other.total, other.larger) : (larger, total) < (other.larger, other.total)
        }
    }

    /// The node that splits `item`, with its two sides; nil when `item` stays a leaf.
    mutating func split(_ item: Pending) -> (xpf_cfg_policy_node, (members: [Int], region: PolicyBox), (members: [Int], region: PolicyBox))? {
        let members = item.members, region = item.region
        if members.count <= Self.leafSize || item.depth >= Self.maxDepth { return nil }
        // Per policy, per field: the lowest and highest value its alternatives reach
        // inside the region (the group's alternatives that intersect the region).
        var lows: [SIMD8<UInt64>] = []
        var highs: [SIMD8<UInt64>] = []
        lows.reserveCapacity(members.count)
        highs.reserveCapacity(members.count)
        for m in members {
            var low = region.lo
            var high = region.hi
            for group in rules[m].groups {
                var gLow = SIMD8<UInt64>(repeating: .max)
                var gHigh = SIMD8<UInt64>(repeating: 0)
                for box in group where box.intersects(region) {
                    gLow = pointwiseMin(gLow, pointwiseMax(box.lo, region.lo))
                    gHigh = pointwiseMax(gHigh, pointwiseMin(box.hi, region.hi))
                }
                // Fields outside the group read the whole region, so max/min keep the group's.
                low = pointwiseMax(low, gLow)
                high = pointwiseMin(high, gHigh)
            }
            lows.append(low)
            highs.append(high)
        }
        // A cut that separates nothing, or copies more than the budget has left, is not made.
        guard let cut = bestCut(lows: lows, highs: highs, region: region), cut.larger < members.count,
              entries + cut.total - members.count <= entryBudget
        else { return nil }
        entries += cut.total - members.count
        var left: [Int] = [], right: [Int] = []
        for (k, m) in members.enumerated() {
            if lows[k][cut.field] <= cut.threshold { left.append(m) }
            if highs[k][cut.field] > cut.threshold { right.append(m) }
        }
        var leftRegion = region, rightRegion = region
        leftRegion.hi[cut.field] = cut.threshold
        rightRegion.lo[cut.field] = cut.threshold + 1
        let node = xpf_cfg_policy_node(threshold: cut.threshold, field: UInt32(cut.field), le: 0, gt: 0, reserved: 0)
        return (node, (left, leftRegion), (right, rightRegion))
    }

    /// The cut minimising the larger side, then the copies on both sides.
    func bestCut(lows: [SIMD8<UInt64>], highs: [SIMD8<UInt64>], region: PolicyBox) -> Cut? {
        var best: Cut?
        for field in 0..<Int(XPF_PF_COUNT.rawValue) where region.lo[field] < region.hi[field] {
            let mins = lows.map { $0[field] }.sorted()
            let maxs = highs.map { $0[field] }.sorted()
            // The side counts change only just below a policy's lowest value or at its highest.
            var candidates: [UInt64] = []
            candidates.reserveCapacity(mins.count * 2)
            for v in mins where v > region.lo[field] { candidates.append(v - 1) }
            for v in maxs where v < region.hi[field] { candidates.append(v) }
            candidates.sort()
            var l = 0, r = 0  // mins <= t; maxs <= t
            var previous: UInt64?
            for t in candidates where t != previous {
                previous = t
                while l < mins.count && mins[l] <= t { l += 1 }
                while r < maxs.count && maxs[r] <= t { r += 1 }
                let right = maxs.count - r
                let cut = Cut(field: field, threshold: t, larger: max(l, right), total: l + right)
                if let b = best, !cut.better(than: b, of: lows.count) { continue }
                best = cut
            }
        }
        return best
    }
}
