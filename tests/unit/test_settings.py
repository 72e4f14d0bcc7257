"""firmware.settings: every setting has a type and a range, checked at load
and at change; the values a test feeds come from the settings table itself,
so a new setting is covered without a new test."""

import json
import os
import subprocess
import sys

import pytest

from firmware import settings as settings_module
from firmware.settings import SETTINGS, Settings, SettingsError, Whole
from hal.storage import DirStorage
from tests.support import ROOT, micropython_path, run_script

BAD = [(name, bad) for name, _, rule in SETTINGS for bad in rule.bad_values()]


def bad_id(value):
    return "%s-%r" % (type(value).__name__, value)[:40]


def stored(tmp_path, content):
    storage = DirStorage(str(tmp_path))
    (tmp_path / "settings.json").write_bytes(content if isinstance(content, bytes) else
                                              json.dumps(content).encode())
    return storage


def test_every_default_keeps_its_own_rule_and_every_rule_has_bad_values():
    for name, default, rule in SETTINGS:
        assert rule.check(default) is None, name
        assert len(rule.bad_values()) >= 5, name
    assert len(set(settings_module.names())) == len(SETTINGS)


@pytest.mark.parametrize("name, bad", BAD, ids=[n + ":" + bad_id(b) for n, b in BAD])
def test_a_wrong_value_is_refused_at_change_and_at_load(tmp_path, name, bad):
    settings = Settings()
    before = getattr(settings, name)
    with pytest.raises(SettingsError) as e:
        settings.update({name: bad})
    assert repr(name) in str(e.value) and "must be" in str(e.value)
    assert getattr(settings, name) == before
    with pytest.raises(SettingsError) as e:
        settings.save(**{name: bad})
    with pytest.raises(SettingsError) as e:
        Settings(stored(tmp_path, {name: bad})).load()
    assert str(e.value).startswith("settings.json: setting %r must be" % name)


@pytest.mark.parametrize("name, rule", [(n, r) for n, _, r in SETTINGS if isinstance(r, Whole)])
def test_the_ends_of_a_range_are_accepted(name, rule):
    settings = Settings()
    for value in (rule.lo, rule.hi):
        settings.update({name: value})
        assert getattr(settings, name) == value


@pytest.mark.parametrize("name, value", [
    ("reversal_tries", 0),          # no reversal ever sent: the host kept the money
    ("receipt_copies", 0),
    ("mac_algorithm", "none"),
    ("sale_max_fen", -100),
    ("tpdu", "60zz000000"),
    ("pw_lockout_s", 0),            # each of these three switched the lockout off
    ("pw_lockout_s", -1),
    ("pw_max_failures", 1000000),
    ("refund_send_tries", 0),
    ("host_port", 0),
    ("reply_timeout_ms", 0),
    ("header", "6031003100"),
    ("terminal_id", "1234567"),
])
def test_the_values_that_broke_the_terminal_are_refused(name, value):
    with pytest.raises(SettingsError):
        Settings().update({name: value})


def test_one_bad_value_in_a_change_applies_none_of_it():
    settings = Settings()
    with pytest.raises(SettingsError):
        settings.update({"lang": "en", "receipt_copies": 0})
    assert settings.lang == "zh" and settings.receipt_copies == 2


def test_unknown_names_are_refused():
    with pytest.raises(SettingsError) as e:
        Settings().update({"pw_lockout": 60})
    assert "unknown setting 'pw_lockout'" in str(e.value)


@pytest.mark.parametrize("content", [b"0", b"null", b"[[]]", b"\"lang\"", b"{", b"", b"\xff\xfe"])
def test_a_settings_file_that_is_not_an_object_is_a_settings_error(tmp_path, content):
    with pytest.raises(SettingsError) as e:
        Settings(stored(tmp_path, content)).load()
    assert str(e.value).startswith("settings.json: ")


