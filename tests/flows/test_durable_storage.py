"""Storage that cannot fsync carries no money, unless a simulator says so."""

from tests.flows import cashier


def test_storage_without_fsync_refuses_a_sale(make_handset, monkeypatch):
    import hal.storage
    monkeypatch.setattr(hal.storage, "can_fsync", lambda: False)
    handset = make_handset()
    handset.wait_text("Storage cannot fsync")
    assert not handset.app.devices.storage.durable
    handset.keys("100")
    handset.enter()
    handset.wait_text("Service needed")
    assert handset.journal() == []


def test_the_emulator_setting_allows_it(make_handset, monkeypatch):
    import hal.storage
    monkeypatch.setattr(hal.storage, "can_fsync", lambda: False)
    handset = make_handset(allow_volatile_storage=True)
    cashier.sale(handset, 100, "debit-mag")
    assert cashier.last_txn(handset)["status"] == "approved"
