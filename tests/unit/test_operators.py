"""firmware.operators: every way around the lockout that was found, attacked.

A power cut is emulated in-process: an exception the firmware does not
catch (BaseException, as the loop simply stopping would be) raised at the
chosen moment; then a new Operators object on the same storage and key
store is the terminal after it boots again. Only what reached the disk
counts."""

import hashlib
import json

import pytest

from firmware import operators as ops
from firmware.errors import PosError
from firmware.operators import SETUP_MARK, SUPERVISOR, Operators
from firmware.service import ServiceError, reset
from firmware.settings import Settings
from hal.sim.clock import SimClock
from hal.sim.keystore import SimKeyStore
from hal.storage import DirStorage
from tests.support import micropython_path, run_script

NOW = (2026, 11, 22, 10, 0, 0)
GOOD = "135790"


class PowerCut(BaseException):
    """The power goes: nothing after this point runs."""


class Terminal:
    """The storage, key store and clock that survive a reboot, and the
    Operators a boot makes of them."""

    def __init__(self, path, **settings):
        self.storage = DirStorage(str(path))
        self.keystore = SimKeyStore(self.storage)
        self.clock = SimClock(NOW)
        self.settings = Settings(overrides=settings)

    def boot(self):
        return Operators(self.storage, self.clock, self.settings, self.keystore).load()

    def file(self):
        return self.storage.read(Operators.FILE)


@pytest.fixture
def terminal(tmp_path):
    return Terminal(tmp_path)


def set_up(terminal, password=GOOD):
    """The supervisor's first use: factory password, then a new one."""
    operators = terminal.boot()
    operators.check(SUPERVISOR, "123456")
    operators.change(SUPERVISOR, password)
    return operators


def code_of(call, *args):
    with pytest.raises(PosError) as e:
        call(*args)
    return e.value.code


def cut_during_the_comparison(monkeypatch):
    def cut(*args, **kwargs):
        raise PowerCut()
    monkeypatch.setattr(ops, "hash_password", cut)


# -- 1. a power cut right after a wrong guess -----------------------------------

def test_a_power_cut_during_each_comparison_still_counts_every_guess(terminal, monkeypatch):
    """12 guesses, each cut off while the password is being compared (the
    slow part): on the old code none was ever counted."""
    set_up(terminal)
    with monkeypatch.context() as m:
        cut_during_the_comparison(m)
        for _ in range(12):
            operators = terminal.boot()    # a boot after each cut
            try:
                operators.check(SUPERVISOR, "000000")
            except PowerCut:
                pass
            except PosError as e:
                assert e.code == "LOCKED"
    operators = terminal.boot()
    assert operators.locked_for(SUPERVISOR) > 0
    assert code_of(operators.check, SUPERVISOR, GOOD) == "LOCKED"


def test_a_power_cut_right_after_the_comparison_keeps_the_count(terminal, monkeypatch):
    """Cut once the wrong answer is known, before anything else is written
    (where the old code wrote its count)."""
    set_up(terminal)
    real = ops.hash_password

    def compare_then_cut(*args, **kwargs):
        real(*args, **kwargs)
        raise PowerCut()   # the answer is known; the power goes before anything more

    monkeypatch.setattr(ops, "hash_password", compare_then_cut)
    for _ in range(2):
        with pytest.raises(PowerCut):
            terminal.boot().check(SUPERVISOR, "000000")
    monkeypatch.undo()
    assert json.loads(terminal.file())[SUPERVISOR]["failures"] == 2
    assert code_of(terminal.boot().check, SUPERVISOR, "000000") == "LOCKED"


def test_the_count_is_on_disk_before_the_comparison_starts(terminal, monkeypatch):
    set_up(terminal)
    seen = []
    real = ops.hash_password

    def look_at_the_disk_first(*args, **kwargs):
        seen.append(json.loads(terminal.file())[SUPERVISOR]["failures"])
        return real(*args, **kwargs)

    monkeypatch.setattr(ops, "hash_password", look_at_the_disk_first)
    operators = terminal.boot()
    assert code_of(operators.check, SUPERVISOR, "000000") == "WRONG_PW"
    assert code_of(operators.check, SUPERVISOR, "000001") == "WRONG_PW"
    assert seen == [1, 2]


