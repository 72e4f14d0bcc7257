"""Simulated key store, for the emulator and the tests: the keys as a small
JSON file in the terminal's own storage.

    open_device("keystore", "sim:", storage=st)                        the public test master key
    open_device("keystore", "sim:", storage=st, master_key="0123...")  another one (hex or bytes)
    open_device("keystore", "sim:?master_key=0123...")                 no storage: memory only

File "keystore.json": the format of hal/keystore.py (every key under a
key-encryption key, with its check value), plus "sim_kek": the KEK itself,
in clear, in the same file. SIMULATOR ONLY, and the idle screen says so
([SIM KEYS]): whoever reads the data directory reads the keys. A handset
uses hal/linux/keystore.py, whose KEK lives apart from the data.
"""

import json

from hal.compat import hexlify, unhexlify, urandom
from hal.errors import KeyStoreError
from hal.keystore import TEST_MASTER_KEY, KeyStore, key_from

STATE_FILE = "keystore.json"

__all__ = ["STATE_FILE", "TEST_MASTER_KEY", "SimKeyStore"]


class SimKeyStore(KeyStore):
    """`storage` is a hal.storage.Storage, or None to keep the keys in
    memory only. `master_key` (16/24 bytes or hex) replaces the stored one;
    if it differs, working keys under the old one are dropped. Without
    either, the master key is TEST_MASTER_KEY."""

    simulated = True

    def __init__(self, storage=None, master_key=None):
        KeyStore.__init__(self)
        self._storage = storage
        self._memory = {}
        state = self._loaded()
        if master_key is not None:
            self.inject_master_key(key_from(master_key, "master_key"))
        elif "master_key" not in state:
            self.inject_master_key(TEST_MASTER_KEY)

    @classmethod
    def from_address(cls, path, storage=None, master_key=None):
        if path:
            raise TypeError("sim: keystore takes no path, got %r" % path)
        return cls(storage=storage, master_key=master_key)

    def set_master_key(self, key):
        """What a key-loading device does to a real terminal (see
        KeyStore.inject_master_key)."""
        return self.inject_master_key(key)

    # -- KeyStore hooks -------------------------------------------------------

    def _kek(self):
        state = self._loaded()
        text = state.get("sim_kek")
        if text is None:
            kek = urandom(16)
            state["sim_kek"] = hexlify(kek)
            return kek
        try:
            return unhexlify(text)
        except ValueError:
            raise KeyStoreError("sim_kek in %s is damaged" % STATE_FILE)

    def _read_state(self):
        if self._storage is None:
            return self._memory
        raw = self._storage.read(STATE_FILE)
        if raw is None:
            return {}
        try:
            state = json.loads(raw)
        except ValueError:
            raise KeyStoreError("%s is damaged" % STATE_FILE)
        if not isinstance(state, dict):
            raise KeyStoreError("%s is damaged" % STATE_FILE)
        if isinstance(state.get("master_key"), str):
            from hal.sim.keystore_old import from_clear_format  # old emulator data only
            state = from_clear_format(state)
        return state

    def _write_state(self, state):
        if self._storage is None:
            self._memory = state
            return
        self._storage.write_atomic(STATE_FILE, json.dumps(state).encode())
