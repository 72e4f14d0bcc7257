"""hal/linux/keystore.py (file:PATH?kek=KEK) and pos-keys: keys at rest
only under the key-encryption key, checked at every use, rewritten
atomically, and never handed out."""

import io
import json
import os
import sys

import pytest

import hal
from hal import crypto
from hal import track as tracks
from hal.errors import DeviceError, KeyStoreError, StorageFullError
from hal.keystore import TEST_MASTER_KEY, KeyStore
from hal.linux.keystore import FileKeyStore
from hal.storage import DirStorage
from emulator import keys_cli
from tests.support import micropython_path, run_script

H = bytes.fromhex
TMK = H("11223344556677888877665544332211")
PIN_KEY = H("1C1C1C1C1C1C1C1C2A2A2A2A2A2A2A2A")
MAC_KEY = H("4C4C4C4C4C4C4C4C7A7A7A7A7A7A7A7A")
TRACK_KEY = H("5D5D5D5D5D5D5D5D6E6E6E6E6E6E6E6E")


def wire(key, master=TMK):
    return crypto.ecb_encrypt(master, key), crypto.key_check_value(key, 4)


def install(store, master=TMK, signed=None):
    store.install_working_keys(*wire(PIN_KEY, master), *wire(MAC_KEY, master), *wire(TRACK_KEY, master),
                               signed=signed)


@pytest.fixture
def places(tmp_path):
    """(data directory, key file, KEK file): the KEK on another 'partition'."""
    data = tmp_path / "data"
    secure = tmp_path / "secure"
    secure.mkdir()
    kek = secure / "kek"
    kek.write_bytes(os.urandom(16))
    return data, data / "keys.json", kek


def open_store(places):
    data, keys, kek = places
    return hal.open_device("keystore", "file:%s?kek=%s" % (keys, kek), storage=DirStorage(str(data)))


def test_keys_at_rest_are_only_under_the_kek(places):
    store = open_store(places)
    assert store.inject_master_key(TMK) == crypto.key_check_value(TMK, 4)
    install(store)
    store.seal(b"6222021000000000017")
    text = places[1].read_text().upper()
    for key in (TMK, PIN_KEY, MAC_KEY, TRACK_KEY):
        assert key.hex().upper() not in text
        assert crypto.key_check_value(key, 3).hex().upper() in text   # its check value is kept
    assert set(json.loads(text.lower())) >= {"master_key", "pin_key", "mac_key", "track_key", "data_key"}
    # A new process with the same two files works on
    again = open_store(places)
    assert again.mac(b"abc") == crypto.mac_x919(MAC_KEY, b"abc")
    assert not store.simulated and not again.uses_test_master_key()


def test_the_app_gets_results_never_keys(places):
    store = open_store(places)
    store.inject_master_key(TMK)
    install(store)
    public = [name for name in dir(store) if not name.startswith("_")]
    keys = (TMK, PIN_KEY, MAC_KEY, TRACK_KEY)
    for name in public:
        value = getattr(store, name)
        if callable(value) and name in ("key_names", "master_key_check_value", "has_master_key",
                                        "has_working_keys", "has_track_key", "uses_test_master_key"):
            assert value() not in keys
        assert value not in keys
    assert store.key_names() and all(name.endswith("_key") for name in store.key_names())


def test_a_wrong_kek_is_refused_at_every_use(places):
    store = open_store(places)
    store.inject_master_key(TMK)
    install(store)
    places[2].chmod(0o600)
    places[2].write_bytes(os.urandom(16))
    other = open_store(places)
    for use in (other.has_master_key, lambda: other.mac(b"abc"), lambda: other.pin_block("1234", "6222021000000000017")):
        with pytest.raises(KeyStoreError, match="key-encryption key does not match"):
            use()


