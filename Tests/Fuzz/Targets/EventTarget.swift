// Fuzz target `events`: the event codec on the supervisor side. Arbitrary bytes become
// one event ring entry (zero-padded to the 192-byte record), are read the way xpfd reads
// them (EventNames.record resolves indices against a configuration with zones and a
// policy; unknown types yield nothing) and formatted in the line forms sent to hosts and
// sockets (structured, brief structured, legacy with PRI). Invariants: no line break or
// NUL inside a line, a `<PRI>` first, and the RFC 5424 header `<PRI>1 ` on the
// structured forms.
import CXPF
import Shared

enum EventTarget {
    static let configText = """
    system { host-name fuzz; dataplane { interfaces [ fw0 fw1 ]; } }
    security { zones { security-zone trust { interfaces { fw0.0; } } security-zone untrust { interfaces { fw1.0; } } }
      policies { from-zone trust to-zone untrust { policy allow-all {
        match { source-address any; destination-address any; application any; } then { permit; } } } } }
    """
    static let names: EventNames = {
        var n = EventNames(hostName: "fuzz", interfaces: ["fw0", "fw1"])
        // Safe to force: a fixed configuration the seeds replay in the unit suite.
        n.adopt(generation: 1, model: try! ConfigModel.load(text: configText, file: "events-fuzz").1)
        return n
    }()
    nonisolated(unsafe) static let formatter = RTFlowFormatter()
    nonisolated(unsafe) static let line = SyslogLineBuffer()
    static let newline: UInt8 = 0x0A, carriageReturn: UInt8 = 0x0D, nul: UInt8 = 0

    static func run(_ data: UnsafeRawBufferPointer) -> String? {
        var e = xpf_event()
        withUnsafeMutableBytes(of: &e) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: data.prefix(dst.count)))
        }
        guard let r = withUnsafePointer(to: &e, { names.record($0) }) else { return nil }
        for form in 0..<3 {
            line.reset()
            switch form {
            case 0: formatter.appendStructured(r, brief: false, to: line)
            case 1: formatter.appendStructured(r, brief: true, to: line)
            default: formatter.appendLegacy(r, withPriority: true, to: line)
            }
            let b = line.bytes
            if b.contains(where: { $0 == newline || $0 == carriageReturn || $0 == nul }) {
                return "form \(form): a line break or NUL inside the line"
            }
            guard b.first == UInt8(ascii: "<") else { return "form \(form): no <PRI>" }
            if form < 2, !b.starts(with: Array("<\(r.kind.priority)>1 ".utf8)) { return "form \(form): header is not <PRI>1" }
        }
        return nil
    }

    /// One real record of every flow kind (create, close, deny, table full) and one of an
    /// unknown type.
    static var seeds: [[UInt8]] {
        func event(_ type: xpf_event_type, _ fill: (inout xpf_event_flow) -> Void) -> [UInt8] {
            var e = xpf_event()
            e.hdr.type = UInt8(type.rawValue)
            e.hdr.length = UInt32(flowEventLength)
            e.hdr.sequence = 1
            var f = xpf_event_flow()
            f.realtime_ns = 1_796_000_000_123_000_000
            f.family = 4; f.proto = 17; f.if_in = 0; f.if_out = 1; f.generation = 1
            f.policy = 0; f.from_zone = .max; f.to_zone = .max; f.session_id = 7
            f.fwd.src = SeedAddress.v4(10, 10, 1, 2); f.fwd.dst = SeedAddress.v4(10, 10, 2, 2)
            f.fwd.sport = UInt16(40000).bigEndian; f.fwd.dport = UInt16(5001).bigEndian
            f.nat = f.fwd
            fill(&f)
            withUnsafeMutableBytes(of: &e.u) { u in withUnsafeBytes(of: f) { u.copyMemory(from: $0) } }
            return withUnsafeBytes(of: e) { Array($0) }
        }
        return [
            event(XPF_EV_SESSION_CREATE) { _ in },
            event(XPF_EV_SESSION_CLOSE) { $0.reason = UInt8(XPF_CLOSE_TCP_FIN.rawValue); $0.packets = (3, 2); $0.bytes = (426, 184); $0.elapsed_s = 3 },
            event(XPF_EV_SESSION_DENY) { $0.reason = 1; $0.family = 6; $0.fwd.dst.15 = 1 },
            event(XPF_EV_TABLE_FULL) { $0.session_id = 0; $0.policy = XPF_CFG_NONE },
            [200] + [UInt8](repeating: 0, count: 20),
        ]
    }
}

/// 16-byte address arrays for seeds.
enum SeedAddress {
    static func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> Address16 {
        (a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    }
}
typealias Address16 = (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
