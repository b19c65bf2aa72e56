// The views of xpf-top as pure functions of the samples: each view builds a `Table` from
// the previous and the current sample, the frame is the title, the scaling verdict and
// the sorted table as `Line`s, and `compose` turns lines into terminal output (clipped to
// the terminal, coloured or not). Nothing here reads shared memory or the terminal.
import CXPF
import Shared

// MARK: - Samples

/// One session of the sessions view, as read at one sample: numbers only, and the strings
/// made only for the rows the view shows (`source`, `destination`; the table may hold a
/// million live sessions, of which the view prints 20).
struct SessionSample {
    /// Record index + 1 and the record's creation second: a record reused by another
    /// session has another creation second, so its counts are not taken for a rate.
    var id: Int
    var createdS: UInt32
    var proto: String
    var family: UInt8
    /// The forward tuple as the record holds it (addresses in network order, ports in
    /// network byte order).
    var tuple: xpf_flow_tuple
    /// The deciding policy's name (a reference to the name the snapshot gave, not a copy).
    var policy: String
    var packets: UInt64
    var bytes: UInt64
    var ageS: UInt32

    var key: SessionKey { SessionKey(id: id, createdS: createdS) }
    var source: String { "\(formatAddress(family: family, tuple.src))/\(UInt16(bigEndian: tuple.sport))" }
    var destination: String { "\(formatAddress(family: family, tuple.dst))/\(UInt16(bigEndian: tuple.dport))" }
}

struct SessionKey: Hashable { var id: Int; var createdS: UInt32 }

/// One row of the policies view: a policy's hit count, or a firewall filter term's (or
/// named counter's) packets, from the running bank.
struct HitSample {
    enum Kind: String { case policy, term, counter }
    var kind: Kind
    /// "from → to", "global", "-" (the default policy), or "FAMILY FILTER".
    var scope: String
    var name: String
    var action: String
    var hits: UInt64

    var key: String { "\(kind.rawValue)\u{0}\(scope)\u{0}\(name)" }
}

/// One refresh: the dataplane, and the rows the view shown at that moment needs (the
/// session table and the counters are read only for their view).
struct Sample {
    var status: DataplaneStatus
    var sessions: [SessionSample]? = nil
    var hits: [HitSample]? = nil
}

// MARK: - Rates

struct Rates {
    var rxPps = 0.0, txPps = 0.0, rxBps = 0.0, txBps = 0.0, created = 0.0, closed = 0.0, drops = 0.0
}

func rates(_ a: xpf_worker_stats, _ b: xpf_worker_stats, _ dt: Double) -> Rates {
    guard dt > 0 else { return Rates() }
    func d(_ x: UInt64, _ y: UInt64) -> Double { perSecond(x, y, dt) }
    return Rates(rxPps: d(a.rx_packets, b.rx_packets), txPps: d(a.tx_packets, b.tx_packets),
                 rxBps: d(a.rx_bytes, b.rx_bytes) * bitsPerByte, txBps: d(a.tx_bytes, b.tx_bytes) * bitsPerByte,
                 created: d(a.sessions_created, b.sessions_created), closed: d(a.sessions_closed, b.sessions_closed),
                 drops: d(a.totalDrops, b.totalDrops))
}

let bitsPerByte = 8.0

/// The rate of a counter between two readings `dt` seconds apart (0 if it went back: a
/// restarted worker, a cleared counter).
func perSecond(_ a: UInt64, _ b: UInt64, _ dt: Double) -> Double {
    dt > 0 && b >= a ? Double(b - a) / dt : 0
}

/// Seconds between two samples.
func interval(_ a: DataplaneStatus, _ b: DataplaneStatus) -> Double {
    b.takenAtNs > a.takenAtNs ? Double(b.takenAtNs - a.takenAtNs) / 1e9 : 0
}

func human(_ v: Double) -> String {
    let units = ["", "k", "M", "G", "T"]
    var x = v
    var i = 0
    while x >= 1000 && i < units.count - 1 { x /= 1000; i += 1 }
    if i == 0 { return String(Int(x.rounded())) }
    return "\(format1(x))\(units[i])"
}

func format1(_ v: Double) -> String { "\((v * 10).rounded() / 10)" }

/// An interval for the title: "1 s", "0.5 s", "0.125 s".
func formatSeconds(_ v: Double) -> String {
    v == v.rounded() ? "\(Int(v)) s" : "\(v) s"
}

