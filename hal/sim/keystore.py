"""Simulated key store: the keys as a small JSON file in the storage.

    open_device("keystore", "sim:", storage=st)                        default test master key
    open_device("keystore", "sim:", storage=st, master_key="0123...")  another one (hex or bytes)
    open_device("keystore", "sim:?master_key=0123...")                 no storage: memory only

File "keystore.json": {"master_key", "data_key", "journal_key", "pin_key", "mac_key"} as hex,
and "marks" (a list of names, hal/keystore.py);
the working keys encrypted under the master key, as the base class keeps
them. SIMULATOR ONLY: the master key and the data key are in the file in
clear. On the handset both stay inside the secure element and never reach
the file system; nothing else here changes.
"""

import json

from hal.compat import hexlify, unhexlify, urandom
from hal.errors import KeyStoreError
from hal.keystore import KeyStore

STATE_FILE = "keystore.json"

# The test terminal master key, the same one the acquirer host simulator
# uses by default. Published here on purpose: it protects nothing real.
TEST_MASTER_KEY = b"\x01\x23\x45\x67\x89\xAB\xCD\xEF\xFE\xDC\xBA\x98\x76\x54\x32\x10"


def _key_from(value, name):
    if isinstance(value, str):
        try:
            value = unhexlify(value)
        except ValueError:
            raise KeyStoreError("%s is not hex" % name)
    if not isinstance(value, (bytes, bytearray)) or len(value) not in (16, 24):
        raise KeyStoreError("%s must be 16 or 24 bytes" % name)
    return bytes(value)


class SimKeyStore(KeyStore):
    """`storage` is a hal.storage.Storage, or None to keep the keys in
    memory only. `master_key` (16/24 bytes or hex) replaces the stored one;
    if it differs, working keys under the old one are dropped. Without
    either, the master key is TEST_MASTER_KEY."""

    simulated = True

    def __init__(self, storage=None, master_key=None):
        KeyStore.__init__(self)
        self._storage = storage
        self._state = self._read_state()
        if master_key is not None:
            self.set_master_key(_key_from(master_key, "master_key"))
        elif "master_key" not in self._state:
            self.set_master_key(TEST_MASTER_KEY)

    @classmethod
    def from_address(cls, path, storage=None, master_key=None):
        if path:
            raise TypeError("sim: keystore takes no path, got %r" % path)
        return cls(storage=storage, master_key=master_key)

    # -- state file -----------------------------------------------------------

    def _read_state(self):
        if self._storage is None:
            return {}
        raw = self._storage.read(STATE_FILE)
        if raw is None:
            return {}
        try:
            state = json.loads(raw)
        except ValueError:
            raise KeyStoreError("%s is damaged" % STATE_FILE)
        if not isinstance(state, dict):
            raise KeyStoreError("%s is damaged" % STATE_FILE)
        return state

    def _commit(self, state):
        """Write the new state, then adopt it: a failed write (full disk)
        leaves both the file and this object as they were."""
        if self._storage is not None:
            self._storage.write_atomic(STATE_FILE, json.dumps(state).encode())
        self._state = state

    def _key(self, name):
        text = self._state.get(name)
        if text is None:
            return None
        try:
            return unhexlify(text)
        except ValueError:
            raise KeyStoreError("%s in %s is damaged" % (name, STATE_FILE))

    def erase(self):
        self._commit({})

    # -- what a key-loading device does to a real terminal --------------------

    def set_master_key(self, key):
        """Load a master key (None removes it, as an erased secure element
        would). Working keys under a different master key are dropped, and
        so are the marks: a key injection starts the terminal afresh."""
        if key is not None:
            key = _key_from(key, "master key")
        old = self._key("master_key")
        if old == key and old is not None:
            return
        state = dict(self._state)
        state.pop("pin_key", None)
        state.pop("mac_key", None)
        state.pop("master_key", None)
        state.pop("marks", None)
        if key is not None:
            state["master_key"] = hexlify(key)
        self._commit(state)

    # -- KeyStore hooks -------------------------------------------------------

    def _master_key(self):
        return self._key("master_key")

    def _data_key(self):
        return self._created_key("data_key", 16)

    def _journal_key(self):
        return self._created_key("journal_key", 32)

    def _created_key(self, name, length):
        """A key the terminal makes itself, on first use (a handset's
        secure element generates it inside)."""
        key = self._key(name)
        if key is None:
            key = urandom(length)
            state = dict(self._state)
            state[name] = hexlify(key)
            self._commit(state)
        return key

    def _load_working_keys(self):
        pin_key, mac_key = self._key("pin_key"), self._key("mac_key")
        if pin_key is None or mac_key is None:
            return None
        return pin_key, mac_key

    def _save_working_keys(self, keys):
        state = dict(self._state)
        state.pop("pin_key", None)
        state.pop("mac_key", None)
        if keys is not None:
            state["pin_key"] = hexlify(keys[0])
            state["mac_key"] = hexlify(keys[1])
        self._commit(state)

    def _load_marks(self):
        marks = self._state.get("marks", [])
        if not isinstance(marks, list):
            raise KeyStoreError("marks in %s are damaged" % STATE_FILE)
        return marks

    def _save_marks(self, names):
        state = dict(self._state)
        state["marks"] = list(names)
        self._commit(state)
