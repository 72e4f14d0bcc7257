"""The wipe of a returned terminal (firmware/decommission.py), cut by a
power failure at every write it makes, then resumed at boot: it always
ends with no key, no card data, no password, no setting left."""

import pytest

from firmware import decommission
from hal.sim.keystore import SimKeyStore
from hal.storage import DirStorage


class PowerCut(Exception):
    pass


class CuttingStorage:
    """A storage whose writes and removes stop working after `budget` of them."""

    def __init__(self, inner, budget):
        self.inner = inner
        self.budget = budget

    def _spend(self):
        if self.budget == 0:
            raise PowerCut()
        self.budget -= 1

    def write_atomic(self, name, data):
        self._spend()
        self.inner.write_atomic(name, data)

    def remove(self, name):
        self._spend()
        self.inner.remove(name)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def merchant_data(storage):
    for name in decommission.wiped_files(storage):
        storage.write_atomic(name, b"card data of " + name.encode())


def left_over(storage):
    return [name for name in decommission.wiped_files(storage) + [decommission.DECOMMISSION_FILE]
            if storage.read(name) is not None]


def operations_of_a_clean_wipe(tmp_path):
    storage = DirStorage(str(tmp_path / "count"))
    merchant_data(storage)
    keystore = SimKeyStore(CuttingStorage(storage, 10 ** 6), master_key=bytes(range(16)))
    counting = CuttingStorage(storage, 10 ** 6)
    keystore._storage = counting
    decommission.set_stage(storage, "confirmed")
    decommission.wipe(counting, keystore)
    return 10 ** 6 - counting.budget


def test_a_clean_wipe_leaves_nothing(tmp_path):
    storage = DirStorage(str(tmp_path / "d"))
    merchant_data(storage)
    keystore = SimKeyStore(storage, master_key=bytes(range(16)))
    assert keystore.has_master_key()
    decommission.set_stage(storage, "confirmed")
    decommission.wipe(storage, keystore)
    assert left_over(storage) == []
    assert not keystore.has_master_key() and not keystore.has_working_keys()
    assert storage.read("keystore.json") in (None, b"{}")


def test_a_power_cut_at_every_write_of_the_wipe_is_finished_at_boot(tmp_path):
    writes = operations_of_a_clean_wipe(tmp_path)
    assert writes >= len(decommission.wiped_files(DirStorage(str(tmp_path / "x")))) + 2
    for cut in range(writes):
        folder = tmp_path / ("cut%d" % cut)
        storage = DirStorage(str(folder))
        merchant_data(storage)
        keystore = SimKeyStore(storage, master_key=bytes(range(16)))
        decommission.set_stage(storage, "confirmed")
        cutting = CuttingStorage(storage, cut)
        keystore._storage = cutting
        with pytest.raises(PowerCut):
            decommission.wipe(cutting, keystore)
        # Boot: the host had confirmed, so the wipe is finished before anything else.
        storage = DirStorage(str(folder))
        keystore = SimKeyStore(storage, master_key=bytes(range(16)))    # the keys a cut may have left
        assert decommission.resume_at_boot(storage, keystore) is True
        assert left_over(storage) == [], cut
        assert not keystore.has_master_key(), cut
        assert decommission.resume_at_boot(storage, keystore) is False


@pytest.mark.parametrize("stage", ["started", "settled", "cleared", "slip"])
def test_before_the_host_confirmed_a_reboot_keeps_a_working_terminal(tmp_path, stage):
    storage = DirStorage(str(tmp_path / "d"))
    merchant_data(storage)
    decommission.set_stage(storage, stage)
    keystore = SimKeyStore(storage, master_key=bytes(range(16)))
    assert decommission.resume_at_boot(storage, keystore) is False
    assert keystore.has_master_key()
    assert len(left_over(storage)) == len(decommission.wiped_files(storage)) + 1
