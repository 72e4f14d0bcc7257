"""Storage: named files in one directory, with durable writes.

Used by the journal (append + fsync) and by settings (atomic replace).
The same directory backend serves the simulator and the handset (its data
partition); only the root differs.

Durability: write paths end in fsync where the interpreter has it. Under
MicroPython's unix port there is no os.fsync: data reaches the OS page cache
(which survives a killed process, not a power cut), and `durable` says so.
"""

import os

from hal.compat import fsync_dir, fsync_file, truncate_file
from hal.device import Device
from hal.errors import StorageError, StorageFullError

ENOSPC = 28


def _path_exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class Storage(Device):
    durable = False

    def read(self, name):
        """The whole file, or None if it does not exist."""
        raise NotImplementedError

    def read_at(self, name, offset, size):
        """Up to `size` bytes from `offset` (b"" past the end or if the
        file does not exist): for files too large to read whole."""
        raise NotImplementedError

    def write_atomic(self, name, data):
        """Replace the file so that a power cut leaves the old or the new."""
        raise NotImplementedError

    def append(self, name, data, reserve=0):
        """Append and flush to disk before returning; refuse (StorageFullError)
        unless `reserve` bytes stay free after it."""
        raise NotImplementedError

    def size(self, name):
        raise NotImplementedError

    def truncate(self, name, size):
        raise NotImplementedError

    def remove(self, name):
        raise NotImplementedError


class DirStorage(Storage):
    """Files under `root`. `capacity` (bytes, optional) makes a small disk
    for tests: a write that would pass it fails as a full disk would."""

    def __init__(self, root, capacity=None):
        Storage.__init__(self)
        self.root = root
        self.capacity = capacity
        self.durable = True
        try:
            import os as _os
            _os.fsync  # noqa: B018 - probing, MicroPython lacks it
        except AttributeError:
            self.durable = False
        if not _path_exists(root):
            self._makedirs(root)

    @classmethod
    def from_address(cls, path, capacity=None):
        if not path:
            raise TypeError("dir: needs a directory, like dir:/var/pos")
        return cls(path, capacity=int(capacity) if capacity is not None else None)

    def _makedirs(self, path):
        parts = path.split("/")
        current = "/" if path.startswith("/") else ""
        for part in parts:
            if not part:
                continue
            current = current + part if current.endswith("/") or not current else current + "/" + part
            if not _path_exists(current):
                try:
                    os.mkdir(current)
                except OSError as e:
                    raise StorageError("cannot create %s: %s" % (current, e))

    def _path(self, name):
        if "/" in name or name.startswith("."):
            raise StorageError("bad storage name %r" % name)
        return self.root + "/" + name

    def _used(self):
        total = 0
        for entry in os.listdir(self.root):
            try:
                total += os.stat(self.root + "/" + entry)[6]
            except OSError:
                pass
        return total

    def free_bytes(self):
        """Room left: the test capacity if one is set, else what the file
        system reports (statvfs), else None (unknown: only ENOSPC will tell)."""
        if self.capacity is not None:
            return self.capacity - self._used()
        try:
            st = os.statvfs(self.root)
        except (AttributeError, OSError):
            return None
        return st[0] * st[4]  # f_bsize * f_bavail

    def _check_room(self, extra, reserve=0):
        free = self.free_bytes()
        if free is not None and extra + reserve > free:
            raise StorageFullError("storage full: %d bytes more do not fit" % extra)

    def _fail(self, name, e, doing):
        if e.args and e.args[0] == ENOSPC:
            raise StorageFullError("storage full: cannot %s %s" % (doing, name))
        raise StorageError("cannot %s %s: %s" % (doing, name, e))

    def read(self, name):
        """The file's bytes, None if it does not exist. Any other failure is
        an error: an unreadable journal must never look like an empty one."""
        path = self._path(name)
        if not _path_exists(path):
            return None
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise StorageError("cannot read %s: %s" % (name, e))

    def read_at(self, name, offset, size):
        path = self._path(name)
        if not _path_exists(path):
            return b""
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                return f.read(size)
        except OSError as e:
            raise StorageError("cannot read %s: %s" % (name, e))

    def write_atomic(self, name, data):
        self._check_room(len(data))
        path = self._path(name)
        tmp = path + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                fsync_file(f)
            os.rename(tmp, path)
        except OSError as e:
            self._fail(name, e, "write")
        fsync_dir(self.root)  # the rename itself must survive a power cut

    def append(self, name, data, reserve=0):
        """Append and flush to disk. `reserve`: bytes that must stay free
        after it (so that records which close work can still be written)."""
        self._check_room(len(data), reserve)
        path = self._path(name)
        new_file = not _path_exists(path)
        try:
            with open(path, "ab") as f:
                f.write(data)
                fsync_file(f)
        except OSError as e:
            self._fail(name, e, "append to")
        if new_file:
            fsync_dir(self.root)

    def size(self, name):
        try:
            return os.stat(self._path(name))[6]
        except OSError:
            return 0

    def truncate(self, name, size):
        """Cut the file to `size` bytes (to drop a torn last record): in
        place where the interpreter can, which needs no free space; else by
        rewriting it, which does (StorageFullError when there is none)."""
        path = self._path(name)
        try:
            if truncate_file(path, size):
                return
        except OSError as e:
            self._fail(name, e, "truncate")
        data = self.read(name) or b""
        self.write_atomic(name, data[:size])

    def remove(self, name):
        try:
            os.remove(self._path(name))
        except OSError:
            pass
