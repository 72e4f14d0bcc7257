"""The few places where CPython and MicroPython differ, in one module.

Everything in firmware/ and hal/ imports time, asyncio and hashing helpers
from here instead of probing the interpreter itself.
"""

import sys
import time

try:
    import asyncio
except ImportError:  # very old MicroPython ports named it uasyncio
    import uasyncio as asyncio  # noqa: F401

IS_MICROPYTHON = sys.implementation.name == "micropython"

if IS_MICROPYTHON:
    ticks_ms = time.ticks_ms
    ticks_diff = time.ticks_diff
else:
    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b


async def sleep_ms(ms):
    await asyncio.sleep(ms / 1000)


async def wait_for_ms(awaitable, timeout_ms):
    """Await a coroutine with a timeout in ms; raises asyncio.TimeoutError."""
    if IS_MICROPYTHON:
        return await asyncio.wait_for_ms(awaitable, timeout_ms)
    return await asyncio.wait_for(awaitable, timeout_ms / 1000)


TimeoutError = asyncio.TimeoutError


class EventQueue:
    """A small FIFO on asyncio.Event: MicroPython has no asyncio.Queue.

    put_nowait() may be called from any coroutine or plain callback on the
    loop's thread; get() waits at most timeout_ms and returns None on timeout.
    """

    def __init__(self, maxlen=64):
        self._items = []
        self._maxlen = maxlen
        self._ready = asyncio.Event()

    def put_nowait(self, item):
        if len(self._items) >= self._maxlen:
            # A stuck consumer must not grow memory without bound: the oldest
            # event is the least useful one (a key pressed long ago).
            self._items.pop(0)
        self._items.append(item)
        self._ready.set()

    def get_nowait(self):
        if not self._items:
            return None
        item = self._items.pop(0)
        if not self._items:
            self._ready.clear()
        return item

    async def get(self, timeout_ms=None):
        while not self._items:
            if timeout_ms is None:
                await self._ready.wait()
            else:
                try:
                    await wait_for_ms(self._ready.wait(), timeout_ms)
                except TimeoutError:
                    return None
        return self.get_nowait()

    def clear(self):
        self._items = []
        self._ready.clear()

    def __len__(self):
        return len(self._items)


def sha256(data):
    import hashlib
    return hashlib.sha256(data).digest()


def hexlify(data):
    import binascii
    return binascii.hexlify(data).decode()


def unhexlify(text):
    import binascii
    return binascii.unhexlify(text)


def crc32(data):
    import binascii
    return binascii.crc32(data) & 0xFFFFFFFF


def fsync_file(f):
    """Flush a file to the disk. Returns True if it is durable, False where
    the interpreter has no fsync (MicroPython's unix port): the data then sits
    in the OS page cache, which survives a process kill but not a power cut."""
    f.flush()
    try:
        import os
        fsync = os.fsync
    except (ImportError, AttributeError):
        return False
    fsync(f.fileno())
    return True


def fsync_dir(path):
    """Make a rename or a new file in `path` durable (the directory entry is
    data too). A no-op where the interpreter cannot (MicroPython's unix port)."""
    try:
        import os
        fd = os.open(path, os.O_RDONLY)
    except (ImportError, AttributeError, OSError):
        return False
    try:
        os.fsync(fd)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def truncate_file(path, size):
    """Cut a file in place; True if done, False where the interpreter has no
    way to (MicroPython: no os.truncate, no file.truncate)."""
    import os
    truncate = getattr(os, "truncate", None)
    if truncate is None:
        return False
    truncate(path, size)
    with open(path, "rb+") as f:
        fsync_file(f)
    return True


def urandom(n):
    import os
    return os.urandom(n)


def format_datetime(t):
    """(Y, M, D, h, m, s) -> 'YYYY-MM-DD hh:mm:ss' (no strftime in MicroPython)."""
    return "%04d-%02d-%02d %02d:%02d:%02d" % tuple(t[:6])


def exception_text(e):
    """The traceback of `e` as text, for the log (never for the screen)."""
    if IS_MICROPYTHON:
        import io
        buffer = io.StringIO()
        sys.print_exception(e, buffer)
        return buffer.getvalue()
    import traceback
    return "".join(traceback.format_exception(type(e), e, e.__traceback__))


class _Inflater:
    """CPython's zlib behind the read(n) face of MicroPython's DeflateIO."""

    def __init__(self, stream):
        import zlib
        self._stream = stream
        self._z = zlib.decompressobj()
        self._pending = b""

    def read(self, n):
        while len(self._pending) < n and not self._z.eof:
            block = self._stream.read(4096)
            if not block:
                break
            self._pending += self._z.decompress(block)
        out = self._pending[:n]
        self._pending = self._pending[n:]
        return out


def open_inflate(stream):
    """A zlib stream (RFC 1950) -> an object whose read(n) gives the
    decompressed bytes. MicroPython has deflate.DeflateIO (decompress only),
    CPython has zlib."""
    if IS_MICROPYTHON:
        import deflate
        return deflate.DeflateIO(stream, deflate.ZLIB)
    return _Inflater(stream)
