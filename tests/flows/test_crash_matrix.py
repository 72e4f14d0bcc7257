"""The crash matrix: power cut at every journal write, every request sent
and every reply received of a sale, a void, a refund and a settlement; and
for each of those, a second cut at every such point of the recovery that
follows. After the last boot (no cut) the terminal must agree with the host
to the fen:

  - every transaction the host holds as done is approved in the journal,
    and nothing the journal approves is missing at the host (nothing lost,
    nothing doubled), and the card's balance moved by exactly that;
  - nothing is left owed (no reversal, refund or settlement pending);
  - no original receipt copy was printed twice (reprints are marked);
  - no batch was settled twice, and nothing landed in a batch the host had
    settled.

Fast by construction: the firmware runs in-process (emulator.handset),
the host simulator in memory, and the cut is an exception raised by
wrappers around the storage and the modem link at the chosen event, after
which the loop stops as Handset.power_cut() stops it: no `finally` of the
firmware runs, only what reached the disk survives.
"""

import asyncio
import threading
import time

import pytest

from emulator.handset import Handset
from emulator.host.server import HostSimulator
from firmware import escpos
from hal.sim.deck import find_card
from tests.conftest import TEST_SETTINGS
from tests.flows import cashier
from tests.flows.test_settle_reprint import settle

# A script abandoned by a cut may still ask the dead handset for a screen:
# the coroutine it made is never run, which is the point.
pytestmark = pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")

PAN = find_card("debit-mag").pan
STEP_TIMEOUT_S = 20


class PowerCut(BaseException):
    """Not an Exception: no `except Exception` of the firmware catches it."""


class Cutter:
    """Counts the events (storage writes, requests sent, replies received)
    and cuts the power at event number `cut_at`."""

    def __init__(self, cut_at=None, armed=True):
        self.cut_at = cut_at
        self.armed = armed
        self.events = []
        self.fired = threading.Event()
        self.handset = None

    def event(self, what):
        if not self.armed:
            return
        self.events.append(what)
        if len(self.events) - 1 == self.cut_at:
            self.handset._cut = True
            asyncio.get_running_loop().stop()
            self.fired.set()
            raise PowerCut(what)

    def install(self, app):
        storage = app.devices.storage
        for name in ("append", "write_atomic", "truncate"):
            original = getattr(storage, name)
            setattr(storage, name, self._before(name, original))
        # The journal keeps its file open for appends: those writes too.
        open_append = storage.open_append

        def opened(name):
            kept = open_append(name)
            append = kept.append

            def appended(data, reserve=0):
                self.event("append %s" % name)
                return append(data, reserve)

            kept.append = appended
            return kept

        storage.open_append = opened
        modem = app.devices.modem
        open_link = modem._open
        cutter = self

        async def _open(host, port):
            link = await open_link(host, port)
            send, recv_exact = link.send, link.recv_exact

            async def sent(data):
                await send(data)
                cutter.event("send")      # the request left: the host has it

            async def received(n, timeout_ms):
                data = await recv_exact(n, timeout_ms)
                if n > 2:
                    cutter.event("reply")  # the whole reply arrived, nothing done with it yet
                return data

            link.send, link.recv_exact = sent, received
            return link

        modem._open = _open

    def _before(self, kind, original):
        def wrapped(name, *args, **kwargs):
            self.event("%s %s" % (kind, name))
            return original(name, *args, **kwargs)
        return wrapped


class Scenario:
    """One terminal against one fresh host, across several boots."""

    def __init__(self, tmp_path, host, paper="normal"):
        self.dir = tmp_path
        self.host = host
        self.settings = dict(TEST_SETTINGS, host_port=host.port, message_ms=50, tear_pause_ms=10,
                             reply_timeout_ms=1000, connect_timeout_ms=1000, paper=paper)
        self.printouts = []    # every slip printed, all boots
        self.handset = None

    def boot(self, cutter):
        """Boot with `cutter` watching; -> True if it reached the idle
        screen, False if the power was cut on the way."""
        cutter.handset = h = Handset(self.dir, settings=self.settings, before_boot=cutter.install)
        self.handset = h
        h.start(wait_idle=False)
        end = time.monotonic() + STEP_TIMEOUT_S
        while time.monotonic() < end:
            if cutter.fired.is_set():
                self._wait_dead(h)
                return False
            if h.app.idle_event.is_set():   # a plain flag: read without the loop, which may be stopping
                return True
            time.sleep(0.005)
        raise AssertionError("boot did not reach idle; screen: %s" % h.screen_text())

    def run(self, script, cutter):
        """Run the cashier's `script` on the running handset; -> True if it
        finished, False if the power was cut during it."""
        h = self.handset
        outcome = {}

        def drive():
            try:
                script(h)
                outcome["done"] = True
            except BaseException as e:  # noqa: BLE001 - after a cut the script fails; reported below
                outcome["error"] = e

        thread = threading.Thread(target=drive, daemon=True)
        thread.start()
        end = time.monotonic() + STEP_TIMEOUT_S
        while time.monotonic() < end:
            if cutter.fired.is_set():
                self._wait_dead(h)
                return False
            if not thread.is_alive():
                if "error" in outcome:
                    raise outcome["error"]
                return True
            time.sleep(0.005)
        raise AssertionError("script did not finish; screen: %s" % h.screen_text())

    def _wait_dead(self, h):
        h._thread.join(10)
        assert not h._thread.is_alive(), "the handset did not stop after the cut"
        h._thread = None
        self.printouts.extend(h.app.printouts)

    def stop(self):
        h = self.handset
        if h is not None and h.running:
            self.printouts.extend(h.app.printouts)
            h.power_cut()


