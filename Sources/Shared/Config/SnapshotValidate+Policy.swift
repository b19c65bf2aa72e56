// Validation of the policy classifier sections (xpf_config_abi.h "policy lookup"), run
// by validate() after the section table and every other record passed. What it proves,
// so that ConfigSnapshotView.matchPolicy can follow references without checks: there is
// one root record per zone pair plus one for the global list; every tree reference is a
// node or a leaf inside its section; every node's field is a known field and its
// children that are nodes have higher indices than the node (every walk ends, after at
// most as many steps as there are nodes); every leaf is a range of INDICES whose entries
// are POLICIES indices.
import CXPF

extension ConfigSnapshotView {
    func validatePolicyClassifier() throws {
        func fail(_ what: String) -> ConfigSnapshotError { ConfigSnapshotError("invalid configuration snapshot: \(what)") }
        let zones = UInt64(section(XPF_CFG_SEC_ZONES).count)
        let nodes = section(XPF_CFG_SEC_POLICY_NODES).count
        let leaves = section(XPF_CFG_SEC_POLICY_LEAVES).count
        let roots = records(XPF_CFG_SEC_POLICY_ROOTS, as: xpf_cfg_policy_root.self)
        guard UInt64(roots.count) == zones * zones + 1 else {
            throw fail("\(roots.count) policy roots for \(zones) zones (zones² + 1 expected)")
        }
        /// `ref` as seen from node `parent` (nil: a root).
        func reference(_ ref: UInt32, from parent: UInt32?, _ what: @autoclosure () -> String) throws {
            if ref & XPF_POLICY_REF_LEAF != 0 {
                guard ref & ~XPF_POLICY_REF_LEAF < leaves else { throw fail("\(what()): leaf \(ref & ~XPF_POLICY_REF_LEAF) of \(leaves)") }
            } else {
                guard ref < nodes else { throw fail("\(what()): node \(ref) of \(nodes)") }
                if let parent { guard ref > parent else { throw fail("\(what()): node \(ref) does not follow node \(parent)") } }
            }
        }
        for (i, r) in roots.enumerated() {
            try reference(r.v4, from: nil, "policy root \(i) (IPv4)")
            try reference(r.v6, from: nil, "policy root \(i) (IPv6)")
        }
        for (i, n) in records(XPF_CFG_SEC_POLICY_NODES, as: xpf_cfg_policy_node.self).enumerated() {
            guard n.field < XPF_PF_COUNT.rawValue else { throw fail("policy node \(i): field \(n.field)") }
            try reference(n.le, from: UInt32(i), "policy node \(i)")
            try reference(n.gt, from: UInt32(i), "policy node \(i)")
        }
        let indexCount = UInt64(section(XPF_CFG_SEC_INDICES).count)
        let policyCount = section(XPF_CFG_SEC_POLICIES).count
        for (i, l) in records(XPF_CFG_SEC_POLICY_LEAVES, as: xpf_cfg_range.self).enumerated() {
            guard UInt64(l.first) + UInt64(l.count) <= indexCount else {
                throw fail("policy leaf \(i): \(l.first)+\(l.count) outside indices (\(indexCount))")
            }
            for id in indices(l) where id >= policyCount {
                throw fail("policy leaf \(i): policy \(id) of \(policyCount)")
            }
        }
    }
}
