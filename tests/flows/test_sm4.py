"""SM4 (国密) as an acquirer option, end to end: sign-on with SM4 keys
under an SM4 master key, the 16-byte SM4 PIN block in F52, the SM4 MAC
both ways, track 2 with its issuer block under the SM4 track key."""

import pytest

from emulator.host import security
from firmware import iso8583
from hal import sm4
from hal.sim.deck import find_card
from tests.flows import cashier
from tests.flows.test_sale import recorded_requests

PIN_CARD = find_card("debit-pin")


@pytest.fixture
def host_options():
    return {"key_algorithm": "sm4"}


@pytest.fixture
def sm4_handset(make_handset):
    return make_handset(key_algorithm="sm4")


def test_sale_with_pin_under_sm4_keys(sm4_handset, host):
    before = host.balance(PIN_CARD.pan)
    cashier.sale(sm4_handset, 2500, "debit-pin", pin="123456")
    assert host.balance(PIN_CARD.pan) == before - 2500
    request = recorded_requests(host.record_path, "0200", iso8583.PIN_BLOCK_SM4)[-1]
    row = host.terminal(sm4_handset.app.settings.terminal_id)
    assert len(request[52]) == 16
    assert sm4.decrypt_block(bytes(row["pin_key"]), request[52]) == sm4.pin_block_16("123456", PIN_CARD.pan)
    assert request[64] == sm4.cbc_mac(bytes(row["mac_key"]), _mac_data(request))[:8]
    assert request[35] != PIN_CARD.track2 and request[53][2] == "1"
    assert security.decrypt_track(bytes(row["track_key"]), request[35], "sm4") == PIN_CARD.track2


def _mac_data(request):
    return iso8583.mac_data("0200", request, iso8583.PIN_BLOCK_SM4)


def test_wrong_pin_under_sm4_keys_is_declined(sm4_handset, host):
    before = host.balance(PIN_CARD.pan)
    cashier.sale(sm4_handset, 2500, "debit-pin", pin="654321", expect="Wrong PIN (55)")
    assert host.balance(PIN_CARD.pan) == before


def test_a_3des_terminal_cannot_sign_on_to_an_sm4_host(make_handset, host):
    handset = make_handset()
    assert not handset.call(lambda: handset.app.signed_on)
    assert not handset.call(handset.app.devices.keystore.has_working_keys)
