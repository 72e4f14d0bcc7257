"""Keypad: posts ("key", name) events."""

from hal.device import Device

DIGITS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
KEYS = DIGITS + ("00", ".", "ENTER", "CANCEL", "CLEAR", "F1", "F2", "MENU", "UP", "DOWN")


class Keypad(Device):
    """A backend calls self.press(name) for each key the user presses."""

    event_kind = "key"

    def press(self, name):
        if name not in KEYS:
            raise ValueError("unknown key %r (known: %s)" % (name, " ".join(KEYS)))
        self._post(name)
