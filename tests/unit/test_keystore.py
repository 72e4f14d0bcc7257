"""hal/keystore.py through the simulated backend (hal/sim/keystore.py).

Working keys are built here the way a host sends them in the sign-on reply
F62 (each key encrypted under the master key with 3DES-ECB, plus the first 4
bytes of its check value), using psec for the host's side so that the key
store is checked against an independent DES.
"""

import json
import sys

import pytest

import hal
from hal import crypto
from hal.errors import DeviceError, KeyStoreError, StorageFullError
from hal.keystore import KeyStore
from hal.sim.keystore import STATE_FILE, TEST_MASTER_KEY, SimKeyStore
from hal.storage import DirStorage
from tests.support import micropython_path, run_script

psec = pytest.importorskip("psec")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

H = bytes.fromhex
MASTER = TEST_MASTER_KEY
PIN_KEY = H("1C1C1C1C1C1C1C1C 2A2A2A2A2A2A2A2A")
MAC_KEY = H("4C4C4C4C4C4C4C4C 7A7A7A7A7A7A7A7A")
SINGLE_MAC_KEY = H("0123456789ABCDEF")


def host_kcv(key):
    """Check value as the host computes it: single DES for an 8-byte key."""
    if len(key) == 8:
        key = key * 2
    return psec.des.generate_kcv(key, 4)


def wire_key(key, master=MASTER):
    """(encrypted 16 bytes, check value) of a double-length key."""
    return psec.des.encrypt_tdes_ecb(master, key), host_kcv(key)


def wire_single_key_zeros_clear(key, master=MASTER):
    """A single-length key as 8 encrypted bytes + 8 zero bytes."""
    return psec.des.encrypt_tdes_ecb(master, key) + bytes(8), host_kcv(key)


def wire_single_key_zeros_encrypted(key, master=MASTER):
    """A single-length key as the encryption of key + 8 zero bytes."""
    return psec.des.encrypt_tdes_ecb(master, key + bytes(8)), host_kcv(key)


@pytest.fixture
def storage(tmp_path):
    return DirStorage(str(tmp_path))


@pytest.fixture
def store(storage):
    return SimKeyStore(storage)


def install(store, pin=PIN_KEY, mac=MAC_KEY, master=MASTER):
    pin_enc, pin_kcv = wire_key(pin, master)
    mac_enc, mac_kcv = wire_key(mac, master)
    store.install_working_keys(pin_enc, pin_kcv, mac_enc, mac_kcv)


# --- opening -------------------------------------------------------------------------

def test_default_master_key_is_the_documented_test_key(store):
    assert TEST_MASTER_KEY == H("0123456789ABCDEFFEDCBA9876543210")
    assert store.has_master_key()
    assert not store.has_working_keys()


def test_open_device_with_storage_and_hex_master_key(storage):
    other = "00112233445566778899AABBCCDDEEFF"
    ks = hal.open_device("keystore", "sim:", storage=storage, master_key=other)
    assert isinstance(ks, SimKeyStore)
    install(ks, master=H(other))
    assert ks.has_working_keys()


def test_open_device_master_key_in_the_address():
    ks = hal.open_device("keystore", "sim:?master_key=0123456789ABCDEFFEDCBA9876543210")
    install(ks)
    assert ks.has_working_keys()


@pytest.mark.parametrize("address, extra", [
    ("sim:", {"colour": "red"}),
    ("sim:/some/path", {}),
])
def test_open_device_refuses_unknown_options(address, extra):
    with pytest.raises(DeviceError):
        hal.open_device("keystore", address, **extra)


@pytest.mark.parametrize("bad", ["0123", "zz" * 16, b"short"])
def test_bad_master_key_is_refused(bad):
    with pytest.raises(KeyStoreError):
        SimKeyStore(master_key=bad)


def test_base_class_hooks_are_abstract():
    ks = KeyStore()
    with pytest.raises(NotImplementedError):
        ks.has_master_key()


# --- working keys ------------------------------------------------------------------------

