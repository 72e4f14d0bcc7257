"""The keypad and touch contracts, for every backend (sim; evdev records of
16 and 24 bytes through a FIFO standing in for /dev/input/eventN)."""

import asyncio

import pytest

from hal.keypad import KEYS
from hal.touch import DOWN, MOVE, UP


def run(coro, timeout=10):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def failed(device):
    """Until the driver has noticed its device went away (at most 3 s)."""
    for _ in range(300):
        if device.failure:
            return device.failure
        await asyncio.sleep(0.01)
    return device.failure


def watch(rig):
    seen = []
    rig.device.set_listener(lambda event: seen.append(event))
    rig.device.start()
    return seen


def test_every_key_posts_once_per_press(keypad_rig):
    async def go():
        seen = watch(keypad_rig)
        for key in KEYS:
            keypad_rig.press(key)
        await keypad_rig.settle()
        assert seen == [("key", key) for key in KEYS]

    run(go())


def test_a_held_digit_types_once_a_held_clear_repeats(keypad_rig):
    keypad_rig.require("repeat")

    async def go():
        seen = watch(keypad_rig)
        keypad_rig.press("1", repeats=5)
        keypad_rig.press("CLEAR", repeats=3)
        await keypad_rig.settle()
        assert seen == [("key", "1")] + [("key", "CLEAR")] * 4
        assert keypad_rig.device.held == set()   # every release was seen

    run(go())


def test_keys_outside_the_map_and_other_events_are_ignored(keypad_rig):
    keypad_rig.require("scan_codes")
    e = keypad_rig.evdev

    async def go():
        seen = watch(keypad_rig)
        keypad_rig.raw((e.EV_KEY, 30, e.PRESS), (e.EV_KEY, 30, e.RELEASE),   # KEY_A: not ours
                       (e.EV_ABS, 0, 100), (e.EV_SYN, 0, 0), (4, 4, 458792))  # MSC_SCAN
        keypad_rig.press("ENTER")
        await keypad_rig.settle()
        assert seen == [("key", "ENTER")]

    run(go())


def test_an_unplugged_keypad_stops_with_a_reason(keypad_rig):
    keypad_rig.require("unplug")

    async def go():
        seen = watch(keypad_rig)
        keypad_rig.press("5")
        await keypad_rig.settle()
        keypad_rig.unplug()
        assert "went away" in await failed(keypad_rig.device)
        assert seen == [("key", "5")]

    run(go())


def test_an_overflow_mid_press_leaves_no_key_held_or_repeating(keypad_rig):
    """SYN_DROPPED while 5 and CLEAR are down, their releases among the
    events the kernel dropped: the report it tore (an ENTER press) is
    discarded, and with no EVIOCGKEY to ask (a FIFO) every key is taken as
    released: none stays held, a CLEAR repeat does not type until CLEAR is
    pressed again."""
    keypad_rig.require("overflow")

    async def go():
        seen = watch(keypad_rig)
        keypad_rig.press("5", release=False)
        keypad_rig.press("CLEAR", release=False)
        keypad_rig.overflow(torn_press="ENTER")
        keypad_rig.release("ENTER")
        keypad_rig.repeat("CLEAR", 3)
        keypad_rig.press("3")
        await keypad_rig.settle()
        assert seen == [("key", "5"), ("key", "CLEAR"), ("key", "3")]
        assert keypad_rig.device.held == set()

    run(go())


def test_after_an_overflow_the_keys_down_are_asked_of_the_kernel(keypad_rig):
    """Where EVIOCGKEY answers: a key found down whose press was dropped is
    posted once, a key found up is no longer held."""
    keypad_rig.require("overflow")

    async def go():
        seen = watch(keypad_rig)
        keypad_rig.press("5", release=False)
        keypad_rig.kernel_answers(keys_down=["ENTER"])
        keypad_rig.overflow(torn_press="ENTER")
        await keypad_rig.settle()
        assert seen == [("key", "5"), ("key", "ENTER")]
        assert keypad_rig.device.held == {"ENTER"}
        keypad_rig.release("ENTER")
        await keypad_rig.settle()
        assert keypad_rig.device.held == set()

    run(go())


