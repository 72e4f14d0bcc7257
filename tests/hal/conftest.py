"""Each interface's rig fixture is parametrized over its backends, so every
contract test runs once per backend (the test id names it)."""

import pytest

from tests.hal import rigs


def _rig(request):
    rig = request.param()
    request.addfinalizer(rig.close)
    return rig


@pytest.fixture(params=[rigs.SimPrinterRig, rigs.EscPosPrinterRig], ids=["sim", "escpos"])
def printer_rig(request):
    return _rig(request)


@pytest.fixture(params=[rigs.SimModemRig, rigs.AtModemRig], ids=["sim", "at"])
def modem_rig(request):
    return _rig(request)


@pytest.fixture(params=[rigs.SimReaderRig, rigs.SerialReaderRig], ids=["sim", "reader"])
def reader_rig(request):
    return _rig(request)
