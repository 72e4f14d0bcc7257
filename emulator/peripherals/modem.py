"""A cellular modem's AT port on a pty, as the AT driver sees one.

It answers the commands the driver sends (AT, ATE0/1, ATI, AT+CPIN?,
AT+CSQ, AT+CREG?/=n, AT+CEREG?/=n, AT+CGREG?) with 27.007 lines, echoes
until ATE0, and emits unsolicited lines when the network changes. Data does
not pass here: as on a handset, it goes through the kernel's network.

    sim = AtModemSim().start()           # "at:" + sim.path
    sim.remove_sim()                     # +CME ERROR: 10, not registered
    sim.set_registration(2)              # searching (+CEREG: 2 to the driver)
    sim.csq = 99                         # signal unknown
    sim.urc_before_answer = "RING"       # an unsolicited line between command and answer
    sim.silent = True                    # answers nothing
    sim.garble = True                    # answers noise
"""

from hal import at_commands as at
from emulator.peripherals.pty import PtyPeer


class AtModemSim(PtyPeer):
    def __init__(self, path=None):
        PtyPeer.__init__(self, path)
        self.echo = True
        self.sim_present = True
        self.csq = 23
        self.stat = 1           # registered, home network
        self.report = {"+CREG": 0, "+CEREG": 0, "+CGREG": 0}
        self.urc_before_answer = None
        self.garble = False
        self.commands = []      # every command line received, for tests
        self._buffer = b""

    # -- what the world does to the modem ------------------------------------------

    def remove_sim(self):
        with self._lock:
            self.sim_present = False
            self._set_stat(0)
            self._urc("+CPIN: NOT READY")

    def insert_sim(self):
        with self._lock:
            self.sim_present = True
            self._urc("+CPIN: READY")
            self._set_stat(1)

    def set_registration(self, stat):
        """0 not registered, 1 home, 2 searching, 3 denied, 5 roaming."""
        with self._lock:
            self._set_stat(stat)

    def send_urc(self, line):
        with self._lock:
            self._urc(line)

    def _set_stat(self, stat):
        changed = stat != self.stat
        self.stat = stat
        if changed:
            for prefix in ("+CEREG", "+CREG", "+CGREG"):
                if self.report[prefix]:
                    self._urc("%s: %d" % (prefix, stat))

    def _urc(self, line):
        self.send(b"\r\n" + line.encode() + b"\r\n")

    # -- the line ------------------------------------------------------------------

    def on_bytes(self, data):
        self._buffer += data
        while b"\r" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\r", 1)
            line = raw.strip(b"\n").decode(errors="replace").strip()
            if line:
                self._command(line)

    def _command(self, line):
        self.commands.append(line)
        if self.echo:
            self.send(line.encode() + b"\r")
        if self.garble:
            self.send(b"\r\n\x8f\xfe+CS#Q\r\n")
            return
        if self.urc_before_answer:
            self._urc(self.urc_before_answer)
        info, final = self._answer(line.upper())
        out = b"".join(b"\r\n" + i.encode() + b"\r\n" for i in info)
        self.send(out + b"\r\n" + final.encode() + b"\r\n")

    def _answer(self, line):
        if line in ("AT", "ATZ", "AT&F"):
            return [], "OK"
        if line in ("ATE0", "ATE1"):
            self.echo = line == "ATE1"
            return [], "OK"
        if line == "ATI":
            return ["POS-SIM LTE modem", "Revision: 1.0"], "OK"
        if line == "AT+CPIN?":
            if not self.sim_present:
                return [], "+CME ERROR: %d" % at.CME_SIM_NOT_INSERTED
            return ["+CPIN: READY"], "OK"
        if line == "AT+CSQ":
            return ["+CSQ: %d,99" % self.csq], "OK"
        for prefix in ("+CREG", "+CEREG", "+CGREG"):
            if line == "AT%s?" % prefix:
                return ["%s: %d,%d" % (prefix, self.report[prefix], self.stat)], "OK"
            if line.startswith("AT%s=" % prefix):
                value = line[len(prefix) + 3:]
                if value not in ("0", "1", "2"):
                    return [], "ERROR"
                self.report[prefix] = int(value)
                return [], "OK"
        return [], "ERROR"
