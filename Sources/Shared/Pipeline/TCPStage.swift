// TCP stage: Junos' default `security flow tcp-session` check on the first path
// (a TCP flow starts with a SYN), and the state machine of a TCP session that drives its
// idle timeout (enum xpf_tcp_state in xpf_abi.h names the states; the configuration's
// idleTimeout maps them to the initial / established / closing timeouts).
//
//   INITIAL ─SYN-ACK from the responder→ SYN_ACK ─ACK from the initiator→ ESTABLISHED
//   INITIAL ─ACK from the responder (an ACK each way: a flow picked up mid-stream)→ ESTABLISHED
//   INITIAL / SYN_ACK / ESTABLISHED ─FIN→ FIN_INITIATOR or FIN_RESPONDER ─FIN from the
//   other side→ FIN_BOTH ─ACK→ CLOSING (time-wait)
//   any state ─RST→ CLOSING;  CLOSING ─SYN from the initiator→ INITIAL (the ports reused)
//
// Sequence numbers and windows are not checked (`no-sequence-check` is accepted and
// stored; see docs/architecture.md).
import CXPF

extension Pipeline {
    /// The first packet of a TCP flow must be a SYN (SYN set, ACK clear), unless
    /// `security flow tcp-session no-syn-check` is configured: anything else is dropped
    /// (`tcp_not_syn`) before a session is installed.
    @inlinable @inline(__always)  // one function with the first path's other stages
    func tcpFirstPacketCheck(_ p: inout Packet) -> PacketAction? {
        guard p.parsed.proto == ParseConst.protoTCP,
              p.parsed.tcpFlags & (TCPFlag.syn | TCPFlag.ack) != TCPFlag.syn,
              config.pointee.flags & XPF_CFG_F_NO_SYN_CHECK.rawValue == 0 else { return nil }
        return .drop(XPF_DROP_TCP_NOT_SYN)
    }

    /// Moves a TCP session's state on for a packet with `flags` in direction `dir`
    /// (0: from the initiator). A packet without SYN, FIN or RST in an established
    /// session — nearly every packet — costs one load and two compares.
    @inlinable @inline(__always)  // the fast path is one function (a call per stage measured ~35 instructions/packet)
    func trackTCP(_ rec: UnsafeMutablePointer<xpf_session>, dir: UInt32, flags: UInt8) {
        let st = xpf_sess_tcp_state(rec)
        if flags & (TCPFlag.syn | TCPFlag.fin | TCPFlag.rst) == 0 {
            if st == UInt8(XPF_TCP_ESTABLISHED.rawValue) || flags & TCPFlag.ack == 0 { return }
            Self.tcpAck(rec, state: st, dir: dir)
        } else {
            Self.tcpControl(rec, state: st, dir: dir, flags: flags)
        }
    }

    /// An ACK (no SYN, FIN or RST) outside ESTABLISHED: completes a handshake or a close.
    @inline(never)  // rare: a few packets per session
    @usableFromInline
    static func tcpAck(_ rec: UnsafeMutablePointer<xpf_session>, state: UInt8, dir: UInt32) {
        let next: xpf_tcp_state
        switch state {
        case UInt8(XPF_TCP_SYN_ACK.rawValue) where dir == 0: next = XPF_TCP_ESTABLISHED
        case UInt8(XPF_TCP_INITIAL.rawValue) where dir == 1: next = XPF_TCP_ESTABLISHED
        case UInt8(XPF_TCP_FIN_BOTH.rawValue): next = XPF_TCP_CLOSING
        default: return
        }
        xpf_sess_set_tcp_state(rec, UInt8(next.rawValue))
    }

    /// A packet with SYN, FIN or RST. FIN and RST are also remembered in the session's
    /// flags (the close event's reason).
    @inline(never)  // rare: a few packets per session
    @usableFromInline
    static func tcpControl(_ rec: UnsafeMutablePointer<xpf_session>, state: UInt8, dir: UInt32, flags: UInt8) {
        let old = xpf_sess_flags(rec)
        if flags & TCPFlag.rst != 0 {
            xpf_sess_or_flags(rec, UInt8(XPF_SESS_RST_SEEN.rawValue))
            xpf_sess_set_tcp_state(rec, UInt8(XPF_TCP_CLOSING.rawValue))
            return
        }
        var next = state
        if flags & TCPFlag.syn != 0 {
            let synAck = flags & TCPFlag.ack != 0
            if state == UInt8(XPF_TCP_INITIAL.rawValue) && dir == 1 && synAck {
                next = UInt8(XPF_TCP_SYN_ACK.rawValue)
            } else if state == UInt8(XPF_TCP_CLOSING.rawValue) && dir == 0 && !synAck {
                // A new connection on the same ports after the last one closed.
                xpf_sess_and_flags(rec, ~UInt8(XPF_SESS_FIN_SEEN.rawValue | XPF_SESS_RST_SEEN.rawValue))
                xpf_sess_set_tcp_state(rec, UInt8(XPF_TCP_INITIAL.rawValue))
                return
            }
        }
        if flags & TCPFlag.fin != 0 {
            if old & UInt8(XPF_SESS_FIN_SEEN.rawValue) == 0 { xpf_sess_or_flags(rec, UInt8(XPF_SESS_FIN_SEEN.rawValue)) }
            let own = dir == 0 ? XPF_TCP_FIN_INITIATOR : XPF_TCP_FIN_RESPONDER
            let other = dir == 0 ? XPF_TCP_FIN_RESPONDER : XPF_TCP_FIN_INITIATOR
            switch next {
            case UInt8(XPF_TCP_INITIAL.rawValue), UInt8(XPF_TCP_SYN_ACK.rawValue), UInt8(XPF_TCP_ESTABLISHED.rawValue):
                next = UInt8(own.rawValue)
            case UInt8(other.rawValue): next = UInt8(XPF_TCP_FIN_BOTH.rawValue)
            default: break  // a FIN again, or already closing
            }
        }
        if next != state { xpf_sess_set_tcp_state(rec, next) }
    }
}
