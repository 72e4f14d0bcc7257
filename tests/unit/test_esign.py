"""firmware/esign.py: the feature code against a hand-worked example, the
signature image round trip (realistic signatures, edge cases, random
bitmaps), its size on a realistic signature beside CCITT G4, malformed and
hostile images refused, and the same bytes under MicroPython both ways."""

import binascii
import io
import math
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware import esign
from tests.support import ROOT, micropython_path

W, H = esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT


def test_feature_code_worked_example():
    # BCD of "1201" + "120000123456": 12 01 12 00 | 00 12 34 56; first half XOR second half.
    assert esign.feature_code("1201", "120000123456") == "%02X%02X%02X%02X" % (
        0x12 ^ 0x00, 0x01 ^ 0x12, 0x12 ^ 0x34, 0x00 ^ 0x56)
    assert esign.feature_code("1201", "120000123456") == "12132656"


@pytest.mark.parametrize("date, rrn", [("121", "120000123456"), ("1201", "12000012345"), ("12a1", "120000123456")])
def test_feature_code_refuses_what_is_not_f15_and_f37(date, rrn):
    with pytest.raises(esign.SignatureError):
        esign.feature_code(date, rrn)


def handwriting(loops=2.0):
    """Three strokes of a cursive name, as a touch panel would sample them
    (screen pixels): each stroke `loops` up-and-downs, a flourish under it."""
    strokes = []
    for n, (x0, width) in enumerate(((20, 60), (90, 70), (170, 50))):
        stroke = []
        for i in range(80):
            t = i / 79
            x = x0 + width * t
            y = 200 + 25 * math.sin(2 * loops * math.pi * t + n) + 10 * math.sin(17 * t)
            stroke.append((int(x), int(y)))
        strokes.append(stroke)
    strokes.append([(30, 240), (200, 236)])
    return strokes


def test_ink_is_cropped_and_scaled_into_the_image():
    bits = esign.rasterize([[(1000, 1000), (1400, 1100)]], 64, 32, margin=2)
    rows = [bytes(bits[y * 64:(y + 1) * 64]) for y in range(32)]
    ink = [(x, y) for y in range(32) for x in range(64) if rows[y][x]]
    assert min(x for x, _ in ink) == 2 and max(x for x, _ in ink) == 64 - 3   # fills the width
    assert 0 < min(y for _, y in ink) and max(y for _, y in ink) < 31


def test_a_blank_signature_is_refused():
    with pytest.raises(esign.SignatureError):
        esign.rasterize([])
    with pytest.raises(esign.SignatureError):
        esign.rasterize([[]])


