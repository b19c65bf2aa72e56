// xpf-worker: owns queue q on every dataplane interface (R-1.1). Started by xpfd with
// posix_spawn; never run by hand except for debugging.
//
//   xpf-worker --shm PATH --queue Q [--core C] [--node N] [--rx-ring N] [--tx-ring N]
//
// Exit codes: 0 stopped by SIGTERM; 1 runtime failure (xpfd restarts it);
// 2 configuration/ABI error (xpfd does not restart it).
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared

let usage = """
usage: xpf-worker --shm PATH --queue Q [--core C] [--node N] [--rx-ring N] [--tx-ring N]

The dataplane worker for queue Q of every interface named in the shared-memory
region PATH. Started and supervised by xpfd; exit code 2 means a configuration or
ABI error that a restart cannot fix.
"""

struct Options {
    var shm = ""
    var queue = -1
    var core = -1
    var node = -1
    var rxRing: UInt32 = 2048
    var txRing: UInt32 = 2048
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst().makeIterator()
    while let a = args.next() {
        func value() -> String {
            guard let v = args.next() else { fputs("xpf-worker: \(a) needs a value\n\(usage)\n", stderr); exit(2) }
            return v
        }
        func int() -> Int {
            let v = value()
            guard let n = Int(v) else { fputs("xpf-worker: \(a): '\(v)' is not a number\n", stderr); exit(2) }
            return n
        }
        switch a {
        case "--shm": o.shm = value()
        case "--queue": o.queue = int()
        case "--core": o.core = int()
        case "--node": o.node = int()
        case "--rx-ring": o.rxRing = UInt32(int())
        case "--tx-ring": o.txRing = UInt32(int())
        case "-h", "--help": print(usage); exit(0)
        default: fputs("xpf-worker: unknown option \(a)\n\(usage)\n", stderr); exit(2)
        }
    }
    if o.shm.isEmpty || o.queue < 0 { fputs(usage + "\n", stderr); exit(2) }
    return o
}

nonisolated(unsafe) var stopRequested: sig_atomic_t = 0

func fail(_ code: Int32, _ message: String) -> Never {
    logLine("xpf-worker", message)
    exit(code)
}

let opts = parseOptions()
let startNs = monotonicNanos()
var bindRetries = 0
// Die with the supervisor (R-1.8): if xpfd is gone, nobody would clean up after us.
let parentAtStart = getppid()
_ = xpf_set_pdeathsig(SIGTERM)
if getppid() != parentAtStart { exit(1) }
signal(SIGTERM) { _ in stopRequested = 1 }
signal(SIGINT) { _ in stopRequested = 1 }
// xpfd sends SIGUSR1 after publishing a generation: the signal interrupts poll()
// (never restarted), so an idle worker switches at once instead of after its timeout.
signal(SIGUSR1) { _ in }
xpf_quiet_libbpf()

// Pin to the core xpfd chose and prefer memory of its NUMA node (R-1.2).
if opts.core >= 0 {
    let r = xpf_pin_to_cpu(Int32(opts.core))
    if r != 0 { logLine("xpf-worker", "queue \(opts.queue): pinning to core \(opts.core) failed: \(SysError("sched_setaffinity", -r))") }
}
if opts.node >= 0 && numa_available() >= 0 { numa_set_preferred(Int32(opts.node)) }
/// The worker's nice value (setpriority below).
let workerNice: Int32 = -10
// The dataplane before housekeeping: on a core it shares with xpfd (whose event drain formats
// and writes every RT_FLOW line) or other ordinary tasks, the worker gets ~90 % of the core
// when both want it (nice 0 against -10 weighs 1 024 against 9 548), instead of half; what
// xpfd then cannot drain in time is dropped from the event ring and counted, never a packet.
// An idle worker sleeps in poll(), so xpfd is not starved. Root (xpfd's user) may lower nice.
if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, workerNice) != 0 {
    logLine("xpf-worker", "queue \(opts.queue): setpriority(\(workerNice)): \(SysError("setpriority", errno))")
}

