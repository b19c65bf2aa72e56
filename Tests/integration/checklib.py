"""Shared by the lab suites' Python check scripts: one ok/not ok line per check (the
suites count them, see py_checks in lib.sh) and the number that failed."""

failures = 0


def check(cond, what):
    """Prints `ok - what` or `not ok - what`; returns cond."""
    global failures
    print(("ok - " if cond else "not ok - ") + what)
    if not cond:
        failures += 1
    return cond


def exit_status():
    """1 if a check failed, else 0."""
    return 1 if failures else 0