func sessionsActive(_ s: DataplaneStatus) -> UInt64 {
    let created = s.workers.reduce(UInt64(0)) { $0 &+ $1.stats.sessions_created }
    let closed = s.workers.reduce(UInt64(0)) { $0 &+ $1.stats.sessions_closed }
    return created >= closed ? created - closed : 0
}

/// A note when one queue carries far more than its share (RSS imbalance).
func imbalanceHint(_ r: [Rates]) -> String? {
    let total = r.reduce(0) { $0 + $1.rxPps }
    guard r.count > 1, total > ScalingReport.minimumPps else { return nil }
    let maxR = r.map(\.rxPps).max() ?? 0
    let share = maxR / total
    guard share > ScalingReport.imbalanceShare / Double(r.count) else { return nil }
    let q = r.firstIndex { $0.rxPps == maxR } ?? 0
    return "hint: queues are imbalanced — queue \(q) receives \(Int(share * 100))% of packets (fair share \(100 / r.count)%); check RSS hashing / flow mix"
}

/// A worker's busy share over the interval (nil: no loop time passed).
func busyShare(_ a: WorkerStatus?, _ b: WorkerStatus) -> Double? {
    a.flatMap { DataplaneStatus.busyShare($0.stats, b.stats) }
}

/// Highest occupancy (percent) of one ring kind over a worker's interfaces.
func ringPercent<T>(_ gauges: T, _ size: UInt32, _ n: Int) -> Int {
    guard size > 0 else { return 0 }
    let used = (0..<n).map { DataplaneStatus.perInterface(gauges, $0) }.max() ?? 0
    return Int(min(100, used * 100 / UInt64(size)))
}

/// Sum over the workers of a per-interface counter array's element `slot`.
func interfaceSum(_ s: DataplaneStatus, _ slot: Int, _ field: (xpf_worker_stats) -> some Any) -> UInt64 {
    s.workers.reduce(UInt64(0)) { $0 &+ DataplaneStatus.perInterface(field($1.stats), slot) }
}

/// A per-interface socket statistic (the kernel's XDP_STATISTICS), summed over workers.
func socketSum(_ s: DataplaneStatus, _ slot: Int, _ field: (xpf_worker_socket_stats) -> some Any) -> UInt64 {
    s.workers.reduce(UInt64(0)) { $0 &+ DataplaneStatus.perInterface(field($1.socket), slot) }
}

/// Packets per second received and sent on an interface slot, summed over workers.
func interfaceRates(_ a: DataplaneStatus, _ b: DataplaneStatus, _ slot: Int, _ dt: Double) -> (Double, Double) {
    var rx = 0.0, tx = 0.0
    for (wa, wb) in zip(a.workers, b.workers) {
        rx += perSecond(DataplaneStatus.perInterface(wa.stats.if_rx_packets, slot), DataplaneStatus.perInterface(wb.stats.if_rx_packets, slot), dt)
        tx += perSecond(DataplaneStatus.perInterface(wa.stats.if_tx_packets, slot), DataplaneStatus.perInterface(wb.stats.if_tx_packets, slot), dt)
    }
    return (rx, tx)
}

// MARK: - History (sparklines)

/// The last `depth` samples of each worker's RX rate and busy share.
struct History {
    static let depth = 30
    var rxPps: [[Double]] = []
    var busy: [[Double?]] = []

    /// Appends one interval's values per queue (a change of the queue count starts over).
    mutating func add(_ a: DataplaneStatus, _ b: DataplaneStatus) {
        let dt = interval(a, b)
        guard a.workers.count == b.workers.count else { return }
        if rxPps.count != b.workers.count {
            rxPps = Array(repeating: [], count: b.workers.count)
            busy = Array(repeating: [], count: b.workers.count)
        }
        for (q, (wa, wb)) in zip(a.workers, b.workers).enumerated() {
            rxPps[q] = Array((rxPps[q] + [rates(wa.stats, wb.stats, dt).rxPps]).suffix(Self.depth))
            busy[q] = Array((busy[q] + [busyShare(wa, wb)]).suffix(Self.depth))
        }
    }
}

let sparkLevels: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

/// One character per value, its height relative to `scale` (clamped); nil (no reading)
/// is a space.
func sparkline(_ values: [Double?], scale: Double) -> String {
    String(values.map { v -> Character in
        guard let v else { return " " }
        let top = sparkLevels.count - 1
        let level = scale > 0 ? Int((v / scale * Double(top)).rounded()) : 0
        return sparkLevels[min(max(level, 0), top)]
    })
}

