"""The link to the acquirer host: one request, one validated reply.

exchange() opens a connection through the modem, sends a framed ISO 8583
request with its MAC, reads the reply within the reply timeout and checks
it (MTI + 10, echoed fields, MAC). Whatever goes wrong comes out as a
HostError that says whether the request may have reached the host
(`sent`), which decides between "nothing happened" and "reverse it".
"""

from hal.compat import TimeoutError, unhexlify
from hal.errors import KeyStoreError, ModemError, TlsError
from firmware import iso8583
from firmware.errors import PosError

# Fields a reply must echo unchanged when the request carried them.
ECHOED_FIELDS = (3, 4, 11, 41, 42)
# Fields a reply need not carry, but that must be unchanged if it does.
OPTIONAL_ECHOES = (2, 25, 49)

# Requests that move money: their approval carries an RRN.
FINANCIAL_MTIS = ("0200", "0220")
SALE_PROCESSING = "000000"

# Unsigned codes that hint at a key problem (the host has no usable key for
# us): still no answer, but worth a fresh sign-on before the next try.
UNSIGNED_KEY_HINTS = ("A0", "99", "97")

# Reversal reasons (field 39 of the 0400)
REASON_NO_REPLY = "98"
REASON_BAD_MAC = "A0"
REASON_TERMINAL = "96"
REASON_OTHER = "06"


class HostError(PosError):
    """`sent`: the request may have reached the host. `reason`: the field
    39 a reversal of it carries. `sign_on_again`: an unsigned reply hinted
    at a key problem (A0, 99, 97): sign on before trying again."""

    def __init__(self, code, sent, reason=REASON_OTHER, *args_):
        PosError.__init__(self, code, *args_)
        self.sent = sent
        self.reason = reason
        self.sign_on_again = False


def _no_log(*_args):
    pass


class HostLink:
    def __init__(self, settings, modem, keystore, log=None):
        self._settings = settings
        self._modem = modem
        self._keystore = keystore
        self._log = log or _no_log
        # Did the last exchange get an answer from the host? None before the
        # first; the screen's status bar shows it (the host link).
        self.answered = None

    def _tls(self):
        """The TLS set-up of the link (None: plain TCP), from the settings."""
        if not self._settings.host_tls:
            return None
        from hal.tls import HostTls  # only a TLS link loads it (a handset's heap is small)
        return HostTls(self._settings.host_tls, self._settings.host_tls_pin)

    def _pin_block(self):
        """The length of F52: 16 bytes with SM4 keys."""
        return iso8583.PIN_BLOCK_SM4 if self._settings.key_algorithm == "sm4" else iso8583.PIN_BLOCK_DES

    def _mac(self, mti, fields):
        return self._keystore.mac(iso8583.mac_data(mti, fields, self._pin_block()), self._settings.mac_algorithm)

    def build_frame(self, mti, fields, with_mac=True):
        """-> the bytes that go on the wire (fields gets F64 when with_mac)."""
        if with_mac:
            fields[64] = b"\x00" * 8
            fields[64] = self._mac(mti, fields)
        body = iso8583.pack(mti, fields, self._pin_block())
        return iso8583.frame(body, unhexlify(self._settings.tpdu), unhexlify(self._settings.header))

    async def exchange(self, mti, fields, with_mac=True, timeout_ms=None):
        """Send `fields` as `mti`; -> the reply's fields (dict), validated.

        Raises HostError: sent=False when the connection never opened (the
        host saw nothing), sent=True otherwise (outcome unknown).
        """
        settings = self._settings
        try:
            frame = self.build_frame(mti, fields, with_mac)
        except KeyStoreError:
            raise HostError("KEYSTORE", False)
        try:
            link = await self._modem.connect(settings.host_address, settings.host_port,
                                             settings.connect_timeout_ms, self._tls())
        except TlsError as e:
            # Not our host, or not provably: nothing was sent to it.
            self._log("host certificate rejected: %s", e)
            raise HostError("HOST_CERT", False)
        except ModemError:
            self.answered = False
            raise HostError("HOST_DOWN", False)
        try:
            try:
                await link.send(frame)
            except TlsError as e:
                # The handshake failed at the first write (MicroPython):
                # no byte of the request left.
                self._log("host certificate rejected: %s", e)
                raise HostError("HOST_CERT", False)
            except ModemError:
                # Some bytes may have left: from here on, the outcome is unknown.
                raise HostError("NO_REPLY", True, REASON_NO_REPLY)
            reply_timeout = settings.reply_timeout_ms if timeout_ms is None else timeout_ms
            try:
                head = await link.recv_exact(2, reply_timeout)
                length = (head[0] << 8) | head[1]
                if length < 11 + 10:
                    raise HostError("BAD_REPLY", True, REASON_TERMINAL)
                payload = await link.recv_exact(length, reply_timeout)
            except (TimeoutError, ModemError):
                self.answered = False
                raise HostError("NO_REPLY", True, REASON_NO_REPLY)
            self.answered = True
        finally:
            link.close()
        return self.check_reply(mti, fields, payload, with_mac)

    def check_reply(self, mti, fields, payload, with_mac):
        """The reply as fields, or HostError: it must be the answer to this
        request (MTI + 10, every echo, the formats the terminal can check)
        and carry a valid MAC. An attacker on the path who changes a field
        meets the MAC (X9.19 by default); one who changes a field the ECB
        MAC cannot protect still meets these checks where they apply."""
        try:
            _tpdu, _header, body = iso8583.unframe(payload)
            reply_mti, reply = iso8583.unpack(body, self._pin_block())
        except iso8583.Iso8583Error:
            raise HostError("BAD_REPLY", True, REASON_TERMINAL)
        if reply_mti != "%04d" % (int(mti) + 10) or 39 not in reply:
            raise HostError("BAD_REPLY", True, REASON_TERMINAL)
        if with_mac:
            mac = reply.get(64)
            if mac is None:
                # A reply nobody signed is never an answer, whatever its F39
                # says: an unsigned "A0" may hide a debit the host made
                # (DESIGN.md security rules). Outcome unknown: reverse or resend.
                error = HostError("BAD_MAC", True, REASON_BAD_MAC)
                error.sign_on_again = reply[39] in UNSIGNED_KEY_HINTS
                raise error
            else:
                try:
                    expected = self._mac(reply_mti, reply)
                except KeyStoreError:
                    raise HostError("BAD_MAC", True, REASON_BAD_MAC)
                if mac != expected:
                    raise HostError("BAD_MAC", True, REASON_BAD_MAC)
        if not reply_fields_match(mti, fields, reply):
            raise HostError("BAD_REPLY", True, REASON_TERMINAL)
        return reply


