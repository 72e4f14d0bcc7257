"""QR payments at the acquirer host simulator (docs/QR.md has the messages).

Wallets are the test deck's payment codes (hal/sim/deck.py), opened as
accounts keyed by the code, so that the host's books (balances, refunded
totals, reversals) treat a wallet as they treat a card. An order is a QR
transaction's row in `qr_orders`: its number, channel, and status

    WAITING  the customer has not confirmed on the phone yet (reply 09)
    PAID     the wallet paid (the transaction is approved)
    CLOSED   cancelled by the customer, or by the terminal's reversal
    FAILED   the wallet refused

B2C: the terminal sends the customer's code (F59 A3). A wallet that pays
at once is debited and answered 00; one that needs the customer's
confirmation is answered 09 (request in progress) with the order number,
and the terminal polls (F3 330000, F59 A4) until PAID or CLOSED, or gives
up and reverses (0400), which closes the order.
C2B: the terminal asks for an order code (F59 A8 = 1); the host answers 09
with the code's text in A6; a customer's wallet pays it later
(`customer_pays`).
The customer's side is driven by `customer_pays` / `customer_cancels`:
tests, `pos-host`'s API and the test protocol call them.
"""

from firmware import qrpay

QUERY_PROC = "330000"
IN_PROGRESS = "09"
WAITING = "WAITING"
PAID = "PAID"
CLOSED = "CLOSED"
FAILED = "FAILED"
CODE_URL = "https://qr.acquirer.test/pay/%s"
CHANNEL_PREFIX = {qrpay.WECHAT: "WX", qrpay.ALIPAY: "AL", qrpay.UNIONPAY_QR: "UP", None: "QR"}


class QrDesk:
    def __init__(self, ledger):
        self.ledger = ledger

    def seed(self, codes):
        """Open a wallet for each payment code (an existing one keeps its balance)."""
        with self.ledger.transaction():
            for code in codes:
                self.ledger._sql("INSERT OR IGNORE INTO accounts (pan, name, pin, balance, expiry)"
                                 " VALUES (?, ?, NULL, ?, '9912')", (code.code, code.name, code.balance))
                self.ledger._sql("INSERT OR IGNORE INTO qr_wallets (code, pays) VALUES (?, ?)",
                                 (code.code, code.pays))

    # -- rows -----------------------------------------------------------------

    def wallet(self, code):
        return self.ledger._one("SELECT * FROM qr_wallets WHERE code = ?", (code,))

    def order(self, order_no):
        return self.ledger._one("SELECT * FROM qr_orders WHERE order_no = ?", (order_no,))

    def order_of_txn(self, txn_id):
        return self.ledger._one("SELECT * FROM qr_orders WHERE txn_id = ?", (txn_id,))

    def orders(self):
        return self.ledger._all("SELECT * FROM qr_orders ORDER BY created_at, order_no")

    def _set_order(self, order_no, status):
        self.ledger._sql("UPDATE qr_orders SET status = ? WHERE order_no = ?", (status, order_no))

    def new_order(self, txn_id, channel, code, amount, tid, status, now):
        order_no = "%s%s%08d" % (CHANNEL_PREFIX[channel], now.strftime("%y%m%d"),
                                 self.ledger.next_counter("qr_order"))
        self.ledger._sql("INSERT INTO qr_orders (order_no, txn_id, channel, code, amount, status, tid,"
                         " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (order_no, txn_id, channel, code, amount, status, tid, now.isoformat()))
        return order_no

    def reply_field59(self, order):
        items = [("A4", order["order_no"]), ("A5", order["status"])]
        if order["channel"]:
            items.append(("A1", order["channel"]))
        if order["code"] is None and order["status"] == WAITING:
            items.append(("A6", CODE_URL % order["order_no"]))
        return qrpay.field59(items)

    # -- what the payer does --------------------------------------------------

    def decide_b2c(self, code, amount):
        """-> (response code, order status, debit?) for a scanned code."""
        try:
            qrpay.channel_of(code)
        except qrpay.QrPayError:
            return "14", FAILED, False
        account = self.ledger.account(code)
        wallet = self.wallet(code)
        if account is None or wallet is None:
            return "14", FAILED, False
        if wallet["pays"] == "decline" or account["balance"] < amount:
            return "51", FAILED, False
        if wallet["pays"] == "confirm":
            return IN_PROGRESS, WAITING, False
        return "00", PAID, True

    def customer_pays(self, order_no, code=None):
        """The customer confirms on the phone (B2C), or scans the terminal's
        code with wallet `code` and pays (C2B). -> the order's new status."""
        with self.ledger.transaction():
            order = self.order(order_no)
            if order is None:
                raise KeyError("no order %s" % order_no)
            if order["status"] != WAITING:
                return order["status"]
            txn = self.ledger.transaction_by_id(order["txn_id"])
            payer = order["code"] or code
            if payer is None:
                raise ValueError("order %s is a C2B code: which wallet pays it?" % order_no)
            account = self.ledger.account(payer)
            if account is None or account["balance"] < order["amount"]:
                self._set_order(order_no, FAILED)
                self._settle_txn(txn, "declined", "51", None)
                return FAILED
            self.ledger.adjust_balance(payer, -order["amount"])
            channel = order["channel"] or qrpay.channel_of(payer)
            self.ledger._sql("UPDATE qr_orders SET code = ?, channel = ? WHERE order_no = ?",
                             (payer, channel, order_no))
            self.ledger._sql("UPDATE transactions SET pan = ? WHERE id = ?", (payer, txn["id"]))
            self._set_order(order_no, PAID)
            self._settle_txn(txn, "approved", "00", "%06d" % (self.ledger.next_counter("qr_auth") * 7919 % 1000000))
            return PAID

    def customer_cancels(self, order_no):
        with self.ledger.transaction():
            order = self.order(order_no)
            if order is None:
                raise KeyError("no order %s" % order_no)
            if order["status"] != WAITING:
                return order["status"]
            self._set_order(order_no, CLOSED)
            self._settle_txn(self.ledger.transaction_by_id(order["txn_id"]), "declined", "51", None)
            return CLOSED

    def _settle_txn(self, txn, status, code, auth):
        self.ledger._sql("UPDATE transactions SET status = ?, response_code = ?, auth_code = ? WHERE id = ?",
                         (status, code, auth, txn["id"]))

    def reversed(self, txn):
        """The terminal reversed a QR sale: a waiting order closes (nothing
        was paid); a paid one was undone by the caller (the wallet credited)."""
        order = self.order_of_txn(txn["id"])
        if order is not None and order["status"] in (WAITING, PAID):
            self._set_order(order["order_no"], CLOSED)
            return order["status"] == WAITING
        return False

