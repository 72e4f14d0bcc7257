"""The emulated handset and the world around it: the acquirer host, the
modem, the paper, the power. One object that the console, scripts, the
window and the HIL bridge all drive, so each switch is written once.

    world = World(handset, host)          # host: the in-process HostSimulator, or None
    world.host_state("down"); world.fault("no_reply", mti="0200")
    world.power_cut(); world.power_on()

With an external host (`--host H:P`) the host cannot be stopped from
here; faults go to its control channel when one is given (`--host-control
H:P`, see emulator/host/control.py).

It also watches the frames on the host link from the terminal side
(emulator/spy.py): `frames` holds the last FRAMES_KEPT, described for the
inspector (card numbers masked, MAC checked with the handset's own key
store), and `record_path` appends them to a file in pos-host's --record
format.

Methods block until done: call them from a plain thread (the HIL bridge
wraps them in asyncio.to_thread).
"""

import threading
import time

from emulator.host.faults import KINDS as FAULT_KINDS
from emulator.spy import describe_frame, keystore_mac

FRAMES_KEPT = 200


class WorldError(Exception):
    pass


class World:
    def __init__(self, handset, host=None, control=None, record_path=None):
        self.handset = handset
        self.host = host
        self.control = control
        self.host_port = host.port if host is not None else None
        self.host_down = False
        self.frames = []          # described frames, newest last (see _on_frame)
        self.frames_seen = 0      # how many ever: a watcher compares it with what it showed
        self.keys_down = set()    # keys held (the window draws them pressed)
        self._lock = threading.Lock()
        self._recorder = None
        if record_path:
            from emulator.host.record import FrameRecorder
            self._recorder = FrameRecorder(record_path)
        handset.on_frame = self._on_frame

    # -- the host ------------------------------------------------------------------

    @property
    def host_owned(self):
        return self.host is not None

    def host_state(self, state):
        """'down': stop the in-process host; 'up': start it again on the same port."""
        host = self.own_host()
        if state == "down" and not self.host_down:
            host.stop_thread()
            self.host_down = True
        elif state == "up" and self.host_down:
            host.start_in_thread("127.0.0.1", self.host_port)  # the handset's settings point at it
            self.host_down = False
        elif state not in ("down", "up"):
            raise WorldError("host state must be down or up, not %r" % (state,))

    def fault(self, kind, mti=None, count=1, delay_ms=None, code=None):
        """Arm a host fault (count 0 or None: until cleared); kind 'clear'
        clears them all."""
        if self.host is None and self.control is None:
            raise WorldError("the host is not the emulator's own (--host given) and has no "
                             "control channel (--host-control)")
        if kind == "clear":
            return self.clear_faults()
        if kind not in FAULT_KINDS:
            raise WorldError("unknown fault %r (known: %s, clear)" % (kind, ", ".join(FAULT_KINDS)))
        if self.host is not None:
            try:
                self.host.faults.add(kind, mti=mti, count=count or None, delay_ms=delay_ms, code=code)
            except ValueError as e:
                raise WorldError(str(e))
        else:
            try:
                self.control.fault(kind, mti=mti, count=count or 0, delay_ms=delay_ms, code=code)
            except (OSError, ValueError) as e:
                raise WorldError("host control channel: %s" % e)

    def clear_faults(self):
        if self.host is not None:
            self.host.faults.clear()
        elif self.control is not None:
            try:
                self.control.clear()
            except (OSError, ValueError) as e:
                raise WorldError("host control channel: %s" % e)

    def armed_faults(self):
        if self.host is not None:
            return ["%s%s" % (f.kind, " " + f.mti if f.mti else "") for f in self.host.faults.pending()]
        return []

    def own_host(self):
        if self.host is None:
            raise WorldError("the host is not the emulator's own (--host given)")
        return self.host

    # -- the keypad -----------------------------------------------------------------

    def key_down(self, name):
        """A key goes down: the keypad posts its press now, once (hal.keypad
        has no auto-repeat), and it shows pressed until key_up()."""
        self._running().key(name)
        with self._lock:
            self.keys_down.add(name)

    def key_up(self, name):
        with self._lock:
            self.keys_down.discard(name)

    def held(self):
        with self._lock:
            return set(self.keys_down)

    # -- the touch panel (a finger on the screen, in screen pixels) -----------------

    def touch_down(self, x, y):
        self._touch("press_at", x, y)

    def touch_move(self, x, y):
        self._touch("move_to", x, y)

    def touch_up(self):
        self._touch("lift")

    def _touch(self, method, *point):
        touch = self._running().app.devices.touch
        if touch is None:
            raise WorldError("this handset has no touch panel")
        self.handset.call(getattr(touch, method), *point)

    # -- the handset's devices -----------------------------------------------------

    def modem(self, up):
        modem = self._running().sim.modem
        self.handset.call(setattr, modem, "powered", bool(up))

    def paper(self, state, after=None):
        """'out' (now, or after `after` more bytes: mid-receipt) or 'in'."""
        printer = self._running().sim.printer
        if state == "in":
            self.handset.call(printer.load_paper)
        elif state == "out" and after is not None:
            self.handset.call(printer.paper_runs_out_after, after)
        elif state == "out":
            self.handset.call(printer.remove_paper)
        else:
            raise WorldError("paper state must be out or in, not %r" % (state,))

    def cover(self, is_open):
        printer = self._running().sim.printer
        self.handset.call(printer.open_cover if is_open else printer.close_cover)

    def power_cut(self):
        self.handset.power_cut()

    def power_on(self):
        if self.handset.running:
            raise WorldError("the handset is already on")
        self.handset.start()

    def set_lang(self, lang):
        """The screen language, saved as the Admin menu saves it. The idle
        screen is drawn again at once (a CLEAR, which idle ignores); any
        other screen takes the language from its next redraw."""
        if lang not in ("zh", "en"):
            raise WorldError("language must be zh or en, not %r" % (lang,))
        app = self._running().app

        def switch():
            app.settings.save(lang=lang)
            if app.idle_event.is_set():
                app.devices.keypad.press("CLEAR")

        self.handset.call(switch)

    def status(self):
        """What the window's status lights show (each from what the HAL or
        the host holds): power, modem, paper, cover, host, faults."""
        handset = self.handset
        status = {"power": handset.running, "host": "external" if self.host is None
                  else ("down" if self.host_down else "up"), "faults": self.armed_faults()}
        if handset.running:
            devices = handset.app.devices
            status["modem"] = bool(getattr(devices.modem, "powered", True))
            status["paper"] = devices.printer.has_paper()
            status["cover_open"] = bool(getattr(devices.printer, "cover_open", False))
            status["card_in"] = bool(devices.card_reader.card_present())
            status["idle"] = handset.app.idle_event.is_set()
        return status

    def _running(self):
        if not self.handset.running:
            raise WorldError("the handset is off (power cut): power it on first")
        return self.handset

    # -- frames on the host link ---------------------------------------------------

    def _on_frame(self, direction, frame):
        """Called on the handset's loop thread for each frame (spy.FrameTap)."""
        if self._recorder is not None:
            # pos-host's --record format, seen from the host: "in" = to the host
            self._recorder.write("in" if direction == "out" else "out", frame)
        described = describe_frame(frame, keystore_mac(self.handset.app))
        described["time"] = time.strftime("%H:%M:%S")
        described["direction"] = direction
        with self._lock:
            self.frames.append(described)
            del self.frames[:-FRAMES_KEPT]
            self.frames_seen += 1

    def frames_since(self, seen):
        """-> (frames after the `seen`-th, the new count)."""
        with self._lock:
            new = self.frames_seen - seen
            return (self.frames[-new:] if new > 0 else []), self.frames_seen

    def close(self):
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