let region: ShmRegion
do { region = try ShmRegion.attach(path: opts.shm, writable: true) } catch { fail(2, "\(error)") }
guard opts.queue < region.queues else { fail(2, "queue \(opts.queue) is not in the region (\(region.queues) queues)") }
let block = region.worker(opts.queue)
block.pointee.pid = getpid()
block.pointee.core = Int32(opts.core)
block.pointee.numa_node = Int32(opts.node)
block.pointee.started_ns = monotonicNanos()
xpf_store_relaxed_u64(xpf_wb_heartbeat(block), monotonicNanos())

// UMEM: this worker's slice of the region; one UMEM shared by its sockets on every
// interface, so forwarding moves a descriptor from one RX ring to another TX ring.
let hdr = region.header.pointee
let nIfaces = Int(hdr.n_ifaces)
let frameSize = Int(hdr.frame_size)
let frames = Int(hdr.umem_frames)
let (umemArea, umemSize) = region.umem(opts.queue)
let fillSize = opts.rxRing
var umem: Umem
do {
    umem = try Umem(area: umemArea, size: umemSize, frames: frames, frameSize: frameSize, fillSize: fillSize, compSize: opts.txRing)
} catch { fail(1, "queue \(opts.queue): \(error)") }

let xskmapFd = bpf_map_get_fd_by_id(hdr.xskmap_id)
if xskmapFd < 0 { fail(1, "queue \(opts.queue): cannot open xsks_map id \(hdr.xskmap_id): errno \(xpf_errno())") }

var ports: [Port] = []
for slot in 0..<nIfaces {
    let ifc = region.iface(slot)
    let name = stringFromCArray(ifc.name)
    let first = slot == 0
    var port = Port(slot: UInt8(slot), name: name,
                    fill: first ? umem.fill0 : .allocate(capacity: 1),
                    comp: first ? umem.comp0 : .allocate(capacity: 1))
    if !first { port.fill.initialize(to: xsk_ring_prod()); port.comp.initialize(to: xsk_ring_cons()) }
    var xsk: OpaquePointer?
    // After a predecessor was killed, the kernel releases its socket asynchronously and
    // the queue answers EBUSY for a moment: retry here (bounded) rather than exiting
    // into xpfd's restart backoff, so a restart completes well within a second (R-1.7).
    var r: Int32 = 0
    let bindDeadline = monotonicNanos() + 3_000_000_000
    repeat {
        r = xpf_xsk_create(&xsk, name, UInt32(opts.queue), umem.umem, port.rx, port.tx,
                           first ? nil : port.fill, first ? nil : port.comp, opts.rxRing, opts.txRing)
        if r != -EBUSY || stopRequested != 0 { break }
        bindRetries += 1
        usleep(5_000)
    } while monotonicNanos() < bindDeadline
    if r != 0 { fail(1, "queue \(opts.queue): AF_XDP socket on \(name): \(String(cString: strerror(-r)))") }
    port.xsk = xsk
    port.fd = xsk_socket__fd(xsk)
    // Register in the XDP program's XSKMAP: from now on the program redirects this
    // queue's transit traffic to us (until then it dropped it: fail closed).
    var key = UInt32(slot) * UInt32(XPF_MAX_QUEUES) + UInt32(opts.queue)
    var fd = port.fd
    if bpf_map_update_elem(xskmapFd, &key, &fd, 0) != 0 {
        fail(1, "queue \(opts.queue): registering \(name) in xsks_map failed: errno \(xpf_errno())")
    }
    ports.append(port)
}
close(xskmapFd)

