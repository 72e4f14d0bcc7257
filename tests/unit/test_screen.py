"""firmware.font, firmware.screen, emulator.png and emulator.paper.

Glyph vectors are lines of GNU Unifont's unifont.hex (the font the asset is
built from): "0041:0000000018242442427E424242420000" (A) and
"4E2D:01000100010001003FF8210821082108210821083FF821080100010001000100" (中).
The golden screen is checked twice: the SHA-256 of the RGB565 framebuffer,
and the pixels of tests/unit/golden/screen_sale.png (look at that file to
see what the test expects). MicroPython must draw the same framebuffer.
"""

import hashlib
import os
import subprocess
import sys

import pytest

from firmware import escpos, font, gb2312, screen
from hal.sim.display import SimDisplay
from tests.support import micropython_path

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")
ROOT = os.path.dirname(os.path.dirname(HERE))




@pytest.fixture(scope="module")
def f16():
    loaded = font.load_font()
    yield loaded
    loaded.close()


# ---------------------------------------------------------------- font

def test_unifont_vectors(f16):
    assert f16.glyph(ord("A")) == (8, bytes.fromhex("0000000018242442427E424242420000"))
    assert f16.glyph(ord("中")) == (16, bytes.fromhex(
        "01000100010001003FF8210821082108210821083FF821080100010001000100"))


def test_widths(f16):
    assert f16.char_width("A") == 8
    assert f16.char_width("消") == 16
    assert f16.char_width("，") == 16
    assert f16.text_width("消费 SALE") == 2 * 16 + 5 * 8


def test_coverage(f16):
    for cp in range(0x20, 0x7F):
        assert f16.has_glyph(cp)
    gb2312_chars = 0
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                ch = bytes((hi, lo)).decode("gb2312")
            except UnicodeDecodeError:
                continue
            gb2312_chars += 1
            assert f16.has_glyph(ord(ch)), "U+%04X" % ord(ch)
    assert gb2312_chars == 7445


def firmware_string_chars():
    """Non-ASCII characters in string literals of firmware/**/*.py
    (docstrings and comments left out: they are never drawn)."""
    import ast
    chars = set()
    for folder, _dirs, files in os.walk(os.path.join(ROOT, "firmware")):
        for name in files:
            if not name.endswith(".py"):
                continue
            with open(os.path.join(folder, name), encoding="utf-8") as src:
                tree = ast.parse(src.read())
            docstrings = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                    docstrings.add(id(node.value))
            for node in ast.walk(tree):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                        and id(node) not in docstrings):
                    chars.update(ord(ch) for ch in node.value if ord(ch) > 0x7F)
    return chars


def test_every_firmware_string_has_a_glyph(f16):
    chars = firmware_string_chars()
    assert ord("消") in chars  # the scan does find the firmware's Chinese
    missing = sorted(cp for cp in chars if not f16.has_glyph(cp))
    assert not missing, ("no screen glyph for %s: run tools/build_font.py and commit "
                         "firmware/assets/font16.bin" % " ".join("U+%04X" % cp for cp in missing))


def test_missing_glyph_is_a_box(f16):
    assert f16.glyph(0x1F600) == (16, font.BOX_WIDE)
    assert f16.glyph(0x7F) == (8, font.BOX_NARROW)
    assert len(font.BOX_WIDE) == 32 and len(font.BOX_NARROW) == 16


def test_font_is_lazy(tmp_path):
    lazy = font.load_font(str(tmp_path / "absent.bin"))  # nothing opened yet
    with pytest.raises(OSError):
        lazy.glyph(ord("A"))


def test_font_asset_matches_unifont_when_installed(f16):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import build_font
    finally:
        sys.path.pop(0)
    try:
        hex_path = build_font.find_hex()
    except SystemExit:
        pytest.skip("GNU Unifont not installed")
    glyphs = build_font.read_hex(hex_path)
    for ch in "A~中文消费撤销，。￥":
        assert f16.glyph(ord(ch))[1] == glyphs[ord(ch)]


# ---------------------------------------------------------------- wrap

@pytest.mark.parametrize("text, width, rows", [
    ("", 80, [""]),
    ("hello world foo", 80, ["hello", "world foo"]),
    ("hello world", 88, ["hello world"]),
    ("abcdefghijklmnopqrstuvwxyz", 80, ["abcdefghij", "klmnopqrst", "uvwxyz"]),
    ("消费 Sale amount", 80, ["消费 Sale", "amount"]),
    ("中文中文中文，中文", 96, ["中文中文中", "文，中文"]),   # no row starts with ，
    ("a\nb", 80, ["a", "b"]),
    ("  indented text here", 80, ["  indented", "text here"]),
    ("word  two   spaced", 64, ["word", "two", "spaced"]),
    ("1.消费 Sale", 240, ["1.消费 Sale"]),
])
def test_wrap(f16, text, width, rows):
    assert screen.wrap(text, width, f16) == rows


