"""Card reader: magstripe, contact chip and contactless in one device.

It posts ("card", CardEvent) when a card is swiped, inserted, tapped or
removed. For chip and contactless cards the firmware then talks to the card
with transceive() (ISO 7816 APDUs); a swipe carries its track data in the
event itself and nothing is kept after the event has been read.
"""

from hal.device import Device

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

    async def transceive(self, apdu):
        """Send one command APDU to the chip in the slot / field, return the
        response APDU (data + SW1 SW2). Raises hal.errors.CardError if there
        is no card or the card does not answer."""
        raise NotImplementedError

    def card_present(self):
        """True while a chip card sits in the slot."""
        raise NotImplementedError
