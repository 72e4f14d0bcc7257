"""Simulated scanner: present() a payment code of the test deck (by name)
or any text, as the emulator, the test protocol and the tests do."""

from hal.scanner import Scanner
from hal.sim.deck import find_payment_code


class SimScanner(Scanner):
    def present(self, name_or_text):
        """A deck code by its name ("wx-pay"), else the text itself."""
        try:
            code = find_payment_code(name_or_text).code
        except KeyError:
            code = name_or_text
        self.scanned(code)
