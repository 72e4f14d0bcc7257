"""Every message the firmware can show exists in Chinese and English."""

import os
import re

from firmware import card, errors, texts
from hal import errors as hal_errors

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def firmware_sources():
    for folder in ("firmware", "hal"):
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                if name.endswith(".py"):
                    with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                        yield name, f.read()


def test_every_error_code_raised_has_both_languages():
    codes = set()
    for _name, source in firmware_sources():
        codes.update(re.findall(r'(?:PosError|HostError|CardDataError)\("([A-Z_]+)"', source))
    codes.update(v for v in errors.RESPONSE_CODES.values())
    codes.update(cls.code for cls in vars(hal_errors).values()
                 if isinstance(cls, type) and issubclass(cls, hal_errors.DeviceError))
    codes.update(getattr(card, name) for name in dir(card) if name.isupper() and isinstance(getattr(card, name), str)
                 and getattr(card, name).isupper() and "_" in getattr(card, name))
    missing = sorted(c for c in codes if c not in texts.MESSAGES)
    assert missing == []


def test_every_message_code_on_a_screen_exists():
    used = set()
    for _name, source in firmware_sources():
        for call in re.findall(r'(?:show|message|confirm|choose|ask_digits|ask_amount|wait_card)\((.*)', source):
            used.update(re.findall(r'"([A-Z][A-Z_]{2,})"', call))
    missing = sorted(c for c in used if c not in texts.MESSAGES)
    assert missing == []


def test_both_languages_are_filled_and_placeholders_agree():
    for code, (zh, en) in texts.MESSAGES.items():
        assert zh and en, code
        assert zh.count("%s") == en.count("%s"), code


def test_format_amount():
    assert texts.format_amount(0) == "0.00"
    assert texts.format_amount(5) == "0.05"
    assert texts.format_amount(123456) == "1234.56"
    assert texts.format_amount(-2500) == "-25.00"
