"""Fixtures shared by the flow tests: a host simulator on loopback and a
handset (the firmware on simulated devices) pointed at it."""

import pytest

from emulator.handset import Handset
from emulator.host.server import HostSimulator

# Short waits so a failing test fails fast; the flows are the same.
TEST_SETTINGS = {"message_ms": 200, "tear_pause_ms": 50, "reply_timeout_ms": 1500, "connect_timeout_ms": 1500,
                 "ui_timeout_ms": 20000, "lang": "en"}


@pytest.fixture
def host_options():
    """Keyword arguments of the `host` fixture's HostSimulator; a test
    module overrides this fixture for another MAC or master key."""
    return {}


@pytest.fixture
def host(tmp_path, host_options):
    simulator = HostSimulator(str(tmp_path / "host.sqlite"), record_path=str(tmp_path / "frames.log"),
                              **host_options)
    simulator.start_in_thread()
    yield simulator
    simulator.close()   # the server and its ledger: no descriptor left behind


@pytest.fixture
def make_handset(tmp_path, host):
    """make_handset(**settings) -> a started Handset; stopped after the test."""
    made = []

    def make(start=True, data_dir=None, devices=None, **settings):
        merged = dict(TEST_SETTINGS)
        merged.update({"host_port": host.port})
        merged.update(settings)
        handset = Handset(data_dir or (tmp_path / "handset"), settings=merged, devices=devices)
        if start:
            handset.start()
        made.append(handset)
        return handset

    yield make
    for handset in made:
        handset.power_cut()


@pytest.fixture
def handset(make_handset):
    return make_handset()
