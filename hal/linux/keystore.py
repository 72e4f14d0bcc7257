"""The handset's key store: keys in a file, encrypted under a
key-encryption key (KEK) that lives apart from the data directory.

    open_device("keystore", "file:/var/pos/keys.json?kek=/etc/pos/kek", storage=data)

`path` (the key file) holds every key encrypted under the KEK with its check
value (the format of hal/keystore.py); it may sit anywhere, the data
directory included: without the KEK it is noise. `kek` names a root-only
file (mode 0400, on another partition or a secure element's file system)
holding 16 bytes, raw or as 32 hex digits; pos-keys creates it. A KEK inside
the data directory is refused: a copy of the data directory would then be
a copy of the keys.

The file is rewritten atomically (temporary file, fsync, rename, fsync of
the directory). A missing KEK or key file is a terminal without keys (sign
on is refused until keys are injected); a KEK that does not match the file
is a KeyStoreError at every use, never a wrong key in silence.
MicroPython-compatible: open, os.rename, json.
"""

import json
import os

from hal.compat import unhexlify
from hal.errors import KeyStoreError, StorageError
from hal.keystore import KeyStore
from hal.storage import DirStorage

KEK_LENGTH = 16


def _split_path(path):
    cut = path.rfind("/")
    if cut < 0:
        return ".", path
    return (path[:cut] or "/"), path[cut + 1:]


def _absolute(path):
    if path.startswith("/"):
        return path
    return os.getcwd().rstrip("/") + "/" + path


def _inside(path, directory):
    path, directory = _absolute(path), _absolute(directory).rstrip("/") + "/"
    return path.startswith(directory)


def read_kek(path):
    """The KEK in `path` (16 raw bytes or 32 hex digits), None if the file
    does not exist."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    text = data.strip()
    if len(text) == 2 * KEK_LENGTH:
        try:
            return unhexlify(text)
        except ValueError:
            pass
    if len(data) == KEK_LENGTH:
        return data
    raise KeyStoreError("key-encryption key %s is damaged (%d bytes)" % (path, len(data)))


class FileKeyStore(KeyStore):
    """`path`: the key file; `kek`: the KEK file; `storage`: the data
    directory's Storage, only to refuse a KEK inside it."""

    def __init__(self, path, kek, storage=None):
        KeyStore.__init__(self)
        if not path or not kek:
            raise KeyStoreError("file: key store needs a key file and ?kek=/path/to/kek")
        root = getattr(storage, "root", None)
        if root is not None and _inside(kek, root):
            raise KeyStoreError("the key-encryption key %s is inside the data directory %s: "
                                "keep it apart (another partition, root-only)" % (kek, root))
        self.path = path
        self.kek_path = kek
        directory, self._name = _split_path(path)
        self._dir = DirStorage(directory)

    @classmethod
    def from_address(cls, path, kek=None, storage=None):
        if kek is None:
            raise TypeError("file: key store needs ?kek=/path/to/kek")
        return cls(path, kek, storage)

    def _kek(self):
        kek = read_kek(self.kek_path)
        if kek is None:
            raise KeyStoreError("no key-encryption key at %s: key the terminal with pos-keys inject"
                                % self.kek_path)
        return kek

    def _read_state(self):
        try:
            raw = self._dir.read(self._name)
        except StorageError as e:
            raise KeyStoreError("cannot read the key file: %s" % e)
        if raw is None:
            return {}
        try:
            state = json.loads(raw)
        except ValueError:
            raise KeyStoreError("the key file %s is damaged" % self.path)
        if not isinstance(state, dict):
            raise KeyStoreError("the key file %s is damaged" % self.path)
        return state

    def _write_state(self, state):
        self._dir.write_atomic(self._name, json.dumps(state).encode())
