"""The three serial peers of a handset, started together, with the same
operations the emulator's HIL bridge offers on simulated devices
(emulator/hil.py: paper, modem, card), so the host side of the virtual
ARM handset can answer those test-protocol ops with the real drivers in
the guest.

    peers = HandsetPeers(printer=ptys["printer"], modem=ptys["modem"], reader=ptys["reader"]).start()
    peers.paper("out", after=300); peers.paper("in")
    peers.modem("down"); peers.modem("up")
    peers.card("insert", "chip-pin"); peers.card("remove")
    peers.printer.slips()
    peers.stop()

Each path is a tty to attach to (QEMU's `-chardev pty`); None makes a pty
pair of our own (its slave path is then `peers.printer.path`, ...).
"""

from emulator.peripherals.card_module import CardModuleSim
from emulator.peripherals.modem import AtModemSim
from emulator.peripherals.printer import EscPosPrinterSim

CARD_ACTIONS = ("swipe", "insert", "tap", "remove")


class HandsetPeers:
    def __init__(self, printer=None, modem=None, reader=None):
        self.printer = EscPosPrinterSim(printer)
        self.modem_sim = AtModemSim(modem)
        self.reader = CardModuleSim(reader)

    def start(self):
        for peer in (self.printer, self.modem_sim, self.reader):
            peer.start()
        return self

    def stop(self):
        for peer in (self.printer, self.modem_sim, self.reader):
            peer.stop()

    def addresses(self, baud=115200):
        """The guest-independent addresses for a configuration whose
        devices are these very ttys (desk runs on ptys of our own)."""
        return {"printer": "escpos:%s?baud=%d" % (self.printer.path, baud),
                "modem": "at:%s?baud=%d" % (self.modem_sim.path, baud),
                "card_reader": "reader:%s?baud=%d" % (self.reader.path, baud)}

    # -- the HIL bridge's ops ------------------------------------------------------

    def paper(self, state, after=None):
        """"in": paper loaded; "out" with `after`: the roll ends after that
        many more bytes (mid-receipt); "out" alone: no paper now."""
        if state == "in":
            self.printer.load_paper()
        elif after is not None:
            self.printer.paper_runs_out_after(after)
        else:
            self.printer.remove_paper()

    def modem(self, state):
        """"down": the modem answers nothing (as SimModem.powered = False);
        "up": it answers again."""
        self.modem_sim.silent = state == "down"

    def card(self, action, card=None, fault=None):
        if action not in CARD_ACTIONS:
            raise ValueError("card action must be one of %s, not %r" % (", ".join(CARD_ACTIONS), action))
        if action == "remove":
            return self.reader.remove()
        if action == "swipe":
            return self.reader.swipe(card)
        if action == "insert":
            return self.reader.insert(card, fault)
        return self.reader.tap(card, fault)