def close_to(stroke, points):
    return len(stroke) == len(points) and all(abs(x - wx) <= 1 and abs(y - wy) <= 1
                                              for (x, y), (wx, wy) in zip(stroke, points))


def test_a_stroke_arrives_in_screen_coordinates(touch_rig):
    points = [(10, 20), (50, 60), (100, 200), (239, 319)]

    async def go():
        seen = watch(touch_rig)
        touch_rig.stroke(points)
        await touch_rig.settle()
        assert [phase for _, (phase, _x, _y) in seen] == [DOWN, MOVE, MOVE, MOVE, UP]
        strokes = touch_rig.device.take_strokes()
        assert len(strokes) == 1
        for (x, y), (want_x, want_y) in zip(strokes[0], points):
            assert abs(x - want_x) <= 1 and abs(y - want_y) <= 1
        assert touch_rig.device.take_strokes() == []

    run(go())


def test_two_strokes_stay_apart(touch_rig):
    async def go():
        watch(touch_rig)
        touch_rig.stroke([(5, 5), (6, 6)])
        touch_rig.stroke([(100, 100), (120, 130)])
        await touch_rig.settle()
        assert len(touch_rig.device.take_strokes()) == 2

    run(go())


def test_an_overflow_mid_stroke_ends_it_and_never_joins_the_next(touch_rig):
    """SYN_DROPPED mid-stroke, and in what the kernel dropped the finger
    lifted and came down elsewhere: the torn report is discarded, the
    first stroke ends where it was, and no line joins it to the second.
    With no EVIOCGKEY to ask (a FIFO) the finger is taken as lifted, so the
    rest of the second stroke is lost; the next touch is a stroke again."""
    touch_rig.require("overflow")
    first = [(10, 10), (30, 40)]
    last = [(50, 60), (70, 90)]

    async def go():
        seen = watch(touch_rig)
        touch_rig.stroke(first, up=False)
        touch_rig.overflow(torn_point=(200, 300))
        touch_rig.stroke([(150, 250), (160, 260)], down=False)
        touch_rig.stroke(last)
        await touch_rig.settle()
        assert [phase for _, (phase, _x, _y) in seen] == [DOWN, MOVE, UP, DOWN, MOVE, UP]
        strokes = touch_rig.device.take_strokes()
        assert len(strokes) == 2 and close_to(strokes[0], first) and close_to(strokes[1], last), strokes

    run(go())


def test_after_an_overflow_a_finger_still_down_starts_a_new_stroke(touch_rig):
    """Where EVIOCGKEY and EVIOCGABS answer (the finger down at 150,250):
    the stroke before the overflow ends, a new one starts where the finger
    is and goes on with it."""
    touch_rig.require("overflow")
    first = [(10, 10), (30, 40)]

    async def go():
        seen = watch(touch_rig)
        touch_rig.stroke(first, up=False)
        touch_rig.kernel_answers(touching=True, point=(150, 250))
        touch_rig.overflow(torn_point=(150, 250))
        touch_rig.stroke([(160, 260)], down=False)
        await touch_rig.settle()
        assert [phase for _, (phase, _x, _y) in seen] == [DOWN, MOVE, UP, DOWN, MOVE, UP]
        strokes = touch_rig.device.take_strokes()
        assert len(strokes) == 2 and close_to(strokes[0], first), strokes
        assert close_to(strokes[1], [(150, 250), (160, 260)]), strokes

    run(go())


def test_an_unplugged_touch_panel_stops_with_a_reason(touch_rig):
    touch_rig.require("unplug")

    async def go():
        watch(touch_rig)
        touch_rig.unplug()
        assert "went away" in await failed(touch_rig.device)

    run(go())