// MARK: - Tables and sorting

enum SortKey: Comparable {
    case number(Double)
    case text(String)

    static func < (a: SortKey, b: SortKey) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)): return x < y
        case (.text(let x), .text(let y)): return x < y
        case (.number, .text): return true
        case (.text, .number): return false
        }
    }
}

/// How a line is drawn when colour is on.
enum Style {
    case plain, title, header, warning, alarm

    /// The SGR parameters (nil: none).
    var sgr: String? {
        switch self {
        case .plain: return nil
        case .title: return "1"            // bold
        case .header: return "30;46"       // black on cyan, as htop's column header
        case .warning: return "33"         // yellow
        case .alarm: return "1;31"         // bold red
        }
    }
}

struct Line: Equatable {
    var text: String
    var style: Style = .plain
}

struct Column {
    var title: String
    var width: Int
    var leftAligned = false
    /// Sorting by this column starts descending (numbers: the biggest first).
    var descending = true
}

struct Row {
    var cells: [String]
    var keys: [SortKey]
    var style: Style = .plain
}

struct Table {
    var columns: [Column]
    var rows: [Row]
    /// Lines under the table (totals, notes), not sorted.
    var footer: [Line] = []
}

struct SortState: Equatable {
    var column: Int
    var descending: Bool
}

/// Marks of the sorted column in the header.
let sortDescendingMark = "▼", sortAscendingMark = "▲"

func pad(_ s: String, _ w: Int, left: Bool = false) -> String {
    s.count >= w ? s : (left ? s + String(repeating: " ", count: w - s.count) : String(repeating: " ", count: w - s.count) + s)
}

/// The table's header and rows sorted by `sort` (ties keep their order), at most `limit`
/// rows; the sorted column's title carries ▼ (descending) or ▲ (ascending).
func renderTable(_ t: Table, sort: SortState?, limit: Int? = nil) -> [Line] {
    var rows = t.rows
    if let sort, sort.column < t.columns.count {
        let c = sort.column
        rows = rows.enumerated().sorted { x, y in
            let (kx, ky) = (x.element.keys[c], y.element.keys[c])
            if kx == ky { return x.offset < y.offset }
            return sort.descending ? ky < kx : kx < ky
        }.map(\.element)
    }
    if let limit { rows = Array(rows.prefix(limit)) }
    func line(_ cells: [String]) -> String {
        zip(t.columns, cells).map { pad($1, $0.width, left: $0.leftAligned) }.joined(separator: " ")
    }
    let titles = t.columns.enumerated().map { i, c in
        guard let sort, sort.column == i else { return c.title }
        return c.title + (sort.descending ? sortDescendingMark : sortAscendingMark)
    }
    return [Line(text: line(titles), style: .header)] + rows.map { Line(text: line($0.cells), style: $0.style) } + t.footer
}

// MARK: - Views

enum View: String, CaseIterable {
    case workers, interfaces, drops, sessions, policies

    var key: Character {
        switch self {
        case .workers: return "w"
        case .interfaces: return "i"
        case .drops: return "d"
        case .sessions: return "s"
        case .policies: return "p"
        }
    }

    var title: String {
        switch self {
        case .workers: return "workers"
        case .interfaces: return "interfaces"
        case .drops: return "drop reasons"
        case .sessions: return "top sessions by rate"
        case .policies: return "policies and filters by hits"
        }
    }
}

/// Colour thresholds of a worker row (busy share), and the heartbeat age that makes a
/// worker look failing (the supervisor kills it at 2 s: Workers.heartbeatTimeoutNs).
let busyAlarm = 0.9, busyWarning = 0.7
let heartbeatAlarmMs: Int64 = 1000
/// Rows of the sessions view.
let topSessions = 20

/// A worker row's style: failing (failed / exited, heartbeat older than 1 s) or saturated
/// (busy ≥ 90 %) red, busy ≥ 70 % yellow; a parked queue (no worker by design) plain.
func workerStyle(_ w: WorkerStatus, busy: Double?) -> Style {
    if w.state == "parked" { return .plain }
    if w.state == "failed" || w.state == "exited" || w.heartbeatAgeMs > heartbeatAlarmMs { return .alarm }
    guard let busy else { return .plain }
    return busy >= busyAlarm ? .alarm : busy >= busyWarning ? .warning : .plain
}

