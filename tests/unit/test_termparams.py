"""firmware/termparams.py (field 62 of the parameter download, 0800 / 60.3 =
360) and the acquirer's layer of firmware/settings.py: a download is taken
whole or refused whole, its values keep the settings' own rules, and the
acquirer's word beats the merchant's settings.json."""

import json

import pytest

from firmware import termparams
from firmware.settings import Settings, SettingsError
from hal.storage import DirStorage
from tests.support import micropython_path, run_script

GOOD = b"Q100530000Q200550000E10011E20010"
GOOD_VALUES = {"qps_no_pin_limit_fen": 30000, "qps_no_signature_limit_fen": 50000,
               "esign_void": True, "esign_refund": False}

# (field 62, why it must be refused): every one a whole reply refused.
HOSTILE = [
    (b"", "empty"),
    (b"Q10053000", "a value cut short"),
    (b"Q10", "a header cut short"),
    (b"Q1xx530000", "a length that is not digits"),
    (b"q100530000", "a tag in lower case"),
    (b"Q1\x0005\x00", "control bytes"),
    (b"Q100530000Q100530000", "a tag twice"),
    (b"Z9001" b"1" + GOOD, "an unknown tag"),
    (GOOD + b"Z9001" b"1", "an unknown tag after good ones"),
    (b"Q1008" b"99999999", "above the setting's range (10000000)"),
    (b"Q1005" b"-3000", "a sign"),
    (b"Q1005" b"3 000", "a space"),
    (b"Q1000", "no digits"),
    (b"Q1013" b"1000000000000", "more digits than an amount has"),
    (b"E1001" b"2", "a flag that is not 0 or 1"),
    (b"E1004" b"true", "a flag spelt out"),
    ("Q1005\u4e00\u4e00\u4e00".encode(), "not ASCII"),
]


def test_the_documented_example_parses_to_its_settings():
    assert termparams.parse_field62(GOOD) == GOOD_VALUES


def test_build_then_parse_gives_the_same_values():
    assert termparams.parse_field62(termparams.build_field62(GOOD_VALUES)) == GOOD_VALUES
    assert termparams.build_field62(GOOD_VALUES) == GOOD


def test_a_limit_of_0_is_a_parameter_too():
    """0 fen: no QuickPass at all (every tap needs its CVM)."""
    assert termparams.parse_field62(b"Q10010") == {"qps_no_pin_limit_fen": 0}


@pytest.mark.parametrize("field, why", HOSTILE, ids=[why for _, why in HOSTILE])
def test_a_hostile_or_broken_field_is_refused_whole(field, why):
    with pytest.raises(termparams.ParamsError):
        termparams.parse_field62(field)


def test_the_host_cannot_build_what_it_has_no_tag_for():
    with pytest.raises(termparams.ParamsError):
        termparams.build_field62({"lang": "en"})
    with pytest.raises(termparams.ParamsError):
        termparams.build_field62({"esign_void": 1})


# -- the acquirer's layer of the settings -----------------------------------------

def storage(tmp_path):
    return DirStorage(str(tmp_path))


def test_the_acquirer_beats_the_merchant_and_the_boot_configuration_beats_both(tmp_path):
    (tmp_path / "settings.json").write_text(json.dumps({"qps_no_pin_limit_fen": 80000, "lang": "en"}))
    settings = Settings(storage(tmp_path)).load()
    assert settings.qps_no_pin_limit_fen == 80000          # the merchant's, over the default
    settings.set_acquirer({"qps_no_pin_limit_fen": 30000})
    assert settings.qps_no_pin_limit_fen == 30000           # the acquirer's, over the merchant's
    assert settings.lang == "en"                            # the merchant's own stays
    settings.save(qps_no_pin_limit_fen=90000)
    assert settings.qps_no_pin_limit_fen == 30000           # a merchant edit does not move it
    settings.update({"qps_no_pin_limit_fen": 1000})
    assert settings.qps_no_pin_limit_fen == 1000            # the bench's word for this run


def test_acquirer_parameters_are_kept_and_come_back_at_boot(tmp_path):
    Settings(storage(tmp_path)).load().set_acquirer(GOOD_VALUES)
    assert json.loads((tmp_path / "acquirer.json").read_text()) == GOOD_VALUES
    again = Settings(storage(tmp_path)).load()
    assert again.qps_no_signature_limit_fen == 50000 and again.esign_void is True
    assert again.acquirer() == GOOD_VALUES


