// xpf-testhelper: a stand-in worker process for cross-process tests of the shared
// session table (Tests/SharedTests/SessionTableTests.swift). Not installed, not used
// by xpf itself.
//
//   xpf-testhelper sessions PATH Q N K
//   xpf-testhelper ring PATH Q M
//   xpf-testhelper storm PATH Q N SEED SECONDS
//
// storm: the crash tests' session owner (SessionTableCrashTests). Attaches as partition
// Q of N, which repairs whatever a killed predecessor left (SessionPartition.init),
// stores its pid and RUNNING in worker block Q (release: the repair happened before),
// then inserts (after a lookup miss, as the pipeline does) and removes random sessions
// — 60 % inserts, so the partition fills and refused inserts happen too — until it is
// killed or SECONDS pass. After each operation it adds to the block's sessions_created
// / sessions_closed and stores the operation count as its heartbeat (the checker's
// "owner moved on" signal: an operation never spans two heartbeats).
//
// ring: pushes M neighbour requests (ifindex = sequence number, reserved2 = i * φ64)
// into worker Q's request ring, retrying (and counting) while the ring is full.
//
// sessions:
// attaches to the region at PATH as partition Q of N (the region must have N queues),
// and runs these phases, each ended by a barrier on the worker blocks' `state` words
// (this test's private use of them: no xpfd runs on a test region):
//   1. state := STARTING; wait until every block is STARTING or later.
//   2. insert K sessions with keys derived from Q (sessionKey below), looking up other
//      partitions' keys as it goes (concurrent readers while others insert);
//      state := RUNNING; wait until every block is RUNNING or later.
//   3. look up every partition's keys in both directions; check each hit is in the
//      owner's partition and carries the right owner; state := EXITED; wait for every
//      block (no process removes anything while another still looks up);
//   4. remove own keys with an even number; state := FAILED (here: "removed"); wait.
//   5. look up every other partition's keys: even ones must be gone, odd ones found.
// Prints `name=value` lines; exit 0 when it ran to the end (the test judges the
// numbers), 2 on usage/attach errors, 3 when a barrier timed out.
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared

/// The key of session `i` of partition `q`. Every fourth key is IPv6, the rest IPv4
/// UDP. Keep in sync with `CrossProcessKeys.key` in SessionTableTests.swift.
func sessionKey(q: Int, i: Int) -> FlowKey {
    var k = FlowKey()
    k.proto = 17
    let src = 0x0A00_0000 | UInt32(q & 0xFF) << 16 | UInt32(i & 0xFFFF)
    let dst = 0xC0A8_0000 | UInt32((i >> 16) & 0xFFFF)
    if i % 4 == 3 {
        k.family = 6
        withUnsafeMutableBytes(of: &k.tuple.src) {
            $0.storeBytes(of: UInt32(0xFD00_0000).bigEndian, as: UInt32.self)
            $0.storeBytes(of: src.bigEndian, toByteOffset: 12, as: UInt32.self)
        }
        withUnsafeMutableBytes(of: &k.tuple.dst) {
            $0.storeBytes(of: UInt32(0xFD00_0001).bigEndian, as: UInt32.self)
            $0.storeBytes(of: dst.bigEndian, toByteOffset: 12, as: UInt32.self)
        }
    } else {
        k.family = 4
        withUnsafeMutableBytes(of: &k.tuple.src) { $0.storeBytes(of: src.bigEndian, as: UInt32.self) }
        withUnsafeMutableBytes(of: &k.tuple.dst) { $0.storeBytes(of: dst.bigEndian, as: UInt32.self) }
    }
    k.tuple.sport = UInt16(1024 + i % 50000).bigEndian
    k.tuple.dport = UInt16(53 + q).bigEndian
    return k
}

func reversed(_ k: FlowKey) -> FlowKey {
    var r = k
    r.tuple.src = k.tuple.dst
    r.tuple.dst = k.tuple.src
    r.tuple.sport = k.tuple.dport
    r.tuple.dport = k.tuple.sport
    return r
}

func die(_ code: Int32, _ message: String) -> Never {
    fputs("xpf-testhelper: \(message)\n", stderr)
    exit(code)
}

let args = Array(CommandLine.arguments.dropFirst())

