"""Simulated 4G modem: real TCP over the machine's network stack (loopback
in tests), with switches for the failures a handset meets in the field."""

from hal.compat import open_connection
from hal.errors import ModemError
from hal.modem import Link, Modem


class StreamLink(Link):
    def __init__(self, reader, writer):
        Link.__init__(self)
        self._reader = reader
        self._writer = writer

    async def _read(self, max_bytes):
        return await self._reader.read(max_bytes)

    async def _write(self, data):
        self._writer.write(data)
        await self._writer.drain()

    def _close(self):
        self._writer.close()


class SimModem(Modem):
    def __init__(self):
        Modem.__init__(self)
        self.powered = True      # False: a dead modem, nothing answers
        self.sim_present = True
        self.csq = 23

    @classmethod
    def from_address(cls, path):
        return cls()

    def signal(self):
        return self.csq if self.powered else 99

    def sim_status(self):
        if not self.powered:
            return "NO MODEM"
        return "READY" if self.sim_present else "ABSENT"

    async def _open(self, host, port):
        if not self.powered:
            raise ModemError("modem does not answer")
        if not self.sim_present:
            raise ModemError("no SIM card")
        reader, writer = await open_connection(host, port)
        return StreamLink(reader, writer)
