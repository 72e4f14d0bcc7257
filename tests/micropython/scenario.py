"""A cashier's session, run BY MicroPython (and, for comparison, by CPython):

    micropython scenario.py --path ROOT --data DIR --port PORT [--mode MODE]
                            [--settings JSON]

It boots the firmware on simulated devices (storage in DIR, host on
127.0.0.1:PORT), drives it through the keypad and the card reader the way
tests/flows/cashier.py does with the English texts, and prints ONE line of
JSON: the journal of each batch it touched (firmware.driver.Driver.journal),
the printout count, the elapsed time and, under MicroPython, the heap the
app holds after boot and at the end (after a collection).
On a failed step it prints the same line with "error" and the screen, and
exits with status 1.

mode full:     sale, void of it, sale, partial refund, second partial refund,
               a refund over what is left (refused on the terminal), reprint
               of the last receipt, settlement.
mode reversal: one sale that the host never answers (the test sets the
               fault): the terminal must reverse it by itself.
mode paper:    (with {"paper": "none"} in --settings) a sale shown as its QR
               e-receipt, Reprint of it, a settlement shown on the screen.
mode timed:    --count N sales, each followed by a refund of part of it (the
               benchmarks' day at the counter): adds "sale_ms" and
               "refund_ms", each step from its first key to the idle screen.
mode esign:    (with {"esign": true} in --settings) a sale signed on the
               screen by the touch panel, CONFIRM tapped; the image goes up
               to the host; prints the strokes as "signature".

Only the MicroPython subset here (no argparse, no asyncio.run_coroutine_threadsafe):
this file runs under both interpreters unchanged.
"""

import gc
import json
import sys
import time

SUPERVISOR_PW = "135790"   # what the factory password 123456 is changed to (as in cashier.py)
CARD = "debit-mag"
WAIT_MS = 15000            # any screen; generous, for a slow CI machine


def parse_args(argv):
    args = {"mode": "full", "settings": "{}"}
    i = 0
    while i < len(argv):
        name = argv[i]
        if not name.startswith("--") or i + 1 >= len(argv):
            raise SystemExit("usage: scenario.py --path ROOT --data DIR --port PORT "
                             "[--mode full|reversal|timed|paper|esign] [--settings JSON]; bad argument %r" % name)
        args[name[2:]] = argv[i + 1]
        i += 2
    for needed in ("path", "data", "port"):
        if needed not in args:
            raise SystemExit("scenario.py: --%s is required" % needed)
    if args["mode"] not in MODES:
        raise SystemExit("scenario.py: --mode is one of %s, not %r" % (", ".join(sorted(MODES)), args["mode"]))
    return args


class Cashier:
    """The steps of tests/flows/cashier.py, awaited on the app's own loop
    (there is no second thread to block in under MicroPython)."""

    def __init__(self, driver):
        self.d = driver

    async def wait(self, text):
        await self.d.wait_text(text, WAIT_MS)

    async def idle(self):
        await self.d.wait_idle(WAIT_MS)

    def keys_enter(self, digits):
        self.d.keys(digits)
        self.d.key("ENTER")

    async def dismiss(self, text):
        """A message that stays up until a key (or its timeout): the
        cashier presses a key rather than wait it out."""
        await self.wait(text)
        self.d.key("ENTER")

    async def receipts(self, expect):
        await self.dismiss("Tear off merchant copy")
        await self.wait(expect)

    async def supervisor(self):
        """The supervisor password; the factory one is changed at first use."""
        from firmware.operators import SUPERVISOR
        await self.wait("Supervisor password")
        if self.d.app.operators.is_factory(SUPERVISOR):
            self.keys_enter("123456")
            await self.dismiss("Change factory password")
            await self.wait("New password:")
            self.keys_enter(SUPERVISOR_PW)
            await self.wait("New password again")
            self.keys_enter(SUPERVISOR_PW)
            await self.dismiss("Password changed")
        else:
            self.keys_enter(SUPERVISOR_PW)

    async def menu(self, entry):
        await self.idle()
        self.d.key("MENU")
        await self.wait("Main menu")
        self.d.keys(entry)

    async def sale(self, amount, expect="Sale approved"):
        await self.idle()
        self.keys_enter(str(amount))
        await self.wait("Swipe, insert or tap card")
        self.d.card("swipe", CARD)
        if expect == "Sale approved":
            await self.receipts(expect)
        else:
            await self.wait(expect)
        await self.idle()

    async def void(self, trace):
        await self.menu("2")
        await self.supervisor()
        await self.wait("Original trace")
        self.keys_enter("%d" % trace)
        await self.wait("Press ENTER to confirm")
        self.d.key("ENTER")
        await self.wait("Swipe, insert or tap card")
        self.d.card("swipe", CARD)
        await self.receipts("Void approved")
        await self.idle()

    async def refund(self, rrn, date, amount, expect="Refund successful"):
        await self.menu("3")
        await self.supervisor()
        await self.wait("Original ref")
        self.keys_enter(rrn)
        await self.wait("Original date")
        self.keys_enter(date)
        await self.wait("Enter refund amount")
        self.keys_enter(str(amount))
        if expect == "Refund successful":
            await self.wait("Swipe, insert or tap card")
            self.d.card("swipe", CARD)
            await self.receipts(expect)
        else:
            await self.wait(expect)
        await self.idle()

    async def reprint_last(self):
        await self.menu("4")
        await self.wait("1.Last receipt")
        self.d.keys("1")
        await self.wait("Printing")
        await self.idle()

    async def settle(self):
        await self.menu("5")
        await self.supervisor()
        await self.wait("Settlement done")
        await self.idle()


