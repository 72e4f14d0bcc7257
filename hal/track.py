"""Track data encryption (UnionPay, with the track data key TDK): the
issuer block of track 2/3 encrypted in place. A module of its own so that
a terminal that has not encrypted a track yet (boot) does not hold it.
"""

from hal.crypto import ecb_decrypt, ecb_encrypt, effective_key

_HEX_DIGITS = b"0123456789ABCDEF"


def _track_nibbles(track):
    out = []
    for ch in track:
        if "0" <= ch <= "9":
            out.append(ch)
        elif ch == "=":
            out.append("D")
        elif ch in "ABCEF":
            out.append(ch)  # already encrypted nibbles (decrypting)
        else:
            raise ValueError("track data has a %r" % ch)
    return "".join(out)


def _track_crypt(key, track, algorithm, decrypt):
    """The UnionPay encrypted-track convention: the track as packed BCD
    ("=" is nibble D, an odd length padded with a 0 nibble); leave out its
    last byte and take the block before it (8 bytes, 16 for SM4): the
    issuer's data and the card verification value. That block alone is
    encrypted in place with the track data key; the length, the card number
    and the last byte stay as they are, so the field keeps its format. A
    nibble D in the result reads "=", like the separator."""
    nibbles = _track_nibbles(track)
    count = len(nibbles)
    if count % 2:
        nibbles += "0"
    data = bytearray(bytes.fromhex(nibbles))
    block = 16 if algorithm == "sm4" else 8
    if len(data) < block + 1:
        raise ValueError("track data too short to encrypt (%d digits)" % count)
    start = len(data) - 1 - block
    if algorithm == "sm4":
        from hal import sm4
        crypt = sm4.decrypt_block if decrypt else sm4.encrypt_block
        data[start:start + block] = crypt(key, bytes(data[start:start + block]))
    else:
        crypt = ecb_decrypt if decrypt else ecb_encrypt
        data[start:start + block] = crypt(effective_key(key), bytes(data[start:start + block]))
    out = []
    for b in data:
        out.append(_HEX_DIGITS[b >> 4])
        out.append(_HEX_DIGITS[b & 0x0F])
    return bytes(out[:count]).decode().replace("D", "=")


def encrypt_track(key, track, algorithm="3des"):
    """Track 2/3 text (digits and "=") -> the same length with its issuer
    block encrypted under the track data key (see _track_crypt)."""
    return _track_crypt(key, track, algorithm, False)


def decrypt_track(key, track, algorithm="3des"):
    """The inverse of encrypt_track (the host's side)."""
    return _track_crypt(key, track, algorithm, True)
