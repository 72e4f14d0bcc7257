"""DES, triple DES and the payment-terminal functions built on them, in pure
Python: MicroPython has no DES, and the handset needs it for PIN blocks, MACs
and working-key checks.

    des_encrypt(key8, block8) / des_decrypt(key8, block8)        -> 8 bytes
    tdes_encrypt(key16_or_24, block8) / tdes_decrypt(...)        -> 8 bytes (EDE; 16 bytes = K1 K2 K1)
    ecb_encrypt(key, data) / ecb_decrypt(key, data)              key 8 (DES), 16 or 24 (3DES)
    cbc_encrypt(key, data, iv) / cbc_decrypt(key, data, iv)      iv defaults to 8 zero bytes
    key_check_value(key, length=4)
    pin_block_format0(pin, pan)                                  clear ISO 9564 format 0 block
    mac_unionpay_ecb(key, data)                                  8 ASCII hex bytes, as F64 carries them
    mac_x99(key, data)                                           ANSI X9.9 CBC-MAC
    mac_x919(key, data)                                          ANSI X9.19 retail MAC

Speed: a key schedule is computed once per call (not per block) and the
cipher works on two 32-bit ints with the S-boxes and the P permutation merged
into eight 64-entry tables (_SP1.._SP8). Those tables are literal constants
derived from FIPS 46-3's S-boxes and P; tests/unit/test_crypto.py rebuilds
them from the standard's tables and checks every entry, and runs a bit-by-bit
reference DES against this one. Nothing is computed at import time.

Keys are taken as given: no parity check (terminals receive keys with any
parity and DES ignores the parity bits anyway).
"""

# FIPS 46-3 permuted choice 1: key bit numbers (1 = leftmost bit of the key)
# that make up C0 and D0.
_PC1_C = (57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18,
          10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36)
_PC1_D = (63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
          14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4)
# FIPS 46-3 permuted choice 2, split: the first 24 subkey bits all come from
# C (bits 1..28 of C||D), the last 24 from D (bits 29..56).
_PC2_C = (14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10,
          23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2)
_PC2_D = (41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48,
          44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32)
# Left rotations of C and D before each of the 16 rounds.
_SHIFTS = (1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1)