/// Workers: one row per queue; with `history`, the sparklines of its last samples.
func workersTable(_ a: DataplaneStatus, _ b: DataplaneStatus, history: History?) -> Table {
    let dt = interval(a, b)
    var columns = [Column(title: "Q", width: 2, descending: false), Column(title: "CORE", width: 4, descending: false),
                   Column(title: "NODE", width: 4, descending: false), Column(title: "PID", width: 7, descending: false),
                   Column(title: "STATE", width: 8, leftAligned: true, descending: false),
                   Column(title: "HB(ms)", width: 7), Column(title: "GEN", width: 4), Column(title: "BUSY%", width: 6),
                   Column(title: "WAIT%", width: 6),
                   Column(title: "RX pps", width: 8), Column(title: "TX pps", width: 8), Column(title: "RX bps", width: 8),
                   Column(title: "TX bps", width: 8), Column(title: "DROPS/s", width: 8), Column(title: "DROPS", width: 8),
                   Column(title: "FILL", width: 5), Column(title: "RXQ%", width: 5), Column(title: "TXQ%", width: 5),
                   Column(title: "SESS+/s", width: 8), Column(title: "SESS-/s", width: 8), Column(title: "RESTARTS", width: 8)]
    if history != nil {
        columns += [Column(title: "RX pps (last \(History.depth))", width: History.depth, leftAligned: true),
                    Column(title: "BUSY (last \(History.depth))", width: History.depth, leftAligned: true)]
    }
    var rows: [Row] = []
    var tot = Rates()
    let before = Dictionary(a.workers.map { ($0.queue, $0) }, uniquingKeysWith: { x, _ in x })
    for w in b.workers {
        let wa = before[w.queue]
        let r = wa.map { rates($0.stats, w.stats, dt) } ?? Rates()
        let busy = busyShare(wa, w)
        let wait = wa.flatMap { DataplaneStatus.cpuWaitShare($0.socket, w.socket) }
        let fill = w.stats.batches > 0 ? Double(w.stats.batch_packets) / Double(w.stats.batches) : 0
        let rxq = ringPercent(w.stats.rx_ring_used, b.rxRingSize, b.interfaces.count)
        let txq = ringPercent(w.stats.tx_ring_used, b.txRingSize, b.interfaces.count)
        var cells = ["\(w.queue)", "\(w.core)", "\(w.numaNode)", "\(w.pid)", w.state,
                     w.heartbeatAgeMs < 0 ? "-" : "\(w.heartbeatAgeMs)", "\(w.generation)",
                     busy.map { String(Int(($0 * 100).rounded())) } ?? "-",
                     wait.map { String(Int(($0 * 100).rounded())) } ?? "-",
                     human(r.rxPps), human(r.txPps), human(r.rxBps), human(r.txBps), human(r.drops), "\(w.stats.totalDrops)",
                     format1(fill), "\(rxq)", "\(txq)", human(r.created), human(r.closed), "\(w.restarts)"]
        var keys: [SortKey] = [.number(Double(w.queue)), .number(Double(w.core)), .number(Double(w.numaNode)),
                               .number(Double(w.pid)), .text(w.state), .number(Double(w.heartbeatAgeMs)),
                               .number(Double(w.generation)), .number(busy ?? -1), .number(wait ?? -1), .number(r.rxPps), .number(r.txPps),
                               .number(r.rxBps), .number(r.txBps), .number(r.drops), .number(Double(w.stats.totalDrops)),
                               .number(fill), .number(Double(rxq)), .number(Double(txq)), .number(r.created),
                               .number(r.closed), .number(Double(w.restarts))]
        if let history, w.queue < history.rxPps.count {
            let pps = history.rxPps[w.queue]
            cells += [sparkline(pps, scale: max(pps.max() ?? 0, 1)), sparkline(history.busy[w.queue], scale: 1)]
            keys += [.number(pps.last ?? 0), .number((history.busy[w.queue].last ?? nil) ?? -1)]
        } else if history != nil {
            cells += ["", ""]
            keys += [.number(0), .number(-1)]
        }
        rows.append(Row(cells: cells, keys: keys, style: workerStyle(w, busy: busy)))
        tot.rxPps += r.rxPps; tot.txPps += r.txPps; tot.rxBps += r.rxBps; tot.txBps += r.txBps
        tot.drops += r.drops; tot.created += r.created; tot.closed += r.closed
    }
    var footer: [Line] = []
    let drops = b.workers.reduce(UInt64(0)) { $0 &+ $1.stats.totalDrops }
    footer.append(Line(text: "TOTAL rx \(human(tot.rxPps)) pps \(human(tot.rxBps)) bps, tx \(human(tot.txPps)) pps \(human(tot.txBps)) bps, drops \(human(tot.drops))/s (\(drops)), sessions +\(human(tot.created))/s -\(human(tot.closed))/s"))
    var reasons: [String] = []
    for r in dropReasons {
        let n = b.workers.reduce(UInt64(0)) { $0 &+ $1.stats.drop(r.index) }
        if n > 0 { reasons.append("\(r.name) \(n)") }
    }
    footer.append(Line(text: "drops by reason: " + (reasons.isEmpty ? "none" : reasons.joined(separator: ", "))))
    let emitted = b.workers.reduce(UInt64(0)) { $0 &+ $1.stats.events_emitted }
    let eventsDropped = b.workers.reduce(UInt64(0)) { $0 &+ $1.stats.events_dropped }
    let rateLimited = b.workers.reduce(UInt64(0)) { $0 &+ $1.stats.events_rate_limited }
    footer.append(Line(text: "security events: emitted \(emitted), dropped (event ring full) \(eventsDropped), rate-limited \(rateLimited)"
        + (eventsDropped > 0 ? " — " + b.workers.filter { $0.stats.events_dropped > 0 }.map { "q\($0.queue) \($0.stats.events_dropped)" }.joined(separator: ", ") : "")))
    if let x = b.xdp {
        let xa = a.xdp ?? x
        footer.append(Line(text: "xdp: " + DataplaneStatus.xdpCounterNames.enumerated().map { "\($1) \(x[$0]) (\(human(perSecond(xa[$0], x[$0], dt)))/s)" }.joined(separator: ", ")))
    }
    let rs = zip(a.workers, b.workers).map { rates($0.stats, $1.stats, dt) }
    if let h = imbalanceHint(rs) { footer.append(Line(text: h, style: .warning)) }
    return Table(columns: columns, rows: rows, footer: footer)
}

