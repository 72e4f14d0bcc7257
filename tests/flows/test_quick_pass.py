"""小额双免 (UnionPay QuickPass, docs/QUICKPASS.md): a contactless sale at or
below the no-PIN limit asks no PIN, at or below the no-signature limit
needs no signature; one fen above, the card's own CVM applies (online PIN,
a signature line); an inserted card always follows its CVM list; a card
whose issuer wants the PIN at every amount gets it, tapped too. The limits
come from the acquirer's parameter download at sign-on (0800, 60.3 = 360),
which a hostile or broken reply cannot change, and which survives a reboot.

Cards: chip-pin (PIN 888888 above the limit), chip-pin-always (PIN 246810
at every amount), credit-chip (no PIN: a signature)."""

import json
import socket

import pytest

from emulator.host.control import answer
from firmware import iso8583, termparams
from tests.flows import cashier
from tests.flows.mitm import Mitm, decode, encode
from tests.flows.test_sale import recorded_requests

LIMIT = 100000   # 1000.00 yuan, UnionPay's default of both limits
PIN = {"chip-pin": "888888", "chip-pin-always": "246810"}
NO_PIN_NO_SIGNATURE = "免密免签 NO PIN, NO SIGNATURE REQUIRED"
NO_SIGNATURE = "免签 NO SIGNATURE REQUIRED"
NO_PIN = "免密 NO PIN REQUIRED"
SIGNATURE_LINE = "CARDHOLDER SIGNATURE"


def sale(h, host, amount, card="chip-pin", action="tap", pin_expected=False):
    """One sale; -> (txn, the request as sent, the merchant copy's text).
    The PIN is keyed only if the terminal asks for it (`pin_expected`); a
    prompt that should not come leaves the sale waiting, and it fails."""
    cashier.sale(h, amount, card, action=action, pin=PIN[card] if pin_expected else None)
    txn = cashier.last_txn(h)
    assert txn["status"] == "approved"
    request = recorded_requests(host.record_path, "0200")[-1]
    merchant = "\n".join(cashier.receipts_text(h)[-2])
    return txn, request, merchant


WAIVED = {(False, False): "no_pin_no_signature", (True, False): "no_signature", (False, True): "no_pin",
          (True, True): None}


def check_cvm(txn, request, merchant, pin, signature, quick_pass=True):
    """What the cardholder did (`pin` keyed, `signature` line to sign),
    as the request, the journal and the slip all say it; with
    `quick_pass` False nothing was waived (a card that needs no PIN
    anyway, an inserted card)."""
    assert (52 in request) == pin
    assert request[22][2] == ("1" if pin else "2")       # F22: PIN entered or not
    assert (SIGNATURE_LINE in merchant) == signature
    waived = WAIVED[(pin, signature)] if quick_pass else None
    assert txn.get("cvm") == waived
    line = {"no_pin_no_signature": NO_PIN_NO_SIGNATURE, "no_signature": NO_SIGNATURE, "no_pin": NO_PIN}
    unwrapped = merchant.replace("\n", "").replace(" ", "")    # the slip wraps long lines
    for note, text in line.items():
        assert (text.replace(" ", "") in unwrapped) == (note == waived), (note, merchant)


def host_params(host, **values):
    host.acquirer.set_params(values)


def sign_on(h):
    cashier.menu(h, "6")
    h.wait_text("Signed on")
    h.wait_idle()


# -- one limit (UnionPay's default for both) ---------------------------------------

@pytest.mark.parametrize("amount", [LIMIT - 1, LIMIT])
def test_tap_at_or_below_the_limit_asks_no_pin_and_no_signature(handset, host, amount):
    check_cvm(*sale(handset, host, amount), pin=False, signature=False)


def test_one_fen_above_the_limit_the_card_asks_its_pin_and_a_signature(handset, host):
    check_cvm(*sale(handset, host, LIMIT + 1, pin_expected=True), pin=True, signature=True)