// Split the frames: each fill ring gets up to half of its share, the rest stays free
// for frames in flight (TX, parked).
let fillTarget = UInt32(min(Int(fillSize), frames / (2 * max(nIfaces, 1))))
func refill(_ p: inout Port, _ want: UInt32) {
    let n = min(want, UInt32(umem.freeCount))
    if n == 0 { return }
    var idx: UInt32 = 0
    let got = xsk_ring_prod__reserve(p.fill, n, &idx)
    for i in 0..<got { xsk_ring_prod__fill_addr(p.fill, idx &+ i).pointee = umem.get() }
    xsk_ring_prod__submit(p.fill, got)
}
for i in 0..<ports.count { refill(&ports[i], fillTarget) }

// Session partition and pipeline state; what the loop does between batches
// (Worker/WorkerControl.swift) and the frames waiting for a neighbour (ParkQueue.swift).
var pipeline: Pipeline
var control: WorkerControl
do {
    let (p, configFollower, fibFollower) = try Pipeline.forWorker(region: region, queue: opts.queue)
    pipeline = p
    control = WorkerControl(region: region, queue: opts.queue, configFollower: configFollower, fibFollower: fibFollower)
} catch {
    fail(2, "queue \(opts.queue): \(error)")
}
var requests = RingProducer<xpf_neigh_request>(header: xpf_wb_req_ring(block), entries: xpf_wb_req_entries(block))
var parked = ParkQueue()

// Counters continue across restarts: start from what the last incarnation published
// (first making a sequence it left odd, killed mid-publication, even again).
var counters = WorkerCounters()
let resumed = WorkerStatsIO.resume(block)
counters.s = resumed.stats

// TX staging (Pipeline/Transmit.swift): per egress, up to one batch of descriptors plus
// the parked frames; a fuller egress is flushed into its TX ring first.
let batchMax = Int(hdr.batch_size_max)
var transmit = TransmitStaging(rings: ports.map { $0.tx }, capacity: batchMax + ParkQueue.capacity)

@inline(__always) func stage(_ egress: UInt8, _ addr: UInt64, _ len: UInt32) {
    transmit.stage(egress, addr: addr, len: len, counters: &counters) { umem.put($0) }
}

/// Copy-mode TX sends at most 32 descriptors per syscall and answers EAGAIN while
/// more are queued: kick every socket with descriptors outstanding (not only when
/// need_wakeup is set, or TX stalls), and keep kicking while the kernel says more are
/// queued — one kick per loop drains 32 while RX takes up to a batch, so the TX ring
/// would fill and drop. Bounded by what is outstanding. Returns whether it kicked or
/// completed anything (the pass moved packets: busy, for the saturation accounting).
func kickAndComplete() -> Bool {
    var moved = false
    for i in 0..<ports.count {
        if transmit.outstanding[i] > 0 {
            moved = true
            var kicks = transmit.outstanding[i] / 32 + 1
            while kicks > 0 {
                kicks -= 1
                counters.s.tx_kicks &+= 1
                if sendto(ports[i].fd, nil, 0, Int32(MSG_DONTWAIT), nil, 0) >= 0 { break }
                let e = xpf_errno()
                if e == EAGAIN || e == EBUSY { continue }  // more queued: send the next 32
                if e != ENOBUFS && e != ENETDOWN {
                    logLine("xpf-worker", "queue \(opts.queue): TX kick on \(ports[i].name): errno \(e)")
                }
                break
            }
        }
        var idx: UInt32 = 0
        let n = xsk_ring_cons__peek(ports[i].comp, UInt32(opts.txRing), &idx)
        if n > 0 {
            for k in 0..<n { umem.put(xsk_ring_cons__comp_addr(ports[i].comp, idx &+ k).pointee) }
            xsk_ring_cons__release(ports[i].comp, n)
            transmit.outstanding[i] &-= min(n, transmit.outstanding[i])
            moved = true
        }
    }
    return moved
}

/// A neighbour request to xpfd; a full ring counts the drop, and the frame still waits
/// for its deadline.
func ask(_ r: xpf_neigh_request) { requests.push(r) }

