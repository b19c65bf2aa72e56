// Dataplane interfaces as the kernel reports them (sysfs), resolved once at start.
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared

struct InterfaceInfo {
    var name: String
    var ifindex: UInt32
    var mac: [UInt8]
    var mtu: Int
    var rxQueues: Int
    var numaNode: Int   // -1: none (veth, VMs)

    static func resolve(_ name: String) throws -> InterfaceInfo {
        let idx = if_nametoindex(name)
        guard idx != 0 else {
            throw XPFError("interface \(name) does not exist in this network namespace (system dataplane interfaces)")
        }
        let base = "/sys/class/net/\(name)"
        let macText = readWholeFile("\(base)/address")?.trimmingWhitespace() ?? ""
        let mac = macText.split(separator: ":").compactMap { UInt8($0, radix: 16) }
        guard mac.count == 6 else { throw XPFError("interface \(name) has no Ethernet address (\(macText))") }
        let mtu = Int(readWholeFile("\(base)/mtu")?.trimmingWhitespace() ?? "") ?? 1500
        let rxq = countRxQueues(base)
        let node = Int(readWholeFile("\(base)/device/numa_node")?.trimmingWhitespace() ?? "") ?? -1
        return InterfaceInfo(name: name, ifindex: idx, mac: mac, mtu: mtu, rxQueues: max(rxq, 1), numaNode: node)
    }

    private static func countRxQueues(_ base: String) -> Int {
        guard let d = opendir("\(base)/queues") else { return 1 }
        defer { closedir(d) }
        var n = 0
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix("rx-") { n += 1 }
        }
        return n
    }
}

/// Where each queue's worker runs: CPUs of the NIC's NUMA node when it has
/// one, otherwise the allowed CPU set, round-robin.
func planCores(queues: Int, numaNode: Int) -> [(core: Int, node: Int)] {
    var buf = [Int32](repeating: 0, count: 1024)
    var cpus: [Int] = []
    var node = -1
    if numaNode >= 0 {
        let n = buf.withUnsafeMutableBufferPointer { xpf_node_cpus(Int32(numaNode), $0.baseAddress, 1024) }
        if n > 0 { cpus = buf.prefix(Int(n)).map(Int.init); node = numaNode }
    }
    if cpus.isEmpty {
        let n = buf.withUnsafeMutableBufferPointer { xpf_allowed_cpus($0.baseAddress, 1024) }
        cpus = n > 0 ? buf.prefix(Int(n)).map(Int.init) : [0]
    }
    return (0..<queues).map { (cpus[$0 % cpus.count], node) }
}
