"""Configuration texts of the filter suite: the policy suite's lab configuration (its
configs.BASE system, interfaces and flow knobs, the trust = fw0 / untrust = fw1 zones,
and its trust -> untrust permit, so every packet a filter accepts is forwarded), one more
syslog file that takes the firewall facility (filter log lines, legacy format), and
builders for `firewall family F filter` stanzas and their attachment to an interface
unit. Junos merges repeated top-level blocks: a filter's `interfaces fw0 unit 0 family
inet filter input F` joins BASE's addresses of that unit.
"""
import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "policy_configs", Path(__file__).resolve().parent.parent / "policy" / "configs.py")
policy_configs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(policy_configs)

HOST_NAME = policy_configs.HOST_NAME
# $STATE/<name>: xpfd writes a syslog file under its state directory (Lab reads it there).
FIREWALL_LOG = "firewall-log"
FIREWALL_SYSLOG = """
system {
    syslog {
        file %s {
            firewall any;
        }
    }
}
""" % FIREWALL_LOG

FAMILY = {4: "inet", 6: "inet6"}


def config(*parts):
    """The policy suite's BASE and zones, the firewall log file, trust -> untrust
    permitted, then each part in order."""
    return policy_configs.config(FIREWALL_SYSLOG, policy_configs.PERMIT_OUT, *parts)


def _block(keyword, lines, indent):
    pad = " " * indent
    body = "".join("%s    %s\n" % (pad, line if line.endswith(("}", ";")) else line + ";") for line in lines)
    return "%s%s {\n%s%s}\n" % (pad, keyword, body, pad)


def term(name, match=(), then=("accept",)):
    """`term NAME { from { match… } then { then… } }`: each element one statement
    (a trailing ';' is added unless it ends a block)."""
    out = "            term %s {\n" % name
    if match:
        out += _block("from", match, 16)
    out += _block("then", then, 16)
    return out + "            }\n"


def firewall_filter(family, name, *terms):
    """`firewall family inet|inet6 filter NAME { terms… }` (family 4 or 6)."""
    return "firewall {\n    family %s {\n        filter %s {\n%s        }\n    }\n}\n" % (
        FAMILY[family], name, "".join(terms))


def attach(interface, family, input=None, output=None):
    """`interfaces IF unit 0 family F filter { input I; output O; }`."""
    lines = []
    if input:
        lines.append("                    input %s;\n" % input)
    if output:
        lines.append("                    output %s;\n" % output)
    return ("interfaces {\n    %s {\n        unit 0 {\n            family %s {\n                filter {\n%s"
            "                }\n            }\n        }\n    }\n}\n") % (interface, FAMILY[family], "".join(lines))


def prefix_list(name, *prefixes):
    return "policy-options {\n    prefix-list %s {\n%s    }\n}\n" % (
        name, "".join("        %s;\n" % p for p in prefixes))


def addresses(keyword, *entries):
    """`source-address { A; B except; }` as one statement of a `from` block."""
    return "%s { %s }" % (keyword, " ".join(e + ";" for e in entries))