/// Interfaces: rates, counts, vector size over the interval and AF_XDP ring events,
/// summed over the workers.
func interfacesTable(_ a: DataplaneStatus, _ b: DataplaneStatus) -> Table {
    let dt = interval(a, b)
    let columns = [Column(title: "NAME", width: 12, leftAligned: true, descending: false), Column(title: "IFINDEX", width: 7, descending: false),
                   Column(title: "XDP", width: 7, leftAligned: true, descending: false), Column(title: "RXQ", width: 3),
                   Column(title: "RX pps", width: 8), Column(title: "TX pps", width: 8), Column(title: "RX pkts", width: 10),
                   Column(title: "TX pkts", width: 10), Column(title: "VECTOR", width: 6), Column(title: "RX FULL", width: 8),
                   Column(title: "FILL EMPTY", width: 10), Column(title: "XSK DROP", width: 8), Column(title: "TX EMPTY", width: 8)]
    var rows: [Row] = []
    for i in b.interfaces {
        let (rx, tx) = interfaceRates(a, b, i.slot, dt)
        let rxPkts = interfaceSum(b, i.slot) { $0.if_rx_packets }, txPkts = interfaceSum(b, i.slot) { $0.if_tx_packets }
        let batches = interfaceSum(b, i.slot) { $0.if_batches } &- interfaceSum(a, i.slot) { $0.if_batches }
        let vector = batches > 0 ? Double(rxPkts &- interfaceSum(a, i.slot) { $0.if_rx_packets }) / Double(batches) : 0
        let full = socketSum(b, i.slot) { $0.rx_ring_full }, empty = socketSum(b, i.slot) { $0.fill_ring_empty }
        let dropped = socketSum(b, i.slot) { $0.rx_dropped }, txEmpty = socketSum(b, i.slot) { $0.tx_ring_empty }
        let cells = [i.name, "\(i.ifindex)", i.xdpMode, "\(i.rxQueues)", human(rx), human(tx), "\(rxPkts)", "\(txPkts)",
                     format1(vector), "\(full)", "\(empty)", "\(dropped)", "\(txEmpty)"]
        let keys: [SortKey] = [.text(i.name), .number(Double(i.ifindex)), .text(i.xdpMode), .number(Double(i.rxQueues)),
                               .number(rx), .number(tx), .number(Double(rxPkts)), .number(Double(txPkts)), .number(vector),
                               .number(Double(full)), .number(Double(empty)), .number(Double(dropped)), .number(Double(txEmpty))]
        rows.append(Row(cells: cells, keys: keys))
    }
    return Table(columns: columns, rows: rows)
}

