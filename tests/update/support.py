"""Shared by the update tests: keys, bundles, a device in-process, and a
port that carries pos-flash's bytes to it without a cable."""

import asyncio
import os

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
