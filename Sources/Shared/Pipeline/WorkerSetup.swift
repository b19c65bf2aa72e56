// How a worker's pipeline is built from the region: egress interface table from the
// header, followers on the published configuration and FIB words, the session
// partition of its queue. xpf-worker, the benchmark and the tests all build it here,
// so what is measured and tested is what forwards packets.
import CXPF

extension Pipeline {
    /// Throws when the published configuration snapshot does not validate (xpfd
    /// validates before publishing, so this means corruption or mismatched builds).
    /// Queue `queue`'s session partition for its new owner (a worker, or xpfd's keeper):
    /// the scan repairs the record a killed predecessor left mid-insert or mid-remove
    /// (BUSY), said in the log under `logName`.
    public static func takePartition(region: ShmRegion, queue: Int, logName: String) -> SessionPartition {
        let partition = SessionPartition(table: region.sessionTable, queue: queue, queues: region.queues)
        if partition.recovered > 0 {
            logLine(logName, "queue \(queue): repaired \(partition.recovered) session record(s) a killed predecessor left mid-operation")
        }
        return partition
    }

    /// `logName`: the program its log lines name (xpfd when it keeps a partition).
    public static func forWorker(region: ShmRegion, queue: Int, logName: String = "xpf-worker") throws
        -> (pipeline: Pipeline, config: SnapshotFollower, fib: SnapshotFollower) {
        let block = region.worker(queue)
        let nIfaces = region.interfaceCount
        // Lives as long as the worker process: the pipeline keeps a pointer to it.
        let egress = UnsafeMutablePointer<EgressInterface>.allocate(capacity: Int(XPF_MAX_IFACES))
        egress.initialize(repeating: EgressInterface(), count: Int(XPF_MAX_IFACES))
        for slot in 0..<nIfaces {
            let ifc = region.iface(slot)
            egress[slot].ifindex = ifc.ifindex
            egress[slot].mac = ifc.mac
            egress[slot].mtu = ifc.mtu == 0 ? 1500 : ifc.mtu
        }
        var config = SnapshotFollower(word: region.configCurrentWord, seen: xpf_wb_config_seen(block))
        var fib = SnapshotFollower(word: region.fibCurrentWord, seen: xpf_wb_fib_seen(block))
        guard let cfgSlot = config.peek() else { throw XPFError("no configuration has been published") }
        do { try region.configView(slot: cfgSlot).validate() } catch {
            throw XPFError("configuration generation \(config.pendingGeneration) is invalid: \(error)")
        }
        config.acknowledge()
        let fibSlot = fib.poll() ?? region.current(.fib).slot
        let partition = takePartition(region: region, queue: queue, logName: logName)
        var events = EventEmitter(block: block, queue: queue)
        events.configure(region.configView(slot: cfgSlot), nowMs: UInt32(truncatingIfNeeded: monotonicNanos() / 1_000_000))
        let p = Pipeline(
            partition: partition,
            config: region.configSlot(cfgSlot), generation: config.generation,
            fib: FIBView(region.fibSlot(fibSlot)), interfaces: egress, interfaceCount: nIfaces,
            events: events, exceptions: ExceptionLog(block: block), policyHits: region.policyHits(queue),
            filterHits: region.filterHits(queue), policers: region.policerBuckets,
            trace: PacketTracer(block: block))
        return (p, config, fib)
    }
}
