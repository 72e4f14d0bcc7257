"""The emulator's command language (emulator/commands.py) on a running
handset: expect/fail, screenshot compare and bless, timeout, hold/release,
the world's switches, and the inspector's frames."""

import os
import subprocess
import sys

import pytest
from PIL import Image

from emulator.commands import COMMANDS, CommandError, CommandRunner, ScriptTimeout, help_text
from emulator.world import World
from hal.sim.deck import find_card

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def world(make_handset, host):
    handset = make_handset(start=False)
    world = World(handset, host)
    handset.start()
    yield world
    world.close()
    # a clean stop closes the loop and its sockets (a power cut keeps them:
    # a long pytest session must stay well under select()'s 1024 descriptors)
    world.handset.stop()


@pytest.fixture
def runner(world, tmp_path):
    out = []
    runner = CommandRunner(world, str(tmp_path / "out"), echo=out.append, script_dir=str(tmp_path / "refs"))
    runner.echoed = out
    return runner


def run(runner, *lines):
    for line in lines:
        runner.run_line(line)


def test_every_command_is_in_the_help():
    text = help_text()
    for name in COMMANDS:
        assert "\n  " + name in "\n" + text


def test_expect_is_wait_and_fail_stops_at_the_text(runner):
    run(runner, "idle", "1234", "expect 12.34", "fail Tear off", "enter", "expect Swipe")
    with pytest.raises(CommandError) as caught:
        run(runner, "swipe debit-mag", "wait Sale approved")   # the tear comes first
    assert "fail text 'Tear off' appeared" in str(caught.value)
    assert not isinstance(caught.value, ScriptTimeout)


def test_fail_text_seen_by_a_later_command(runner):
    run(runner, "idle", "fail Enter amount")
    with pytest.raises(CommandError, match="fail text 'Enter amount'"):
        run(runner, "5", "sleep 5000")    # seen after the key, or during the sleep at the latest


def test_screenshot_compare_bless_and_tolerance(runner, tmp_path):
    refs = tmp_path / "refs"
    run(runner, "idle")
    with pytest.raises(CommandError, match="no reference .*--bless"):
        run(runner, "screenshot idle compare idle-ref.png")
    runner.bless = True
    run(runner, "screenshot idle compare idle-ref.png")
    assert (refs / "idle-ref.png").exists() and "written (--bless)" in runner.echoed[-1]
    runner.bless = False
    run(runner, "screenshot idle compare idle-ref.png")
    assert "matches" in runner.echoed[-1]
    # Change three pixels of the reference: the mismatch is counted and located.
    image = Image.open(refs / "idle-ref.png").convert("RGB")
    for x in (7, 8, 9):
        image.putpixel((x, 100), (1, 2, 3))
    image.save(refs / "idle-ref.png")
    with pytest.raises(CommandError) as caught:
        run(runner, "screenshot idle compare idle-ref.png")
    assert "3 pixels differ, the first at (7, 100)" in str(caught.value) and "#010203" in str(caught.value)
    out = tmp_path / "out"
    assert Image.open(out / "idle.actual.png").size == (240, 320)
    diff = Image.open(out / "idle.diff.png").convert("RGB")
    assert diff.getpixel((8, 100)) == (255, 0, 0) and diff.getpixel((20, 100)) != (255, 0, 0)
    run(runner, "screenshot idle compare idle-ref.png tolerance 3")
    assert "3 pixels differ, tolerance 3" in runner.echoed[-1]
    with pytest.raises(CommandError, match="screenshot NAME"):
        run(runner, "screenshot idle compare")


def test_timeout_cuts_a_wait_short_and_is_its_own_error(runner):
    run(runner, "idle", "timeout 300")
    with pytest.raises(ScriptTimeout):
        run(runner, "wait Something that never comes")
    runner.deadline = None
    with pytest.raises(CommandError) as caught:
        runner.run_line("timeout soon")
    assert not isinstance(caught.value, ScriptTimeout)


def test_hold_shows_the_key_down_and_release_lets_it_go(runner, world):
    run(runner, "idle", "hold 5")
    assert world.held() == {"5"}
    run(runner, "wait Enter amount", "release 5")
    assert world.held() == set()
    run(runner, "hold CLEAR 50")
    assert world.held() == set()
    with pytest.raises(CommandError, match="not held"):
        run(runner, "release ENTER")
    with pytest.raises(CommandError, match="unknown key"):
        run(runner, "hold SHIFT 10")
    run(runner, "cancel", "idle")


def test_world_switches_from_commands(runner, world, host):
    run(runner, "idle", "fault decline:0200:1:51")
    assert [f.kind for f in host.faults.pending()] == ["decline"]
    run(runner, "fault clear")
    assert host.faults.pending() == []
    with pytest.raises(CommandError, match="unknown fault kind"):
        run(runner, "fault explode")
    run(runner, "host-down")
    assert world.status()["host"] == "down"
    run(runner, "host-up", "modem-off")
    assert world.status()["modem"] is False
    run(runner, "modem-on", "cover-open")
    assert world.status()["paper"] is False and world.status()["cover_open"]
    run(runner, "cover-close", "lang zh", "wait 刷卡")
    run(runner, "lang en", "wait Swipe, insert or tap")
    run(runner, "power-cut")
    assert not world.status()["power"]
    with pytest.raises(CommandError, match="power it on"):
        run(runner, "paper-out")
    run(runner, "power-on", "idle")


