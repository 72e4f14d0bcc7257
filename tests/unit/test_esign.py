"""firmware/esign.py: the feature code against a hand-worked example, the
signature image round trip, its size on a realistic signature, malformed
images refused, and the same bytes under MicroPython."""

import math

import pytest

from firmware import esign
from tests.support import micropython_path, run_script


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


def test_round_trip_and_size():
    bits = esign.rasterize(handwriting())
    assert sum(bits) > 300                            # ink, and plenty of it
    data = esign.encode(bits, esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT)
    assert len(data) < 1024, len(data)                # acquirers expect well under 1 KB
    assert esign.decode(data) == (esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT, bits)


def test_a_dense_scribble_still_round_trips():
    bits = esign.rasterize(handwriting(loops=5))
    data = esign.encode(bits, esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT)
    assert esign.decode(data)[2] == bits


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


def test_malformed_images_are_refused():
    data = esign.encode(esign.rasterize(handwriting()), esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT)
    for cut in (0, 3, 7, len(data) // 2, len(data) - 1):
        with pytest.raises(esign.SignatureError):
            esign.decode(data[:cut])
    with pytest.raises(esign.SignatureError):
        esign.decode(data + b"\x00")
    with pytest.raises(esign.SignatureError):
        esign.decode(b"SG1\x00\x04\x00\x01\x01\x05")        # a 5-pixel run in a 4-pixel row
    with pytest.raises(esign.SignatureError):
        esign.decode(b"SG1\x00\x04\x00\x01\xfe")            # repeats a row that is not there


def test_same_bytes_under_micropython():
    interpreter = micropython_path()
    if interpreter is None:
        pytest.skip("no micropython interpreter")
    strokes = handwriting()
    script = ("import sys\nsys.path.insert(0, '')\nfrom firmware import esign\nimport binascii\n"
              "data = esign.encode(esign.rasterize(%r), esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT)\n"
              "print(binascii.hexlify(data).decode(), esign.feature_code('1201', '120000123456'))\n" % strokes)
    out = run_script(interpreter, script).split()
    expected = esign.encode(esign.rasterize(strokes), esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT)
    assert out == [expected.hex(), "12132656"]
