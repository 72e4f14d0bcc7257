"""The emulator's command language, shared by the interactive console and
script files (`pos-emulator --script FILE`).

    1234            type digits               enter / e     ENTER
    cancel / c      CANCEL                    clear         CLEAR
    menu / m        MENU                      key F1        any key by name
    swipe NAME      swipe a deck card         insert NAME   insert a chip card
    tap NAME        tap a card                remove        take the card out
    wait TEXT       wait until TEXT is on the screen (scripts fail if it never comes)
    idle            wait for the idle screen
    png FILE        save the screen as a PNG  paper FILE    save the last receipt as a PNG
    receipt         print the last receipt's text
    paper-out / paper-in                      modem-off / modem-on
    cards           list the test deck        screen        print the screen
    sleep MS        pause                     # ...         a comment
"""

import os
import time

from firmware import escpos
from hal.keypad import KEYS
from hal.sim.deck import test_deck

ALIASES = {"e": "ENTER", "enter": "ENTER", "c": "CANCEL", "cancel": "CANCEL", "clear": "CLEAR",
           "m": "MENU", "menu": "MENU", "up": "UP", "down": "DOWN"}


class CommandError(Exception):
    pass


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


class CommandRunner:
    def __init__(self, handset, out_dir=".", echo=print):
        self.handset = handset
        self.out_dir = out_dir
        self.echo = echo

    def run_line(self, line):
        """Run one command. Raises CommandError with a message for the user."""
        line = line.strip()
        if not line or line.startswith("#"):
            return
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        lower = word.lower()
        h = self.handset
        if word.isdigit() or (word.replace(".", "").isdigit() and word.count(".") == 1):
            h.keys(word)
        elif lower in ALIASES:
            h.key(ALIASES[lower])
        elif lower == "key":
            if rest not in KEYS:
                raise CommandError("unknown key %r; keys: %s" % (rest, " ".join(KEYS)))
            h.key(rest)
        elif lower in ("swipe", "insert", "tap"):
            self._card(lower, rest)
        elif lower == "remove":
            h.card("remove")
        elif lower == "wait":
            try:
                h.wait_text(rest, 15000)
            except Exception as e:  # DriverError carries the screen
                raise CommandError(str(e))
        elif lower == "idle":
            try:
                h.wait_idle(30000)
            except Exception as e:
                raise CommandError(str(e))
        elif lower == "png":
            self.save_screen(rest or "screen.png")
        elif lower == "paper":
            self.save_paper(rest or "receipt.png")
        elif lower == "receipt":
            self.echo(self.last_receipt_text())
        elif lower == "paper-out":
            h.call(h.sim.printer.remove_paper)
        elif lower == "paper-in":
            h.call(h.sim.printer.load_paper)
        elif lower == "modem-off":
            h.sim.modem.powered = False
        elif lower == "modem-on":
            h.sim.modem.powered = True
        elif lower == "cards":
            for card in test_deck():
                self.echo("  %-12s %s" % (card.name, card.label))
        elif lower == "screen":
            self.echo(screen_box(h))
        elif lower == "sleep":
            time.sleep(int(rest or "100") / 1000)
        else:
            raise CommandError("unknown command %r (type 'help')" % word)

    def _card(self, action, name):
        names = [c.name for c in test_deck()]
        if name not in names:
            raise CommandError("no test card %r; cards: %s" % (name, ", ".join(names)))
        self.handset.card(action, name)

    def _path(self, name):
        path = name if os.path.isabs(name) else os.path.join(self.out_dir, name)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return path

    def save_screen(self, name):
        from emulator.png import save_png
        display = self.handset.app.devices.display
        framebuffer = self.handset.call(lambda: bytes(display.framebuffer))
        path = self._path(name)
        save_png(framebuffer, display.width, display.height, path)
        self.echo("screen saved to %s" % path)

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
