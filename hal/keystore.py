"""KeyStore: the terminal master key, the working keys it protects, and the
operations that need them (PIN block, MAC, sealing a PAN for the journal).

No clear key leaves this object and none is kept between calls: working keys
are stored encrypted under the master key and decrypted inside the call that
uses them. On the handset the master key and the data key live in the secure
element; the base class reaches them only through the three backend hooks
below, so a backend whose secure element does the DES itself overrides the
public methods instead.

Backend hooks:
    _master_key()            -> 16/24-byte master key, or None when none is loaded
    _data_key()              -> 16-byte key for seal/unseal (created on first use)
    _load_working_keys()     -> (pin_key_enc16, mac_key_enc16) under the master key, or None
    _save_working_keys(keys) -> persist that pair, or None to erase it
    _load_marks()            -> list of mark names (see marks below)
    _save_marks(names)       -> persist that list; a key injection erases it
    _journal_key()           -> 32-byte key for the journal's MAC chain (created on first use)

EVERY KEY STORE BACKEND MUST IMPLEMENT journal_mac() (through the
_journal_key() hook, or by overriding journal_mac() where the secure
element computes HMAC-SHA256 itself): the journal's tamper evidence
(firmware/journal.py) rests on it, and the app never holds that key.
"""

from hal import crypto
from hal.compat import hmac_sha256, urandom
from hal.device import Device
from hal.errors import KeyStoreError

MAC_ALGORITHMS = ("ecb", "x99", "x919")


def _check_bytes(name, value, lengths):
    if not isinstance(value, (bytes, bytearray)) or len(value) not in lengths:
        raise KeyStoreError("%s must be %s bytes" % (name, " or ".join(str(n) for n in lengths)))


