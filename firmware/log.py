"""A small log: lines kept in a bounded ring, optionally echoed to a stream.

MicroPython has no logging module. Every line goes through mask_digits(),
so a card number that slipped into a message is cut to first 6 / last 4
before it is kept or printed.
"""


def mask_digits(text):
    """Mask every run of 13..19 digits (a card number) as 622202******0017."""
    out = []
    run = ""
    for ch in text + " ":
        if ch.isdigit():
            run += ch
            continue
        if 13 <= len(run) <= 19:
            run = run[:6] + "*" * (len(run) - 10) + run[-4:]
        out.append(run)
        run = ""
        out.append(ch)
    return "".join(out)[:-1]


class Log:
    def __init__(self, stream=None, keep=500, clock=None):
        self.lines = []
        self._stream = stream
        self._keep = keep
        self._clock = clock

    def __call__(self, message, *args):
        if args:
            message = message % args
        line = mask_digits(message)
        if self._clock is not None:
            t = self._clock.now()
            line = "%02d:%02d:%02d %s" % (t[3], t[4], t[5], line)
        self.lines.append(line)
        if len(self.lines) > self._keep:
            self.lines.pop(0)
        if self._stream is not None:
            try:
                self._stream.write(line + "\n")
            except (OSError, ValueError):
                pass  # a closed console must not stop a payment
