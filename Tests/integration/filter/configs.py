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


# Policers (issue 10 §5) ----------------------------------------------------------------


def policer(name, bandwidth, burst, then="discard", filter_specific=False):
    """`firewall policer NAME { [filter-specific;] if-exceeding { bandwidth-limit B;
    burst-size-limit S; } then THEN; }` (THEN: discard, or e.g. "loss-priority high")."""
    flag = "        filter-specific;\n" if filter_specific else ""
    return ("firewall {\n    policer %s {\n%s        if-exceeding {\n            bandwidth-limit %s;\n"
            "            burst-size-limit %s;\n        }\n        then %s;\n    }\n}\n") % (
        name, flag, bandwidth, burst, then)


def three_color_policer(name, color, cir, cbs, ebs=None, pir=None, pbs=None, discard_red=False,
                        filter_specific=False):
    """`firewall three-color-policer NAME`: single-rate (RFC 2697: `ebs`) or two-rate
    (RFC 2698: `pir`, `pbs`), `color` "color-blind" or "color-aware"; `discard_red`: the
    `action { loss-priority high then discard; }` that drops red packets."""
    assert (ebs is None) != (pir is None and pbs is None), "single-rate takes ebs, two-rate pir and pbs"
    if ebs is not None:
        mode, rates = "single-rate", ["committed-information-rate %s" % cir, "committed-burst-size %s" % cbs,
                                      "excess-burst-size %s" % ebs]
    else:
        mode, rates = "two-rate", ["committed-information-rate %s" % cir, "committed-burst-size %s" % cbs,
                                   "peak-information-rate %s" % pir, "peak-burst-size %s" % pbs]
    body = "        filter-specific;\n" if filter_specific else ""
    body += "        %s {\n%s        }\n" % (mode, "".join("            %s;\n" % s for s in [color, *rates]))
    if discard_red:
        body += "        action {\n            loss-priority high then discard;\n        }\n"
    return "firewall {\n    three-color-policer %s {\n%s    }\n}\n" % (name, body)


def interface_specific_filter(family, name, *terms):
    """firewall_filter with `interface-specific;`: one copy per attachment (F-IFL-i / -o),
    each with its own counters and policer instances."""
    return "firewall {\n    family %s {\n        filter %s {\n            interface-specific;\n%s        }\n    }\n}\n" % (
        FAMILY[family], name, "".join(terms))


def color_terms(port):
    """Three terms counting the UDP datagrams to `port` by loss priority: `red-PORT`
    (high), `yellow-PORT` (medium-high) and `green-PORT` (the rest), each accepted."""
    match = ["protocol udp", "destination-port %d" % port]
    return [term("red-%d" % port, match + ["loss-priority high"], ["count red-%d" % port, "accept"]),
            term("yellow-%d" % port, match + ["loss-priority medium-high"], ["count yellow-%d" % port, "accept"]),
            term("green-%d" % port, match, ["count green-%d" % port, "accept"])]
