"""The emulator's command language, shared by the console, script files
(`pos-emulator --script FILE`) and the window (its buttons run the same
commands). `help` lists them; docs/EMULATOR.md explains each.

A table, COMMANDS, maps each name to a small function and its help line;
ALIASES gives the short names. A line that is only digits (and one '.')
types them. A script fails (exit 1) at the first command that fails, and
exits 42 when its `timeout` runs out, as simulator CLIs do.
"""

import asyncio
import os
import time

from firmware import escpos
from hal.keypad import KEYS
from hal.sim.deck import test_deck
from emulator.world import WorldError

TIMEOUT_EXIT = 42          # a script whose `timeout` ran out exits with this code
WAIT_MS = 15000            # a wait's own limit (when no `timeout` is shorter)
IDLE_MS = 30000

KEY_WORDS = {"enter": "ENTER", "e": "ENTER", "cancel": "CANCEL", "c": "CANCEL", "clear": "CLEAR",
             "menu": "MENU", "m": "MENU", "up": "UP", "down": "DOWN"}


class CommandError(Exception):
    """A command that failed; the message is for the user."""


class ScriptTimeout(CommandError):
    """The script's `timeout` ran out."""


def screen_box(handset):
    """The screen as a text box, for a console."""
    screen = handset.screen()
    width = 32
    rows = ["+" + "-" * width + "+", "|" + screen["title"].center(width - _wide(screen["title"]))[:width] + "|",
            "+" + "-" * width + "+"]
    for line in screen["lines"]:
        rows.append("|" + line + " " * max(0, width - len(line) - _wide(line)) + "|")
    rows.append("+" + "-" * width + "+")
    return "\n".join(rows)


def _wide(text):
    return sum(1 for ch in text if ord(ch) > 0x2E7F)


# -- the commands: each takes (runner, argument text) ---------------------------------

def _key(runner, rest):
    if rest not in KEYS:
        raise CommandError("unknown key %r; keys: %s" % (rest, " ".join(KEYS)))
    runner.press(rest)


def _card(action):
    def run(runner, name):
        names = [c.name for c in test_deck()]
        if name not in names:
            raise CommandError("no test card %r; cards: %s" % (name, ", ".join(names)))
        runner.handset.card(action, name)
    return run


def _remove(runner, rest):
    runner.handset.card("remove")


def parse_strokes(text):
    """'30,200 40,170 55,160 / 100,220 130,170' -> [[[30, 200], [40, 170],
    [55, 160]], [[100, 220], [130, 170]]]: points x,y in screen pixels,
    strokes apart by '/'."""
    strokes = []
    for part in text.split("/"):
        stroke = []
        for word in part.split():
            x, comma, y = word.partition(",")
            if not (comma and x.isdigit() and y.isdigit()):
                raise CommandError("a point is X,Y in screen pixels (like 30,200), not %r" % word)
            stroke.append([int(x), int(y)])
        if not stroke:
            raise CommandError("sign X,Y X,Y ... [/ X,Y ...]: a stroke with no point")
        strokes.append(stroke)
    return strokes


def _sign(runner, rest):
    runner.sign(parse_strokes(rest))


def _tap(runner, rest):
    strokes = parse_strokes(rest)
    if len(strokes) != 1 or len(strokes[0]) != 1:
        raise CommandError("tap takes one point X,Y, not %r" % rest)
    runner.sign(strokes)


def _set(runner, rest):
    """set NAME=VALUE: a setting for this run, as --set gives it at start."""
    from emulator.cli import parse_settings
    from firmware.settings import SettingsError
    try:
        values = parse_settings([rest])
        runner.handset.call(runner.handset.app.settings.update, values)
    except (ValueError, SettingsError) as e:
        raise CommandError(str(e).replace("--set", "set"))


def _wait(runner, rest):
    if not rest:
        raise CommandError("wait needs the text to wait for")
    runner.wait(rest)


def _fail(runner, rest):
    if not rest:
        raise CommandError("fail needs a text")
    runner.fails.append((rest, runner.handset.call(runner.handset.driver.screens)))


def _idle(runner, rest):
    runner.wait_idle()


def _timeout(runner, rest):
    runner.deadline = time.monotonic() + _ms(rest, "timeout") / 1000


def _sleep(runner, rest):
    runner.sleep(_ms(rest or "100", "sleep"))


def _hold(runner, rest):
    name, _, ms = rest.partition(" ")
    if name not in KEYS:
        raise CommandError("unknown key %r; keys: %s" % (name, " ".join(KEYS)))
    runner.world.key_down(name)
    if ms.strip():
        try:
            runner.sleep(_ms(ms.strip(), "hold"))
        finally:
            runner.world.key_up(name)


