"""The few places where CPython and MicroPython differ, in one module.

Everything in firmware/ and hal/ imports time, asyncio and hashing helpers
from here instead of probing the interpreter itself.
"""

import binascii
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


async def open_connection(host, port):
    """asyncio.open_connection that fails when the connection fails.
    MicroPython's returns streams as soon as the socket polls writable,
    which a refused or unreachable connect also does: the error would
    only show at the first read, after the request was "sent". A
    zero-byte send returns the socket's pending error (ECONNREFUSED,
    EHOSTUNREACH) and sends nothing on a good connection."""
    reader, writer = await asyncio.open_connection(host, port)
    if IS_MICROPYTHON:
        try:
            writer.s.send(b"")
        except OSError:
            writer.close()
            raise
    return reader, writer


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


def collect_garbage():
    """Collect now, under MicroPython (where it matters: long loops that
    make garbage while they build long-lived state scatter that state over
    the heap when the collector only runs once it is full, and then a table
    of a few KB finds no room in a 1 MiB heap that is mostly free). A no-op
    elsewhere."""
    if IS_MICROPYTHON:
        import gc
        gc.collect()


def hmac_sha256(key, data):
    """HMAC-SHA256: CPython's C one where there is one (a few microseconds:
    the journal's append waits on it), else hal.crypto's (RFC 2104 in a
    few lines over hashlib.sha256, which MicroPython has)."""
    if not IS_MICROPYTHON:
        import hmac
        return hmac.digest(key, data, "sha256")
    from hal.crypto import hmac_sha256 as portable
    return portable(key, data)


def keyed_hmac_sha256(key):
    """-> a function data -> HMAC-SHA256(key, data) (32 bytes) with the key's
    padded blocks hashed once, for a key that MACs many messages (the
    journal's: every append waits on it). CPython: the two SHA-256 states
    after the padded key, copied per message (hashlib's .copy()): the
    message costs its own blocks only. MicroPython's hashlib has no
    .copy(): the padded blocks are kept and hashed again
    (hal.crypto.prepared_hmac_sha256), which still saves the key's XOR
    every message. Same bytes as hmac_sha256(key, data)."""
    import hashlib
    if hasattr(hashlib.sha256(), "copy"):
        from hal.crypto import hmac_pads
        inner_pad, outer_pad = hmac_pads(key)
        inner_start = hashlib.sha256(inner_pad)
        outer_start = hashlib.sha256(outer_pad)

        def mac(data):
            inner = inner_start.copy()
            inner.update(data)
            outer = outer_start.copy()
            outer.update(inner.digest())
            return outer.digest()
        return mac
    from hal.crypto import prepared_hmac_sha256
    return prepared_hmac_sha256(key)


def json_encoder():
    """-> a function value -> its JSON text as bytes, exactly what
    json.dumps(value).encode() gives on this interpreter. CPython: the C
    encoder json.dumps itself ends in, made once, without dumps' layers of
    Python (argument checks, a new encoder object per call: about 3 of the
    7 us json.dumps takes for a journal record, measured). It keeps no
    circular-reference markers (a cycle ends in RecursionError, before
    anything is written): a marker table shared between calls would keep
    stale entries after a failed one. MicroPython, or a CPython whose C
    encoder is missing or takes other arguments: json.dumps."""
    import json
    encoder = None
    if not IS_MICROPYTHON:
        try:
            from json.encoder import c_make_encoder, encode_basestring_ascii

            def not_serialisable(value):
                raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)
            # The arguments json.dumps(value) gives it: markers, default, string
            # encoder, indent, key and item separators, sort_keys, skipkeys, allow_nan.
            encoder = c_make_encoder(None, not_serialisable, encode_basestring_ascii, None, ": ", ", ",
                                     False, False, True)
        except (ImportError, TypeError):
            encoder = None
    if encoder is None:
        dumps = json.dumps

        def encode(value):
            return dumps(value).encode()
        return encode
    join = "".join

    def encode(value):
        return join(encoder(value, 0)).encode()
    return encode


def file_syncer():
    """-> a function fd -> None that flushes what was written to the file
    descriptor to the disk (raises OSError), or None where the interpreter
    cannot (PyPI's MicroPython). Found once for a file kept open: each sync
    is then one system call, with no lookups before it."""
    try:
        import os
        return os.fsync
    except (ImportError, AttributeError):
        pass
    libc_fsync = _libc_function("i", "fsync", "i")
    if libc_fsync is None:
        return None

    def sync(fd):
        if libc_fsync(fd) < 0:
            raise OSError("fsync failed")
    return sync


