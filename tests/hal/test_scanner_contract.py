"""The scanner contract, for every backend: the simulated scanner, a serial
scanner module on a pty, and a keyboard-wedge scanner through a FIFO of
evdev records standing in for /dev/input/eventN. A code posts once; codes
that arrive together or in pieces post each whole; noise (an over-long
line, bytes no code holds) posts nothing; an unplugged device says why."""

import asyncio
import os

import pytest

from hal import open_device
from hal.linux import evdev
from hal.linux.scanner import WEDGE_KEYS, WEDGE_SHIFTED
from hal.scanner import MAX_CODE_LENGTH
from tests.hal.rigs import InputFifo

WX = "134567890123456789"
URL = "https://qr.acquirer.test/pay/QR261201?v=1_a"


class SimScannerRig:
    name = "sim"
    can_unplug = False

    def __init__(self, tmp_path):
        self.device = open_device("scanner", "sim:")

    def send_code(self, text):
        self.device.present(text)

    def send_noise(self):
        self.device.scanned("x" * (MAX_CODE_LENGTH + 1))

    async def settle(self):
        await asyncio.sleep(0.01)

    def close(self):
        self.device.close()


class SerialScannerRig:
    name = "serial"
    can_unplug = True

    def __init__(self, tmp_path):
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        self.device = open_device("scanner", "scanner:%s?baud=9600" % self.path)
        os.close(slave)

    def send_code(self, text, pieces=1):
        data = text.encode() + b"\r\n"
        step = max(1, len(data) // pieces)
        for i in range(0, len(data), step):
            os.write(self.master, data[i:i + step])

    def send_raw(self, data):
        os.write(self.master, data)

    def send_noise(self):
        self.send_raw(b"7" * (MAX_CODE_LENGTH + 50) + b"\r\n" + b"13\xff45\r\n")

    def unplug(self):
        os.close(self.master)
        self.master = None

    async def settle(self):
        await asyncio.sleep(0.1)

    def close(self):
        self.device.close()
        if self.master is not None:
            os.close(self.master)


class WedgeScannerRig:
    name = "wedge"
    can_unplug = True

    def __init__(self, tmp_path):
        self.fifo = InputFifo(tmp_path, evdev.default_record_size())
        self.device = open_device("scanner", "wedge:%s" % self.fifo.path)
        self.codes = {}
        for code, char in WEDGE_KEYS.items():
            self.codes[char] = (code, False)
            if char.isalpha():
                self.codes[char.upper()] = (code, True)
        for code, char in WEDGE_SHIFTED.items():
            self.codes[char] = (code, True)

    def _key(self, code, shift=False):
        events = []
        if shift:
            events.append((evdev.EV_KEY, 42, evdev.PRESS))
        events += [(evdev.EV_KEY, code, evdev.PRESS), (evdev.EV_SYN, 0, 0), (evdev.EV_KEY, code, evdev.RELEASE)]
        if shift:
            events.append((evdev.EV_KEY, 42, evdev.RELEASE))
        self.fifo.write(*events)

    def send_code(self, text, pieces=1):
        for char in text:
            code, shift = self.codes[char]
            self._key(code, shift)
        self._key(28)

    def send_noise(self):
        self._key(self.codes["1"][0])
        self._key(59)          # F1: no code is made of it
        self._key(28)

    def send_torn_code(self, before, after):
        """`before` typed, then the kernel's buffer overflows (SYN_DROPPED:
        the keys between were dropped, the newest one's report torn), then
        `after` and Enter: the code that arrives lacks its middle."""
        for char in before:
            self._key(*self.codes[char])
        self.fifo.write((evdev.EV_SYN, evdev.SYN_DROPPED, 0), (evdev.EV_KEY, self.codes["9"][0], evdev.RELEASE),
                        (evdev.EV_SYN, evdev.SYN_REPORT, 0))
        self.send_code(after)

    def unplug(self):
        self.fifo.unplug()

    async def settle(self):
        await self.fifo.drained()

    def close(self):
        self.device.close()
        self.fifo.unplug()


RIGS = {"sim": SimScannerRig, "serial": SerialScannerRig, "wedge": WedgeScannerRig}


@pytest.fixture(params=sorted(RIGS))
def rig(request, tmp_path):
    made = RIGS[request.param](tmp_path)
    yield made
    made.close()


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 15))


def watch(rig):
    seen = []
    rig.device.set_listener(seen.append)
    rig.device.start()
    return seen


def test_a_code_posts_once(rig):
    async def go():
        seen = watch(rig)
        rig.send_code(WX)
        await rig.settle()
        assert seen == [("scan", WX)]
    run(go())


def test_a_url_with_upper_case_and_punctuation(rig):
    async def go():
        seen = watch(rig)
        rig.send_code(URL)
        await rig.settle()
        assert seen == [("scan", URL)]
    run(go())


def test_codes_in_a_row_and_in_pieces(rig):
    async def go():
        seen = watch(rig)
        rig.send_code(WX)
        if rig.name == "serial":
            rig.send_code("6212345678901234567", pieces=5)
        else:
            rig.send_code("6212345678901234567")
        await rig.settle()
        assert seen == [("scan", WX), ("scan", "6212345678901234567")]
    run(go())


def test_noise_posts_nothing_and_the_next_code_still_does(rig):
    async def go():
        seen = watch(rig)
        rig.send_noise()
        rig.send_code(WX)
        await rig.settle()
        assert seen == [("scan", WX)]
    run(go())


def test_a_code_torn_by_an_input_overflow_posts_nothing(tmp_path):
    """A wedge scanner's keys dropped by the kernel mid-code: what arrives
    is another code (digits missing), never to become a payment attempt."""
    rig = WedgeScannerRig(tmp_path)

    async def go():
        seen = watch(rig)
        rig.send_torn_code(WX[:6], WX[12:])
        rig.send_code(WX)
        await rig.settle()
        assert seen == [("scan", WX)]
    try:
        run(go())
    finally:
        rig.close()


def test_an_unplugged_scanner_says_why(rig):
    if not rig.can_unplug:
        pytest.skip("the simulated scanner has no line to pull")

    async def go():
        watch(rig)
        await rig.settle()
        rig.unplug()
        for _ in range(300):
            if rig.device.failure:
                break
            await asyncio.sleep(0.01)
        assert rig.device.failure
    run(go())