def test_a_damaged_key_fails_its_check_value(places):
    store = open_store(places)
    store.inject_master_key(TMK)
    install(store)
    state = json.loads(places[1].read_text())
    encrypted = bytearray(bytes.fromhex(state["mac_key"]["key"]))
    encrypted[3] ^= 0x40
    state["mac_key"]["key"] = encrypted.hex()
    places[1].write_text(json.dumps(state))
    damaged = open_store(places)
    assert damaged.pin_block("1234", "6222021000000000017")       # the PIN key is intact
    with pytest.raises(KeyStoreError, match="mac_key fails its check value"):
        damaged.mac(b"abc")


@pytest.mark.parametrize("content", [b"{not json", b"[]"])
def test_a_damaged_key_file_is_a_key_store_error(places, content):
    places[0].mkdir()
    places[1].write_bytes(content)
    with pytest.raises(KeyStoreError, match="damaged"):
        open_store(places).has_master_key()


def test_without_a_kek_the_terminal_has_no_keys_and_says_why(places):
    places[2].unlink()
    store = open_store(places)
    with pytest.raises(KeyStoreError, match="pos-keys inject"):
        store.inject_master_key(TMK)
    assert not store.has_master_key()     # no key file either: not keyed


def test_a_kek_inside_the_data_directory_is_refused(places):
    data, keys, _ = places
    data.mkdir()
    (data / "kek").write_bytes(os.urandom(16))
    with pytest.raises(DeviceError, match="inside the data directory"):
        hal.open_device("keystore", "file:%s?kek=%s" % (keys, data / "kek"), storage=DirStorage(str(data)))
    with pytest.raises(DeviceError, match="kek"):
        hal.open_device("keystore", "file:%s" % keys)


def test_rewrite_is_atomic_a_full_disk_keeps_the_old_keys(places):
    store = open_store(places)
    store.inject_master_key(TMK)
    install(store)
    before = places[1].read_bytes()
    store._dir.capacity = 0   # the key file's partition is full
    with pytest.raises(StorageFullError):
        store.inject_master_key(H("00112233445566778899AABBCCDDEEFF"))
    assert places[1].read_bytes() == before
    assert not [p for p in os.listdir(places[0]) if p.endswith(".tmp")]
    assert store.mac(b"abc") == crypto.mac_x919(MAC_KEY, b"abc")


def test_sign_on_keys_are_installed_only_when_the_0810_mac_verifies(places):
    store = open_store(places)
    store.inject_master_key(TMK)
    data = b"0810 reply body"
    with pytest.raises(KeyStoreError, match="MAC does not verify"):
        install(store, signed=(data, crypto.mac_x919(H("22" * 16), data), "x919"))
    assert not store.has_working_keys()
    install(store, signed=(data, crypto.mac_x919(MAC_KEY, data), "x919"))
    assert store.has_track_key()


def test_the_track_is_encrypted_under_the_track_key(places):
    store = open_store(places)
    store.inject_master_key(TMK)
    install(store)
    track = "6222021000000000017=30121010000000000"
    sent = store.encrypt_track(track)
    assert len(sent) == len(track) and sent[:20] == track[:20] and sent != track
    assert tracks.decrypt_track(TRACK_KEY, sent) == track


def test_unionpay_track_block_is_the_8_bytes_before_the_last():
    """The worked example of the UnionPay terminal security spec: track 2
    1234567890123456789=0508201781999168302 packs to 20 bytes; the block
    encrypted is 08 20 17 81 99 91 68 30 (the last byte, 20, stays)."""
    track = "1234567890123456789=0508201781999168302"
    sent = tracks.encrypt_track(TRACK_KEY, track)
    packed = bytes.fromhex((sent.replace("=", "D") + "0"))
    assert packed[:11] == H("1234567890123456789D05")
    assert packed[11:19] == crypto.ecb_encrypt(TRACK_KEY, H("0820178199916830"))
    assert packed[19:] == H("20")


# --- pos-keys -------------------------------------------------------------------------------