async def full(cashier, app, out):
    d = cashier.d
    await cashier.sale(1234)
    first = d.journal()[-1]
    await cashier.void(first["trace"])
    await cashier.sale(10000)
    second = d.journal()[-1]
    # The cashier reads the reference number and the date off the receipt;
    # here they come from the journal record the receipt was printed from.
    original = app.state.find_in_batch(second["trace"])
    date = original.get("host_date") or original["time"][4:8]
    await cashier.refund(second["rrn"], date, 3000)
    await cashier.refund(second["rrn"], date, 2500)
    await cashier.refund(second["rrn"], date, 5000, expect="Refund exceeds original")
    before_reprint = d.printout_count()
    await cashier.reprint_last()
    out["reprinted"] = d.printout_count() - before_reprint
    from firmware import escpos
    slip = "\n".join(escpos.decode_text(d.printout(before_reprint)[0][1], app.gb_table))
    out["reprint_marked"] = "REPRINT" in slip
    out["settled_batch"] = app.state.batch
    # A settled batch leaves RAM (its sales go to the on-disk sale index):
    # its journal as it stood just before the settlement.
    out["batches"] = {"%d" % app.state.batch: d.journal()}
    await cashier.settle()


async def reversal(cashier, app, out):
    await cashier.sale(4321, expect="No host reply, reversed")


async def timed(cashier, app, out):
    d = cashier.d
    out["sale_ms"] = []
    out["refund_ms"] = []
    for _ in range(int(out["count"])):
        started = now()
        await cashier.sale(2000)
        out["sale_ms"].append(ms_since(started))
        sale = d.journal()[-1]
        original = app.state.find_in_batch(sale["trace"])
        date = original.get("host_date") or original["time"][4:8]
        started = now()
        await cashier.refund(sale["rrn"], date, 500)
        out["refund_ms"].append(ms_since(started))
    out["heap_after_day"] = live_heap()
    out["peak_rss_kib"] = peak_rss_kib()


async def paper(cashier, app, out):
    """Setting paper none (the test's --settings): a sale whose receipt is
    the QR code on the screen, the last receipt again from Reprint, a
    settlement whose report is on the screen. Nothing prints."""
    d = cashier.d
    await cashier.idle()
    cashier.keys_enter("2500")
    await cashier.wait("Swipe, insert or tap card")
    d.card("swipe", CARD)
    await cashier.wait("Scan for your receipt")
    out["qr"] = shown_code(app)
    d.key("ENTER")
    await cashier.menu("4")
    await cashier.wait("1.Last receipt")
    d.keys("1")
    await cashier.wait("Copy (reprint)")
    out["qr_copy"] = shown_code(app)
    d.key("ENTER")
    out["batches"] = {"%d" % app.state.batch: d.journal()}
    await cashier.menu("5")
    await cashier.supervisor()
    await cashier.wait("Settlement done")
    out["settle_screen"] = d.screen_text()
    d.key("ENTER")
    await cashier.idle()


# What the cardholder signs in mode esign (screen pixels, inside the pad of
# firmware/signpad.layout(240, 320)); printed, so the test encodes the same
# strokes under CPython.
SIGNATURE = [[[30, 200], [40, 170], [55, 160], [70, 175], [60, 210], [45, 225], [50, 190], [90, 185]],
             [[100, 220], [130, 170], [150, 230], [175, 165], [205, 215]]]


