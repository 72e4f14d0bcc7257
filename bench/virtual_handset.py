"""Boot to idle and a refund end to end on the virtual ARM handset, beside
the same on the desktop emulator, measured in the same run.

Both are driven the same way: the HIL test protocol over a pty and the
cashier's steps of tests/flows/cashier.py (menu, supervisor password,
original RRN and date, amount, card, receipts, back at idle). On the
virtual handset that is Debian's MicroPython on an emulated Cortex-A57
(QEMU TCG) with the Linux drivers; on the desktop, CPython with simulated
devices. The ratio is what the emulated CPU and the real kernel devices
cost; it is not a handset's speed (a real Cortex-A7/A53 runs natively).

    python -m bench vm [--quick]
"""

import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.figures import Figure, text_table  # noqa: E402

# As the HIL suite runs both targets (tests/hil/plugin.py).
SETTINGS = {"message_ms": 200, "reply_timeout_ms": 5000, "connect_timeout_ms": 5000,
            "ui_timeout_ms": 60000, "tear_pause_ms": 200, "lang": "en"}


def refunds(port_url, count):
    """Seconds of each of `count` refunds of 1.00 against one sale, each from
    the idle screen back to the idle screen (receipts printed)."""
    from tests.flows import cashier
    from tests.hil.dut import Dut
    from tests.hil.plugin import open_port
    dut = Dut(open_port(port_url, 115200))
    try:
        if dut.hello().get("supervisor_factory"):
            cashier.unlock_supervisor(dut)
        sale = dut.sale(100 * (count + 1), "debit-mag")
        took = []
        for _ in range(count):
            start = time.perf_counter()
            dut.refund(sale, 100)
            took.append(time.perf_counter() - start)
        return took
    finally:
        dut.port.close()


def desktop(folder, count):
    """-> (boot seconds, [refund seconds]) on the emulator, in this process."""
    from emulator.handset import Handset
    from emulator.hil import Bridge, HilPort
    from emulator.world import World
    from emulator.host.server import HostSimulator
    host = HostSimulator(os.path.join(folder, "host.sqlite"))
    port = host.start_in_thread()
    handset = Handset(os.path.join(folder, "handset"), settings=dict(SETTINGS, host_port=port, test_protocol=True))
    hil = None
    try:
        start = time.perf_counter()
        handset.start()
        boot = time.perf_counter() - start
        hil = HilPort(Bridge(World(handset, host)), "pty")
        return boot, refunds(hil.start(), count)
    finally:
        if hil is not None:
            hil.stop()
        handset.power_cut()
        host.stop_thread()


def virtual(folder, count):
    """-> ([boot seconds], [refund seconds]) on the virtual ARM handset: the
    first boot, and a boot after a power cut (the journal replayed)."""
    from emulator.hil import HilPort
    from emulator.qemu.handset import ArmBridge, VirtualHandset
    handset = VirtualHandset(folder, settings=SETTINGS, log=lambda message: None)
    hil = None
    try:
        handset.start()
        boots = [handset.boot_seconds]
        hil = HilPort(ArmBridge(handset), "pty")
        took = refunds(hil.start(), count)
        handset.power_cut()
        boots.append(handset.boot())
        return boots, took
    finally:
        if hil is not None:
            hil.stop()
        handset.stop()


def figures(quick=False):
    count = 1 if quick else 5
    with tempfile.TemporaryDirectory(prefix="bench-vm-") as folder:
        os.mkdir(os.path.join(folder, "desktop"))
        desk_boot, desk_refunds = desktop(os.path.join(folder, "desktop"), count)
        vm_boots, vm_refunds = virtual(os.path.join(folder, "vm"), count)
    desk_refund = statistics.median(desk_refunds)
    note = "guest CPU emulated (TCG), 12-16x slower than native"
    return [
        Figure("boot to idle, virtual ARM handset (power on to idle, QEMU TCG)", vm_boots[0], "s",
               "desktop emulator's boot to idle", desk_boot, "report", note=note),
        Figure("boot to idle after a power cut, virtual ARM handset", vm_boots[1], "s",
               "desktop emulator's boot to idle", desk_boot, "report", note="journal replay, recovery, sign-on"),
        Figure("refund end to end, virtual ARM handset (median of %d)" % count, statistics.median(vm_refunds), "s",
               "desktop emulator, same steps", desk_refund, "report", note=note),
        Figure("refund end to end, desktop emulator (median of %d)" % count, desk_refund, "s",
               "none: the virtual handset's row is its peer", goal="report"),
    ]


if __name__ == "__main__":
    print(text_table(figures("--quick" in sys.argv)))
