// xpfd's side of the BPF programs' host-inbound and junos-host tables (R-5.4; layout, banks
// and rules in xpf_bpf_abi.h): per interface slot one `HostInboundTable` and two
// `JunosHostTable`s (to junos-host for the XDP program, from junos-host for the TC egress
// one), and the firewall filters on host-bound traffic (`HostFilterMap`), rewritten at
// start and on every commit.
#if canImport(Glibc)
import Glibc
#endif
import CXPF
import Shared

final class HostInboundMap {
    let tablesFd: Int32
    let junosHostFd: Int32
    let junosHostOutFd: Int32
    let bankFd: Int32
    /// The firewall filters on host-bound traffic, in the same banks.
    let filters: HostFilterMap
    /// Dataplane interfaces: slot i is model interface i (both in `system dataplane
    /// interfaces` order); slots beyond them stay "in no zone".
    let interfaceCount: Int
    /// The bank the program reads. The map starts zeroed: bank 0, every slot in no zone,
    /// so nothing host-bound passes before the first `install`.
    private(set) var bank: UInt32 = 0
    static let portRangePath = "/proc/sys/net/ipv4/ip_local_port_range"

    init(tablesFd: Int32, junosHostFd: Int32, junosHostOutFd: Int32, bankFd: Int32, filters: HostFilterMap,
         interfaceCount: Int) {
        self.filters = filters
        self.tablesFd = tablesFd
        self.junosHostFd = junosHostFd
        self.junosHostOutFd = junosHostOutFd
        self.bankFd = bankFd
        self.interfaceCount = interfaceCount
    }

    /// Writes every slot of the bank the program does not read in every map, then switches
    /// the program to it (one 4-byte value): a packet is checked against one
    /// configuration's tables whole (host-inbound entries, junos-host policies and
    /// host-bound filters together), never against a table half rewritten. `hostFilters`
    /// was computed from `view`, the snapshot of `model` about to be published. Only xpfd writes, one install at a
    /// time, so the other bank is never read while it is written except by a packet that
    /// looked the bank up before the previous switch — an XDP run of microseconds, against
    /// commits milliseconds apart.
    func install(_ model: ConfigModel, hostFilters: HostFilterTable, view: ConfigSnapshotView) throws {
        let replyPorts = try Self.replyPorts()
        let next = (bank + 1) % UInt32(XPF_HOST_INBOUND_BANKS)
        try filters.install(hostFilters, view: view, bank: next)
        for slot in 0..<Int(XPF_MAX_IFACES) {
            let table = slot < interfaceCount ? HostInboundTable.forInterface(slot, of: model, replyPorts: replyPorts)
                : HostInboundTable(nil, replyPorts: replyPorts)
            var key = next * UInt32(XPF_MAX_IFACES) + UInt32(slot)
            var value = table.record
            if bpf_map_update_elem(tablesFd, &key, &value, 0) != 0 { throw SysError("host_inbound update", xpf_errno()) }
            // Slots past the dataplane interfaces stay without policies (no traffic uses them).
            var policies = slot < interfaceCount ? JunosHostTable.forInterface(slot, of: model, .toHost).record : xpf_junos_host()
            if bpf_map_update_elem(junosHostFd, &key, &policies, 0) != 0 { throw SysError("junos_host update", xpf_errno()) }
            var outbound = slot < interfaceCount ? JunosHostTable.forInterface(slot, of: model, .fromHost).record : xpf_junos_host()
            if bpf_map_update_elem(junosHostOutFd, &key, &outbound, 0) != 0 { throw SysError("junos_host_out update", xpf_errno()) }
        }
        var zero: UInt32 = 0
        var value = next
        if bpf_map_update_elem(bankFd, &zero, &value, 0) != 0 { throw SysError("host_inbound_bank update", xpf_errno()) }
        bank = next
    }

    /// The kernel's ephemeral ports (`net.ipv4.ip_local_port_range`, which IPv6 uses too)
    /// in xpfd's network namespace: where replies to the box's own connections arrive.
    static func replyPorts() throws -> ClosedRange<UInt16> {
        guard let text = readWholeFile(portRangePath) else {
            throw XPFError("cannot read \(portRangePath): \(String(cString: strerror(xpf_errno())))")
        }
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { UInt16($0) }
        guard fields.count == 2, fields[0] <= fields[1] else { throw XPFError("\(portRangePath): unexpected contents '\(text)'") }
        return fields[0]...fields[1]
    }
}
