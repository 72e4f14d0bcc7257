"""The main menu: one key a transaction."""

from firmware.flows import admin, qr_pay, refund, reprint, sale, settle, signon, void

TITLE = "MENU"

ENTRIES = (
    ("MENU_SALE", sale.run),
    ("MENU_VOID", void.run),
    ("MENU_REFUND", refund.run),
    ("MENU_REPRINT", reprint.run),
    ("MENU_SETTLE", settle.run),
    ("MENU_SIGNON", signon.run),
    ("MENU_ADMIN", admin.run),
    ("MENU_QR", qr_pay.run),
)


async def run(app):
    index = await app.ui.choose(TITLE, [label for label, _ in ENTRIES])
    await ENTRIES[index][1](app)
