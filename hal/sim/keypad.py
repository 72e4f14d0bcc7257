"""Simulated keypad: the emulator, the HIL bridge and tests call press()."""

from hal.keypad import Keypad


class SimKeypad(Keypad):
    def type_text(self, text):
        """Press one key per character of a string of digits (and '.')."""
        for ch in text:
            self.press(ch)
