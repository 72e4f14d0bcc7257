"""The acquirer host simulator under 50 terminals at once: each signs on,
then sends sales back to back on its own connection per request, as
handsets do. Prints sales per second and the p50/p95 reply time.

    python bench/host_load.py [--quick]

There is no peer to run in the same run: the figure is what one host
process sustains on this machine, so that a change that slows the host
(the ledger, the MAC, a lock) shows.
"""

import os
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.figures import Figure, percentile, text_table  # noqa: E402

TERMINALS = 50


def _terminal_run(port, index, sales, card, latencies, failures):
    from tests.unit.test_host_terminal import Terminal   # the protocol-level test client
    terminal = Terminal(port, tid="%08d" % (20000000 + index))
    try:
        mti, reply = terminal.sign_on()
        if reply.get(39) != "00":
            failures.append("sign-on %s" % reply.get(39))
            return
        for _ in range(sales):
            start = time.perf_counter()
            mti, reply = terminal.sale(card, 1)
            latencies.append(time.perf_counter() - start)
            if reply.get(39) != "00":
                failures.append("sale %s" % reply.get(39))
    except Exception as error:        # a bench reports a failing terminal, it does not hang on it
        failures.append(repr(error))


def figures(quick=False):
    from emulator.host.server import HostSimulator
    from hal.sim.deck import find_card
    sales = 4 if quick else 20
    card = find_card("debit-mag")
    latencies, failures = [], []
    with tempfile.TemporaryDirectory(prefix="bench-host-") as folder:
        host = HostSimulator(os.path.join(folder, "host.sqlite"))
        port = host.start_in_thread()
        try:
            threads = [threading.Thread(target=_terminal_run, args=(port, i, sales, card, latencies, failures))
                       for i in range(TERMINALS)]
            start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            took = time.perf_counter() - start
        finally:
            host.stop_thread()
    if failures:
        raise RuntimeError("%d of %d requests failed, first: %s" % (len(failures), TERMINALS * sales, failures[0]))
    rate = len(latencies) / took
    p95 = percentile(latencies, 0.95) * 1e3
    return [Figure("host simulator, %d terminals: sales/s" % TERMINALS, rate, "sales/s",
                   "none: the host alone (sign-ons included in the time)", note="one asyncio loop + SQLite"),
            Figure("host simulator, %d terminals: reply p95" % TERMINALS, p95, "ms",
                   "p50 of the same run", percentile(latencies, 0.5) * 1e3, "report")]


if __name__ == "__main__":
    print(text_table(figures("--quick" in sys.argv)))
