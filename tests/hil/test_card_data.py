"""No reply of the test protocol carries a full card number or track data:
not the screen, not the printouts (decoded), not the journal."""

import base64
import json

from hal.sim import deck


def test_no_reply_carries_a_card_number_or_a_track(dut):
    dut.transcript = []
    try:
        chip = dut.sale(2500, "chip-pin", action="insert", pin="888888")
        dut.sale(1500, "debit-pin", pin="123456")
        dut.void(chip["trace"], card="chip-pin", action="insert", pin="888888")
        dut.screen(png=True)
        dut.printout(0)
        dut.journal()
        replies = list(dut.transcript)
    finally:
        dut.transcript = None
    secrets = [c.pan for c in deck.test_deck()] + [c.track2 for c in deck.test_deck()]
    scanned = []
    for line in replies:
        scanned.append(line.decode())
        reply = json.loads(line)
        for slip in reply.get("printouts") or reply.get("slips") or []:
            for value in slip.values() if isinstance(slip, dict) else [slip]:
                if isinstance(value, str):
                    try:
                        scanned.append(base64.b64decode(value, validate=True).decode("latin-1"))
                    except ValueError:
                        pass
    text = "\n".join(scanned)
    assert len(replies) > 20
    for secret in secrets:
        assert secret not in text