def test_wrap_fits_fifteen_hanzi_or_thirty_ascii(f16):
    assert screen.wrap("汉" * 15, 240, f16) == ["汉" * 15]
    assert screen.wrap("x" * 30, 240, f16) == ["x" * 30]
    assert screen.wrap("汉" * 16, 240, f16) == ["汉" * 15, "汉"]


# ---------------------------------------------------------------- render

# Run by CPython here and by MicroPython below; the framebuffers must match.
SCREEN_SOURCE = """
def draw_sale_screen(screen, display, font):
    return screen.render(display, "消费 SALE", [
        "请刷卡/插卡/挥卡",
        "Swipe, insert or tap card",
        ">1.消费 Sale",
        "2.消费撤销 Void",
        "金额: ￥12.34",
        "本人确认以上交易,同意将其记入本卡账户。Long English text wraps at words.",
        "卡号 622202******0017",
        "😀 missing glyph",
    ], footer="[确认]继续 [取消]退出", font=font)
"""
SALE_SCREEN_SHA256 = "9254cd3d507e9f82fdd732b39fd9de10a751e1d9bd18935781c5802ffe82ecca"


def draw_sale_screen(display, f16):
    scope = {}
    exec(SCREEN_SOURCE, scope)
    return scope["draw_sale_screen"](screen, display, f16)


def framebuffer_sha256(display):
    import hashlib
    return hashlib.sha256(display.framebuffer).hexdigest()


def test_render_records_what_it_drew(f16):
    display = SimDisplay(240, 320)
    rows = draw_sale_screen(display, f16)
    assert display.title == "消费 SALE"
    assert display.lines == rows
    assert rows == [
        "请刷卡/插卡/挥卡",
        "Swipe, insert or tap card",
        ">1.消费 Sale",
        "2.消费撤销 Void",
        "金额: ￥12.34",
        "本人确认以上交易,同意将其记入",
        "本卡账户。Long English text",
        "wraps at words.",
        "卡号 622202******0017",
        "😀 missing glyph",
        "[确认]继续 [取消]退出",
    ]
    assert display.generation == 1


def test_render_golden_framebuffer(f16):
    display = SimDisplay(240, 320)
    draw_sale_screen(display, f16)
    from emulator.png import framebuffer_to_image, save_png
    path = os.path.join(GOLDEN, "screen_sale.png")
    if os.environ.get("UPDATE_GOLDEN"):
        save_png(display.framebuffer, 240, 320, path)
        print("sha256", framebuffer_sha256(display))
    from PIL import Image
    with Image.open(path) as golden:
        assert golden.convert("RGB").tobytes() == \
            framebuffer_to_image(display.framebuffer, 240, 320).tobytes()
    assert framebuffer_sha256(display) == SALE_SCREEN_SHA256


def test_pixels_where_expected(f16):
    display = SimDisplay(240, 320)
    draw_sale_screen(display, f16)
    fb = display.framebuffer

    def pixel(x, y):
        at = (y * 240 + x) * 2
        return fb[at] | (fb[at + 1] << 8)

    assert pixel(0, 0) == screen.BLACK          # title bar
    assert pixel(0, 19) == screen.BLACK
    assert pixel(239, 30) == screen.WHITE       # body background
    assert pixel(239, 24 + 2 * 18 + 8) == screen.BLACK   # highlighted row, 3rd
    assert pixel(100, 320 - 18 - 2) == screen.BLACK      # footer rule


def test_rows_past_the_bottom_are_dropped(f16):
    display = SimDisplay(240, 320)
    rows = screen.render(display, "T", ["line %d" % i for i in range(40)], font=f16)
    assert rows == ["line %d" % i for i in range(16)]   # (320 - 24) // 18
    rows = screen.render(display, "T", ["line %d" % i for i in range(40)], footer="F", font=f16)
    assert rows == ["line %d" % i for i in range(15)] + ["F"]


def test_long_title_is_cut(f16):
    display = SimDisplay(240, 320)
    screen.render(display, "标题" * 20, [], font=f16)
    assert display.title == "标题" * 7 + "标"


def test_render_reuses_its_screen_on_the_display(f16):
    display = SimDisplay(240, 320)
    screen.render(display, "A", [], font=f16)
    first = display._screen
    screen.render(display, "B", ["x"])
    assert display._screen is first


