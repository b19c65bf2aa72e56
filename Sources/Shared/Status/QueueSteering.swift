// What a change of the queue count asks of RSS (issue 11 §6): xpfd does not steer the NIC,
// so after `system dataplane queues N` by commit it reads each interface's RSS indirection
// table and says what still disagrees — a table that sends to a parked queue (its packets
// are dropped, drop_no_worker, until the table is steered) or one that sends nothing to a
// running queue (that worker idles). An interface without a table (veth: the sender picks
// the queue) gets no note.
public enum QueueSteering {
    /// One line per interface whose table disagrees with `queues` running queues.
    /// `tables`: (interface, its indirection table) in interface order.
    public static func notes(tables: [(name: String, table: [UInt32])], queues: Int) -> [String] {
        var out: [String] = []
        for (name, table) in tables where !table.isEmpty {
            let used = Set(table.map(Int.init))
            let parked = used.filter { $0 >= queues }.sorted()
            let unused = (0..<queues).filter { !used.contains($0) }
            if !parked.isEmpty {
                out.append("WARNING: \(name)'s RSS table still sends to queue(s) \(list(parked)), which have no worker: their packets "
                    + "are dropped (drop_no_worker) until it is steered: ethtool -X \(name) equal \(queues)")
            } else if !unused.isEmpty {
                out.append("note: \(name)'s RSS table sends nothing to queue(s) \(list(unused)) yet: ethtool -X \(name) equal \(queues)")
            }
        }
        return out
    }

    static func list(_ queues: [Int]) -> String { queues.map(String.init).joined(separator: ", ") }
}
