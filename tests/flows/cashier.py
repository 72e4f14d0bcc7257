"""The cashier's steps, as the flow tests (and the HIL suite) use them.
Texts are the English ones (the tests run with lang=en)."""

from firmware import escpos

SUPERVISOR_PW = "135790"   # what the tests change the factory password to


def sale(h, amount, card, action="swipe", pin=None, expect="Sale approved"):
    h.wait_idle()
    h.keys(str(amount))
    h.enter()
    present_card(h, card, action, pin, expect)
    h.wait_idle()


def qr_receipt_sale(h, amount, card="debit-mag", action="swipe"):
    """A sale on a handset that gives the cardholder the QR e-receipt
    (paper merchant_only or none): the QR screen, then a key ends it."""
    h.wait_idle()
    h.keys(str(amount))
    h.enter()
    present_card(h, card, action, None, "Scan for your receipt")
    h.key("ENTER")
    h.wait_idle()


def present_card(h, card, action, pin, expect):
    """At the card prompt: the card, the cardholder's PIN, the card out
    again (chip), then the outcome on the screen."""
    h.wait_text("Swipe, insert or tap card")
    h.card(action, card)
    if pin is not None:
        h.wait_text("enter PIN")
        h.keys(pin)
        h.enter()
    if action == "insert":
        h.wait_text("remove card")
        h.card("remove")
    h.wait_text(expect)


def menu(h, entry):
    h.wait_idle()
    h.key("MENU")
    h.wait_text("Main menu")
    h.keys(entry)


def supervisor(h, password=SUPERVISOR_PW):
    h.wait_text("Supervisor password")
    h.keys(password)
    h.enter()


def change_factory_password(h, new=SUPERVISOR_PW):
    """After the factory supervisor password was entered: set a new one."""
    h.wait_text("New password:")
    h.keys(new)
    h.enter()
    h.wait_text("New password again")
    h.keys(new)
    h.enter()
    h.wait_text("Password changed")


def unlock_supervisor(h):
    """First supervisor use: the factory password, then the forced change.
    Leaves the flow going (admin menu: change password)."""
    menu(h, "7")
    h.wait_text("1.Supervisor password")
    h.keys("1")
    supervisor(h, "123456")
    change_factory_password(h)
    h.wait_idle()


def void(h, trace, card="debit-mag", action="swipe", pin=None, expect="Void approved"):
    menu(h, "2")
    supervisor(h)
    h.wait_text("Original trace")
    h.keys("%d" % trace)
    h.enter()
    if not expect.startswith("!"):
        h.wait_text("Press ENTER to confirm")
        h.enter()
        present_card(h, card, action, pin, expect)
    else:
        h.wait_text(expect[1:])
    h.wait_idle()


def start_refund(h, rrn, date):
    """Menu, supervisor, the original's reference number and date."""
    menu(h, "3")
    supervisor(h)
    h.wait_text("Original ref")
    h.keys(rrn)
    h.enter()
    h.wait_text("Original date")
    h.keys(date)
    h.enter()


def refund(h, rrn, date, amount, card="debit-mag", action="swipe", pin=None, expect="Refund successful"):
    start_refund(h, rrn, date)
    h.wait_text("Enter refund amount")
    h.keys(str(amount))
    h.enter()
    if expect in ("Refund exceeds original",) or expect.startswith("Over refund limit"):
        h.wait_text(expect)
        h.wait_idle()
        return
    present_card(h, card, action, pin, expect)
    h.wait_idle()


# A signature in screen pixels, inside the signing pad (firmware/signpad.layout(240, 320)):
# a loop, a line and a dot, as a finger gives them.
SIGNATURE = [[[30, 200], [40, 170], [55, 160], [70, 175], [60, 210], [45, 225], [35, 215], [50, 190], [90, 185]],
             [[100, 220], [130, 170], [150, 230], [175, 165], [205, 215]],
             [[215, 150]]]
SIGNING = "Cardholder: sign in the box"


def tap(h, box):
    """A finger on the middle of a button (x, y, w, h) of the screen."""
    x, y, w, height = box
    h.sign([[[x + w // 2, y + height // 2]]])


def sign_and_confirm(h, strokes=SIGNATURE, by="touch"):
    """On the signing screen: the cardholder signs, then confirms by the
    CONFIRM button (`by` "touch") or the ENTER key (`by` "key")."""
    from firmware import signpad
    h.wait_text(SIGNING)
    h.sign(strokes)
    if by == "touch":
        tap(h, signpad.layout(240, 320)["confirm"])
    else:
        h.enter()


def receipts_text(h, since=0):
    table = h.app.gb_table
    return [escpos.decode_text(data, table) for _, data in h.printout(since)]


def last_txn(h):
    return h.journal()[-1]


def qr_start(h, how, amount):
    """Menu 8 (QR payment), 1 scan the customer's code or 2 show ours, the amount."""
    menu(h, "8")
    h.wait_text("1.Scan customer's code")
    h.keys(how)
    h.wait_text("Enter amount")
    h.keys(str(amount))
    h.enter()


def qr_scan(h, code):
    """At the scan prompt: the scanner reads a deck payment code (by name) or text."""
    h.wait_text("Scan customer's payment code")
    h.scan(code)