def test_install_then_pin_block_is_3des_of_format0(store):
    install(store)
    assert store.has_working_keys()
    block = store.pin_block("1234", "6222020200112233445")
    clear = psec.pinblock.encode_pinblock_iso_0("1234", "6222020200112233445")
    assert block == psec.des.encrypt_tdes_ecb(PIN_KEY, clear)


def test_macs_under_the_installed_mac_key(store):
    install(store)
    data = bytes(range(100))
    assert store.mac(data) == store.mac(data, "x919")      # X9.19 is the default
    assert store.mac(data, "ecb") == crypto.mac_unionpay_ecb(MAC_KEY, data)
    assert store.mac(data, "x99") == psec.mac.generate_cbc_mac(MAC_KEY, data, padding=1)
    assert store.mac(data, "x919") == psec.mac.generate_retail_mac(MAC_KEY[:8], MAC_KEY[8:], data, padding=1)
    with pytest.raises(ValueError):
        store.mac(data, "md5")


@pytest.mark.parametrize("wire", [wire_single_key_zeros_clear, wire_single_key_zeros_encrypted])
def test_single_length_mac_key_in_either_form(store, wire):
    pin_enc, pin_kcv = wire_key(PIN_KEY)
    mac_enc, mac_kcv = wire(SINGLE_MAC_KEY)
    assert mac_kcv == H("D5D44FF7")                 # single DES check value
    store.install_working_keys(pin_enc, pin_kcv, mac_enc, mac_kcv)
    data = b"0200 message body"
    assert store.mac(data, "x99") == psec.mac.generate_cbc_mac(SINGLE_MAC_KEY * 2, data, padding=1)
    assert store.mac(data, "ecb") == crypto.mac_unionpay_ecb(SINGLE_MAC_KEY, data)


def test_wrong_pin_key_check_value_keeps_the_old_keys(store):
    install(store)
    before = store.mac(b"abc")
    pin_enc, pin_kcv = wire_key(H("11" * 16))
    mac_enc, mac_kcv = wire_key(H("22" * 16))
    with pytest.raises(KeyStoreError, match="PIN key check value"):
        store.install_working_keys(pin_enc, b"\x00\x00\x00\x00", mac_enc, mac_kcv)
    with pytest.raises(KeyStoreError, match="MAC key check value"):
        store.install_working_keys(pin_enc, pin_kcv, mac_enc, bytes(a ^ 1 for a in mac_kcv))
    assert store.mac(b"abc") == before


def test_keys_under_another_master_key_fail_their_check(store):
    with pytest.raises(KeyStoreError):
        install(store, master=H("00112233445566778899AABBCCDDEEFF"))
    assert not store.has_working_keys()


@pytest.mark.parametrize("args", [
    (b"short", b"1234", bytes(16), b"1234"),
    (bytes(16), b"1234", bytes(16), b""),
    ("0" * 32, b"1234", bytes(16), b"1234"),
])
def test_malformed_key_fields_are_key_store_errors(store, args):
    with pytest.raises(KeyStoreError):
        store.install_working_keys(*args)


def test_operations_without_working_keys_fail_cleanly(store):
    with pytest.raises(KeyStoreError, match="sign on"):
        store.mac(b"abc")
    with pytest.raises(KeyStoreError, match="sign on"):
        store.pin_block("1234", "6222020200112233445")


def test_bad_pin_is_a_key_store_error(store):
    install(store)
    with pytest.raises(KeyStoreError):
        store.pin_block("12", "6222020200112233445")


def test_clear_working_keys(store):
    install(store)
    store.clear_working_keys()
    assert not store.has_working_keys()
    with pytest.raises(KeyStoreError):
        store.mac(b"abc")


def test_new_master_key_drops_working_keys(store):
    install(store)
    store.set_master_key(H("00112233445566778899AABBCCDDEEFF"))
    assert not store.has_working_keys()
    store.set_master_key(None)
    assert not store.has_master_key()
    with pytest.raises(KeyStoreError, match="master key"):
        install(store)


# --- persistence -------------------------------------------------------------------------

