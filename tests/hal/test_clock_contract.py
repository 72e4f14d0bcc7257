"""The clock contract, for every backend (sim, the system clock)."""

import time

import pytest

from hal import open_device


@pytest.fixture(params=["sim:", "system:"])
def clock(request):
    device = open_device("clock", request.param)
    yield device
    device.close()


def test_now_is_a_local_time_tuple(clock):
    now = clock.now()
    assert len(now) == 6 and all(isinstance(v, int) for v in now)
    assert 2020 <= now[0] <= 2100 and 1 <= now[1] <= 12 and 1 <= now[2] <= 31


def test_set_from_the_host_holds_and_runs_on(clock):
    clock.set((2027, 3, 4, 5, 6, 7))
    assert clock.now()[:5] == (2027, 3, 4, 5, 6)


def test_the_system_clock_follows_the_machine_until_set():
    clock = open_device("clock", "system:")
    assert abs(time.mktime(clock.now() + (0, 0, -1)) - time.time()) < 3
    clock.set((2027, 3, 4, 5, 6, 7))
    time.sleep(1.1)
    assert clock.now()[5] in (8, 9)


def test_options_are_checked():
    from hal.errors import DeviceError
    with pytest.raises(DeviceError):
        open_device("clock", "system:?set_system=yes")
    with pytest.raises(DeviceError):
        open_device("clock", "system:/dev/rtc0")