def test_a_success_clears_the_count_and_a_cut_success_counts_as_a_try(terminal, monkeypatch):
    set_up(terminal)
    operators = terminal.boot()
    assert code_of(operators.check, SUPERVISOR, "000000") == "WRONG_PW"
    operators.check(SUPERVISOR, GOOD)
    assert json.loads(terminal.file())[SUPERVISOR]["failures"] == 0
    with monkeypatch.context() as m:
        cut_during_the_comparison(m)
        with pytest.raises(PowerCut):
            terminal.boot().check(SUPERVISOR, GOOD)
    # the right password, cut off before it was compared: one try spent
    assert json.loads(terminal.file())[SUPERVISOR]["failures"] == 1
    terminal.boot().check(SUPERVISOR, GOOD)
    assert json.loads(terminal.file())[SUPERVISOR]["failures"] == 0


def test_a_lockout_ends_on_the_clock_and_the_right_password_works_again(terminal):
    set_up(terminal)
    operators = terminal.boot()
    assert [code_of(operators.check, SUPERVISOR, "00000%d" % i) for i in range(3)] == \
        ["WRONG_PW", "WRONG_PW", "LOCKED"]
    assert code_of(operators.refuse_if_closed, SUPERVISOR) == "LOCKED"
    terminal.clock.set((2026, 11, 22, 10, 5, 1))
    terminal.boot().check(SUPERVISOR, GOOD)


@pytest.mark.parametrize("t, seconds", [((2000, 1, 1, 0, 0, 0), 0), ((2000, 3, 1, 0, 0, 1), 60 * 86400 + 1),
                                        ((2001, 1, 1, 0, 0, 0), 366 * 86400), ((1970, 1, 1, 0, 0, 0), -10957 * 86400)])
def test_seconds_since_2000(t, seconds):
    assert ops.seconds_since_2000(t) == seconds


def test_a_clock_that_went_back_does_not_lock_for_years_nor_unlock_at_once(terminal):
    set_up(terminal)
    operators = terminal.boot()
    for i in range(3):
        code_of(operators.check, SUPERVISOR, "00000%d" % i)
    terminal.clock.set((1970, 1, 1, 0, 0, 0))      # the RTC lost its battery
    operators = terminal.boot()
    assert 0 < operators.locked_for(SUPERVISOR) <= 300
    assert code_of(operators.check, SUPERVISOR, GOOD) == "LOCKED"
    terminal.clock.set((1970, 1, 1, 0, 4, 0))
    assert code_of(terminal.boot().check, SUPERVISOR, GOOD) == "LOCKED"
    terminal.clock.set((1970, 1, 1, 0, 5, 1))
    terminal.boot().check(SUPERVISOR, GOOD)


def test_a_full_disk_refuses_the_try_before_comparing(terminal, monkeypatch):
    """No count, no comparison: a try that cannot be counted is not made."""
    from hal.errors import StorageFullError
    set_up(terminal)
    compared = []
    monkeypatch.setattr(ops, "hash_password", lambda *a, **k: compared.append(1) or b"")

    def full(name, data):
        raise StorageFullError("storage full")

    monkeypatch.setattr(terminal.storage, "write_atomic", full)
    with pytest.raises(StorageFullError):
        terminal.boot().check(SUPERVISOR, GOOD)
    assert compared == []


# -- 2. a damaged or deleted operators.json while locked ------------------------

DAMAGE = {
    "deleted": None,
    "garbage": b"\x00\x17garbage",
    "truncated": b'{"00": {"salt": "0011',
    "not an object": b"[]",
    "empty object": b"{}",
    "account emptied": b'{"00": {}}',
    "account without its hash": b'{"00": {"factory": false, "failures": 0, "locked_until": 0}}',
}
EDITS = {
    "counters as text": ("locked_until", "0"),
    "a foreign field": ("unlocked", True),
    "a huge round count": ("rounds", 10 ** 12),
    "a short salt": ("salt", "00"),
}


def damage(terminal, how):
    """Damage operators.json; -> what the file now holds (None: deleted)."""
    if how == "deleted":
        terminal.storage.remove(Operators.FILE)
        return None
    if how in EDITS:
        accounts = json.loads(terminal.file())
        name, value = EDITS[how]
        accounts[SUPERVISOR][name] = value
        data = json.dumps(accounts).encode()
    else:
        data = DAMAGE[how]
    with open(terminal.storage.root + "/" + Operators.FILE, "wb") as f:
        f.write(data)
    return data


