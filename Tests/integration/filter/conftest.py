"""Fixtures of the firewall-filter suite (issue 10). The lab is the policy suite's: its
labkit (namespaces entered per thread, crafted frames on c0 / s0, xpfctl) and checks (the
RST and ICMP field checks) are imported from ../policy, not copied. One lab for the whole
run (`lab`), torn down by the fixture's finalizer whatever the tests did (filter_test.sh
tears the same prefix down again should pytest itself be killed). Each test module
commits its own configuration through `lab.use(...)`.

    XPF_LAB_PREFIX  lab name (filter_test.sh passes lib.sh's unique prefix); default f<pid>
    XPF_BIN         binaries (default: the release build)

`configs` is this directory's (pytest puts it first on sys.path); the policy directory
is appended after it, so only the modules this directory lacks come from there.
"""
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent.parent / "policy"))

import configs  # noqa: E402  (this directory's)
import labkit  # noqa: E402  (../policy)


def _prefix():
    """At most 8 characters (tools/xpf-lab's limit), and no lab of that name exists."""
    if os.environ.get("XPF_LAB_PREFIX"):
        return os.environ["XPF_LAB_PREFIX"]
    prefix = "f%d" % (os.getpid() % 10_000_000)
    while os.path.exists("/run/netns/%s-fw" % prefix):
        prefix = "f%d" % random.randrange(10_000_000)
    return prefix


@pytest.fixture(scope="session")
def lab(request):
    with tempfile.TemporaryDirectory(prefix="xpf-filter.") as tmp:
        lab = labkit.Lab(_prefix(), tmp)
        try:
            lab.up(configs.config())
            # Neighbours warm both ways (client <-> fw0, fw1 <-> server, v4 and v6): the
            # crafted frames below need no ARP / ND of their own.
            for family in (4, 6):
                subprocess.run(["ip", "netns", "exec", lab.ns_c, "ping", "-%d" % family, "-c", "1", "-W", "2",
                                labkit.SERVER[family]], capture_output=True, check=False)
            yield lab
        finally:
            if request.session.testsfailed:
                print("--- last lines of xpfd.log\n" + lab.log_tail())
            lab.down()


@pytest.fixture(scope="session")
def wire(lab):
    w = labkit.Wire(lab)
    yield w
    w.close()


@pytest.fixture(autouse=True)
def _fresh_capture(request):
    """Frames of an earlier test are not this test's."""
    if "wire" in request.fixturenames:
        request.getfixturevalue("wire").flush()