// Ready: tell xpfd and the tools (release: everything above happened before RUNNING).
xpf_store_release_u32(xpf_wb_state(block), UInt32(XPF_WORKER_RUNNING.rawValue))
logLine("xpf-worker", "queue \(opts.queue) running on core \(opts.core), node \(opts.node), \(nIfaces) interfaces, generation \(pipeline.generation); started in \((monotonicNanos() - startNs) / 1_000_000) ms\(bindRetries > 0 ? ", \(bindRetries) bind retries while the old socket was released" : "")")

// The kernel's XDP_STATISTICS per socket (RX ring full, fill ring empty, …), read and
// published every publishIntervalNs (their own seqlock: a pass with work does not copy
// them), on top of what earlier incarnations of this worker published (a new socket counts
// from zero).
let socketBase = resumed.socket
var socketCounts = socketBase
var lastSocketStatsNs: UInt64 = 0
var socketStats = [UInt64](repeating: 0, count: Int(XPF_XSK_STATS.rawValue))
// The scheduler's view of this thread, read with them (SchedStat.swift): time on a CPU and
// time waiting for one, which the loop's clock cannot tell from sleep after a wake-up.
let schedFd = open(SchedStat.path, O_RDONLY | O_CLOEXEC)
if schedFd < 0 { logLine("xpf-worker", "queue \(opts.queue): \(SchedStat.path): \(SysError("open", xpf_errno())); no CPU-wait accounting") }
func readSocketStatistics() {
    if let s = SchedStat.read(schedFd) {
        socketCounts.sched_run_ns = socketBase.sched_run_ns &+ s.run
        socketCounts.sched_wait_ns = socketBase.sched_wait_ns &+ s.wait
        socketCounts.sched_sampled_ns = monotonicNanos()
    }
    for pi in 0..<ports.count {
        guard socketStats.withUnsafeMutableBufferPointer({ xpf_xsk_statistics(ports[pi].fd, $0.baseAddress) }) == 0 else { continue }
        func add<T>(_ field: WritableKeyPath<xpf_worker_socket_stats, T>, _ stat: xpf_xsk_stat) {
            WorkerCounters.set(&socketCounts[keyPath: field], pi,
                               WorkerCounters.get(socketBase[keyPath: field], pi) &+ socketStats[Int(stat.rawValue)])
        }
        add(\.rx_ring_full, XPF_XSK_RX_RING_FULL)
        add(\.fill_ring_empty, XPF_XSK_FILL_RING_EMPTY)
        add(\.rx_dropped, XPF_XSK_RX_DROPPED)
        add(\.tx_ring_empty, XPF_XSK_TX_RING_EMPTY)
    }
    WorkerStatsIO.publishSocket(block, &socketCounts)
}

let rxDescs = UnsafeMutablePointer<xdp_desc>.allocate(capacity: batchMax)
let actions = UnsafeMutablePointer<PacketAction>.allocate(capacity: batchMax)
let parkRequests = UnsafeMutablePointer<ParkRequest>.allocate(capacity: batchMax)  // set where actions say .park
parkRequests.initialize(repeating: ParkRequest(), count: batchMax)
let pollFds = UnsafeMutablePointer<pollfd>.allocate(capacity: ports.count)
for i in 0..<ports.count { pollFds[i] = pollfd(fd: ports[i].fd, events: Int16(POLLIN), revents: 0) }

