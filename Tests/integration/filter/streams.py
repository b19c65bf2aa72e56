"""An established kernel TCP connection client -> server through the firewall, as the
policy suite's re-evaluation tests make it, with both ends' reads bounded (an accepted
socket does not inherit its listener's timeout)."""
import socket
import struct

import labkit
from labkit import CLIENT, SERVER, fresh_port

# A segment dropped for a while is delivered by the kernel's next retransmission, which
# exponential backoff may put seconds away (200 ms RTO doubling): a bound, not a timing.
RETRANSMIT_WAIT_S = 20.0


class Stream:
    def __init__(self, lab, family, dport):
        self.sport = fresh_port()
        self.listener = labkit.tcp_listener(lab.ns_s, family, dport)
        self.client = labkit.tcp_connect(lab.ns_c, family, CLIENT[family], self.sport, SERVER[family], dport)
        self.server, _ = self.listener.accept()
        self.server.settimeout(RETRANSMIT_WAIT_S)
        self.client.settimeout(RETRANSMIT_WAIT_S)
        self.exchange(b"before")

    def exchange(self, data):
        self.client.sendall(data)
        assert labkit.recv_exactly(self.server, len(data)) == data
        self.server.sendall(data)
        assert labkit.recv_exactly(self.client, len(data)) == data

    def close(self):
        """Aborts the connection (RST, SO_LINGER 0): a stopped stream's kernel must not go
        on retransmitting into later tests' drop counters."""
        for s in (self.client, self.server):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        self.listener.close()