def hexlify(data):
    import binascii
    return binascii.hexlify(data).decode()


def unhexlify(text):
    import binascii
    return binascii.unhexlify(text)


def crc32(data, value=0):
    """CRC-32 of data; `value`: the CRC of what came before (to go on)."""
    return binascii.crc32(data, value) & 0xFFFFFFFF


def fsync_file(f):
    """Flush a file to the disk. Returns True if it is durable: os.fsync
    (CPython), else libc fsync through `ffi` (Debian's MicroPython). False
    where the interpreter has neither (PyPI's unix port): the data then sits
    in the OS page cache, which survives a process kill but not a power cut."""
    f.flush()
    try:
        import os
        fsync = os.fsync
    except (ImportError, AttributeError):
        libc_fsync = _libc_function("i", "fsync", "i")
        if libc_fsync is None:
            return False
        if libc_fsync(f.fileno()) < 0:
            raise OSError("fsync failed")
        return True
    fsync(f.fileno())
    return True


def can_fsync():
    """True if fsync_file() really reaches the disk on this interpreter."""
    try:
        import os
        os.fsync  # noqa: B018 - probing
        return True
    except (ImportError, AttributeError):
        return _libc_function("i", "fsync", "i") is not None


def fsync_dir(path):
    """Make a rename or a new file in `path` durable (the directory entry is
    data too). False where the interpreter cannot (PyPI's MicroPython)."""
    try:
        import os
        os_open = os.open
    except (ImportError, AttributeError):
        return _fsync_dir_ffi(path)
    try:
        fd = os_open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        os.fsync(fd)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _fsync_dir_ffi(path):
    libc_open = _libc_function("i", "open", "si")
    if libc_open is None:
        return False
    fd = libc_open(path, 0)  # O_RDONLY
    if fd < 0:
        return False
    try:
        return _libc_function("i", "fsync", "i")(fd) == 0
    finally:
        _libc_function("i", "close", "i")(fd)


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


# -- device files (hal/linux drivers) ---------------------------------------------
#
# The drivers read ttys, evdev nodes, FIFOs and plain files through these few
# functions, so that a driver is the same text under both interpreters.

def open_device_file(path, writable=True):
    """Open a device node (or a pty, FIFO, plain file standing in for one),
    unbuffered, with O_NOCTTY: a tty the firmware drives must never become
    its controlling terminal (a hang-up would then signal us). MicroPython
    has no os.open: libc open through `ffi` where there is one (its open()
    takes the descriptor), else a plain open()."""
    mode = "r+b" if writable else "rb"
    if IS_MICROPYTHON:
        libc_open = _libc_function("i", "open", "si")
        if libc_open is not None:
            fd = libc_open(path, (2 if writable else 0) | 0o400)   # O_RDWR / O_RDONLY | O_NOCTTY
            if fd >= 0:
                try:
                    return open(fd, mode)
                except (TypeError, OSError):
                    # A build whose open() takes no descriptor: without O_NOCTTY then.
                    _libc_function("i", "close", "i")(fd)
        # No ffi, or the open failed: a plain open says why, as an OSError.
        return open(path, mode)
    import os
    flags = (os.O_RDWR if writable else os.O_RDONLY) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    return open(fd, mode, buffering=0)


async def read_when_ready(f, max_bytes, timeout_ms=None):
    """Wait until `f` has something to read (at most timeout_ms; None: for
    ever), then read up to max_bytes. b"" means end of file: the other side
    is gone (a pty's master closed, a FIFO's writer left, a file's end).
    Raises TimeoutError when nothing came, OSError (EIO: an unplugged USB
    device) as the read gives it. The file must not block on read when it
    is readable: a tty in raw mode with VMIN = VTIME = 0 or a node that
    hands out whole records (evdev)."""
    if IS_MICROPYTHON:
        # MicroPython's asyncio polls any stream object: the same wait its
        # StreamReader does, then the file's own read.
        stream = asyncio.StreamReader(f)
        if timeout_ms is None:
            return await stream.read(max_bytes)
        return await asyncio.wait_for_ms(stream.read(max_bytes), timeout_ms)
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = f.fileno()
    try:
        loop.add_reader(fd, _set_ready, ready)
    except PermissionError:
        # A plain file (epoll refuses them) is always readable.
        return f.read(max_bytes) or b""
    try:
        if timeout_ms is None:
            await ready
        else:
            await asyncio.wait_for(ready, timeout_ms / 1000)
    finally:
        loop.remove_reader(fd)
    return f.read(max_bytes) or b""


