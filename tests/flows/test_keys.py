"""Keys end to end (issue 13): a terminal keyed on the bench (file: key
store, KEK apart from the data), the public test key refused outside test
mode, a fake host that holds the public test key, a tampered sign-on
reply, and track 2 that no longer travels in clear."""

import os

import pytest

from emulator.host.server import HostSimulator
from hal.keystore import TEST_MASTER_KEY
from hal.linux.keystore import FileKeyStore
from hal.sim.deck import find_card
from firmware import iso8583
from tests.flows import cashier
from tests.flows.mitm import Mitm, decode, encode
from tests.flows.test_sale import recorded_requests

BENCH_TMK = bytes.fromhex("3B5A0D4C7E1F2A6B8C9D0E1F2A3B4C5D")
DEBIT = find_card("debit-mag")


@pytest.fixture
def host_options():
    """The acquirer shares the bench-injected TMK with the terminal."""
    return {"master_key": BENCH_TMK}


@pytest.fixture
def keyed(tmp_path):
    """The address of a file: key store holding BENCH_TMK, KEK apart."""
    secure = tmp_path / "secure"
    secure.mkdir()
    (secure / "kek").write_bytes(os.urandom(16))
    address = "file:%s?kek=%s" % (tmp_path / "keys" / "keys.json", secure / "kek")
    FileKeyStore(str(tmp_path / "keys" / "keys.json"), str(secure / "kek")).inject_master_key(BENCH_TMK)
    return {"keystore": address}


@pytest.fixture
def fake_host(tmp_path):
    """A host of the attacker's, holding the published test master key."""
    fake = HostSimulator(str(tmp_path / "fake.sqlite"), master_key=TEST_MASTER_KEY)
    fake.start_in_thread()
    yield fake
    fake.stop_thread()


def test_a_keyed_terminal_signs_on_and_sends_track_2_encrypted(make_handset, host, keyed):
    handset = make_handset(devices=keyed, test_keys=False)
    assert handset.call(lambda: handset.app.signed_on)
    assert "[SIM KEYS]" not in handset.screen_text()
    before = host.balance(DEBIT.pan)
    cashier.sale(handset, 1234, "debit-mag")
    assert host.balance(DEBIT.pan) == before - 1234
    signon, parameters = recorded_requests(host.record_path, "0800")[-2:]
    assert iso8583.parse_field60(signon[60])["network_code"] == "004"
    assert iso8583.parse_field60(parameters[60])["network_code"] == "360"   # the download after it
    sale = recorded_requests(host.record_path, "0200")[-1]
    assert sale[35] != DEBIT.track2 and len(sale[35]) == len(DEBIT.track2)
    assert sale[53][2] == "1"
    with open(host.record_path) as f:
        frames = f.read().upper()
    # The card verification part of the track is nowhere in the frames.
    assert DEBIT.track2.replace("=", "D")[-17:-1] not in frames


def test_the_public_test_key_does_not_sign_on_outside_test_mode(make_handset, fake_host):
    """On the old main a terminal with the public test key signed on with
    anyone holding it and approved a sale that the real host never saw."""
    with Mitm(fake_host.port) as mitm:
        handset = make_handset(host_port=mitm.port, test_keys=False)
        assert "Not signed on" in handset.screen_text()
        handset.keys("1000")
        handset.enter()
        handset.wait_text("Test key: sign-on refused")
        handset.wait_idle()
    assert fake_host.terminal(handset.app.settings.terminal_id) is None
    assert fake_host.transactions() == []


def test_a_fake_host_cannot_sign_on_a_keyed_terminal(make_handset, host, keyed, fake_host):
    with Mitm(fake_host.port) as mitm:
        handset = make_handset(devices=keyed, host_port=mitm.port, test_keys=False)
        assert not handset.call(lambda: handset.app.signed_on)
        handset.keys("1000")
        handset.enter()
        handset.wait_text("Key error, sign on again")
        handset.wait_idle()
    # The fake host signed it on on its side, but no sale ever reached it.
    assert fake_host.transactions() == []
    assert handset.journal() == []


def change_signon_batch(frame):
    """The 0810 with another batch number in F60 (keys untouched)."""
    tpdu, header, mti, fields = decode(frame)
    if mti != "0810":
        return frame
    fields[60] = fields[60][:2] + "000777" + fields[60][8:]
    return encode(tpdu, header, mti, fields)


def test_a_tampered_sign_on_reply_installs_no_key(make_handset, host, keyed):
    with Mitm(host.port, tamper=change_signon_batch) as mitm:
        handset = make_handset(devices=keyed, host_port=mitm.port, test_keys=False)
        assert mitm.tampered == 1
        assert not handset.call(lambda: handset.app.signed_on)
        assert not handset.call(handset.app.devices.keystore.has_working_keys)
        assert handset.app.state.batch != 777


def test_the_emulator_runs_on_the_test_key_and_says_so(handset):
    assert handset.app.settings.test_keys
    assert handset.call(handset.app.devices.keystore.uses_test_master_key)
    assert "[SIM KEYS]" in handset.screen_text()