def _is_text(value, length, allowed):
    if not isinstance(value, str) or len(value) != length:
        return False
    for ch in value:
        if ch not in allowed:
            return False
    return True


DIGITS = "0123456789"
ALPHANUMERIC = DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _valid_time(hhmmss):
    return int(hhmmss[0:2]) < 24 and int(hhmmss[2:4]) < 60 and int(hhmmss[4:6]) < 60


def _valid_date(mmdd):
    return 1 <= int(mmdd[0:2]) <= 12 and 1 <= int(mmdd[2:4]) <= 31


def reply_fields_match(mti, request, reply):
    """Every field of a reply that the terminal can check against its
    request: the echoes (3, 4, 11, 41, 42 always; 2, 25, 49 and the type
    and batch of 60 when the host sends them back), a response code, and
    the formats of what the host adds (RRN 12 digits, auth code 6
    letters or digits, time and date that exist). An approved financial
    request must carry its RRN, and an approved sale its auth code: the
    receipt needs both and the host always gives them."""
    for number in ECHOED_FIELDS:
        if number in request and reply.get(number) != request[number]:
            return False
    for number in OPTIONAL_ECHOES:
        if number in request and number in reply and reply[number] != request[number]:
            return False
    if 60 in request and 60 in reply and mti not in ("0800",):
        # Type code and batch are ours; the network code may differ.
        if reply[60][:8] != request[60][:8]:
            return False
    rc = reply.get(39)
    if not _is_text(rc, 2, ALPHANUMERIC):
        return False
    if 37 in reply and not _is_text(reply[37], 12, DIGITS):
        return False
    if 38 in reply and not _is_text(reply[38], 6, ALPHANUMERIC + " "):
        return False
    if 12 in reply and not _valid_time(reply[12]):
        return False
    if 13 in reply and not _valid_date(reply[13]):
        return False
    if 15 in reply and not _valid_date(reply[15]):   # the settlement date: the feature code's
        return False
    if rc == "00" and mti in FINANCIAL_MTIS:
        if 37 not in reply:
            return False
        if request.get(3) == SALE_PROCESSING and 38 not in reply:
            return False
    return True


def answer_fields(reply):
    """What the journal keeps of a host's answer: response code, and the
    reference number, authorisation code, host date/time and settlement
    date (F15: the e-signature's feature code needs it) it carries."""
    kept = {"rc": reply[39]}
    for number, name in ((37, "rrn"), (38, "auth"), (13, "host_date"), (12, "host_time"), (15, "settle_date")):
        if reply.get(number):
            kept[name] = reply[number]
    return kept
