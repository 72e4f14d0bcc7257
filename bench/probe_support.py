"""What the probe scripts (bench/*_probe.py) share. They run BY MicroPython
or CPython as scripts, so this module is imported as their sibling
(`import probe_support`: a script's own folder is on the path under both),
and uses only what both interpreters have."""

import time

if hasattr(time, "ticks_us"):
    def now_us():
        return time.ticks_us()

    def us_since(start):
        return time.ticks_diff(time.ticks_us(), start)
else:
    def now_us():
        return time.perf_counter()

    def us_since(start):
        return int((time.perf_counter() - start) * 1e6)


def parse_args(argv, needed, script):
    """--name value pairs -> dict; every name in `needed` must be there."""
    args = {}
    for i in range(0, len(argv) - 1, 2):
        args[argv[i][2:]] = argv[i + 1]
    for name in needed:
        if name not in args:
            raise SystemExit("%s: --%s is required" % (script, name))
    return args