@pytest.mark.parametrize("how", sorted(DAMAGE) + sorted(EDITS))
def test_a_damaged_or_deleted_file_while_locked_never_brings_back_the_factory_password(terminal, how):
    set_up(terminal)
    operators = terminal.boot()
    for i in range(3):
        code_of(operators.check, SUPERVISOR, "00000%d" % i)
    assert operators.locked_for(SUPERVISOR)
    left = damage(terminal, how)
    operators = terminal.boot()
    assert operators.damaged, how
    for password in ("123456", GOOD, "000000"):
        assert code_of(operators.check, SUPERVISOR, password) == "PW_SERVICE"
    assert code_of(operators.check, "01", "0000") == "PW_SERVICE"   # every account
    assert code_of(operators.change, SUPERVISOR, "246801") == "PW_SERVICE"
    assert code_of(operators.refuse_if_closed, SUPERVISOR) == "PW_SERVICE"
    assert not operators.is_factory(SUPERVISOR)
    assert terminal.file() == left   # the evidence stays as it was found


def test_a_key_store_that_cannot_be_read_leaves_every_account_locked(terminal, monkeypatch):
    from hal.errors import KeyStoreError
    set_up(terminal)

    def broken(name):
        raise KeyStoreError("key file damaged")

    monkeypatch.setattr(terminal.keystore, "has_mark", broken)
    operators = terminal.boot()
    assert "key store" in operators.damaged
    assert code_of(operators.check, SUPERVISOR, GOOD) == "PW_SERVICE"


def test_a_file_without_the_supervisor_account_is_damaged(terminal):
    """Every file the firmware writes holds the supervisor's account: one
    without it was cut down, not written so."""
    operators = terminal.boot()
    operators.check("01", "0000")
    assert SUPERVISOR in json.loads(terminal.file())
    operators.change("01", "2580")
    accounts = json.loads(terminal.file())
    del accounts[SUPERVISOR]
    terminal.storage.write_atomic(Operators.FILE, json.dumps(accounts).encode())
    assert code_of(terminal.boot().check, SUPERVISOR, "123456") == "PW_SERVICE"


def test_a_terminal_fresh_from_the_factory_uses_the_factory_passwords(terminal):
    operators = terminal.boot()
    assert not operators.damaged and operators.is_factory(SUPERVISOR)
    assert not terminal.keystore.has_mark(SETUP_MARK)
    operators.check(SUPERVISOR, "123456")
    assert terminal.keystore.has_mark(SETUP_MARK)   # the file exists from now on


def test_the_mark_follows_the_file_so_a_cut_between_them_is_harmless(terminal, monkeypatch):
    def cut(name):
        raise PowerCut()
    monkeypatch.setattr(terminal.keystore, "set_mark", cut)
    with pytest.raises(PowerCut):
        terminal.boot().check(SUPERVISOR, "000000")
    monkeypatch.undo()
    operators = terminal.boot()   # the file is there, the mark is not: set now
    assert not operators.damaged and terminal.keystore.has_mark(SETUP_MARK)
    assert code_of(operators.check, SUPERVISOR, "000001") == "WRONG_PW"


def test_a_key_injection_is_a_way_back_to_the_factory_passwords(terminal):
    set_up(terminal)
    terminal.storage.remove(Operators.FILE)
    assert terminal.boot().damaged
    terminal.keystore.set_master_key(b"\x11" * 16)   # pos-keys inject: a new master key
    operators = terminal.boot()
    assert not operators.damaged
    operators.check(SUPERVISOR, "123456")


def test_the_service_reset_restores_the_factory_passwords_and_wipes_the_card_data(terminal):
    from firmware.journal import Journal
    from firmware.terminal import TerminalState
    set_up(terminal)
    state = TerminalState(Journal(terminal.storage, mac=terminal.keystore.journal_mac)).load()
    state.record("txn", batch=1, trace=1, type="sale", amount=100, state="sent", pan="622202******0017")
    terminal.storage.remove(Operators.FILE)
    said = []
    with pytest.raises(ServiceError) as e:
        reset(terminal.storage, terminal.keystore, say=said.append)
    assert "reversal" in str(e.value) and "not settled" in str(e.value)
    assert terminal.boot().damaged and terminal.storage.read("journal.dat")   # nothing changed
    reset(terminal.storage, terminal.keystore, discard_unsettled=True, say=said.append)
    assert terminal.storage.read("journal.dat") is None
    operators = terminal.boot()
    assert not operators.damaged and operators.is_factory(SUPERVISOR)
    operators.check(SUPERVISOR, "123456")


def test_the_service_reset_is_no_menu_entry():
    """Out of the merchant's reach: no firmware module (menus, flows, the
    test protocol) imports it; it runs only from a shell on the bench."""
    import os
    from tests.support import ROOT
    for folder in ("firmware", os.path.join("firmware", "flows")):
        for name in os.listdir(os.path.join(ROOT, folder)):
            if name.endswith(".py") and name != "service.py":
                with open(os.path.join(ROOT, folder, name), encoding="utf-8") as f:
                    text = f.read()
                assert "firmware.service" not in text and "import service" not in text, name


