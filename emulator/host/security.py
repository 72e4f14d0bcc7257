"""The host's side of the key and MAC scheme: generating working keys at
sign-on and sending them under the terminal master key, checking and making
MACs, checking PIN blocks. Built on hal.crypto and firmware.iso8583 so that
host and terminal share one implementation of each algorithm, and a
mismatch between them is a bug in that shared code, caught by its vectors.
"""

import os

from firmware import iso8583
from hal import crypto, keystore, sm4
from hal import track as track_crypto

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


def key_block(master_key, key, key_algorithm="3des"):
    """One key as it travels in F62: 16 bytes encrypted under the master key
    plus a 4-byte check value. A single-length key is 8 encrypted bytes and
    8 zero bytes, with a single-DES check value. SM4: the key SM4-encrypted
    under the (SM4) master key, the check value SM4 of a zero block."""
    if key_algorithm == "sm4":
        return sm4.encrypt_block(master_key, key) + keystore.check_value(key, "sm4", 4)
    if is_single_length(key):
        encrypted = crypto.ecb_encrypt(master_key, key[:8]) + bytes(8)
    else:
        encrypted = crypto.ecb_encrypt(master_key, key)
    return encrypted + crypto.key_check_value(key, 4)


def working_keys_field(master_key, pin_key, mac_key, track_key=None, key_algorithm="3des"):
    """F62 of the sign-on reply: 40 bytes (60.3 = 003) or 60 bytes with a
    track-data key (60.3 = 004)."""
    data = key_block(master_key, pin_key, key_algorithm) + key_block(master_key, mac_key, key_algorithm)
    if track_key is not None:
        data += key_block(master_key, track_key, key_algorithm)
    return data


def pin_block_length(key_algorithm):
    return iso8583.PIN_BLOCK_SM4 if key_algorithm == "sm4" else iso8583.PIN_BLOCK_DES


def compute_mac(algorithm, mac_key, mti, fields, key_algorithm="3des"):
    """The 8 bytes of F64 for a message (F64 itself, if present, is not
    covered), by the terminal's own MAC code (hal.keystore.mac_of): a
    16-byte slot holding a single DES key (zero second half) is single DES
    there, as on the terminal."""
    if algorithm not in MAC_ALGORITHMS:
        raise ValueError("unknown MAC algorithm %r (known: %s)" % (algorithm, ", ".join(MAC_ALGORITHMS)))
    data = iso8583.mac_data(mti, fields, pin_block_length(key_algorithm))
    return keystore.mac_of(mac_key, data, algorithm, key_algorithm)


def mac_matches(algorithm, mac_key, mti, fields, key_algorithm="3des"):
    given = fields.get(64)
    if not given:
        return False
    return compute_mac(algorithm, mac_key, mti, fields, key_algorithm) == bytes(given)


def decrypt_track(track_key, track, key_algorithm="3des"):
    """F35/F36 as the terminal sent it (issuer block under the TDK) -> the
    track in clear; ValueError if it is not track data."""
    return track_crypto.decrypt_track(track_key, track, key_algorithm)


def pin_matches(pin_key, pin_block, pin, pan, key_algorithm="3des"):
    """Decrypt the PIN block (3DES under the PIN key, DES for a single
    length one; SM4: the 16-byte widened block) and compare it with the
    block of the PIN the host holds; the clear PIN never leaves this
    function."""
    if pin_block is None or len(pin_block) != pin_block_length(key_algorithm):
        return False
    if key_algorithm == "sm4":
        return sm4.decrypt_block(pin_key, bytes(pin_block)) == sm4.pin_block_16(pin, pan)
    clear = crypto.ecb_decrypt(crypto.effective_key(pin_key), bytes(pin_block))
    return clear == crypto.pin_block_format0(pin, pan)
