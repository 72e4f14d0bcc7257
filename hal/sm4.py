"""SM4 (国密, GB/T 32907-2016), the block cipher of the Chinese national
algorithms: 128-bit blocks, 128-bit keys, 32 rounds. Pure Python for
MicroPython (which has no SM4); checked against the standard's vectors and
against OpenSSL's SM4 (through `cryptography`) in tests/unit/test_sm4.py.

    encrypt_block(key16, block16) / decrypt_block(key16, block16)
    ecb_encrypt(key16, data) / ecb_decrypt(key16, data)     whole blocks
    round_keys(key16) + crypt_block(rk, block16)           many blocks, one key schedule
    mac_unionpay(key16, data)   the UnionPay POS MAC with SM4 (XOR of 16-byte blocks), forgeable like its DES twin
    cbc_mac(key16, data)        ISO/IEC 9797-1 MAC algorithm 1 with SM4, padding method 1 (16 bytes)
    pin_block_16(pin, pan)      the 16-byte format the SM4 PIN pads use (ANSI X9.8 widened)
"""

from hal.compat import unhexlify

_SBOX_HEX = (
    "d690e9fecce13db716b614c228fb2c052b679a762abe04c3aa44132649860699"
    "9c4250f491ef987a33540b43edcfac62e4b31ca9c908e89580df94fa758f3fa6"
    "4707a7fcf37317ba83593c19e6854fa8686b81b27164da8bf8eb0f4b70569d35"
    "1e240e5e6358d1a225227c3b01217887d40046579fd327524c3602e7a0c4c89e"
    "eabf8ad240c738b5a3f7f2cef96115a1e0ae5da49b341a55ad933230f58cb1e3"
    "1df6e22e8266ca60c02923ab0d534e6fd5db3745defd8e2f03ff6a726d6c5b51"
    "8d1baf92bbddbc7f11d95c411f105ad80ac13188a5cd7bbd2d74d012b8e5b4b0"
    "8969974a0c96777e65b9f109c56ec68418f07dec3adc4d2079ee5f3ed7cb3948"
)
_FK = (0xA3B1BAC6, 0x56AA3350, 0x677D9197, 0xB27022DC)
MASK = 0xFFFFFFFF
BLOCK = 16


def _sbox():
    return unhexlify(_SBOX_HEX)


def _tau(sbox, a):
    return ((sbox[a >> 24] << 24) | (sbox[(a >> 16) & 0xFF] << 16) | (sbox[(a >> 8) & 0xFF] << 8)
            | sbox[a & 0xFF])


def _rol(x, n):
    return ((x << n) | (x >> (32 - n))) & MASK


def _words(block):
    return [int.from_bytes(block[i:i + 4], "big") for i in (0, 4, 8, 12)]


def _check(name, value, length):
    if not isinstance(value, (bytes, bytearray)) or len(value) != length:
        raise ValueError("SM4 %s must be %d bytes" % (name, length))


def round_keys(key):
    """The 32 round keys of a 16-byte key."""
    _check("key", key, 16)
    sbox = _sbox()
    k = [w ^ f for w, f in zip(_words(key), _FK)]
    rk = []
    for i in range(32):
        # CK: byte j of word i is (4i + j) * 7 mod 256.
        ck = 0
        for j in range(4):
            ck = (ck << 8) | (((4 * i + j) * 7) & 0xFF)
        b = _tau(sbox, k[1] ^ k[2] ^ k[3] ^ ck)
        new = k[0] ^ b ^ _rol(b, 13) ^ _rol(b, 23)
        rk.append(new)
        k = [k[1], k[2], k[3], new]
    return rk


def crypt_block(rk, block, sbox=None):
    """One 16-byte block through the 32 rounds of `rk` (reversed for
    decryption)."""
    sbox = sbox or _sbox()
    x0, x1, x2, x3 = _words(block)
    for r in rk:
        b = _tau(sbox, x1 ^ x2 ^ x3 ^ r)
        x0, x1, x2, x3 = x1, x2, x3, x0 ^ b ^ _rol(b, 2) ^ _rol(b, 10) ^ _rol(b, 18) ^ _rol(b, 24)
    return x3.to_bytes(4, "big") + x2.to_bytes(4, "big") + x1.to_bytes(4, "big") + x0.to_bytes(4, "big")


def encrypt_block(key, block):
    _check("block", block, BLOCK)
    return crypt_block(round_keys(key), block)


def decrypt_block(key, block):
    _check("block", block, BLOCK)
    return crypt_block(list(reversed(round_keys(key))), block)


def _ecb(rk, data):
    if len(data) % BLOCK:
        raise ValueError("SM4 data must be whole 16-byte blocks, got %d bytes" % len(data))
    sbox = _sbox()
    out = bytearray()
    for i in range(0, len(data), BLOCK):
        out += crypt_block(rk, data[i:i + BLOCK], sbox)
    return bytes(out)


def ecb_encrypt(key, data):
    return _ecb(round_keys(key), bytes(data))


def ecb_decrypt(key, data):
    return _ecb(list(reversed(round_keys(key))), bytes(data))


def _zero_pad(data):
    data = bytes(data)
    if not data or len(data) % BLOCK:
        data += bytes(BLOCK - len(data) % BLOCK)
    return data


def cbc_mac(key, data):
    """ISO/IEC 9797-1 MAC algorithm 1 with SM4 (zero IV, zero padding to
    16 bytes): the last block. F64 carries its first 8 bytes."""
    rk = round_keys(key)
    sbox = _sbox()
    data = _zero_pad(data)
    state = bytes(BLOCK)
    for i in range(0, len(data), BLOCK):
        state = crypt_block(rk, bytes(a ^ b for a, b in zip(state, data[i:i + BLOCK])), sbox)
    return state


def mac_unionpay(key, data):
    """The UnionPay POS MAC with SM4: XOR the 16-byte blocks, expand to 32
    hex characters, SM4 the first 16, XOR with the last 16, SM4 again; the
    MAC is the first 8 bytes. Like the DES "ECB" MAC it depends only on the
    XOR of the blocks (forgeable): an acquirer option, never our default."""
    data = _zero_pad(data)
    folded = bytearray(BLOCK)
    for i in range(len(data)):
        folded[i % BLOCK] ^= data[i]
    hexed = "".join("%02X" % b for b in folded).encode()
    rk = round_keys(key)
    first = crypt_block(rk, hexed[:BLOCK])
    return crypt_block(rk, bytes(a ^ b for a, b in zip(first, hexed[BLOCK:])))[:8]


def pin_block_16(pin, pan):
    """The 16-byte PIN block of SM4 PIN pads: ANSI X9.8 (format 0) widened
    to 32 nibbles. PIN field 0, length, digits, F padding; PAN field 20
    zero nibbles + the 12 rightmost PAN digits without the check digit."""
    pin_field = unhexlify(("0%X%s" % (len(pin), pin) + "F" * 30)[:32])
    pan_field = unhexlify("0" * 20 + pan[-13:-1])
    return bytes(a ^ b for a, b in zip(pin_field, pan_field))
