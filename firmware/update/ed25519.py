"""Ed25519 signature verification (RFC 8032, section 5.1.7), pure Python.

Only verification lives on the device: bundles are signed on the host with
the `cryptography` library (hosttools/bundle.py). Points are in extended
coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z; the check is
the cofactorless one RFC 8032 allows and OpenSSL does: [S]B = R + [k]A.
"""

from firmware.update.sha512 import sha512

P = 2 ** 255 - 19
L = 2 ** 252 + 27742317777372353535851937790883648493   # the group order
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
BASE_Y = 4 * pow(5, P - 2, P) % P


def _add(p, q):
    # RFC 8032 5.1.4, "add-2008-hwcd-3"
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    d = 2 * z1 * z2 % P
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _double(p):
    # RFC 8032 5.1.4, "dbl-2008-hwcd"
    x1, y1, z1, _ = p
    a = x1 * x1 % P
    b = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1)
    g = a - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _recover_x(y, sign):
    """x from y and the sign bit (RFC 8032 5.1.3); None if there is none."""
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def decode_point(data):
    """32 bytes -> a point, or None if they encode none."""
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def encode_point(p):
    x, y, z, _ = p
    zinv = pow(z, P - 2, P)
    x = x * zinv % P
    y = y * zinv % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _base():
    x = _recover_x(BASE_Y, 0)
    return (x, BASE_Y, 1, x * BASE_Y % P)


def _negate(p):
    x, y, z, t = p
    return ((P - x) % P, y, z, (P - t) % P)


def _double_scalar_mult(s, b, k, a):
    """[s]b + [k]a in one pass over the bits (Shamir's trick): half the
    doublings of two separate multiplications, which is most of the time."""
    both = _add(b, a)
    acc = (0, 1, 1, 0)
    for i in range(252, -1, -1):  # s, k < L < 2**253 (MicroPython has no int.bit_length)
        acc = _double(acc)
        bit_s = (s >> i) & 1
        bit_k = (k >> i) & 1
        if bit_s and bit_k:
            acc = _add(acc, both)
        elif bit_s:
            acc = _add(acc, b)
        elif bit_k:
            acc = _add(acc, a)
    return acc


def verify(public_key, message, signature):
    """True if `signature` (64 bytes) is `public_key`'s (32 bytes) Ed25519
    signature of `message`; False for anything else, never an exception."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = decode_point(bytes(public_key))
    r = decode_point(bytes(signature[:32]))
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False  # RFC 8032: a non-canonical S is refused (malleability)
    k = int.from_bytes(sha512(bytes(signature[:32]) + bytes(public_key) + bytes(message)), "little") % L
    # [S]B - [k]A must be R
    check = _double_scalar_mult(s, _base(), k, _negate(a))
    return encode_point(check) == bytes(signature[:32])