# -- the flows, each after its own set-up ------------------------------------------

def setup_sale(h):
    cashier.unlock_supervisor(h)
    cashier.sale(h, 5000, "debit-mag")


def do_sale(h):
    cashier.sale(h, 1234, "debit-mag")


def do_void(h):
    sale = [t for t in h.journal() if t["type"] == "sale"][-1]
    cashier.void(h, sale["trace"])


def do_refund(h):
    sale = [t for t in h.journal() if t["type"] == "sale"][-1]
    cashier.refund(h, sale["rrn"], sale["date"], 700)


def do_settle(h):
    settle(h)


FLOWS = {"sale": do_sale, "void": do_void, "refund": do_refund, "settle": do_settle}


def e_receipt_sale(amount):
    """A sale whose result is the QR e-receipt screen (setting paper
    merchant_only / none): the cardholder scans, a key ends it."""
    def script(h):
        cashier.qr_receipt_sale(h, amount)
    return script


def setup_e_receipt_sale(h):
    cashier.unlock_supervisor(h)
    e_receipt_sale(5000)(h)


PAPER_FLOWS = {"sale": (setup_e_receipt_sale, e_receipt_sale(1234))}


def play(tmp_path, flow, first_cut, second_cut, paper="normal"):
    """Set up, run `flow` with a cut at event `first_cut` (None: no cut),
    boot with a cut at recovery event `second_cut` (None: none), boot
    clean; check. `paper`: the setting; other than normal, PAPER_FLOWS'
    scripts. -> (events of the flow, events of the first recovery)."""
    setup, script = (setup_sale, FLOWS[flow]) if paper == "normal" else PAPER_FLOWS[flow]
    with HostSimulator(None) as host:
        scenario = Scenario(tmp_path, host, paper)
        try:
            cutter = Cutter(armed=False)
            assert scenario.boot(cutter)
            scenario.run(setup, cutter)
            cutter.cut_at, cutter.armed = first_cut, True    # from here on, every event counts
            finished = scenario.run(script, cutter)
            assert finished == (first_cut is None or first_cut >= len(cutter.events)), cutter.events
            recovery = Cutter(second_cut)
            if finished:
                scenario.stop()   # a power cut when all is done: recovery has nothing to do
            if not scenario.boot(recovery):
                scenario.boot(Cutter())
            check(scenario, host)
            return cutter.events, recovery.events
        finally:
            scenario.stop()


def check(scenario, host):
    h = scenario.handset
    state = h.app.state
    txns = h.call(state.transactions)
    tid = scenario.settings.get("terminal_id") or h.app.settings.terminal_id
    rows = host.transactions(tid)
    # Nothing lost, nothing doubled: the host's standing transactions are
    # the journal's approved ones, one for one.
    host_done = {(r["batch"], r["trace"]): r for r in rows if r["status"] in ("approved", "voided")}
    term_done = {key: t for key, t in txns.items() if t["state"] == "approved"}
    assert sorted(host_done) == sorted(term_done), (host_done, term_done)
    for key, row in host_done.items():
        assert (row["kind"], row["amount"]) == (term_done[key]["type"], term_done[key]["amount"])
    # To the fen: the card moved by what the journal approves.
    moved = sum(-t["amount"] if t["type"] == "sale" else t["amount"] for t in term_done.values())
    assert host.balance(PAN) - find_card("debit-mag").balance == moved
    # Nothing owed.
    assert h.call(state.pending_reversals) == [] and h.call(state.pending_refunds) == []
    assert state.settling is None
    # No batch settled twice, nothing booked in a batch after it was settled.
    settled = [s["batch"] for s in host.settlements(tid)]
    assert len(settled) == len(set(settled))
    assert all(b in state.settled_batches for b in settled)
    assert state.batch not in settled
    assert all(r["settled"] for r in rows if r["batch"] in settled)
    # No original copy printed twice.
    originals = {}
    table = h.app.gb_table
    for data in scenario.printouts:
        text = escpos.decode_text(data, table)
        if "签购单 POS SALES SLIP" not in text or "重打印凭证 REPRINT" in text:
            continue
        key = (text[1], [line for line in text if "VOUCHER NO:" in line][0])
        originals[key] = originals.get(key, 0) + 1
    assert all(n == 1 for n in originals.values()), originals
    # Only the copies the setting prints, ever, at any boot.
    paper = scenario.settings["paper"]
    if paper == "none":
        assert scenario.printouts == []
    elif paper == "merchant_only":
        assert not [data for data in scenario.printouts
                    if "持卡人存根 CARDHOLDER COPY" in escpos.decode_text(data, table)]
    # Nothing owed to a printer.
    assert h.call(state.unprinted) == []


@pytest.mark.slow
@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_power_cut_at_every_write_send_and_reply_then_again_during_recovery(tmp_path, flow):
    events, _ = play(tmp_path / "dry", flow, None, None)
    assert any(e == "send" for e in events) and any(e == "reply" for e in events)
    second_cuts = 0
    for first in range(len(events)):
        _, recovery = play(tmp_path / ("cut%d" % first), flow, first, None)
        for second in range(len(recovery)):
            play(tmp_path / ("cut%d-%d" % (first, second)), flow, first, second)
            second_cuts += 1
    print("%s: %d cut points in the flow, %d second cuts in recovery" % (flow, len(events), second_cuts))