def test_micropython_draws_the_same_framebuffer():
    mp = micropython_path()
    if mp is None:
        pytest.skip("no micropython interpreter")
    code = (
        "import sys; sys.path.insert(0, '')\n"
        "from hal.sim.display import SimDisplay\n"
        "from hal.compat import sha256, hexlify\n"
        "from firmware import screen, font\n"
        + SCREEN_SOURCE +
        "d = SimDisplay(240, 320)\n"
        "draw_sale_screen(screen, d, font.load_font())\n"
        "print(hexlify(sha256(d.framebuffer)))\n"
    )
    out = subprocess.run([mp, "-c", code], cwd=ROOT, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().strip() == SALE_SCREEN_SHA256


# ---------------------------------------------------------------- emulator images

def test_png_colours():
    from emulator.png import framebuffer_to_image
    # RGB565 little-endian: red F800, green 07E0, blue 001F, white FFFF.
    fb = bytes([0x00, 0xF8, 0xE0, 0x07, 0x1F, 0x00, 0xFF, 0xFF])
    image = framebuffer_to_image(fb, 4, 1)
    assert [image.getpixel((x, 0)) for x in range(4)] == [
        (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]
    with pytest.raises(ValueError):
        framebuffer_to_image(fb, 3, 1)


def test_paper_strip(f16):
    from emulator import paper
    table = gb2312.load_table()
    data = (escpos.start() + escpos.align("center") + escpos.double() + escpos.text("签购单", table)
            + escpos.double(False) + escpos.align("left") + escpos.text("汉" * 17, table)
            + escpos.text("x" * 32, table) + escpos.end(2))
    image = paper.receipt_image(data, table, f16)
    assert image.size[0] == 384
    # Title (48-dot double), 17 hanzi wrapping to 2 rows, 32 ASCII filling 1, 2 fed rows.
    assert image.size[1] == paper.TOP_MARGIN + (48 + 6) + 5 * (24 + 6) + paper.BOTTOM_MARGIN
    # The double-size title is centred: ink in the middle, none at the edges.
    title = image.crop((0, paper.TOP_MARGIN, 384, paper.TOP_MARGIN + 48))
    assert title.crop((0, 0, 100, 48)).getextrema() == (255, 255)
    assert title.crop((120, 0, 264, 48)).getextrema()[0] == 0


INK_SOURCE = (
    "def draw_ink(screen_module, display):\n"
    "    s = screen_module.Screen(display)\n"
    "    box = (4, 118, 232, 158)\n"
    "    rows = [s.draw_line(30, 200, 90, 185, 0x0014, box), s.draw_line(100, 100, 100, 400, 0x0014, box),\n"
    "            s.draw_line(236, 276, 5, 119, 0x0014, box), s.draw_line(50, 50, 50, 50, 0x0014, box)]\n"
    "    return rows\n"
)


def draw_ink(display):
    """INK_SOURCE's lines under CPython (the MicroPython test runs the same text)."""
    scope = {}
    exec(INK_SOURCE, scope)
    return scope["draw_ink"](screen, display)


def test_ink_stays_in_its_box_and_says_which_rows_it_touched():
    d = SimDisplay(240, 320)
    rows = draw_ink(d)
    assert rows == [(185, 202), (118, 276), (119, 276), (118, 120)]
    fb = d.framebuffer
    inked = [(i // 2 % 240, i // 2 // 240) for i in range(0, len(fb), 2) if fb[i] | fb[i + 1] << 8 == 0x0014]
    assert inked and all(4 <= x < 236 and 118 <= y < 276 for x, y in inked)
    assert (30, 200) in inked and (90, 185) in inked and (100, 274) in inked   # clamped to the bottom edge


def test_micropython_draws_the_same_ink():
    mp = micropython_path()
    if mp is None:
        pytest.skip("no micropython interpreter")
    d = SimDisplay(240, 320)
    rows = draw_ink(d)
    code = (
        "import sys; sys.path.insert(0, '')\n"
        "from hal.sim.display import SimDisplay\n"
        "from hal.compat import sha256, hexlify\n"
        "from firmware import screen\n"
        + INK_SOURCE +
        "d = SimDisplay(240, 320)\n"
        "print(draw_ink(screen, d))\n"
        "print(hexlify(sha256(d.framebuffer)))\n"
    )
    out = subprocess.run([mp, "-c", code], cwd=ROOT, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    printed_rows, digest = out.stdout.decode().strip().splitlines()
    assert printed_rows == str(rows)
    assert digest == hashlib.sha256(bytes(d.framebuffer)).hexdigest()
