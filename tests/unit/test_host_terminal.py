"""A small ISO 8583 terminal for the host simulator's tests (no tests in this
file: the other test_host_* files import it): plain blocking
sockets, firmware.iso8583 for the messages, hal.crypto for keys, PIN blocks
and MACs. It is deliberately not firmware/host.py: the host is tested
against the protocol, not against our terminal's reading of it."""

import socket

from firmware import iso8583
from hal import crypto
from emulator.host.server import DEFAULT_MASTER_KEY

TPDU = bytes.fromhex("6000010002")
HEADER = bytes.fromhex("603100310000")


class Terminal:
    def __init__(self, port, tid="10000001", mid="898100012340001",
                 master_key=DEFAULT_MASTER_KEY, mac_algorithm="x919"):
        self.port = port
        self.tid = tid
        self.mid = mid
        self.master_key = master_key
        self.mac_algorithm = mac_algorithm
        self.trace = 0
        self.batch = 1
        self.pin_key = None
        self.mac_key = None
        self.last_request = None

    # -- wire ---------------------------------------------------------------

    def connect(self, timeout=3.0):
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def mac(self, mti, fields, key=None):
        data = iso8583.mac_data(mti, fields)
        key = key or self.mac_key
        if self.mac_algorithm == "ecb":
            return crypto.mac_unionpay_ecb(key, data)
        if self.mac_algorithm == "x99":
            return crypto.mac_x99(key, data)
        return crypto.mac_x919(key, data)

    def request_frame(self, mti, fields, with_mac=True):
        fields = dict(fields)
        if with_mac:
            fields[64] = self.mac(mti, fields)
        self.last_request = (mti, fields)
        return iso8583.frame(iso8583.pack(mti, fields), TPDU, HEADER)

    def exchange(self, mti, fields, with_mac=True, sock=None, timeout=3.0):
        """Send one request; -> (reply mti, reply fields). Raises
        ConnectionError when the host hangs up without answering and
        socket.timeout when it never answers."""
        frame = self.request_frame(mti, fields, with_mac)
        own = sock is None
        if own:
            sock = self.connect(timeout)
        try:
            sock.settimeout(timeout)
            sock.sendall(frame)
            payload = read_frame(sock)
        finally:
            if own:
                sock.close()
        tpdu, header, body = iso8583.unframe(payload)
        assert tpdu == iso8583.reply_tpdu(TPDU)
        return iso8583.unpack(body)

    def mac_ok(self, mti, fields):
        return fields.get(64) == self.mac(mti, fields)

    # -- messages -----------------------------------------------------------

    def next_trace(self):
        self.trace += 1
        return "%06d" % self.trace

    def base(self, proc=None, amount=None, trace=None):
        fields = {11: trace or self.next_trace(), 41: self.tid, 42: self.mid}
        if proc is not None:
            fields[3] = proc
        if amount is not None:
            fields[4] = "%012d" % amount
        return fields

    def sign_on(self, network_code="003"):
        fields = self.base()
        fields[60] = iso8583.field60("00", self.batch, network_code)
        fields[63] = "001"
        mti, reply = self.exchange("0800", fields, with_mac=False)
        if reply.get(39) == "00":
            keys = reply[62]
            self.pin_key = unwrap(self.master_key, keys[0:16], keys[16:20])
            self.mac_key = unwrap(self.master_key, keys[20:36], keys[36:40])
            self.batch = int(iso8583.parse_field60(reply[60])["batch"])
        return mti, reply

    def sale_fields(self, card, amount, pin=None, use_track=False, trace=None):
        fields = self.base("000000", amount, trace)
        if use_track:
            fields[35] = card.track2
            fields[22] = "021"
        else:
            fields[2] = card.pan
            fields[14] = card.expiry
            fields[22] = "011"
        fields[25] = "00"
        fields[49] = "156"
        if pin is not None:
            fields[52] = crypto.ecb_encrypt(crypto.effective_key(self.pin_key),
                                            crypto.pin_block_format0(pin, card.pan))
            fields[53] = "2600000000000000"
            fields[22] = fields[22][:2] + "1"
        fields[60] = iso8583.field60("22", self.batch, "000")
        return fields

    def sale(self, card, amount, pin=None, **kw):
        return self.exchange("0200", self.sale_fields(card, amount, pin, **kw))

    def void_fields(self, card, amount, orig_trace, orig_rrn="", orig_auth="", orig_batch=None,
                    trace=None):
        fields = self.base("200000", amount, trace)
        fields[2] = card.pan
        fields[25] = "00"
        fields[49] = "156"
        if orig_rrn:
            fields[37] = orig_rrn
        if orig_auth:
            fields[38] = orig_auth
        fields[60] = iso8583.field60("23", self.batch, "000")
        fields[61] = "%06d%06d" % (orig_batch or self.batch, int(orig_trace))
        return fields

    def void(self, card, amount, orig_trace, **kw):
        return self.exchange("0200", self.void_fields(card, amount, orig_trace, **kw))

    def refund_fields(self, card, amount, orig_rrn, orig_date="0000", trace=None):
        fields = self.base("200000", amount, trace)
        fields[2] = card.pan
        fields[25] = "00"
        fields[37] = orig_rrn
        fields[49] = "156"
        fields[60] = iso8583.field60("25", self.batch, "000")
        fields[61] = "000000000000" + orig_date
        return fields

    def refund(self, card, amount, orig_rrn, orig_date="0000", trace=None):
        return self.exchange("0220", self.refund_fields(card, amount, orig_rrn, orig_date, trace))

    def reversal_fields(self, original, reason="98"):
        """0400 from an original request: the same fields less
        F26/35/36/37/52/53/64, plus the reason in F39."""
        fields = {n: v for n, v in original.items() if n not in (26, 35, 36, 37, 52, 53, 64)}
        fields[39] = reason
        return fields

    def reverse(self, original, reason="98"):
        return self.exchange("0400", self.reversal_fields(original, reason))

    def settle(self, sale_amount, sale_count, refund_amount, refund_count, foreign=None):
        fields = self.base()
        domestic = "%012d%03d%012d%03d0" % (sale_amount, sale_count, refund_amount, refund_count)
        fields[48] = domestic + (foreign or "0" * 31)
        fields[49] = "156"
        fields[60] = iso8583.field60("00", self.batch, "201")
        fields[63] = "001"
        return self.exchange("0500", fields)


def unwrap(master_key, encrypted16, kcv4):
    if encrypted16[8:] == bytes(8):
        key = crypto.ecb_decrypt(master_key, encrypted16[:8]) + bytes(8)
    else:
        key = crypto.ecb_decrypt(master_key, encrypted16)
    assert crypto.key_check_value(key, 4) == kcv4, "working key check value mismatch"
    return key


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("host closed the connection after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def read_frame(sock):
    head = read_exact(sock, 2)
    return read_exact(sock, (head[0] << 8) | head[1])
