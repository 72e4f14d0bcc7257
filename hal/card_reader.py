"""Card reader: magstripe, contact chip and contactless in one device.

It posts ("card", CardEvent) when a card is swiped, inserted, tapped or
removed. For chip and contactless cards the firmware then talks to the card
with transceive() (ISO 7816 APDUs); a swipe carries its track data in the
event itself and nothing is kept after the event has been read.
"""

from hal.compat import TimeoutError, wait_for_ms
from hal.device import Device
from hal.errors import CardError

SWIPE = "swipe"
INSERT = "insert"
TAP = "tap"
REMOVE = "remove"


class CardEvent:
    """What the reader saw. `track2` only for swipes (None if unreadable:
    `error` then says why); chip and tap cards are read with transceive()."""

    def __init__(self, action, track2=None, error=None):
        self.action = action
        self.track2 = track2
        self.error = error

    def __repr__(self):
        # Never show track data, even in a debug print.
        return "CardEvent(%s%s)" % (self.action, ", error=%s" % self.error if self.error else "")


class CardReader(Device):
    event_kind = "card"
    # How long one APDU may take, reader and card together. A slow card's
    # GENERATE AC takes some hundreds of ms; a reader that takes seconds is
    # broken, and a flow must never wait for ever on one.
    apdu_timeout_ms = 5000

    async def transceive(self, apdu):
        """Send one command APDU to the chip in the slot / field, return the
        response APDU (data + SW1 SW2). Raises hal.errors.CardError if there
        is no card, the card does not answer, or the reader does not answer
        within apdu_timeout_ms (the wait lives here, once, for every backend)."""
        if not isinstance(apdu, (bytes, bytearray)):
            raise TypeError("an APDU is bytes, not %s" % type(apdu).__name__)
        try:
            return await wait_for_ms(self._transceive(bytes(apdu)), self.apdu_timeout_ms)
        except TimeoutError:
            raise CardError("the reader did not answer in %d ms" % self.apdu_timeout_ms)

    async def _transceive(self, apdu):
        """The backend's exchange of one APDU, without a timeout of its own."""
        raise NotImplementedError

    def card_present(self):
        """True while a chip card sits in the slot."""
        raise NotImplementedError
