"""firmware/qr.py against independent oracles: segno builds the same symbol
module for module (every version 1-10, level and mask), segno's own penalty
scorer agrees that our automatic mask is the lowest, and OpenCV's QR
detector reads our codes back, drawn on the screen's RGB565 framebuffer and
as ESC/POS raster rows."""

import random

import pytest

from firmware import qr
from tests.support import micropython_path, run_script

segno = pytest.importorskip("segno")


def segno_rows(data, version, ecc, mask=None):
    symbol = segno.make(data, version=version, error=ecc.lower(), mask=mask, mode="byte",
                        boost_error=False, micro=False)
    return ["".join("1" if module else "0" for module in row) for row in symbol.matrix]


def full_payload(version, ecc):
    """As many bytes as the version holds at the level (mode and count included)."""
    header = 2 if version <= 9 else 3
    return bytes((i * 37 + version) & 0xFF for i in range(qr.data_capacity(version, ecc) - header))


@pytest.mark.parametrize("version", range(1, qr.MAX_VERSION + 1))
@pytest.mark.parametrize("ecc", "LMQH")
def test_every_mask_matches_segno_module_for_module(version, ecc):
    data = full_payload(version, ecc)
    for mask in range(8):
        assert qr.encode(data, ecc, version=version, mask=mask).rows() == segno_rows(data, version, ecc, mask)


def test_automatic_mask_has_the_lowest_penalty_by_segnos_scorer():
    from segno import encoder
    rng = random.Random(7)
    for version in range(1, qr.MAX_VERSION + 1):
        for ecc in "LMQH":
            data = bytes(rng.randrange(256) for _ in range(rng.randint(1, qr.data_capacity(version, ecc) - 3)))
            chosen = qr.encode(data, ecc, version=version)
            scores = []
            for mask in range(8):
                code = qr.encode(data, ecc, version=version, mask=mask)
                matrix = [bytearray(int(c) for c in row) for row in code.rows()]
                scores.append(encoder.evaluate_mask(matrix, code.size, code.size))
            assert scores[chosen.mask] == min(scores), (version, ecc, scores)


def test_smallest_version_and_limits():
    assert qr.encode(b"A" * 14, "M").version == 1        # 16 data codewords - 2 of header
    assert qr.encode(b"A" * 15, "M").version == 2
    assert qr.encode(b"x" * 213, "M").version == 10
    with pytest.raises(qr.QrError):
        qr.encode(b"x" * 214, "M")
    with pytest.raises(qr.QrError):
        qr.encode(b"x", "Z")
    with pytest.raises(qr.QrError):
        qr.encode(b"x" * 30, "M", version=1)
    with pytest.raises(qr.QrError):
        qr.encode(b"x", "M", mask=8)


# --- read back by an independent decoder -----------------------------------------------------

cv2 = pytest.importorskip("cv2")
np = pytest.importorskip("numpy")


def decode_gray(pixels):
    text, points, _ = cv2.QRCodeDetector().detectAndDecode(pixels)
    return text


def framebuffer_to_gray(framebuffer, width, height):
    rgb565 = np.frombuffer(bytes(framebuffer), dtype="<u2").reshape(height, width)
    return (((rgb565 >> 5) & 0x3F) * 4).astype(np.uint8)     # the green channel is enough


PAYLOADS = [
    "https://acquirer.example/r/898100012340001/000123?v=1",
    "weixin://wxpay/bizpayurl?pr=AbCdEf1",
    "62" + "0" * 17,
    "收款 12.34 元 测试商户",
]


@pytest.mark.parametrize("text", PAYLOADS)
@pytest.mark.parametrize("ecc", "LMQH")
def test_opencv_reads_our_code_on_the_screen(text, ecc):
    code = qr.encode(text, ecc)
    width, height, scale = 240, 320, 3
    framebuffer = bytearray(b"\x12\x34" * width * height)     # something that is not white around it
    side = qr.rgb565_blit(framebuffer, width, 10, 20, code, scale)
    assert side == (code.size + 2 * qr.QUIET_ZONE) * scale
    assert decode_gray(framebuffer_to_gray(framebuffer, width, height)) == text


@pytest.mark.parametrize("text", PAYLOADS[:2])
def test_opencv_reads_our_raster_rows(text):
    code = qr.encode(text, "M")
    width_bytes, rows = qr.raster_rows(code, 4)
    bits = np.unpackbits(np.frombuffer(b"".join(rows), dtype=np.uint8)).reshape(len(rows), width_bytes * 8)
    gray = (255 - bits * 255).astype(np.uint8)
    assert decode_gray(gray) == text


def test_same_symbol_under_micropython():
    interpreter = micropython_path()
    if interpreter is None:
        pytest.skip("no micropython interpreter")
    script = ("import sys\nsys.path.insert(0, '')\nfrom firmware import qr\n"
              "for text, ecc in %r:\n"
              "    code = qr.encode(text, ecc)\n"
              "    print(code.version, code.mask, ''.join(code.rows()))\n") % [(t, e) for t in PAYLOADS for e in "LH"]
    lines = run_script(interpreter, script).split("\n")
    for line, (text, ecc) in zip(lines, [(t, e) for t in PAYLOADS for e in "LH"]):
        code = qr.encode(text, ecc)
        assert line == "%d %d %s" % (code.version, code.mask, "".join(code.rows()))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_golden_qr_screen_reads_back_as_the_orders_link(lang):
    """The committed golden screen of a code shown to the customer
    (tests/golden/screens, made by the emulator on a stopped clock)."""
    import os
    from tests.support import ROOT
    path = os.path.join(ROOT, "tests", "golden", "screens", lang, "qr-show.png")
    gray = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
    assert decode_gray(gray) == "https://qr.acquirer.test/pay/QR26120100000001"
