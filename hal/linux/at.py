"""Cellular modem over AT commands on a serial line; data over the kernel.

    open_device("modem", "at:/dev/ttyS1?baud=115200")
    options: baud (115200), answer_ms (2000: wait for a command's final
    line), refresh_ms (0: status older than this is asked again before a
    connection; 0 asks before every one, a few AT round trips of some ms
    against a connection that takes seconds)

The AT port tells the state: SIM (+CPIN), signal (+CSQ), registration
(+CEREG for LTE, +CREG for circuit switched). The data itself goes through
the kernel's network interface that the modem gives (PPP, ECM or QMI, set
up by the system), so a connection is a plain TCP socket: the driver only
refuses one, with the reason, while there is no SIM or no network.

One reader task owns the line. It hands each line either to the command
waiting for its answer or, when the line is not part of that answer, to
the unsolicited-line handler (+CREG/+CEREG with one field after AT+CREG=1,
+CPIN after a SIM swap, RING, ...): an unsolicited line arriving between a
command and its answer never corrupts the answer.
"""

from hal import at_commands as at
from hal.compat import TimeoutError, asyncio, ticks_diff, ticks_ms, wait_for_ms
from hal.errors import ModemError
from hal.linux.serial import DeviceGone, SerialPort, int_option, parse_baud, stop_task
from hal.modem import Modem, open_tcp

READ_CHUNK = 256
KEEP_UNSOLICITED = 16


class ModemNotResponding(ModemError):
    """No answer within answer_ms, or the line is gone (as opposed to an
    answer that says ERROR)."""


class _Pending:
    """The command waiting for its answer."""

    def __init__(self, command, prefix):
        self.command = command
        self.prefix = prefix     # '+CSQ:' - the answer's information lines
        self.lines = []
        self.final = None
        self.done = asyncio.Event()


