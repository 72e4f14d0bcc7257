"""The unit tests' own MicroPython cross-checks (tests/unit/test_*.py that
define micropython_path()) skip when they find no interpreter. The tox env
`micropython` runs them (`pytest tests/unit -k micropython`, see tox.ini);
this makes sure that there they find the interpreter this suite found, so
they run instead of skipping quietly."""

import importlib
import os

import pytest

from tests.micropython.conftest import ROOT

UNIT = os.path.join(ROOT, "tests", "unit")


def modules_with_cross_checks():
    found = []
    for name in sorted(os.listdir(UNIT)):
        if name.startswith("test_") and name.endswith(".py"):
            with open(os.path.join(UNIT, name), encoding="utf-8") as f:
                if "micropython_path" in f.read():
                    found.append("tests.unit." + name[:-3])
    return found


MODULES = modules_with_cross_checks()


def test_there_are_cross_checks_to_run():
    assert "tests.unit.test_gb2312" in MODULES and "tests.unit.test_escpos" in MODULES
    assert "tests.unit.test_screen" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_unit_cross_check_finds_the_interpreter(micropython, module):
    found = importlib.import_module(module).micropython_path()
    assert found is not None and os.path.samefile(found, micropython), \
        "%s.micropython_path() -> %r, this suite runs %s" % (module, found, micropython)