# -- 3. the limits are fixed ranges (the settings refuse the rest) --------------

@pytest.mark.parametrize("name, value", [("pw_lockout_s", 0), ("pw_lockout_s", -1), ("pw_lockout_s", 3),
                                         ("pw_max_failures", 1000000), ("pw_max_failures", 0)])
def test_settings_cannot_switch_the_lockout_off(tmp_path, name, value):
    from firmware.settings import SettingsError
    with pytest.raises(SettingsError):
        Terminal(tmp_path, **{name: value})


def test_the_lockout_follows_the_settings_of_the_moment(tmp_path):
    terminal = Terminal(tmp_path, pw_max_failures=5, pw_lockout_s=60)
    set_up(terminal)
    operators = terminal.boot()
    codes = [code_of(operators.check, SUPERVISOR, "00000%d" % i) for i in range(5)]
    assert codes == ["WRONG_PW"] * 4 + ["LOCKED"]
    assert 0 < operators.locked_for(SUPERVISOR) <= 60


# -- 4. operators change 0000 at first use, as the supervisor 123456 ------------

def test_operators_start_with_a_factory_password_that_must_be_changed(terminal):
    operators = terminal.boot()
    operators.check("07", "0000")
    assert operators.is_factory("07")
    operators.change("07", "2580")
    assert not operators.is_factory("07")
    assert code_of(operators.check, "07", "0000") == "WRONG_PW"
    operators.check("07", "2580")


# -- 5. trivial passwords --------------------------------------------------------

@pytest.mark.parametrize("operator_id, password, code", [
    (SUPERVISOR, "123456", "PW_FACTORY"), ("01", "0000", "PW_FACTORY"),
    (SUPERVISOR, "111111", "PW_TRIVIAL"), (SUPERVISOR, "999999", "PW_TRIVIAL"),
    (SUPERVISOR, "234567", "PW_TRIVIAL"), (SUPERVISOR, "654321", "PW_TRIVIAL"),
    (SUPERVISOR, "012345", "PW_TRIVIAL"), (SUPERVISOR, "987654", "PW_TRIVIAL"),
    (SUPERVISOR, "890123", "PW_TRIVIAL"), (SUPERVISOR, "210987", "PW_TRIVIAL"),
    ("01", "1111", "PW_TRIVIAL"), ("01", "1234", "PW_TRIVIAL"), ("01", "4321", "PW_TRIVIAL"),
    ("01", "9012", "PW_TRIVIAL"),
    (SUPERVISOR, "12345", "PW_FORMAT"), ("01", "12a4", "PW_FORMAT"),
])
def test_trivial_passwords_are_refused(terminal, operator_id, password, code):
    operators = terminal.boot()
    assert code_of(operators.change, operator_id, password) == code
    assert operators.is_factory(operator_id)


@pytest.mark.parametrize("password", ["135790", "246802", "112233", "100000", "9081726"[:6]])
def test_other_passwords_are_taken(terminal, password):
    terminal.boot().change(SUPERVISOR, password)
    terminal.boot().check(SUPERVISOR, password)


# -- 6. cheap guesses --------------------------------------------------------------

def old_hash(password, salt, rounds):
    """The scheme as it was (salted SHA-256, 2,000 rounds, no count stored),
    written again from its description with hashlib."""
    digest = salt + password.encode()
    for _ in range(rounds):
        digest = hashlib.sha256(digest + salt).digest()
    return digest


def keyed(terminal, digest):
    """The last step, under the key store's password key (HMAC-SHA256,
    written again with the standard library)."""
    import hmac
    key = terminal.keystore.journal_mac(ops.PASSWORD_KEY_LABEL)
    return hmac.new(key, digest, hashlib.sha256).digest()


def test_new_hashes_store_their_round_count_and_are_keyed_in_the_key_store(terminal):
    set_up(terminal)
    account = json.loads(terminal.file())[SUPERVISOR]
    assert account["rounds"] == ops.HASH_ROUNDS >= 10000 and account["keyed"] is True
    salt = bytes.fromhex(account["salt"])
    digest = old_hash(GOOD, salt, account["rounds"])
    assert digest.hex() != account["hash"]                  # the file alone checks no guess
    assert keyed(terminal, digest).hex() == account["hash"]