async def esign(cashier, app, out):
    """Setting esign on (the test's --settings): a sale signed on the
    screen by the touch panel, confirmed by a tap on CONFIRM; the image
    goes up to the host (firmware/signatures.py)."""
    from firmware import signpad
    d = cashier.d
    await cashier.idle()
    cashier.keys_enter("2600")
    await cashier.wait("Swipe, insert or tap card")
    d.card("swipe", CARD)
    await cashier.wait("Cardholder: sign in the box")
    await d.sign(SIGNATURE)
    x, y, w, h = signpad.layout(240, 320)["confirm"]
    await d.sign([[[x + w // 2, y + h // 2]]])
    await cashier.receipts("Sale approved")
    await cashier.idle()
    out["signature"] = SIGNATURE
    # Every packet acknowledged by an 0830 that names it (esign_message.check_answer).
    out["uploads_owed"] = len(app.state.pending_uploads())
    out["batches"] = {"%d" % app.state.batch: d.journal()}


def shown_code(app):
    return [line for line in app.devices.display.lines if line.startswith("QR: ")][0][4:]


MODES = {"full": full, "reversal": reversal, "timed": timed, "paper": paper, "esign": esign}


def live_heap():
    """Bytes the app holds after a collection (MicroPython only; None elsewhere)."""
    if not hasattr(gc, "mem_alloc"):
        return None
    gc.collect()
    return gc.mem_alloc()


def peak_rss_kib():
    """The process's peak resident set (VmHWM) from /proc, None off Linux.
    Read from inside: a parent's rusage of a forked child also counts the
    pages the child had before exec."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def ms_since(start):
    if hasattr(time, "ticks_ms"):
        return time.ticks_diff(time.ticks_ms(), start)
    return int((time.monotonic() - start) * 1000)


def now():
    return time.ticks_ms() if hasattr(time, "ticks_ms") else time.monotonic()


def main():
    args = parse_args(sys.argv[1:])
    sys.path.insert(0, args["path"])
    from hal.compat import asyncio
    from firmware.driver import Driver
    from firmware.main import build_app

    started = now()
    settings = json.loads(args["settings"])
    # PyPI's MicroPython has no fsync (nor ffi): a test run may take money on it.
    settings.setdefault("allow_volatile_storage", True)
    settings["host_port"] = int(args["port"])
    settings.setdefault("test_keys", True)  # the simulated key store's public test master key
    app = build_app({"devices": {"storage": "dir:" + args["data"]}, "settings": settings},
                    log_stream=sys.stderr)
    driver = Driver(app)
    cashier = Cashier(driver)
    out = {"mode": args["mode"], "interpreter": sys.implementation.name, "count": args.get("count", "1")}

    async def steps():
        from firmware.operators import SUPERVISOR
        await cashier.idle()
        out["heap_after_boot"] = live_heap()
        out["first_batch"] = app.state.batch
        out["factory_password_at_start"] = app.operators.is_factory(SUPERVISOR)
        await MODES[args["mode"]](cashier, app, out)

    async def app_or_bust(steps_task):
        """The app's loop; if it dies (it should never), stop the cashier at
        once instead of letting every wait run out."""
        try:
            await app.run()
        except Exception as e:  # noqa: BLE001 - reported as JSON below
            out["app_died"] = "%s: %s" % (type(e).__name__, e)
            steps_task.cancel()

    async def session():
        steps_task = asyncio.create_task(steps())
        app_task = asyncio.create_task(app_or_bust(steps_task))
        try:
            await steps_task
        except BaseException as e:  # reported as JSON: the test shows it with the screen
            out["error"] = out.get("app_died") or "%s: %s" % (type(e).__name__, e)
            out["screen"] = driver.screen_text()
        finally:
            app.stop()
            try:
                await asyncio.wait_for(app_task, 5)
            except Exception:  # noqa: BLE001 - a flow still waiting is cut off, as at power-off
                app_task.cancel()

    asyncio.run(session())
    settled = out.get("batches") or {}
    out["batches"] = {}
    # The benchmarks' day reports times and heap, not a journal: printing
    # 200 transactions as one JSON text would take a block the measured
    # heap may not have.
    batch = out.get("first_batch") if args["mode"] != "timed" else None
    while batch is not None and batch <= app.state.batch:
        out["batches"]["%d" % batch] = settled.get("%d" % batch) or driver.journal(batch)
        batch += 1
    out["current_batch"] = app.state.batch
    out["printouts"] = driver.printout_count()
    out["ms"] = ms_since(started)
    out["heap_at_end"] = live_heap()
    if hasattr(gc, "mem_free"):
        out["heap_size"] = gc.mem_alloc() + gc.mem_free()
    print(json.dumps(out))
    if "error" in out:
        sys.exit(1)


main()