def test_pos_keys_inject_creates_the_kek_and_shows_the_check_value(tmp_path):
    kek = tmp_path / "secure" / "kek"
    keys = tmp_path / "data" / "keys.json"
    address = "file:%s?kek=%s" % (keys, kek)
    one, two = H("0F" * 16), bytes(a ^ b for a, b in zip(TMK, H("0F" * 16)))
    out = io.StringIO()
    assert keys_cli.main(["inject", "--store", address, "--component", one.hex(), "--component", two.hex()],
                         out) == 0
    text = out.getvalue()
    assert "TMK KCV %s" % crypto.key_check_value(TMK, 3).hex().upper() in text
    assert "component 1 KCV %s" % crypto.key_check_value(one, 3).hex().upper() in text
    assert oct(kek.stat().st_mode & 0o777) == "0o400"
    assert TMK.hex() not in keys.read_text().lower()
    out = io.StringIO()
    assert keys_cli.main(["show", "--store", address], out) == 0
    assert "TMK KCV %s" % crypto.key_check_value(TMK, 3).hex().upper() in out.getvalue()
    assert TMK.hex().upper() not in out.getvalue().upper()


def test_pos_keys_refuses_the_test_key_unless_asked(tmp_path, capsys):
    address = "file:%s?kek=%s" % (tmp_path / "keys.json", tmp_path / "kek")
    assert keys_cli.main(["inject", "--store", address, "--tmk", TEST_MASTER_KEY.hex()]) == 2
    assert "published test key" in capsys.readouterr().err
    assert keys_cli.main(["inject", "--store", address, "--tmk", TEST_MASTER_KEY.hex(), "--test-key"],
                         io.StringIO()) == 0


@pytest.mark.parametrize("args", [["--tmk", "12"], ["--component", "00" * 16], ["--tmk", "zz" * 16]])
def test_pos_keys_bad_input_is_a_message(tmp_path, capsys, args):
    address = "file:%s?kek=%s" % (tmp_path / "keys.json", tmp_path / "kek")
    assert keys_cli.main(["inject", "--store", address] + args) == 2
    assert "pos-keys:" in capsys.readouterr().err


# --- MicroPython ----------------------------------------------------------------------------

MICROPYTHON_SCRIPT = """
import sys
sys.path.insert(0, '')
import binascii, os
from hal import crypto
from hal import track as tracks
from hal.linux.keystore import FileKeyStore
d = '%s'
h = binascii.unhexlify
tmk = h('11223344556677888877665544332211')
mac_key = h('4C4C4C4C4C4C4C4C7A7A7A7A7A7A7A7A')
pin_key = h('1C1C1C1C1C1C1C1C2A2A2A2A2A2A2A2A')
ks = FileKeyStore(d + '/keys.json', d + '/kek')
ks.inject_master_key(tmk)
ks.install_working_keys(crypto.ecb_encrypt(tmk, pin_key), crypto.key_check_value(pin_key),
                        crypto.ecb_encrypt(tmk, mac_key), crypto.key_check_value(mac_key),
                        crypto.ecb_encrypt(tmk, pin_key), crypto.key_check_value(pin_key))
again = FileKeyStore(d + '/keys.json', d + '/kek')
out = [again.pin_block('1234', '6222020200112233445'), again.mac(b'abc'), again.master_key_check_value()]
print(' '.join(binascii.hexlify(b).decode() for b in out), again.encrypt_track('6222021000000000017=30121010000000000'))
"""

MICROPYTHON = micropython_path()


@pytest.mark.skipif(MICROPYTHON is None, reason="no micropython interpreter")
def test_same_results_under_micropython(tmp_path):
    results = []
    for name, interpreter in (("mpy", MICROPYTHON), ("cpy", sys.executable)):
        d = tmp_path / name
        d.mkdir()
        (d / "kek").write_bytes(H("00112233445566778899AABBCCDDEEFF"))
        results.append(run_script(interpreter, MICROPYTHON_SCRIPT % d))
    assert results[0] == results[1]
