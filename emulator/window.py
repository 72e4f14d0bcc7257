"""The handset in a Tk window.

    run_window(world, runner, scale=2)

Left, the handset image from the compositor (emulator/compositor.py): the
body, the screen (the framebuffer scaled, pixel exact), the keypad (click a
key, or type: digits, Enter, Backspace = CLEAR, Esc = CANCEL, F1, F2, arrows,
M = MENU; the key shows pressed while it is down), the status lights and the
paper strip (scroll it with the wheel). Right, the panels: the test deck
(swipe, insert, tap, remove), the paper (tear off, paper out/in, cover),
the world (host up/down, faults, modem, power, language, screenshot), the
ISO 8583 inspector and the firmware log (both masked).

Every button runs the same function the console and scripts run (the World,
emulator/world.py, or a command of emulator/commands.py); the window adds
nothing to the firmware, it shows what the HAL holds.

The window polls the handset on Tk's timer: every 2 ms for a short while
after an input (so a key press reaches the glass within a frame), every
30 ms otherwise.
"""

import os
import signal
import sys
import time

from emulator.commands import CommandError, format_frame
from emulator.compositor import Compositor, PaperStrip, View
from emulator.world import WorldError

FAST_POLL_MS = 2       # right after an input, until the screen changed (or FAST_FOR_MS)
FAST_FOR_MS = 400
SLOW_POLL_MS = 30
PAPER_WHEEL_PX = 60
SWITCH_INTERVAL_S = 0.0005


class WindowUnavailable(Exception):
    """Why there can be no window here (said to the user before the console starts)."""


def window_unavailable():
    """None when a window can be tried, else the reason there is none."""
    try:
        import tkinter  # noqa: F401 - only asking whether it is there
    except ImportError as e:
        return ("this Python has no tkinter (%s). Debian/Ubuntu: apt install python3-tk for the "
                "system python3; pyenv: install tk-dev, then build Python again" % e)
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        return "no display (DISPLAY is not set)"
    return None


def run_window(world, runner, scale=2, out_dir=None):
    """Open the window and run until it is closed (or Ctrl-C); -> exit code.
    Raises WindowUnavailable when Tk cannot open the display."""
    import tkinter
    try:
        root = tkinter.Tk(className="pos-emulator")
    except tkinter.TclError as e:
        raise WindowUnavailable("Tk cannot open the display: %s" % e)
    # The handset, the host and Tk are threads of one process: a short
    # switch interval lets a key reach the handset's loop and its screen
    # come back without waiting out CPython's default 5 ms slices.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    window = HandsetWindow(root, world, runner, scale, out_dir or runner.out_dir)
    return window.run()


