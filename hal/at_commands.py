"""AT commands of a cellular modem (3GPP TS 27.007): plain functions over
the text lines, shared by the AT driver (hal/linux/at.py), the modem
simulator (emulator/peripherals/modem.py) and the tests.

    +CSQ: <rssi>,<ber>              rssi 0..31 -> -113 + 2 * rssi dBm, 99 unknown
    +CPIN: READY | SIM PIN | ...    +CME ERROR: 10 = SIM not inserted
    +CREG: <n>,<stat>[,...]         the answer to AT+CREG? (2+ fields)
    +CREG: <stat>[,...]             the unsolicited line once AT+CREG=1 (1 field)
    (+CEREG, +CGREG the same, for LTE and packet data)
    stat: 0 not registered, 1 home, 2 searching, 3 denied, 4 unknown, 5 roaming
"""

HOME = "home"
ROAMING = "roaming"
SEARCHING = "searching"
DENIED = "denied"
NOT_REGISTERED = "not_registered"
UNKNOWN = "unknown"

REGISTRATION_STATES = {0: NOT_REGISTERED, 1: HOME, 2: SEARCHING, 3: DENIED, 4: UNKNOWN, 5: ROAMING,
                       # 27.007 adds SMS-only and emergency-only states; no data on either.
                       6: HOME, 7: ROAMING, 8: DENIED}
REGISTRATION_PREFIXES = ("+CREG:", "+CEREG:", "+CGREG:")
FINAL_OK = "OK"
FINAL_ERRORS = ("ERROR", "+CME ERROR:", "+CMS ERROR:", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE")
CME_SIM_NOT_INSERTED = 10
CME_SIM_PIN_REQUIRED = 11
CME_SIM_FAILURE = 13


class AtError(ValueError):
    """A line that does not have the shape its prefix promises."""


def command_line(command):
    """'AT+CSQ' -> b'AT+CSQ\\r' (a command ends with CR, S3)."""
    if "\r" in command or "\n" in command:
        raise ValueError("an AT command is one line")
    return command.encode() + b"\r"


def split_lines(buffer):
    """bytes received -> (complete lines as str without CR/LF, the rest).
    Empty lines (the CR LF around every answer) are dropped."""
    lines = []
    start = 0
    for i in range(len(buffer)):
        if buffer[i] == 0x0A or buffer[i] == 0x0D:
            if i > start:
                lines.append(_text(buffer[start:i]))
            start = i + 1
    return lines, buffer[start:]


def _text(raw):
    try:
        return raw.decode()
    except UnicodeError:
        return "".join(chr(b) if 0x20 <= b < 0x7F else "?" for b in raw)


def is_final(line):
    """True for a line that ends a command's answer."""
    return line == FINAL_OK or any(line.startswith(e) for e in FINAL_ERRORS)


def final_error(line):
    """None for OK; else the error: 'ERROR', or the +CME ERROR number (int)."""
    if line == FINAL_OK:
        return None
    if line.startswith("+CME ERROR:"):
        value = line[len("+CME ERROR:"):].strip()
        return int(value) if value.isdigit() else value
    return line


def fields(line, prefix):
    """'+CSQ: 23,99', '+CSQ:' -> ['23', '99']."""
    if not line.startswith(prefix):
        raise AtError("%r does not start with %s" % (line, prefix))
    return [f.strip().strip('"') for f in line[len(prefix):].split(",")]


def parse_csq(line):
    """'+CSQ: <rssi>,<ber>' -> rssi 0..31, 99 if unknown."""
    values = fields(line, "+CSQ:")
    try:
        rssi = int(values[0])
    except ValueError:
        raise AtError("bad +CSQ line %r" % line)
    if not (0 <= rssi <= 31 or rssi == 99):
        raise AtError("+CSQ rssi %d out of range" % rssi)
    return rssi


def rssi_to_dbm(rssi):
    """27.007: 0 is -113 dBm or less, 31 is -51 dBm or more, 2 dB a step;
    99 (not known) -> None."""
    if rssi == 99:
        return None
    return -113 + 2 * rssi


def parse_cpin(line):
    """'+CPIN: READY' -> 'READY' (or 'SIM PIN', 'SIM PUK', 'NOT READY' ...)."""
    return line[len("+CPIN:"):].strip() if line.startswith("+CPIN:") else None


def registration_prefix(line):
    for prefix in REGISTRATION_PREFIXES:
        if line.startswith(prefix):
            return prefix
    return None


def is_registration_answer(line):
    """The answer to AT+CREG? has <n> before <stat>; the unsolicited line
    (with n = 1, as the driver sets it) has <stat> alone."""
    prefix = registration_prefix(line)
    return prefix is not None and len(fields(line, prefix)) >= 2 and fields(line, prefix)[1].isdigit()


def parse_registration(line):
    """A +CREG/+CEREG/+CGREG line, answer or unsolicited -> (prefix, state)."""
    prefix = registration_prefix(line)
    if prefix is None:
        raise AtError("%r is not a registration line" % line)
    values = fields(line, prefix)
    stat = values[1] if is_registration_answer(line) else values[0]
    try:
        return prefix, REGISTRATION_STATES[int(stat)]
    except (ValueError, KeyError):
        raise AtError("bad registration status in %r" % line)


def sim_state(cpin, cme_error=None):
    """-> 'READY', 'ABSENT', 'PIN' (as Modem.sim_status() reports)."""
    if cme_error in (CME_SIM_NOT_INSERTED, CME_SIM_FAILURE):
        return "ABSENT"
    if cme_error == CME_SIM_PIN_REQUIRED:
        return "PIN"
    if cpin == "READY":
        return "READY"
    if cpin is not None and ("PIN" in cpin or "PUK" in cpin):
        return "PIN"
    if cpin is None and cme_error is None:
        return "UNKNOWN"
    return "ABSENT"
