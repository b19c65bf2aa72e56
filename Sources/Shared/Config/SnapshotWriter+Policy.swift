// The policy classifier sections of a snapshot (xpf_config_abi.h "policy lookup"):
// POLICY_ROOTS, POLICY_NODES, POLICY_LEAVES, compiled from the encoded policy records
// themselves, so the tree prunes exactly over what the worker's record check reads.
//
// For every policy list — each zone pair's (zones² roots, in ZONE_PAIRS order; an empty
// pair is the empty leaf) and then the global list — and for each family, a
// PolicyTreeBuilder tree over the policies that can match that family (at least one
// source and one destination prefix of the family). Leaf 0 is the empty leaf; leaf policy
// lists go to INDICES, deduplicated like every list.
import CXPF

/// The classifier's records while the snapshot is encoded.
struct PolicyClassifierSections {
    var roots: [xpf_cfg_policy_root] = []
    var nodes: [xpf_cfg_policy_node] = []
    var leaves: [xpf_cfg_range] = [xpf_cfg_range(first: 0, count: 0)]
}

extension SnapshotEncoder {
    static let emptyLeaf = XPF_POLICY_REF_LEAF

    mutating func encodePolicyClassifier() {
        for pair in zonePairs { policyClassifier.roots.append(policyRoot(pair)) }
        policyClassifier.roots.append(policyRoot(head.global_policies))
    }

    mutating func policyRoot(_ list: xpf_cfg_range) -> xpf_cfg_policy_root {
        xpf_cfg_policy_root(v4: policyTree(list, family: 4), v6: policyTree(list, family: 6))
    }

    /// The rule of policy `id` for one family.
    func policyTreeRule(_ id: Int, family: UInt8) -> PolicyTreeRule {
        let p = policies[id]
        func boxes(_ r: xpf_cfg_range, hiField: xpf_policy_field) -> [PolicyBox] {
            prefixes.records[Int(r.first)..<Int(r.first + r.count)].filter { $0.family == family }.map { prefix in
                withUnsafeBytes(of: prefix.addr) { a in
                    PolicyBox.address(hi: UInt64(bigEndian: a.loadUnaligned(as: UInt64.self)),
                                      lo: UInt64(bigEndian: a.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                                      length: Int(prefix.length), hiField: Int(hiField.rawValue))
                }
            }
        }
        let terms = indices.records[Int(p.app_terms.first)..<Int(p.app_terms.first + p.app_terms.count)]
        return PolicyTreeRule(id: UInt32(id), sources: boxes(p.src, hiField: XPF_PF_SRC_HI),
                              destinations: boxes(p.dst, hiField: XPF_PF_DST_HI),
                              terms: terms.map { PolicyBox.term(appTerms[Int($0)]) })
    }

    /// Builds one tree and appends its records; returns its root reference.
    mutating func policyTree(_ list: xpf_cfg_range, family: UInt8) -> UInt32 {
        if list.count == 0 { return Self.emptyLeaf }
        let rules = (Int(list.first)..<Int(list.first + list.count)).map { policyTreeRule($0, family: family) }
        var builder = PolicyTreeBuilder(rules: rules, nodeBase: UInt32(policyClassifier.nodes.count))
        let root = builder.build()
        let leafBase = UInt32(policyClassifier.leaves.count)
        for leaf in builder.leaves { policyClassifier.leaves.append(indices.list(leaf)) }
        func relocate(_ ref: UInt32) -> UInt32 { ref & XPF_POLICY_REF_LEAF != 0 ? ref + leafBase : ref }
        for var node in builder.nodes {
            node.le = relocate(node.le)
            node.gt = relocate(node.gt)
            policyClassifier.nodes.append(node)
        }
        return relocate(root)
    }
}