# _SPn[v]: S-box n applied to the 6-bit value v, its 4-bit output placed at
# its position in the 32-bit f() output and then permuted by P.
_SP1 = (
    0x00808200, 0x00000000, 0x00008000, 0x00808202, 0x00808002, 0x00008202,
    0x00000002, 0x00008000, 0x00000200, 0x00808200, 0x00808202, 0x00000200,
    0x00800202, 0x00808002, 0x00800000, 0x00000002, 0x00000202, 0x00800200,
    0x00800200, 0x00008200, 0x00008200, 0x00808000, 0x00808000, 0x00800202,
    0x00008002, 0x00800002, 0x00800002, 0x00008002, 0x00000000, 0x00000202,
    0x00008202, 0x00800000, 0x00008000, 0x00808202, 0x00000002, 0x00808000,
    0x00808200, 0x00800000, 0x00800000, 0x00000200, 0x00808002, 0x00008000,
    0x00008200, 0x00800002, 0x00000200, 0x00000002, 0x00800202, 0x00008202,
    0x00808202, 0x00008002, 0x00808000, 0x00800202, 0x00800002, 0x00000202,
    0x00008202, 0x00808200, 0x00000202, 0x00800200, 0x00800200, 0x00000000,
    0x00008002, 0x00008200, 0x00000000, 0x00808002,
)
_SP2 = (
    0x40084010, 0x40004000, 0x00004000, 0x00084010, 0x00080000, 0x00000010,
    0x40080010, 0x40004010, 0x40000010, 0x40084010, 0x40084000, 0x40000000,
    0x40004000, 0x00080000, 0x00000010, 0x40080010, 0x00084000, 0x00080010,
    0x40004010, 0x00000000, 0x40000000, 0x00004000, 0x00084010, 0x40080000,
    0x00080010, 0x40000010, 0x00000000, 0x00084000, 0x00004010, 0x40084000,
    0x40080000, 0x00004010, 0x00000000, 0x00084010, 0x40080010, 0x00080000,
    0x40004010, 0x40080000, 0x40084000, 0x00004000, 0x40080000, 0x40004000,
    0x00000010, 0x40084010, 0x00084010, 0x00000010, 0x00004000, 0x40000000,
    0x00004010, 0x40084000, 0x00080000, 0x40000010, 0x00080010, 0x40004010,
    0x40000010, 0x00080010, 0x00084000, 0x00000000, 0x40004000, 0x00004010,
    0x40000000, 0x40080010, 0x40084010, 0x00084000,
)
_SP3 = (
    0x00000104, 0x04010100, 0x00000000, 0x04010004, 0x04000100, 0x00000000,
    0x00010104, 0x04000100, 0x00010004, 0x04000004, 0x04000004, 0x00010000,
    0x04010104, 0x00010004, 0x04010000, 0x00000104, 0x04000000, 0x00000004,
    0x04010100, 0x00000100, 0x00010100, 0x04010000, 0x04010004, 0x00010104,
    0x04000104, 0x00010100, 0x00010000, 0x04000104, 0x00000004, 0x04010104,
    0x00000100, 0x04000000, 0x04010100, 0x04000000, 0x00010004, 0x00000104,
    0x00010000, 0x04010100, 0x04000100, 0x00000000, 0x00000100, 0x00010004,
    0x04010104, 0x04000100, 0x04000004, 0x00000100, 0x00000000, 0x04010004,
    0x04000104, 0x00010000, 0x04000000, 0x04010104, 0x00000004, 0x00010104,
    0x00010100, 0x04000004, 0x04010000, 0x04000104, 0x00000104, 0x04010000,
    0x00010104, 0x00000004, 0x04010004, 0x00010100,
)
_SP4 = (
    0x80401000, 0x80001040, 0x80001040, 0x00000040, 0x00401040, 0x80400040,
    0x80400000, 0x80001000, 0x00000000, 0x00401000, 0x00401000, 0x80401040,
    0x80000040, 0x00000000, 0x00400040, 0x80400000, 0x80000000, 0x00001000,
    0x00400000, 0x80401000, 0x00000040, 0x00400000, 0x80001000, 0x00001040,
    0x80400040, 0x80000000, 0x00001040, 0x00400040, 0x00001000, 0x00401040,
    0x80401040, 0x80000040, 0x00400040, 0x80400000, 0x00401000, 0x80401040,
    0x80000040, 0x00000000, 0x00000000, 0x00401000, 0x00001040, 0x00400040,
    0x80400040, 0x80000000, 0x80401000, 0x80001040, 0x80001040, 0x00000040,
    0x80401040, 0x80000040, 0x80000000, 0x00001000, 0x80400000, 0x80001000,
    0x00401040, 0x80400040, 0x80001000, 0x00001040, 0x00400000, 0x80401000,
    0x00000040, 0x00400000, 0x00001000, 0x00401040,
)
_SP5 = (
    0x00000080, 0x01040080, 0x01040000, 0x21000080, 0x00040000, 0x00000080,
    0x20000000, 0x01040000, 0x20040080, 0x00040000, 0x01000080, 0x20040080,
    0x21000080, 0x21040000, 0x00040080, 0x20000000, 0x01000000, 0x20040000,
    0x20040000, 0x00000000, 0x20000080, 0x21040080, 0x21040080, 0x01000080,
    0x21040000, 0x20000080, 0x00000000, 0x21000000, 0x01040080, 0x01000000,
    0x21000000, 0x00040080, 0x00040000, 0x21000080, 0x00000080, 0x01000000,
    0x20000000, 0x01040000, 0x21000080, 0x20040080, 0x01000080, 0x20000000,
    0x21040000, 0x01040080, 0x20040080, 0x00000080, 0x01000000, 0x21040000,
    0x21040080, 0x00040080, 0x21000000, 0x21040080, 0x01040000, 0x00000000,
    0x20040000, 0x21000000, 0x00040080, 0x01000080, 0x20000080, 0x00040000,
    0x00000000, 0x20040000, 0x01040080, 0x20000080,
)
_SP6 = (
    0x10000008, 0x10200000, 0x00002000, 0x10202008, 0x10200000, 0x00000008,
    0x10202008, 0x00200000, 0x10002000, 0x00202008, 0x00200000, 0x10000008,
    0x00200008, 0x10002000, 0x10000000, 0x00002008, 0x00000000, 0x00200008,
    0x10002008, 0x00002000, 0x00202000, 0x10002008, 0x00000008, 0x10200008,
    0x10200008, 0x00000000, 0x00202008, 0x10202000, 0x00002008, 0x00202000,
    0x10202000, 0x10000000, 0x10002000, 0x00000008, 0x10200008, 0x00202000,
    0x10202008, 0x00200000, 0x00002008, 0x10000008, 0x00200000, 0x10002000,
    0x10000000, 0x00002008, 0x10000008, 0x10202008, 0x00202000, 0x10200000,
    0x00202008, 0x10202000, 0x00000000, 0x10200008, 0x00000008, 0x00002000,
    0x10200000, 0x00202008, 0x00002000, 0x00200008, 0x10002008, 0x00000000,
    0x10202000, 0x10000000, 0x00200008, 0x10002008,
)
_SP7 = (
    0x00100000, 0x02100001, 0x02000401, 0x00000000, 0x00000400, 0x02000401,
    0x00100401, 0x02100400, 0x02100401, 0x00100000, 0x00000000, 0x02000001,
    0x00000001, 0x02000000, 0x02100001, 0x00000401, 0x02000400, 0x00100401,
    0x00100001, 0x02000400, 0x02000001, 0x02100000, 0x02100400, 0x00100001,
    0x02100000, 0x00000400, 0x00000401, 0x02100401, 0x00100400, 0x00000001,
    0x02000000, 0x00100400, 0x02000000, 0x00100400, 0x00100000, 0x02000401,
    0x02000401, 0x02100001, 0x02100001, 0x00000001, 0x00100001, 0x02000000,
    0x02000400, 0x00100000, 0x02100400, 0x00000401, 0x00100401, 0x02100400,
    0x00000401, 0x02000001, 0x02100401, 0x02100000, 0x00100400, 0x00000000,
    0x00000001, 0x02100401, 0x00000000, 0x00100401, 0x02100000, 0x00000400,
    0x02000001, 0x02000400, 0x00000400, 0x00100001,
)
_SP8 = (
    0x08000820, 0x00000800, 0x00020000, 0x08020820, 0x08000000, 0x08000820,
    0x00000020, 0x08000000, 0x00020020, 0x08020000, 0x08020820, 0x00020800,
    0x08020800, 0x00020820, 0x00000800, 0x00000020, 0x08020000, 0x08000020,
    0x08000800, 0x00000820, 0x00020800, 0x00020020, 0x08020020, 0x08020800,
    0x00000820, 0x00000000, 0x00000000, 0x08020020, 0x08000020, 0x08000800,
    0x00020820, 0x00020000, 0x00020820, 0x00020000, 0x08020800, 0x00000800,
    0x00000020, 0x08020020, 0x00000800, 0x00020820, 0x08000800, 0x00000020,
    0x08000020, 0x08020000, 0x08020020, 0x08000000, 0x00020000, 0x08000820,
    0x00000000, 0x08020820, 0x00020020, 0x08000020, 0x08020000, 0x08000800,
    0x08000820, 0x00000000, 0x08020820, 0x00020800, 0x00020800, 0x00000820,
    0x00000820, 0x00020020, 0x08000000, 0x08020800,
)

