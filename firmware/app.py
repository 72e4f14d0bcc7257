"""The app: the one context that owns settings, devices, journal, keys and
UI, and the loop that runs one flow at a time.

    app = App(devices, settings)
    await app.run()          # boot (recovery, sign-on), then the idle screen

Everything a flow needs hangs off `app`; there is no other module-level
state. A flow is an `async def run(app, ...)` in firmware/flows/; run_flow()
turns whatever a flow raises into a message on the screen, never a
traceback, and goes back to the idle screen.
"""

from hal.compat import EventQueue, asyncio
from hal.errors import DeviceError, StorageError
from firmware import ereceipt, pending, receipt, signatures
from firmware.errors import PosError
from firmware.journal import Journal
from firmware.log import Log
from firmware.operators import Operators
from firmware.renewal import ServiceTerm
from firmware.host import HostLink
from firmware.terminal import TerminalState
from firmware.ui import UI

VERSION = "0.1.0"
PRINT_DONE = "print_done"  # event the app posts to itself when a slip is out
PRINTOUTS_MAX_BYTES = 64 * 1024  # slips kept for the test protocol's `printout`


class Devices:
    """The devices the app drives, each behind its HAL interface. The
    OPTIONAL ones may be None: a model without them (no touch panel: no
    signing screen, the cardholder signs the paper slip)."""

    NAMES = ("keypad", "card_reader", "printer", "modem", "display", "clock", "storage", "keystore", "scanner",
             "touch")
    OPTIONAL = ("touch",)

    def __init__(self, keypad, card_reader, printer, modem, display, clock, storage, keystore, scanner,
                 touch=None):
        self.keypad = keypad
        self.card_reader = card_reader
        self.printer = printer
        self.modem = modem
        self.display = display
        self.clock = clock
        self.storage = storage
        self.keystore = keystore
        self.scanner = scanner
        self.touch = touch

    def all(self):
        """The devices present (an optional one the model lacks is left out)."""
        return [getattr(self, name) for name in self.NAMES if getattr(self, name) is not None]


