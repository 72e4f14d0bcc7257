"""A man in the middle between the terminal and the acquirer (issue 13):
a proxy on loopback that forges a decline into an approval, strips the MAC
from a reply, or answers as a host of its own. Under the defaults each
attack is refused, the terminal reverses what the host may hold, and the
money at the host matches the journal."""

import pytest

from emulator.host import security
from firmware import iso8583
from hal.sim.deck import find_card
from tests.flows import cashier
from tests.flows.mitm import Mitm, decode, forge_approval, strip_mac, strip_mac_as_key_error, xor_fold
from tests.flows.test_sale import recorded_requests

LOW_FUNDS = find_card("low-funds")   # 10.00 yuan on the host
DEBIT = find_card("debit-mag")


def journal_matches_host(handset, host, card, opening):
    """Every approved sale in the journal is money the host took; nothing
    else is."""
    taken = sum(t["amount"] for t in handset.journal() if t["type"] == "sale" and t["status"] == "approved")
    return host.balance(card.pan) == opening - taken


def test_forged_approval_under_the_default_x919_mac_is_refused_and_reversed(make_handset, host):
    opening = host.balance(LOW_FUNDS.pan)
    with Mitm(host.port, tamper=forge_approval) as mitm:
        handset = make_handset(host_port=mitm.port)
        assert handset.app.settings.mac_algorithm == "x919"
        cashier.sale(handset, 5000, "low-funds", expect="Reply MAC error, reversed")
        assert mitm.tampered == 1
        slips = cashier.receipts_text(handset)
        assert not any("SALE" in "\n".join(s) and "RMB 50.00" in "\n".join(s) for s in slips)
    assert handset.journal()[-1]["status"] == "reversed"
    assert [r[39] for r in recorded_requests(host.record_path, "0400")] == ["A0"]
    assert host.balance(LOW_FUNDS.pan) == opening
    assert journal_matches_host(handset, host, LOW_FUNDS, opening)


class TestEcbAcquirer:
    """An acquirer that still uses the UnionPay ECB MAC (an option)."""

    @pytest.fixture
    def host_options(self):
        return {"mac_algorithm": "ecb"}

    def test_the_forgery_keeps_the_ecb_mac_valid(self, make_handset, host):
        """What ECB mode is: the forged reply carries the host's own MAC and
        it still verifies. Only the reply checks stand in the way."""
        captured = []

        def forge_and_keep(frame):
            forged = forge_approval(frame)
            if forged != frame:
                captured.append((frame, forged))
            return forged

        with Mitm(host.port, tamper=forge_and_keep) as mitm:
            handset = make_handset(host_port=mitm.port, mac_algorithm="ecb")
            cashier.sale(handset, 5000, "low-funds", expect="Bad host reply, reversed")
            assert mitm.tampered == 1
        original, forged = captured[0]
        _, _, mti, before = decode(original)
        _, _, _, after = decode(forged)
        assert (before[39], after[39]) == ("51", "00") and before[37] != after[37]
        assert after[64] == before[64]
        mac_key = host.terminal(handset.app.settings.terminal_id)["mac_key"]
        assert security.mac_matches("ecb", mac_key, mti, after)
        # The same forgery under X9.19 does not verify.
        assert xor_fold(iso8583.mac_data(mti, after)) == xor_fold(iso8583.mac_data(mti, before))
        assert security.compute_mac("x919", mac_key, mti, after) != security.compute_mac("x919", mac_key, mti, before)
        # Refused all the same: an approved sale without an auth code is no answer.
        assert handset.journal()[-1]["status"] == "reversed"
        assert host.balance(LOW_FUNDS.pan) == host.ledger.account(LOW_FUNDS.pan)["balance"]

    def test_ecb_is_flagged_on_the_idle_screen(self, make_handset, host):
        handset = make_handset(mac_algorithm="ecb")
        assert "ECB MAC" in handset.screen_text()


def test_the_default_idle_screen_shows_no_ecb_flag(handset):
    assert "ECB MAC" not in handset.screen_text()


@pytest.mark.parametrize("tamper, message", [
    (strip_mac, "Reply MAC error, reversed"),
    (strip_mac_as_key_error, "Reply MAC error, reversed"),
])
def test_a_reply_stripped_of_its_mac_is_no_answer_and_the_sale_is_reversed(make_handset, host, tamper,
                                                                           message):
    opening = host.balance(DEBIT.pan)
    with Mitm(host.port, tamper=tamper) as mitm:
        handset = make_handset(host_port=mitm.port)
        cashier.sale(handset, 1234, "debit-mag", expect=message)
        assert mitm.tampered == 1
    assert handset.journal()[-1]["status"] == "reversed"
    assert host.balance(DEBIT.pan) == opening
    assert journal_matches_host(handset, host, DEBIT, opening)
