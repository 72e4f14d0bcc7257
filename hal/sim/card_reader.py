"""Simulated card reader: the emulator, the HIL bridge and the tests hand it
test cards (hal.sim.deck.TestCard, or a deck name such as "chip-pin").

What it does, modelled on a real combined reader:

- swipe(card): posts CardEvent(SWIPE, track2=...) with the card's track 2
  exactly as encoded, garbled or not: deciding what is readable is the
  firmware's job (firmware.card.parse_track2). Nothing stays in the reader.
- insert(card): the card sits in the slot until remove(). A card with a
  chip posts CardEvent(INSERT) and answers transceive(). A card without a
  chip posts CardEvent(INSERT, error="NO_CHIP"): a real reader powers the
  contacts, gets no answer-to-reset and reports a chip error; the firmware
  then asks for a swipe, as it would for a mute chip.
- tap(card): a contactless card enters the field, posts CardEvent(TAP) and
  stays until remove(). A card without an antenna is not detected by a
  real reader's polling, so nothing is posted; tap() returns False so the
  emulator can show that nothing happened.
- remove(): posts CardEvent(REMOVE) if a card was in the slot or the field.

One card at a time: inserting or tapping while another card is present
takes that one out first (posting REMOVE), as a person would.
"""

from hal.card_reader import CardReader, CardEvent, SWIPE, INSERT, TAP, REMOVE
from hal.compat import sleep_ms
from hal.errors import CardError, DeviceError
from hal.sim.chip import SimChip, CHIP_FAULTS
from hal.sim.deck import find_card

NO_CHIP = "NO_CHIP"


class SimCardReader(CardReader):
    def __init__(self):
        super().__init__()
        self._card = None    # the TestCard in the slot or the field
        self._chip = None    # its SimChip, None for a card without a chip
        self._how = None     # INSERT or TAP
        self._chips = {}     # PAN -> SimChip: a card's ATC keeps counting across insertions

    @classmethod
    def from_address(cls, path, **options):
        if path:
            raise DeviceError("sim card reader takes no path (use 'sim:'), got %r" % path)
        return super().from_address(path, **options)

    # -- what the user does ------------------------------------------------

    def swipe(self, card):
        card = self._resolve(card)
        self._post(CardEvent(SWIPE, track2=card.track2))

    def insert(self, card, fault=None):
        """fault: None, "mute", "no_app" or "bad_sfi" (see hal.sim.chip.SimChip)."""
        card = self._resolve(card)
        self._take_out()
        self._card = card
        self._how = INSERT
        if not card.chip:
            self._chip = None
            self._post(CardEvent(INSERT, error=NO_CHIP))
            return
        self._chip = self._chip_for(card, contactless=False, fault=fault)
        self._post(CardEvent(INSERT))

    def tap(self, card, fault=None):
        """Returns False (and posts nothing) for a card without contactless."""
        card = self._resolve(card)
        if not card.contactless:
            return False
        self._take_out()
        self._card = card
        self._how = TAP
        self._chip = self._chip_for(card, contactless=True, fault=fault)
        self._post(CardEvent(TAP))
        return True

    def remove(self):
        """Returns False if there was no card to take out."""
        return self._take_out()

    # -- what the firmware does --------------------------------------------

    async def _transceive(self, apdu):
        # Let other tasks run, as a real exchange takes milliseconds: a card
        # can then be pulled out in the middle of a read.
        await sleep_ms(0)
        if self._card is None:
            raise CardError("no card in the reader")
        if self._chip is None or self._chip.fault == "mute":
            raise CardError("the chip does not answer")
        return self._chip.process(apdu)

    def card_present(self):
        """True while a card sits in the slot (the interface's meaning: the
        firmware asks the cardholder to remove it). A tapped card has left
        the field by the time anyone could be asked."""
        return self._card is not None and self._how == INSERT

    @property
    def chip(self):
        """The simulated chip in the slot or field (None if there is none):
        tests read chip.commands to see the APDUs the firmware sent."""
        return self._chip

    # -- inside ------------------------------------------------------------

    def _resolve(self, card):
        if isinstance(card, str):
            return find_card(card)
        return card

    def _chip_for(self, card, contactless, fault):
        if fault not in CHIP_FAULTS:
            raise ValueError("unknown chip fault %r (known: %s)" % (fault, ", ".join(f for f in CHIP_FAULTS if f)))
        chip = self._chips.get(card.pan)
        if chip is None:
            chip = SimChip.from_card(card, contactless=contactless, fault=fault)
            self._chips[card.pan] = chip
        chip.fault = fault
        chip.commands = []
        chip.reset(contactless=contactless)
        return chip

    def _take_out(self):
        if self._card is None:
            return False
        self._card = None
        self._chip = None
        self._how = None
        self._post(CardEvent(REMOVE))
        return True
