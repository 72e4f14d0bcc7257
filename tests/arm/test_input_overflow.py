"""Input overflow (SYN_DROPPED) on the virtual ARM handset's real evdev
nodes, through Debian's arm64 MicroPython and its `ffi`: the kernel answers
the drivers' EVIOCGKEY / EVIOCGABS (hal.compat.ioctl_read), and when the
app's loop is held still (SIGSTOP from the console: the kernel queues on,
then drops) while keys and the tablet go on, the drivers take the state
anew: a key pressed in what was dropped types once and is not left held, a
signature's strokes are never joined by a straight line.
docs/DRIVERS.md "Input overflow: SYN_DROPPED"."""

import time

import pytest
from PIL import Image

from firmware import signpad
from tests.arm.test_virtual_handset import call, signing_screen

INK = (0, 0, 165)        # signpad.INK (RGB565 0x0014) as the GPU widens it
STATE_TIMEOUT_S = 60
# While the firmware is held: far more events than the kernel keeps for a
# reader (64 for the keyboard, 128 for the tablet, as evdev sizes them from
# the devices' capabilities; a tap here is 4 events, a move 2-3), so the
# press or the touch that went down first is surely among those dropped.
FLOOD_KEY_PRESSES = 200
FLOOD_POINTS = 300
# Between two QMP events of a flood: QEMU drops a whole report when the
# guest kernel has not yet given back its virtqueue buffers.
FLOOD_PAUSE_S = 0.002
POINT_PAUSE_S = 0.02     # a finger the firmware keeps up with


def input_state(handset):
    return call(handset, "input_state")["devices"]


def wait_state(handset, check, what):
    """The input_state once check(state) holds (the guest takes a moment
    to read what QMP sent)."""
    deadline = time.monotonic() + STATE_TIMEOUT_S
    while True:
        state = input_state(handset)
        if check(state):
            return state
        if time.monotonic() > deadline:
            pytest.fail("%s: not within %d s; input_state: %s; touch reports: %s; console: %s"
                        % (what, STATE_TIMEOUT_S, state, call(handset, "hello").get("touch_reports"),
                           handset.console_tail()))
        time.sleep(0.2)


def test_the_guest_kernel_answers_the_drivers_state_queries(handset):
    """EVIOCGKEY on the keyboard's and the tablet's nodes, EVIOCGABS of the
    tablet's ABS_X/ABS_Y, called as a resync calls them: two keys held on
    the virtual keyboard are two keys down, the tablet's pen is where QMP
    put it and down while its button is."""
    call(handset, "wait_idle", timeout_ms=30000)
    state = input_state(handset)
    assert state["keypad"]["ioctl"] and state["touch"]["ioctl"], state
    assert state["scanner"] is None   # the virtual handset's scanner is the simulated one
    assert state["keypad"]["keys_down"] == 0 and state["keypad"]["held"] == 0, state
    vm = handset.vm
    vm.key("1", True)
    vm.key("kp_2", True)                 # KEY_KP2: 2 in the pc key map
    try:
        wait_state(handset, lambda s: s["keypad"]["keys_down"] == 2 and s["keypad"]["held"] == 2,
                   "1 and 2 held down")
    finally:
        vm.key("1", False)
        vm.key("kp_2", False)
    wait_state(handset, lambda s: s["keypad"]["keys_down"] == 0 and s["keypad"]["held"] == 0, "both keys up")
    call(handset, "wait_text", text="0.12", timeout_ms=15000)
    vm.send_keys(["esc"])
    call(handset, "wait_idle", timeout_ms=15000)

    def touch_is(x, y, down):
        return lambda s: (s["touch"]["x"], s["touch"]["y"], s["touch"]["down"], s["touch"]["touching"]) == (
            x, y, down, down)
    vm.pointer(60, 100)
    wait_state(handset, touch_is(60, 100, False), "the pen up at 60,100")
    vm.pointer(180, 250, True)
    try:
        wait_state(handset, touch_is(180, 250, True), "the pen down at 180,250")
    finally:
        vm.pointer(180, 250, False)
    wait_state(handset, touch_is(180, 250, False), "the pen lifted at 180,250")
    call(handset, "wait_idle", timeout_ms=15000)


def test_a_key_pressed_while_the_app_was_held_types_once_and_is_not_left_held(handset):
    """Held still, the firmware misses 1 going down and a flood of A (a key
    outside the map) after it: the kernel drops them all. Let go, the
    keypad reads SYN_DROPPED, asks the kernel (EVIOCGKEY), finds 1 down and
    types it once; released, nothing stays held."""
    vm = handset.vm
    call(handset, "wait_idle", timeout_ms=30000)
    before = call(handset, "input_state")
    overflows = before["devices"]["keypad"]["overflows"]
    handset.freeze_firmware()
    try:
        vm.key("1", True)
        for _ in range(FLOOD_KEY_PRESSES):
            vm.key("a", True)
            time.sleep(FLOOD_PAUSE_S)
            vm.key("a", False)
            time.sleep(FLOOD_PAUSE_S)
    finally:
        handset.thaw_firmware()
    try:
        call(handset, "wait_text", text="0.01", since=before["screens"], timeout_ms=30000)
        state = wait_state(handset, lambda s: s["keypad"]["overflows"] > overflows, "an overflow read")
        assert state["keypad"]["keys_down"] == 1 and state["keypad"]["held"] == 1, state
    finally:
        vm.key("1", False)
    wait_state(handset, lambda s: s["keypad"]["keys_down"] == 0 and s["keypad"]["held"] == 0, "1 released")
    lines = call(handset, "screen")["lines"]
    assert any("0.01" in line for line in lines), lines   # typed once: no 0.11
    vm.send_keys(["esc"])
    call(handset, "wait_idle", timeout_ms=15000)