// Ring mode: the producer side of worker Q's request ring, in its own process.
if args.count == 4, args[0] == "ring", let q = Int(args[2]), let m = Int(args[3]) {
    let region: ShmRegion
    do { region = try ShmRegion.attach(path: args[1], writable: true) } catch { die(2, "\(error)") }
    guard q >= 0, q < region.queues else { die(2, "no queue \(q)") }
    let block = region.worker(q)
    var producer = RingProducer<xpf_neigh_request>(header: xpf_wb_req_ring(block), entries: xpf_wb_req_entries(block))
    var refused = 0
    let deadline = monotonicNanos() + 60_000_000_000
    for i in 0..<m {
        var r = xpf_neigh_request()
        r.family = 4
        r.iface_slot = UInt8(truncatingIfNeeded: i)
        r.ifindex = UInt32(truncatingIfNeeded: i)
        r.reserved2 = UInt64(i) &* 0x9E37_79B9_7F4A_7C15
        while !producer.push(r) {
            refused += 1
            if monotonicNanos() > deadline { die(3, "consumer stalled at \(i)") }
            sched_yield()
        }
    }
    print("pushed=\(m)")
    print("refused=\(refused)")
    print("done=1")
    exit(0)
}

// Storm mode: see the header.
if args.count == 6, args[0] == "storm", let q = Int(args[2]), let n = Int(args[3]), let seed = UInt64(args[4]),
   let seconds = Double(args[5]), n > 0, q >= 0, q < n {
    _ = xpf_set_pdeathsig(SIGKILL)  // never outlive the test
    let region: ShmRegion
    do { region = try ShmRegion.attach(path: args[1], writable: true) } catch { die(2, "\(error)") }
    guard region.queues == n else { die(2, "region has \(region.queues) queues, not \(n)") }
    let block = region.worker(q)
    var partition = SessionPartition(table: region.sessionTable, queue: q, queues: n)
    let table = partition.table
    block.pointee.pid = getpid()
    xpf_store_release_u32(xpf_wb_state(block), UInt32(XPF_WORKER_RUNNING.rawValue))
    func statsCounter(_ field: KeyPath<xpf_worker_block, UInt64>) -> UnsafeMutablePointer<UInt64> {
        // Safe: a field of this worker block, inside the mapped region.
        (UnsafeMutableRawPointer(block) + MemoryLayout<xpf_worker_block>.offset(of: field)!).assumingMemoryBound(to: UInt64.self)
    }
    let created = statsCounter(\xpf_worker_block.stats.sessions_created)
    let closed = statsCounter(\xpf_worker_block.stats.sessions_closed)
    var rng = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    func next() -> UInt64 {  // SplitMix64
        rng &+= 0x9E37_79B9_7F4A_7C15
        var z = rng
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    let insertPercent: UInt64 = 60
    var live = (partition.first..<(partition.first + partition.count)).filter {
        xpf_sess_load_state(table.records + $0) & 3 == UInt32(XPF_SESS_LIVE.rawValue)
    }
    let deadline = monotonicNanos() + UInt64(seconds * 1e9)
    var ops: UInt64 = 0
    while ops & 1023 != 0 || monotonicNanos() < deadline {
        if live.isEmpty || next() % 100 < insertPercent {
            let r = next()
            var k = sessionKey(q: Int(truncatingIfNeeded: r >> 48) & 0xFF, i: Int(truncatingIfNeeded: r & 0xFFFF_FFFF))
            k.proto = r & (1 << 40) == 0 ? 17 : 6
            if table.lookup(&k) == nil,
               let idx = partition.insert(forward: &k, reverse: reversed(k).tuple, generation: 1, nowMs: UInt32(truncatingIfNeeded: ops),
                                          ifIn: 0, ifOut: 0, tcpState: 0) {
                live.append(idx)
                _ = xpf_fetch_add_relaxed_u64(created, 1)
            }
        } else {
            let j = Int(next() % UInt64(live.count))
            live.swapAt(j, live.count - 1)
            partition.remove(live.removeLast())
            _ = xpf_fetch_add_relaxed_u64(closed, 1)
        }
        ops += 1
        xpf_store_relaxed_u64(xpf_wb_heartbeat(block), ops)
    }
    print("ops=\(ops)")
    print("done=1")
    exit(0)
}

guard args.count == 5, args[0] == "sessions", let q = Int(args[2]), let n = Int(args[3]), let count = Int(args[4]),
      n > 0, q >= 0, q < n, count >= 0 else {
    die(2, "usage: xpf-testhelper sessions PATH Q N K | xpf-testhelper ring PATH Q M")
}
let region: ShmRegion
do { region = try ShmRegion.attach(path: args[1], writable: true) } catch { die(2, "\(error)") }
guard region.queues == n else { die(2, "region has \(region.queues) queues, not \(n)") }

let block = region.worker(q)
block.pointee.pid = getpid()

/// Publishes our phase and waits (up to 30 s) until every block has reached it.
func barrier(_ state: xpf_worker_state) {
    xpf_store_release_u32(xpf_wb_state(block), UInt32(state.rawValue))
    let deadline = monotonicNanos() + 30_000_000_000
    for other in 0..<n {
        while xpf_load_acquire_u32(xpf_wb_state(region.worker(other))) < UInt32(state.rawValue) {
            if monotonicNanos() > deadline { die(3, "timed out waiting for queue \(other) to reach state \(state.rawValue)") }
            usleep(200)
        }
    }
}

var partition = SessionPartition(table: region.sessionTable, queue: q, queues: n)
let table = partition.table
print("partition_first=\(partition.first)")
print("partition_count=\(partition.count)")
print("live_at_start=\(partition.liveCount)")

// 1.
barrier(XPF_WORKER_STARTING)

// 2. Insert, with concurrent lookups of whatever the others have inserted so far.
var indices = [Int](repeating: -1, count: count)
var insertFailed = 0
var peeksFound = 0
for i in 0..<count {
    var k = sessionKey(q: q, i: i)
    if let idx = partition.insert(forward: &k, reverse: reversed(k).tuple, generation: 1, nowMs: 1000,
                                  ifIn: UInt8(q), ifOut: UInt8(q), tcpState: 0) {
        indices[i] = idx
    } else {
        insertFailed += 1
    }
    if i % 8 == 0 {
        var o = sessionKey(q: (q + 1) % n, i: i)
        if table.lookup(&o) != nil { peeksFound += 1 }
    }
}
print("inserted=\(count - insertFailed)")
print("insert_failed=\(insertFailed)")
print("outside_partition=\(indices.filter { $0 >= 0 && ($0 < partition.first || $0 >= partition.first + partition.count) }.count)")
print("own_distinct=\(Set(indices.filter { $0 >= 0 }).count)")
print("min_index=\(indices.min() ?? -1)")
print("max_index=\(indices.max() ?? -1)")
print("peeks_found=\(peeksFound)")
barrier(XPF_WORKER_RUNNING)

// 3. Every partition's keys, both directions.
var foundOwn = 0, foundOther = 0, wrongPlace = 0, wrongDirection = 0
let per = table.capacity / n
for p in 0..<n {
    for i in 0..<count {
        var f = sessionKey(q: p, i: i)
        var r = reversed(f)
        guard let hf = table.lookup(&f), let hr = table.lookup(&r) else { continue }
        if hf.direction != 0 || hr.direction != 1 { wrongDirection += 1 }
        if hf.index != hr.index || hf.index / per != p || table.owner(of: hf.index, queues: n) != p { wrongPlace += 1 }
        if p == q { foundOwn += 1 } else { foundOther += 1 }
    }
}
print("found_own=\(foundOwn)")
print("found_other=\(foundOther)")
print("wrong_place=\(wrongPlace)")
print("wrong_direction=\(wrongDirection)")
barrier(XPF_WORKER_EXITED)

// 4. Remove half of our own.
var removed = 0
for i in stride(from: 0, to: count, by: 2) where indices[i] >= 0 {
    partition.remove(indices[i])
    removed += 1
}
print("removed=\(removed)")
barrier(XPF_WORKER_FAILED)  // the next state value, used as "removed" by this private protocol

// 5. The others' removals are visible here.
var goneOther = 0, keptOther = 0
for p in 0..<n where p != q {
    for i in 0..<count {
        var f = sessionKey(q: p, i: i)
        var r = reversed(f)
        let present = table.lookup(&f) != nil || table.lookup(&r) != nil
        if i % 2 == 0 { if !present { goneOther += 1 } } else if present { keptOther += 1 }
    }
}
print("gone_other=\(goneOther)")
print("kept_other=\(keptOther)")
print("live_at_end=\(partition.liveCount)")
print("done=1")
