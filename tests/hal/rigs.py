"""One rig per backend: the device under test plus the hand that plays the
world around it (the paper roll, the network, the card holder, a cable).

Every contract test takes a rig and runs unchanged against each backend.
A rig that cannot play a fault (the simulated printer has no line to cut)
says so and the test skips with that reason: `rig.can(fault)`.
"""

import asyncio

import pytest

from hal import open_device


class Rig:
    name = "?"
    faults = ()

    def require(self, fault):
        if fault not in self.faults:
            pytest.skip("%s backend cannot play %r (it has no line that fails)" % (self.name, fault))

    def close(self):
        self.device.close()


# -- printer -------------------------------------------------------------------

class SimPrinterRig(Rig):
    name = "sim"

    def __init__(self):
        self.device = open_device("printer", "sim:")

    def printed(self):
        return bytes(self.device.printed)

    def paper_runs_out_after(self, n):
        self.device.paper_runs_out_after(n)

    def remove_paper(self):
        self.device.remove_paper()

    def load_paper(self):
        self.device.load_paper()


class EscPosPrinterRig(Rig):
    name = "escpos"
    faults = ("silent", "garble", "unplug", "cover")

    def __init__(self):
        from emulator.peripherals.printer import EscPosPrinterSim
        self.peer = EscPosPrinterSim().start()
        self.device = open_device("printer", "escpos:%s?line_ms=0&answer_ms=200&paper_poll_ms=20"
                                  % self.peer.path)

    def printed(self):
        return bytes(self.peer.printed)

    def paper_runs_out_after(self, n):
        self.peer.paper_runs_out_after(n)

    def remove_paper(self):
        self.peer.remove_paper()

    def load_paper(self):
        self.peer.load_paper()

    def open_cover(self):
        self.peer.open_cover()

    def close_cover(self):
        self.peer.close_cover()

    def silent(self):
        self.peer.silent = True

    def garble(self):
        self.peer.garble = True

    def unplug(self):
        self.peer.unplug()

    def close(self):
        Rig.close(self)
        self.peer.stop()


# -- modem ----------------------------------------------------------------------

class SimModemRig(Rig):
    name = "sim"

    def __init__(self):
        self.device = open_device("modem", "sim:")

    def remove_sim(self):
        self.device.sim_present = False

    def set_registration(self, stat):
        self.device.network = {1: "home", 2: "searching", 3: "denied", 5: "roaming"}[stat]

    def set_csq(self, rssi):
        self.device.csq = rssi

    async def settle(self):
        await asyncio.sleep(0)


class AtModemRig(Rig):
    name = "at"
    faults = ("silent", "garble", "unplug", "urc")

    def __init__(self):
        from emulator.peripherals.modem import AtModemSim
        self.peer = AtModemSim().start()
        self.device = open_device("modem", "at:%s?answer_ms=300&refresh_ms=0" % self.peer.path)

    def remove_sim(self):
        self.peer.remove_sim()

    def set_registration(self, stat):
        self.peer.set_registration(stat)

    def set_csq(self, rssi):
        self.peer.csq = rssi

    async def settle(self):
        await self.device.refresh()

    def silent(self):
        self.peer.silent = True

    def garble(self):
        self.peer.garble = True

    def unplug(self):
        self.peer.unplug()

    def close(self):
        Rig.close(self)
        self.peer.stop()


# -- card reader ------------------------------------------------------------------

class SimReaderRig(Rig):
    name = "sim"

    def __init__(self):
        self.device = open_device("card_reader", "sim:")
        self.hand = self.device

    async def settle(self):
        await asyncio.sleep(0)


class SerialReaderRig(Rig):
    name = "reader"
    faults = ("silent", "garble", "unplug")

    def __init__(self):
        from emulator.peripherals.card_module import CardModuleSim
        self.peer = CardModuleSim().start()
        self.hand = self.peer
        self.device = open_device("card_reader", "reader:%s?poll_ms=10&answer_ms=300" % self.peer.path)

    async def settle(self):
        # Two poll rounds: whatever the hand did has been seen.
        await asyncio.sleep(0.08)

    def silent(self):
        self.peer.silent = True

    def garble(self):
        self.peer.garble = True

    def unplug(self):
        self.peer.unplug()

    def close(self):
        Rig.close(self)
        self.peer.stop()
