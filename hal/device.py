"""What every device shares: a listener that receives its events."""


class Device:
    """Base of every HAL device.

    A device reports what happens (a key, a card, paper out) by posting an
    event tuple (kind, value) to the one listener the app registers; it never
    calls into the firmware otherwise.
    """

    event_kind = None  # "key", "card", "printer", "modem"

    def __init__(self):
        self._listener = None

    @classmethod
    def from_address(cls, path, **options):
        if options:
            raise TypeError("unknown option(s): %s" % ", ".join(sorted(options)))
        return cls()

    def set_listener(self, listener):
        """listener(event) is called with (kind, value); None detaches."""
        self._listener = listener

    def start(self):
        """Begin watching the device for what it reports by itself (keys,
        cards, unsolicited modem lines): drivers start a task here, once;
        the app calls it when its loop runs. Nothing to do for most."""

    def _post(self, value):
        if self._listener is not None:
            self._listener((self.event_kind, value))

    def close(self):
        pass