class HandsetWindow:
    def __init__(self, root, world, runner, scale, out_dir):
        import tkinter
        from tkinter import ttk
        from PIL import ImageTk
        self.tk = tkinter
        self.root = root
        self.world = world
        self.runner = runner
        self.out_dir = out_dir
        self.compositor = Compositor(scale)
        self.strip = PaperStrip()
        self.pc_keys = self.compositor.pc_keys()
        self._stop = False
        self._fast_until = 0
        self._shown = None           # (app, frames, pressed, lights, paper version) on the glass
        self._printouts_seen = 0
        self._paper_version = 0
        self._frames_seen = 0
        self._log_seen = (None, 0)
        self._mouse_key = None
        self._finger = False         # the mouse button went down on the screen: a finger on the glass
        self.last_image = None       # the composed image on the glass (tests and screenshots)
        self.frame_count = 0

        root.title("POS handset emulator")
        root.protocol("WM_DELETE_WINDOW", self.close)
        # The image is shown as tiles (compositor.tiles()), each its own
        # PhotoImage on a canvas: a key press redraws the screen's tile and
        # the keypad's, not the whole window (a full paste costs ~16 ms).
        # No border: the image's pixel (0, 0) is the canvas's.
        width, height = self.compositor.size
        self.glass = tkinter.Canvas(root, width=width, height=height, borderwidth=0, highlightthickness=0,
                                    takefocus=True)
        self.tiles = {}
        for name, box in self.compositor.tiles().items():
            photo = ImageTk.PhotoImage("RGB", (box[2] - box[0], box[3] - box[1]))
            self.glass.create_image(box[0], box[1], anchor="nw", image=photo)
            self.tiles[name] = (box, photo)
        self.glass.grid(row=0, column=0, rowspan=2, sticky="nw")
        self.glass.bind("<ButtonPress-1>", self._mouse_down)
        self.glass.bind("<B1-Motion>", self._mouse_drag)
        self.glass.bind("<ButtonRelease-1>", self._mouse_up)
        self.glass.bind("<Button-4>", lambda e: self._wheel(e, -1))
        self.glass.bind("<Button-5>", lambda e: self._wheel(e, 1))
        self.glass.bind("<MouseWheel>", lambda e: self._wheel(e, -1 if e.delta > 0 else 1))
        root.bind("<KeyPress>", self._key_down)
        root.bind("<KeyRelease>", self._key_up)
        root.bind("<F12>", lambda e: self.screenshot())

        panels = ttk.Frame(root, padding=6)
        panels.grid(row=0, column=1, sticky="nsew")
        self.buttons = {}
        self._deck_panel(ttk, panels).pack(fill="x")
        self._paper_panel(ttk, panels).pack(fill="x", pady=(6, 0))
        self._world_panel(ttk, panels).pack(fill="x", pady=(6, 0))
        self.status = ttk.Label(panels, text="", wraplength=360, foreground="#333")
        self.status.pack(fill="x", pady=(6, 0))

        panes = ttk.Frame(root, padding=6)
        panes.grid(row=1, column=1, sticky="nsew")
        ttk.Label(panes, text="ISO 8583 inspector (card numbers masked)").pack(anchor="w")
        self.inspector = self._text(panes, 14)
        ttk.Label(panes, text="Firmware log (masked)").pack(anchor="w")
        self.log = self._text(panes, 8)
        root.columnconfigure(1, weight=1)
        root.rowconfigure(1, weight=1)

    # -- panels ---------------------------------------------------------------------

    def _button(self, ttk, parent, name, text, command, **grid):
        button = ttk.Button(parent, text=text, command=lambda: self._do(command), width=grid.pop("width", None))
        button.grid(**grid)
        self.buttons[name] = button
        return button

    def _deck_panel(self, ttk, parent):
        from hal.sim.deck import test_deck
        frame = ttk.LabelFrame(parent, text="Test cards", padding=4)
        for row, card in enumerate(test_deck()):
            ttk.Label(frame, text=card.name, width=12).grid(row=row, column=0, sticky="w")
            for column, action in enumerate(("swipe", "insert", "tap"), 1):
                self._button(ttk, frame, "%s %s" % (action, card.name), action,
                             lambda a=action, c=card.name: self.world.handset.card(a, c),
                             row=row, column=column, width=6)
        self._button(ttk, frame, "remove", "remove card", lambda: self.world.handset.card("remove"),
                     row=len(test_deck()), column=1, columnspan=3, sticky="ew")
        return frame

    def _paper_panel(self, ttk, parent):
        frame = ttk.LabelFrame(parent, text="Paper", padding=4)
        self._button(ttk, frame, "tear", "tear off", self.tear, row=0, column=0)
        self._button(ttk, frame, "paper out", "paper out", lambda: self.world.paper("out"), row=0, column=1)
        self._button(ttk, frame, "paper in", "paper in", lambda: self.world.paper("in"), row=0, column=2)
        self.cover = self.tk.BooleanVar(value=False)
        check = ttk.Checkbutton(frame, text="cover open", variable=self.cover,
                                command=lambda: self._do(lambda: self.world.cover(self.cover.get())))
        check.grid(row=0, column=3)
        self.buttons["cover"] = check
        return frame

    def _world_panel(self, ttk, parent):
        frame = ttk.LabelFrame(parent, text="Around the handset", padding=4)
        self._button(ttk, frame, "host down", "host down", lambda: self.world.host_state("down"), row=0, column=0)
        self._button(ttk, frame, "host up", "host up", lambda: self.world.host_state("up"), row=0, column=1)
        self._button(ttk, frame, "modem off", "modem off", lambda: self.world.modem(False), row=0, column=2)
        self._button(ttk, frame, "modem on", "modem on", lambda: self.world.modem(True), row=0, column=3)
        self._button(ttk, frame, "power cut", "power cut", self.world.power_cut, row=1, column=0)
        self._button(ttk, frame, "power on", "power on", self.world.power_on, row=1, column=1)
        # (labels in ASCII: a desktop without CJK fonts would draw boxes)
        self._button(ttk, frame, "Chinese", "Chinese", lambda: self.world.set_lang("zh"), row=1, column=2)
        self._button(ttk, frame, "English", "English", lambda: self.world.set_lang("en"), row=1, column=3)
        # the fault menu: the next request (of any MTI) misbehaves once
        fault = ttk.Menubutton(frame, text="host fault ▾")
        menu = self.tk.Menu(fault, tearoff=False)
        self.fault_arg = self.tk.StringVar(value="3000")
        for label, kind in (("no reply", "no_reply"), ("drop the line", "drop"), ("bad MAC", "bad_mac"),
                            ("garbage", "garbage"), ("decline with code (ARG)", "decline"),
                            ("unsigned reply", "unsigned"),
                            ("delay ARG ms", "delay")):
            menu.add_command(label=label, command=lambda k=kind: self._do(lambda: self._fault(k)))
        menu.add_separator()
        menu.add_command(label="clear faults", command=lambda: self._do(self.world.clear_faults))
        fault["menu"] = menu
        fault.grid(row=2, column=0, columnspan=2, sticky="ew")
        self.fault_menu = menu
        ttk.Label(frame, text="ARG").grid(row=2, column=2, sticky="e")
        ttk.Entry(frame, textvariable=self.fault_arg, width=8).grid(row=2, column=3, sticky="w")
        self._button(ttk, frame, "screenshot", "screenshot (F12)", self.screenshot, row=3, column=0,
                     columnspan=4, sticky="ew")
        return frame

    def _fault(self, kind):
        arg = self.fault_arg.get().strip()
        if kind == "delay":
            if not arg.isdigit():
                raise WorldError("the delay needs milliseconds in ARG")
            self.world.fault(kind, delay_ms=int(arg))
        elif kind == "decline":
            self.world.fault(kind, code=arg if len(arg) == 2 else "05")
        else:
            self.world.fault(kind)
        self._say("fault armed: %s (the next request)" % kind)

    def _text(self, parent, height):
        widget = self.tk.Text(parent, height=height, width=60, wrap="none", font=("TkFixedFont", 9))
        widget.pack(fill="both", expand=True)
        widget.configure(state="disabled")
        return widget

    def _append(self, widget, text):
        widget.configure(state="normal")
        widget.insert("end", text + "\n")
        widget.delete("1.0", "end-2000l")  # bounded: the last 2,000 lines
        widget.see("end")
        widget.configure(state="disabled")

    # -- actions ----------------------------------------------------------------------

    def _do(self, action):
        try:
            action()
        except (WorldError, CommandError) as e:
            self._say(str(e))
        except Exception as e:  # noqa: BLE001 - a button must never close the window
            self._say("%s: %s" % (type(e).__name__, e))
        self._hurry()

    def _say(self, text):
        self.status.configure(text=text)

    def _hurry(self):
        self._fast_until = time.monotonic() + FAST_FOR_MS / 1000

    def press(self, name):
        """A key down (from the mouse or the PC keyboard)."""
        if not self.world.handset.running:
            self._say("the handset is off: power it on")
            return
        self.world.key_down(name)
        self._hurry()
        self.refresh()

    def release(self, name):
        self.world.key_up(name)
        self._hurry()

    def _mouse_down(self, event):
        self.glass.focus_set()
        name = self.compositor.key_at(event.x, event.y)
        if name is not None:
            self._mouse_key = name
            self.press(name)
            return
        point = self.compositor.screen_point(event.x, event.y)
        if point is not None and self.world.handset.running:
            # the mouse on the screen is a finger on the touch panel (the signing pad)
            self._finger = True
            self._do(lambda: self.world.touch_down(*point))

    def _mouse_drag(self, event):
        if self._finger:
            point = self.compositor.screen_point(event.x, event.y, clamp=True)
            self._do(lambda: self.world.touch_move(*point))

    def _mouse_up(self, event):
        if self._mouse_key is not None:
            self.release(self._mouse_key)
            self._mouse_key = None
        if self._finger:
            self._finger = False
            self._do(self.world.touch_up)

    def _key_down(self, event):
        if event.widget.winfo_class() in ("Entry", "TEntry", "Text"):
            return  # typing into a field is not the keypad
        name = self.pc_keys.get(event.keysym)
        if name is not None and name not in self.world.held():
            self.press(name)

    def _key_up(self, event):
        name = self.pc_keys.get(event.keysym)
        if name is not None:
            self.release(name)

    def _wheel(self, event, direction):
        left, top, right, bottom = self.compositor.paper_box
        if event.x >= left:
            self.strip.scroll_by(-direction * PAPER_WHEEL_PX, bottom - top)
            self._paper_version += 1
            self.refresh()

    def tear(self):
        self.strip.tear()
        self._paper_version += 1

    def screenshot(self):
        """The screen (framebuffer, 1:1) and the whole window image, as PNGs."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        os.makedirs(self.out_dir, exist_ok=True)
        screen = os.path.join(self.out_dir, "screen-%s.png" % stamp)
        whole = os.path.join(self.out_dir, "window-%s.png" % stamp)
        if self.world.handset.running:
            self.runner.screen_image().save(screen, "PNG")
        if self.last_image is not None:
            self.last_image.save(whole, "PNG")
        self._say("saved %s and %s" % (screen, whole))

    # -- the glass ----------------------------------------------------------------------

    def _lights(self):
        status = self.world.status()
        lights = {"power": status["power"]}
        if status["power"]:
            lights["modem"] = status["modem"]
            lights["host"] = "bad" if status["host"] == "down" else True
            lights["paper"] = True if status["paper"] and not status["cover_open"] else "bad"
            lights["card"] = status["card_in"]
            if "remove" in self.buttons:
                self.buttons["remove"].state(["!disabled"] if status["card_in"] else ["disabled"])
        return lights

    def _take_printouts(self):
        handset = self.world.handset
        count = handset.printout_count()
        if count < self._printouts_seen:       # a reboot: the handset counts from 0 again
            self._printouts_seen = 0
        if count > self._printouts_seen:
            for index, data in handset.printout(self._printouts_seen):
                self.strip.add(data, handset.app.gb_table)
            self._printouts_seen = count
            self._paper_version += 1

    def _take_text(self):
        frames, self._frames_seen = self.world.frames_since(self._frames_seen)
        for frame in frames:
            self._append(self.inspector, format_frame(frame))
        app = self.world.handset.app
        lines = app.log.lines
        owner, seen = self._log_seen
        if owner is not app or len(lines) < seen:
            seen = 0 if owner is not app else max(0, len(lines) - 50)
        for line in lines[seen:]:
            self._append(self.log, line)
        self._log_seen = (app, len(lines))

    def refresh(self):
        """Compose and show a new image if anything on it changed."""
        handset = self.world.handset
        running = handset.running
        # Reading the counter from this thread is safe (an int); the pixels
        # are copied on the handset's loop, only when the glass changed (a
        # new screen, or ink on the signing pad: display.frames counts both).
        frames = handset.app.devices.display.frames if running else -1
        lights = self._lights()
        pressed = frozenset(self.world.held())
        key = (id(handset.app), frames, pressed, tuple(sorted(lights.items())), self._paper_version)
        if key == self._shown:
            return False
        if running:
            frames, width, height, framebuffer = handset.call(self._snapshot)
            key = (key[0], frames) + key[2:]
        else:
            width, height, framebuffer = 240, 320, bytes(240 * 320 * 2)
        view = View(framebuffer, width, height, pressed, lights, self.strip)
        shown = self._shown
        if shown is None:
            image = self.compositor.compose(view)
            dirty = list(self.tiles)
        else:
            # only the parts whose input changed are drawn, on the last image
            dirty = [name for name, changed in (("screen", shown[:2] != key[:2]), ("keypad", shown[2] != key[2]),
                                                ("lights", shown[3] != key[3]), ("paper", shown[4] != key[4]))
                     if changed]
            image = self.compositor.update(self.last_image, view, dirty)
        for name in dirty:
            box, photo = self.tiles[name]
            photo.paste(image.crop(box))
        self.last_image = image
        self._shown = key
        self.frame_count += 1
        return True

    def _snapshot(self):
        """On the handset's loop: the framebuffer between two pushes, never half drawn."""
        display = self.world.handset.app.devices.display
        return display.frames, display.width, display.height, bytes(display.framebuffer)

    def _tick(self):
        if self._stop:
            self.root.destroy()
            return
        try:
            if self.world.handset.running:
                self._take_printouts()
                self._take_text()
            changed = self.refresh()
        except Exception as e:  # noqa: BLE001 - the window stays up; the status line says why
            self._say("%s: %s" % (type(e).__name__, e))
            changed = False
        if changed and time.monotonic() < self._fast_until:
            self._fast_until = 0  # the change came: back to the slow pace
        fast = time.monotonic() < self._fast_until
        self.root.after(FAST_POLL_MS if fast else SLOW_POLL_MS, self._tick)

    def close(self):
        self._stop = True

    def start(self):
        """Show the first image and start the timer (run() or a test's own
        root.update() calls then drive it)."""
        self.refresh()
        self.glass.focus_set()
        self.root.after(SLOW_POLL_MS, self._tick)

    def run(self):
        previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, lambda signum, frame: self.close())
        try:
            self.start()
            self.root.mainloop()
        finally:
            signal.signal(signal.SIGINT, previous)
        return 0
