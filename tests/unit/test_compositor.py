"""The emulator's compositor, headless: the screen area is the framebuffer
scaled with NEAREST, the key hit-boxes come from the layout file, a partial
update draws what a full compose draws, the paper strip stacks slips."""

import json

import pytest
from PIL import Image

from emulator.compositor import PARTS, Compositor, PaperStrip, View, load_layout
from emulator.png import framebuffer_to_image
from hal.keypad import KEYS


def framebuffer(seed):
    return bytes((i * seed + i // 480) & 0xFF for i in range(240 * 320 * 2))


@pytest.mark.parametrize("scale", [2, 3])
def test_screen_area_is_the_framebuffer_scaled_nearest(scale):
    compositor = Compositor(scale)
    fb = framebuffer(7)
    image = compositor.compose(View(fb, 240, 320))
    left, top, right, bottom = compositor.screen_box
    assert (right - left, bottom - top) == (240 * scale, 320 * scale)
    expected = framebuffer_to_image(fb, 240, 320).resize((240 * scale, 320 * scale), Image.NEAREST)
    assert image.crop(compositor.screen_box).tobytes() == expected.tobytes()


def test_every_key_has_a_hit_box_from_the_layout_file():
    compositor = Compositor(2)
    assert sorted(compositor.keys) == sorted(KEYS)
    for name, key in compositor.keys.items():
        left, top, right, bottom = key["rect"]
        assert compositor.key_at((left + right) // 2, (top + bottom) // 2) == name
        assert compositor.key_at(left - 1, top - 1) != name
    assert compositor.key_at(*compositor.screen_box[:2]) is None
    keysyms = compositor.pc_keys()
    assert (keysyms["Return"], keysyms["Escape"], keysyms["BackSpace"], keysyms["m"]) == \
        ("ENTER", "CANCEL", "CLEAR", "MENU")


def test_the_layout_file_moves_the_keys(tmp_path):
    layout = load_layout()
    layout["keys"][0]["box"][0] += 10
    moved = Compositor(2, layout)
    name = layout["keys"][0]["key"]
    assert moved.keys[name]["rect"][0] == Compositor(2).keys[name]["rect"][0] + 20
    layout["keys"].append(dict(layout["keys"][0]))
    path = tmp_path / "twice.json"
    path.write_text(json.dumps(layout))
    with pytest.raises(ValueError, match="twice"):
        load_layout(str(path))


def test_a_partial_update_equals_a_full_compose(tiny_receipt):
    compositor = Compositor(2)
    strip = PaperStrip()
    first = View(framebuffer(3), 240, 320, (), {"power": True}, strip)
    image = compositor.compose(first)
    strip.add(*tiny_receipt)
    second = View(framebuffer(5), 240, 320, {"ENTER", "5"}, {"power": True, "paper": "bad", "card": True}, strip)
    compositor.update(image, second, PARTS)
    assert image.tobytes() == compositor.compose(second).tobytes()
    pressed = compositor.compose(second).crop(compositor.keys["ENTER"]["rect"])
    assert pressed.tobytes() != compositor.compose(first).crop(compositor.keys["ENTER"]["rect"]).tobytes()


def test_paper_strip_stacks_slips_and_tears_off(tiny_receipt):
    strip = PaperStrip()
    strip.add(*tiny_receipt)
    one = strip.height
    strip.add(*tiny_receipt)
    assert strip.height > 2 * one and strip.slips == 2
    strip.scroll_by(10 ** 6, 100)
    assert strip.scroll == strip.height - 100
    strip.tear()
    assert (strip.height, strip.slips, strip.image) == (0, 0, None)


@pytest.fixture
def tiny_receipt():
    from firmware import escpos, gb2312
    table = gb2312.load_table()
    return escpos.init() + escpos.text("RMB 12.34", table) + escpos.cut(), table


def test_no_window_says_why(monkeypatch):
    import sys
    from emulator.window import window_unavailable
    monkeypatch.setitem(sys.modules, "tkinter", None)        # a Python built without tkinter
    reason = window_unavailable()
    assert "no tkinter" in reason and "python3-tk" in reason and "tk-dev" in reason
    monkeypatch.delitem(sys.modules, "tkinter")
    try:
        import tkinter  # noqa: F401
    except ImportError:
        return          # this Python really has none: said above
    if sys.platform.startswith("linux"):
        monkeypatch.delenv("DISPLAY", raising=False)
        assert window_unavailable() == "no display (DISPLAY is not set)"