/// Drop reasons: every reason the ABI defines, its total, rate and count per queue.
func dropsTable(_ a: DataplaneStatus, _ b: DataplaneStatus) -> Table {
    let dt = interval(a, b)
    var columns = [Column(title: "REASON", width: 22, leftAligned: true, descending: false),
                   Column(title: "TOTAL", width: 10), Column(title: "RATE/s", width: 8)]
    columns += b.workers.map { Column(title: "q\($0.queue)", width: 8) }
    columns.append(Column(title: "MEANING", width: 0, leftAligned: true, descending: false))
    let before = Dictionary(a.workers.map { ($0.queue, $0) }, uniquingKeysWith: { x, _ in x })
    let rows = dropReasons.map { r -> Row in
        let perQueue = b.workers.map { $0.stats.drop(r.index) }
        let total = perQueue.reduce(UInt64(0), &+)
        let rate = b.workers.reduce(0.0) { $0 + perSecond(before[$1.queue]?.stats.drop(r.index) ?? $1.stats.drop(r.index), $1.stats.drop(r.index), dt) }
        return Row(cells: [r.name, "\(total)", human(rate)] + perQueue.map { "\($0)" } + [r.meaning],
                   keys: [.text(r.name), .number(Double(total)), .number(rate)] + perQueue.map { .number(Double($0)) } + [.text(r.meaning)])
    }
    return Table(columns: columns, rows: rows)
}

/// Sessions: packets and bytes per second of each session between the two samples (a
/// session absent from the previous one has no rate yet). Sorted by a numeric column, only
/// the `limit` first by it are made into rows (their addresses formatted); a text column
/// needs every row's text.
func sessionsTable(_ a: [SessionSample]?, _ b: [SessionSample]?, dt: Double, sort: SortState? = nil,
                   limit: Int? = nil) -> Table {
    let columns = [Column(title: "ID", width: 7, descending: false), Column(title: "PROTO", width: 6, leftAligned: true, descending: false),
                   Column(title: "SOURCE", width: 22, leftAligned: true, descending: false),
                   Column(title: "DESTINATION", width: 22, leftAligned: true, descending: false),
                   Column(title: "POLICY", width: 16, leftAligned: true, descending: false),
                   Column(title: "PKTS/s", width: 8), Column(title: "BITS/s", width: 8), Column(title: "PACKETS", width: 10),
                   Column(title: "BYTES", width: 12), Column(title: "AGE(s)", width: 7)]
    guard let b else { return Table(columns: columns, rows: [], footer: [Line(text: "(reading the session table at the next refresh)")]) }
    let before = Dictionary((a ?? []).map { ($0.key, $0) }, uniquingKeysWith: { x, _ in x })
    // The rates first, numbers only.
    var rated = b.map { s -> (s: SessionSample, pps: Double?, bps: Double?) in
        let prev = before[s.key]
        return (s, prev.map { perSecond($0.packets, s.packets, dt) }, prev.map { perSecond($0.bytes, s.bytes, dt) * bitsPerByte })
    }
    // Numeric columns (by index): the row's key without its text; the text columns are nil.
    func number(_ r: (s: SessionSample, pps: Double?, bps: Double?), _ column: Int) -> Double? {
        switch column {
        case 0: return Double(r.s.id)
        case 5: return r.pps ?? -1
        case 6: return r.bps ?? -1
        case 7: return Double(r.s.packets)
        case 8: return Double(r.s.bytes)
        case 9: return Double(r.s.ageS)
        default: return nil
        }
    }
    if let sort, let limit, rated.count > limit, let first = rated.first, number(first, sort.column) != nil {
        // Stable, as renderTable's sort: equal keys keep the table's order.
        rated = rated.enumerated().sorted { x, y in
            let (kx, ky) = (number(x.element, sort.column)!, number(y.element, sort.column)!)  // Safe: a numeric column
            if kx == ky { return x.offset < y.offset }
            return sort.descending ? ky < kx : kx < ky
        }.prefix(limit).map(\.element)
    }
    let rows = rated.map { r -> Row in
        let (s, source, destination) = (r.s, r.s.source, r.s.destination)
        return Row(cells: ["\(s.id)", s.proto, source, destination, s.policy, r.pps.map(human) ?? "-", r.bps.map(human) ?? "-",
                           "\(s.packets)", "\(s.bytes)", "\(s.ageS)"],
                   keys: [.number(Double(s.id)), .text(s.proto), .text(source), .text(destination), .text(s.policy),
                          .number(r.pps ?? -1), .number(r.bps ?? -1), .number(Double(s.packets)), .number(Double(s.bytes)),
                          .number(Double(s.ageS))])
    }
    return Table(columns: columns, rows: rows, footer: [Line(text: "\(b.count) sessions; the top \(topSessions) by the sorted column")])
}

