"""Passwords: lockout after repeated failures, the forced change, operators."""

import pytest

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


def test_a_new_password_cannot_be_the_factory_one_trivial_or_mistyped(handset):
    h = handset
    for new, says in (("123456", "Factory password not allowed"), ("111111", "Password too simple"),
                      ("654321", "Password too simple")):
        cashier.menu(h, "7")
        h.keys("1")
        cashier.supervisor(h, "123456")
        h.wait_text("New password:")
        h.keys(new)
        h.enter()
        h.wait_text(says)      # said at once, before it is asked again
        h.wait_idle()
    cashier.menu(h, "7")
    h.keys("1")
    cashier.supervisor(h, "123456")
    h.wait_text("New password:")
    h.keys("135790")
    h.enter()
    h.keys("246801")
    h.enter()
    h.wait_text("Passwords differ")
    h.wait_idle()
    assert h.app.operators.is_factory("00")


def sign_in(h, operator_id, password):
    h.wait_idle()
    h.key("F1")
    h.wait_text("Operator number")
    h.keys(operator_id)
    h.enter()
    h.wait_text("Operator password")
    h.keys(password)
    h.enter()


def test_operator_sign_in_at_the_idle_screen_changes_0000_at_first_use(handset):
    h = handset
    h.wait_idle()
    h.wait_text("Operator: 01")
    h.wait_text("F1: operator sign-in")   # a message code with a digit is resolved too
    sign_in(h, "03", "1111")
    h.wait_text("Wrong password, 2 tries left")
    h.wait_idle()
    assert h.app.operator == "01"
    sign_in(h, "03", "0000")
    h.wait_text("Change factory password")
    cashier.change_factory_password(h, "2580")
    h.wait_text("Operator 03 signed in")
    h.wait_idle()
    h.wait_text("Operator: 03")
    sign_in(h, "03", "0000")               # the factory password is gone
    h.wait_text("Wrong password")
    h.wait_idle()
    sign_in(h, "03", "2580")
    h.wait_text("Operator 03 signed in")
    h.wait_idle()


def test_an_operator_who_will_not_change_0000_is_not_signed_in(handset):
    h = handset
    sign_in(h, "04", "0000")
    h.wait_text("Change factory password")
    h.wait_text("New password:")
    h.key("CANCEL")
    h.wait_idle()
    assert h.app.operator == "01"
    assert h.app.operators.is_factory("04")


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
    cashier.change_factory_password(h, "2580")
    h.wait_text("Operator 02 signed in")
    h.wait_idle()
    assert h.app.operator == "02"
    cashier.sale(h, 100, "debit-mag")
    assert "OPERATOR NO:02" in "\n".join(cashier.receipts_text(h)[0])


def test_no_password_in_the_log_or_storage(handset, tmp_path):
    h = handset
    cashier.unlock_supervisor(h)
    sign_in(h, "05", "0000")
    cashier.change_factory_password(h, "3690")
    h.wait_idle()
    log = "\n".join(h.app.log.lines)
    for password in (cashier.SUPERVISOR_PW, "123456", "3690"):
        assert password not in log
    stored = b"".join(p.read_bytes() for p in (tmp_path / "handset").iterdir() if p.is_file())
    for password in (cashier.SUPERVISOR_PW, "3690"):
        assert password.encode() not in stored


def lock_supervisor(h):
    for password in ("000000", "000001", "000002"):
        try_supervisor(h, password)
        h.wait_idle()


@pytest.mark.parametrize("damage", ["deleted", "garbage"])
def test_a_deleted_or_damaged_password_file_locks_everything_and_asks_for_service(handset, tmp_path, damage):
    h = handset
    cashier.unlock_supervisor(h)
    lock_supervisor(h)
    h.power_cut()
    path = tmp_path / "handset" / "operators.json"
    if damage == "deleted":
        path.unlink()
    else:
        path.write_bytes(b"\x00garbage")
    h.start()
    h.wait_idle()
    h.wait_text("Password file damaged")       # on the idle screen, under "Service needed"
    assert ("operators", "SERVICE_PASSWORDS") in h.app.service_problems
    cashier.menu(h, "5")                       # settlement: the supervisor, who cannot be asked
    h.wait_text("Passwords damaged: service")  # not even asked
    h.wait_idle()
    cashier.menu(h, "7")
    h.keys("1")
    h.wait_text("Passwords damaged: service")
    h.wait_idle()
    h.key("F1")
    h.keys("01")
    h.enter()
    h.wait_text("Passwords damaged: service")
    h.wait_idle()
    cashier.menu(h, "2")                       # void: no new transaction while service is needed
    h.wait_text("Service needed")
    h.wait_idle()
    assert any("passwords: operators.json" in line for line in h.app.log.lines)
    assert h.app.operators.locked_for("00") == 0 and h.app.operators.damaged


def service_reset(data_dir, *flags):
    import json
    import subprocess
    import sys
    from tests.support import ROOT
    config = data_dir.parent / "pos.json"
    config.write_text(json.dumps({"devices": {"storage": "dir:" + str(data_dir)}}))
    return subprocess.run([sys.executable, "-m", "firmware.service", str(config), "reset"] + list(flags),
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_the_service_reset_on_the_bench_brings_the_terminal_back(handset, tmp_path):
    h = handset
    cashier.unlock_supervisor(h)
    cashier.sale(h, 100, "debit-mag")
    h.power_cut()
    data = tmp_path / "handset"
    (data / "operators.json").unlink()
    refused = service_reset(data)
    assert refused.returncode == 2 and "not settled" in refused.stdout, refused.stdout + refused.stderr
    assert (data / "journal.dat").exists()
    done = service_reset(data, "--discard-unsettled")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "factory passwords restored" in done.stdout and not (data / "journal.dat").exists()
    h.start()
    assert not h.app.operators.damaged
    assert ("operators", "SERVICE_PASSWORDS") not in h.app.service_problems
    cashier.unlock_supervisor(h)          # 123456 again, changed at once
    cashier.sale(h, 200, "debit-mag")
    assert all(txn["amount"] == 200 for txn in h.journal())
