"""What one password guess costs: firmware.operators.hash_password with
today's HASH_ROUNDS, against the old 2,000 rounds measured in the same run,
under CPython and under MicroPython (the interpreter the handset runs).

    python bench/password_cost.py [--micropython PATH]

The figure that matters is MicroPython's: it is what an attacker who can
only guess through the handset pays, and the floor of what one with the
file pays in C (see docs/ARCHITECTURE.md, Passwords). The handset's ARM is
slower than the x86 this runs on, so its cost per guess is higher still.
"""

import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from firmware import operators  # noqa: E402
from tests.support import micropython_path  # noqa: E402

# Runs under both interpreters: ms a guess at each round count, best of 3.
MEASURE = """
import sys
sys.path.insert(0, %r)
import time
from firmware.operators import hash_password, HASH_ROUNDS, LEGACY_ROUNDS
try:
    ticks, diff = time.ticks_ms, time.ticks_diff
except AttributeError:
    ticks, diff = (lambda: int(time.perf_counter() * 1000)), (lambda a, b: a - b)
for rounds in (LEGACY_ROUNDS, HASH_ROUNDS):
    best = None
    for _ in range(3):
        start = ticks()
        hash_password("135790", b"saltsalt", rounds)
        took = diff(ticks(), start)
        best = took if best is None or took < best else best
    print(rounds, best)
"""


def measure(interpreter):
    out = subprocess.run([interpreter, "-c", MEASURE % ROOT], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    if out.returncode:
        raise SystemExit("%s failed: %s" % (interpreter, out.stderr or out.stdout))
    figures = {}
    for line in out.stdout.splitlines():
        rounds, ms = line.split()
        figures[int(rounds)] = int(ms)
    return figures


def report(name, figures):
    old, new = figures[operators.LEGACY_ROUNDS], figures[operators.HASH_ROUNDS]
    million_h = new * 1e6 / 1000 / 3600
    print("%-12s %6d rounds: %5d ms a guess   %6d rounds: %4d ms   ratio %.0fx   "
          "a million guesses: %.0f h (was %.1f h)"
          % (name, operators.HASH_ROUNDS, new, operators.LEGACY_ROUNDS, old, new / max(old, 1),
             million_h, old * 1e6 / 1000 / 3600))


def main(argv):
    mp = argv[argv.index("--micropython") + 1] if "--micropython" in argv else micropython_path()
    started = time.time()
    report("CPython", measure(sys.executable))
    if mp:
        report("MicroPython", measure(mp))
    else:
        print("MicroPython: no interpreter found (--micropython PATH)")
    print("(best of 3 each, %.0f s in all)" % (time.time() - started))


if __name__ == "__main__":
    main(sys.argv[1:])
