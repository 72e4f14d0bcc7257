"""Card-reader module on a serial line (hal/reader_protocol.py frames).

    open_device("card_reader", "reader:/dev/ttyS2?baud=115200")
    options: baud (115200), poll_ms (100: how often to ask for a card),
    answer_ms (2000: wait for the module's answer to one command)

A task polls the module; what it reports becomes the same CardEvents the
simulated reader posts (swipe with track 2, insert, tap, remove), so the
chip and magstripe logic above the HAL does not know which reader it has.
transceive() sends one APDU through the module; the base class bounds it
(CardReader.apdu_timeout_ms). One command at a time crosses the line.
"""

from hal import reader_protocol as rp
from hal.card_reader import INSERT, REMOVE, SWIPE, TAP, CardEvent, CardReader
from hal.compat import TimeoutError, asyncio, sleep_ms, ticks_diff, ticks_ms
from hal.errors import CardError
from hal.linux.serial import DeviceGone, SerialPort, int_option, parse_baud, stop_task

NO_CHIP = "NO_CHIP"   # the same error word the simulated reader gives a card without a chip
GARBLED = "GARBLED"   # a swipe whose track the module could not read


class ReaderError(CardError):
    """The module failed (not the card): no answer, a damaged frame, gone."""


class SerialCardReader(CardReader):
    def __init__(self, path, baud=115200, poll_ms=100, answer_ms=2000):
        CardReader.__init__(self)
        self.path = path
        self.poll_ms = poll_ms
        self.answer_ms = answer_ms
        self._port = SerialPort(path, baud, "card reader")
        self._lock = asyncio.Lock()
        self._task = None
        self._buffer = b""
        self._in_slot = False
        self.failure = None   # the last reason polling failed, None while it works

    @classmethod
    def from_address(cls, path, baud="115200", poll_ms="100", answer_ms="2000"):
        if not path:
            raise TypeError("reader: needs the module's serial line, like reader:/dev/ttyS2")
        return cls(path, parse_baud(baud), int_option("poll_ms", poll_ms, 10, 60000),
                   int_option("answer_ms", answer_ms, 10, 60000))

    # -- commands --------------------------------------------------------------

    async def command(self, command, data=b""):
        """Send one command; -> the answer's payload. CardError for a card
        status (no card, mute card), ReaderError for the module failing."""
        async with self._lock:
            try:
                # An answer to a command that was given up (CANCEL, a
                # timeout) must not pass for this one's.
                self._buffer = b""
                self._port.discard_input()
                self._port.write(rp.encode_frame(command, data))
                answer_command, answer_data = await self._read_frame()
            except DeviceGone as e:
                raise ReaderError("card reader gone: %s" % e)
        if answer_command != command:
            raise ReaderError("card reader answered command 0x%02X to 0x%02X" % (answer_command, command))
        try:
            status, payload = rp.split_answer(answer_data)
        except ValueError as e:
            raise ReaderError("card reader: %s" % e)
        if status != rp.OK:
            error = ReaderError if status in (rp.UNKNOWN_COMMAND, rp.BAD_FRAME, rp.BAD_DATA) else CardError
            raise error("card reader: %s" % rp.STATUS_TEXT.get(status, "status 0x%02X" % status))
        return payload

    async def _read_frame(self):
        start = ticks_ms()
        while True:
            try:
                frame = rp.decode_frame(self._buffer)
            except rp.FrameError as e:
                # A damaged answer: drop what is on the line, so the next
                # command starts clean, and say so.
                self._buffer = b""
                self._port.discard_input()
                raise ReaderError("card reader sent a damaged frame: %s" % e)
            if frame is not None:
                command, data, self._buffer = frame
                return command, data
            left = self.answer_ms - ticks_diff(ticks_ms(), start)
            try:
                if left <= 0:
                    raise TimeoutError()
                self._buffer += await self._port.read(512, left)
            except TimeoutError:
                self._buffer = b""
                raise ReaderError("card reader not responding: no answer within %d ms" % self.answer_ms)

    async def _transceive(self, apdu):
        return await self.command(rp.APDU, apdu)

    def card_present(self):
        return self._in_slot

    async def power_off(self):
        await self.command(rp.POWER_OFF)

    async def beep(self, duration_ms=100):
        await self.command(rp.BEEP, rp.beep_data(duration_ms))

    async def led(self, number, on):
        await self.command(rp.LED, rp.led_data(number, on))

    # -- polling -------------------------------------------------------------------

    def start(self):
        if self._task is None:
            self._task = asyncio.create_task(self._poll_forever())

    async def _poll_forever(self):
        while True:
            try:
                await self.poll()
                self.failure = None
            except Exception as e:  # noqa: BLE001 - the poll must outlive any one bad answer
                # A module that fails is reported where a card is wanted
                # (transceive raises); polling goes on so that a module
                # that comes back is used again.
                self.failure = str(e)
            await sleep_ms(self.poll_ms)

    async def poll(self):
        """Ask once; post what the module saw. -> the CardEvent or None."""
        event, extra = rp.decode_event(await self.command(rp.POLL))
        if event == rp.EVENT_NONE:
            return None
        if event == rp.EVENT_SWIPE:
            card_event = CardEvent(SWIPE, track2=extra, error=None if extra else GARBLED)
        elif event == rp.EVENT_INSERT:
            self._in_slot = True
            card_event = CardEvent(INSERT, error=None if extra else NO_CHIP)
        elif event == rp.EVENT_TAP:
            card_event = CardEvent(TAP)
        else:
            self._in_slot = False
            card_event = CardEvent(REMOVE)
        self._post(card_event)
        return card_event

    def close(self):
        stop_task(self._task)
        self._task = None
        self._port.close()
