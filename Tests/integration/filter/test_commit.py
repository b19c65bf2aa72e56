"""A commit that adds a filter stops an established TCP stream at its next packet, and a
commit that removes it lets the stream go on (issue 10 §2: "takes effect on the next
packet of every flow, established ones included"). `lab.commit` returns once every
worker runs the new generation; the client's next segment after it is the first the
filter may see, and it is discarded; the kernel's retransmissions are too, until the
filter goes, when the next one is delivered on the same session.
"""
import pytest

import configs
import labkit
from streams import Stream

PORT = 7801


def stop_filter(family):
    proto = "protocol" if family == 4 else "next-header"
    return configs.firewall_filter(
        family, "stop%d" % family,
        configs.term("stop", ["%s tcp" % proto, "destination-port %d" % PORT], ["discard"]),
        configs.term("rest"))


WITHOUT = configs.config()
WITH = {f: configs.config(stop_filter(f), configs.attach("fw0", f, input="stop%d" % f)) for f in (4, 6)}

FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@FAMILIES
def test_filter_added_then_removed_mid_stream(lab, family):
    lab.use(WITHOUT)
    stream = Stream(lab, family, PORT)
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