def _release(runner, rest):
    if rest not in runner.world.held():
        raise CommandError("key %r is not held (hold KEY first)" % rest)
    runner.world.key_up(rest)


def _png(runner, rest):
    runner.save_screen(rest or "screen.png")


def _screenshot(runner, rest):
    words = rest.split()
    if not words:
        raise CommandError("screenshot NAME [compare REF] [tolerance N]")
    name, options = words[0], words[1:]
    reference, tolerance = None, 0
    while options:
        if options[0] == "compare" and len(options) > 1:
            reference = options[1]
        elif options[0] == "tolerance" and len(options) > 1 and options[1].isdigit():
            tolerance = int(options[1])
        else:
            raise CommandError("screenshot NAME [compare REF] [tolerance N], not %r" % rest)
        options = options[2:]
    runner.screenshot(name, reference, tolerance)


def _paper(runner, rest):
    runner.save_paper(rest or "receipt.png")


def _receipt(runner, rest):
    runner.echo(runner.last_receipt_text())


def _switch(method, *args):
    def run(runner, rest):
        try:
            getattr(runner.world, method)(*args)
        except WorldError as e:
            raise CommandError(str(e))
    return run


def _fault(runner, rest):
    """fault KIND[:MTI[:COUNT[:ARG]]], as pos-host --fault takes it; or fault clear."""
    from emulator.host.faults import parse_fault_spec
    if rest == "clear":
        runner.world.clear_faults()
        return
    try:
        spec = parse_fault_spec(rest)
    except ValueError as e:
        raise CommandError(str(e))
    runner.world.fault(**spec)


def _lang(runner, rest):
    try:
        runner.world.set_lang(rest)
    except WorldError as e:
        raise CommandError(str(e))


def _cards(runner, rest):
    for card in test_deck():
        runner.echo("  %-12s %s" % (card.name, card.label))


def _screen(runner, rest):
    runner.echo(screen_box(runner.handset))


def _frames(runner, rest):
    for frame in runner.world.frames[-int(rest or "10"):]:
        runner.echo(format_frame(frame))


def _log(runner, rest):
    lines = runner.handset.call(lambda: list(runner.handset.app.log.lines))
    for line in lines[-int(rest or "20"):]:
        runner.echo(line)


def _help(runner, rest):
    runner.echo(help_text())


def _ms(text, command):
    if not text.isdigit():
        raise CommandError("%s takes milliseconds, not %r" % (command, text))
    return int(text)


# name -> (function, arguments, what it does). Short names are in ALIASES.
COMMANDS = {
    "key": (_key, "KEY", "press a key by name (" + " ".join(KEYS) + ")"),
    "enter": (lambda r, a: r.press("ENTER"), "", "ENTER (also: e)"),
    "cancel": (lambda r, a: r.press("CANCEL"), "", "CANCEL (also: c)"),
    "clear": (lambda r, a: r.press("CLEAR"), "", "CLEAR"),
    "menu": (lambda r, a: r.press("MENU"), "", "MENU (also: m)"),
    "up": (lambda r, a: r.press("UP"), "", "UP"),
    "down": (lambda r, a: r.press("DOWN"), "", "DOWN"),
    "hold": (_hold, "KEY [MS]", "hold a key down (for MS, else until release)"),
    "release": (_release, "KEY", "let a held key go"),
    "swipe": (_card("swipe"), "CARD", "swipe a test card (cards lists them)"),
    "insert": (_card("insert"), "CARD", "insert a chip card"),
    "tap": (_card("tap"), "CARD", "tap a contactless card"),
    "remove": (_remove, "", "take the inserted card out"),
    "sign": (_sign, "X,Y X,Y ... [/ X,Y ...]", "draw on the touch panel: strokes of screen pixels"),
    "tap": (_tap, "X,Y", "a finger on the screen at X,Y (a button of the signing screen)"),
    "wait": (_wait, "TEXT", "wait until TEXT is on the screen (also: expect)"),
    "fail": (_fail, "TEXT", "fail the script at once if TEXT ever appears from now on"),
    "idle": (_idle, "", "wait for the idle screen"),
    "timeout": (_timeout, "MS", "the rest of the script must end within MS (else exit 42)"),
    "sleep": (_sleep, "MS", "pause"),
    "screen": (_screen, "", "print the screen as text"),
    "png": (_png, "FILE", "save the screen as a PNG"),
    "screenshot": (_screenshot, "NAME [compare REF] [tolerance N]",
                   "save NAME.png; compare with REF (writes NAME.actual.png, NAME.diff.png)"),
    "paper": (_paper, "FILE", "save the last receipt as a PNG"),
    "receipt": (_receipt, "", "print the last receipt's text"),
    "paper-out": (_switch("paper", "out"), "", "take the paper out"),
    "paper-in": (_switch("paper", "in"), "", "load paper"),
    "cover-open": (_switch("cover", True), "", "open the printer cover"),
    "cover-close": (_switch("cover", False), "", "close the printer cover"),
    "modem-off": (_switch("modem", False), "", "a dead modem"),
    "modem-on": (_switch("modem", True), "", "the modem back"),
    "host-down": (_switch("host_state", "down"), "", "stop the host simulator"),
    "host-up": (_switch("host_state", "up"), "", "start it again"),
    "fault": (_fault, "KIND[:MTI[:COUNT[:ARG]]]",
              "arm a host fault as pos-host --fault does (delay, drop, drop_before, no_reply,"
              " bad_mac, garbage, decline, unsigned, refuse; ARG: ms or F39), or fault clear"),
    "power-cut": (_switch("power_cut"), "", "cut the power (no clean shutdown)"),
    "power-on": (_switch("power_on"), "", "boot again on the same data"),
    "lang": (_lang, "zh|en", "switch the screen language"),
    "set": (_set, "NAME=VALUE", "change a setting for this run (as --set), e.g. set esign=true"),
    "cards": (_cards, "", "list the test deck"),
    "frames": (_frames, "[N]", "the last N ISO 8583 frames (card numbers masked)"),
    "log": (_log, "[N]", "the last N lines of the firmware log"),
    "help": (_help, "", "this list"),
}

