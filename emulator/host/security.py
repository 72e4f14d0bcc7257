"""The host's side of the key and MAC scheme: generating working keys at
sign-on and sending them under the terminal master key, checking and making
MACs, checking PIN blocks. Built on hal.crypto and firmware.iso8583 so that
host and terminal share one implementation of each algorithm, and a
mismatch between them is a bug in that shared code, caught by its vectors.
"""

import os

from firmware import iso8583
from hal import crypto

MAC_ALGORITHMS = ("ecb", "x99", "x919")


def with_odd_parity(key):
    """DES keys are issued with odd parity, as a real HSM does (DES itself
    ignores the parity bits)."""
    out = bytearray(key)
    for i, b in enumerate(out):
        high = b & 0xFE
        out[i] = high | (1 - bin(high).count("1") % 2)
    return bytes(out)


def new_key(length):
    return with_odd_parity(os.urandom(length))


def is_single_length(key):
    """A 16-byte key slot holding a single DES key: 8 key bytes + 8 zeros."""
    return len(key) == 16 and key[8:] == bytes(8)


def key_block(master_key, key):
    """One key as it travels in F62: 16 bytes encrypted under the master key
    plus a 4-byte check value. A single-length key is 8 encrypted bytes and
    8 zero bytes, with a single-DES check value."""
    if is_single_length(key):
        encrypted = crypto.ecb_encrypt(master_key, key[:8]) + bytes(8)
    else:
        encrypted = crypto.ecb_encrypt(master_key, key)
    return encrypted + crypto.key_check_value(key, 4)


def working_keys_field(master_key, pin_key, mac_key, track_key=None):
    """F62 of the sign-on reply: 40 bytes (60.3 = 003) or 60 bytes with a
    track-data key (60.3 = 004)."""
    data = key_block(master_key, pin_key) + key_block(master_key, mac_key)
    if track_key is not None:
        data += key_block(master_key, track_key)
    return data


def compute_mac(algorithm, mac_key, mti, fields):
    """The 8 bytes of F64 for a message (F64 itself, if present, is not
    covered)."""
    # The key goes to hal.crypto as it is: a 16-byte slot holding a single
    # DES key (zero second half) is single DES there, as on the terminal.
    data = iso8583.mac_data(mti, fields)
    if algorithm == "ecb":
        return crypto.mac_unionpay_ecb(mac_key, data)
    if algorithm == "x99":
        return crypto.mac_x99(mac_key, data)
    if algorithm == "x919":
        return crypto.mac_x919(mac_key, data)
    raise ValueError("unknown MAC algorithm %r (known: %s)" % (algorithm, ", ".join(MAC_ALGORITHMS)))


def mac_matches(algorithm, mac_key, mti, fields):
    given = fields.get(64)
    if not given:
        return False
    return compute_mac(algorithm, mac_key, mti, fields) == bytes(given)


def decrypt_track(track_key, track):
    """F35/F36 as the terminal sent it (issuer block under the TDK) -> the
    track in clear; ValueError if it is not track data."""
    return crypto.decrypt_track(track_key, track)


def pin_matches(pin_key, pin_block, pin, pan):
    """Decrypt the PIN block (3DES under the PIN key, DES for a single
    length one) and compare it with the
    format 0 block of the PIN the host holds; the clear PIN never leaves
    this function."""
    if pin_block is None or len(pin_block) != 8:
        return False
    clear = crypto.ecb_decrypt(crypto.effective_key(pin_key), bytes(pin_block))
    return clear == crypto.pin_block_format0(pin, pan)
