"""Simulated 4G modem: real TCP over the machine's network stack (loopback
in tests), with switches for the failures a handset meets in the field."""

from hal.errors import ModemError
from hal.modem import Modem, open_tcp


class SimModem(Modem):
    def __init__(self):
        Modem.__init__(self)
        self.powered = True      # False: a dead modem, nothing answers
        self.sim_present = True
        self.csq = 23
        self.network = "home"     # what registration() reports

    @classmethod
    def from_address(cls, path):
        return cls()

    def signal(self):
        return self.csq if self.powered else 99

    def sim_status(self):
        if not self.powered:
            return "NO MODEM"
        return "READY" if self.sim_present else "ABSENT"

    def registration(self):
        return self.network if self.powered else "unknown"

    async def _open(self, host, port):
        if not self.powered:
            raise ModemError("modem does not answer")
        if not self.sim_present:
            raise ModemError("no SIM card")
        if self.network not in ("home", "roaming"):
            raise ModemError("not registered on the network (%s)" % self.network)
        return await open_tcp(host, port)