def test_a_new_download_replaces_the_whole_set(tmp_path):
    settings = Settings(storage(tmp_path)).load()
    settings.set_acquirer(GOOD_VALUES)
    settings.set_acquirer({"qps_no_pin_limit_fen": 40000})
    assert settings.qps_no_pin_limit_fen == 40000
    assert settings.qps_no_signature_limit_fen == 100000 and settings.esign_void is False   # defaults again


def test_a_bad_value_changes_nothing_in_memory_or_on_disk(tmp_path):
    settings = Settings(storage(tmp_path)).load()
    settings.set_acquirer(GOOD_VALUES)
    with pytest.raises(SettingsError):
        settings.set_acquirer({"qps_no_pin_limit_fen": 20000, "esign_void": "yes"})
    with pytest.raises(SettingsError):
        settings.set_acquirer({"no_such_setting": 1})
    assert settings.acquirer() == GOOD_VALUES and settings.qps_no_pin_limit_fen == 30000
    assert json.loads((tmp_path / "acquirer.json").read_text()) == GOOD_VALUES


@pytest.mark.parametrize("content", [b"{not json", b"[1]", b'{"qps_no_pin_limit_fen": -1}',
                                     b'{"lang": 5}', b'{"nonsense": 1}'])
def test_a_damaged_acquirer_file_is_left_out_without_stopping_the_boot(tmp_path, content):
    (tmp_path / "settings.json").write_text(json.dumps({"qps_no_pin_limit_fen": 80000}))
    (tmp_path / "acquirer.json").write_bytes(content)
    settings = Settings(storage(tmp_path)).load()
    assert settings.acquirer_problem.startswith("acquirer.json: ")
    assert settings.qps_no_pin_limit_fen == 80000 and settings.acquirer() == {}


# Only the four parameters of termparams.TAGS are the acquirer's: a setting
# that guards the terminal (the public test key, the forgeable ECB MAC,
# clear tracks) is never taken from its layer, neither from a call nor
# from an acquirer.json that holds more than a download can bring.
SECURITY_SETTINGS = [{"test_keys": True}, {"mac_algorithm": "ecb"}, {"track_encryption": False},
                     {"qps_no_pin_limit_fen": 30000, "allow_fallback": True}]


@pytest.mark.parametrize("values", SECURITY_SETTINGS)
def test_the_acquirer_layer_takes_no_setting_outside_the_four_parameters(tmp_path, values):
    settings = Settings(storage(tmp_path)).load()
    settings.set_acquirer(GOOD_VALUES)
    with pytest.raises(SettingsError):
        settings.set_acquirer(values)
    assert settings.acquirer() == GOOD_VALUES
    assert settings.test_keys is False and settings.mac_algorithm == "x919" and settings.track_encryption is True
    assert json.loads((tmp_path / "acquirer.json").read_text()) == GOOD_VALUES


@pytest.mark.parametrize("values", SECURITY_SETTINGS)
def test_an_acquirer_file_with_a_setting_outside_the_four_is_left_out(tmp_path, values):
    (tmp_path / "acquirer.json").write_text(json.dumps(values))
    settings = Settings(storage(tmp_path)).load()
    assert settings.acquirer_problem.startswith("acquirer.json: ") and settings.acquirer() == {}
    assert settings.test_keys is False and settings.mac_algorithm == "x919" and settings.track_encryption is True


def test_micropython_parses_and_refuses_as_cpython_does():
    interpreter = micropython_path()
    if interpreter is None:
        pytest.skip("no micropython interpreter")
    fields = [GOOD, termparams.build_field62({"qps_no_pin_limit_fen": 0, "esign_refund": True})]
    fields += [field for field, _ in HOSTILE]
    expected = []
    for field in fields:
        try:
            expected.append(termparams.describe(termparams.parse_field62(field)))
        except termparams.ParamsError:
            expected.append("refused")
    script = (
        "from firmware import termparams\n"
        "for field in %r:\n"
        "    try:\n"
        "        print(termparams.describe(termparams.parse_field62(field)))\n"
        "    except termparams.ParamsError:\n"
        "        print('refused')\n"
        "print(termparams.build_field62(%r) == %r)\n" % (fields, GOOD_VALUES, GOOD))
    assert run_script(interpreter, script).splitlines() == expected + ["True"]
