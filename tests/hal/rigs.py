"""One rig per backend: the device under test plus the hand that plays the
world around it (the paper roll, the network, the card holder, a cable).

Every contract test takes a rig and runs unchanged against each backend.
A rig that cannot play a fault (the simulated printer has no line to cut)
says so and the test skips with that reason: `rig.can(fault)`.
"""

import asyncio

import pytest

from hal import open_device


class Rig:
    name = "?"
    faults = ()

    def require(self, fault):
        if fault not in self.faults:
            pytest.skip("%s backend cannot play %r (it has no line that fails)" % (self.name, fault))

    def close(self):
        self.device.close()


# -- printer -------------------------------------------------------------------

class SimPrinterRig(Rig):
    name = "sim"

    def __init__(self):
        self.device = open_device("printer", "sim:")

    def printed(self):
        return bytes(self.device.printed)

    def paper_runs_out_after(self, n):
        self.device.paper_runs_out_after(n)

    def remove_paper(self):
        self.device.remove_paper()

    def load_paper(self):
        self.device.load_paper()


class EscPosPrinterRig(Rig):
    name = "escpos"
    faults = ("silent", "garble", "unplug", "cover", "error")

    def __init__(self):
        from emulator.peripherals.printer import EscPosPrinterSim
        self.peer = EscPosPrinterSim().start()
        self.device = open_device("printer", "escpos:%s?line_ms=0&answer_ms=500&paper_poll_ms=20"
                                  % self.peer.path)

    def printed(self):
        return bytes(self.peer.printed)

    def paper_runs_out_after(self, n):
        self.peer.paper_runs_out_after(n)

    def remove_paper(self):
        self.peer.remove_paper()

    def load_paper(self):
        self.peer.load_paper()

    def open_cover(self):
        self.peer.open_cover()

    def close_cover(self):
        self.peer.close_cover()

    def silent(self):
        self.peer.silent = True

    def garble(self):
        self.peer.garble = True

    def fail(self):
        self.peer.error = True

    def unplug(self):
        self.peer.unplug()

    def close(self):
        Rig.close(self)
        self.peer.stop()


# -- modem ----------------------------------------------------------------------

class SimModemRig(Rig):
    name = "sim"

    def __init__(self):
        self.device = open_device("modem", "sim:")

    def remove_sim(self):
        self.device.sim_present = False

    def set_registration(self, stat):
        self.device.network = {1: "home", 2: "searching", 3: "denied", 5: "roaming"}[stat]

    def set_csq(self, rssi):
        self.device.csq = rssi

    async def settle(self):
        await asyncio.sleep(0)


class AtModemRig(Rig):
    name = "at"
    faults = ("silent", "garble", "unplug", "urc")

    def __init__(self):
        from emulator.peripherals.modem import AtModemSim
        self.peer = AtModemSim().start()
        self.device = open_device("modem", "at:%s?answer_ms=1000" % self.peer.path)

    def remove_sim(self):
        self.peer.remove_sim()

    def set_registration(self, stat):
        self.peer.set_registration(stat)

    def set_csq(self, rssi):
        self.peer.csq = rssi

    async def settle(self):
        await self.device.refresh()

    def silent(self):
        self.peer.silent = True

    def garble(self):
        self.peer.garble = True

    def unplug(self):
        self.peer.unplug()

    def close(self):
        Rig.close(self)
        self.peer.stop()


# -- card reader ------------------------------------------------------------------

class SimReaderRig(Rig):
    name = "sim"

    def __init__(self):
        self.device = open_device("card_reader", "sim:")
        self.hand = self.device

    async def settle(self):
        await asyncio.sleep(0)


class SerialReaderRig(Rig):
    name = "reader"
    faults = ("silent", "garble", "unplug")

    def __init__(self):
        from emulator.peripherals.card_module import CardModuleSim
        self.peer = CardModuleSim().start()
        self.hand = self.peer
        self.device = open_device("card_reader", "reader:%s?poll_ms=10&answer_ms=1000" % self.peer.path)

    async def settle(self):
        # Until the module has handed out every event, then one more poll
        # round so the driver has posted the last one.
        for _ in range(400):
            if not self.peer.events:
                break
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.03)

    def silent(self):
        self.peer.silent = True

    def garble(self):
        self.peer.garble = True

    def unplug(self):
        self.peer.unplug()

    def close(self):
        Rig.close(self)
        self.peer.stop()