def _set_ready(future):
    if not future.done():
        future.set_result(None)


def ioctl(f, request, arg):
    """ioctl(2) on an open file with an int argument. Returns False where
    the interpreter cannot make the call (MicroPython without `ffi`), so the
    caller can say what it skipped; raises OSError when the call fails."""
    if not IS_MICROPYTHON:
        import fcntl
        fcntl.ioctl(f.fileno(), request, arg)
        return True
    libc_ioctl = _libc_function("i", "ioctl", "iil")
    if libc_ioctl is None:
        return False
    if libc_ioctl(f.fileno(), request, arg) < 0:
        raise OSError("ioctl 0x%x failed" % request)
    return True


def ioctl_read(f, request, size):
    """ioctl(2) that fills a buffer of `size` bytes (a query such as
    EVIOCGKEY): the bytes, or None where the interpreter cannot make the
    call (MicroPython without `ffi`); raises OSError when the call fails
    (ENOTTY: the file does not answer it, a FIFO standing in for a node)."""
    buffer = bytearray(size)
    if not IS_MICROPYTHON:
        import fcntl
        fcntl.ioctl(f.fileno(), request, buffer, True)
        return bytes(buffer)
    # `ffi` passes a bytearray as a pointer to its bytes, which the kernel fills.
    libc_ioctl = _libc_function("i", "ioctl", "iLp")
    if libc_ioctl is None:
        return None
    if libc_ioctl(f.fileno(), request, buffer) < 0:
        raise OSError("ioctl 0x%x failed" % request)
    return bytes(buffer)


def _libc_function(result, name, args):
    """A libc function through MicroPython's `ffi` (Debian's build has it),
    or None where there is no `ffi`. Looked up per call: dlopen of the
    already-loaded libc is a table lookup, and nothing is kept at module
    level."""
    try:
        import ffi
    except ImportError:
        return None
    for libname in ("libc.so.6", "libc.so"):
        try:
            return ffi.open(libname).func(result, name, args)
        except OSError:
            continue
    return None


def word_bytes():
    """8 on a 64-bit interpreter, 4 on a 32-bit one (the size of a C long,
    which sets the layout of struct input_event)."""
    import struct
    return struct.calcsize("P")


def set_raw(fd):
    """Put a tty in raw mode (MicroPython's termios has setraw, CPython's tty)."""
    if IS_MICROPYTHON:
        import termios
        termios.setraw(fd)
    else:
        import tty
        tty.setraw(fd)


def set_system_time(epoch_seconds):
    """Set the system clock (CLOCK_REALTIME); True if it was set, False if
    the process may not (no root) or the interpreter cannot (no ffi)."""
    if not IS_MICROPYTHON:
        try:
            time.clock_settime(time.CLOCK_REALTIME, epoch_seconds)
            return True
        except (AttributeError, OSError):
            return False
    clock_settime = _libc_function("i", "clock_settime", "ip")
    if clock_settime is None:
        return False
    import struct
    # struct timespec: time_t seconds, long nanoseconds (both a C long on Linux).
    spec = bytearray(struct.pack("qq" if word_bytes() == 8 else "ii", epoch_seconds, 0))
    return clock_settime(0, spec) == 0


def map_device(f, size):
    """Map `size` bytes of an open device file (a framebuffer) shared and
    writable; -> an object that takes slice assignment, or None where the
    interpreter cannot map (MicroPython without `ffi`). CPython: the mmap
    module. MicroPython: libc mmap through `ffi`, seen through
    uctypes.bytearray_at."""
    if not IS_MICROPYTHON:
        import mmap
        try:
            return mmap.mmap(f.fileno(), size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except (OSError, ValueError):
            return None
    libc_mmap = _libc_function("p", "mmap", "pLiiil")
    if libc_mmap is None:
        return None
    try:
        import uctypes
    except ImportError:
        return None
    # PROT_READ | PROT_WRITE = 3, MAP_SHARED = 1
    address = libc_mmap(None, size, 3, 1, f.fileno(), 0)
    if not address or address == -1 or address >= (1 << (8 * word_bytes())) - 4096:
        return None   # MAP_FAILED
    return uctypes.bytearray_at(address, size)


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
