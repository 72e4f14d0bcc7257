"""The card-reader module on a pty, presenting cards from the test deck.

It speaks the module's side of hal/reader_protocol.py. The card logic is the
simulated reader's (hal/sim/card_reader.py: chips from hal/sim/chip.py,
keyed by card, so a card's ATC keeps counting), wrapped in the frames a real
module sends: what the person does is queued until the terminal polls.

    sim = CardModuleSim().start()           # "reader:" + sim.path
    sim.swipe("debit-mag"); sim.insert("chip-pin"); sim.tap("credit-chip"); sim.remove()
    sim.silent = True; sim.garble = True    # a dead module; damaged answers
"""

import asyncio

from hal import reader_protocol as rp
from hal.card_reader import INSERT, REMOVE, SWIPE, TAP
from hal.errors import CardError
from hal.sim.card_reader import NO_CHIP, SimCardReader
from emulator.peripherals.pty import PtyPeer


class CardModuleSim(PtyPeer):
    def __init__(self, path=None):
        PtyPeer.__init__(self, path)
        self.reader = SimCardReader()
        self.events = []        # CardEvents not yet polled
        self.reader.set_listener(lambda event: self.events.append(event[1]))
        self.garble = False
        self.beeps = []
        self.leds = {}
        self.commands = []      # command bytes received, for tests
        self._buffer = b""
        self._loop = asyncio.new_event_loop()

    # -- what the person does (the simulated reader's own calls) ------------------

    def swipe(self, card):
        with self._lock:
            self.reader.swipe(card)

    def insert(self, card, fault=None):
        with self._lock:
            self.reader.insert(card, fault)

    def tap(self, card, fault=None):
        with self._lock:
            return self.reader.tap(card, fault)

    def remove(self):
        with self._lock:
            return self.reader.remove()

    def stop(self):
        PtyPeer.stop(self)
        self._loop.close()

    # -- the line --------------------------------------------------------------------

    def on_bytes(self, data):
        self._buffer += data
        while self._buffer:
            try:
                frame = rp.decode_frame(self._buffer)
            except rp.FrameError as e:
                self._buffer = self._buffer[e.skip:]
                self.send(rp.answer(0, rp.BAD_FRAME))
                continue
            if frame is None:
                return
            command, payload, self._buffer = frame
            self.commands.append(command)
            reply = self._answer(command, payload)
            if self.garble:
                reply = reply[:-1] + bytes(((reply[-1] ^ 0x5A),))
            self.send(reply)

    def _answer(self, command, payload):
        if command == rp.POLL:
            return rp.answer(command, rp.OK, self._next_event())
        if command == rp.APDU:
            if self.reader.chip is None:
                return rp.answer(command, rp.NO_CARD)
            try:
                response = self._loop.run_until_complete(self.reader.transceive(payload))
            except CardError:
                return rp.answer(command, rp.CARD_MUTE)
            return rp.answer(command, rp.OK, response)
        if command == rp.POWER_OFF:
            return rp.answer(command)
        if command == rp.BEEP:
            if len(payload) != 2:
                return rp.answer(command, rp.BAD_DATA)
            self.beeps.append((payload[0] << 8) | payload[1])
            return rp.answer(command)
        if command == rp.LED:
            if len(payload) != 2:
                return rp.answer(command, rp.BAD_DATA)
            self.leds[payload[0]] = bool(payload[1])
            return rp.answer(command)
        return rp.answer(command, rp.UNKNOWN_COMMAND)

    def _next_event(self):
        if not self.events:
            return rp.encode_event(rp.EVENT_NONE)
        event = self.events.pop(0)
        if event.action == SWIPE:
            return rp.encode_event(rp.EVENT_SWIPE, (event.track2 or "").encode())
        if event.action == INSERT:
            return rp.encode_event(rp.EVENT_INSERT, bytes((rp.INSERT_NO_CHIP if event.error == NO_CHIP
                                                           else rp.INSERT_CHIP_OK,)))
        if event.action == TAP:
            return rp.encode_event(rp.EVENT_TAP)
        if event.action == REMOVE:
            return rp.encode_event(rp.EVENT_REMOVE)
        return rp.encode_event(rp.EVENT_NONE)