ALIASES = {"e": "enter", "c": "cancel", "m": "menu", "expect": "wait"}


def help_text():
    rows = ["  1234                 type digits (an amount: 12.34)"]
    for name, (_, arguments, what) in COMMANDS.items():
        rows.append("  %-20s %s" % ((name + " " + arguments).strip(), what))
    rows.append("  # ...                a comment")
    return "\n".join(rows)


def format_frame(frame):
    """One inspector entry as text lines."""
    arrow = "->" if frame["direction"] == "out" else "<-"
    head = "%s %s %s  MAC %s" % (frame["time"], arrow, frame["mti"], frame["mac"])
    if frame.get("error"):
        return head + "\n    " + frame["error"]
    return "\n".join([head] + ["    %3d  %s" % (n, text) for n, text in frame["fields"]])


class CommandRunner:
    """Runs command lines against a World. `script_dir`: where a script's
    relative reference images are; `bless`: write missing (or changed)
    references instead of failing."""

    def __init__(self, world, out_dir=".", echo=print, script_dir=".", bless=False):
        self.world = world
        self.out_dir = out_dir
        self.echo = echo
        self.script_dir = script_dir
        self.bless = bless
        self.fails = []          # (text, screen number when armed)
        self.deadline = None     # time.monotonic() by which the script must end

    @property
    def handset(self):
        return self.world.handset

    def run_line(self, line):
        """Run one command. Raises CommandError with a message for the user
        (ScriptTimeout when the script's timeout ran out)."""
        line = line.strip()
        if not line or line.startswith("#"):
            return
        self._check_deadline()
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        name = ALIASES.get(word.lower(), word.lower())
        if word.isdigit() or (word.replace(".", "").isdigit() and word.count(".") == 1):
            self.handset.keys(word)
        elif name in COMMANDS:
            try:
                COMMANDS[name][0](self, rest)
            except WorldError as e:
                raise CommandError(str(e))
        else:
            raise CommandError("unknown command %r (type 'help')" % word)
        if self.fails and self.handset.running:
            self._check_fails()

    def press(self, name):
        self.world.key_down(name)
        self.world.key_up(name)

    def sign(self, strokes):
        if self.handset.running and self.handset.app.devices.touch is None:
            raise CommandError("this handset has no touch panel")
        self.handset.sign(strokes)

    # -- waiting (with the fail texts watched and the timeout kept) -----------------

    def _check_deadline(self):
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise ScriptTimeout("timeout: the script ran out of time")

    def _limit(self, own_ms):
        """-> (ms to wait, True when the script's timeout is what limits it)."""
        if self.deadline is None:
            return own_ms, False
        left = int((self.deadline - time.monotonic()) * 1000)
        if left <= own_ms:
            return max(left, 0), True
        return own_ms, False

    def _check_fails(self, on_loop=False):
        """Raise CommandError if a fail text was on a screen shown since it
        was armed. `on_loop`: called on the handset's loop (no call())."""
        driver = self.handset.driver
        for text, since in self.fails:
            screens = driver.screens_since(since) if on_loop else self.handset.call(driver.screens_since, since)
            for number, screen in screens:
                if text in screen:
                    raise CommandError("fail text %r appeared; screen: %s" % (text, screen.replace("\n", " | ")))

    async def _watch_fails(self):
        """Ends (raising CommandError) when a fail text appears."""
        display = self.handset.app.devices.display
        while True:
            self._check_fails(on_loop=True)
            display.changed.clear()
            await display.changed.wait()

    def _wait_for(self, make_coro, timeout_ms, what):
        """Run make_coro(timeout_ms) on the handset's loop, racing the fail
        texts. A wait cut short by the script's timeout is a ScriptTimeout."""
        timeout_ms, by_deadline = self._limit(timeout_ms)

        async def race():
            tasks = [asyncio.ensure_future(make_coro(timeout_ms))]
            if self.fails:
                tasks.append(asyncio.ensure_future(self._watch_fails()))
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
            return done.pop().result()

        try:
            return self.handset.run(race(), timeout_ms / 1000 + 10)
        except CommandError:
            raise
        except Exception as e:  # noqa: BLE001 - DriverError carries the screen
            if by_deadline:
                raise ScriptTimeout("timeout while waiting for %s: %s" % (what, e))
            raise CommandError(str(e))

    def wait(self, text):
        self._wait_for(lambda ms: self.handset.driver.wait_text(text, ms), WAIT_MS, repr(text))

    def wait_idle(self):
        self._wait_for(lambda ms: self.handset.driver.wait_idle(ms), IDLE_MS, "the idle screen")

    def sleep(self, ms):
        limit, by_deadline = self._limit(ms)
        if self.fails and self.handset.running:
            self._wait_for(lambda m: asyncio.sleep(m / 1000), limit, "sleep")
        else:
            time.sleep(limit / 1000)
        if by_deadline:
            raise ScriptTimeout("timeout: the script ran out of time during sleep %d" % ms)

    # -- files --------------------------------------------------------------------------

    def _path(self, name):
        path = name if os.path.isabs(name) else os.path.join(self.out_dir, name)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return path

    def screen_image(self):
        from emulator.png import framebuffer_to_image
        width, height, framebuffer = self.handset.call(self.handset.driver.framebuffer)
        return framebuffer_to_image(framebuffer, width, height)

    def save_screen(self, name):
        path = self._path(name)
        self.screen_image().save(path, "PNG")
        self.echo("screen saved to %s" % path)

    def screenshot(self, name, reference=None, tolerance=0):
        from emulator.imagediff import compare_images
        from PIL import Image
        image = self.screen_image()
        base = name[:-4] if name.endswith(".png") else name
        path = self._path(base + ".png")
        image.save(path, "PNG")
        if reference is None:
            self.echo("screenshot saved to %s" % path)
            return
        ref_path = reference if os.path.isabs(reference) else os.path.join(self.script_dir, reference)
        if not os.path.exists(ref_path):
            if self.bless:
                _save(image, ref_path)
                self.echo("screenshot %s: reference %s written (--bless)" % (base, ref_path))
                return
            raise CommandError("screenshot %s: no reference %s (run with --bless to write it)" % (base, ref_path))
        result = compare_images(image, Image.open(ref_path))
        if result.differing <= tolerance:
            self.echo("screenshot %s matches %s%s" % (base, reference, " (%d pixels differ, tolerance %d)"
                                                       % (result.differing, tolerance) if result.differing else ""))
            return
        if self.bless:
            _save(image, ref_path)
            self.echo("screenshot %s: reference %s updated (--bless; %s)" % (base, ref_path, result.summary()))
            return
        image.save(self._path(base + ".actual.png"), "PNG")
        result.diff_image(image).save(self._path(base + ".diff.png"), "PNG")
        raise CommandError("screenshot %s differs from %s: %s (tolerance %d); see %s and %s"
                           % (base, reference, result.summary(), tolerance, base + ".actual.png",
                              base + ".diff.png"))

    def last_receipt(self):
        slips = self.handset.printout(0)
        if not slips:
            raise CommandError("nothing printed yet")
        return slips[-1][1]

    def last_receipt_text(self):
        return "\n".join(escpos.decode_text(self.last_receipt(), self.handset.app.gb_table))

    def save_paper(self, name):
        from emulator.paper import receipt_image
        path = self._path(name)
        receipt_image(self.last_receipt(), self.handset.app.gb_table).save(path)
        self.echo("receipt saved to %s" % path)


def _save(image, path):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    image.save(path, "PNG")