def test_an_inserted_card_is_never_quick_pass(handset, host):
    h = handset
    check_cvm(*sale(h, host, LIMIT - 1, action="insert", pin_expected=True), pin=True, signature=True)
    check_cvm(*sale(h, host, 100, card="credit-chip", action="insert"), pin=False, signature=True,
              quick_pass=False)


def test_a_card_without_pin_tapped_above_the_limit_signs(handset, host):
    check_cvm(*sale(handset, host, LIMIT + 1, card="credit-chip"), pin=False, signature=True, quick_pass=False)


@pytest.mark.parametrize("amount", [1, LIMIT - 1, LIMIT, LIMIT + 1])
def test_a_card_that_demands_its_pin_gets_it_tapped_below_the_limit(handset, host, amount):
    """The card's CTQ (9F6C "online PIN required") beats the terminal's
    no-PIN limit; the no-signature limit is the acquirer's and still holds."""
    txn, request, merchant = sale(handset, host, amount, card="chip-pin-always", pin_expected=True)
    check_cvm(txn, request, merchant, pin=True, signature=amount > LIMIT)


def test_the_pin_demanding_card_inserted_asks_its_pin(handset, host):
    check_cvm(*sale(handset, host, 100, card="chip-pin-always", action="insert", pin_expected=True),
              pin=True, signature=True)


# -- two limits apart, from the acquirer's parameter download ----------------------------

# (amount, PIN asked, signature line) with the no-PIN limit at 300.00 and
# the no-signature limit at 500.00, then the other way round.
PIN_BELOW_SIGNATURE = [(29999, False, False), (30000, False, False), (30001, True, False),
                       (49999, True, False), (50000, True, False), (50001, True, True)]
SIGNATURE_BELOW_PIN = [(29999, False, False), (30000, False, False), (30001, False, True),
                       (49999, False, True), (50000, False, True), (50001, True, True)]


@pytest.mark.parametrize("no_pin, no_signature, cases", [
    (30000, 50000, PIN_BELOW_SIGNATURE),
    (50000, 30000, SIGNATURE_BELOW_PIN),
], ids=["pin-limit-below", "signature-limit-below"])
def test_each_limit_moves_its_own_boundary(make_handset, host, no_pin, no_signature, cases):
    host_params(host, qps_no_pin_limit_fen=no_pin, qps_no_signature_limit_fen=no_signature)
    h = make_handset()
    assert h.app.settings.qps_no_pin_limit_fen == no_pin
    assert h.app.settings.qps_no_signature_limit_fen == no_signature
    for amount, pin, signature in cases:
        txn, request, merchant = sale(h, host, amount, pin_expected=pin)
        check_cvm(txn, request, merchant, pin=pin, signature=signature)
    # Inserted, the same amounts follow the card's CVM list only.
    check_cvm(*sale(h, host, 29999, action="insert", pin_expected=True), pin=True, signature=True)


def test_the_host_moves_the_limit_and_the_next_sign_on_moves_the_boundary(handset, host):
    h = handset
    check_cvm(*sale(h, host, 40000), pin=False, signature=False)
    host_params(host, qps_no_pin_limit_fen=30000, qps_no_signature_limit_fen=30000)
    sign_on(h)
    check_cvm(*sale(h, host, 40000, pin_expected=True), pin=True, signature=True)
    check_cvm(*sale(h, host, 30000), pin=False, signature=False)
    request = recorded_requests(host.record_path, "0800")[-1]
    assert iso8583.parse_field60(request[60])["network_code"] == termparams.NETWORK_CODE
    assert 64 in request   # the download is MACed both ways


def test_the_control_channel_sets_one_terminals_parameters(make_handset, host):
    """pos-host's control channel (emulator/host/control.py) sets them per terminal."""
    reply = answer(host, json.dumps({"op": "params", "tid": "10000001",
                                     "set": {"qps_no_pin_limit_fen": 20000, "esign_void": True}}))
    assert reply["ok"] and reply["params"]["qps_no_pin_limit_fen"] == 20000
    assert answer(host, json.dumps({"op": "params", "tid": "10000002"}))["params"]["qps_no_pin_limit_fen"] == LIMIT
    assert not answer(host, json.dumps({"op": "params", "set": {"lang": "en"}}))["ok"]
    h = make_handset()
    assert h.app.settings.qps_no_pin_limit_fen == 20000
    assert h.app.settings.esign_void is True      # what the e-signature screen reads


