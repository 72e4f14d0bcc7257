"""The device under test, seen through the test protocol (docs/HIL.md).

Dut has the same hands and eyes as emulator.handset.Handset (key, keys,
enter, card, wait_text, wait_idle, printout, journal), so the cashier's
steps in tests/flows/cashier.py drive either; it only talks JSON Lines to
a port, so it cannot tell an emulator on a pty from a handset on a cable.
"""

import base64
import json
import time

import pytest

from tests.flows import cashier

# Replies can be long (a PNG is ~300 KB of base64): read in chunks, not
# byte by byte as pyserial's readline() does.
READ_CHUNK = 65536


class HilError(AssertionError):
    """An op the device refused or a wait that failed; says what the
    screen showed and where the device's log is."""


class Dut:
    def __init__(self, port, log_path=None):
        self.port = port
        self.log_path = log_path
        self._next_id = 1
        self.screens = 0       # the screen counter of the last reply (every reply carries it)
        self._buffer = b""
        self.info = None
        self.changed = set()   # emulator switches a test flipped, undone after it
        self.settings_was = {}  # settings a test changed (setting op) -> the value before, put back after it
        self.transcript = None  # a list to collect every raw reply line in (tests that scan them)

    # -- the protocol -----------------------------------------------------------

    def send_line(self, line):
        self.port.write(line if line.endswith(b"\n") else line + b"\n")

    def read_reply(self, timeout_s=30):
        """The next reply line as a dict."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HilError("no reply from the device within %.0f s%s" % (timeout_s, self._log_hint()))
            # wait for a byte, then take what has arrived without waiting
            # (in_waiting is not a byte count on every pyserial backend)
            self.port.timeout = min(left, 1.0)
            chunk = self.port.read(1)
            if chunk:
                self.port.timeout = 0
                chunk += self.port.read(READ_CHUNK)
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        if self.transcript is not None:
            self.transcript.append(line)
        return json.loads(line)

    def call(self, op, timeout_s=None, **args):
        """One request -> its reply dict, ok or not."""
        request_id = self._next_id
        self._next_id += 1
        request = {"id": request_id, "op": op}
        request.update(args)
        self.send_line(json.dumps(request).encode())
        if timeout_s is None:
            timeout_s = args.get("timeout_ms", 0) / 1000 + 30
        deadline = time.monotonic() + timeout_s
        while True:
            reply = self.read_reply(max(0.1, deadline - time.monotonic()))
            if reply.get("id") == request_id:
                if "screens" in reply:
                    self.screens = reply["screens"]   # for wait_text(since=...)
                return reply
            # a late reply to an earlier request that timed out on our side: skip it

    def request(self, op, timeout_s=None, **args):
        """One request; raises HilError unless the device says ok."""
        reply = self.call(op, timeout_s, **args)
        if not reply.get("ok"):
            if reply.get("error") == "unsupported on this target":
                pytest.skip("%s: unsupported on this target" % op)
            screen = ""
            if "lines" in reply and "screen:" not in reply.get("error", ""):
                screen = "\nscreen: %s | %s" % (reply.get("title", ""), " | ".join(reply["lines"]))
            raise HilError("%s %s: %s%s%s" % (op, json.dumps(args, ensure_ascii=False), reply.get("error"),
                                              screen, self._log_hint()))
        return reply

    def _log_hint(self):
        return "\ndevice log: %s" % self.log_path if self.log_path else ""

    def hello(self):
        self.info = self.request("hello")
        return self.info

    @property
    def is_emulator(self):
        return (self.info or self.hello()).get("target") == "emulator"

    def supports(self, op):
        return op in (self.info or self.hello()).get("ops", ())

    def require(self, op):
        if not self.supports(op):
            pytest.skip("%s: unsupported on this target (%s)" % (op, self.info.get("target")))

    # -- the cashier's hands ------------------------------------------------------

    def key(self, name):
        self.request("key", key=name)

    def keys(self, text):
        self.request("keys", text=text)

    def enter(self):
        self.key("ENTER")

    def cancel(self):
        self.key("CANCEL")

    def card(self, action, name=None):
        if self.info is not None and self.info.get("card_reader") != "sim":
            pytest.skip("the card reader of this target cannot be driven (docs/HIL.md: bench build)")
        args = {"action": action}
        if name is not None:
            args["card"] = name
        self.request("card", **args)

    def scan(self, code):
        """The scanner reads `code` (a deck payment code's name, or text)."""
        if self.info is not None and self.info.get("scanner") not in (None, "sim"):
            pytest.skip("the scanner of this target cannot be driven (docs/HIL.md: bench build)")
        self.request("scan", code=code)

    def sign(self, strokes):
        """Draw on the touch panel: strokes of [x, y] screen pixels (a
        stroke of one point is a tap). The emulator draws through its
        simulated panel, the virtual ARM handset through its tablet and
        the guest's evdev driver; a real panel needs a finger (skipped)."""
        if (self.info or self.hello()).get("touch") != "sim":
            pytest.skip("the touch panel of this target cannot be driven (%s)" % self.info.get("touch"))
        self.request("sign", strokes=[[list(point) for point in stroke] for stroke in strokes])

    def setting(self, name, value):
        """A flow setting changed for this run (put back after the test)."""
        was = self.request("setting", name=name, value=value)["was"]
        self.settings_was.setdefault(name, was)

    # -- the cashier's eyes -------------------------------------------------------

    def screen(self, png=False):
        return self.request("screen", png=True) if png else self.request("screen")

    def screen_text(self):
        screen = self.screen()
        return "\n".join([screen["title"]] + screen["lines"])

    def screen_png(self):
        return base64.b64decode(self.screen(png=True)["png"])

    def slower(self, timeout_ms):
        """A wait stretched by the target's `time_scale` (hello): the
        virtual ARM handset's CPU is 12-16x slower than this machine's, so
        what takes a second here takes ten there; the flows are the same."""
        scale = (self.info or {}).get("time_scale", 1)
        return min(int(timeout_ms * scale), 600000)

    def wait_text(self, text, timeout_ms=10000, since=None):
        """`since`: a screen number (self.screens after a request): only
        screens drawn after it count (docs/HIL.md)."""
        if since is None:
            self.request("wait_text", text=text, timeout_ms=self.slower(timeout_ms))
        else:
            self.request("wait_text", text=text, timeout_ms=self.slower(timeout_ms), since=since)
        return True

    def wait_idle(self, timeout_ms=20000):
        self.request("wait_idle", timeout_ms=self.slower(timeout_ms))
        return True

    def printout(self, since=0):
        """[(index, ESC/POS bytes)], like Handset.printout()."""
        return [(slip["index"], base64.b64decode(slip["escpos"]))
                for slip in self.request("printout", since=since)["printouts"]]

    def printout_text(self, since=0):
        """[(index, [text lines])] of the slips printed from `since` on."""
        return [(slip["index"], slip["lines"]) for slip in self.request("printout", since=since)["printouts"]]

    def printout_count(self):
        return self.request("printout", since=999999999)["count"]

    def journal(self):
        return self.request("journal")["records"]

    # -- what only an emulator can do (skips on a handset) ------------------------

    def power_cut(self):
        self.require("power_cut")
        self.request("power_cut")

    def reset(self):
        self.require("reset")
        self.request("reset", timeout_s=90)
        self.hello()

    def advance_clock(self, seconds):
        self.require("clock")
        self.request("clock", advance_s=seconds)

    def paper_out(self, after=None):
        self.require("paper")
        args = {"state": "out"}
        if after is not None:
            args["after"] = after
        self.changed.add("paper")
        self.request("paper", **args)

    def paper_in(self):
        self.require("paper")
        self.request("paper", state="in")
        self.changed.discard("paper")

    def qr_customer(self, order, action="pay", wallet=None):
        """The customer on the phone pays or cancels a QR order (the host's side)."""
        self.require("qr_customer")
        args = {"order": order, "action": action}
        if wallet is not None:
            args["wallet"] = wallet
        return self.request("qr_customer", **args)["status"]

    def host_down(self):
        self.require("host")
        self.changed.add("host")
        self.request("host", state="down")

    def host_up(self):
        self.require("host")
        self.request("host", state="up")
        self.changed.discard("host")

    def host_fault(self, kind, mti=None, count=1, **args):
        self.require("fault")
        if mti is not None:
            args["mti"] = mti
        self.changed.add("fault")
        self.request("fault", kind=kind, count=count, **args)

    def restore(self):
        """Undo the switches a test flipped: paper in, host up, no faults,
        the settings it changed."""
        for name, was in sorted(self.settings_was.items()):
            self.request("setting", name=name, value=was)
        self.settings_was = {}
        if "paper" in self.changed:
            self.paper_in()
        if "host" in self.changed:
            self.host_up()
        if "fault" in self.changed:
            self.request("fault", kind="clear")
            self.changed.discard("fault")

    # -- the cashier's steps ----------------------------------------------------

    def sale(self, amount, card="debit-mag", **how):
        """A sale from the idle screen to the idle screen; -> its journal record."""
        cashier.sale(self, amount, card, **how)
        return self.journal()[-1]

    def void(self, trace, **how):
        cashier.void(self, trace, **how)
        return self.journal()[-1]

    def refund(self, sale, amount, **how):
        """Refund part or all of `sale` (a journal record)."""
        cashier.refund(self, sale["rrn"], sale["date"], amount, **how)
        return self.journal()[-1]

    def menu(self, entry):
        cashier.menu(self, entry)

    def supervisor(self, password=cashier.SUPERVISOR_PW):
        cashier.supervisor(self, password)

    def reprint_last(self):
        self.menu("4")
        self.wait_text("1.Last receipt")
        self.keys("1")
        self.wait_idle()

    def settle(self, expect="Settlement done"):
        self.menu("5")
        self.supervisor()
        self.wait_text(expect)
        self.wait_idle()

    def back_to_idle(self, timeout_ms=20000):
        """CANCEL until the idle screen is up (a prompt left open by a failed test)."""
        for _ in range(4):
            try:
                return self.wait_idle(timeout_ms // 4)
            except HilError:
                self.cancel()
        return self.wait_idle(timeout_ms)
