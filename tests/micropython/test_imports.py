"""Every module of the MicroPython-compatible core (firmware/, hal/ with the
real drivers of hal/linux/) imports under a real MicroPython. One interpreter process
imports them all in turn and reports each, so the test stays fast and a
failure names the module with MicroPython's own traceback."""

import pytest

from tests.micropython.conftest import ROOT, core_files, import_under_micropython, module_name

MODULES = [module_name(path) for path in core_files()]


@pytest.fixture(scope="module")
def imported(micropython):
    return import_under_micropython(micropython, ROOT, MODULES)


def test_the_core_is_what_we_think_it_is():
    # A walk that found nothing (moved tree, bad filter) must not pass quietly.
    assert "firmware.app" in MODULES and "hal.compat" in MODULES and "hal.sim.deck" in MODULES
    assert "hal.linux.escpos" in MODULES and "hal.linux.at" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_imports_under_micropython(imported, module):
    result = imported["modules"][module]
    assert result["ok"], "%s does not import under MicroPython:\n%s" % (module, result["error"])
    assert result["file"].endswith(".py")
