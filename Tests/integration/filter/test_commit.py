"""A commit that adds a filter stops an established TCP stream at its next packet, and a
commit that removes it lets the stream go on; a commit that changes a term of a filter
in place applies to a UDP flow's next datagram (issue 10 §2: "takes effect on the next
packet of every flow, established ones included"). `lab.commit` returns once every
worker runs the new generation; the client's next segment after it is the first the
filter may see, and it is discarded; the kernel's retransmissions are too, until the
filter goes, when the next one is delivered on the same session.
"""
import pytest

import configs
import filterchecks as fc
import labkit
from labkit import fresh_port
from streams import stream as tcp_stream

PORT = 7801
PORT_CHANGED = 7802


def stop_filter(family):
    proto = "protocol" if family == 4 else "next-header"
    return configs.firewall_filter(
        family, "stop%d" % family,
        configs.term("stop", ["%s tcp" % proto, "destination-port %d" % PORT], ["discard"]),
        configs.term("rest"))


WITHOUT = configs.config()


def changing_filter(family, stop):
    """Filter `change4|6`, attached in both versions: its first term discards UDP to
    PORT_CHANGED (`stop`) or to a port nothing uses."""
    proto = "protocol" if family == 4 else "next-header"
    port = PORT_CHANGED if stop else PORT_CHANGED + 1
    name = "change%d" % family
    return configs.config(
        configs.firewall_filter(family, name,
                                configs.term("maybe", ["%s udp" % proto, "destination-port %d" % port], ["discard"]),
                                configs.term("rest")),
        configs.attach("fw0", family, input=name))


WITH = {f: configs.config(stop_filter(f), configs.attach("fw0", f, input="stop%d" % f)) for f in (4, 6)}

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@FAMILIES
def test_filter_added_then_removed_mid_stream(lab, family):
    lab.use(WITHOUT)
    stream = tcp_stream(lab, family, PORT)
    try:
        (session,) = lab.sessions("source-port", str(stream.sport))
        before = lab.drops()
        lab.commit(WITH[family])
        stream.client.sendall(b"after the filter")
        delta = lab.wait_drops_at_least(before, {"filter_discard": 1})
        assert labkit.nothing_pending(stream.server), "data crossed after the filter was added: %r" % delta
        lab.commit(WITHOUT)
        assert labkit.recv_exactly(stream.server, len(b"after the filter")) == b"after the filter"
        stream.exchange(b"and on")
        (still,) = lab.sessions("source-port", str(stream.sport))
        assert still["id"] == session["id"], (session, still)
    finally:
        stream.close()


@FAMILIES
def test_filter_changed_mid_flow(lab, wire, family):
    """The same filter on the same interface, one term changed by commit: the flow's next
    datagram meets the new term, and the one after the change back passes again."""
    lab.use(changing_filter(family, stop=False))
    sport = fresh_port()
    fc.passes(wire, fc.udp(family, sport, PORT_CHANGED, payload=b"first"), "the flow's first datagram")
    lab.commit(changing_filter(family, stop=True))
    fc.discarded(lab, wire, fc.udp(family, sport, PORT_CHANGED, payload=b"stopped"))
    lab.commit(changing_filter(family, stop=False))
    fc.passes(wire, fc.udp(family, sport, PORT_CHANGED, payload=b"again"), "the flow after the change back")