_ZERO_BLOCK = b"\x00" * 8
_MASK32 = 0xFFFFFFFF
_GROUPS = 0x3F3F3F3F  # the low 6 bits of each byte: four S-box inputs


# --- DES core -----------------------------------------------------------------

def _check_key8(key):
    if len(key) != 8:
        raise ValueError("DES key must be 8 bytes, got %d" % len(key))


def _key_schedule(key):
    """The 16 round keys of an 8-byte key, as a flat list of 32 ints.

    Round key i is stored as a pair (even, odd): the eight 6-bit groups of
    the 48-bit subkey, groups 1,3,5,7 (S1, S3, S5, S7) in the low 6 bits of
    the bytes of `even` and groups 2,4,6,8 in those of `odd`, matching the
    way _des_rounds() spreads the expanded R half (so E and the key XOR take
    two operations instead of eight)."""
    _check_key8(key)
    c = 0
    for p in _PC1_C:
        c = (c << 1) | ((key[(p - 1) >> 3] >> (7 - ((p - 1) & 7))) & 1)
    d = 0
    for p in _PC1_D:
        d = (d << 1) | ((key[(p - 1) >> 3] >> (7 - ((p - 1) & 7))) & 1)
    schedule = []
    for shift in _SHIFTS:
        c = ((c << shift) | (c >> (28 - shift))) & 0x0FFFFFFF
        d = ((d << shift) | (d >> (28 - shift))) & 0x0FFFFFFF
        kc = 0
        for p in _PC2_C:
            kc = (kc << 1) | ((c >> (28 - p)) & 1)
        kd = 0
        for p in _PC2_D:
            kd = (kd << 1) | ((d >> (56 - p)) & 1)
        # kc holds groups 1..4, kd groups 5..8, six bits each, group 1 leftmost.
        schedule.append(((kc >> 18) << 24) | (((kc >> 6) & 0x3F) << 16)
                        | ((kd >> 18) << 8) | ((kd >> 6) & 0x3F))
        schedule.append((((kc >> 12) & 0x3F) << 24) | ((kc & 0x3F) << 16)
                        | (((kd >> 12) & 0x3F) << 8) | (kd & 0x3F))
    return schedule


