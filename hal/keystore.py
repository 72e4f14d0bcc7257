"""KeyStore: the terminal master key (TMK), the working keys it protects
(PIN key, MAC key, track data key), the data key that seals card numbers
for the journal, and the operations that need them.

The app never receives a key. It asks for "the PIN block of this PIN for
this card", "the MAC of these bytes", "this track encrypted", "seal these
bytes"; each call decrypts the key it needs, uses it and drops it.

At rest every key is encrypted under a key-encryption key (KEK) with its
check value beside it, and the check value is verified every time a key
is decrypted: a wrong KEK or a damaged file is an error, never a wrong
key used in silence. Where the KEK comes from is the backend's business:

    hal/linux/keystore.py   file:/var/pos/keys?kek=/etc/pos/kek   a root-only file apart from the data
    hal/sim/keystore.py     sim:                                  beside the keys (SIMULATOR ONLY)

Backend hooks:
    _kek()              -> the 16-byte KEK, or raise KeyStoreError
    _read_state()       -> the stored dict ({} when there is none)
    _write_state(state) -> replace it atomically (a power cut leaves the old or the new)

State: {"kek_kcv": hex, "<slot>": {"key": hex, "kcv": hex}, "algorithm": "3des"|"sm4"}
with slots master_key, data_key, journal_key, pin_key, mac_key, track_key;
each "key" is the clear key (16 bytes; a single DES key as key + 8 zero
bytes; the journal key 32) encrypted with 3DES-ECB under the KEK, "kcv" the
clear key's 3-byte check value.

Every backend gives journal_mac() and receipt_mac() (firmware/journal.py,
firmware/receipt.py) and the marks (firmware/operators.py) through this
class: the journal's tamper evidence and the receipts' codes rest on them,
and the app never holds their keys.
"""

from hal import crypto
from hal.compat import hexlify, hmac_sha256, keyed_hmac_sha256, unhexlify, urandom
from hal.device import Device
from hal.errors import KeyStoreError

MAC_ALGORITHMS = ("ecb", "x99", "x919")
KEY_ALGORITHMS = ("3des", "sm4")

# The published test terminal master key (the host simulator's default, and
# in every public terminal sample). A terminal holding it signs on only
# with the setting test_keys on: anyone can act as its host.
TEST_MASTER_KEY = b"\x01\x23\x45\x67\x89\xAB\xCD\xEF\xFE\xDC\xBA\x98\x76\x54\x32\x10"

WORKING_SLOTS = ("pin_key", "mac_key", "track_key")
KCV_LENGTH = 3


def _at_rest_check_value(key):
    """The check value kept beside a key at rest: the DES/3DES one for DES
    keys, the first bytes of HMAC-SHA256(key, zero block) for others (the
    32-byte journal key)."""
    if len(key) in (8, 16, 24):
        return crypto.key_check_value(key, KCV_LENGTH)
    return hmac_sha256(key, bytes(8))[:KCV_LENGTH]


def _check_bytes(name, value, lengths):
    if not isinstance(value, (bytes, bytearray)) or len(value) not in lengths:
        raise KeyStoreError("%s must be %s bytes" % (name, " or ".join(str(n) for n in lengths)))


def key_from(value, name):
    """A master key given as bytes or hex -> 16 or 24 bytes."""
    if isinstance(value, str):
        try:
            value = unhexlify(value)
        except ValueError:
            raise KeyStoreError("%s is not hex" % name)
    if not isinstance(value, (bytes, bytearray)) or len(value) not in (16, 24):
        raise KeyStoreError("%s must be 16 or 24 bytes" % name)
    return bytes(value)


def check_value(key, algorithm="3des", length=4):
    """Key check value: the key encrypting a zero block, first `length`
    bytes (DES/3DES: 8 zero bytes; SM4: 16)."""
    if algorithm == "sm4":
        from hal import sm4
        return sm4.encrypt_block(key, bytes(16))[:length]
    return crypto.key_check_value(key, length)


