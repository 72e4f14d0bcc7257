"""The display contract, for every backend (sim; a framebuffer file of 16
and 32 bits a pixel, with rows as wide as the picture or wider, described by
a fake sysfs folder)."""

import pytest

from firmware.screen import render
from hal.errors import DeviceError


def test_the_glass_shows_the_framebuffer_pixel_for_pixel(display_rig):
    display = display_rig.device
    render(display, "消费 SALE", ["请刷卡或插卡", "Swipe or insert card", "> 1 消费"], footer="取消:返回 CANCEL")
    assert display.title == "消费 SALE"
    assert display_rig.glass() == bytes(display.framebuffer)


def test_every_colour_survives_the_conversion(display_rig):
    display = display_rig.device
    fb = display.framebuffer
    # Each of the 65536 RGB565 colours once (the screen has 76800 pixels).
    for value in range(65536):
        fb[2 * value] = value & 0xFF
        fb[2 * value + 1] = value >> 8
    display.show("colours", [])
    assert display_rig.glass() == bytes(fb)


def test_only_changed_rows_are_written_and_the_padding_is_left_alone(display_rig):
    display = display_rig.device
    render(display, "A", ["one"])
    if not hasattr(display, "rows_written"):
        pytest.skip("the simulated display has no glass to write to")
    first = display.rows_written
    assert first == display.height
    display.framebuffer[100 * display.width * 2 + 10] ^= 0xFF   # one pixel of row 100
    display.show("A", ["one"])
    assert display.rows_written == first + 1
    assert display_rig.glass() == bytes(display.framebuffer)
    if hasattr(display_rig, "padding"):
        assert set(display_rig.padding()) <= {0xAA}


def test_an_update_pushes_its_rows_only_and_is_not_a_new_screen(display_rig):
    """Ink on the signing pad: a few rows redrawn, the screen the same one."""
    display = display_rig.device
    render(display, "A", ["one"])
    generation, frames = display.generation, display.frames
    written = getattr(display, "rows_written", None)
    fb = display.framebuffer
    stride = display.width * 2
    for y in (150, 151):
        fb[y * stride + 20] ^= 0xFF
    fb[10 * stride + 20] ^= 0xFF           # changed, but outside the rows pushed
    display.update(150, 152)
    assert (display.generation, display.frames, display.title) == (generation, frames + 1, "A")
    if written is not None:
        assert display.rows_written == written + 2
        glass = display_rig.glass()
        assert glass[150 * stride:152 * stride] == bytes(fb[150 * stride:152 * stride])
        assert glass[10 * stride:11 * stride] != bytes(fb[10 * stride:11 * stride])
    display.update(-5, 0)                   # nothing to push
    assert display.frames == frames + 1


def test_an_unsupported_depth_is_refused_clearly(tmp_path):
    from hal import open_device
    sysfs = tmp_path / "sysfs"
    sysfs.mkdir()
    (sysfs / "virtual_size").write_text("240,320")
    (sysfs / "bits_per_pixel").write_text("24")
    (sysfs / "stride").write_text("720")
    (tmp_path / "fb0").write_bytes(bytes(720 * 320))
    with pytest.raises(DeviceError, match="24 bits per pixel: only 16 .RGB565. and 32 .XRGB8888."):
        open_device("display", "fb:%s?sysfs=%s&tty=" % (tmp_path / "fb0", sysfs))


def test_missing_geometry_is_a_clear_error(tmp_path):
    from hal import open_device
    with pytest.raises(DeviceError, match="virtual_size"):
        open_device("display", "fb:%s?sysfs=%s" % (tmp_path / "fb0", tmp_path / "nothing"))


def test_the_console_cursor_is_hidden_where_the_mode_cannot_switch(tmp_path):
    rig_tty = tmp_path / "tty0"
    from tests.hal.rigs import FbDisplayRig
    rig = FbDisplayRig(tmp_path, 32, 0)
    try:
        # A plain file is no virtual console: KDSETMODE fails, the escape goes out.
        assert rig.device.console == "cursor hidden"
        assert rig_tty.read_bytes() == b"\x1b[?25l"
    finally:
        rig.close()


def test_cpython_writes_through_a_mapping_unless_told_to_seek(tmp_path):
    """The DRM fbdev emulation shows only what comes through mmap (DRIVERS.md)."""
    from tests.hal.rigs import FbDisplayRig
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    mapped = FbDisplayRig(tmp_path / "a", 32, 0)
    seeking = FbDisplayRig(tmp_path / "b", 32, 0, "seek")
    try:
        assert mapped.device.write_method == "mmap" and seeking.device.write_method == "seek"
    finally:
        mapped.close()
        seeking.close()