def test_keys_survive_a_restart_and_are_stored_encrypted(storage):
    first = SimKeyStore(storage)
    install(first)
    mac = first.mac(b"abc")
    second = SimKeyStore(storage)
    assert second.has_working_keys()
    assert second.mac(b"abc") == mac
    text = storage.read(STATE_FILE).decode()
    state = json.loads(text)
    assert set(state) >= {"master_key", "pin_key", "mac_key"}
    assert PIN_KEY.hex() not in text.lower() and MAC_KEY.hex() not in text.lower()


def test_restart_with_the_same_master_key_keeps_working_keys(storage):
    install(SimKeyStore(storage, master_key=MASTER))
    assert SimKeyStore(storage, master_key=MASTER.hex()).has_working_keys()
    assert not SimKeyStore(storage, master_key=bytes(16)).has_working_keys()


def test_damaged_state_file_is_a_key_store_error(storage):
    storage.write_atomic(STATE_FILE, b"{not json")
    with pytest.raises(KeyStoreError):
        SimKeyStore(storage)


def test_full_storage_leaves_the_old_state(tmp_path):
    storage = DirStorage(str(tmp_path), capacity=300)
    store = SimKeyStore(storage)
    storage.capacity = 0
    with pytest.raises(StorageFullError):
        install(store)
    assert not store.has_working_keys()


# --- seal / unseal -----------------------------------------------------------------------

@pytest.mark.parametrize("length", [0, 1, 7, 8, 9, 16, 19, 40])
def test_seal_round_trip(store, length):
    data = bytes(range(length))
    sealed = store.seal(data)
    assert len(sealed) % 8 == 0 and len(sealed) >= 16
    assert store.unseal(sealed) == data


def test_seal_uses_a_fresh_iv_and_hides_the_pan(store):
    pan = b"6222020200112233445"
    one, two = store.seal(pan), store.seal(pan)
    assert one != two
    assert pan not in one and b"6222" not in one


def test_sealed_data_survives_a_restart(storage):
    sealed = SimKeyStore(storage).seal(b"6222020200112233445")
    assert SimKeyStore(storage).unseal(sealed) == b"6222020200112233445"


def test_unseal_refuses_bad_input(storage):
    state = {"master_key": MASTER.hex(), "data_key": "00112233445566778899AABBCCDDEEFF"}
    storage.write_atomic(STATE_FILE, json.dumps(state).encode())
    store = SimKeyStore(storage)
    for bad in (b"", b"1234567", bytes(8), bytes(20)):
        with pytest.raises(KeyStoreError):
            store.unseal(bad)
    # Sealed by another device (another data key): the padding does not check.
    foreign = bytes(8) + crypto.cbc_encrypt(H("FFEEDDCCBBAA99887766554433221100"),
                                            b"62220202\x80" + bytes(7))
    with pytest.raises(KeyStoreError):
        store.unseal(foreign)


# --- MicroPython --------------------------------------------------------------------------

MICROPYTHON_SCRIPT = """
import sys
sys.path.insert(0, '')
import binascii
from hal import crypto
from hal.sim.keystore import SimKeyStore, TEST_MASTER_KEY
h = binascii.unhexlify
ks = SimKeyStore()
pin_key = h('1C1C1C1C1C1C1C1C2A2A2A2A2A2A2A2A')
mac_key = h('0123456789ABCDEF0000000000000000')
ks.install_working_keys(crypto.ecb_encrypt(TEST_MASTER_KEY, pin_key), crypto.key_check_value(pin_key),
                        crypto.ecb_encrypt(TEST_MASTER_KEY, mac_key[:8]) + bytes(8),
                        crypto.key_check_value(mac_key))
out = [ks.pin_block('1234', '6222020200112233445'), ks.mac(b'abc'), ks.mac(b'abc', 'x99'),
       ks.mac(b'abc', 'x919'), ks.unseal(ks.seal(b'6222020200112233445'))]
print(' '.join(binascii.hexlify(b).decode() for b in out))
"""






MICROPYTHON = micropython_path()


@pytest.mark.skipif(MICROPYTHON is None, reason="no micropython interpreter")
def test_same_results_under_micropython():
    assert run_script(MICROPYTHON, MICROPYTHON_SCRIPT) == run_script(sys.executable, MICROPYTHON_SCRIPT)