def zigzag(width, height, step):
    """Strokes corner to corner, `step` pixels apart: ink over the whole image."""
    return [[(x, 0 if (x // step) % 2 else height - 1) for x in range(0, width, step)]]


def samples():
    """name -> (width, height, bits): the signatures a handset meets, and the edges."""
    out = {
        "cursive": (W, H, esign.rasterize(handwriting())),
        "scribble": (W, H, esign.rasterize(handwriting(loops=5))),
        "dot": (W, H, esign.rasterize([[(40, 40)]])),
        "empty": (W, H, bytearray(W * H)),
        "all ink": (W, H, bytearray(b"\x01" * (W * H))),
        "zigzag strokes": (W, H, esign.rasterize(zigzag(W, H, 3))),
        "one pixel": (1, 1, bytearray(b"\x01")),
    }
    big_w, big_h = esign.MAX_SIDE, esign.MAX_PIXELS // esign.MAX_SIDE
    out["largest, strokes"] = (big_w, big_h, esign.rasterize(handwriting(loops=7), big_w, big_h))
    return out


def group4_bytes(width, height, bits):
    """CCITT G4 of the bitmap through Pillow's libtiff: the strip, without the TIFF."""
    from PIL import Image
    image = Image.new("1", (width, height), 1)
    image.putdata([0 if b else 1 for b in bits])
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF", compression="group4")
    return sum(Image.open(io.BytesIO(buffer.getvalue())).tag_v2[279])


@pytest.mark.parametrize("name", sorted(samples()))
def test_round_trip(name):
    width, height, bits = samples()[name]
    data = esign.encode(bits, width, height)
    assert data[:3] == b"SG2"
    assert esign.decode(data) == (width, height, bits)


def test_size_of_a_signature_beside_group4():
    # Measured when written: cursive 170 bytes (G4 533), scribble 228 (G4 748).
    for bits, limit in ((esign.rasterize(handwriting()), 256), (esign.rasterize(handwriting(loops=5)), 320)):
        data = esign.encode(bits, W, H)
        assert len(data) <= limit, len(data)                   # acquirers expect well under 1 KB
        assert len(data) * 2 <= group4_bytes(W, H, bits), len(data)   # at most half of G4


def test_blank_rows_cost_next_to_nothing():
    # An empty image is rows like the one above: a flag each, not 24,576 pixels.
    assert len(esign.encode(bytearray(W * H), W, H)) <= esign.HEADER + 4


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 40), st.integers(1, 24), st.data())
def test_random_bitmaps_round_trip(width, height, data):
    ink = data.draw(st.sampled_from((1, 8, 50)))          # percent of ink: sparse, typical, noise
    bits = bytearray(data.draw(st.lists(st.integers(0, 99), min_size=width * height,
                                        max_size=width * height)))
    bits = bytearray(1 if b < ink else 0 for b in bits)
    assert esign.decode(esign.encode(bits, width, height)) == (width, height, bits)


def test_encode_refuses_what_is_not_a_bitmap():
    with pytest.raises(esign.SignatureError):
        esign.encode(bytearray(10), 4, 2)                    # 10 pixels for 8
    with pytest.raises(esign.SignatureError):
        esign.encode(bytearray(b"\x00\x02"), 2, 1)          # a pixel is 0 or 1
    for width, height in ((0, 5), (5, 0), (esign.MAX_SIDE + 1, 1), (esign.MAX_SIDE, esign.MAX_SIDE)):
        with pytest.raises(esign.SignatureError):
            esign.encode(bytearray(width * height), width, height)


def test_truncated_or_padded_images_are_refused():
    data = esign.encode(esign.rasterize(handwriting()), W, H)
    for cut in list(range(0, len(data), 5)) + [len(data) - 2, len(data) - 1]:
        with pytest.raises(esign.SignatureError):
            esign.decode(data[:cut])
    for extra in (b"\x00", b"\xff", data[-3:]):
        with pytest.raises(esign.SignatureError):
            esign.decode(data + extra)


def test_every_changed_byte_of_a_signature_is_refused():
    # (a small signature: the same coder, a quarter of the pixels to decode each time)
    data = esign.encode(esign.rasterize(handwriting(), 96, 36), 96, 36)
    for at in range(esign.HEADER, len(data)):
        for flip in (0x01, 0x80, 0xFF):
            garbled = bytearray(data)
            garbled[at] ^= flip
            with pytest.raises(esign.SignatureError):
                esign.decode(bytes(garbled))


def test_headers_that_are_not_a_signature_are_refused():
    body = esign.encode(bytearray(8), 4, 2)[esign.HEADER:]
    for header in (b"SG1\x00\x04\x00\x02",                       # the old row coder: no longer read
                   b"PNG\x00\x04\x00\x02",
                   b"SG2\x00\x00\x00\x02",                       # no columns
                   b"SG2\xff\xff\xff\xff",                       # 4 G pixels: refused before allocating
                   b"SG2\x04\x00\x04\x00"):                      # 1 M pixels: past MAX_PIXELS
        with pytest.raises(esign.SignatureError):
            esign.decode(header + body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(1, 64), st.integers(1, 64))
def test_hostile_bytes_raise_signature_error_or_decode_to_a_whole_image(noise, width, height):
    for data in (noise, b"SG2" + bytes((width >> 8, width & 255, height >> 8, height & 255)) + noise):
        try:
            w, h, bits = esign.decode(data)
        except esign.SignatureError:
            continue
        assert (w, h, len(bits)) == (width, height, width * height) and max(bits) <= 1


def test_same_bytes_under_micropython_and_each_decodes_the_other(tmp_path):
    interpreter = micropython_path()
    if interpreter is None:
        pytest.skip("no micropython interpreter")
    images = samples()
    names = sorted(images)
    encoded = [esign.encode(images[n][2], images[n][0], images[n][1]) for n in names]
    # a script file, not -c: the bitmaps are too long for a command line
    script = tmp_path / "cross.py"
    script.write_text(
        "import sys\nsys.path.insert(0, %r)\nimport binascii\nfrom firmware import esign\n"
        "for w, h, bits, theirs in %r:\n"
        "    ours = esign.encode(bytearray(bits), w, h)\n"
        "    back = esign.decode(theirs)\n"
        "    print(binascii.hexlify(ours).decode(), back[0], back[1], binascii.crc32(back[2]))\n"
        "print(binascii.hexlify(esign.encode(esign.rasterize(%r), esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT))"
        ".decode(), esign.feature_code('1201', '120000123456'))\n"
        % (ROOT, [(images[n][0], images[n][1], bytes(images[n][2]), encoded[i]) for i, n in enumerate(names)],
           handwriting()))
    result = subprocess.run([interpreter, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(names) + 1
    for name, line, ours in zip(names, lines, encoded):
        theirs_hex, their_width, their_height, their_crc = line.split()
        width, height, bits = images[name]
        assert theirs_hex == ours.hex(), name                                # the same bytes
        assert (int(their_width), int(their_height), int(their_crc)) == (
            width, height, binascii.crc32(bytes(bits))), name                 # it decodes ours
        assert esign.decode(bytes.fromhex(theirs_hex)) == (width, height, bits), name
    # rasterize too: the strokes give the same image, bit for bit, under both
    assert lines[-1].split() == [esign.encode(esign.rasterize(handwriting()), W, H).hex(), "12132656"]
