"""Shared by the update tests: keys, bundles, a device in-process, and a
port that carries pos-flash's bytes to it without a cable."""

import asyncio
import json
import os
import select
import signal
import subprocess
import threading
import time
import tty

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware import boot as bootstage
from firmware.update import proto
from firmware.update.service import UpdateService
from hosttools import bundle as tool

TARGET = "pos-handset"


def new_key():
    return Ed25519PrivateKey.generate()


def sample_files(version, size=20000):
    """A small firmware: a few modules and an asset, different per version."""
    import random
    seed = version.encode()
    noise = random.Random(version).randbytes(size // 2)    # compresses as little as code does
    return [("firmware/__init__.mpy", b"M\x06" + seed),
            ("firmware/app.mpy", (b"app " + seed) * (size // 16) + noise),
            ("firmware/assets/font16.bin", bytes(range(256)) * (size // 256)),
            ("hal/__init__.mpy", b"hal " + seed)]


def make_bundle(key, version, files=None, **options):
    return tool.build(key, version, files or sample_files(version), mpy=options.pop("mpy", None), **options)


def make_image(root, key, version="1.0.0", trust=None, files=None):
    """A factory image at `root` with `version` in slot a."""
    data = make_bundle(key, version, files)
    tool.write_image(data, [tool.raw_public(k.public_key()) for k in (trust or [key])], str(root))
    return data


class FakeApp:
    """What the update service asks of the app: idle, and owed work."""

    def __init__(self):
        self.idle_event = asyncio.Event()
        self.idle_event.set()
        self.state = self
        self.reversals = []
        self.refunds = []

    def pending_reversals(self):
        return self.reversals

    def pending_refunds(self):
        return self.refunds


class DeviceModel:
    """A handset in-process: the image on disk, the boot stage's choice,
    the update service. reboot() is the boot stage's next turn."""

    def __init__(self, root, flash=None, app=None, capacity=None):
        self.root = str(root)
        self.flash = flash or bootstage.Flash(self.root, capacity=capacity)
        self.app = app or FakeApp()
        self.boot = None
        self.service = None
        self.reboot()

    def reboot(self):
        self.boot = bootstage.choose(self.flash, log=lambda m: None)
        self.service = UpdateService(self.boot, {"model": "test", "serial": "0001", "target": TARGET},
                                     lambda: self.app)
        return self.boot

    def answer(self, frame_bytes):
        """Raw request bytes -> raw reply bytes."""
        out = b""
        for message in proto.PortSplitter().feed(frame_bytes):
            if message[0] == "bad":
                out += self.service.bad_frame(message[1])
            elif message[0] == "frame":
                out += asyncio.run(self.service.answer(message[1], message[2]))
        return out


class LoopbackPort:
    """A pyserial-like port whose other end is a DeviceModel."""

    name = "loop://device"

    def __init__(self, device, cut_after=None):
        self.device = device
        self._out = b""
        self.sent = 0
        self.cut_after = cut_after   # bytes: the cable is pulled after this many

    def write(self, data):
        if self.cut_after is not None and self.sent + len(data) > self.cut_after:
            import serial
            raise serial.SerialException("cable pulled")
        self.sent += len(data)
        self._out += self.device.answer(bytes(data))
        return len(data)

    @property
    def in_waiting(self):
        return len(self._out)

    def read(self, n=1):
        data, self._out = self._out[:n], self._out[n:]
        return data

    def close(self):
        pass


class Cable:
    """Two ptys joined back to back: the handset opens one end, pos-flash
    (pyserial) the other, as a USB-serial cable would join them.
    `baud`: pace each direction as a UART at that rate would (10 bits a
    byte, 8N1); None: as fast as the ptys go."""

    def __init__(self, baud=None):
        self.fds = []
        self.ends = []
        for _ in range(2):
            master, slave = os.openpty()
            tty.setraw(slave)
            self.fds.append((master, slave))   # the slaves stay open: no EIO between sessions
            self.ends.append(os.ttyname(slave))
        self.bytes_per_s = baud / 10 if baud else None
        self._stop = False
        a, b = self.fds[0][0], self.fds[1][0]
        self._threads = [threading.Thread(target=self._relay, args=(a, b), daemon=True),
                         threading.Thread(target=self._relay, args=(b, a), daemon=True)]
        for thread in self._threads:
            thread.start()

    @property
    def handset_end(self):
        return self.ends[0]

    @property
    def bench_end(self):
        return self.ends[1]

    def _relay(self, source, sink):
        free_at = time.monotonic()     # when the line has sent everything so far
        poller = select.poll()         # not select(): no limit on the descriptor's number
        poller.register(source, select.POLLIN)
        while not self._stop:
            if not poller.poll(200):
                continue
            try:
                data = os.read(source, 1024 if self.bytes_per_s else 65536)
            except OSError:
                continue
            if self.bytes_per_s:
                free_at = max(free_at, time.monotonic()) + len(data) / self.bytes_per_s
                delay = free_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            while data:
                written = os.write(sink, data)
                data = data[written:]

    def close(self):
        self._stop = True
        for thread in self._threads:
            thread.join(2)
        for master, slave in self.fds:
            os.close(master)
            os.close(slave)


class MicroPythonHandset:
    """A handset process: `micropython image/boot.py pos.json`, its image
    made from `factory` (a bundle file) trusting `trust` (raw public keys),
    its service UART on `cable`, the test protocol unlocked."""

    def __init__(self, micropython, workdir, factory, trust, host_port, cable):
        self.micropython = micropython
        self.cable = cable
        self.image = workdir / "image"
        with open(factory, "rb") as f:
            tool.write_image(f.read(), trust, str(self.image))
        self.config = workdir / "pos.json"
        self.config.write_text(json.dumps({
            "devices": {"storage": "dir:" + str(workdir / "data")},
            "settings": {"test_protocol": True, "lang": "en", "host_port": host_port, "message_ms": 1500,
                         "reply_timeout_ms": 3000, "connect_timeout_ms": 3000,
                         "allow_volatile_storage": True,    # PyPI's MicroPython cannot fsync
                         "test_keys": True},                # the sim key store's public test master key
            "service_port": {"path": cable.handset_end, "baud": 115200},
            "update": {"root": str(self.image), "serial": "SN0001", "health_timeout_ms": 60000}}))
        self.log = workdir / "handset.log"
        self.process = None

    def power_on(self):
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([self.micropython, "-X", "heapsize=32M", str(self.image / "boot.py"),
                                             str(self.config)], stdout=log, stderr=subprocess.STDOUT,
                                            cwd=str(self.image))

    def power_cut(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def output(self):
        return self.log.read_text(errors="replace")