class AtModem(Modem):
    def __init__(self, path, baud=115200, answer_ms=2000, refresh_ms=0):
        Modem.__init__(self)
        self.path = path
        self.answer_ms = answer_ms
        self.refresh_ms = refresh_ms
        self._port = SerialPort(path, baud, "modem")
        self._task = None
        self._lock = asyncio.Lock()
        self._pending = None
        self._gone = None            # why the line went away, once it has
        self._refreshed_at = None
        self._set_up = False         # echo off and unsolicited registration lines on
        self.rssi = 99
        self.sim = "UNKNOWN"
        self.networks = {}           # '+CEREG:' -> 'home' ...
        self.unsolicited = []        # the last unsolicited lines, for tests and the log

    @classmethod
    def from_address(cls, path, baud="115200", answer_ms="2000", refresh_ms="0"):
        if not path:
            raise TypeError("at: needs the modem's AT port, like at:/dev/ttyS1")
        return cls(path, parse_baud(baud), int_option("answer_ms", answer_ms, 10, 600000),
                   int_option("refresh_ms", refresh_ms, 0, 3600000))

    # -- Modem -------------------------------------------------------------------

    def signal(self):
        return self.rssi

    def sim_status(self):
        return self.sim

    def registration(self):
        """LTE registration if the modem reports it, else circuit switched."""
        for prefix in ("+CEREG:", "+CREG:", "+CGREG:"):
            state = self.networks.get(prefix)
            if state in (at.HOME, at.ROAMING):
                return state
        for prefix in ("+CEREG:", "+CREG:", "+CGREG:"):
            if prefix in self.networks:
                return self.networks[prefix]
        return at.UNKNOWN

    async def _open(self, host, port):
        if self._stale():
            await self.refresh()
        if self.sim != "READY":
            raise ModemError("no SIM card" if self.sim == "ABSENT" else "SIM not ready (%s)" % self.sim)
        if self.registration() not in (at.HOME, at.ROAMING):
            raise ModemError("not registered on the network (%s)" % self.registration())
        return await open_tcp(host, port)

    def _stale(self):
        if self._refreshed_at is None or self.sim != "READY":
            return True
        if self.registration() not in (at.HOME, at.ROAMING):
            return True
        return ticks_diff(ticks_ms(), self._refreshed_at) >= self.refresh_ms

    # -- asking the modem ----------------------------------------------------------

    async def refresh(self):
        """Ask SIM, signal and registration again; ModemError if the modem
        does not answer."""
        if not self._set_up:
            await self.command("ATE0")   # no echo: answers are shorter, and an echo is no answer
            for prefix in ("+CREG", "+CEREG"):
                try:
                    await self.command("AT%s=1" % prefix)  # unsolicited lines on change, 1 field
                except ModemNotResponding:
                    raise
                except ModemError:
                    pass                         # ERROR: a 2G-only modem has no +CEREG
            self._set_up = True
        lines, error = await self.command("AT+CPIN?", "+CPIN:", allow_error=True)
        self.sim = at.sim_state(at.parse_cpin(lines[0]) if lines else None, error)
        lines, _ = await self.command("AT+CSQ", "+CSQ:")
        self.rssi = self._parsed(at.parse_csq, lines, 99)
        for prefix in ("+CEREG", "+CREG"):
            lines, error = await self.command("AT%s?" % prefix, prefix + ":", allow_error=True)
            if error is None and lines:
                self._note_registration(lines[-1])
        self._refreshed_at = ticks_ms()

    def _parsed(self, parse, lines, default):
        try:
            return parse(lines[-1]) if lines else default
        except at.AtError:
            return default

    async def command(self, command, prefix=None, allow_error=False):
        try:
            return await self._command(command, prefix, allow_error)
        except ModemNotResponding:
            # A modem that was reset or replaced has echo back on and no
            # unsolicited lines: set it up again next time.
            self._set_up = False
            raise

    async def _command(self, command, prefix, allow_error):
        """Send one command; -> (its information lines, None) or, with
        allow_error, (lines, the error). ModemError when the modem does not
        answer within answer_ms, answers with an error, or is gone."""
        self.start()
        async with self._lock:
            if self._gone:
                raise ModemNotResponding("modem %s is gone: %s" % (self.path, self._gone))
            pending = _Pending(command, prefix)
            self._pending = pending
            try:
                self._port.write(at.command_line(command))
                await wait_for_ms(pending.done.wait(), self.answer_ms)
            except TimeoutError:
                raise ModemNotResponding("modem not responding: no answer to %s within %d ms"
                                 % (command, self.answer_ms))
            except DeviceGone as e:
                raise ModemNotResponding("modem not responding: %s" % e)
            finally:
                self._pending = None
        if pending.final is None:
            raise ModemNotResponding("modem %s is gone: %s" % (self.path, self._gone))
        error = at.final_error(pending.final)
        if error is not None and not allow_error:
            raise ModemError("modem answered %s to %s" % (pending.final, command))
        return pending.lines, error

    # -- the reader task -------------------------------------------------------------

    def start(self):
        if self._task is None:
            self._task = asyncio.create_task(self._read_lines())

    async def _read_lines(self):
        buffer = b""
        while True:
            try:
                chunk = await self._port.read(READ_CHUNK, None)
            except DeviceGone as e:
                self._line_gone(str(e))
                return
            lines, buffer = at.split_lines(buffer + chunk)
            for line in lines:
                self._dispatch(line)

    def _dispatch(self, line):
        pending = self._pending
        if pending is not None and pending.final is None:
            if line == pending.command:
                return  # the echo of a modem that still echoes
            if at.is_final(line):
                pending.final = line
                pending.done.set()
                return
            if pending.prefix and line.startswith(pending.prefix) and self._is_answer(line, pending.prefix):
                pending.lines.append(line)
                return
        self._unsolicited(line)

    def _is_answer(self, line, prefix):
        if at.registration_prefix(line):
            return at.is_registration_answer(line)
        return True

    def _unsolicited(self, line):
        self.unsolicited.append(line)
        if len(self.unsolicited) > KEEP_UNSOLICITED:
            self.unsolicited.pop(0)
        if at.registration_prefix(line):
            self._note_registration(line)
        elif line.startswith("+CPIN:"):
            self.sim = at.sim_state(at.parse_cpin(line))
        # RING, +CMTI and the like: nothing a payment terminal acts on.

    def _note_registration(self, line):
        try:
            prefix, state = at.parse_registration(line)
        except at.AtError:
            return
        self.networks[prefix] = state

    def _line_gone(self, why):
        self._gone = why
        self.sim = "UNKNOWN"
        self.rssi = 99
        self.networks = {}
        pending = self._pending
        if pending is not None:
            pending.done.set()  # final stays None: command() reports the line gone

    def close(self):
        stop_task(self._task)
        self._task = None
        self._port.close()
