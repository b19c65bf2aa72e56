"""Configuration texts of the policy suite: the lab's system, interfaces and flow knobs
(BASE), the usual two zones (ZONES: trust = fw0, untrust = fw1), and `config()` which
appends a test module's own policies, address books and applications. Junos merges
repeated top-level blocks, so each part stays a complete `security { ... }` of its own.
"""

HOST_NAME = "xpf-policy-lab"     # events' HOSTNAME

# Events go to $STATE/rtflow (Lab.events reads it). A small session table: an idle
# worker sweeps it quickly. closing-timeout 1: a closed TCP session leaves the table soon.
BASE = """
system {
    host-name %s;
    syslog {
        file rtflow {
            any any;
            structured-data;
        }
    }
    dataplane {
        interfaces [ fw0 fw1 ];
        batch-size 64;
        session-table-size 4096;
        xdp-mode auto;
    }
}
interfaces {
    fw0 {
        unit 0 {
            family inet {
                address 10.10.1.1/24;
            }
            family inet6 {
                address fd00:1::1/64;
            }
        }
    }
    fw1 {
        unit 0 {
            family inet {
                address 10.10.2.1/24;
            }
            family inet6 {
                address fd00:2::1/64;
            }
        }
    }
}
security {
    flow {
        tcp-session {
            established-timeout 1800;
            closing-timeout 1;
            initial-timeout 20;
        }
        udp-timeout 60;
        icmp-timeout 60;
        other-timeout 60;
    }
}
""" % HOST_NAME

ZONES = """
security {
    zones {
        security-zone trust {
            interfaces {
                fw0.0;
            }
        }
        security-zone untrust {
            interfaces {
                fw1.0;
            }
        }
    }
}
"""

# The lab's everyday policy: trust -> untrust permitted (the replies ride the session).
PERMIT_OUT = """
security {
    policies {
        from-zone trust to-zone untrust {
            policy allow-out {
                match {
                    source-address any;
                    destination-address any;
                    application any;
                }
                then {
                    permit;
                }
            }
        }
    }
}
"""

# One more syslog file: a change that decides nothing about any session (no re-check).
UNRELATED_SYSLOG = """
system {
    syslog {
        file unrelated {
            any any;
        }
    }
}
"""


def config(*parts, zones=ZONES):
    """BASE, the zones, then each part in order."""
    return "\n".join([BASE, zones, *parts])


def policy(name, action, source="any", destination="any", application="any", log=(), extra_match=""):
    """One `policy NAME { match {...} then {...} }` stanza. `source`, `destination` and
    `application` are a name or a list of names; `log`: session-init / session-close."""
    def names(v):
        return v if isinstance(v, str) else "[ " + " ".join(v) + " ]"
    logs = ""
    if log:
        logs = "log { " + " ".join(x + ";" for x in log) + " }"
    return """
            policy %s {
                match {
                    source-address %s;
                    destination-address %s;
                    application %s;
                    %s
                }
                then {
                    %s;
                    %s
                }
            }""" % (name, names(source), names(destination), names(application), extra_match, action, logs)


def policies(pairs=(), global_policies=(), default=None):
    """`security policies`: `pairs` is a list of ((from, to), [policy stanzas]), then the
    global policies, then `default-policy` if given (permit-all / deny-all)."""
    out = ["security {", "    policies {"]
    for (src, dst), stanzas in pairs:
        out.append("        from-zone %s to-zone %s {" % (src, dst))
        out.extend(stanzas)
        out.append("        }")
    if global_policies:
        out.append("        global {")
        out.extend(global_policies)
        out.append("        }")
    if default:
        out.append("        default-policy %s;" % default)
    out.extend(["    }", "}"])
    return "\n".join(out)


def applications(*stanzas):
    return "applications {\n" + "\n".join(stanzas) + "\n}"


def application(name, protocol, destination_port=None, source_port=None, icmp_type=None):
    lines = ["protocol %s;" % protocol]
    if destination_port is not None:
        lines.append("destination-port %s;" % destination_port)
    if source_port is not None:
        lines.append("source-port %s;" % source_port)
    if icmp_type is not None:
        lines.append("icmp-type %s;" % icmp_type)
    return "    application %s {\n        %s\n    }" % (name, "\n        ".join(lines))


def application_set(name, members):
    return "    application-set %s {\n%s\n    }" % (name, "\n".join("        application %s;" % m for m in members))
