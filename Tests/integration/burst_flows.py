"""A burst of UDP flows through the lab for burst_test.sh: one datagram from each of
COUNT source ports, sent as fast as a socket loop goes, received by one sink socket in the
server namespace.

    burst_flows.py CLIENT_NS SERVER_NS SOURCE FIRST_PORT COUNT DESTINATION PORT

The sink (a bound socket with a receive buffer for the whole burst, so the server's
kernel answers nothing and drops nothing) proves that every flow crossed xpf, and so that
xpf created a session for it. A datagram the lab lost (a full RX ring on a busy machine)
is sent again, from the same port, until every port arrived or MAX_ROUNDS rounds passed;
how fast the machine is changes the number of resends, never the outcome. Prints one JSON
object (ports, seconds the first round took, resent, delivered); exits 1 if a port never
arrived.
"""
import ctypes
import json
import os
import socket
import sys
import time

CLONE_NEWNET = 0x40000000
SO_RCVBUFFORCE = 33  # <asm-generic/socket.h>; Python's socket module does not name it
# Room for every datagram of a burst in the sink (a 1-byte datagram takes ~1 KiB of buffer).
SINK_BUFFER_BYTES = 64 << 20
# A round ends when the sink has been quiet this long (then the missing ports are resent).
QUIET_S = 0.5
MAX_ROUNDS = 5

libc = ctypes.CDLL(None, use_errno=True)


def enter(namespace):
    """Moves this (single-threaded) process into a network namespace of `ip netns`."""
    fd = os.open("/run/netns/" + namespace, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns %s: %s" % (namespace, os.strerror(e)))
    finally:
        os.close(fd)


def send(source, ports, destination, port):
    for p in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((source, p))
        s.sendto(b"x", (destination, port))
        s.close()


def collect(sink, received, want):
    """Reads the sink until every wanted port arrived or it stayed quiet for QUIET_S."""
    sink.settimeout(QUIET_S)
    while not want <= received:
        try:
            _, (_, p) = sink.recvfrom(64)
        except socket.timeout:
            return
        received.add(p)


def main():
    client_ns, server_ns, source, first, count, destination, port = sys.argv[1:8]
    first, count, port = int(first), int(count), int(port)
    enter(server_ns)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, SINK_BUFFER_BYTES)
    sink.bind((destination, port))
    enter(client_ns)
    want = set(range(first, first + count))
    received = set()
    start = time.monotonic()
    send(source, sorted(want), destination, port)
    seconds = time.monotonic() - start
    collect(sink, received, want)
    resent = 0
    for _ in range(MAX_ROUNDS):
        missing = sorted(want - received)
        if not missing:
            break
        resent += len(missing)
        send(source, missing, destination, port)
        collect(sink, received, want)
    print(json.dumps({"ports": count, "seconds": round(seconds, 3), "resent": resent,
                      "delivered": len(want & received)}))
    return 0 if want <= received else 1


if __name__ == "__main__":
    sys.exit(main())
