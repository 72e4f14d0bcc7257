"""The HIL suite's options and fixtures live in tests/hil/plugin.py (also
loadable elsewhere with `-p tests.hil.plugin`)."""

from tests.hil.plugin import (  # noqa: F401 - pytest finds hooks and fixtures by name here
    dut, hil_device, pytest_addoption, pytest_collection_modifyitems, pytest_configure)
