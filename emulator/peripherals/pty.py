"""A serial peer on a pty, served by a thread: the base of the simulators."""

import os
import select
import threading
import tty


class PtyPeer:
    """Subclasses implement on_bytes(data), called on the serving thread
    for every chunk that arrives, and answer with self.send(data).

    path=None: a new pty pair; `self.path` is the slave tty for the driver
    and the simulator holds the master. path="/dev/pts/N": attach to that
    tty (QEMU's pty chardev), as the other end of the line.
    """

    def __init__(self, path=None):
        self._lock = threading.RLock()
        self._thread = None
        self._stop_r, self._stop_w = os.pipe()
        self.unplugged = False
        self.silent = False   # True: a dead device, reads everything and answers nothing
        if path is None:
            self._fd, self._slave_fd = os.openpty()
            tty.setraw(self._slave_fd)
            self.path = os.ttyname(self._slave_fd)
        else:
            self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
            tty.setraw(self._fd)
            self._slave_fd = None
            self.path = path
        os.set_blocking(self._fd, False)

    # -- life cycle -----------------------------------------------------------

    def start(self):
        self._thread = threading.Thread(target=self._serve, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread is not None:
            os.write(self._stop_w, b"x")
            self._thread.join(5)
            self._thread = None
        for fd in (self._fd, self._slave_fd, self._stop_r, self._stop_w):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fd = self._slave_fd = self._stop_r = self._stop_w = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def unplug(self):
        """Pull the cable: the line goes away, the driver sees EOF or EIO."""
        with self._lock:
            self.unplugged = True
            for fd in (self._fd, self._slave_fd):
                if fd is not None:
                    os.close(fd)
            self._fd = self._slave_fd = None
        os.write(self._stop_w, b"x")

    # -- the line ---------------------------------------------------------------

    def send(self, data):
        """Bytes from the device to the driver."""
        with self._lock:
            if self._fd is None or self.silent:
                return
            view = memoryview(bytes(data))
            while len(view):
                try:
                    n = os.write(self._fd, view)
                except BlockingIOError:
                    _wait(self._fd, select.POLLOUT, 1000)
                    continue
                view = view[n:]

    def on_bytes(self, data):
        raise NotImplementedError

    def _serve(self):
        while True:
            fd = self._fd
            if fd is None:
                return
            try:
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                poller.register(self._stop_r, select.POLLIN)
                readable = [ready for ready, _ in poller.poll()]
            except (OSError, ValueError):
                return
            if self._stop_r in readable:
                return
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                continue
            except OSError:
                # EIO: no process holds the other side (attached mode, the
                # guest not yet up); wait and try again.
                if _wait(self._stop_r, select.POLLIN, 50):
                    return
                continue
            if not data:
                continue
            with self._lock:
                self.on_bytes(data)


def _wait(fd, events, timeout_ms):
    """True when `fd` is ready for `events` within `timeout_ms`. poll, not
    select: select() cannot watch a descriptor numbered 1024 or more, and a
    long test session (every emulated power cut keeps its sockets, as a
    real one would) gets there; the peer then went silent."""
    poller = select.poll()
    poller.register(fd, events)
    return bool(poller.poll(timeout_ms))