def _reverse_schedule(schedule):
    """The round keys in decryption order (pairs kept together)."""
    out = []
    for i in range(30, -2, -2):
        out.append(schedule[i])
        out.append(schedule[i + 1])
    return out


def _initial_permutation(l, r):
    # FIPS 46-3 IP as five swaps of bit groups between the two halves
    # (checked bit for bit against the IP table in the tests).
    w = ((l >> 4) ^ r) & 0x0F0F0F0F
    r ^= w
    l ^= w << 4
    w = ((l >> 16) ^ r) & 0x0000FFFF
    r ^= w
    l ^= w << 16
    w = ((r >> 2) ^ l) & 0x33333333
    l ^= w
    r ^= w << 2
    w = ((r >> 8) ^ l) & 0x00FF00FF
    l ^= w
    r ^= w << 8
    w = ((l >> 1) ^ r) & 0x55555555
    r ^= w
    l ^= w << 1
    return l, r


def _final_permutation(l, r):
    # IP^-1: the same swaps in reverse order (each swap undoes itself).
    w = ((l >> 1) ^ r) & 0x55555555
    r ^= w
    l ^= w << 1
    w = ((r >> 8) ^ l) & 0x00FF00FF
    l ^= w
    r ^= w << 8
    w = ((r >> 2) ^ l) & 0x33333333
    l ^= w
    r ^= w << 2
    w = ((l >> 16) ^ r) & 0x0000FFFF
    r ^= w
    l ^= w << 16
    w = ((l >> 4) ^ r) & 0x0F0F0F0F
    r ^= w
    l ^= w << 4
    return l, r


def _des_rounds(schedule, l, r):
    """16 Feistel rounds on the permuted halves; returns (R16, L16), the
    swapped pre-output that the final permutation takes."""
    sp1, sp2, sp3, sp4 = _SP1, _SP2, _SP3, _SP4
    sp5, sp6, sp7, sp8 = _SP5, _SP6, _SP7, _SP8
    for i in range(0, 32, 2):
        # E(R): S-box inputs 1,3,5,7 are R rotated right by 3 (bit 32 wraps
        # to the front), inputs 2,4,6,8 are R rotated left by 1; each lands
        # in the low 6 bits of a byte.
        x = (((r >> 3) | ((r & 1) << 29)) & _GROUPS) ^ schedule[i]
        y = (((r << 1) | (r >> 31)) & _GROUPS) ^ schedule[i + 1]
        l, r = r, l ^ (sp1[x >> 24] | sp3[(x >> 16) & 0x3F] | sp5[(x >> 8) & 0x3F] | sp7[x & 0x3F]
                       | sp2[y >> 24] | sp4[(y >> 16) & 0x3F] | sp6[(y >> 8) & 0x3F] | sp8[y & 0x3F])
    return r, l


