"""Sale end to end on loopback: keys -> card -> host -> journal -> receipts.

    python bench/sale_e2e.py [N]

Prints the time per sale (median, min, max) from the ENTER after the amount
to the idle screen, with the host simulator in-process on loopback and the
journal on the local disk (fsync on). Figures, never assertions.
"""

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from emulator.handset import Handset  # noqa: E402
from emulator.host.server import HostSimulator  # noqa: E402


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    data = tempfile.mkdtemp(prefix="bench-sale-")
    host = HostSimulator(os.path.join(data, "host.sqlite"))
    port = host.start_in_thread()
    handset = Handset(os.path.join(data, "handset"),
                      settings={"host_port": port, "lang": "en", "message_ms": 1, "tear_pause_ms": 1})
    handset.start()
    times = []
    for _ in range(n):
        handset.wait_idle()
        handset.keys("1234")
        handset.wait_text("12.34")
        start = time.perf_counter()
        handset.enter()
        handset.wait_text("Swipe, insert or tap card")
        handset.card("swipe", "debit-mag")
        handset.wait_text("Sale approved")
        handset.wait_idle()
        times.append((time.perf_counter() - start) * 1000)
    handset.stop()
    host.stop_thread()
    print("sale end to end (swipe, no PIN, 2 receipts, loopback host), %d sales" % n)
    print("  median %.1f ms   min %.1f ms   max %.1f ms" % (statistics.median(times), min(times), max(times)))


if __name__ == "__main__":
    main()
