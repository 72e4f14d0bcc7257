"""SHA-512 (FIPS 180) and Ed25519 verification (RFC 8032) against their
published vectors, against the `cryptography` library, and under MicroPython."""

import hashlib
import json

import pytest
from hypothesis import given, settings, strategies as st
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware.update import ed25519
from firmware.update.sha512 import sha512
from tests.support import run_script

H = bytes.fromhex

# FIPS 180-2 appendix C / the NIST examples
SHA512_VECTORS = [
    (b"abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
             "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
    (b"", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
          "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
    (b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335"
     "96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445"),
    (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
     "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
]

# RFC 8032 section 7.1: (secret, public, message, signature)
ED25519_VECTORS = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    # TEST SHA(abc): the message is SHA-512("abc")
    ("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     SHA512_VECTORS[0][1],
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
     "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"),
]


@pytest.mark.parametrize("message, digest", SHA512_VECTORS)
def test_sha512_fips_vectors(message, digest):
    assert sha512(message).hex() == digest


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_sha512_matches_hashlib_at_every_length(message):
    assert sha512(message) == hashlib.sha512(message).digest()


@pytest.mark.parametrize("secret, public, message, signature", ED25519_VECTORS)
def test_ed25519_rfc8032_vectors(secret, public, message, signature):
    # the vector itself, as transcribed, is what the cryptography library makes
    key = Ed25519PrivateKey.from_private_bytes(H(secret))
    assert key.sign(H(message)) == H(signature)
    assert ed25519.verify(H(public), H(message), H(signature))


@pytest.mark.parametrize("secret, public, message, signature", ED25519_VECTORS)
def test_ed25519_refuses_any_change(secret, public, message, signature):
    sig = bytearray(H(signature))
    assert not ed25519.verify(H(public), H(message) + b"x", bytes(sig))
    for index in (0, 31, 32, 63):
        changed = bytearray(sig)
        changed[index] ^= 0x01
        assert not ed25519.verify(H(public), H(message), bytes(changed))
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    assert not ed25519.verify(other, H(message), bytes(sig))


def test_ed25519_refuses_non_canonical_s_and_bad_points():
    secret, public, message, signature = ED25519_VECTORS[1]
    sig = H(signature)
    s = int.from_bytes(sig[32:], "little") + ed25519.L   # same point, S not reduced
    assert not ed25519.verify(H(public), H(message), sig[:32] + s.to_bytes(32, "little"))
    not_a_point = (2 ** 255 - 1).to_bytes(32, "little")   # y >= p
    assert not ed25519.verify(not_a_point, H(message), sig)
    assert not ed25519.verify(H(public)[:31], H(message), sig)
    assert not ed25519.verify(H(public), H(message), sig[:63])


@settings(max_examples=15, deadline=None)
@given(st.binary(max_size=300))
def test_ed25519_verifies_what_cryptography_signs(message):
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    assert ed25519.verify(public, message, key.sign(message))


def test_micropython_verifies_the_vectors_and_says_how_long(micropython):
    """The device's interpreter: the same vectors, and the time one verify
    takes (printed with -s; the decision for Ed25519 in docs/FLASHING.md)."""
    interpreter = micropython
    script = """
import json, time, binascii
from firmware.update import ed25519
from firmware.update.sha512 import sha512
vectors = json.loads(%r)
out = {"sha": [binascii.hexlify(sha512(m.encode())).decode() for m, _ in vectors["sha"]], "ed": []}
start = time.ticks_ms()
for pub, msg, sig in vectors["ed"]:
    h = binascii.unhexlify
    out["ed"].append([ed25519.verify(h(pub), h(msg), h(sig)), ed25519.verify(h(pub), h(msg) + b"x", h(sig))])
out["ms_per_verify"] = time.ticks_diff(time.ticks_ms(), start) / (2 * len(vectors["ed"]))
print(json.dumps(out))
""" % json.dumps({"sha": [(m.decode(), d) for m, d in SHA512_VECTORS],
                  "ed": [(p, m, s) for _, p, m, s in ED25519_VECTORS]})
    out = json.loads(run_script(interpreter, script).strip().splitlines()[-1])
    assert out["sha"] == [d for _, d in SHA512_VECTORS]
    assert out["ed"] == [[True, False]] * len(ED25519_VECTORS)
    print("MicroPython: %.1f ms per Ed25519 verify" % out["ms_per_verify"])
