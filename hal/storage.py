"""Storage: named files in one directory, with durable writes.

Used by the journal (append + fsync) and by settings (atomic replace). A
folder beside the files (`folder(name)`: the e-signatures' `sig/`) is a
Storage of its own on the same disk, its room counted with the parent's.
The same directory backend serves the simulator and the handset (its data
partition); only the root differs.

Durability: write paths end in fsync where the interpreter has it: os.fsync,
or libc fsync through `ffi` (Debian's MicroPython). PyPI's MicroPython unix
port has neither: data reaches the OS page cache (which survives a killed
process, not a power cut), `durable` says so, and the app then refuses new
transactions unless the setting allow_volatile_storage (emulator only) is on.
"""

import os

from hal.compat import can_fsync, file_syncer, fsync_dir, fsync_file, truncate_file
from hal.device import Device
from hal.errors import StorageError, StorageFullError

ENOSPC = 28
S_IFDIR = 0x4000   # st_mode bit of a directory (MicroPython has no stat module)
# Free space is asked of the file system (statvfs) again only when what is
# known to be left, less what this storage wrote since, comes within this.
FREE_SLACK = 1024 * 1024


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

    def write_atomic(self, name, data, reserve=0):
        """Replace the file so that a power cut leaves the old or the new;
        refuse (StorageFullError) unless `reserve` bytes stay free after it."""
        raise NotImplementedError

    def names(self):
        """The names of the files held (not those of half-written ones)."""
        raise NotImplementedError

    def folder(self, name):
        """A Storage for the files of folder `name` beside these (created
        durably if it is not there), sharing this one's free space."""
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

    def open_append(self, name):
        """A file kept open for appends (the journal's): an object with
        append(data, reserve), `size` and close(). This default goes
        through append(); a backend that can keep a handle does better."""
        return _AppendByName(self, name)


class _AppendByName:
    def __init__(self, storage, name):
        self._storage = storage
        self._name = name
        self.size = storage.size(name)

    def append(self, data, reserve=0):
        self._storage.append(self._name, data, reserve)
        self.size += len(data)

    def close(self):
        pass


class _AppendFile:
    """DirStorage's kept-open file: one write and one fsync an append, no
    stat, no open, no close; its size counted, not asked. Unbuffered (a
    write is the write system call, with no buffer of Python's own to
    flush), and the fsync function found once (hal.compat.file_syncer)."""

    def __init__(self, storage, name):
        self._storage = storage
        self._name = name
        path = storage._path(name)
        new_file = not _path_exists(path)
        try:
            self._file = open(path, "ab", buffering=0)
        except OSError as e:
            storage._fail(name, e, "open")
        if new_file:
            fsync_dir(storage.root)   # the new directory entry must survive a power cut
        self._fd = self._file.fileno()
        self._sync = file_syncer()
        self.size = storage.size(name)

    def append(self, data, reserve=0):
        self._storage._check_room(len(data), reserve)
        try:
            written = self._file.write(data)
            while written < len(data):   # a short write (a signal, a nearly full disk): the rest
                more = self._file.write(data[written:])
                if not more:
                    raise OSError(ENOSPC, "no room for the rest of the record")
                written += more
            if self._sync is not None:
                self._sync(self._fd)
        except OSError as e:
            self.size = self._storage.size(self._name)   # what reached the file, for the undo
            self._storage._fail(self._name, e, "append to")
        self.size += len(data)
        self._storage._spend(len(data))

    def close(self):
        try:
            self._file.close()
        except OSError:
            pass


class DirStorage(Storage):
    """Files under `root`. `capacity` (bytes, optional) makes a small disk
    for tests: a write that would pass it fails as a full disk would."""

    def __init__(self, root, capacity=None, parent=None):
        Storage.__init__(self)
        self.root = root
        self.capacity = capacity
        self._parent = parent    # the DirStorage whose folder this is: its free space is ours
        self._free_left = None   # bytes free as last asked, less what was written since
        # os.fsync (CPython) or libc fsync through ffi (Debian's MicroPython);
        # PyPI's MicroPython has neither (hal/compat.py).
        self.durable = can_fsync()
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

    def _used(self, path=None):
        total = 0
        path = self.root if path is None else path
        for entry in os.listdir(path):
            try:
                st = os.stat(path + "/" + entry)
            except OSError:
                continue
            total += self._used(path + "/" + entry) if st[0] & S_IFDIR else st[6]
        return total

    def free_bytes(self):
        """Room left: the test capacity if one is set, else what the file
        system reports (statvfs), else None (unknown: only ENOSPC will tell).
        A folder asks its parent: one file system, one capacity."""
        if self._parent is not None:
            return self._parent.free_bytes()
        if self.capacity is not None:
            return self.capacity - self._used()
        try:
            st = os.statvfs(self.root)
        except (AttributeError, OSError):
            return None
        return st[0] * st[4]  # f_bsize * f_bavail

    def _check_room(self, extra, reserve=0):
        """Refuse (StorageFullError) unless extra + reserve bytes fit. The
        file system is asked again only when little is left (FREE_SLACK):
        an append costs no system call here; a test capacity is counted
        exactly (a directory walk: tests only)."""
        if self.capacity is not None or self._parent is not None:
            free = self.free_bytes()
        else:
            if self._free_left is None or self._free_left < extra + reserve + FREE_SLACK:
                self._free_left = self.free_bytes()
            free = self._free_left
        if free is not None and extra + reserve > free:
            raise StorageFullError("storage full: %d bytes more do not fit" % extra)

    def _spend(self, n):
        if self._free_left is not None:
            self._free_left -= n
        if self._parent is not None:
            self._parent._spend(n)

    def open_append(self, name):
        return _AppendFile(self, name)

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

    def write_atomic(self, name, data, reserve=0):
        self._check_room(len(data), reserve)
        path = self._path(name)
        tmp = path + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                fsync_file(f)
            os.rename(tmp, path)
        except OSError as e:
            self._fail(name, e, "write")
        self._spend(len(data))
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
        self._spend(len(data))
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

    def names(self):
        try:
            entries = os.listdir(self.root)
        except OSError as e:
            raise StorageError("cannot list %s: %s" % (self.root, e))
        out = []
        for entry in entries:
            if entry.startswith(".") or entry.endswith(".tmp"):
                continue
            try:
                if os.stat(self.root + "/" + entry)[0] & S_IFDIR:
                    continue
            except OSError:
                continue
            out.append(entry)
        return out

    def folder(self, name):
        path = self._path(name)
        created = not _path_exists(path)
        if created:
            try:
                os.mkdir(path)
            except OSError as e:
                self._fail(name, e, "create folder")
            fsync_dir(self.root)   # the new folder's entry must survive a power cut
        return DirStorage(path, parent=self)