# -- keypad and touch (evdev over a FIFO) ---------------------------------------------

class InputFifo:
    """A FIFO standing in for /dev/input/eventN: the test writes records."""

    def __init__(self, tmp_path, record_size):
        import os
        from hal.linux import evdev
        self.path = str(tmp_path / ("event-%d" % record_size))
        os.mkfifo(self.path)
        # O_RDWR never blocks on a FIFO, so the driver's open for reading
        # does not either.
        self.fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
        self.record_size = record_size
        self._evdev = evdev

    def write(self, *events):
        import os
        data = b"".join(self._evdev.encode_event(t, c, v, self.record_size) for t, c, v in events)
        os.write(self.fd, data)

    def unplug(self):
        import os
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    async def drained(self):
        """Until the driver has read everything written (FIONREAD is 0),
        then a moment for it to handle what it read."""
        import fcntl
        import struct
        import termios
        for _ in range(400):
            if self.fd is None:
                break
            waiting = struct.unpack("i", fcntl.ioctl(self.fd, termios.FIONREAD, b"\0\0\0\0"))[0]
            if not waiting:
                break
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)


class SimKeypadRig(Rig):
    name = "sim"

    def __init__(self, tmp_path):
        self.device = open_device("keypad", "sim:")

    def press(self, key):
        self.device.press(key)

    async def settle(self):
        await asyncio.sleep(0)


def kernel_answers(device, keys, axes):
    """Stands in for the kernel's answers to EVIOCGKEY (the codes down)
    and EVIOCGABS (the axes' values), which a FIFO cannot give."""
    device.events.keys_down = lambda: set(keys)
    device.events.axis = lambda code: axes.get(code)


class EvdevKeypadRig(Rig):
    faults = ("repeat", "unplug", "scan_codes", "overflow")

    def __init__(self, tmp_path, record_size):
        from hal.linux import evdev
        self.name = "evdev%d" % record_size
        self.fifo = InputFifo(tmp_path, record_size)
        self.device = open_device("keypad", "evdev:%s?keymap=pc&record=%d" % (self.fifo.path, record_size))
        self.codes = {}
        for code, key in sorted(evdev.PC_KEYMAP.items(), reverse=True):
            self.codes[key] = code
        self.evdev = evdev

    def press(self, key, repeats=0, release=True):
        e = self.evdev
        code = self.codes[key]
        self.fifo.write((e.EV_KEY, code, e.PRESS), (e.EV_SYN, 0, 0))
        self.repeat(key, repeats)
        if release:
            self.release(key)

    def repeat(self, key, times=1):
        for _ in range(times):
            self.fifo.write((self.evdev.EV_KEY, self.codes[key], self.evdev.AUTOREPEAT), (self.evdev.EV_SYN, 0, 0))

    def release(self, key):
        self.fifo.write((self.evdev.EV_KEY, self.codes[key], self.evdev.RELEASE), (self.evdev.EV_SYN, 0, 0))

    def overflow(self, torn_press):
        """The kernel's buffer overflowed: what was queued is gone, then
        SYN_DROPPED and the newest event (a press of torn_press), the rest
        of its report up to SYN_REPORT."""
        e = self.evdev
        self.fifo.write((e.EV_SYN, e.SYN_DROPPED, 0), (e.EV_KEY, self.codes[torn_press], e.PRESS), (e.EV_SYN, 0, 0))

    def kernel_answers(self, keys_down):
        kernel_answers(self.device, [self.codes[key] for key in keys_down], {})

    def raw(self, *events):
        self.fifo.write(*events)

    async def settle(self):
        await self.fifo.drained()

    def unplug(self):
        self.fifo.unplug()

    def close(self):
        Rig.close(self)
        self.fifo.unplug()


class SimTouchRig(Rig):
    name = "sim"

    def __init__(self, tmp_path):
        self.device = open_device("touch", "sim:?width=240&height=320")

    def stroke(self, points):
        self.device.press_at(*points[0])
        for point in points[1:]:
            self.device.move_to(*point)
        self.device.lift()

    async def settle(self):
        await asyncio.sleep(0)


