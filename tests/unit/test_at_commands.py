"""AT lines (hal/at_commands.py) against 3GPP TS 27.007's examples."""

import pytest

from hal import at_commands as at


@pytest.mark.parametrize("rssi, dbm", [(0, -113), (1, -111), (15, -83), (30, -53), (31, -51), (99, None)])
def test_rssi_to_dbm(rssi, dbm):
    assert at.rssi_to_dbm(rssi) == dbm


def test_csq():
    assert at.parse_csq("+CSQ: 23,99") == 23
    assert at.parse_csq("+CSQ: 99,99") == 99
    for bad in ("+CSQ: 40,0", "+CSQ: x,0", "+CREG: 1"):
        with pytest.raises(at.AtError):
            at.parse_csq(bad)


@pytest.mark.parametrize("line, parsed", [
    ("+CREG: 0,1", ("+CREG:", "home")),            # answer to AT+CREG?
    ("+CREG: 1,5", ("+CREG:", "roaming")),
    ("+CEREG: 2,3,\"1A2B\",\"01C3D4E5\",7", ("+CEREG:", "denied")),
    ("+CREG: 2", ("+CREG:", "searching")),         # unsolicited, n = 1
    ("+CEREG: 0", ("+CEREG:", "not_registered")),
    ("+CGREG: 4", ("+CGREG:", "unknown")),
])
def test_registration(line, parsed):
    assert at.parse_registration(line) == parsed


def test_answer_and_unsolicited_registration_lines_differ_by_their_fields():
    assert at.is_registration_answer("+CREG: 1,2")
    assert not at.is_registration_answer("+CREG: 2")


def test_sim_states():
    assert at.sim_state("READY") == "READY"
    assert at.sim_state("SIM PIN") == "PIN"
    assert at.sim_state(None, at.CME_SIM_NOT_INSERTED) == "ABSENT"
    assert at.sim_state("NOT READY") == "ABSENT"


def test_final_lines():
    assert at.is_final("OK") and at.is_final("ERROR") and at.is_final("+CME ERROR: 10")
    assert not at.is_final("+CSQ: 1,2") and not at.is_final("RING")
    assert at.final_error("OK") is None and at.final_error("+CME ERROR: 10") == 10


def test_split_lines_keeps_an_unfinished_line():
    lines, rest = at.split_lines(b"\r\n+CSQ: 23,99\r\n\r\nOK\r\n+CER")
    assert lines == ["+CSQ: 23,99", "OK"] and rest == b"+CER"
    assert at.command_line("AT+CSQ") == b"AT+CSQ\r"
