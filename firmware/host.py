"""The link to the acquirer host: one request, one validated reply.

exchange() opens a connection through the modem, sends a framed ISO 8583
request with its MAC, reads the reply within the reply timeout and checks
it (MTI + 10, echoed fields, MAC). Whatever goes wrong comes out as a
HostError that says whether the request may have reached the host
(`sent`), which decides between "nothing happened" and "reverse it".
"""

from hal.compat import TimeoutError, unhexlify
from hal.errors import KeyStoreError, ModemError
from firmware import iso8583
from firmware.errors import PosError

# Fields a reply must echo unchanged when the request carried them.
ECHOED_FIELDS = (3, 4, 11, 41, 42)

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


class HostLink:
    def __init__(self, settings, modem, keystore):
        self._settings = settings
        self._modem = modem
        self._keystore = keystore

    def _mac(self, mti, fields):
        return self._keystore.mac(iso8583.mac_data(mti, fields), self._settings.mac_algorithm)

    def build_frame(self, mti, fields, with_mac=True):
        """-> the bytes that go on the wire (fields gets F64 when with_mac)."""
        if with_mac:
            fields[64] = b"\x00" * 8
            fields[64] = self._mac(mti, fields)
        body = iso8583.pack(mti, fields)
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
                                             settings.connect_timeout_ms)
        except ModemError:
            raise HostError("HOST_DOWN", False)
        try:
            try:
                await link.send(frame)
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
            except TimeoutError:
                raise HostError("NO_REPLY", True, REASON_NO_REPLY)
            except ModemError:
                raise HostError("NO_REPLY", True, REASON_NO_REPLY)
        finally:
            link.close()
        return self.check_reply(mti, fields, payload, with_mac)

    def check_reply(self, mti, fields, payload, with_mac):
        try:
            _tpdu, _header, body = iso8583.unframe(payload)
            reply_mti, reply = iso8583.unpack(body)
        except iso8583.Iso8583Error:
            raise HostError("BAD_REPLY", True, REASON_TERMINAL)
        if reply_mti != "%04d" % (int(mti) + 10):
            raise HostError("BAD_REPLY", True, REASON_TERMINAL)
        for number in ECHOED_FIELDS:
            if number in fields and reply.get(number) != fields[number]:
                raise HostError("BAD_REPLY", True, REASON_TERMINAL)
        if 39 not in reply:
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
        return reply


def answer_fields(reply):
    """What the journal keeps of a host's answer: response code, and the
    reference number, authorisation code and host date/time it carries."""
    kept = {"rc": reply[39]}
    for number, name in ((37, "rrn"), (38, "auth"), (13, "host_date"), (12, "host_time")):
        if reply.get(number):
            kept[name] = reply[number]
    return kept
