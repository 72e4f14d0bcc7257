"""The service term (续费): the host gives its end at sign-on; the idle
screen warns 30 days before; after it sales (card and QR) are refused while
refunds, voids, reprints and settlement still work."""

from firmware import renewal as service
from tests.flows import cashier
from tests.flows.test_settle_reprint import settle

TID = "10000001"


def date_in(h, days):
    """YYYYMMDD `days` from the handset's today."""
    y, m, d = h.app.devices.clock.now()[:3]
    target = service.day_number(y, m, d) + days
    # walk back from a guess: plain and obviously right beats clever here
    for year in range(y - 1, y + 3):
        for month in range(1, 13):
            for day in range(1, 32):
                if service.day_number(year, month, day) == target:
                    return "%04d%02d%02d" % (year, month, day)
    raise AssertionError("no date")


def sign_on(h):
    cashier.menu(h, "6")
    h.wait_text("Signed on")
    h.wait_idle()


def test_day_numbers_count_calendar_days():
    assert service.day_number(2026, 3, 1) - service.day_number(2026, 2, 28) == 1
    assert service.day_number(2024, 3, 1) - service.day_number(2024, 2, 28) == 2     # leap year
    assert service.day_number(2027, 1, 1) - service.day_number(2026, 1, 1) == 365
    assert service.day_number(2000, 3, 1) - service.day_number(2000, 2, 28) == 2     # 2000 was leap
    assert service.day_number(1900, 3, 1) - service.day_number(1900, 2, 28) == 1     # 1900 was not


def test_no_warning_far_from_the_end_and_a_warning_within_30_days(handset, host):
    h = handset
    host.set_service_expiry(TID, date_in(h, 45))
    sign_on(h)
    assert "Service expires" not in h.screen_text()
    host.set_service_expiry(TID, date_in(h, 10))
    sign_on(h)
    expires = date_in(h, 10)
    assert "Service expires on %s-%s-%s" % (expires[:4], expires[4:6], expires[6:]) in h.screen_text()
    cashier.sale(h, 100, "debit-mag")                  # still selling


def test_after_the_end_sales_are_refused_but_money_goes_back_and_the_day_closes(make_handset, host):
    h = make_handset(qr_poll_ms=200, qr_wait_ms=3000)
    cashier.unlock_supervisor(h)
    cashier.sale(h, 5000, "debit-mag")
    sale = cashier.last_txn(h)
    host.set_service_expiry(TID, date_in(h, -1))
    sign_on(h)
    assert "Service expired on" in h.screen_text()
    sent = len(host.transactions())
    h.keys("100")
    h.enter()
    h.wait_text("renew to take sales")
    h.wait_idle()
    cashier.menu(h, "8")
    h.wait_text("renew to take sales")
    h.wait_idle()
    assert len(host.transactions()) == sent
    cashier.refund(h, sale["rrn"], sale["date"], 1000)      # money back still works
    settle(h)                                                # and the day closes
    # A renewal (a later date at the next sign-on) lifts it.
    host.set_service_expiry(TID, date_in(h, 365))
    sign_on(h)
    cashier.sale(h, 100, "debit-mag")


def test_the_term_survives_a_reboot(make_handset, host, tmp_path):
    h = make_handset()
    host.set_service_expiry(TID, date_in(h, -3))
    sign_on(h)
    h.power_cut()
    h2 = make_handset()
    h2.wait_idle()
    assert "Service expired on" in h2.screen_text()
