"""An established kernel TCP connection client -> server through the firewall
(labkit.Stream, as the policy suite's re-evaluation tests make it), with both ends' reads
bounded."""
import labkit

# A segment dropped for a while is delivered by the kernel's next retransmission, which
# exponential backoff may put seconds away (200 ms RTO doubling): a bound, not a timing.
RETRANSMIT_WAIT_S = 20.0


def stream(lab, family, dport):
    return labkit.Stream(lab, family, dport, timeout=RETRANSMIT_WAIT_S)
