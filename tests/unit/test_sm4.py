"""hal/sm4.py against GB/T 32907-2016's vectors, OpenSSL's SM4 (through
`cryptography`) and MicroPython."""

import os
import sys

import pytest

from hal import sm4
from tests.support import micropython_path, run_script

H = bytes.fromhex
KEY = H("0123456789ABCDEFFEDCBA9876543210")


def test_standard_vector_one_block():
    assert sm4.encrypt_block(KEY, KEY) == H("681EDF34D206965E86B3E94F536E4246")
    assert sm4.decrypt_block(KEY, H("681EDF34D206965E86B3E94F536E4246")) == KEY


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("RUN_SLOW"), reason="a minute of pure Python: RUN_SLOW=1 runs it")
def test_standard_vector_one_million_rounds():
    rk = sm4.round_keys(KEY)
    block = KEY
    for _ in range(1000000):
        block = sm4.crypt_block(rk, block)
    assert block == H("595298C7C6FD271F0402F804C33D3F66")


def test_agrees_with_openssl():
    Cipher = pytest.importorskip("cryptography.hazmat.primitives.ciphers")
    for _ in range(20):
        key, data = os.urandom(16), os.urandom(48)
        encryptor = Cipher.Cipher(Cipher.algorithms.SM4(key), Cipher.modes.ECB()).encryptor()
        assert sm4.ecb_encrypt(key, data) == encryptor.update(data) + encryptor.finalize()
        assert sm4.ecb_decrypt(key, sm4.ecb_encrypt(key, data)) == data


def test_cbc_mac_is_the_last_cbc_block():
    Cipher = pytest.importorskip("cryptography.hazmat.primitives.ciphers")
    key, data = os.urandom(16), os.urandom(40)
    encryptor = Cipher.Cipher(Cipher.algorithms.SM4(key), Cipher.modes.CBC(bytes(16))).encryptor()
    padded = data + bytes(8)
    assert sm4.cbc_mac(key, data) == (encryptor.update(padded) + encryptor.finalize())[-16:]


def test_unionpay_mac_depends_only_on_the_xor_of_the_blocks():
    key = os.urandom(16)
    one = bytes(range(32))
    two = bytes(a ^ b for a, b in zip(one, bytes([7] * 16 + [7] * 16)))
    assert sm4.mac_unionpay(key, one) == sm4.mac_unionpay(key, two)
    assert sm4.cbc_mac(key, one) != sm4.cbc_mac(key, two)


def test_pin_block_16_published_example():
    """The SM4 PIN pad example: PIN 123654, card 6230606601007726888."""
    assert sm4.pin_block_16("123654", "6230606601007726888") == H("06123654FFFFFFFFFFFF99FEFF88D977")


@pytest.mark.parametrize("bad", [b"short", bytes(17), "0" * 16])
def test_bad_keys_and_blocks_are_refused(bad):
    with pytest.raises(ValueError):
        sm4.encrypt_block(bad, bytes(16))
    with pytest.raises(ValueError):
        sm4.encrypt_block(KEY, bad)


MICROPYTHON_SCRIPT = """
import sys
sys.path.insert(0, '')
import binascii
from hal import sm4
k = binascii.unhexlify('0123456789ABCDEFFEDCBA9876543210')
rk = sm4.round_keys(k)
b = k
for _ in range(1000):
    b = sm4.crypt_block(rk, b)
out = [sm4.encrypt_block(k, k), b, sm4.cbc_mac(k, b'abc' * 11), sm4.mac_unionpay(k, b'abc' * 11),
       sm4.pin_block_16('123654', '6230606601007726888')]
print(' '.join(binascii.hexlify(x).decode() for x in out))
"""

MICROPYTHON = micropython_path()


@pytest.mark.skipif(MICROPYTHON is None, reason="no micropython interpreter")
def test_same_results_under_micropython():
    assert run_script(MICROPYTHON, MICROPYTHON_SCRIPT) == run_script(sys.executable, MICROPYTHON_SCRIPT)