def _cipher(algorithm):
    """(ecb_encrypt, ecb_decrypt) over a key and whole blocks."""
    if algorithm == "sm4":
        from hal import sm4
        return sm4.ecb_encrypt, sm4.ecb_decrypt
    if algorithm != "3des":
        raise KeyStoreError("unknown key algorithm %r (known: %s)" % (algorithm, ", ".join(KEY_ALGORITHMS)))
    return crypto.ecb_encrypt, crypto.ecb_decrypt


class KeyStore(Device):

    # True for a store that keeps its keys where anyone can read them (the
    # simulator): the idle screen says so.
    simulated = False

    def __init__(self):
        Device.__init__(self)
        self._state = None
        # The journal key's MAC, once the key is unwrapped and checked: it
        # MACs every journal record (thousands at boot, and each append
        # waits on it), and unwrapping the key for each would cost three DES
        # key schedules a record and fragment a 1 MiB heap. Kept as the
        # HMAC's two padded-key states (hal.compat.keyed_hmac_sha256), the
        # only key material kept between calls, inside this object; dropped
        # whenever the store changes.
        self._journal_mac = None

    # -- backend hooks --------------------------------------------------------

    def _kek(self):
        raise NotImplementedError

    def _read_state(self):
        raise NotImplementedError

    def _write_state(self, state):
        raise NotImplementedError

    # -- keys at rest -----------------------------------------------------------

    def _loaded(self):
        if self._state is None:
            state = self._read_state()
            if not isinstance(state, dict):
                raise KeyStoreError("the key file is damaged")
            self._state = state
        return self._state

    def _commit(self, changes):
        """Write the state with `changes` (slot -> clear key, or None to
        remove it; other names -> plain values), then adopt it: a failed
        write (full disk) leaves both the file and this object as they were."""
        kek = self._kek()
        state = dict(self._loaded())
        state["kek_kcv"] = hexlify(crypto.key_check_value(kek, KCV_LENGTH))
        for name in changes:
            value = changes[name]
            if value is None:
                state.pop(name, None)
            elif name.endswith("_key"):
                state[name] = {"key": hexlify(crypto.ecb_encrypt(kek, value)),
                               "kcv": hexlify(_at_rest_check_value(value))}
            else:
                state[name] = value
        self._write_state(state)
        self._state = state
        self._journal_mac = None

    def _key(self, name):
        """The clear key in `slot`, checked against its check value; None
        if the slot is empty. Callers use it within the call and drop it."""
        record = self._loaded().get(name)
        if record is None:
            return None
        kek = self._kek()
        try:
            expected_kek = unhexlify(self._state["kek_kcv"])
            encrypted = unhexlify(record["key"])
            kcv = unhexlify(record["kcv"])
        except (KeyError, TypeError, ValueError):
            raise KeyStoreError("%s in the key file is damaged" % name)
        if crypto.key_check_value(kek, KCV_LENGTH) != expected_kek:
            raise KeyStoreError("the key-encryption key does not match the key file")
        if len(encrypted) not in (16, 24, 32):
            raise KeyStoreError("%s in the key file is damaged" % name)
        clear = crypto.ecb_decrypt(kek, encrypted)
        if _at_rest_check_value(clear) != kcv:
            raise KeyStoreError("%s fails its check value: damaged key file" % name)
        return clear

    def erase(self):
        """Forget every key and mark: the terminal goes back to the factory
        (decommission, firmware/decommission.py) and needs a new key
        injection. A backend whose secure element holds the keys overrides
        this with its erase command."""
        self._write_state({})
        self._state = {}
        self._journal_mac = None

    # -- the master key (injected on the bench: pos-keys inject) ---------------

    def inject_master_key(self, key):
        """Load a master key (None removes it, as an erased secure element
        would); -> its check value (4 bytes, of the algorithm in force).
        Working keys under another master key are dropped; the data key
        stays (the journal's sealed card numbers need it)."""
        if key is not None:
            key = key_from(key, "master key")
        old = self._key("master_key")
        if old is not None and old == key:
            return self.master_key_check_value()
        changes = {"master_key": key, "marks": None}  # a key injection starts the terminal afresh
        for slot in WORKING_SLOTS:
            changes[slot] = None
        self._commit(changes)
        return self.master_key_check_value()

    def key_names(self):
        """The slots that hold a key (names only, never key material)."""
        names = []
        state = self._loaded()
        for name in state:
            if name.endswith("_key") and isinstance(state[name], dict):
                names.append(name)
        return names

    def has_master_key(self):
        return self._key("master_key") is not None

    def master_key_check_value(self):
        """4 bytes (None without a master key): what a bench engineer
        compares with the key custodian's slip."""
        master = self._key("master_key")
        if master is None:
            return None
        return check_value(master, self.algorithm, 4)

    def uses_test_master_key(self):
        """True when the master key is the published test key."""
        master = self._key("master_key")
        if master is None:
            return False
        return master == TEST_MASTER_KEY

    def _require_master_key(self):
        master = self._key("master_key")
        if master is None:
            raise KeyStoreError("no master key loaded: the terminal must be keyed first (pos-keys inject)")
        return master

    @property
    def algorithm(self):
        """"3des" or "sm4": the algorithm of the working keys in force."""
        return self._loaded().get("algorithm", "3des")

    # -- working keys (from the sign-on reply) ----------------------------------

    def _unwrap(self, master, name, key_enc, kcv, algorithm):
        """Decrypt one working key sent under the master key and check its
        check value; returns the clear 16-byte key.

        A single-length DES key comes in a 16-byte slot in one of two ways,
        and both are accepted: its 8 encrypted bytes followed by 8 zero
        bytes (the zeros are not encrypted), or the encryption of key + 8
        zero bytes. Either way the clear key is kept as key + 8 zero bytes,
        which hal.crypto treats as single DES, and its check value is
        single DES."""
        _check_bytes(name, key_enc, (16,))
        _check_bytes(name + " check value", kcv, (2, 3, 4, 5, 6, 7, 8))
        _encrypt, decrypt = _cipher(algorithm)
        if algorithm == "3des" and not any(key_enc[8:]):
            clear = crypto.ecb_decrypt(master, bytes(key_enc[:8])) + bytes(8)
        else:
            clear = decrypt(master, bytes(key_enc))
        if check_value(clear, algorithm, len(kcv)) != bytes(kcv):
            raise KeyStoreError("%s check value does not match: wrong master key or damaged key" % name)
        return clear

    def install_working_keys(self, pin_key_enc16, pin_kcv4, mac_key_enc16, mac_kcv4,
                             track_key_enc16=None, track_kcv4=None, signed=None, algorithm="3des"):
        """Install the keys of a sign-on reply (F62): PIN key, MAC key and,
        with 60.3 = 004, the track data key. Every check value is verified,
        and `signed` = (mac_data, mac, mac_algorithm), the 0810's own MAC,
        is verified with the NEW MAC key, before anything changes: on any
        mismatch this raises KeyStoreError and the old keys stay in force."""
        master = self._require_master_key()
        keys = {"pin_key": self._unwrap(master, "PIN key", pin_key_enc16, pin_kcv4, algorithm),
                "mac_key": self._unwrap(master, "MAC key", mac_key_enc16, mac_kcv4, algorithm),
                "track_key": None}
        if track_key_enc16 is not None:
            keys["track_key"] = self._unwrap(master, "track data key", track_key_enc16, track_kcv4,
                                             algorithm)
        if signed is not None:
            data, mac, mac_algorithm = signed
            if mac is None or mac_of(keys["mac_key"], data, mac_algorithm, algorithm) != bytes(mac):
                raise KeyStoreError("the sign-on reply's MAC does not verify with its new MAC key")
        keys["algorithm"] = algorithm
        self._commit(keys)

    def has_working_keys(self):
        return self.has_master_key() and self._key("pin_key") is not None and self._key("mac_key") is not None

    def has_track_key(self):
        return self.has_working_keys() and self._key("track_key") is not None

    def clear_working_keys(self):
        changes = {}
        for slot in WORKING_SLOTS:
            changes[slot] = None
        self._commit(changes)

    def _working_key(self, name):
        self._require_master_key()
        key = self._key(name)
        if key is None:
            raise KeyStoreError("no %s: sign on first" % name.replace("_", " "))
        return key

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
        marks = self._loaded().get("marks") or []
        return list(marks)

    def _save_marks(self, names):
        self._commit({"marks": list(names)})

    # -- operations -----------------------------------------------------------

    def pin_block(self, pin, pan):
        """ISO 9564 format 0 PIN block encrypted under the PIN key (3DES, or
        DES for a single-length key; SM4: the 16-byte widened format 0
        block of SM4 PIN pads, 16 bytes in F52)."""
        try:
            clear = crypto.pin_block_format0(pin, pan)
        except ValueError as e:
            raise KeyStoreError(str(e))
        key = self._working_key("pin_key")
        if self.algorithm == "sm4":
            from hal import sm4
            return sm4.encrypt_block(key, sm4.pin_block_16(pin, pan))
        return crypto.ecb_encrypt(crypto.effective_key(key), clear)

    def mac(self, data, algorithm="x919"):
        """8 bytes for F64 under the MAC key: "x919" ANSI X9.19 (the
        default), "ecb" the UnionPay ECB MAC (8 ASCII hex bytes), "x99" ANSI
        X9.9. With SM4 keys: "ecb" the UnionPay SM4 MAC (XOR of 16-byte
        blocks, as forgeable), the others the SM4 CBC-MAC (first 8 bytes)."""
        return mac_of(self._working_key("mac_key"), data, algorithm, self.algorithm)

    def encrypt_track(self, track):
        """Track 2 or 3 data (digits, "=" separator) with its issuer part
        encrypted under the track data key, the UnionPay way (see
        hal.track.encrypt_track). KeyStoreError without a track key."""
        try:
            from hal import track as tracks
            return tracks.encrypt_track(self._working_key("track_key"), track, self.algorithm)
        except ValueError as e:
            raise KeyStoreError(str(e))

    def _created_key(self, name, length):
        """A key the terminal makes itself, on first use (a handset's
        secure element generates it inside)."""
        key = self._key(name)
        if key is None:
            key = urandom(length)
            self._commit({name: key})
        return key

    def _data_key(self):
        """The key that seals data kept on the terminal. Stays in the
        store: the app gets sealed bytes, not the key."""
        return self._created_key("data_key", 16)

    def _journal_key(self):
        """The key of the journal's MAC chain (32 bytes, HMAC-SHA256)."""
        return self._created_key("journal_key", 32)

    def receipt_mac(self, data):
        """32 bytes: HMAC-SHA256 of a slip's verification data under the
        receipt key, derived from the master key (hal/crypto.receipt_key),
        so the acquirer can check a receipt's code."""
        return crypto.receipt_mac(self._require_master_key(), bytes(data))

    def journal_mac(self, data):
        """HMAC-SHA256 (32 bytes) of `data` under the journal key: the keyed
        chain that makes an edited, deleted or reordered journal record
        detectable (firmware/journal.py). Every backend gives it through
        this class; the key stays in the key store."""
        if self._journal_mac is None:
            self._journal_mac = keyed_hmac_sha256(self._journal_key())
        return self._journal_mac(data)

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


def mac_of(key, data, algorithm, key_algorithm="3des"):
    """The F64 MAC of `data` under `key` (the host simulator's too: one
    implementation of each algorithm for both sides)."""
    if key_algorithm == "sm4":
        from hal import sm4
        if algorithm == "ecb":
            return sm4.mac_unionpay(key, data)
        return sm4.cbc_mac(key, data)[:8]
    if algorithm == "ecb":
        return crypto.mac_unionpay_ecb(key, data)
    if algorithm == "x99":
        return crypto.mac_x99(key, data)
    if algorithm == "x919":
        return crypto.mac_x919(key, data)
    raise ValueError("unknown MAC algorithm %r (known: %s)" % (algorithm, ", ".join(MAC_ALGORITHMS)))
