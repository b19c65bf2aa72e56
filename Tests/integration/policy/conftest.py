"""Fixtures of the policy suite. One lab for the whole run (`lab`): its namespaces, veths
and xpfd are made once, and torn down by the fixture's finalizer whatever the tests did
(policy_test.sh tears the same prefix down again should pytest itself be killed). Each
test module commits its own configuration through `lab.use(...)`.

    XPF_LAB_PREFIX  lab name (policy_test.sh passes lib.sh's unique prefix); default p<pid>
    XPF_BIN         binaries (default: the release build)
"""
import os
import random
import subprocess
import tempfile

import pytest

import configs
import labkit


def _prefix():
    """At most 8 characters (tools/xpf-lab's limit), and no lab of that name exists."""
    if os.environ.get("XPF_LAB_PREFIX"):
        return os.environ["XPF_LAB_PREFIX"]
    prefix = "p%d" % (os.getpid() % 10_000_000)
    while os.path.exists("/run/netns/%s-fw" % prefix):
        prefix = "p%d" % random.randrange(10_000_000)
    return prefix


@pytest.fixture(scope="session")
def lab(request):
    with tempfile.TemporaryDirectory(prefix="xpf-policy.") as tmp:
        lab = labkit.Lab(_prefix(), tmp)
        try:
            lab.up(configs.config(configs.PERMIT_OUT))
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