def _split(block):
    return ((block[0] << 24) | (block[1] << 16) | (block[2] << 8) | block[3],
            (block[4] << 24) | (block[5] << 16) | (block[6] << 8) | block[7])


def _join(l, r):
    return bytes(((l >> 24) & 0xFF, (l >> 16) & 0xFF, (l >> 8) & 0xFF, l & 0xFF,
                  (r >> 24) & 0xFF, (r >> 16) & 0xFF, (r >> 8) & 0xFF, r & 0xFF))


def _crypt_halves(schedules, l, r):
    """Run one or three DES passes (schedules already in E/D order) on a
    block given as two 32-bit halves. IP and FP cancel between passes, so
    they are applied only once."""
    l, r = _initial_permutation(l, r)
    for schedule in schedules:
        l, r = _des_rounds(schedule, l, r)
    return _final_permutation(l, r)


def _check_block(block):
    if len(block) != 8:
        raise ValueError("DES block must be 8 bytes, got %d" % len(block))


# --- Cipher objects: one key schedule, many blocks ------------------------------

def _schedules(key, decrypt):
    """The DES passes for an 8-, 16- or 24-byte key, in order."""
    n = len(key)
    if n == 8:
        k = _key_schedule(key)
        return (_reverse_schedule(k) if decrypt else k,)
    if n == 16 or n == 24:
        k1 = _key_schedule(key[0:8])
        k2 = _key_schedule(key[8:16])
        k3 = _key_schedule(key[16:24]) if n == 24 else k1
        if decrypt:
            return (_reverse_schedule(k3), k2, _reverse_schedule(k1))
        return (k1, _reverse_schedule(k2), k3)
    raise ValueError("DES key must be 8, 16 or 24 bytes, got %d" % n)


def _ecb(schedules, data):
    if len(data) % 8:
        raise ValueError("data length %d is not a multiple of 8" % len(data))
    out = bytearray(len(data))
    for i in range(0, len(data), 8):
        l, r = _split(data[i:i + 8])
        l, r = _crypt_halves(schedules, l, r)
        out[i:i + 8] = _join(l, r)
    return bytes(out)


# --- Public block functions ----------------------------------------------------

def des_encrypt(key8, block8):
    _check_key8(key8)
    _check_block(block8)
    return _ecb(_schedules(key8, False), block8)


def des_decrypt(key8, block8):
    _check_key8(key8)
    _check_block(block8)
    return _ecb(_schedules(key8, True), block8)


def _check_tdes_key(key):
    if len(key) not in (16, 24):
        raise ValueError("3DES key must be 16 or 24 bytes, got %d" % len(key))


def tdes_encrypt(key, block8):
    """Triple DES EDE: E(K3, D(K2, E(K1, block))); a 16-byte key is K1 K2 K1."""
    _check_tdes_key(key)
    _check_block(block8)
    return _ecb(_schedules(key, False), block8)


def tdes_decrypt(key, block8):
    _check_tdes_key(key)
    _check_block(block8)
    return _ecb(_schedules(key, True), block8)


def ecb_encrypt(key, data):
    """DES (8-byte key) or 3DES (16/24) in ECB mode; len(data) % 8 == 0."""
    return _ecb(_schedules(key, False), data)


def ecb_decrypt(key, data):
    return _ecb(_schedules(key, True), data)


def _check_iv(iv):
    if len(iv) != 8:
        raise ValueError("IV must be 8 bytes, got %d" % len(iv))


def cbc_encrypt(key, data, iv=_ZERO_BLOCK):
    """DES or 3DES in CBC mode, no padding; len(data) % 8 == 0."""
    _check_iv(iv)
    if len(data) % 8:
        raise ValueError("data length %d is not a multiple of 8" % len(data))
    schedules = _schedules(key, False)
    cl, cr = _split(iv)
    out = bytearray(len(data))
    for i in range(0, len(data), 8):
        l, r = _split(data[i:i + 8])
        cl, cr = _crypt_halves(schedules, l ^ cl, r ^ cr)
        out[i:i + 8] = _join(cl, cr)
    return bytes(out)


