"""Watching the handset's host link from the terminal side, the way
pyserial's spy:// wraps a port: every ISO 8583 frame the modem carries, in
either direction, handed to a callback. The window's inspector pane and
`pos-emulator --host H:P --record F` use it.

    tap = FrameTap(lambda direction, frame: ...)   # "out": to the host, "in": from it
    tap.install(app.devices.modem)                 # after each boot: a new app, a new modem

The firmware is untouched: the tap wraps the link the simulated modem opens
(a Link whose raw _read/_write pass the bytes through and watch them go by).

describe_frame() turns a frame into what the inspector shows: MTI and field
by field, the card number masked, track data, PIN blocks and keys never
shown, and whether the MAC checks out.
"""

import binascii

from firmware import iso8583
from firmware.log import mask_digits
from hal.modem import Link

HIDDEN = {52: "PIN block", 62: "key data"}   # shown as their length only
TRACKS = (35, 36)


class FrameSplitter:
    """Bytes of one direction -> whole frames (2-byte big-endian length +
    payload, as DESIGN.md frames them)."""

    def __init__(self):
        self._buffer = b""

    def feed(self, data):
        self._buffer += data
        frames = []
        while len(self._buffer) >= 2:
            size = 2 + (self._buffer[0] << 8 | self._buffer[1])
            if len(self._buffer) < size:
                break
            frames.append(self._buffer[:size])
            self._buffer = self._buffer[size:]
        return frames


class TappedLink(Link):
    """A link that passes every byte through to `inner` and reports whole
    frames to `on_frame(direction, frame)`."""

    def __init__(self, inner, on_frame):
        Link.__init__(self)
        self._inner = inner
        self._on_frame = on_frame
        self._sent = FrameSplitter()
        self._received = FrameSplitter()

    async def _read(self, max_bytes):
        data = await self._inner._read(max_bytes)
        self._report("in", self._received.feed(data))
        return data

    async def _write(self, data):
        await self._inner._write(data)
        self._report("out", self._sent.feed(data))

    def _close(self):
        self._inner._close()

    def _report(self, direction, frames):
        for frame in frames:
            try:
                self._on_frame(direction, frame)
            except Exception:  # noqa: BLE001 - a watcher's bug must never break the link
                pass


class FrameTap:
    def __init__(self, on_frame):
        self.on_frame = on_frame

    def install(self, modem):
        """Wrap every link `modem` opens from now on."""
        open_link = modem._open
        on_frame = self.on_frame

        async def tapped_open(host, port):
            return TappedLink(await open_link(host, port), on_frame)

        modem._open = tapped_open


def _field_text(number, value):
    """A field as the inspector shows it: the card number masked (F2, and
    the PAN of track data, whose rest is never shown), PIN blocks and keys
    by length only, binary data in hex (masked too: EMV data may carry the
    PAN as BCD). Other fields as they are: a merchant number or F48's
    totals are long digit runs that are not card numbers."""
    if number in HIDDEN:
        return "(%s, %d bytes)" % (HIDDEN[number], len(value))
    if number in TRACKS:
        pan, _, _ = str(value).partition("=")
        return mask_digits(pan) + "=****" if len(pan) >= 13 else "(track data)"
    if number == 64:
        return binascii.hexlify(value).decode().upper() if isinstance(value, (bytes, bytearray)) else str(value)
    if isinstance(value, (bytes, bytearray)):
        return mask_digits(binascii.hexlify(value).decode().upper())
    if number == 2:
        return mask_digits(str(value))
    return str(value)


def describe_frame(frame, mac=None):
    """A frame (length prefix included) -> {"mti", "fields": [(number,
    text)], "mac": "ok" | "BAD" | "none" | "not checked: why", "error"}.
    `mac(mti, fields)` -> the 8 bytes F64 should carry (None: not checked)."""
    try:
        tpdu, header, body = iso8583.unframe(frame[2:])
        mti, fields = iso8583.unpack(body)
    except Exception as e:  # noqa: BLE001 - garbage on the wire is shown, not raised
        return {"mti": "????", "fields": [], "mac": "none",
                "error": "undecodable (%s): %s" % (type(e).__name__, e),
                "hex": binascii.hexlify(frame[:48]).decode().upper()}
    described = {"mti": mti, "fields": [(n, _field_text(n, fields[n])) for n in sorted(fields)],
                 "error": None}
    if 64 not in fields:
        described["mac"] = "none"
    elif mac is None:
        described["mac"] = "not checked"
    else:
        try:
            expected = mac(mti, fields)
        except Exception as e:  # noqa: BLE001 - no working keys yet, say so
            described["mac"] = "not checked: %s" % e
        else:
            described["mac"] = "ok" if bytes(expected) == bytes(fields[64]) else "BAD"
    return described


def keystore_mac(app):
    """mac(mti, fields) for describe_frame, through the handset's own key
    store (it computes MACs, it never hands out a key). Call it on the
    handset's loop thread."""
    def mac(mti, fields):
        return app.devices.keystore.mac(iso8583.mac_data(mti, fields), app.settings.mac_algorithm)
    return mac
