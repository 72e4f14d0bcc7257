"""The virtual ARM handset in this process: its QMP (keys, screendump)
next to its test port. `tox -e arm` runs these after the HIL suite."""

import pytest

from emulator.qemu.handset import VirtualHandset
from tests.hil.plugin import ARM_SETTINGS


@pytest.fixture(scope="module")
def handset(tmp_path_factory):
    settings = dict(ARM_SETTINGS, lang="en")
    device = VirtualHandset(tmp_path_factory.mktemp("arm"), settings=settings, log=lambda message: None)
    try:
        device.start()
        yield device
    finally:
        device.stop()
