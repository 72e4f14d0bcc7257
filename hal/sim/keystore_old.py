"""Reading an emulator data directory from before keys were kept under a
KEK (hal/sim/keystore.py loads this only when it meets one)."""

from hal.compat import hexlify, unhexlify, urandom
from hal.errors import KeyStoreError

STATE_FILE = "keystore.json"


def from_clear_format(old):
    """An emulator data directory from before keys were kept under a KEK:
    master and data key in clear, working keys under the master key. Read
    into the current form (written so at the next change)."""
    from hal import crypto
    from hal.keystore import KCV_LENGTH, _at_rest_check_value
    kek = urandom(16)
    state = {"sim_kek": hexlify(kek), "kek_kcv": hexlify(crypto.key_check_value(kek, KCV_LENGTH))}
    try:
        master = unhexlify(old["master_key"])
        clear = {"master_key": master}
        for slot in ("data_key", "journal_key"):
            if old.get(slot):
                clear[slot] = unhexlify(old[slot])
        for slot in ("pin_key", "mac_key"):
            if old.get(slot):
                clear[slot] = crypto.ecb_decrypt(master, unhexlify(old[slot]))
    except (TypeError, ValueError):
        raise KeyStoreError("%s is damaged" % STATE_FILE)
    for name in clear:
        state[name] = {"key": hexlify(crypto.ecb_encrypt(kek, clear[name])),
                       "kcv": hexlify(_at_rest_check_value(clear[name]))}
    return state