def boot(tmp_path, content, settings=None):
    """firmware.main in a process of its own, with `content` as settings.json."""
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "settings.json").write_bytes(content)
    config = tmp_path / "pos.json"
    config.write_text(json.dumps({"devices": {"storage": "dir:" + str(data)}, "settings": settings or {}}))
    return subprocess.run([sys.executable, "-m", "firmware.main", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("content, says", [
    (b"0", "settings.json: not an object"),
    (b"null", "settings.json: not an object"),
    (b"[[]]", "settings.json: not an object"),
    (b"{not json", "settings.json: not valid JSON"),
    (b'{"pw_lockout_s": 0}', "settings.json: setting 'pw_lockout_s' must be a whole number 60..3600"),
    (b'{"mac_algorithm": "none"}', "settings.json: setting 'mac_algorithm' must be one of"),
])
def test_the_firmware_will_not_start_on_a_bad_settings_file_and_says_why(tmp_path, content, says):
    result = boot(tmp_path, content)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "pos firmware: cannot start: " + says in output
    assert "Traceback" not in output


def test_a_bad_setting_in_the_boot_configuration_is_named_as_such(tmp_path):
    result = boot(tmp_path, b"{}", settings={"receipt_copies": 0})
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output
    assert "cannot start: configuration: setting 'receipt_copies' must be a whole number 1..2" in output


def test_save_writes_only_what_the_merchant_changed(tmp_path):
    storage = DirStorage(str(tmp_path))
    settings = Settings(storage).load()
    # the boot configuration's overrides (a test port, short waits)
    settings.update({"test_protocol": True, "pw_lockout_s": 60, "message_ms": 200})
    settings.save(lang="en")
    assert json.loads((tmp_path / "settings.json").read_bytes()) == {"lang": "en"}
    settings.save(receipt_copies=1)
    assert json.loads((tmp_path / "settings.json").read_bytes()) == {"lang": "en", "receipt_copies": 1}
    again = Settings(storage).load()
    assert again.lang == "en" and again.receipt_copies == 1
    assert again.test_protocol is False and again.pw_lockout_s == 300
    # a merchant change of a setting the configuration also sets wins for this run
    again.update({"lang": "zh"})
    again.save(lang="en")
    assert again.lang == "en"


def test_save_keeps_what_the_file_held(tmp_path):
    storage = stored(tmp_path, {"merchant_name": "SHOP"})
    settings = Settings(storage).load()
    settings.save(lang="en")
    assert json.loads((tmp_path / "settings.json").read_bytes()) == {"merchant_name": "SHOP", "lang": "en"}


def test_the_emulator_keeps_text_settings_as_text():
    from emulator.cli import parse_settings
    assert parse_settings(["tpdu=6000000001", "message_ms=200", "void_needs_pin=false"]) == \
        {"tpdu": "6000000001", "message_ms": 200, "void_needs_pin": False}


def test_the_emulator_refuses_a_bad_setting_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "emulator.cli", "--data", str(tmp_path), "--set",
                             "pw_lockout_s=0", "--script", os.devnull], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "cannot start: configuration: setting 'pw_lockout_s'" in output or \
        "cannot start: setting 'pw_lockout_s'" in output, output
    assert "Traceback" not in output


def test_micropython_refuses_the_same_values():
    """The rules are core code: MicroPython must refuse every bad value of
    the table and accept every default, as CPython does."""
    interpreter = micropython_path()
    if interpreter is None:
        pytest.skip("no micropython interpreter")
    script = (
        "from firmware.settings import SETTINGS, Settings, SettingsError\n"
        "refused = 0\n"
        "for name, default, rule in SETTINGS:\n"
        "    assert rule.check(default) is None, name\n"
        "    for bad in rule.bad_values():\n"
        "        try:\n"
        "            Settings().update({name: bad})\n"
        "        except SettingsError:\n"
        "            refused += 1\n"
        "print(refused)\n")
    assert int(run_script(interpreter, script).strip()) == len(BAD)