def cbc_decrypt(key, data, iv=_ZERO_BLOCK):
    _check_iv(iv)
    if len(data) % 8:
        raise ValueError("data length %d is not a multiple of 8" % len(data))
    schedules = _schedules(key, True)
    pl, pr = _split(iv)
    out = bytearray(len(data))
    for i in range(0, len(data), 8):
        cl, cr = _split(data[i:i + 8])
        l, r = _crypt_halves(schedules, cl, cr)
        out[i:i + 8] = _join(l ^ pl, r ^ pr)
        pl, pr = cl, cr
    return bytes(out)


# --- Key handling ----------------------------------------------------------------

def effective_key(key):
    """The key a terminal really uses: a 16-byte key whose second half is
    zero is how hosts send a single-length DES key, so it is the 8-byte
    first half; any other key is returned as it is."""
    if len(key) == 16 and not any(key[8:]):
        return bytes(key[:8])
    return bytes(key)


def key_check_value(key, length=4):
    """The first `length` bytes of the key encrypting 8 zero bytes.
    An 8-byte key, or a 16-byte key whose second half is zero, is single
    DES; 16 and 24 bytes are 3DES."""
    if not 1 <= length <= 8:
        raise ValueError("check value length must be 1..8, got %d" % length)
    return ecb_encrypt(effective_key(key), _ZERO_BLOCK)[:length]


# --- PIN block ---------------------------------------------------------------------

def _is_digits(text):
    if not isinstance(text, str) or not text:
        return False
    for ch in text:
        if ch < "0" or ch > "9":
            return False
    return True


def pin_block_format0(pin, pan):
    """Clear ISO 9564-1 format 0 PIN block (ANSI X9.8).

    PIN field: 0, PIN length, PIN digits, F padding (16 nibbles).
    PAN field: 0000 + the 12 rightmost PAN digits excluding the check digit.
    The two are XORed. PIN 4..12 digits; PAN at least 13 digits (fewer would
    leave part of the PAN field undefined)."""
    if not _is_digits(pin) or not 4 <= len(pin) <= 12:
        raise ValueError("PIN must be 4 to 12 digits")
    if not _is_digits(pan) or not 13 <= len(pan) <= 19:
        raise ValueError("PAN must be 13 to 19 digits")
    pin_field = bytes.fromhex(("0%X%s" % (len(pin), pin) + "F" * 14)[:16])
    pan_field = bytes.fromhex("0000" + pan[-13:-1])
    return bytes(a ^ b for a, b in zip(pin_field, pan_field))


# --- MACs ----------------------------------------------------------------------------

_HEX_DIGITS = b"0123456789ABCDEF"


def _hex_upper(block):
    """8 bytes -> 16 uppercase ASCII hex bytes (binascii's hexlify is lower
    case, and .upper() on bytes is missing in some MicroPython builds)."""
    out = bytearray(16)
    for i in range(8):
        out[2 * i] = _HEX_DIGITS[block[i] >> 4]
        out[2 * i + 1] = _HEX_DIGITS[block[i] & 0x0F]
    return bytes(out)


def _zero_pad(data):
    """ISO/IEC 9797-1 padding method 1: zeros up to a multiple of 8; empty
    data becomes one zero block."""
    data = bytes(data)
    if not data or len(data) % 8:
        data += b"\x00" * (8 - len(data) % 8)
    return data


def mac_unionpay_ecb(key, data):
    """The UnionPay POS terminal "ECB" MAC, as carried in field 64.

    1. XOR all 8-byte blocks of `data` (last block zero-padded).
    2. Expand the result to 16 uppercase hex characters.
    3. Encrypt the first 8 characters (as ASCII bytes) with the MAC key.
    4. XOR that with the last 8 characters; encrypt again.
    5. Expand to 16 uppercase hex characters; the MAC is the first 8.

    An 8-byte key, or a 16-byte key whose second half is zero, is single
    DES; otherwise 3DES. Returns 8 ASCII bytes."""
    schedules = _schedules(effective_key(key), False)
    data = _zero_pad(data)
    xl = xr = 0
    for i in range(0, len(data), 8):
        l, r = _split(data[i:i + 8])
        xl ^= l
        xr ^= r
    hexed = _hex_upper(_join(xl, xr))
    l, r = _split(hexed[:8])
    l, r = _crypt_halves(schedules, l, r)
    hl, hr = _split(hexed[8:])
    l, r = _crypt_halves(schedules, l ^ hl, r ^ hr)
    return _hex_upper(_join(l, r))[:8]