def test_the_file_alone_is_no_use_on_another_terminal(terminal, tmp_path):
    """operators.json copied next to another key store: even the right
    password does not verify there (an offline guesser is in the same place)."""
    set_up(terminal)
    other = Terminal(tmp_path / "other")
    other.storage.write_atomic(Operators.FILE, terminal.file())
    assert code_of(other.boot().check, SUPERVISOR, GOOD) == "WRONG_PW"


def test_an_old_cheap_hash_still_verifies_and_is_made_again_at_todays_cost(terminal):
    salt = bytes.fromhex("0102030405060708")
    legacy = {SUPERVISOR: {"salt": salt.hex(), "hash": old_hash(GOOD, salt, 2000).hex(), "factory": False,
                           "failures": 0, "locked_until": 0}}
    terminal.storage.write_atomic(Operators.FILE, json.dumps(legacy).encode())
    operators = terminal.boot()
    assert code_of(operators.check, SUPERVISOR, "000000") == "WRONG_PW"
    assert "rounds" not in json.loads(terminal.file())[SUPERVISOR]    # a wrong guess upgrades nothing
    operators.check(SUPERVISOR, GOOD)
    account = json.loads(terminal.file())[SUPERVISOR]
    assert account["rounds"] == ops.HASH_ROUNDS and account["keyed"] and account["salt"] != salt.hex()
    assert keyed(terminal, old_hash(GOOD, bytes.fromhex(account["salt"]), ops.HASH_ROUNDS)).hex() == \
        account["hash"]
    terminal.boot().check(SUPERVISOR, GOOD)


def test_micropython_hashes_and_refuses_as_cpython_does(tmp_path):
    interpreter = micropython_path()
    if interpreter is None:
        pytest.skip("no micropython interpreter")
    script = (
        "from firmware.operators import hash_password, is_trivial, Operators, SUPERVISOR\n"
        "from firmware import operators as ops\n"
        "from firmware.errors import PosError\n"
        "from firmware.settings import Settings\n"
        "from hal.compat import hexlify\n"
        "from hal.sim.clock import SimClock\n"
        "from hal.sim.keystore import SimKeyStore\n"
        "from hal.storage import DirStorage\n"
        "print(hexlify(hash_password('135790', b'saltsalt')))\n"
        "print(','.join(p for p in ('111111', '234567', '890123', '135790', '1234', '2580') if is_trivial(p)))\n"
        "print(ops.seconds_since_2000((1970, 1, 1, 0, 0, 0)), ops.seconds_since_2000((2026, 11, 22, 10, 0, 0)))\n"
        "st = DirStorage(%r)\n"
        "ks = SimKeyStore(st)\n"
        "boot = lambda: Operators(st, SimClock((2026, 11, 22, 10, 0, 0)), Settings(), ks).load()\n"
        "class PowerCut(BaseException):\n"
        "    pass\n"
        "def cut(*a):\n"
        "    raise PowerCut()\n"
        "real = ops.hash_password\n"
        "ops.hash_password = cut\n"
        "for i in range(3):\n"
        "    try:\n"
        "        boot().check(SUPERVISOR, '000000')\n"
        "    except PowerCut:\n"
        "        pass\n"
        "ops.hash_password = real\n"
        "try:\n"
        "    boot().check(SUPERVISOR, '123456')\n"
        "except PosError as e:\n"
        "    print(e.code)\n"
        "boot().check('05', '0000')\n"
        "boot().change('05', '2580')\n"
        "boot().check('05', '2580')\n"
        "import json\n"
        "account = json.loads(st.read('operators.json'))['05']\n"
        "print(account['salt'], account['hash'])\n"
        "st.remove('operators.json')\n"
        "try:\n"
        "    boot().check(SUPERVISOR, '123456')\n"
        "except PosError as e:\n"
        "    print(e.code)\n" % str(tmp_path / "mp"))
    lines = run_script(interpreter, script).split()
    assert lines[0] == ops.hash_password("135790", b"saltsalt").hex()
    assert lines[1] == "111111,234567,890123,1234"
    assert lines[2:4] == [str(ops.seconds_since_2000((1970, 1, 1, 0, 0, 0))),
                          str(ops.seconds_since_2000((2026, 11, 22, 10, 0, 0)))]
    assert lines[4] == "LOCKED" and lines[7] == "PW_SERVICE"
    # the keyed hash MicroPython wrote for operator 05 is the one CPython
    # computes from the same key store
    salt, written = lines[5], lines[6]
    digest = old_hash("2580", bytes.fromhex(salt), ops.HASH_ROUNDS)
    assert keyed(Terminal(tmp_path / "mp"), digest).hex() == written