class EvdevTouchRig(Rig):
    """A tablet whose raw axes are 0..32767 (QEMU's virtio-tablet), mounted
    mirrored in x (calibration 32767..0) to prove the calibration is used."""
    faults = ("unplug", "overflow")

    def __init__(self, tmp_path, record_size):
        from hal.linux import evdev
        self.name = "evdev%d" % record_size
        self.fifo = InputFifo(tmp_path, record_size)
        self.device = open_device("touch", "evdev:%s?calibration=32767,0,0,32767&width=240&height=320&record=%d"
                                  % (self.fifo.path, record_size))
        self.evdev = evdev

    @staticmethod
    def raw(x, y):
        return 32767 - x * 32767 // 239, y * 32767 // 319

    def stroke(self, points, down=True, up=True):
        """down=False: the finger was already down (the kernel sends no
        BTN_TOUCH for it); up=False: it stays down."""
        e = self.evdev
        for i, (x, y) in enumerate(points):
            raw_x, raw_y = self.raw(x, y)
            events = [(e.EV_ABS, e.ABS_X, raw_x), (e.EV_ABS, e.ABS_Y, raw_y)]
            if i == 0 and down:
                events.append((e.EV_KEY, e.BTN_TOUCH, 1))
            events.append((e.EV_SYN, 0, 0))
            self.fifo.write(*events)
        if up:
            self.fifo.write((e.EV_KEY, e.BTN_TOUCH, 0), (e.EV_SYN, 0, 0))

    def overflow(self, torn_point):
        """The kernel's buffer overflowed: what was queued is gone, then
        SYN_DROPPED and the newest event (the x of torn_point), the rest of
        its report up to SYN_REPORT."""
        e = self.evdev
        self.fifo.write((e.EV_SYN, e.SYN_DROPPED, 0), (e.EV_ABS, e.ABS_X, self.raw(*torn_point)[0]), (e.EV_SYN, 0, 0))

    def kernel_answers(self, touching, point):
        raw_x, raw_y = self.raw(*point)
        kernel_answers(self.device, [self.evdev.BTN_TOUCH] if touching else [],
                       {self.evdev.ABS_X: raw_x, self.evdev.ABS_Y: raw_y})

    async def settle(self):
        await self.fifo.drained()

    def unplug(self):
        self.fifo.unplug()

    def close(self):
        Rig.close(self)
        self.fifo.unplug()


# -- display (a file and a fake sysfs folder standing in for /dev/fb0) ------------------

class SimDisplayRig(Rig):
    name = "sim"

    def __init__(self, tmp_path):
        self.device = open_device("display", "sim:?width=240&height=320")

    def glass(self):
        """What the screen shows, as RGB565 bytes, row after row."""
        return bytes(self.device.framebuffer)


class FbDisplayRig(Rig):
    """A framebuffer file of `bpp` bits a pixel whose rows are `pad` bytes
    wider than the picture; the padding starts as 0xAA and must stay so."""

    def __init__(self, tmp_path, bpp, pad, write="auto"):
        self.name = "fb%d%s-%s" % (bpp, "-wide" if pad else "", write)
        self.bpp = bpp
        self.width, self.height = 240, 320
        self.stride = self.width * bpp // 8 + pad
        sysfs = tmp_path / "sysfs"
        sysfs.mkdir()
        (sysfs / "virtual_size").write_text("%d,%d\n" % (self.width, self.height))
        (sysfs / "bits_per_pixel").write_text("%d\n" % bpp)
        (sysfs / "stride").write_text("%d\n" % self.stride)
        self.path = tmp_path / "fb0"
        self.path.write_bytes(b"\xaa" * (self.stride * self.height))
        self.tty = tmp_path / "tty0"
        self.tty.write_bytes(b"")
        self.device = open_device("display", "fb:%s?sysfs=%s&tty=%s&write=%s" % (self.path, sysfs, self.tty, write))

    def raw(self):
        return self.path.read_bytes()

    def glass(self):
        data = self.raw()
        row_bytes = self.width * self.bpp // 8
        out = bytearray()
        for y in range(self.height):
            row = data[y * self.stride:y * self.stride + row_bytes]
            if self.bpp == 16:
                out += row
                continue
            for x in range(0, row_bytes, 4):
                b, g, r = row[x], row[x + 1], row[x + 2]
                pixel = ((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3)
                out += bytes((pixel & 0xFF, pixel >> 8))
        return bytes(out)

    def padding(self):
        data = self.raw()
        row_bytes = self.width * self.bpp // 8
        return b"".join(data[y * self.stride + row_bytes:(y + 1) * self.stride] for y in range(self.height))