def test_the_inspector_sees_each_frame_masked_with_its_mac_checked(runner, world):
    card = find_card("debit-mag")
    run(runner, "idle", "1234", "enter", "wait Swipe", "swipe debit-mag", "wait Sale approved", "idle")
    frames = world.frames
    assert [f["mti"] for f in frames[-2:]] == ["0200", "0210"]
    request, reply = frames[-2:]
    assert (request["direction"], reply["direction"]) == ("out", "in")
    assert reply["mac"] == "ok" and request["mac"] == "ok"
    fields = dict(request["fields"])
    assert fields[4] == "000000001234"
    text = repr(frames)
    assert card.pan not in text and card.pan[:6] + "******" in text
    run(runner, "frames 2")
    assert "0210  MAC ok" in "\n".join(runner.echoed)


def test_a_bad_mac_shows_in_the_inspector(runner, world):
    run(runner, "idle", "fault bad_mac:0200", "1234", "enter", "wait Swipe", "swipe debit-mag", "idle")
    replies = [f for f in world.frames if f["mti"] == "0210"]
    assert replies[0]["mac"] == "BAD"


def run_cli(tmp_path, script_text, *extra):
    script = tmp_path / "script.txt"
    script.write_text(script_text, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "emulator.cli", "--lang", "en", "--data", str(tmp_path / "data"),
                           "--script", str(script), "--out", str(tmp_path / "out")] + list(extra),
                          cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_script_exit_codes_timeout_42_failure_1_and_bless(tmp_path):
    result = run_cli(tmp_path, "idle\ntimeout 200\nwait Never\n")
    assert result.returncode == 42, result.stderr
    assert "line 3" in result.stderr and "Traceback" not in result.stderr
    result = run_cli(tmp_path, "idle\nscreenshot idle compare golden/idle.png\n")
    assert result.returncode == 1 and "--bless" in result.stderr
    result = run_cli(tmp_path, "idle\nscreenshot idle compare golden/idle.png\n", "--bless")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "golden" / "idle.png").exists()   # beside the script


def test_external_host_with_record_records_on_the_terminal_side(tmp_path, host):
    from emulator.host.record import read_record
    record = tmp_path / "terminal.log"
    result = run_cli(tmp_path, "idle\n1234\nenter\nwait Swipe\nswipe debit-mag\nwait Sale approved\nidle\n",
                     "--host", "127.0.0.1:%d" % host.port, "--record", str(record))
    assert result.returncode == 0, result.stderr
    frames = read_record(record)
    assert [d for _, d, _ in frames][-2:] == ["in", "out"]     # as the host sees them: in = to the host
    assert len(frames) >= 4


def test_sign_and_tap_draw_on_the_signing_screen(runner, world):
    """The console's sign/tap, and the window's finger (World.touch_*: the
    mouse pressed, dragged and released on the screen)."""
    from firmware import signpad
    h = world.handset
    h.call(h.app.settings.update, {"esign": True})
    x, y, w, height = signpad.layout(240, 320)["confirm"]
    run(runner, "idle", "2500", "enter", "expect Swipe", "swipe debit-mag", "expect sign in the box",
        "sign 30,200 60,150 90,200 / 120,200 150,160")
    world.touch_down(160, 150)            # the window's mouse: press, drag, release
    world.touch_move(200, 240)
    world.touch_move(220, 400)            # dragged off the bottom: stays on the pad's edge
    world.touch_up()
    fb = h.call(lambda: bytes(h.app.devices.display.framebuffer))
    assert fb[(150 * 240 + 160) * 2] | fb[(150 * 240 + 160) * 2 + 1] << 8 == signpad.INK
    with pytest.raises(CommandError, match="X,Y in screen pixels"):
        run(runner, "sign 30,200 x")
    with pytest.raises(CommandError, match="tap takes one point"):
        run(runner, "tap 1,2 3,4")
    run(runner, "tap %d,%d" % (x + w // 2, y + height // 2), "expect Sale approved", "idle")
    assert h.journal()[-1]["status"] == "approved"


def test_the_window_maps_a_click_on_the_screen_to_its_pixel():
    from emulator.compositor import Compositor
    compositor = Compositor(2)
    left, top, right, bottom = compositor.screen_box
    assert compositor.screen_point(left, top) == (0, 0)
    assert compositor.screen_point(left + 21, top + 101) == (10, 50)
    assert compositor.screen_point(right - 1, bottom - 1) == (239, 319)
    assert compositor.screen_point(right, top) is None
    assert compositor.screen_point(right + 40, bottom + 40, clamp=True) == (239, 319)
    assert compositor.key_at(left + 21, top + 101) is None    # the screen is no key
