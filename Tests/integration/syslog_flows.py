"""One UDP exchange of known size for syslog_test.sh (IPv4 or IPv6, by the address).

    syslog_flows.py server ADDRESS PORT
        receives 3 datagrams, answers the first 2 with REPLY_BYTES bytes each
    syslog_flows.py client SOURCE SOURCE_PORT DESTINATION PORT
        sends 3 datagrams of REQUEST_BYTES bytes, waits for 2 replies

Exits non-zero when the exchange does not complete within the timeouts.
"""
import socket
import sys
import time

REQUESTS = 3
REPLIES = 2
REQUEST_BYTES = 100
REPLY_BYTES = 50
SERVER_TIMEOUT_S = 5
CLIENT_TIMEOUT_S = 3
GAP_S = 0.05


def udp_socket(address):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return socket.socket(family, socket.SOCK_DGRAM)


def server(address, port):
    s = udp_socket(address)
    s.bind((address, port))
    s.settimeout(SERVER_TIMEOUT_S)
    for i in range(REQUESTS):
        _, peer = s.recvfrom(2048)
        if i < REPLIES:
            s.sendto(b"r" * REPLY_BYTES, peer)


def client(source, source_port, destination, port):
    c = udp_socket(source)
    c.bind((source, source_port))
    c.settimeout(CLIENT_TIMEOUT_S)
    for i in range(REQUESTS):
        c.sendto(b"q" * REQUEST_BYTES, (destination, port))
        if i < REPLIES:
            c.recvfrom(2048)
        time.sleep(GAP_S)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2], int(sys.argv[3]))
    else:
        client(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