class KeyStore(Device):

    # True for a store that keeps its keys where anyone can read them (the
    # simulator): the idle screen says so.
    simulated = False

    # -- backend hooks --------------------------------------------------------

    def _master_key(self):
        raise NotImplementedError

    def _data_key(self):
        raise NotImplementedError

    def _load_working_keys(self):
        raise NotImplementedError

    def _save_working_keys(self, keys):
        raise NotImplementedError

    def _journal_key(self):
        raise NotImplementedError

    def erase(self):
        """Forget every key and mark: the terminal goes back to the factory
        (decommission, firmware/decommission.py) and needs a new key
        injection. Every backend implements it (a secure element: its erase
        command)."""
        raise NotImplementedError

    # -- master and working keys ----------------------------------------------

    def has_master_key(self):
        return self._master_key() is not None

    def _require_master_key(self):
        master = self._master_key()
        if master is None:
            raise KeyStoreError("no master key loaded: the terminal must be keyed first")
        return master

    def _unwrap(self, master, name, key_enc, kcv):
        """Decrypt one working key sent under the master key and check its
        check value; returns the clear 16-byte key.

        A single-length key comes in a 16-byte slot in one of two ways, and
        both are accepted: its 8 encrypted bytes followed by 8 zero bytes (the
        zeros are not encrypted), or the encryption of key + 8 zero bytes.
        Either way the clear key is kept as key + 8 zero bytes, which
        hal.crypto treats as single DES, and its check value is single DES."""
        _check_bytes(name, key_enc, (16,))
        _check_bytes(name + " check value", kcv, (2, 3, 4, 5, 6, 7, 8))
        if not any(key_enc[8:]):
            clear = crypto.ecb_decrypt(master, bytes(key_enc[:8])) + bytes(8)
        else:
            clear = crypto.ecb_decrypt(master, bytes(key_enc))
        if crypto.key_check_value(clear, len(kcv)) != bytes(kcv):
            raise KeyStoreError("%s check value does not match: wrong master key or damaged key" % name)
        return clear

    def install_working_keys(self, pin_key_enc16, pin_kcv4, mac_key_enc16, mac_kcv4):
        """Install the PIN and MAC keys of a sign-on reply (F62). Both check
        values are verified before anything changes: on a mismatch this
        raises KeyStoreError and the old keys stay in force."""
        master = self._require_master_key()
        pin_key = self._unwrap(master, "PIN key", pin_key_enc16, pin_kcv4)
        mac_key = self._unwrap(master, "MAC key", mac_key_enc16, mac_kcv4)
        # Stored re-encrypted in one normal form, so the per-call decryption
        # is the same whichever way the host sent them.
        self._save_working_keys((crypto.ecb_encrypt(master, pin_key),
                                 crypto.ecb_encrypt(master, mac_key)))

    def has_working_keys(self):
        return self.has_master_key() and self._load_working_keys() is not None

    def clear_working_keys(self):
        self._save_working_keys(None)

    def _working_key(self, index):
        master = self._require_master_key()
        keys = self._load_working_keys()
        if keys is None:
            raise KeyStoreError("no working keys: sign on first")
        return crypto.ecb_decrypt(master, keys[index])

    # -- marks ------------------------------------------------------------------
    # Facts about this terminal that must outlive its data directory, kept
    # where the keys are (apart from that directory, root only): "passwords"
    # (firmware/operators.py) says operators.json existed, so a missing one
    # is a deletion, not a terminal fresh from the factory. A key injection
    # starts a terminal afresh and erases them; so does the service reset.

    def has_mark(self, name):
        return name in self._load_marks()

    def set_mark(self, name):
        marks = self._load_marks()
        if name not in marks:
            self._save_marks(list(marks) + [name])

    def clear_mark(self, name):
        marks = self._load_marks()
        if name in marks:
            self._save_marks([mark for mark in marks if mark != name])

    def _load_marks(self):
        raise NotImplementedError

    def _save_marks(self, names):
        raise NotImplementedError

    # -- operations -----------------------------------------------------------

    def pin_block(self, pin, pan):
        """ISO 9564 format 0 PIN block encrypted under the PIN key (3DES, or
        DES for a single-length key)."""
        try:
            clear = crypto.pin_block_format0(pin, pan)
        except ValueError as e:
            raise KeyStoreError(str(e))
        return crypto.ecb_encrypt(crypto.effective_key(self._working_key(0)), clear)

    def mac(self, data, algorithm="ecb"):
        """8 bytes for F64: "ecb" the UnionPay ECB MAC (8 ASCII hex bytes),
        "x99" ANSI X9.9, "x919" ANSI X9.19, all under the MAC key."""
        if algorithm == "ecb":
            return crypto.mac_unionpay_ecb(self._working_key(1), data)
        if algorithm == "x99":
            return crypto.mac_x99(self._working_key(1), data)
        if algorithm == "x919":
            return crypto.mac_x919(self._working_key(1), data)
        raise ValueError("unknown MAC algorithm %r (known: %s)" % (algorithm, ", ".join(MAC_ALGORITHMS)))

    def receipt_mac(self, data):
        """32 bytes: HMAC-SHA256 of a slip's verification data under the
        receipt key, derived from the master key (hal/crypto.receipt_key),
        so the acquirer can check a receipt's code."""
        return crypto.receipt_mac(self._require_master_key(), bytes(data))

    def journal_mac(self, data):
        """HMAC-SHA256 (32 bytes) of `data` under the journal key: the keyed
        chain that makes an edited, deleted or reordered journal record
        detectable (firmware/journal.py). Every backend must give it; the
        key stays in the key store (on a handset: in the secure element)."""
        return hmac_sha256(self._journal_key(), data)

    def seal(self, data):
        """Encrypt data to keep in the journal (a PAN for a reversal's F2):
        random 8-byte IV + 3DES-CBC under the data key, ISO/IEC 9797-1 padding
        method 2 (0x80 then zeros) so that any length comes back exactly."""
        data = bytes(data)
        padded = data + b"\x80" + bytes(7 - len(data) % 8)
        iv = urandom(8)
        return iv + crypto.cbc_encrypt(self._data_key(), padded, iv)

    def unseal(self, sealed):
        sealed = bytes(sealed)
        if len(sealed) < 16 or len(sealed) % 8:
            raise KeyStoreError("sealed data has a bad length (%d bytes)" % len(sealed))
        padded = crypto.cbc_decrypt(self._data_key(), sealed[8:], sealed[:8])
        end = len(padded) - 1
        while end >= 0 and padded[end] == 0:
            end -= 1
        if end < len(padded) - 8 or padded[end] != 0x80:
            raise KeyStoreError("sealed data does not decrypt: other device or damaged")
        return padded[:end]
