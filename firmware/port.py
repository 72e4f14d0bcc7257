"""The service UART: one port, two protocols.

Update-protocol frames (firmware/update/proto.py, always answered: the
bundle signature protects them) and test-protocol lines (firmware/
testproto.py, answered only when unlocked) share the handset's service
UART, the cable the bench already has. PortSplitter tells them apart at the
start of each message; each gets its own answer.

    await serve(reader, writer, answer_request, update_service)

`answer_request(request)` answers a parsed test-protocol request (None:
locked, lines are read and dropped without a reply); `update_service` is
an UpdateService (None: frames get "no update service").
"""

from hal.compat import TimeoutError, wait_for_ms
from firmware import testproto
from firmware.update import proto

READ_SIZE = 4096
# A frame's or a line's bytes come back to back; a pause this long inside
# one means its sender went away (a cable pulled, pos-flash killed) or its
# start was lost (a frame whose SOH came while the UART was closed, as in
# the boot stage's reboot, reads as a line with no newline): the rest would
# otherwise swallow the next requests as the missing bytes.
FRAME_GAP_MS = 1000
RECHECK_MS = 100
NO_UPDATES = "this port serves no updates: the firmware was not started by the boot stage"


async def serve(reader, writer, answer_request=None, update_service=None):
    """Answer both protocols on `reader`/`writer` until the stream ends."""
    splitter = proto.PortSplitter()
    while True:
        if splitter.mid_message:
            data = await read_within(reader, FRAME_GAP_MS)
            if data is None:
                # MicroPython's scheduler runs a due timer before a read
                # whose bytes are waiting: after the loop was busy for the
                # whole gap (a report rendered on a slow CPU) the timer says
                # silence though the rest has come. Only a second, short
                # read that also finds nothing is silence.
                data = await read_within(reader, RECHECK_MS)
            if data is None:
                splitter.drop_partial()
                continue
        else:
            data = await reader.read(READ_SIZE)
        if not data:
            return
        for message in splitter.feed(data):
            if message[0] == "line":
                if answer_request is None:
                    continue  # the test protocol is locked: the port stays silent for it
                reply = await testproto.answer_line(message[1], answer_request)
                for part in testproto.reply_parts(reply):
                    writer.write(part)
                reply = None
            elif update_service is None:
                writer.write(proto.encode_json({"ok": False, "error": NO_UPDATES}))
            elif message[0] == "bad":
                writer.write(update_service.bad_frame(message[1]))
            else:
                writer.write(await update_service.answer(message[1], message[2]))
            await writer.drain()


async def read_within(reader, timeout_ms):
    """-> the next bytes from `reader`, or None when none came within
    `timeout_ms` (a read cut short loses nothing: the bytes stay in the
    stream for the next one)."""
    try:
        return await wait_for_ms(reader.read(READ_SIZE), timeout_ms)
    except TimeoutError:
        return None
