"""Passwords: lockout after repeated failures, the forced change, operators."""

from tests.flows import cashier


def try_supervisor(h, password):
    cashier.menu(h, "2")
    cashier.supervisor(h, password)


def test_three_wrong_supervisor_passwords_lock_for_a_while_even_across_a_reboot(handset):
    h = handset
    cashier.unlock_supervisor(h)
    try_supervisor(h, "000000")
    h.wait_text("Wrong password, 2 tries left")
    h.wait_idle()
    try_supervisor(h, "000001")
    h.wait_text("Wrong password, 1 tries left")
    h.wait_idle()
    try_supervisor(h, "000002")
    h.wait_text("Locked: try again in 5 min")
    h.wait_idle()
    h.reboot()
    cashier.menu(h, "2")
    h.wait_text("Locked: try again in")   # refused before asking, the right password too
    h.wait_idle()
    # time passes (the clock is the device's wall clock)
    t = h.app.devices.clock.now()
    h.call(h.app.devices.clock.set, _plus_minutes(t, 6))
    try_supervisor(h, cashier.SUPERVISOR_PW)
    h.wait_text("Original trace")
    h.key("CANCEL")
    h.wait_idle()


def _plus_minutes(t, minutes):
    year, month, day, hour, minute, second = t[:6]
    minute += minutes
    hour += minute // 60
    minute %= 60
    day += hour // 24
    hour %= 24
    return (year, month, day, hour, minute, second)


def test_new_password_cannot_be_the_factory_one_and_must_match(handset):
    h = handset
    cashier.menu(h, "7")
    h.keys("1")
    cashier.supervisor(h, "123456")
    h.wait_text("New password:")
    h.keys("123456")
    h.enter()
    h.wait_text("New password again")
    h.keys("123456")
    h.enter()
    h.wait_text("Factory password not allowed")
    h.wait_idle()
    cashier.menu(h, "7")
    h.keys("1")
    cashier.supervisor(h, "123456")
    h.wait_text("New password:")
    h.keys("111111")
    h.enter()
    h.keys("222222")
    h.enter()
    h.wait_text("Passwords differ")
    h.wait_idle()


def test_operator_sign_in_at_the_idle_screen(handset):
    h = handset
    h.wait_idle()
    h.wait_text("Operator: 01")
    h.wait_text("F1: operator sign-in")   # a message code with a digit is resolved too
    h.key("F1")
    h.wait_text("Operator number")
    h.keys("03")
    h.enter()
    h.wait_text("Operator password")
    h.keys("1111")
    h.enter()
    h.wait_text("Wrong password, 2 tries left")
    h.wait_idle()
    assert h.app.operator == "01"
    h.key("F1")
    h.wait_text("Operator number")
    h.keys("03")
    h.enter()
    h.keys("0000")
    h.enter()
    h.wait_text("Operator 03 signed in")
    h.wait_idle()
    h.wait_text("Operator: 03")


def test_operator_sign_in_and_password_change(handset):
    h = handset
    cashier.unlock_supervisor(h)
    cashier.menu(h, "7")
    h.keys("4")
    h.wait_text("Operator number")
    h.keys("02")
    h.enter()
    h.wait_text("Operator password")
    h.keys("0000")
    h.enter()
    h.wait_text("Operator 02 signed in")
    h.wait_idle()
    assert h.app.operator == "02"
    cashier.sale(h, 100, "debit-mag")
    assert "OPERATOR NO:02" in "\n".join(cashier.receipts_text(h)[0])


def test_no_password_in_the_log_or_storage(handset, tmp_path):
    h = handset
    cashier.unlock_supervisor(h)
    log = "\n".join(h.app.log.lines)
    assert cashier.SUPERVISOR_PW not in log and "123456" not in log
    stored = (tmp_path / "handset" / "operators.json").read_bytes()
    assert cashier.SUPERVISOR_PW.encode() not in stored