/// Policies and filter terms: hits in the running bank and their rate.
func hitsTable(_ a: [HitSample]?, _ b: [HitSample]?, dt: Double) -> Table {
    let columns = [Column(title: "KIND", width: 7, leftAligned: true, descending: false),
                   Column(title: "SCOPE", width: 24, leftAligned: true, descending: false),
                   Column(title: "NAME", width: 24, leftAligned: true, descending: false),
                   Column(title: "ACTION", width: 7, leftAligned: true, descending: false),
                   Column(title: "HITS", width: 10), Column(title: "HITS/s", width: 8)]
    guard let b else { return Table(columns: columns, rows: [], footer: [Line(text: "(reading the counters at the next refresh)")]) }
    let before = Dictionary((a ?? []).map { ($0.key, $0.hits) }, uniquingKeysWith: { x, _ in x })
    let rows = b.map { h -> Row in
        let rate = before[h.key].map { perSecond($0, h.hits, dt) }
        return Row(cells: [h.kind.rawValue, h.scope, h.name, h.action, "\(h.hits)", rate.map(human) ?? "-"],
                   keys: [.text(h.kind.rawValue), .text(h.scope), .text(h.name), .text(h.action), .number(Double(h.hits)), .number(rate ?? -1)])
    }
    return Table(columns: columns, rows: rows, footer: [Line(text: "hits of the running policy epoch's bank (policies: first packets; filter terms and counters: packets)")])
}

/// The sort a view starts with.
func defaultSort(_ v: View) -> SortState {
    switch v {
    case .workers: return SortState(column: 0, descending: false)     // by queue
    case .interfaces: return SortState(column: 0, descending: false)  // by name
    case .drops: return SortState(column: 1, descending: true)        // by total
    case .sessions: return SortState(column: 5, descending: true)     // by packets per second
    case .policies: return SortState(column: 4, descending: true)     // by hits
    }
}

// MARK: - The interactive state and its keys

struct UIState {
    var view: View = .workers
    var sorts: [View: SortState] = Dictionary(uniqueKeysWithValues: View.allCases.map { ($0, defaultSort($0)) })
    var frozen = false
    var help = false
    var interval: Double

    static let minInterval = 0.1, maxInterval = 60.0, intervalStep = 2.0

    var sort: SortState { sorts[view] ?? defaultSort(view) }
}

enum KeyResult { case quit, redraw, ignored }

/// Applies one key to `ui`. `columns(view)` is how many columns the view's table has.
func handleKey(_ key: UInt8, _ ui: inout UIState, columns: (View) -> [Column]) -> KeyResult {
    let c = Character(Unicode.Scalar(key))
    if c == "q" { return .quit }
    if ui.help { ui.help = false; return .redraw }  // any other key leaves the help screen
    switch c {
    case "h", "?": ui.help = true
    case " ", "f": ui.frozen.toggle()
    case "+": ui.interval = min(ui.interval * UIState.intervalStep, UIState.maxInterval)
    case "-": ui.interval = max(ui.interval / UIState.intervalStep, UIState.minInterval)
    case "<", ">":
        let all = columns(ui.view)
        var s = ui.sort
        let next = s.column + (c == "<" ? -1 : 1)
        guard next >= 0 && next < all.count else { return .ignored }
        s.column = next
        s.descending = all[next].descending  // text columns A→Z, numbers biggest first
        ui.sorts[ui.view] = s
    case "r": ui.sorts[ui.view] = SortState(column: ui.sort.column, descending: !ui.sort.descending)
    default:
        guard let v = View.allCases.first(where: { $0.key == c }) else { return .ignored }
        ui.view = v
    }
    return .redraw
}