def glass(handset, path):
    handset.vm.screendump(str(path))
    return Image.open(path).convert("RGB")


def wait_ink(handset, path, points):
    """The glass once every point has ink (the guest draws a moment later)."""
    deadline = time.monotonic() + STATE_TIMEOUT_S
    while True:
        image = glass(handset, path)
        missing = [p for p in points if image.getpixel(p) != INK]
        if not missing:
            return image
        if time.monotonic() > deadline:
            pytest.fail("no ink on the glass at %s" % missing)
        time.sleep(0.2)


def stroke(vm, points, down=True, up=True, pause_s=POINT_PAUSE_S):
    for i, (x, y) in enumerate(points):
        vm.pointer(x, y, True if down and i == 0 else None)
        time.sleep(pause_s)
    if up:
        vm.pointer(points[-1][0], points[-1][1], False)
        time.sleep(pause_s)


def test_a_signature_through_an_overflow_has_no_line_joining_two_strokes(handset, tmp_path):
    """On the signing screen: stroke A on the left, drawn. Held still, the
    firmware misses A going on and lifting, stroke B in the middle (long:
    the kernel drops most of it) and lifting, stroke C coming down on the
    right (queued still, with B's last moves, when the firmware goes on).
    Let go, the touch driver ends A, drops what is still queued (older
    than the state), finds the pen down (EVIOCGKEY) and where (EVIOCGABS),
    and C goes on from there: ink on C's last part, and none in the gaps
    between A and B and between B and C, where a line joining two strokes
    would run."""
    vm = handset.vm
    path = tmp_path / "glass.png"
    pad_x, pad_y, pad_w, pad_h = signpad.layout(240, 320)["pad"]
    stroke_a = [(20 + 6 * i, 140) for i in range(11)]                  # x 20..80
    stroke_b = [(110 + 4 * (i % 11), 180) for i in range(FLOOD_POINTS)]  # x 110..150
    stroke_c = [(190 + 2 * i, 240) for i in range(8)]                  # x 190..204: still queued
    stroke_c_after = [(204 + 2 * i, 240 + 2 * i) for i in range(9)]    # to 220,256, the firmware going
    gaps = ((88, 102), (158, 182))                                     # columns no stroke crosses
    try:
        signing_screen(handset)
        stroke(vm, stroke_a, up=False)
        wait_ink(handset, path, stroke_a)
        overflows = input_state(handset)["touch"]["overflows"]
        handset.freeze_firmware()
        try:
            more_a = [stroke_a[abs(10 - i % 20)] for i in range(FLOOD_POINTS // 3)]
            stroke(vm, more_a, down=False, pause_s=FLOOD_PAUSE_S)           # A goes on, and lifts
            stroke(vm, stroke_b, pause_s=FLOOD_PAUSE_S)                     # B, and lifts
            stroke(vm, stroke_c, up=False, pause_s=FLOOD_PAUSE_S)           # C down, moving
        finally:
            handset.thaw_firmware()
        state = wait_state(handset, lambda s: s["touch"]["overflows"] > overflows, "an overflow read")
        touch = state["touch"]
        assert (touch["x"], touch["y"], touch["down"]) == stroke_c[-1] + (True,), state
        assert state["touch"]["touching"], state   # a stroke again, though C went down unseen
        stroke(vm, stroke_c_after, down=False)
        image = wait_ink(handset, path, stroke_c_after)
        for first, last in gaps:
            joining = [(x, y) for x in range(first, last + 1) for y in range(pad_y, pad_y + pad_h)
                       if image.getpixel((x, y)) == INK]
            assert not joining, "a line joins two strokes: ink at %s" % joining[:10]
        assert all(image.getpixel(p) == INK for p in stroke_a), "stroke A lost its ink"
        state = wait_state(handset, lambda s: not s["touch"]["touching"], "the pen lifted")
        assert state["touch"]["down"] is False, state
        x, y, w, h = signpad.layout(240, 320)["confirm"]
        vm.touch(x + w // 2, y + h // 2)
        call(handset, "wait_text", text="Sale approved", timeout_ms=120000)
        call(handset, "wait_idle", timeout_ms=60000)
        assert call(handset, "journal")["records"][-1]["status"] == "approved"
    finally:
        call(handset, "setting", name="esign", value=False)