class App:
    def __init__(self, devices, settings, draw=None, log_stream=None):
        self.devices = devices
        self.settings = settings
        self.events = EventQueue()
        for device in devices.all():
            device.set_listener(self.events.put_nowait)
        self.log = Log(log_stream, clock=devices.clock)
        self.journal = Journal(devices.storage, mac=devices.keystore.journal_mac)
        self.state = TerminalState(self.journal)
        self.operators = Operators(devices.storage, devices.clock, settings, devices.keystore)
        self.service_term = ServiceTerm(devices.storage)
        if draw is None:
            from firmware.screen import render as draw
        self.ui = UI(devices.display, self.events, settings, draw, self.status_bar)
        self.host = HostLink(settings, devices.modem, devices.keystore, self.log)
        self.version = VERSION              # the running slot's version when the boot stage started us
        self.signed_on = False
        self.signon_error = None            # code of the boot sign-on's failure (update health check)
        self.last_flow_error = None         # code of the last flow that ended in an error
        self.boot_notices = []              # message codes shown once at boot (update restored)
        self.operator = "01"
        # Why the terminal needs a service engineer: (source, screen line)
        # pairs, shown at the idle screen. While any is listed, new
        # transactions are refused (flows/common.refuse_if_service_needed);
        # settlement, reprint and the support export still work.
        self.service_problems = []
        self.idle_event = asyncio.Event()   # set while the idle screen is up
        self._gb_table = None
        self._stop = False
        # The last slips printed, for the test protocol's `printout` (a real
        # handset's printer cannot be read back). printouts_base is the
        # index of printouts[0], so indexes stay stable as old ones go.
        self.printouts = []
        self.printouts_base = 0

    def status_line(self):
        """What the merchant and a bench engineer must see at a glance: a
        set-up that is weaker than a production terminal's (simulated key
        store, the forgeable ECB MAC). Empty on a production terminal."""
        flags = []
        if self.devices.keystore.simulated:
            flags.append(self.ui.t("STATUS_SIM_KEYS"))
        if self.settings.mac_algorithm == "ecb":
            flags.append(self.ui.t("STATUS_ECB_MAC"))
        return " ".join(flags)

    # -- shared resources ----------------------------------------------------

    @property
    def gb_table(self):
        if self._gb_table is None:
            from firmware.gb2312 import load_table
            self._gb_table = load_table()
        return self._gb_table

    # -- boot and the main loop ----------------------------------------------

    async def boot(self):
        """Recovery is explicit: replay the journal, finish what a power cut
        interrupted (reversals, refunds, receipts), then sign on."""
        self.ui.show("TERMINAL", ["PROCESSING"])
        try:
            self.state.load()
        except DeviceError as e:
            # An unreadable journal (or a key store that cannot check it)
            # must not look like an empty one (trace numbers would repeat):
            # refuse every record until it is fixed.
            self.journal.broken = "cannot be read: %s" % e
        problems = list(self.state.problems)
        if self.journal.broken:
            problems.append(self.journal.broken)
        for problem in problems:
            self.log("journal: %s", problem)
        if self.state.jumped_traces:
            self.log("journal: trace numbers go on after the trace mark (%d skipped)", self.state.jumped_traces)
        if problems:
            self.need_service("journal", ("SERVICE_JOURNAL", len(problems)))
        if not self.devices.storage.durable and not self.settings.allow_volatile_storage:
            # Without fsync a power cut can lose an approved sale or a
            # reversal owed: no money moves on such storage (an interpreter
            # with neither os.fsync nor ffi), unless a simulator says so.
            self.log("storage: no fsync on this interpreter: new transactions refused")
            self.need_service("storage", "SERVICE_NOT_DURABLE")
        if self.journal.broken:
            await self.ui.message("TERMINAL", ["JOURNAL"])
        for code in self.boot_notices:
            await self.ui.message("TERMINAL", [code])
        if self.settings.acquirer_problem:
            # The merchant's settings and the defaults apply until the next
            # sign-on downloads the acquirer's parameters again.
            self.log("settings: %s: left out", self.settings.acquirer_problem)
        if self.operators.load().damaged:
            # Every account stays locked: no void, refund or settlement
            # until the service reset (docs/ARCHITECTURE.md, Passwords).
            self.log("passwords: %s", self.operators.damaged)
            self.need_service("operators", "SERVICE_PASSWORDS")
        if self.journal.dropped_bytes:
            self.log("journal: dropped a torn last record (%d bytes)", self.journal.dropped_bytes)
        if not self.journal.broken:
            # Signature files the journal no longer needs (settled and
            # uploaded, or left by a power cut before their record).
            signatures.sweep(self)
            for txn in self.state.unprinted():
                # Approved, but a power cut came before its signature: the
                # merchant copy printed below has the line to sign on.
                signatures.recover(self, txn)
        self.log("boot: batch %06d, last trace %06d, %d pending reversal(s), %d pending refund(s)",
                 self.state.batch, self.state.last_trace, len(self.state.pending_reversals()),
                 len(self.state.pending_refunds()))
        from firmware.flows import signon
        if self.devices.keystore.has_working_keys():
            # The keys of the last sign-on are still good for a reversal's
            # MAC: what a power cut left unresolved goes out before anything.
            await self.run_flow(pending.clear, quiet=True)
        self.last_flow_error = None
        await self.run_flow(signon.run, quiet=True)
        self.signon_error = None if self.signed_on else (self.last_flow_error or "SIGNON")
        for txn in self.state.unprinted():
            await self.run_flow(print_unprinted, txn)

    async def run(self):
        for device in self.devices.all():
            device.start()  # drivers that watch a device node begin here
        await self.boot()
        while not self._stop:
            try:
                await self.idle()
            except Exception as e:  # noqa: BLE001 - the terminal must come back to idle
                # Flows have run_flow; this catches the idle screen itself
                # (a drawing or device fault). Log it, breathe, try again.
                self.log("idle: %s: %s", type(e).__name__, e)
                await asyncio.sleep(1)

    def need_service(self, source, line):
        """Note a problem only a service engineer can fix. `source` names
        who found it ("journal", "operators"...); `line` is what the idle
        screen shows (a message code or a (code, args...) tuple)."""
        if (source, line) not in self.service_problems:
            self.service_problems.append((source, line))
            self.log("service needed: %s %s", source, line)

    def service_done(self, source):
        """The problems `source` reported are gone (e.g. the journal was
        rewritten from a consistent state by a settlement)."""
        self.service_problems = [p for p in self.service_problems if p[0] != source]

    def status_bar(self):
        """What the screen's status bar shows, from state the devices
        already hold (no I/O: it is read at every screen drawn)."""
        devices = self.devices
        status = {}
        try:
            sim = devices.modem.sim_status()
            status["signal"] = devices.modem.signal()
            status["modem"] = sim != "NO MODEM"
            status["sim"] = sim == "READY"
        except Exception:  # noqa: BLE001 - a modem that cannot say shows as no signal
            status["signal"] = 99
        if ereceipt.prints(self.settings):   # a handset that never prints shows no paper roll
            try:
                status["paper"] = devices.printer.has_paper()
            except Exception:  # noqa: BLE001 - shown as no paper
                status["paper"] = False
        status["host"] = self.host.answered
        now = devices.clock.now()
        status["time"] = (now[3], now[4])
        return status

    def stop(self):
        self._stop = True
        self.events.put_nowait(("key", "CANCEL"))

    async def idle(self):
        """The idle screen: a card starts a sale, a digit starts a sale
        with that digit, MENU opens the menu, F1 signs an operator in."""
        from firmware.flows import admin, menu, sale
        lines = [self.settings.merchant_name, ("OPERATOR", self.operator), "IDLE_HINT", "IDLE_MENU",
                 "IDLE_F1"]
        if not self.signed_on:
            lines.append("SIGNED_OFF")
        term = self.service_term.idle_line(self.devices.clock.now())
        if term:
            lines.append(term)
        if self.service_problems:
            lines = [self.settings.merchant_name, "SERVICE_NEEDED"] + [p[1] for p in self.service_problems] + [
                "IDLE_MENU"]
        status = self.status_line()
        if status:
            lines.append(status)
        self.ui.show("TERMINAL", lines)
        self.idle_event.set()
        try:
            # until the next minute: then the idle screen is drawn again,
            # so the status bar's clock moves
            kind, value = await self.ui.next_event((60 - self.devices.clock.now()[5]) * 1000)
        except PosError:
            return
        finally:
            self.idle_event.clear()
        if self._stop:
            return
        if kind == "card" and value.action != "remove":
            await self.run_flow(sale.run, value)
        elif kind == "key" and value == "MENU":
            await self.run_flow(menu.run)
        elif kind == "key" and value == "F1":
            await self.run_flow(admin.operator_sign_in)
        elif kind == "key" and value.isdigit() and value != "0":
            await self.run_flow(sale.run, None, value)

    async def run_flow(self, flow, *args, **kwargs):
        """Run a flow; whatever it raises ends as a message, never a
        traceback. The message carries the title of the flow's last screen."""
        try:
            return await flow(self, *args, **kwargs)
        except PosError as e:
            self.last_flow_error = e.code
            self.log("%s ended: %s", self._flow_title(), e.code)
            if not kwargs.get("quiet"):
                await self.ui.error(self._flow_title(), e)
        except StorageError as e:
            self.last_flow_error = e.code
            self.log("%s: storage: %s", self._flow_title(), e)
            await self.ui.error(self._flow_title(), PosError(e.code))
        except DeviceError as e:
            self.last_flow_error = e.code
            self.log("%s: device: %s", self._flow_title(), e)
            await self.ui.error(self._flow_title(), PosError(e.code))
        except Exception as e:  # noqa: BLE001 - the last line of defence for the merchant
            self.last_flow_error = "INTERNAL"
            try:
                from hal.compat import exception_text
                self.log("%s: internal error %s: %s\n%s", self._flow_title(), type(e).__name__, e,
                         exception_text(e))
            except MemoryError:
                pass  # out of memory: the message below matters more than the log line
            await self.ui.error(self._flow_title(), PosError("INTERNAL"))
        finally:
            self.ui.drain()

    def _flow_title(self):
        return self.devices.display.title or "TERMINAL"

    # -- printing ---------------------------------------------------------------

    async def print_slip(self, lines, title="TERMINAL"):
        """Print one slip; show 'out of paper' while the printer waits.
        With paper none nothing reaches the printer (there may be none, or
        one without paper that would wait for ever): PosError PAPER_NONE."""
        if not ereceipt.prints(self.settings):
            raise PosError("PAPER_NONE")
        data = receipt.to_escpos(lines, self.gb_table)
        printer = self.devices.printer
        outcome = {}

        async def print_then_post():
            try:
                await printer.print_job(data)
            except Exception as e:  # noqa: BLE001 - handed to the waiting flow below
                outcome["error"] = e
            self.events.put_nowait(("printer", PRINT_DONE))

        asyncio.create_task(print_then_post())
        self.ui.show(title, ["PRINTING"])
        while True:
            event = await self.events.get()
            if event[0] != "printer":
                continue  # keys and cards during printing are dropped on purpose
            if event[1] == PRINT_DONE:
                break
            if event[1] == "paper_out":
                self.ui.show(title, ["PAPER_OUT", "LOAD_PAPER"])
            elif event[1] == "paper_ok":
                self.ui.show(title, ["PRINTING"])
        if "error" in outcome:
            raise outcome["error"]
        self.printouts.append(data)
        # Bounded by bytes, not count: a handset has a few MB of RAM.
        while len(self.printouts) > 1 and sum(len(p) for p in self.printouts) > PRINTOUTS_MAX_BYTES:
            self.printouts.pop(0)
            self.printouts_base += 1

    async def print_receipts(self, txn, reprint=False, copies=None):
        """Merchant copy, then (after the tear) the cardholder copy: the
        copies setting `paper` prints (firmware/ereceipt.paper_copies), or
        the first `copies`.

        Each slip is journaled (`printing`) before its first byte goes to
        the printer, and each original copy again once printed (`printed`).
        A copy that was started but never marked printed (a power cut, a
        printer fault mid-slip) may exist on paper: it comes out again as a
        numbered reprint, never as a second original. A reprint takes the
        next reprint number, journaled first, so every slip's verification
        code is its own. No copy to print (paper none, or the rest no longer
        prints): `printed` is journaled all the same, so nothing is owed at
        boot and a later change of the setting prints no old receipts."""
        title = txn["type"].upper()
        if copies is None:
            kinds = ereceipt.paper_copies(self.settings)
        else:
            kinds = (receipt.MERCHANT_COPY, receipt.CARDHOLDER_COPY)[:copies]
        if not reprint:
            done = txn.get("copies_printed") or []
            kinds = [copy for copy in kinds if copy not in done]
            if not kinds:
                if not txn.get("printed"):
                    self.state.record("printed", batch=txn["batch"], trace=txn["trace"], all=True)
                return
        for index, copy in enumerate(kinds):
            if index > 0:
                await self.ui.message(title, ["TEAR_MERCHANT"], self.settings.tear_pause_ms)
            duplicate = reprint or copy in (txn.get("copies_started") or [])
            number = txn.get("reprints", 0) + 1 if duplicate else 0
            self.state.record("printing", batch=txn["batch"], trace=txn["trace"], copy=copy, reprint=number)
            code = receipt.code_from_mac(self.devices.keystore.receipt_mac(
                receipt.txn_verification_data(self.settings, txn, copy, number)))
            signature, feature = signatures.printable(self, txn)
            await self.print_slip(receipt.txn_lines(self.settings, txn, copy, duplicate, code, number,
                                                    self.settings.receipt_qr, signature, feature), title)
            if not reprint:
                last = index == len(kinds) - 1
                self.state.record("printed", batch=txn["batch"], trace=txn["trace"], copy=copy, all=last)

    async def print_reversal_slip(self, txn):
        await self.print_slip(receipt.reversal_slip_lines(self.settings, txn), "REVERSAL")


async def print_unprinted(app, txn):
    """Receipts a power cut stopped: printed at boot, once. A copy never
    started is an original; one started and cut is a reprint (print_receipts)."""
    await app.print_receipts(txn)
