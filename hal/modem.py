"""Modem: opens a TCP link to the acquirer host (4G on the handset).

A backend implements _open() and a Link's _read/_write/_close; the wait with
a timeout is written once, here.
"""

from hal.compat import TimeoutError, open_connection, wait_for_ms
from hal.device import Device
from hal.errors import ModemError


class Link:
    """One open connection. recv_exact() is the only read the firmware uses."""

    def __init__(self):
        self._buffer = b""

    async def send(self, data):
        try:
            await self._write(data)
        except OSError as e:
            raise ModemError("link broke while sending: %s" % e)

    async def recv_exact(self, n, timeout_ms):
        """Return exactly n bytes. Raises TimeoutError when they do not all
        arrive within timeout_ms, ModemError when the peer closes."""
        try:
            return await wait_for_ms(self._recv_exact(n), timeout_ms)
        except TimeoutError:
            raise
        except OSError as e:
            raise ModemError("link broke while receiving: %s" % e)

    async def _recv_exact(self, n):
        while len(self._buffer) < n:
            chunk = await self._read(max(n - len(self._buffer), 256))
            if not chunk:
                raise ModemError("host closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def close(self):
        try:
            self._close()
        except OSError:
            pass

    async def _read(self, max_bytes):
        raise NotImplementedError

    async def _write(self, data):
        raise NotImplementedError

    def _close(self):
        raise NotImplementedError


class StreamLink(Link):
    """A link over asyncio streams: a TCP socket through the kernel's
    network stack (the handset's modem gives the kernel a PPP, ECM or QMI
    interface; the simulator uses loopback)."""

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


async def open_tcp(host, port):
    """A StreamLink to host:port over the kernel's network."""
    reader, writer = await open_connection(host, port)
    return StreamLink(reader, writer)


class Modem(Device):
    event_kind = "modem"

    async def connect(self, host, port, timeout_ms):
        """Open a link; raises ModemError (no signal, no SIM, refused) or
        TimeoutError. Either way nothing reached the host."""
        try:
            return await wait_for_ms(self._open(host, port), timeout_ms)
        except TimeoutError:
            raise ModemError("no connection to %s:%s within %d ms" % (host, port, timeout_ms))
        except OSError as e:
            raise ModemError("cannot connect to %s:%s: %s" % (host, port, e))

    def signal(self):
        """Signal quality 0..31 (AT+CSQ scale), 99 if unknown."""
        raise NotImplementedError

    def sim_status(self):
        """'READY', 'ABSENT', 'PIN' (as AT+CPIN? reports)."""
        raise NotImplementedError

    def registration(self):
        """Network registration: 'home', 'roaming', 'searching', 'denied',
        'not_registered', 'unknown' (hal/at_commands.py)."""
        raise NotImplementedError

    def signal_dbm(self):
        """Signal strength in dBm, None if unknown."""
        from hal.at_commands import rssi_to_dbm
        return rssi_to_dbm(self.signal())

    async def _open(self, host, port):
        raise NotImplementedError
