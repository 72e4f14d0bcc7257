"""The card-reader module's serial protocol: plain functions over bytes.

Handset card readers are modules behind a UART. This is the small framed
protocol our firmware speaks to one (docs/DRIVERS.md has the reference);
the driver (hal/linux/reader.py) and the module simulator
(emulator/peripherals/card_module.py) both use these functions.

A frame, both ways:

    STX (02) | LEN (2 bytes, big-endian) | ~LEN (the same 2 bytes, inverted) | CMD | DATA ... | LRC

~LEN guards the length: the LRC alone let one flipped bit of LEN shorten a
frame into a shorter one whose last data byte happened to be a good LRC
(one time in 256; property-based testing found such a frame), and the
reader would have taken a cut APDU answer for a whole one. With ~LEN, any
single damaged bit is caught: in LEN or ~LEN by the pair, anywhere else by
the LRC. LEN counts CMD and DATA (1..MAX_LENGTH); LRC is the XOR of the LEN, ~LEN, CMD and
DATA bytes. The terminal sends a command; the module answers every command
with one frame of the same CMD whose DATA starts with a status byte. The
module never speaks unasked: the terminal polls.

    CMD  name       terminal sends          module answers (after the status byte)
    01   POLL       -                       event: 00 none | 01 swipe + track 2 (ASCII,
                                            empty if unreadable) | 02 inserted + 00 chip
                                            answered reset / 01 no chip | 03 tapped | 04 removed
    02   APDU       command APDU            response APDU (data + SW1 SW2)
    03   POWER_OFF  -                       -   (contacts / field off)
    04   BEEP       duration ms (2 bytes)   -
    05   LED        led number, 0 off / 1 on -

    status: 00 OK, 01 no card, 02 card mute, 03 unknown command, 04 bad frame, 05 bad data
"""

STX = 0x02
MAX_LENGTH = 512   # an extended APDU would need more; short APDUs are at most 261

POLL = 0x01
APDU = 0x02
POWER_OFF = 0x03
BEEP = 0x04
LED = 0x05
COMMANDS = (POLL, APDU, POWER_OFF, BEEP, LED)

OK = 0x00
NO_CARD = 0x01
CARD_MUTE = 0x02
UNKNOWN_COMMAND = 0x03
BAD_FRAME = 0x04
BAD_DATA = 0x05
STATUS_TEXT = {OK: "ok", NO_CARD: "no card", CARD_MUTE: "the card does not answer",
               UNKNOWN_COMMAND: "unknown command", BAD_FRAME: "bad frame", BAD_DATA: "bad data"}

EVENT_NONE = 0x00
EVENT_SWIPE = 0x01
EVENT_INSERT = 0x02
EVENT_TAP = 0x03
EVENT_REMOVE = 0x04

INSERT_CHIP_OK = 0x00
INSERT_NO_CHIP = 0x01


class FrameError(ValueError):
    """Bytes that are not a good frame. `skip` is how many bytes of the
    buffer to drop before looking for the next STX."""

    def __init__(self, message, skip):
        super().__init__(message)
        self.skip = skip


HEAD = 5   # STX, LEN, ~LEN


def lrc(data):
    value = 0
    for b in data:
        value ^= b
    return value


def encode_frame(command, data=b""):
    body = bytes((command,)) + bytes(data)
    if len(body) > MAX_LENGTH:
        raise ValueError("frame body of %d bytes exceeds %d" % (len(body), MAX_LENGTH))
    head = bytes((len(body) >> 8, len(body) & 0xFF))
    head += bytes((head[0] ^ 0xFF, head[1] ^ 0xFF))
    return bytes((STX,)) + head + body + bytes((lrc(head + body),))


def decode_frame(buffer):
    """The first frame in `buffer` -> (command, data, rest), or None while
    it is incomplete. FrameError for bytes that cannot start a frame, a
    length out of range or a wrong LRC (e.skip says what to drop)."""
    if not buffer:
        return None
    if buffer[0] != STX:
        next_stx = buffer.find(bytes((STX,)), 1)
        raise FrameError("0x%02X where a frame should start" % buffer[0],
                         next_stx if next_stx > 0 else len(buffer))
    if len(buffer) < HEAD:
        return None
    length = (buffer[1] << 8) | buffer[2]
    if buffer[3] != buffer[1] ^ 0xFF or buffer[4] != buffer[2] ^ 0xFF:
        raise FrameError("frame length and its check differ", 1)
    if not 1 <= length <= MAX_LENGTH:
        raise FrameError("frame length %d out of range" % length, 1)
    end = HEAD + length + 1
    if len(buffer) < end:
        return None
    if lrc(buffer[1:end - 1]) != buffer[end - 1]:
        raise FrameError("frame LRC wrong", 1)
    return buffer[HEAD], bytes(buffer[HEAD + 1:end - 1]), bytes(buffer[end:])


# -- what the answers carry ------------------------------------------------------

def answer(command, status=OK, data=b""):
    """The module's answer frame."""
    return encode_frame(command, bytes((status,)) + bytes(data))


def split_answer(data):
    """An answer's DATA -> (status, payload)."""
    if not data:
        raise ValueError("an answer without a status byte")
    return data[0], data[1:]


def encode_event(event, payload=b""):
    """A POLL answer's payload: event byte + what goes with it."""
    return bytes((event,)) + bytes(payload)


def decode_event(payload):
    """POLL payload -> (event, extra): track 2 text for a swipe (None if
    unreadable), True/False "chip answered" for an insert, None otherwise."""
    if not payload:
        raise ValueError("a POLL answer without an event")
    event, rest = payload[0], payload[1:]
    if event == EVENT_SWIPE:
        if not rest:
            return event, None
        try:
            return event, rest.decode()
        except UnicodeError:
            return event, None
    if event == EVENT_INSERT:
        return event, (not rest or rest[0] == INSERT_CHIP_OK)
    if event in (EVENT_NONE, EVENT_TAP, EVENT_REMOVE):
        return event, None
    raise ValueError("unknown reader event 0x%02X" % event)


def beep_data(duration_ms):
    if not 0 <= duration_ms <= 0xFFFF:
        raise ValueError("beep of %d ms out of range" % duration_ms)
    return bytes((duration_ms >> 8, duration_ms & 0xFF))


def led_data(led, on):
    if not 0 <= led <= 0xFF:
        raise ValueError("led %d out of range" % led)
    return bytes((led, 1 if on else 0))