while stopRequested == 0 {
    let now = monotonicNanos()
    let nowMs = UInt32(truncatingIfNeeded: now / 1_000_000)
    let fibChanged = control.beginPass(now: now, realtimeNs: realtimeNanos(), pipeline: &pipeline, counters: &counters)
    let batch = UInt32(max(1, min(Int(pipeline.config.pointee.batch_size), batchMax)))

    var work: UInt32 = 0
    for pi in 0..<ports.count {
        var idx: UInt32 = 0
        // Gauge: RX descriptors waiting before we take a batch (ring occupancy in xpf-top).
        WorkerCounters.set(&counters.s.rx_ring_used, pi, xsk_cons_nb_avail(ports[pi].rx, opts.rxRing))
        let n = xsk_ring_cons__peek(ports[pi].rx, batch, &idx)
        if n == 0 { continue }
        work &+= n
        WorkerCounters.add(&counters.s.if_rx_packets, pi, UInt64(n))
        WorkerCounters.add(&counters.s.if_batches, pi, 1)
        // Copy the descriptors out of the ring (it may wrap), then run the batch.
        for k in 0..<Int(n) { rxDescs[k] = xsk_ring_cons__rx_desc(ports[pi].rx, idx &+ UInt32(k))!.pointee }
        xsk_ring_cons__release(ports[pi].rx, n)
        pipeline.processBatch(umem: umem.area, descs: rxDescs, count: Int(n), ingress: ports[pi].slot,
                              counters: &counters, actions: actions, parks: parkRequests)
        for k in 0..<Int(n) {
            let a = actions[k]
            let addr = rxDescs[k].addr, len = rxDescs[k].len
            switch a.kind {
            case .transmit: stage(a.egress, addr, a.length != 0 ? a.length : len)
            case .drop: umem.put(addr); counters.drop(a.reason)
            case .park:
                parked.park(addr: addr, len: len, egress: a.egress, ingress: ports[pi].slot, request: parkRequests[k],
                            nowMs: nowMs, holdMs: pipeline.config.pointee.neigh_hold_ms, counters: &counters,
                            free: { umem.put($0) }, ask: ask)
            }
        }
    }
    if parked.count > 0 && (fibChanged || work == 0 || work < batch) {
        parked.service(nowMs: nowMs, pipeline: &pipeline, umem: umem.area, counters: &counters,
                       stage: stage, free: { umem.put($0) }, ask: ask)
    }
    transmit.flushAll(counters: &counters) { umem.put($0) }
    let txWork = kickAndComplete()
    for pi in 0..<ports.count {
        // Top the fill ring up to its target occupancy (frames the kernel may fill).
        let occupied = fillSize &- xsk_prod_nb_free(ports[pi].fill, fillSize)
        if occupied < fillTarget { refill(&ports[pi], fillTarget &- occupied) }
        WorkerCounters.set(&counters.s.fill_ring_used, pi, fillSize &- xsk_prod_nb_free(ports[pi].fill, fillSize))
        WorkerCounters.set(&counters.s.tx_ring_used, pi, transmit.outstanding[pi])
        if xsk_ring_prod__needs_wakeup(ports[pi].fill) != 0 {
            recvfrom(ports[pi].fd, nil, 0, Int32(MSG_DONTWAIT), nil, nil)
        }
    }
    if now &- lastSocketStatsNs > WorkerControl.publishIntervalNs {
        lastSocketStatsNs = now
        readSocketStatistics()
    }
    control.endPass(now: now, work: work, txWork: txWork, pipeline: &pipeline, counters: &counters)
    // Idle: sleep in poll() unless busy-poll is set (WorkerControl.idleSleep). Short
    // timeout while frames wait for TX completion or neighbours, 100 ms otherwise.
    var outstanding = false
    for pi in 0..<ports.count where transmit.outstanding[pi] > 0 { outstanding = true }
    if let timeout = control.idleSleep(work: work, txOutstanding: outstanding, parked: parked.count, pipeline: &pipeline) {
        counters.s.polls &+= 1
        let sleepStart = monotonicNanos()  // idle passes only: the sleep, measured
        _ = poll(pollFds, nfds_t(ports.count), timeout)
        control.slept(monotonicNanos() &- sleepStart)
    }
}

// Orderly stop: the sockets' last statistics (the kernel's counts die with them), then
// unregister (closing the socket removes it from the XSKMAP).
readSocketStatistics()
for p in ports { xsk_socket__delete(p.xsk) }
xsk_umem__delete(umem.umem)
WorkerStatsIO.publish(block, &counters.s)
logLine("xpf-worker", "queue \(opts.queue) stopped")
exit(0)