/// Every key of the live view, for the help screen and --help.
let keyHelp: [(keys: String, meaning: String)] = [
    ("q", "quit"),
    ("h ?", "this help (any key leaves it)"),
    ("space f", "freeze / unfreeze the display (the title says FROZEN)"),
    ("+ -", "refresh interval ×2 / ÷2 (0.1 s to 60 s)"),
    ("w", "workers view: per queue state, busy share, rates, rings, sparklines of RX pps and busy"),
    ("i", "interfaces view: rates, vector size, AF_XDP ring events"),
    ("d", "drop reasons view: total, rate, per queue"),
    ("s", "top \(topSessions) sessions by rate"),
    ("p", "policies and firewall filter terms by hits"),
    ("< >", "sort by the column left / right of the sorted one (marked ▼ ▲ in the header)"),
    ("r", "reverse the sort order"),
]

// MARK: - Frames

/// The title: xpfd, the view, the interval and FROZEN when frozen.
func titleLine(_ b: DataplaneStatus, ui: UIState?) -> Line {
    var t = "xpf-top — xpfd pid \(b.supervisorPid) \(b.supervisorAlive ? b.state : "NOT RUNNING"), generation \(b.generation), fib \(b.fibVersion), \(b.workers.count) workers, sessions \(sessionsActive(b))/\(b.sessionCapacity)"
    if let ui {
        t += " — \(ui.view.title), every \(formatSeconds(ui.interval))" + (ui.frozen ? " — FROZEN" : "") + " — h: help"
    }
    return Line(text: t, style: .title)
}

/// The lines of the live view: title, verdict, then the view's table or the help.
func frame(prev: Sample, cur: Sample, verdict: String, history: History, ui: UIState) -> [Line] {
    var lines = [titleLine(cur.status, ui: ui), Line(text: verdict, style: .title), Line(text: "")]
    if ui.help {
        lines.append(Line(text: "Keys", style: .header))
        lines += keyHelp.map { Line(text: pad($0.keys, 9, left: true) + $0.meaning) }
        return lines
    }
    let (a, b) = (prev.status, cur.status)
    let dt = interval(a, b)
    switch ui.view {
    case .workers: lines += renderTable(workersTable(a, b, history: history), sort: ui.sort)
    case .interfaces: lines += renderTable(interfacesTable(a, b), sort: ui.sort)
    case .drops: lines += renderTable(dropsTable(a, b), sort: ui.sort)
    case .sessions:
        lines += renderTable(sessionsTable(prev.sessions, cur.sessions, dt: dt, sort: ui.sort, limit: topSessions), sort: ui.sort,
                             limit: topSessions)
    case .policies: lines += renderTable(hitsTable(prev.hits, cur.hits, dt: dt), sort: ui.sort)
    }
    return lines
}

/// How many columns `v`'s table has over these samples (for `<` / `>`).
func viewColumns(_ v: View, prev: Sample, cur: Sample, history: History) -> [Column] {
    let (a, b) = (prev.status, cur.status)
    switch v {
    case .workers: return workersTable(a, b, history: history).columns
    case .interfaces: return interfacesTable(a, b).columns
    case .drops: return dropsTable(a, b).columns
    case .sessions: return sessionsTable(nil, nil, dt: 0).columns
    case .policies: return hitsTable(nil, nil, dt: 0).columns
    }
}

/// `lines` as terminal output: from the top left, each line clipped to `columns` and
/// cleared to its end, at most `rows` lines, the rest of the screen cleared; SGR colour
/// around styled lines when `colour`.
func compose(_ lines: [Line], columns: Int, rows: Int, colour: Bool) -> String {
    var out = Escape.home
    for (i, l) in lines.prefix(rows).enumerated() {
        let text = String(l.text.prefix(columns))
        if colour, let sgr = l.style.sgr { out += "\u{1B}[\(sgr)m" + text + "\u{1B}[0m" } else { out += text }
        out += Escape.clearToLineEnd + (i < min(lines.count, rows) - 1 ? "\n" : "")
    }
    return out + Escape.clearToScreenEnd
}

/// The text of `--once`: title, verdict, the workers table and its notes, interfaces.
func renderOnce(_ a: DataplaneStatus, _ b: DataplaneStatus, verdict: String) -> String {
    var lines = [titleLine(b, ui: nil), Line(text: verdict)]
    lines += renderTable(workersTable(a, b, history: nil), sort: nil)
    let dt = interval(a, b)
    for i in b.interfaces {
        let (rx, tx) = interfaceRates(a, b, i.slot, dt)
        lines.append(Line(text: "interface \(i.name): ifindex \(i.ifindex), XDP \(i.xdpMode), \(i.rxQueues) rx queues, rx \(human(rx)) pps, tx \(human(tx)) pps"))
    }
    return lines.map(\.text).joined(separator: "\n") + "\n"
}