def _cbc_mac(schedules, data):
    """Last block of the CBC encryption of zero-padded data, as halves."""
    data = _zero_pad(data)
    cl = cr = 0
    for i in range(0, len(data), 8):
        l, r = _split(data[i:i + 8])
        cl, cr = _crypt_halves(schedules, l ^ cl, r ^ cr)
    return cl, cr


def mac_x99(key, data):
    """ANSI X9.9 (ISO/IEC 9797-1 MAC algorithm 1, padding method 1): CBC
    with a zero IV, the MAC is the last block. An 8-byte key (or 16 bytes
    with a zero second half) is single DES as X9.9 defines it; a full 16- or
    24-byte key runs the same CBC-MAC with 3DES."""
    l, r = _cbc_mac(_schedules(effective_key(key), False), data)
    return _join(l, r)


def mac_x919(key, data):
    """ANSI X9.19 retail MAC (ISO/IEC 9797-1 MAC algorithm 3, padding
    method 1): single-DES CBC under K1 over all blocks, then the last block
    is decrypted with K2 and encrypted again with K1. A single-length key
    (8 bytes, or 16 with a zero second half) has K2 = K1, which makes the
    result equal to X9.9."""
    key = effective_key(key)
    if len(key) == 8:
        key = key + key
    if len(key) != 16:
        raise ValueError("X9.19 key must be 8 or 16 bytes, got %d" % len(key))
    k1 = _key_schedule(key[0:8])
    k2 = _key_schedule(key[8:16])
    l, r = _cbc_mac((k1,), data)
    l, r = _crypt_halves((_reverse_schedule(k2), k1), l, r)
    return _join(l, r)


# -- HMAC-SHA256 (RFC 2104): MicroPython has hashlib.sha256 but no hmac module --

SHA256_BLOCK = 64
_IPAD = int.from_bytes(b"\x36" * SHA256_BLOCK, "big")
_OPAD = int.from_bytes(b"\x5c" * SHA256_BLOCK, "big")


def hmac_pads(key):
    """-> (key ^ ipad, key ^ opad): the two 64-byte blocks that start the
    inner and the outer hash. The pads are XORed as one integer: a byte
    loop costs more than both hashes."""
    import hashlib
    key = bytes(key)
    if len(key) > SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    padded = int.from_bytes(key + bytes(SHA256_BLOCK - len(key)), "big")
    return (padded ^ _IPAD).to_bytes(SHA256_BLOCK, "big"), (padded ^ _OPAD).to_bytes(SHA256_BLOCK, "big")


def hmac_sha256(key, data):
    """32-byte HMAC-SHA256 of `data` under `key` (RFC 4231 vectors in the tests)."""
    return prepared_hmac_sha256(key)(data)


def prepared_hmac_sha256(key):
    """-> a function data -> HMAC-SHA256(key, data), the pads made once
    (for a key that MACs many messages, where hashlib has no .copy())."""
    import hashlib
    inner_pad, outer_pad = hmac_pads(key)

    def mac(data):
        inner = hashlib.sha256(inner_pad)
        inner.update(data)
        outer = hashlib.sha256(outer_pad)
        outer.update(inner.digest())
        return outer.digest()
    return mac


# The receipt key is derived from the terminal master key, which the host
# holds too (it sends the working keys under it), and which does not change
# at each sign-on: a slip's code stays verifiable for as long as the master
# key is in force. Derivation: the 16-byte label encrypted under the master
# key (3DES ECB); the MAC: HMAC-SHA256 under that key.
RECEIPT_KEY_LABEL = b"POS RECEIPT KEY1"


def receipt_key(master_key):
    return ecb_encrypt(master_key, RECEIPT_KEY_LABEL)


def receipt_mac(master_key, data):
    """The MAC of a slip's verification data (firmware/receipt.py says what
    the data is), as terminal and host both compute it."""
    return hmac_sha256(receipt_key(master_key), data)
