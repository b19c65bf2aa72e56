// A session's idle timeout (R-4.2; issue 9 §2, per-application inactivity timeout): the
// `inactivity-timeout` of the application term the session's first packet matched in its
// permitting policy, when that term sets one — for TCP only while the session is
// established (the handshake and closing timeouts stay the flow's) — else the flow
// timeout of its protocol and TCP state. The term is found again when needed (ageing,
// `show security flow session`) from the session's forward flow, not stored: the record
// has no room, and only policies flagged XPF_CFG_POL_APP_TIMEOUT pay for the lookup.
import CXPF

extension PolicyKey {
    /// The policy key of a session's first packet, from the session's forward flow key:
    /// addresses and ports, and for ICMP / ICMPv6 the type and code its ports carry
    /// (Parse.swift's icmpKeyPorts: an echo request (id, id+1), a reply (id+1, id), any
    /// other message type·code twice).
    @inlinable
    public init(session k: FlowKey) {
        var icmpType: UInt8 = 0, icmpCode: UInt8 = 0
        if k.proto == PolicyKey.icmpProtocol || k.proto == PolicyKey.icmp6Protocol {
            let sport = UInt16(bigEndian: k.tuple.sport), dport = UInt16(bigEndian: k.tuple.dport)
            if dport == sport &+ 1 {
                icmpType = k.family == 4 ? ICMPEcho.requestV4 : ICMPEcho.requestV6
            } else if sport == dport &+ 1 {
                icmpType = k.family == 4 ? ICMPEcho.replyV4 : ICMPEcho.replyV6
            } else {
                icmpType = UInt8(truncatingIfNeeded: sport >> 8)
                icmpCode = UInt8(truncatingIfNeeded: sport)
            }
        }
        self.init(family: k.family, proto: k.proto, tuple: k.tuple, icmpType: icmpType, icmpCode: icmpCode)
    }
}

extension ConfigSnapshotView {
    /// The idle timeout in seconds of a session with these record fields under this
    /// snapshot; `key()` gives its forward flow key (read only when the policy's
    /// applications set a timeout). A session decided under an older policy epoch (its
    /// policy id means nothing here until it is re-checked) or by the default policy gets
    /// its flow timeout.
    @inlinable
    public func sessionIdleTimeout(proto: UInt8, tcpState: UInt8, generation: UInt32, policy id: UInt16,
                                   key: () -> FlowKey) -> UInt32 {
        let flow = head.pointee.idleTimeout(proto: proto, tcpState: tcpState)
        guard id != UInt16(XPF_SESS_POLICY_DEFAULT),
              Int32(bitPattern: generation &- head.pointee.policy_epoch) >= 0,
              Int(id) < Int(section(XPF_CFG_SEC_POLICIES).count) else { return flow }
        let p = policy(Int(id))
        guard UInt32(p.flags) & XPF_CFG_POL_APP_TIMEOUT.rawValue != 0,
              proto != ParseConst.protoTCP || tcpState == UInt8(XPF_TCP_ESTABLISHED.rawValue) else { return flow }
        guard let term = Self.matchingTerm(PolicyTables(self), p.app_terms, PolicyKey(session: key())) else { return flow }
        let timeout = applicationTerm(term).timeout
        return timeout != 0 ? timeout : flow
    }

    /// `sessionIdleTimeout` of a record copy (tools).
    public func sessionIdleTimeout(_ r: xpf_session) -> UInt32 {
        sessionIdleTimeout(proto: r.proto, tcpState: r.tcp_state, generation: r.generation, policy: r.policy) {
            var k = FlowKey()
            k.family = r.family
            k.proto = r.proto
            k.tuple = r.fwd
            return k
        }
    }
}