@pytest.mark.parametrize("size", [16, 24])
def test_input_event_layout(size):
    """struct input_event: timeval (two C longs), type u16, code u16, value s32."""
    from hal.linux import evdev
    record = evdev.encode_event(1, 28, 1, size, seconds=7, micros=9)
    assert len(record) == size
    assert record[size - 8:] == bytes.fromhex("01001c0001000000")
    assert evdev.decode_events(record + record[:5], size) == ([(1, 28, 1)], record[:5])


def test_the_state_queries_are_the_kernels_ioctl_numbers():
    """linux/input.h: EVIOCGKEY(len) = _IOC(_IOC_READ, 'E', 0x18, len),
    EVIOCGABS(abs) = _IOR('E', 0x40 + abs, struct input_absinfo), in the
    generic layout of x86_64, arm and aarch64."""
    from hal.linux import evdev

    def ioc(direction, nr, size):
        return direction << 30 | size << 16 | ord("E") << 8 | nr
    assert evdev.EVIOCGKEY == ioc(2, 0x18, (0x2FF + 1) // 8)
    assert evdev.EVIOCGABS + evdev.ABS_Y == ioc(2, 0x40 + 1, 6 * 4)
    assert evdev.EVIOCGRAB == ioc(1, 0x90, 4)


def test_a_node_that_cannot_answer_the_state_queries_says_none(tmp_path):
    """A FIFO (as in these tests) refuses EVIOCGKEY / EVIOCGABS: the
    drivers then fall back to "every key released, the finger lifted"."""
    from tests.hal.rigs import InputFifo
    from hal.linux.evdev import ABS_X, EventFile
    fifo = InputFifo(tmp_path, 24)
    events = EventFile(fifo.path, 24, grab=False)
    try:
        assert events.keys_down() is None and events.axis(ABS_X) is None
    finally:
        events.close()
        fifo.unplug()


def test_the_record_size_follows_the_interpreter_word():
    import struct
    from hal.linux import evdev
    assert evdev.default_record_size() == (24 if struct.calcsize("P") == 8 else 16)


def test_a_keymap_file_is_checked(tmp_path):
    from hal.errors import DeviceError
    from hal.linux import evdev
    good = tmp_path / "keys.json"
    good.write_text('{"2": "1", "28": "ENTER"}')
    assert evdev.load_keymap(str(good)) == {2: "1", 28: "ENTER"}
    bad = tmp_path / "bad.json"
    bad.write_text('{"2": "PAY"}')
    with pytest.raises(DeviceError, match="PAY"):
        evdev.load_keymap(str(bad))
    with pytest.raises(DeviceError, match="built-in"):
        evdev.load_keymap(str(tmp_path / "missing.json"))


def test_the_calibration_rounds_to_the_nearest_pixel():
    """QEMU's tablet sends pixel * 32767 // (width - 1); it must come back as that pixel."""
    from hal.linux.evdev import EvdevTouch
    touch = EvdevTouch.__new__(EvdevTouch)
    touch.width, touch.height, touch.swap_xy = 240, 320, False
    touch.calibration = (0, 32767, 0, 32767)
    for x, y in ((0, 0), (10, 20), (120, 160), (239, 319)):
        assert touch.to_screen(x * 32767 // 239, y * 32767 // 319) == (x, y)
    touch.calibration = (32767, 0, 0, 32767)   # mounted mirrored
    assert touch.to_screen(32767 - 10 * 32767 // 239, 0) == (10, 0)


def test_the_arm_bridge_counts_the_reports_the_panel_posts():
    """The virtual handset's `sign` waits for as many touch events as the
    strokes give (emulator/qemu/handset.touch_reports): a move to the
    pixel the finger is on posts none."""
    from emulator.qemu.handset import touch_reports
    from hal.sim.touch import SimTouch
    strokes = [[[10, 10], [10, 10], [12, 10], [12, 10], [13, 11]], [[100, 200]], [[5, 5], [6, 6]]]
    touch = SimTouch()
    posted = []
    touch.set_listener(posted.append)
    for stroke in strokes:
        touch.press_at(*stroke[0])
        for point in stroke[1:]:
            touch.move_to(*point)
        touch.lift()
    assert touch.reports == len(posted) == touch_reports(strokes) == 9