def test_the_acquirers_limit_beats_the_merchants_settings_file(make_handset, host, tmp_path):
    data = tmp_path / "merchant"
    data.mkdir()
    (data / "settings.json").write_text('{"qps_no_pin_limit_fen": 90000}')
    host_params(host, qps_no_pin_limit_fen=30000)
    h = make_handset(data_dir=data)
    assert h.app.settings.qps_no_pin_limit_fen == 30000
    check_cvm(*sale(h, host, 40000, pin_expected=True), pin=True, signature=False)


# -- what must not change the parameters -------------------------------------------

def log_text(h):
    return "\n".join(h.app.log.lines)


def downloaded_once(h, host):
    """A first good download (300.00 / 500.00, voids signed)."""
    host_params(host, qps_no_pin_limit_fen=30000, qps_no_signature_limit_fen=50000, esign_void=True)
    sign_on(h)
    kept = h.app.settings.acquirer()
    assert kept == {"qps_no_pin_limit_fen": 30000, "qps_no_signature_limit_fen": 50000,
                    "esign_void": True, "esign_refund": False}
    return kept


@pytest.mark.parametrize("hostile", ["bad_value", "unknown_tag"])
def test_a_hostile_parameter_reply_keeps_the_old_ones_and_signs_on(handset, host, hostile):
    h = handset
    kept = downloaded_once(h, host)
    if hostile == "bad_value":
        host_params(host, qps_no_pin_limit_fen=100001)   # above the setting's rule (the scheme's 1000.00 yuan)
    else:
        host_params(host, qps_no_pin_limit_fen=100000)
        host.acquirer.params_extra = [("Z9", b"1")]
    sign_on(h)     # the sign-on completes ("Signed on") whatever the download said
    assert h.call(lambda: h.app.signed_on)
    assert h.app.settings.acquirer() == kept and h.app.settings.qps_no_pin_limit_fen == 30000
    assert "parameter download refused" in log_text(h)
    check_cvm(*sale(h, host, 30001, pin_expected=True), pin=True, signature=False)


def raise_the_limit_in_flight(frame):
    """A man in the middle raises the no-PIN limit of a parameter reply
    (keeping its length): the MAC no longer matches."""
    tpdu, header, mti, fields = decode(frame)
    if mti != "0810" or not fields.get(62, b"").startswith(b"Q1005"):
        return frame
    fields[62] = b"Q1005" b"99999" + fields[62][10:]
    return encode(tpdu, header, mti, fields)


def test_a_parameter_reply_without_a_valid_mac_is_ignored(make_handset, host):
    host_params(host, qps_no_pin_limit_fen=30000)
    with Mitm(host.port) as mitm:
        h = make_handset(host_port=mitm.port)
        assert h.app.settings.qps_no_pin_limit_fen == 30000      # passed on untouched: taken
        host_params(host, qps_no_pin_limit_fen=40000)
        mitm.tamper = raise_the_limit_in_flight
        sign_on(h)
        assert mitm.tampered == 1
        assert h.call(lambda: h.app.signed_on)
        assert "parameter download: no usable answer (BAD_MAC)" in log_text(h)
        assert h.app.settings.qps_no_pin_limit_fen == 30000       # neither 99999 nor the host's 40000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_parameters_survive_a_reboot_without_the_host(handset, host):
    h = handset
    downloaded_once(h, host)
    h.power_cut()
    h.settings["host_port"] = free_port()     # nobody answers: no sign-on, no download
    h.start()
    assert not h.call(lambda: h.app.signed_on)
    assert h.app.settings.qps_no_pin_limit_fen == 30000
    assert h.app.settings.qps_no_signature_limit_fen == 50000 and h.app.settings.esign_void is True
