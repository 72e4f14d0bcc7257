"""The formats firmware/host.reply_fields_match checks on what a host adds
to a reply: a field that cannot be real makes the reply no answer."""

import pytest

from firmware.host import answer_fields, reply_fields_match

SALE_REQUEST = {3: "000000", 4: "000000001000", 11: "000123", 41: "10000001", 42: "898100012340001"}


def approved(**extra):
    reply = dict(SALE_REQUEST)
    reply.update({39: "00", 37: "000000000042", 38: "123456", 12: "101500", 13: "1201", 15: "1201"})
    reply.update(extra)
    return reply


def test_an_approval_with_every_added_field_well_formed_matches():
    assert reply_fields_match("0200", SALE_REQUEST, approved())


@pytest.mark.parametrize("number, value", [(15, "1399"), (15, "0001"), (15, "0232"), (13, "1300"), (12, "250000")])
def test_a_date_or_time_that_does_not_exist_is_no_answer(number, value):
    assert not reply_fields_match("0200", SALE_REQUEST, _with(number, value))


def _with(number, value):
    reply = approved()
    reply[number] = value
    return reply


def test_the_settlement_date_is_kept_for_the_feature_code():
    assert answer_fields(approved())["settle_date"] == "1201"
    reply = approved()
    del reply[15]
    assert "settle_date" not in answer_fields(reply)
