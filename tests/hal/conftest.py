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


def _input_rig(request, tmp_path):
    kind, record_size = request.param
    rig = kind(tmp_path) if record_size is None else kind(tmp_path, record_size)
    request.addfinalizer(rig.close)
    return rig


@pytest.fixture(params=[(rigs.SimKeypadRig, None), (rigs.EvdevKeypadRig, 16), (rigs.EvdevKeypadRig, 24)],
                ids=["sim", "evdev16", "evdev24"])
def keypad_rig(request, tmp_path):
    return _input_rig(request, tmp_path)


@pytest.fixture(params=[(rigs.SimTouchRig, None), (rigs.EvdevTouchRig, 16), (rigs.EvdevTouchRig, 24)],
                ids=["sim", "evdev16", "evdev24"])
def touch_rig(request, tmp_path):
    return _input_rig(request, tmp_path)


@pytest.fixture(params=[(rigs.SimDisplayRig,), (rigs.FbDisplayRig, 16, 0), (rigs.FbDisplayRig, 32, 0),
                        (rigs.FbDisplayRig, 32, 64), (rigs.FbDisplayRig, 16, 32),
                        (rigs.FbDisplayRig, 32, 64, "seek"), (rigs.FbDisplayRig, 16, 32, "seek")],
                ids=["sim", "fb16", "fb32", "fb32-wide", "fb16-wide", "fb32-wide-seek", "fb16-wide-seek"])
def display_rig(request, tmp_path):
    kind, args = request.param[0], request.param[1:]
    rig = kind(tmp_path, *args)
    request.addfinalizer(rig.close)
    return rig
